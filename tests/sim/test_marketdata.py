"""Market data feed over loopback TCP: requests, rejects, RptSeq gap recovery, latency, real client."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator

import pytest
from sim_fix_client import BookReplica, Client, RawFix, md_request, new_order

from hft.engine.fix_md import FixMarketData
from hft.engine.gateway import BookSnapshot, LevelUpdate
from hft.fix.parser import FixMessage
from hft.fix.session import FixSession, SessionConfig
from hft.fix.store import MemoryStore
from hft.fix.transport import ThreadedInitiator
from hft.sim.config import (
    ClientSession,
    FlowSettings,
    LatencyConfig,
    LatencySpec,
    MarketDataConfig,
    SimConfig,
)
from hft.sim.marketdata import md_entry_time
from hft.sim.server import SimServer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    md = MarketDataConfig(sessions=(ClientSession("HFTMD"), ClientSession("MD2"), ClientSession("MD3"),
                                    ClientSession("MD44", "FIX.4.4")))
    cfg = SimConfig.default(market_data=md, flow=FlowSettings(rate=4.0, seed=3), metrics_enabled=False)
    with SimServer(cfg) as s:
        yield s


def xs(c: Client, sym: bytes, start: int = 0) -> list[FixMessage]:
    return [m for m in c.snapshot()[start:] if m.msg_type == b"X" and m.get(55) == sym]


def test_unknown_symbols_and_bad_requests(sim: SimServer) -> None:
    c = Client(sim.md_port, "MD2", "ASXSIMMD").logon()
    try:
        c.send(b"V", md_request("q1", ["ZZZ", "BHP"], sub="0"))
        y = c.wait_msg(lambda m: m.msg_type == b"Y")
        assert y.get(262) == b"q1" and y.get(281) == b"0" and "unknown symbol 'ZZZ'" in (y.get_str(58) or "")
        w = c.wait_msg(lambda m: m.msg_type == b"W")  # the known symbol is still served
        assert w.get(55) == b"BHP" and w.get(262) == b"q1"
        c.send(b"V", md_request("q2", ["BHP"], sub="9"))
        y = c.wait_msg(lambda m: m.msg_type == b"Y" and m.get(262) == b"q2")
        assert y.get(281) == b"4"
        c.send(b"V", [(262, "q3"), (263, "1"), (264, 10), (267, 1), (269, "0"), (146, 2), (55, "BHP")])
        y = c.wait_msg(lambda m: m.msg_type == b"Y" and m.get(262) == b"q3")
        assert "malformed" in (y.get_str(58) or "")
        time.sleep(0.3)
        assert not [m for m in c.snapshot() if m.msg_type == b"X"]  # snapshot-only: no incrementals
    finally:
        c.close()


def test_snapshot_then_incrementals_detect_gap_and_recover(sim: SimServer) -> None:
    c = Client(sim.md_port, "MD3", "ASXSIMMD").logon()
    try:
        c.send(b"V", md_request("g1", ["BHP"], depth=5))
        w = c.wait_msg(lambda m: m.msg_type == b"W")
        assert len([e for e in w.md_entries() if e[1] == b"0"]) <= 5
        c.send(b"V", md_request("g2", ["BHP"]))
        w = c.wait_msg(lambda m: m.msg_type == b"W" and m.get(262) == b"g2")
        book = BookReplica(w)
        start = next(i for i, m in enumerate(c.snapshot()) if m is w) + 1
        c.wait_msg(lambda m: m.msg_type == b"X" and (m.get_int(83) or 0) >= book.seq + 4, start=start)
        got = xs(c, b"BHP", start)
        # the client "loses" the second incremental: the next one does not follow -> gap detected
        book.apply(got[0])
        assert got[2].get_int(83) != book.seq + 1
        # ... so it asks for a snapshot again and resumes from there without another gap
        n = len(c.snapshot())
        c.send(b"V", md_request("g3", ["BHP"]))
        w = c.wait_msg(lambda m: m.msg_type == b"W" and m.get(262) == b"g3", start=n)
        book = BookReplica(w)
        c.wait_msg(lambda m: m.msg_type == b"X" and (m.get_int(83) or 0) > book.seq + 3, start=n)
        after = [m for m in xs(c, b"BHP", n) if (m.get_int(83) or 0) > book.seq]
        for x in after:
            book.apply(x)
        # entries are well formed
        for x in after:
            assert int(x.get(6000) or 0) > 0 and int(x.get(6001) or 0) > 0
            for action, ty, px, qty, sym, _ in x.md_entries():
                assert action in (b"0", b"1", b"2") and ty in (b"0", b"1", b"2") and sym == b"BHP"
                assert px and px > 0 and qty is not None
            assert re.fullmatch(rb"\d\d:\d\d:\d\d\.\d{6}", x.group(268, 279)[0].get(273) or b"")
        # unsubscribe: no more BHP incrementals after the request is handled
        c.send(b"V", md_request("g4", ["BHP"], sub="2"))
        time.sleep(0.3)
        n = len(c.snapshot())
        time.sleep(0.5)
        assert not xs(c, b"BHP", n)
    finally:
        c.close()


def test_two_clients_same_feed_and_fix44(sim: SimServer) -> None:
    a = Client(sim.md_port, "HFTMD", "ASXSIMMD").logon()
    b = Client(sim.md_port, "MD44", "ASXSIMMD", begin="FIX.4.4").logon()
    try:
        for c in (a, b):
            c.send(b"V", md_request("t", ["PLS"]))
        wa = a.wait_msg(lambda m: m.msg_type == b"W")
        wb = b.wait_msg(lambda m: m.msg_type == b"W")
        hi = max(wa.get_int(83) or 0, wb.get_int(83) or 0) + 3
        for c in (a, b):
            c.wait_msg(lambda m: m.msg_type == b"X" and (m.get_int(83) or 0) >= hi)

        def entries(c: Client) -> dict[int, list[tuple[bytes, bytes, int | None, int | None]]]:
            return {x.get_int(83) or 0: [e[:4] for e in x.md_entries()] for x in xs(c, b"PLS")}
        ea, eb = entries(a), entries(b)
        common = sorted(set(ea) & set(eb))
        assert len(common) >= 3 and all(ea[s] == eb[s] for s in common)
        ticks = [x.get_int(6001) for x in xs(a, b"PLS") + xs(b, b"PLS")]
        assert len(set(ticks)) == len(ticks)  # a tick id names one write to one client
    finally:
        a.close()
        b.close()


def test_paper_market_data_client_consumes_the_feed(sim: SimServer) -> None:
    """The trading engine's FixMarketData (hft.engine.fix_md) against the feed: no gaps, no rejects."""
    events: list[object] = []
    md = FixMarketData()
    md.set_sink(events.append)
    cfg = SessionConfig(sender_comp_id="HFTMD", target_comp_id="ASXSIMMD", reset_seq_num_on_logon=True,
                        validate_types=False, app_msg_types=frozenset({b"W", b"X", b"Y", b"j"}))
    session = FixSession(cfg, MemoryStore(), md)
    md.attach(session)
    init = ThreadedInitiator(session, "127.0.0.1", sim.md_port, reconnect=False)
    init.start()
    try:
        assert init.wait_logon(10)
        with init.lock:
            md.subscribe(["BHP", "NWX"])
        assert init.wait_for(lambda s: md.counters["incrementals"] >= 20, 20)
        with init.lock:
            counters = dict(md.counters)
        assert counters["snapshots"] == 2 and counters["seq_gaps"] == 0 and counters["rejects"] == 0
        assert counters["inconsistent"] == 0
        assert any(isinstance(e, BookSnapshot) for e in events)
        assert any(isinstance(e, LevelUpdate) for e in events)
    finally:
        init.stop()


