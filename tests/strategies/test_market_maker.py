"""Market maker arithmetic and behaviour on real L2Book objects through a recording context."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strat_harness import SEC, RecordingContext, attach

from hft.asx.ticks import is_valid_price, round_price, tick_up
from hft.book.l2 import L2Book
from hft.model.types import OrdStatus, Side
from hft.strategies._util import RateLimiter, RollingStd, ceil_to_grid, floor_to_grid, shift_ticks
from hft.strategies.market_maker import MarketMaker, MarketMakerParams, microprice, quote_prices

WIDE_BIDS = [(450_000, 100), (449_900, 500)]
WIDE_ASKS = [(452_000, 100), (452_100, 500)]  # fair value (equal sizes) = 451_000 = $45.10


def make(pos: int = 0, **kw: object) -> tuple[RecordingContext, MarketMaker]:
    args: dict[str, object] = {"quote_size": 100, "max_position": 1_000, "base_spread_ticks": 2.0,
                               "vol_window": 10, "vol_multiplier": 0.0, "skew_ticks": 2.0,
                               "max_orders_per_sec": 1_000}
    args.update(kw)
    ctx = RecordingContext()
    ctx.pos["BHP"] = pos
    mm = MarketMaker(ctx, ["BHP"], MarketMakerParams(**args))  # type: ignore[arg-type]
    attach(ctx, mm)
    return ctx, mm


def quotes(ctx: RecordingContext) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
    """(price, leaves) of the live bid and ask (None when absent)."""
    out = []
    for side in (Side.BUY, Side.SELL):
        live = ctx.working(side)
        assert len(live) <= 1, live
        out.append((live[0].price, live[0].qty - live[0].cum_qty) if live else None)
    return out[0], out[1]


# ------------------------------------------------------------------------------------------- fair value
def test_microprice_value() -> None:
    # (451200 * 100 + 451300 * 300) / 400
    assert microprice(451_200, 300, 451_300, 100) == 451_275.0
    assert microprice(451_200, 100, 451_300, 300) == 451_225.0
    assert microprice(451_200, 100, 451_300, 100) == 451_250.0
    assert microprice(451_200, 0, 451_300, 0) == 451_250.0  # no sizes: plain mid
    book = L2Book("BHP")
    book.apply_snapshot([(451_200, 300)], [(451_300, 100)])
    assert book.microprice() == microprice(451_200, 300, 451_300, 100)


def test_quotes_lean_towards_the_microprice() -> None:
    # big bid, small ask: fair 451275 -> bid 451225 rounds down to 451200, ask 451325 rounds up to 451400
    ctx, mm = make(base_spread_ticks=0.5)
    ctx.feed([(451_200, 300)], [(451_300, 100)])
    assert mm.state("BHP").fair == 451_275.0
    assert quotes(ctx) == ((451_200, 100), (451_400, 100))
    # small bid, big ask: fair 451225 -> bid 451175 -> 451100, ask 451275 -> 451300
    ctx2, _ = make(base_spread_ticks=0.5)
    ctx2.feed([(451_200, 100)], [(451_300, 300)])
    assert quotes(ctx2) == ((451_100, 100), (451_300, 100))


def test_symmetric_quotes_when_flat() -> None:
    ctx, mm = make()
    ctx.feed(WIDE_BIDS, WIDE_ASKS)
    assert quotes(ctx) == ((450_800, 100), (451_200, 100))  # fair 451000 -/+ 2 ticks of 100
    s = mm.state("BHP")
    assert (s.fair, s.half, s.skew) == (451_000.0, 2.0, 0.0)
    assert all(o.tag == "mm" for o in ctx.orders)


# ------------------------------------------------------------------------------------------- inventory skew
@pytest.mark.parametrize(("pos", "bid", "ask", "bid_size", "ask_size"), [
    (500, 450_700, 451_100, 100, 100),  # long half the max: skew +1 tick, both quotes 1 tick lower
    (-500, 450_900, 451_300, 100, 100),  # short: both 1 tick higher
    (250, 450_700, 451_200, 100, 100),  # skew 0.5: bid 450750 -> 450700 (down), ask 451150 -> 451200 (up)
    (950, 450_600, 451_100, 50, 100),  # skew 1.9; the bid only fills the room left under max_position
    (-950, 450_900, 451_400, 100, 50),
])
def test_inventory_skew_direction_and_size(pos: int, bid: int, ask: int, bid_size: int,
                                           ask_size: int) -> None:
    ctx, mm = make(pos=pos)
    ctx.feed(WIDE_BIDS, WIDE_ASKS)
    assert mm.state("BHP").skew == pytest.approx(pos / 1_000 * 2.0)
    assert quotes(ctx) == ((bid, bid_size), (ask, ask_size))


def test_position_limit_removes_one_side() -> None:
    ctx, _ = make(pos=1_000)
    ctx.feed(WIDE_BIDS, WIDE_ASKS)
    bid, ask = quotes(ctx)
    assert bid is None and ask is not None and ask[1] == 100
    ctx2, _ = make(pos=-1_000)
    ctx2.feed(WIDE_BIDS, WIDE_ASKS)
    bid, ask = quotes(ctx2)
    assert ask is None and bid is not None


def test_live_bid_is_cancelled_when_the_position_reaches_the_limit() -> None:
    ctx, _ = make()
    ctx.feed(WIDE_BIDS, WIDE_ASKS)
    ctx.ack_all()
    bid = ctx.live(Side.BUY)[0]
    ctx.pos["BHP"] = 1_000  # e.g. filled elsewhere
    m = ctx.mark()
    ctx.feed(WIDE_BIDS, WIDE_ASKS)
    acts = ctx.since(m)
    assert ("cancel", bid) in acts
    assert not any(a[0] == "new" and a[1].side is Side.BUY for a in acts)


def test_fill_requotes_at_once_with_the_new_skew() -> None:
    ctx, _ = make(skew_ticks=10.0)
    ctx.feed(WIDE_BIDS, WIDE_ASKS)
    ctx.ack_all()
    bid = ctx.live(Side.BUY)[0]
    m = ctx.mark()
    ctx.fill(bid)  # long 100: skew = 100/1000 x 10 = 1 tick
    kinds = [(a[0], a[-1].side, a[-1].price) for a in ctx.since(m)]
    assert ("new", Side.BUY, 450_700) in kinds
    assert ("replace", Side.SELL, 451_100) in kinds


# ------------------------------------------------------------------------------------------- tick rounding
def test_quotes_use_the_tick_band_on_each_side_of_two_dollars() -> None:
    ctx, _ = make(base_spread_ticks=1.0)
    ctx.feed([(19_900, 1_000)], [(20_100, 1_000)])  # fair exactly $2.00
    # one step below $2.00 is half a cent, one step above is a cent
    assert quotes(ctx) == ((19_950, 100), (20_100, 100))
    assert quote_prices(20_000.0, 3.0, 0.0, 19_000, 21_000) == (19_850, 20_300)
    # 2.5 steps down from $2.02: 2 cent steps to $2.00, then half a half-cent step: 19975 -> 19950
    assert quote_prices(20_200.0, 2.5, 0.0, 19_000, 21_000) == (19_950, 20_500)


def test_quotes_use_the_tick_band_on_each_side_of_ten_cents() -> None:
    ctx, _ = make(base_spread_ticks=1.0)
    ctx.feed([(950, 1_000)], [(1_050, 1_000)])  # fair exactly $0.10
    assert quotes(ctx) == ((990, 100), (1_050, 100))
    # fair 1020: down 0.4 of a 50-unit step to 1000, then 0.6 of a 10-unit step: 994 -> 990
    assert quote_prices(1_020.0, 1.0, 0.0, 900, 1_200) == (990, 1_100)
    assert quote_prices(1_000.0, 2.5, 0.0, 900, 1_200) == (970, 1_150)


def test_grid_helpers() -> None:
    assert shift_ticks(20_000.0, -1.0) == 19_950.0
    assert shift_ticks(20_000.0, 1.0) == 20_100.0
    assert shift_ticks(19_990.0, 1.0) == 20_080.0  # 0.2 of a 50 step, then 0.8 of a 100 step
    assert shift_ticks(1_000.0, -1.0) == 990.0
    assert shift_ticks(990.0, 1.0) == 1_000.0
    assert shift_ticks(30.0, -5.0) == 0.0
    assert floor_to_grid(19_999.9) == 19_950 and ceil_to_grid(19_950.5) == 20_000
    assert floor_to_grid(20_099.0) == 20_000 and ceil_to_grid(20_000.000001) == 20_000  # float noise
    assert floor_to_grid(3.0) == 10 and ceil_to_grid(-5.0) == 10


@settings(max_examples=300, deadline=None)
@given(p=st.integers(15, 30_000), q=st.integers(15, 30_000))
def test_grid_rounding_matches_round_price(p: int, q: int) -> None:
    assert floor_to_grid(float(p)) == round_price(p, "down")
    assert ceil_to_grid(float(p)) == round_price(p, "up")
    # n steps up then n steps down comes back (integer n, from a valid price)
    v = round_price(p, "down")
    n = q % 40
    assert shift_ticks(shift_ticks(float(v), float(n)), -float(n)) == pytest.approx(v)
    assert floor_to_grid(shift_ticks(float(v), float(n))) == tick_up(v, n) if n else v


# ------------------------------------------------------------------------------------------- never across
def test_never_quotes_across_the_book_under_heavy_skew() -> None:
    # one-tick spread 45.12 / 45.13, fair 451250; short 500 of 1000 with skew 6 -> k = -3 ticks:
    # raw bid 451350 would cross the ask; it is capped one tick below the ask
    ctx, _ = make(pos=-500, skew_ticks=6.0)
    ctx.feed([(451_200, 100)], [(451_300, 100)])
    assert quotes(ctx) == ((451_200, 100), (451_800, 100))
    ctx2, _ = make(pos=500, skew_ticks=6.0)
    ctx2.feed([(451_200, 100)], [(451_300, 100)])
    assert quotes(ctx2) == ((450_700, 100), (451_300, 100))


@settings(max_examples=400, deadline=None)
@given(bid=st.integers(20, 40_000), width=st.integers(1, 12), frac=st.floats(0.0, 1.0),
       half=st.floats(0.0, 8.0), skew=st.floats(-12.0, 12.0))
def test_quote_prices_are_valid_and_never_marketable(bid: int, width: int, frac: float, half: float,
                                                     skew: float) -> None:
    bb = round_price(bid, "down")
    ba = tick_up(bb, width)
    fair = bb + (ba - bb) * frac
    qb, qa = quote_prices(fair, half, skew, bb, ba)
    assert is_valid_price(qb) and is_valid_price(qa)
    assert qb < ba and qa > bb and qb < qa
    # rounding and the caps only ever move a quote away from the fair value
    assert qb <= max(10.0, shift_ticks(fair, -(half + skew))) + 1e-6  # 10 = the lowest valid price
    assert qa >= shift_ticks(fair, half - skew) - 1e-6


def test_crossed_or_one_sided_book_sends_nothing() -> None:
    ctx, _ = make()
    ctx.feed([(451_200, 100)], [])
    assert ctx.actions == []
    ctx.books["BHP"].apply_snapshot([(451_300, 100)], [(451_200, 100)])  # crossed (stale)
    ctx.strategy.on_book("BHP", ctx.books["BHP"])  # type: ignore[union-attr]
    assert ctx.actions == []


# ------------------------------------------------------------------------------------------- update on change
def test_quote_update_only_when_price_or_size_changes() -> None:
    ctx, _ = make(base_spread_ticks=2.5)
    ctx.feed(WIDE_BIDS, WIDE_ASKS)  # fair 451000: bid 450750 -> 450700, ask 451250 -> 451300
    assert quotes(ctx) == ((450_700, 100), (451_300, 100))
    ctx.ack_all()
    m = ctx.mark()
    ctx.feed(WIDE_BIDS, WIDE_ASKS)  # same book
    ctx.feed([(450_000, 101), (449_900, 500)], WIDE_ASKS)  # fair 451004.98: same rounded quotes
    assert ctx.since(m) == []
    ctx.feed([(450_000, 300), (449_900, 500)], WIDE_ASKS)  # fair 451500: bid 451250 -> 451200, ask 451800
    acts = ctx.since(m)
    assert [(a[0], a[2].side, a[2].price, a[2].qty) for a in acts] == [
        ("replace", Side.BUY, 451_200, 100), ("replace", Side.SELL, 451_800, 100)]
    # while the replaces are in flight nothing more is sent, even if the price moves again
    m = ctx.mark()
    ctx.feed(WIDE_BIDS, WIDE_ASKS)
    assert ctx.since(m) == []
    ctx.ack_all()
    assert quotes(ctx) == ((451_200, 100), (451_800, 100))
    ctx.feed(WIDE_BIDS, WIDE_ASKS)
    assert quotes(ctx) == ((450_700, 100), (451_300, 100))


def test_partly_filled_quote_is_not_topped_up_but_moves_with_its_size() -> None:
    ctx, _ = make(base_spread_ticks=2.5)
    ctx.feed(WIDE_BIDS, WIDE_ASKS)
    ctx.ack_all()
    bid = ctx.live(Side.BUY)[0]
    m = ctx.mark()
    ctx.fill(bid, 30)  # long 30: skew 0.06 tick, rounded quotes unchanged
    ctx.feed(WIDE_BIDS, WIDE_ASKS)
    assert ctx.since(m) == []
    assert quotes(ctx) == ((450_700, 70), (451_300, 100))
    # price change: replace keeps the filled 30 and restores a 100 lot
    ctx.feed([(450_000, 300), (449_900, 500)], WIDE_ASKS)
    rep = [a for a in ctx.since(m) if a[0] == "replace" and a[1] is bid]
    assert len(rep) == 1 and rep[0][2].qty == 130 and rep[0][2].cum_qty == 30


def test_order_rate_limit_is_respected() -> None:
    ctx, mm = make(max_orders_per_sec=3)
    # fair 451200 -> bid 451000 / ask 451400: both move, and neither reaches our other resting quote (a
    # move that would cross it waits for the other side: see the own-orders tests below)
    ctx.feed(WIDE_BIDS, WIDE_ASKS, dt_ns=0)  # 2 new orders
    ctx.ack_all()
    ctx.feed([(450_000, 150), (449_900, 500)], WIDE_ASKS, dt_ns=SEC // 10)  # both sides want a replace
    assert [a[0] for a in ctx.actions] == ["new", "new", "replace"]
    assert mm.rate_limited == 1
    ctx.ack_all()
    ctx.feed([(450_000, 150), (449_900, 500)], WIDE_ASKS, dt_ns=SEC // 2)  # still inside the second
    assert len(ctx.actions) == 3 and mm.rate_limited == 2
    ctx.feed([(450_000, 150), (449_900, 500)], WIDE_ASKS, dt_ns=SEC // 2)  # 1.1 s after the first order
    assert len(ctx.actions) == 4 and ctx.actions[3][0] == "replace"
    assert quotes(ctx)[0] is not None


def test_refused_order_is_retried_on_the_next_update() -> None:
    ctx, _ = make()
    ctx.refuse = True
    ctx.feed(WIDE_BIDS, WIDE_ASKS)
    assert [a[0] for a in ctx.actions] == ["refused", "refused"]
    ctx.refuse = False
    ctx.feed(WIDE_BIDS, WIDE_ASKS)
    assert quotes(ctx) == ((450_800, 100), (451_200, 100))


def test_cancelled_quote_is_replaced_by_a_new_order() -> None:
    ctx, _ = make()
    ctx.feed(WIDE_BIDS, WIDE_ASKS)
    ctx.ack_all()
    bid = ctx.live(Side.BUY)[0]
    ctx.expire(bid)  # e.g. cancelled by the venue
    ctx.feed(WIDE_BIDS, WIDE_ASKS)
    assert bid.status is OrdStatus.CANCELED
    assert quotes(ctx)[0] == (450_800, 100)


def test_stale_book_and_stop_cancel_the_quotes() -> None:
    ctx, mm = make()
    ctx.feed(WIDE_BIDS, WIDE_ASKS)
    ctx.ack_all()
    mm.on_book_stale("BHP")
    assert sorted(a[0] for a in ctx.actions[-2:]) == ["cancel", "cancel"]
    ctx.ack_all()
    assert ctx.open_orders() == []
    ctx.feed(WIDE_BIDS, WIDE_ASKS)
    ctx.ack_all()
    mm.on_stop()
    ctx.ack_all()
    assert ctx.open_orders() == []


# ------------------------------------------------------------------------------------------- volatility
def _mids(ctx: RecordingContext, shifts: list[int], start: int = 0) -> None:
    for i, s in enumerate(shifts, start):  # book shifted by s ticks of 100; the best sizes change every time
        ctx.feed([(450_000 + 100 * s, 100 + i % 2)], [(452_000 + 100 * s, 100 + i % 2)])


def test_volatility_samples_only_top_of_book_changes() -> None:
    ctx, mm = make(base_spread_ticks=0.5, vol_multiplier=1.0, vol_window=10)
    s = mm.state("BHP")
    ctx.feed([(450_000, 100)], [(452_000, 100)])
    ctx.feed([(450_100, 100)], [(452_100, 100)])  # +1 tick: one sample
    ctx.feed([(450_100, 100), (449_000, 7)], [(452_100, 100)])  # below the top: no sample, no action
    assert len(s.vol) == 1
    ctx.feed([(450_100, 150)], [(452_100, 100)])  # best size changed: a 0 sample
    assert len(s.vol) == 2 and s.vol.std == pytest.approx(0.5)


def test_half_spread_widens_with_rolling_volatility() -> None:
    ctx, mm = make(base_spread_ticks=0.5, vol_multiplier=1.0, vol_window=10)
    _mids(ctx, [0, 1, 0, 1, 0])  # mid changes in ticks: +1 -1 +1 -1 -> population std 1
    s = mm.state("BHP")
    assert s.vol.std == pytest.approx(1.0)
    assert s.half == pytest.approx(1.5)
    _mids(ctx, [0, 0], start=1)  # sizes change, mid does not: +1 -1 +1 -1 0 0, variance 4/6
    assert s.half == pytest.approx(0.5 + math.sqrt(4 / 6))
    ctx2, mm2 = make(base_spread_ticks=0.5, vol_multiplier=2.0, vol_window=4)
    _mids(ctx2, [0, 1, 0, 1, 0, 0, 0, 0, 0])  # the window keeps only the last 4 changes: all 0
    assert mm2.state("BHP").half == pytest.approx(0.5)
    # a 3-tick jump then quiet: window 4 holds [-1... ] -> check the quotes really widen
    ctx3, mm3 = make(base_spread_ticks=1.0, vol_multiplier=1.0, vol_window=4)
    _mids(ctx3, [0, 2, 0, 2, 0])  # changes +2 -2 +2 -2: std 2 -> half 3 ticks around fair 451000
    assert mm3.state("BHP").half == pytest.approx(3.0)
    assert quotes(ctx3)[0] is not None


def test_volatility_is_per_instrument() -> None:
    ctx = RecordingContext(instruments=("BHP", "CBA"))
    mm = MarketMaker(ctx, ["BHP", "CBA"], MarketMakerParams(vol_window=10, max_orders_per_sec=1_000))
    attach(ctx, mm)
    for s in [0, 1, 0, 1, 0]:
        ctx.feed([(450_000 + 100 * s, 100)], [(452_000 + 100 * s, 100)], "BHP")
        ctx.feed([(1_000_000, 100)], [(1_000_500, 100)], "CBA")
    assert mm.state("BHP").vol.std == pytest.approx(1.0)
    assert mm.state("CBA").vol.std == 0.0


def test_state_follows_the_instrument_not_the_string_object() -> None:
    # on_book keeps the last instrument's state by the string's identity: an equal string built at run
    # time (another object) and alternating instruments must still reach each instrument's own state
    ctx = RecordingContext(instruments=("BHP", "CBA"))
    mm = MarketMaker(ctx, ["BHP", "CBA"], MarketMakerParams(vol_window=10, max_orders_per_sec=1_000))
    attach(ctx, mm)
    bhp = "BHP"
    bhp2 = "".join(["BH", "P"])
    assert bhp2 == bhp and bhp2 is not bhp
    for s in [0, 1, 0, 1, 0]:
        ctx.feed([(450_000 + 100 * s, 100)], [(452_000 + 100 * s, 100)], bhp if s else bhp2)
        ctx.feed([(1_000_000, 100)], [(1_000_500, 100)], "CBA")
    assert mm.state("BHP").vol.std == pytest.approx(1.0)
    assert mm.state("CBA").vol.std == 0.0
    assert (mm.state("BHP").bb, mm.state("CBA").bb) == (450_000, 1_000_000)
    assert set(mm._st) == {"BHP", "CBA"}


def test_rolling_std_and_rate_limiter_units() -> None:
    r = RollingStd(3)
    for x in [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]:
        r.push(x)
    assert len(r) == 3 and r.std == pytest.approx(math.sqrt(2 / 3))  # [5, 6, 7]
    lim = RateLimiter(2)
    assert lim.allow(0) and lim.allow(10) and not lim.allow(999_999_999)
    assert lim.allow(1_000_000_000) and not lim.allow(1_000_000_009) and lim.allow(1_000_000_010)


# ------------------------------------------------------------------------------------------- params
@pytest.mark.parametrize(("kw", "key"), [
    ({"quote_size": 0}, "quote_size"), ({"max_position": -1}, "max_position"),
    ({"vol_window": 1}, "vol_window"), ({"base_spread_ticks": -0.5}, "base_spread_ticks"),
    ({"vol_multiplier": -1.0}, "vol_multiplier"), ({"skew_ticks": -2.0}, "skew_ticks"),
    ({"max_orders_per_sec": 0}, "max_orders_per_sec"), ({"quote_size": 2_000}, "quote_size"),
    ({"quote_size": True}, "quote_size"), ({"vol_window": 10.0}, "vol_window"),
])
def test_params_validation_names_the_key(kw: dict[str, object], key: str) -> None:
    with pytest.raises(ValueError, match=key):
        MarketMakerParams(**kw)  # type: ignore[arg-type]


def test_updates_below_the_top_cost_nothing_unless_a_change_is_pending() -> None:
    ctx, mm = make(max_orders_per_sec=2)
    # fair 451200 -> bid 451000 / ask 451400: both move, and neither reaches our other resting quote (a
    # move that would cross it waits for the other side: see the own-orders tests below)
    ctx.feed(WIDE_BIDS, WIDE_ASKS, dt_ns=0)
    ctx.ack_all()
    deep = [(450_000, 150), (449_900, 500)]
    ctx.feed(deep, WIDE_ASKS, dt_ns=SEC // 10)  # top changed: both sides want a replace; limit reached
    assert len(ctx.actions) == 2 and mm.rate_limited == 2  # no slot left for either side
    assert mm.state("BHP").retry_at == ctx.t - SEC // 10 + SEC  # the first order's slot frees 1 s later
    ctx.feed([(450_000, 150), (449_900, 777)], WIDE_ASKS, dt_ns=SEC // 10)  # below the top, too early
    assert len(ctx.actions) == 2 and mm.rate_limited == 2  # not even re-evaluated
    ctx.feed([(450_000, 150), (449_900, 778)], WIDE_ASKS, dt_ns=SEC)  # below the top, slot free: retried
    assert [a[0] for a in ctx.actions[2:]] == ["replace", "replace"]
    # an answer from the venue re-arms the check even on an unchanged book
    ctx.ack_all()
    assert mm.state("BHP").retry_at == 0
    m = ctx.mark()
    ctx.feed([(450_000, 150), (449_900, 779)], WIDE_ASKS, dt_ns=SEC)
    assert ctx.since(m) == [] and mm.state("BHP").retry_at > ctx.t


# ------------------------------------------------------------------------------------------- own orders
def test_moving_up_the_ask_gets_out_of_the_way_before_the_bid_follows() -> None:
    # live quotes 450700 / 451300; the market jumps 10 ticks up: the new bid (451700) would cross our
    # still-resting ask (451300), so the ask is replaced first and the bid waits for the ask's answer
    ctx, _ = make(base_spread_ticks=2.5)
    ctx.feed(WIDE_BIDS, WIDE_ASKS)
    ctx.ack_all()
    assert quotes(ctx) == ((450_700, 100), (451_300, 100))
    m = ctx.mark()
    ctx.feed([(451_000, 100)], [(453_000, 100)])  # fair 452000: bid 451750 -> 451700, ask 452300
    acts = ctx.since(m)
    assert [(a[0], a[2].side, a[2].price) for a in acts] == [("replace", Side.SELL, 452_300)]
    m = ctx.mark()
    ctx.feed([(451_000, 100)], [(453_000, 100)])  # unchanged book, ask still in flight: nothing sent
    assert ctx.since(m) == []
    ctx.ack_all()  # the ask has moved: the bid follows on the next update
    ctx.feed([(451_000, 100)], [(453_000, 100)])
    assert [(a[0], a[2].side, a[2].price) for a in ctx.since(m)] == [("replace", Side.BUY, 451_700)]
    assert quotes(ctx) == ((451_700, 100), (452_300, 100))


def test_moving_down_the_bid_gets_out_of_the_way_first() -> None:
    ctx, _ = make(base_spread_ticks=2.5)
    ctx.feed(WIDE_BIDS, WIDE_ASKS)
    ctx.ack_all()
    m = ctx.mark()
    ctx.feed([(449_000, 100)], [(451_000, 100)])  # fair 450000: ask 450300 would cross our bid 450700
    assert [(a[0], a[2].side, a[2].price) for a in ctx.since(m)] == [("replace", Side.BUY, 449_700)]
    ctx.ack_all()
    m = ctx.mark()
    ctx.feed([(449_000, 100)], [(451_000, 100)])
    assert [(a[0], a[2].side, a[2].price) for a in ctx.since(m)] == [("replace", Side.SELL, 450_300)]


def test_refused_replace_keeps_managing_the_original_order() -> None:
    # the venue refuses a replace (e.g. the order filled meanwhile): the original order still works and
    # must not be left behind untracked while a second order is sent
    ctx, mm = make(base_spread_ticks=2.5)
    ctx.feed(WIDE_BIDS, WIDE_ASKS)
    ctx.ack_all()
    bid = ctx.live(Side.BUY)[0]
    ctx.feed([(450_000, 300), (449_900, 500)], WIDE_ASKS)  # both quotes replaced (bid -> 451200)
    new_bid = mm.state("BHP").bid.order
    assert new_bid is not None and new_bid is not bid and new_bid.side is Side.BUY
    new_bid.status = OrdStatus.REJECTED  # the venue's answer: replace refused, the original is New again
    ctx._replaced.pop(new_bid.cl_ord_id)
    mm.on_order_update(new_bid)
    bid.status = OrdStatus.NEW
    mm.on_order_update(bid)
    m = ctx.mark()
    ctx.feed([(450_000, 300), (449_900, 500)], WIDE_ASKS)
    acts = ctx.since(m)
    assert not any(a[0] == "new" for a in acts), acts  # no second bid next to the original
    assert ("replace", bid) == acts[0][:2] and acts[0][2].price == 451_200
    assert mm.state("BHP").bid.order is acts[0][2]


def test_backtest_never_asks_for_a_self_crossing_order() -> None:
    # on a generated day with a 1-tick market the quotes follow the market up and down; every replace
    # goes through the paper risk manager, which refuses a price that reaches our own resting order
    from hft.backtest.engine import BacktestConfig, Backtester
    from hft.backtest.synth import generate

    ev = generate(60_000, seed=7)
    params = MarketMakerParams()
    bt = Backtester(ev, lambda ctx: MarketMaker(ctx, ["BHP"], params), BacktestConfig())
    res = bt.run()
    assert res.orders_sent > 1_000 and res.fills
    assert "order would cross our own resting order" not in res.refusals, res.refusals
    # every order the exchange still holds is one the strategy manages
    st = bt.strategy.state("BHP")  # type: ignore[attr-defined]
    tracked = {id(q.order) for q in (st.bid, st.ask)} | {id(q.prev) for q in (st.bid, st.ask)}
    assert all(id(lv.order) in tracked for lv in bt._live.values())


@settings(max_examples=300, deadline=None)
@given(bid=st.integers(150, 80_000), width=st.integers(1, 6), bq=st.integers(1, 5_000),
       aq=st.integers(1, 5_000), pos=st.integers(-1_000, 1_000), base=st.floats(0.0, 4.0),
       skew=st.floats(0.0, 6.0), moves=st.lists(st.integers(-3, 3), min_size=0, max_size=4))
def test_on_book_quotes_equal_the_reference_arithmetic(bid: int, width: int, bq: int, aq: int, pos: int,
                                                        base: float, skew: float, moves: list[int]) -> None:
    # on_book has a fast path for the $2.00+ band; whatever path it takes, its quotes must be exactly
    # quote_prices() of its fair value, half spread and skew (the spec's arithmetic, tested above)
    ctx, mm = make(pos=pos, base_spread_ticks=base, skew_ticks=skew, vol_multiplier=1.0, vol_window=5)
    bb = round_price(bid * 10, "down")
    for mv in [0, *moves]:
        bb = max(round_price(bb + mv * 100, "down"), 20)
        ba = tick_up(bb, width)
        ctx.feed([(bb, bq)], [(ba, aq + mv)] if aq + mv > 0 else [(ba, aq)])
        s = mm.state("BHP")
        want = quote_prices(s.fair, s.half, s.skew, bb, ba)
        assert (s.bid.price, s.ask.price) == want, (bb, ba, s.fair, s.half, s.skew)
        assert s.half == pytest.approx(base + s.vol.std) and s.std == s.vol.std
