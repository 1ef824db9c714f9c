"""The faults of the backtester's venue model found on real days (causality, a lost ack, optimistic queue
position, no feed latency, our own taking, one print filling several orders, the strategy call rule),
each probed by a small hand-made event stream through the public API; plus an invariant over a whole
generated day: no clock runs backwards."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from hft.asx.fees import ZeroFees
from hft.backtest.engine import BacktestConfig, Backtester, make_events
from hft.backtest.synth import generate
from hft.book.l2 import L2Book
from hft.engine.strategy import Strategy, StrategyContext
from hft.model.types import Fill, Order, OrdStatus, Side, TimeInForce, Trade
from hft.strategies.market_maker import MarketMaker
from hft.strategies.params import MarketMakerParams

BID, ASK = 1, 2
LEVEL, TRADE, SNAP, SNAP_END = 1, 2, 3, 4
T0 = 1_000_000_000
US = 1_000


def ev(rows: list[tuple[int, int, int, int, int]], feed: int = 0) -> Any:
    a = np.asarray(sorted(rows, key=lambda r: r[0]), dtype=np.int64).reshape(-1, 5)
    return make_events(a[:, 0], a[:, 0] + feed, a[:, 1], a[:, 2], a[:, 3], a[:, 4])


def snap(
    t: int, bids: list[tuple[int, int]], asks: list[tuple[int, int]]
) -> list[tuple[int, int, int, int, int]]:
    return (
        [(t, SNAP, 0, 0, 0)]
        + [(t, LEVEL, BID, p, q) for p, q in bids]
        + [(t, LEVEL, ASK, p, q) for p, q in asks]
        + [(t, SNAP_END, 0, 0, 0)]
    )


class Probe(Strategy):
    """Calls ``on_book_fn(self, k)`` on the k-th on_book and ``on_update_fn(self, order)`` on every order
    update; records every callback with the context's clock."""

    name = "probe"

    def __init__(
        self,
        ctx: StrategyContext,
        on_book_fn: Callable[[Probe, int], Any] | None = None,
        on_update_fn: Callable[[Probe, Order], Any] | None = None,
    ) -> None:
        super().__init__(ctx, ["BHP"])
        self.on_book_fn = on_book_fn
        self.on_update_fn = on_update_fn
        self.calls = 0
        self.orders: list[Order] = []
        self.log: list[tuple[int, str, Any]] = []  # (now, what, detail)

    def on_book(self, instrument: str, book: L2Book) -> None:
        self.log.append((self.ctx.now(), "book", (book.best_bid(), book.best_ask())))
        k = self.calls
        self.calls += 1
        if self.on_book_fn is not None:
            self.on_book_fn(self, k)

    def on_order_update(self, order: Order) -> None:
        self.log.append((self.ctx.now(), "update", (order.cl_ord_id, order.status)))
        if self.on_update_fn is not None:
            self.on_update_fn(self, order)

    def on_fill(self, fill: Fill) -> None:
        self.log.append((self.ctx.now(), "fill", fill))

    def on_trade(self, trade: Trade) -> None:
        self.log.append((self.ctx.now(), "trade", trade))

    def fills(self) -> list[Fill]:
        return [d for _, w, d in self.log if w == "fill"]


def run(
    rows: list[tuple[int, int, int, int, int]],
    on_book: Callable[[Probe, int], Any] | None = None,
    on_update: Callable[[Probe, Order], Any] | None = None,
    feed: int = 0,
    **cfg: Any,
) -> tuple[Backtester, Probe]:
    bt = Backtester(
        ev(rows, feed), lambda ctx: Probe(ctx, on_book, on_update), BacktestConfig(**cfg), ZeroFees()
    )
    bt.run()
    s = bt.strategy
    assert isinstance(s, Probe)
    return bt, s


B0, B1, BX, A1, A2 = 449_700, 449_800, 449_900, 450_100, 450_200  # BX: an empty price inside the spread