def test_market_data_latency_keeps_order_and_rebuilds_book() -> None:
    lat = LatencyConfig(market_data=LatencySpec(fixed_us=5_000.0, jitter_us=20_000.0, jitter="exponential"))
    cfg = SimConfig.default(flow=FlowSettings(rate=3.0), metrics_enabled=False, latency=lat)
    with SimServer(cfg) as s:
        c = Client(s.md_port, "HFTMD", "ASXSIMMD").logon()
        oe = Client(s.order_port, "HFT", "ASXSIM").logon()
        try:
            c.send(b"V", md_request("l", ["BHP"]))
            w = c.wait_msg(lambda m: m.msg_type == b"W")
            oe.send(b"D", new_order("lat1", 1, 100, "1.00"))
            time.sleep(1.0)
            book = BookReplica(w)

            def cut() -> tuple[int, tuple[list[tuple[int, int]], list[tuple[int, int]]]]:
                assert s.publisher is not None and s.engine is not None
                b, a = s.engine.snapshot("BHP", 10)
                return s.publisher.rpt_seq["BHP"], ([(p, q) for p, q, _ in b], [(p, q) for p, q, _ in a])
            seq, top = s.call(cut)
            c.wait_msg(lambda m: m.msg_type == b"X" and (m.get_int(83) or 0) >= seq)
            for x in xs(c, b"BHP"):
                if (x.get_int(83) or 0) <= seq:
                    book.apply(x)  # asserts RptSeq order: jitter never reorders a client's stream
            assert book.seq == seq and book.top() == top
        finally:
            oe.close()
            c.close()


def test_md_entry_time_format() -> None:
    assert md_entry_time(0) == b"00:00:00.000000"
    assert md_entry_time(86_400 * 10**9 + 3_723_000_456_789) == b"01:02:03.000456"


