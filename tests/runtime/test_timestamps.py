"""Kernel receive timestamps on loopback UDP and TCP sockets: they come back, lie between the send and the
read on CLOCK_REALTIME, convert onto the monotonic clock, and fall back to the clock cleanly."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from hft.runtime.timestamps import (
    SCM_TIMESTAMPING,
    RxTimestamper,
    TxTimestamper,
    enable_nic_hw_timestamps,
    parse_timestamping,
)

SLACK_NS = 2_000_000  # the realtime/monotonic offset is sampled once; allow for NTP slew and rounding


@pytest.fixture
def udp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.connect(rx.getsockname())
    yield rx, tx
    rx.close()
    tx.close()


@pytest.fixture
def tcp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    with socket.socket() as lst:
        lst.bind(("127.0.0.1", 0))
        lst.listen(1)
        tx = socket.create_connection(lst.getsockname(), timeout=5)
        rx, _ = lst.accept()
    yield rx, tx
    rx.close()
    tx.close()


def _warm_up(ts: RxTimestamper, send: callable) -> None:  # type: ignore[valid-type]
    """The kernel switches its receive-stamping static key on from a work queue, so the first packets
    after the first socket enables stamping may arrive unstamped (source "clock"); wait for that."""
    buf = bytearray(64)
    for _ in range(200):
        send(b"w")
        ts.recv_into(buf)
        if ts.source == "software":
            return
        time.sleep(0.005)
    pytest.fail("no software receive timestamp after 1 s")


def _check_stamp(ts: RxTimestamper, rx_send: callable, payload: bytes) -> None:  # type: ignore[valid-type]
    buf = bytearray(4096)
    r0, m0 = time.clock_gettime_ns(time.CLOCK_REALTIME), time.monotonic_ns()
    rx_send(payload)
    time.sleep(0.005)  # the stamp is the kernel's arrival time, not the (later) read
    n = ts.recv_into(buf)
    r1, m1 = time.clock_gettime_ns(time.CLOCK_REALTIME), time.monotonic_ns()
    assert bytes(buf[:n]) == payload
    assert ts.source == "software"
    assert r0 <= ts.ts_ns <= r1
    assert ts.ts_ns <= r1 - 4_000_000  # well before the read: it is a kernel stamp, not the clock after it
    mono = ts.to_monotonic(ts.ts_ns)
    assert m0 - SLACK_NS <= mono <= m1 + SLACK_NS


@pytest.mark.timeout(60)
def test_udp_software_rx_timestamps(udp_pair: tuple[socket.socket, socket.socket]) -> None:
    rx, tx = udp_pair
    ts = RxTimestamper(rx)
    assert ts.mode == "software"
    _warm_up(ts, tx.send)
    for i in range(3):
        _check_stamp(ts, tx.send, b"8=FIX.4.2|35=X|%d" % i)


@pytest.mark.timeout(60)
def test_tcp_software_rx_timestamps(tcp_pair: tuple[socket.socket, socket.socket]) -> None:
    rx, tx = tcp_pair
    ts = RxTimestamper(rx)
    assert ts.mode == "software"
    _warm_up(ts, tx.sendall)
    for i in range(3):
        _check_stamp(ts, tx.sendall, b"tick %d" % i)


@pytest.mark.timeout(60)
def test_tcp_software_tx_timestamps_by_offset(tcp_pair: tuple[socket.socket, socket.socket]) -> None:
    """Each send's kernel transmit stamp comes back from the error queue keyed by the offset of its last
    byte, lies inside the send call, and precedes the receiver's kernel receive stamp of the same bytes."""
    rx, tx = tcp_pair
    tx.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    txs = TxTimestamper(tx)
    if not txs.enabled:  # a kernel without software transmit stamps: the benchmark falls back (tested there)
        pytest.skip(txs.reason)
    rts = RxTimestamper(rx)
    _warm_up(rts, tx.sendall)  # 1 byte: its stamp is key 0
    first = txs.drain()
    assert [k for k, _ in first] == [0]
    total = 1
    buf = bytearray(4096)
    for i in range(5):
        payload = b"8=FIX.4.2|35=X|6001=%d|" % i + b"x" * (50 * i)
        r0 = time.clock_gettime_ns(time.CLOCK_REALTIME)
        tx.sendall(payload)
        r1 = time.clock_gettime_ns(time.CLOCK_REALTIME)
        total += len(payload)
        stamps = txs.drain()
        assert [k for k, _ in stamps] == [txs.key_after(total)]  # one stamp per send, for its last byte
        ts = stamps[0][1]
        assert r0 <= ts <= r1
        time.sleep(0.002)
        n = rts.recv_into(buf)
        assert bytes(buf[:n]) == payload and rts.source == "software"
        assert ts <= rts.ts_ns <= r1  # loopback: the receive stamp is taken inside the same send call
    assert txs.drain() == []  # drained: nothing left, the socket is not readable for select any more
    assert TxTimestamper.key_after(2**32 + 5) == 4
    assert tx.gettimeout() == 5  # the caller's socket keeps its timeout (stamps are read through a dup)
    txs.close()


