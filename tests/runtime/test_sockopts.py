"""Socket options on real loopback sockets: applied values are read back, unsupported ones are skipped
with a reason, never an exception."""

from __future__ import annotations

import socket
import time

import pytest

from hft.runtime.sockopts import SO_BUSY_POLL, readable_bytes, rearm_quickack, tune_socket


@pytest.mark.timeout(60)
def test_tcp_options_on_loopback() -> None:
    with socket.socket() as lst:
        lst.bind(("127.0.0.1", 0))
        lst.listen(1)
        with socket.create_connection(lst.getsockname(), timeout=5) as cli:
            srv, _ = lst.accept()
            with srv:
                rep = tune_socket(cli, busy_poll_us=50, rcvbuf=1 << 20, sndbuf=1 << 18, nonblocking=True)
                assert rep.applied["TCP_NODELAY"] != 0
                assert cli.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
                assert "TCP_QUICKACK" in rep.applied or "TCP_QUICKACK" in rep.skipped
                # the kernel doubles the request and caps it at rmem_max: read back what it kept
                assert rep.applied["SO_RCVBUF"] == cli.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) > 0
                assert rep.applied["SO_SNDBUF"] > 0
                if "SO_BUSY_POLL" in rep.applied:
                    assert cli.getsockopt(socket.SOL_SOCKET, SO_BUSY_POLL) == 50
                else:
                    assert "CAP_NET_ADMIN" in rep.skipped["SO_BUSY_POLL"]
                assert rep.applied["nonblocking"] is True and cli.getblocking() is False
                rearm_quickack(cli)
                # non-blocking with nothing waiting: FIONREAD says 0, no exception needed
                assert readable_bytes(cli.fileno()) == 0
                srv.sendall(b"hello")
                for _ in range(1000):
                    if readable_bytes(cli.fileno()):
                        break
                    time.sleep(0.001)
                assert readable_bytes(cli.fileno()) == 5
                assert cli.recv(16) == b"hello"


def test_udp_skips_tcp_options_and_rejects_bad_values() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        rep = tune_socket(u, rcvbuf=65536)
        assert "TCP_NODELAY" not in rep.applied and "TCP_NODELAY" not in rep.skipped
        assert rep.applied["SO_RCVBUF"] > 0
        with pytest.raises(ValueError, match="rcvbuf"):
            tune_socket(u, rcvbuf=0)
        with pytest.raises(ValueError, match="busy_poll_us"):
            tune_socket(u, busy_poll_us=-1)


def test_unsupported_option_is_skipped_with_reason() -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        rep = tune_socket(s, busy_poll_us=10)  # not a TCP socket: TCP options are not tried
        assert set(rep.applied) | set(rep.skipped) == {"SO_BUSY_POLL"}
