"""The strategy results table of docs/strategy_results.md.

``python -m hft.backtest.results [--events N] [--lobster DIR] [--json]`` runs each of the three
strategies with its shipped config (``config/backtest_<name>.toml``) on the generated day
(:func:`hft.backtest.synth.generate`, seed 7, the benchmark's day) and, when the LOBSTER AAPL sample is
present, on its one-hour message file converted by :mod:`hft.data.lobster`; each with the IBKR fee
schedule and again with zero fees (to show the gross edge). Prints a Markdown table (or JSON).
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path
from typing import Any

from hft.backtest.cli import build
from hft.backtest.report import summary
from hft.data.format import EventArrays
from hft.data.samples import sample_path

STRATEGIES = ("market_maker", "momentum_scalper", "order_flow")
ROOT = Path(__file__).resolve().parents[3]
LOBSTER = sample_path("lobster")
ASX_HOURS_PER_DAY = 6.0  # 10:00-16:00 continuous trading


def lobster_events(d: Path) -> EventArrays | None:
    from hft.data.lobster import convert_lobster

    msg = d / "AAPL_2012-06-21_34200000_37800000_message_50.csv"
    book = d / "AAPL_2012-06-21_34200000_57600000_orderbook_10.csv"
    if not msg.exists():
        return None
    return convert_lobster(msg, book if book.exists() else None).events


def run_one(cfg: dict[str, Any], ev: EventArrays, fees: str) -> dict[str, Any]:
    c = dict(cfg)
    c["fees"] = {"model": fees}
    bt = build(c, ev)
    res = bt.run()
    s = summary(res)
    hours = (res.last_ts - res.first_ts) / 3.6e12
    s["hours"] = round(hours, 3)
    s["net_per_hour_cents"] = round(s["pnl_net_cents"] / hours) if hours > 0 else 0
    return s


def table(rows: list[dict[str, Any]]) -> str:
    head = ("| data | strategy | fees | hours | fills | shares | gross $ | fees $ | net $ | net $/h | "
            "win rate | avg ticks | max DD $ | max pos | fill ratio | events/s |")
    out = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        s = r["summary"]
        out.append(f"| {r['data']} | {r['strategy']} | {r['fees']} | {s['hours']:.2f} | {s['trades']:,} | "
                   f"{s['volume_shares']:,} | {s['pnl_gross_cents'] / 100:,.0f} | "
                   f"{s['fees_cents'] / 100:,.0f} | "
                   f"{s['pnl_net_cents'] / 100:,.0f} | {s['net_per_hour_cents'] / 100:,.0f} | "
                   f"{s['win_rate']:.2f} | {s['avg_profit_per_trade_ticks']:.2f} | "
                   f"{s['max_drawdown_cents'] / 100:,.0f} | {s['max_position']:,} | {s['fill_ratio']:.3f} | "
                   f"{s['events_per_s']:,} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hft.backtest.results", description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=1_000_000, help="events in the generated day")
    ap.add_argument("--lobster", default=str(LOBSTER), help="directory of the LOBSTER AAPL sample")
    ap.add_argument("--config-dir", default=str(ROOT / "config"))
    ap.add_argument("--json", action="store_true", help="print every run's full summary as JSON")
    ap.add_argument("--from-json", default=None, help="only render the table of a saved --json output")
    a = ap.parse_args(argv)
    if a.from_json:
        print(table(json.loads(Path(a.from_json).read_text())))
        return 0
    from hft.backtest.synth import generate

    data: list[tuple[str, EventArrays]] = [(f"generated ({a.events:,} events)", generate(a.events, seed=7))]
    lob = lobster_events(Path(a.lobster))
    if lob is not None:
        data.append(("LOBSTER AAPL 2012-06-21 09:30-10:30", lob))
    rows = []
    for label, ev in data:
        for name in STRATEGIES:
            cfg = tomllib.loads((Path(a.config_dir) / f"backtest_{name}.toml").read_text())
            for fees in ("ibkr_fixed", "zero"):
                s = run_one(cfg, ev, fees)
                rows.append({"data": label, "strategy": name, "fees": fees, "summary": s})
                print(f"{label} {name} {fees}: net {s['pnl_net_cents'] / 100:,.0f} $", file=sys.stderr)
    if a.json:
        print(json.dumps(rows, indent=2))
    else:
        print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
