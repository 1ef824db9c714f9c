"""Adaptive market maker: microprice fair value, volatility-widened spread, inventory skew.

Per instrument, on every top-of-book change (``book_depth = 1``):

* fair value ``f`` = microprice = (bid x ask_qty + ask x bid_qty) / (bid_qty + ask_qty)  (price units)
* volatility ``v`` = population standard deviation of the last ``vol_window`` mid-price changes, one
  sample per change of the best prices or sizes (0 when only a size changed), in ticks (the step at the
  best bid); an update below the top of book is not a sample and, when no quote change is pending and
  the position is unchanged, costs only the comparison of the top of book
* half spread ``h`` = ``base_spread_ticks`` + ``vol_multiplier`` x ``v``  (ticks)
* skew ``k`` = position / ``max_position`` x ``skew_ticks``  (ticks; long -> both quotes move down,
  short -> both move up, i.e. against the inventory)
* raw bid = ``f`` moved down by ``h + k`` ASX steps, raw ask = ``f`` moved up by ``h - k`` steps; steps are
  counted on the real tick table, so a quote across the $0.10 or $2.00 boundary uses the step of the band
  it lands in (see :func:`hft.strategies._util.shift_ticks`)
* bid = raw bid rounded down onto the grid, ask = raw ask rounded up; then the bid is capped at one step
  below the best ask and the ask floored at one step above the best bid, so neither quote is marketable;
  if the two would touch, the ask is moved one step above the bid
* sizes: bid ``min(quote_size, max_position - position)``, ask ``min(quote_size, max_position +
  position)``; a side whose size is <= 0 is cancelled (position limit)
* a live quote is replaced (FIX cancel/replace) only when its price or its target size changes (a partly
  filled quote is not topped up on its own; its remaining size is only cut when above the target), and
  only while the order-rate limit (``max_orders_per_sec`` new/replace/cancel requests in any sliding
  second of engine time) allows; a quote with a request in flight is left alone until the venue answers.
  A fill requotes at once (new skew and sizes); a stale book cancels the instrument's quotes.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar, Final

from hft.asx.ticks import tick_down, tick_size, tick_up
from hft.engine.strategy import Strategy, StrategyContext
from hft.model.types import Fill, Order, Side, in_flight, terminal, working
from hft.strategies import _util as u
from hft.strategies._util import RateLimiter, RollingStd
from hft.strategies.params import MarketMakerParams

if TYPE_CHECKING:
    from hft.book.l2 import L2Book

_BAND2: Final = 20_000  # $2.00: from here up the ASX step is 100 units
_FAST_FLOOR: Final = 20_200  # prices above it are in the 100-unit band with a margin (the fast quote path)
_EPS: Final = 1e-6  # as hft.strategies._util: absorbs float noise before floor/ceil onto the grid
# retry time meaning "nothing deferred" (or "wait for the venue's answer"); the largest int the compiled build
# keeps unboxed (1 << 62 would be a heap int, every comparison with it a slow generic one)
_NEVER: Final = (1 << 62) - 1
_NO_INST: Final = object()  # "no instrument seen yet" (never the identity of an instrument string)


def microprice(bid: int, bid_qty: int, ask: int, ask_qty: int) -> float:
    """Size-weighted mid (price units, float): (bid x ask_qty + ask x bid_qty) / (bid_qty + ask_qty)."""
    tot = bid_qty + ask_qty
    if tot <= 0:
        return (bid + ask) / 2.0
    return (bid * ask_qty + ask * bid_qty) / tot


def bid_price(fair: float, half_ticks: float, skew_ticks: float, best_ask: int) -> int:
    """The bid on the ASX grid: ``fair`` down by ``half + skew`` steps, rounded down, below the best ask."""
    bid = u.floor_to_grid(u.shift_ticks(fair, -(half_ticks + skew_ticks)))
    cap = tick_down(best_ask)
    return cap if bid > cap else bid


def ask_price(fair: float, half_ticks: float, skew_ticks: float, best_bid: int, bid: int) -> int:
    """The ask on the ASX grid: ``fair`` up by ``half - skew`` steps, rounded up, above the best bid and
    above our own ``bid``."""
    ask = u.ceil_to_grid(u.shift_ticks(fair, half_ticks - skew_ticks))
    flo = tick_up(best_bid)
    if ask < flo:
        ask = flo
    return tick_up(bid) if ask <= bid else ask


def quote_prices(fair: float, half_ticks: float, skew_ticks: float, best_bid: int,
                 best_ask: int) -> tuple[int, int]:
    """Bid and ask on the ASX grid for fair value ``fair`` (see the module doc); never marketable."""
    bid = bid_price(fair, half_ticks, skew_ticks, best_ask)
    return bid, ask_price(fair, half_ticks, skew_ticks, best_bid, bid)


class _Quote:
    """One side's quote: the live order, the quote last computed and the size last requested."""

    __slots__ = ("order", "prev", "price", "sent_size", "side", "size")

    def __init__(self, side: Side) -> None:
        self.side = side
        self.order: Order | None = None
        self.prev: Order | None = None  # the order ``order`` replaces, while that replace is in flight
        self.price = 0  # the last computed quote (sent or not)
        self.size = 0
        self.sent_size = 0  # the size requested by the last new/replace of ``order``