@pytest.mark.timeout(60)
def test_hardware_request_on_loopback_falls_back_to_software(udp_pair: tuple[socket.socket, socket.socket],
                                                             ) -> None:
    rx, tx = udp_pair
    ts = RxTimestamper(rx, hardware=True)
    assert ts.mode in ("hardware", "software") and ts.hw_reason
    _warm_up(ts, tx.send)
    _check_stamp(ts, tx.send, b"x")  # no NIC stamp on loopback: the software stamp is used
    ok, reason = enable_nic_hw_timestamps("lo")
    assert not ok and reason.startswith("lo: ")
    with pytest.raises(ValueError, match="bad interface name"):
        enable_nic_hw_timestamps("x" * 16)


@pytest.mark.timeout(60)
def test_clock_fallback(udp_pair: tuple[socket.socket, socket.socket]) -> None:
    rx, tx = udp_pair
    ts = RxTimestamper(rx, enable=False)
    assert ts.mode == "clock"
    tx.send(b"abc")
    buf = bytearray(16)
    r0 = time.clock_gettime_ns(time.CLOCK_REALTIME)
    assert ts.recv_into(buf) == 3
    assert ts.source == "clock" and ts.ts_ns >= r0


@pytest.mark.timeout(60)
def test_eof_and_nbytes_fall_back_cleanly(tcp_pair: tuple[socket.socket, socket.socket]) -> None:
    rx, tx = tcp_pair
    ts = RxTimestamper(rx)
    tx.sendall(b"0123456789")
    buf = bytearray(64)
    assert ts.recv_into(buf, 4) == 4 and bytes(buf[:4]) == b"0123"
    tx.close()
    assert ts.recv_into(buf) == 6
    assert ts.recv_into(buf) == 0 and ts.source == "clock"  # EOF carries no stamp


def test_parse_timestamping() -> None:
    import struct

    sw = struct.pack("=6q", 5, 7, 0, 0, 0, 0)
    hw = struct.pack("=6q", 5, 7, 0, 0, 9, 11)
    assert parse_timestamping([(socket.SOL_SOCKET, SCM_TIMESTAMPING, sw)]) == (5_000_000_007, "software")
    assert parse_timestamping([(socket.SOL_SOCKET, SCM_TIMESTAMPING, hw)]) == (9_000_000_011, "hardware")
    assert parse_timestamping([(socket.SOL_SOCKET, SCM_TIMESTAMPING, b"short")]) == (0, "")
    assert parse_timestamping([]) == (0, "")


@pytest.mark.timeout(60)
def test_bench_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from hft.runtime.timestamps import main

    assert main(["--messages", "50", "--interval-us", "100"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["results"]) == {"blocking", "spin"}
    for r in out["results"].values():
        assert r["count"] > 0 and r["p50"] > 0
