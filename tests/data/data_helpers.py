"""Shared event builders for tests/data (imported by module name: pytest puts this folder on sys.path)."""

from __future__ import annotations

import numpy as np

from hft.data.format import (
    KIND_LEVEL,
    KIND_SNAPSHOT_END,
    KIND_SNAPSHOT_START,
    KIND_TRADE,
    EventArrays,
    make_metadata,
)

T0 = 1_700_000_000_000_000_000


def book_events(
    n_updates: int = 200, symbols: tuple[str, ...] = ("BHP", "CBA"), seed: int = 1
) -> EventArrays:
    """A small valid multi-symbol stream: one snapshot per symbol, then level updates and trades."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[int, int, int, int, int, int, str]] = []
    t = T0
    mids = {s: 450_000 + 100_000 * i for i, s in enumerate(symbols)}
    for s in symbols:
        m = mids[s]
        rows.append((t, t + 5, KIND_SNAPSHOT_START, 0, 0, 0, s))
        for lvl in range(5):
            rows.append((t, t + 5, KIND_LEVEL, 1, m - 100 * (lvl + 1), 100 * (lvl + 1), s))
            rows.append((t, t + 5, KIND_LEVEL, 2, m + 100 * lvl, 100 * (lvl + 2), s))
        rows.append((t, t + 5, KIND_SNAPSHOT_END, 0, 0, 0, s))
    for _ in range(n_updates):
        t += int(rng.integers(1, 1000))
        s = symbols[int(rng.integers(len(symbols)))]
        m = mids[s]
        if rng.random() < 0.1:
            rows.append((t, t + 5, KIND_TRADE, int(rng.integers(1, 3)), m, 100, s))
        else:
            side = int(rng.integers(1, 3))
            lvl = int(rng.integers(5))
            px = m - 100 * (lvl + 1) if side == 1 else m + 100 * lvl
            rows.append((t, t + 5, KIND_LEVEL, side, px, int(rng.integers(1, 50)) * 100, s))
    cols = list(zip(*rows, strict=True))
    return EventArrays.from_columns(*cols[:6], symbol=list(cols[6]), metadata=make_metadata("test"))
