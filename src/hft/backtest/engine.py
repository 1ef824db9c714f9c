"""Event-driven backtester: replays canonical L2 events through a strategy with a simulated exchange.

Model (details, assumptions and measured speed in docs/backtest.md):

* clocks: market events carry ``ts_exch`` (matching happens in exchange time) and ``ts_local`` (the
  strategy sees the event, and ``ctx.now()`` reads, local time). An order sent at local time ``t``
  reaches the exchange at ``t + entry_latency``; the answer (ack, fill, cancel) reaches the strategy
  ``response_latency`` after the exchange handled it. Latencies are constant plus an optional uniform
  jitter drawn from a seeded generator (deterministic for a given seed).
* resting orders join the back of their level's queue (``ahead`` = the level's quantity on arrival);
  trades at the price reduce ``ahead``, trades through the price fill us; level decreases not explained
  by trades move us forward by the power probability queue model (``queue_power`` n):
  ``p = back^n / (back^n + front^n)``, ``front' = min(front - (1 - p) chg + min(back - p chg, 0), qty)``.
* an order that crosses the book on arrival walks the opposite levels up to its limit (partial fills,
  taker); IOC / market remainders are cancelled, DAY remainders rest. Our fills do not change the
  replayed market book (the data is not reactive).
* fees: :mod:`hft.asx.fees` per order (minimum per order; each fill charged the increment), as the
  engine's order manager does.
* every order and replace passes :class:`hft.engine.risk.RiskManager` (the paper/live pre-trade checks
  and kill switch) with a :class:`hft.engine.positions.PositionTracker` fed by the fills the strategy
  has been told about.
* the strategy is called like the paper engine calls it: ``on_book`` once per market data timestamp
  (events sharing a ``ts_local`` are one message), and only when something it reads changed: the best
  ``book_depth`` levels of a side (1 = best price or size; 0 = any level update).

Speed: the replay loop does no work per event beyond applying the level to the book and a few integer
comparisons; order bookkeeping runs only for levels where we rest (or that cross our prices) and for
trades that can reach our prices; timers, samples and venue answers are checked against one "next due"
time each.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

import numpy as np
from librt.strings import read_i64_le

from hft.asx.fees import FeeModel, IbkrAsxFixed
from hft.book.l2 import L2Book
from hft.data.format import DataError, EventArrays, file_format
from hft.engine.positions import PositionTracker
from hft.engine.risk import ACCEPTED, OpenOrderSource, RiskLimits, RiskManager, reason_text
from hft.engine.strategy import Strategy, StrategyContext
from hft.engine.types import Fill, Order, OrdStatus, OrdType, Side, TimeInForce, Trade, amendable, terminal

K_LEVEL, K_TRADE, K_SNAP_START, K_SNAP_END = 1, 2, 3, 4
_NEVER: Final = (1 << 62) - 1  # the largest int the compiled build keeps unboxed (1 << 62 is a heap int)
CHUNK: Final = 1 << 16  # rows converted to Python lists at a time (bounded memory on 10M-row days)
_I64: Final = np.dtype("<i8")  # the replay reads its columns as little-endian int64 bytes

_T = TypeVar("_T")

__all__ = ["BacktestConfig", "BacktestResult", "Backtester", "EventArrays", "check_sorted", "make_events"]


def make_events(ts_exch: Any, ts_local: Any, kind: Any, side: Any, price: Any, qty: Any,
                symbol: str = "BHP") -> EventArrays:
    """Canonical :class:`hft.data.format.EventArrays` of one symbol from plain columns."""
    te = np.ascontiguousarray(ts_exch, dtype=np.int64)
    return EventArrays(te, np.ascontiguousarray(ts_local, dtype=np.int64),
                       np.ascontiguousarray(kind, dtype=np.int8), np.ascontiguousarray(side, dtype=np.int8),
                       np.ascontiguousarray(price, dtype=np.int64), np.ascontiguousarray(qty, dtype=np.int64),
                       np.zeros(len(te), dtype=np.int32), [symbol])


def _columns(ev: EventArrays, c0: int, c1: int, path: str, file_rows: np.ndarray | None,
             ) -> tuple[bytes, bytes, bytes, bytes, bytes, bytes]:
    """Rows ``c0:c1`` as raw column bytes for the replay loop: ``ts_local``, ``ts_exch``, ``price``, ``qty``
    as little-endian int64 (read with ``librt.strings.read_i64_le``: a machine load in the compiled build,
    no int object per value), ``kind`` and ``side`` as one byte each. A row the loop cannot read (kind
    outside 1-4, side outside 0-2, a negative qty) is refused naming the row."""
    kind = ev.kind[c0:c1].astype(np.uint8)  # (int8 -> uint8: a negative value reads as >= 128)
    side = ev.side[c0:c1].astype(np.uint8)
    qty = ev.qty[c0:c1]
    bad = ((kind - np.uint8(1)) > 3) | (side > 2) | (qty < 0)  # kind 0 wraps to 255
    if bad.any():
        i = c0 + int(np.flatnonzero(bad)[0])
        row = i if file_rows is None else int(file_rows[i])
        raise DataError(path, f"invalid row for the replay (kind 1-4, side 0-2, qty >= 0): "
                              f"kind={int(ev.kind[i])} side={int(ev.side[i])} qty={int(ev.qty[i])}",
                        row=row, line=row + 2 if file_format(path) == "csv" else None)
    return (ev.ts_local[c0:c1].astype(_I64, copy=False).tobytes(),
            ev.ts_exch[c0:c1].astype(_I64, copy=False).tobytes(),
            ev.price[c0:c1].astype(_I64, copy=False).tobytes(), qty.astype(_I64, copy=False).tobytes(),
            kind.tobytes(), side.tobytes())


def check_sorted(ev: EventArrays, path: str = "<events>", file_rows: np.ndarray | None = None) -> None:
    """Refuse events whose timestamps go backwards (exchange or local), naming the first bad row."""
    for name in ("ts_local", "ts_exch"):
        a = getattr(ev, name)
        if len(a) > 1:
            bad = np.flatnonzero(np.diff(a) < 0)
            if len(bad):
                i = int(bad[0]) + 1
                row = i if file_rows is None else int(file_rows[i])
                raise DataError(path, f"{name} not sorted: {int(a[i])} is before the previous row's "
                                      f"{int(a[i - 1])}", row=row,
                                line=row + 2 if file_format(path) == "csv" else None)


def load_latencies(path: str) -> list[int]:
    """Latency samples in ns from a text file (one non-negative integer per line; blank and '#' lines
    skipped); a bad line raises ValueError naming the file and line."""
    out: list[int] = []
    with open(path) as fh:
        for n, line in enumerate(fh, 1):
            t = line.split("#", 1)[0].strip()
            if not t:
                continue
            try:
                v = int(t)
            except ValueError:
                raise ValueError(f"{path} line {n}: {t!r} is not an integer latency in ns") from None
            if v < 0:
                raise ValueError(f"{path} line {n}: negative latency {v}")
            out.append(v)
    if not out:
        raise ValueError(f"{path}: no latency samples")
    return out


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    instrument: str = "BHP"
    entry_latency_ns: int = 200_000
    response_latency_ns: int = 200_000
    latency_jitter_ns: int = 0
    # measured latencies (text file, one integer ns per line, '#' comments): when set, each order/answer
    # draws one sample at random (seeded) instead of the constant + jitter
    entry_latency_file: str = ""
    response_latency_file: str = ""
    seed: int = 1
    queue_power: float = 3.0
    book_depth: int = 20
    record_every_ns: int = 60_000_000_000  # equity sample period (per minute)

    def __post_init__(self) -> None:
        for k in ("entry_latency_ns", "response_latency_ns", "latency_jitter_ns"):
            if getattr(self, k) < 0:
                raise ValueError(f"backtest.{k}: must be >= 0, got {getattr(self, k)}")
        if self.queue_power < 0:
            raise ValueError(f"backtest.queue_power: must be >= 0, got {self.queue_power}")
        if self.book_depth < 1 or self.record_every_ns < 1:
            raise ValueError("backtest.book_depth and backtest.record_every_ns must be positive")


class _OpenView(OpenOrderSource):
    """The backtester's open orders as the risk manager reads them, without a list copy per check (the
    strategy-facing ``open_orders`` returns a fresh list)."""

    __slots__ = ("_inst", "_open")

    def __init__(self, open_orders: dict[str, Order], instrument: str) -> None:
        self._open = open_orders
        self._inst = instrument

    def open_orders(self, instrument: str | None = None) -> Iterable[Order]:
        if instrument is None or instrument == self._inst:
            return self._open.values()
        return ()

    def open_dict(self, instrument: str) -> dict[str, Order]:
        """The risk manager's preferred form: the dict itself (read only)."""
        return self._open if instrument == self._inst else {}  # (risk refuses other instruments first)

    def open_count(self) -> int:
        """Open orders, all instruments (the risk manager's open-order limit; no iteration)."""
        return len(self._open)


