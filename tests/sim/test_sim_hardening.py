"""Simulator hardening: capped identifier lengths, a byte bound on remembered orders, rate-limited logs."""

from __future__ import annotations

import logging
import sys
from typing import Any

import pytest
from sim_fix_client import Client, new_order

from hft.ratelog import RateLimitedLog
from hft.sim.config import ClientSession, FlowSettings, OrderEntryConfig, SimConfig, load_sim_config
from hft.sim.server import SimServer

pytestmark = pytest.mark.timeout(120)


def _deep_size(obj: Any, seen: set[int] | None = None) -> int:
    """Bytes held by ``obj`` and what it references (dicts, tuples, __slots__ objects, strings)."""
    seen = set() if seen is None else seen
    if id(obj) in seen or obj is None or (isinstance(obj, (bool, int, float)) and -5 <= int(obj) <= 256):
        return 0
    seen.add(id(obj))
    n = sys.getsizeof(obj)
    if isinstance(obj, dict):
        n += sum(_deep_size(k, seen) + _deep_size(v, seen) for k, v in obj.items())
    elif isinstance(obj, (list, tuple, set, frozenset)):
        n += sum(_deep_size(x, seen) for x in obj)
    elif hasattr(type(obj), "__slots__") and not isinstance(obj, (str, bytes)):
        n += sum(_deep_size(getattr(obj, a, None), seen) for a in type(obj).__slots__)
    return n


def _kept(sim: SimServer) -> int:
    """Bytes the gateway and the matching engine keep about orders (live and finished)."""
    gw = sim.gateway
    assert gw is not None

    def measure() -> int:
        return _deep_size(gw._latest) + _deep_size(gw._by_cl) + _deep_size(gw.engine._by_cl)

    return sim.call(measure)


def _server(**oe_kw: Any) -> SimServer:
    oe = OrderEntryConfig(sessions=(ClientSession("HFT"),), **oe_kw)
    cfg = SimConfig.default(order_entry=oe, flow=FlowSettings(enabled=False), metrics_enabled=False)
    return SimServer(cfg)


def _flood(c: Client, n: int, id_len: int, symbol: str = "BHP") -> None:
    for k in range(n):
        cl = f"{k:08d}".ljust(id_len, "x")
        c.send(b"D", new_order(cl, 1, 100, "45.00", symbol=symbol))


def test_huge_client_order_ids_are_rejected_and_not_kept() -> None:
    """3,000 orders with 20 kB ClOrdIDs (60 MB) leave nothing of them in the simulator."""
    with _server() as sim:
        c = Client(sim.order_port, "HFT", "ASXSIM").logon()
        try:
            before = _kept(sim)
            _flood(c, 3000, 20_000)
            c.send(b"D", new_order("ok1", 1, 100, "45.00"))  # a normal order afterwards is served
            c.wait_msg(lambda m: m.msg_type == b"8" and m.get(11) == b"ok1", timeout=60)
            rejects = [m for m in c.snapshot() if m.msg_type == b"j"]
            assert len(rejects) == 3000
            r = rejects[0]
            assert r.get(372) == b"D" and r.get_int(380) == 0 and r.get_int(45) is not None
            assert r.get_str(58) == ("11 (ClOrdID) is 20000 bytes, longer than the limit of 64 "
                                     "(order_entry.max_id_len)")
            assert not any(m.msg_type == b"8" and len(m.get(11) or b"") > 64 for m in c.snapshot())
            assert sim.gateway is not None and sim.gateway.counters["id_too_long"] == 3000
            assert _kept(sim) - before < 50_000, _kept(sim) - before
        finally:
            c.close()


def test_long_orig_cl_ord_id_and_account_are_rejected() -> None:
    with _server(max_id_len=16) as sim:
        c = Client(sim.order_port, "HFT", "ASXSIM").logon()
        try:
            c.send(b"F", [(41, "o" * 17), (11, "c1"), (55, "BHP"), (54, 1), (60, "20260101-00:00:00")])
            m = c.wait_msg(lambda m: m.msg_type == b"j")
            assert m.get(372) == b"F" and "41 (OrigClOrdID) is 17 bytes" in (m.get_str(58) or "")
            c.send(b"D", new_order("c2", 1, 100, "45.00", account="A" * 40))
            m = c.wait_msg(lambda m: m.msg_type == b"j" and b"Account" in (m.get(58) or b""))
            assert "1 (Account) is 40 bytes, longer than the limit of 16" in (m.get_str(58) or "")
            c.send(b"D", new_order("c" * 16, 1, 100, "45.00"))  # exactly the limit: accepted
            assert c.wait_msg(lambda m: m.msg_type == b"8" and m.get(11) == b"c" * 16).get(39) == b"0"
        finally:
            c.close()


