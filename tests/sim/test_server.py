"""End-to-end tests of SimServer over loopback TCP with real FIX initiator sessions."""

from __future__ import annotations

import socket
import time
import urllib.request
from collections.abc import Iterator

import pytest
from sim_fix_client import BookReplica, Client, md_request, new_order, replace_order

from hft.fix.parser import FixMessage
from hft.fix.session import SessionState
from hft.fix.store import MemoryStore
from hft.sim.config import ClientSession, FlowSettings, MarketDataConfig, OrderEntryConfig, SimConfig
from hft.sim.server import SimServer

pytestmark = pytest.mark.timeout(60)


def quiet_config(**kw: object) -> SimConfig:
    """No background flow: the book holds only what the test puts there."""
    oe = OrderEntryConfig(sessions=(ClientSession("HFT"), ClientSession("HFT2"),
                                    ClientSession("KEEP", cancel_on_disconnect=False)))
    md = MarketDataConfig(sessions=(ClientSession("HFTMD"), ClientSession("MD2")))
    base = SimConfig.default(order_entry=oe, market_data=md, flow=FlowSettings(enabled=False),
                             metrics_enabled=False)
    return base.replace(**kw)


@pytest.fixture
def quiet_sim() -> Iterator[SimServer]:
    with SimServer(quiet_config()) as sim:
        yield sim


def of_type(c: Client, mt: bytes, start: int = 0) -> list[FixMessage]:
    return [m for m in c.snapshot()[start:] if m.msg_type == mt]


def er(cl: str, exec_type: bytes | None = None, status: bytes | None = None):  # type: ignore[no-untyped-def]
    def pred(m: FixMessage) -> bool:
        return (m.msg_type == b"8" and m.get(11) == cl.encode()
                and (exec_type is None or m.get(150) == exec_type)
                and (status is None or m.get(39) == status))
    return pred