def send_at(k0: int, fn: Callable[[StrategyContext], Order | None]) -> Callable[[Probe, int], Any]:
    def go(p: Probe, k: int) -> None:
        if k == k0:
            o = fn(p.ctx)
            assert o is not None
            p.orders.append(o)

    return go


# ------------------------------------------------------------------------------------- 1. causality


def test_cancel_sent_on_the_ack_wins_against_a_later_trade() -> None:
    # bid 100 at BX (inside the spread: nobody ahead) sent at T0; acked at the exchange at T0+200us, the
    # ack reaches us at T0+400us and we cancel at once: the cancel reaches the exchange at T0+600us. A
    # sell trade at BX prints only at T0+1s: the order is long gone, nothing can fill it.
    rows = [
        *snap(T0, [(B1, 500)], [(A1, 500)]),
        (T0 + 1000000000, TRADE, ASK, BX, 100),
        (T0 + 2000000000, LEVEL, BID, B0, 100),
    ]

    def on_update(p: Probe, o: Order) -> None:
        if o.status is OrdStatus.NEW:
            p.ctx.cancel(o)

    _bt, s = run(
        rows,
        send_at(0, lambda c: c.buy("BHP", BX, 100)),
        on_update,
        entry_latency_ns=200 * US,
        response_latency_ns=200 * US,
    )
    assert s.fills() == []
    o = s.orders[0]
    assert o.status is OrdStatus.CANCELED
    ups = [(t, d) for t, w, d in s.log if w == "update"]
    assert ups == [
        (T0 + 400 * US, (o.cl_ord_id, OrdStatus.NEW)),
        (T0 + 800 * US, (o.cl_ord_id, OrdStatus.CANCELED)),
    ]


def test_order_sent_from_an_answer_reaches_the_exchange_before_a_later_market_event() -> None:
    # the ack at T0+400us makes us send an IOC buy at A1: it reaches the exchange at T0+600us, before the
    # ask level empties at T0+1s, so it takes the 500 offered
    rows = [*snap(T0, [(B1, 500)], [(A1, 500), (A2, 500)]), (T0 + 1000000000, LEVEL, ASK, A1, 0)]

    def on_update(p: Probe, o: Order) -> None:
        if o.status is OrdStatus.NEW and len(p.orders) == 1:
            p.orders.append(p.ctx.buy("BHP", A1, 100, TimeInForce.IOC))  # type: ignore[arg-type]

    _bt, s = run(
        rows,
        send_at(0, lambda c: c.buy("BHP", B0, 100)),
        on_update,
        entry_latency_ns=200 * US,
        response_latency_ns=200 * US,
    )
    (f,) = s.fills()
    assert (f.price, f.qty, f.ts_ns) == (A1, 100, T0 + 600 * US)


class _Clock(Strategy):
    """The market maker, checking at every callback that the context's clock never goes backwards and
    that every answer reaches it after the exchange produced it."""

    name = "clock"

    def __init__(self, ctx: StrategyContext) -> None:
        super().__init__(ctx, ["BHP"])
        self.mm = MarketMaker(ctx, ["BHP"], MarketMakerParams(quote_size=100, max_position=500))
        self.last = -1
        self.n = 0

    def _tick(self) -> None:
        t = self.ctx.now()
        assert t >= self.last, f"clock went back from {self.last} to {t}"
        self.last = t
        self.n += 1

    def on_book(self, instrument: str, book: L2Book) -> None:
        self._tick()
        self.mm.on_book(instrument, book)

    def on_fill(self, fill: Fill) -> None:
        self._tick()
        assert fill.ts_ns <= self.ctx.now()
        self.mm.on_fill(fill)

    def on_order_update(self, order: Order) -> None:
        self._tick()
        self.mm.on_order_update(order)

    def on_trade(self, trade: Trade) -> None:
        self._tick()
        assert trade.ts_ns <= self.ctx.now()


