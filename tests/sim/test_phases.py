from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from hft.model.types import Side
from hft.sim import ExecEvent, ExecType, ManualClock, MatchingEngine, Phase, PhaseDriver, Schedule
from hft.sim.phases import hms


def _ns(h: int, m: int, s: int = 0) -> int:
    return int(datetime(2026, 11, 25, h, m, s, tzinfo=ZoneInfo("Australia/Sydney")).timestamp()) * 10**9


def test_schedule_staggered_open() -> None:
    sc = Schedule()
    assert sc.phase_at("BHP", hms(6, 59)) is Phase.CLOSED
    assert sc.phase_at("BHP", hms(9, 59)) is Phase.PRE_OPEN
    assert sc.phase_at("BHP", hms(10, 0)) is Phase.CONTINUOUS
    assert sc.phase_at("WES", hms(10, 5)) is Phase.PRE_OPEN
    assert sc.phase_at("WES", hms(10, 9)) is Phase.CONTINUOUS
    assert sc.phase_at("WES", hms(16, 5)) is Phase.PRE_CSPA
    assert sc.phase_at("WES", hms(16, 10)) is Phase.CLOSED


def test_driver_preopen_no_matching_then_open_and_close() -> None:
    clock = ManualClock(_ns(6, 0))
    e = MatchingEngine(["BHP"])
    d = PhaseDriver(e, clock)
    assert d.poll() == []
    rej = e.submit("s", "A", "BHP", "0", Side.BUY, 10, 100_000)
    assert rej[0].exec_type == ExecType.REJECTED  # type: ignore[union-attr]
    clock.set(_ns(7, 0))
    d.poll()
    assert e.books["BHP"].phase is Phase.PRE_OPEN
    e.submit("s", "A", "BHP", "1", Side.BUY, 10, 101_000)
    e.submit("s", "B", "BHP", "2", Side.SELL, 10, 100_000)
    assert e.snapshot("BHP") == ([(101_000, 10, 1)], [(100_000, 10, 1)])  # crossed, no match
    clock.set(_ns(10, 0, 1))
    evs = d.poll()
    assert e.books["BHP"].phase is Phase.CONTINUOUS
    assert sum(1 for x in evs if isinstance(x, ExecEvent) and x.exec_type == ExecType.FILL) == 2
    e.submit("s", "A", "BHP", "3", Side.BUY, 10, 99_000)
    clock.set(_ns(16, 30))
    evs = d.poll()
    assert [x.cl_ord_id for x in evs if isinstance(x, ExecEvent) and x.exec_type == ExecType.EXPIRED] == ["3"]
    assert e.books["BHP"].phase is Phase.CLOSED
