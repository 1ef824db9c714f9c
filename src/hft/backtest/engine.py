"""Event-driven backtester: replays canonical L2 events through a strategy with a simulated exchange.

Model (details, assumptions and measured speed in docs/backtest.md):

* one timeline: every message is handled in timestamp order through one merged queue: a market event
  at the exchange (``ts_exch``: matching, queue positions, our fills), the same event reaching the
  strategy (its local time: ``ts_local`` from the data, or ``ts_exch`` + a feed latency model), an order
  reaching the exchange (sent at local ``t``, arrives at ``t + entry latency``), an answer reaching the
  strategy (``response latency`` after the exchange produced it) and timers. Ties: exchange events, then
  order arrivals, answers, timers, then the local market event. No clock runs backwards. Equity samples
  are taken every ``record_every_ns`` of exchange time, before the first exchange event at or after it.
  The exchange and the strategy keep separate books (the exchange's is ahead by the feed latency, and is
  depleted by our own taking).
* resting orders join the back of their level's queue (``ahead`` = the level's visible quantity on
  arrival; a price behind the visible levels has an unknown queue: ``unknown_queue = "back"`` puts us
  behind all of it until the level is seen). Trades at the price reduce ``ahead``, trades through the
  price fill us; level decreases not explained by trades move us forward by the power probability queue
  model (``queue_power`` n): ``p = back^n / (back^n + front^n)``, ``front' = front - (1 - p) chg +
  min(back - p chg, 0)``; a level that disappears (emptied or left a top-N view) keeps our place.
* one print fills our orders at most its size (best price first, then queue position); an order that
  crosses the book on arrival walks the opposite levels up to its limit (partial fills, taker) and
  depletes them in the exchange's book until the data next updates that level; IOC / market
  remainders are cancelled, DAY remainders rest.
* fees: :mod:`hft.asx.fees` per order (minimum per order; each fill charged the increment), as the
  engine's order manager does.
* every order and replace passes :class:`hft.engine.risk.RiskManager` (the paper/live pre-trade checks
  and kill switch) with a :class:`hft.engine.positions.PositionTracker` fed by the fills the strategy
  has been told about.
* the strategy is called like the paper engine calls it: ``on_book`` once per market data message
  (events sharing a local time are one message) that updated the book, whatever level changed.
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

from hft.asx.fees import FeeModel, IbkrAsxFixed, ZeroFees
from hft.backtest.fees import FEE_MODELS, PerShare, build_fee_model
from hft.book.l2 import L2Book
from hft.data.format import DataError, EventArrays, file_format
from hft.engine.positions import PositionTracker
from hft.engine.risk import ACCEPTED, OpenOrderSource, RiskLimits, RiskManager, reason_text
from hft.engine.strategy import Strategy, StrategyContext
from hft.model.types import Fill, Order, OrdStatus, OrdType, Side, TimeInForce, Trade, amendable, terminal

K_LEVEL, K_TRADE, K_SNAP_START, K_SNAP_END = 1, 2, 3, 4
_NEVER: Final = (1 << 62) - 1  # the largest int the compiled build keeps unboxed (1 << 62 is a heap int)
CHUNK: Final = 1 << 16  # rows converted to Python lists at a time (bounded memory on 10M-row days)
_I64: Final = np.dtype("<i8")  # the replay reads its columns as little-endian int64 bytes
_UNKNOWN: Final = math.inf  # queue ahead of an order whose level's size is not known
FEED_TIMES: Final = ("auto", "data", "model")
UNKNOWN_QUEUE: Final = ("back",)
# how a decrease of our level that trades do not explain (cancels) moves us: the probability p that it was
# behind us is f(back) / (f(back) + f(front)) with f(x) = x^queue_power ("prob_power") or log(1 + x)
# ("prob_log"); "risk_averse": cancels are never ahead of us (only prints move us forward)
QUEUE_MODELS: Final = ("prob_power", "prob_log", "risk_averse")

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


def _columns(ev: EventArrays, tl: np.ndarray, c0: int, c1: int, path: str, file_rows: np.ndarray | None,
             ) -> tuple[bytes, bytes, bytes, bytes, bytes, bytes]:
    """Rows ``c0:c1`` as raw column bytes for the replay loop: local time (``tl``), ``ts_exch``, ``price``,
    ``qty`` as little-endian int64 (read with ``librt.strings.read_i64_le``: a machine load in the compiled
    build, no int object per value), ``kind`` and ``side`` as one byte each. A row the loop cannot read (kind
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
    return (tl[c0:c1].astype(_I64, copy=False).tobytes(),
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


def local_times(ev: EventArrays, cfg: BacktestConfig) -> np.ndarray:
    """When the strategy receives each row (int64 ns), by ``cfg.feed_time``: the file's ``ts_local``
    (``data``) or ``ts_exch`` + a feed latency drawn once per message (rows sharing ``ts_exch``) from the
    constant + uniform jitter or the sample file, seeded (``model``). Data is never seen before the
    exchange produced it (``max(local, ts_exch)``) and arrives in order (a feed is a stream: a message
    delayed by jitter holds back the ones behind it)."""
    te = ev.ts_exch
    n = len(te)
    mode = cfg.feed_time
    if mode == "auto":
        mode = "model" if ev.metadata.get("hft.local_time") == "exchange" else "data"
    if mode == "data" or n == 0:
        tl = np.maximum(ev.ts_local, te)
    else:
        starts = np.flatnonzero(np.r_[True, te[1:] != te[:-1]])
        m = len(starts)
        rng = np.random.default_rng(cfg.seed)
        if cfg.feed_latency_file:
            samples = np.asarray(load_latencies(cfg.feed_latency_file), dtype=np.int64)
            lat = samples[rng.integers(0, len(samples), m)]
        else:
            lat = np.full(m, cfg.feed_latency_ns, dtype=np.int64)
            if cfg.feed_latency_jitter_ns:
                lat += rng.integers(0, cfg.feed_latency_jitter_ns + 1, m)
        tl = te + np.repeat(lat, np.diff(np.r_[starts, n]))
    return np.maximum.accumulate(tl.astype(np.int64, copy=False))


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
    queue_model: str = "prob_power"
    queue_power: float = 3.0  # the exponent of prob_power
    book_depth: int = 20
    # fees: "" = the [fees] table (as in paper trading), else one of hft.backtest.fees.FEE_MODELS
    fee_model: str = ""
    fee_month_value_cents: int = 0  # ibkr_tiered: month-to-date traded value before the run
    fee_per_share_millicents: int = 0  # per_share: 1/1,000 cent a share
    fee_min_cents: int = 0  # per_share: minimum an order
    record_every_ns: int = 60_000_000_000  # equity sample period (per minute)
    # when the strategy sees market data: "data" = the file's ts_local (recorded receive times), "model" =
    # ts_exch + the feed latency below, "auto" = "model" for a file whose metadata says it has no receive
    # times (hft.local_time = "exchange", e.g. LOBSTER), else "data"
    feed_time: str = "auto"
    feed_latency_ns: int = 100_000
    feed_latency_jitter_ns: int = 0
    feed_latency_file: str = ""  # measured samples, one integer ns per line (instead of constant + jitter)
    # an order whose price is not a visible level (behind an L1 best, beyond the stored depth): "back" =
    # behind the whole level, all of it ahead of us once it is seen (never the front)
    unknown_queue: str = "back"
    # false: all or none: an order fills only for its whole remaining quantity (a print, a crossing level or
    # the visible liquidity within its limit must cover it); a print that cannot still moves the queue
    partial_fills: bool = True

    def __post_init__(self) -> None:
        for k in ("entry_latency_ns", "response_latency_ns", "latency_jitter_ns", "feed_latency_ns",
                  "feed_latency_jitter_ns", "fee_month_value_cents", "fee_per_share_millicents",
                  "fee_min_cents"):
            if getattr(self, k) < 0:
                raise ValueError(f"backtest.{k}: must be >= 0, got {getattr(self, k)}")
        if self.feed_time not in FEED_TIMES:
            raise ValueError(f"backtest.feed_time: must be one of {', '.join(FEED_TIMES)}, "
                             f"got {self.feed_time!r}")
        if self.fee_model not in FEE_MODELS:
            raise ValueError(f"backtest.fee_model: must be one of {', '.join(repr(n) for n in FEE_MODELS)}, "
                             f"got {self.fee_model!r}")
        if self.queue_model not in QUEUE_MODELS:
            raise ValueError(f"backtest.queue_model: must be one of {', '.join(QUEUE_MODELS)}, "
                             f"got {self.queue_model!r}")
        if self.unknown_queue not in UNKNOWN_QUEUE:
            raise ValueError(f"backtest.unknown_queue: must be one of {', '.join(UNKNOWN_QUEUE)} (an unknown "
                             f"queue is never modelled as the front), got {self.unknown_queue!r}")
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

    __slots__ = ("ahead", "ahead0", "leaves", "order", "price", "resting", "side", "trade_qty", "value")

    def __init__(self, order: Order, side: int, price: int, leaves: int, value: int = 0) -> None:
        self.order = order  # the strategy's object (its fields change only when answers arrive)
        self.side = side
        self.price = price
        self.leaves = leaves
        self.value = value  # filled value (price units x qty), for the per-order fee minimum
        self.ahead = 0.0
        self.ahead0 = -1.0  # queue ahead when it started resting (-1: unknown)
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
    fill_ahead: list[float] = field(default_factory=list)  # maker fills: queue ahead at arrival (-1: unknown)
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


def _level(book: L2Book, side: int, p: int, q: int, ts: int) -> int:
    """Set the level (``side``, ``p``) of ``book`` to ``q`` (0 deletes); returns its previous quantity (0
    when it was not held), or -1 when the book found the update inconsistent (``book.stale_reason``). A size
    change of a held level is done in place (no call)."""
    if side == 1:
        px = book.bid_px
        qt = book.bid_qty
        cap = len(px)
        j = 0  # bids: descending, then zeros
        while j < cap and px[j] > p:
            j += 1
    else:
        px = book.ask_px
        qt = book.ask_qty
        cap = len(px)
        j = 0  # asks: ascending, then zeros
        while j < cap and 0 < px[j] < p:
            j += 1
    if j < cap and px[j] == p:
        prev = qt[j]
        if q > 0:
            qt[j] = q
            return prev
        return prev if book.set_level(side, p, 0, ts) else -1
    return 0 if book.set_level(side, p, q, ts) else -1


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
        self.fees: FeeModel = fees if fees is not None else IbkrAsxFixed()
        self._per_share: PerShare | None = None  # a per-share fee model (charged by shares, not value)
        c = self.cfg
        chosen = build_fee_model(c.fee_model, c.fee_month_value_cents, c.fee_per_share_millicents,
                                 c.fee_min_cents)
        if isinstance(chosen, PerShare):
            self._per_share = chosen
            self.fees = ZeroFees()
        elif chosen is not None:
            self.fees = chosen
        self.inst = self.cfg.instrument
        self._book = L2Book(self.inst, depth=self.cfg.book_depth)  # the strategy's (local time)
        self._xbook = L2Book(self.inst, depth=self.cfg.book_depth)  # the exchange's (exchange time)
        self._tl = local_times(events, self.cfg)  # when the strategy receives each row
        self._rng = random.Random(self.cfg.seed)
        self._qpow: float = float(self.cfg.queue_power)
        self._qmodel = QUEUE_MODELS.index(self.cfg.queue_model)  # 0 power, 1 log, 2 risk averse
        self._partial = self.cfg.partial_fills
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
        self._due = _NEVER  # earliest order arrival, answer or timer
        self._acked: set[str] = set()  # orders whose ack reached the strategy (a reject restores NEW)
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
        if t < self._due:
            self._due = t

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
        self._refresh_due()

    def _on_trip(self, reason: str) -> None:
        self.res.kill_switch = reason
        self.cancel_all()

    # ------------------------------------------------------------------ exchange side
    def _answer(self, kind: int, o: Order, extra: Any, new: Order | None = None) -> None:
        self._seq += 1
        lat = self._resp_ns
        t = self._te + (lat if lat >= 0 else self._lat(self.cfg.response_latency_ns, self._resp_samples))
        _hpush(self._answers, _Msg(t, self._seq, kind, o, extra, new))
        if t < self._due:
            self._due = t

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
        ps = self._per_share
        if ps is None:
            fee = self.fees.fill_fee(lv.value, price * qty)
        else:
            fee = ps.fill_fee_shares(lv.order.qty - lv.leaves, qty)
        lv.value += price * qty
        lv.leaves -= qty
        o = lv.order
        sign = 1 if lv.side == 1 else -1
        self._xpos += sign * qty
        self._cash -= sign * price * qty
        self._fee_total += fee
        side = Side.BUY if lv.side == 1 else Side.SELL  # (not Side(lv.side): an interpreted enum call)
        res = self.res
        f = Fill(o.cl_ord_id, o.instrument, side, price, qty, fee, self._te, f"E{len(res.fills) + 1}",
                 "A" if maker else "R")
        res.fills.append(f)
        res.fill_maker.append(maker)
        res.fill_ahead.append(lv.ahead0 if maker else -1.0)
        self._answer(3, o, f)
        if lv.leaves == 0 and _take(self._live, o.cl_ord_id) is not None and lv.resting:
            self._unwatch(lv)

    def _arrive(self, lv: _Live) -> None:
        """An order reaches the exchange: take what crosses (depleting the exchange's book), then rest and
        be watched (or cancel the IOC remainder)."""
        b = self._xbook
        o = lv.order
        limit = lv.price if o.ord_type is OrdType.LIMIT else 0
        side = lv.side
        if side == 1:
            pxs, qs, n = b.ask_px, b.ask_qty, b.n_asks
        else:
            pxs, qs, n = b.bid_px, b.bid_qty, b.n_bids
        taken = 0  # levels emptied by us (deleted after the walk: a delete shifts the lists)
        if not self._partial:  # all or none: take only if the visible liquidity within the limit covers us
            avail = 0
            for i in range(n):
                px = pxs[i]
                if limit and (px > limit if side == 1 else px < limit):
                    break
                avail += qs[i]
            if avail < lv.leaves:
                n = 0
        for i in range(n):
            if lv.leaves == 0:
                break
            px = pxs[i]
            if limit and (px > limit if side == 1 else px < limit):
                break
            q = min(lv.leaves, qs[i])
            self._fill(lv, px, q, False)
            qs[i] -= q  # our own taking depletes the level until the data next updates it
            if qs[i] == 0:
                taken += 1
        for _ in range(taken):  # the emptied levels are the best ones
            b.set_level(2 if side == 1 else 1, pxs[0], 0, self._te)
        if lv.leaves == 0:
            return
        if o.tif in _NO_REST or o.ord_type is OrdType.MARKET:
            self._answer(4, o, None)  # remainder cancelled
            return
        lv.resting = True
        lv.ahead = lv.ahead0 = self._ahead_on_arrival(side, lv.price)
        if lv.ahead == _UNKNOWN:
            lv.ahead0 = -1.0
        lv.trade_qty = 0
        self._live[o.cl_ord_id] = lv
        self._watch(lv)

    def _ahead_on_arrival(self, side: int, px: int) -> float:
        """Queue ahead of an order joining price ``px`` in the exchange's book: the level's quantity when
        the level is held; 0 when the price is a known empty level (better than the best, or between two
        visible levels: every view shows the best levels without gaps); unknown (``_UNKNOWN``) behind the
        visible levels (behind an L1 best, beyond the stored depth)."""
        b = self._xbook
        if side == 1:
            lst = b.bid_px
            if px in lst:
                return float(b.bid_qty[lst.index(px)])
            n = b.n_bids
            return 0.0 if n == 0 or px > lst[n - 1] else _UNKNOWN
        lst = b.ask_px
        if px in lst:
            return float(b.ask_qty[lst.index(px)])
        n = b.n_asks
        return 0.0 if n == 0 or px < lst[n - 1] else _UNKNOWN

    def _step(self) -> None:
        """Handle the earliest of: an order reaching the exchange, an answer reaching the strategy, the
        timer (ties in that order)."""
        pend = self._pending
        ans = self._answers
        tp = pend[0].t if pend else _NEVER
        ta = ans[0].t if ans else _NEVER
        if pend and tp <= ta and tp <= self._next_timer:
            self._arrival(_hpop(pend))
        elif ans and ta <= self._next_timer:
            self._deliver(_hpop(ans))
        elif self._next_timer < _NEVER:
            t = self._next_timer
            self._next_timer = t + self._timer_ns
            self._now = t
            self.strategy.on_timer(t)
        self._refresh_due()

    def _arrival(self, m: _Msg) -> None:
        """Order message ``m`` reaches the exchange."""
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
                self._answer(6, o, extra, new)
                return
            del self._live[o.cl_ord_id]
            if lv.resting:
                self._unwatch(lv)
            nl = _Live(new, lv.side, new.price, new.qty - ex_cum, lv.value)
            self._answer(7, o, None, new)
            if new.price == lv.price and nl.leaves <= lv.leaves:
                nl.ahead, nl.trade_qty, nl.resting = lv.ahead, lv.trade_qty, True  # keeps its place
                nl.ahead0 = lv.ahead0
                self._live[new.cl_ord_id] = nl
                self._watch(nl)
            else:
                self._arrive(nl)  # (watched when it rests)

    def _restore(self, o: Order) -> OrdStatus:
        """The status an order goes back to when its cancel or replace is rejected: what the answers that
        reached the strategy say (fills, and the ack even when it arrived while the request was pending)."""
        if o.cum_qty >= o.qty:
            return OrdStatus.FILLED
        if o.cum_qty > 0:
            return OrdStatus.PARTIALLY_FILLED
        return OrdStatus.NEW if o.cl_ord_id in self._acked else OrdStatus.PENDING_NEW

    def _deliver(self, m: _Msg) -> None:
        """Answer ``m`` reaches the strategy."""
        strat = self.strategy
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
                self._acked.discard(o.cl_ord_id)
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
            return
        if kind == 0:  # ack
            if not terminal(o.status):
                self._acked.add(o.cl_ord_id)
            if o.status is OrdStatus.PENDING_NEW:
                o.status = OrdStatus.NEW
        elif kind == 4:  # cancelled (by request or IOC remainder)
            if not terminal(o.status):
                o.status = OrdStatus.CANCELED
                _take(self._open, o.cl_ord_id)
            self._acked.discard(o.cl_ord_id)
        elif kind == 5:  # cancel reject: the order had already finished
            if o.status is OrdStatus.PENDING_CANCEL:
                o.status = self._restore(o)
        elif kind == 6:  # replace reject
            nw = m.new
            assert nw is not None
            nw.status = OrdStatus.REJECTED
            nw.reject_reason = "too late to replace"
            _take(self._open, nw.cl_ord_id)
            if o.status is OrdStatus.PENDING_REPLACE:
                o.status = self._restore(o)
            strat.on_order_update(nw)
        elif kind == 7:  # replaced
            nw = m.new
            assert nw is not None
            o.status = OrdStatus.REPLACED
            _take(self._open, o.cl_ord_id)
            self._acked.discard(o.cl_ord_id)
            nw.status = OrdStatus.NEW if nw.cum_qty == o.cum_qty else OrdStatus.PARTIALLY_FILLED
            if o.cum_qty > nw.cum_qty:
                nw.cum_qty = o.cum_qty
            self._acked.add(nw.cl_ord_id)
            strat.on_order_update(nw)
        o.updated_ns = t
        if terminal(o.status):
            self._acked.discard(o.cl_ord_id)
        strat.on_order_update(o)

    def _on_trade(self, price: int, qty: int, aggressor: int) -> None:
        """A print of ``qty`` at ``price`` (exchange time): fills our resting orders it reaches, at most
        ``qty`` in all: orders through the print's price first (best price first: the aggressor would
        have met them before), then orders at its price in queue order, each behind the market's queue
        ahead of it and our own orders ahead of it."""
        cands: list[_Live] = []
        for lv in self._live.values():
            if not lv.resting or lv.leaves == 0:
                continue
            if lv.side == 1:
                if aggressor == 1 or price > lv.price:
                    continue
            elif aggressor == 2 or price < lv.price:
                continue
            cands.append(lv)
        if not cands:
            return
        if len(cands) > 1:
            cands.sort(key=_priority)
        left = qty
        for lv in cands:
            if lv.price != price:  # through our price
                q = lv.leaves if lv.leaves < left else (left if self._partial else 0)
                if q > 0:
                    left -= q
                    self._fill(lv, lv.price, q, True)
                continue
            a = lv.ahead
            lv.ahead = a - qty if a > qty else 0.0
            lv.trade_qty += qty
            if a < left:
                q = min(lv.leaves, int(left - a))
                if q < lv.leaves and not self._partial:
                    q = 0
                if q > 0:
                    left -= q
                    self._fill(lv, lv.price, q, True)

    def _on_queue(self, lvs: list[_Live], prev: int, new: int) -> None:
        """The level where our orders ``lvs`` rest changed from ``prev`` to ``new``: queue positions."""
        for lv in lvs:
            if lv.ahead == _UNKNOWN:  # the level is seen: all of it may be ahead of us
                if new > 0:
                    lv.ahead = float(new)
                lv.trade_qty = 0
                continue
            chg = prev - new - lv.trade_qty
            lv.trade_qty = 0
            if new == 0:  # emptied, or left a top-N view: which is unknown, so we keep our place
                continue
            if chg <= 0 or self._qmodel == 2:  # (risk averse: a cancel is never ahead of us)
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
            if self._qmodel == 0:
                n = self._qpow
                fb = math.pow(back, n)
                ff = math.pow(front, n)
            else:
                fb = math.log1p(back)
                ff = math.log1p(front)
            p = fb / (fb + ff) if fb + ff > 0.0 else 1.0
            rest = back - p * fchg
            est = front - (1.0 - p) * fchg + (rest if rest < 0.0 else 0.0)
            lv.ahead = 0.0 if est < 0.0 else (est if est < new else float(new))

    def _on_cross(self, side: int, price: int, new: int) -> None:
        """A level of ``side`` now quotes at or through the price of our orders on the other side: we
        would have been hit (filled at our price, best price first, at most the level's quantity in all,
        which our fills take from the exchange's book)."""
        if new <= 0:
            return
        cands: list[_Live] = []
        for lv in self._live.values():
            if lv.side != side and lv.resting and lv.leaves > 0 and (
                    price <= lv.price if side == 2 else price >= lv.price):
                cands.append(lv)
        if not cands:
            return
        if len(cands) > 1:
            cands.sort(key=_priority)
        left = new
        for lv in cands:
            if left == 0:
                break
            q = lv.leaves if lv.leaves < left else (left if self._partial else 0)
            if q > 0:
                left -= q
                self._fill(lv, lv.price, q, True)
        if left < new:
            self._xbook.set_level(side, price, left, self._te)

    # ------------------------------------------------------------------ due work
    def _refresh_due(self) -> None:
        d = self._next_timer
        if self._pending and self._pending[0].t < d:
            d = self._pending[0].t
        if self._answers and self._answers[0].t < d:
            d = self._answers[0].t
        self._due = d

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

    def _book_error(self, b: L2Book, row: int, s: int, p: int, q: int, count: bool) -> None:
        r = row if self.file_rows is None else int(self.file_rows[row])
        if b.stale_reason == "crossed":
            raise DataError(self.path, f"crossed book after level update side={s} price={p} qty={q}: "
                                       f"best bid {b.best_bid()} >= best ask {b.best_ask()}",
                            row=r, line=r + 2 if file_format(self.path) == "csv" else None)
        if count:  # e.g. delete of a level we never saw: counted (on the strategy's side), replay goes on
            self.res.book_errors += 1
        b.stale = False
        b.stale_reason = ""

    # ------------------------------------------------------------------ main loop
    def run(self, progress: Callable[[int], None] | None = None) -> BacktestResult:
        """Replay every row: one merged timeline (module docstring) of the exchange's rows (cursor ``ie``,
        exchange time), order arrivals, answers, timers and samples (``_step``), and the strategy's rows
        (cursor ``il``, local time). The exchange's cursor is never behind the strategy's (a row reaches the
        strategy at or after its exchange time)."""
        ev = self.ev
        n = len(ev)
        tla = self._tl
        book = self._book
        xbook = self._xbook
        bpx, apx = book.bid_px, book.ask_px
        strat = self.strategy
        wants_trades = self._wants_trades
        inst = self.inst
        risk_trade = self.risk.last_trade
        res = self.res
        path = self.path
        rows = self.file_rows
        calls = 0
        t0 = time.perf_counter()
        first_te = int(ev.ts_exch[0]) if n else 0
        period = self.cfg.record_every_ns
        next_sample = (first_te // period + 1) * period if n else _NEVER
        self._now = int(tla[0]) if n else 0
        self._te = first_te
        strat.on_start()
        self._refresh_due()
        res.first_ts = first_te
        if n:
            self._sample(first_te)  # equity starts at 0 at the first event
        in_snapshot = False
        dirty = False  # the strategy has a book change to see at the end of this message
        mid2 = 0  # mid when the position was last marked
        last_tl = self._now
        due = self._due
        bid_hi = self._bid_hi
        bid_lo = self._bid_lo
        ask_lo = self._ask_lo
        ask_hi = self._ask_hi
        wbid = self._wbid  # (the same dicts for the whole run: _watch/_unwatch change them in place)
        wask = self._wask
        # the exchange's cursor: row ie, in its own chunk [xc0, xc1) of raw column bytes
        ie = 0
        xc0 = 0
        xc1 = 0
        xtl = xte = xpx = xq = xk = xs = b""
        tx = _NEVER  # exchange time of row ie
        if n:
            xc1 = min(n, CHUNK)
            xtl, xte, xpx, xq, xk, xs = _columns(ev, tla, 0, xc1, path, rows)
            tx = read_i64_le(xte, 0)
        for c0 in range(0, n, CHUNK):
            c1 = min(n, c0 + CHUNK)
            # raw column bytes (see _columns): the compiled loop loads each value as a machine integer (the
            # exchange's cursor, always ahead, has usually converted this chunk already)
            if xc0 == c0:
                btl, bpx_, bq_, bk, bs = xtl, xpx, xq, xk, xs
            else:
                btl, _lte, bpx_, bq_, bk, bs = _columns(ev, tla, c0, c1, path, rows)
            nr = c1 - c0
            for r in range(nr):
                o = r * 8
                tl: int = read_i64_le(btl, o)
                if tl != last_tl:
                    if dirty:  # the previous message is complete: show it to the strategy
                        dirty = False
                        self._now = last_tl
                        calls += 1
                        strat.on_book(inst, book)  # (method-table call; a bound-method local is generic)
                        m = bpx[0] + apx[0]
                        if m != mid2:
                            mid2 = m
                            self._mark()
                        due = self._due  # the strategy may have sent orders
                    last_tl = tl
                # everything before this row reaches the strategy: the exchange's rows, order arrivals,
                # answers, timers and samples, in time order (an exchange row first on a tie)
                while (due <= tl and due < _NEVER) or (tx <= tl and ie < n):
                    if due < _NEVER and (due < tx or ie >= n):
                        self._step()
                        due = self._due
                        bid_hi = self._bid_hi
                        bid_lo = self._bid_lo
                        ask_lo = self._ask_lo
                        ask_hi = self._ask_hi
                        continue
                    # the exchange's row ie at tx
                    if tx >= next_sample:  # equity sample (exchange side), before this row
                        self._sample(next_sample)
                        next_sample = (tx // period + 1) * period
                    xo = (ie - xc0) * 8
                    k: int = xk[ie - xc0]
                    s: int = xs[ie - xc0]
                    p: int = read_i64_le(xpx, xo)
                    q: int = read_i64_le(xq, xo)
                    if k == 1:
                        prev = _level(xbook, s, p, q, tx)
                        if prev < 0:
                            self._book_error(xbook, ie, s, p, q, False)
                            prev = 0
                        if s == 1:
                            if bid_lo <= p <= bid_hi:  # (a dict lookup only inside our bids' price range)
                                lvs = wbid.get(p)
                                if lvs is not None:  # our bids rest at this level: queue positions
                                    self._on_queue(lvs, prev, q)
                            if p >= ask_lo:  # at or through our ask: it is hit
                                self._te = tx
                                self._on_cross(1, p, q)
                                due = self._due  # fills answer; filled orders stop being watched
                                bid_hi = self._bid_hi
                                bid_lo = self._bid_lo
                                ask_lo = self._ask_lo
                                ask_hi = self._ask_hi
                        else:
                            if ask_lo <= p <= ask_hi:
                                lvs = wask.get(p)
                                if lvs is not None:
                                    self._on_queue(lvs, prev, q)
                            if p <= bid_hi:
                                self._te = tx
                                self._on_cross(2, p, q)
                                due = self._due
                                bid_hi = self._bid_hi
                                bid_lo = self._bid_lo
                                ask_lo = self._ask_lo
                                ask_hi = self._ask_hi
                    elif k == 2:
                        if (s != 1 and p <= bid_hi) or (s != 2 and p >= ask_lo):
                            self._te = tx
                            self._on_trade(p, q, s)
                            due = self._due
                            bid_hi = self._bid_hi
                            bid_lo = self._bid_lo
                            ask_lo = self._ask_lo
                            ask_hi = self._ask_hi
                    elif k == 3:
                        xbook.clear()
                    ie += 1
                    if ie >= xc1:
                        if ie < n:
                            xc0 = ie
                            xc1 = min(n, ie + CHUNK)
                            xtl, xte, xpx, xq, xk, xs = _columns(ev, tla, xc0, xc1, path, rows)
                            tx = read_i64_le(xte, 0)
                        else:
                            tx = _NEVER
                    else:
                        tx = read_i64_le(xte, (ie - xc0) * 8)
                # the row reaches the strategy
                k = bk[r]
                s = bs[r]
                p = read_i64_le(bpx_, o)
                q = read_i64_le(bq_, o)
                if k == 1:
                    if _level(book, s, p, q, tl) < 0:
                        self._book_error(book, c0 + r, s, p, q, True)
                    if not in_snapshot:
                        dirty = True
                elif k == 2:
                    risk_trade[inst] = p
                    if wants_trades:
                        self._now = tl
                        aggr = Side.BUY if s == 1 else (Side.SELL if s == 2 else None)
                        strat.on_trade(Trade(inst, p, q, tl, aggr))
                        due = self._due
                elif k == 3:
                    book.clear()
                    in_snapshot = True
                else:
                    in_snapshot = False
                    dirty = True
            if progress is not None:
                progress(c1)
        if dirty:
            self._now = last_tl
            calls += 1
            strat.on_book(inst, book)
        # what is due at the last message's time, then the strategy stops; then drain what is in flight
        while self._due <= last_tl and self._due < _NEVER:
            self._step()
        last_te = int(ev.ts_exch[-1]) if n else 0
        c = self.cfg
        worst = max(c.entry_latency_ns + c.latency_jitter_ns, max(self._entry_samples or [0]))
        worst_r = max(c.response_latency_ns + c.latency_jitter_ns, max(self._resp_samples or [0]))
        end = max(last_te, last_tl) + 10 * (worst + worst_r + 1) + worst_r + 1
        self._now = last_tl
        strat.on_stop()
        self._next_timer = _NEVER
        self._refresh_due()
        while self._due <= end and self._due < _NEVER:
            self._step()
        self._sample(last_te)
        res.events = n
        res.strategy_calls = calls
        res.wall_s = time.perf_counter() - t0
        res.final_mid2 = book.mid_x2()
        res.last_ts = last_te
        if progress is not None:
            progress(n)
        return res


def _priority(lv: _Live) -> tuple[int, float]:
    """Sort key of our resting orders one event reaches: best price first, then queue position."""
    return (-lv.price if lv.side == 1 else lv.price, lv.ahead)