@pytest.mark.parametrize("jitter", [0, 150_000])
def test_no_clock_runs_backwards_over_a_generated_day(jitter: int) -> None:
    day = generate(60_000, seed=3)
    bt = Backtester(day, _Clock, BacktestConfig(latency_jitter_ns=jitter, seed=5), ZeroFees())
    bt.run()
    s = bt.strategy
    assert isinstance(s, _Clock) and s.n > 10_000
    ts = [f.ts_ns for f in bt.res.fills]
    assert len(ts) > 50 and ts == sorted(ts)  # the exchange clock too


# ------------------------------------------------------------------------------------- 2. lost ack


def test_ack_arriving_while_a_replace_is_in_flight_is_not_lost() -> None:
    # buy 300 at BX (nobody ahead) sent at T0; a replace down to 150 is sent at T0+100us, before the ack.
    # At the exchange: the order arrives at T0+200us, a sell print of 200 fills 200 at T0+250us, the
    # replace (150 <= 200 filled) is rejected at T0+300us. After the reject the order is PARTIALLY_FILLED,
    # not PENDING_NEW (the ack arrived at T0+400us while the replace was pending).
    rows = (
        snap(T0, [(B1, 500)], [(A1, 500)])
        + [(T0 + 100 * US, LEVEL, BID, B0, 100), (T0 + 250 * US, TRADE, ASK, BX, 200)]
        + [(T0 + (1_000 + i) * US, LEVEL, BID, B0, 100 + i) for i in range(3)]
    )

    def on_book(p: Probe, k: int) -> None:
        if k == 0:
            p.orders.append(p.ctx.buy("BHP", BX, 300))  # type: ignore[arg-type]
        elif k == 1:
            assert p.ctx.replace(p.orders[0], qty=150) is not None

    _bt, s = run(rows, on_book, entry_latency_ns=200 * US, response_latency_ns=200 * US)
    o = s.orders[0]
    assert o.cum_qty == 200
    assert o.status is OrdStatus.PARTIALLY_FILLED


def test_ack_arriving_while_a_cancel_is_in_flight_is_not_lost() -> None:
    # the same with a cancel: the cancel arrives after a print filled the whole order; the reject leaves
    # it FILLED; and with a partial fill the cancel wins (CANCELED); the ack is never turned back into
    # PENDING_NEW either way
    rows = (
        snap(T0, [(B1, 500)], [(A1, 500)])
        + [(T0 + 100 * US, LEVEL, BID, B0, 100), (T0 + 250 * US, TRADE, ASK, BX, 300)]
        + [(T0 + (1_000 + i) * US, LEVEL, BID, B0, 100 + i) for i in range(3)]
    )

    def on_book(p: Probe, k: int) -> None:
        if k == 0:
            p.orders.append(p.ctx.buy("BHP", BX, 300))  # type: ignore[arg-type]
        elif k == 1:
            assert p.ctx.cancel(p.orders[0])

    _bt, s = run(rows, on_book, entry_latency_ns=200 * US, response_latency_ns=200 * US)
    assert s.orders[0].status is OrdStatus.FILLED
    seen = [d[1] for _, w, d in s.log if w == "update"]
    assert OrdStatus.PENDING_NEW not in seen[1:]


# ------------------------------------------------------------------------------------- 3. queue


def test_order_behind_an_invisible_level_is_not_at_the_front() -> None:
    # L1 data: best bid B1 x 5000 is all we see. Our bid at B0 (below it: its queue is unknown) must not
    # join with 0 ahead. B1 is traded away, B0 appears with 1000 shares (all of them may be ahead of us),
    # a sell print of 500 at B0: not enough to reach us.
    rows = [
        *snap(T0, [(B1, 5000)], [(A1, 500)]),
        (T0 + 10 * US, LEVEL, BID, B1, 4000),
        (T0 + 20 * US, TRADE, ASK, B1, 4000),
        (T0 + 20 * US, LEVEL, BID, B1, 0),
        (T0 + 20 * US, LEVEL, BID, B0, 1000),
        (T0 + 30 * US, TRADE, ASK, B0, 500),
        (T0 + 30 * US, LEVEL, BID, B0, 500),
    ]
    bt, s = run(rows, send_at(0, lambda c: c.buy("BHP", B0, 100)), entry_latency_ns=0, response_latency_ns=0)
    assert s.fills() == []
    (lv,) = bt._live.values()
    assert lv.ahead == pytest.approx(500.0)


