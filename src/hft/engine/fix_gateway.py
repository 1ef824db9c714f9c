"""OrderGateway over a FIX initiator session (IBKR CTCI shaped order entry).

The gateway is a :class:`~hft.fix.session.SessionApplication`: the transport (asyncio, thread or a busy
poll loop) drives the sans-IO :class:`~hft.fix.session.FixSession`; incoming ExecutionReports (35=8) and
OrderCancelRejects (35=9) are decoded into :class:`~hft.engine.gateway.ExecReport` /
:class:`~hft.engine.gateway.CancelReject` and handed to the sinks (normally the order manager). Outgoing
commands are encoded with the CTCI tag set:

- NewOrderSingle 35=D: 1 Account, 11 ClOrdID, 21 HandlInst=1, 55 Symbol, 54 Side, 38 OrderQty,
  40 OrdType, 44 Price (limit), 59 TimeInForce, 60 TransactTime, 100 ExDestination, 15 Currency,
  167 SecurityType=CS.
- OrderCancelRequest 35=F: 41, 37 (when known), 11, 55, 54, 38, 60.
- OrderCancelReplaceRequest 35=G: 41, 37, 11, 1, 21, 55, 54, 38, 40, 44, 59, 60, 100, 15, 167.
- OrderStatusRequest 35=H: 37 (when known), 11, 55, 54.

Prices are integer price units inside the engine and FIX decimal strings on the wire
(:func:`hft.asx.ticks.format_price` out, :meth:`FixMessage.get_price` in). FIX 4.2 ExecType 1/2 (partial
fill / fill) map to :data:`ExecType.TRADE`; a 4.2 status answer (ExecTransType 20=3) maps to
:data:`ExecType.ORDER_STATUS` as 4.4's 150=I does.

``send_*`` return False (never raise) when the session is not logged on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Final

from mypy_extensions import mypyc_attr

from hft.asx.ticks import PRICE_SCALE, format_price
from hft.engine.gateway import CancelReject, CancelRejectSink, ExecReport, ExecSink, ExecType
from hft.fix.encoder import FixEncoder
from hft.fix.parser import FixMessage, FixValueError
from hft.fix.session import FixSession, SessionApplication, SessionError, SessionState
from hft.model.types import Order, OrdStatus, OrdType, Side

log = logging.getLogger(__name__)

_ORD_STATUS: dict[bytes, OrdStatus] = {
    b"0": OrdStatus.NEW, b"1": OrdStatus.PARTIALLY_FILLED, b"2": OrdStatus.FILLED,
    b"3": OrdStatus.EXPIRED,  # done for day
    b"4": OrdStatus.CANCELED, b"5": OrdStatus.REPLACED, b"6": OrdStatus.PENDING_CANCEL,
    b"8": OrdStatus.REJECTED, b"A": OrdStatus.PENDING_NEW, b"C": OrdStatus.EXPIRED,
    b"E": OrdStatus.PENDING_REPLACE,
}
# FIX 150 -> normalized ExecType (4.2 partial fill / fill are trades)
_EXEC_TYPE: dict[bytes, str] = {
    b"0": ExecType.NEW, b"1": ExecType.TRADE, b"2": ExecType.TRADE, b"3": ExecType.DONE_FOR_DAY,
    b"4": ExecType.CANCELED, b"5": ExecType.REPLACED, b"6": ExecType.PENDING_CANCEL,
    b"8": ExecType.REJECTED, b"A": ExecType.PENDING_NEW, b"C": ExecType.EXPIRED,
    b"E": ExecType.PENDING_REPLACE, b"F": ExecType.TRADE, b"I": ExecType.ORDER_STATUS,
}
_SIDE: Final = {b"1": Side.BUY, b"2": Side.SELL}
_ORD_TYPE: Final = {OrdType.MARKET: b"1", OrdType.LIMIT: b"2"}
_TIF: Final = {0: b"0", 1: b"1", 3: b"3", 4: b"4"}


def _noop_exec(_: ExecReport) -> None:
    return None


def _noop_cxl(_: CancelReject) -> None:
    return None


def _fmt_ts(ns: int) -> bytes:
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(secs)).encode() + b".%06d" % (frac // 1000)


@mypyc_attr(allow_interpreted_subclasses=True)  # subclassed by interpreted code (see setup.py)
class FixOrderGateway(SessionApplication):
    """:class:`~hft.engine.gateway.OrderGateway` over one FIX initiator session.

    ``on_state`` (optional) is called with ``(old, new)`` session states; the engine uses it for the
    kill switch's disconnect trigger and the session metrics.
    """

    def __init__(self, session: FixSession | None = None, *, account: str = "", ex_destination: str = "ASX",
                 currency: str = "AUD", security_type: str = "CS",
                 clock: Callable[[], int] = time.time_ns) -> None:
        self.session: FixSession | None = None
        self.account = account.encode()
        self.ex_destination = ex_destination.encode()
        self.currency = currency.encode()
        self.security_type = security_type.encode()
        self.clock = clock
        self._on_exec: ExecSink = _noop_exec
        self._on_cxl: CancelRejectSink = _noop_cxl
        self.on_state: Callable[[SessionState, SessionState], None] | None = None
        self.on_logon_cb: Callable[[], None] | None = None
        self.last_write_ns = 0  # wall clock right before the last order command went to the socket
        self.echo_tick = b""  # when set, a new order carries it as 6001 SimTickId (the simulator's tick id)
        # called after each new order went to the socket, with its echo_tick (benchmarks' per-order stamps)
        self.on_sent: Callable[[bytes], None] | None = None
        # constant fields of every 35=D after 100 (15 Currency, 167 SecurityType), pre-encoded
        self._const_tail = (b"\x0115=" + self.currency if self.currency else b"") + (
            b"\x01167=" + self.security_type if self.security_type else b"")
        # constant parts of each 35=D shape, pre-encoded (FixEncoder.d_template), per session encoder
        self._d_tmpl: dict[tuple[str, Side, OrdType, int, FixEncoder], tuple[bytes, ...]] = {}
        self.sent: dict[str, int] = {"new": 0, "cancel": 0, "replace": 0, "status": 0, "refused": 0}
        self.received: dict[str, int] = {"exec": 0, "cancel_reject": 0, "session_reject": 0,
                                         "business_reject": 0, "ignored": 0}
        if session is not None:
            self.attach(session)

    def attach(self, session: FixSession) -> None:
        self.session = session
        session.app = self

    # -- OrderGateway -------------------------------------------------------------------------------
    def set_sinks(self, on_exec: ExecSink, on_cancel_reject: CancelRejectSink) -> None:
        self._on_exec = on_exec
        self._on_cxl = on_cancel_reject

    @property
    def connected(self) -> bool:
        s = self.session
        return s is not None and s.state == SessionState.ACTIVE

    def _send(self, msg_type: bytes, body: list[tuple[int, bytes | str | int]], kind: str) -> bool:
        s = self.session
        if s is None or s.state != SessionState.ACTIVE:
            self.sent["refused"] += 1
            return False
        return self._deliver(kind, s, s.send, msg_type, body)

    def _deliver(self, kind: str, s: FixSession, send: Callable[..., int], *args: Any) -> bool:
        """``send(*args)`` on the active session ``s`` (``s.send`` or ``s.send_built``); count the outcome,
        keep the session's pre-write stamp as ours."""
        try:
            send(*args)
        except (SessionError, OSError) as e:
            self.sent["refused"] += 1
            log.warning("could not send %s: %s", kind, e)
            return False
        self.last_write_ns = s.last_write_ns  # stamped by the session just before the socket write
        self.sent[kind] += 1
        return True

    def _order_tail(self, o: Order, now: bytes) -> list[tuple[int, bytes | str | int]]:
        body: list[tuple[int, bytes | str | int]] = [
            (55, o.instrument), (54, int(o.side)), (38, o.qty), (40, _ORD_TYPE[o.ord_type])]
        if o.ord_type is OrdType.LIMIT or o.price > 0:
            body.append((44, format_price(o.price)))
        body += [(59, _TIF.get(int(o.tif), b"0")), (60, now)]
        if self.ex_destination:
            body.append((100, self.ex_destination))
        if self.currency:
            body.append((15, self.currency))
        if self.security_type:
            body.append((167, self.security_type))
        return body

    def send_new(self, order: Order) -> bool:
        """35=D on the encoder's tuple-free path (``FixSession.send_built`` + ``new_order_single``): the
        frame is built once with its sequence number and SendingTime = TransactTime, stored, written."""
        s = self.session
        if s is None or s.state != SessionState.ACTIVE:
            self.sent["refused"] += 1
            return False
        o = order
        t = self._template_of(o, s.encoder)
        tick = self.echo_tick
        extra = b"\x016001=" + tick if tick else b""
        px = o.price if o.ord_type is OrdType.LIMIT or o.price > 0 else None
        try:  # _deliver() inlined: the hot path's one order send (measured: +0.5 us per tick through it)
            s.send_new_order_t(t, o.cl_ord_id.encode(), o.qty, px, extra)  # = send_built(new_order_single_t)
        except (SessionError, OSError) as e:
            self.sent["refused"] += 1
            log.warning("could not send new: %s", e)
            return False
        self.last_write_ns = s.last_write_ns  # stamped by the session just before the socket write
        self.sent["new"] += 1
        cb = self.on_sent
        if cb is not None:  # after the write: not on the tick-to-trade path
            cb(tick)
        return True

    def warm_new(self, order: Order) -> bool:
        """Cache warming (``OrderManager.warm``): :meth:`send_new`'s template lookup and 35=D encoding for
        ``order``, with the next MsgSeqNum, not taken: the frame is dropped (not stored, not written) and no
        counter moves. False when the session is not logged on."""
        s = self.session
        if s is None or s.state != SessionState.ACTIVE:
            return False
        o = order
        enc = s.encoder
        t = self._template_of(o, enc)
        tick = self.echo_tick
        extra = b"\x016001=" + tick if tick else b""
        px = o.price if o.ord_type is OrdType.LIMIT or o.price > 0 else None
        enc.new_order_single_t(s.store.next_sender_seq, s.clock(), t, o.cl_ord_id.encode(), o.qty, px, extra)
        return True

    def _template_of(self, o: Order, enc: FixEncoder) -> tuple[bytes, ...]:
        """The 35=D template of ``o``'s shape (instrument, side, type, time in force) for ``enc``."""
        key = (o.instrument, o.side, o.ord_type, o.tif, enc)
        t = self._d_tmpl.get(key)
        return t if t is not None else self._d_template(key)

    def _d_template(self, key: tuple[str, Side, OrdType, int, FixEncoder]) -> tuple[bytes, ...]:
        instrument, side, ot, tif, enc = key
        if len(self._d_tmpl) >= 1024:  # bounded (instruments x sides x types x TIFs of this session)
            self._d_tmpl.clear()
        t = self._d_tmpl[key] = enc.d_template(
            instrument.encode(), int(side), ord_type=_ORD_TYPE[ot], tif=_TIF.get(int(tif), b"0"),
            account=self.account or None, exdest=self.ex_destination or None, tail=self._const_tail)
        return t

    def send_cancel(self, order: Order, cancel_cl_ord_id: str) -> bool:
        """35=F on the encoder's tuple-free path (41, 37 when known, 11, 55, 54, 38, 60)."""
        s = self.session
        if s is None or s.state != SessionState.ACTIVE:
            self.sent["refused"] += 1
            return False
        enc = s.encoder
        cl = cancel_cl_ord_id.encode()
        orig = order.cl_ord_id.encode()
        sym = order.instrument.encode()
        oid = order.order_id.encode() if order.order_id else None
        side = int(order.side)
        qty = order.qty

        def build(seq: int, now: int) -> bytes:
            return enc.order_cancel_request(seq, cl, orig, sym, side, qty, order_id=oid, sending_time_ns=now)

        return self._deliver("cancel", s, s.send_built, build)

    def send_replace(self, order: Order, new_order: Order) -> bool:
        body: list[tuple[int, bytes | str | int]] = [(41, order.cl_ord_id)]
        if order.order_id:
            body.append((37, order.order_id))
        body.append((11, new_order.cl_ord_id))
        if self.account:
            body.append((1, self.account))
        body.append((21, b"1"))
        body += self._order_tail(new_order, _fmt_ts(self.clock()))
        return self._send(b"G", body, "replace")

    def request_status(self, order: Order) -> bool:
        body: list[tuple[int, bytes | str | int]] = []
        if order.order_id:
            body.append((37, order.order_id))
        body += [(11, order.cl_ord_id), (55, order.instrument), (54, int(order.side))]
        return self._send(b"H", body, "status")

    # -- SessionApplication -------------------------------------------------------------------------
    def on_app_message(self, session: FixSession, msg: FixMessage) -> None:
        mt = msg.msg_type
        if mt == b"8":
            self.received["exec"] += 1
            self._on_exec(decode_exec_report(msg))
        elif mt == b"9":
            self.received["cancel_reject"] += 1
            self._on_cxl(decode_cancel_reject(msg))
        elif mt == b"j":
            self.received["business_reject"] += 1
            log.warning("business message reject: %s", msg.get_str(58, ""))
        else:
            self.received["ignored"] += 1

    def on_session_reject(self, session: FixSession, msg: FixMessage) -> None:
        self.received["session_reject"] += 1
        log.warning("session reject of our seq %s: %s", msg.get_str(45, "?"), msg.get_str(58, ""))

    def on_state_change(self, session: FixSession, old: SessionState, new: SessionState) -> None:
        if self.on_state is not None:
            self.on_state(old, new)

    def on_logon(self, session: FixSession) -> None:
        if self.on_logon_cb is not None:
            self.on_logon_cb()