def _lowest(q: _Quote) -> int:
    """The lowest price at which one of the quote's orders may still rest (``_NEVER`` if none): the live
    order, and while a replace is in flight the order it replaces."""
    lo = _NEVER
    o = q.order
    if o is not None and not terminal(o.status):
        lo = o.price
    o = q.prev
    if o is not None and not terminal(o.status) and o.price < lo:
        lo = o.price
    return lo


def _highest(q: _Quote) -> int:
    """The highest price at which one of the quote's orders may still rest (0 if none)."""
    hi = 0
    o = q.order
    if o is not None and not terminal(o.status):
        hi = o.price
    o = q.prev
    if o is not None and not terminal(o.status) and o.price > hi:
        hi = o.price
    return hi


class _State:
    """Per-instrument state (preallocated; updated in place on every book update)."""

    __slots__ = ("aq", "ask", "ba", "bb", "bid", "bq", "fair", "fast", "half", "last_mid2", "pos", "retry_at",
                 "skew", "std", "vol")

    def __init__(self, vol_window: int) -> None:
        self.vol = RollingStd(vol_window)
        self.last_mid2 = 0
        self.bb = self.bq = self.ba = self.aq = 0  # the top of book last quoted against
        self.pos = 0  # the position last quoted with
        self.retry_at = 0  # engine time from which an unchanged book is worth a requote (_NEVER: not needed)
        self.bid = _Quote(Side.BUY)
        self.ask = _Quote(Side.SELL)
        self.fair = 0.0
        self.half = 0.0
        self.skew = 0.0
        self.std = 0.0  # vol.std after the last sample
        self.fast = False  # bb, ba (the top last seen) allow the $2.00+ band quote arithmetic


