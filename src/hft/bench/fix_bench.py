"""``hft bench fix``: FIX parse-and-read and encode, this project vs simplefix vs quickfix, one run.

Operations (identical input bytes for every library):

* ``parse_md_x``: a MarketDataIncrementalRefresh (35=X) with 4 entries; parse, then read every entry's
  279/269/270/271.
* ``parse_exec_report``: an ExecutionReport (35=8); parse, then read 11/17/39/150/32/31/151/14.
* ``encode_nos``: build a NewOrderSingle (35=D) with 10 body fields and produce its wire bytes.

Our parse always includes BodyLength and CheckSum validation and decodes typed values (prices to
integer price units, quantities to int); simplefix and quickfix return raw values (bytes / str) and
are not charged for conversion, so the comparison is conservative for us. quickfix parses with its
FIX 4.2 DataDictionary (needed for repeating groups) and ``validate=False``, reads via ``getField`` /
``getGroup``; its encode uses ``setField`` and ``toString()``.

Timing: each operation runs ``--iterations`` times per repeat, the best of ``--repeats`` repeats is
reported as ns per message; all libraries are measured interleaved in the same process.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hft.asx.ticks import parse_price
from hft.fix.encoder import FixEncoder, format_utc_timestamp
from hft.fix.parser import FixStreamParser, parse_one

T0 = 1_700_000_000_123_456_789
TS = format_utc_timestamp(T0)

_ENC = FixEncoder("FIX.4.2", "SIM", "ME")
MD_X = _ENC.encode(
    "X",
    [(262, "MD1"), (268, 4),
     (279, "0"), (269, "0"), (55, "BHP"), (270, "45.12"), (271, 1000), (290, 1),
     (279, "1"), (269, "1"), (55, "BHP"), (270, "45.13"), (271, 2500), (290, 1),
     (279, "2"), (269, "0"), (55, "BHP"), (270, "45.11"), (271, 300), (290, 2),
     (279, "0"), (269, "1"), (55, "BHP"), (270, "45.14"), (271, 7000), (290, 2)],
    4711, T0)
EXEC_REPORT = _ENC.encode(
    "8",
    [(37, "O-000123"), (11, "C-000042"), (17, "E-000987"), (20, "0"), (150, "1"), (39, "1"),
     (55, "BHP"), (54, "1"), (38, 500), (44, "45.12"), (32, 100), (31, "45.12"), (151, 400), (14, 100),
     (6, "45.12"), (60, TS)],
    4712, T0)
NOS_FIELDS: list[tuple[int, bytes]] = [
    (1, b"U1234567"), (21, b"1"), (11, b"C-000043"), (55, b"BHP"), (54, b"1"), (38, b"300"), (40, b"2"),
    (44, b"45.12"), (59, b"0"), (60, TS)]
MD_TAGS = (279, 269, 270, 271)
ER_TAGS = (11, 17, 39, 150, 32, 31, 151, 14)


# ------------------------------------------------------------------------------------------- hft
def hft_parse_md(raw: bytes) -> int:
    """The engine's market-data path: validate the frame, read every entry with ``md_entries()``."""
    acc = 0
    for _action, _etype, px, qty, _sym, _pos in parse_one(raw).md_entries():
        acc += px + qty  # type: ignore[operator]
    return acc


def hft_parse_md_generic(raw: bytes) -> int:
    """Generic path: ``group()`` entries and one typed getter per field."""
    m = parse_one(raw)
    acc = 0
    for e in m.group(268, 279):
        e.get(279)
        e.get(269)
        acc += e.get_price(270) + e.get_int(271)  # type: ignore[operator]
    return acc


def hft_parse_er(raw: bytes) -> int:
    m = parse_one(raw)
    m.get(11)
    m.get(17)
    m.get(39)
    m.get(150)
    return m.get_int(32) + m.get_price(31) + m.get_int(151) + m.get_int(14)  # type: ignore[operator]


def hft_encode_nos_generic(seq: int) -> bytes:
    return _ENC.encode(b"D", NOS_FIELDS, seq, T0)


def hft_encode_nos(seq: int) -> bytes:
    return _ENC.new_order_single(seq, b"C-000043", b"BHP", 1, 300, 451_200, account=b"U1234567",
                                 sending_time_ns=T0)