def test_level_that_leaves_the_view_and_comes_back_does_not_put_us_in_front() -> None:
    # we join B1 behind 1000 visible shares; the level leaves the (top-N) view (qty 0 row) and comes back
    # with 1000: a sell print of 100 at B1 cannot fill us (1000 are still ahead as far as we know)
    rows = [
        *snap(T0, [(B1, 1000)], [(A1, 500)]),
        (T0 + 10 * US, LEVEL, BID, B0, 100),
        (T0 + 20 * US, LEVEL, BID, B1, 0),
        (T0 + 30 * US, LEVEL, BID, B1, 1000),
        (T0 + 40 * US, TRADE, ASK, B1, 100),
        (T0 + 40 * US, LEVEL, BID, B1, 900),
    ]
    bt, s = run(rows, send_at(0, lambda c: c.buy("BHP", B1, 100)), entry_latency_ns=0, response_latency_ns=0)
    assert s.fills() == []
    (lv,) = bt._live.values()
    assert lv.ahead == pytest.approx(900.0)


def test_unknown_queue_choice_is_named_in_config() -> None:
    assert BacktestConfig().unknown_queue == "back"
    with pytest.raises(ValueError, match="unknown_queue"):
        BacktestConfig(unknown_queue="front")


# ------------------------------------------------------------------------------------- 4. feed latency


@pytest.mark.parametrize(
    "kw, lag",
    [
        ({"feed_latency_ns": 70 * US}, 70 * US),
        ({"feed_latency_ns": 70 * US, "feed_latency_jitter_ns": 0}, 70 * US),
    ],
)
def test_feed_latency_makes_the_strategy_see_data_late(kw: dict[str, int], lag: int) -> None:
    rows = [*snap(T0, [(B1, 500)], [(A1, 500)]), (T0 + 1000 * US, LEVEL, BID, B0, 100)]
    _bt, s = run(rows, feed_time="model", **kw)
    assert [t for t, w, _ in s.log if w == "book"] == [T0 + lag, T0 + 1_000 * US + lag]


def test_feed_latency_jitter_keeps_the_feed_in_order_and_messages_whole() -> None:
    # messages 1 ms apart, feed latency 50-150 us: one call per message (the snapshot is one), each late by
    # a drawn latency
    ms = 1_000 * US
    rows = snap(T0, [(B1, 500)], [(A1, 500)]) + [
        (T0 + i * ms, LEVEL, BID, B0, 100 + i) for i in range(1, 200)
    ]
    _bt, s = run(rows, feed_time="model", feed_latency_ns=50 * US, feed_latency_jitter_ns=100 * US, seed=3)
    ts = [t for t, w, _ in s.log if w == "book"]
    assert len(ts) == 200
    lags = [t - (T0 + i * ms) for i, t in enumerate(ts)]
    assert min(lags) >= 50 * US and max(lags) <= 150 * US and len(set(lags)) > 20
    # messages 1 us apart: a message delayed more holds back the ones behind it (a feed is a stream), so
    # several arrive together and are seen in one call, never out of order
    rows = snap(T0, [(B1, 500)], [(A1, 500)]) + [
        (T0 + i * US, LEVEL, BID, B0, 100 + i) for i in range(1, 200)
    ]
    _bt, s = run(rows, feed_time="model", feed_latency_ns=50 * US, feed_latency_jitter_ns=100 * US, seed=3)
    seen = [(t, bb) for t, w, (bb, _) in s.log if w == "book"]
    ts = [t for t, _ in seen]
    assert ts == sorted(ts) and len(set(ts)) == len(ts) < 200


def test_feed_latency_from_a_file(tmp_path: Any) -> None:
    f = tmp_path / "feed.txt"
    f.write_text("# feed latency samples\n30000\n30000\n")
    rows = [*snap(T0, [(B1, 500)], [(A1, 500)]), (T0 + 1000 * US, LEVEL, BID, B0, 100)]
    _bt, s = run(rows, feed_time="model", feed_latency_file=str(f))
    assert [t for t, w, _ in s.log if w == "book"] == [T0 + 30 * US, T0 + 1_030 * US]


