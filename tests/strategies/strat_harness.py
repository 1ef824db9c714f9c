"""A small, real StrategyContext for strategy tests: real L2Book objects, a settable clock, recorded orders.

It is a test venue, not a mock: orders are real :class:`Order` objects whose state the test moves on
(``ack_all``, ``fill``, ``expire``), positions follow the fills, and the strategy receives ``on_fill`` /
``on_order_update`` exactly as the engine and the backtester deliver them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hft.book.l2 import L2Book
from hft.engine.strategy import Strategy, StrategyContext
from hft.model.types import Fill, Order, OrdStatus, OrdType, Side, TimeInForce

S = OrdStatus
SEC = 1_000_000_000


class RecordingContext(StrategyContext):
    def __init__(self, instruments: Sequence[str] = ("BHP",), depth: int = 10, t0: int = 1_000 * SEC) -> None:
        self.books = {i: L2Book(i, depth=depth) for i in instruments}
        self.t = t0
        self.pos: dict[str, int] = dict.fromkeys(instruments, 0)
        self.orders: list[Order] = []  # every order version created, in creation order
        self.actions: list[tuple[Any, ...]] = []  # ("new", o) / ("cancel", o) / ("replace", old, new)
        self.fills: list[Fill] = []
        self.timer_ns = 0
        self.refuse = False  # make every new order / replace fail a (pretend) pre-trade check
        self.strategy: Strategy | None = None
        self._replaced: dict[str, Order] = {}  # new cl_ord_id -> the order it replaces
        self._ids = 0

    # ---------------------------------------------------------------- StrategyContext
    def now(self) -> int:
        return self.t

    def buy(self, instrument: str, price: int, qty: int, tif: TimeInForce = TimeInForce.DAY,
            ord_type: OrdType = OrdType.LIMIT, tag: str = "") -> Order | None:
        return self._new(instrument, Side.BUY, price, qty, tif, ord_type, tag)

    def sell(self, instrument: str, price: int, qty: int, tif: TimeInForce = TimeInForce.DAY,
             ord_type: OrdType = OrdType.LIMIT, tag: str = "") -> Order | None:
        return self._new(instrument, Side.SELL, price, qty, tif, ord_type, tag)

    def _new(self, instrument: str, side: Side, price: int, qty: int, tif: TimeInForce, ord_type: OrdType,
             tag: str) -> Order | None:
        assert isinstance(price, int) and isinstance(qty, int), (price, qty)
        if self.refuse:
            self.actions.append(("refused", side, price, qty))
            return None
        self._ids += 1
        o = Order(f"T{self._ids}", instrument, side, price, qty, tif, ord_type, S.PENDING_NEW,
                  created_ns=self.t, updated_ns=self.t, tag=tag)
        self.orders.append(o)
        self.actions.append(("new", o))
        return o

    def cancel(self, order: Order) -> bool:
        if order.status.is_terminal or order.status in (S.PENDING_CANCEL, S.PENDING_REPLACE):
            return False
        order.status = S.PENDING_CANCEL
        self.actions.append(("cancel", order))
        return True

    def replace(self, order: Order, price: int | None = None, qty: int | None = None) -> Order | None:
        if order.status.is_terminal or order.status in (S.PENDING_CANCEL, S.PENDING_REPLACE, S.PENDING_NEW):
            return None
        if self.refuse:
            self.actions.append(("refused", order.side, price, qty))
            return None
        price = order.price if price is None else price
        qty = order.qty if qty is None else qty
        assert isinstance(price, int) and isinstance(qty, int) and qty > order.cum_qty
        self._ids += 1
        new = Order(f"T{self._ids}", order.instrument, order.side, price, qty, order.tif, order.ord_type,
                    S.PENDING_REPLACE, cum_qty=order.cum_qty, avg_px_num=order.avg_px_num,
                    orig_cl_ord_id=order.cl_ord_id, created_ns=self.t, updated_ns=self.t, tag=order.tag)
        order.status = S.PENDING_REPLACE
        self._replaced[new.cl_ord_id] = order
        self.orders.append(new)
        self.actions.append(("replace", order, new))
        return new

    def cancel_all(self, instrument: str | None = None) -> int:
        return sum(1 for o in self.open_orders(instrument) if self.cancel(o))

    def position(self, instrument: str) -> int:
        return self.pos.get(instrument, 0)

    def book(self, instrument: str) -> L2Book:
        return self.books[instrument]

    def open_orders(self, instrument: str | None = None) -> list[Order]:
        return [o for o in self.orders if o.is_open and (instrument is None or o.instrument == instrument)]

    def set_timer(self, interval_ns: int) -> None:
        self.timer_ns = interval_ns

    # ---------------------------------------------------------------- the test's venue
    def _update(self, o: Order, status: OrdStatus) -> None:
        o.status = status
        o.updated_ns = self.t
        if self.strategy is not None:
            self.strategy.on_order_update(o)

    def ack_all(self) -> None:
        """The venue answers every request in flight: new -> New, cancel -> Canceled, replace -> Replaced."""
        for o in list(self.orders):
            if o.status is S.PENDING_NEW:
                self._update(o, S.NEW)
            elif o.status is S.PENDING_CANCEL:
                self._update(o, S.CANCELED)
            elif o.status is S.PENDING_REPLACE and o.cl_ord_id in self._replaced:
                old = self._replaced.pop(o.cl_ord_id)
                self._update(old, S.REPLACED)
                self._update(o, S.PARTIALLY_FILLED if o.cum_qty else S.NEW)

    def fill(self, o: Order, qty: int | None = None, price: int | None = None, fee_cents: int = 0) -> Fill:
        """Execute ``qty`` (default: all that is left) of ``o`` at ``price`` (default: its limit)."""
        qty = o.qty - o.cum_qty if qty is None else qty
        price = o.price if price is None else price
        assert 0 < qty <= o.qty - o.cum_qty and o.is_open
        o.cum_qty += qty
        o.avg_px_num += price * qty
        o.status = S.FILLED if o.cum_qty == o.qty else S.PARTIALLY_FILLED
        o.updated_ns = self.t
        self.pos[o.instrument] = self.pos.get(o.instrument, 0) + (qty if o.side is Side.BUY else -qty)
        f = Fill(o.cl_ord_id, o.instrument, o.side, price, qty, fee_cents, self.t, f"X{len(self.fills) + 1}")
        self.fills.append(f)
        if self.strategy is not None:
            self.strategy.on_fill(f)
        return f

    def expire(self, o: Order) -> None:
        """An IOC's unfilled remainder is cancelled by the venue."""
        self._update(o, S.CANCELED)

    # ---------------------------------------------------------------- market data
    def set_book(self, bids: Sequence[tuple[int, int]], asks: Sequence[tuple[int, int]],
                 instrument: str = "BHP") -> L2Book:
        book = self.books[instrument]
        assert book.apply_snapshot(bids, asks, ts_ns=self.t), "crossed test book"
        return book

    def feed(self, bids: Sequence[tuple[int, int]], asks: Sequence[tuple[int, int]], instrument: str = "BHP",
             dt_ns: int = 1_000_000) -> None:
        """Advance the clock by ``dt_ns``, replace the book and call the strategy's ``on_book``."""
        assert self.strategy is not None
        self.t += dt_ns
        book = self.set_book(bids, asks, instrument)
        self.strategy.on_book(instrument, book)

    # ---------------------------------------------------------------- reading the record
    def mark(self) -> int:
        return len(self.actions)

    def since(self, mark: int) -> list[tuple[Any, ...]]:
        return self.actions[mark:]

    def live(self, side: Side, instrument: str = "BHP") -> list[Order]:
        """Open orders of one side (an order being replaced and its replacement both count)."""
        return [o for o in self.open_orders(instrument) if o.side is side]

    def working(self, side: Side, instrument: str = "BHP") -> list[Order]:
        """Open orders of one side, counting a pending replacement instead of the order it replaces."""
        old = {id(o) for o in self._replaced.values()}
        return [o for o in self.live(side, instrument) if id(o) not in old]


def attach(ctx: RecordingContext, strategy: Strategy) -> Strategy:
    ctx.strategy = strategy
    strategy.on_start()
    return strategy