# -------------------------------------------------------------------------------------- simplefix
def _simplefix_ops() -> dict[str, Callable[[Any], Any]] | None:
    try:
        import simplefix
    except ImportError:
        return None

    def parse_md(raw: bytes) -> Any:
        p = simplefix.FixParser()
        p.append_buffer(raw)
        m = p.get_message()
        out = []
        for i in range(1, int(m.get(268)) + 1):
            out.append((m.get(279, i), m.get(269, i), m.get(270, i), m.get(271, i)))
        return out

    def parse_er(raw: bytes) -> Any:
        p = simplefix.FixParser()
        p.append_buffer(raw)
        m = p.get_message()
        return [m.get(t) for t in ER_TAGS]

    def encode_nos(seq: int) -> bytes:
        m = simplefix.FixMessage()
        m.append_pair(8, b"FIX.4.2", header=True)
        m.append_pair(35, b"D", header=True)
        m.append_pair(49, b"SIM", header=True)
        m.append_pair(56, b"ME", header=True)
        m.append_pair(34, seq, header=True)
        m.append_pair(52, TS, header=True)
        for t, v in NOS_FIELDS:
            m.append_pair(t, v)
        out: bytes = m.encode()
        return out

    return {"parse_md_x": parse_md, "parse_exec_report": parse_er, "encode_nos": encode_nos}


# --------------------------------------------------------------------------------------- quickfix
def _quickfix_ops() -> dict[str, Callable[[Any], Any]] | None:
    try:
        import quickfix as qf
    except ImportError:
        return None
    dd = None
    for base in (Path(sys.prefix) / "share" / "quickfix", Path(qf.__file__).parent / "share" / "quickfix"):
        spec = base / "FIX42.xml"
        if spec.exists():
            dd = qf.DataDictionary(str(spec))
            break
    md_s = MD_X.decode()
    er_s = EXEC_REPORT.decode()
    nos_s = [(t, v.decode()) for t, v in NOS_FIELDS]
    ts_s = TS.decode()

    def parse_md(s: str) -> Any:
        m = qf.Message(s, dd, False) if dd is not None else qf.Message(s, False)
        g = qf.Group(268, 279)
        out = []
        for i in range(1, int(m.getField(268)) + 1):
            m.getGroup(i, g)
            out.append((g.getField(279), g.getField(269), g.getField(270), g.getField(271)))
        return out

    def parse_er(s: str) -> Any:
        m = qf.Message(s, dd, False) if dd is not None else qf.Message(s, False)
        return [m.getField(t) for t in ER_TAGS]

    def encode_nos(seq: int) -> str:
        m = qf.Message()
        h = m.getHeader()
        h.setField(8, "FIX.4.2")
        h.setField(35, "D")
        h.setField(49, "SIM")
        h.setField(56, "ME")
        h.setField(34, str(seq))
        h.setField(52, ts_s)
        for t, v in nos_s:
            m.setField(t, v)
        out: str = m.toString()
        return out

    ops: dict[str, Callable[[Any], Any]] = {
        "parse_md_x": parse_md, "parse_exec_report": parse_er, "encode_nos": encode_nos}
    ops["_inputs"] = lambda _: (md_s, er_s)
    ops["_dictionary"] = lambda _: dd is not None
    return ops


# ---------------------------------------------------------------------------------------- timing
def _time_op(fn: Callable[[Any], Any], arg: Any, iterations: int, repeats: int, vary: bool = False) -> float:
    best = float("inf")
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            t = time.perf_counter_ns()
            if vary:
                for i in range(iterations):
                    fn(i + 1)
            else:
                for _ in range(iterations):
                    fn(arg)
            dt = (time.perf_counter_ns() - t) / iterations
            best = min(best, dt)
    finally:
        if gc_was:
            gc.enable()
    return round(best, 1)


def _check_same_answers(sf: dict[str, Any] | None) -> None:
    """The libraries must read the same values from the same bytes (guards the benchmark itself)."""
    m = parse_one(MD_X)
    ours = [tuple(e.get(t) for t in MD_TAGS) for e in m.group(268, 279)]
    bulk = [(a, ty, px, q) for a, ty, px, q, _s, _p in m.md_entries()]
    typed = [(a, ty, None if px is None else parse_price(px), None if q is None else int(q))
             for a, ty, px, q in ours]
    if bulk != typed or hft_parse_md(MD_X) != hft_parse_md_generic(MD_X):
        raise AssertionError(f"md_entries() read {bulk} but group() read {typed}")
    if sf is not None:
        theirs = sf["parse_md_x"](MD_X)
        if ours != theirs:
            raise AssertionError(f"simplefix read {theirs} but hft read {ours}")
    p = FixStreamParser()
    p.feed(hft_encode_nos(7))
    n = p.next_message()
    if n is None or n.get(44) != b"45.12":
        raise AssertionError("fast NewOrderSingle encode does not parse back")


