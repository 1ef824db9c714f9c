"""ASX trading phases and the session timetable (Sydney local time).

The ASX trading calendar: pre-open 07:00, staggered open in five groups by the first letter of the code
(0-9 and A-B 10:00:00, C-F 10:02:15, G-M 10:04:30, N-R 10:06:45, S-Z 10:09:00, each +/- up to 15 s random
in the real market; here a fixed, optional seeded jitter), pre-CSPA 16:00, closing single price auction
(CSPA) at 16:10 (random within 16:10:00-16:11:00 on ASX), then closed. The simulator's
:class:`hft.sim.phases.PhaseDriver` applies this timetable to its matching engine.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import IntEnum

NS_PER_S = 1_000_000_000


class Phase(IntEnum):
    """Trading phase of one instrument: orders are accepted in every phase but CLOSED; only
    CONTINUOUS matches on arrival; PRE_OPEN and PRE_CSPA end with a single-price auction."""

    CLOSED = 0
    PRE_OPEN = 1
    CONTINUOUS = 2
    PRE_CSPA = 3


def hms(h: int, m: int, s: int = 0) -> int:
    """Time of day in ns."""
    return (h * 3600 + m * 60 + s) * NS_PER_S



DEFAULT_OPEN_GROUPS: tuple[tuple[str, int], ...] = (
    ("0123456789AB", hms(10, 0, 0)), ("CDEF", hms(10, 2, 15)), ("GHIJKLM", hms(10, 4, 30)),
    ("NOPQR", hms(10, 6, 45)), ("STUVWXYZ", hms(10, 9, 0)),
)


@dataclass(slots=True)
class Schedule:
    pre_open: int = hms(7, 0)
    open_groups: tuple[tuple[str, int], ...] = DEFAULT_OPEN_GROUPS
    pre_cspa: int = hms(16, 0)
    cspa: int = hms(16, 10)
    jitter_ns: int = 0  # max +/- random offset of open and CSPA times, per instrument
    seed: int = 0
    _jit: dict[str, tuple[int, int]] = field(default_factory=dict)

    def open_time(self, instrument: str) -> int:
        c = instrument[:1].upper()
        for letters, t in self.open_groups:
            if c in letters:
                return t + self._jitter(instrument)[0]
        return self.open_groups[-1][1] + self._jitter(instrument)[0]

    def _jitter(self, instrument: str) -> tuple[int, int]:
        j = self._jit.get(instrument)
        if j is None:
            if self.jitter_ns:
                rng = random.Random(f"{self.seed}:{instrument}")
                j = (rng.randint(-self.jitter_ns, self.jitter_ns), rng.randint(0, self.jitter_ns))
            else:
                j = (0, 0)
            self._jit[instrument] = j
        return j

    def phase_at(self, instrument: str, tod_ns: int) -> Phase:
        """The phase ``instrument`` should be in at Sydney time-of-day ``tod_ns``."""
        if tod_ns < self.pre_open:
            return Phase.CLOSED
        if tod_ns < self.open_time(instrument):
            return Phase.PRE_OPEN
        if tod_ns < self.pre_cspa:
            return Phase.CONTINUOUS
        if tod_ns < self.cspa + self._jitter(instrument)[1]:
            return Phase.PRE_CSPA
        return Phase.CLOSED
