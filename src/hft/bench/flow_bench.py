"""Background flow, feed recording and L2 replay throughput of the simulator (one run, JSON).

Measured in one process, side by side:

* ``flow``: :class:`hft.sim.flow.BackgroundFlow` with the default three instruments on a fast-forward
  clock (driven by ``next_event_ns``): actions/s (limit, marketable, cancel, jump), engine events/s and
  simulated seconds per wall second;
* ``engine_baseline``: the bare matching engine doing the same number of passive submit + cancel
  operations (no flow logic), so ``flow_vs_engine`` is the flow's cost relative to the engine alone;
* ``record``: :func:`hft.sim.record.generate_day` (flow + recording to Parquet) rows/s;
* ``replay``: :class:`hft.sim.replay.ReplayDriver` replaying that file as fast as possible, rows/s.

Usage: ``python -m hft.bench.flow_bench --seconds 600 --json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hft.asx.phases import Phase
from hft.model.types import Side
from hft.sim.clock import ManualClock
from hft.sim.flow import NEVER, BackgroundFlow, default_flow_configs
from hft.sim.matching import MatchingEngine
from hft.sim.record import generate_day, sydney_open_ns
from hft.sim.replay import ReplayDriver

S = 1_000_000_000


def _engine(clock: ManualClock | None = None) -> MatchingEngine:
    cfgs = default_flow_configs()
    eng = MatchingEngine({c.symbol: c.ref_price for c in cfgs}, clock=clock)
    for c in cfgs:
        eng.set_phase(c.symbol, Phase.CONTINUOUS)
    return eng


def bench_flow(seconds: float, seed: int) -> dict[str, Any]:
    t0 = sydney_open_ns()
    clock = ManualClock(t0)
    eng = _engine(clock)
    flow = BackgroundFlow(eng, default_flow_configs(), seed, start_ns=t0)
    flow.seed_book(t0)
    end = t0 + int(seconds * S)
    events = 0
    w0 = time.perf_counter()
    while True:
        t = flow.next_event_ns()
        if t > end or t == NEVER:
            break
        clock.set(t)
        events += len(flow.advance(t))
    wall = time.perf_counter() - w0
    st = flow.stats()
    actions = sum(v["limit"] + v["market"] + v["cancel"] + v["jump"] + v["skipped"] for v in st.values())
    return {"sim_seconds": seconds, "wall_s": round(wall, 4), "actions": actions, "events": events,
            "actions_per_s": round(actions / wall), "events_per_s": round(events / wall),
            "sim_speedup": round(seconds / wall, 1), "per_symbol": st}


def bench_engine_baseline(ops: int) -> dict[str, Any]:
    eng = _engine()
    n = max(1, ops // 2)
    w0 = time.perf_counter()
    for i in range(n):
        px = 449_000 + (i % 10) * 100
        # the first event of a submit is the order's ExecEvent (typed Any rather than narrowed with an
        # isinstance inside the measured loop)
        ack: Any = eng.submit("BG", "BG-M", "BHP", str(i), Side.BUY, 200, px)[0]
        oid = ack.order_id
        eng.cancel_order_id(oid)
    wall = time.perf_counter() - w0
    return {"ops": 2 * n, "wall_s": round(wall, 4), "ops_per_s": round(2 * n / wall)}


def bench_record_replay(seconds: float, seed: int, tmp: Path) -> dict[str, Any]:
    path = tmp / "day.parquet"
    w0 = time.perf_counter()
    st = generate_day(path, seconds, seed)
    rec_wall = time.perf_counter() - w0
    eng = _engine()
    drv = ReplayDriver(eng, path, None)
    w0 = time.perf_counter()
    events = len(drv.seed_book(0))
    while drv.next_event_ns() != NEVER:
        events += len(drv.advance(0))
    rp_wall = time.perf_counter() - w0
    rows = drv.stats["rows"]
    return {
        "record": {"sim_seconds": seconds, "rows": st["rows"], "wall_s": round(rec_wall, 4),
                   "rows_per_s": round(st["rows"] / rec_wall), "file_bytes": path.stat().st_size},
        "replay": {"rows": rows, "events": events, "wall_s": round(rp_wall, 4),
                   "rows_per_s": round(rows / rp_wall), "trades_reproduced": drv.stats["trades_reproduced"],
                   "trades_noted": drv.stats["trades_noted"]},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hft.bench.flow_bench", description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=600.0,
                    help="simulated seconds of background flow per measurement (default 600)")
    ap.add_argument("--seed", type=int, default=1, help="flow seed (default 1)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = ap.parse_args(argv)
    if args.seconds <= 0:
        ap.error("--seconds must be > 0")
    flow = bench_flow(args.seconds, args.seed)
    base = bench_engine_baseline(flow["actions"])
    with tempfile.TemporaryDirectory(prefix="hft-flow-bench-") as d:
        rr = bench_record_replay(args.seconds, args.seed, Path(d))
    res = {"benchmark": "sim_flow", "python": sys.version.split()[0], "flow": flow, "engine_baseline": base,
           "flow_vs_engine": round(flow["actions_per_s"] / base["ops_per_s"], 3), **rr}
    if args.json:
        print(json.dumps(res))
    else:
        print(f"flow:   {flow['actions_per_s']:,} actions/s, {flow['events_per_s']:,} engine events/s, "
              f"{flow['sim_speedup']}x real time ({args.seconds:g} simulated s)")
        print(f"engine: {base['ops_per_s']:,} passive submit+cancel ops/s "
              f"(flow/engine = {res['flow_vs_engine']})")
        print(f"record: {rr['record']['rows_per_s']:,} rows/s; replay: {rr['replay']['rows_per_s']:,} rows/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
