"""``hft data``: convert, validate, repair and inspect canonical market data files.

    hft data convert --from lobster|fixlog|binance [options] IN OUT
    hft data validate FILE [--no-book] [--json]
    hft data repair IN OUT [--json]
    hft data info FILE [--json]
    hft data synth OUT --seconds N --seed S [--json]   (hft.sim.synth_cli: the simulator generates,
                                                        this package only defines the format)

Exit codes: 0 ok, 1 bad data (the message names the file, row/line and problem), 2 usage error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

from hft.data.format import (
    BYTES_PER_ROW,
    KIND_LEVEL,
    KIND_SNAPSHOT_START,
    KIND_TRADE,
    DataError,
    Validator,
    file_format,
    iter_event_chunks,
    load_events,
    metadata_scale,
    read_metadata,
    write_events,
)


def _iso(ns: int) -> str:
    t = dt.datetime.fromtimestamp(ns // 1_000_000_000, dt.UTC).replace(microsecond=ns % 1_000_000_000 // 1000)
    return t.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _print(args: argparse.Namespace, obj: dict[str, Any], text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(obj, sort_keys=True))
    else:
        print(text)


# ---------------------------------------------------------------- convert


def cmd_convert(a: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    src = a.source
    if src == "lobster":
        from hft.data.lobster import convert_lobster

        lres = convert_lobster(a.input, a.orderbook, symbol=a.symbol, date=a.date, mode=a.mode,
                               timezone=a.timezone, validate=not a.repair)
        ev, stats = lres.events, lres.stats
    elif src == "binance":
        from hft.data.binance import convert_binance

        if a.orderbook or a.mode or a.date or a.symbol:
            print("hft data convert: --orderbook/--mode/--date/--symbol do not apply to --from binance",
                  file=sys.stderr)
            return 2
        bres = convert_binance(a.input, qty_scale=a.qty_scale, on_gap=a.on_gap, validate=not a.repair)
        ev, stats = bres.events, bres.stats
    else:
        from hft.data.fixlog import convert_fixlog

        if a.orderbook or a.mode or a.date:
            print("hft data convert: --orderbook/--mode/--date apply to --from lobster only", file=sys.stderr)
            return 2
        keep = set(a.symbol.split(",")) if a.symbol else None
        fres = convert_fixlog(a.input, on_gap=a.on_gap, symbols=keep, validate=not a.repair)
        ev, stats = fres.events, fres.stats
    if a.repair:
        from hft.data.format import repair_events

        ev = repair_events(ev)
        stats = {**stats, **{f"repaired_{k}": v for k, v in ev.repairs.items()}}
    rows = write_events(a.output, ev)
    dt_s = time.perf_counter() - t0
    out = {"input": str(a.input), "output": str(a.output), "from": src, "rows": rows,
           "symbols": ev.symbols, "seconds": round(dt_s, 3), "stats": stats}
    _print(a, out, f"{a.output}: {rows} events ({', '.join(ev.symbols) or 'no symbols'}) from {src} "
                   f"{a.input} in {dt_s:.2f} s; " + ", ".join(f"{k}={v}" for k, v in stats.items() if v))
    return 0


# ---------------------------------------------------------------- validate / repair


def cmd_validate(a: argparse.Namespace) -> int:
    p = Path(a.file)
    t0 = time.perf_counter()
    v = Validator(p, check_book=not a.no_book, csv_lines=file_format(p) == "csv", metadata=read_metadata(p))
    for chunk in iter_event_chunks(p, chunk_rows=a.chunk_rows):
        v.feed(chunk)
    v.finish()
    dt_s = time.perf_counter() - t0
    _print(a, {"file": str(p), "ok": True, "rows": v.rows, "book_checked": not a.no_book,
               "seconds": round(dt_s, 3)},
           f"{p}: ok, {v.rows} rows" + ("" if not a.no_book else " (book not checked)") + f" ({dt_s:.2f} s)")
    return 0


def cmd_repair(a: argparse.Namespace) -> int:
    ev = load_events(a.input, repair=True)
    md = dict(ev.metadata or read_metadata(a.input))
    md.pop("hft.validated", None)
    for k, v in ev.repairs.items():
        md[f"hft.repaired.{k}"] = str(v)
    rows = write_events(a.output, ev, md or None)
    total = sum(ev.repairs.values())
    _print(a, {"input": str(a.input), "output": str(a.output), "rows": rows, "repairs": ev.repairs},
           f"{a.output}: {rows} rows, " + (", ".join(f"{k}={v}" for k, v in ev.repairs.items())
                                            if total else "nothing to repair"))
    return 0


# ---------------------------------------------------------------- info


def info(path: str | Path, chunk_rows: int = 1_000_000) -> dict[str, Any]:
    """Summary of a file, read chunk by chunk (bounded memory)."""
    p = Path(path)
    per: dict[str, dict[str, Any]] = {}
    rows = 0
    t_first = t_last = None
    for ch in iter_event_chunks(p, chunk_rows=chunk_rows):
        if not len(ch):
            continue
        rows += len(ch)
        t_first = int(ch.ts_local[0]) if t_first is None else t_first
        t_last = int(ch.ts_local[-1])
        for sid, name in enumerate(ch.symbols):
            m = ch.symbol_id == sid
            if not m.any():
                continue
            s = per.setdefault(name, {"rows": 0, "levels": 0, "trades": 0, "snapshots": 0, "trade_qty": 0,
                                      "min_price": None, "max_price": None})
            k = ch.kind[m]
            s["rows"] += int(m.sum())
            s["levels"] += int((k == KIND_LEVEL).sum())
            s["trades"] += int((k == KIND_TRADE).sum())
            s["snapshots"] += int((k == KIND_SNAPSHOT_START).sum())
            px = ch.price[m][(k == KIND_LEVEL) | (k == KIND_TRADE)]
            px = px[px > 0]
            if px.size:
                lo, hi = int(px.min()), int(px.max())
                s["min_price"] = lo if s["min_price"] is None else min(s["min_price"], lo)
                s["max_price"] = hi if s["max_price"] is None else max(s["max_price"], hi)
            s["trade_qty"] += int(ch.qty[m][k == KIND_TRADE].sum())
    out: dict[str, Any] = {
        "file": str(p),
        "format": file_format(p),
        "bytes": p.stat().st_size,
        "rows": rows,
        "memory_bytes": rows * BYTES_PER_ROW,
        "symbols": per,
        "metadata": read_metadata(p),
    }
    if t_first is not None and t_last is not None:
        out.update(first_ts_local=_iso(t_first), last_ts_local=_iso(t_last),
                   seconds=round((t_last - t_first) / 1e9, 3))
    return out


def _qty_text(q: int, qscale: int) -> str:
    """``q`` quantity units as traded units, exactly: 214,959 (shares) or 1,234.567 (qty_scale 1000)."""
    whole, frac = divmod(q, qscale)
    if frac == 0:
        return f"{whole:,}"
    digits = len(str(qscale)) - 1
    if 10**digits == qscale:
        return f"{whole:,}.{frac:0{digits}d}"
    return f"{q / qscale:,.6f}"  # a scale that is not a power of ten: no exact decimal


def cmd_info(a: argparse.Namespace) -> int:
    d = info(a.file)
    lines = [f"{d['file']}: {d['format']}, {d['bytes']:,} bytes, {d['rows']:,} rows "
             f"(~{d['memory_bytes'] / 1e6:.1f} MB loaded)"]
    if "first_ts_local" in d:
        lines.append(f"  time (ts_local, UTC): {d['first_ts_local']} .. {d['last_ts_local']} "
                     f"({d['seconds']} s)")
    scale = metadata_scale(d["metadata"], "hft.price_scale", 10_000, a.file)
    qscale = metadata_scale(d["metadata"], "hft.qty_scale", 1, a.file)
    unit = "shares" if qscale == 1 else "units traded"
    for name, s in d["symbols"].items():
        rng = ""
        if s["min_price"] is not None:
            rng = f", prices {s['min_price'] / scale:.4f}..{s['max_price'] / scale:.4f}"
        lines.append(f"  {name}: {s['rows']:,} rows, {s['levels']:,} levels, {s['trades']:,} trades "
                     f"({_qty_text(s['trade_qty'], qscale)} {unit}), {s['snapshots']} snapshots{rng}")
    for k, v in sorted(d["metadata"].items()):
        lines.append(f"  {k} = {v}")
    _print(a, d, "\n".join(lines))
    return 0


# ---------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="hft data", description="canonical L2 market data files (docs/data.md)",
                                 epilog="hft data synth OUT --seconds N: record a synthetic day from the "
                                        "simulator (see hft data synth --help)")
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    c = sub.add_parser("convert", help="convert LOBSTER, a FIX market data capture or a Binance capture",
                       description="Convert to the canonical format; OUT is Parquet unless it ends in "
                                   ".csv or .csv.gz. The output is validated (exit 1 naming the input line).")
    c.add_argument("--from", dest="source", required=True, choices=("lobster", "fixlog", "binance"),
                   help="input format: LOBSTER message file, FIX 35=W/35=X capture (lines or raw bytes), "
                   "or a Binance USD-M futures capture (depth diffs + snapshot + trades, .gz ok)")
    c.add_argument("--orderbook", default=None,
                   help="lobster: the matching orderbook file (exact 'book' mode when it has one row per "
                   "message; otherwise its first row seeds the book)")
    c.add_argument("--mode", choices=("book", "messages"), default=None,
                   help="lobster: force a conversion mode (default: book if possible)")
    c.add_argument("--symbol", default=None, help="lobster: symbol (default: from the file name); "
                   "fixlog: comma-separated symbols to keep (default: all)")
    c.add_argument("--date", default=None,
                   help="lobster: trading date YYYY-MM-DD (default: from the file name)")
    c.add_argument("--timezone", default="America/New_York", help="lobster: the exchange's time zone")
    c.add_argument("--qty-scale", type=int, default=1000,
                   help="binance: quantity units per coin (a power of ten; default 1000 = 0.001 steps)")
    c.add_argument("--on-gap", choices=("error", "resync"), default="error",
                   help="fixlog, binance: a sequence gap or bad frame is an error (default), or drop the "
                   "symbol's updates until its next snapshot and count them")
    c.add_argument("--repair", action="store_true", help="apply the repair policy instead of failing "
                   "validation (counts reported)")
    c.add_argument("--json", action="store_true", help="print the result as JSON")
    c.add_argument("input", metavar="IN")
    c.add_argument("output", metavar="OUT")
    c.set_defaults(func=cmd_convert)

    v = sub.add_parser("validate", help="check a file; exit 1 naming file, row/line and problem",
                       description="Stream the file in chunks and check every row (values, order, snapshot "
                                   "pairing, crossed books).")
    v.add_argument("file", metavar="FILE")
    v.add_argument("--no-book", action="store_true", help="skip the per-row crossed-book replay")
    v.add_argument("--chunk-rows", type=int, default=1_000_000, help="rows per chunk (memory bound)")
    v.add_argument("--json", action="store_true", help="print the result as JSON")
    v.set_defaults(func=cmd_validate)

    r = sub.add_parser("repair", help="apply the documented repair policy, write OUT, print the counts",
                       description="Read IN, apply the repair policy of docs/data.md instead of failing "
                                   "(re-sort rows by ts_local and clamp exchange times, drop invalid rows "
                                   "and unpaired snapshot markers, close an open snapshot, delete the "
                                   "levels a crossing update crosses), write OUT (Parquet unless it ends "
                                   "in .csv or .csv.gz) with the counts as hft.repaired.* metadata, and "
                                   "print the counts. Off-tick prices are not repaired.")
    r.add_argument("input", metavar="IN", help="canonical event file to repair (Parquet or CSV)")
    r.add_argument("output", metavar="OUT", help="repaired file to write (validated as it is written)")
    r.add_argument("--json", action="store_true", help="print the result as JSON")
    r.set_defaults(func=cmd_repair)

    i = sub.add_parser("info", help="rows, symbols, kinds, time range, prices, metadata")
    i.add_argument("file", metavar="FILE")
    i.add_argument("--json", action="store_true", help="print the result as JSON")
    i.set_defaults(func=cmd_info)

    return ap


def main(argv: list[str]) -> int:
    ap = build_parser()
    a = ap.parse_args(argv)
    try:
        return int(a.func(a))
    except DataError as e:
        print(f"hft data {a.cmd}: {e}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as e:
        print(f"hft data {a.cmd}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