def test_finished_orders_are_bounded_in_bytes() -> None:
    """Long (allowed) ClOrdIDs on orders that finish: what is remembered for 35=H stays within
    order_entry.remembered_orders_kb, not 3,000 orders' worth."""
    budget_kb = 1024
    with _server(max_id_len=8000, remembered_orders_kb=budget_kb) as sim:
        c = Client(sim.order_port, "HFT", "ASXSIM").logon()
        try:
            before = _kept(sim)
            _flood(c, 3000, 4000, symbol="NOPE")  # unknown symbol: each order is rejected, i.e. finished
            last_er = lambda m: m.msg_type == b"8" and (m.get(11) or b"").startswith(b"00002999")  # noqa: E731
            c.wait_msg(last_er, timeout=60)
            gw = sim.gateway
            assert gw is not None
            n_latest = sim.call(lambda: len(gw._latest))
            assert 0 < n_latest < 3000 and gw.counters["forgotten"] > 0
            assert sim.call(lambda: gw.remembered_bytes) <= budget_kb * 1024
            kept = _kept(sim) - before
            assert kept < 2 * budget_kb * 1024, kept  # 3,000 x 4 kB would be 12 MB
            # the most recent finished order is still answered
            last = "00002999".ljust(4000, "x")
            c.send(b"H", [(11, last), (55, "NOPE"), (54, 1)])
            st = c.wait_msg(lambda m: m.msg_type == b"8" and m.get(20) == b"3")
            assert st.get(39) == b"8" and st.get(11) == last.encode()
        finally:
            c.close()


def test_config_keys_checked(tmp_path: Any) -> None:
    p = tmp_path / "sim.toml"
    p.write_text("[order_entry]\nmax_id_len = 32\nremembered_orders_kb = 4096\n")
    oe = load_sim_config(p).order_entry
    assert (oe.max_id_len, oe.remembered_orders_kb) == (32, 4096)
    p.write_text("[order_entry]\nmax_id_len = 0\n")
    with pytest.raises(ValueError, match=r"order_entry\.max_id_len"):
        load_sim_config(p)
    p.write_text("[order_entry]\nremembered_orders_kb = 'lots'\n")
    with pytest.raises(ValueError, match=r"order_entry\.remembered_orders_kb"):
        load_sim_config(p)


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_rate_limited_log(caplog: pytest.LogCaptureFixture) -> None:
    clock = _Clock()
    rl = RateLimitedLog(logging.getLogger("hft.test.ratelog"), burst=3, interval_s=10.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="hft.test.ratelog"):
        for k in range(1000):  # a reconnect storm within one window
            rl.warning("refused", "refused a connection: %s", k)
        rl.warning("other", "another kind %d", 1)  # keys have their own budget
        clock.t = 10.5
        rl.warning("refused", "refused a connection: %s", "late")
    lines = [r.getMessage() for r in caplog.records]
    assert lines[:3] == [f"refused a connection: {k}" for k in range(3)]
    assert lines[3] == "another kind 1"
    assert lines[4] == "refused a connection: late [997 similar lines suppressed in the last 10.0 s]"
    assert len(lines) == 5 and rl.suppressed_total == 997


