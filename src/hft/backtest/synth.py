"""Seeded synthetic L2 day for tests and the benchmark (5 levels a side, ~5% trades, 1-tick spread).

A consistent book: every update keeps the book uncrossed; trades print at the best level on the
aggressor's opposite side and are followed by the level update they cause; ~1% of events move the mid
by one tick (delete/insert at both ends). Times: exponential gaps (mean ``gap_ns``), local = exch +
``feed_latency_ns``.
"""

from __future__ import annotations

import random

import numpy as np

from hft.backtest.engine import make_events
from hft.data.format import EventArrays


def generate(n_events: int, seed: int = 7, mid_px: int = 450_000, tick: int = 100, levels: int = 5,
             trade_frac: float = 0.05, move_frac: float = 0.01, gap_ns: int = 20_000_000,
             feed_latency_ns: int = 50_000, start_ns: int = 1_700_000_000_000_000_000,
             symbol: str = "BHP") -> EventArrays:
    rng = random.Random(seed)
    te: list[int] = []
    kd: list[int] = []
    sd: list[int] = []
    px: list[int] = []
    qt: list[int] = []
    done: list[tuple[np.ndarray, ...]] = []  # numpy chunks (Python int lists cost ~40 bytes a value)
    count = 0
    t = start_ns
    b = mid_px // tick  # best bid in ticks
    bids = {b - i: rng.randint(1, 50) * 100 for i in range(levels)}
    asks = {b + 1 + i: rng.randint(1, 50) * 100 for i in range(levels)}

    def emit(k: int, s: int, p: int, q: int) -> None:
        te.append(t)
        kd.append(k)
        sd.append(s)
        px.append(p * tick)
        qt.append(q)

    emit(3, 0, 0, 0)
    for p, q in bids.items():
        emit(1, 1, p, q)
    for p, q in asks.items():
        emit(1, 2, p, q)
    emit(4, 0, 0, 0)
    while count + len(te) < n_events:
        if len(te) >= 1 << 20:
            count += len(te)
            done.append(_chunk(te, kd, sd, px, qt))
            te, kd, sd, px, qt = [], [], [], [], []
        t += int(rng.expovariate(1.0 / gap_ns)) + 1
        r = rng.random()
        a = b + 1
        if r < trade_frac:
            buy = rng.random() < 0.5
            lvl, p, side = (asks, a, 2) if buy else (bids, b, 1)
            q = lvl[p]
            if q <= 100:
                continue
            tq = min(q - 100, rng.randint(1, 10) * 100)
            emit(2, 1 if buy else 2, p, tq)
            lvl[p] = q - tq
            emit(1, side, p, q - tq)
        elif r < trade_frac + move_frac:
            if rng.random() < 0.5:  # up one tick
                del asks[a]
                emit(1, 2, a, 0)
                bids[a] = rng.randint(1, 50) * 100
                emit(1, 1, a, bids[a])
                del bids[b - levels + 1]
                emit(1, 1, b - levels + 1, 0)
                asks[a + levels] = rng.randint(1, 50) * 100
                emit(1, 2, a + levels, asks[a + levels])
                b += 1
            else:
                del bids[b]
                emit(1, 1, b, 0)
                asks[b] = rng.randint(1, 50) * 100
                emit(1, 2, b, asks[b])
                del asks[a + levels - 1]
                emit(1, 2, a + levels - 1, 0)
                bids[b - levels] = rng.randint(1, 50) * 100
                emit(1, 1, b - levels, bids[b - levels])
                b -= 1
        else:
            i = rng.randrange(levels)
            if rng.random() < 0.5:
                p = b - i
                bids[p] = max(100, bids[p] + rng.choice((-1, 1)) * rng.randint(1, 5) * 100)
                emit(1, 1, p, bids[p])
            else:
                p = a + i
                asks[p] = max(100, asks[p] + rng.choice((-1, 1)) * rng.randint(1, 5) * 100)
                emit(1, 2, p, asks[p])
    done.append(_chunk(te, kd, sd, px, qt))
    cols = [np.concatenate([c[j] for c in done])[:n_events] for j in range(5)]
    ts, kind, sides, price, qty = cols
    return make_events(ts, ts + feed_latency_ns, kind, sides, price, qty, symbol)


def _chunk(te: list[int], kd: list[int], sd: list[int], px: list[int],
           qt: list[int]) -> tuple[np.ndarray, ...]:
    return (np.asarray(te, dtype=np.int64), np.asarray(kd, dtype=np.int8), np.asarray(sd, dtype=np.int8),
            np.asarray(px, dtype=np.int64), np.asarray(qt, dtype=np.int64))