class MarketMaker(Strategy):
    name: ClassVar[str] = "market_maker"
    params_cls: ClassVar[type] = MarketMakerParams
    book_depth: ClassVar[int] = 1  # observes the top of book only

    def __init__(self, ctx: StrategyContext, instruments: list[str], params: MarketMakerParams | None = None,
                 **kw: Any) -> None:
        super().__init__(ctx, instruments)
        self.p = params or MarketMakerParams(**kw)
        self._st: dict[str, _State] = {i: _State(self.p.vol_window) for i in self.instruments}
        self._rate = RateLimiter(self.p.max_orders_per_sec)
        p = self.p  # hot-path copies of the parameters (no attribute chains per call)
        self._qs = p.quote_size
        self._mp = p.max_position
        self._base = p.base_spread_ticks
        self._vm = p.vol_multiplier
        self._sk = p.skew_ticks
        # the instrument of the last on_book call and its state: a host passes the same string object on
        # every call, so an identity test stands in for the dict lookup (an equal but distinct string, or
        # another instrument, takes the lookup and becomes the cached one; states are never replaced)
        self._last_inst: object = _NO_INST
        self._last_st = _State(2)  # (a placeholder: read only after _last_inst names an instrument)
        self.rate_limited = 0  # quote changes skipped because of the order-rate limit

    def state(self, instrument: str) -> _State:
        st = self._st.get(instrument)
        if st is None:
            st = self._st[instrument] = _State(self.p.vol_window)
        return st

    def on_book(self, instrument: str, book: L2Book) -> None:
        # the book's lists hold 0 at index 0 when a side is empty (best_bid() / best_ask() without the calls)
        bb = book.bid_px[0]
        ba = book.ask_px[0]
        if not bb or not ba or bb >= ba:
            return
        if instrument is self._last_inst:
            st = self._last_st
        else:
            st = self._st.get(instrument) or self.state(instrument)
            self._last_inst = instrument
            self._last_st = st
        bq = book.bid_qty[0]
        aq = book.ask_qty[0]
        if bb == st.bb and ba == st.ba and bq == st.bq and aq == st.aq:
            # a change below the top: nothing the quotes depend on moved; requote only if a deferred quote
            # change can go now (rate limit) or an order answer arrived, or the position moved. With no
            # deferred change (retry_at is _NEVER, which no engine time reaches) the clock is not read.
            ra = st.retry_at
            if (ra == _NEVER or self.ctx.now() < ra) and self.ctx.position(instrument) == st.pos:
                return
        else:
            if bb != st.bb or ba != st.ba:
                # both best prices in the $2.00+ band and on its grid: the fast quote arithmetic applies
                # (the fair value lies between them)
                st.fast = bb > _FAST_FLOOR and not bb % 100 and not ba % 100
                st.bb = bb
                st.ba = ba
            st.bq = bq
            st.aq = aq
            mid2 = bb + ba
            last = st.last_mid2
            if last:
                # one sample in ticks of the best bid's band (2 x tick because mid2 is twice the mid)
                st.std = st.vol.push_std((mid2 - last) / (200.0 if bb >= _BAND2 else 2.0 * tick_size(bb)))
            st.last_mid2 = mid2
        self._requote(instrument, st, bb, bq, ba, aq)

    def _requote(self, instrument: str, st: _State, bb: int, bq: int, ba: int, aq: int) -> None:
        tot = bq + aq  # fair = microprice(bb, bq, ba, aq), inlined
        fair = (bb * aq + ba * bq) / tot if tot > 0 else (bb + ba) / 2.0
        half = self._base + self._vm * st.std
        pos = st.pos = self.ctx.position(instrument)
        skew = pos / self._mp * self._sk
        if st.fast and bb == st.bb and ba == st.ba:
            # the whole quote is in the $2.00+ band (step 100): the arithmetic of bid_price / ask_price
            # (shift_ticks, floor/ceil_to_grid, tick_up/down) reduces to this; falls back near a band edge
            xb = fair - (half + skew) * 100
            xa = fair + (half - skew) * 100
            if xb > _FAST_FLOOR and xa > _FAST_FLOOR:
                bid = math.floor(xb + _EPS)
                bid -= bid % 100
                if bid >= ba:
                    bid = ba - 100
                ask = math.ceil(xa - _EPS)
                r = ask % 100
                if r:
                    ask += 100 - r
                if ask <= bb:
                    ask = bb + 100
                if ask <= bid:
                    ask = bid + 100
            else:
                bid = bid_price(fair, half, skew, ba)
                ask = ask_price(fair, half, skew, bb, bid)
        else:
            bid = bid_price(fair, half, skew, ba)
            ask = ask_price(fair, half, skew, bb, bid)
        mp = self._mp
        qs = self._qs
        bid_size = mp - pos
        if bid_size > qs:
            bid_size = qs
        ask_size = mp + pos
        if ask_size > qs:
            ask_size = qs
        st.fair = fair
        st.half = half
        st.skew = skew
        qb = st.bid
        qa = st.ask
        # the common case: both quotes already work at the wanted price and size (nothing to send)
        ob = qb.order
        oa = qa.order
        if (ob is not None and oa is not None and ob.price == bid and oa.price == ask
                and qb.sent_size == bid_size and qa.sent_size == ask_size and working(ob.status)
                and working(oa.status) and ob.qty - ob.cum_qty <= bid_size
                and oa.qty - oa.cum_qty <= ask_size):
            qb.price = bid
            qb.size = bid_size
            qa.price = ask
            qa.size = ask_size
            st.retry_at = _NEVER
            return
        if bid >= _lowest(qa):  # moving up: the ask gets out of the way first
            r_ask = self._quote(instrument, qa, ask, ask_size, qb)
            r_bid = self._quote(instrument, qb, bid, bid_size, qa)
        else:
            r_bid = self._quote(instrument, qb, bid, bid_size, qa)
            r_ask = self._quote(instrument, qa, ask, ask_size, qb)
        st.retry_at = r_bid if r_bid < r_ask else r_ask

    def _quote(self, instrument: str, q: _Quote, price: int, size: int, other: _Quote) -> int:
        """Bring one side's quote to (price, size). Returns when a deferred change is worth retrying on an
        unchanged book: ``_NEVER`` (done, or waiting for the venue: its answer resets the retry time),
        the rate limiter's next free slot, or 0 after a refusal (retry on the next update).

        A price that would reach one of our own open orders on the other side (``other``: its live order,
        or the order a replace in flight still has resting) is not sent: it waits until that order has
        moved away, so the strategy never asks for a self-crossing order."""
        q.price = price
        q.size = size
        cur = q.order
        if cur is not None:
            st = cur.status
            if terminal(st):
                cur = q.order = None
                prev = q.prev
                if prev is not None and not terminal(prev.status):
                    # the venue refused our replace: the original order still works, keep managing it
                    cur = q.order = prev
                    q.sent_size = -1  # its size is re-checked against the target below
                    st = prev.status
                q.prev = None
            if cur is not None and in_flight(st):
                return _NEVER  # wait for the venue's answer before touching it again
        if size <= 0:
            if cur is None:
                return _NEVER
            now = self.ctx.now()
            if self._rate.allow(now):
                return _NEVER if self.ctx.cancel(cur) else 0
            self.rate_limited += 1
            return self._rate.free_at(now)
        if cur is not None and cur.price == price and q.sent_size == size and cur.qty - cur.cum_qty <= size:
            return _NEVER  # unchanged (a partly filled quote is not topped up until price or size changes)
        if (price >= _lowest(other)) if q.side is Side.BUY else (price <= _highest(other)):
            # our own order on the other side is still in the way: wait for it to move (its answer
            # resets the retry time) or retry on the next update
            o = other.order
            return _NEVER if o is not None and in_flight(o.status) else 0
        now = self.ctx.now()
        if not self._rate.allow(now):
            self.rate_limited += 1
            return self._rate.free_at(now)
        if cur is None:
            o = self.ctx.submit(instrument, q.side, price, size, tag="mm")
        else:
            o = self.ctx.replace(cur, price, cur.cum_qty + size)  # (positional: no keyword dict per call)
        if o is None:
            return 0
        q.prev = cur
        q.order = o
        q.sent_size = size
        return _NEVER

    def on_order_update(self, order: Order) -> None:
        """A venue answer: the next book update, even an unchanged top, re-checks the quotes."""
        st = self._st.get(order.instrument)
        if st is not None:
            st.retry_at = 0

    def on_fill(self, fill: Fill) -> None:
        """Inventory changed: requote at once with the new skew and sizes (no volatility sample)."""
        st = self._st.get(fill.instrument)
        if st is None:
            return
        book = self.ctx.book(fill.instrument)
        bb = book.best_bid()
        ba = book.best_ask()
        if bb and ba and bb < ba:
            self._requote(fill.instrument, st, bb, book.best_bid_qty(), ba, book.best_ask_qty())

    def on_book_stale(self, instrument: str) -> None:
        """The book is unreliable: withdraw this instrument's quotes until it is whole again."""
        self.ctx.cancel_all(instrument)

    def on_stop(self) -> None:
        self.ctx.cancel_all()
