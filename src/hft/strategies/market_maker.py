"""Adaptive market maker: microprice fair value, volatility-widened spread, inventory skew.

* fair value ``f`` = microprice = (bid * ask_qty + ask * bid_qty) / (bid_qty + ask_qty)
* volatility ``v`` = rolling population std (``vol_window`` book updates) of mid-price changes, in ticks
* half spread ``h`` = ``base_spread_ticks`` + ``vol_multiplier`` x ``v``  (ticks)
* skew ``k`` = position / ``max_position`` x ``skew_ticks``  (ticks; long -> both quotes move down)
* bid = round_down(f - (h + k) x tick), ask = round_up(f + (h - k) x tick), then clamped so the bid is
  at most one tick below the best ask and the ask at least one tick above the best bid (never crossing).
* a quote is replaced only when its price or size changes, at most ``max_orders_per_sec`` actions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hft.asx.ticks import round_price, tick_down, tick_size, tick_up
from hft.engine.strategy import Strategy, StrategyContext
from hft.engine.types import Fill, Order, OrdStatus, Side
from hft.strategies._util import RateLimiter, RollingStd

if TYPE_CHECKING:
    from hft.book.l2 import L2Book


@dataclass(frozen=True, slots=True)
class MarketMakerParams:
    quote_size: int = 100
    max_position: int = 1_000
    base_spread_ticks: float = 0.5
    vol_window: int = 100
    vol_multiplier: float = 1.0
    skew_ticks: float = 2.0
    max_orders_per_sec: int = 20

    def __post_init__(self) -> None:
        if self.quote_size <= 0 or self.max_position <= 0:
            raise ValueError("quote_size and max_position must be positive")
        if self.base_spread_ticks < 0 or self.vol_multiplier < 0 or self.skew_ticks < 0:
            raise ValueError("base_spread_ticks, vol_multiplier and skew_ticks must be >= 0")
        if self.vol_window < 2:
            raise ValueError("vol_window must be >= 2")
        if self.max_orders_per_sec <= 0:
            raise ValueError("max_orders_per_sec must be positive")


def microprice(bid: int, bid_qty: int, ask: int, ask_qty: int) -> float:
    """Size-weighted mid (price units, float)."""
    tot = bid_qty + ask_qty
    if tot <= 0:
        return (bid + ask) / 2.0
    return (bid * ask_qty + ask * bid_qty) / tot


def quote_prices(fair: float, half_ticks: float, skew: float, best_bid: int,
                 best_ask: int) -> tuple[int, int]:
    """Bid and ask on the ASX grid for fair value ``fair`` (see the module doc)."""
    tick = tick_size(int(fair))
    bid = round_price(int(fair - (half_ticks + skew) * tick), "down")
    ask = round_price(-int(-(fair + (half_ticks - skew) * tick)), "up")  # ceil before rounding up
    bid = min(bid, tick_down(best_ask))
    ask = max(ask, tick_up(best_bid))
    return bid, ask


class MarketMaker(Strategy):
    name = "market_maker"
    params_cls = MarketMakerParams
    book_depth = 1  # observes the top of book only

    def __init__(self, ctx: StrategyContext, instruments: list[str], params: MarketMakerParams | None = None,
                 **kw: Any) -> None:
        super().__init__(ctx, instruments, **kw)
        self.p = params or MarketMakerParams(**kw)
        self._vol = {i: RollingStd(self.p.vol_window) for i in instruments}
        self._last_mid: dict[str, int] = {}
        self._quotes: dict[tuple[str, Side], Order | None] = {}
        self._rate = RateLimiter(self.p.max_orders_per_sec)
        self.last_quote: dict[str, tuple[int, int, int, int]] = {}  # bid, bid size, ask, ask size

    def on_book(self, instrument: str, book: L2Book) -> None:
        bb = book.best_bid()
        ba = book.best_ask()
        if not bb or not ba or bb >= ba:
            return
        bq = book.best_bid_qty()
        aq = book.best_ask_qty()
        mid2 = bb + ba
        last = self._last_mid.get(instrument)
        vol = self._vol[instrument]
        tick = tick_size(bb)
        if last is not None and last != mid2:
            vol.push((mid2 - last) / (2.0 * tick))
        elif last is not None:
            vol.push(0.0)
        self._last_mid[instrument] = mid2
        p = self.p
        fair = microprice(bb, bq, ba, aq)
        half = p.base_spread_ticks + p.vol_multiplier * vol.std
        pos = self.ctx.position(instrument)
        skew = pos / p.max_position * p.skew_ticks
        bid, ask = quote_prices(fair, half, skew, bb, ba)
        bid_size = min(p.quote_size, p.max_position - pos)
        ask_size = min(p.quote_size, p.max_position + pos)
        self.last_quote[instrument] = (bid, bid_size, ask, ask_size)
        self._quote(instrument, Side.BUY, bid, bid_size)
        self._quote(instrument, Side.SELL, ask, ask_size)

    def _quote(self, instrument: str, side: Side, price: int, size: int) -> None:
        key = (instrument, side)
        cur = self._quotes.get(key)
        if cur is not None and not cur.is_open:
            cur = None
        if cur is not None and cur.status in (OrdStatus.PENDING_NEW, OrdStatus.PENDING_CANCEL,
                                              OrdStatus.PENDING_REPLACE):
            return  # wait for the venue's answer before touching it again
        if size <= 0:
            if cur is not None and self._rate.allow(self.ctx.now()):
                self.ctx.cancel(cur)
            return
        if cur is not None and cur.price == price and cur.leaves_qty == size:
            return
        if not self._rate.allow(self.ctx.now()):
            return
        if cur is None:
            self._quotes[key] = self.ctx.submit(instrument, side, price, size, tag="mm")
        else:
            new = self.ctx.replace(cur, price=price, qty=cur.cum_qty + size)
            if new is not None:
                self._quotes[key] = new

    def on_fill(self, fill: Fill) -> None:
        pass

    def on_stop(self) -> None:
        self.ctx.cancel_all()
