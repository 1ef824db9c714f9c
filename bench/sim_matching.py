"""Throughput of the matching engine on a realistic mix (not a test; run directly).

    .venv/bin/python bench/sim_matching.py [n_ops]

Mix per op: 55% passive limit add, 30% cancel of a random live order, 10% marketable limit
(crosses 1-2 levels), 5% IOC. Prints JSON with orders/s.
"""

from __future__ import annotations

import json
import random
import sys
import time

from hft.model.types import Side, TimeInForce
from hft.sim import MatchingEngine, Phase


def run(n: int, seed: int = 1) -> dict[str, float]:
    rng = random.Random(seed)
    e = MatchingEngine(["BHP"], )
    e.set_phase("BHP", Phase.CONTINUOUS)
    mid = 450_000
    live: list[str] = []
    ops = []
    for i in range(n):
        r = rng.random()
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        qty = rng.randint(1, 20) * 10
        if r < 0.55:
            off = rng.randint(1, 10) * 100
            ops.append((0, f"o{i}", side, qty, mid - off if side is Side.BUY else mid + off))
        elif r < 0.85:
            ops.append((1, f"o{i}", side, 0, 0))
        elif r < 0.95:
            ops.append((2, f"o{i}", side, qty, mid + 300 if side is Side.BUY else mid - 300))
        else:
            ops.append((3, f"o{i}", side, qty, mid + 100 if side is Side.BUY else mid - 100))
    events = 0
    accts = ["A", "B", "C", "D"]
    submit, cancel = e.submit, e.cancel
    t0 = time.perf_counter()
    for kind, cl, side, qty, px in ops:
        if kind == 1:
            if live:
                j = rng.randrange(len(live))
                live[j], live[-1] = live[-1], live[j]
                events += len(cancel("s", cl, live.pop()))
            continue
        tif = TimeInForce.IOC if kind == 3 else TimeInForce.DAY
        evs = submit("s", accts[len(cl) & 3], "BHP", cl, side, qty, px, tif=tif)
        events += len(evs)
        if kind == 0:
            live.append(cl)
    dt = time.perf_counter() - t0
    return {"ops": n, "seconds": round(dt, 4), "orders_per_s": round(n / dt), "events": events,
            "events_per_s": round(events / dt), "resting_at_end": len(e.orders)}


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)))
