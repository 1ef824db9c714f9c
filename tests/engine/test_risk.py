"""RiskManager checks (each reason code) and every kill switch trigger."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from hft.asx.fees import IbkrAsxFixed
from hft.book.l2 import ASK, BID, L2Book
from hft.engine import risk as R
from hft.engine.positions import PositionTracker
from hft.model.types import Fill, Order, OrdStatus, OrdType, Side

SEC = 1_000_000_000


class Orders:
    """Minimal in-memory open-order view (the protocol the order manager satisfies)."""

    def __init__(self) -> None:
        self.orders: list[Order] = []

    def open_orders(self, instrument: str | None = None) -> Iterable[Order]:
        return [o for o in self.orders if o.is_open and (instrument is None or o.instrument == instrument)]

    def add(self, side: Side, price: int, qty: int, inst: str = "BHP") -> Order:
        o = Order(f"c{len(self.orders)}", inst, side, price, qty, status=OrdStatus.NEW)
        self.orders.append(o)
        return o


def make(**kw: object) -> tuple[R.RiskManager, PositionTracker, Orders, L2Book, list[str]]:
    pt = PositionTracker(IbkrAsxFixed())
    oo = Orders()
    book = L2Book("BHP")
    book.apply_snapshot([(450_000, 100)], [(450_200, 100)])  # $45.00 / $45.02, mid 450_100
    trips: list[str] = []
    lim = R.RiskLimits(**kw)  # type: ignore[arg-type]
    rm = R.RiskManager(lim, pt, oo, books={"BHP": book}, on_trip=trips.append)
    return rm, pt, oo, book, trips


def test_accept_and_reason_codes() -> None:
    rm, _, oo, _, _ = make(allowed_instruments=frozenset({"BHP", "CBA"}))
    ok = rm.check("BHP", Side.BUY, 450_000, 100, OrdType.LIMIT, 0)
    assert ok == R.ACCEPTED and R.reason_text(ok) == "accepted"
    assert rm.check("XYZ", Side.BUY, 450_000, 100) == R.UNKNOWN_INSTRUMENT
    assert rm.check("BHP", Side.BUY, 450_000, 0) == R.BAD_QTY
    assert rm.check("BHP", Side.BUY, 450_050, 100) == R.BAD_TICK  # $45.005 not on the 1c grid
    # band 5% of 450_100 = 22_505: 472_600 is inside (diff 22_500), 472_700 outside
    assert rm.check("BHP", Side.SELL, 472_600, 100) == R.ACCEPTED
    assert rm.check("BHP", Side.SELL, 472_700, 100) == R.PRICE_BAND
    assert rm.check("BHP", Side.BUY, 427_600, 100) == R.ACCEPTED
    assert rm.check("BHP", Side.BUY, 427_500, 100) == R.PRICE_BAND
    assert rm.check("CBA", Side.BUY, 1_000_000, 1) == R.ACCEPTED  # no reference: band skipped
    assert rm.check("CBA", Side.BUY, 0, 1, OrdType.MARKET) == R.NO_REFERENCE_PRICE
    assert rm.check("BHP", Side.BUY, 0, 1, OrdType.MARKET) == R.ACCEPTED
    assert rm.check("BHP", Side.BUY, 450_000, 100_001) == R.MAX_ORDER_QTY
    # notional: AUD 500,000 = 5e9 units; 100,000 x $45.00 = $4.5m
    assert rm.check("BHP", Side.BUY, 450_000, 100_000) == R.MAX_ORDER_NOTIONAL
    assert rm.check("BHP", Side.BUY, 450_000, 11_111) == R.ACCEPTED  # $499,995
    assert rm.check("BHP", Side.BUY, 450_000, 11_112) == R.MAX_ORDER_NOTIONAL
    oo.add(Side.SELL, 450_100, 10)
    assert rm.check("BHP", Side.BUY, 450_100, 10) == R.SELF_CROSS
    assert rm.check("BHP", Side.BUY, 450_000, 10) == R.ACCEPTED
    assert rm.check("BHP", Side.BUY, 0, 10, OrdType.MARKET) == R.SELF_CROSS
    for code in range(14):
        assert R.reason_text(code) and "unknown" not in R.reason_text(code)
    assert rm.counts[R.ACCEPTED] == 7


def test_require_reference_and_last_trade_reference() -> None:
    rm, _, _, book, _ = make(require_reference=True, reference="last")
    assert rm.reference_price("BHP") == 450_100  # no trade yet: falls back to mid
    rm.on_trade("BHP", 400_000)
    assert rm.reference_price("BHP") == 400_000
    assert rm.check("BHP", Side.BUY, 450_000, 1) == R.PRICE_BAND
    assert rm.check("CBA", Side.BUY, 10_000, 1) == R.NO_REFERENCE_PRICE
    book.mark_stale("gap")
    rm.limits.reference = "mid"
    assert rm.reference_price("BHP") == 400_000  # stale book: last trade


def test_position_limits_count_open_orders() -> None:
    rm, pt, oo, _, _ = make(max_position=1000, max_gross_position=1500, max_order_qty=10_000)
    pt.on_fill(Fill("x", "BHP", Side.BUY, 450_000, 600, 0, 0))
    oo.add(Side.BUY, 449_000, 300)
    assert rm.check("BHP", Side.BUY, 449_000, 100) == R.ACCEPTED  # 600 + 300 + 100 = 1000
    assert rm.check("BHP", Side.BUY, 449_000, 101) == R.MAX_POSITION
    assert rm.check("BHP", Side.SELL, 451_000, 1600) == R.ACCEPTED  # 600 - 1600 = -1000
    assert rm.check("BHP", Side.SELL, 451_000, 1601) == R.MAX_POSITION
    pt.on_fill(Fill("y", "CBA", Side.SELL, 100_000, 800, 0, 0))  # gross 1400
    assert rm.check("BHP", Side.BUY, 449_000, 1) == R.MAX_GROSS_POSITION  # 800 + 901 > 1500
    assert rm.check("BHP", Side.SELL, 451_000, 500) == R.ACCEPTED  # 800 + |100| = 900


def test_max_open_orders_and_rate_bucket_on_engine_time() -> None:
    rm, _, oo, _, _ = make(max_open_orders=2, max_orders_per_sec=2, burst=3)
    oo.add(Side.BUY, 440_000, 1)
    oo.add(Side.BUY, 440_000, 1)
    assert rm.check("BHP", Side.BUY, 440_000, 1) == R.MAX_OPEN_ORDERS
    oo.orders.clear()
    t = 100 * SEC
    assert [rm.check("BHP", Side.BUY, 440_000, 1, now_ns=t) for _ in range(4)] == [0, 0, 0, R.RATE_LIMIT]
    assert rm.check("BHP", Side.BUY, 440_000, 1, now_ns=t + SEC // 2 - 1) == R.RATE_LIMIT  # 0.999 token
    assert rm.check("BHP", Side.BUY, 440_000, 1, now_ns=t + SEC // 2) == R.ACCEPTED
    # refused orders do not consume tokens; a long pause refills to the burst only
    assert rm.check("BHP", Side.BUY, 440_050, 1, now_ns=t + 100 * SEC) == R.BAD_TICK
    assert [rm.check("BHP", Side.BUY, 440_000, 1, now_ns=t + 100 * SEC) for _ in range(4)] == [0, 0, 0, 13]
    # a burst changed on the live limits: the next refill fills to the new capacity
    rm.limits.burst = 5
    assert [rm.check("BHP", Side.BUY, 440_000, 1, now_ns=t + 200 * SEC) for _ in range(6)] == [0] * 5 + [13]


def test_kill_switch_manual_trip_blocks_everything_until_reset() -> None:
    rm, _, _, _, trips = make()
    assert rm.kill.trip("operator stop", 5)
    assert not rm.kill.trip("again", 6)  # latched: callback once
    assert trips == ["operator stop"]
    for side in (Side.BUY, Side.SELL):
        assert rm.check("BHP", side, 450_000, 1) == R.KILL_SWITCH
    st = rm.kill.state()
    assert st["tripped"] and st["reason"] == "operator stop" and st["tripped_ns"] == 5 and st["blocked"] == 2
    with pytest.raises(ValueError):
        rm.kill.reset("")
    rm.kill.reset("alice")
    assert rm.check("BHP", Side.BUY, 450_000, 1) == R.ACCEPTED and rm.kill.reset_by == "alice"


def test_kill_switch_on_disconnect_configurable() -> None:
    rm, _, _, _, _ = make(kill_on_disconnect=False)
    assert not rm.on_disconnect(1) and not rm.kill.tripped
    rm2, _, _, _, trips2 = make()
    assert rm2.on_disconnect(1) and trips2 == ["FIX disconnect"]
    assert rm2.check("BHP", Side.BUY, 450_000, 1) == R.KILL_SWITCH


def test_kill_switch_on_rejects_in_window() -> None:
    rm, _, _, _, trips = make(max_rejects=3, reject_window_ns=10 * SEC)
    assert not rm.on_reject(0)
    assert not rm.on_reject(5 * SEC)
    assert not rm.on_reject(10 * SEC)  # the first one left the window
    assert rm.on_reject(11 * SEC)  # 5, 10, 11 inside 10 s
    assert rm.kill.tripped and trips and rm.check("BHP", Side.BUY, 450_000, 1) == R.KILL_SWITCH


def test_kill_switch_trips_at_exactly_the_daily_loss_limit() -> None:
    fees = IbkrAsxFixed()
    rm, pt, _, _, trips = make()
    # buy 10,000 @ $45.00: value $450,000, fee 0.08% = $360.00
    fee = fees.fill_fee(0, 450_000 * 10_000)
    assert fee == 36_000
    pt.on_fill(Fill("b", "BHP", Side.BUY, 450_000, 10_000, fee, 0))
    assert not rm.on_pnl(1)
    # loss limit $10,000 = 1,000,000 cents; net = 10,000 x (mark - $45.00) - $360 fee
    pt.mark("BHP", 440_365)  # unrealised -$9,635.00, net -$9,995.00
    assert pt.net_pnl_cents() == -999_500 and not rm.on_pnl(2)
    pt.mark("BHP", 440_361)  # unrealised -$9,639.00, net -$9,999.00
    assert pt.net_pnl_cents() == -999_900 and not rm.on_pnl(3)
    pt.mark("BHP", 440_360)  # unrealised -$9,640.00, net exactly -$10,000.00
    assert pt.net_pnl_cents() == -1_000_000
    assert rm.on_pnl(4) and rm.kill.tripped and rm.kill.tripped_ns == 4
    assert trips and "daily loss" in trips[0]
    assert rm.check("BHP", Side.SELL, 440_000, 10_000) == R.KILL_SWITCH  # even a reducing order


def test_on_trip_callback_failure_keeps_switch_tripped() -> None:
    def boom(_: str) -> None:
        raise RuntimeError("cancel failed")

    rm, _, _, _, _ = make()
    rm.kill.on_trip = boom
    assert rm.kill.trip("x")
    assert rm.check("BHP", Side.BUY, 450_000, 1) == R.KILL_SWITCH


def test_stale_book_has_no_mid_reference() -> None:
    rm, _, _, book, _ = make()
    book.set_level(BID, 450_200, 5)  # crossed -> stale
    assert book.stale and rm.reference_price("BHP") == 0
    book.apply_snapshot([(450_000, 1)], [(450_200, 1)])
    book.set_level(ASK, 450_200, 0)
    assert rm.reference_price("BHP") == 0  # one-sided book: no mid


class DictOrders(Orders):
    """The same orders offered the way the order manager and the backtester offer them (``open_dict``)."""

    def open_dict(self, instrument: str) -> dict[str, Order]:
        return {o.cl_ord_id: o for o in self.orders if o.is_open and o.instrument == instrument}


class SourceOrders(DictOrders, R.OpenOrderSource):
    """The same orders through the native base the backtester's view derives from."""

    def open_count(self) -> int:
        return sum(1 for o in self.orders if o.is_open)