def test_feed_time_auto_uses_recorded_receive_times_and_models_missing_ones() -> None:
    rows = snap(T0, [(B1, 500)], [(A1, 500)])
    # recorded receive times (ts_local 5us after ts_exch): used as they are
    _bt, s = run(rows, feed=5 * US, feed_latency_ns=70 * US)
    assert s.log[0][0] == T0 + 5 * US
    # a file that says it has no receive times (LOBSTER): the model applies
    e = ev(rows)
    e.metadata = {"hft.local_time": "exchange"}
    bt = Backtester(e, lambda ctx: Probe(ctx), BacktestConfig(feed_latency_ns=70 * US), ZeroFees())
    bt.run()
    p = bt.strategy
    assert isinstance(p, Probe) and p.log[0][0] == T0 + 70 * US


# ------------------------------------------------------------------------------------- 5. our own taking


def test_our_taking_depletes_the_book_for_our_next_order() -> None:
    # two IOC buys of 400 at A1 (500 offered) arrive one after the other: the second finds 100 left at A1
    # and takes 300 at A2
    rows = [*snap(T0, [(B1, 500)], [(A1, 500), (A2, 1000)]), (T0 + 1000 * US, LEVEL, BID, B0, 100)]

    def on_book(p: Probe, k: int) -> None:
        if k == 0:
            p.ctx.buy("BHP", A2, 400, TimeInForce.IOC)
            p.ctx.buy("BHP", A2, 400, TimeInForce.IOC)

    _bt, s = run(rows, on_book, entry_latency_ns=0, response_latency_ns=0)
    assert [(f.price, f.qty) for f in s.fills()] == [(A1, 400), (A1, 100), (A2, 300)]


def test_one_print_fills_our_orders_at_most_its_size() -> None:
    # two of our bids of 100 at BX, nobody ahead: a sell print of 150 at BX fills 150 in all
    rows = [*snap(T0, [(B1, 500)], [(A1, 500)]), (T0 + 100 * US, TRADE, ASK, BX, 150)]

    def on_book(p: Probe, k: int) -> None:
        if k == 0:
            p.ctx.buy("BHP", BX, 100)
            p.ctx.buy("BHP", BX, 100)

    _bt, s = run(rows, on_book, entry_latency_ns=0, response_latency_ns=0)
    assert sum(f.qty for f in s.fills()) == 150
    # and a print through two of our prices: best price first, 150 in all
    rows2 = [*snap(T0, [(B0, 500)], [(A1, 500)]), (T0 + 100 * US, TRADE, ASK, B0, 150)]

    def two(p: Probe, k: int) -> None:
        if k == 0:
            p.ctx.buy("BHP", BX, 100)
            p.ctx.buy("BHP", B1, 100)

    _bt, s = run(rows2, two, entry_latency_ns=0, response_latency_ns=0)
    assert [(f.price, f.qty) for f in s.fills()] == [(BX, 100), (B1, 50)]


def test_opposite_level_through_our_orders_fills_at_most_its_size() -> None:
    rows = [
        *snap(T0, [(B1, 500)], [(A1, 500)]),
        (T0 + 100 * US, LEVEL, ASK, A1, 0),
        (T0 + 100 * US, LEVEL, BID, B1, 0),
        (T0 + 100 * US, LEVEL, ASK, B1, 120),
    ]

    def on_book(p: Probe, k: int) -> None:
        if k == 0:
            p.ctx.buy("BHP", BX, 100)
            p.ctx.buy("BHP", BX, 100)

    _bt, s = run(rows, on_book, entry_latency_ns=0, response_latency_ns=0)
    assert sum(f.qty for f in s.fills()) == 120


# ------------------------------------------------------------------------------------- 6. call rule