def test_hft_sim_logs_a_burst_of_refused_connections_in_a_few_lines(tmp_path: Any) -> None:
    """40 connections with an unknown CompID against ``hft sim``: each is refused (Logout, close), but the
    log holds at most 5 lines about them per 10 s instead of 40."""
    import json
    import socket
    import subprocess
    import time

    from hft.fix.encoder import FixEncoder

    ready = tmp_path / "ready.json"
    proc = subprocess.Popen([sys.executable, "-m", "hft.cli", "sim", "--order-port", "0", "--md-port", "0",
                             "--no-metrics", "--no-flow", "--duration", "20", "--ready-file", str(ready)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not ready.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        port = json.loads(ready.read_text())["order_port"]
        enc = FixEncoder("FIX.4.2", "STRANGER", "ASXSIM")
        for _ in range(40):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(enc.encode(b"A", [(98, 0), (108, 30)], 1))
                data = b""
                while chunk := s.recv(4096):
                    data += chunk
                assert b"35=5" in data and b"Unknown session" in data
        time.sleep(1.0)  # the main loop reports refused connections every 0.2 s
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=30)
    lines = [ln for ln in err.splitlines() if "refused a connection" in ln]
    assert 1 <= len(lines) <= 5, err


@pytest.mark.parametrize("version", ["FIX.4.2", "FIX.4.4"])
def test_simulator_traffic_validates_with_the_hft_venue_dictionary(version: str) -> None:
    """Everything hft sim sends (ExecutionReports with fills, market data snapshots and incrementals under
    background flow) passes DataDictionary.hft_venue with the default (QuickFIX) options; the standard
    dictionary rejects exactly the hft additions (83 on 35=W/X, 6000/6001 on 35=X, 851 on 4.2 35=8)."""
    import time

    from sim_fix_client import md_request

    from hft.fix.validation import DataDictionary
    from hft.sim.config import MarketDataConfig

    oe = OrderEntryConfig(sessions=(ClientSession("HFT", version),))
    md = MarketDataConfig(sessions=(ClientSession("HFTMD", version),))
    cfg = SimConfig.default(order_entry=oe, market_data=md, flow=FlowSettings(enabled=True, rate=5.0),
                            metrics_enabled=False)
    with SimServer(cfg) as sim:
        c = Client(sim.order_port, "HFT", "ASXSIM", begin=version).logon()
        m = Client(sim.md_port, "HFTMD", "ASXSIMMD", begin=version).logon()
        try:
            m.send(b"V", md_request("r1", ["BHP", "CBA"]))
            for k in range(6):  # marketable IOCs (fills with 851) and resting limits
                c.send(b"D", new_order(f"m{k}", 1 + k % 2, 100, None, ord_type="1", tif="3",
                                       extra=[(6001, 7)]))
                c.send(b"D", new_order(f"l{k}", 1, 100, "1.00"))
            c.wait_msg(lambda x: x.msg_type == b"8" and x.get(11) == b"l5")
            deadline = time.monotonic() + 10
            while sum(1 for x in m.snapshot() if x.msg_type == b"X") < 20 and time.monotonic() < deadline:
                time.sleep(0.05)
            msgs = [x for x in c.snapshot() + m.snapshot() if x.msg_type in (b"8", b"W", b"X")]
        finally:
            c.close()
            m.close()
    types = {x.msg_type for x in msgs}
    assert {b"8", b"W", b"X"} <= types, types
    venue = DataDictionary.hft_venue(version)
    bad = [(x.raw, venue.validate(x)) for x in msgs if venue.validate(x) is not None]
    assert bad == []
    std = DataDictionary.standard(version)
    refs = {(x.msg_type, r.ref_tag) for x in msgs if (r := std.validate(x)) is not None}
    allowed = {(b"W", 83), (b"X", 83), (b"8", 851)}
    assert refs <= allowed and (b"X", 83) in refs, refs


def test_in_memory_resend_store_is_bounded_and_old_messages_are_gap_filled() -> None:
    """Sessions kept in memory keep at most order_entry.resend_memory_kb of sent messages; a
    ResendRequest for older ones gets a SequenceReset-GapFill, the recent ones are resent."""
    from sim_fix_client import RawFix

    from hft.sim.server import BoundedMemoryStore

    with _server(resend_memory_kb=4) as sim:
        c = RawFix(sim.order_port, "HFT", "ASXSIM")
        try:
            c.logon()
            for k in range(60):  # 60 ExecutionReports of ~250 bytes: more than 4 KiB
                c.send(b"D", new_order(f"q{k}", 1, 100, "1.00"))
            last = c.wait(lambda m: m.msg_type == b"8" and m.get(11) == b"q59")
            acc = sim._order_acceptor
            assert acc is not None
            store = sim.call(lambda: next(iter(acc.sessions.values())).store)
            assert isinstance(store, BoundedMemoryStore)
            assert store.bytes <= 4096 and store.evicted > 0
            last_seq = last.get_int(34)
            start = len(c.received)
            c.send(b"2", [(7, 1), (16, 0)])
            c.wait(lambda m: m.get_int(34) == last_seq and m.get(43) == b"Y")
            got = c.received[start:]
            fills = [m for m in got if m.msg_type == b"4" and m.get(123) == b"Y"]
            resent = [m for m in got if m.msg_type == b"8" and m.get(43) == b"Y"]
            assert fills and fills[0].get_int(34) == 1  # the old ones: one gap fill from the start
            assert 0 < len(resent) < 60 and resent[-1].get(11) == b"q59"
        finally:
            c.close()


def test_bounded_memory_store_unit() -> None:
    from hft.sim.server import BoundedMemoryStore

    s = BoundedMemoryStore(1000)
    for i in range(1, 101):
        s.store_sent(i, b"x" * 100)
    assert s.bytes == 1000 and s.evicted == 90 and s.next_sender_seq == 101
    assert s.get_sent(1, 90) == [] and [q for q, _f in s.get_sent(1, 100)] == list(range(91, 101))
    s.store_sent(101, b"y" * 5000)  # one message larger than the budget is still kept
    assert [q for q, _f in s.get_sent(1, 200)] == [101]
    s.reset()
    assert s.bytes == 0 and s.get_sent(1, 200) == [] and s.next_sender_seq == 1