def test_open_dict_source_answers_like_the_open_orders_source() -> None:
    answers = []
    for src in (Orders(), DictOrders(), SourceOrders()):
        pt = PositionTracker(IbkrAsxFixed())
        book = L2Book("BHP")
        book.apply_snapshot([(450_000, 100)], [(450_200, 100)])
        lim = R.RiskLimits(max_position=1000, max_order_qty=10_000)
        rm = R.RiskManager(lim, pt, src, books={"BHP": book})
        assert (rm._open_dict is not None) is (type(src) is DictOrders)  # (a source reads natively)
        assert (rm._source is not None) is isinstance(src, SourceOrders)
        pt.on_fill(Fill("x", "BHP", Side.BUY, 450_000, 500, 0, 0))
        src.add(Side.BUY, 449_000, 300)
        src.add(Side.SELL, 450_200, 200)
        done = src.add(Side.BUY, 449_900, 400)
        done.status = OrdStatus.FILLED  # finished: neither counted nor crossed
        src.add(Side.SELL, 450_100, 50, inst="CBA")  # another instrument: ignored
        got = [rm.check("BHP", side, px, qty, ot, 0) for side, px, qty, ot in (
            (Side.BUY, 449_000, 200, OrdType.LIMIT),  # 500 + 300 + 200 = 1000: accepted
            (Side.BUY, 449_000, 201, OrdType.LIMIT),  # 1001: max position
            (Side.BUY, 450_200, 1, OrdType.LIMIT),  # reaches our ask: self cross
            (Side.BUY, 0, 1, OrdType.MARKET),  # a market order crosses any resting ask of ours
            (Side.SELL, 449_000, 10, OrdType.LIMIT),  # reaches our bid: self cross
            (Side.SELL, 450_300, 2300, OrdType.LIMIT),  # 500 - 200 - 2300 = -2000: max position
        )]
        answers.append(got)
    assert answers[0] == answers[1] == answers[2] == [R.ACCEPTED, R.MAX_POSITION, R.SELF_CROSS, R.SELF_CROSS,
                                                      R.SELF_CROSS, R.MAX_POSITION]


