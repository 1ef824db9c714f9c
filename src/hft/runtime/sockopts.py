"""Socket options for the market data and order entry connections.

:func:`tune_socket` applies each option on its own and records what the kernel reports back (or why it
was skipped) in a :class:`~hft.runtime.affinity.TuningReport`; a missing option never fails a connection.

* ``TCP_NODELAY``: send small segments (a 200-byte FIX order) at once instead of waiting (Nagle) for
  the ACK of the previous one.
* ``TCP_QUICKACK``: ACK immediately instead of delaying up to 40 ms. Linux clears it again on some
  state changes, so a hot loop can call :func:`rearm_quickack` after reads; it is a hint, not a setting.
* ``SO_BUSY_POLL`` (µs): a blocking read on this socket busy-polls the device queue for that long before
  sleeping. Raising it above the current value needs ``CAP_NET_ADMIN``; it only helps on a NIC driver
  with NAPI busy polling (loopback has none). ``net.core.busy_read`` sets the default for all sockets.
* ``SO_RCVBUF`` / ``SO_SNDBUF``: buffer sizes; the kernel doubles the value and caps it at
  ``net.core.rmem_max`` / ``wmem_max`` (the report shows the value read back).
* non-blocking: for a busy-poll loop. An empty non-blocking read raises ``BlockingIOError`` in Python;
  a spin loop that wants no exception per empty poll can ask ``FIONREAD`` first (:func:`readable_bytes`).
"""

from __future__ import annotations

import array
import errno
import fcntl
import socket
import termios

from hft.runtime.affinity import TuningReport

__all__ = ["SO_BUSY_POLL", "readable_bytes", "rearm_quickack", "tune_socket"]

SO_BUSY_POLL: int = getattr(socket, "SO_BUSY_POLL", 46)  # asm-generic/socket.h (Linux)
_TCP_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)


def _is_tcp(sock: socket.socket) -> bool:
    return sock.type == socket.SOCK_STREAM and sock.family in (socket.AF_INET, socket.AF_INET6)


def _set(rep: TuningReport, sock: socket.socket, key: str, level: int, opt: int, value: int) -> bool:
    try:
        sock.setsockopt(level, opt, value)
    except PermissionError:
        need = "CAP_NET_ADMIN" if opt == SO_BUSY_POLL else "privileges"
        rep.skip(key, f"not permitted (needs {need} to raise it)")
        return False
    except OSError as e:
        if e.errno in (errno.ENOPROTOOPT, errno.EOPNOTSUPP, errno.EINVAL):
            rep.skip(key, f"not supported on this socket/kernel ({errno.errorcode.get(e.errno, e.errno)})")
        else:
            rep.skip(key, f"setsockopt failed: {e.strerror}")
        return False
    try:
        rep.ok(key, sock.getsockopt(level, opt))
    except OSError:
        rep.ok(key, value)
    return True


def tune_socket(sock: socket.socket, *, nodelay: bool = True, quickack: bool = True,
                busy_poll_us: int | None = None, rcvbuf: int | None = None, sndbuf: int | None = None,
                nonblocking: bool = False, report: TuningReport | None = None) -> TuningReport:
    """Apply the low-latency options asked for; TCP-only options are skipped on other sockets."""
    rep = report if report is not None else TuningReport()
    tcp = _is_tcp(sock)
    if nodelay and tcp:
        _set(rep, sock, "TCP_NODELAY", socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if quickack and tcp:
        if _TCP_QUICKACK is None:
            rep.skip("TCP_QUICKACK", "not available on this platform")
        else:
            _set(rep, sock, "TCP_QUICKACK", socket.IPPROTO_TCP, _TCP_QUICKACK, 1)
    if busy_poll_us is not None:
        if busy_poll_us < 0:
            raise ValueError(f"busy_poll_us must be >= 0, got {busy_poll_us}")
        _set(rep, sock, "SO_BUSY_POLL", socket.SOL_SOCKET, SO_BUSY_POLL, busy_poll_us)
    for key, opt, val in (("SO_RCVBUF", socket.SO_RCVBUF, rcvbuf), ("SO_SNDBUF", socket.SO_SNDBUF, sndbuf)):
        if val is not None:
            if val <= 0:
                raise ValueError(f"{key.lower()} must be > 0 bytes, got {val}")
            _set(rep, sock, key, socket.SOL_SOCKET, opt, val)
    if nonblocking:
        sock.setblocking(False)
        rep.ok("nonblocking", True)
    return rep


def rearm_quickack(sock: socket.socket) -> None:
    """Set ``TCP_QUICKACK`` again (the kernel may have dropped back to delayed ACKs). Cheap: one syscall."""
    if _TCP_QUICKACK is not None:
        sock.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)


_FIONREAD_BUF = array.array("i", [0])


def readable_bytes(fd: int, _buf: array.array = _FIONREAD_BUF) -> int:  # type: ignore[type-arg]
    """Bytes waiting in the receive queue (``FIONREAD``): lets a spin loop skip ``recv`` without an
    exception when nothing arrived. Not thread-safe (one shared result buffer)."""
    fcntl.ioctl(fd, termios.FIONREAD, _buf, True)
    n: int = _buf[0]
    return n
