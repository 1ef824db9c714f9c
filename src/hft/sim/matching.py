"""L3 price-time matching engine of the ASX simulator.

One :class:`MatchingEngine` holds a central limit order book per instrument. Every public call
(:meth:`submit`, :meth:`cancel`, :meth:`replace`, :meth:`set_phase`) returns the list of events it
caused, in the order they happened: :class:`ExecEvent` per affected order (carrying the owner
``session``/``account`` for routing), :class:`TradeEvent` per print, :class:`LevelEvent` per L2 change
and :class:`CancelRejectEvent` for cancels/replaces of unknown or done orders. See docs/sim.md.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from dataclasses import dataclass
from enum import IntEnum

from hft.asx.phases import Phase
from hft.asx.ticks import is_valid_price
from hft.model.types import OrdStatus, OrdType, Side, TimeInForce
from hft.sim.clock import Clock

BUY = Side.BUY
SELL = Side.SELL


class ExecType(IntEnum):
    """FIX 150 ExecType values."""

    NEW = 0
    PARTIAL_FILL = 1  # reported as 150=F (Trade) with 39=1 by modern FIX; gateway maps
    FILL = 2
    CANCELED = 4
    REPLACED = 5
    REJECTED = 8
    EXPIRED = 12  # 150=C


class RejReason(IntEnum):
    """FIX 103 OrdRejReason codes used by the engine."""

    BROKER_OPTION = 0
    UNKNOWN_SYMBOL = 1
    EXCHANGE_CLOSED = 2
    EXCEEDS_LIMIT = 3
    DUPLICATE_ORDER = 6
    UNSUPPORTED = 11
    INCORRECT_QUANTITY = 13
    OTHER = 99


class CxlRejReason(IntEnum):
    """FIX 102 CxlRejReason codes."""

    TOO_LATE = 0
    UNKNOWN_ORDER = 1
    OTHER = 99


class StpMode(IntEnum):
    OFF = 0
    CANCEL_RESTING = 1
    CANCEL_INCOMING = 2


@dataclass(slots=True, frozen=True)
class LotRules:
    min_qty: int = 1
    lot_size: int = 1
    max_qty: int = 100_000_000


class SimOrder:
    __slots__ = (
        "account",
        "cl_ord_id",
        "cum_qty",
        "instrument",
        "notional",
        "ord_type",
        "order_id",
        "order_qty",
        "price",
        "seq",
        "session",
        "side",
        "status",
        "tif",
    )

    def __init__(self, order_id: int, cl_ord_id: str, session: str, account: str, instrument: str,
                 side: Side, ord_type: OrdType, tif: TimeInForce, price: int, order_qty: int) -> None:
        self.order_id = order_id
        self.cl_ord_id = cl_ord_id
        self.session = session
        self.account = account
        self.instrument = instrument
        self.side = side
        self.ord_type = ord_type
        self.tif = tif
        self.price = price
        self.order_qty = order_qty
        self.cum_qty = 0
        self.notional = 0  # sum(px * qty) of fills, AvgPx = notional / cum_qty
        self.status = OrdStatus.NEW
        self.seq = 0

    @property
    def leaves_qty(self) -> int:
        return self.order_qty - self.cum_qty if not self.status.is_terminal else 0


class ExecEvent:
    """An execution report for one order (FIX 35=8)."""

    __slots__ = (
        "account",
        "avg_px_den",
        "avg_px_num",
        "cl_ord_id",
        "cum_qty",
        "exec_id",
        "exec_type",
        "instrument",
        "last_px",
        "last_qty",
        "leaves_qty",
        "ord_status",
        "ord_type",
        "order_id",
        "order_qty",
        "orig_cl_ord_id",
        "price",
        "rej_reason",
        "session",
        "side",
        "text",
        "tif",
        "trade_id",
    )
    # The slots' types (annotations only: no class attribute, no cost). exec_event() fills them all.
    account: str
    avg_px_den: int
    avg_px_num: int
    cl_ord_id: str
    cum_qty: int
    exec_id: int
    exec_type: ExecType
    instrument: str
    last_px: int
    last_qty: int
    leaves_qty: int
    ord_status: OrdStatus
    ord_type: OrdType
    order_id: int
    order_qty: int
    orig_cl_ord_id: str
    price: int
    rej_reason: int  # FIX 103 OrdRejReason, -1 = none
    session: str
    side: Side
    text: str
    tif: TimeInForce
    trade_id: int

    def __init__(self) -> None:
        self.last_px = 0
        self.last_qty = 0
        self.rej_reason = -1
        self.text = ""
        self.orig_cl_ord_id = ""
        self.trade_id = 0

    @property
    def avg_px(self) -> float:
        """AvgPx in price units (float, for display only; use avg_px_num/avg_px_den for exact)."""
        return self.avg_px_num / self.avg_px_den if self.avg_px_den else 0.0

    def __repr__(self) -> str:
        return (f"ExecEvent({self.exec_type.name} {self.ord_status.name} oid={self.order_id} "
                f"cl={self.cl_ord_id} last={self.last_qty}@{self.last_px} cum={self.cum_qty} "
                f"leaves={self.leaves_qty} {self.text})")


def exec_event(o: SimOrder, exec_id: int, et: ExecType, last_px: int = 0, last_qty: int = 0, text: str = "",
               orig: str = "", trade_id: int = 0) -> ExecEvent:
    """The ExecEvent describing ``o`` as it stands now (exec id 0 for a status answer, 35=H)."""
    e = ExecEvent()
    e.exec_id = exec_id
    e.exec_type = et
    e.ord_status = o.status
    e.order_id = o.order_id
    e.cl_ord_id = o.cl_ord_id
    e.orig_cl_ord_id = orig
    e.session = o.session
    e.account = o.account
    e.instrument = o.instrument
    e.side = o.side
    e.ord_type = o.ord_type
    e.tif = o.tif
    e.price = o.price
    e.order_qty = o.order_qty
    e.last_px = last_px
    e.last_qty = last_qty
    e.cum_qty = o.cum_qty
    e.leaves_qty = o.leaves_qty
    e.avg_px_num = o.notional
    e.avg_px_den = o.cum_qty
    e.text = text
    e.trade_id = trade_id
    return e


class TradeEvent:
    __slots__ = (
        "aggressor",
        "buy_account",
        "buy_order_id",
        "instrument",
        "price",
        "qty",
        "sell_account",
        "sell_order_id",
        "trade_id",
        "ts_ns",
    )

    def __init__(self, trade_id: int, instrument: str, price: int, qty: int, aggressor: Side | None,
                 buy_order_id: int, sell_order_id: int, buy_account: str, sell_account: str,
                 ts_ns: int) -> None:
        self.trade_id = trade_id
        self.instrument = instrument
        self.price = price
        self.qty = qty
        self.aggressor = aggressor  # None for auction prints
        self.buy_order_id = buy_order_id
        self.sell_order_id = sell_order_id
        self.buy_account = buy_account
        self.sell_account = sell_account
        self.ts_ns = ts_ns

    def __repr__(self) -> str:
        return f"Trade({self.qty}@{self.price} b={self.buy_order_id} s={self.sell_order_id})"


class LevelEvent:
    """Aggregate quantity at (instrument, side, price) is now ``qty`` (0 = level deleted)."""

    __slots__ = ("count", "instrument", "price", "qty", "side")

    def __init__(self, instrument: str, side: Side, price: int, qty: int, count: int) -> None:
        self.instrument = instrument
        self.side = side
        self.price = price
        self.qty = qty
        self.count = count  # number of orders at the level

    def __repr__(self) -> str:
        return f"Level({self.side.name} {self.price} -> {self.qty})"


class CancelRejectEvent:
    """FIX 35=9 material: ``is_replace`` selects CxlRejResponseTo (434=2 vs 1)."""

    __slots__ = (
        "cl_ord_id",
        "is_replace",
        "ord_status",
        "order_id",
        "orig_cl_ord_id",
        "reason",
        "session",
        "text",
    )

    def __init__(self, session: str, cl_ord_id: str, orig_cl_ord_id: str, order_id: int,
                 reason: CxlRejReason, text: str, is_replace: bool, ord_status: OrdStatus | None) -> None:
        self.session = session
        self.cl_ord_id = cl_ord_id
        self.orig_cl_ord_id = orig_cl_ord_id
        self.order_id = order_id
        self.reason = reason
        self.text = text
        self.is_replace = is_replace
        self.ord_status = ord_status

    def __repr__(self) -> str:
        return f"CancelReject({self.orig_cl_ord_id}: {self.text})"


Event = ExecEvent | TradeEvent | LevelEvent | CancelRejectEvent


class _Level:
    __slots__ = ("orders", "price", "qty")

    def __init__(self, price: int) -> None:
        self.price = price
        self.qty = 0
        self.orders: dict[int, SimOrder] = {}  # insertion order == time priority


class _Side:
    """One side of a book: price -> level plus a sorted key list (key = -price for bids)."""

    __slots__ = ("keys", "levels", "side", "sign")

    def __init__(self, side: Side) -> None:
        self.side = side
        self.levels: dict[int, _Level] = {}
        self.keys: list[int] = []
        self.sign = -1 if side is BUY else 1

    def best(self) -> _Level | None:
        return self.levels[self.keys[0] * self.sign] if self.keys else None

    def get_or_add(self, price: int) -> _Level:
        lvl = self.levels.get(price)
        if lvl is None:
            lvl = _Level(price)
            self.levels[price] = lvl
            insort(self.keys, price * self.sign)
        return lvl

    def remove_level(self, price: int) -> None:
        del self.levels[price]
        keys = self.keys
        del keys[bisect_left(keys, price * self.sign)]

    def iter_levels(self) -> list[_Level]:
        s = self.sign
        lv = self.levels
        return [lv[k * s] for k in self.keys]


class Book:
    __slots__ = ("asks", "bids", "instrument", "last_price", "phase", "reference_price")

    def __init__(self, instrument: str, reference_price: int = 0) -> None:
        self.instrument = instrument
        self.bids = _Side(BUY)
        self.asks = _Side(SELL)
        self.phase = Phase.CLOSED
        self.last_price = 0
        self.reference_price = reference_price

    def side(self, side: Side) -> _Side:
        return self.bids if side is BUY else self.asks


@dataclass(slots=True, frozen=True)
class AuctionResult:
    price: int
    volume: int
    surplus: int  # buy - sell at price (positive = buy surplus)


def compute_auction(bids: list[tuple[int, int]], asks: list[tuple[int, int]],
                    reference_price: int) -> AuctionResult | None:
    """ASX single-price auction: maximum executable volume, minimum surplus, market pressure,
    reference price. ``bids``/``asks`` are (price, qty) of limit orders (any order). None if the book
    does not cross."""
    prices = sorted({p for p, _ in bids} | {p for p, _ in asks})
    best: list[tuple[int, int, int]] = []  # (price, volume, surplus)
    best_vol = 0
    for p in prices:
        b = sum(q for bp, q in bids if bp >= p)
        s = sum(q for ap, q in asks if ap <= p)
        vol = min(b, s)
        if vol <= 0 or vol < best_vol:
            continue
        if vol > best_vol:
            best_vol = vol
            best = []
        best.append((p, vol, b - s))
    if not best:
        return None
    min_abs = min(abs(x[2]) for x in best)
    cands = [x for x in best if abs(x[2]) == min_abs]
    if len(cands) > 1:
        if all(x[2] > 0 for x in cands):  # buy pressure -> highest price
            cands = [max(cands)]
        elif all(x[2] < 0 for x in cands):  # sell pressure -> lowest price
            cands = [min(cands)]
        else:
            ref = reference_price
            if ref <= 0:  # no reference: mid-range candidate (documented)
                ref = (cands[0][0] + cands[-1][0]) // 2
            # closest to reference; ties go to the higher price
            cands = [min(cands, key=lambda x: (abs(x[0] - ref), -x[0]))]
    p, vol, surplus = cands[0]
    return AuctionResult(p, vol, surplus)


class MatchingEngine:
    """Matching engine for a set of instruments. Not thread-safe: drive it from one thread/loop."""

    def __init__(self, instruments: dict[str, int] | list[str], *, lot_rules: LotRules | None = None,
                 stp: StpMode = StpMode.CANCEL_RESTING, clock: Clock | None = None) -> None:
        refs = instruments if isinstance(instruments, dict) else dict.fromkeys(instruments, 0)
        self.books: dict[str, Book] = {k: Book(k, v) for k, v in refs.items()}
        self.lot_rules = lot_rules or LotRules()
        self.stp = stp
        self._clock = clock
        self._next_order_id = 1
        self._next_exec_id = 1
        self._next_trade_id = 1
        self._seq = 0
        self.orders: dict[int, SimOrder] = {}  # live (resting) orders by order id
        self._by_cl: dict[tuple[str, str], SimOrder] = {}  # live orders by (session, cl_ord_id)

    # ------------------------------------------------------------------ helpers
    def _now(self) -> int:
        c = self._clock
        return c.now_ns() if c is not None else 0

    def _exec(self, out: list[Event], o: SimOrder, et: ExecType, last_px: int = 0, last_qty: int = 0,
              text: str = "", orig: str = "", trade_id: int = 0) -> None:
        out.append(exec_event(o, self._next_exec_id, et, last_px, last_qty, text, orig, trade_id))
        self._next_exec_id += 1

    def _reject(self, out: list[Event], o: SimOrder, reason: RejReason, text: str) -> list[Event]:
        o.status = OrdStatus.REJECTED
        e = exec_event(o, self._next_exec_id, ExecType.REJECTED, text=text)
        self._next_exec_id += 1
        e.rej_reason = int(reason)
        out.append(e)
        return out

    @staticmethod
    def _level_event(out: list[Event], book: Book, side: Side, lvl: _Level) -> None:
        out.append(LevelEvent(book.instrument, side, lvl.price, lvl.qty, len(lvl.orders)))

    def _rest(self, out: list[Event], book: Book, o: SimOrder) -> None:
        self._seq += 1
        o.seq = self._seq
        lvl = book.side(o.side).get_or_add(o.price)
        lvl.orders[o.order_id] = o
        lvl.qty += o.order_qty - o.cum_qty
        self.orders[o.order_id] = o
        self._by_cl[(o.session, o.cl_ord_id)] = o
        self._level_event(out, book, o.side, lvl)

    def _unrest(self, out: list[Event], book: Book, o: SimOrder) -> None:
        bs = book.side(o.side)
        lvl = bs.levels[o.price]
        del lvl.orders[o.order_id]
        lvl.qty -= o.order_qty - o.cum_qty
        if not lvl.orders:
            lvl.qty = 0
            bs.remove_level(o.price)
        self._level_event(out, book, o.side, lvl)
        del self.orders[o.order_id]
        del self._by_cl[(o.session, o.cl_ord_id)]

    def _fill(self, out: list[Event], book: Book, buy: SimOrder, sell: SimOrder, px: int, qty: int,
              aggressor: Side | None) -> None:
        tid = self._next_trade_id
        self._next_trade_id += 1
        out.append(TradeEvent(tid, book.instrument, px, qty, aggressor, buy.order_id, sell.order_id,
                              buy.account, sell.account, self._now()))
        book.last_price = px
        for o in (buy, sell):
            o.cum_qty += qty
            o.notional += px * qty
            if o.cum_qty == o.order_qty:
                o.status = OrdStatus.FILLED
                self._exec(out, o, ExecType.FILL, px, qty, trade_id=tid)
            else:
                o.status = OrdStatus.PARTIALLY_FILLED
                self._exec(out, o, ExecType.PARTIAL_FILL, px, qty, trade_id=tid)

    def _available(self, book: Book, o: SimOrder, limit: int) -> int:
        """Quantity the incoming order could execute against (FOK check), honouring STP."""
        opp = book.side(o.side.opposite)
        total = 0
        need = o.order_qty
        for lvl in opp.iter_levels():
            if (o.side is BUY and lvl.price > limit) or (o.side is SELL and lvl.price < limit):
                break
            for r in lvl.orders.values():
                if self.stp is not StpMode.OFF and r.account == o.account:
                    if self.stp is StpMode.CANCEL_INCOMING:
                        return total
                    continue
                total += r.order_qty - r.cum_qty
                if total >= need:
                    return total
        return total

    def _match(self, out: list[Event], book: Book, o: SimOrder, limit: int) -> bool:
        """Match ``o`` against the opposite side up to ``limit``. False if STP cancelled the incoming."""
        opp = book.side(o.side.opposite)
        is_buy = o.side is BUY
        stp = self.stp
        while o.cum_qty < o.order_qty and opp.keys:
            lvl = opp.levels[opp.keys[0] * opp.sign]
            if (is_buy and lvl.price > limit) or (not is_buy and lvl.price < limit):
                break
            orders = lvl.orders
            while orders and o.cum_qty < o.order_qty:
                r = orders[next(iter(orders))]
                if stp is not StpMode.OFF and r.account == o.account:
                    if stp is StpMode.CANCEL_INCOMING:
                        return False
                    self._unrest(out, book, r)
                    r.status = OrdStatus.CANCELED
                    self._exec(out, r, ExecType.CANCELED, text="self-trade prevention")
                    if r.price not in opp.levels:
                        break
                    continue
                qty = min(o.order_qty - o.cum_qty, r.order_qty - r.cum_qty)
                if is_buy:
                    self._fill(out, book, o, r, lvl.price, qty, BUY)
                else:
                    self._fill(out, book, r, o, lvl.price, qty, SELL)
                lvl.qty -= qty
                if r.status is OrdStatus.FILLED:
                    del orders[r.order_id]
                    del self.orders[r.order_id]
                    del self._by_cl[(r.session, r.cl_ord_id)]
                if not orders:
                    lvl.qty = 0
                    opp.remove_level(lvl.price)
                self._level_event(out, book, opp.side, lvl)
        return True

    # ------------------------------------------------------------------ public API
    def submit(self, session: str, account: str, instrument: str, cl_ord_id: str, side: Side, qty: int,
               price: int = 0, ord_type: OrdType = OrdType.LIMIT,
               tif: TimeInForce = TimeInForce.DAY) -> list[Event]:
        """New order (35=D). Returns the events; the first ExecEvent carries the assigned order_id."""
        out: list[Event] = []
        oid = self._next_order_id
        self._next_order_id += 1
        o = SimOrder(oid, cl_ord_id, session, account, instrument, side, ord_type, tif, price, qty)
        book = self.books.get(instrument)
        if book is None:
            return self._reject(out, o, RejReason.UNKNOWN_SYMBOL, f"unknown instrument {instrument!r}")
        lr = self.lot_rules
        if qty < lr.min_qty or qty % lr.lot_size:
            return self._reject(out, o, RejReason.INCORRECT_QUANTITY,
                                f"quantity {qty} violates lot rules (min {lr.min_qty}, lot {lr.lot_size})")
        if qty > lr.max_qty:
            return self._reject(out, o, RejReason.EXCEEDS_LIMIT, f"quantity {qty} above max {lr.max_qty}")
        if ord_type is OrdType.LIMIT and not is_valid_price(price):
            return self._reject(out, o, RejReason.OTHER, f"price {price} not on the ASX tick table")
        if (session, cl_ord_id) in self._by_cl:
            return self._reject(out, o, RejReason.DUPLICATE_ORDER, f"duplicate ClOrdID {cl_ord_id!r}")
        phase = book.phase
        if phase is Phase.CLOSED:
            return self._reject(out, o, RejReason.EXCHANGE_CLOSED, "market closed")
        continuous = phase is Phase.CONTINUOUS
        if not continuous and (tif is TimeInForce.IOC or tif is TimeInForce.FOK
                               or ord_type is OrdType.MARKET):
            return self._reject(out, o, RejReason.UNSUPPORTED,
                                "market/IOC/FOK orders not accepted during an auction phase")
        if ord_type is OrdType.MARKET:
            best = book.side(side.opposite).best()
            if best is None:
                return self._reject(out, o, RejReason.OTHER, "market order with no opposite liquidity")
            o.price = best.price  # ASX market-to-limit: limit = best opposite price
        o.status = OrdStatus.NEW
        self._exec(out, o, ExecType.NEW)
        if not continuous:
            self._rest(out, book, o)
            return out
        if tif is TimeInForce.FOK and self._available(book, o, o.price) < qty:
            o.status = OrdStatus.EXPIRED
            self._exec(out, o, ExecType.EXPIRED, text="FOK not fillable")
            return out
        if not self._match(out, book, o, o.price):
            o.status = OrdStatus.CANCELED
            self._exec(out, o, ExecType.CANCELED, text="self-trade prevention (incoming cancelled)")
            return out
        if o.cum_qty < qty:
            if tif is TimeInForce.IOC or tif is TimeInForce.FOK:
                o.status = OrdStatus.EXPIRED
                self._exec(out, o, ExecType.EXPIRED, text="IOC remainder")
            else:
                self._rest(out, book, o)
        return out

    def cancel(self, session: str, cl_ord_id: str, orig_cl_ord_id: str) -> list[Event]:
        """Cancel (35=F) the live order ``orig_cl_ord_id`` of ``session``."""
        out: list[Event] = []
        o = self._by_cl.get((session, orig_cl_ord_id))
        if o is None:
            out.append(CancelRejectEvent(session, cl_ord_id, orig_cl_ord_id, 0, CxlRejReason.UNKNOWN_ORDER,
                                         "unknown order or already done", False, None))
            return out
        book = self.books[o.instrument]
        self._unrest(out, book, o)
        o.status = OrdStatus.CANCELED
        prev = o.cl_ord_id
        o.cl_ord_id = cl_ord_id
        self._exec(out, o, ExecType.CANCELED, orig=prev)
        return out

    def cancel_order_id(self, order_id: int) -> list[Event]:
        """Cancel by engine order id (background flow convenience)."""
        o = self.orders.get(order_id)
        if o is None:
            return [CancelRejectEvent("", "", "", order_id, CxlRejReason.UNKNOWN_ORDER, "unknown order",
                                      False, None)]
        return self.cancel(o.session, o.cl_ord_id, o.cl_ord_id)

    def replace(self, session: str, cl_ord_id: str, orig_cl_ord_id: str, qty: int,
                price: int) -> list[Event]:
        """Cancel/replace (35=G). Qty decrease at the same price keeps time priority; a price change
        or a qty increase loses it (and may match in continuous trading)."""
        out: list[Event] = []
        o = self._by_cl.get((session, orig_cl_ord_id))

        def rej(text: str, reason: CxlRejReason = CxlRejReason.OTHER) -> list[Event]:
            out.append(CancelRejectEvent(session, cl_ord_id, orig_cl_ord_id, o.order_id if o else 0, reason,
                                         text, True, o.status if o else None))
            return out

        if o is None:
            return rej("unknown order or already done", CxlRejReason.UNKNOWN_ORDER)
        book = self.books[o.instrument]
        lr = self.lot_rules
        if qty < lr.min_qty or qty % lr.lot_size or qty > lr.max_qty:
            return rej(f"quantity {qty} violates lot rules")
        if not is_valid_price(price):
            return rej(f"price {price} not on the ASX tick table")
        if qty <= o.cum_qty:
            return rej(f"quantity {qty} not above filled quantity {o.cum_qty}")
        if book.phase is Phase.CLOSED:
            return rej("market closed")
        if (session, cl_ord_id) in self._by_cl and cl_ord_id != orig_cl_ord_id:
            return rej(f"duplicate ClOrdID {cl_ord_id!r}")
        keeps = price == o.price and qty <= o.order_qty
        if keeps:
            lvl = book.side(o.side).levels[o.price]
            changed = qty != o.order_qty
            lvl.qty -= o.order_qty - qty
            o.order_qty = qty
            del self._by_cl[(session, orig_cl_ord_id)]
            o.cl_ord_id = cl_ord_id
            self._by_cl[(session, cl_ord_id)] = o
            self._exec(out, o, ExecType.REPLACED, orig=orig_cl_ord_id)
            if changed:
                self._level_event(out, book, o.side, lvl)
            return out
        self._unrest(out, book, o)
        o.order_qty = qty
        o.price = price
        o.cl_ord_id = cl_ord_id
        self._exec(out, o, ExecType.REPLACED, orig=orig_cl_ord_id)
        if book.phase is Phase.CONTINUOUS:
            if not self._match(out, book, o, price):
                o.status = OrdStatus.CANCELED
                self._exec(out, o, ExecType.CANCELED, text="self-trade prevention (incoming cancelled)")
                return out
            if o.cum_qty >= o.order_qty:
                return out
        self._rest(out, book, o)
        return out

    # ------------------------------------------------------------------ phases and auctions
    def set_phase(self, instrument: str, phase: Phase) -> list[Event]:
        """Move one instrument to ``phase``. PRE_OPEN->CONTINUOUS runs the opening auction,
        PRE_CSPA->CLOSED (or ->CONTINUOUS) runs the closing auction; ->CLOSED expires DAY orders."""
        out: list[Event] = []
        book = self.books[instrument]
        old = book.phase
        if old is phase:
            return out
        if old in (Phase.PRE_OPEN, Phase.PRE_CSPA) and phase in (Phase.CONTINUOUS, Phase.CLOSED):
            self._uncross(out, book)
        book.phase = phase
        if phase is Phase.CLOSED:
            for lvls in (book.bids.iter_levels(), book.asks.iter_levels()):
                for lvl in lvls:
                    for o in list(lvl.orders.values()):
                        if o.tif is TimeInForce.DAY:
                            self._unrest(out, book, o)
                            o.status = OrdStatus.EXPIRED
                            self._exec(out, o, ExecType.EXPIRED, text="day order expired at close")
        return out

    def indicative(self, instrument: str) -> AuctionResult | None:
        """Indicative auction price/volume of the current book (for publishing during auctions)."""
        book = self.books[instrument]
        bids = [(lvl.price, lvl.qty) for lvl in book.bids.levels.values()]
        asks = [(lvl.price, lvl.qty) for lvl in book.asks.levels.values()]
        return compute_auction(bids, asks, book.last_price or book.reference_price)

    def _uncross(self, out: list[Event], book: Book) -> None:
        res = self.indicative(book.instrument)
        if res is None:
            return
        p = res.price
        remaining = res.volume
        bids, asks = book.bids, book.asks
        while remaining > 0:
            bl, al = bids.best(), asks.best()
            assert bl is not None and al is not None and bl.price >= p >= al.price
            b = bl.orders[next(iter(bl.orders))]
            a = al.orders[next(iter(al.orders))]
            qty = min(remaining, b.order_qty - b.cum_qty, a.order_qty - a.cum_qty)
            self._fill(out, book, b, a, p, qty, None)
            remaining -= qty
            for side, lvl, o in ((bids, bl, b), (asks, al, a)):
                lvl.qty -= qty
                if o.status is OrdStatus.FILLED:
                    del lvl.orders[o.order_id]
                    del self.orders[o.order_id]
                    del self._by_cl[(o.session, o.cl_ord_id)]
                    if not lvl.orders:
                        lvl.qty = 0
                        side.remove_level(lvl.price)
                self._level_event(out, book, side.side, lvl)

    # ------------------------------------------------------------------ queries
    def snapshot(self, instrument: str, depth: int = 10) -> tuple[list[tuple[int, int, int]],
                                                                   list[tuple[int, int, int]]]:
        """(bids, asks) best first, each a list of (price, aggregate qty, order count)."""
        book = self.books[instrument]
        res = []
        for s in (book.bids, book.asks):
            res.append([(lvl.price, lvl.qty, len(lvl.orders)) for lvl in s.iter_levels()[:depth]])
        return res[0], res[1]

    def orders_at(self, instrument: str, side: Side, price: int) -> list[SimOrder]:
        """Resting orders at a level in time priority (L3 view)."""
        lvl = self.books[instrument].side(side).levels.get(price)
        return list(lvl.orders.values()) if lvl else []

    def find(self, session: str, cl_ord_id: str) -> SimOrder | None:
        return self._by_cl.get((session, cl_ord_id))
