"""Order-flow strategy: OFI over 5 levels, velocity, thresholds, position limits, stale orders, exits."""

from __future__ import annotations

import pytest
from strat_harness import SEC, RecordingContext, attach

from hft.model.types import OrdStatus, Side, TimeInForce
from hft.strategies.order_flow import OrderFlow, OrderFlowParams

BB, BA = 451_000, 451_100  # a one-tick-wide book would leave no room inside: use two ticks below
BA2 = 451_200


def make(pos: int = 0, instruments: tuple[str, ...] = ("BHP",), **kw: object) -> tuple[RecordingContext,
                                                                                        OrderFlow]:
    args: dict[str, object] = {"trade_size": 100, "max_position": 300, "levels": 5, "ofi_threshold": 0.3,
                               "velocity_threshold": 0.1, "velocity_window": 3, "stale_ns": 2 * SEC,
                               "max_hold_ns": 30 * SEC, "stop_ticks": 3, "take_ticks": 2,
                               "timer_ns": SEC // 10}
    args.update(kw)
    ctx = RecordingContext(instruments)
    ctx.pos["BHP"] = pos
    of = OrderFlow(ctx, list(instruments), OrderFlowParams(**args))  # type: ignore[arg-type]
    attach(ctx, of)
    return ctx, of


Levels = list[tuple[int, int]]


def ofi_book(ofi_pct: int, bb: int = BB, ba: int = BA2) -> tuple[Levels, Levels]:
    """One level a side, 200 shares in all, with OFI = ofi_pct / 100 exactly."""
    b = 100 + ofi_pct
    return [(bb, b)], [(ba, 200 - b)]


def feed_ofis(ctx: RecordingContext, pcts: list[int], **kw: int) -> None:
    for p in pcts:
        ctx.feed(*ofi_book(p, **kw))


def test_timer_is_requested_on_start() -> None:
    ctx, _ = make()
    assert ctx.timer_ns == SEC // 10


def test_ofi_over_five_levels() -> None:
    ctx, of = make()
    bids = [(BB - 100 * i, 30) for i in range(5)] + [(BB - 500, 5_000)]  # the 6th level does not count
    asks = [(BA2 + 100 * i, 20) for i in range(5)] + [(BA2 + 500, 5_000)]
    ctx.feed(bids, asks)
    assert of.state("BHP").ofi == pytest.approx((150 - 100) / 250)
    ctx2, of2 = make(levels=2)
    ctx2.feed(bids, asks)
    assert of2.state("BHP").ofi == pytest.approx((60 - 40) / 100)


def test_velocity_is_the_change_of_ofi_over_the_window() -> None:
    ctx, of = make(ofi_threshold=0.99)  # observe only
    s = of.state("BHP")
    feed_ofis(ctx, [10, 20, 30])
    assert s.velocity == 0.0  # window (3 updates back) not yet available
    feed_ofis(ctx, [50])
    assert s.velocity == pytest.approx(0.50 - 0.10)
    feed_ofis(ctx, [-40])
    assert s.velocity == pytest.approx(-0.40 - 0.20)
    ctx2, of2 = make(ofi_threshold=0.99, velocity_window=1)
    feed_ofis(ctx2, [10, 25])
    assert of2.state("BHP").velocity == pytest.approx(0.15)


# ------------------------------------------------------------------------------------------- entries
@pytest.mark.parametrize(("last", "trades"), [(31, True), (29, False)])
def test_buy_threshold_on_ofi_just_above_and_below(last: int, trades: bool) -> None:
    ctx, _ = make()
    feed_ofis(ctx, [0, 0, 0, last])  # velocity = OFI here
    if not trades:
        assert ctx.actions == []
        return
    (kind, o), = ctx.actions
    assert kind == "new"
    assert (o.side, o.price, o.qty, o.tif, o.tag) == (Side.BUY, BB + 100, 100, TimeInForce.DAY, "entry")


@pytest.mark.parametrize(("prev", "trades"), [(20, True), (22, False)])
def test_buy_threshold_on_velocity_just_above_and_below(prev: int, trades: bool) -> None:
    ctx, of = make()
    feed_ofis(ctx, [prev, prev, prev, 31])  # OFI 0.31 > 0.3; velocity 0.11 or 0.09
    assert of.state("BHP").velocity == pytest.approx((31 - prev) / 100)
    assert (len(ctx.actions) == 1) is trades


@pytest.mark.parametrize(("last", "prev", "trades"), [(-31, 0, True), (-29, 0, False), (-31, -22, False),
                                                      (-31, -20, True)])
def test_sell_thresholds(last: int, prev: int, trades: bool) -> None:
    ctx, _ = make()
    feed_ofis(ctx, [prev, prev, prev, last])
    if not trades:
        assert ctx.actions == []
        return
    (kind, o), = ctx.actions
    assert (kind, o.side, o.price, o.qty) == ("new", Side.SELL, BA2 - 100, 100)


def test_thresholds_are_strict() -> None:
    ctx, _ = make(velocity_threshold=0.0)
    feed_ofis(ctx, [30, 30, 30, 30])  # OFI exactly 0.3 (30/100), velocity 0: neither strictly above
    assert ctx.actions == []


def test_high_ofi_without_velocity_does_nothing() -> None:
    ctx, _ = make()
    feed_ofis(ctx, [80, 80, 80, 80, 80])
    assert ctx.actions == []


def test_one_tick_inside_uses_the_band_at_two_dollars() -> None:
    ctx, _ = make()
    feed_ofis(ctx, [0, 0, 0, 40], bb=19_950, ba=20_100)
    assert ctx.orders[-1].price == 20_000  # one half-cent step above $1.995
    ctx2, _ = make()
    feed_ofis(ctx2, [0, 0, 0, -40], bb=19_950, ba=20_100)
    assert ctx2.orders[-1].price == 20_000  # one cent step below $2.01


@pytest.mark.parametrize(("policy", "buy_px", "sell_px"), [("cross", BA, BB), ("join", BB, BA),
                                                         ("skip", None, None)])
def test_one_tick_spread_policy(policy: str, buy_px: int | None, sell_px: int | None) -> None:
    # spread of one tick: one tick inside the bid is the ask itself
    ctx, _ = make(tight_spread=policy)
    feed_ofis(ctx, [0, 0, 0, 40], bb=BB, ba=BA)
    assert [o.price for o in ctx.orders] == ([buy_px] if buy_px else [])
    ctx2, _ = make(tight_spread=policy)
    feed_ofis(ctx2, [0, 0, 0, -40], bb=BB, ba=BA)
    assert [(o.side, o.price) for o in ctx2.orders] == ([(Side.SELL, sell_px)] if sell_px else [])


def test_position_limits() -> None:
    for pos, side_pct, allowed in [(200, 40, True), (201, 40, False), (-200, -40, True), (-201, -40, False),
                                   (300, -40, True), (-300, 40, True)]:
        ctx, _ = make(pos=pos)
        feed_ofis(ctx, [0, 0, 0, side_pct])
        entries = [o for o in ctx.orders if o.tag == "entry"]
        assert (len(entries) == 1) is allowed, (pos, side_pct)


def test_one_entry_at_a_time_and_stale_cancellation() -> None:
    ctx, _ = make()
    feed_ofis(ctx, [0, 0, 0, 40])
    entry = ctx.orders[-1]
    ctx.ack_all()
    t0 = entry.created_ns
    feed_ofis(ctx, [0, 0, 40])  # qualifies again, but one entry is working
    assert len(ctx.orders) == 1
    ctx.t = t0 + 2 * SEC - 1_000_001
    ctx.feed(*ofi_book(0))  # just under stale_ns: kept
    assert entry.status is OrdStatus.NEW
    ctx.feed(*ofi_book(0))  # now 2 s old: cancelled
    assert ctx.actions[-1] == ("cancel", entry)
    ctx.ack_all()
    feed_ofis(ctx, [0, 0, 0, 40])
    assert len(ctx.orders) == 2


def test_stale_entry_is_cancelled_by_the_timer_without_book_updates() -> None:
    ctx, of = make()
    feed_ofis(ctx, [0, 0, 0, 40])
    entry = ctx.orders[-1]
    ctx.ack_all()
    of.on_timer(entry.created_ns + SEC)
    assert entry.status is OrdStatus.NEW
    of.on_timer(entry.created_ns + 2 * SEC)
    assert entry.status is OrdStatus.PENDING_CANCEL


# ------------------------------------------------------------------------------------------- exits
def long_100(**kw: object) -> tuple[RecordingContext, OrderFlow]:
    ctx, of = make(**kw)
    feed_ofis(ctx, [0, 0, 0, 40])
    ctx.ack_all()
    ctx.fill(ctx.orders[-1])  # bought 100 at 451100
    assert ctx.pos["BHP"] == 100
    assert of.state("BHP").entry_px == 451_100.0 and of.state("BHP").entry_ns == ctx.t
    return ctx, of


def test_price_stop_long() -> None:
    ctx, _ = long_100()
    n = len(ctx.orders)
    ctx.feed([(450_800, 100)], [(450_900, 100)])  # mid 450850: 2.5 ticks against, no stop
    assert len(ctx.orders) == n
    ctx.feed([(450_700, 100)], [(450_900, 100)])  # mid 450800: 3 ticks against
    o = ctx.orders[-1]
    assert (o.side, o.price, o.qty, o.tif, o.tag) == (Side.SELL, 450_700, 100, TimeInForce.IOC, "stop")


def test_take_profit_long_and_disabled() -> None:
    ctx, _ = long_100()
    ctx.feed([(451_200, 100)], [(451_400, 100)])  # mid 451300: +2 ticks
    o = ctx.orders[-1]
    assert (o.side, o.price, o.qty, o.tag) == (Side.SELL, 451_200, 100, "take")
    ctx2, _ = long_100(take_ticks=0)
    ctx2.feed([(451_900, 100)], [(452_000, 100)])
    assert ctx2.orders[-1].tag == "entry"


def test_time_stop_by_timer_and_by_book_update() -> None:
    ctx, of = long_100()
    t_fill = of.state("BHP").entry_ns
    of.on_timer(t_fill + 30 * SEC - 1)
    assert ctx.orders[-1].tag == "entry"
    of.on_timer(t_fill + 30 * SEC)
    o = ctx.orders[-1]
    assert (o.side, o.price, o.qty, o.tif, o.tag) == (Side.SELL, BB, 100, TimeInForce.IOC, "time")
    ctx2, of2 = long_100()
    ctx2.t = of2.state("BHP").entry_ns + 30 * SEC - 1_000_000
    ctx2.feed(*ofi_book(0))  # feed adds 1 ms: exactly max_hold_ns
    assert ctx2.orders[-1].tag == "time"


def test_short_exits() -> None:
    ctx, of = make()
    feed_ofis(ctx, [0, 0, 0, -40])
    ctx.ack_all()
    ctx.fill(ctx.orders[-1])  # sold 100 at 451100
    assert ctx.pos["BHP"] == -100 and of.state("BHP").entry_px == 451_100.0
    ctx.feed([(451_300, 100)], [(451_500, 100)])  # mid 451400: 3 ticks against a short
    o = ctx.orders[-1]
    assert (o.side, o.price, o.qty, o.tag) == (Side.BUY, 451_500, 100, "stop")


def test_exit_cancels_the_working_entry_and_is_retried_after_an_unfilled_ioc() -> None:
    ctx, _ = make()
    feed_ofis(ctx, [0, 0, 0, 40])
    entry = ctx.orders[-1]
    ctx.ack_all()
    ctx.fill(entry, 50)  # long 50, 50 still working
    ctx.feed([(450_700, 100)], [(450_900, 100)])
    assert ("cancel", entry) in ctx.actions
    stop = ctx.orders[-1]
    assert (stop.tag, stop.qty) == ("stop", 50)
    ctx.feed([(450_700, 100)], [(450_900, 100)])
    assert ctx.orders[-1] is stop  # working: not sent twice
    ctx.ack_all()
    ctx.expire(stop)  # nothing filled
    ctx.feed([(450_700, 100)], [(450_900, 100)])
    assert ctx.orders[-1] is not stop and ctx.orders[-1].tag == "stop"


def test_no_new_entry_while_an_exit_is_working() -> None:
    ctx, _ = long_100()
    ctx.feed([(450_700, 100)], [(450_900, 100)])
    n = len(ctx.orders)
    feed_ofis(ctx, [0, 0, 0, 40], bb=450_700, ba=450_900)
    assert len(ctx.orders) == n


def test_average_entry_price_and_holding_clock() -> None:
    ctx, of = long_100()
    s = of.state("BHP")
    t_open = s.entry_ns
    ctx.t += 10 * SEC
    add = ctx.buy("BHP", 451_400, 100)  # adding: average in, clock unchanged
    assert add is not None
    ctx.fill(add)
    assert s.entry_px == pytest.approx(451_250.0) and s.entry_ns == t_open
    red = ctx.sell("BHP", 451_500, 150)  # reducing: average and clock unchanged
    assert red is not None
    ctx.fill(red)
    assert ctx.pos["BHP"] == 50 and s.entry_px == pytest.approx(451_250.0) and s.entry_ns == t_open
    ctx.t += 5 * SEC
    flip = ctx.sell("BHP", 451_000, 150)  # flips to short 100: new entry price and clock
    assert flip is not None
    ctx.fill(flip)
    assert ctx.pos["BHP"] == -100 and s.entry_px == 451_000.0 and s.entry_ns == ctx.t
    close = ctx.buy("BHP", 451_000, 100)
    assert close is not None
    ctx.fill(close)
    assert s.entry_px == 0.0 and of.exit_reason("BHP", 0, BB, BA, ctx.t) == ""


def test_exit_reason_arithmetic_uses_the_tick_at_the_entry() -> None:
    ctx, of = make()
    s = of.state("BHP")
    s.entry_px = 19_000.0  # $1.90: 50-unit steps
    s.entry_ns = ctx.t
    assert of.exit_reason("BHP", 100, 18_800, 18_900, ctx.t) == "stop"  # mid 18850: -3 steps
    assert of.exit_reason("BHP", 100, 18_850, 18_900, ctx.t) == ""  # -2.5
    assert of.exit_reason("BHP", -100, 19_100, 19_200, ctx.t) == "stop"  # short, mid +3
    assert of.exit_reason("BHP", 100, 19_050, 19_150, ctx.t) == "take"  # +2


@pytest.mark.parametrize(("kw", "key"), [
    ({"trade_size": 0}, "trade_size"), ({"trade_size": 600}, "trade_size"),
    ({"ofi_threshold": 1.0}, "ofi_threshold"), ({"ofi_threshold": 0.0}, "ofi_threshold"),
    ({"velocity_threshold": -0.1}, "velocity_threshold"), ({"velocity_window": 0}, "velocity_window"),
    ({"stale_ns": 0}, "stale_ns"), ({"max_hold_ns": -1}, "max_hold_ns"), ({"stop_ticks": 0}, "stop_ticks"),
    ({"take_ticks": -1}, "take_ticks"), ({"timer_ns": 0}, "timer_ns"), ({"levels": 0}, "levels"),
    ({"tight_spread": "maybe"}, "tight_spread"),
])
def test_params_validation_names_the_key(kw: dict[str, object], key: str) -> None:
    with pytest.raises(ValueError, match=key):
        OrderFlowParams(**kw)  # type: ignore[arg-type]
