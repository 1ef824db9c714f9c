"""Core trading types shared by the engine, the backtester, the simulator adapters and the strategies.

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
        return self in _TERMINAL

    @property
    def fix_char(self) -> str:
        return _FIX_CHAR[self]


_TERMINAL = frozenset({OrdStatus.FILLED, OrdStatus.CANCELED, OrdStatus.REJECTED, OrdStatus.EXPIRED,
                       OrdStatus.REPLACED})
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

    @property
    def leaves_qty(self) -> int:
        if self.status.is_terminal:
            return 0
        return self.qty - self.cum_qty

    @property
    def is_open(self) -> bool:
        return not self.status.is_terminal

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