def decode_exec_report(msg: FixMessage) -> ExecReport:
    """FIX 35=8 -> :class:`ExecReport` (raises ``FixValueError`` on a malformed field: the session answers
    with a Reject 373=6)."""
    raw_et = msg.get(150) or b""
    et = _EXEC_TYPE.get(raw_et, raw_et.decode("ascii", "replace"))
    if msg.get(20) == b"3":  # FIX 4.2 status answer
        et = ExecType.ORDER_STATUS
    st = _ORD_STATUS.get(msg.get(39) or b"", OrdStatus.NEW)
    last_qty = msg.get_int(32, 0) or 0
    return ExecReport(
        exec_id=msg.get_str(17, "") or "",
        cl_ord_id=msg.get_str(11, "") or "",
        orig_cl_ord_id=msg.get_str(41, "") or "",
        order_id=msg.get_str(37, "") or "",
        exec_type=et,
        ord_status=st,
        side=_SIDE.get(msg.get(54) or b"", Side.BUY),
        instrument=msg.get_str(55, "") or "",
        last_px=_px(msg, 31) if last_qty else 0,
        last_qty=last_qty,
        cum_qty=msg.get_int(14, 0) or 0,
        leaves_qty=msg.get_int(151, 0) or 0,
        avg_px=_px(msg, 6),
        text=msg.get_str(58, "") or "",
        transact_ns=msg.get_timestamp_ns(60, 0) or 0,
        poss_dup=msg.poss_dup,
        liquidity=msg.get_str(851, "") or "",
    )


def _px(msg: FixMessage, tag: int) -> int:
    """A price field in price units; more decimals than a price unit (an average, or a venue quoting
    finer than the tick) is rounded instead of refused, so a fill is never lost to a Reject."""
    try:
        return msg.get_price(tag, 0) or 0
    except FixValueError:
        d = msg.get_decimal(tag)
        return int((d * PRICE_SCALE).to_integral_value()) if d is not None else 0


def decode_cancel_reject(msg: FixMessage) -> CancelReject:
    """FIX 35=9 -> :class:`CancelReject`."""
    st = msg.get(39)
    return CancelReject(
        cl_ord_id=msg.get_str(11, "") or "",
        orig_cl_ord_id=msg.get_str(41, "") or "",
        order_id=msg.get_str(37, "") or "",
        ord_status=_ORD_STATUS.get(st) if st else None,
        response_to=msg.get_str(434, "1") or "1",
        reason=msg.get_str(58, "") or "",
        transact_ns=msg.get_timestamp_ns(60, 0) or 0,
    )
