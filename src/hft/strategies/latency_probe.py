"""Latency probe: answers a fixed fraction of book updates with an order that will not trade.

The strategy of ``hft bench latency`` (tick-to-trade). For every book update it decides, without any
randomness, whether this update is one of the answered ``fraction`` (the n-th update is answered when
``floor(n * fraction)`` grows, so 0.25 answers updates 4, 8, 12, ...). An answer is:

- ``mode = "ioc"`` (default): a buy IOC limit ``offset_ticks`` ticks below the best bid. It cannot
  cross the ask, so the venue acknowledges and expires it at once; nothing rests, nothing fills.
- ``mode = "rest"``: a DAY buy limit ``offset_ticks`` below the best bid, cancelled at the next answer
  (at most one resting probe order at a time).

It only needs a best bid; a book without one is skipped (and counted in ``skipped``). Work per update
is a multiply, a compare and, for an answer, one ``ctx.buy`` call: the strategy adds almost nothing to
the tick-to-trade path it is there to measure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Final

from hft.asx.ticks import tick_down
from hft.engine.strategy import Strategy, StrategyContext
from hft.model.types import Order, TimeInForce
from hft.strategies.params import LatencyProbeParams

if TYPE_CHECKING:
    from hft.book.l2 import L2Book

_IOC: Final = TimeInForce.IOC
_DAY: Final = TimeInForce.DAY


class LatencyProbe(Strategy):
    name: ClassVar[str] = "latency_probe"
    params_cls: ClassVar[type] = LatencyProbeParams
    book_depth: ClassVar[int] = 1

    def __init__(self, ctx: StrategyContext, instruments: list[str],
                 params: LatencyProbeParams | None = None, **kw: Any) -> None:
        super().__init__(ctx, instruments, **kw)
        self.p = params or LatencyProbeParams(**kw)
        self._fraction = self.p.fraction
        self._qty = self.p.qty
        self._offset = self.p.offset_ticks
        self._ioc = self.p.mode == "ioc"
        self.updates = 0
        self.answered = 0  # orders the context accepted
        self.refused = 0  # answers the context refused (risk, kill switch)
        self.skipped = 0  # answers due on a book without a bid
        self._due = 0  # floor(updates * fraction) so far
        self._resting: Order | None = None
        self._last_bid = 0
        self._last_px = 0

    def on_book(self, instrument: str, book: L2Book) -> None:
        n = self.updates + 1
        self.updates = n
        due = int(n * self._fraction)
        if due == self._due:
            return
        self._due = due
        bid = book.best_bid()
        if not bid:
            self.skipped += 1
            return
        if bid != self._last_bid:  # the best bid rarely moves between ticks: one tick_down per move
            self._last_bid = bid
            self._last_px = tick_down(bid, self._offset) if self._offset else bid
        px = self._last_px
        ctx = self.ctx
        if self._ioc:
            o = ctx.buy(instrument, px, self._qty, _IOC)
        else:
            r = self._resting
            if r is not None and r.is_open:
                ctx.cancel(r)
            o = ctx.buy(instrument, px, self._qty, _DAY)
            self._resting = o
        if o is None:
            self.refused += 1
        else:
            self.answered += 1

    def on_stop(self) -> None:
        r = self._resting
        if r is not None and r.is_open:
            self.ctx.cancel(r)
