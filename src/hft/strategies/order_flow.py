"""Order-flow strategy: 5-level depth imbalance and its velocity, joins one tick inside the spread.

* OFI = (bid depth - ask depth) / (bid depth + ask depth) over ``levels`` (5) levels, in [-1, 1]
* velocity = OFI now - OFI ``velocity_window`` book updates ago (the change of the normalised depth
  difference over the window)
* OFI > ``ofi_threshold`` (0.3) and velocity > ``velocity_threshold`` (0.1), room under
  ``max_position``: buy ``trade_size`` one tick above the best bid (only if that is still below the ask)
* OFI < -0.3 and velocity < -0.1: sell one tick below the best ask, symmetrically
* entry orders older than ``stale_ns`` are cancelled
* exits (IOC at the opposite best): time stop (position held longer than ``max_hold_ns``), price stop
  (mid moved ``stop_ticks`` against the entry price) and profit target (``take_ticks`` in favour)
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hft.asx.ticks import tick_down, tick_size, tick_up
from hft.engine.strategy import Strategy, StrategyContext
from hft.engine.types import Fill, Order, Side, TimeInForce

if TYPE_CHECKING:
    from hft.book.l2 import L2Book


@dataclass(frozen=True, slots=True)
class OrderFlowParams:
    trade_size: int = 100
    max_position: int = 500
    levels: int = 5
    ofi_threshold: float = 0.3
    velocity_threshold: float = 0.1
    velocity_window: int = 10
    stale_ns: int = 2_000_000_000
    max_hold_ns: int = 30_000_000_000
    stop_ticks: int = 3
    take_ticks: int = 2

    def __post_init__(self) -> None:
        if self.trade_size <= 0 or self.max_position < self.trade_size:
            raise ValueError("trade_size must be positive and <= max_position")
        if not 0 < self.ofi_threshold < 1 or self.velocity_threshold < 0:
            raise ValueError("ofi_threshold must be in (0, 1) and velocity_threshold >= 0")
        if self.velocity_window < 1 or self.levels < 1:
            raise ValueError("velocity_window and levels must be >= 1")
        if self.stale_ns <= 0 or self.max_hold_ns <= 0 or self.stop_ticks <= 0 or self.take_ticks <= 0:
            raise ValueError("stale_ns, max_hold_ns, stop_ticks and take_ticks must be positive")


class OrderFlow(Strategy):
    name = "order_flow"
    params_cls = OrderFlowParams
    book_depth = 5

    def __init__(self, ctx: StrategyContext, instruments: list[str], params: OrderFlowParams | None = None,
                 **kw: Any) -> None:
        super().__init__(ctx, instruments, **kw)
        self.p = params or OrderFlowParams(**kw)
        w = self.p.velocity_window + 1
        self._hist: dict[str, deque[float]] = {i: deque(maxlen=w) for i in instruments}
        self.ofi: dict[str, float] = {}
        self.velocity: dict[str, float] = {}
        self._entry: Order | None = None
        self._exit: Order | None = None
        self.entry_px: dict[str, int] = {}
        self.entry_ns: dict[str, int] = {}

    def on_book(self, instrument: str, book: L2Book) -> None:
        p = self.p
        bb = book.best_bid()
        ba = book.best_ask()
        if not bb or not ba:
            return
        ofi = book.imbalance(p.levels)
        h = self._hist.setdefault(instrument, deque(maxlen=p.velocity_window + 1))
        h.append(ofi)
        vel = ofi - h[0] if len(h) == h.maxlen else 0.0
        self.ofi[instrument] = ofi
        self.velocity[instrument] = vel
        now = self.ctx.now()
        pos = self.ctx.position(instrument)
        if self._entry is not None and self._entry.is_open and now - self._entry.created_ns >= p.stale_ns:
            self.ctx.cancel(self._entry)
        if pos != 0:
            self._manage_exit(instrument, pos, bb, ba, now)
            if self._exit is not None and self._exit.is_open:
                return
        if self._entry is not None and self._entry.is_open:
            return
        if ofi > p.ofi_threshold and vel > p.velocity_threshold and pos + p.trade_size <= p.max_position:
            px = tick_up(bb)
            if px < ba:
                self._entry = self.ctx.buy(instrument, px, p.trade_size, tag="entry")
        elif ofi < -p.ofi_threshold and vel < -p.velocity_threshold and pos - p.trade_size >= -p.max_position:
            px = tick_down(ba)
            if px > bb:
                self._entry = self.ctx.sell(instrument, px, p.trade_size, tag="entry")

    def exit_reason(self, instrument: str, pos: int, bb: int, ba: int, now: int) -> str:
        """Which exit fires for ``pos`` at this book (``""`` = none)."""
        p = self.p
        entry = self.entry_px.get(instrument)
        if entry is None:
            return ""
        if now - self.entry_ns.get(instrument, now) >= p.max_hold_ns:
            return "time"
        mid2 = bb + ba
        move_ticks = (mid2 - 2 * entry) / (2.0 * tick_size(entry)) * (1 if pos > 0 else -1)
        if move_ticks <= -p.stop_ticks:
            return "stop"
        if move_ticks >= p.take_ticks:
            return "take"
        return ""

    def _manage_exit(self, instrument: str, pos: int, bb: int, ba: int, now: int) -> None:
        if self._exit is not None and self._exit.is_open:
            return
        reason = self.exit_reason(instrument, pos, bb, ba, now)
        if not reason:
            return
        if self._entry is not None and self._entry.is_open:
            self.ctx.cancel(self._entry)
        if pos > 0:
            self._exit = self.ctx.submit(instrument, Side.SELL, bb, pos, TimeInForce.IOC, tag=reason)
        else:
            self._exit = self.ctx.submit(instrument, Side.BUY, ba, -pos, TimeInForce.IOC, tag=reason)

    def on_fill(self, fill: Fill) -> None:
        pos = self.ctx.position(fill.instrument)
        if pos == 0:
            self.entry_px.pop(fill.instrument, None)
            self.entry_ns.pop(fill.instrument, None)
        elif fill.instrument not in self.entry_px or (pos > 0) == (fill.side is Side.BUY):
            # opening or adding: entry price = this fill's price, clock starts at the first fill
            self.entry_px[fill.instrument] = fill.price
            self.entry_ns.setdefault(fill.instrument, fill.ts_ns)