def run(iterations: int, repeats: int) -> dict[str, Any]:
    sf = _simplefix_ops()
    qf = _quickfix_ops()
    _check_same_answers(sf)
    ops = ("parse_md_x", "parse_exec_report", "encode_nos")
    results: dict[str, dict[str, float | str | None]] = {op: {} for op in ops}
    ours = {"parse_md_x": hft_parse_md, "parse_exec_report": hft_parse_er}
    inputs = {"parse_md_x": MD_X, "parse_exec_report": EXEC_REPORT}
    for op in ops:
        if op == "encode_nos":
            results[op]["hft"] = _time_op(hft_encode_nos, None, iterations, repeats, vary=True)
            results[op]["hft_generic"] = _time_op(hft_encode_nos_generic, None, iterations, repeats,
                                                  vary=True)
        else:
            results[op]["hft"] = _time_op(ours[op], inputs[op], iterations, repeats)
            if op == "parse_md_x":
                results[op]["hft_generic"] = _time_op(hft_parse_md_generic, inputs[op], iterations, repeats)
        if sf is not None:
            results[op]["simplefix"] = _time_op(sf[op], inputs.get(op), iterations, repeats,
                                                vary=op == "encode_nos")
        else:
            results[op]["simplefix"] = None
        if qf is not None:
            md_s, er_s = qf["_inputs"](None)
            arg = {"parse_md_x": md_s, "parse_exec_report": er_s}.get(op)
            results[op]["quickfix"] = _time_op(qf[op], arg, iterations, repeats, vary=op == "encode_nos")
        else:
            results[op]["quickfix"] = None
    ratios: dict[str, dict[str, float | None]] = {}
    goals: dict[str, bool | None] = {}
    for op in ops:
        ns = results[op]["hft"]
        assert isinstance(ns, float)
        r: dict[str, float | None] = {}
        for lib in ("simplefix", "quickfix"):
            other = results[op][lib]
            r[f"{lib}_over_hft"] = round(other / ns, 2) if isinstance(other, float) else None
        ratios[op] = r
        need = 10.0 if op.startswith("parse") else 5.0
        s = r["simplefix_over_hft"]
        q = r["quickfix_over_hft"]
        goals[f"{op}_vs_simplefix_>={need:g}x"] = None if s is None else s >= need
        goals[f"{op}_faster_than_quickfix"] = None if q is None else q > 1.0
    return {
        "benchmark": "fix",
        "unit": "ns_per_message",
        "iterations": iterations,
        "repeats": repeats,
        "python": sys.version.split()[0],
        "libraries": {
            "hft": "installed",
            "simplefix": "installed" if sf is not None else "not installed",
            "quickfix": ("installed" if qf is not None else "not installed"),
        },
        "quickfix_data_dictionary": bool(qf["_dictionary"](None)) if qf is not None else None,
        "message_bytes": {"parse_md_x": len(MD_X), "parse_exec_report": len(EXEC_REPORT),
                          "encode_nos": len(hft_encode_nos(1))},
        "results": results,
        "ratios": ratios,
        "goals": goals,
    }


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="hft bench fix", description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=20_000, help="messages per repeat (default 20000)")
    ap.add_argument("--repeats", type=int, default=5, help="repeats; the best is reported (default 5)")
    ap.add_argument("--json", action="store_true", help="print only the JSON document")
    args = ap.parse_args(argv)
    if args.iterations < 1 or args.repeats < 1:
        ap.error("--iterations and --repeats must be >= 1")
    out = run(args.iterations, args.repeats)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"FIX benchmark, ns per message (best of {args.repeats} x {args.iterations})")
    for op, libs in out["results"].items():
        cells = "  ".join(f"{lib}={'n/a' if v is None else f'{v:,.0f}'}" for lib, v in libs.items())
        print(f"  {op:<18} {cells}")
        r = out["ratios"][op]
        print(f"  {'':<18} simplefix/hft={r['simplefix_over_hft']}  quickfix/hft={r['quickfix_over_hft']}")
    if out["libraries"]["quickfix"] != "installed":
        print("  quickfix: not installed")
    print(json.dumps(out["goals"]))
    return 0
