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
- :func:`run_busy`: the paper/live host of ``engine.loop = "busy_poll"`` (same wiring as the asyncio
  host: journal and recovery, the two FIX sessions, engine, metrics, signals, gc.freeze, clean stop).

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
                 "closed", "reads", "rx", "session", "sock", "sockopts")

    def __init__(self, session: FixSession, sock: socket.socket, *, busy_poll_us: int = 50,
                 recv_size: int = 1 << 16, rx_timestamps: bool = False) -> None:
        """``rx_timestamps``: read through :class:`hft.runtime.timestamps.RxTimestamper` (``recvmsg`` with
        ``SO_TIMESTAMPING``); the kernel's receive stamp of each read is then ``self.rx.ts_ns``."""
        self.session = session
        self.sock = sock
        self.sockopts = tune_socket(sock, busy_poll_us)
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
                 busy_poll_us: int = 50, connect_timeout: float = 2.0, rx_timestamps: bool = False) -> None:
        if not session.config.initiator:
            raise ValueError("BusyInitiator needs a session configured with initiator=True")
        self.session = session
        self.host, self.port = host, port
        self.reconnect = reconnect
        self.busy_poll_us = busy_poll_us
        self.rx_timestamps = rx_timestamps
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
                                   rx_timestamps=self.rx_timestamps)

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
    """The ``engine.loop = "busy_poll"`` host: the wiring of ``runner.run_trading`` on a :class:`BusyLoop`.

    ``config`` is an :class:`hft.engine.config.Config`, ``opts`` a ``runner.HostOptions``. The venue must
    already be listening (the embedded simulator is refused: its thread would starve, see module doc).
    ``order_app`` / ``md_app`` replace the default FixOrderGateway / FixMarketData (the latency benchmark
    passes subclasses that echo the simulator's tick id). ``spin_us``: see :class:`BusyLoop` (None: pure
    spinning); by default ``engine.busy_spin_us`` (0: pure spinning). The ``[engine]`` process settings
    (CPU affinity, real-time priority -- never while spinning forever --, mlock) are applied at start, its
    GC policy once logged on (``gc_disable``: collections only from the timer, which runs when a poll
    found nothing). Returns the engine summary.
    """
    import dataclasses

    from hft.engine.fix_gateway import FixOrderGateway
    from hft.engine.fix_md import FixMarketData
    from hft.engine.journal import Journal, recover
    from hft.engine.runner import (
        Host,
        HostOptions,
        TradingEngine,
        _resolve,
        _update_session_stats,
    )
    from hft.fix.session import SessionConfig, session_options
    from hft.fix.store import MemoryStore, open_store
    from hft.metrics.stats import EngineStats, SessionStats
    from hft.runtime import apply_process_config, gc_controller_from_config

    opts = opts or HostOptions()
    ec = config.engine
    if spin_us == FROM_CONFIG:
        spin_us = float(ec.busy_spin_us) or None
    vc, mc = config.venue, config.market_data
    venue_port = opts.venue_port if opts.venue_port is not None else vc.port
    md_port = opts.md_port if opts.md_port is not None else mc.port
    if venue_port == 0 or md_port == 0:
        raise RuntimeError("engine.loop = busy_poll needs a venue in another process (hft sim): set "
                           "venue.port and market_data.port; the embedded simulator would be starved")
    if spin_us is None and getattr(ec, "realtime_priority", False):
        log.warning("engine.realtime_priority ignored: this busy loop spins forever (busy_spin_us = 0) and a "
                    "real-time spinner would starve its core")
        ec = dataclasses.replace(ec, realtime_priority=False)
    runtime_report = apply_process_config(ec).as_dict()
    jpath = _resolve(config.journal.path, opts.run_dir)
    recovered = None
    if jpath.exists() and jpath.stat().st_size > 0:
        recovered = recover(jpath, config.fees.build())
    journal = Journal(jpath, fsync=config.journal.fsync, batch_max_records=config.journal.batch_max_records,
                      batch_max_ns=config.journal.batch_max_ms * 1_000_000)
    store_dir = _resolve(vc.store_dir, opts.run_dir)
    store_dir.mkdir(parents=True, exist_ok=True)
    order_cfg = SessionConfig(begin_string=vc.begin_string, sender_comp_id=vc.sender_comp_id,
                              target_comp_id=vc.target_comp_id, heartbeat_interval=vc.heartbeat_s,
                              username_env=vc.username_env or None, password_env=vc.password_env or None,
                              reconnect_min=min(vc.reconnect_s, 0.5), reconnect_max=max(vc.reconnect_s, 0.5),
                              app_msg_types=frozenset({b"8", b"9", b"j"}),
                              **session_options(vc.session, "venue.session"))
    order_store = open_store(store_dir, vc.begin_string, vc.sender_comp_id, vc.target_comp_id,
                             fsync=vc.store_fsync)
    gateway = order_app if order_app is not None else FixOrderGateway(
        account=vc.account, ex_destination=vc.ex_destination, currency=vc.currency)
    order_session = FixSession(order_cfg, order_store, gateway)
    gateway.attach(order_session)
    md_cfg = SessionConfig(begin_string=vc.begin_string, sender_comp_id=mc.sender_comp_id,
                           target_comp_id=mc.target_comp_id, heartbeat_interval=vc.heartbeat_s,
                           reset_seq_num_on_logon=True, validate_types=False,
                           reconnect_min=min(vc.reconnect_s, 0.5), reconnect_max=max(vc.reconnect_s, 0.5),
                           app_msg_types=frozenset({b"W", b"X", b"Y", b"j"}))
    md = md_app if md_app is not None else FixMarketData()
    md_session = FixSession(md_cfg, MemoryStore(), md)
    md.attach(md_session)
    stats = EngineStats()
    engine = TradingEngine(config, gateway, journal=journal, recovered=recovered, stats=stats)
    factory = getattr(opts, "strategy_factory", None)
    if factory is not None:
        engine.strategy = factory(engine)
    md.set_sink(engine.on_market_event)
    if hasattr(md, "level_sink") and hasattr(engine, "on_level"):
        md.level_sink = engine.on_level
    md.on_message_end = engine.on_md_message_end
    engine.md_request_snapshot = md.request_snapshot
    if hasattr(md, "tick"):
        engine.md_tick = md.current_tick  # echo the venue's tick id (6001) on orders it causes
    order_ss = stats.sessions.setdefault("order", SessionStats("order"))
    md_ss = stats.sessions.setdefault("marketdata", SessionStats("marketdata"))
    host = Host(engine, order_session, md_session, gateway, md)
    loop = BusyLoop(spin_us=spin_us, warm_interval_us=float(getattr(ec, "busy_warm_us", 0.0)))
    host.extra["loop"] = loop
    stop = [False]
    host.request_stop = lambda: stop.__setitem__(0, True)  # type: ignore[method-assign]

    def on_order_state(old: SessionState, new: SessionState) -> None:
        _update_session_stats(order_ss, order_session)
        if new == SessionState.DISCONNECTED and old in (SessionState.ACTIVE, SessionState.LOGOUT_SENT):
            if not stop[0]:
                engine.on_order_session_down()
        elif new == SessionState.ACTIVE and engine.started:
            engine.on_order_session_up()

    gateway.on_state = on_order_state
    md.on_state = lambda old, new: _update_session_stats(md_ss, md_session)
    metrics = None
    if config.metrics.enabled:
        from hft.metrics.exporter import TradingCollector, start_metrics_server

        port = opts.metrics_port if opts.metrics_port is not None else config.metrics.port
        metrics = start_metrics_server(TradingCollector(stats), config.metrics.host, port)
        host.metrics = metrics
    gcc = gc_controller_from_config(ec)
    gc_started = False
    gc_report: dict[str, Any] = {}
    old_handlers: list[tuple[Any, Any]] = []
    try:
        order_ini = loop.add_initiator(order_session, vc.host, venue_port)
        md_ini = loop.add_initiator(md_session, mc.host, md_port)
        if not loop.wait_for(lambda: order_session.is_active and md_session.is_active, opts.logon_timeout):
            from hft.engine.preflight import logon_failure_reason

            which, s, ini = (("order entry", order_session, order_ini) if not order_session.is_active
                             else ("market data", md_session, md_ini))
            raise RuntimeError(f"{which} session to {ini.host}:{ini.port} did not log on within "
                               f"{opts.logon_timeout:g}s ({logon_failure_reason(s, ini)})")
        md.subscribe(engine.instruments)
        engine.start()
        for w in (getattr(md, "warm", None), engine.warm):  # cache warming while idle (busy_warm_us)
            if w is not None:
                loop.add_warmer(w)

        def timer(now_ns: int) -> None:
            engine.on_timer(now_ns)
            md.check_resend()
            _update_session_stats(order_ss, order_session)
            _update_session_stats(md_ss, md_session)
            gcc.idle()  # collects only with engine.gc_disable, and only when due

        loop.call_every(config.engine.timer_ms * 1_000_000, timer)
        gc_report = gcc.after_startup()
        gc_started = True
        if opts.install_signals:
            def on_stop_signal(signum: int, frame: Any) -> None:
                stop[0] = True

            def on_kill_signal(signum: int, frame: Any) -> None:
                engine.kill("manual (SIGUSR1)")

            for sig in (signal.SIGINT, signal.SIGTERM):
                old_handlers.append((sig, signal.signal(sig, on_stop_signal)))
            old_handlers.append((signal.SIGUSR1, signal.signal(signal.SIGUSR1, on_kill_signal)))
        if on_started is not None:
            on_started(host)
        deadline = None if opts.duration is None else time.monotonic() + opts.duration
        loop.run(until=lambda: stop[0], deadline=deadline)
        stop[0] = True  # from here on a disconnect is the shutdown, not a loss of the venue
        engine.stop()
        loop.stopped = False
        loop.wait_for(lambda: not engine.om.open_orders() or not order_session.is_active, opts.stop_grace)
    finally:
        for sig, h in old_handlers:
            signal.signal(sig, h)
        if gc_started:
            gcc.restore()
        md.unsubscribe(list(md.insts))
        loop.shutdown()
        journal.close()
        with contextlib.suppress(Exception):
            order_store.close()
        if metrics is not None:
            metrics.close()
    summary = engine.summary()
    summary["duration_s"] = round((time.time_ns() - engine.t_start_ns) / 1e9, 3) if engine.t_start_ns else 0
    summary["sessions"] = {"order": order_session.stats(), "marketdata": md_session.stats()}
    summary["journal"] = str(jpath)
    summary["venue"] = f"{vc.host}:{venue_port}"
    summary["market_data"] = f"{mc.host}:{md_port}"
    summary["runtime"] = runtime_report
    summary["gc_policy"] = gc_report
    summary["gc"] = gcc.stats.as_dict()
    summary["loop"] = {"kind": "busy_poll", "spin_us": spin_us, "iterations": loop.iterations,
                       "busy": loop.busy_iterations, "blocks": loop.blocks,
                       "warm_us": loop.warm_interval_ns / 1000, "warms": loop.warms,
                       "warm_pass_us": round(loop.warm_ns / loop.warms / 1000, 2) if loop.warms else 0.0,
                       "sockopts": [i.conn.sockopts if i.conn else None for i in loop.initiators]}
    return summary
