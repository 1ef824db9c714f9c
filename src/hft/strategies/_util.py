"""Small helpers shared by the strategies: rate limiter, rolling std, grid offsets, parameter checks.

Everything here is allocation-free per call after construction (preallocated ring buffers), so it can sit
on the market-data-to-order path.
"""

from __future__ import annotations

import math
from typing import Any, Final

from hft.asx.ticks import tick_size

_BAND1: Final = 1_000  # $0.10: below it the step is 10 units ($0.001)
_BAND2: Final = 20_000  # $2.00: from it the step is 100 units ($0.01); between, 50 units ($0.005)
_EPS: Final = 1e-6  # price units; absorbs float noise before floor/ceil onto the grid


class RateLimiter:
    """At most ``max_per_sec`` actions in any sliding one-second window of engine time.

    Keeps the times of the last ``max_per_sec`` allowed actions in a preallocated ring: a new action is
    allowed when fewer than ``max_per_sec`` were taken, or when the oldest of them is at least one second
    old (it then takes that slot).
    """

    __slots__ = ("_count", "_ring", "_start", "max_per_sec")

    def __init__(self, max_per_sec: int) -> None:
        if max_per_sec <= 0:
            raise ValueError(f"max_per_sec must be positive, got {max_per_sec}")
        self.max_per_sec = max_per_sec
        self._ring = [0] * max_per_sec
        self._start = 0
        self._count = 0

    def allow(self, now_ns: int) -> bool:
        n = self.max_per_sec
        if self._count < n:
            i = self._start + self._count
            self._ring[i - n if i >= n else i] = now_ns
            self._count += 1
            return True
        s = self._start
        if now_ns - self._ring[s] >= 1_000_000_000:
            self._ring[s] = now_ns
            self._start = s + 1 if s + 1 < n else 0
            return True
        return False

    def free_at(self, now_ns: int) -> int:
        """The earliest engine time at which :meth:`allow` would succeed."""
        if self._count < self.max_per_sec:
            return now_ns
        return self._ring[self._start] + 1_000_000_000


class RollingStd:
    """Population standard deviation of the last ``window`` values.

    Running sums over a preallocated ring (O(1) per push); the sums are recomputed from the ring every
    ``window`` pushes so float round-off cannot accumulate.
    """

    __slots__ = ("_i", "_n", "_ring", "_s", "_s2", "_since", "window")

    def __init__(self, window: int) -> None:
        if window < 2:
            raise ValueError(f"window must be >= 2, got {window}")
        self.window = window
        self._ring = [0.0] * window
        self._i = 0  # next slot to write
        self._n = 0  # values held (<= window)
        self._s = 0.0
        self._s2 = 0.0
        self._since = 0

    def push(self, x: float) -> None:
        ring = self._ring
        i = self._i
        if self._n == self.window:
            y = ring[i]
            self._s -= y
            self._s2 -= y * y
        else:
            self._n += 1
        ring[i] = x
        self._s += x
        self._s2 += x * x
        i += 1
        self._i = 0 if i == self.window else i
        self._since += 1
        if self._since >= self.window:
            self._since = 0
            s = s2 = 0.0
            for j in range(self._n):
                v = ring[j]
                s += v
                s2 += v * v
            self._s = s
            self._s2 = s2

    def push_std(self, x: float) -> float:
        """:meth:`push` then :attr:`std` in one call (the same arithmetic; saves a call on the hot path)."""
        ring = self._ring
        i = self._i
        w = self.window
        n = self._n
        if n == w:
            y = ring[i]
            s = self._s - y
            s2 = self._s2 - y * y
        else:
            n += 1
            self._n = n
            s = self._s
            s2 = self._s2
        ring[i] = x
        s += x
        s2 += x * x
        i += 1
        self._i = 0 if i == w else i
        k = self._since + 1
        if k >= w:
            k = 0
            s = s2 = 0.0
            for j in range(n):
                v = ring[j]
                s += v
                s2 += v * v
        self._since = k
        self._s = s
        self._s2 = s2
        if n < 2:
            return 0.0
        m = s / n
        v = s2 / n - m * m
        return math.sqrt(v) if v > 0.0 else 0.0

    def __len__(self) -> int:
        return self._n

    @property
    def std(self) -> float:
        n = self._n
        if n < 2:
            return 0.0
        m = self._s / n
        v = self._s2 / n - m * m
        return math.sqrt(v) if v > 0.0 else 0.0


class RingFloat:
    """Fixed-size history of floats: ``push`` a value, ``oldest`` is the value ``size - 1`` pushes ago."""

    __slots__ = ("_i", "_n", "_ring", "size")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        self.size = size
        self._ring = [0.0] * size
        self._i = 0
        self._n = 0

    def push(self, x: float) -> None:
        i = self._i
        self._ring[i] = x
        i += 1
        self._i = 0 if i == self.size else i
        if self._n < self.size:
            self._n += 1

    @property
    def full(self) -> bool:
        return self._n == self.size

    @property
    def oldest(self) -> float:
        """The oldest value held (the next one to be overwritten once full)."""
        return self._ring[self._i] if self._n == self.size else self._ring[0]


def shift_ticks(price: float, n: float) -> float:
    """The (fractional) price ``n`` ASX price steps above ``price`` (below when ``n`` < 0).

    Steps are counted on the real tick table: moving down from $2.02 by 3 steps passes $2.00 and the last
    step is a half-cent one ($1.995). Not rounded onto the grid; round with ``floor_to_grid`` /
    ``ceil_to_grid``. Never returns less than 0.
    """
    if n >= 0.0:
        while True:
            if price >= _BAND2:
                return price + n * 100
            if price >= _BAND1:
                ceil, step = _BAND2, 50
            else:
                ceil, step = _BAND1, 10
            room = (ceil - price) / step
            if n <= room:
                return price + n * step
            n -= room
            price = float(ceil)
    n = -n
    while True:
        if price > _BAND2:
            floor, step = _BAND2, 100
        elif price > _BAND1:
            floor, step = _BAND1, 50
        else:
            p = price - n * 10
            return p if p > 0.0 else 0.0
        room = (price - floor) / step
        if n <= room:
            return price - n * step
        n -= room
        price = float(floor)


def floor_to_grid(price: float) -> int:
    """The highest valid ASX price <= ``price`` (at least the smallest step, 10 units)."""
    p = math.floor(price + _EPS)
    if p <= 10:
        return 10
    return p - p % tick_size(p)


def ceil_to_grid(price: float) -> int:
    """The lowest valid ASX price >= ``price`` (at least the smallest step, 10 units)."""
    p = math.ceil(price - _EPS)
    if p <= 10:
        return 10
    r = p % tick_size(p)
    if r == 0:
        return p
    below = p - r
    return below + tick_size(below)


def check_fields(obj: Any, positive: tuple[str, ...] = (), non_negative: tuple[str, ...] = (),
                 ints: tuple[str, ...] = ()) -> None:
    """Type and range checks for a params dataclass; the error names the key (config errors add the path)."""
    for name in ints:
        v = getattr(obj, name)
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"{name} must be an integer, got {v!r}")
    for name in positive + non_negative:
        v = getattr(obj, name)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
            raise ValueError(f"{name} must be a number, got {v!r}")
    for name in positive:
        v = getattr(obj, name)
        if v <= 0:
            raise ValueError(f"{name} must be positive, got {v!r}")
    for name in non_negative:
        v = getattr(obj, name)
        if v < 0:
            raise ValueError(f"{name} must be >= 0, got {v!r}")
