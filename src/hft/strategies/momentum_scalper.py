"""Momentum scalper: EMA crossover of the mid plus 5-level book imbalance, aggressive IOC entries.

Per instrument, on every update within the top ``imbalance_levels`` levels (``book_depth = 5``):

* mid = (best bid + best ask) / 2 (price units); fast EMA alpha = 2/11, slow EMA alpha = 2/31, both seeded
  with the first mid: ``ema += alpha x (mid - ema)``
* momentum = (fast - slow) / tick, where tick is the ASX step at the best bid: the EMA gap in price
  steps (normalised so that 1.0 means one tick whatever the price level of the stock)
* imbalance = (bid depth - ask depth) / (bid depth + ask depth) over ``imbalance_levels`` (5) levels, in
  [-1, 1]
* signal = 0.6 x momentum + 0.4 x imbalance
* no trading for the first ``warmup_updates`` updates (the slow EMA's span), nor while one of our orders
  for the instrument is still open (IOC answers arrive after the response latency)
* signal > ``entry_threshold`` and flat or short: buy ``trade_size`` + the short (cover and go long);
  signal < -``entry_threshold`` and flat or long: sell ``trade_size`` + the long;
  long and signal < ``exit_threshold``, or short and signal > -``exit_threshold`` (mean reversion): close
  the position. Every order is an IOC limit at the opposite best (marketable, never rests).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from hft.asx.ticks import tick_size
from hft.engine.strategy import Strategy, StrategyContext
from hft.model.types import Order, Side, TimeInForce
from hft.strategies._util import check_fields

if TYPE_CHECKING:
    from hft.book.l2 import L2Book

FAST_ALPHA = 2.0 / 11.0
SLOW_ALPHA = 2.0 / 31.0
W_MOMENTUM = 0.6
W_IMBALANCE = 0.4


@dataclass(frozen=True, slots=True)
class MomentumScalperParams:
    trade_size: int = 100  # shares per entry
    entry_threshold: float = 0.5  # signal units
    exit_threshold: float = 0.0  # signal units, in (-entry_threshold, entry_threshold)
    imbalance_levels: int = 5
    warmup_updates: int = 30  # book updates before the first order

    def __post_init__(self) -> None:
        check_fields(self, positive=("trade_size", "entry_threshold", "imbalance_levels"),
                     non_negative=("warmup_updates",),
                     ints=("trade_size", "imbalance_levels", "warmup_updates"))
        if isinstance(self.exit_threshold, bool) or not isinstance(self.exit_threshold, (int, float)):
            raise ValueError(f"exit_threshold must be a number, got {self.exit_threshold!r}")
        if not -self.entry_threshold < self.exit_threshold < self.entry_threshold:
            raise ValueError(f"exit_threshold ({self.exit_threshold}) must lie strictly between "
                             f"-entry_threshold and entry_threshold ({self.entry_threshold})")


class _State:
    __slots__ = ("fast", "imbalance", "momentum", "n", "signal", "slow", "working")

    def __init__(self) -> None:
        self.fast = 0.0
        self.slow = 0.0
        self.momentum = 0.0
        self.imbalance = 0.0
        self.signal = 0.0
        self.n = 0  # updates seen
        self.working: Order | None = None


class MomentumScalper(Strategy):
    name: ClassVar[str] = "momentum_scalper"
    params_cls: ClassVar[type] = MomentumScalperParams
    book_depth: ClassVar[int] = 5

    def __init__(self, ctx: StrategyContext, instruments: list[str],
                 params: MomentumScalperParams | None = None, **kw: Any) -> None:
        super().__init__(ctx, instruments)
        self.p = params or MomentumScalperParams(**kw)
        self._st: dict[str, _State] = {i: _State() for i in self.instruments}

    def state(self, instrument: str) -> _State:
        st = self._st.get(instrument)
        if st is None:
            st = self._st[instrument] = _State()
        return st

    def update_signal(self, instrument: str, book: L2Book) -> float | None:
        """Advance the EMAs with this book's mid and return the signal (None: no two-sided book)."""
        bb = book.best_bid()
        ba = book.best_ask()
        if not bb or not ba or bb >= ba:
            return None
        st = self._st.get(instrument) or self.state(instrument)
        mid = (bb + ba) * 0.5
        if st.n == 0:
            st.fast = st.slow = mid
        else:
            st.fast += FAST_ALPHA * (mid - st.fast)
            st.slow += SLOW_ALPHA * (mid - st.slow)
        st.n += 1
        mom = (st.fast - st.slow) / tick_size(bb)
        imb = book.imbalance(self.p.imbalance_levels)
        st.momentum = mom
        st.imbalance = imb
        sig = st.signal = W_MOMENTUM * mom + W_IMBALANCE * imb
        return sig

    def on_book(self, instrument: str, book: L2Book) -> None:
        sig = self.update_signal(instrument, book)
        if sig is None:
            return
        st = self._st[instrument]
        p = self.p
        if st.n <= p.warmup_updates:
            return
        w = st.working
        if w is not None and not w.status.is_terminal:
            return
        ctx = self.ctx
        pos = ctx.position(instrument)
        if sig > p.entry_threshold and pos <= 0:
            st.working = ctx.submit(instrument, Side.BUY, book.best_ask(), p.trade_size - pos,
                                    TimeInForce.IOC, tag="entry")
        elif sig < -p.entry_threshold and pos >= 0:
            st.working = ctx.submit(instrument, Side.SELL, book.best_bid(), p.trade_size + pos,
                                    TimeInForce.IOC, tag="entry")
        elif pos > 0 and sig < p.exit_threshold:
            st.working = ctx.submit(instrument, Side.SELL, book.best_bid(), pos, TimeInForce.IOC, tag="exit")
        elif pos < 0 and sig > -p.exit_threshold:
            st.working = ctx.submit(instrument, Side.BUY, book.best_ask(), -pos, TimeInForce.IOC, tag="exit")

    def on_book_stale(self, instrument: str) -> None:
        """A gap in the data: restart the EMAs (and the warm-up) from the next good book."""
        st = self._st.get(instrument)
        if st is not None:
            st.n = 0

    def on_stop(self) -> None:
        self.ctx.cancel_all()
