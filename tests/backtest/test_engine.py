"""Fill model of the backtester: latency, queue position, partial fills, IOC/market walks, fees, ticks,
determinism. Every test replays a hand-written event list through a scripted strategy and checks the
exact numbers the documented model gives (docs/backtest.md)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hft.asx.fees import IbkrAsxFixed, ZeroFees
from hft.backtest.engine import BacktestConfig, Backtester
from hft.backtest.synth import generate
from hft.book.l2 import L2Book
from hft.engine import risk as R
from hft.engine.risk import RiskLimits
from hft.engine.strategy import Strategy, StrategyContext
from hft.model.types import Fill, Order, OrdStatus, OrdType, Side, TimeInForce, Trade

BID, ASK = 1, 2
LEVEL, TRADE, SNAP, SNAP_END = 1, 2, 3, 4
B1, B2 = 449_900, 449_800  # $44.99, $44.98
A1, A2, A3 = 450_000, 450_100, 450_200
T0 = 1_000_000


def book_rows(t: int = T0) -> list[tuple[int, int, int, int, int]]:
    """A snapshot: bids 44.99 x 500, 44.98 x 1000; asks 45.00 x 500, 45.01 x 500, 45.02 x 1000."""
    return [(t, SNAP, 0, 0, 0), (t, LEVEL, BID, B1, 500), (t, LEVEL, BID, B2, 1000),
            (t, LEVEL, ASK, A1, 500), (t, LEVEL, ASK, A2, 500), (t, LEVEL, ASK, A3, 1000),
            (t, SNAP_END, 0, 0, 0)]


def events(rows: list[tuple[int, int, int, int, int]], feed_latency: int = 0) -> Any:
    """Canonical event columns from (ts_exch, kind, side, price, qty) rows; ts_local = ts_exch + feed."""
    from hft.backtest import engine

    a = np.asarray(rows, dtype=np.int64).reshape(-1, 5)
    te = a[:, 0].copy()
    cols = dict(ts_exch=te, ts_local=te + feed_latency, kind=a[:, 1].astype(np.int8),
                side=a[:, 2].astype(np.int8), price=a[:, 3].copy(), qty=a[:, 4].copy())
    return engine.make_events(**cols) if hasattr(engine, "make_events") else engine.EventArrays(**cols)


def ticks(t_from: int, n: int, step: int = 1_000) -> list[tuple[int, int, int, int, int]]:
    """Filler events far from the touch (bid level 44.90 toggling), one every ``step`` ns."""
    return [(t_from + i * step, LEVEL, BID, 449_000, 100 + (i % 2) * 100) for i in range(n)]


class Script(Strategy):
    """Runs ``actions[k](ctx, book)`` on the k-th on_book call; records everything it is told."""

    name = "script"
    book_depth = 0

    def __init__(self, ctx: StrategyContext, actions: dict[int, Callable[[StrategyContext, L2Book], Any]]):
        super().__init__(ctx, ["BHP"])
        self.actions = actions
        self.calls = 0
        self.orders: list[Order] = []
        self.updates: list[tuple[int, str, OrdStatus]] = []
        self.fills: list[tuple[int, Fill]] = []
        self.trades: list[Trade] = []
        self.seen: list[tuple[int, int, int]] = []  # (now, best bid, best ask) at each call

    def on_book(self, instrument: str, book: L2Book) -> None:
        self.seen.append((self.ctx.now(), book.best_bid(), book.best_ask()))
        fn = self.actions.get(self.calls)
        self.calls += 1
        if fn is not None:
            r = fn(self.ctx, book)
            if isinstance(r, Order):
                self.orders.append(r)

    def on_order_update(self, order: Order) -> None:
        self.updates.append((self.ctx.now(), order.cl_ord_id, order.status))

    def on_fill(self, fill: Fill) -> None:
        self.fills.append((self.ctx.now(), fill))

    def on_trade(self, trade: Trade) -> None:
        self.trades.append(trade)


def run(rows: list[tuple[int, int, int, int, int]], actions: dict[int, Callable[..., Any]],
        feed: int = 0, fees: Any = None, risk: RiskLimits | None = None,
        **cfg: Any) -> tuple[Backtester, Script]:
    cfg.setdefault("entry_latency_ns", 0)
    cfg.setdefault("response_latency_ns", 0)
    bt = Backtester(events(sorted(rows, key=lambda r: r[0]), feed),
                    lambda ctx: Script(ctx, actions), BacktestConfig(**cfg),
                    fees if fees is not None else ZeroFees(), risk)
    bt.run()
    s = bt.strategy
    assert isinstance(s, Script)
    return bt, s


def buy(price: int, qty: int, tif: TimeInForce = TimeInForce.DAY,
        ord_type: OrdType = OrdType.LIMIT) -> Callable[[StrategyContext, L2Book], Order | None]:
    return lambda ctx, book: ctx.buy("BHP", price, qty, tif, ord_type)


def sell(price: int, qty: int, tif: TimeInForce = TimeInForce.DAY,
         ord_type: OrdType = OrdType.LIMIT) -> Callable[[StrategyContext, L2Book], Order | None]:
    return lambda ctx, book: ctx.sell("BHP", price, qty, tif, ord_type)


# ---------------------------------------------------------------------------------------- latency


def test_ack_arrives_after_entry_plus_response_latency() -> None:
    _bt, s = run(book_rows() + ticks(T0 + 1_000, 20), {0: buy(B1, 100)}, feed=300,
                entry_latency_ns=5_000, response_latency_ns=3_000)
    sent = T0 + 300  # the snapshot's local time
    o = s.orders[0]
    acks = [(t, st) for t, cid, st in s.updates if cid == o.cl_ord_id]
    assert acks[0] == (sent + 8_000, OrdStatus.NEW)
    # every call before the ack saw the order still pending
    assert o.created_ns == sent
    assert s.seen[0][0] == sent


def test_marketable_order_misses_liquidity_that_left_before_it_arrived() -> None:
    # order sent at local T0+300, reaches the exchange at exchange time T0+5300
    gone_before = [(T0 + 5_200, LEVEL, ASK, A1, 0)]
    _, s = run(book_rows() + gone_before + ticks(T0 + 10_000, 5), {0: buy(A1, 100)}, feed=300,
               entry_latency_ns=5_000)
    assert s.fills == []  # rests at 45.00 as the new best bid; nobody sells to it in the data
    assert s.orders[0].status is OrdStatus.NEW
    gone_after = [(T0 + 5_400, LEVEL, ASK, A1, 0)]
    _, s = run(book_rows() + gone_after + ticks(T0 + 10_000, 5), {0: buy(A1, 100)}, feed=300,
               entry_latency_ns=5_000)
    assert [(f.price, f.qty, f.liquidity) for _, f in s.fills] == [(A1, 100, "R")]
    assert s.fills[0][1].ts_ns == T0 + 5_300  # matched in exchange time


def test_fill_reaches_strategy_after_response_latency() -> None:
    _, s = run(book_rows() + ticks(T0 + 1_000, 30), {0: buy(A1, 100)}, entry_latency_ns=2_000,
               response_latency_ns=7_000)
    (t, f), = s.fills
    assert f.ts_ns == T0 + 2_000
    assert t == T0 + 9_000
    assert s.orders[0].status is OrdStatus.FILLED


def test_cancel_takes_entry_latency_and_fills_can_race_it() -> None:
    # resting buy 100 at B1 (queue ahead 500; the order reaches the exchange at T0+3000); a cancel is sent
    # on the 2nd call (T0+1000) and reaches the exchange at T0+4000, but a sell trade of 600 at B1 at
    # T0+3500 fills us first
    rows = book_rows() + ticks(T0 + 1_000, 10) + [(T0 + 3_500, TRADE, ASK, B1, 600)]
    acts = {0: buy(B1, 100), 1: lambda ctx, book: ctx.cancel(s_orders[0])}
    s_orders: list[Order] = []

    def first(ctx: StrategyContext, book: L2Book) -> Order | None:
        o = ctx.buy("BHP", B1, 100)
        assert o is not None
        s_orders.append(o)
        return o

    acts[0] = first
    _, s = run(rows, acts, entry_latency_ns=3_000)
    assert [(f.price, f.qty) for _, f in s.fills] == [(B1, 100)]
    assert s.orders[0].status is OrdStatus.FILLED  # the cancel was rejected: too late
    # without the trade the cancel wins
    rows2 = book_rows() + ticks(T0 + 1_000, 10)
    s_orders.clear()
    _, s = run(rows2, acts, entry_latency_ns=3_000)
    assert s.fills == []
    assert s.orders[0].status is OrdStatus.CANCELED


# ---------------------------------------------------------------------------------------- queue


def test_resting_order_joins_back_of_queue_and_advances_on_trades() -> None:
    # join B1 behind 500; sells of 300 then 300 at B1: the first only moves us up, the second fills 100
    rows = book_rows() + ticks(T0 + 1_000, 20) + [
        (T0 + 5_000, TRADE, ASK, B1, 300), (T0 + 5_000, LEVEL, BID, B1, 200),
        (T0 + 9_000, TRADE, ASK, B1, 300), (T0 + 9_000, LEVEL, BID, B1, 100)]
    _bt, s = run(rows, {0: buy(B1, 200)})
    assert [(f.price, f.qty, f.liquidity) for _, f in s.fills] == [(B1, 100, "A")]
    assert s.fills[0][1].ts_ns == T0 + 9_000
    o = s.orders[0]
    assert o.status is OrdStatus.PARTIALLY_FILLED and o.cum_qty == 100


def test_buy_trades_do_not_move_a_resting_bid() -> None:
    rows = book_rows() + ticks(T0 + 1_000, 10) + [(T0 + 5_000, TRADE, BID, B1, 600)]
    _, s = run(rows, {0: buy(B1, 100)})
    assert s.fills == []


def test_trade_through_our_price_fills_us_at_our_price() -> None:
    rows = book_rows() + ticks(T0 + 1_000, 10) + [(T0 + 5_000, TRADE, ASK, B2, 2_000)]
    _, s = run(rows, {0: buy(B1, 300)})
    assert [(f.price, f.qty, f.liquidity) for _, f in s.fills] == [(B1, 300, "A")]


def test_opposite_quote_at_our_price_fills_us() -> None:
    rows = book_rows() + ticks(T0 + 1_000, 10) + [(T0 + 5_000, LEVEL, BID, B1, 0),
                                                  (T0 + 5_000, LEVEL, ASK, B1, 400)]
    _, s = run(rows, {0: buy(B1, 300)})
    assert [(f.price, f.qty) for _, f in s.fills] == [(B1, 300)]


def queue_ahead(bt: Backtester) -> float:
    (lv,) = bt._live.values()
    return float(lv.ahead)


def test_cancels_move_us_forward_by_the_power_probability_rule() -> None:
    # at the back of 500: a cancel of 200 must have been ahead of us (back = 0): ahead 500 -> 300
    rows = book_rows() + ticks(T0 + 1_000, 10) + [(T0 + 5_000, LEVEL, BID, B1, 300)]
    bt, _ = run(rows, {0: buy(B1, 100)})
    assert queue_ahead(bt) == pytest.approx(300.0)
    # then 200 join behind us (level 500: front 300, back 200) and 100 cancel:
    # p = back^3 / (back^3 + front^3) = 8/35; ahead = 300 - (1 - p) * 100 + min(200 - p * 100, 0)
    rows2 = [*rows, (T0 + 6000, LEVEL, BID, B1, 500), (T0 + 7000, LEVEL, BID, B1, 400)]
    bt, _ = run(rows2, {0: buy(B1, 100)})
    p = 200**3 / (200**3 + 300**3)
    assert queue_ahead(bt) == pytest.approx(300 - (1 - p) * 100)
    # queue_power 0 splits evenly (p = 1/2)
    bt, _ = run(rows2, {0: buy(B1, 100)}, queue_power=0.0)
    assert queue_ahead(bt) == pytest.approx(300 - 0.5 * 100)


def test_level_decrease_explained_by_trades_is_not_counted_twice() -> None:
    rows = book_rows() + ticks(T0 + 1_000, 10) + [(T0 + 5_000, TRADE, ASK, B1, 200),
                                                  (T0 + 5_000, LEVEL, BID, B1, 300)]
    bt, s = run(rows, {0: buy(B1, 100)})
    assert s.fills == []
    assert queue_ahead(bt) == pytest.approx(300.0)


def test_replace_down_in_size_keeps_queue_place_and_price_change_loses_it() -> None:
    def rep(price: int, qty: int) -> Callable[[StrategyContext, L2Book], Any]:
        return lambda ctx, book: ctx.replace(ctx.open_orders("BHP")[0], price=price, qty=qty)

    base = book_rows() + ticks(T0 + 1_000, 10) + [(T0 + 5_000, LEVEL, BID, B1, 300)]
    # after the cancel ahead = 300; shrinking 200 -> 100 at the same price keeps it
    bt, _ = run(base + ticks(T0 + 6_000, 5), {0: buy(B1, 200), 6: rep(B1, 100)})
    assert queue_ahead(bt) == pytest.approx(300.0)
    # ... and the kept place goes on moving: 100 cancelled at the level later (nobody behind us) -> 200
    bt, _ = run([*base, *ticks(T0 + 6_000, 5), (T0 + 20_000, LEVEL, BID, B1, 200)],
                {0: buy(B1, 200), 6: rep(B1, 100)})
    assert queue_ahead(bt) == pytest.approx(200.0)
    # growing the order sends it to the back (ahead = the level's 300 visible shares)
    bt, _ = run([*base, (T0 + 5500, LEVEL, BID, B1, 700), *ticks(T0 + 6000, 5)],
                {0: buy(B1, 200), 7: rep(B1, 300)})
    assert queue_ahead(bt) == pytest.approx(700.0)
    # moving to another price joins that level's back
    bt, _ = run(base + ticks(T0 + 6_000, 5), {0: buy(B1, 200), 6: rep(B2, 200)})
    assert queue_ahead(bt) == pytest.approx(1000.0)


# ---------------------------------------------------------------------------------------- taking


def test_ioc_walks_the_book_to_its_limit_and_cancels_the_rest() -> None:
    _, s = run(book_rows() + ticks(T0 + 1_000, 5), {0: buy(A2, 1_500, TimeInForce.IOC)})
    assert [(f.price, f.qty, f.liquidity) for _, f in s.fills] == [(A1, 500, "R"), (A2, 500, "R")]
    o = s.orders[0]
    assert o.status is OrdStatus.CANCELED and o.cum_qty == 1_000
    assert o.avg_px_num == A1 * 500 + A2 * 500


def test_market_order_walks_every_level() -> None:
    _, s = run(book_rows() + ticks(T0 + 1_000, 5), {0: sell(0, 1_200, TimeInForce.IOC, OrdType.MARKET)})
    assert [(f.price, f.qty) for _, f in s.fills] == [(B1, 500), (B2, 700)]
    assert s.orders[0].status is OrdStatus.FILLED


def test_day_limit_remainder_rests_after_taking() -> None:
    rows = book_rows() + ticks(T0 + 1_000, 10) + [(T0 + 5_000, TRADE, BID, A1, 50)]
    bt, s = run(rows, {0: buy(A1, 800)})
    # takes the 500 offered at 45.00 and rests 300 at 45.00 (now the best bid, nobody ahead)
    assert [(f.price, f.qty) for _, f in s.fills][:1] == [(A1, 500)]
    assert s.orders[0].status is OrdStatus.PARTIALLY_FILLED
    assert queue_ahead(bt) == 0.0


def test_our_fills_do_not_change_the_replayed_book() -> None:
    _, s = run(book_rows() + ticks(T0 + 1_000, 5), {0: buy(A1, 100)})
    assert all(ask == A1 for _, _, ask in s.seen)


# ---------------------------------------------------------------------------------------- fees, ticks


def test_fees_per_order_minimum_charged_once_across_partial_fills() -> None:
    fee = IbkrAsxFixed()
    rows = book_rows() + ticks(T0 + 1_000, 20) + [
        (T0 + 5_000, TRADE, ASK, B1, 600), (T0 + 5_000, LEVEL, BID, B1, 100),
        (T0 + 9_000, TRADE, ASK, B1, 300), (T0 + 9_000, LEVEL, BID, B1, 100)]
    _bt, s = run(rows, {0: buy(B1, 300)}, fees=fee)
    fills = [f for _, f in s.fills]
    assert [f.qty for f in fills] == [100, 200]
    assert fills[0].fee_cents == 600  # AUD 6 minimum on the first fill
    assert sum(f.fee_cents for f in fills) == fee.order_fee(B1 * 300)  # same rule as the order manager
    # a big order pays 0.08% of its value
    _, s = run(book_rows() + ticks(T0 + 1_000, 5), {0: buy(A3, 2_000, TimeInForce.IOC)}, fees=fee)
    value = A1 * 500 + A2 * 500 + A3 * 1000
    assert sum(f.fee_cents for _, f in s.fills) == fee.order_fee(value) == round(value / 100 * 0.0008)


def test_price_off_the_asx_tick_grid_is_refused() -> None:
    bt, s = run(book_rows() + ticks(T0 + 1_000, 3), {0: buy(B1 + 50, 100), 1: buy(B1, 100)})
    assert s.orders and s.orders[0].price == B1  # the first call returned None and sent nothing
    assert bt.res.orders_refused == 1 and bt.res.orders_sent == 1


def test_unsorted_timestamps_are_refused_naming_the_row() -> None:
    rows = [*book_rows(), (T0 - 5, LEVEL, BID, B2, 10)]
    with pytest.raises(ValueError, match="row 7"):
        Backtester(events(rows), lambda ctx: Script(ctx, {}))


def test_message_heap_pops_in_heapq_order() -> None:
    import heapq
    import random

    from hft.backtest import engine

    rng = random.Random(5)
    ours: list[Any] = []
    ref: list[tuple[int, int]] = []
    out: list[tuple[int, int]] = []
    want: list[tuple[int, int]] = []
    o = Order("x", "BHP", Side.BUY, B1, 1)
    for seq in range(3_000):
        t = rng.randrange(50)  # many ties in time: seq breaks them
        engine._hpush(ours, engine._Msg(t, seq, 0, o, None, None))
        heapq.heappush(ref, (t, seq))
        while ref and rng.random() < 0.45:
            m = engine._hpop(ours)
            out.append((m.t, m.seq))
            want.append(heapq.heappop(ref))
    while ref:
        m = engine._hpop(ours)
        out.append((m.t, m.seq))
        want.append(heapq.heappop(ref))
    assert out == want and not ours


def test_replay_with_wide_value_ranges_sees_the_exact_values() -> None:
    # the replay reads raw int64 columns: values past 2**62 (heap ints in the compiled build) come through
    far = (1 << 62) + 12_345
    rows = [*book_rows(), (far, LEVEL, BID, B1, (1 << 63) - 1), (far + 1_000, LEVEL, ASK, 1 << 40, 7),
            (far + 2_000, LEVEL, ASK, A1, 0)]
    a = np.asarray(rows, dtype=np.int64)
    lat = np.array([0] * 7 + [3, 1 << 30, (1 << 30) + 9], dtype=np.int64)  # ts_local - ts_exch, varying
    ev = events(rows)
    ev.ts_local[:] = a[:, 0] + lat
    bt = Backtester(ev, lambda ctx: Script(ctx, {}), BacktestConfig(), ZeroFees())
    bt.run()
    s = bt.strategy
    assert isinstance(s, Script)
    assert s.seen == [(T0, B1, A1), (far + 3, B1, A1), (far + (1 << 30) + 1_000, B1, A1),
                      (far + (1 << 30) + 2_009, B1, A2)]
    b = bt.book("BHP")
    assert b.bid_qty[0] == (1 << 63) - 1 and b.ask_px[:3] == [A2, A3, 1 << 40] and b.ask_qty[2] == 7


@pytest.mark.parametrize(("kind", "side", "qty"), [(9, 1, 5), (0, 1, 5), (1, 3, 5), (1, 1, -5)])
def test_row_the_replay_cannot_read_is_refused_naming_it(kind: int, side: int, qty: int) -> None:
    rows = [*book_rows(), (T0 + 1_000, kind, side, B2, qty)]
    bt = Backtester(events(rows), lambda ctx: Script(ctx, {}), BacktestConfig(), ZeroFees())
    with pytest.raises(ValueError, match=f"row 7: invalid row for the replay.*kind={kind} side={side}"):
        bt.run()


# ---------------------------------------------------------------------------------------- determinism


def _mm_run(seed: int, jitter: int) -> list[tuple[str, int, int, int]]:
    from hft.strategies import make_strategy

    ev = generate(30_000, seed=3)
    bt = Backtester(ev, lambda ctx: make_strategy("market_maker", ctx, ["BHP"]),
                    BacktestConfig(seed=seed, latency_jitter_ns=jitter))
    r = bt.run()
    return [(f.cl_ord_id, f.price, f.qty, f.ts_ns) for f in r.fills]


def test_deterministic_for_a_seed() -> None:
    a = _mm_run(5, 30_000_000)
    assert a, "the market maker should trade on a generated day"
    assert a == _mm_run(5, 30_000_000)
    assert a != _mm_run(6, 30_000_000)  # the seed drives the latency jitter


def test_trades_reach_on_trade_with_aggressor() -> None:
    rows = [*book_rows(), (T0 + 1000, TRADE, BID, A1, 100), (T0 + 2000, TRADE, 0, B1, 5)]
    _, s = run(rows, {})
    assert [(t.price, t.qty, t.aggressor) for t in s.trades] == [(A1, 100, Side.BUY), (B1, 5, None)]


# ---------------------------------------------------------------------------------------- risk


def test_orders_and_replaces_pass_the_paper_risk_manager() -> None:
    def rep(ctx: StrategyContext, book: L2Book) -> Order | None:
        return ctx.replace(ctx.open_orders("BHP")[0], qty=300)

    bt, s = run(book_rows() + ticks(T0 + 1_000, 5), {0: buy(B1, 100), 1: buy(B2, 100), 2: rep,
                                                     3: sell(B1, 100)},
                risk=RiskLimits(max_position=150))
    assert [o.price for o in s.orders] == [B1]
    assert bt.risk.counts[R.MAX_POSITION] == 2  # the second buy and the replace up to 300
    assert bt.risk.counts[R.SELF_CROSS] == 1  # a sell at our own bid
    assert bt.res.refusals == {R.reason_text(R.MAX_POSITION): 2, R.reason_text(R.SELF_CROSS): 1}


def test_max_open_orders_counts_the_backtesters_open_orders() -> None:
    def cancel_first(ctx: StrategyContext, book: L2Book) -> None:
        ctx.cancel(ctx.open_orders("BHP")[0])

    bt, s = run(book_rows() + ticks(T0 + 1_000, 6),
                {0: buy(B2, 100), 1: buy(B2 - 100, 100), 2: buy(B2 - 200, 100), 3: cancel_first,
                 5: buy(B2 - 300, 100)}, risk=RiskLimits(max_open_orders=2))
    assert [o.price for o in s.orders] == [B2, B2 - 100, B2 - 300]  # the third waits for a cancel
    assert bt.risk.counts[R.MAX_OPEN_ORDERS] == 1 and bt.res.orders_sent == 3


def test_kill_switch_trips_on_daily_loss_and_cancels_resting_orders() -> None:
    # a taker buy pays the AUD 6 minimum fee: net P&L -6.00 - half the spread trips a AUD 5 loss limit
    bt, s = run(book_rows() + ticks(T0 + 1_000, 10), {0: buy(B2, 100), 1: buy(A1, 100), 5: buy(B2, 100)},
                fees=IbkrAsxFixed(), risk=RiskLimits(max_daily_loss_cents=500))
    assert bt.res.kill_switch.startswith("daily loss limit")
    assert bt.risk.kill.tripped
    assert s.orders[0].status is OrdStatus.CANCELED  # the resting bid was cancelled on the trip
    assert len(s.orders) == 2 and bt.res.refusals == {R.reason_text(R.KILL_SWITCH): 1}


def test_latencies_drawn_from_a_file(tmp_path: Path) -> None:
    f = tmp_path / "entry.txt"
    f.write_text("# measured entry latencies, ns\n4000\n4000\n\n")
    _, s = run(book_rows() + ticks(T0 + 1_000, 10), {0: buy(A1, 100)}, entry_latency_file=str(f))
    assert s.fills[0][1].ts_ns == T0 + 4_000
    f.write_text("12\nfast\n")
    with pytest.raises(ValueError, match=r"entry.txt line 2: 'fast'"):
        run(book_rows(), {}, entry_latency_file=str(f))


# ---------------------------------------------------------------------------------------- strategy calls


class Depth(Script):
    book_depth = 1


class Depth2(Script):
    book_depth = 2


def _calls(cls: type[Script], rows: list[tuple[int, int, int, int, int]]) -> list[int]:
    bt = Backtester(events(rows), lambda ctx: cls(ctx, {}), BacktestConfig(), ZeroFees())
    bt.run()
    assert isinstance(bt.strategy, Script)
    assert bt.res.strategy_calls == bt.strategy.calls
    return [t for t, _, _ in bt.strategy.seen]


def test_one_call_per_message_with_a_book_update_whatever_the_strategy_reads() -> None:
    rows = [*book_rows(),
            (T0 + 1_000, LEVEL, BID, B2, 900),  # second level: not read by a top-of-book strategy
            (T0 + 2_000, LEVEL, BID, B1, 600),  # best bid size
            (T0 + 3_000, LEVEL, ASK, A1, 400), (T0 + 3_000, LEVEL, ASK, A1, 300),  # one message
            (T0 + 4_000, LEVEL, ASK, A1, 300),  # same size again: nothing changed
            (T0 + 5_000, LEVEL, BID, B2, 0),  # delete of the second bid level
            (T0 + 6_000, LEVEL, BID, 449_950, 100),  # off-grid for ASX but a new best bid in the data
            (T0 + 7_000, TRADE, ASK, B1, 100),  # trades do not call on_book
            (T0 + 8_000, LEVEL, ASK, A2, 0)]  # delete of the second ask level
    # the paper engine's rule (one call at the end of every market data message that updated the book),
    # whatever a strategy's book_depth says: every message with a level update, none for a trade alone
    every = [T0, T0 + 1_000, T0 + 2_000, T0 + 3_000, T0 + 4_000, T0 + 5_000, T0 + 6_000, T0 + 8_000]
    assert _calls(Depth, rows) == every
    assert _calls(Depth2, rows) == every
    assert _calls(Script, rows) == every


def test_snapshot_mid_stream_replaces_the_book_and_is_seen_once() -> None:
    rows = [*book_rows(), (T0 + 1_000, SNAP, 0, 0, 0), (T0 + 1_000, LEVEL, BID, B2, 10),
            (T0 + 1_000, LEVEL, ASK, A3, 10), (T0 + 1_000, SNAP_END, 0, 0, 0),
            (T0 + 2_000, LEVEL, BID, B2, 20)]
    _, s = run(rows, {})
    assert s.seen == [(T0, B1, A1), (T0 + 1_000, B2, A3), (T0 + 2_000, B2, A3)]


def test_delete_of_an_unknown_level_is_counted_and_the_replay_goes_on() -> None:
    bt, s = run([*book_rows(), (T0 + 1_000, LEVEL, BID, 440_000, 0), (T0 + 2_000, LEVEL, BID, B1, 50)], {})
    assert bt.res.book_errors == 1
    assert s.seen[-1] == (T0 + 2_000, B1, A1) and not bt.book("BHP").stale


class Timer(Script):
    def on_start(self) -> None:
        self.ctx.set_timer(10_000)
        self.timers: list[int] = []

    def on_timer(self, now_ns: int) -> None:
        self.timers.append(now_ns)


def test_timer_fires_on_local_time() -> None:
    bt = Backtester(events(book_rows() + ticks(T0 + 1_000, 40, 1_000), feed_latency=500),
                    lambda ctx: Timer(ctx, {}), BacktestConfig(), ZeroFees())
    bt.run()
    s = bt.strategy
    assert isinstance(s, Timer)
    # set at local T0 + 500; events every 1,000 ns: fires at the first event at or after each deadline
    assert s.timers == [T0 + 10_500, T0 + 20_500, T0 + 30_500, T0 + 40_500]


class _Watching(Strategy):
    """The market maker, plus a check at every call that the backtester's watched prices (kept up to date
    one order at a time) are exactly what its resting orders say."""

    name = "watching"
    book_depth = 1

    def __init__(self, ctx: StrategyContext) -> None:
        from hft.strategies import make_strategy

        super().__init__(ctx, ["BHP"])
        self.inner = make_strategy("market_maker", ctx, ["BHP"])
        self.checks = 0

    def _check(self) -> None:
        bt = self.ctx
        assert isinstance(bt, Backtester)
        want: dict[int, dict[int, list[int]]] = {1: {}, 2: {}}
        for lv in bt._live.values():
            assert lv.resting
            want[lv.side].setdefault(lv.price, []).append(id(lv))
        for side, got in ((1, bt._wbid), (2, bt._wask)):
            assert {p: [id(x) for x in lvs] for p, lvs in got.items()} == want[side]
        bids, asks = want[1], want[2]
        assert (bt._bid_hi, bt._bid_lo) == ((max(bids), min(bids)) if bids else (0, (1 << 62) - 1))
        assert (bt._ask_lo, bt._ask_hi) == ((min(asks), max(asks)) if asks else ((1 << 62) - 1, 0))
        self.checks += 1

    def on_book(self, instrument: str, book: L2Book) -> None:
        self._check()
        self.inner.on_book(instrument, book)

    def on_fill(self, fill: Fill) -> None:
        self._check()
        self.inner.on_fill(fill)

    def on_order_update(self, order: Order) -> None:
        self.inner.on_order_update(order)


@pytest.mark.parametrize("jitter", [0, 3_000_000])
def test_watched_prices_follow_the_resting_orders(jitter: int) -> None:
    # replaces (same price smaller, new price), cancels, partial and full fills, with and without jitter
    bt = Backtester(generate(60_000, seed=11), _Watching, BacktestConfig(seed=2, latency_jitter_ns=jitter))
    r = bt.run()
    s = bt.strategy
    assert isinstance(s, _Watching)
    assert s.checks > 1_000 and r.orders_sent > 100 and len(r.fills) > 5
    s._check()
