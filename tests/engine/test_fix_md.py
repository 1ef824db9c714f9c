"""FixMarketData over a real FIX initiator session against a FIX venue on 127.0.0.1: subscribe, snapshot,
incrementals and trades, gap detection by RptSeq, 35=Y, disconnect and re-subscribe."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from paper_venue import MiniVenue, wait_until

from hft.engine.fix_md import FixMarketData
from hft.engine.gateway import BookSnapshot, LevelUpdate, MarketEvent, StaleNotice
from hft.fix.session import FixSession, SessionConfig
from hft.fix.store import MemoryStore
from hft.fix.transport import AsyncInitiator
from hft.model.types import Side, Trade

BHP = 451_200
TICK = 100  # one cent in price units (>= $2)


class Rec:
    def __init__(self) -> None:
        self.events: list[MarketEvent] = []
        self.ends: list[int] = []

    def of(self, cls: type) -> list:
        return [e for e in self.events if type(e) is cls]


def run(scenario: Callable[[MiniVenue, FixMarketData, Rec, AsyncInitiator], Awaitable[None]]) -> None:
    async def main() -> None:
        venue = MiniVenue({"BHP": BHP, "CBA": 1_200_000})
        await venue.start()
        venue.seed_book("BHP", BHP, TICK, levels=3)
        md = FixMarketData(depth=10)
        sess = FixSession(SessionConfig("FIX.4.2", "HFTMD", "ASXSIMMD", validate_types=False,
                                        reconnect_min=0.05, reconnect_max=0.1), MemoryStore(), md)
        md.attach(sess)
        rec = Rec()
        md.set_sink(rec.events.append)
        md.on_message_end = rec.ends.append
        init = AsyncInitiator(sess, "127.0.0.1", venue.md_port)
        init.start()
        try:
            assert await init.wait_logon(5)
            await scenario(venue, md, rec, init)
        finally:
            await init.stop(1)
            await venue.stop()

    asyncio.run(main())


@pytest.mark.timeout(60)
def test_snapshot_incrementals_trades_one_end_per_message() -> None:
    async def scenario(venue: MiniVenue, md: FixMarketData, rec: Rec, init: AsyncInitiator) -> None:
        md.subscribe(["BHP"])
        assert await wait_until(lambda: rec.of(BookSnapshot))
        snap = rec.of(BookSnapshot)[0]
        assert snap.bids == ((BHP - 100, 1000), (BHP - 200, 1000), (BHP - 300, 1000))
        assert snap.asks == ((BHP + 100, 1000), (BHP + 200, 1000), (BHP + 300, 1000))
        assert not md.is_stale("BHP")
        v = venue.app_msgs  # the venue records order-entry messages only; check the 35=V it got instead
        assert venue.md_requests == 1 and venue.subs["BHP"] and v(b"D") == []
        n_end = len(rec.ends)
        venue.add("BHP", Side.BUY, BHP, 500)  # new best bid: one 35=X with one entry
        assert await wait_until(lambda: rec.of(LevelUpdate))
        lu = rec.of(LevelUpdate)[0]
        assert (lu.instrument, lu.side, lu.price, lu.qty) == ("BHP", Side.BUY, BHP, 500)
        assert lu.ts_ns > 0 and len(rec.ends) == n_end + 1 and rec.ends[-1] == lu.ts_ns
        venue.add("BHP", Side.SELL, BHP, 500)  # trades against it: trade + level delete in one message
        assert await wait_until(lambda: rec.of(Trade))
        tr = rec.of(Trade)[0]
        assert (tr.price, tr.qty) == (BHP, 500)
        assert await wait_until(lambda: any(e.qty == 0 for e in rec.of(LevelUpdate)))
        assert len(rec.ends) == n_end + 2
        # a second instrument that is not subscribed publishes nothing to us
        venue.add("CBA", Side.BUY, 1_200_000, 10)
        await asyncio.sleep(0.05)
        assert all(e.instrument == "BHP" for e in rec.events if hasattr(e, "instrument"))
        assert md.counters["snapshots"] == 1 and md.counters["trades"] == 1 and md.counters["gaps"] == 0

    run(scenario)


@pytest.mark.timeout(60)
def test_rpt_seq_gap_marks_stale_drops_updates_and_resubscribes() -> None:
    async def scenario(venue: MiniVenue, md: FixMarketData, rec: Rec, init: AsyncInitiator) -> None:
        md.subscribe(["BHP"])
        assert await wait_until(lambda: rec.of(BookSnapshot))
        venue.skip_rpt_seq("BHP", 2)  # two messages "lost"
        venue.add("BHP", Side.BUY, BHP, 100)
        assert await wait_until(lambda: rec.of(StaleNotice))
        sn = rec.of(StaleNotice)[0]
        assert sn.instrument == "BHP" and sn.reason == "gap" and sn.got_seq == sn.expected_seq + 2
        assert not rec.of(LevelUpdate)  # the update after the gap was not applied
        # a fresh snapshot was requested and arrives; it contains the level we did not see
        assert await wait_until(lambda: len(rec.of(BookSnapshot)) == 2)
        assert venue.md_requests == 2 and not md.is_stale("BHP")
        assert rec.of(BookSnapshot)[1].bids[0] == (BHP, 100)
        assert md.counters["seq_gaps"] == 1
        venue.add("BHP", Side.BUY, BHP, 50)
        assert await wait_until(lambda: rec.of(LevelUpdate))
        assert rec.of(LevelUpdate)[0].qty == 150

    run(scenario)


@pytest.mark.timeout(60)
def test_inconsistency_request_and_unknown_symbol() -> None:
    async def scenario(venue: MiniVenue, md: FixMarketData, rec: Rec, init: AsyncInitiator) -> None:
        md.subscribe(["BHP", "ZZZ"])
        assert await wait_until(lambda: rec.of(BookSnapshot) and rec.of(StaleNotice))
        sn = rec.of(StaleNotice)[0]
        assert sn.instrument == "ZZZ" and sn.reason.startswith("rejected") and "unknown symbol" in sn.reason
        # the engine found the book inconsistent: updates are dropped until the new snapshot
        md.request_snapshot("BHP")
        assert md.is_stale("BHP")
        assert await wait_until(lambda: len(rec.of(BookSnapshot)) == 2)
        assert not md.is_stale("BHP") and md.counters["inconsistent"] == 1

    run(scenario)


@pytest.mark.timeout(60)
def test_disconnect_marks_everything_stale_and_resubscribes_on_logon() -> None:
    async def scenario(venue: MiniVenue, md: FixMarketData, rec: Rec, init: AsyncInitiator) -> None:
        md.subscribe(["BHP"])
        assert await wait_until(lambda: rec.of(BookSnapshot))
        venue.md_session.disconnect("test drops market data")
        assert await wait_until(lambda: any(e.reason == "disconnect" for e in rec.of(StaleNotice)))
        assert md.is_stale("BHP")
        # the initiator reconnects; on logon every subscription is requested again
        assert await wait_until(lambda: len(rec.of(BookSnapshot)) == 2, timeout=10)
        assert not md.is_stale("BHP")
        md.unsubscribe(["BHP"])
        assert await wait_until(lambda: "BHP" not in venue.subs)

    run(scenario)


@pytest.mark.timeout(60)
def test_silence_longer_than_stale_after_marks_books_stale_and_resubscribes() -> None:
    async def scenario(venue: MiniVenue, md: FixMarketData, rec: Rec, init: AsyncInitiator) -> None:
        md.stale_after_ns = 200_000_000  # 200 ms
        md.subscribe(["BHP"])
        assert await wait_until(lambda: rec.of(BookSnapshot))
        md.check_resend()  # fresh: nothing happens
        assert not rec.of(StaleNotice)
        await asyncio.sleep(0.3)  # the venue says nothing
        md.check_resend()
        assert [e.reason for e in rec.of(StaleNotice)] == ["timeout"]
        assert await wait_until(lambda: len(rec.of(BookSnapshot)) == 2)  # the new snapshot answers
        assert not md.is_stale("BHP") and md.counters["timeouts"] == 1

    run(scenario)