class Top(Probe):
    book_depth = 1  # (ignored: every host calls on_book on every market data message with a book change)


def test_on_book_on_every_message_with_a_book_change_like_the_paper_engine() -> None:
    rows = [
        *snap(T0, [(B1, 500), (B0, 500)], [(A1, 500)]),
        (T0 + 1 * US, LEVEL, BID, B0, 900),  # second level only
        (T0 + 2 * US, LEVEL, BID, B0, 900),  # same size again: the paper engine still calls
        (T0 + 3 * US, TRADE, ASK, B1, 100),  # a trade alone: no book call
        (T0 + 4 * US, LEVEL, ASK, A2, 100),
        (T0 + 4 * US, LEVEL, ASK, A2, 200),
    ]  # one message, one call
    bt = Backtester(ev(rows), lambda ctx: Top(ctx), BacktestConfig(), ZeroFees())
    bt.run()
    s = bt.strategy
    assert isinstance(s, Top)
    assert [t for t, w, _ in s.log if w == "book"] == [T0, T0 + 1 * US, T0 + 2 * US, T0 + 4 * US]
    assert bt.res.strategy_calls == 4


def test_strategy_sees_side_enum_on_fill() -> None:  # (helper sanity: the probe's fills are real Fills)
    rows = [*snap(T0, [(B1, 500)], [(A1, 500)]), (T0 + 100 * US, LEVEL, BID, B0, 100)]
    _bt, s = run(rows, send_at(0, lambda c: c.buy("BHP", A1, 100, TimeInForce.IOC)))
    (f,) = s.fills()
    assert f.side is Side.BUY and f.liquidity == "R"


# ------------------------------------------------------------------------------------- queue models


@pytest.mark.parametrize(
    ("model", "after_first", "after_second"),
    [
        # join behind 500 (front 500, back 0); 200 cancel; 200 join behind (level 500); 100 cancel.
        # power n=3: first p = 0 -> 300; then p = 200^3 / (200^3 + 300^3) = 8/35 -> 300 - (27/35) 100
        ("prob_power", 300.0, 300 - (27 / 35) * 100),
        # log: first p = log 1 / (log 1 + log 501) = 0 -> 300; then p = log 201 / (log 201 + log 301)
        ("prob_log", 300.0, 300 - (1 - math.log(201) / (math.log(201) + math.log(301))) * 100),
        # risk averse: cancels never ahead of us; only clipped to the level (500 -> 300), then unchanged
        ("risk_averse", 300.0, 300.0),
    ],
)
def test_queue_models_move_us_by_their_named_rule(
    model: str, after_first: float, after_second: float
) -> None:
    base = [*snap(T0, [(B1, 500)], [(A1, 500)]), (T0 + 10 * US, LEVEL, BID, B1, 300)]
    bt, _ = run(base, send_at(0, lambda c: c.buy("BHP", B1, 100)), queue_model=model, entry_latency_ns=0)
    (lv,) = bt._live.values()
    assert lv.ahead == pytest.approx(after_first)
    more = [*base, (T0 + 20 * US, LEVEL, BID, B1, 500), (T0 + 30 * US, LEVEL, BID, B1, 400)]
    bt, _ = run(more, send_at(0, lambda c: c.buy("BHP", B1, 100)), queue_model=model, entry_latency_ns=0)
    (lv,) = bt._live.values()
    assert lv.ahead == pytest.approx(after_second)


def test_risk_averse_queue_is_reached_only_by_prints() -> None:
    # behind 500, 400 of them cancel: risk averse still has min(500, 100) = 100 ahead (clipped to the level),
    # a print of 150 fills 50 of ours
    rows = [
        *snap(T0, [(B1, 500)], [(A1, 500)]),
        (T0 + 10 * US, LEVEL, BID, B1, 100),
        (T0 + 20 * US, TRADE, ASK, B1, 150),
        (T0 + 20 * US, LEVEL, BID, B1, 0),
    ]
    _bt, s = run(
        rows, send_at(0, lambda c: c.buy("BHP", B1, 100)), queue_model="risk_averse", entry_latency_ns=0
    )
    assert [(f.price, f.qty) for f in s.fills()] == [(B1, 50)]


