from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from hft.data import DataError, EventArrays, load_events, write_events
from hft.model.types import Side
from hft.sim import ExecEvent, MatchingEngine, Phase, TradeEvent
from hft.sim.flow import NEVER, FlowConfig
from hft.sim.record import FeedRecorder, generate_day
from hft.sim.replay import ReplayDriver

S = 1_000_000_000
LOB_MSG = ("lobster", "AAPL_2012-06-21_34200000_57600000_message_10.csv")
LOB_BOOK = ("lobster", "AAPL_2012-06-21_34200000_57600000_orderbook_10.csv")


Top = tuple[list[tuple[int, int]], list[tuple[int, int]]]


class RefBook:
    """Plain dict book rebuilt from file rows (the expected state)."""

    def __init__(self) -> None:
        self.books: dict[str, tuple[dict[int, int], dict[int, int]]] = {}

    def apply(self, ev: EventArrays, i: int) -> None:
        sym = ev.symbols[int(ev.symbol_id[i])]
        k = int(ev.kind[i])
        bids, asks = self.books.setdefault(sym, ({}, {}))
        if k == 3:
            bids.clear()
            asks.clear()
        elif k == 1:
            side = bids if int(ev.side[i]) == 1 else asks
            p, q = int(ev.price[i]), int(ev.qty[i])
            if q:
                side[p] = q
            else:
                side.pop(p, None)

    def top(self, sym: str, n: int = 10) -> Top:
        bids, asks = self.books.get(sym, ({}, {}))
        return (sorted(bids.items(), reverse=True)[:n], sorted(asks.items())[:n])


def engine_top(eng: MatchingEngine, sym: str, n: int = 10) -> Top:
    b, a = eng.snapshot(sym, n)
    return [(p, q) for p, q, _ in b], [(p, q) for p, q, _ in a]


def continuous_engine(symbols: list[str]) -> MatchingEngine:
    eng = MatchingEngine(symbols)
    for s in symbols:
        eng.set_phase(s, Phase.CONTINUOUS)
    return eng


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("replay") / "day.parquet"
    generate_day(p, 90, seed=4)
    return p


def check_replay_at_every_timestamp(path: Path, symbol_map: dict[str, str] | None = None,
                                    speed: float = 1.0) -> tuple[ReplayDriver, MatchingEngine, list]:
    ev = load_events(path, validate=False)
    names = [(symbol_map or {}).get(s, s) for s in ev.symbols]
    eng = continuous_engine(names)
    drv = ReplayDriver(eng, path, speed, symbol_map=symbol_map, start_ns=0)
    ref = RefBook()
    ts = ev.ts_local
    f0 = int(ts[0])
    events = drv.seed_book(0)
    i = 0
    n = len(ev)
    checked = 0
    while i < n:
        f = int(ts[i])
        j = i
        while j < n and int(ts[j]) == f:
            ref.apply(ev, j)
            j += 1
        now = int((f - f0) / speed)
        if i > 0:
            assert drv.next_event_ns() == now
            events += drv.advance(now)
        assert drv.next_event_ns() > now
        for sym_file, sym in zip(ev.symbols, names, strict=True):
            assert engine_top(eng, sym) == ref.top(sym_file), (f, sym)
        checked += 1
        i = j
    assert drv.next_event_ns() == NEVER and drv.done
    assert checked > 10
    return drv, eng, events


def test_replay_of_recorded_day_reproduces_top10_and_trades(day: Path) -> None:
    drv, _, events = check_replay_at_every_timestamp(day)
    ev = load_events(day)
    trades = [(ev.symbols[int(s)], int(p), int(q), int(a)) for k, s, p, q, a in
              zip(ev.kind, ev.symbol_id, ev.price, ev.qty, ev.side, strict=True) if k == 2]
    # one recorded print may execute against several background orders: sum the prints per taker order
    got: dict[int, list] = {}
    for e in events:
        if isinstance(e, TradeEvent):
            taker = e.buy_order_id if e.aggressor is Side.BUY else e.sell_order_id
            g = got.setdefault(taker, [e.instrument, e.price, 0, int(e.aggressor)])
            assert g[1] == e.price
            g[2] += e.qty
    assert len(trades) > 100
    assert [tuple(g) for g in got.values()] == trades  # every recorded trade reproduced, in order
    assert drv.stats["trades_noted"] == 0 and drv.stats["rejected"] == 0 and not drv.errors


