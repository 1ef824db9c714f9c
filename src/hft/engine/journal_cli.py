"""``hft journal show FILE [--json]``: print a trading journal for people.

One line per record: UTC time, journal seq, record type, ClOrdID, side, quantity, price in dollars and
status. A torn tail (an incomplete last record after a crash) is reported at the end, on stdout and
stderr; so is mid-file damage (valid records after a bad one: a recovery refuses such a file). The file
is never modified. Exit status: 0 (also with a torn tail), 1 mid-file damage, 2 if the file is missing or
is not a journal.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from hft.asx.ticks import format_price
from hft.engine.journal import JournalError, read_journal
from hft.model.types import OrdStatus, Side


def _time(ns: int) -> str:
    s, rem = divmod(int(ns), 1_000_000_000)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(s)) + f".{rem // 1000:06d}"


def _side(v: Any) -> str:
    try:
        return Side(v).name
    except (ValueError, TypeError):
        return ""


def _dollars(units: Any) -> str:
    return "$" + format_price(units) if isinstance(units, int) and units else ""


def _status(v: Any) -> str:
    try:
        return OrdStatus(v).name
    except (ValueError, TypeError):
        return ""


def describe(rec: dict[str, Any]) -> tuple[str, str, str, str, str, str]:
    """(order id, side, qty, price, status, note) of one record, for display."""
    t = rec.get("t")
    if t == "new":
        return (rec["id"], _side(rec["side"]), str(rec["qty"]), _dollars(rec["price"]), "PENDING_NEW",
                rec["instrument"])
    if t == "replace":
        n = rec["new"]
        return (n["id"], _side(n["side"]), str(n["qty"]), _dollars(n["price"]), "PENDING_REPLACE",
                f"replaces {rec['id']}")
    if t == "cancel":
        return (rec["id"], "", "", "", "PENDING_CANCEL", f"cancel id {rec['cxl']}")
    if t == "local_reject":
        return (rec["id"], "", "", "", "", f"{rec['cmd']} refused locally: {rec['reason']}")
    if t == "exec":
        qty = f"{rec['last_qty']} (cum {rec['cum_qty']})" if rec["last_qty"] else ""
        note = f"exec {rec['exec_id']} type {rec['exec_type']}" + (" PossDup" if rec["poss_dup"] else "")
        if rec.get("text"):
            note += f" {rec['text']!r}"
        return (rec["id"], _side(rec["side"]), qty, _dollars(rec["last_px"]), _status(rec["ord_status"]),
                note)
    if t == "cxl_reject":
        return (rec["orig"], "", "", "", _status(rec["ord_status"]),
                f"cancel reject of {rec['id']}: {rec['reason']}")
    if t == "pos":
        return (rec.get("id", ""), "", str(rec["position"]), "", "",
                f"position {rec['instrument']} fees {rec.get('fees_cents', 0)}c")
    if t == "session":
        return ("", "", "", "", "", f"session {rec['session']} started")
    return ("", "", "", "", "", json.dumps(rec))


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="hft journal show", description="Print a trading journal.")
    p.add_argument("file", help="journal file")
    p.add_argument("--json", action="store_true", help="one JSON object per record instead of a table")
    args = p.parse_args(argv)
    try:
        records, torn = read_journal(args.file)
    except (OSError, JournalError) as e:
        print(f"hft journal show: {args.file}: {e}", file=sys.stderr)
        return 2
    msg = ""
    if torn is not None and torn.mid_file:
        msg = (f"DAMAGED: bad record at offset {torn.offset} ({torn.reason}) followed by "
               f"{torn.records_after} valid records (first at offset {torn.next_valid_offset}; "
               f"{torn.dropped_bytes} bytes from the bad record to the end); {len(records)} good records "
               "before it; only those are shown. Recovery refuses this file.")
    elif torn is not None:
        msg = (f"TORN TAIL: {torn.dropped_bytes} bytes at offset {torn.offset} are not a complete record "
               f"({torn.reason}); {len(records)} good records before it")
    try:
        _show(args.json, records, msg)
    except BrokenPipeError:  # `hft journal show FILE | head`: the reader left, not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not fail again
        os.close(devnull)
    if msg:
        print(msg, file=sys.stderr)
    return 1 if torn is not None and torn.mid_file else 0


def _show(as_json: bool, records: list[dict[str, Any]], msg: str) -> None:
    out = sys.stdout
    if as_json:
        for r in records:
            out.write(json.dumps(r, separators=(",", ":")) + "\n")
    else:
        out.write(f"{'time (UTC)':<26} {'seq':>6} {'type':<12} {'order id':<16} {'side':<4} {'qty':>14} "
                  f"{'price':>11} {'status':<16} note\n")
        for r in records:
            oid, side, qty, px, st, note = describe(r)
            out.write(f"{_time(r.get('ns', 0)):<26} {r['q']:>6} {r['t']:<12} {oid:<16} {side:<4} {qty:>14} "
                      f"{px:>11} {st:<16} {note}\n")
        if msg:
            out.write(msg + "\n")
    out.flush()
