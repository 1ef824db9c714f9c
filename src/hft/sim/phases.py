"""The simulator's phase driver: applies the ASX timetable (:mod:`hft.asx.phases`) to the matching engine.

``Schedule``, ``Phase``, ``hms`` and ``DEFAULT_OPEN_GROUPS`` live in :mod:`hft.asx.phases` (ASX rules
shared by every component) and are re-exported here.
"""

from __future__ import annotations

from hft.asx.phases import DEFAULT_OPEN_GROUPS, Phase, Schedule, hms
from hft.sim.clock import Clock, sydney_time_of_day_ns
from hft.sim.matching import Event, MatchingEngine

__all__ = ["DEFAULT_OPEN_GROUPS", "Phase", "PhaseDriver", "Schedule", "hms"]


class PhaseDriver:
    """Polls the clock and moves each instrument through the schedule, returning the events
    (auction trades, expiries) of any transitions. Call :meth:`poll` from the simulator loop."""

    def __init__(self, engine: MatchingEngine, clock: Clock, schedule: Schedule | None = None) -> None:
        self.engine = engine
        self.clock = clock
        self.schedule = schedule or Schedule()

    def poll(self) -> list[Event]:
        tod = sydney_time_of_day_ns(self.clock.now_ns())
        out: list[Event] = []
        for name, book in self.engine.books.items():
            want = self.schedule.phase_at(name, tod)
            if want is not book.phase:
                # CONTINUOUS -> CLOSED skipping PRE_CSPA is allowed (e.g. fast-forward past the close).
                out.extend(self.engine.set_phase(name, want))
        return out