def test_slow_consumer_is_disconnected_others_keep_their_feed() -> None:
    md_cfg = MarketDataConfig(sessions=(ClientSession("HFTMD"), ClientSession("SLOW")), max_pending_kb=16,
                              sndbuf_kb=16)
    cfg = SimConfig.default(market_data=md_cfg, flow=FlowSettings(rate=20.0, seed=2), metrics_enabled=False)
    with SimServer(cfg) as s:
        good = Client(s.md_port, "HFTMD", "ASXSIMMD").logon()
        slow = RawFix(s.md_port, "SLOW", "ASXSIMMD")
        try:
            slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            slow.logon()
            good.send(b"V", md_request("g", ["BHP", "PLS", "NWX"]))
            slow.send(b"V", md_request("s", ["BHP", "PLS", "NWX"]))
            # the slow client never reads again; the flow's incrementals pile up on the server
            deadline = time.monotonic() + 30
            while s.call(lambda: s.md_sessions["SLOW"].state.name) != "DISCONNECTED":
                assert time.monotonic() < deadline, f"slow consumer not disconnected {s.stats()}"
                time.sleep(0.05)
            assert s.stats()["marketdata"]["slow_consumers"] == 1
            n = len(good.snapshot())
            good.wait_msg(lambda m: m.msg_type == b"X", start=n)
            assert good.session.is_active and good.session.counters.disconnects == 0
        finally:
            slow.close()
            good.close()


def test_feed_resend_request_is_gap_filled(sim: SimServer) -> None:
    r = RawFix(sim.md_port, "MD2", "ASXSIMMD")
    try:
        r.logon()
        r.send(b"V", md_request("rr", ["BHP"]))
        r.wait(lambda m: m.msg_type == b"X")
        last = max(m.seq_num for m in r.received)
        r.send(b"2", [(7, 2), (16, 0)])
        gf = r.wait(lambda m: m.msg_type == b"4")
        assert gf.get(123) == b"Y" and gf.seq_num == 2 and (gf.get_int(36) or 0) > last
        assert gf.poss_dup
    finally:
        r.close()


def test_held_incrementals_go_out_in_one_write_in_order_and_never_behind_a_snapshot() -> None:
    """While the publisher is held (one socket read of an order session, one flow step) each subscriber's
    35=X wait and go out in one write at release, stamped then, RptSeq in order, every frame valid; a
    snapshot written meanwhile does not overtake them."""
    from hft.fix.encoder import FixEncoder
    from hft.fix.parser import FixStreamParser
    from hft.model.types import Side
    from hft.sim.marketdata import MarketDataPublisher
    from hft.sim.matching import MatchingEngine, Phase

    engine = MatchingEngine({"BHP": 450_000})
    engine.set_phase("BHP", Phase.CONTINUOUS)
    pub = MarketDataPublisher(engine)
    writes: dict[str, list[bytes]] = {}
    clients: dict[str, tuple[FixSession, FixEncoder]] = {}
    for name in ("A", "B"):
        s = FixSession(SessionConfig(sender_comp_id="ASXSIMMD", target_comp_id=name, initiator=False),
                       MemoryStore())
        pub.add_session(s, name)
        w: list[bytes] = []
        writes[name] = w
        s.connection_made(w.append, lambda reason: None)
        enc = FixEncoder("FIX.4.2", name, "ASXSIMMD")
        s.on_data(enc.encode(b"A", [(98, 0), (108, 30)], 1))
        s.on_data(enc.encode(b"V", md_request("r1", ["BHP"]), 2))
        clients[name] = (s, enc)
        w.clear()

    def order(i: int) -> None:
        pub.on_events(engine.submit("S", "ACC", "BHP", f"o{i}", Side.BUY, 100, 449_000 + i * 100))

    order(0)  # not held: written at once
    assert [len(w) for w in writes.values()] == [1, 1]
    pub.hold()
    for i in range(1, 6):
        order(i)
    s, enc = clients["B"]
    s.on_data(enc.encode(b"V", md_request("r2", ["BHP"], sub="0"), 3))  # B's snapshot meanwhile
    assert len(writes["A"]) == 1 and len(writes["B"]) == 3  # B: its held 35=X first, then the 35=W
    pub.release()
    assert len(writes["A"]) == 2 and len(writes["B"]) == 3
    for name, w in writes.items():
        p = FixStreamParser()
        p.feed(b"".join(w))
        msgs = list(p)
        assert p.frames_bad == 0
        xs_ = [m for m in msgs if m.msg_type == b"X"]
        assert [m.get_int(83) for m in xs_] == [1, 2, 3, 4, 5, 6]
        assert [m.get_int(34) for m in msgs] == list(range(3, 3 + len(msgs)))  # after Logon, 35=W
        stamps = {m.get(6000) for m in xs_[1:]}
        assert len(stamps) == 1  # the held ones: one SimSendNs, taken at the write
        if name == "B":
            assert [m.msg_type for m in msgs] == [b"X"] * 6 + [b"W"]
        tick = xs_[-1].get_int(6001) or 0
        assert pub.tick_send_ns(tick) == int(stamps.pop() or 0)
