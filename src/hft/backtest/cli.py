"""``hft backtest --config FILE --data PATH [--report out.html] [--json]``."""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from hft.asx.fees import fee_model_from_config
from hft.backtest.engine import BacktestConfig, Backtester, EventArrays
from hft.backtest.report import html_report, summary

_COLS = ("ts_exch", "ts_local", "kind", "side", "price", "qty")


def load_data(path: str, symbol: str | None) -> EventArrays:
    """Read canonical events via ``hft.data.load_events`` when available, else CSV/Parquet directly."""
    try:
        from hft.data.format import load_events
    except ImportError:  # the data package is optional at this layer
        load_events = None  # type: ignore[assignment]
    sym = None
    if load_events is not None:
        ev = load_events(path)
        arrays = {k: np.asarray(getattr(ev, k)) for k in _COLS}
        if symbol:
            if symbol not in ev.symbols:
                raise ValueError(f"{path}: no events for symbol {symbol!r} (has {', '.join(ev.symbols)})")
            arrays = {k: v[ev.symbol_id == ev.symbols.index(symbol)] for k, v in arrays.items()}
    else:
        p = Path(path)
        if p.suffix == ".parquet":
            import pyarrow.parquet as pq

            t = pq.read_table(p)
        else:
            import pyarrow.csv as pc

            t = pc.read_csv(p)
        arrays = {k: t.column(k).to_numpy() for k in _COLS}
        sym = t.column("symbol").to_numpy() if symbol and "symbol" in t.column_names else None
    if sym is not None:
        m = np.asarray(sym).astype(str) == symbol
        arrays = {k: v[m] for k, v in arrays.items()}
    return EventArrays(**{k: np.ascontiguousarray(v, dtype=np.int64) for k, v in arrays.items()})


def build(cfg: dict[str, Any], events: EventArrays) -> Backtester:
    from hft.engine.config import validate_params
    from hft.strategies import PARAMS, REGISTRY

    st = cfg.get("strategy", {})
    name = st.get("name", "market_maker")
    if name not in REGISTRY:
        raise ValueError(f"strategy.name: unknown strategy {name!r} (known: {', '.join(sorted(REGISTRY))})")
    params = validate_params(PARAMS[name], st.get("params", {}))
    bt_cfg = BacktestConfig(**cfg.get("backtest", {}))
    fees = cfg.get("fees", {})
    fee = fee_model_from_config(fees.get("model", "ibkr_fixed"),
                                **{k: v for k, v in fees.items() if k != "model"})
    cls = REGISTRY[name]
    bt = Backtester(events, lambda ctx: cls(ctx, [bt_cfg.instrument], params=params), bt_cfg, fee)
    return bt


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="hft backtest", description="replay L2 data through a strategy")
    ap.add_argument("--config", required=True, help="backtest TOML (see config/backtest_*.toml)")
    ap.add_argument("--data", required=True, help="canonical L2 events, Parquet or CSV")
    ap.add_argument("--symbol", default=None, help="instrument to replay (default: backtest.instrument)")
    ap.add_argument("--report", default=None, help="write a self-contained HTML report here")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)
    try:
        cfg = tomllib.loads(Path(a.config).read_text())
        sym = a.symbol or cfg.get("backtest", {}).get("instrument")
        ev = load_data(a.data, sym)
        bt = build(cfg, ev)
    except (OSError, ValueError, TypeError, KeyError, tomllib.TOMLDecodeError) as e:
        print(f"hft backtest: {e}", file=sys.stderr)
        return 2
    if a.no_progress or len(ev) < 200_000:
        res = bt.run()
    else:
        from rich.console import Console
        from rich.progress import Progress

        with Progress(console=Console(stderr=True), transient=True) as prog:
            task = prog.add_task("backtest", total=len(ev))
            res = bt.run(lambda i: prog.update(task, completed=i))
    s = summary(res)
    if a.report:
        Path(a.report).write_text(html_report(res, s, f"Backtest {cfg.get('strategy', {}).get('name', '')}"))
    if a.json:
        print(json.dumps(s, indent=2))
    else:
        for k, v in s.items():
            print(f"{k:28} {v}")
    return 0
