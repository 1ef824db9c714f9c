"""``hft backtest --config FILE --data PATH [--report out.html] [--fills fills.csv] [--json]``.

The config is the paper engine's TOML (``[strategy]``, ``[risk]``, ``[fees]`` validated by
:mod:`hft.engine.config`, risk limits mapped exactly as the paper engine maps them) plus a
``[backtest]`` table for the venue model (:class:`hft.backtest.engine.BacktestConfig`, validated key by key
by :mod:`hft.backtest.config`).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from hft.backtest.config import backtest_config, file_units
from hft.backtest.engine import Backtester, BacktestResult
from hft.data.format import DataError, EventArrays
from hft.engine.risk import risk_limits

DEFAULT_RISK = {"max_daily_loss": 1_000_000}  # dollars: a backtest shows the whole day unless [risk] says so


def load_data(path: str, symbol: str | None, repair: bool = False,
              instrument: str | None = None) -> tuple[EventArrays, np.ndarray | None]:
    """Read canonical events (Parquet or CSV) through :func:`hft.data.format.load_events` and keep one
    symbol: ``symbol`` (``--symbol``) if given, else, when the file holds several, ``instrument`` (the
    config's ``backtest.instrument``); a one-symbol file is replayed as it is. Returns the events and,
    when rows were dropped, their row numbers in the file.

    The values and the order are validated here (vectorised); crossed books are found by the replay
    itself, which names the file row."""
    from hft.data.format import load_events

    ev = load_events(path, check_book=False, repair=repair)
    rows = None
    what = "--symbol"
    if not symbol and len(ev.symbols) > 1:
        if not instrument:
            raise DataError(path, f"several symbols ({', '.join(ev.symbols)}): choose one with --symbol "
                                  "or backtest.instrument")
        symbol, what = instrument, "backtest.instrument"
    if symbol and (len(ev.symbols) > 1 or (ev.symbols and ev.symbols[0] != symbol)):
        if symbol not in ev.symbols:
            raise DataError(path, f"no events for symbol {symbol!r} ({what}); the file has "
                                  f"{', '.join(ev.symbols)}")
        rows = np.flatnonzero(ev.symbol_id == ev.symbols.index(symbol))
        ev = ev.take(rows)
        ev.symbol_id[:] = 0
        ev.symbols = [symbol]
    return ev, rows


def build(cfg: dict[str, Any], events: EventArrays, source: str = "<config>", path: str = "<events>",
          file_rows: np.ndarray | None = None, overrides: dict[str, Any] | None = None) -> Backtester:
    """A :class:`Backtester` for a parsed backtest TOML (strategy, risk and fees as in paper trading)."""
    from hft.engine.config import config_from_dict
    from hft.strategies import PARAMS, REGISTRY

    data = dict(cfg)
    bt_table = data.pop("backtest", {})
    if not isinstance(bt_table, dict):
        raise ValueError(f"{source}: backtest: expected a table ([backtest]), got {bt_table!r}")
    bt_table = {**bt_table, **(overrides or {})}
    # the replayed symbol names the instrument (the config's backtest.instrument is the fallback)
    inst = events.symbols[0] if events.symbols else bt_table.get("instrument", "BHP")
    bt_table["instrument"] = inst
    bt_cfg = backtest_config(bt_table, source)
    events, _ = file_units(events, path, file_rows)  # ASX units and steps, or a DataError naming the key
    data["instruments"] = {"symbols": [inst]}
    data["risk"] = {**DEFAULT_RISK, **data.get("risk", {})}
    config = config_from_dict(data, source, strategy_params=PARAMS)
    name = config.strategy.name
    cls = REGISTRY[name]
    params = config.strategy.params_obj
    return Backtester(events, lambda ctx: cls(ctx, [inst], params=params), bt_cfg, config.fees.build(),
                      risk_limits(config), path=path, file_rows=file_rows)


def _progress(mode: str, total: int, err: TextIO) -> tuple[Callable[[int], None] | None, Callable[[], None]]:
    """A progress callback for ``Backtester.run`` and a finisher: a rich bar on a terminal, plain lines
    (every 10%) otherwise."""
    if mode == "never" or (mode == "auto" and (total < 200_000 or not err.isatty())):
        return None, lambda: None
    if err.isatty():
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        prog = Progress(TextColumn("backtest"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                        console=Console(file=err), transient=True)
        task = prog.add_task("backtest", total=total)
        prog.start()
        return (lambda i: prog.update(task, completed=i)), prog.stop
    t0 = time.perf_counter()
    step = max(1, total // 10)
    nxt = [step]

    def plain(i: int) -> None:
        if i >= nxt[0]:
            while nxt[0] <= i:
                nxt[0] += step
            el = time.perf_counter() - t0
            err.write(f"backtest: {100 * i // max(total, 1):3d}% {i:,}/{total:,} events, {el:.1f} s\n")
            err.flush()

    return plain, lambda: None


def report_path_problem(path: str) -> str | None:
    """Why the HTML report could not be written at ``path`` (checked before the run), else None."""
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        return f"{path}: is a directory (give a file name for the report)"
    if not parent.is_dir():
        return f"{path}: directory {parent} does not exist"
    if not os.access(parent, os.W_OK | os.X_OK) or (p.exists() and not os.access(p, os.W_OK)):
        return f"{path}: not writable"
    return None


def report_timezone(md: dict[str, str]) -> str:
    """The clock of the report's time axes: the data's ``hft.timezone``, else Sydney for a file on the
    ASX tick rule (the default rule), else UTC."""
    tz = md.get("hft.timezone")
    if tz:
        return tz
    return "Australia/Sydney" if '"asx"' in md.get("hft.tick_rule", '"asx"') else "UTC"


FILL_COLUMNS = ("ts_ns", "order_id", "side", "price", "qty", "fee_cents", "liquidity", "queue_ahead")


def fills_format(path: str) -> str | None:
    """``csv`` or ``parquet`` by the file name's extension, else None."""
    low = path.lower()
    if low.endswith(".csv"):
        return "csv"
    if low.endswith(".parquet"):
        return "parquet"
    return None


def write_fills(path: str, res: BacktestResult) -> None:
    """Every fill, in the order the exchange made them: exchange time (ns), our order id, side (buy/sell),
    price (price units, 1/10,000 of a dollar), quantity, fee (cents), liquidity (maker/taker) and, for a
    maker fill, the queue ahead of the order when it started resting (shares; empty when unknown, e.g.
    behind an invisible level, and for taker fills). Written through a temporary file, renamed at the end."""
    cols: dict[str, list[Any]] = {c: [] for c in FILL_COLUMNS}
    for f, maker, ahead in zip(res.fills, res.fill_maker, res.fill_ahead, strict=True):
        cols["ts_ns"].append(f.ts_ns)
        cols["order_id"].append(f.cl_ord_id)
        cols["side"].append("buy" if f.side == 1 else "sell")
        cols["price"].append(f.price)
        cols["qty"].append(f.qty)
        cols["fee_cents"].append(f.fee_cents)
        cols["liquidity"].append("maker" if maker else "taker")
        cols["queue_ahead"].append(ahead if maker and ahead >= 0 else None)
    p = Path(path)
    tmp = p.with_name(f".{p.name}.partial-{os.getpid()}")
    try:
        if fills_format(path) == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            schema = pa.schema([("ts_ns", pa.int64()), ("order_id", pa.string()), ("side", pa.string()),
                                ("price", pa.int64()), ("qty", pa.int64()), ("fee_cents", pa.int64()),
                                ("liquidity", pa.string()), ("queue_ahead", pa.float64())])
            pq.write_table(pa.table(cols, schema=schema), tmp)
        else:
            with open(tmp, "w", newline="") as fh:
                w = csv.writer(fh, lineterminator="\n")
                w.writerow(FILL_COLUMNS)
                for row in zip(*cols.values(), strict=True):
                    w.writerow(["" if v is None else v for v in row])
        os.replace(tmp, p)
    finally:
        tmp.unlink(missing_ok=True)


def write_report(path: str, text: str) -> None:
    """Write via a temporary file in the same directory, renamed at the end (no half-written report)."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.partial-{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, p)
    finally:
        tmp.unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="hft backtest", description="Replay canonical L2 data (docs/data.md) "
                                 "through a strategy with the latency/queue/fee model of docs/backtest.md.")
    ap.add_argument("--config", required=True, help="backtest TOML (see config/backtest_*.toml)")
    ap.add_argument("--data", required=True, help="canonical L2 events, Parquet or CSV")
    ap.add_argument("--symbol", default=None, help="instrument to replay when the file holds several")
    ap.add_argument("--report", default=None, help="write a self-contained HTML report (plots) here")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    ap.add_argument("--fills", default=None, metavar="FILE",
                    help="write every fill to FILE (.csv or .parquet): time, order id, side, price, qty, "
                         "fee, maker/taker, queue ahead at arrival")
    ap.add_argument("--seed", type=int, default=None, help="override backtest.seed")
    ap.add_argument("--repair", action="store_true",
                    help="apply the data repair policy of docs/data.md instead of refusing bad rows")
    ap.add_argument("--progress", choices=("auto", "always", "never"), default="auto",
                    help="progress on stderr: auto = a bar on a terminal for runs of 200,000+ events")
    ap.add_argument("--no-progress", action="store_true", help="same as --progress never")
    a = ap.parse_args(argv)
    err = sys.stderr
    if a.report and (why := report_path_problem(a.report)):
        print(f"hft backtest: --report {why}", file=err)
        return 2
    if a.fills:
        why = report_path_problem(a.fills)
        if why is None and fills_format(a.fills) is None:
            why = f"{a.fills}: unknown extension (expected .csv or .parquet)"
        if why:
            print(f"hft backtest: --fills {why}", file=err)
            return 2
    try:
        cfg = tomllib.loads(Path(a.config).read_text())
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        print(f"hft backtest: {a.config}: {e}", file=err)
        return 2
    try:
        overrides = {"seed": a.seed} if a.seed is not None else {}
        table = cfg.get("backtest", {})
        # a bad [backtest] table is refused before the data is read
        backtest_config({**table, **overrides} if isinstance(table, dict) else table, a.config)
        instrument = table.get("instrument") or None
        ev, rows = load_data(a.data, a.symbol, a.repair, instrument)
        if not a.symbol and instrument and ev.symbols and ev.symbols != [instrument]:
            print(f"hft backtest: {a.data}: replaying {ev.symbols[0]}, the file's only symbol "
                  f"(backtest.instrument is {instrument})", file=err)
        if ev.repairs:
            print(f"hft backtest: {a.data}: repaired " + ", ".join(f"{k}={v}" for k, v in ev.repairs.items()),
                  file=err)
        if len(ev) == 0:
            raise DataError(a.data, "no events")
        ev, notes = file_units(ev, a.data, rows)
        for note in notes:
            print(f"hft backtest: {a.data}: {note}", file=err)
        bt = build(cfg, ev, a.config, a.data, rows, overrides)
        cb, done = _progress("never" if a.no_progress else a.progress, len(ev), err)
        try:
            res = bt.run(cb)
        finally:
            done()
    except (OSError, ValueError, KeyError) as e:  # DataError and ConfigError are ValueErrors
        print(f"hft backtest: {e}", file=err)
        return 2
    from hft.backtest import report

    s = report.summary(res)
    if a.json:  # the summary first: a report that fails to write must not lose it
        print(json.dumps(s, indent=2))
    else:
        for k, v in s.items():
            print(f"{k:28} {v}")
    sys.stdout.flush()
    if a.fills:
        try:
            write_fills(a.fills, res)
        except OSError as e:
            print(f"hft backtest: --fills {a.fills}: not written: {e.strerror or e}", file=err)
            return 1
    if a.report:
        name = cfg.get("strategy", {}).get("name", "")
        try:
            write_report(a.report, report.html_report(res, s, f"Backtest: {name} on {Path(a.data).name}",
                                                      ev, report_timezone(ev.metadata)))
        except OSError as e:
            print(f"hft backtest: --report {a.report}: not written: {e.strerror or e}", file=err)
            return 1
    return 0
