"""Event-driven backtester: replays canonical L2 events through a strategy with a simulated exchange.

Model (details and assumptions in docs/backtest.md):

* clocks: market events carry ``ts_exch`` (matching happens in exchange time) and ``ts_local`` (the
  strategy sees the event, and ``ctx.now()`` reads, local time). An order sent at local time ``t``
  reaches the exchange at ``t + entry_latency``; the answer (ack, fill, cancel) reaches the strategy
  ``response_latency`` after the exchange handled it. Latencies are constant plus an optional uniform
  jitter drawn from a seeded generator (deterministic for a given seed).
* resting orders join the back of their level's queue (``ahead`` = the level's quantity on arrival);
  trades at the price reduce ``ahead``, trades through the price fill us; level decreases not explained
  by trades move us forward by hftbacktest's power probability queue model (``queue_power`` n):
  ``p = back^n / (back^n + front^n)``, ``front' = min(front - (1 - p) chg + min(back - p chg, 0), qty)``.
* an order that crosses the book on arrival walks the opposite levels up to its limit (partial fills,
  taker); IOC / market remainders are cancelled, DAY remainders rest. Our fills do not change the
  replayed market book (the data is not reactive).
* fees: :mod:`hft.asx.fees` per order (minimum per order; each fill charged the increment).
* every order passes a pre-trade risk check (``risk``; see :class:`RiskHook`) before it is sent.
"""

from __future__ import annotations

import heapq
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from hft.asx.fees import FeeModel, IbkrAsxFixed
from hft.asx.ticks import is_valid_price
from hft.book.l2 import L2Book
from hft.engine.strategy import Strategy, StrategyContext
from hft.engine.types import Fill, Order, OrdStatus, OrdType, Side, TimeInForce, Trade

S = OrdStatus
K_LEVEL, K_TRADE, K_SNAP_START, K_SNAP_END = 1, 2, 3, 4


@dataclass(slots=True)
class EventArrays:
    """Column arrays of one instrument's events (the canonical format of docs/data.md)."""

    ts_exch: np.ndarray
    ts_local: np.ndarray
    kind: np.ndarray
    side: np.ndarray
    price: np.ndarray
    qty: np.ndarray

    def __len__(self) -> int:
        return len(self.ts_exch)


def check_sorted(ev: EventArrays) -> None:
    """Refuse events whose timestamps go backwards (exchange or local), naming the first bad row."""
    for name in ("ts_exch", "ts_local"):
        a = getattr(ev, name)
        if len(a) > 1:
            bad = np.flatnonzero(np.diff(a) < 0)
            if len(bad):
                i = int(bad[0]) + 1
                raise ValueError(f"{name} not sorted: row {i} ({int(a[i])}) is before row {i - 1} "
                                 f"({int(a[i - 1])})")


class RiskHook(Protocol):
    """Pre-trade check: returns "" to accept or a reason to refuse."""

    def check(self, instrument: str, side: Side, price: int, qty: int, position: int,
              open_orders: list[Order], now_ns: int) -> str: ...


@dataclass(frozen=True, slots=True)
class SimpleLimits:
    """Built-in pre-trade limits, used when no engine RiskManager is passed in."""

    max_order_qty: int = 10_000
    max_position: int = 50_000
    max_open_orders: int = 50

    def check(self, instrument: str, side: Side, price: int, qty: int, position: int,
              open_orders: list[Order], now_ns: int) -> str:
        if qty <= 0 or qty > self.max_order_qty:
            return "qty"
        if len(open_orders) >= self.max_open_orders:
            return "open_orders"
        pending = sum(o.leaves_qty for o in open_orders if o.side is side)
        if abs(position + side.sign * (qty + pending)) > self.max_position:
            return "position"
        return ""


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    instrument: str = "BHP"
    entry_latency_ns: int = 200_000
    response_latency_ns: int = 200_000
    latency_jitter_ns: int = 0
    seed: int = 1
    queue_power: float = 3.0
    book_depth: int = 20
    record_every_ns: int = 60_000_000_000  # equity sample period (per minute)


@dataclass(slots=True)
class _Live:
    """Exchange-side state of one of our orders."""

    order: Order  # the strategy's object (its fields change only when answers arrive)
    side: int
    price: int
    leaves: int
    value: int = 0  # filled value (price units x qty), for the per-order fee minimum
    ahead: float = 0.0
    trade_qty: int = 0  # queue advance by trades since the last level update (hftbacktest's cum_trade_qty)
    resting: bool = False


