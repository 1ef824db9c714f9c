"""The order manager: order state machine, ClOrdID chains, execution report handling.

It does no risk checks (the engine asks the risk manager before :meth:`OrderManager.new_order`) and
never raises on venue input: anything surprising is counted in :attr:`OrderManager.counters`
(``illegal_transitions``, ``duplicate_execs``, ``unknown_fills``, ...) and logged once at WARNING with
lazy ``%`` formatting.

Transition table (:data:`TRANSITIONS`; fills are applied whatever the state, see below)::

    PENDING_NEW      -> NEW, PARTIALLY_FILLED, FILLED, REJECTED, CANCELED, EXPIRED, PENDING_CANCEL,
                        PENDING_REPLACE
    NEW              -> PARTIALLY_FILLED, FILLED, PENDING_CANCEL, PENDING_REPLACE, CANCELED, EXPIRED,
                        REPLACED, REJECTED
    PARTIALLY_FILLED -> PARTIALLY_FILLED, FILLED, PENDING_CANCEL, PENDING_REPLACE, CANCELED, EXPIRED,
                        REPLACED
    PENDING_CANCEL   -> CANCELED, FILLED, PARTIALLY_FILLED, NEW (cancel rejected), EXPIRED, REPLACED
    PENDING_REPLACE  -> REPLACED, FILLED, PARTIALLY_FILLED, NEW (replace rejected), CANCELED, EXPIRED
    terminal (FILLED, CANCELED, REPLACED, REJECTED, EXPIRED) -> nothing

Policies:

- ClOrdIDs are ``<session base36>-<n>``. The session number is ``max(last session in the journal + 1,
  unix seconds)``, journaled at start, so ids are unique across restarts (and across journals).
- Cancel/replace: the replacement order gets a new ClOrdID with ``orig_cl_ord_id`` = the live one; both
  are PENDING_REPLACE until the venue's Replaced report, after which the old order is REPLACED (terminal)
  and the new one is the live order. A cancel reject of the replace (or an ExecType=Rejected on the new
  id) restores the old order's previous status and marks the replacement REJECTED.
- Duplicates: an exec report whose ExecID was already processed is dropped (``duplicate_execs``),
  PossDup or not. A PossDup report with an unseen ExecID is processed normally.
- Out of order: a fill before the New ack moves PENDING_NEW straight to PARTIALLY_FILLED/FILLED and the
  late ack is ignored; a Filled before the PartiallyFilled makes the order FILLED and the late partial's
  quantity is still booked (fills are accumulated from LastQty, never from CumQty). Fills on terminal
  orders (e.g. a fill racing a cancel) are booked and counted in ``late_fills``.
- Unsolicited cancels (venue-side, e.g. cancel-on-disconnect) cancel the order and count
  ``unsolicited_cancels``.
- Fills for unknown orders still produce a :class:`Fill` (fee from the fee model as a fresh order) so
  positions stay right, counted in ``unknown_fills``; the engine should alert on that counter.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from hft.asx.fees import FeeModel, IbkrAsxFixed
from hft.engine.gateway import CancelReject, ExecReport, ExecType, OrderGateway
from hft.engine.journal import (
    T_CANCEL,
    T_CXL_REJECT,
    T_EXEC,
    T_LOCAL_REJECT,
    T_NEW,
    T_REPLACE,
    T_SESSION,
    Journal,
)
from hft.engine.risk import OpenOrderSource
from hft.model.types import (
    Fill,
    Order,
    OrderRequest,
    OrdStatus,
    OrdType,
    Side,
    TimeInForce,
    amendable,
    terminal,
)

log = logging.getLogger(__name__)

S = OrdStatus
TRANSITIONS: dict[OrdStatus, frozenset[OrdStatus]] = {
    S.PENDING_NEW: frozenset({S.NEW, S.PARTIALLY_FILLED, S.FILLED, S.REJECTED, S.CANCELED, S.EXPIRED,
                              S.PENDING_CANCEL, S.PENDING_REPLACE}),
    S.NEW: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.PENDING_REPLACE, S.CANCELED,
                      S.EXPIRED, S.REPLACED, S.REJECTED}),
    S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.PENDING_REPLACE,
                                   S.CANCELED, S.EXPIRED, S.REPLACED}),
    S.PENDING_CANCEL: frozenset({S.CANCELED, S.FILLED, S.PARTIALLY_FILLED, S.NEW, S.EXPIRED, S.REPLACED}),
    S.PENDING_REPLACE: frozenset({S.REPLACED, S.FILLED, S.PARTIALLY_FILLED, S.NEW, S.CANCELED,
                                  S.EXPIRED}),
    S.FILLED: frozenset(),
    S.CANCELED: frozenset(),
    S.REPLACED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
}

_COUNTERS = ("orders_sent", "cancels_sent", "replaces_sent", "exec_reports", "fills", "illegal_transitions",
             "duplicate_execs", "unknown_fills", "unknown_execs", "late_fills", "out_of_order",
             "unsolicited_cancels", "overfills", "cancel_rejects", "inflight_refused", "gateway_refused",
             "status_mismatches")

_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _b36(n: int) -> str:
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = _BASE36[r] + out
        if not n:
            return out


def _order_fields(o: Order) -> dict[str, Any]:
    return {"id": o.cl_ord_id, "instrument": o.instrument, "side": int(o.side), "price": o.price,
            "qty": o.qty, "tif": int(o.tif), "ord_type": int(o.ord_type), "orig": o.orig_cl_ord_id,
            "tag": o.tag,
            "created_ns": o.created_ns, "cum_qty": o.cum_qty, "avg_px_num": o.avg_px_num}


_NO_ORDERS: dict[str, Order] = {}  # open_dict of an instrument without open orders (never written)
_JS_CACHE: dict[str, bytes] = {}


def _js(v: str) -> bytes:
    """``json.dumps(v)`` as bytes (the journal's encoding of a string), cached for short strings."""
    b = _JS_CACHE.get(v)
    if b is None:
        b = json.dumps(v).encode()
        if len(_JS_CACHE) < 4096 and len(v) <= 64:
            _JS_CACHE[v] = b
    return b


def _js_id(v: str) -> bytes:
    """JSON string of a ClOrdID we generated (base36 + '-' + digits: nothing to escape)."""
    if v.isascii() and v.replace("-", "").isalnum():
        return b'"%s"' % v.encode()
    return json.dumps(v).encode()


_NEW_PREFIX = (b'{"id":%s,"instrument":%s,"side":%d,"price":%d,"qty":%d,"tif":%d,"ord_type":%d,"orig":%s,'
               b'"tag":%s,"created_ns":%d,"cum_qty":%d,"avg_px_num":%d')


def _order_prefix(o: Order) -> bytes:
    """The JSON text of :func:`_order_fields` without its closing brace (``Journal.append_prefix``)."""
    return _NEW_PREFIX % (_js_id(o.cl_ord_id), _js(o.instrument), o.side, o.price, o.qty, o.tif, o.ord_type,
                          _js(o.orig_cl_ord_id), _js(o.tag), o.created_ns, o.cum_qty, o.avg_px_num)


def _order_from(d: dict[str, Any], status: OrdStatus) -> Order:
    return Order(cl_ord_id=d["id"], instrument=d["instrument"], side=Side(d["side"]), price=d["price"],
                 qty=d["qty"], tif=TimeInForce(d["tif"]), ord_type=OrdType(d["ord_type"]), status=status,
                 cum_qty=d.get("cum_qty", 0), avg_px_num=d.get("avg_px_num", 0),
                 orig_cl_ord_id=d.get("orig", ""), created_ns=d.get("created_ns", 0),
                 updated_ns=d.get("created_ns", 0), tag=d.get("tag", ""))


def exec_to_fields(er: ExecReport) -> dict[str, Any]:
    return {"exec_id": er.exec_id, "id": er.cl_ord_id, "orig": er.orig_cl_ord_id, "order_id": er.order_id,
            "exec_type": er.exec_type, "ord_status": int(er.ord_status), "side": int(er.side),
            "instrument": er.instrument, "last_px": er.last_px, "last_qty": er.last_qty,
            "cum_qty": er.cum_qty, "leaves_qty": er.leaves_qty, "avg_px": er.avg_px, "text": er.text,
            "transact_ns": er.transact_ns, "poss_dup": er.poss_dup, "liquidity": er.liquidity}


def exec_from_fields(d: dict[str, Any]) -> ExecReport:
    return ExecReport(exec_id=d["exec_id"], cl_ord_id=d["id"], orig_cl_ord_id=d["orig"],
                      order_id=d["order_id"], exec_type=d["exec_type"], ord_status=OrdStatus(d["ord_status"]),
                      side=Side(d["side"]), instrument=d["instrument"], last_px=d["last_px"],
                      last_qty=d["last_qty"], cum_qty=d["cum_qty"], leaves_qty=d["leaves_qty"],
                      avg_px=d["avg_px"], text=d["text"], transact_ns=d["transact_ns"],
                      poss_dup=d["poss_dup"], liquidity=d.get("liquidity", ""))


def _cxl_fields(cr: CancelReject) -> dict[str, Any]:
    return {"id": cr.cl_ord_id, "orig": cr.orig_cl_ord_id, "order_id": cr.order_id,
            "ord_status": None if cr.ord_status is None else int(cr.ord_status),
            "response_to": cr.response_to, "reason": cr.reason, "transact_ns": cr.transact_ns}


def _cxl_from(d: dict[str, Any]) -> CancelReject:
    st = d["ord_status"]
    return CancelReject(cl_ord_id=d["id"], orig_cl_ord_id=d["orig"], order_id=d["order_id"],
                        ord_status=None if st is None else OrdStatus(st), response_to=d["response_to"],
                        reason=d["reason"], transact_ns=d["transact_ns"])


def _noop(_: Any) -> None:
    return None


class OrderManager(OpenOrderSource):
    """Tracks our orders through their life; journals every command and report before acting on it.

    An :class:`hft.engine.risk.OpenOrderSource`: the risk check counts and reads its open orders through
    native calls in the compiled build."""

    def __init__(self, gateway: OrderGateway | None, journal: Journal | None,
                 fee_model: FeeModel | None = None, *, max_pending_new: int = 64,
                 max_pending_cancel: int = 64, max_pending_replace: int = 64,
                 recovered: Any = None, clock: Callable[[], int] = time.time_ns,
                 history: int = 10_000) -> None:
        """``history``: finished (terminal) orders kept for late reports; the oldest beyond it leave
        :attr:`orders` (the journal has them), so the table stops growing and no GC-tracked object is
        left behind per order. A report for a dropped order is handled as for an unknown one."""
        self.gateway = gateway
        self.history = history
        self._done: deque[str] = deque()  # ClOrdIDs of finished orders, oldest first
        self.journal = journal
        self.fee_model: FeeModel = fee_model if fee_model is not None else IbkrAsxFixed()
        self.max_pending_new = max_pending_new
        self.max_pending_cancel = max_pending_cancel
        self.max_pending_replace = max_pending_replace
        self.clock = clock
        self.on_order_update: Callable[[Order], None] = _noop
        self.on_fill: Callable[[Fill], None] = _noop
        self.orders: dict[str, Order] = {}  # every ClOrdID we generated for an order
        self._open: dict[str, dict[str, Order]] = {}  # instrument -> {cl_ord_id: open order}
        self._cancel_ids: dict[str, Order] = {}  # cancel request id -> order
        self._replacing: dict[str, Order] = {}  # old cl_ord_id -> replacement order
        self._replaced_by: dict[str, Order] = {}  # new cl_ord_id -> old order
        self._prev_status: dict[str, OrdStatus] = {}  # cl_ord_id -> status before pending cancel/replace
        self.exec_ids: set[str] = set()
        self.counters: dict[str, int] = dict.fromkeys(_COUNTERS, 0)
        self.pending_new = 0
        self.pending_cancel = 0
        self.pending_replace = 0
        self._seq = 0
        last_session = 0
        if recovered is not None:
            self._adopt(recovered)
            last_session = recovered.session
        if journal is not None:
            last_session = max(last_session, journal.max_session)
        self.session = max(last_session + 1, int(time.time()))
        self._prefix = _b36(self.session) + "-"
        if journal is not None:
            journal.append(T_SESSION, {"session": self.session})

    # -- ids / indexes --------------------------------------------------------------------------------
    def next_cl_ord_id(self) -> str:
        self._seq += 1
        return self._prefix + str(self._seq)

    def counters_dict(self) -> dict[str, int]:
        return dict(self.counters)

    def open_orders(self, instrument: str | None = None) -> list[Order]:
        """Open (non-terminal) orders, of one instrument or all. O(open orders of that instrument)."""
        if instrument is not None:
            d = self._open.get(instrument)
            return list(d.values()) if d else []
        return [o for d in self._open.values() for o in d.values()]

    def open_dict(self, instrument: str) -> dict[str, Order]:
        """The open orders of one instrument as the order manager's own dict (ClOrdID -> order; read only,
        do not keep it): the risk check iterates it without a view object."""
        d = self._open.get(instrument)
        return d if d is not None else _NO_ORDERS

    def open_count(self) -> int:
        """Number of open orders, all instruments (no list built)."""
        n = 0
        for d in self._open.values():  # a compiled loop (sum(map(len, ...)) is generic calls: ~0.8 us)
            n += len(d)
        return n

    def get(self, cl_ord_id: str) -> Order | None:
        return self.orders.get(cl_ord_id)

    def _index_open(self, o: Order) -> None:
        d = self._open.get(o.instrument)
        if d is None:
            d = self._open[o.instrument] = {}
        d[o.cl_ord_id] = o

    def _unindex(self, o: Order) -> None:
        d = self._open.get(o.instrument)
        if d is not None:
            d.pop(o.cl_ord_id, None)

    def _set_status(self, o: Order, new: OrdStatus, now: int) -> bool:
        old = o.status
        if new is old and new is not OrdStatus.PARTIALLY_FILLED:
            return True
        if new not in TRANSITIONS[old]:
            self.counters["illegal_transitions"] += 1
            log.warning("illegal transition %s %s -> %s", o.cl_ord_id, old.name, new.name)
            return False
        self._leave(o, old)
        o.status = new
        o.updated_ns = now
        if terminal(new):
            self._unindex(o)
            self._prev_status.pop(o.cl_ord_id, None)
            done = self._done
            done.append(o.cl_ord_id)
            if len(done) > self.history:  # bounded history of finished orders
                old_id = done.popleft()
                old_o = self.orders.get(old_id)
                if old_o is not None and terminal(old_o.status) and old_id not in self._replaced_by:
                    del self.orders[old_id]
            if new is not OrdStatus.REPLACED and o.cl_ord_id in self._replacing:
                gone = OrdStatus.CANCELED if new is not OrdStatus.FILLED else OrdStatus.REJECTED
                self._drop_replace(o, gone, now)
            else:
                prior = self._replaced_by.get(o.cl_ord_id)
                if prior is not None:  # the not-yet-live replacement ended: so did the chain (or not)
                    if new is OrdStatus.REJECTED:
                        self._restore(prior, o.cl_ord_id, now)
                    else:
                        self._drop_replace(prior, OrdStatus.REPLACED, now)  # keeps o's own status
                        self._set_status(prior, new, now)
                    self.on_order_update(prior)
        return True

    def _leave(self, o: Order, old: OrdStatus) -> None:
        if old is OrdStatus.PENDING_NEW:
            self.pending_new -= 1
        elif old is OrdStatus.PENDING_CANCEL:
            self.pending_cancel -= 1

    def _drop_replace(self, old: Order, new_status: OrdStatus, now: int) -> Order | None:
        """Forget the pending replace of ``old`` (if any); the replacement gets ``new_status``."""
        new = self._replacing.pop(old.cl_ord_id, None)
        if new is None:
            return None
        self._replaced_by.pop(new.cl_ord_id, None)
        self.pending_replace -= 1
        if new_status is not OrdStatus.REPLACED:
            new.status = new_status
            new.updated_ns = now
        return new

    # -- commands -------------------------------------------------------------------------------------
    def new_order(self, req: OrderRequest) -> Order | None:
        """Create, journal and send a new order. None if the in-flight limit of pending news is reached.
        If the gateway refuses the hand-over the order is returned REJECTED."""
        return self.submit(req.instrument, req.side, req.price, req.qty, req.tif, req.ord_type, req.tag)

    def submit(self, instrument: str, side: Side, price: int, qty: int, tif: TimeInForce = TimeInForce.DAY,
               ord_type: OrdType = OrdType.LIMIT, tag: str = "") -> Order | None:
        """:meth:`new_order` without the request object (the engine's lean path)."""
        if self.pending_new >= self.max_pending_new:
            self.counters["inflight_refused"] += 1
            return None
        now = self.clock()
        self._seq += 1  # next_cl_ord_id, _place and _index_open inlined (the engine's per-order path)
        cl = self._prefix + str(self._seq)
        o = Order(cl, instrument, side, price, qty, tif, ord_type, OrdStatus.PENDING_NEW, created_ns=now,
                  updated_ns=now, tag=tag)
        self.orders[cl] = o
        d = self._open.get(instrument)
        if d is None:
            d = self._open[instrument] = {}
        d[cl] = o
        self.pending_new += 1
        j = self.journal
        if j is not None:
            if type(j) is Journal:  # preformatted record, byte-identical to append(T_NEW, _order_fields(o))
                j.append_prefix(b'"new"', _order_prefix(o))
            else:
                j.append(T_NEW, _order_fields(o))
        self.counters["orders_sent"] += 1
        if self.gateway is not None and not self.gateway.send_new(o):
            self._local_reject(o, "new", "gateway refused")
        return o

    def warm(self, like: Order) -> None:
        """Cache warming (``TradingEngine.warm``): :meth:`submit`'s id and ``Order`` for an order shaped like
        ``like``, then the gateway's encoding of it (``warm_new``, when the gateway has one). Nothing is
        stored, counted, journalled, sent or consumed (the id is the next one, not taken)."""
        now = self.clock()
        cl = self._prefix + str(self._seq + 1)
        o = Order(cl, like.instrument, like.side, like.price, like.qty, like.tif, like.ord_type,
                  OrdStatus.PENDING_NEW, created_ns=now, updated_ns=now, tag=like.tag)
        self.orders.get(cl)
        self._open.get(like.instrument)
        gw = self.gateway
        if gw is not None:
            wn = getattr(gw, "warm_new", None)
            if wn is not None:
                wn(o)

    def _place(self, o: Order) -> None:
        self.orders[o.cl_ord_id] = o
        self._index_open(o)
        self.pending_new += 1

    def cancel(self, order: Order) -> bool:
        """Journal and send a cancel. False if the order is not open, already pending cancel/replace, or
        the in-flight cancel limit is reached."""
        st = order.status
        if not amendable(st) or self.pending_cancel >= self.max_pending_cancel:
            if self.pending_cancel >= self.max_pending_cancel:
                self.counters["inflight_refused"] += 1
            return False
        cxl_id = self.next_cl_ord_id()
        if self.journal is not None:
            self.journal.append(T_CANCEL, {"id": order.cl_ord_id, "cxl": cxl_id})
        self._apply_cancel(order, cxl_id, self.clock())
        self.counters["cancels_sent"] += 1
        if self.gateway is not None and not self.gateway.send_cancel(order, cxl_id):
            self._undo_pending(order, cxl_id, "cancel")
            return False
        return True

    def _apply_cancel(self, order: Order, cxl_id: str, now: int) -> None:
        self._prev_status[order.cl_ord_id] = order.status
        self._cancel_ids[cxl_id] = order
        self._set_status(order, OrdStatus.PENDING_CANCEL, now)
        self.pending_cancel += 1

    def replace(self, order: Order, price: int | None = None, qty: int | None = None) -> Order | None:
        """Journal and send a cancel/replace; returns the replacement (PENDING_REPLACE) or None."""
        st = order.status
        if not amendable(st):
            return None
        if self.pending_replace >= self.max_pending_replace:
            self.counters["inflight_refused"] += 1
            return None
        now = self.clock()
        new = Order(self.next_cl_ord_id(), order.instrument, order.side,
                    order.price if price is None else price, order.qty if qty is None else qty, order.tif,
                    order.ord_type, OrdStatus.PENDING_REPLACE, cum_qty=order.cum_qty,
                    avg_px_num=order.avg_px_num, order_id=order.order_id, orig_cl_ord_id=order.cl_ord_id,
                    created_ns=now, updated_ns=now, tag=order.tag)
        if self.journal is not None:
            self.journal.append(T_REPLACE, {"id": order.cl_ord_id, "new": _order_fields(new)})
        self._apply_replace(order, new, now)
        self.counters["replaces_sent"] += 1
        if self.gateway is not None and not self.gateway.send_replace(order, new):
            self._undo_pending(order, new.cl_ord_id, "replace")
            return None
        return new

    def _apply_replace(self, order: Order, new: Order, now: int) -> None:
        self._prev_status[order.cl_ord_id] = order.status
        self._set_status(order, OrdStatus.PENDING_REPLACE, now)
        self._replacing[order.cl_ord_id] = new
        self._replaced_by[new.cl_ord_id] = order
        self.orders[new.cl_ord_id] = new
        self.pending_replace += 1

    def _undo_pending(self, order: Order, req_id: str, cmd: str) -> None:
        self.counters["gateway_refused"] += 1
        if self.journal is not None:
            self.journal.append(T_LOCAL_REJECT, {"id": order.cl_ord_id, "req": req_id, "cmd": cmd,
                                                 "reason": "gateway refused"})
        self._restore(order, req_id, self.clock())

    def _restore(self, order: Order, req_id: str, now: int) -> None:
        """Undo a pending cancel (req_id = cancel id) or replace (req_id = replacement id)."""
        new = self._replacing.get(order.cl_ord_id)
        if order.status is OrdStatus.PENDING_REPLACE and (new is None or new.cl_ord_id != req_id):
            return  # not the pending request of this order
        prev = self._prev_status.pop(order.cl_ord_id, OrdStatus.NEW)
        self._cancel_ids.pop(req_id, None)
        if new is not None and new.cl_ord_id == req_id:
            self._drop_replace(order, OrdStatus.REJECTED, now)
        if order.status is OrdStatus.PENDING_CANCEL or order.status is OrdStatus.PENDING_REPLACE:
            if order.status is OrdStatus.PENDING_CANCEL:
                self._leave(order, order.status)
            order.status = OrdStatus.NEW if prev is OrdStatus.PENDING_NEW else prev
            if order.cum_qty and order.status is OrdStatus.NEW:
                order.status = OrdStatus.PARTIALLY_FILLED
            order.updated_ns = now

    def _local_reject(self, o: Order, cmd: str, reason: str) -> None:
        self.counters["gateway_refused"] += 1
        if self.journal is not None:
            self.journal.append(T_LOCAL_REJECT, {"id": o.cl_ord_id, "req": o.cl_ord_id, "cmd": cmd,
                                                 "reason": reason})
        o.reject_reason = reason
        self._set_status(o, OrdStatus.REJECTED, self.clock())

    def request_status(self, orders: list[Order] | None = None) -> int:
        """Send an order status request (FIX 35=H) for each of ``orders`` (default: every open order,
        e.g. after recovery); returns how many were handed to the gateway."""
        if self.gateway is None:
            return 0
        n = 0
        for o in self.open_orders() if orders is None else orders:
            if self.gateway.request_status(o):
                n += 1
        return n

    # -- venue input ----------------------------------------------------------------------------------
    def on_exec_report(self, er: ExecReport) -> None:
        """Gateway sink: journal, then apply an execution report."""
        if self.journal is not None:
            self.journal.append(T_EXEC, exec_to_fields(er))
        self._apply_exec(er)

    def on_cancel_reject(self, cr: CancelReject) -> None:
        """Gateway sink: journal, then apply a cancel reject."""
        if self.journal is not None:
            self.journal.append(T_CXL_REJECT, _cxl_fields(cr))
        self._apply_cxl_reject(cr)

    def _resolve(self, er: ExecReport) -> Order | None:
        o = self.orders.get(er.cl_ord_id)
        if o is not None:
            return o
        o = self._cancel_ids.get(er.cl_ord_id)
        if o is not None:
            return o
        if er.orig_cl_ord_id:
            return self.orders.get(er.orig_cl_ord_id)
        return None

    def _apply_exec(self, er: ExecReport) -> None:
        c = self.counters
        c["exec_reports"] += 1
        et = er.exec_type
        is_status = et == ExecType.ORDER_STATUS  # idempotent (reconciled by CumQty): never deduplicated
        if er.exec_id and not is_status:
            if er.exec_id in self.exec_ids:
                c["duplicate_execs"] += 1
                return
            self.exec_ids.add(er.exec_id)
        now = er.transact_ns or self.clock()
        o = self._resolve(er)
        if o is None:
            if er.last_qty > 0 and not is_status:
                c["unknown_fills"] += 1
                log.warning("fill for unknown order %s exec %s", er.cl_ord_id, er.exec_id)
                fee = self.fee_model.fill_fee(0, er.last_px * er.last_qty)
                c["fills"] += 1
                self.on_fill(Fill(er.cl_ord_id, er.instrument, er.side, er.last_px, er.last_qty, fee, now,
                                  er.exec_id, er.liquidity))
            else:
                c["unknown_execs"] += 1
                log.warning("exec report for unknown order %s", er.cl_ord_id)
            return
        if er.order_id and not o.order_id:
            o.order_id = er.order_id
        if is_status:
            self._on_status(o, er, now)
        elif et == ExecType.REPLACED:
            self._on_replaced(o, er, now)
        elif er.last_qty > 0 or et == ExecType.TRADE:
            self._on_fill(o, er, now)
        elif et == ExecType.NEW or et == ExecType.PENDING_NEW:
            if o.status is OrdStatus.PENDING_NEW:
                if et == ExecType.NEW:
                    self._set_status(o, OrdStatus.NEW, now)
            else:
                c["out_of_order"] += 1
        elif et == ExecType.CANCELED:
            if o.status is not OrdStatus.PENDING_CANCEL and o.status is not OrdStatus.PENDING_REPLACE:
                c["unsolicited_cancels"] += 1
                log.warning("unsolicited cancel of %s", o.cl_ord_id)
            self._cancel_ids.pop(er.cl_ord_id, None)
            # (a pending replacement dies with the order: _set_status drops it)
            self._set_status(o, OrdStatus.CANCELED, now)
        elif et == ExecType.REJECTED:
            old = self._replaced_by.get(o.cl_ord_id)
            if old is not None:  # a replace refused through an exec report
                self._restore(old, o.cl_ord_id, now)
                o.reject_reason = er.text
                self.on_order_update(old)
            else:
                o.reject_reason = er.text
                self._set_status(o, OrdStatus.REJECTED, now)
        elif et == ExecType.EXPIRED or et == ExecType.DONE_FOR_DAY:
            self._set_status(o, OrdStatus.EXPIRED, now)
        # PENDING_CANCEL / PENDING_REPLACE acks: nothing to change
        self.on_order_update(o)

    def _on_fill(self, o: Order, er: ExecReport, now: int) -> None:
        c = self.counters
        qty = er.last_qty
        px = er.last_px
        live = self._replacing.get(o.cl_ord_id)
        prev_value = o.avg_px_num
        fee = self.fee_model.fill_fee(prev_value, px * qty)
        if terminal(o.status):
            c["late_fills"] += 1
        o.cum_qty += qty
        o.avg_px_num += px * qty
        o.updated_ns = now
        if live is not None:  # mirror onto the pending replacement (FIX CumQty carries over)
            live.cum_qty = o.cum_qty
            live.avg_px_num = o.avg_px_num
        elif o.cl_ord_id in self._replaced_by and o.status is OrdStatus.PENDING_REPLACE:
            old = self._replaced_by[o.cl_ord_id]
            old.cum_qty = o.cum_qty
            old.avg_px_num = o.avg_px_num
        if o.cum_qty > o.qty:
            c["overfills"] += 1
            log.warning("overfill on %s: cum %d > qty %d", o.cl_ord_id, o.cum_qty, o.qty)
        if not terminal(o.status):
            if o.cum_qty >= o.qty or er.ord_status is OrdStatus.FILLED:
                if o.status is OrdStatus.PENDING_REPLACE and live is not None:
                    self._restore(o, live.cl_ord_id, now)
                    self.on_order_update(live)
                elif o.status is OrdStatus.PENDING_CANCEL:
                    self._prev_status.pop(o.cl_ord_id, None)
                self._set_status(o, OrdStatus.FILLED, now)
            elif o.status is OrdStatus.PENDING_NEW or o.status is OrdStatus.NEW:
                self._set_status(o, OrdStatus.PARTIALLY_FILLED, now)
        c["fills"] += 1
        self.on_fill(Fill(o.cl_ord_id, o.instrument, o.side, px, qty, fee, now, er.exec_id, er.liquidity))

    def _on_replaced(self, o: Order, er: ExecReport, now: int) -> None:
        # o is whatever er.cl_ord_id resolved to: normally the replacement; find the pair
        if o.cl_ord_id in self._replaced_by:
            new, old = o, self._replaced_by[o.cl_ord_id]
        elif o.cl_ord_id in self._replacing:
            old, new = o, self._replacing[o.cl_ord_id]
        else:
            self.counters["out_of_order"] += 1
            log.warning("Replaced report for %s without a pending replace", o.cl_ord_id)
            return
        self._drop_replace(old, OrdStatus.REPLACED, now)
        self._set_status(old, OrdStatus.REPLACED, now)
        if er.order_id:
            new.order_id = er.order_id
        new.cum_qty = old.cum_qty
        new.avg_px_num = old.avg_px_num
        new.status = OrdStatus.FILLED if new.cum_qty >= new.qty else (
            OrdStatus.PARTIALLY_FILLED if new.cum_qty else OrdStatus.NEW)
        new.updated_ns = now
        if not terminal(new.status):
            self._index_open(new)
        self.on_order_update(old)
        if new is not o:
            self.on_order_update(new)

    def _on_status(self, o: Order, er: ExecReport, now: int) -> None:
        """Reconciliation answer: book missing fills (synthesized from CumQty/AvgPx) and adopt the venue's
        terminal status."""
        missing = er.cum_qty - o.cum_qty
        if missing > 0:
            value = er.avg_px * er.cum_qty - o.avg_px_num
            px = value // missing if missing else 0
            self.counters["status_mismatches"] += 1
            synth = ExecReport(f"recon-{er.exec_id}", o.cl_ord_id, "", er.order_id, ExecType.TRADE,
                               er.ord_status, o.side, o.instrument, px, missing, er.cum_qty, er.leaves_qty,
                               er.avg_px, "reconciled", now)
            self._on_fill(o, synth, now)
        if er.ord_status is not o.status and terminal(er.ord_status) and not terminal(o.status):
            self.counters["status_mismatches"] += 1
            if o.status is OrdStatus.PENDING_CANCEL or o.status is OrdStatus.PENDING_REPLACE:
                self._prev_status.pop(o.cl_ord_id, None)
            if not self._set_status(o, er.ord_status, now):
                self._leave(o, o.status)
                o.status = er.ord_status
                self._unindex(o)
        elif o.status is OrdStatus.PENDING_NEW and (er.ord_status is OrdStatus.NEW
                                                    or er.ord_status is OrdStatus.PARTIALLY_FILLED):
            self._set_status(o, er.ord_status, now)

    def _apply_cxl_reject(self, cr: CancelReject) -> None:
        self.counters["cancel_rejects"] += 1
        o = self._cancel_ids.get(cr.cl_ord_id)
        if o is None:
            o = self._replaced_by.get(cr.cl_ord_id)
        if o is None:
            o = self.orders.get(cr.orig_cl_ord_id)
        if o is None:
            self.counters["unknown_execs"] += 1
            log.warning("cancel reject for unknown order %s", cr.orig_cl_ord_id)
            return
        now = cr.transact_ns or self.clock()
        req = cr.cl_ord_id
        if req not in self._cancel_ids and req not in self._replaced_by:
            # the venue echoed an id we do not know: match by the order's pending request, if any
            if o.status is OrdStatus.PENDING_REPLACE and o.cl_ord_id in self._replacing:
                req = self._replacing[o.cl_ord_id].cl_ord_id
            elif o.status is not OrdStatus.PENDING_CANCEL:
                req = ""
        if req:
            self._restore(o, req, now)
        else:
            self.counters["out_of_order"] += 1
            log.warning("cancel reject %s for %s with no pending request", cr.cl_ord_id, o.cl_ord_id)
        if cr.ord_status is not None and terminal(cr.ord_status) and not terminal(o.status):
            self._set_status(o, cr.ord_status, now)  # "too late to cancel": the venue says it is done
        self.on_order_update(o)
        new = self.orders.get(cr.cl_ord_id)
        if new is not None and new is not o:
            self.on_order_update(new)

    # -- recovery -------------------------------------------------------------------------------------
    def replay(self, rec: dict[str, Any]) -> None:
        """Apply one journal record (no journaling, no gateway calls). Used by :func:`journal.recover`."""
        t = rec["t"]
        o: Order | None
        if t == T_NEW:
            o = _order_from(rec, OrdStatus.PENDING_NEW)
            self._place(o)
            self._bump_seq(o.cl_ord_id)
        elif t == T_CANCEL:
            o = self.orders.get(rec["id"])
            self._bump_seq(rec["cxl"])
            if o is not None and not terminal(o.status):
                self._apply_cancel(o, rec["cxl"], rec.get("ns", 0))
        elif t == T_REPLACE:
            o = self.orders.get(rec["id"])
            new = _order_from(rec["new"], OrdStatus.PENDING_REPLACE)
            self._bump_seq(new.cl_ord_id)
            if o is not None and not terminal(o.status):
                new.order_id = o.order_id
                self._apply_replace(o, new, rec.get("ns", 0))
        elif t == T_LOCAL_REJECT:
            o = self.orders.get(rec["id"])
            if o is None:
                return
            if rec["cmd"] == "new":
                o.reject_reason = rec["reason"]
                self._set_status(o, OrdStatus.REJECTED, rec.get("ns", 0))
            else:
                self._restore(o, rec["req"], rec.get("ns", 0))
        elif t == T_EXEC:
            self._apply_exec(exec_from_fields(rec))
        elif t == T_CXL_REJECT:
            self._apply_cxl_reject(_cxl_from(rec))

    def _bump_seq(self, cl_ord_id: str) -> None:
        head, _, tail = cl_ord_id.rpartition("-")
        if head + "-" == self._prefix and tail.isdigit():
            self._seq = max(self._seq, int(tail))

    def _adopt(self, st: Any) -> None:
        """Take over the state a previous process left (a :class:`~hft.engine.journal.RecoveryState`)."""
        for o in st.orders.values():  # re-link pending replaces (old PENDING_REPLACE <- new)
            old = st.orders.get(o.orig_cl_ord_id) if o.orig_cl_ord_id else None
            if (o.status is OrdStatus.PENDING_REPLACE and old is not None
                    and old.status is OrdStatus.PENDING_REPLACE):
                self._replacing[old.cl_ord_id] = o
                self._replaced_by[o.cl_ord_id] = old
                self._prev_status[old.cl_ord_id] = (OrdStatus.PARTIALLY_FILLED if old.cum_qty
                                                    else OrdStatus.NEW)
                self.pending_replace += 1
        for o in st.orders.values():
            self.orders[o.cl_ord_id] = o
            if o.is_open and o.cl_ord_id not in self._replaced_by:
                self._index_open(o)
            if o.status is OrdStatus.PENDING_NEW:
                self.pending_new += 1
            elif o.status is OrdStatus.PENDING_CANCEL:
                self.pending_cancel += 1
                self._prev_status[o.cl_ord_id] = OrdStatus.PARTIALLY_FILLED if o.cum_qty else OrdStatus.NEW
        self.exec_ids |= st.exec_ids
