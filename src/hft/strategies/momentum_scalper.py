"""Momentum scalper: EMA crossover of the mid plus 5-level book imbalance, aggressive IOC entries.

* fast EMA alpha = 2/11, slow EMA alpha = 2/31 (of the mid, price units, seeded with the first mid)
* momentum = (fast - slow) / tick_size(mid): the EMA gap in ticks (1.0 = one price step)
* imbalance = (bid depth - ask depth) / (bid depth + ask depth) over ``imbalance_levels`` (5) levels
* signal = 0.6 x momentum + 0.4 x imbalance
* flat or short and signal > entry: buy (cover + ``trade_size``) at the best ask, IOC;
  flat or long and signal < -entry: sell symmetrically at the best bid, IOC;
  long and signal < exit_threshold, or short and signal > -exit_threshold: close the position, IOC.
* nothing is sent while one of our orders is still open (IOC answers arrive after the response latency).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hft.asx.ticks import tick_size
from hft.engine.strategy import Strategy, StrategyContext
from hft.engine.types import Order, Side, TimeInForce

if TYPE_CHECKING:
    from hft.book.l2 import L2Book

FAST_ALPHA = 2.0 / 11.0
SLOW_ALPHA = 2.0 / 31.0
W_MOMENTUM = 0.6
W_IMBALANCE = 0.4


@dataclass(frozen=True, slots=True)
class MomentumScalperParams:
    trade_size: int = 100
    entry_threshold: float = 0.5
    exit_threshold: float = 0.0
    imbalance_levels: int = 5
    warmup_updates: int = 30

    def __post_init__(self) -> None:
        if self.trade_size <= 0:
            raise ValueError("trade_size must be positive")
        if self.entry_threshold <= 0:
            raise ValueError("entry_threshold must be positive")
        if self.exit_threshold >= self.entry_threshold:
            raise ValueError("exit_threshold must be below entry_threshold")
        if self.imbalance_levels < 1 or self.warmup_updates < 0:
            raise ValueError("imbalance_levels must be >= 1 and warmup_updates >= 0")


class MomentumScalper(Strategy):
    name = "momentum_scalper"
    params_cls = MomentumScalperParams
    book_depth = 5

    def __init__(self, ctx: StrategyContext, instruments: list[str],
                 params: MomentumScalperParams | None = None, **kw: Any) -> None:
        super().__init__(ctx, instruments, **kw)
        self.p = params or MomentumScalperParams(**kw)
        self.fast: dict[str, float] = {}
        self.slow: dict[str, float] = {}
        self.signal: dict[str, float] = {}
        self._n: dict[str, int] = {}
        self._working: Order | None = None

    def update_signal(self, instrument: str, book: L2Book) -> float | None:
        bb = book.best_bid()
        ba = book.best_ask()
        if not bb or not ba:
            return None
        mid = (bb + ba) / 2.0
        if instrument not in self.fast:
            self.fast[instrument] = self.slow[instrument] = mid
            self._n[instrument] = 0
        f = self.fast[instrument] = self.fast[instrument] + FAST_ALPHA * (mid - self.fast[instrument])
        s = self.slow[instrument] = self.slow[instrument] + SLOW_ALPHA * (mid - self.slow[instrument])
        self._n[instrument] += 1
        mom = (f - s) / tick_size(bb)
        sig = W_MOMENTUM * mom + W_IMBALANCE * book.imbalance(self.p.imbalance_levels)
        self.signal[instrument] = sig
        return sig

    def on_book(self, instrument: str, book: L2Book) -> None:
        sig = self.update_signal(instrument, book)
        if sig is None or self._n[instrument] < self.p.warmup_updates:
            return
        if self._working is not None and self._working.is_open:
            return
        p = self.p
        pos = self.ctx.position(instrument)
        if sig > p.entry_threshold and pos <= 0:
            self._working = self.ctx.buy(instrument, book.best_ask(), p.trade_size - pos,
                                         TimeInForce.IOC, tag="entry")
        elif sig < -p.entry_threshold and pos >= 0:
            self._working = self.ctx.sell(instrument, book.best_bid(), p.trade_size + pos,
                                          TimeInForce.IOC, tag="entry")
        elif pos > 0 and sig < p.exit_threshold:
            self._working = self.ctx.submit(instrument, Side.SELL, book.best_bid(), pos, TimeInForce.IOC,
                                            tag="exit")
        elif pos < 0 and sig > -p.exit_threshold:
            self._working = self.ctx.submit(instrument, Side.BUY, book.best_ask(), -pos, TimeInForce.IOC,
                                            tag="exit")