def engine_top(sim: SimServer, sym: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    def snap() -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        assert sim.engine is not None
        b, a = sim.engine.snapshot(sym, 10)
        return [(p, q) for p, q, _ in b], [(p, q) for p, q, _ in a]
    return sim.call(snap)


def test_place_amend_cancel_fill_with_market_data(quiet_sim: SimServer) -> None:
    sim = quiet_sim
    md = Client(sim.md_port, "HFTMD", "ASXSIMMD").logon()
    a = Client(sim.order_port, "HFT", "ASXSIM").logon()
    b = Client(sim.order_port, "HFT2", "ASXSIM").logon()
    try:
        md.send(b"V", md_request("r1", ["BHP"]))
        w = md.wait_msg(lambda m: m.msg_type == b"W")
        assert w.get(55) == b"BHP" and w.get_int(268) == 0
        book = BookReplica(w)

        # place
        a.send(b"D", new_order("a1", 1, 100, "44.00"))
        new = a.wait_msg(er("a1", b"0", b"0"))
        assert new.get(37) and new.get_int(151) == 100 and new.get_int(14) == 0
        oid = new.get(37)
        # amend down in size (keeps priority), then in price
        a.send(b"G", replace_order("a1", "a2", 1, 60, "44.00", order_id=oid))
        rep = a.wait_msg(er("a2", b"5", b"0"))
        assert rep.get(41) == b"a1" and rep.get_int(38) == 60 and rep.get(37) == oid
        a.send(b"G", replace_order("a2", "a3", 1, 60, "44.50", ctci=False))
        a.wait_msg(er("a3", b"5"))
        # the other client sells through it: partial fill of the seller, full fill of the buyer
        b.send(b"D", new_order("b1", 2, 100, "44.50", account="ACC2"))
        fa = a.wait_msg(er("a3", b"2", b"2"))
        assert fa.get_int(32) == 60 and fa.get_price(31) == 445_000 and fa.get_int(14) == 60
        assert fa.get_int(151) == 0 and fa.get_price(6) == 445_000 and fa.get(851) == b"1"
        fb = b.wait_msg(er("b1", b"1", b"1"))
        assert fb.get_int(32) == 60 and fb.get_int(151) == 40 and fb.get(851) == b"2"
        assert fa.get(17) != fb.get(17)
        # unknown cancel -> 35=9; real cancel -> 150=4
        a.send(b"F", [(41, "nope"), (11, "c1"), (55, "BHP"), (54, 1), (60, "20260101-00:00:00")])
        cr = a.wait_msg(lambda m: m.msg_type == b"9")
        assert cr.get(11) == b"c1" and cr.get(41) == b"nope" and cr.get(434) == b"1" and cr.get(102) == b"1"
        b.send(b"F", [(41, "b1"), (11, "b2"), (55, "BHP"), (54, 2), (60, "20260101-00:00:00")])
        cx = b.wait_msg(er("b2", b"4", b"4"))
        assert cx.get(41) == b"b1" and cx.get_int(14) == 60 and cx.get_int(151) == 0
        # status of a done order
        a.send(b"H", [(11, "a3"), (55, "BHP"), (54, 1)])
        st = a.wait_msg(lambda m: m.msg_type == b"8" and m.get(20) == b"3")
        assert st.get(39) == b"2" and st.get_int(14) == 60

        # market data: every change arrived, in RptSeq order, and rebuilds the engine's book
        md.wait_msg(lambda m: m.msg_type == b"X" and m.get_int(83) == 5)
        for x in of_type(md, b"X"):
            assert x.get(6000) and x.get(6001)
            book.apply(x)
        assert book.trades == [(445_000, 60)]
        assert book.top() == engine_top(sim, "BHP") == ([], [])
        kinds = [[(e[0], e[1]) for e in x.md_entries()] for x in of_type(md, b"X")]
        assert kinds[0] == [(b"0", b"0")]  # new bid 44.00 x100
        assert kinds[1] == [(b"1", b"0")]  # size change to 60
        assert kinds[2] == [(b"2", b"0"), (b"0", b"0")]  # price amend: delete 44.00, new 44.50
        assert kinds[3] == [(b"0", b"2"), (b"2", b"0"), (b"0", b"1")]  # trade, bid gone, ask 40 rests
        assert kinds[4] == [(b"2", b"1")]
    finally:
        for c in (a, b, md):
            c.close()


def test_background_flow_feed_rebuilds_engine_book() -> None:
    cfg = SimConfig.default(metrics_enabled=False, flow=FlowSettings(rate=3.0, seed=7))
    with SimServer(cfg) as sim:
        md = Client(sim.md_port, "HFTMD", "ASXSIMMD").logon()
        try:
            md.send(b"V", md_request("r1", ["BHP", "PLS", "NWX"]))
            ws = {}
            for sym in ("BHP", "PLS", "NWX"):
                ws[sym] = md.wait_msg(lambda m, s=sym: m.msg_type == b"W" and m.get(55) == s.encode())
                assert ws[sym].get_int(268) > 0  # seeded book
            time.sleep(1.5)

            def cut() -> dict[str, tuple[int, tuple[list[tuple[int, int]], list[tuple[int, int]]]]]:
                assert sim.engine is not None and sim.publisher is not None
                out = {}
                for s in ("BHP", "PLS", "NWX"):
                    b, a = sim.engine.snapshot(s, 10)
                    top = ([(p, q) for p, q, _ in b], [(p, q) for p, q, _ in a])
                    out[s] = (sim.publisher.rpt_seq[s], top)
                return out

            state = sim.call(cut)
            for sym, (seq, top) in state.items():
                md.wait_msg(lambda m, s=sym, q=seq: m.msg_type == b"X" and m.get(55) == s.encode()
                            and (m.get_int(83) or 0) >= q)
                book = BookReplica(ws[sym])
                for x in of_type(md, b"X"):
                    if x.get(55) == sym.encode() and (x.get_int(83) or 0) <= seq:
                        book.apply(x)
                assert book.seq == seq
                assert book.top() == top, sym
            assert sim.stats()["flow_events"] > 0
        finally:
            md.close()


def test_embedded_api_metrics_and_clean_stop() -> None:
    sim = SimServer(SimConfig.default())
    sim.start()
    try:
        assert sim.running and sim.order_port and sim.md_port and sim.order_port != sim.md_port
        assert sim.metrics_url.startswith("http://127.0.0.1:")
        c = Client(sim.order_port, "HFT", "ASXSIM").logon()
        c.send(b"D", new_order("x1", 1, 100, "1.00"))
        c.wait_msg(er("x1", b"0"))
        body = urllib.request.urlopen(sim.metrics_url, timeout=5).read().decode()
        assert 'hft_sim_orders_total{type="new"} 1.0' in body
        assert 'hft_sim_session_active{kind="order",session="HFT"} 1.0' in body
        assert "hft_sim_wire_to_wire_seconds_bucket" in body
        assert "hft_sim_md_messages_total" in body
    finally:
        sim.stop()
    sim.stop()  # idempotent
    assert not sim.running
    assert c.wait_state(SessionState.DISCONNECTED, 5)
    assert c.app.logouts
    for port in (sim.order_port, sim.md_port):
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            pass
    c.close()


def test_cancel_on_disconnect_per_session(quiet_sim: SimServer) -> None:
    sim = quiet_sim
    a = Client(sim.order_port, "HFT", "ASXSIM").logon()
    k = Client(sim.order_port, "KEEP", "ASXSIM").logon()
    a.send(b"D", new_order("a1", 1, 100, "44.00"))
    k.send(b"D", new_order("k1", 1, 100, "43.00", account="K"))
    a.wait_msg(er("a1", b"0"))
    k.wait_msg(er("k1", b"0"))
    # drop both TCP connections without a Logout
    for c in (a, k):
        c.init.reconnect = False
        c.init._close_sock()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        live = sim.call(lambda: sorted(o.cl_ord_id for o in sim.engine.orders.values()))  # type: ignore[union-attr]
        if live == ["k1"]:
            break
        time.sleep(0.02)
    assert live == ["k1"]
    assert sim.stats()["gateway"]["cancel_on_disconnect"] == 1
    assert a.wait_state(SessionState.DISCONNECTED) and k.wait_state(SessionState.DISCONNECTED)
    a.close()
    k.close()


def test_exec_reports_while_logged_out_are_resent(tmp_path: object) -> None:
    cfg = quiet_config(store_dir=str(tmp_path))
    with SimServer(cfg) as sim:
        k = Client(sim.order_port, "KEEP", "ASXSIM", reset=False).logon()
        k.send(b"D", new_order("k1", 1, 100, "43.00", account="K"))
        k.wait_msg(er("k1", b"0"))
        k.close()
        assert k.wait_state(SessionState.DISCONNECTED)
        acc = sim._order_acceptor
        assert acc is not None
        deadline = time.monotonic() + 5
        while sim.call(lambda: bool(acc._live)) and time.monotonic() < deadline:
            time.sleep(0.01)  # the server has not seen the close yet: a new logon would be refused
        b = Client(sim.order_port, "HFT2", "ASXSIM").logon()
        b.send(b"D", new_order("b1", 2, 100, "43.00", account="B"))
        b.wait_msg(er("b1", b"2"))
        # reconnect with the same (persisted on our side, in-memory on the client) session state
        assert isinstance(k.session.store, MemoryStore)
        k2 = Client(sim.order_port, "KEEP", "ASXSIM", reset=False, store=k.session.store).logon()
        fill = k2.wait_msg(er("k1", b"2"))
        assert fill.poss_dup and fill.get_int(32) == 100
        for c in (b, k2):
            c.close()


def test_wire_to_wire_from_echoed_tick() -> None:
    with SimServer(SimConfig.default(metrics_enabled=False)) as sim:
        md = Client(sim.md_port, "HFTMD", "ASXSIMMD").logon()
        oe = Client(sim.order_port, "HFT", "ASXSIM").logon()
        try:
            md.send(b"V", md_request("r1", ["BHP"]))
            x = md.wait_msg(lambda m: m.msg_type == b"X")
            tick = x.get_int(6001)
            assert tick is not None
            stamp = x.get(6000) or b""
            assert len(stamp) == 19 and int(stamp) > 0  # patched in at write time, CheckSum still valid
            assert sim.call(lambda: sim.publisher.tick_send_ns(tick)) == int(stamp)  # type: ignore[union-attr]
            oe.send(b"D", new_order("w1", 1, 100, "1.00", extra=[(6001, tick)]))
            oe.wait_msg(er("w1"))
            assert sim.wire_to_wire.count == 1
            (ns,) = sim.wire_to_wire_samples()
            assert ns > 0
            oe.send(b"D", new_order("w2", 1, 100, "1.00", extra=[(6001, 10**9)]))  # unknown tick: ignored
            oe.wait_msg(er("w2"))
            assert sim.wire_to_wire.count == 1
        finally:
            oe.close()
            md.close()


def test_asx_schedule_preopen_auction_and_close_on_a_manual_clock() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from hft.sim.clock import ManualClock
    from hft.sim.config import ScheduleSettings

    syd = ZoneInfo("Australia/Sydney")

    def at(h: int, m: int, s: int = 0) -> int:
        return int(datetime(2026, 11, 27, h, m, s, tzinfo=syd).timestamp()) * 10**9

    clock = ManualClock(at(6, 0))
    cfg = quiet_config(schedule=ScheduleSettings(mode="asx"))
    with SimServer(cfg, clock=clock) as sim:
        md = Client(sim.md_port, "HFTMD", "ASXSIMMD").logon()
        a = Client(sim.order_port, "HFT", "ASXSIM").logon()
        b = Client(sim.order_port, "HFT2", "ASXSIM").logon()
        try:
            a.send(b"D", new_order("closed1", 1, 100, "45.00"))
            m = a.wait_msg(er("closed1"))
            assert m.get(39) == b"8" and m.get(103) == b"2" and "closed" in (m.get_str(58) or "")
            clock.set(at(8, 0))  # pre-open: orders rest, the book may cross, nothing trades
            deadline = time.monotonic() + 5
            while sim.call(lambda: sim.engine.books["BHP"].phase.name) != "PRE_OPEN":  # type: ignore[union-attr]
                assert time.monotonic() < deadline
                time.sleep(0.02)
            md.send(b"V", md_request("r", ["BHP"]))
            md.wait_msg(lambda m: m.msg_type == b"W")
            a.send(b"D", new_order("pb", 1, 300, "45.10"))
            b.send(b"D", new_order("ps", 2, 200, "45.00", account="ACC2"))
            a.wait_msg(er("pb", b"0"))
            b.wait_msg(er("ps", b"0"))
            a.send(b"D", new_order("mkt", 1, 100, None, ord_type="1"))
            m = a.wait_msg(er("mkt"))
            assert m.get(39) == b"8" and m.get(103) == b"11"  # no market orders in an auction phase
            md.wait_msg(lambda m: m.msg_type == b"X" and m.get_int(83) == 2)  # crossed book published
            assert not [m for m in md.snapshot() if m.msg_type == b"X" and b"\x01269=2\x01" in m.raw]
            clock.set(at(10, 0, 5))  # BHP opens at 10:00:00: single price auction uncross
            fa = a.wait_msg(er("pb", b"1", b"1"))
            fb = b.wait_msg(er("ps", b"2", b"2"))
            assert fa.get_int(32) == fb.get_int(32) == 200 and fa.get(31) == fb.get(31)
            assert fa.get(851) == b"4"  # auction
            trade = md.wait_msg(lambda m: m.msg_type == b"X" and b"\x01269=2\x01" in m.raw)
            prints = [e[:4] for e in trade.md_entries() if e[1] == b"2"]
            assert prints == [(b"0", b"2", fa.get_price(31), 200)]
            clock.set(at(16, 5))
            clock.set(at(16, 12))  # CSPA then closed: the DAY remainder expires
            ex = a.wait_msg(er("pb", b"C", b"C"))
            assert ex.get_int(14) == 200 and ex.get_int(151) == 0
        finally:
            for c in (a, b, md):
                c.close()


def test_replay_driven_book_is_published(tmp_path: object) -> None:
    from pathlib import Path

    from hft.sim.record import generate_day

    path = Path(str(tmp_path)) / "day.parquet"
    generate_day(path, 20.0, seed=4)
    cfg = SimConfig.default(metrics_enabled=False, flow=FlowSettings(source="replay", replay_path=str(path),
                                                                     replay_speed=0.0))
    with SimServer(cfg) as sim:
        md = Client(sim.md_port, "HFTMD", "ASXSIMMD").logon()
        try:
            md.send(b"V", md_request("r", ["BHP"]))
            w = md.wait_msg(lambda m: m.msg_type == b"W")
            deadline = time.monotonic() + 20
            while sim.stats()["flow_events"] == 0 or sim.call(lambda: sim.flow.next_event_ns()) < (1 << 62):
                assert time.monotonic() < deadline, "replay did not finish"
                time.sleep(0.05)
            top = engine_top(sim, "BHP")
            seq = sim.call(lambda: sim.publisher.rpt_seq["BHP"])  # type: ignore[union-attr]
            assert top[0] and top[1]  # the recorded book is there
            if seq > (w.get_int(83) or 0):
                md.wait_msg(lambda m: m.msg_type == b"X" and m.get_int(83) == seq)
            book = BookReplica(w)
            for x in of_type(md, b"X"):
                book.apply(x)
            assert book.top() == top
            assert sim.stats()["gateway"]["dropped"] == 0
        finally:
            md.close()


def test_stop_from_the_servers_own_loop_does_not_deadlock() -> None:
    sim = SimServer(SimConfig.default()).start()
    sim.call(sim.stop)
    assert not sim.metrics_url or sim._metrics is None
    assert sim._thread is not None
    sim._thread.join(10)
    assert not sim._thread.is_alive()