@dataclass(slots=True)
class BacktestResult:
    fills: list[Fill] = field(default_factory=list)
    fill_maker: list[bool] = field(default_factory=list)
    samples_ts: list[int] = field(default_factory=list)  # periodic (ts, mid_x2, position, cash_units, fees)
    samples_mid2: list[int] = field(default_factory=list)
    samples_pos: list[int] = field(default_factory=list)
    samples_cash: list[int] = field(default_factory=list)
    samples_fees: list[int] = field(default_factory=list)
    orders_sent: int = 0
    qty_sent: int = 0  # leaves quantity of every order version sent (new orders and replacements)
    orders_refused: int = 0
    cancels_sent: int = 0
    events: int = 0
    strategy_calls: int = 0
    wall_s: float = 0.0
    final_mid2: int = 0
    first_ts: int = 0
    last_ts: int = 0


class Backtester(StrategyContext):
    """Replays ``events`` through a strategy built by ``make(ctx)``; implements :class:`StrategyContext`."""

    def __init__(self, events: EventArrays, make: Callable[[StrategyContext], Strategy],
                 config: BacktestConfig | None = None, fees: FeeModel | None = None,
                 risk: RiskHook | None = None) -> None:
        check_sorted(events)
        self.ev = events
        self.cfg = config or BacktestConfig()
        self.fees = fees if fees is not None else IbkrAsxFixed()
        self.risk = risk if risk is not None else SimpleLimits()
        self.inst = self.cfg.instrument
        self._book = L2Book(self.inst, depth=self.cfg.book_depth)
        self._rng = random.Random(self.cfg.seed)
        self._now = 0
        self._te = 0
        self._seq = 0
        self._ids = 0
        self._pending: list[tuple[int, int, int, Any, Any]] = []  # (exch time, seq, action, order, extra)
        self._answers: list[tuple[int, int, int, Any, Any]] = []  # (local time, seq, kind, order, extra)
        self._live: dict[str, _Live] = {}  # exchange-side live orders by cl_ord_id
        self._open: dict[str, Order] = {}  # strategy-side open orders
        self._pos = 0  # position as the strategy knows it (updated when fills arrive)
        self._timer_ns = 0
        self._next_timer = 0
        self.res = BacktestResult()
        self._cash = 0  # exchange-side, price units
        self._xpos = 0  # exchange-side position
        self._fee_total = 0
        self.strategy = make(self)
        self._depth_interest = int(getattr(self.strategy, "book_depth", 0))
        self._wants_trades = type(self.strategy).on_trade is not Strategy.on_trade

    # ------------------------------------------------------------------ StrategyContext
    def now(self) -> int:
        return self._now

    def _lat(self, base: int) -> int:
        j = self.cfg.latency_jitter_ns
        return base + (self._rng.randrange(j + 1) if j else 0)

    def _send(self, instrument: str, side: Side, price: int, qty: int, tif: TimeInForce, ord_type: OrdType,
              tag: str) -> Order | None:
        open_ = list(self._open.values())
        reason = self.risk.check(instrument, side, price, qty, self._pos, open_, self._now)
        if not reason and ord_type is OrdType.LIMIT and not is_valid_price(price):
            reason = "tick"
        if reason:
            self.res.orders_refused += 1
            return None
        self._ids += 1
        o = Order(f"B{self._ids}", instrument, side, price, qty, tif, ord_type, S.PENDING_NEW,
                  created_ns=self._now, updated_ns=self._now, tag=tag)
        self._open[o.cl_ord_id] = o
        self.res.orders_sent += 1
        self.res.qty_sent += qty
        self._push(0, o, None)
        return o

    def _push(self, action: int, o: Order, extra: Any) -> None:
        self._seq += 1
        t = self._now + self._lat(self.cfg.entry_latency_ns)
        heapq.heappush(self._pending, (t, self._seq, action, o, extra))

    def buy(self, instrument: str, price: int, qty: int, tif: TimeInForce = TimeInForce.DAY,
            ord_type: OrdType = OrdType.LIMIT, tag: str = "") -> Order | None:
        return self._send(instrument, Side.BUY, price, qty, tif, ord_type, tag)

    def sell(self, instrument: str, price: int, qty: int, tif: TimeInForce = TimeInForce.DAY,
             ord_type: OrdType = OrdType.LIMIT, tag: str = "") -> Order | None:
        return self._send(instrument, Side.SELL, price, qty, tif, ord_type, tag)

    def cancel(self, order: Order) -> bool:
        st = order.status
        if st.is_terminal or st is S.PENDING_CANCEL or st is S.PENDING_REPLACE:
            return False
        order.status = S.PENDING_CANCEL
        self.res.cancels_sent += 1
        self._push(1, order, st)
        return True

    def replace(self, order: Order, price: int | None = None, qty: int | None = None) -> Order | None:
        st = order.status
        if st.is_terminal or st is S.PENDING_CANCEL or st is S.PENDING_REPLACE:
            return None
        price = order.price if price is None else price
        qty = order.qty if qty is None else qty
        others = [o for o in self._open.values() if o is not order]
        reason = self.risk.check(order.instrument, order.side, price, qty - order.cum_qty, self._pos, others,
                                 self._now)
        if reason or not is_valid_price(price) or qty <= order.cum_qty:
            self.res.orders_refused += 1
            return None
        self._ids += 1
        new = Order(f"B{self._ids}", order.instrument, order.side, price, qty, order.tif, order.ord_type,
                    S.PENDING_REPLACE, cum_qty=order.cum_qty, avg_px_num=order.avg_px_num,
                    orig_cl_ord_id=order.cl_ord_id, created_ns=self._now, updated_ns=self._now, tag=order.tag)
        order.status = S.PENDING_REPLACE
        self._open[new.cl_ord_id] = new
        self.res.orders_sent += 1
        self.res.qty_sent += qty - order.cum_qty
        self._push(2, order, (new, st))
        return new

    def cancel_all(self, instrument: str | None = None) -> int:
        n = 0
        for o in list(self._open.values()):
            if (instrument is None or o.instrument == instrument) and self.cancel(o):
                n += 1
        return n

    def position(self, instrument: str) -> int:
        return self._pos if instrument == self.inst else 0

    def book(self, instrument: str) -> L2Book:
        return self._book

    def open_orders(self, instrument: str | None = None) -> list[Order]:
        return [o for o in self._open.values() if instrument is None or o.instrument == instrument]

    def set_timer(self, interval_ns: int) -> None:
        self._timer_ns = interval_ns
        self._next_timer = self._now + interval_ns

    # ------------------------------------------------------------------ exchange side
    def _answer(self, kind: int, o: Order, extra: Any) -> None:
        self._seq += 1
        heapq.heappush(self._answers, (self._te + self._lat(self.cfg.response_latency_ns), self._seq, kind, o,
                                       extra))

    def _fill(self, lv: _Live, price: int, qty: int, maker: bool) -> None:
        fee = self.fees.fill_fee(lv.value, price * qty)
        lv.value += price * qty
        lv.leaves -= qty
        o = lv.order
        sign = 1 if lv.side == 1 else -1
        self._xpos += sign * qty
        self._cash -= sign * price * qty
        self._fee_total += fee
        f = Fill(o.cl_ord_id, o.instrument, Side(lv.side), price, qty, fee, self._te,
                 f"E{len(self.res.fills) + 1}", "A" if maker else "R")
        self.res.fills.append(f)
        self.res.fill_maker.append(maker)
        self._answer(3, o, f)
        if lv.leaves == 0:
            self._live.pop(o.cl_ord_id, None)

    def _arrive(self, lv: _Live) -> None:
        """An order reaches the exchange: take what crosses, then rest (or cancel the IOC remainder)."""
        b = self._book
        o = lv.order
        limit = lv.price if o.ord_type is OrdType.LIMIT else 0
        if lv.side == 1:
            pxs, qs, n = b.ask_px, b.ask_qty, b.n_asks
            for i in range(n):
                if lv.leaves == 0 or (limit and pxs[i] > limit):
                    break
                self._fill(lv, pxs[i], min(lv.leaves, qs[i]), False)
        else:
            pxs, qs, n = b.bid_px, b.bid_qty, b.n_bids
            for i in range(n):
                if lv.leaves == 0 or (limit and pxs[i] < limit):
                    break
                self._fill(lv, pxs[i], min(lv.leaves, qs[i]), False)
        if lv.leaves == 0:
            return
        if o.tif in (TimeInForce.IOC, TimeInForce.FOK) or o.ord_type is OrdType.MARKET:
            self._answer(4, o, None)  # remainder cancelled
            return
        lv.resting = True
        lv.ahead = float(b.qty_at(lv.side, lv.price))
        lv.trade_qty = 0
        self._live[o.cl_ord_id] = lv

    def _process_pending(self, te: int) -> None:
        pend = self._pending
        while pend and pend[0][0] <= te:
            t, _, action, o, extra = heapq.heappop(pend)
            self._te = t
            if action == 0:  # new order
                self._answer(0, o, None)
                self._arrive(_Live(o, int(o.side), o.price, o.qty))
            elif action == 1:  # cancel
                lv = self._live.pop(o.cl_ord_id, None)
                self._answer(4 if lv is not None else 5, o, extra)
            else:  # replace
                new, prev = extra
                lv = self._live.get(o.cl_ord_id)
                ex_cum = o.qty - lv.leaves if lv is not None else 0
                if lv is None or new.qty <= ex_cum:
                    self._answer(6, o, (new, prev))
                    continue
                del self._live[o.cl_ord_id]
                nl = _Live(new, lv.side, new.price, new.qty - ex_cum, lv.value)
                self._answer(7, o, new)
                if new.price == lv.price and nl.leaves <= lv.leaves:
                    nl.ahead, nl.trade_qty, nl.resting = lv.ahead, lv.trade_qty, True  # keeps its place
                    self._live[new.cl_ord_id] = nl
                else:
                    self._arrive(nl)

    def _deliver(self, tl: int) -> None:
        ans = self._answers
        strat = self.strategy
        while ans and ans[0][0] <= tl:
            t, _, kind, o, extra = heapq.heappop(ans)
            self._now = t
            if kind == 3:  # fill
                f: Fill = extra
                o.cum_qty += f.qty
                o.avg_px_num += f.price * f.qty
                self._pos += f.qty if f.side is Side.BUY else -f.qty
                if o.cum_qty >= o.qty:
                    o.status = S.FILLED
                    self._open.pop(o.cl_ord_id, None)
                elif o.status in (S.NEW, S.PENDING_NEW):
                    o.status = S.PARTIALLY_FILLED
                o.updated_ns = t
                strat.on_fill(f)
                strat.on_order_update(o)
                continue
            if kind == 0:  # ack
                if o.status is S.PENDING_NEW:
                    o.status = S.NEW
            elif kind == 4:  # cancelled (by request or IOC remainder)
                if not o.status.is_terminal:
                    o.status = S.CANCELED
                    self._open.pop(o.cl_ord_id, None)
            elif kind == 5:  # cancel reject: the order had already finished
                if o.status is S.PENDING_CANCEL:
                    o.status = extra if o.cum_qty < o.qty else S.FILLED
            elif kind == 6:  # replace reject
                new, prev = extra
                new.status = S.REJECTED
                new.reject_reason = "too late to replace"
                self._open.pop(new.cl_ord_id, None)
                if o.status is S.PENDING_REPLACE:
                    o.status = prev if o.cum_qty < o.qty else S.FILLED
                strat.on_order_update(new)
            elif kind == 7:  # replaced
                new = extra
                o.status = S.REPLACED
                self._open.pop(o.cl_ord_id, None)
                new.status = S.NEW if new.cum_qty == o.cum_qty else S.PARTIALLY_FILLED
                new.cum_qty = max(new.cum_qty, o.cum_qty)
                strat.on_order_update(new)
            o.updated_ns = t
            strat.on_order_update(o)

    def _on_trade(self, price: int, qty: int, aggressor: int) -> None:
        for lv in list(self._live.values()):
            if not lv.resting or lv.leaves == 0:
                continue
            if lv.side == 1:
                if aggressor == 1 or price > lv.price:
                    continue
                through = price < lv.price
            else:
                if aggressor == 2 or price < lv.price:
                    continue
                through = price > lv.price
            if through:
                self._fill(lv, lv.price, min(lv.leaves, qty), True)
                continue
            lv.ahead -= qty
            lv.trade_qty += qty
            if lv.ahead < 0:
                q = min(lv.leaves, int(-lv.ahead))
                lv.ahead = 0.0
                if q > 0:
                    self._fill(lv, lv.price, q, True)

    def _on_level(self, side: int, price: int, prev: int, new: int) -> None:
        n = self.cfg.queue_power
        for lv in list(self._live.values()):
            if not lv.resting:
                continue
            if lv.side == side and lv.price == price:
                chg = prev - new - lv.trade_qty
                lv.trade_qty = 0
                if chg <= 0:
                    lv.ahead = min(lv.ahead, float(new))
                    continue
                front = lv.ahead
                back = max(prev - front, 0.0)
                fb = back ** n
                ff = front ** n
                p = fb / (fb + ff) if fb + ff > 0 else 1.0
                est = front - (1.0 - p) * chg + min(back - p * chg, 0.0)
                lv.ahead = max(0.0, min(est, float(new)))
            elif lv.side != side and new > 0 and (
                    (lv.side == 1 and price <= lv.price) or (lv.side == 2 and price >= lv.price)):
                # the opposite side now quotes at or through our price: we would have been hit
                self._fill(lv, lv.price, min(lv.leaves, new), True)

    # ------------------------------------------------------------------ main loop
    def _sample(self, ts: int) -> None:
        r = self.res
        r.samples_ts.append(ts)
        r.samples_mid2.append(self._book.mid_x2())
        r.samples_pos.append(self._xpos)
        r.samples_cash.append(self._cash)
        r.samples_fees.append(self._fee_total)

    def run(self, progress: Callable[[int], None] | None = None) -> BacktestResult:
        ev = self.ev
        n = len(ev)
        tse = ev.ts_exch.tolist()
        tsl = ev.ts_local.tolist()
        kinds = ev.kind.tolist()
        sides = ev.side.tolist()
        prices = ev.price.tolist()
        qtys = ev.qty.tolist()
        book = self._book
        strat = self.strategy
        depth = self._depth_interest
        wants_trades = self._wants_trades
        live = self._live
        inst = self.inst
        period = self.cfg.record_every_ns
        next_sample = (tse[0] // period + 1) * period if n else 0
        in_snapshot = False
        calls = 0
        t0 = time.perf_counter()
        strat.on_start()
        self.res.first_ts = tse[0] if n else 0
        chunk = 1 << 16
        for i in range(n):
            te = tse[i]
            tl = tsl[i]
            if self._pending and self._pending[0][0] <= te:
                self._process_pending(te)
            if self._answers and self._answers[0][0] <= tl:
                self._deliver(tl)
            if te >= next_sample:
                self._sample(next_sample)
                next_sample = (te // period + 1) * period
            self._te = te
            self._now = tl
            k = kinds[i]
            if k == K_LEVEL:
                s = sides[i]
                p = prices[i]
                q = qtys[i]
                if depth == 1:
                    before = (book.bid_px[0], book.bid_qty[0], book.ask_px[0], book.ask_qty[0], book.n_bids,
                              book.n_asks)
                    touched = False
                else:
                    touched = True
                    if depth > 0:
                        if s == 1:
                            nl = book.n_bids
                            touched = nl < depth or p >= book.bid_px[depth - 1]
                        else:
                            nl = book.n_asks
                            touched = nl < depth or p <= book.ask_px[depth - 1]
                if live:
                    prev = book.qty_at(s, p)
                    book.set_level(s, p, q, te)
                    self._on_level(s, p, prev, q)
                else:
                    book.set_level(s, p, q, te)
                if in_snapshot:
                    continue
                if depth == 1:
                    touched = before != (book.bid_px[0], book.bid_qty[0], book.ask_px[0], book.ask_qty[0],
                                         book.n_bids, book.n_asks)
                if touched:
                    calls += 1
                    strat.on_book(inst, book)
            elif k == K_TRADE:
                if live:
                    self._on_trade(prices[i], qtys[i], sides[i])
                if wants_trades:
                    a = sides[i]
                    strat.on_trade(Trade(inst, prices[i], qtys[i], tl, Side(a) if a in (1, 2) else None))
            elif k == K_SNAP_START:
                book.clear()
                in_snapshot = True
            elif k == K_SNAP_END:
                in_snapshot = False
                calls += 1
                strat.on_book(inst, book)
            if self._timer_ns and tl >= self._next_timer:
                self._next_timer = tl + self._timer_ns
                strat.on_timer(tl)
            if progress is not None and i % chunk == 0:
                progress(i)
        # drain what is in flight after the last event
        end = (tse[-1] if n else 0) + 10 * (self.cfg.entry_latency_ns + self.cfg.response_latency_ns + 1)
        self._now = tsl[-1] if n else 0
        strat.on_stop()
        self._process_pending(end)
        self._deliver(end + self.cfg.response_latency_ns + self.cfg.latency_jitter_ns + 1)
        self._sample(tse[-1] if n else 0)
        r = self.res
        r.events = n
        r.strategy_calls = calls
        r.wall_s = time.perf_counter() - t0
        r.final_mid2 = book.mid_x2()
        r.last_ts = tse[-1] if n else 0
        if progress is not None:
            progress(n)
        return r
