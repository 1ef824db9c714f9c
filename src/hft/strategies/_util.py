"""Small helpers shared by the strategies."""

from __future__ import annotations

from collections import deque


class RateLimiter:
    """At most ``max_per_sec`` actions in any sliding one-second window of engine time."""

    __slots__ = ("_times", "max_per_sec")

    def __init__(self, max_per_sec: int) -> None:
        self.max_per_sec = max_per_sec
        self._times: deque[int] = deque()

    def allow(self, now_ns: int) -> bool:
        t = self._times
        while t and now_ns - t[0] >= 1_000_000_000:
            t.popleft()
        if len(t) >= self.max_per_sec:
            return False
        t.append(now_ns)
        return True


class RollingStd:
    """Population standard deviation of the last ``window`` values (running sums, O(1) per update)."""

    __slots__ = ("_buf", "_s", "_s2", "window")

    def __init__(self, window: int) -> None:
        self.window = window
        self._buf: deque[float] = deque()
        self._s = 0.0
        self._s2 = 0.0

    def push(self, x: float) -> None:
        self._buf.append(x)
        self._s += x
        self._s2 += x * x
        if len(self._buf) > self.window:
            y = self._buf.popleft()
            self._s -= y
            self._s2 -= y * y

    @property
    def std(self) -> float:
        n = len(self._buf)
        if n < 2:
            return 0.0
        m = self._s / n
        v = self._s2 / n - m * m
        return v ** 0.5 if v > 0 else 0.0
