"""ASX timetable: phase boundaries, staggered open groups, CSPA, seeded jitter."""

from hft.asx.phases import DEFAULT_OPEN_GROUPS, Phase, Schedule, hms
from hft.sim.matching import Phase as SimPhase


def test_one_phase_enum_everywhere() -> None:
    assert SimPhase is Phase


def test_phase_boundaries_for_group_one() -> None:
    s = Schedule()
    assert s.phase_at("BHP", hms(6, 59, 59)) is Phase.CLOSED
    assert s.phase_at("BHP", hms(7, 0)) is Phase.PRE_OPEN
    assert s.phase_at("BHP", hms(9, 59, 59)) is Phase.PRE_OPEN
    assert s.phase_at("BHP", hms(10, 0)) is Phase.CONTINUOUS
    assert s.phase_at("BHP", hms(15, 59, 59)) is Phase.CONTINUOUS
    assert s.phase_at("BHP", hms(16, 0)) is Phase.PRE_CSPA
    assert s.phase_at("BHP", hms(16, 9, 59)) is Phase.PRE_CSPA
    assert s.phase_at("BHP", hms(16, 10)) is Phase.CLOSED


def test_staggered_open_by_first_letter() -> None:
    s = Schedule()
    expect = {"1AE": hms(10, 0), "ANZ": hms(10, 0), "CBA": hms(10, 2, 15), "FMG": hms(10, 2, 15),
              "GMG": hms(10, 4, 30), "MQG": hms(10, 4, 30), "NAB": hms(10, 6, 45), "RIO": hms(10, 6, 45),
              "STO": hms(10, 9), "WBC": hms(10, 9), "ZIP": hms(10, 9)}
    for code, t in expect.items():
        assert s.open_time(code) == t, code
        assert s.phase_at(code, t - 1) is Phase.PRE_OPEN
        assert s.phase_at(code, t) is Phase.CONTINUOUS
    assert len(DEFAULT_OPEN_GROUPS) == 5


def test_jitter_is_seeded_bounded_and_per_instrument() -> None:
    j = 15 * 1_000_000_000
    a, b = Schedule(jitter_ns=j, seed=7), Schedule(jitter_ns=j, seed=7)
    for code in ("BHP", "CBA", "WBC"):
        assert a.open_time(code) == b.open_time(code)
        base = Schedule().open_time(code)
        assert abs(a.open_time(code) - base) <= j
    assert len({Schedule(jitter_ns=j, seed=s).open_time("BHP") for s in range(20)}) > 1
