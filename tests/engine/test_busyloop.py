"""The busy-poll host: non-blocking sockets in a spin loop driving the real FIX sessions and engine.

The venue is the benchmark's stub FIX venue in its own process (real TCP on 127.0.0.1).
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hft.bench.hotpath import SYMBOL, EngineParts, bench_config, tcp_pair
from hft.bench.latency import VenueProcess
from hft.engine.busyloop import BusyConnection, BusyLoop, run_busy
from hft.engine.config import config_from_dict
from hft.engine.runner import HostOptions
from hft.fix.session import FixSession, SessionConfig, SessionState
from hft.fix.store import MemoryStore


@pytest.fixture
def venue() -> Iterator[VenueProcess]:
    v = VenueProcess("stub", rate=500)
    try:
        yield v
    finally:
        v.close()


@pytest.mark.timeout(60)
def test_partial_writes_are_queued_and_flushed_in_order() -> None:
    a, b = tcp_pair()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sess = FixSession(SessionConfig(initiator=False), MemoryStore())
    conn = BusyConnection(sess, a, busy_poll_us=0)
    assert conn.sockopts["applied"]["nonblocking"] is True and conn.sockopts["applied"]["TCP_NODELAY"]
    chunks = [bytes([65 + i % 26]) * 12_000 for i in range(8)]  # 96 kB: far more than the buffers
    for c in chunks:
        conn.send_bytes(c)
    assert conn._pending  # the kernel could not take it all: the rest waits, in order
    got = bytearray()
    b.settimeout(0.05)
    end = time.monotonic() + 20
    while len(got) < 96_000 and time.monotonic() < end:
        conn.flush()  # what the loop's next poll does
        with contextlib.suppress(TimeoutError):
            got += b.recv(65536)
    assert bytes(got) == b"".join(chunks)
    assert not conn._pending
    conn.close("done")
    b.close()


@pytest.mark.timeout(60)
def test_loop_hosts_engine_reconnects_and_logs_out(venue: VenueProcess) -> None:
    config = bench_config(0.5, venue_port=venue.ports["order_port"], md_port=venue.ports["md_port"])
    parts = EngineParts(config)
    loop = BusyLoop(timer_interval_ns=10_000_000)
    oi = loop.add_initiator(parts.order_session, "127.0.0.1", venue.ports["order_port"], busy_poll_us=0)
    mi = loop.add_initiator(parts.md_session, "127.0.0.1", venue.ports["md_port"], busy_poll_us=0)
    assert loop.wait_for(lambda: parts.order_session.is_active and parts.md_session.is_active, 10)
    parts.start()
    assert loop.wait_for(lambda: not parts.md.is_stale(SYMBOL), 10)
    venue.command("go")
    assert loop.wait_for(lambda: parts.strategy.answered >= 20, 10)
    assert loop.wait_for(lambda: not parts.engine.om.open_orders(), 5)  # every IOC answered (expired)
    stats = venue.command("stats", 5)
    assert stats["orders"] >= 20
    # the venue cuts both connections: the loop notices, reconnects with backoff, logs on again
    venue.command("drop", 5)
    assert loop.wait_for(lambda: parts.order_session.state == SessionState.DISCONNECTED, 5)
    logons = parts.order_session.counters.logons
    assert loop.wait_for(lambda: parts.order_session.counters.logons > logons
                         and parts.md_session.is_active, 10)
    assert oi.connects == 2 and mi.connects == 2
    before = parts.strategy.answered
    assert loop.wait_for(lambda: not parts.md.is_stale(SYMBOL) and parts.strategy.answered > before + 5, 10)
    assert loop.iterations > loop.busy_iterations > 0
    loop.shutdown(2.0)
    assert parts.order_session.state == SessionState.DISCONNECTED
    assert parts.md_session.state == SessionState.DISCONNECTED
    assert parts.order_session.counters.msgs_out > 20


def _paper_config(venue: VenueProcess, tmp: Path, **engine: object) -> object:
    return config_from_dict({
        "venue": {"port": venue.ports["order_port"], "store_dir": str(tmp / "store"), "store_fsync": "none"},
        "market_data": {"port": venue.ports["md_port"]},
        "instruments": {"symbols": [SYMBOL]},
        "strategy": {"name": "latency_probe", "params": {"fraction": 0.5}},
        "risk": {"max_orders_per_sec": 100_000, "max_open_orders": 1000},
        "metrics": {"enabled": False},
        "journal": {"path": str(tmp / "journal.bin")},
        "engine": {"loop": "busy_poll", **engine},
        "sim": {"embedded": False},
    }, "<test>")


@pytest.mark.timeout(60)
def test_run_busy_paper_session(venue: VenueProcess, tmp_path: Path) -> None:
    config = _paper_config(venue, tmp_path)
    venue.command("go")
    seen: list[object] = []
    summary = run_busy(config, HostOptions(duration=1.0, install_signals=False),
                       on_started=lambda host: seen.append(host))
    assert seen and summary["loop"]["kind"] == "busy_poll"
    assert summary["loop"]["warm_us"] == 200.0 and summary["loop"]["warms"] > 0  # engine.busy_warm_us default
    assert summary["market_data"].startswith("127.0.0.1:") and summary["venue"].startswith("127.0.0.1:")
    assert summary["orders"] > 10 and summary["md_messages"] > 100
    assert summary["open_orders"] == 0 and summary["kill_switch"]["tripped"] is False
    assert summary["sessions"]["order"]["state"] == "DISCONNECTED"
    assert summary["tick_to_trade_us"]["count"] == summary["orders"]
    assert (tmp_path / "journal.bin").stat().st_size > 0
    assert venue.command("stats", 5)["orders"] == summary["orders"]


@pytest.mark.timeout(60)
def test_run_busy_applies_the_engine_runtime_config(venue: VenueProcess, tmp_path: Path) -> None:
    import gc
    import os

    core = sorted(os.sched_getaffinity(0))[0]
    before = (gc.get_threshold(), gc.isenabled(), os.sched_getaffinity(0))
    config = _paper_config(venue, tmp_path, busy_spin_us=200.0, gc_disable=True, gc_idle_ms=50,
                           gc_thresholds=[50_000, 20, 20], cpu_affinity=[core], busy_spin_pinned=False)
    venue.command("go")
    try:
        summary = run_busy(config, HostOptions(duration=1.0, install_signals=False))
    finally:
        os.sched_setaffinity(0, before[2])
    assert summary["loop"]["spin_us"] == 200.0 and summary["loop"]["blocks"] > 0  # spin, then select
    assert summary["runtime"]["applied"]["cpu_affinity"] == [core]
    assert summary["gc_policy"]["enabled"] is False and summary["gc_policy"]["thresholds"] == [50_000, 20, 20]
    gcs = summary["gc"]  # the collector was off while trading: every collection is an idle (timer) one
    assert gcs["idle_collections"] > 0 and sum(gcs["collections"]) == gcs["idle_collections"]
    assert summary["orders"] > 10
    assert (gc.get_threshold(), gc.isenabled()) == before[:2]  # restored at the end


@pytest.mark.timeout(60)
def test_run_busy_spins_on_a_pinned_core(venue: VenueProcess, tmp_path: Path) -> None:
    """Pinned (engine.cpu_affinity), the loop has its core: it spins, busy_spin_us notwithstanding (a loop
    that blocks in select after 200 us sleeps through every tick that comes 1 ms or more after the last);
    busy_spin_pinned = false restores spin-then-select."""
    import os

    core = sorted(os.sched_getaffinity(0))[-1]
    before = os.sched_getaffinity(0)
    config = _paper_config(venue, tmp_path, busy_spin_us=200.0, cpu_affinity=[core])
    venue.command("go")
    try:
        summary = run_busy(config, HostOptions(duration=1.0, install_signals=False))
    finally:
        os.sched_setaffinity(0, before)
    assert summary["loop"]["spin_us"] is None and summary["loop"]["blocks"] == 0
    assert summary["orders"] > 10


def test_run_busy_refuses_the_embedded_simulator(tmp_path: Path) -> None:
    config = config_from_dict({"venue": {"port": 0}, "market_data": {"port": 0},
                               "journal": {"path": str(tmp_path / "j.bin")}}, "<test>")
    with pytest.raises(RuntimeError, match="another process"):
        run_busy(config, HostOptions(duration=0.1, install_signals=False))


@pytest.mark.timeout(60)
def test_rx_timestamped_reads_deliver_the_bytes_and_the_kernel_stamp() -> None:
    """With ``rx_timestamps`` the connection reads with ``recvmsg_into`` (compiled) and leaves the kernel's
    receive stamp in ``rx.ts_ns`` / ``rx.source``, as ``RxTimestamper.recv_into`` does."""
    from hft.fix.parser import FixMessage
    from hft.fix.session import SessionApplication

    a, b = tcp_pair()
    got: list[bytes] = []

    class Collect(SessionApplication):
        def on_app_message(self, session: FixSession, msg: FixMessage) -> None:
            got.append(msg.raw)

    rx_sess = FixSession(SessionConfig(sender_comp_id="B", target_comp_id="A", initiator=False),
                         MemoryStore(), Collect())
    tx_sess = FixSession(SessionConfig(sender_comp_id="A", target_comp_id="B"), MemoryStore())
    rx = BusyConnection(rx_sess, a, busy_poll_us=0, rx_timestamps=True)
    tx = BusyConnection(tx_sess, b, busy_poll_us=0)
    end = time.monotonic() + 10
    while not (rx_sess.is_active and tx_sess.is_active) and time.monotonic() < end:
        rx.poll()
        tx.poll()
    assert rx_sess.is_active and tx_sess.is_active
    assert rx.rx is not None and rx.sockopts["rx_timestamps"] == rx.rx.mode
    # the kernel may deliver the first packets after enabling timestamps without a stamp (the read then
    # falls back to the clock, as RxTimestamper.recv_into does; it switches receive stamping on through
    # deferred work that needs the CPU this loop spins on): send, pausing 1 ms between messages, until a
    # read carries one
    stamped = ("software", "hardware", "timestampns")
    for k in range(200):
        if k:
            time.sleep(0.001)
        before = time.time_ns()
        tx_sess.send(b"D", [(21, b"1"), (11, b"C%d" % k), (55, b"BHP"), (54, 1), (38, 5), (40, b"1"),
                            (60, b"20260101-00:00:00.000")])
        while len(got) <= k and time.monotonic() < end:
            rx.poll()
        assert len(got) == k + 1 and b"\x0111=C%d\x01" % k in got[k]
        after = time.time_ns()
        assert before - 1_000_000_000 <= rx.rx.ts_ns <= after + 1_000_000_000
        if rx.rx.source in stamped:
            break
    if rx.rx.mode in stamped:
        assert rx.rx.source in stamped
    rx.close("done")
    tx.close("done")


@pytest.mark.timeout(60)
def test_wire_stamps_report_wire_to_wire_from_kernel_stamps(venue: VenueProcess, tmp_path: Path) -> None:
    """engine.wire_stamps: per order, the kernel receive stamp of the tick and the kernel transmit stamp of
    the 35=D; the summary's wire_to_wire_us. It can only be shorter than what the venue measures on the
    same orders (its tick's transmit stamp to the 35=D's receive stamp: the engine's span plus loopback
    both ways), and longer than the engine's own read -> write figure."""
    config = _paper_config(venue, tmp_path, wire_stamps=True)
    venue.command("go")
    summary = run_busy(config, HostOptions(duration=1.5, install_signals=False),
                       on_started=lambda host: venue.command("go"))
    vres = venue.command("stop", 10)
    w = summary["wire_to_wire_us"]
    assert summary["orders"] > 10 and w["count"] >= summary["orders"] - 2, (w, summary["orders"])
    assert summary["loop"]["sockopts"][0]["tx_timestamps"] == "software"
    sent, tx, lat = vres["sent_ns"], vres["tx_ns"], vres["latencies_ns"]
    venue_w2w = sorted(s + x - t for s, x, t in zip(sent, lat, tx, strict=True))
    assert venue_w2w, vres
    venue_p50_us = venue_w2w[len(venue_w2w) // 2] / 1e3
    assert 0 < w["p50"] <= venue_p50_us * 1.1, (w, venue_p50_us)
    assert w["p50"] >= summary["tick_to_trade_us"]["p50"] * 0.9, (w, summary["tick_to_trade_us"])

