"""Reference strategy for engine tests: deterministic and trivial.

Every ``every_n`` book updates, when it has no open order, it bids ``qty`` at the best bid (DAY limit);
an order still open ``cancel_after`` book updates after it was sent is cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from hft.engine.strategy import Strategy, StrategyContext
from hft.model.types import Order
from hft.strategies._util import check_fields

if TYPE_CHECKING:
    from hft.book.l2 import L2Book


@dataclass(frozen=True, slots=True)
class ReferenceParams:
    qty: int = 1
    every_n: int = 10
    cancel_after: int = 5

    def __post_init__(self) -> None:
        names = ("qty", "every_n", "cancel_after")
        check_fields(self, positive=names, ints=names)


class Reference(Strategy):
    name: ClassVar[str] = "reference"
    params_cls: ClassVar[type] = ReferenceParams
    book_depth: ClassVar[int] = 1

    def __init__(self, ctx: StrategyContext, instruments: list[str], params: ReferenceParams | None = None,
                 **kw: Any) -> None:
        super().__init__(ctx, instruments, **kw)
        self.p = params or ReferenceParams(**kw)
        self.updates = 0
        self._order: Order | None = None
        self._sent_at = 0

    def on_book(self, instrument: str, book: L2Book) -> None:
        self.updates += 1
        o = self._order
        if o is not None and o.is_open:
            if self.updates - self._sent_at >= self.p.cancel_after:
                self.ctx.cancel(o)
            return
        if self.updates % self.p.every_n == 0:
            bb = book.best_bid()
            if bb:
                self._order = self.ctx.buy(instrument, bb, self.p.qty, tag="ref")
                self._sent_at = self.updates