_NO_REST = frozenset((TimeInForce.IOC, TimeInForce.FOK))  # time in force whose remainder is cancelled


class _Msg:
    """An order message in flight: to the exchange (``_pending``, exchange time) or back to the strategy
    (``_answers``, local time). ``new`` is the replacement order of a replace and its answers."""

    __slots__ = ("extra", "kind", "new", "order", "seq", "t")

    def __init__(self, t: int, seq: int, kind: int, order: Order, extra: Any, new: Order | None) -> None:
        self.t = t
        self.seq = seq  # unique: ties in time go in sending order
        self.kind = kind
        self.order = order
        self.extra = extra
        self.new = new


def _hpush(a: list[_Msg], m: _Msg) -> None:
    """Push onto the binary min-heap ``a`` ordered by (t, seq) (heapq's order for these keys, without a
    tuple per message and a generic call)."""
    a.append(m)
    i = len(a) - 1
    t = m.t
    while i > 0:
        j = (i - 1) >> 1
        up = a[j]
        if up.t < t or (up.t == t and up.seq < m.seq):
            break
        a[i] = up
        i = j
    a[i] = m


def _hpop(a: list[_Msg]) -> _Msg:
    """Remove and return the least (t, seq) message of the non-empty heap ``a``."""
    last = a.pop()
    n = len(a)
    if n == 0:
        return last
    top = a[0]
    t = last.t
    i = 0
    c = 1
    while c < n:
        ch = a[c]
        if c + 1 < n:
            c2 = a[c + 1]
            if c2.t < ch.t or (c2.t == ch.t and c2.seq < ch.seq):
                c += 1
                ch = c2
        if t < ch.t or (t == ch.t and last.seq < ch.seq):
            break
        a[i] = ch
        i = c
        c = 2 * i + 1
    a[i] = last
    return top


