"""Order manager: state machine, ids, replace chains, exec report edge cases, fees, in-flight limits."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from hft.asx.fees import IbkrAsxFixed, ZeroFees
from hft.engine.gateway import CancelReject, ExecReport, ExecType, OrderGateway
from hft.engine.journal import Journal, recover
from hft.engine.orders import TRANSITIONS, OrderManager
from hft.model.types import Fill, Order, OrderRequest, OrdStatus, Side

S = OrdStatus


class RecordingGateway:
    """Test double: records what the order manager hands over (tests the manager's own logic only)."""

    def __init__(self, accept: bool = True) -> None:
        self.sent: list[tuple[str, str, str]] = []
        self.accept = accept

    def set_sinks(self, on_exec, on_cancel_reject) -> None:  # type: ignore[no-untyped-def]
        pass

    def send_new(self, order: Order) -> bool:
        self.sent.append(("new", order.cl_ord_id, ""))
        return self.accept

    def send_cancel(self, order: Order, cancel_cl_ord_id: str) -> bool:
        self.sent.append(("cancel", order.cl_ord_id, cancel_cl_ord_id))
        return self.accept

    def send_replace(self, order: Order, new_order: Order) -> bool:
        self.sent.append(("replace", order.cl_ord_id, new_order.cl_ord_id))
        return self.accept

    def request_status(self, order: Order) -> bool:
        self.sent.append(("status", order.cl_ord_id, ""))
        return self.accept


def make(fee=None, **kw):  # type: ignore[no-untyped-def]
    gw = RecordingGateway()
    om = OrderManager(gw, None, fee if fee is not None else ZeroFees(), **kw)
    fills: list[Fill] = []
    om.on_fill = fills.append
    return om, gw, fills


_n = [0]


def er(o: Order, et: str, st: OrdStatus, last_qty: int = 0, last_px: int = 0, exec_id: str | None = None,
       poss_dup: bool = False, cl: str | None = None, orig: str = "") -> ExecReport:
    _n[0] += 1
    return ExecReport(exec_id or f"E{_n[0]}", cl or o.cl_ord_id, orig, "V1", et, st, o.side, o.instrument,
                      last_px, last_qty, 0, 0, 0, "", 1, poss_dup)


def buy(om: OrderManager, qty: int = 100, px: int = 451_200) -> Order:
    o = om.new_order(OrderRequest("BHP", Side.BUY, px, qty))
    assert o is not None
    return o


def test_real_fix_gateway_refuses_without_a_session_and_the_order_is_rejected() -> None:
    """The product's gateway (not the double above) satisfies the protocol, and a refusal (no session)
    is a False return the manager turns into a REJECTED order, never an exception."""
    from hft.engine.fix_gateway import FixOrderGateway

    gw = FixOrderGateway()
    assert isinstance(gw, OrderGateway)
    om = OrderManager(gw, None, ZeroFees())
    o = buy(om)
    assert o.status is S.REJECTED and o.reject_reason == "gateway refused"
    assert gw.sent["refused"] == 1 and gw.sent["new"] == 0 and om.counters["gateway_refused"] == 1
    assert om.open_orders() == []


def test_ack_partial_full_lifecycle_avg_price_exact() -> None:
    om, gw, fills = make()
    o = buy(om, 300)
    assert gw.sent == [("new", o.cl_ord_id, "")] and o.status is S.PENDING_NEW
    assert om.open_orders("BHP") == [o] and om.open_orders("CBA") == []
    om.on_exec_report(er(o, ExecType.NEW, S.NEW))
    assert o.status is S.NEW and o.order_id == "V1"
    om.on_exec_report(er(o, ExecType.TRADE, S.PARTIALLY_FILLED, 100, 451_200))
    om.on_exec_report(er(o, ExecType.TRADE, S.PARTIALLY_FILLED, 100, 451_300))
    assert o.status is S.PARTIALLY_FILLED and o.cum_qty == 200 and o.leaves_qty == 100
    om.on_exec_report(er(o, ExecType.TRADE, S.FILLED, 100, 451_400))
    assert o.status is S.FILLED and o.cum_qty == 300
    assert o.avg_px_num == 100 * (451_200 + 451_300 + 451_400)
    assert o.avg_px == 451_300.0
    assert [f.qty for f in fills] == [100, 100, 100] and om.open_orders() == []


def test_fees_per_fill_respect_per_order_minimum() -> None:
    om, _, fills = make(IbkrAsxFixed())
    o = buy(om, 10_000, 100_000)  # $10 x 10,000 = $100,000 -> 0.08% = $80 = 8000c
    om.on_exec_report(er(o, ExecType.TRADE, S.PARTIALLY_FILLED, 100, 100_000))  # $1000 -> min $6
    om.on_exec_report(er(o, ExecType.TRADE, S.FILLED, 9_900, 100_000))
    assert fills[0].fee_cents == 600
    assert fills[1].fee_cents == 8000 - 600
    assert sum(f.fee_cents for f in fills) == IbkrAsxFixed().order_fee(10_000 * 100_000)


def test_duplicate_exec_ids_and_possdup_dropped() -> None:
    om, _, fills = make()
    o = buy(om)
    om.on_exec_report(er(o, ExecType.TRADE, S.PARTIALLY_FILLED, 50, 451_200, exec_id="X1"))
    om.on_exec_report(er(o, ExecType.TRADE, S.PARTIALLY_FILLED, 50, 451_200, exec_id="X1", poss_dup=True))
    om.on_exec_report(er(o, ExecType.TRADE, S.PARTIALLY_FILLED, 50, 451_200, exec_id="X1"))
    assert o.cum_qty == 50 and len(fills) == 1 and om.counters["duplicate_execs"] == 2
    # a PossDup with an unseen exec id is a real fill we had missed
    om.on_exec_report(er(o, ExecType.TRADE, S.FILLED, 50, 451_200, exec_id="X2", poss_dup=True))
    assert o.cum_qty == 100 and o.status is S.FILLED


def test_fill_before_ack_and_filled_before_partial() -> None:
    om, _, fills = make()
    o = buy(om, 100)
    om.on_exec_report(er(o, ExecType.TRADE, S.FILLED, 60, 451_200))  # Filled first (cum 100 at venue)
    assert o.status is S.FILLED and o.cum_qty == 60
    om.on_exec_report(er(o, ExecType.NEW, S.NEW))  # late ack: ignored
    assert o.status is S.FILLED and om.counters["out_of_order"] == 1
    om.on_exec_report(er(o, ExecType.TRADE, S.PARTIALLY_FILLED, 40, 451_100))  # late partial still booked
    assert o.cum_qty == 100 and o.status is S.FILLED and sum(f.qty for f in fills) == 100
    assert om.counters["late_fills"] == 1 and om.counters["illegal_transitions"] == 0


def test_cancel_flow_and_cancel_reject_restores() -> None:
    om, gw, _ = make()
    o = buy(om)
    om.on_exec_report(er(o, ExecType.NEW, S.NEW))
    assert om.cancel(o)
    cxl = gw.sent[-1][2]
    assert o.status is S.PENDING_CANCEL and not om.cancel(o)  # no double cancel
    om.on_cancel_reject(CancelReject(cxl, o.cl_ord_id, "V1", S.NEW, "1", "too late"))
    assert o.status is S.NEW and om.pending_cancel == 0
    assert om.cancel(o)
    cxl2 = gw.sent[-1][2]
    assert cxl2 != cxl
    om.on_exec_report(er(o, ExecType.CANCELED, S.CANCELED, cl=cxl2, orig=o.cl_ord_id))
    assert o.status is S.CANCELED and om.open_orders() == [] and om.counters["unsolicited_cancels"] == 0
    assert not om.cancel(o)


def test_unsolicited_cancel_and_unknown_fill() -> None:
    om, _, fills = make(IbkrAsxFixed())
    o = buy(om)
    om.on_exec_report(er(o, ExecType.NEW, S.NEW))
    om.on_exec_report(er(o, ExecType.CANCELED, S.CANCELED))  # cancel-on-disconnect
    assert o.status is S.CANCELED and om.counters["unsolicited_cancels"] == 1
    ghost = Order("zz-1", "CBA", Side.SELL, 1_000_000, 10)
    om.on_exec_report(er(ghost, ExecType.TRADE, S.FILLED, 10, 1_000_000))
    assert om.counters["unknown_fills"] == 1
    assert fills[-1].cl_ord_id == "zz-1" and fills[-1].side is Side.SELL and fills[-1].qty == 10
    assert fills[-1].fee_cents == 600  # 10 x $100 = $1000 -> 0.08% = 80c -> the $6 per-order minimum
    om.on_exec_report(er(ghost, ExecType.NEW, S.NEW))
    assert om.counters["unknown_execs"] == 1


def test_replace_chain_replaced_and_rejected() -> None:
    om, gw, _ = make()
    o = buy(om, 100)
    om.on_exec_report(er(o, ExecType.NEW, S.NEW))
    om.on_exec_report(er(o, ExecType.TRADE, S.PARTIALLY_FILLED, 30, 451_200))
    new = om.replace(o, price=451_300)
    assert new is not None and new.orig_cl_ord_id == o.cl_ord_id and new.cl_ord_id != o.cl_ord_id
    assert gw.sent[-1] == ("replace", o.cl_ord_id, new.cl_ord_id)
    assert o.status is S.PENDING_REPLACE and om.open_orders() == [o]
    assert om.replace(o, price=1) is None and not om.cancel(o)
    # a fill on the old id while the replace is pending carries over
    om.on_exec_report(er(o, ExecType.TRADE, S.PARTIALLY_FILLED, 10, 451_200))
    assert new.cum_qty == 40
    om.on_exec_report(er(new, ExecType.REPLACED, S.PARTIALLY_FILLED, cl=new.cl_ord_id, orig=o.cl_ord_id))
    assert o.status is S.REPLACED and new.status is S.PARTIALLY_FILLED and om.open_orders() == [new]
    assert new.price == 451_300 and new.leaves_qty == 60 and om.pending_replace == 0
    # replace rejected: old one restored, the replacement is rejected
    newer = om.replace(new, qty=200)
    assert newer is not None
    om.on_cancel_reject(CancelReject(newer.cl_ord_id, new.cl_ord_id, "V1", S.PARTIALLY_FILLED, "2", "no"))
    assert new.status is S.PARTIALLY_FILLED and newer.status is S.REJECTED and om.open_orders() == [new]
    assert om.pending_replace == 0 and om.counters["illegal_transitions"] == 0


def test_inflight_limits_and_gateway_refusal() -> None:
    om, gw, _ = make(max_pending_new=2, max_pending_cancel=1)
    a, b = buy(om), buy(om)
    assert om.new_order(OrderRequest("BHP", Side.BUY, 451_200, 1)) is None
    assert om.counters["inflight_refused"] == 1
    om.on_exec_report(er(a, ExecType.NEW, S.NEW))
    c = buy(om)  # a slot freed
    om.on_exec_report(er(b, ExecType.NEW, S.NEW))
    om.on_exec_report(er(c, ExecType.NEW, S.NEW))
    assert om.cancel(a) and not om.cancel(b) and b.status is S.NEW
    gw.accept = False
    om.on_exec_report(er(a, ExecType.CANCELED, S.CANCELED))
    assert not om.cancel(b) and b.status is S.NEW and om.pending_cancel == 0
    d = buy(om)
    assert d.status is S.REJECTED and d.reject_reason == "gateway refused" and om.pending_new == 0


def test_illegal_transition_counted_not_raised() -> None:
    om, _, _ = make()
    o = buy(om)
    om.on_exec_report(er(o, ExecType.REJECTED, S.REJECTED))
    om.on_exec_report(er(o, ExecType.EXPIRED, S.EXPIRED))
    assert o.status is S.REJECTED and om.counters["illegal_transitions"] == 1
    assert all(not TRANSITIONS[s] for s in S if s.is_terminal)


def test_status_request_reconciles_missing_fill() -> None:
    om, _, fills = make()
    o = buy(om, 100)
    om.on_exec_report(er(o, ExecType.NEW, S.NEW))
    om.on_exec_report(er(o, ExecType.TRADE, S.PARTIALLY_FILLED, 40, 451_000))
    rep = ExecReport("S1", o.cl_ord_id, "", "V1", ExecType.ORDER_STATUS, S.FILLED, o.side, "BHP", 0, 0,
                     100, 0, 451_600, "", 5, False)
    om.on_exec_report(rep)
    assert o.status is S.FILLED and o.cum_qty == 100
    assert fills[-1].qty == 60 and fills[-1].price == 452_000  # (451600*100 - 451000*40) / 60
    assert o.avg_px_num == 451_600 * 100
    # a repeated status answer (same ExecID, LastQty echoed) books nothing more
    om.on_exec_report(ExecReport("S1", o.cl_ord_id, "", "V1", ExecType.ORDER_STATUS, S.FILLED, o.side, "BHP",
                                 452_000, 60, 100, 0, 451_600, "", 6, False))
    assert o.cum_qty == 100 and len(fills) == 2 and om.counters["duplicate_execs"] == 0


def test_clordid_unique_across_restart(tmp_path: Path) -> None:
    path = tmp_path / "j.bin"
    seen: set[str] = set()
    for _ in range(3):
        st = recover(path) if path.exists() else None
        with Journal(path, fsync="none") as j:
            om = OrderManager(RecordingGateway(), j, ZeroFees(), recovered=st)
            for _ in range(5):
                o = buy(om)
                assert o.cl_ord_id not in seen
                seen.add(o.cl_ord_id)
            assert om.cancel(o)
    assert len(seen) == 15
    st = recover(path)
    assert len(st.orders) == 15 and len(st.open_orders) == 15


_EVENTS = st.lists(st.tuples(st.sampled_from(["new", "fill", "cancel", "cxl_ack", "replace", "rep_ack",
                                              "reject", "dup", "unsol"]),
                             st.integers(0, 4), st.integers(1, 50)), max_size=40)


@settings(max_examples=300, deadline=None)
@given(_EVENTS)
def test_random_event_sequences_never_crash_and_keep_invariants(events) -> None:  # type: ignore[no-untyped-def]
    om, gw, fills = make()
    filled = _run(om, gw, events)
    _check_invariants(om, fills, filled)


def _run(om: OrderManager, gw: RecordingGateway, events) -> int:  # type: ignore[no-untyped-def]
    orders: list[Order] = []
    last: ExecReport | None = None
    filled = 0
    for kind, idx, q in events:
        o = orders[idx % len(orders)] if orders else None
        if kind == "new" or o is None:
            n = om.new_order(OrderRequest("BHP", Side.BUY, 451_200, 100))
            if n is not None:
                orders.append(n)
            continue
        if kind == "fill":
            last = er(o, ExecType.TRADE, S.PARTIALLY_FILLED, q, 451_200)
            filled += q
            om.on_exec_report(last)
        elif kind == "cancel":
            om.cancel(o)
        elif kind == "cxl_ack":
            om.on_exec_report(er(o, ExecType.CANCELED, S.CANCELED))
        elif kind == "replace":
            n = om.replace(o, qty=o.qty + q)
            if n is not None:
                orders.append(n)
        elif kind == "rep_ack" and o.orig_cl_ord_id:
            om.on_exec_report(er(o, ExecType.REPLACED, S.NEW, orig=o.orig_cl_ord_id))
        elif kind == "reject":
            om.on_cancel_reject(CancelReject(gw.sent[-1][2] or "x", o.cl_ord_id, "", None, "1"))
        elif kind == "dup" and last is not None:
            om.on_exec_report(last)
        elif kind == "unsol":
            om.on_exec_report(er(o, ExecType.EXPIRED, S.EXPIRED))
    return filled


def _check_invariants(om: OrderManager, fills: list[Fill], filled: int) -> None:
    states = [o.status for o in om.orders.values()]
    assert om.pending_new == states.count(S.PENDING_NEW)
    assert om.pending_cancel == states.count(S.PENDING_CANCEL)
    assert om.pending_replace == sum(1 for o in om.orders.values()
                                     if o.status is S.PENDING_REPLACE and o.orig_cl_ord_id
                                     and om.orders[o.orig_cl_ord_id].status is S.PENDING_REPLACE)
    assert all(o.is_open for o in om.open_orders())
    assert len({o.cl_ord_id for o in om.open_orders()}) == len(om.open_orders())
    assert sum(f.qty for f in fills) == filled  # every distinct fill booked once, duplicates dropped
    assert om.counters["fills"] == len(fills)


@settings(max_examples=60, deadline=None)
@given(_EVENTS)
def test_recovery_replays_to_the_same_state(events) -> None:  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "j"
        gw = RecordingGateway()
        with Journal(path, fsync="none") as j:
            om = OrderManager(gw, j, IbkrAsxFixed())
            fills: list[Fill] = []
            om.on_fill = fills.append
            _run(om, gw, events)
        st = recover(path, IbkrAsxFixed())
    assert {k: (o.status, o.cum_qty, o.avg_px_num, o.order_id) for k, o in st.orders.items()} == {
        k: (o.status, o.cum_qty, o.avg_px_num, o.order_id) for k, o in om.orders.items()}
    assert {o.cl_ord_id for o in st.open_orders} == {o.cl_ord_id for o in om.open_orders()}
    assert st.fills == fills and st.exec_ids == om.exec_ids
    assert st.fees_cents == sum(f.fee_cents for f in fills)
    om2 = OrderManager(RecordingGateway(), None, IbkrAsxFixed(), recovered=st)
    assert {o.cl_ord_id for o in om2.open_orders()} == {o.cl_ord_id for o in om.open_orders()}
    assert (om2.pending_new, om2.pending_cancel, om2.pending_replace) == (
        om.pending_new, om.pending_cancel, om.pending_replace)


def test_submit_and_request_status_for_open_orders() -> None:
    om, gw, _ = make()
    a = om.submit("BHP", Side.SELL, 452_000, 10, tag="ask")
    b = buy(om)
    assert a is not None and a.tag == "ask" and a.side is Side.SELL and a.status is S.PENDING_NEW
    om.on_exec_report(er(b, ExecType.REJECTED, S.REJECTED))
    assert om.request_status() == 1 and gw.sent[-1] == ("status", a.cl_ord_id, "")
    assert OrderManager(None, None).request_status() == 0


def test_finished_orders_leave_the_table_beyond_the_history() -> None:
    om, _, fills = make(history=3)
    live = buy(om)
    done = []
    for _ in range(10):
        o = buy(om)
        om.on_exec_report(er(o, ExecType.EXPIRED, S.EXPIRED))
        done.append(o)
    assert set(om.orders) == {live.cl_ord_id} | {o.cl_ord_id for o in done[-3:]}  # open + last 3 finished
    assert om.open_orders() == [live]
    # a late fill for a recent finished order is still booked against it; for a dropped one as unknown
    om.on_exec_report(er(done[-1], ExecType.TRADE, S.FILLED, 10, 451_200))
    assert om.counters["late_fills"] == 1 and om.counters["unknown_fills"] == 0
    om.on_exec_report(er(done[0], ExecType.TRADE, S.FILLED, 10, 451_200))
    assert om.counters["unknown_fills"] == 1 and fills[-1].cl_ord_id == done[0].cl_ord_id
    assert len(fills) == 2
