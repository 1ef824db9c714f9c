"""Core trading types shared by the engine, the simulator, the backtester, the venues and the strategies.

Prices are ``int`` price units (1/10,000 dollar, see :mod:`hft.asx.ticks`), quantities are ``int``
shares, times are ``int`` nanoseconds (UTC epoch in paper/live, simulated in backtest), money is
``int`` cents. Enum values are the FIX codes so conversion at the edge is a lookup, not a branch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum


class Side(IntEnum):
    BUY = 1  # FIX 54=1
    SELL = 2  # FIX 54=2

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class TimeInForce(IntEnum):
    DAY = 0  # FIX 59=0
    GTC = 1  # FIX 59=1
    IOC = 3  # FIX 59=3 (ASX "fill and kill")
    FOK = 4  # FIX 59=4


class OrdType(IntEnum):
    MARKET = 1  # FIX 40=1 (ASX: market-to-limit)
    LIMIT = 2  # FIX 40=2


class OrdStatus(IntEnum):
    """Order states of the order manager (FIX 39 codes where FIX has one)."""

    NEW = 0
    PARTIALLY_FILLED = 1
    FILLED = 2
    CANCELED = 4
    REPLACED = 5
    PENDING_CANCEL = 6
    REJECTED = 8
    PENDING_NEW = 10  # FIX 39=A
    EXPIRED = 12  # FIX 39=C
    PENDING_REPLACE = 14  # FIX 39=E

    @property
    def is_terminal(self) -> bool:
        return terminal(self)

    @property
    def fix_char(self) -> str:
        return _FIX_CHAR[self]


def terminal(status: OrdStatus) -> bool:
    """``status.is_terminal`` as a function: identity tests against the members, which the compiled build
    reads as C statics (the property is a generic attribute lookup on the enum class there)."""
    return (status is OrdStatus.FILLED or status is OrdStatus.CANCELED or status is OrdStatus.REPLACED
            or status is OrdStatus.REJECTED or status is OrdStatus.EXPIRED)


def working(status: OrdStatus) -> bool:
    """Live at the venue with no request in flight (NEW or PARTIALLY_FILLED)."""
    return status is OrdStatus.NEW or status is OrdStatus.PARTIALLY_FILLED


def amendable(status: OrdStatus) -> bool:
    """A cancel or replace may be sent: not finished, and no cancel or replace already in flight."""
    return not (terminal(status) or status is OrdStatus.PENDING_CANCEL or status is OrdStatus.PENDING_REPLACE)


def in_flight(status: OrdStatus) -> bool:
    """A new, cancel or replace request is waiting for the venue's answer."""
    return (status is OrdStatus.PENDING_NEW or status is OrdStatus.PENDING_CANCEL
            or status is OrdStatus.PENDING_REPLACE)


_FIX_CHAR = {
    OrdStatus.NEW: "0",
    OrdStatus.PARTIALLY_FILLED: "1",
    OrdStatus.FILLED: "2",
    OrdStatus.CANCELED: "4",
    OrdStatus.REPLACED: "5",
    OrdStatus.PENDING_CANCEL: "6",
    OrdStatus.REJECTED: "8",
    OrdStatus.PENDING_NEW: "A",
    OrdStatus.EXPIRED: "C",
    OrdStatus.PENDING_REPLACE: "E",
}


@dataclass(slots=True)
class Order:
    """An order as the strategy and the order manager see it."""

    cl_ord_id: str
    instrument: str
    side: Side
    price: int  # limit price in price units (for MARKET: the protection limit, 0 = none)
    qty: int
    tif: TimeInForce = TimeInForce.DAY
    ord_type: OrdType = OrdType.LIMIT
    status: OrdStatus = OrdStatus.PENDING_NEW
    cum_qty: int = 0
    avg_px_num: int = 0  # sum(price * qty) of fills; avg price = avg_px_num / cum_qty
    order_id: str = ""  # venue's id (FIX 37)
    orig_cl_ord_id: str = ""  # for replaces: the ClOrdID this one replaced (FIX 41)
    created_ns: int = 0
    updated_ns: int = 0
    reject_reason: str = ""
    tag: str = ""  # free label the strategy may set (e.g. "bid", "ask")

    # written out (the dataclass keeps the fields, eq and repr): the generated __init__ would be interpreted
    # code even in the compiled build, and an order is made on every new order and replace
    def __init__(self, cl_ord_id: str, instrument: str, side: Side, price: int, qty: int,
                 tif: TimeInForce = TimeInForce.DAY, ord_type: OrdType = OrdType.LIMIT,
                 status: OrdStatus = OrdStatus.PENDING_NEW, cum_qty: int = 0, avg_px_num: int = 0,
                 order_id: str = "", orig_cl_ord_id: str = "", created_ns: int = 0, updated_ns: int = 0,
                 reject_reason: str = "", tag: str = "") -> None:
        self.cl_ord_id = cl_ord_id
        self.instrument = instrument
        self.side = side
        self.price = price
        self.qty = qty
        self.tif = tif
        self.ord_type = ord_type
        self.status = status
        self.cum_qty = cum_qty
        self.avg_px_num = avg_px_num
        self.order_id = order_id
        self.orig_cl_ord_id = orig_cl_ord_id
        self.created_ns = created_ns
        self.updated_ns = updated_ns
        self.reject_reason = reject_reason
        self.tag = tag

    @property
    def leaves_qty(self) -> int:
        if terminal(self.status):
            return 0
        return self.qty - self.cum_qty

    @property
    def is_open(self) -> bool:
        return not terminal(self.status)

    @property
    def avg_px(self) -> float:
        """Average fill price in price units (float: for reports only)."""
        return self.avg_px_num / self.cum_qty if self.cum_qty else 0.0


@dataclass(slots=True, frozen=True)
class Fill:
    """One execution of one of our orders."""

    cl_ord_id: str
    instrument: str
    side: Side
    price: int
    qty: int
    fee_cents: int
    ts_ns: int
    exec_id: str = ""
    liquidity: str = ""  # "A" added (maker), "R" removed (taker), "" unknown

    # written out for the compiled build (the generated one is interpreted code there); frozen, so the
    # fields are set through object.__setattr__ as the generated one does
    def __init__(self, cl_ord_id: str, instrument: str, side: Side, price: int, qty: int, fee_cents: int,
                 ts_ns: int, exec_id: str = "", liquidity: str = "") -> None:
        s = object.__setattr__
        s(self, "cl_ord_id", cl_ord_id)
        s(self, "instrument", instrument)
        s(self, "side", side)
        s(self, "price", price)
        s(self, "qty", qty)
        s(self, "fee_cents", fee_cents)
        s(self, "ts_ns", ts_ns)
        s(self, "exec_id", exec_id)
        s(self, "liquidity", liquidity)


@dataclass(slots=True, frozen=True)
class Trade:
    """A public trade print on the venue (not necessarily ours)."""

    instrument: str
    price: int
    qty: int
    ts_ns: int
    aggressor: Side | None = None


@dataclass(slots=True)
class OrderRequest:
    """What a strategy asks for; the order manager turns it into an :class:`Order` after risk checks."""

    instrument: str
    side: Side
    price: int
    qty: int
    tif: TimeInForce = TimeInForce.DAY
    ord_type: OrdType = OrdType.LIMIT
    tag: str = ""
    extra: dict[str, str] = field(default_factory=dict)