class _Live:
    """Exchange-side state of one of our orders."""

    __slots__ = ("ahead", "leaves", "order", "price", "resting", "side", "trade_qty", "value")

    def __init__(self, order: Order, side: int, price: int, leaves: int, value: int = 0) -> None:
        self.order = order  # the strategy's object (its fields change only when answers arrive)
        self.side = side
        self.price = price
        self.leaves = leaves
        self.value = value  # filled value (price units x qty), for the per-order fee minimum
        self.ahead = 0.0
        self.trade_qty = 0  # queue advance by trades since the last level update at our price
        self.resting = False


def _take(d: dict[str, _T], key: str) -> _T | None:
    """``d.pop(key, None)`` as native dict operations (the compiled build has no dict.pop primitive: a
    generic method call)."""
    v = d.get(key)
    if v is not None:
        del d[key]
    return v


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
    refusals: dict[str, int] = field(default_factory=dict)  # risk reason text -> count
    cancels_sent: int = 0
    kill_switch: str = ""  # reason, when the kill switch tripped
    book_errors: int = 0  # level updates the book found inconsistent (delete of an unknown level)
    events: int = 0
    strategy_calls: int = 0
    wall_s: float = 0.0
    final_mid2: int = 0
    first_ts: int = 0
    last_ts: int = 0