class PlainPositions:
    """A PositionView that is not a PositionTracker: the check's generic path."""

    def __init__(self, pt: PositionTracker) -> None:
        self.pt = pt

    @property
    def gross_qty(self) -> int:
        return self.pt.gross_qty

    def position(self, instrument: str) -> int:
        return self.pt.position(instrument)

    def net_pnl_cents(self) -> int:
        return self.pt.net_pnl_cents()


@pytest.mark.parametrize("plain_positions", [False, True])
@pytest.mark.parametrize("proxy_books", [False, True])
def test_typed_and_generic_position_and_book_sources_answer_alike(plain_positions: bool,
                                                                 proxy_books: bool) -> None:
    from types import MappingProxyType

    pt = PositionTracker(IbkrAsxFixed())
    pt.on_fill(Fill("x", "BHP", Side.BUY, 450_000, 500, 0, 0))
    pt.on_fill(Fill("y", "CBA", Side.SELL, 1_200_000, 300, 0, 0))  # gross 800
    book = L2Book("BHP")
    book.apply_snapshot([(450_000, 100)], [(450_200, 100)])  # mid 450_100
    books = {"BHP": book}
    lim = R.RiskLimits(max_position=1000, max_gross_position=1200, max_order_qty=10_000, price_band_bp=100)
    rm = R.RiskManager(lim, PlainPositions(pt) if plain_positions else pt, Orders(),
                       books=MappingProxyType(books) if proxy_books else books)
    assert (rm._tracker is None) is plain_positions and (rm._book_dict is None) is proxy_books
    got = [rm.check("BHP", side, px, qty, OrdType.LIMIT, 0) for side, px, qty in (
        (Side.BUY, 449_000, 400),  # 900, gross 1200: accepted
        (Side.BUY, 449_000, 401),  # gross 1201
        (Side.SELL, 450_300, 1600),  # -1100: max position
        (Side.BUY, 440_000, 1),  # 2.2% from the book's mid: price band
        (Side.SELL, 450_300, 900),  # -400, gross 700: accepted
    )]
    assert got == [R.ACCEPTED, R.MAX_GROSS_POSITION, R.MAX_POSITION, R.PRICE_BAND, R.ACCEPTED]


