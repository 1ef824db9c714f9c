"""Micro-benchmark of L2Book (not collected by pytest). Prints JSON with ns/op.

Run: .venv/bin/python bench/book_l2.py
Compares the list storage with the same book whose four arrays are swapped for array('q'), in one run.
"""

from __future__ import annotations

import json
import random
import time
from array import array

from hft.book.l2 import ASK, BID, L2Book


def _book(kind: str) -> L2Book:
    b = L2Book("X", depth=20)
    b.apply_snapshot([(100_000 - 100 * i, 100 + i) for i in range(20)],
                     [(100_100 + 100 * i, 100 + i) for i in range(20)])
    if kind == "array":
        for name in ("bid_px", "bid_qty", "ask_px", "ask_qty"):
            setattr(b, name, array("q", getattr(b, name)))
    return b


def _time(fn, n: int) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter_ns()
        fn(n)
        best = min(best, (time.perf_counter_ns() - t0) / n)
    return round(best, 1)


def run(n: int = 200_000) -> dict[str, dict[str, float]]:
    rnd = random.Random(1)
    ops = [(BID if rnd.random() < 0.5 else ASK, rnd.randrange(5), rnd.randrange(1, 500)) for _ in range(n)]
    out: dict[str, dict[str, float]] = {}
    for kind in ("list", "array"):
        b = _book(kind)

        def upd_qty(k: int, b: L2Book = b) -> None:  # qty change at one of the best 5 levels
            for side, lvl, q in ops[:k]:
                b.set_level(side, (100_000 - 100 * lvl) if side == BID else (100_100 + 100 * lvl), q)

        def ins_del(k: int, b: L2Book = b) -> None:  # insert a new best bid then delete it
            for _ in range(k // 2):
                b.set_level(BID, 100_050, 7)
                b.set_level(BID, 100_050, 0)

        def reads(k: int, b: L2Book = b) -> None:
            for _ in range(k):
                b.best_bid()

        def raw_read(k: int, b: L2Book = b) -> None:
            px = b.bid_px
            for _ in range(k):
                px[0]

        r = {
            "set_level_qty_top5": _time(upd_qty, n),
            "set_level_insert_or_delete_top": _time(ins_del, n),
            "best_bid": _time(reads, n),
            "raw_index_bid_px0": _time(raw_read, n),
        }
        for name, f in (("mid_x2", b.mid_x2), ("microprice", b.microprice), ("spread", b.spread)):
            r[name] = _time(lambda k, f=f: [f() for _ in range(k)] and None, n)
        r["imbalance5"] = _time(lambda k, b=b: [b.imbalance(5) for _ in range(k)] and None, n)
        r["depth_bid10"] = _time(lambda k, b=b: [b.depth_bid(10) for _ in range(k)] and None, n)
        r["loop_overhead"] = _time(lambda k: [None for _ in range(k)] and None, n)
        out[kind] = r
    return out


if __name__ == "__main__":
    print(json.dumps(run(), indent=1))
