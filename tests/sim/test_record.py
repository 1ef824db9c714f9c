from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hft.data import DataError, load_events
from hft.model.types import Side
from hft.sim import ExecEvent, LevelEvent, ManualClock, MatchingEngine, Phase, TradeEvent
from hft.sim.record import FeedRecorder, generate_day, sydney_open_ns

S = 1_000_000_000


def rows(path: Path) -> list[tuple]:
    ev = load_events(path)
    return [(int(a), int(b), int(k), int(s), int(p), int(q), ev.symbols[int(i)]) for a, b, k, s, p, q, i in
            zip(ev.ts_exch, ev.ts_local, ev.kind, ev.side, ev.price, ev.qty, ev.symbol_id, strict=True)]


@pytest.mark.parametrize("name", ["feed.parquet", "feed.csv"])
def test_round_trip_engine_events(tmp_path: Path, name: str) -> None:
    clock = ManualClock(10 * S)
    eng = MatchingEngine({"BHP": 450_000, "PLS": 15_000}, clock=clock)
    for s in ("BHP", "PLS"):
        eng.set_phase(s, Phase.CONTINUOUS)
    p = tmp_path / name
    expected: list[tuple] = []
    with FeedRecorder(p, metadata={"note": "test"}) as rec:
        evs = eng.submit("a", "A", "BHP", "1", Side.SELL, 300, 450_100)
        evs += eng.submit("a", "A", "PLS", "2", Side.BUY, 5_000, 14_950)
        assert rec.record(10 * S, evs) == 2
        expected += [(10 * S, 10 * S, 1, 2, 450_100, 300, "BHP"),
                     (10 * S, 10 * S, 1, 1, 14_950, 5_000, "PLS")]
        clock.set(11 * S)
        evs = eng.submit("b", "B", "BHP", "3", Side.BUY, 100, 450_100)
        assert any(isinstance(e, ExecEvent) for e in evs)  # skipped by the recorder
        rec.record(11 * S, evs, ts_exch_ns=11 * S - 5)
        expected += [(11 * S - 5, 11 * S, 2, 1, 450_100, 100, "BHP"),
                     (11 * S - 5, 11 * S, 1, 2, 450_100, 200, "BHP")]
        clock.set(12 * S)
        rec.snapshot(12 * S, eng, ["BHP"])
        expected += [(12 * S, 12 * S, 3, 0, 0, 0, "BHP"), (12 * S, 12 * S, 1, 2, 450_100, 200, "BHP"),
                     (12 * S, 12 * S, 4, 0, 0, 0, "BHP")]
        rec.record(13 * S, eng.cancel("a", "c1", "1"))
        expected += [(13 * S, 13 * S, 1, 2, 450_100, 0, "BHP")]
        assert rec.stats["trades"] == 1 and rec.stats["snapshots"] == 1 and rec.stats["rows"] == len(expected)
    assert rows(p) == expected
    if name.endswith(".parquet"):
        md = load_events(p).metadata
        assert md["hft.source"] == "hft-sim" and md["hft.note"] == "test"


def test_auction_print_has_unknown_side(tmp_path: Path) -> None:
    p = tmp_path / "a.csv"
    with FeedRecorder(p) as rec:
        rec.record(1, [TradeEvent(1, "BHP", 450_000, 10, None, 1, 2, "x", "y", 1)])
    assert rows(p) == [(1, 1, 2, 0, 450_000, 10, "BHP")]


def test_time_going_backwards_and_crossed_book_are_errors(tmp_path: Path) -> None:
    p = tmp_path / "b.parquet"
    with FeedRecorder(p) as rec:
        rec.record(5, [])
        with pytest.raises(ValueError, match="before the previous"):
            rec.record(4, [])
    p2 = tmp_path / "x.csv"
    crossed = [LevelEvent("BHP", Side.BUY, 450_100, 10, 1), LevelEvent("BHP", Side.SELL, 450_000, 10, 1)]
    with pytest.raises(DataError, match="cross"), FeedRecorder(p2) as rec:
        rec.record(1, crossed)
    assert not p2.exists()  # partial file removed


def test_generate_day_is_deterministic(tmp_path: Path) -> None:
    a = generate_day(tmp_path / "a.parquet", 20, seed=3)
    b = generate_day(tmp_path / "b.parquet", 20, seed=3)
    c = generate_day(tmp_path / "c.parquet", 20, seed=4)
    ea, eb, ec = (load_events(tmp_path / n) for n in ("a.parquet", "b.parquet", "c.parquet"))
    for col in ("ts_local", "kind", "side", "price", "qty", "symbol_id"):
        assert np.array_equal(getattr(ea, col), getattr(eb, col))
    assert a["rows"] == b["rows"] == len(ea) and a["flow"] == b["flow"]
    assert len(ec) != len(ea) or not np.array_equal(ec.price, ea.price)
    assert c["start_ns"] == sydney_open_ns() == int(ea.ts_local[0])
    assert int(ea.ts_local[-1]) <= a["end_ns"]
    with pytest.raises(ValueError, match="seconds"):
        generate_day(tmp_path / "d.parquet", 0, seed=1)
