"""Transports for :class:`hft.fix.session.FixSession`: asyncio initiator/acceptor, blocking-thread initiator.

The session core is sans-IO; a transport only moves bytes and ticks the timer:

- :class:`AsyncInitiator`: connects (TCP_NODELAY), reconnects with exponential backoff
  (``SessionConfig.reconnect_min`` .. ``reconnect_max``, reset after each successful logon).
- :class:`AsyncAcceptor`: one listening socket, many sessions at once, routed by the first message's
  BeginString/SenderCompID/TargetCompID; unknown CompIDs or a wrong BeginString get a Logout with a text
  and the connection is closed; a second connection for a session that is already connected likewise.
- :class:`ThreadedInitiator`: a background thread with a blocking socket, for synchronous code. The
  session is not thread-safe, so here (and only here) a lock serialises the reader thread and ``send``.

A busy-polling loop can drive the core directly: non-blocking ``recv`` -> ``session.on_data``,
``session.on_timer(now)`` every iteration or every few microseconds, and a ``send_bytes`` that writes to the
non-blocking socket (zero awaits anywhere in the core).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import cast

from hft.fix.encoder import FixEncoder
from hft.fix.parser import FixMessage, FixStreamParser
from hft.fix.session import FixSession, SessionApplication, SessionConfig, SessionState, _ascii
from hft.fix.store import FsyncPolicy, open_store

TIMER_INTERVAL = 0.05  # seconds between on_timer calls
REFUSED_KEPT = 256  # refusal texts an acceptor keeps (the latest); refused_total counts them all


def _nodelay(sock: socket.socket | None) -> None:
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _Backoff:
    def __init__(self, lo: float, hi: float) -> None:
        self.lo, self.hi, self.n = lo, hi, 0

    def next(self) -> float:
        d = min(self.hi, math.ldexp(self.lo, self.n))  # lo * 2**n
        self.n += 1
        return d

    def reset(self) -> None:
        self.n = 0


async def wait_for_state(
    session: FixSession, predicate: Callable[[FixSession], bool], timeout: float
) -> bool:
    """Poll ``predicate(session)`` until true or timeout (cold path helper for tests and startup)."""
    deadline = time.monotonic() + timeout
    while not predicate(session):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.005)
    return True


# --------------------------------------------------------------------------------------- asyncio
class _SessionProtocol(asyncio.Protocol):
    """Glue between one asyncio connection and one FixSession."""

    def __init__(self, session: FixSession) -> None:
        self.session = session
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream connection's transport is a Transport; cast, not isinstance: uvloop's transports are
        # not asyncio.Transport subclasses
        t = cast(asyncio.Transport, transport)
        self.transport = t
        _nodelay(t.get_extra_info("socket"))
        self.session.connection_made(t.write, self._close)

    def _close(self, reason: str) -> None:
        if self.transport is not None:
            self.transport.close()  # flushes what is buffered (e.g. our Logout) first

    def data_received(self, data: bytes) -> None:
        _feed(self.session, data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.session.connection_lost("connection lost" if exc is None else f"connection lost: {exc}")
        if not self.closed.done():
            self.closed.set_result(None)


def _feed(session: FixSession, data: bytes) -> None:
    """``session.on_data`` that never lets an exception escape into asyncio (which would drop the
    connection with no Logout and no reason): a fault found here ends the session with a Logout naming
    it. (The session itself answers application faults with a Reject or BusinessMessageReject; this is
    the last line for the rest.)"""
    try:
        session.on_data(data)
    except Exception as e:  # a bug must not drop the line silently
        session.fail(f"internal error: {type(e).__name__}: {e}")


async def _ticker(sessions: Callable[[], Iterable[FixSession]], interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        now = time.time_ns()
        for s in list(sessions()):
            s.on_timer(now)


class AsyncInitiator:
    """Runs one initiator session over asyncio, reconnecting with backoff until :meth:`stop`."""

    def __init__(
        self,
        session: FixSession,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        reconnect: bool = True,
        timer_interval: float = TIMER_INTERVAL,
    ) -> None:
        if not session.config.initiator:
            raise ValueError("AsyncInitiator needs a session configured with initiator=True")
        self.session = session
        self.host, self.port = host, port
        self.reconnect = reconnect
        self.timer_interval = timer_interval
        self.connects = 0
        self.connect_failures = 0
        self.last_connect_error = ""  # why the last connect attempt failed ("" after a successful one)
        self.last_disconnect_reason = ""  # the session's disconnect reason when its last connection ended
        self._backoff = _Backoff(session.config.reconnect_min, session.config.reconnect_max)
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._proto: _SessionProtocol | None = None

    def start(self) -> asyncio.Task[None]:
        self._task = asyncio.get_running_loop().create_task(self.run())
        return self._task

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        ticker = loop.create_task(_ticker(lambda: (self.session,), self.timer_interval))
        try:
            while not self._stopping:
                try:
                    _, proto = await loop.create_connection(
                        lambda: _SessionProtocol(self.session), self.host, self.port
                    )
                except OSError as e:
                    self.connect_failures += 1
                    why = os.strerror(e.errno) if e.errno else str(e)  # (asyncio's strerror hides it)
                    self.last_connect_error = f"connect to {self.host}:{self.port} failed: {why}"
                    if not self.reconnect:
                        return
                    await asyncio.sleep(self._backoff.next())
                    continue
                self.connects += 1
                self.last_connect_error = ""
                self._proto = proto
                logons_before = self.session.counters.logons
                await proto.closed
                self._proto = None
                self.last_disconnect_reason = self.session.disconnect_reason
                if not self.reconnect or self._stopping:
                    return
                if self.session.counters.logons > logons_before:
                    self._backoff.reset()  # a session that logged on starts the backoff over
                await asyncio.sleep(self._backoff.next())
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker

    async def wait_logon(self, timeout: float = 10.0) -> bool:
        return await wait_for_state(self.session, lambda s: s.is_active, timeout)

    async def stop(self, timeout: float = 2.0) -> None:
        """Logout (if logged on), wait for the handshake, close, stop reconnecting."""
        self._stopping = True
        s = self.session
        if s.is_active:
            s.logout("client shutdown")
        await wait_for_state(s, lambda x: x.state == SessionState.DISCONNECTED, timeout)
        if self._proto is not None and self._proto.transport is not None:
            self._proto.transport.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class _AcceptorProtocol(asyncio.Protocol):
    """One inbound connection: routes the first message to a session, then feeds it everything."""

    def __init__(self, acceptor: AsyncAcceptor) -> None:
        self.acceptor = acceptor
        self.parser = FixStreamParser()
        self.session: FixSession | None = None
        self.transport: asyncio.Transport | None = None
        self.rejected = False
        self._timeout: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream connection's transport (cast, not isinstance: uvloop's are not Transport subclasses)
        self.transport = cast(asyncio.Transport, transport)
        _nodelay(transport.get_extra_info("socket"))
        self.acceptor.connections += 1
        # a connection that never identifies itself with a valid first message is dropped
        self._timeout = asyncio.get_running_loop().call_later(self.acceptor.first_message_timeout,
                                                              self._unidentified)

    def _malformed(self) -> None:
        """The first bytes are not a valid FIX frame: close at once (QuickFIX does), no answer."""
        self.rejected = True
        self.acceptor.note_refused("malformed first message")
        if self.transport is not None:
            self.transport.close()

    def _unidentified(self) -> None:
        if self.session is None and self.transport is not None:
            self.acceptor.note_refused("no valid first message")
            self.transport.close()

    def _close(self, reason: str) -> None:
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.rejected:
            return
        s = self.session
        if s is not None:
            _feed(s, data)
            return
        p = self.parser
        p.feed(data)
        first = p.next_message()
        if first is None:
            if p.frames_bad or p._garbage_from >= 0:  # a bad frame or bytes that are not a frame
                self._malformed()
            return
        if p.frames_bad:  # garbage before the first good frame
            self._malformed()
            return
        s = self.acceptor._route(first, self)
        if s is None:
            return
        self.session = s
        t = self.transport
        assert t is not None  # connection_made came first
        s.connection_made(t.write, self._close)
        s.parser = p  # keep the bytes that followed the first message
        try:
            s.on_message(first)
        except Exception as e:  # see _feed
            s.fail(f"internal error: {type(e).__name__}: {e}")
            return
        _feed(s, b"")

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timeout is not None:
            self._timeout.cancel()
        if self.session is not None:
            self.session.connection_lost("connection lost" if exc is None else f"connection lost: {exc}")
            self.acceptor._live.pop(self.session.config.key, None)


class AsyncAcceptor:
    """Accepts many sessions on one port (127.0.0.1 by default); each session has its own store and app."""

    def __init__(
        self,
        sessions: Sequence[FixSession],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        timer_interval: float = TIMER_INTERVAL,
        first_message_timeout: float = 10.0,
        refuse_with_logout: bool = True,
    ) -> None:
        self.first_message_timeout = first_message_timeout
        # a connection for an unknown session, another BeginString or a session already connected gets a
        # Logout naming the reason before the close (True), or is closed without a word (False: QuickFIX)
        self.refuse_with_logout = refuse_with_logout
        self.sessions: dict[tuple[str, str, str], FixSession] = {}
        # refusal Logouts use the precision of the sessions (TimestampPrecision; 3 = milliseconds)
        self._precision = sessions[0].config.timestamp_precision if sessions else 3
        for s in sessions:
            if s.config.initiator:
                raise ValueError(f"session {s.config.key} is an initiator")
            self.sessions[s.config.key] = s
        self.host, self.port = host, port
        self.timer_interval = timer_interval
        self.connections = 0
        # why connections were refused: the latest REFUSED_KEPT texts, and the count of all of them (a
        # client that reconnects with garbage forever must not grow the acceptor)
        self.refused: collections.deque[str] = collections.deque(maxlen=REFUSED_KEPT)
        self.refused_total = 0
        self._live: dict[tuple[str, str, str], _AcceptorProtocol] = {}
        self._server: asyncio.Server | None = None
        self._ticker: asyncio.Task[None] | None = None

    @classmethod
    def from_configs(
        cls,
        configs: Sequence[SessionConfig],
        store_dir: str,
        app_factory: Callable[[SessionConfig], SessionApplication],
        fsync: FsyncPolicy = "safe",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        timer_interval: float = TIMER_INTERVAL,
        first_message_timeout: float = 10.0,
        refuse_with_logout: bool = True,
    ) -> AsyncAcceptor:
        sessions = [
            FixSession(c, open_store(store_dir, c.begin_string, c.sender_comp_id, c.target_comp_id, fsync),
                       app_factory(c))
            for c in configs
        ]
        return cls(sessions, host, port, timer_interval=timer_interval,
                   first_message_timeout=first_message_timeout, refuse_with_logout=refuse_with_logout)

    def note_refused(self, text: str) -> None:
        """A connection was refused (Logout + close, or closed unanswered): its reason kept, counted."""
        self.refused.append(text)
        self.refused_total += 1

    async def start(self) -> int:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _AcceptorProtocol(self), self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self._ticker = loop.create_task(_ticker(self._connected, self.timer_interval))
        return self.port

    def _connected(self) -> Iterable[FixSession]:
        return [p.session for p in self._live.values() if p.session is not None]

    def _refuse(self, msg: FixMessage, proto: _AcceptorProtocol, text: str) -> None:
        begin = msg.begin_string.decode("ascii", "replace")
        if begin not in ("FIX.4.0", "FIX.4.1", "FIX.4.2", "FIX.4.3", "FIX.4.4", "FIXT.1.1"):
            begin = "FIX.4.2"
        frame = b""
        if self.refuse_with_logout:
            try:
                enc = FixEncoder(begin, _ascii(msg.target_comp_id) or "UNKNOWN",
                                 _ascii(msg.sender_comp_id) or "UNKNOWN", timestamp_precision=self._precision)
                frame = enc.encode(b"5", [(58, _ascii(text))], 1)
            except ValueError:
                frame = b""
        self.note_refused(text)
        proto.rejected = True
        if proto.transport is not None:
            if frame:
                proto.transport.write(frame)
            proto.transport.close()

    def _route(self, msg: FixMessage, proto: _AcceptorProtocol) -> FixSession | None:
        begin = _ascii(msg.begin_string)
        ours = _ascii(msg.target_comp_id)
        theirs = _ascii(msg.sender_comp_id)
        s = self.sessions.get((begin, ours, theirs))
        if s is None:
            if any(k[1] == ours and k[2] == theirs for k in self.sessions):
                self._refuse(msg, proto, f"Incorrect BeginString {begin}")
            else:
                self._refuse(msg, proto, f"Unknown session: SenderCompID={theirs} TargetCompID={ours}")
            return None
        if s.config.key in self._live or s.state != SessionState.DISCONNECTED:
            self._refuse(msg, proto, "Session already logged on")
            return None
        self._live[s.config.key] = proto
        return s

    async def stop(self, timeout: float = 2.0) -> None:
        for s in list(self._connected()):
            if s.is_active:
                s.logout("server shutdown")
        deadline = time.monotonic() + timeout
        while self._live and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for p in list(self._live.values()):
            if p.transport is not None:
                p.transport.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        await asyncio.sleep(0)
        for s in self.sessions.values():
            s.store.flush()


# ------------------------------------------------------------------------------------ blocking thread
class ThreadedInitiator:
    """An initiator on a background thread with a blocking socket (for synchronous callers).

    ``send`` may be called from any thread; a lock serialises it with the reader thread.
    """

    def __init__(
        self,
        session: FixSession,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        reconnect: bool = True,
        timer_interval: float = TIMER_INTERVAL,
    ) -> None:
        if not session.config.initiator:
            raise ValueError("ThreadedInitiator needs a session configured with initiator=True")
        self.session = session
        self.host, self.port = host, port
        self.reconnect = reconnect
        self.timer_interval = timer_interval
        self.lock = threading.RLock()
        self.connects = 0
        self.connect_failures = 0
        self._backoff = _Backoff(session.config.reconnect_min, session.config.reconnect_max)
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="fix-initiator", daemon=True)
        self._thread.start()

    def send(self, msg_type: bytes | str, body: Sequence[tuple[int, bytes | str | int]]) -> int:
        with self.lock:
            return self.session.send(msg_type, body)

    def wait_logon(self, timeout: float = 10.0) -> bool:
        return self.wait_for(lambda s: s.is_active, timeout)

    def wait_for(self, predicate: Callable[[FixSession], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                if predicate(self.session):
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)

    def _close_sock(self, reason: str = "") -> None:
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _run(self) -> None:
        s = self.session
        while not self._stop.is_set():
            try:
                sock = socket.create_connection((self.host, self.port), timeout=5.0)
            except OSError:
                self.connect_failures += 1
                if not self.reconnect:
                    return
                self._stop.wait(self._backoff.next())
                continue
            self.connects += 1
            _nodelay(sock)
            sock.settimeout(self.timer_interval)
            self._sock = sock
            logons_before = s.counters.logons
            with self.lock:
                s.connection_made(sock.sendall, self._close_sock)
            try:
                while True:
                    try:
                        data = sock.recv(65536)
                    except TimeoutError:
                        with self.lock:
                            s.on_timer()
                        if s.state == SessionState.DISCONNECTED:
                            break
                        continue
                    except OSError:
                        break
                    if not data:
                        break
                    with self.lock:
                        _feed(s, data)
                        s.on_timer()
                    if s.state == SessionState.DISCONNECTED:
                        break
            finally:
                with self.lock:
                    s.connection_lost("connection closed")
                with contextlib.suppress(OSError):
                    sock.close()
                self._sock = None
            if not self.reconnect or self._stop.is_set():
                return
            if s.counters.logons > logons_before:
                self._backoff.reset()
            self._stop.wait(self._backoff.next())

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        with self.lock:
            active = self.session.is_active
            if active:
                self.session.logout("client shutdown")
        if active:
            self.wait_for(lambda x: x.state == SessionState.DISCONNECTED, timeout)
        self._close_sock()
        if self._thread is not None:
            self._thread.join(timeout)
