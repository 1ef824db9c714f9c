"""Kernel receive (and transmit) timestamps on a socket (``SO_TIMESTAMPING``), with a clean fallback to
the clock.

The kernel stamps a packet when the network stack (software) or the NIC (hardware) receives it, before
the process is scheduled; the difference between that stamp and the moment the strategy sees the data is
the process's own receive latency, which user-space clocks cannot show.

* :class:`RxTimestamper` enables ``SO_TIMESTAMPING`` (software receive, and hardware when asked and the
  NIC supports it) on one socket, falling back to ``SO_TIMESTAMPNS`` and finally to
  ``clock_gettime(CLOCK_REALTIME)`` taken right after ``recvmsg`` returns. :attr:`RxTimestamper.mode`
  says which one is in force; every receive also records :attr:`RxTimestamper.source` (a TCP read that
  returns bytes already stamped carries the stamp of the newest segment read).
* Kernel stamps are ``CLOCK_REALTIME`` ns (hardware: the NIC's clock, raw). The latency breakdown works
  in ``time.monotonic_ns()``; :meth:`RxTimestamper.to_monotonic` converts with an offset sampled at
  start-up (:meth:`RxTimestamper.resync` re-samples it: NTP slews ``CLOCK_REALTIME``).
* The kernel turns its receive-stamping switch (a static key) on from a work queue when the first socket
  asks, so the first packets after that may arrive unstamped; such reads report ``source == "clock"``.
* Hardware stamping also needs the NIC switched on with ``SIOCSHWTSTAMP`` (:func:`enable_nic_hw_timestamps`,
  root, changes the NIC for every socket); loopback and most virtual NICs refuse it.

* :class:`TxTimestamper` reads the kernel's transmit stamps of what a TCP socket sends (the latency
  benchmark's venue stamps each tick where a capture on the interface would).

Layout of the stamps and their parser: :mod:`hft.runtime.rxstamp`.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import socket
import struct
import time
from typing import Any, Literal

from hft.runtime.rxstamp import (  # the parser is compiled (the busy loop's stamped read calls it)
    ANC_SIZE,
    SCM_TIMESTAMPING,
    SCM_TIMESTAMPNS,
    SO_TIMESTAMPING,
    SO_TIMESTAMPNS,
    parse_timestamping,
)

__all__ = ["SCM_TIMESTAMPING", "SCM_TIMESTAMPNS", "SO_TIMESTAMPING", "SO_TIMESTAMPNS", "RxTimestamper",
           "TimestampMode", "TxTimestamper", "enable_nic_hw_timestamps", "parse_timestamping"]

# linux/net_tstamp.h, linux/errqueue.h, linux/in.h
SOF_TIMESTAMPING_TX_SOFTWARE = 1 << 1
SOF_TIMESTAMPING_RX_HARDWARE = 1 << 2
SOF_TIMESTAMPING_RX_SOFTWARE = 1 << 3
SOF_TIMESTAMPING_SOFTWARE = 1 << 4
SOF_TIMESTAMPING_RAW_HARDWARE = 1 << 6
SOF_TIMESTAMPING_OPT_ID = 1 << 7
SOF_TIMESTAMPING_OPT_TSONLY = 1 << 11
SO_EE_ORIGIN_TIMESTAMPING, SCM_TSTAMP_SND = 4, 0
IP_RECVERR, IPV6_RECVERR = 11, 25
_EE = struct.Struct("IBBBBII")  # struct sock_extended_err: errno, origin, type, code, pad, info, data
SIOCSHWTSTAMP = 0x89B0
HWTSTAMP_TX_OFF = 0
HWTSTAMP_FILTER_ALL = 1

TimestampMode = Literal["hardware", "software", "timestampns", "clock"]


def enable_nic_hw_timestamps(ifname: str) -> tuple[bool, str]:
    """Ask the NIC ``ifname`` to stamp every received packet (``SIOCSHWTSTAMP``, ``HWTSTAMP_FILTER_ALL``).
    Returns (ok, reason). Needs root; affects every socket on that NIC."""
    raw = ifname.encode()
    if not raw or len(raw) >= 16 or b"\0" in raw:
        raise ValueError(f"bad interface name {ifname!r} (1..15 bytes)")
    cfg = (ctypes.c_int * 3)(0, HWTSTAMP_TX_OFF, HWTSTAMP_FILTER_ALL)
    ifr = bytearray(struct.pack("16sP", raw, ctypes.addressof(cfg)).ljust(40, b"\0"))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            fcntl.ioctl(s.fileno(), SIOCSHWTSTAMP, ifr)
        except OSError as e:
            why = {errno.EOPNOTSUPP: "the NIC/driver has no hardware timestamping",
                   errno.EPERM: "not permitted (needs CAP_NET_ADMIN)",
                   errno.ENODEV: "no such interface", errno.ERANGE: "filter not supported by the NIC"}
            return False, f"{ifname}: {why.get(e.errno or 0, e.strerror)}"
    return True, f"{ifname}: hardware receive timestamps on (rx_filter={cfg[2]})"


class RxTimestamper:
    """Receive on ``sock`` with a kernel timestamp per read.

    ``recv_into(buf)`` returns the byte count like ``socket.recv_into`` (``0`` at EOF; raises
    ``BlockingIOError`` on an empty non-blocking socket, as ``recv_into`` does) and leaves the stamp in
    :attr:`ts_ns` (``CLOCK_REALTIME`` ns) and its origin in :attr:`source`.
    """

    __slots__ = ("_bufs", "_offset_ns", "hw_reason", "mode", "sock", "source", "ts_ns")

    def __init__(self, sock: socket.socket, hardware: bool = False, enable: bool = True) -> None:
        self.sock = sock
        self.ts_ns = 0
        self.source = ""
        self.hw_reason = ""
        self._bufs: list[Any] = [None]
        self._offset_ns = 0
        self.mode: TimestampMode = "clock"
        if enable:
            self.mode = self._enable(hardware)
        self.resync()

    def _enable(self, hardware: bool) -> TimestampMode:
        flags = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE
        if hardware:
            flags |= SOF_TIMESTAMPING_RX_HARDWARE | SOF_TIMESTAMPING_RAW_HARDWARE
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPING, flags)
            got = self.sock.getsockopt(socket.SOL_SOCKET, SO_TIMESTAMPING)
        except OSError as e:
            self.hw_reason = f"SO_TIMESTAMPING refused ({e.strerror})"
        else:
            if hardware and got & SOF_TIMESTAMPING_RAW_HARDWARE:
                self.hw_reason = "hardware flags set; stamps appear only if the NIC has SIOCSHWTSTAMP on"
                return "hardware"
            if hardware:
                self.hw_reason = "kernel did not keep the hardware flags"
            return "software"
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        except OSError:
            return "clock"
        return "timestampns"

    def resync(self) -> None:
        """Re-sample the realtime-to-monotonic offset (cold path: call from a timer, not per message)."""
        a = time.monotonic_ns()
        r = time.clock_gettime_ns(time.CLOCK_REALTIME)
        b = time.monotonic_ns()
        self._offset_ns = r - (a + b) // 2

    def to_monotonic(self, realtime_ns: int) -> int:
        """A ``CLOCK_REALTIME`` stamp on the ``time.monotonic_ns()`` scale (software stamps only)."""
        return realtime_ns - self._offset_ns

    def recv_into(self, buf: Any, nbytes: int = 0) -> int:
        bufs = self._bufs
        bufs[0] = buf if not nbytes else memoryview(buf)[:nbytes]
        if self.mode == "clock":
            n = self.sock.recv_into(bufs[0])
            self.ts_ns = time.clock_gettime_ns(time.CLOCK_REALTIME)
            self.source = "clock"
            return n
        n, anc, _flags, _addr = self.sock.recvmsg_into(bufs, ANC_SIZE)
        ts, src = parse_timestamping(anc)
        if not src:  # EOF, or a read that carried no stamp: fall back to the clock
            ts, src = time.clock_gettime_ns(time.CLOCK_REALTIME), "clock"
        self.ts_ns = ts
        self.source = src
        return n


class TxTimestamper:
    """Kernel *transmit* stamps of what a TCP socket sends (``SO_TIMESTAMPING`` with
    ``SOF_TIMESTAMPING_TX_SOFTWARE | OPT_ID | OPT_TSONLY``): the ``CLOCK_REALTIME`` ns at which the stack
    handed each ``send``'s last byte to the network device (on loopback, the moment a packet capture on
    ``lo`` would see it), read back from the socket's error queue.

    Enable it right after ``connect``/``accept``, before the first byte is sent: each stamp is keyed by
    the offset of the last byte of its ``send`` counted from that moment (``OPT_ID``), so a sender that
    counts its bytes (:meth:`key_after`) can tell which message a stamp belongs to. :meth:`drain` reads
    every queued stamp (non-blocking) and returns ``(key, ns)`` pairs; a socket whose error queue is not
    drained stays readable for ``select``, so drain after each send. :attr:`enabled` is ``False`` (with
    :attr:`reason`) where the kernel refuses; the caller then keeps its user-space send stamps.
    """

    __slots__ = ("_rd", "enabled", "reason", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.enabled = False
        self.reason = ""
        # a socket with a timeout would wait up to it on an empty error queue (Python retries EAGAIN until
        # the timeout), so read through a duplicate with none: its descriptor is already non-blocking
        # (that is how Python implements timeouts), and a blocking or non-blocking socket is used as is
        t = sock.gettimeout()
        self._rd = sock
        if t is not None and t > 0:
            self._rd = sock.dup()
            self._rd.settimeout(0.0)
        flags = (SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_ID
                 | SOF_TIMESTAMPING_OPT_TSONLY)
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPING, flags)
        except OSError as e:
            self.reason = f"SO_TIMESTAMPING (tx software) refused ({e.strerror})"
        else:
            self.enabled = True

    @staticmethod
    def key_after(bytes_sent: int) -> int:
        """The key of the stamp of a ``send`` that ended after ``bytes_sent`` bytes in all (counted from
        :meth:`__init__`): the offset of its last byte, modulo 2**32 as the kernel reports it."""
        return (bytes_sent - 1) & 0xFFFFFFFF

    def drain(self) -> list[tuple[int, int]]:
        """Every transmit stamp queued so far: ``[(key, realtime ns), ...]`` oldest first."""
        out: list[tuple[int, int]] = []
        if not self.enabled:
            return out
        flags = socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT
        while True:
            try:
                _data, anc, _flags, _addr = self._rd.recvmsg(0, 512, flags)
            except OSError:  # EAGAIN: the queue is empty (or the socket is gone)
                return out
            ts, _src = parse_timestamping(anc)  # the same scm_timestamping as on receive
            key = -1
            for level, kind, data in anc:
                if ((level == socket.SOL_IP and kind == IP_RECVERR)
                        or (level == socket.IPPROTO_IPV6 and kind == IPV6_RECVERR)) and len(data) >= _EE.size:
                    _errno, origin, _t, _c, _p, info, ee_data = _EE.unpack_from(data, 0)
                    if origin == SO_EE_ORIGIN_TIMESTAMPING and info == SCM_TSTAMP_SND:
                        key = ee_data
            if ts and key >= 0:
                out.append((key, ts))

    def close(self) -> None:
        """Close the duplicate read socket, if one was made (the socket itself stays the caller's)."""
        if self._rd is not self.sock:
            self._rd.close()


# ------------------------------------------------------------------------------------------- benchmark
def _sender(port: int, count: int, interval_ns: int, start: Any) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(("127.0.0.1", port))
    msg = b"8=FIX.4.2\x0135=X\x01" + b"x" * 48
    start.wait(30)
    due = time.monotonic_ns()
    for _ in range(count):
        due += interval_ns
        wait = due - time.monotonic_ns()
        if wait > 0:
            time.sleep(wait * 1e-9)
        s.send(msg)
    s.close()


def bench(count: int = 5000, interval_us: float = 200.0) -> dict[str, Any]:
    """Kernel receive stamp -> user space, on loopback UDP, for a blocking ``recv`` and for a non-blocking
    spin loop (``FIONREAD`` then ``recv``), side by side; the sender is a separate process."""
    import multiprocessing as mp

    import numpy as np

    from hft.runtime.sockopts import readable_bytes

    out: dict[str, Any] = {"benchmark": "rx_stamp_to_user", "messages": count, "interval_us": interval_us,
                           "unit": "ns", "results": {}}
    ctx = mp.get_context("fork")
    for mode in ("blocking", "spin", "blocking", "spin"):
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rx.bind(("127.0.0.1", 0))
        ts = RxTimestamper(rx)
        start = ctx.Event()
        p = ctx.Process(target=_sender, args=(rx.getsockname()[1], count, int(interval_us * 1000), start),
                        daemon=True)
        p.start()
        if mode == "spin":
            rx.setblocking(False)
        else:
            rx.settimeout(10)
        buf = bytearray(2048)
        lat = np.zeros(count, dtype=np.int64)
        stamped = 0
        fd = rx.fileno()
        start.set()
        try:
            for _ in range(count):
                if mode == "spin":
                    while not readable_bytes(fd):
                        pass
                ts.recv_into(buf)
                now = time.clock_gettime_ns(time.CLOCK_REALTIME)
                if ts.source != "clock":  # unstamped reads (kernel warm-up) are left out
                    lat[stamped] = now - ts.ts_ns
                    stamped += 1
        except TimeoutError:
            pass
        finally:
            p.join(30)
            rx.close()
        got = lat[:stamped]
        if got.size:
            p50, p90, p99 = np.percentile(got, [50, 90, 99])
            res = {"p50": float(p50), "p90": float(p90), "p99": float(p99), "max": int(got.max()),
                   "count": int(got.size), "stamped": stamped}
        else:
            res = {"count": 0, "stamped": stamped}
        prev = out["results"].get(mode)
        if prev is None or (res.get("p50") or 0) < (prev.get("p50") or 0):
            out["results"][mode] = res  # two rounds, the better kept
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    ap = argparse.ArgumentParser(prog="python -m hft.runtime.timestamps",
                                 description="kernel rx stamp -> user space latency, blocking vs spin (JSON)")
    ap.add_argument("--messages", type=int, default=5000, help="datagrams per mode and round (5000)")
    ap.add_argument("--interval-us", type=float, default=200.0, help="sender pacing in microseconds (200)")
    args = ap.parse_args(argv)
    if args.messages < 1 or args.interval_us <= 0:
        ap.error("--messages must be >= 1 and --interval-us > 0")
    print(json.dumps(bench(args.messages, args.interval_us), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
