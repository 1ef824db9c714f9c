"""``hft bench gc``: garbage collections and allocations on the trading hot path.

Runs the real hot path in-process (:class:`hft.bench.hotpath.InProcessHotPath`: a 35=X read from a
loopback socket -> FIX parser and session -> FixMarketData -> L2Book -> latency_probe strategy -> risk ->
order manager -> encoder -> 35=D written to a loopback socket) ``--ticks`` times under several GC
policies, each in a fresh harness after the same warm-up, and reports per policy:

- ``collections_in_hot_path``: collections that *started* while the engine was processing a tick
  (counted by a ``gc.callbacks`` hook that checks a flag set around the tick), per generation, with the
  longest pause; ``collections_total`` counts the whole run (venue side and order answers included);
- ``net_blocks_per_tick``: ``sys.getallocatedblocks()`` after minus before each tick, averaged: what
  the tick path leaves allocated (state that grows, e.g. the order manager's order table) — garbage
  freed by reference counting nets out;
- ``net_gc_tracked_per_tick``: the growth of GC-tracked containers per tick (``len(gc.get_objects())``
  before/after the run, cold): this is what drives generation-0 collections;
- ``ticks_per_gen0_collection``: the implied spacing of young collections at that growth and threshold.

Policies: ``default`` (interpreter defaults), ``freeze`` (``gc.collect(); gc.freeze()`` after start-up),
``freeze_thresholds`` (freeze + ``gc.set_threshold(50_000, 50, 100)``), ``disabled_idle``
(:class:`hft.runtime.gc_tuning.GcController`: freeze + ``gc.disable()`` while trading, and its ``idle()``
called *between* ticks, as the engine timer would: a generation-0 collection once ``--idle-every``
allocations are pending). The claim to check:
with ``disabled_idle`` no collection starts inside a tick, by construction, and the idle collections
are short because the frozen start-up heap is never traversed.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from typing import Any

POLICIES = ("default", "freeze", "freeze_thresholds", "disabled_idle")


def run_policy(policy: str, ticks: int, fraction: float = 1.0, warmup: int = 300,
               idle_every: int = 1000, order_history: int | None = None) -> dict[str, Any]:
    from hft.bench.hotpath import InProcessHotPath

    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r} (known: {', '.join(POLICIES)})")
    saved_threshold = gc.get_threshold()
    saved_enabled = gc.isenabled()
    gc.enable()
    gc.collect()
    h = InProcessHotPath(fraction, order_history=order_history)
    in_tick = [False]
    hot: list[int] = [0, 0, 0]
    total: list[int] = [0, 0, 0]
    pause = {"t0": 0, "max_hot_ns": 0, "max_ns": 0, "sum_ns": 0, "hot_flag": False}

    def cb(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            pause["t0"] = time.perf_counter_ns()
            pause["hot_flag"] = in_tick[0]
            g = info["generation"]
            total[g] += 1
            if in_tick[0]:
                hot[g] += 1
        else:
            dt = time.perf_counter_ns() - pause["t0"]
            pause["sum_ns"] += dt
            pause["max_ns"] = max(pause["max_ns"], dt)
            if pause["hot_flag"]:
                pause["max_hot_ns"] = max(pause["max_hot_ns"], dt)

    try:
        for _ in range(warmup):
            h.tick()
            h.drain()
        ctl = None
        if policy == "disabled_idle":
            # the runtime's controller: collect + freeze + gc.disable(); idle() between ticks collects
            # generation 0 once idle_every allocations are pending (what the engine timer would call)
            from hft.runtime.gc_tuning import GcController, GcPolicy

            ctl = GcController(GcPolicy(freeze=True, disable_while_trading=True, idle_interval_ms=3_600_000,
                                        idle_max_pending=idle_every), track=False)
            ctl.after_startup()
        elif policy != "default":
            gc.collect()
            gc.freeze()
        if policy == "freeze_thresholds":
            gc.set_threshold(50_000, 50, 100)
        tracked_before = len(gc.get_objects())
        orders_before = h.parts.engine.stats.orders_sent  # warm-up ticks sent orders too
        answered_before = h.parts.strategy.answered
        gc.callbacks.append(cb)
        conn = h.e_md_conn
        blocks = sys.getallocatedblocks
        net_blocks = 0
        idle_collections = 0
        t_start = time.perf_counter()
        try:
            for _ in range(ticks):
                h.venue_md.tick()
                in_tick[0] = True
                b0 = blocks()
                while not conn.poll():
                    pass
                net_blocks += blocks() - b0
                in_tick[0] = False
                h.drain()
                if ctl is not None and ctl.idle():
                    idle_collections += 1
        finally:
            in_tick[0] = False
            gc.callbacks.remove(cb)
        elapsed = time.perf_counter() - t_start
        gc.disable()  # count without a collection changing what we count
        tracked_after = len(gc.get_objects())
        orders = h.parts.engine.stats.orders_sent - orders_before
        strategy = h.parts.strategy
        if ctl is not None:
            ctl.restore()
    finally:
        gc.unfreeze()
        gc.set_threshold(*saved_threshold)
        if saved_enabled:
            gc.enable()
        h.close()
    tracked_per_tick = (tracked_after - tracked_before) / ticks
    thr0 = 50_000 if policy == "freeze_thresholds" else saved_threshold[0]
    return {
        "policy": policy,
        "ticks": ticks,
        "orders": orders,
        "answered": strategy.answered - answered_before,
        "collections_in_hot_path": hot,
        "collections_total": total,
        "idle_collections": idle_collections,
        "max_pause_in_hot_path_us": round(pause["max_hot_ns"] / 1000, 1),
        "max_pause_us": round(pause["max_ns"] / 1000, 1),
        "pause_total_ms": round(pause["sum_ns"] / 1e6, 3),
        "net_blocks_per_tick": round(net_blocks / ticks, 3),
        "net_gc_tracked_per_tick": round(tracked_per_tick, 3),
        "ticks_per_gen0_collection": (None if policy == "disabled_idle" or tracked_per_tick <= 0
                                      else round(thr0 / tracked_per_tick)),
        "us_per_cycle": round(elapsed / ticks * 1e6, 1),
    }


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hft bench gc", description=__doc__.split("\n")[0].replace("``", ""))
    p.add_argument("--ticks", type=int, default=20_000, help="ticks per policy (default 20000)")
    p.add_argument("--fraction", type=float, default=1.0,
                   help="share of ticks answered with an order (default 1.0: every tick)")
    p.add_argument("--policy", choices=(*POLICIES, "all"), default="all", help="GC policy (default all)")
    p.add_argument("--idle-every", type=int, default=1000,
                   help="disabled_idle: GcController.idle() collects generation 0 between ticks once N "
                        "allocations are pending (default 1000)")
    p.add_argument("--order-history", type=int, default=None, metavar="N",
                   help="engine.order_history: finished orders the order manager keeps (default: the "
                        "engine's, 10000); below --ticks the run shows the steady state")
    p.add_argument("--json", action="store_true", help="print JSON")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if (args.ticks <= 0 or not 0.0 < args.fraction <= 1.0 or args.idle_every <= 0
            or (args.order_history is not None and args.order_history < 0)):
        print("hft bench gc: --ticks and --idle-every must be positive, --fraction in (0, 1], "
              "--order-history >= 0",
              file=sys.stderr)
        return 2
    policies = POLICIES if args.policy == "all" else (args.policy,)
    load = [round(x, 2) for x in os.getloadavg()]
    runs = [run_policy(p, args.ticks, args.fraction, idle_every=args.idle_every,
                       order_history=args.order_history) for p in policies]
    res = {"benchmark": "gc", "python": sys.version.split()[0],
           "gc_thresholds_default": list(gc.get_threshold()), "load": load, "runs": runs}
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"hot path x {args.ticks} ticks, fraction {args.fraction:g}, load {load}")
    print(f"{'policy':<18} {'hot gc':>12} {'all gc':>12} {'max hot':>8} {'blocks/t':>9} {'tracked/t':>9} "
          f"{'ticks/gen0':>10} {'us/cycle':>8}")
    for r in runs:
        print(f"{r['policy']:<18} {r['collections_in_hot_path']!s:>12} {r['collections_total']!s:>12} "
              f"{r['max_pause_in_hot_path_us']:>8} {r['net_blocks_per_tick']:>9} "
              f"{r['net_gc_tracked_per_tick']:>9} "
              f"{r['ticks_per_gen0_collection']!s:>10} {r['us_per_cycle']:>8}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