def test_queue_model_name_is_checked() -> None:
    with pytest.raises(ValueError, match="queue_model"):
        BacktestConfig(queue_model="power")


# ------------------------------------------------------------------------------------- fee models


def _taker_fees(sizes: list[int], **cfg: Any) -> list[int]:
    """Fees of IOC buys at A1 (book: 100,000 offered at $45.01), one order per size, 1 ms apart."""
    rows = [*snap(T0, [(B1, 500)], [(A1, 100_000)])] + [
        (T0 + (i + 1) * 1_000 * US, LEVEL, BID, B0, 100 + i) for i in range(len(sizes))
    ]

    def on_book(p: Probe, k: int) -> None:
        if k < len(sizes):
            p.ctx.buy("BHP", A1, sizes[k], TimeInForce.IOC)

    _bt, s = run(rows, on_book, entry_latency_ns=0, response_latency_ns=0, **cfg)
    return [f.fee_cents for f in s.fills()]


def test_ibkr_tiered_fees_by_month_to_date_value() -> None:
    # $45.01 x 100 = $4,501: 0.08% = $3.60 -> the tier I minimum $5; x 10,000 = $450,100: 0.08% = $360.08
    assert _taker_fees([100, 10_000], fee_model="ibkr_tiered") == [500, 36_008]
    # above AUD 3M this month: tier II, 0.05% at least $4: $4,501 -> $4.00; $450,100 -> $225.05
    assert _taker_fees([100, 10_000], fee_model="ibkr_tiered", fee_month_value_cents=300_000_001) == [
        400,
        22_505,
    ]
    # AUD 2,999,000 before the run: the first order ($4,501, tier I) takes the month past AUD 3M, so the
    # second one is charged at tier II
    assert _taker_fees([100, 100], fee_model="ibkr_tiered", fee_month_value_cents=299_900_000) == [500, 400]


def test_per_share_and_fixed_and_zero_fee_models() -> None:
    # half a cent a share, at least $1 an order: 100 -> 50c -> $1.00; 1,000 -> $5.00; 333 -> 166.5c -> 167c
    assert _taker_fees(
        [100, 1_000, 333], fee_model="per_share", fee_per_share_millicents=500, fee_min_cents=100
    ) == [100, 500, 167]
    # IBKR fixed: 0.08%, at least $6: $4,501 -> $6.00; $450,100 -> $360.08
    assert _taker_fees([100, 10_000], fee_model="ibkr_fixed") == [600, 36_008]
    assert _taker_fees([100], fee_model="zero") == [0]


def test_per_share_minimum_is_charged_once_across_partial_fills() -> None:
    # a resting buy of 1,000 filled 300 then 700: order fee max($1, 1,000 x 0.5c) = $5.00, charged as the
    # increments max($1, $1.50) = $1.50, then $5.00 - $1.50 = $3.50
    rows = [
        *snap(T0, [(B1, 500)], [(A1, 500)]),
        (T0 + 10 * US, TRADE, ASK, BX, 300),
        (T0 + 20 * US, TRADE, ASK, BX, 700),
    ]
    _bt, s = run(
        rows,
        send_at(0, lambda c: c.buy("BHP", BX, 1_000)),
        entry_latency_ns=0,
        fee_model="per_share",
        fee_per_share_millicents=500,
        fee_min_cents=100,
    )
    assert [(f.qty, f.fee_cents) for f in s.fills()] == [(300, 150), (700, 350)]


def test_fee_model_name_is_checked() -> None:
    with pytest.raises(ValueError, match="fee_model"):
        BacktestConfig(fee_model="tiered")


# ------------------------------------------------------------------------------------- partial fills


