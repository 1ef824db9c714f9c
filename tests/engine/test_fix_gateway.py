"""FixOrderGateway over a real FIX initiator session against a FIX venue on 127.0.0.1 (the matching engine
behind real acceptor sessions), and the 35=8 / 35=9 decoders on encoded frames."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from paper_venue import MiniVenue, wait_until

from hft.engine.fix_gateway import FixOrderGateway, decode_cancel_reject, decode_exec_report
from hft.engine.gateway import CancelReject, ExecReport, ExecType
from hft.engine.orders import OrderManager
from hft.fix.encoder import FixEncoder
from hft.fix.parser import FixMessage, FixStreamParser
from hft.fix.session import FixSession, SessionConfig
from hft.fix.store import MemoryStore
from hft.fix.transport import AsyncInitiator
from hft.model.types import Order, OrdStatus, OrdType, Side

BHP = 451_200  # $45.12


def _frame(msg_type: bytes, body: list[tuple[int, bytes | str | int]], begin: str = "FIX.4.2") -> FixMessage:
    raw = FixEncoder(begin, "ASXSIM", "HFT").encode(msg_type, body, 7)
    p = FixStreamParser()
    p.feed(raw)
    m = p.next_message()
    assert m is not None
    return m


def run(scenario: Callable[[MiniVenue, FixOrderGateway, OrderManager], Awaitable[None]]) -> None:
    async def main() -> None:
        venue = MiniVenue({"BHP": BHP})
        await venue.start()
        gw = FixOrderGateway(account="PAPER")
        sess = FixSession(SessionConfig("FIX.4.2", "HFT", "ASXSIM", reconnect_min=0.05, reconnect_max=0.1),
                          MemoryStore(), gw)
        gw.attach(sess)
        om = OrderManager(gw, None)
        gw.set_sinks(om.on_exec_report, om.on_cancel_reject)
        init = AsyncInitiator(sess, "127.0.0.1", venue.order_port)
        init.start()
        try:
            assert await init.wait_logon(5)
            await scenario(venue, gw, om)
        finally:
            await init.stop(1)
            await venue.stop()

    asyncio.run(main())


@pytest.mark.timeout(60)
def test_new_ack_fill_cancel_replace_status_roundtrip() -> None:
    async def scenario(venue: MiniVenue, gw: FixOrderGateway, om: OrderManager) -> None:
        fills = []
        om.on_fill = fills.append
        o = om.submit("BHP", Side.BUY, BHP, 300)
        assert o is not None and o.status is OrdStatus.PENDING_NEW
        assert await wait_until(lambda: o.status is OrdStatus.NEW)
        assert o.order_id
        d = venue.app_msgs(b"D")[0]
        assert d.get(1) == b"PAPER" and d.get(55) == b"BHP" and d.get(54) == b"1" and d.get(38) == b"300"
        assert d.get(44) == b"45.12" and d.get(40) == b"2" and d.get(21) == b"1" and d.get(100) == b"ASX"
        assert d.get(15) == b"AUD" and d.get(167) == b"CS" and d.get(60)
        # another participant sells 100 into our bid: a partial fill at our price
        venue.add("BHP", Side.SELL, BHP, 100)
        assert await wait_until(lambda: o.status is OrdStatus.PARTIALLY_FILLED)
        assert len(fills) == 1 and fills[0].qty == 100 and fills[0].price == BHP and fills[0].fee_cents > 0
        # replace: price down one tick, qty 250 (cum 100 carries over)
        new = om.replace(o, price=BHP - 100, qty=250)
        assert new is not None
        assert await wait_until(lambda: o.status is OrdStatus.REPLACED
                                and new.status is OrdStatus.PARTIALLY_FILLED)
        assert new.cum_qty == 100 and new.leaves_qty == 150 and new.price == BHP - 100
        g = venue.app_msgs(b"G")[0]
        assert g.get(41) == o.cl_ord_id.encode() and g.get(11) == new.cl_ord_id.encode()
        assert g.get(44) == b"45.11" and g.get(37) == o.order_id.encode()
        # a new order sent while the engine echoes the venue's tick id carries it as 6001
        gw.echo_tick = b"42"
        echo = om.submit("BHP", Side.BUY, BHP - 1000, 1)
        gw.echo_tick = b""
        assert echo is not None and await wait_until(lambda: len(venue.app_msgs(b"D")) == 2)
        assert venue.app_msgs(b"D")[1].get(6001) == b"42" and d.get(6001) is None
        assert om.cancel(echo) and await wait_until(lambda: echo.status is OrdStatus.CANCELED)
        # status request: answered, nothing changes
        assert om.request_status([new]) == 1
        assert await wait_until(lambda: om.counters["exec_reports"] >= 6)
        assert new.status is OrdStatus.PARTIALLY_FILLED and new.cum_qty == 100
        # cancel
        assert om.cancel(new)
        assert await wait_until(lambda: new.status is OrdStatus.CANCELED)
        assert not om.open_orders()
        assert gw.sent == {"new": 2, "cancel": 2, "replace": 1, "status": 1, "refused": 0}

    run(scenario)


@pytest.mark.timeout(60)
def test_venue_reject_and_cancel_reject_are_decoded() -> None:
    async def scenario(venue: MiniVenue, gw: FixOrderGateway, om: OrderManager) -> None:
        ers: list[ExecReport] = []
        crs: list[CancelReject] = []
        gw.set_sinks(lambda e: (ers.append(e), om.on_exec_report(e)), lambda c: (crs.append(c),
                                                                                    om.on_cancel_reject(c)))
        o = om.submit("BHP", Side.BUY, BHP + 1, 10)  # off the tick grid: the venue rejects it
        assert o is not None
        assert await wait_until(lambda: o.status is OrdStatus.REJECTED)
        assert ers[-1].exec_type == ExecType.REJECTED and "tick" in ers[-1].text
        # a cancel for an order the venue does not know -> 35=9 decoded and matched to the order
        ghost = om.submit("BHP", Side.SELL, BHP, 10)
        assert ghost is not None
        venue.hold_orders = False
        assert await wait_until(lambda: ghost.status is OrdStatus.NEW)
        venue.add("BHP", Side.BUY, BHP, 10)  # fills it completely at the venue
        assert await wait_until(lambda: ghost.status is OrdStatus.FILLED)
        ghost.status = OrdStatus.NEW  # pretend we missed the fill: the cancel is too late
        om._index_open(ghost)
        assert om.cancel(ghost)
        assert await wait_until(lambda: len(crs) == 1)
        assert crs[0].orig_cl_ord_id == ghost.cl_ord_id and crs[0].response_to == "1"

    run(scenario)


@pytest.mark.timeout(60)
def test_send_refused_when_not_logged_on() -> None:
    gw = FixOrderGateway()
    o = Order("X-1", "BHP", Side.BUY, BHP, 1)
    assert gw.send_new(o) is False
    sess = FixSession(SessionConfig("FIX.4.2", "HFT", "ASXSIM"), MemoryStore(), gw)
    gw.attach(sess)
    assert gw.send_cancel(o, "X-2") is False and gw.send_replace(o, o) is False
    assert gw.request_status(o) is False
    assert gw.sent["refused"] == 4
    om = OrderManager(gw, None)
    o2 = om.submit("BHP", Side.BUY, BHP, 1)
    assert o2 is not None and o2.status is OrdStatus.REJECTED and o2.reject_reason == "gateway refused"


def test_decode_exec_report_42_and_44() -> None:
    m = _frame(b"8", [(37, "9"), (11, "A-1"), (17, "E1"), (20, b"0"), (150, b"1"), (39, b"1"), (55, "BHP"),
                      (54, b"2"), (38, 100), (32, 40), (31, b"45.125"), (14, 40), (151, 60),
                      (6, b"45.125"), (851, b"R"), (60, b"20260102-03:04:05.123456")])
    er = decode_exec_report(m)
    assert er.exec_type == ExecType.TRADE and er.ord_status is OrdStatus.PARTIALLY_FILLED
    assert er.side is Side.SELL and er.last_px == 451_250 and er.last_qty == 40 and er.cum_qty == 40
    assert er.leaves_qty == 60 and er.avg_px == 451_250 and er.liquidity == "R" and er.order_id == "9"
    assert er.transact_ns > 0 and not er.poss_dup
    # FIX 4.4 trade + an average price with more decimals than a price unit
    m44 = _frame(b"8", [(37, "9"), (11, "A-1"), (17, "E2"), (150, b"F"), (39, b"2"), (55, "BHP"), (54, b"1"),
                        (32, 60), (31, b"45.12995"), (14, 100), (151, 0), (6, b"45.128333333")], "FIX.4.4")
    er = decode_exec_report(m44)
    assert er.exec_type == ExecType.TRADE and er.ord_status is OrdStatus.FILLED and er.avg_px == 451_283
    assert er.last_px == 451_300  # rounded, not refused
    # FIX 4.2 status answer (ExecTransType 3) and 4.4's 150=I both are ORDER_STATUS
    st = _frame(b"8", [(37, "9"), (11, "A-1"), (17, "S1"), (20, b"3"), (150, b"0"), (39, b"0"), (55, "BHP"),
                       (54, b"1"), (14, 0), (151, 100), (6, b"0")])
    assert decode_exec_report(st).exec_type == ExecType.ORDER_STATUS
    st44 = _frame(b"8", [(37, "9"), (11, "A-1"), (17, "S2"), (150, b"I"), (39, b"4"), (55, "BHP"), (54, b"1"),
                         (14, 0), (151, 0), (6, b"0")], "FIX.4.4")
    er = decode_exec_report(st44)
    assert er.exec_type == ExecType.ORDER_STATUS and er.ord_status is OrdStatus.CANCELED


def test_decode_cancel_reject() -> None:
    m = _frame(b"9", [(37, "NONE"), (11, "A-3"), (41, "A-2"), (39, b"8"), (434, b"2"), (102, 1),
                      (58, "unknown order")])
    cr = decode_cancel_reject(m)
    assert cr.cl_ord_id == "A-3" and cr.orig_cl_ord_id == "A-2" and cr.response_to == "2"
    assert cr.ord_status is OrdStatus.REJECTED and cr.reason == "unknown order"


def test_market_order_has_no_price_unless_protected() -> None:
    gw = FixOrderGateway()
    o = Order("X-1", "BHP", Side.BUY, 0, 5, ord_type=OrdType.MARKET)
    tail = dict(gw._order_tail(o, b"20260101-00:00:00.000000"))
    assert tail[40] == b"1" and 44 not in tail
