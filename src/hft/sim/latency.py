"""Injected one-way latency: a FIFO delay line per connection and direction.

Each item gets ``delay = LatencySampler.sample_ns()`` (fixed + seeded jitter) but never leaves before the
item queued ahead of it (a TCP stream does not reorder), so the due time is
``max(now + delay, previous due)``. One timer per line drains every item that is due; items are never
reordered even when their due times are equal (asyncio's timer heap is not stable for ties).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from hft.sim.config import LatencySampler

__all__ = ["DelayLine", "LatencySampler"]

log = logging.getLogger("hft.sim.latency")


class DelayLine:
    __slots__ = ("_handle", "_last_due", "_loop", "_q", "_sampler")

    def __init__(self, loop: asyncio.AbstractEventLoop, sampler: LatencySampler) -> None:
        self._loop = loop
        self._sampler = sampler
        self._q: deque[tuple[float, Callable[..., Any], tuple[Any, ...]]] = deque()
        self._handle: asyncio.TimerHandle | None = None
        self._last_due = 0.0

    def __len__(self) -> int:
        return len(self._q)

    def put(self, fn: Callable[..., Any], *args: Any) -> None:
        loop = self._loop
        due = loop.time() + self._sampler.sample_ns() / 1e9
        if due < self._last_due:
            due = self._last_due
        self._last_due = due
        self._q.append((due, fn, args))
        if self._handle is None:
            self._handle = loop.call_at(due, self._drain)

    def _drain(self) -> None:
        self._handle = None
        q = self._q
        if not q:
            return
        _, fn, args = q.popleft()  # the item this timer was set for
        self._run(fn, args)
        limit = self._loop.time() + 0.0005
        while q and q[0][0] <= limit:
            _, fn, args = q.popleft()
            self._run(fn, args)
        if q and self._handle is None:
            self._handle = self._loop.call_at(q[0][0], self._drain)

    @staticmethod
    def _run(fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            fn(*args)
        except Exception:  # one bad item must not strand the ones queued behind it
            log.exception("delayed delivery failed")

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._q.clear()
