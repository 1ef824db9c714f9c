"""Order-entry gateway over loopback TCP: CTCI tag checks, rejects, bad input, FIX 4.4, latency."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import pytest
from sim_fix_client import Body, Client, RawFix, new_order, raw_exchange, replace_order

from hft.fix.encoder import FixEncoder
from hft.fix.parser import FixMessage
from hft.sim.config import (
    ClientSession,
    FlowSettings,
    LatencyConfig,
    LatencySpec,
    OrderEntryConfig,
    SimConfig,
)
from hft.sim.gateway import avg_px_field
from hft.sim.server import SimServer

pytestmark = pytest.mark.timeout(60)
_ids = itertools.count(1)


def cid(prefix: str = "o") -> str:
    return f"{prefix}{next(_ids)}"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    oe = OrderEntryConfig(sessions=(ClientSession("HFT"), ClientSession("HFT2"),
                                    ClientSession("HFT44", "FIX.4.4"), ClientSession("RAW"),
                                    ClientSession("RAW2")))
    cfg = SimConfig.default(order_entry=oe, flow=FlowSettings(enabled=False), metrics_enabled=False)
    with SimServer(cfg) as s:
        yield s


@pytest.fixture(scope="module")
def hft(sim: SimServer) -> Iterator[Client]:
    c = Client(sim.order_port, "HFT", "ASXSIM").logon()
    yield c
    c.close()


def er_for(cl: str):  # type: ignore[no-untyped-def]
    return lambda m: m.msg_type == b"8" and m.get(11) == cl.encode()


def rejected(c: Client, body: Body) -> FixMessage:
    cl = dict(body).get(11)
    start = len(c.snapshot())
    c.send(b"D", body)
    m = c.wait_msg(er_for(str(cl)), start=start)
    assert m.get(150) == b"8" and m.get(39) == b"8", m
    assert m.get_int(14) == 0 and m.get_int(151) == 0 and m.get(17)
    return m


def without(body: Body, tag: int) -> Body:
    return [(t, v) for t, v in body if t != tag]


def with_value(body: Body, tag: int, value: str) -> Body:
    return [(t, value if t == tag else v) for t, v in body]


@pytest.mark.parametrize("tag,name", [(1, "Account"), (38, "OrderQty"), (59, "TimeInForce"),
                                      (100, "ExDestination"), (15, "Currency"), (167, "SecurityType"),
                                      (44, "Price")])
def test_missing_ctci_tag_rejected_with_text(hft: Client, tag: int, name: str) -> None:
    m = rejected(hft, without(new_order(cid(), 1, 100, "45.00"), tag))
    assert f"missing required tag {tag} ({name})" in (m.get_str(58) or "")


def test_market_order_needs_no_price(hft: Client, sim: SimServer) -> None:
    cl = cid()
    hft.send(b"D", new_order(cl, 1, 100, None, ord_type="1"))
    m = hft.wait_msg(er_for(cl))
    assert m.get(39) == b"8" and "no opposite liquidity" in (m.get_str(58) or "")  # engine's reject


@pytest.mark.parametrize("tag,value,text,reason", [
    (100, "CHIX", "100 (ExDestination) must be ASX", b"99"),
    (15, "USD", "15 (Currency) must be AUD", b"99"),
    (167, "OPT", "167 (SecurityType) must be CS", b"99"),
    (38, "10.5", "OrderQty (38) must be a positive whole number", b"13"),
    (38, "0", "OrderQty (38) must be a positive whole number", b"13"),
    (44, "45.00001", "not a decimal with at most 4 places", b"99"),
    (44, "-1", "must be positive", b"99"),
    (40, "P", "unsupported OrdType", b"11"),
    (54, "7", "unsupported Side", b"99"),
    (59, "6", "unsupported TimeInForce", b"11"),
])
def test_invalid_values_rejected(hft: Client, tag: int, value: str, text: str, reason: bytes) -> None:
    m = rejected(hft, with_value(new_order(cid(), 1, 100, "45.00"), tag, value))
    assert text in (m.get_str(58) or "") and m.get(103) == reason


def test_engine_rejects_come_back_as_execution_reports(hft: Client) -> None:
    m = rejected(hft, new_order(cid(), 1, 100, "45.005"))  # off the ASX tick table ($0.01 above $2)
    assert "tick table" in (m.get_str(58) or "") and m.get(103) == b"99"
    m = rejected(hft, new_order(cid(), 1, 100, "45.00", symbol="NOPE"))
    assert m.get(103) == b"1" and "unknown instrument" in (m.get_str(58) or "")
    cl = cid()
    hft.send(b"D", new_order(cl, 1, 100, "1.00"))
    hft.wait_msg(er_for(cl))
    m = rejected(hft, new_order(cl, 1, 100, "1.00"))  # duplicate live ClOrdID
    assert m.get(103) == b"6"


def test_session_level_problems_get_session_reject(sim: SimServer) -> None:
    r = RawFix(sim.order_port, "RAW", "ASXSIM")
    try:
        r.logon()
        # 54 is required by the FIX dictionary: session Reject 373=1 with 371=54
        r.send(b"D", without(new_order("s1", 1, 100, "45.00"), 54))
        rej = r.wait(lambda m: m.msg_type == b"3")
        assert rej.get(373) == b"1" and rej.get(371) == b"54" and rej.get(372) == b"D"
        # malformed integer: 373=6
        r.send(b"D", with_value(new_order("s2", 1, 100, "45.00"), 38, "abc"))
        rej = r.wait(lambda m: m.msg_type == b"3" and m.get(373) == b"6")
        assert rej.get(371) == b"38"
        # an application message type the order port does not take: BusinessMessageReject
        r.send(b"V", [(262, "x"), (263, "1"), (264, 1), (267, 1), (269, "0"), (146, 1), (55, "BHP")])
        bj = r.wait(lambda m: m.msg_type == b"j")
        assert bj.get(372) == b"V" and bj.get(380) == b"3"
        # sequence gap: ResendRequest for the missing range
        r.send(b"D", new_order("s3", 1, 100, "45.00"), seq=r.seq + 5)
        rr = r.wait(lambda m: m.msg_type == b"2")
        assert rr.get_int(7) == r.seq - 6
        # too low: Logout with a text, then disconnect
        r.send(b"0", [], seq=1)
        lo = r.wait(lambda m: m.msg_type == b"5")
        assert "MsgSeqNum too low" in (lo.get_str(58) or "")
        assert r.wait_closed()
    finally:
        r.close()


def test_refused_connections_and_garbage_do_not_disturb_others(sim: SimServer, hft: Client) -> None:
    cl = cid()
    hft.send(b"D", new_order(cl, 1, 100, "2.00"))
    hft.wait_msg(er_for(cl))
    # unknown SenderCompID
    enc = FixEncoder("FIX.4.2", "WHO", "ASXSIM")
    got = raw_exchange(sim.order_port, enc.encode(b"A", [(98, 0), (108, 30)], 1))
    assert got and got[0].msg_type == b"5"
    assert "Unknown session: SenderCompID=WHO" in (got[0].get_str(58) or "")
    # known CompIDs, wrong BeginString
    enc = FixEncoder("FIX.4.4", "RAW2", "ASXSIM")
    got = raw_exchange(sim.order_port, enc.encode(b"A", [(98, 0), (108, 30)], 1))
    assert got and got[0].msg_type == b"5" and "Incorrect BeginString FIX.4.4" in (got[0].get_str(58) or "")
    # a session that is already logged on
    enc = FixEncoder("FIX.4.2", "HFT", "ASXSIM")
    got = raw_exchange(sim.order_port, enc.encode(b"A", [(98, 0), (108, 30)], 1))
    assert got and "already logged on" in (got[0].get_str(58) or "")
    # garbage, then a first message that is not a Logon
    raw_exchange(sim.order_port, b"\x00\xff garbage 8=FIX.4.2\x019=5\x0135=D\x0110=000\x01" * 20, read_s=0.3)
    r = RawFix(sim.order_port, "RAW2", "ASXSIM")
    r.send(b"D", new_order("g1", 1, 100, "45.00"))
    assert r.wait_closed()
    r.close()
    # garbage inside a logged-on session is skipped; the session goes on
    r = RawFix(sim.order_port, "RAW2", "ASXSIM")
    try:
        r.logon()
        r.send_raw(b"8=FIX.4.2\x019=12\x0135=D\x01garbage\x0110=999\x01\xde\xad")
        r.send(b"D", new_order("g2", 1, 100, "45.00"))
        m = r.wait(lambda m: m.msg_type == b"8")
        assert m.get(11) == b"g2" and m.get(150) == b"0"
    finally:
        r.close()
    # the first client saw nothing of it and still trades
    cl2 = cid()
    hft.send(b"F", [(41, cl), (11, cl2), (55, "BHP"), (54, 1), (60, "20260101-00:00:00")])
    m = hft.wait_msg(er_for(cl2))
    assert m.get(150) == b"4"
    assert sim.stats()["gateway"]["internal_errors"] == 0


def test_fix44_fill_and_status(sim: SimServer, hft: Client) -> None:
    c = Client(sim.order_port, "HFT44", "ASXSIM", begin="FIX.4.4").logon()
    try:
        buy, sell = cid("b"), cid("s")
        c.send(b"D", new_order(buy, 1, 300, "3.00", account="X44"))
        c.wait_msg(er_for(buy))
        hft.send(b"D", new_order(sell, 2, 100, "3.00", account="Y"))
        m = c.wait_msg(lambda m: m.msg_type == b"8" and m.get(11) == buy.encode() and m.get(39) == b"1")
        assert m.get(150) == b"F" and m.get(20) is None and m.get_int(32) == 100 and m.get_int(151) == 200
        c.send(b"H", [(11, buy), (55, "BHP"), (54, 1)])
        st = c.wait_msg(lambda m: m.msg_type == b"8" and m.get(150) == b"I")
        assert st.get(39) == b"1" and st.get_int(14) == 100 and st.get_int(151) == 200
        c.send(b"H", [(11, "never"), (55, "BHP"), (54, 1)])
        st = c.wait_msg(lambda m: m.msg_type == b"8" and m.get(11) == b"never")
        assert st.get(150) == b"I" and st.get(39) == b"8" and "unknown order" in (st.get_str(58) or "")
    finally:
        c.close()


def test_replace_rules(hft: Client) -> None:
    cl = cid()
    hft.send(b"D", new_order(cl, 1, 100, "5.00"))
    hft.wait_msg(er_for(cl))
    bad = cid()
    hft.send(b"G", replace_order(cl, bad, 2, 100, "5.00"))  # side change
    m = hft.wait_msg(lambda m: m.msg_type == b"9" and m.get(11) == bad.encode())
    assert m.get(434) == b"2" and "cannot be changed" in (m.get_str(58) or "") and m.get(39) == b"0"
    bad = cid()
    hft.send(b"G", replace_order("unknown", bad, 1, 100, "5.00"))
    m = hft.wait_msg(lambda m: m.msg_type == b"9" and m.get(11) == bad.encode())
    assert m.get(102) == b"1" and m.get(37) == b"NONE"
    bad = cid()
    hft.send(b"G", replace_order(cl, bad, 1, 100, "5.001"))  # off tick
    m = hft.wait_msg(lambda m: m.msg_type == b"9" and m.get(11) == bad.encode())
    assert "tick" in (m.get_str(58) or "")


def test_avg_px_exact() -> None:
    assert avg_px_field(450_000 * 3, 3) == b"45"
    assert avg_px_field(451_200, 1) == b"45.12"
    assert avg_px_field(450_000 + 450_100 * 2, 3) == b"45.00666667"
    assert avg_px_field(0, 0) == b"0"


def test_injected_order_entry_latency() -> None:
    lat = LatencyConfig(order_entry=LatencySpec(fixed_us=40_000.0, jitter_us=5_000.0, jitter="uniform"))
    cfg = SimConfig.default(flow=FlowSettings(enabled=False), metrics_enabled=False, latency=lat)
    with SimServer(cfg) as s:
        c = Client(s.order_port, "HFT", "ASXSIM").logon()
        try:
            sent = []
            for i in range(5):
                sent.append(time.monotonic())
                c.send(b"D", new_order(f"l{i}", 1, 100, "1.00"))
            for i in range(5):
                c.wait_msg(er_for(f"l{i}"))
            first = c.wait_msg(er_for("l0"))
            assert first is not None
            elapsed = time.monotonic() - sent[0]
            assert elapsed >= 0.08  # 40 ms in + 40 ms out at least (lower bound only)
            # FIFO despite jitter: reports in the order sent
            order = [m.get(11) for m in c.snapshot() if m.msg_type == b"8"]
            assert order == [f"l{i}".encode() for i in range(5)]
        finally:
            c.close()


def test_internal_error_is_answered_and_contained(sim: SimServer, hft: Client) -> None:
    """A bug inside the gateway (simulated: the engine raises) is answered with a BusinessMessageReject
    and logged; the session and the server go on."""
    assert sim.engine is not None
    orig = sim.engine.submit

    def boom(*a: object, **k: object) -> list[object]:
        raise RuntimeError("simulated engine bug")

    sim.call(setattr, sim.engine, "submit", boom)
    try:
        hft.send(b"D", new_order("boom1", 1, 100, "45.00"))
        j = hft.wait_msg(lambda m: m.msg_type == b"j" and b"internal error" in m.raw)
        assert j.get(372) == b"D" and "RuntimeError" in (j.get_str(58) or "")
    finally:
        sim.call(setattr, sim.engine, "submit", orig)
    cl = cid()
    hft.send(b"D", new_order(cl, 1, 100, "45.00"))
    assert hft.wait_msg(er_for(cl)).get(150) == b"0"
    assert sim.stats()["gateway"]["internal_errors"] == 1
    sim.call(lambda: sim.gateway.counters.__setitem__("internal_errors", 0))  # type: ignore[union-attr]


def test_order_in_flight_when_the_line_drops_is_not_left_behind() -> None:
    lat = LatencyConfig(order_entry=LatencySpec(fixed_us=300_000.0))
    cfg = SimConfig.default(flow=FlowSettings(enabled=False), metrics_enabled=False, latency=lat)
    with SimServer(cfg) as s:
        r = RawFix(s.order_port, "HFT", "ASXSIM")
        r.logon()
        r.send(b"D", new_order("fly", 1, 100, "1.00"))
        r.close()  # gone before the order "arrives"
        deadline = time.monotonic() + 5
        while s.stats()["gateway"]["dropped_in_flight"] == 0:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert s.call(lambda: len(s.engine.orders)) == 0  # type: ignore[union-attr]


def test_status_memory_is_bounded_and_live_orders_still_answer(sim: SimServer, hft: Client) -> None:
    assert sim.gateway is not None
    gw = sim.gateway
    old = gw.max_remembered
    sim.call(setattr, gw, "max_remembered", 10)
    try:
        live = cid("live")
        hft.send(b"D", new_order(live, 1, 100, "2.00"))
        hft.wait_msg(er_for(live))
        done = []
        for _ in range(30):  # orders that come and go push the live one out of the memory
            c1, c2 = cid("t"), cid("x")
            hft.send(b"D", new_order(c1, 1, 100, "2.50"))
            hft.send(b"F", [(41, c1), (11, c2), (55, "BHP"), (54, 1), (60, "20260101-00:00:00")])
            done.append(c2)
        hft.wait_msg(er_for(done[-1]))
        assert sim.call(lambda: len(gw._latest)) <= 10
        def status(cl: str) -> FixMessage:
            hft.send(b"H", [(11, cl), (55, "BHP"), (54, 1)])
            key = cl.encode()
            return hft.wait_msg(lambda m: m.msg_type == b"8" and m.get(11) == key and m.get(20) == b"3")

        st = status(live)
        assert st.get(39) == b"0" and st.get_int(151) == 100
        assert status(done[-1]).get(39) == b"4"  # a recent done order is still remembered
        assert status(done[0]).get(39) == b"8"  # long forgotten
    finally:
        sim.call(setattr, gw, "max_remembered", old)


def test_execution_reports_consistent_over_a_random_session() -> None:
    """Seeded random orders, replaces and cancels from two clients that trade with each other: on the
    wire, per order, CumQty is the sum of LastQty, LeavesQty = OrderQty - CumQty until done (0 after),
    AvgPx is sum(LastPx*LastQty)/CumQty, ExecIDs are unique, and every fill has a matching counter fill."""
    import random
    from decimal import Decimal

    rng = random.Random(42)
    oe = OrderEntryConfig(sessions=(ClientSession("HFT"), ClientSession("HFT2")))
    cfg = SimConfig.default(order_entry=oe, flow=FlowSettings(enabled=False), metrics_enabled=False)
    with SimServer(cfg) as s:
        cs = [Client(s.order_port, "HFT", "ASXSIM").logon(), Client(s.order_port, "HFT2", "ASXSIM").logon()]
        try:
            live: list[list[tuple[str, int, int]]] = [[], []]  # (cl, side, qty)
            for n in range(1, 301):
                k = rng.randrange(2)
                c = cs[k]
                u = rng.random()
                mark = len(c.snapshot())
                if u < 0.6 or not live[k]:
                    cl = f"r{n}"
                    side, qty = rng.choice([1, 2]), rng.randint(1, 5) * 100
                    px = f"{45 + rng.randint(-3, 3) / 100:.2f}"
                    tif = rng.choice(["0", "0", "0", "3"])
                    c.send(b"D", new_order(cl, side, qty, px, account=f"A{k}", tif=tif))
                    live[k].append((cl, side, qty))
                elif u < 0.8:
                    orig, side, qty = live[k].pop(rng.randrange(len(live[k])))
                    cl = f"r{n}"
                    nq = rng.randint(1, 6) * 100
                    c.send(b"G", replace_order(orig, cl, side, nq, f"{45 + rng.randint(-3, 3) / 100:.2f}",
                                               account=f"A{k}"))
                    live[k].append((cl, side, nq))
                else:
                    orig, side, qty = live[k].pop(rng.randrange(len(live[k])))
                    c.send(b"F", [(41, orig), (11, f"r{n}"), (55, "BHP"), (54, side),
                                  (60, "20260101-00:00:00")])
                # one request at a time: the venue answers each before the next is sent, so the order
                # in which the two sessions' requests reach the book (and so what trades) is fixed by
                # the seed, not by thread scheduling
                want = b"r%d" % n
                c.wait_msg(lambda m, w=want: m.msg_type in (b"8", b"9") and m.get(11) == w, start=mark)
            # a final marker on each session: everything before it has been answered
            for c in cs:
                c.send(b"H", [(11, "end"), (55, "BHP"), (54, 1)])
                c.wait_msg(lambda m: m.msg_type == b"8" and m.get(11) == b"end")
            exec_ids: set[bytes] = set()
            fills: dict[tuple[bytes, bytes], int] = {}
            for c in cs:
                per_order: dict[bytes, list[FixMessage]] = {}
                for m in c.snapshot():
                    if m.msg_type != b"8" or m.get(20) == b"3" or m.get(37) == b"NONE":
                        continue
                    eid = m.get(17) or b""
                    assert eid not in exec_ids
                    exec_ids.add(eid)
                    per_order.setdefault(m.get(37) or b"", []).append(m)
                for ers in per_order.values():
                    cum = 0
                    notional = 0
                    for m in ers:
                        lq = m.get_int(32) or 0
                        if lq:
                            lp = m.get_price(31) or 0
                            cum += lq
                            notional += lp * lq
                            key = (m.get(31) or b"", b"%d" % lq)
                            fills[key] = fills.get(key, 0) + (1 if m.get(54) == b"1" else -1)
                        assert m.get_int(14) == cum, m
                        status = m.get(39)
                        if status in (b"2", b"4", b"8", b"C"):
                            assert m.get_int(151) == 0
                        else:
                            assert m.get_int(151) == (m.get_int(38) or 0) - cum, m
                        if cum:
                            avg = Decimal(m.get_str(6) or "0")
                            exact = Decimal(notional) / Decimal(cum) / Decimal(10_000)
                            assert abs(avg - exact) < Decimal("0.000000006"), (avg, exact)
            assert len(fills) >= 5  # the session did trade (seed 42: 25 distinct (price, qty) fills)
            assert all(v == 0 for v in fills.values())  # every buy fill has its sell fill
        finally:
            for c in cs:
                c.close()


def _in_process_session(fast: bool, seed: int) -> dict[str, bytes]:
    """A seeded random session driven straight into the gateway (no sockets, fixed clocks); returns
    every byte each client session was sent. ``fast``: ExecutionReports on the one-format fast path,
    else through the generic encoder (``_exec_body`` + ``FixEncoder.encode``)."""
    import random

    from hft.fix.session import FixSession, SessionConfig
    from hft.fix.store import MemoryStore
    from hft.sim.clock import ManualClock
    from hft.sim.gateway import OrderGateway
    from hft.sim.matching import MatchingEngine, Phase

    t = [1_790_000_000_123_456_789]

    def clock() -> int:
        t[0] += 1_234_567
        return t[0]

    engine = MatchingEngine({"BHP": 450_000, "PLS": 15_000}, clock=ManualClock(t[0]))
    for sym in engine.books:
        engine.set_phase(sym, Phase.CONTINUOUS)
    gw = OrderGateway(engine, clock=clock)
    out: dict[str, list[bytes]] = {}
    clients: dict[str, tuple[FixSession, FixEncoder, list[int]]] = {}
    for name, begin in (("C42", "FIX.4.2"), ("C44", "FIX.4.4")):
        s = FixSession(SessionConfig(begin_string=begin, sender_comp_id="ASXSIM", target_comp_id=name,
                                     initiator=False), MemoryStore(), clock=clock)
        app = gw.add_session(s, name, False)
        app.fast_er = app.fast_er and fast
        buf: list[bytes] = []
        out[name] = buf
        s.connection_made(buf.append, lambda reason: None)
        enc = FixEncoder(begin, name, "ASXSIM")
        s.on_data(enc.encode(b"A", [(98, 0), (108, 30)], 1))
        assert s.is_active
        clients[name] = (s, enc, [2])
    rng = random.Random(seed)
    live: dict[str, list[tuple[str, int]]] = {"C42": [], "C44": []}
    for n in range(600):
        name = rng.choice(("C42", "C44"))
        s, enc, seq = clients[name]
        u = rng.random()
        if u < 0.6 or not live[name]:
            cl = f"o{n}"
            side = rng.choice((1, 2))
            sym, px = rng.choice((("BHP", 45 + rng.randint(-3, 3) / 100),
                                  ("PLS", 1.5 + rng.randint(-2, 2) / 200)))
            body: Body = [(1, rng.choice(("A1", "A2"))), (11, cl), (21, "1"), (55, sym), (54, side),
                          (38, rng.choice((100, 300, 1000))), (40, "2"), (44, f"{px:.3f}"),
                          (59, rng.choice(("0", "0", "3", "4"))), (60, "20260101-00:00:00"), (100, "ASX"),
                          (15, "AUD"), (167, "CS")]
            if rng.random() < 0.05:
                body = with_value(body, 55, "NOPE")  # engine reject with a Text
            if rng.random() < 0.05:
                body = without(body, 1)  # no Account on the report
            frame = enc.encode(b"D", body, seq[0])
            live[name].append((cl, side))
        elif u < 0.8:
            orig, side = rng.choice(live[name])
            frame = enc.encode(b"G", [(41, orig), (11, f"g{n}"), (21, "1"), (55, "BHP"), (54, side),
                                      (38, rng.choice((100, 200, 2000))), (40, "2"), (44, "45.01"),
                                      (59, "0"), (60, "20260101-00:00:00")], seq[0])
            live[name].append((f"g{n}", side))
        else:
            orig, side = live[name].pop(rng.randrange(len(live[name])))
            frame = enc.encode(b"F", [(41, orig), (11, f"x{n}"), (55, "BHP"), (54, side),
                                      (60, "20260101-00:00:00")], seq[0])
        seq[0] += 1
        s.on_data(frame)
    assert gw.counters["internal_errors"] == 0 and gw.counters["fills"] > 20
    return {k: b"".join(v) for k, v in out.items()}


def test_fast_execution_reports_are_byte_identical_to_the_encoder() -> None:
    """The one-format ExecutionReport path writes exactly the bytes the generic encoder would (FIX 4.2
    and 4.4, fills with 851, rejects with Text, replaces with 41, no Account)."""
    fast = _in_process_session(True, 5)
    slow = _in_process_session(False, 5)
    for name in fast:
        assert fast[name].count(b"\x0135=8\x01") > 300
        assert fast[name] == slow[name], name


@pytest.mark.parametrize("extra", [[], [(38, 200)], [(58, "a=b")], [(58, "x=y"), (11, "dup")]])
def test_field_map_agrees_with_message_get(extra: Body) -> None:
    """The gateway's one-pass field map answers every tag as FixMessage.get does ('=' inside a value,
    repeated tags: the first value)."""
    from hft.sim.gateway import _field_map

    frame = FixEncoder("FIX.4.2", "C", "S").encode(b"D", [*new_order("c1", 1, 100, "45.00"), *extra], 7)
    m = FixMessage(frame)
    f = _field_map(frame)
    for tag in (1, 9, 10, 11, 15, 21, 34, 35, 38, 40, 44, 49, 52, 54, 55, 56, 58, 59, 60, 100, 167, 6001):
        assert f.get(b"%d" % tag) == m.get(tag), tag


def test_non_ascii_or_empty_identifiers_are_rejected_cleanly(sim: SimServer, hft: Client) -> None:
    """A ClOrdID / Account / Symbol that cannot be echoed as FIX text is rejected with a Text before the
    engine sees the order (it used to rest in the book while its report failed to encode); a cancel with
    such a ClOrdID gets a 35=9 and leaves the order alone; a status request an 'unknown order' report."""
    gw = sim.gateway
    assert gw is not None
    errors0 = gw.counters["internal_errors"]
    for tag, value in ((11, b"\xe9t\xe9"), (1, b"AC\xc3\x87"), (55, b"BH\xd0")):
        body = with_value(new_order(cid(), 1, 100, "45.00"), tag, value)  # type: ignore[arg-type]
        cl = dict(body)[11]
        key = cl if isinstance(cl, bytes) else str(cl).encode()
        start = len(hft.snapshot())
        hft.send(b"D", body)
        m = hft.wait_msg(lambda m, k=key: m.msg_type == b"8" and m.get(11) == k, start=start)  # type: ignore[misc]
        assert m.get(39) == b"8" and m.get(150) == b"8", m
        assert f"{tag} (" in (m.get_str(58) or "") and "must be non-empty ASCII" in (m.get_str(58) or "")
    assert sim.call(lambda: sum(1 for o in sim.engine.orders.values() if o.session == "HFT" and not  # type: ignore[union-attr]
                                o.cl_ord_id.isascii())) == 0
    live = cid()
    start = len(hft.snapshot())
    hft.send(b"D", new_order(live, 1, 100, "44.00"))
    hft.wait_msg(er_for(live), start=start)
    hft.send(b"F", [(41, live), (11, b"x\xff"), (55, "BHP"), (54, 1), (60, "20260101-00:00:00")])
    rej = hft.wait_msg(lambda m: m.msg_type == b"9" and m.get(11) == b"x\xff", start=start)
    assert rej.get(41) == live.encode() and "11 (ClOrdID)" in (rej.get_str(58) or "")
    assert sim.call(lambda: sim.engine.find("HFT", live) is not None)  # type: ignore[union-attr]
    hft.send(b"H", [(11, b"q\xfe"), (55, "BHP"), (54, 1)])
    st = hft.wait_msg(lambda m: m.msg_type == b"8" and m.get(11) == b"q\xfe", start=start)
    assert st.get(39) == b"8" and "unknown order" in (st.get_str(58) or "")
    assert gw.counters["internal_errors"] == errors0
