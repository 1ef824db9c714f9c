"""Invariants of the three strategies over random book sequences with random venue answers and fills."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from strat_harness import SEC, RecordingContext, attach

from hft.asx.ticks import is_valid_price, tick_down, tick_up
from hft.model.types import Order, Side, TimeInForce
from hft.strategies.market_maker import MarketMaker, MarketMakerParams
from hft.strategies.momentum_scalper import MomentumScalper, MomentumScalperParams
from hft.strategies.order_flow import OrderFlow, OrderFlowParams


def random_book(rng: random.Random, bid: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Five levels a side on the ASX grid below/above ``bid``, spread of 1-3 ticks, random sizes."""
    ask = tick_up(bid, rng.choice([1, 1, 1, 2, 3]))
    bids = [(bid, rng.randint(1, 30) * 100)]
    asks = [(ask, rng.randint(1, 30) * 100)]
    for _ in range(4):
        if bids[-1][0] > 10:
            bids.append((tick_down(bids[-1][0]), rng.randint(1, 30) * 100))
        asks.append((tick_up(asks[-1][0]), rng.randint(1, 30) * 100))
    return bids, asks


def drive(ctx: RecordingContext, seed: int, start: int, steps: int, check: object) -> None:
    """Random walk of the best bid (crossing ASX bands when ``start`` is near one), with random acks,
    partial fills, expiries; ``check(order, book_before)`` runs on every order the strategy sends."""
    rng = random.Random(seed)
    bid = start
    for _ in range(steps):
        r = rng.random()
        if r < 0.3:
            bid = tick_up(bid)
        elif r < 0.6 and bid > 30:
            bid = tick_down(bid)
        bids, asks = random_book(rng, bid)
        book = ctx.books["BHP"]
        m = ctx.mark()
        ctx.t += rng.choice([1_000, 1_000_000, 50_000_000, SEC])
        ctx.set_book(bids, asks)
        now_bb, now_ba = book.best_bid(), book.best_ask()
        assert ctx.strategy is not None
        ctx.strategy.on_book("BHP", book)
        for a in ctx.since(m):
            if a[0] in ("new", "replace"):
                check(a[-1], now_bb, now_ba)  # type: ignore[operator]
        # the venue: answer some requests, fill some open orders, expire IOCs
        if rng.random() < 0.7:
            ctx.ack_all()
        for o in list(ctx.open_orders()):
            if o.status.name in ("NEW", "PARTIALLY_FILLED") and rng.random() < 0.2:
                left = o.qty - o.cum_qty
                ctx.fill(o, rng.randint(1, left))
            if o.is_open and o.tif is TimeInForce.IOC and o.status.name in ("NEW", "PARTIALLY_FILLED"):
                ctx.expire(o)
        if rng.random() < 0.05:
            ctx.strategy.on_timer(ctx.t)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), start=st.sampled_from([450_000, 20_100, 19_950, 1_050, 990]),
       skew=st.floats(0.0, 8.0), base=st.floats(0.0, 3.0))
def test_market_maker_never_marketable_and_within_limits(seed: int, start: int, skew: float,
                                                         base: float) -> None:
    ctx = RecordingContext()
    p = MarketMakerParams(quote_size=100, max_position=300, base_spread_ticks=base, vol_window=5,
                          vol_multiplier=1.0, skew_ticks=skew, max_orders_per_sec=50)
    attach(ctx, MarketMaker(ctx, ["BHP"], p))

    def check(o: Order, bb: int, ba: int) -> None:
        assert is_valid_price(o.price)
        if o.side is Side.BUY:
            assert o.price < ba
        else:
            assert o.price > bb
        assert 0 < o.qty - o.cum_qty <= 100
        # working quantity on one side never takes the position past the limit
        pos = ctx.pos["BHP"]
        left = o.qty - o.cum_qty
        assert (pos + left <= 300) if o.side is Side.BUY else (pos - left >= -300)
        working = [x for x in ctx.working(o.side) if x is not o]
        assert working == [], working  # one quote per side

    drive(ctx, seed, start, 150, check)
    assert abs(ctx.pos["BHP"]) <= 300


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), start=st.sampled_from([450_000, 20_100, 1_050]))
def test_momentum_scalper_orders_are_marketable_iocs_and_position_bounded(seed: int, start: int) -> None:
    ctx = RecordingContext()
    attach(ctx, MomentumScalper(ctx, ["BHP"], MomentumScalperParams(entry_threshold=0.2, warmup_updates=3)))

    def check(o: Order, bb: int, ba: int) -> None:
        assert o.tif is TimeInForce.IOC and is_valid_price(o.price)
        assert o.price == (ba if o.side is Side.BUY else bb)
        pos = ctx.pos["BHP"]
        after = pos + (o.qty if o.side is Side.BUY else -o.qty)
        assert abs(after) <= 100
        assert len(ctx.open_orders()) == 1

    drive(ctx, seed, start, 150, check)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), start=st.sampled_from([450_000, 20_100, 1_050]),
       policy=st.sampled_from(["cross", "join", "skip"]))
def test_order_flow_orders_respect_limits(seed: int, start: int, policy: str) -> None:
    ctx = RecordingContext()
    p = OrderFlowParams(trade_size=100, max_position=200, velocity_window=2, ofi_threshold=0.2,
                        velocity_threshold=0.05, tight_spread=policy)  # type: ignore[arg-type]
    attach(ctx, OrderFlow(ctx, ["BHP"], p))

    def check(o: Order, bb: int, ba: int) -> None:
        assert is_valid_price(o.price)
        pos = ctx.pos["BHP"]
        if o.tag == "entry":
            assert o.tif is TimeInForce.DAY and o.qty == 100
            assert abs(pos + (100 if o.side is Side.BUY else -100)) <= 200
            if policy != "cross":
                assert (o.price < ba) if o.side is Side.BUY else (o.price > bb)
        else:
            assert o.tag in ("time", "stop", "take") and o.tif is TimeInForce.IOC
            assert o.qty == abs(pos) and (o.side is Side.SELL) == (pos > 0)

    drive(ctx, seed, start, 150, check)
    assert abs(ctx.pos["BHP"]) <= 200
