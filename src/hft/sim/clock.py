"""Clocks for the simulator: a manual (fast-forward) clock for tests and a wall clock for the server.

Time is ``int`` nanoseconds since the UTC epoch. :func:`sydney_time_of_day_ns` maps it to
nanoseconds since local midnight in Australia/Sydney, which is what the phase schedule uses.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

_SYD = ZoneInfo("Australia/Sydney")
NS_PER_S = 1_000_000_000


class Clock(Protocol):
    def now_ns(self) -> int: ...


class WallClock:
    """Real time (``time.time_ns``)."""

    __slots__ = ()

    def now_ns(self) -> int:
        return time.time_ns()


class ManualClock:
    """A clock that only moves when told to (tests, fast-forward simulation)."""

    __slots__ = ("_now",)

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns

    def now_ns(self) -> int:
        return self._now

    def set(self, ns: int) -> None:
        if ns < self._now:
            raise ValueError("ManualClock cannot go backwards")
        self._now = ns

    def advance(self, ns: int) -> int:
        if ns < 0:
            raise ValueError("ManualClock cannot go backwards")
        self._now += ns
        return self._now


def sydney_time_of_day_ns(epoch_ns: int) -> int:
    """Nanoseconds since local midnight in Australia/Sydney for a UTC epoch time."""
    dt = datetime.fromtimestamp(epoch_ns // NS_PER_S, tz=UTC).astimezone(_SYD)
    secs = dt.hour * 3600 + dt.minute * 60 + dt.second
    return secs * NS_PER_S + epoch_ns % NS_PER_S
