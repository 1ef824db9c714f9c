"""Pluggable connections: order entry and market data are separate interfaces.

IBKR sends no market data over FIX (it comes from the TWS API) and IBKR paper accounts cannot use
FIX, so the engine talks to an :class:`OrderGateway` (FIX order entry, or the embedded simulator) and a
:class:`MarketDataSource` (FIX market data from the simulator, a file replay, later TWS) independently.

Both deliver events through *sink callbacks* given at construction/attachment time, never through
return values, so an implementation can be synchronous (file replay, simulator) or driven by a socket.
Everything here is normalized: prices are int price units, quantities int shares, time int ns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from hft.model.types import Order, OrdStatus, Side, Trade


class ExecType:
    """FIX 150 ExecType codes (FIX 4.4 spelling; FIX 4.2 ``1``/``2`` fills map to TRADE at the edge)."""

    NEW = "0"
    DONE_FOR_DAY = "3"
    CANCELED = "4"
    REPLACED = "5"
    PENDING_CANCEL = "6"
    REJECTED = "8"
    PENDING_NEW = "A"
    EXPIRED = "C"
    PENDING_REPLACE = "E"
    TRADE = "F"
    ORDER_STATUS = "I"


@dataclass(slots=True, frozen=True)
class ExecReport:
    """A normalized execution report (FIX 35=8)."""

    exec_id: str
    cl_ord_id: str
    orig_cl_ord_id: str
    order_id: str
    exec_type: str  # one of ExecType
    ord_status: OrdStatus
    side: Side
    instrument: str
    last_px: int = 0  # price units
    last_qty: int = 0
    cum_qty: int = 0
    leaves_qty: int = 0
    avg_px: int = 0  # price units (rounded by the venue)
    text: str = ""
    transact_ns: int = 0
    poss_dup: bool = False
    liquidity: str = ""  # FIX 851: "A" added / "R" removed / ""


@dataclass(slots=True, frozen=True)
class CancelReject:
    """A normalized order cancel reject (FIX 35=9)."""

    cl_ord_id: str  # the cancel/replace request's id
    orig_cl_ord_id: str  # the order it targeted
    order_id: str
    ord_status: OrdStatus | None  # the order's status per the venue, if sent
    response_to: str  # "1" cancel request, "2" cancel/replace (FIX 434)
    reason: str = ""
    transact_ns: int = 0


ExecSink = Callable[[ExecReport], None]
CancelRejectSink = Callable[[CancelReject], None]


@runtime_checkable
class OrderGateway(Protocol):
    """Order entry to one venue. Calls return False when the request could not be handed over
    (disconnected, throttled); they never raise for that. Replies arrive later through the sinks."""

    def set_sinks(self, on_exec: ExecSink, on_cancel_reject: CancelRejectSink) -> None: ...

    def send_new(self, order: Order) -> bool: ...

    def send_cancel(self, order: Order, cancel_cl_ord_id: str) -> bool: ...

    def send_replace(self, order: Order, new_order: Order) -> bool:
        """Cancel/replace ``order`` (its live ClOrdID is OrigClOrdID) by ``new_order`` (new ClOrdID)."""
        ...

    def request_status(self, order: Order) -> bool:
        """Order status request (FIX 35=H); the answer is an ExecReport with ExecType ORDER_STATUS."""
        ...


# ---- market data -------------------------------------------------------------------------------------

@dataclass(slots=True, frozen=True)
class BookSnapshot:
    instrument: str
    bids: tuple[tuple[int, int], ...]  # (price, qty) best first
    asks: tuple[tuple[int, int], ...]
    ts_ns: int
    seq: int = 0


@dataclass(slots=True, frozen=True)
class LevelUpdate:
    instrument: str
    side: Side
    price: int
    qty: int  # new total quantity at the level; 0 deletes it
    ts_ns: int
    seq: int = 0


@dataclass(slots=True, frozen=True)
class StaleNotice:
    """The feed for ``instrument`` (or all, if empty) is stale or has a gap; books must not be trusted
    until the next snapshot. ``reason`` is e.g. "gap", "disconnect", "timeout"."""

    instrument: str
    reason: str
    ts_ns: int
    expected_seq: int = 0
    got_seq: int = 0


MarketEvent = BookSnapshot | LevelUpdate | Trade | StaleNotice
MarketSink = Callable[[MarketEvent], None]


@runtime_checkable
class MarketDataSource(Protocol):
    """A source of normalized book events for a set of instruments."""

    def set_sink(self, sink: MarketSink) -> None: ...

    def subscribe(self, instruments: Iterable[str]) -> None: ...

    def unsubscribe(self, instruments: Iterable[str]) -> None: ...