@pytest.mark.parametrize(("partial", "want"), [(True, [(BX, 150)]), (False, [])])
def test_partial_fills_off_fills_only_whole_orders(partial: bool, want: list[tuple[int, int]]) -> None:
    # a resting buy of 200 at BX (nobody ahead), a sell print of 150 at BX: 150 of ours, or none at all
    rows = [*snap(T0, [(B1, 500)], [(A1, 500)]), (T0 + 10 * US, TRADE, ASK, BX, 150)]
    _bt, s = run(rows, send_at(0, lambda c: c.buy("BHP", BX, 200)), entry_latency_ns=0, partial_fills=partial)
    assert [(f.price, f.qty) for f in s.fills()] == want


def test_partial_fills_off_taker_takes_only_when_the_book_covers_it() -> None:
    # an IOC buy of 800 up to A2 (500 + 500 visible): filled in whole either way; 1,200: nothing when off
    book = [*snap(T0, [(B1, 500)], [(A1, 500), (A2, 500)]), (T0 + 1_000 * US, LEVEL, BID, B0, 100)]
    for qty, partial, want in [
        (800, False, [(A1, 500), (A2, 300)]),
        (1_200, False, []),
        (1_200, True, [(A1, 500), (A2, 500)]),
    ]:
        _bt, s = run(
            book,
            send_at(0, lambda c, q=qty: c.buy("BHP", A2, q, TimeInForce.IOC)),
            entry_latency_ns=0,
            partial_fills=partial,
        )
        assert [(f.price, f.qty) for f in s.fills()] == want, (qty, partial)


def test_partial_fills_is_a_checked_boolean_in_the_config_table() -> None:
    from hft.backtest.config import backtest_config

    assert backtest_config({"partial_fills": False}).partial_fills is False
    with pytest.raises(ValueError, match=r"backtest\.partial_fills: expected true or false"):
        backtest_config({"partial_fills": 0})


class _Sees(_Clock):
    """The market maker, checking at every callback that the strategy's book is exactly the book of the
    rows that have reached it: rows with local time < now (an answer or timer at the same time as a market
    data message comes first) or <= now (at the end of the message, on_book)."""

    def __init__(self, ctx: StrategyContext, ev: Any, tl: np.ndarray) -> None:
        super().__init__(ctx)
        self.ref = L2Book("BHP", depth=20)
        self.rows = list(
            zip(
                tl.tolist(),
                ev.kind.tolist(),
                ev.side.tolist(),
                ev.price.tolist(),
                ev.qty.tolist(),
                strict=True,
            )
        )
        self.i = 0
        self.checked = 0

    def _check(self, inclusive: bool) -> None:
        now = self.ctx.now()
        rows = self.rows
        while self.i < len(rows) and (rows[self.i][0] < now or (inclusive and rows[self.i][0] == now)):
            _t, k, s, p, q = rows[self.i]
            if k == LEVEL:
                self.ref.set_level(s, p, q)
            elif k == SNAP:
                self.ref.clear()
            self.i += 1
        b = self.ctx.book("BHP")
        assert (b.bid_px, b.bid_qty, b.ask_px, b.ask_qty) == (
            self.ref.bid_px,
            self.ref.bid_qty,
            self.ref.ask_px,
            self.ref.ask_qty,
        ), now
        self.checked += 1

    def on_book(self, instrument: str, book: L2Book) -> None:
        self._check(True)
        super().on_book(instrument, book)

    def on_fill(self, fill: Fill) -> None:
        self._check(False)
        super().on_fill(fill)

    def on_order_update(self, order: Order) -> None:
        self._check(False)
        super().on_order_update(order)


def test_the_strategy_never_sees_a_row_before_it_arrives() -> None:
    from hft.backtest.engine import local_times

    day = generate(30_000, seed=4, gap_ns=200_000)  # messages ~200 us apart: feed latency spans several
    cfg = BacktestConfig(feed_time="model", feed_latency_ns=300_000, feed_latency_jitter_ns=400_000, seed=2)
    tl = local_times(day, cfg)
    bt = Backtester(day, lambda ctx: _Sees(ctx, day, tl), cfg, ZeroFees())
    bt.run()
    s = bt.strategy
    assert isinstance(s, _Sees) and s.checked > 10_000 and len(bt.res.fills) > 20