def test_fast_replay_and_rerecord_round_trip(day: Path, tmp_path: Path) -> None:
    ev = load_events(day)
    eng = continuous_engine(ev.symbols)
    drv = ReplayDriver(eng, day, None, batch_rows=500)
    out = tmp_path / "again.parquet"
    calls = 0
    with FeedRecorder(out) as rec:
        drv.seed_book(5)
        rec.snapshot(5, eng)
        while drv.next_event_ns() != NEVER:
            t = 5 + calls
            assert drv.next_event_ns() <= t  # as fast as possible: always due
            rec.record(t, drv.advance(t))
            calls += 1
    assert calls >= len(ev) // 500
    again = load_events(out)
    ref = RefBook()
    for i in range(len(ev)):
        ref.apply(ev, i)
    ref2 = RefBook()
    for i in range(len(again)):
        ref2.apply(again, i)
    for sym in ev.symbols:
        assert engine_top(eng, sym, 1000) == ref.top(sym, 1000) == ref2.top(sym, 1000)
    traded = again.qty[again.kind == 2]
    assert len(traded) >= int((ev.kind == 2).sum()) > 0  # a print may split over background orders
    assert int(traded.sum()) == int(ev.qty[ev.kind == 2].sum())


def test_timed_replay_speed_maps_file_time(day: Path) -> None:
    ev = load_events(day)
    eng = continuous_engine(ev.symbols)
    drv = ReplayDriver(eng, day, 4.0)
    assert drv.next_event_ns() == 0
    drv.seed_book(1_000)
    gaps = np.flatnonzero(ev.ts_local != ev.ts_local[0])
    f1 = int(ev.ts_local[gaps[0]]) - int(ev.ts_local[0])
    assert drv.next_event_ns() == 1_000 + int(f1 / 4.0)
    assert drv.advance(1_000 + int(f1 / 4.0) - 1) == []
    assert drv.advance(1_000 + int(f1 / 4.0))
    drv.advance(1_000 + 30 * S // 4)
    assert drv.stats["rows"] < len(ev)
    assert drv.next_event_ns() > 1_000 + 30 * S // 4


def test_client_order_is_filled_by_a_reproduced_trade_and_adds_to_recorded_qty(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    px = 450_000
    with FeedRecorder(p, source="test") as rec:
        from hft.sim.matching import LevelEvent

        rec.record(1, [LevelEvent("BHP", Side.BUY, px, 1_000, 1),
                       LevelEvent("BHP", Side.SELL, px + 100, 500, 1)])
        rec.record(2 * S, [TradeEvent(1, "BHP", px, 300, Side.SELL, 0, 0, "", "", 0),
                           LevelEvent("BHP", Side.BUY, px, 700, 1)])
        rec.record(3 * S, [TradeEvent(2, "BHP", px + 100, 50, Side.BUY, 0, 0, "", "", 0)])  # hidden: noted
    eng = continuous_engine(["BHP"])
    drv = ReplayDriver(eng, p, None)
    drv.seed_book(0)
    assert engine_top(eng, "BHP") == ([(px, 1_000)], [(px + 100, 500)])
    # a client joins the bid behind the background 1000, and bids one tick lower
    eng.submit("C", "ACC", "BHP", "c1", Side.BUY, 200, px)
    eng.submit("C", "ACC", "BHP", "c2", Side.BUY, 100, px - 100)
    assert engine_top(eng, "BHP")[0] == [(px, 1_200), (px - 100, 100)]
    evs = drv.advance(1)
    fills = [e for e in evs if isinstance(e, ExecEvent) and e.session == "C"]
    assert fills == []  # background 1000 is ahead of the client at px: the 300 sell fills background only
    assert engine_top(eng, "BHP")[0] == [(px, 900), (px - 100, 100)]  # background 700 + client 200
    evs += drv.advance(2)
    assert drv.stats["trades_reproduced"] == 1 and drv.stats["trades_noted"] == 1
    assert drv.done and drv.next_event_ns() == NEVER


def test_replay_bad_input(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        ReplayDriver(continuous_engine(["BHP"]), tmp_path / "missing.parquet")
    with pytest.raises(ValueError, match="speed"):
        ReplayDriver(continuous_engine(["BHP"]), tmp_path / "missing.parquet", speed=0)
    p = tmp_path / "bad.csv"
    p.write_text("ts_exch,ts_local,kind,side,price,qty,symbol\n"
                 "1,1,1,1,450000,100,BHP\n"
                 "2,2,9,1,450000,100,BHP\n"
                 "3,3,1,7,450000,100,BHP\n"
                 "4,4,1,2,450100,100,ZZZ\n"
                 "5,5,1,2,450150,100,BHP\n"  # off the ASX tick table: engine rejects
                 "6,6,1,2,450200,300,BHP\n")
    eng = continuous_engine(["BHP"])
    drv = ReplayDriver(eng, p, None)
    drv.seed_book(0)
    while not drv.done:
        drv.advance(0)
    st = drv.stats
    assert st["bad_rows"] == 2 and st["unknown_symbol"] == 1 and st["rejected"] == 1, st
    assert any("row 1" in e and "invalid kind 9" in e for e in drv.errors), drv.errors
    assert any("'ZZZ'" in e for e in drv.errors)
    assert engine_top(eng, "BHP") == ([(450_000, 100)], [(450_200, 300)])
    p2 = tmp_path / "scale.parquet"
    write_events(p2, EventArrays.from_columns([1], [1], [1], [1], [100], [1], "BHP"),
                 {"hft.price_scale": "100", "hft.format_version": "1"})
    with pytest.raises(DataError, match="price_scale"):
        ReplayDriver(continuous_engine(["BHP"]), p2)


def test_snapshot_mid_file_resynchronises(tmp_path: Path) -> None:
    p = tmp_path / "snap.csv"
    rows = ["1,1,3,0,0,0,BHP", "1,1,1,1,450000,100,BHP", "1,1,1,2,450100,200,BHP", "1,1,4,0,0,0,BHP",
            "2,2,1,1,449900,50,BHP",
            "3,3,3,0,0,0,BHP", "3,3,1,1,450000,80,BHP", "3,3,1,2,450200,10,BHP", "3,3,4,0,0,0,BHP"]
    p.write_text("ts_exch,ts_local,kind,side,price,qty,symbol\n" + "\n".join(rows) + "\n")
    eng = continuous_engine(["BHP"])
    drv = ReplayDriver(eng, p, None)
    drv.seed_book(0)
    assert engine_top(eng, "BHP") == ([(450_000, 100)], [(450_100, 200)])
    eng.submit("C", "ACC", "BHP", "c1", Side.SELL, 5, 450_300)
    drv.advance(0)
    assert engine_top(eng, "BHP") == ([(450_000, 80)], [(450_200, 10), (450_300, 5)])  # client untouched
    assert drv.stats["snapshots"] == 2


def test_lobster_clip_replay_reproduces_converted_top10(tmp_path: Path,
                                                       shared_data: Callable[..., Path]) -> None:
    from hft.data.lobster import convert_lobster, read_lobster_orderbook

    lob_msg, lob_book = shared_data(*LOB_MSG), shared_data(*LOB_BOOK)
    res = convert_lobster(lob_msg, lob_book)
    p = tmp_path / "aapl.parquet"
    write_events(p, res.events, validate=False)
    drv, eng, _ = check_replay_at_every_timestamp(p)
    assert drv.stats["trades_reproduced"] == res.stats["executions"]
    assert drv.stats["trades_noted"] == res.stats["hidden_executions"]
    assert drv.stats["rejected"] == 0
    # the end state also matches LOBSTER's own book for the levels the clip knows exactly
    last = read_lobster_orderbook(lob_book)[-1]
    best_ask, best_bid = int(last[0]), int(last[2])
    b, a = engine_top(eng, "AAPL", 1)
    assert b[0][0] == best_bid and a[0][0] == best_ask


def test_generated_day_validates(day: Path) -> None:
    ev = load_events(day)  # validating load: sorted, uncrossed
    assert set(ev.symbols) == {"BHP", "PLS", "NWX"}
    assert ev.metadata["hft.seed"] == "4"


def test_generate_day_custom_configs(tmp_path: Path) -> None:
    st = generate_day(tmp_path / "one.csv", 30, seed=1, configs=[FlowConfig("ABC", 25_000)])
    ev = load_events(tmp_path / "one.csv")
    assert ev.symbols == ["ABC"] and st["rows"] == len(ev) and st["trades"] == int((ev.kind == 2).sum())


@pytest.mark.parametrize("chunk_rows", [1, 2, 7])
def test_small_chunks_do_not_change_the_replay(day: Path, chunk_rows: int) -> None:
    ev = load_events(day)
    results = []
    for cr in (65_536, chunk_rows):
        eng = continuous_engine(ev.symbols)
        drv = ReplayDriver(eng, day, None, chunk_rows=cr, batch_rows=333)
        drv.seed_book(0)
        while not drv.done:
            drv.advance(0)
        results.append((dict(drv.stats), [engine_top(eng, s, 50) for s in ev.symbols]))
    assert results[0] == results[1]
    assert results[0][0]["trades_noted"] == 0


def test_unsorted_row_is_replayed_with_the_previous_time(tmp_path: Path) -> None:
    p = tmp_path / "u.csv"
    p.write_text("ts_exch,ts_local,kind,side,price,qty,symbol\n"
                 f"0,0,1,1,450000,100,BHP\n{2 * S},{2 * S},1,1,449900,100,BHP\n"
                 f"{S},{S},1,2,450100,100,BHP\n{3 * S},{3 * S},1,2,450200,100,BHP\n")
    eng = continuous_engine(["BHP"])
    drv = ReplayDriver(eng, p, 1.0)
    drv.seed_book(0)
    assert drv.next_event_ns() == 2 * S
    drv.advance(2 * S)
    assert drv.stats["rows"] == 3  # the late row at 1 s goes with the 2 s row
    assert drv.next_event_ns() == 3 * S


def test_unreadable_file_fails_at_construction_naming_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "cut.csv"
    p.write_text("ts_exch,ts_local,kind,side,price,qty,symbol\n1,1,1,1,450000,100,BHP\n2,2,1,2,4501")
    with pytest.raises(DataError, match=r"cut\.csv line 3: .*truncated"):
        ReplayDriver(continuous_engine(["BHP"]), p)
    p.write_text("ts_exch,ts_local,kind,side,price,qty,symbol\n1,1,1,1,450000,100,BHP\n2,2,1,x,450100,1,BHP\n")
    with pytest.raises(DataError, match=r"cut\.csv line 3 \(row 1\): column 'side'"):
        ReplayDriver(continuous_engine(["BHP"]), p)


def test_bad_and_unsorted_rows_are_reported_with_row_numbers(tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    p = tmp_path / "mixed.csv"
    p.write_text("ts_exch,ts_local,kind,side,price,qty,symbol\n"
                 "10,10,1,1,450000,100,BHP\n"
                 "20,20,1,2,450100,-5,BHP\n"  # row 1: negative quantity
                 "30,30,1,2,450200,100,BHP\n"
                 "15,15,1,1,449900,50,BHP\n"  # row 3: earlier than row 2
                 "40,40,2,1,450200,0,BHP\n")  # row 4: trade of quantity 0
    eng = continuous_engine(["BHP"])
    drv = ReplayDriver(eng, p, None)
    with caplog.at_level("INFO", logger="hft.sim.replay"):
        drv.seed_book(0)
        while not drv.done:
            drv.advance(0)
        assert drv.next_event_ns() == NEVER
    st = drv.stats
    assert (st["rows"], st["bad_rows"], st["unsorted"], st["read_errors"]) == (5, 2, 1, 0), st
    assert drv.problems == 3
    assert any("row 1: level row with invalid side/price/qty" in e and "qty=-5" in e for e in drv.errors)
    assert any("row 3: ts_local 15 is earlier" in e for e in drv.errors), drv.errors
    assert any("row 4: trade row" in e for e in drv.errors), drv.errors
    assert engine_top(eng, "BHP") == ([(450_000, 100), (449_900, 50)], [(450_200, 100)])
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert sum("replay: " in m and "row " in m for m in warned) == 3, warned
    summary = [m for m in warned if "(end of file)" in m]  # logged once, at the end
    assert len(summary) == 1 and "bad rows 2, unsorted 1" in summary[0], warned


def test_clean_file_logs_its_summary_at_info(day: Path, caplog: pytest.LogCaptureFixture) -> None:
    drv = ReplayDriver(continuous_engine(["BHP", "PLS", "NWX"]), day, None)
    with caplog.at_level("INFO", logger="hft.sim.replay"):
        drv.seed_book(0)
        while drv.next_event_ns() != NEVER:
            drv.advance(0)
    assert drv.problems == 0 and not drv.errors
    recs = [r for r in caplog.records if r.name == "hft.sim.replay"]
    assert [r.levelname for r in recs] == ["INFO"] and "bad rows 0" in recs[0].getMessage()


def test_unreadable_line_mid_file_stops_the_replay_and_is_reported(tmp_path: Path) -> None:
    p = tmp_path / "mid.csv"
    n = 60_000  # ~1.9 MB: more than one read block of the CSV reader, so the first chunk is good
    good = "".join(f"{t},{t},1,1,450000,10,BHP\n" for t in range(n))
    p.write_text("ts_exch,ts_local,kind,side,price,qty,symbol\n" + good + f"{n},{n},1,1,x,10,BHP\n")
    drv = ReplayDriver(continuous_engine(["BHP"]), p, None, chunk_rows=1000)
    drv.seed_book(0)
    while not drv.done:
        drv.advance(0)
    assert drv.stats["read_errors"] == 1, drv.errors
    assert f"line {n + 2} (row {n})" in drv.errors[-1] and "replay stopped" in drv.errors[-1]
    assert 0 < drv.stats["rows"] < n
