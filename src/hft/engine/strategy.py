"""The strategy interface: one base class, one context.

A strategy is synchronous and single-threaded. The engine (paper/live event loop or the backtester)
calls its ``on_*`` methods with events; inside them the strategy acts only through the
:class:`StrategyContext` it was given at construction. It never sees sockets, files or the machine's
clock, so the same strategy object runs unchanged in backtest, paper and live.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from mypy_extensions import mypyc_attr

from hft.model.types import Fill, Order, OrdType, Side, TimeInForce, Trade

if TYPE_CHECKING:
    from hft.book.l2 import L2Book


# Compiled in the native build (setup.py) so that compiled strategies call a compiled context (the
# backtester, the trading engine) through C method tables; strategies and contexts written in plain Python
# (user strategies, test doubles) subclass them as before.
@mypyc_attr(allow_interpreted_subclasses=True)
class StrategyContext(ABC):
    """What a strategy may do. Implemented by the live/paper engine and by the backtester."""

    @abstractmethod
    def now(self) -> int:
        """Current time in integer nanoseconds (engine-owned clock: real or simulated)."""

    @abstractmethod
    def buy(self, instrument: str, price: int, qty: int, tif: TimeInForce = TimeInForce.DAY,
            ord_type: OrdType = OrdType.LIMIT, tag: str = "") -> Order | None:
        """Submit a buy; returns the order (PendingNew) or ``None`` if a pre-trade risk check refused it."""

    @abstractmethod
    def sell(self, instrument: str, price: int, qty: int, tif: TimeInForce = TimeInForce.DAY,
             ord_type: OrdType = OrdType.LIMIT, tag: str = "") -> Order | None:
        """Submit a sell; returns the order (PendingNew) or ``None`` if a pre-trade risk check refused it."""

    @abstractmethod
    def cancel(self, order: Order) -> bool:
        """Request cancellation; False if the order is not open or a cancel is already pending."""

    @abstractmethod
    def replace(self, order: Order, price: int | None = None, qty: int | None = None) -> Order | None:
        """Cancel/replace (FIX 35=G); returns the new order object (PendingReplace) or None if refused."""

    @abstractmethod
    def cancel_all(self, instrument: str | None = None) -> int:
        """Cancel every open order (of one instrument); returns how many cancels were sent."""

    @abstractmethod
    def position(self, instrument: str) -> int:
        """Net position in shares (positive long, negative short)."""

    @abstractmethod
    def book(self, instrument: str) -> L2Book:
        """The current L2 book of an instrument."""

    @abstractmethod
    def open_orders(self, instrument: str | None = None) -> list[Order]:
        """Our open orders (of one instrument)."""

    def submit(self, instrument: str, side: Side, price: int, qty: int,
               tif: TimeInForce = TimeInForce.DAY, ord_type: OrdType = OrdType.LIMIT,
               tag: str = "") -> Order | None:
        """``buy`` or ``sell`` by side."""
        if side is Side.BUY:
            return self.buy(instrument, price, qty, tif, ord_type, tag)
        return self.sell(instrument, price, qty, tif, ord_type, tag)

    def set_timer(self, interval_ns: int) -> None:  # pragma: no cover - engines override
        """Ask for ``on_timer`` every ``interval_ns`` of engine time."""
        raise NotImplementedError


@mypyc_attr(allow_interpreted_subclasses=True)
class Strategy(ABC):
    """Base class of every strategy. Parameters come from ``[strategy.params]`` in the config."""

    # class-level declarations (ClassVar: compiled subclasses keep them on the class, not per instance)
    name: ClassVar[str] = "strategy"
    book_depth: ClassVar[int] = 0  # levels a side the strategy observes (0: any level update)

    def __init__(self, ctx: StrategyContext, instruments: list[str], **params: Any) -> None:
        self.ctx = ctx
        self.instruments = list(instruments)
        self.params = params

    def on_start(self) -> None:
        """Called once before the first event."""

    @abstractmethod
    def on_book(self, instrument: str, book: L2Book) -> None:
        """The book of ``instrument`` changed."""

    def on_trade(self, trade: Trade) -> None:
        """A public trade printed."""

    def on_order_update(self, order: Order) -> None:
        """One of our orders changed state (ack, cancel, replace, reject, expiry)."""

    def on_fill(self, fill: Fill) -> None:
        """One of our orders was (partly) filled; called after the position has been updated."""

    def on_timer(self, now_ns: int) -> None:
        """Periodic timer, if the strategy asked for one."""

    def on_book_stale(self, instrument: str) -> None:
        """The book of ``instrument`` became unreliable (gap, crossed); a snapshot has been requested."""

    def on_stop(self) -> None:
        """Called once after the last event (cancel your orders here if you want)."""
