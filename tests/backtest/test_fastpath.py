"""Differential tests of ``backtest.replay = "fast"`` (hft.backtest.fastpath) against the plain loop:
random generated days, random latencies, the three strategies and a random order-sending strategy must
give identical strategy calls, orders, fills and P&L."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hft.backtest import fastpath
from hft.backtest.config import backtest_config
from hft.backtest.engine import CHUNK, BacktestConfig, Backtester, make_events
from hft.backtest.synth import generate
from hft.book.l2 import L2Book
from hft.data.format import DataError, EventArrays, write_events
from hft.engine.strategy import Strategy, StrategyContext
from hft.engine.types import Fill, Order, OrdType, TimeInForce, Trade
from hft.strategies import make_strategy


class Chaos(Strategy):
    """Records what it sees at every call and sends random orders, cancels and replaces near the touch."""

    name = "chaos"

    def __init__(self, ctx: StrategyContext, depth: int, seed: int, trades: bool) -> None:
        super().__init__(ctx, ["BHP"])
        self.book_depth = depth
        self.rng = random.Random(seed)
        self.log: list[tuple[Any, ...]] = []
        if not trades:
            self.on_trade = Strategy.on_trade.__get__(self)  # type: ignore[method-assign]
        self._trades = trades

    def on_start(self) -> None:
        self.ctx.set_timer(3_000_000_000)

    def on_book(self, instrument: str, book: L2Book) -> None:
        ctx = self.ctx
        self.log.append(("book", ctx.now(), tuple(book.bid_px[:6]), tuple(book.bid_qty[:6]),
                         tuple(book.ask_px[:6]), tuple(book.ask_qty[:6]), book.n_bids, book.n_asks,
                         # the exchange side's queue positions (the backtester's own state)
                         tuple((lv.price, lv.ahead, lv.leaves) for lv in getattr(ctx, "_live", {}).values())))
        r = self.rng.random()
        bb, ba = book.bid_px[0], book.ask_px[0]
        if not bb or not ba:
            return
        tick = 100
        if r < 0.04:
            ctx.buy("BHP", bb - tick * self.rng.randrange(0, 3), 100 * self.rng.randrange(1, 4))
        elif r < 0.08:
            ctx.sell("BHP", ba + tick * self.rng.randrange(0, 3), 100 * self.rng.randrange(1, 4))
        elif r < 0.09:
            ctx.buy("BHP", ba, 100, TimeInForce.IOC)
        elif r < 0.10:
            ctx.sell("BHP", bb, 300, TimeInForce.IOC, OrdType.LIMIT)
        elif r < 0.13:
            oo = ctx.open_orders("BHP")
            if oo:
                o = self.rng.choice(oo)
                ctx.replace(o, price=o.price + tick * self.rng.choice((-1, 1)), qty=o.qty + 100)
        elif r < 0.16:
            oo = ctx.open_orders("BHP")
            if oo:
                ctx.cancel(self.rng.choice(oo))

    def on_timer(self, now_ns: int) -> None:
        self.log.append(("timer", now_ns))

    def on_fill(self, fill: Fill) -> None:
        self.log.append(("fill", self.ctx.now(), fill.cl_ord_id, fill.price, fill.qty, fill.fee_cents))

    def on_order_update(self, order: Order) -> None:
        self.log.append(("order", self.ctx.now(), order.cl_ord_id, order.status, order.cum_qty))

    def on_trade(self, trade: Trade) -> None:
        self.log.append(("trade", trade.price, trade.qty, trade.ts_ns))


def _digest(bt: Backtester) -> dict[str, Any]:
    r = bt.res
    return {"fills": [(f.cl_ord_id, f.side, f.price, f.qty, f.fee_cents, f.ts_ns, f.exec_id, f.liquidity)
                      for f in r.fills],
            "maker": r.fill_maker, "samples": (r.samples_ts, r.samples_mid2, r.samples_pos, r.samples_cash,
                                               r.samples_fees),
            "orders": (r.orders_sent, r.qty_sent, r.orders_refused, r.refusals, r.cancels_sent),
            "calls": r.strategy_calls, "errors": r.book_errors, "kill": r.kill_switch, "events": r.events,
            "final": (r.final_mid2, r.first_ts, r.last_ts), "pnl": bt.positions.net_pnl_cents(),
            "log": getattr(bt.strategy, "log", None),
            "live": [(lv.order.cl_ord_id, lv.price, lv.ahead, lv.leaves) for lv in bt._live.values()]}


def _both(ev: EventArrays, make: Any, **cfg: Any) -> tuple[Backtester, Backtester]:
    out = []
    for mode in ("plain", "fast"):
        bt = Backtester(ev, make, BacktestConfig(replay=mode, **cfg))
        bt.run()
        out.append(bt)
    return out[0], out[1]


def _day(rng: random.Random, n: int) -> EventArrays:
    ev = generate(n, seed=rng.randrange(1000), levels=rng.randrange(2, 9), trade_frac=rng.choice((0.02, 0.05,
                  0.15)), move_frac=rng.choice((0.005, 0.01, 0.05)))
    coarse = rng.choice((1, 1, 5_000_000, 50_000_000))  # many events per local timestamp when coarse
    te = ev.ts_exch // coarse * coarse
    tl = ev.ts_local // coarse * coarse
    return make_events(te, tl, ev.kind, ev.side, ev.price, ev.qty)


def _latency(rng: random.Random) -> dict[str, Any]:
    return {"entry_latency_ns": rng.choice((0, 50_000, 200_000, 20_000_000)),
            "response_latency_ns": rng.choice((0, 100_000, 200_000, 30_000_000)),
            "latency_jitter_ns": rng.choice((0, 0, 10_000_000)), "seed": rng.randrange(100),
            "queue_power": rng.choice((0.0, 1.0, 3.0))}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("strategy", ["market_maker", "momentum_scalper", "order_flow"])
@pytest.mark.parametrize("case", range(3))
def test_fast_equals_plain_with_the_strategies(strategy: str, case: int) -> None:
    rng = random.Random(f"{strategy}-{case}")
    ev = _day(rng, 12_000)
    plain, fast = _both(ev, lambda ctx: make_strategy(strategy, ctx, ["BHP"]), **_latency(rng))
    assert fast.replay_used == "fast", fast.replay_note
    assert plain.replay_used == "plain"
    a, b = _digest(plain), _digest(fast)
    assert a == b
    assert a["calls"] > 0


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", range(8))
def test_fast_equals_plain_with_random_orders(case: int) -> None:
    rng = random.Random(case)
    ev = _day(rng, 8_000)
    depth = rng.choice((1, 2, 5))
    trades = rng.random() < 0.5
    plain, fast = _both(ev, lambda ctx: Chaos(ctx, depth, case, trades), **_latency(rng))
    assert fast.replay_used == "fast", fast.replay_note
    a, b = _digest(plain), _digest(fast)
    assert a["orders"][0] > 10 and a["fills"], "the random strategy should trade"
    assert a == b


def _rows(rows: list[tuple[int, int, int, int, int]]) -> EventArrays:
    a = np.asarray(rows, dtype=np.int64)
    return make_events(a[:, 0], a[:, 0], a[:, 1], a[:, 2], a[:, 3], a[:, 4])


def _hand_day() -> list[tuple[int, int, int, int, int]]:
    """Snapshots mid-day, deletes of unknown levels, deep levels toggling, trades at our prices."""
    rows: list[tuple[int, int, int, int, int]] = []
    t = 1_000_000
    rng = random.Random(4)
    for rep in range(3):
        rows.append((t, 3, 0, 0, 0))
        for i in range(6):
            rows.append((t, 1, 1, 449_900 - 100 * i, 500 + 100 * i))
            rows.append((t, 1, 2, 450_000 + 100 * i, 500 + 100 * i))
        rows.append((t, 4, 0, 0, 0))
        for _ in range(2_000):
            t += rng.choice((0, 1_000, 50_000))
            r = rng.random()
            s = rng.choice((1, 2))
            px = (449_900 - 100 * rng.randrange(1, 6)) if s == 1 else (450_000 + 100 * rng.randrange(1, 6))
            if r < 0.05:
                rows.append((t, 2, rng.choice((0, 1, 2)), rng.choice((449_900, 450_000)), 100))
            elif r < 0.08:
                rows.append((t, 1, s, px - 5_000 if s == 1 else px + 5_000, 0))  # delete of an unknown level
            elif r < 0.12:
                rows.append((t, 1, s, px, 0))
            else:
                rows.append((t, 1, s, px if rng.random() < 0.7 else (449_900 if s == 1 else 450_000),
                             100 * rng.randrange(1, 20)))
        t += 1_000_000 * (rep + 1)
    return rows


@pytest.mark.timeout(60)
@pytest.mark.parametrize("depth", [1, 3])
def test_snapshots_and_unknown_deletes(depth: int) -> None:
    ev = _rows(_hand_day())
    plain, fast = _both(ev, lambda ctx: Chaos(ctx, depth, 9, True), entry_latency_ns=20_000,
                        response_latency_ns=20_000)
    assert fast.replay_used == "fast", fast.replay_note
    a, b = _digest(plain), _digest(fast)
    assert a["errors"] > 0
    assert a == b


class Deep(Strategy):
    """Joins the bid three ticks down once, and again after each fill."""

    name = "deep"
    book_depth = 1

    def on_book(self, instrument: str, book: L2Book) -> None:
        if not self.ctx.open_orders("BHP"):
            self.ctx.buy("BHP", 449_600, 100)


@pytest.mark.timeout(60)
def test_order_arriving_inside_a_quiet_run() -> None:
    """An order reaches the exchange between two strategy calls while its level keeps changing: the
    queue position must follow every change after the arrival, none before."""
    rows: list[tuple[int, int, int, int, int]] = [(0, 1, 1, 449_900, 500), (0, 1, 2, 450_000, 500)]
    rows += [(0, 1, 1, 449_900 - 100 * i, 1_000) for i in range(1, 5)]
    for i in range(1, 3_000):
        t = i * 1_000_000
        if i % 50 == 0:
            rows.append((t, 1, 1, 449_900, 500 + i))  # the touch changes now and then: a strategy call
        elif i % 97 == 0:
            rows.append((t, 2, 2, 449_600, 150))  # a trade at our price
        else:
            rows.append((t, 1, 1, 449_600, 100 + (i * 37) % 900))
    ev = _rows(rows)
    for lat in (500_000, 5_500_000, 20_500_000):
        plain, fast = _both(ev, lambda ctx: Deep(ctx, ["BHP"]), entry_latency_ns=lat, response_latency_ns=lat)
        assert fast.replay_used == "fast", fast.replay_note
        a, b = _digest(plain), _digest(fast)
        assert a["fills"] and a["live"]
        assert a == b


def test_crossed_book_raises_the_same_error() -> None:
    rows = [(1, 1, 1, 449_900, 100), (2, 1, 2, 450_000, 100), (3, 1, 1, 449_800, 100),
            (4, 1, 1, 450_000, 100), (5, 1, 2, 450_100, 100)]
    msgs = []
    for mode in ("plain", "fast"):
        bt = Backtester(_rows(rows), lambda ctx: Chaos(ctx, 1, 0, False), BacktestConfig(replay=mode))
        with pytest.raises(DataError, match="crossed book") as e:
            bt.run()
        msgs.append(str(e.value))
        assert bt.replay_used == "plain"
    assert msgs[0] == msgs[1]
    assert "row 3" in msgs[0]


def test_falls_back_to_plain_where_it_does_not_apply() -> None:
    ev = _rows([(1, 1, 1, 449_900, 100), (2, 1, 2, 450_000, 100)])
    bt = Backtester(ev, lambda ctx: Chaos(ctx, 0, 0, False), BacktestConfig(replay="fast"))
    bt.run()
    assert bt.replay_used == "plain" and "reads 0 levels" in bt.replay_note
    wide = _rows([(i, 1, 1, 100_000 + 100 * i, 100) for i in range(1, 700)])
    pl = fastpath.plan(wide.kind, wide.side, wide.price, wide.qty, wide.ts_local, 1, 20, 10_000, CHUNK)
    assert isinstance(pl, str) and "too wide" in pl
    deep = _rows([(i, 1, 1, 100_000 + 100 * i, 100) for i in range(1, 60)])
    pl = fastpath.plan(deep.kind, deep.side, deep.price, deep.qty, deep.ts_local, 1, 20, 40, CHUNK)
    assert isinstance(pl, str) and "live levels" in pl


def test_plan_marks_the_plain_loops_calls() -> None:
    ev = generate(3_000, seed=2)
    pl = fastpath.plan(ev.kind, ev.side, ev.price, ev.qty, ev.ts_local, 1, 20, 40, CHUNK)
    assert not isinstance(pl, str)
    assert 0 < pl.quiet < len(ev)
    assert pl.stops[-1] == len(ev) and np.all(np.diff(pl.stops) > 0)


def test_replay_option_is_validated() -> None:
    assert backtest_config({"replay": "fast"}).replay == "fast"
    with pytest.raises(ValueError, match=r"backtest\.replay"):
        backtest_config({"replay": "turbo"}, "x.toml")


@pytest.mark.timeout(120)
def test_cli_replay_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hft.backtest.cli import main

    day = tmp_path / "day.parquet"
    write_events(day, generate(15_000, seed=11))
    cfg = Path(__file__).resolve().parents[2] / "config" / "backtest_market_maker.toml"
    out = {}
    for mode in ("plain", "fast"):
        argv = ["--config", str(cfg), "--data", str(day), "--json", "--no-progress", "--replay", mode]
        assert main(argv) == 0
        s = json.loads(capsys.readouterr().out)
        s.pop("wall_s", None)
        s.pop("events_per_s", None)
        out[mode] = s
    assert out["plain"] == out["fast"]
    assert out["plain"]["trades"] > 0
    with pytest.raises(SystemExit):
        main(["--config", str(cfg), "--data", str(day), "--replay", "turbo"])