def test_warm_answers_like_check_and_keeps_nothing() -> None:
    rm, _, oo, _, _ = make(max_orders_per_sec=1, burst=2)
    oo.add(Side.SELL, 450_200, 100)
    cases = [(Side.BUY, 450_000, 10), (Side.BUY, 450_200, 10), (Side.BUY, 450_050, 10),
             (Side.SELL, 449_000, 5)]

    def state() -> tuple[object, ...]:
        return rm._tokens_x, rm._last_ns, rm._valid_px, list(rm.counts), rm.kill.blocked

    before = state()
    warm = [rm.warm("BHP", side, px, qty, OrdType.LIMIT, 5 * SEC) for side, px, qty in cases]
    assert state() == before
    assert warm == [rm.check("BHP", side, px, qty, OrdType.LIMIT, 5 * SEC) for side, px, qty in cases]
    assert warm == [R.ACCEPTED, R.SELF_CROSS, R.BAD_TICK, R.ACCEPTED]
    # the bucket is empty now: warm still answers like check, and still takes nothing
    before = state()
    assert rm.warm("BHP", Side.BUY, 450_000, 10, OrdType.LIMIT, 5 * SEC) == R.RATE_LIMIT
    assert state() == before
    rm.kill.trip("test", 0)
    before = state()
    assert rm.warm("BHP", Side.BUY, 450_000, 10) == R.KILL_SWITCH and state() == before


def test_explicit_open_order_count_wins_over_the_sources_own() -> None:
    pt = PositionTracker(IbkrAsxFixed())
    book = L2Book("BHP")
    book.apply_snapshot([(450_000, 100)], [(450_200, 100)])
    lim = R.RiskLimits(max_open_orders=5)
    src = SourceOrders()  # no open orders of its own
    assert R.RiskManager(lim, pt, src, books={"BHP": book}).check("BHP", Side.BUY, 450_000, 1) == R.ACCEPTED
    rm = R.RiskManager(lim, pt, src, books={"BHP": book}, open_order_count=lambda: 5)
    assert rm.check("BHP", Side.BUY, 450_000, 1) == R.MAX_OPEN_ORDERS
