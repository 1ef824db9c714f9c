"""Pre-trade risk checks and the kill switch.

:meth:`RiskManager.check` runs on every order before it is encoded and returns an ``int`` reason code
(``ACCEPTED`` = 0). The accept path allocates nothing but what iterating the caller's open-order view
costs, raises nothing and logs nothing; :func:`reason_text` turns a code into text at the cold path.
Checks in order (first failure wins): kill switch, instrument allowed, quantity > 0, ASX tick grid,
price band around the reference price, max order qty, max order notional, max open orders, self-cross,
max position per instrument, max gross position, order rate (token bucket on engine time ``now_ns``).
The rate bucket is charged only for orders that pass every other check.

Position rule: an order is judged by the position it could produce if it and every open order on the
same side were filled: for a buy ``net + open_buy_leaves + qty <= max_position``, for a sell
``net - open_sell_leaves - qty >= -max_position``. Gross (shares, all instruments):
``gross - abs(net) + abs(that potential position) <= max_gross_position``.

Kill switch (:class:`KillSwitch`): trips on daily loss (net P&L after fees from the PositionTracker
``<= -max_daily_loss_cents``, checked by :meth:`RiskManager.on_pnl` after each fill or mark), on
:meth:`KillSwitch.trip`, on :meth:`RiskManager.on_disconnect` if ``kill_on_disconnect``, and on
``max_rejects`` venue rejects within ``reject_window_ns`` (:meth:`RiskManager.on_reject`). Tripping calls
the registered ``on_trip`` callback once (the engine cancels all open orders there); every later check
returns ``KILL_SWITCH`` until an operator :meth:`KillSwitch.reset`.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Protocol

from mypy_extensions import mypyc_attr

from hft.asx.ticks import is_valid_price
from hft.book.l2 import L2Book
from hft.engine.positions import PositionTracker
from hft.model.types import Order, OrdType, Side

if TYPE_CHECKING:
    from hft.engine.config import Config

log = logging.getLogger(__name__)

ACCEPTED: Final = 0
KILL_SWITCH: Final = 1
UNKNOWN_INSTRUMENT: Final = 2
BAD_QTY: Final = 3
BAD_TICK: Final = 4
PRICE_BAND: Final = 5
NO_REFERENCE_PRICE: Final = 6
MAX_ORDER_QTY: Final = 7
MAX_ORDER_NOTIONAL: Final = 8
MAX_OPEN_ORDERS: Final = 9
SELF_CROSS: Final = 10
MAX_POSITION: Final = 11
MAX_GROSS_POSITION: Final = 12
RATE_LIMIT: Final = 13

_TEXT = {
    ACCEPTED: "accepted",
    KILL_SWITCH: "kill switch tripped",
    UNKNOWN_INSTRUMENT: "instrument not allowed",
    BAD_QTY: "quantity must be positive",
    BAD_TICK: "price not on the ASX tick grid",
    PRICE_BAND: "price outside the band around the reference price",
    NO_REFERENCE_PRICE: "no reference price for a market order or a required band check",
    MAX_ORDER_QTY: "order quantity above the limit",
    MAX_ORDER_NOTIONAL: "order notional above the limit",
    MAX_OPEN_ORDERS: "too many open orders",
    SELF_CROSS: "order would cross our own resting order",
    MAX_POSITION: "potential position above the per-instrument limit",
    MAX_GROSS_POSITION: "potential gross position above the limit",
    RATE_LIMIT: "order rate above the limit",
}


def reason_text(code: int) -> str:
    return _TEXT.get(code, f"unknown reason {code}")


@dataclass(slots=True)
class RiskLimits:
    allowed_instruments: frozenset[str] | None = None  # None = any
    price_band_bp: int = 500  # 5% around the reference price
    reference: str = "mid"  # "mid" (book mid, last trade as fallback) or "last" (last trade, mid fallback)
    require_reference: bool = False  # refuse limit orders when no reference price is known
    max_order_qty: int = 100_000
    max_order_notional_cents: int = 50_000_000  # AUD 500,000
    max_position: int = 200_000  # shares per instrument
    max_gross_position: int = 1_000_000  # shares, all instruments
    max_open_orders: int = 200
    max_orders_per_sec: int = 50  # token bucket refill rate
    burst: int = 100  # token bucket capacity
    max_daily_loss_cents: int = 1_000_000  # AUD 10,000
    max_rejects: int = 20
    reject_window_ns: int = 60_000_000_000
    kill_on_disconnect: bool = True


class OpenOrders(Protocol):
    def open_orders(self, instrument: str | None = None) -> Iterable[Order]: ...


@mypyc_attr(allow_interpreted_subclasses=True)
class OpenOrderSource:
    """Base of the order sources the check reads through native calls in the compiled build (a source
    that is not one is read through its ``open_count`` / ``open_dict`` attributes, or ``open_orders``)."""

    def open_orders(self, instrument: str | None = None) -> Iterable[Order]:
        raise NotImplementedError

    def open_dict(self, instrument: str) -> dict[str, Order]:
        """An instrument's open orders as the source's own dict (ClOrdID -> order; read only)."""
        raise NotImplementedError

    def open_count(self) -> int:
        """Open orders, all instruments."""
        raise NotImplementedError


class PositionView(Protocol):
    gross_qty: int

    def position(self, instrument: str) -> int: ...

    def net_pnl_cents(self) -> int: ...


@dataclass(slots=True)
class KillSwitch:
    """Latched stop: once tripped, every order is refused until :meth:`reset` by an operator."""

    on_trip: Callable[[str], None] | None = None
    tripped: bool = False
    reason: str = ""
    tripped_ns: int = 0
    trip_count: int = 0
    blocked: int = 0  # orders refused while tripped
    reset_by: str = ""
    history: list[tuple[int, str]] = field(default_factory=list)

    def trip(self, reason: str, now_ns: int = 0) -> bool:
        """Trip (if not already); returns True if this call tripped it. Calls ``on_trip`` once."""
        if self.tripped:
            return False
        self.tripped = True
        self.reason = reason
        self.tripped_ns = now_ns
        self.trip_count += 1
        self.history.append((now_ns, reason))
        log.critical("kill switch tripped: %s", reason)
        if self.on_trip is not None:
            try:
                self.on_trip(reason)
            except Exception:  # the switch must stay tripped even if the callback fails
                log.exception("kill switch on_trip callback failed")
        return True

    def reset(self, operator: str) -> None:
        if not operator:
            raise ValueError("reset needs an operator name")
        log.warning("kill switch reset by %s (was: %s)", operator, self.reason)
        self.tripped = False
        self.reset_by = operator
        self.reason = ""

    def state(self) -> dict[str, object]:
        return {"tripped": self.tripped, "reason": self.reason, "tripped_ns": self.tripped_ns,
                "trip_count": self.trip_count, "blocked": self.blocked, "reset_by": self.reset_by}


class RiskManager:
    def __init__(self, limits: RiskLimits, positions: PositionView, orders: OpenOrders,
                 books: Mapping[str, L2Book] | None = None,
                 open_order_count: Callable[[], int] | None = None,
                 on_trip: Callable[[str], None] | None = None) -> None:
        self.limits = limits
        self.positions = positions
        self.orders = orders
        self.books: Mapping[str, L2Book] = books if books is not None else {}
        # the engine's and the backtester's own types, read by the check through typed fields (in the
        # compiled build a Protocol or Mapping attribute is a generic attribute lookup and call)
        self._tracker: PositionTracker | None = positions if isinstance(positions, PositionTracker) else None
        self._book_dict: dict[str, L2Book] | None = self.books if isinstance(self.books, dict) else None
        # the order manager and the backtester's view are OpenOrderSources: counted and read through native
        # calls; another source through its open_count / open_dict when it has them, else open_orders
        self._source: OpenOrderSource | None = orders if isinstance(orders, OpenOrderSource) else None
        if open_order_count is None and self._source is None:
            open_order_count = getattr(orders, "open_count", None)
        self._open_count = open_order_count  # (an explicit one wins over the source's own count)
        self._open_view: Callable[[str], Iterable[Order]] = orders.open_orders
        self._open_dict: Callable[[str], dict[str, Order]] | None = (
            None if self._source is not None else getattr(orders, "open_dict", None))
        self._valid_px = 0  # last price that passed the tick-grid check (the grid never changes)
        self.kill = KillSwitch(on_trip=on_trip)
        self.last_trade: dict[str, int] = {}
        self._tokens_x = limits.burst * 1_000_000_000  # tokens scaled by 1e9 (exact integer refill)
        # the bucket's capacity, scaled, kept for the check (a product with a factor >= 2**30 is a generic
        # multiply in the compiled build); recomputed when the limit changes
        self._burst = limits.burst
        self._cap_x = self._tokens_x
        self._last_ns = -1
        self._rejects: deque[int] = deque()
        self.counts = [0] * (max(_TEXT) + 1)  # checks per reason code

    # --------------------------------------------------------------- inputs
    def on_trade(self, instrument: str, price: int) -> None:
        self.last_trade[instrument] = price

    def reference_price(self, instrument: str) -> int:
        book = self.books.get(instrument)
        mid = 0
        if book is not None and not book.stale:
            mid = book.mid_x2() // 2
        last = self.last_trade.get(instrument, 0)
        if self.limits.reference == "last":
            return last or mid
        return mid or last

    def on_pnl(self, now_ns: int = 0) -> bool:
        """Call after every fill/mark: trips on the daily loss limit. True if tripped now."""
        pt = self._tracker
        net = pt.net_pnl_cents() if pt is not None else self.positions.net_pnl_cents()
        if not self.kill.tripped and net <= -self.limits.max_daily_loss_cents:
            return self.kill.trip(f"daily loss limit {self.limits.max_daily_loss_cents} cents reached "
                                  f"(net {net})", now_ns)
        return False

    def on_disconnect(self, now_ns: int = 0) -> bool:
        if self.limits.kill_on_disconnect:
            return self.kill.trip("FIX disconnect", now_ns)
        return False

    def on_reject(self, now_ns: int) -> bool:
        """A venue reject of one of our orders; trips after ``max_rejects`` inside the window."""
        r = self._rejects
        r.append(now_ns)
        lo = now_ns - self.limits.reject_window_ns
        while r and r[0] <= lo:
            r.popleft()
        if len(r) >= self.limits.max_rejects:
            return self.kill.trip(f"{len(r)} rejects within {self.limits.reject_window_ns} ns", now_ns)
        return False

    # ---------------------------------------------------------------- check
    def check(self, instrument: str, side: int, price: int, qty: int, ord_type: int = OrdType.LIMIT,
              now_ns: int = 0) -> int:
        code = self._check(instrument, side, price, qty, ord_type, now_ns)
        self.counts[code] += 1
        return code

    def warm(self, instrument: str, side: int, price: int, qty: int, ord_type: int = OrdType.LIMIT,
             now_ns: int = 0) -> int:
        """The check's code run for cache warming between ticks (``TradingEngine.warm``): the same answer
        as :meth:`check`, and nothing it would change is kept: the token bucket and the tick-grid memo are
        restored, no reason is counted, a tripped kill switch answers without counting a blocked order."""
        if self.kill.tripped:
            return KILL_SWITCH
        tokens, last_ns, valid_px = self._tokens_x, self._last_ns, self._valid_px
        code = self._check(instrument, side, price, qty, ord_type, now_ns)
        self._tokens_x = tokens
        self._last_ns = last_ns
        self._valid_px = valid_px
        return code

    def _check(self, instrument: str, side: int, price: int, qty: int, ord_type: int, now_ns: int) -> int:
        lim = self.limits
        if self.kill.tripped:
            self.kill.blocked += 1
            return KILL_SWITCH
        if lim.allowed_instruments is not None and instrument not in lim.allowed_instruments:
            return UNKNOWN_INSTRUMENT
        if qty <= 0:
            return BAD_QTY
        # reference price (reference_price inlined: it runs on every order)
        bd = self._book_dict
        book = bd.get(instrument) if bd is not None else self.books.get(instrument)
        mid = 0
        if book is not None and not book.stale:
            mid = book.mid_x2() // 2
        if lim.reference == "last":
            ref = self.last_trade.get(instrument, 0) or mid
        else:
            ref = mid or self.last_trade.get(instrument, 0)
        if price == 0 and ord_type == OrdType.MARKET:
            if not ref:
                return NO_REFERENCE_PRICE
            eff_px = ref
        else:
            if price != self._valid_px:
                if not is_valid_price(price):
                    return BAD_TICK
                self._valid_px = price
            if ref:
                diff = price - ref if price > ref else ref - price
                if diff * 10_000 > lim.price_band_bp * ref:
                    return PRICE_BAND
            elif lim.require_reference:
                return NO_REFERENCE_PRICE
            eff_px = price
        if qty > lim.max_order_qty:
            return MAX_ORDER_QTY
        if eff_px * qty > lim.max_order_notional_cents * 100:
            return MAX_ORDER_NOTIONAL
        src = self._source
        oc = self._open_count
        if oc is not None:
            n_open = oc()
        elif src is not None:
            n_open = src.open_count()
        else:
            n_open = 0
            for _ in self.orders.open_orders(None):
                n_open += 1
        if n_open >= lim.max_open_orders:
            return MAX_OPEN_ORDERS
        is_buy = side == 1  # Side.BUY
        # the members themselves, so the loop compares identities (an IntEnum compared with an int is a
        # generic comparison in the compiled build); an order whose side is a plain int falls back to ==
        same: Side | None = None
        other: Side | None = None
        if is_buy:
            same, other = Side.BUY, Side.SELL
        elif side == 2:
            same, other = Side.SELL, Side.BUY
        same_leaves = 0
        od = self._open_dict
        mine = src.open_dict(instrument) if src is not None else (od(instrument) if od is not None else None)
        if mine is not None:  # the order source's own dict: iterated without a view or iterator object
            for o in mine.values():
                r = _own_order(o, same, other, side, is_buy, price)
                if r < 0:
                    return SELF_CROSS
                same_leaves += r
        else:
            for o in self._open_view(instrument):
                r = _own_order(o, same, other, side, is_buy, price)
                if r < 0:
                    return SELF_CROSS
                same_leaves += r
        pt = self._tracker
        if pt is not None:
            net = pt.position(instrument)
            gross = pt.gross_qty
        else:
            net = self.positions.position(instrument)
            gross = self.positions.gross_qty
        potential = net + same_leaves + qty if is_buy else net - same_leaves - qty
        if potential > lim.max_position or potential < -lim.max_position:
            return MAX_POSITION
        a_net = net if net >= 0 else -net
        a_pot = potential if potential >= 0 else -potential
        if gross - a_net + a_pot > lim.max_gross_position:
            return MAX_GROSS_POSITION
        # token bucket on engine time, tokens scaled by 1e9 so refill is exact integer arithmetic
        if lim.burst != self._burst:
            self._burst = lim.burst
            self._cap_x = lim.burst * 1_000_000_000
        cap = self._cap_x
        if self._last_ns >= 0 and now_ns > self._last_ns:
            t = self._tokens_x + (now_ns - self._last_ns) * lim.max_orders_per_sec
            self._tokens_x = t if t < cap else cap
        if now_ns > self._last_ns:
            self._last_ns = now_ns
        if self._tokens_x < 1_000_000_000:
            return RATE_LIMIT
        self._tokens_x -= 1_000_000_000
        return ACCEPTED


def _own_order(o: Order, same: Side | None, other: Side | None, side: int, is_buy: bool, price: int) -> int:
    """One of our open orders against a new one at ``price``: its leaves when on the same side (0 on the
    other side or when finished), -1 when the new order would cross it. Sides are compared by identity
    first (``same``/``other`` are the members; an order whose side is a plain int falls back to ==)."""
    leaves = o.leaves_qty
    if leaves <= 0:
        return 0
    o_side = o.side
    if o_side is same or (o_side is not other and o_side == side):
        return leaves
    if (o.ord_type is OrdType.LIMIT or o.ord_type == OrdType.LIMIT) and (
        (is_buy and price >= o.price) or (not is_buy and price <= o.price) or price == 0
    ):
        return -1
    return 0


def risk_limits(config: Config) -> RiskLimits:
    """RiskLimits from the ``[risk]`` table (dollars -> cents, percent -> basis points, s -> ns); the one
    mapping used by paper/live (``hft.engine.runner``) and the backtester."""
    r = config.risk
    return RiskLimits(allowed_instruments=frozenset(config.instruments.symbols),
                      price_band_bp=round(r.price_band_pct * 100), reference=r.reference,
                      require_reference=r.require_reference, max_order_qty=r.max_order_qty,
                      max_order_notional_cents=r.max_order_value * 100, max_position=r.max_position,
                      max_gross_position=r.max_gross_position, max_open_orders=r.max_open_orders,
                      max_orders_per_sec=r.max_orders_per_sec, burst=r.burst or r.max_orders_per_sec,
                      max_daily_loss_cents=r.max_daily_loss_cents, max_rejects=r.max_rejects,
                      reject_window_ns=round(r.reject_window_s * 1e9),
                      kill_on_disconnect=r.kill_on_disconnect)