class Backtester(StrategyContext):
    """Replays ``events`` through a strategy built by ``make(ctx)``; implements :class:`StrategyContext`.

    ``risk`` are the paper engine's :class:`RiskLimits` (default limits when None); ``bt.risk`` is the
    :class:`RiskManager` and ``bt.positions`` its :class:`PositionTracker`.
    """

    def __init__(self, events: EventArrays, make: Callable[[StrategyContext], Strategy],
                 config: BacktestConfig | None = None, fees: FeeModel | None = None,
                 risk: RiskLimits | None = None, path: str = "<events>",
                 file_rows: np.ndarray | None = None) -> None:
        if len(events.symbols) > 1:
            raise DataError(path, f"{len(events.symbols)} symbols ({', '.join(events.symbols)}): the "
                                  "backtester replays one instrument; select one first")
        self.path = path
        self.file_rows = file_rows  # row i of ``events`` is row file_rows[i] of the file (errors name it)
        check_sorted(events, path, file_rows)
        self.ev = events
        self.cfg = config or BacktestConfig()
        self.fees = fees if fees is not None else IbkrAsxFixed()
        self.inst = self.cfg.instrument
        self._book = L2Book(self.inst, depth=self.cfg.book_depth)
        self._rng = random.Random(self.cfg.seed)
        self._qpow: float = float(self.cfg.queue_power)
        c = self.cfg
        self._entry_samples = load_latencies(c.entry_latency_file) if c.entry_latency_file else None
        self._resp_samples = load_latencies(c.response_latency_file) if c.response_latency_file else None
        self._now = 0
        self._te = 0
        self._seq = 0
        self._ids = 0
        self._pending: list[_Msg] = []  # heap by (exchange time, seq): kind 0 new, 1 cancel, 2 replace
        self._answers: list[_Msg] = []  # heap by (local time, seq): kinds in _deliver
        self._live: dict[str, _Live] = {}  # exchange-side live orders by cl_ord_id
        self._open: dict[str, Order] = {}  # strategy-side open orders
        self._pos = 0  # position as the strategy knows it (updated when fills arrive)
        self._timer_ns = 0
        self._next_timer = _NEVER
        self._next_sample = _NEVER
        self._due_e = _NEVER  # earliest exchange-time work: pending order, sample
        self._due_l = _NEVER  # earliest local-time work: answer, timer
        # our resting prices, for the replay loop's "does this event concern us" test
        self._wbid: dict[int, list[_Live]] = {}  # price -> our resting orders there (in _live order)
        self._wask: dict[int, list[_Live]] = {}
        self._bid_hi = 0  # highest and lowest price of our resting bids (0 and _NEVER when none)
        self._bid_lo = _NEVER
        self._ask_lo = _NEVER  # lowest and highest of our resting asks (_NEVER and 0 when none)
        self._ask_hi = 0
        self.res = BacktestResult()
        self._cash = 0  # exchange-side, price units
        self._xpos = 0  # exchange-side position
        self._fee_total = 0
        self.positions = PositionTracker(self.fees)
        # constant latencies (no jitter, no samples) skip the draw
        self._ent_ns = c.entry_latency_ns if not c.latency_jitter_ns and self._entry_samples is None else -1
        self._resp_ns = (c.response_latency_ns if not c.latency_jitter_ns and self._resp_samples is None
                         else -1)
        self.risk = RiskManager(risk if risk is not None else RiskLimits(), self.positions,
                                _OpenView(self._open, self.inst),
                                books={self.inst: self._book}, on_trip=self._on_trip)
        self.strategy = make(self)
        self._depth_interest = int(getattr(self.strategy, "book_depth", 0))
        self._wants_trades = type(self.strategy).on_trade is not Strategy.on_trade

    # ------------------------------------------------------------------ StrategyContext
    def now(self) -> int:
        return self._now

    def _lat(self, base: int, samples: list[int] | None) -> int:
        if samples is not None:
            return samples[self._rng.randrange(len(samples))]
        j = self.cfg.latency_jitter_ns
        return base + (self._rng.randrange(j + 1) if j else 0)

    def _refuse(self, code: int) -> None:
        r = self.res
        r.orders_refused += 1
        t = reason_text(code)
        r.refusals[t] = r.refusals.get(t, 0) + 1

    def _send(self, instrument: str, side: Side, price: int, qty: int, tif: TimeInForce, ord_type: OrdType,
              tag: str) -> Order | None:
        code = self.risk.check(instrument, side, price, qty, ord_type, self._now)
        if code != ACCEPTED:
            self._refuse(code)
            return None
        self._ids += 1
        o = Order(f"B{self._ids}", instrument, side, price, qty, tif, ord_type, OrdStatus.PENDING_NEW,
                  created_ns=self._now, updated_ns=self._now, tag=tag)
        self._open[o.cl_ord_id] = o
        self.res.orders_sent += 1
        self.res.qty_sent += qty
        self._push(0, o, None)
        return o

    def _push(self, action: int, o: Order, extra: Any, new: Order | None = None) -> None:
        self._seq += 1
        lat = self._ent_ns
        t = self._now + (lat if lat >= 0 else self._lat(self.cfg.entry_latency_ns, self._entry_samples))
        _hpush(self._pending, _Msg(t, self._seq, action, o, extra, new))
        if t < self._due_e:
            self._due_e = t

    def buy(self, instrument: str, price: int, qty: int, tif: TimeInForce = TimeInForce.DAY,
            ord_type: OrdType = OrdType.LIMIT, tag: str = "") -> Order | None:
        return self._send(instrument, Side.BUY, price, qty, tif, ord_type, tag)

    def sell(self, instrument: str, price: int, qty: int, tif: TimeInForce = TimeInForce.DAY,
             ord_type: OrdType = OrdType.LIMIT, tag: str = "") -> Order | None:
        return self._send(instrument, Side.SELL, price, qty, tif, ord_type, tag)

    def cancel(self, order: Order) -> bool:
        st = order.status
        if not amendable(st):
            return False
        order.status = OrdStatus.PENDING_CANCEL
        self.res.cancels_sent += 1
        self._push(1, order, st)
        return True

    def replace(self, order: Order, price: int | None = None, qty: int | None = None) -> Order | None:
        st = order.status
        if not amendable(st):  # terminal, or a cancel/replace already in flight
            return None
        price = order.price if price is None else price
        qty = order.qty if qty is None else qty
        if qty <= order.cum_qty:
            self._refuse(3)  # BAD_QTY: nothing left to work
            return None
        # the same call the paper engine makes (the order being replaced still counts as open)
        code = self.risk.check(order.instrument, order.side, price, qty - order.cum_qty, order.ord_type,
                               self._now)
        if code != ACCEPTED:
            self._refuse(code)
            return None
        self._ids += 1
        new = Order(f"B{self._ids}", order.instrument, order.side, price, qty, order.tif, order.ord_type,
                    OrdStatus.PENDING_REPLACE, cum_qty=order.cum_qty, avg_px_num=order.avg_px_num,
                    orig_cl_ord_id=order.cl_ord_id, created_ns=self._now, updated_ns=self._now, tag=order.tag)
        order.status = OrdStatus.PENDING_REPLACE
        self._open[new.cl_ord_id] = new
        self.res.orders_sent += 1
        self.res.qty_sent += qty - order.cum_qty
        self._push(2, order, st, new)
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
        if instrument is None or instrument == self.inst:  # one instrument per backtest
            return list(self._open.values())
        return []

    def set_timer(self, interval_ns: int) -> None:
        self._timer_ns = interval_ns
        self._next_timer = self._now + interval_ns if interval_ns > 0 else _NEVER
        if self._next_timer < self._due_l:
            self._due_l = self._next_timer

    def _on_trip(self, reason: str) -> None:
        self.res.kill_switch = reason
        self.cancel_all()

    # ------------------------------------------------------------------ exchange side
    def _answer(self, kind: int, o: Order, extra: Any, new: Order | None = None) -> None:
        self._seq += 1
        lat = self._resp_ns
        t = self._te + (lat if lat >= 0 else self._lat(self.cfg.response_latency_ns, self._resp_samples))
        _hpush(self._answers, _Msg(t, self._seq, kind, o, extra, new))
        if t < self._due_l:
            self._due_l = t

    def _watch(self, lv: _Live) -> None:
        """``lv`` now rests: add it to the watched prices (the replay loop's "does this event concern us")."""
        px = lv.price
        if lv.side == 1:
            d = self._wbid
            if px > self._bid_hi:
                self._bid_hi = px
            if px < self._bid_lo:
                self._bid_lo = px
        else:
            d = self._wask
            if px < self._ask_lo:
                self._ask_lo = px
            if px > self._ask_hi:
                self._ask_hi = px
        at = d.get(px)
        if at is None:
            d[px] = [lv]
        else:
            at.append(lv)  # (resting order, as in _live)

    def _unwatch(self, lv: _Live) -> None:
        """``lv`` no longer rests (filled, cancelled, replaced): remove it from the watched prices."""
        px = lv.price
        d = self._wbid if lv.side == 1 else self._wask
        at = d.get(px)
        if at is None:
            return
        for k in range(len(at)):
            if at[k] is lv:
                del at[k]
                break
        if at:
            return
        del d[px]  # the last of ours at this price: the price range may shrink
        hi = 0
        lo = _NEVER
        for q in d:
            if q > hi:
                hi = q
            if q < lo:
                lo = q
        if lv.side == 1:
            self._bid_hi = hi
            self._bid_lo = lo
        else:
            self._ask_lo = lo
            self._ask_hi = hi

    def _fill(self, lv: _Live, price: int, qty: int, maker: bool) -> None:
        fee = self.fees.fill_fee(lv.value, price * qty)
        lv.value += price * qty
        lv.leaves -= qty
        o = lv.order
        sign = 1 if lv.side == 1 else -1
        self._xpos += sign * qty
        self._cash -= sign * price * qty
        self._fee_total += fee
        side = Side.BUY if lv.side == 1 else Side.SELL  # (not Side(lv.side): an interpreted enum call)
        f = Fill(o.cl_ord_id, o.instrument, side, price, qty, fee, self._te, f"E{len(self.res.fills) + 1}",
                 "A" if maker else "R")
        self.res.fills.append(f)
        self.res.fill_maker.append(maker)
        self._answer(3, o, f)
        if lv.leaves == 0 and _take(self._live, o.cl_ord_id) is not None and lv.resting:
            self._unwatch(lv)

    def _arrive(self, lv: _Live) -> None:
        """An order reaches the exchange: take what crosses, then rest and be watched (or cancel the IOC
        remainder)."""
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
        if o.tif in _NO_REST or o.ord_type is OrdType.MARKET:
            self._answer(4, o, None)  # remainder cancelled
            return
        lv.resting = True
        # the level's quantity (b.qty_at without its Python loop: the lists hold 0 past the last level and
        # our price is positive)
        px = lv.price
        if lv.side == 1:
            lst = b.bid_px
            lv.ahead = float(b.bid_qty[lst.index(px)]) if px in lst else 0.0
        else:
            lst = b.ask_px
            lv.ahead = float(b.ask_qty[lst.index(px)]) if px in lst else 0.0
        lv.trade_qty = 0
        self._live[o.cl_ord_id] = lv
        self._watch(lv)

    def _process_pending(self, te: int) -> None:
        pend = self._pending
        while pend and pend[0].t <= te:
            m = _hpop(pend)
            self._te = m.t
            action = m.kind
            o = m.order
            extra = m.extra
            if action == 0:  # new order
                self._answer(0, o, None)
                self._arrive(_Live(o, 1 if o.side is Side.BUY else 2, o.price, o.qty))
            elif action == 1:  # cancel
                lv = _take(self._live, o.cl_ord_id)
                self._answer(4 if lv is not None else 5, o, extra)
                if lv is not None and lv.resting:
                    self._unwatch(lv)
            else:  # replace
                new = m.new
                assert new is not None  # (a replace carries its new order)
                lv = self._live.get(o.cl_ord_id)
                ex_cum = o.qty - lv.leaves if lv is not None else 0
                if lv is None or new.qty <= ex_cum:
                    self._answer(6, o, extra, new)  # extra: the status to go back to
                    continue
                del self._live[o.cl_ord_id]
                if lv.resting:
                    self._unwatch(lv)
                nl = _Live(new, lv.side, new.price, new.qty - ex_cum, lv.value)
                self._answer(7, o, None, new)
                if new.price == lv.price and nl.leaves <= lv.leaves:
                    nl.ahead, nl.trade_qty, nl.resting = lv.ahead, lv.trade_qty, True  # keeps its place
                    self._live[new.cl_ord_id] = nl
                    self._watch(nl)
                else:
                    self._arrive(nl)  # (watched when it rests)

    def _deliver(self, tl: int) -> None:
        ans = self._answers
        strat = self.strategy
        while ans and ans[0].t <= tl:
            m = _hpop(ans)
            t = m.t
            kind = m.kind
            o = m.order
            extra = m.extra
            self._now = t
            if kind == 3:  # fill
                f: Fill = extra
                o.cum_qty += f.qty
                o.avg_px_num += f.price * f.qty
                self._pos += f.qty if f.side is Side.BUY else -f.qty
                if o.cum_qty >= o.qty:
                    o.status = OrdStatus.FILLED
                    _take(self._open, o.cl_ord_id)
                elif o.status is OrdStatus.NEW or o.status is OrdStatus.PENDING_NEW:
                    o.status = OrdStatus.PARTIALLY_FILLED
                o.updated_ns = t
                pt = self.positions
                pt.on_fill(f)
                m2 = self._book.mid_x2()
                if m2:
                    pt.mark(self.inst, m2 // 2)
                self.risk.on_pnl(t)
                strat.on_fill(f)
                strat.on_order_update(o)
                continue
            if kind == 0:  # ack
                if o.status is OrdStatus.PENDING_NEW:
                    o.status = OrdStatus.NEW
            elif kind == 4:  # cancelled (by request or IOC remainder)
                if not terminal(o.status):
                    o.status = OrdStatus.CANCELED
                    _take(self._open, o.cl_ord_id)
            elif kind == 5:  # cancel reject: the order had already finished
                if o.status is OrdStatus.PENDING_CANCEL:
                    o.status = extra if o.cum_qty < o.qty else OrdStatus.FILLED
            elif kind == 6:  # replace reject
                nw = m.new
                assert nw is not None
                prev = extra
                nw.status = OrdStatus.REJECTED
                nw.reject_reason = "too late to replace"
                _take(self._open, nw.cl_ord_id)
                if o.status is OrdStatus.PENDING_REPLACE:
                    o.status = prev if o.cum_qty < o.qty else OrdStatus.FILLED
                strat.on_order_update(nw)
            elif kind == 7:  # replaced
                nw = m.new
                assert nw is not None
                o.status = OrdStatus.REPLACED
                _take(self._open, o.cl_ord_id)
                nw.status = OrdStatus.NEW if nw.cum_qty == o.cum_qty else OrdStatus.PARTIALLY_FILLED
                if o.cum_qty > nw.cum_qty:
                    nw.cum_qty = o.cum_qty
                strat.on_order_update(nw)
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

    def _on_queue(self, lvs: list[_Live], prev: int, new: int) -> None:
        """The level where our orders ``lvs`` rest changed from ``prev`` to ``new``: queue positions."""
        for lv in lvs:
            chg = prev - new - lv.trade_qty
            lv.trade_qty = 0
            if chg <= 0:
                if new < lv.ahead:
                    lv.ahead = float(new)
                continue
            # float arithmetic written out (math.pow is the C pow that float ** float calls; the compiled
            # build does mixed int/float operators and ** generically)
            fchg = float(chg)
            front: float = lv.ahead
            back = float(prev) - front
            if back < 0.0:
                back = 0.0
            n = self._qpow
            fb = math.pow(back, n)
            ff = math.pow(front, n)
            p = fb / (fb + ff) if fb + ff > 0.0 else 1.0
            rest = back - p * fchg
            est = front - (1.0 - p) * fchg + (rest if rest < 0.0 else 0.0)
            lv.ahead = 0.0 if est < 0.0 else (est if est < new else float(new))

    def _on_cross(self, side: int, price: int, new: int) -> None:
        """A level of ``side`` now quotes at or through the price of our orders on the other side: we
        would have been hit (filled at our price for up to that level's quantity)."""
        if new <= 0:
            return
        for lv in tuple(self._live.values()):
            if lv.side != side and lv.resting and (price <= lv.price if side == 2 else price >= lv.price):
                self._fill(lv, lv.price, min(lv.leaves, new), True)

    # ------------------------------------------------------------------ due work
    def _exch_due(self, te: int) -> None:
        """Orders reaching the exchange by ``te`` and the periodic sample (exchange time)."""
        pend = self._pending
        if pend and pend[0].t <= te:
            self._process_pending(te)
        if te >= self._next_sample:
            self._sample(self._next_sample)
            period = self.cfg.record_every_ns
            self._next_sample = (te // period + 1) * period
        self._refresh_due()

    def _local_due(self, tl: int) -> None:
        """Answers reaching the strategy by ``tl`` and its timer (local time)."""
        ans = self._answers
        if ans and ans[0].t <= tl:
            self._deliver(tl)
        if tl >= self._next_timer:
            self._next_timer = tl + self._timer_ns
            self._now = tl
            self.strategy.on_timer(tl)
        self._refresh_due()

    def _refresh_due(self) -> None:
        e = self._pending[0].t if self._pending else _NEVER
        self._due_e = e if e < self._next_sample else self._next_sample
        a = self._answers[0].t if self._answers else _NEVER
        self._due_l = a if a < self._next_timer else self._next_timer

    def _sample(self, ts: int) -> None:
        r = self.res
        r.samples_ts.append(ts)
        r.samples_mid2.append(self._book.mid_x2())
        r.samples_pos.append(self._xpos)
        r.samples_cash.append(self._cash)
        r.samples_fees.append(self._fee_total)

    def _mark(self) -> None:
        m2 = self._book.mid_x2()
        if m2 and self._pos:
            self.positions.mark(self.inst, m2 // 2)
            self.risk.on_pnl(self._now)

    def _book_error(self, row: int, s: int, p: int, q: int) -> None:
        b = self._book
        r = row if self.file_rows is None else int(self.file_rows[row])
        if b.stale_reason == "crossed":
            raise DataError(self.path, f"crossed book after level update side={s} price={p} qty={q}: "
                                       f"best bid {b.best_bid()} >= best ask {b.best_ask()}",
                            row=r, line=r + 2 if file_format(self.path) == "csv" else None)
        self.res.book_errors += 1  # e.g. delete of a level we never saw: counted, replay goes on
        b.stale = False
        b.stale_reason = ""

    # ------------------------------------------------------------------ main loop
    def run(self, progress: Callable[[int], None] | None = None) -> BacktestResult:
        ev = self.ev
        n = len(ev)
        book = self._book
        bpx, bqt, apx, aqt = book.bid_px, book.bid_qty, book.ask_px, book.ask_qty
        strat = self.strategy
        depth = self._depth_interest
        dm1 = depth - 1
        wants_trades = self._wants_trades
        inst = self.inst
        risk_trade = self.risk.last_trade
        res = self.res
        calls = 0
        t0 = time.perf_counter()
        first_te = int(ev.ts_exch[0]) if n else 0
        period = self.cfg.record_every_ns
        self._next_sample = (first_te // period + 1) * period if n else _NEVER
        self._now = int(ev.ts_local[0]) if n else 0
        self._te = first_te
        strat.on_start()
        self._refresh_due()
        res.first_ts = first_te
        if n:
            self._sample(first_te)  # equity starts at 0 at the first event
        in_snapshot = False
        dirty = False  # the strategy has a book change to see at the end of this timestamp
        mid2 = 0  # mid when the position was last marked
        last_tl = self._now
        # local copies of the due times and watched price ranges, re-read after every call that may change
        # them
        due_e = self._due_e
        due_l = self._due_l
        bid_hi = self._bid_hi
        bid_lo = self._bid_lo
        ask_lo = self._ask_lo
        ask_hi = self._ask_hi
        wbid = self._wbid  # (the same dicts for the whole run: _watch/_unwatch change them in place)
        wask = self._wask
        cap = len(bpx)  # the book's lists hold 0 past its last level (prices are positive)
        for c0 in range(0, n, CHUNK):
            c1 = min(n, c0 + CHUNK)
            # raw column bytes (see _columns): the compiled loop loads each value as a machine integer
            btl, bte, bpx_, bq_, bk, bs = _columns(ev, c0, c1, self.path, self.file_rows)
            nr = c1 - c0
            for r in range(nr):
                o = r * 8
                tl: int = read_i64_le(btl, o)
                te: int = read_i64_le(bte, o)
                k: int = bk[r]
                s: int = bs[r]
                p: int = read_i64_le(bpx_, o)
                q: int = read_i64_le(bq_, o)
                if tl != last_tl:
                    if dirty:  # the previous timestamp's message is complete: show it to the strategy
                        dirty = False
                        self._now = last_tl
                        calls += 1
                        strat.on_book(inst, book)  # (method-table call; a bound-method local is generic)
                        m = bpx[0] + apx[0]
                        if m != mid2:
                            mid2 = m
                            self._mark()
                        due_e = self._due_e  # the strategy may have sent orders (and moved them)
                        due_l = self._due_l
                    last_tl = tl
                if te >= due_e or tl >= due_l:
                    if te >= due_e:
                        self._exch_due(te)
                    if tl >= self._due_l:
                        self._local_due(tl)
                    due_e = self._due_e
                    due_l = self._due_l
                    bid_hi = self._bid_hi
                    bid_lo = self._bid_lo
                    ask_lo = self._ask_lo
                    ask_hi = self._ask_hi
                if k == 1:
                    if s == 1:
                        j = 0  # bids: descending, then zeros
                        while j < cap and bpx[j] > p:
                            j += 1
                        if j < cap and bpx[j] == p:  # a level we hold: size change in place, or delete
                            prev = bqt[j]
                            if q > 0:
                                bqt[j] = q
                            elif not book.set_level(1, p, 0, te):
                                self._book_error(c0 + r, s, p, q)
                            touched = depth == 0 or (j <= dm1 and q != prev)
                        else:  # a new level (or the delete of one we never saw)
                            prev = 0
                            if depth == 1:
                                touched = q > 0 and p > bpx[0]
                            else:
                                touched = depth == 0 or (q > 0 and (book.n_bids <= dm1 or p > bpx[dm1]))
                            if not book.set_level(1, p, q, te):
                                self._book_error(c0 + r, s, p, q)
                        if bid_lo <= p <= bid_hi:  # (a dict lookup only inside our bids' price range)
                            lvs = wbid.get(p)
                            if lvs is not None:  # our bids rest at this level: queue positions
                                self._on_queue(lvs, prev, q)
                        if p >= ask_lo:  # at or through our ask: it is hit
                            self._te = te
                            self._now = tl
                            self._on_cross(1, p, q)
                            due_l = self._due_l  # fills answer; filled orders stop being watched
                            bid_hi = self._bid_hi
                            bid_lo = self._bid_lo
                            ask_lo = self._ask_lo
                            ask_hi = self._ask_hi
                    else:
                        j = 0  # asks: ascending, then zeros
                        while j < cap and 0 < apx[j] < p:
                            j += 1
                        if j < cap and apx[j] == p:
                            prev = aqt[j]
                            if q > 0:
                                aqt[j] = q
                            elif not book.set_level(2, p, 0, te):
                                self._book_error(c0 + r, s, p, q)
                            touched = depth == 0 or (j <= dm1 and q != prev)
                        else:
                            prev = 0
                            if depth == 1:
                                a0 = apx[0]
                                touched = q > 0 and (a0 == 0 or p < a0)
                            else:
                                touched = depth == 0 or (q > 0 and (book.n_asks <= dm1 or p < apx[dm1]))
                            if not book.set_level(2, p, q, te):
                                self._book_error(c0 + r, s, p, q)
                        if ask_lo <= p <= ask_hi:
                            lvs = wask.get(p)
                            if lvs is not None:
                                self._on_queue(lvs, prev, q)
                        if p <= bid_hi:
                            self._te = te
                            self._now = tl
                            self._on_cross(2, p, q)
                            due_l = self._due_l
                            bid_hi = self._bid_hi
                            bid_lo = self._bid_lo
                            ask_lo = self._ask_lo
                            ask_hi = self._ask_hi
                    if touched and not in_snapshot:
                        dirty = True
                elif k == 2:
                    risk_trade[inst] = p
                    if (s != 1 and p <= bid_hi) or (s != 2 and p >= ask_lo):
                        self._te = te
                        self._now = tl
                        self._on_trade(p, q, s)
                    if wants_trades:
                        self._now = tl
                        aggr = Side.BUY if s == 1 else (Side.SELL if s == 2 else None)
                        strat.on_trade(Trade(inst, p, q, tl, aggr))
                    due_e = self._due_e
                    due_l = self._due_l
                    bid_hi = self._bid_hi
                    bid_lo = self._bid_lo
                    ask_lo = self._ask_lo
                    ask_hi = self._ask_hi
                elif k == 3:
                    book.clear()
                    in_snapshot = True
                elif k == 4:
                    in_snapshot = False
                    dirty = True
            if progress is not None:
                progress(c1)
        if dirty:
            self._now = last_tl
            calls += 1
            strat.on_book(inst, book)
        # drain what is in flight after the last event
        last_te = int(ev.ts_exch[-1]) if n else 0
        c = self.cfg
        worst = max(c.entry_latency_ns + c.latency_jitter_ns, max(self._entry_samples or [0]))
        worst_r = max(c.response_latency_ns + c.latency_jitter_ns, max(self._resp_samples or [0]))
        end = last_te + 10 * (worst + worst_r + 1)
        self._now = last_tl
        strat.on_stop()
        self._te = end
        self._process_pending(end)
        self._deliver(end + worst_r + 1)
        self._sample(last_te)
        res.events = n
        res.strategy_calls = calls
        res.wall_s = time.perf_counter() - t0
        res.final_mid2 = book.mid_x2()
        res.last_ts = last_te
        if progress is not None:
            progress(n)
        return res
