"""A busy-polling host for FIX sessions: non-blocking sockets read in a spin loop, no event loop.

The asyncio host (``hft.engine.runner.run_trading``) sleeps in ``epoll_wait`` until bytes arrive; the
kernel then has to wake the thread up, which on this box costs tens of microseconds per message. Here
the trading thread never sleeps: it calls ``recv_into`` on every non-blocking socket in a tight loop,
so a market data message is read as soon as it lands in the socket buffer, and it writes orders with a
plain non-blocking ``send``. It hosts the very same sans-IO :class:`~hft.fix.session.FixSession`,
:class:`~hft.engine.fix_md.FixMarketData`, :class:`~hft.engine.fix_gateway.FixOrderGateway` and
:class:`~hft.engine.runner.TradingEngine` objects as the asyncio host.

- :class:`BusyConnection`: one connected socket <-> one session. Reads into a preallocated buffer
  (``recv_into``, no ``bytes`` allocated per read); ``send_bytes`` writes at once and keeps what the
  kernel did not take (a partial write) to be flushed by the next poll, in order.
- :class:`BusyInitiator`: connects (TCP_NODELAY, SO_BUSY_POLL where permitted), reconnects with the
  session's backoff, ``stop()`` logs out.
- :class:`BusyLoop`: the spin loop over its initiators plus periodic callbacks (session timers, the
  engine timer); ``run(until)``, ``wait_for(predicate, timeout)``.
- :func:`run_busy`: the paper/live host of ``engine.loop = "busy_poll"``: the engine as
  :func:`hft.engine.host.assemble` wires it for every host (journal, recovery and kill-switch latch, the
  FIX sessions or replayed market data, engine, metrics, GC policy, signals), driven by a BusyLoop.

Costs and limits: the loop keeps one core at 100 %. A spinning Python thread holds the GIL, so
anything else in the same process (the embedded simulator's thread, the metrics HTTP thread) only runs
at the interpreter's switch interval; run the venue in another process (``hft sim``) when using it.
``SO_BUSY_POLL`` (kernel-side busy polling of the NIC queue) needs CAP_NET_ADMIN to be raised above
``net.core.busy_read`` and does nothing on loopback; it is requested and the result reported.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import socket
import time
from collections.abc import Callable
from typing import Any, Final

from hft.fix.session import FixSession, SessionState
from hft.runtime.rxstamp import ANC_SIZE, parse_timestamping

log = logging.getLogger(__name__)

TIMER_INTERVAL_NS: Final = 50_000_000


def tune_socket(sock: socket.socket, busy_poll_us: int = 50) -> dict[str, Any]:
    """Non-blocking, TCP_NODELAY, TCP_QUICKACK, and SO_BUSY_POLL when permitted (``hft.runtime.sockopts``);
    returns ``{"applied": {...}, "skipped": {option: reason}}``."""
    from hft.runtime.sockopts import tune_socket as _tune

    rep = _tune(sock, nodelay=True, quickack=True, busy_poll_us=busy_poll_us if busy_poll_us > 0 else None,
                nonblocking=True)
    return rep.as_dict()


class BusyConnection:
    """One connected non-blocking socket driving one :class:`FixSession`."""

    __slots__ = ("_anc_size", "_buf", "_bufs", "_mv", "_pending", "_recv_into", "_stamped", "bytes_in",
                 "bytes_out", "closed", "reads", "rx", "session", "sock", "sockopts", "tx")

    def __init__(self, session: FixSession, sock: socket.socket, *, busy_poll_us: int = 50,
                 recv_size: int = 1 << 16, rx_timestamps: bool = False, tx_timestamps: bool = False) -> None:
        """``rx_timestamps``: read through :class:`hft.runtime.timestamps.RxTimestamper` (``recvmsg`` with
        ``SO_TIMESTAMPING``); the kernel's receive stamp of each read is then ``self.rx.ts_ns``.
        ``tx_timestamps``: :class:`hft.runtime.timestamps.TxTimestamper` on the socket (``self.tx``),
        enabled before the first byte: the kernel's transmit stamp of each ``send``, keyed by
        ``TxTimestamper.key_after(self.bytes_out)`` (every byte handed to :meth:`send_bytes` counts)."""
        self.session = session
        self.sock = sock
        self.sockopts = tune_socket(sock, busy_poll_us)
        self.bytes_out = 0
        self.tx: Any = None
        if tx_timestamps:
            from hft.runtime.timestamps import TxTimestamper

            self.tx = TxTimestamper(sock)
            self.sockopts["tx_timestamps"] = "software" if self.tx.enabled else self.tx.reason
        self.rx: Any = None
        self._recv_into: Callable[[Any], int] = sock.recv_into
        self._buf = bytearray(recv_size)
        self._bufs: list[bytearray] = [self._buf]
        self._stamped = False  # kernel stamps read here (compiled) rather than by RxTimestamper.recv_into
        self._anc_size = 0
        if rx_timestamps:
            from hft.runtime.timestamps import RxTimestamper

            self.rx = RxTimestamper(sock)
            self._recv_into = self.rx.recv_into
            self.sockopts["rx_timestamps"] = self.rx.mode
            if self.rx.mode in ("software", "hardware"):
                self._stamped = True
                self._anc_size = ANC_SIZE
        self._mv = memoryview(self._buf)
        self._pending = bytearray()
        self.closed = False
        self.reads = 0
        self.bytes_in = 0
        session.connection_made(self.send_bytes, self.close)

    def send_bytes(self, data: bytes) -> None:
        """The session's writer: one non-blocking ``send``; a remainder is queued, in order."""
        if self.closed:
            return
        self.bytes_out += len(data)
        if self._pending:
            self._pending += data
            self.flush()
            return
        try:
            n = self.sock.send(data)
        except BlockingIOError:
            n = 0
        except OSError as e:
            self._lost(f"send failed: {e.strerror}")
            return
        if n < len(data):
            self._pending += memoryview(data)[n:]

    def flush(self) -> None:
        p = self._pending
        if not p or self.closed:
            return
        try:
            n = self.sock.send(p)
        except BlockingIOError:
            return
        except OSError as e:
            self._lost(f"send failed: {e.strerror}")
            return
        del p[:n]

    def poll(self) -> int:
        """Read what is there (never blocks) and feed the session; returns the byte count (0: nothing)."""
        if self.closed:
            return 0
        try:
            n = self._recv_stamped() if self._stamped else self._recv_into(self._buf)
        except BlockingIOError:
            if self._pending:
                self.flush()
            return 0
        except OSError as e:
            self._lost(f"connection lost: {e.strerror}")
            return 0
        if n == 0:
            self._lost("connection closed by peer")
            return 0
        self.reads += 1
        self.bytes_in += n
        self.session.on_data(self._mv[:n])
        if self._pending:
            self.flush()
        return n

    def _recv_stamped(self) -> int:
        """``RxTimestamper.recv_into`` for SO_TIMESTAMPING (software/hardware modes) in compiled code, same
        result: the byte count, and the kernel's stamp in ``rx.ts_ns`` / ``rx.source`` (hardware if present,
        else software, else the clock right after the read)."""
        n, anc, _flags, _addr = self.sock.recvmsg_into(self._bufs, self._anc_size)
        ts, src = parse_timestamping(anc)  # (compiled: hft.runtime.rxstamp)
        if not src:  # EOF, or a read that carried no stamp: the clock
            ts, src = time.clock_gettime_ns(time.CLOCK_REALTIME), "clock"
        rx = self.rx
        rx.ts_ns = ts
        rx.source = src
        return int(n)

    def close(self, reason: str = "") -> None:
        """The session decided to disconnect: flush what is queued (e.g. a Logout), close."""
        if self.closed:
            return
        if self._pending:
            with contextlib.suppress(OSError):
                self.sock.setblocking(True)
                self.sock.settimeout(0.2)
                self.sock.sendall(self._pending)
            self._pending.clear()
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.close()

    def _lost(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.close()
        self.session.connection_lost(reason)


class BusyInitiator:
    """Connects one initiator session, reconnecting with the session's backoff until :meth:`stop`."""

    def __init__(self, session: FixSession, host: str, port: int, *, reconnect: bool = True,
                 busy_poll_us: int = 50, connect_timeout: float = 2.0, rx_timestamps: bool = False,
                 tx_timestamps: bool = False) -> None:
        if not session.config.initiator:
            raise ValueError("BusyInitiator needs a session configured with initiator=True")
        self.session = session
        self.host, self.port = host, port
        self.reconnect = reconnect
        self.busy_poll_us = busy_poll_us
        self.rx_timestamps = rx_timestamps
        self.tx_timestamps = tx_timestamps
        self.connect_timeout = connect_timeout
        self.conn: BusyConnection | None = None
        self.connects = 0
        self.connect_failures = 0
        self.last_connect_error = ""  # why the last connect attempt failed (preflight.logon_failure_reason)
        self._lo = session.config.reconnect_min
        self._hi = session.config.reconnect_max
        self._n = 0
        self._next_try = 0.0
        self._logons_at_connect = 0
        self.stopping = False

    def _connect(self) -> None:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except OSError as e:
            self.connect_failures += 1
            self.last_connect_error = (f"connect to {self.host}:{self.port} failed: "
                                       f"{os.strerror(e.errno) if e.errno else e}")
            delay = min(self._hi, self._lo * (2 ** self._n))
            self._n += 1
            self._next_try = time.monotonic() + delay
            log.debug("connect to %s:%s failed (%s); retry in %.2fs", self.host, self.port, e, delay)
            return
        self.connects += 1
        self._logons_at_connect = self.session.counters.logons
        self.conn = BusyConnection(self.session, sock, busy_poll_us=self.busy_poll_us,
                                   rx_timestamps=self.rx_timestamps, tx_timestamps=self.tx_timestamps)

    def maintain(self) -> None:
        """Cold path (called from the loop's timer): connect or reconnect when due."""
        c = self.conn
        if c is not None and c.closed:
            self.conn = None
            if self.session.counters.logons > self._logons_at_connect:
                self._n = 0
            delay = min(self._hi, self._lo * (2 ** self._n))
            self._n += 1
            self._next_try = time.monotonic() + delay
            if self.session.state != SessionState.DISCONNECTED:
                self.session.connection_lost("connection closed")
        if self.conn is None and not self.stopping and (self.connects == 0 or self.reconnect) \
                and time.monotonic() >= self._next_try:
            self._connect()


class BusyLoop:
    """The spin loop: poll every connection, run due periodic callbacks, repeat."""

    def __init__(self, *, timer_interval_ns: int = TIMER_INTERVAL_NS, spin_us: float | None = None,
                 warm_interval_us: float = 0.0, warm_socket: bool = True) -> None:
        """``spin_us``: None = spin forever (a dedicated core); a number = spin that long after the last
        read, then block in ``select`` (a shared machine: see :meth:`run`). ``warm_interval_us``: cache
        warming, see :meth:`add_warmer` (0 = off); with it and ``warm_socket``, the loop's own warmer sends
        one byte over a private loopback TCP connection (:meth:`warm_socket`: the kernel's send and receive
        path, never the trading connections)."""
        self.initiators: list[BusyInitiator] = []
        self.spin_us = spin_us
        self.warm_interval_ns = int(warm_interval_us * 1000)
        self._warmers: list[Callable[[], object]] = []
        self._next_warm = 0
        self._warm_i = 0  # the warmer of the next pass
        self._wsock: tuple[socket.socket, socket.socket] | None = None  # warm_socket's private pair
        self._wbuf = bytearray(4096)
        self.warm_socket_bytes = 0
        if self.warm_interval_ns > 0 and warm_socket:
            self._open_warm_socket()
        self.warms = 0
        self.warm_ns = 0  # time spent in warm-up passes (a tick that arrives meanwhile waits for the pass)
        self.blocks = 0
        self._conns: tuple[BusyConnection, ...] = ()
        self._ep: Any = None
        self._by_fd: dict[int, BusyConnection] = {}
        self._ep_poll: Callable[[float], list[tuple[int, int]]] = lambda timeout: []
        self._timers: list[list[Any]] = []  # [interval_ns, next_due_ns, fn]
        self._next_due = 0
        self.timer_interval_ns = timer_interval_ns
        self.iterations = 0
        self.busy_iterations = 0
        self.stopped = False
        self.call_every(timer_interval_ns, self._session_timers)

    def add_initiator(self, session: FixSession, host: str, port: int, **kw: Any) -> BusyInitiator:
        init = BusyInitiator(session, host, port, **kw)
        self.initiators.append(init)
        init.maintain()
        self._refresh()
        return init

    def add_warmer(self, fn: Callable[[], object]) -> None:
        """Cache warming: while no data has arrived, the loop calls each warmer every ``warm_interval_us``
        (``FixMarketData.warm``, ``TradingEngine.warm``): the tick path's code and data run again without
        side effects, so the next tick finds instruction and data caches, branch predictors and TLB warm
        instead of as the idle spin left them. One warmer per idle pass, in turn (a tick that arrives during
        a pass waits for it: one warmer, 3-4 us, rather than all of them). A warmer must change nothing
        observable; one that raises is logged and dropped."""
        self._warmers.append(fn)

    def _open_warm_socket(self) -> None:
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            ls.bind(("127.0.0.1", 0))
            ls.listen(1)
            a = socket.create_connection(ls.getsockname(), timeout=1.0)
            b, _ = ls.accept()
        except OSError as e:
            log.warning("busy loop: no loopback connection for the socket warmer (%s); warming without it", e)
            return
        finally:
            ls.close()
        for x in (a, b):
            x.setblocking(False)
            x.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._wsock = (a, b)
        self._warmers.append(self.warm_socket)

    def warm_socket(self) -> None:
        """The socket warmer: one byte over the loop's private loopback connection and read back (the system
        calls and the kernel's TCP send/receive path of the order's write, on this core). The trading
        connections are not touched."""
        p = self._wsock
        if p is None:
            return
        try:
            p[0].send(b"x")
            self.warm_socket_bytes += p[1].recv_into(self._wbuf)
        except BlockingIOError:
            pass
        except OSError as e:
            log.warning("busy loop: socket warmer failed (%s); dropped", e)
            self._close_warm_socket()

    def _close_warm_socket(self) -> None:
        p = self._wsock
        if p is not None:
            self._wsock = None
            for x in p:
                with contextlib.suppress(OSError):
                    x.close()

    def _warm(self, mono: int) -> None:
        ws = self._warmers
        i = self._warm_i
        if i >= len(ws):
            i = 0
        fn = ws[i]
        try:
            fn()
        except Exception:
            log.exception("busy loop: warmer %r failed; dropped", fn)
            self._warmers = [w for w in ws if w is not fn]
        self._warm_i = i + 1
        self.warms += 1
        end = time.monotonic_ns()
        self.warm_ns += end - mono
        self._next_warm = end + self.warm_interval_ns // (len(self._warmers) or 1)

    def call_every(self, interval_ns: int, fn: Callable[[int], None]) -> None:
        """``fn(time.time_ns())`` every ``interval_ns`` (monotonic clock), from the loop thread."""
        now = time.monotonic_ns()
        self._timers.append([interval_ns, now + interval_ns, fn])
        self._next_due = min(t[1] for t in self._timers)

    def _refresh(self) -> None:
        conns = tuple(i.conn for i in self.initiators if i.conn is not None and not i.conn.closed)
        if conns != self._conns:
            # one epoll_wait(0) per idle pass instead of a recv + BlockingIOError per connection:
            # 0.4 us instead of 2.9 us per idle pass with two connections
            if self._ep is not None:
                self._ep.close()
            self._ep = select.epoll()
            self._by_fd = {}
            for c in conns:
                fd = c.sock.fileno()
                self._ep.register(fd, select.EPOLLIN)
                self._by_fd[fd] = c
            self._ep_poll = self._ep.poll
        self._conns = conns

    def _session_timers(self, now_ns: int) -> None:
        for i in self.initiators:
            i.maintain()
            if i.conn is not None and not i.conn.closed:
                i.conn.flush()
            i.session.on_timer(now_ns)
        self._refresh()

    def _run_timers(self, mono: int) -> None:
        now = time.time_ns()
        nxt = mono + 3_600_000_000_000
        for t in self._timers:
            if mono >= t[1]:
                t[1] = mono + t[0]
                t[2](now)
            if t[1] < nxt:
                nxt = t[1]
        self._next_due = nxt

    def poll_once(self) -> int:
        """One pass: read every readable connection (and run the timers when due); returns bytes read."""
        got = 0
        ready = self._ep_poll(0)
        if ready:
            by_fd = self._by_fd
            for fd, _ev in ready:
                c = by_fd.get(fd)
                if c is not None:
                    got += c.poll()
        else:
            for c in self._conns:
                if c._pending:  # a partial write waits for room in the socket buffer
                    c.flush()
        self.iterations += 1
        if got:
            self.busy_iterations += 1
        else:
            mono = time.monotonic_ns()
            if mono >= self._next_due:
                self._run_timers(mono)
                self._refresh()
            elif self.warm_interval_ns > 0 and mono >= self._next_warm and self._warmers:
                self._warm(mono)
        return got

    def run(self, until: Callable[[], bool] | None = None, deadline: float | None = None,
            check_every: int = 256) -> None:
        """Spin until ``until()`` is true, ``deadline`` (time.monotonic) passes, or :meth:`stop`.

        ``until`` and the deadline are checked every ``check_every`` idle iterations and after every read.
        With ``spin_us`` set, the loop blocks in ``select`` (until a socket is readable or the next timer
        is due) once nothing has arrived for ``spin_us`` microseconds: adaptive polling.
        """
        poll = self.poll_once
        spin_ns = None if self.spin_us is None else int(self.spin_us * 1000)
        mono = time.monotonic_ns
        last_read = mono()
        k = 0
        while not self.stopped:
            if poll():
                k = check_every
                if spin_ns is not None:
                    last_read = mono()
            else:
                k += 1
            if k >= check_every:
                k = 0
                if until is not None and until():
                    return
                if deadline is not None and time.monotonic() >= deadline:
                    return
                if spin_ns is not None and mono() - last_read >= spin_ns:
                    self._block(deadline)
                    last_read = mono()

    def _block(self, deadline: float | None) -> None:
        """Sleep in ``select`` until a connection is readable, the next timer, or at most 20 ms."""
        socks = [c.sock for c in self._conns]
        timeout = min(0.02, max(0.0, (self._next_due - time.monotonic_ns()) / 1e9))
        if deadline is not None:
            timeout = min(timeout, max(0.0, deadline - time.monotonic()))
        self.blocks += 1
        if socks:
            with contextlib.suppress(OSError, ValueError):
                select.select(socks, [], [], timeout)
        else:
            time.sleep(timeout)

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Spin until ``predicate()`` (checked after every pass) or the timeout; returns its value."""
        end = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= end:
                return predicate()
            self.poll_once()
        return True

    def stop(self) -> None:
        self.stopped = True

    def shutdown(self, timeout: float = 2.0) -> None:
        """Log out every active session, wait for the handshakes, close the sockets."""
        for i in self.initiators:
            i.stopping = True
            if i.session.is_active:
                i.session.logout("client shutdown")
        self.stopped = False
        self.wait_for(lambda: all(i.session.state == SessionState.DISCONNECTED or i.conn is None
                                  or i.conn.closed for i in self.initiators), timeout)
        for i in self.initiators:
            c = i.conn
            if c is not None and not c.closed:
                c.close("shutdown")
            if i.session.state != SessionState.DISCONNECTED:
                i.session.connection_lost("shutdown")
        self._refresh()
        if self._ep is not None:
            self._ep.close()
            self._ep = None
            self._ep_poll = lambda timeout: []
        self._close_warm_socket()
        self.stopped = True


FROM_CONFIG = -1.0  # run_busy(spin_us=...): take engine.busy_spin_us from the config


def run_busy(config: Any, opts: Any = None, on_started: Callable[[Any], None] | None = None,
             *, order_app: Any = None, md_app: Any = None,
             spin_us: float | None = FROM_CONFIG) -> dict[str, Any]:
    """The ``engine.loop = "busy_poll"`` host: the engine as :func:`hft.engine.host.assemble` wires it
    (the same wiring as the asyncio host ``runner.run_trading``), driven by a :class:`BusyLoop`.

    ``config`` is an :class:`hft.engine.config.Config`, ``opts`` a ``runner.HostOptions``. The venue must
    already be listening (the embedded simulator is refused: its thread would starve, see module doc).
    ``order_app`` / ``md_app`` replace the default FixOrderGateway / FixMarketData (the latency benchmark
    passes subclasses that echo the simulator's tick id). ``spin_us``: see :class:`BusyLoop` (None: pure
    spinning); by default pure spinning when pinned (``engine.cpu_affinity`` with ``busy_spin_pinned``,
    the default) or ``busy_spin_us = 0``, else ``engine.busy_spin_us``. Signals: the handlers only record
    the signal (``signal.set_wakeup_fd``); the loop's timer runs the action (stop, or the manual kill
    switch), so the engine is never interrupted half-way through an update. Returns the engine summary.
    """
    from hft.engine.host import assemble
    from hft.engine.runner import HostOptions

    opts = opts or HostOptions()
    ec = config.engine
    if spin_us == FROM_CONFIG:  # pinned (busy_spin_pinned) or busy_spin_us = 0: spin forever
        from hft.engine.config import busy_spins_forever

        spin_us = None if busy_spins_forever(ec) else float(ec.busy_spin_us)
    stop = [False]
    with contextlib.ExitStack() as stack:
        w = assemble(config, opts, stack, loop_kind="busy_poll", order_app=order_app, md_app=md_app)
        host = w.host
        host.request_stop = lambda: stop.__setitem__(0, True)  # type: ignore[method-assign]
        loop = BusyLoop(spin_us=spin_us, warm_interval_us=float(getattr(ec, "busy_warm_us", 0.0)))
        stack.callback(loop.shutdown)
        host.extra["loop"] = loop
        sig = _SignalPipe(w.signal_actions()) if opts.install_signals else None
        if sig is not None:
            stack.callback(sig.close)
            loop.call_every(10_000_000, lambda now_ns: sig.dispatch())
        try:
            stamps = bool(getattr(ec, "wire_stamps", False))  # kernel rx/tx stamps (engine.wire_stamps)
            order_ini = loop.add_initiator(w.order_session, *w.order_addr, tx_timestamps=stamps)
            md_ini = (loop.add_initiator(w.md_session, *w.md_addr, rx_timestamps=stamps)
                      if w.md_session is not None else None)
            if stamps:
                w.enable_wire_stamps(lambda: order_ini.conn, (lambda: md_ini.conn) if md_ini is not None
                                     else None)
                loop.call_every(1_000_000, lambda now_ns: w.drain_wire_stamps())
            if not loop.wait_for(lambda: stop[0] or (w.order_session.is_active and (
                    w.md_session is None or w.md_session.is_active)), opts.logon_timeout):
                raise w.logon_error(w.order_session.is_active, order_ini, md_ini)
            if not stop[0]:
                w.start()
                md = w.md
                for warm in (getattr(md, "warm", None), w.engine.warm):  # cache warming (busy_warm_us)
                    if warm is not None:
                        loop.add_warmer(warm)
                if w.replay:  # the recording is replayed from the loop: due messages on every pass
                    loop.call_every(100_000, lambda now_ns: md.poll(time.monotonic_ns()))
                loop.call_every(w.timer_interval_ns, w.on_timer)
                if on_started is not None:
                    on_started(host)
                deadline = None if opts.duration is None else time.monotonic() + opts.duration
                loop.run(until=lambda: stop[0], deadline=deadline)
            stop[0] = True
            w.stop()  # the strategy stops, open orders get their cancels; answers awaited briefly
            loop.stopped = False
            loop.wait_for(lambda: not w.engine.om.open_orders() or not w.order_session.is_active,
                          opts.stop_grace)
        finally:
            w.stopping = True
            stop[0] = True
            if w.md_session is not None and w.md_session.is_active:
                w.md.unsubscribe(list(w.md.insts))
            loop.shutdown()
            w.update_session_stats()
            if opts.status is not None:
                opts.status.close()
    return w.summary({
        "spin_us": spin_us, "iterations": loop.iterations, "busy": loop.busy_iterations,
        "blocks": loop.blocks,
        "warm_us": loop.warm_interval_ns / 1000, "warms": loop.warms,
        "warm_pass_us": round(loop.warm_ns / loop.warms / 1000, 2) if loop.warms else 0.0,
        "sockopts": [i.conn.sockopts if i.conn else None for i in loop.initiators]})


class _SignalPipe:
    """Signals for a loop that never enters the interpreter's signal machinery often enough (a compiled
    spin loop): Python-level handlers that do nothing but keep the default action (termination) away,
    and ``signal.set_wakeup_fd``, through which the C-level handler writes each signal number to a
    socket pair; :meth:`dispatch` (the loop's timer) reads them and runs the actions in the loop."""

    def __init__(self, actions: dict[int, Callable[[], None]]) -> None:
        self.actions = actions
        self._r, self._w = socket.socketpair()
        self._r.setblocking(False)
        self._w.setblocking(False)
        self._old_fd = signal.set_wakeup_fd(self._w.fileno(), warn_on_full_buffer=False)
        self._old: list[tuple[int, Any]] = []
        for signum in actions:
            self._old.append((signum, signal.signal(signum, _no_op_handler)))

    def dispatch(self) -> None:
        try:
            data = self._r.recv(64)
        except BlockingIOError:
            return
        except OSError:
            return
        for signum in data:
            act = self.actions.get(signum)
            if act is not None:
                log.warning("signal %s: %s", signal.Signals(signum).name, getattr(act, "__name__", act))
                act()

    def close(self) -> None:
        for signum, h in self._old:
            signal.signal(signum, h)
        signal.set_wakeup_fd(self._old_fd)
        self._r.close()
        self._w.close()


def _no_op_handler(signum: int, frame: Any) -> None:
    return None
