"""Market data side of the simulator: FIX MarketDataRequest -> snapshot + incremental refresh.

:class:`MarketDataPublisher` keeps, per instrument, the top ``depth`` (default 10) price levels of each
side as last published. After every batch of engine events (client orders, cancel-on-disconnect,
background flow, auctions: whoever caused it) it recomputes the top levels of each instrument the batch
touched, diffs them against what was published and sends one 35=X per instrument to its subscribers:

- trades first (279=0, 269=2, 270 price, 271 size), then level deletes (279=2, 271=0), then new levels
  (279=0) and changed quantities (279=1); every entry in the layout 279,269,55,270,271,273 where 273
  MDEntryTime is UTC time of day with microseconds;
- message-level 83 RptSeq, one sequence per instrument incremented by every 35=X of that instrument;
  a 35=W snapshot carries the RptSeq of the last 35=X sent before it, so the next 35=X has RptSeq + 1
  and a client that sees any other value knows it missed one and re-requests a snapshot;
- 6000 SimSendNs = ``time.monotonic_ns()`` taken after the message is encoded and stored, immediately
  before its bytes are handed to the socket (19 digits, zero padded; the body after 6001 is encoded once
  per batch and shared by every subscriber, see :meth:`MarketDataApp.write_x`); 6001 SimTickId = a
  number unique per 35=X sent (per client). :meth:`tick_send_ns` maps a recent tick id back to its
  stamp (a ring of the last 65536); the order gateway uses it for wire-to-wire latency.

35=V with 263=0 (snapshot), 1 (snapshot + updates) or 2 (unsubscribe), any number of symbols in
146/55; unknown symbols or an unsupported request get 35=Y MarketDataRequestReject (281 reason, 58
Text). Optional one-way latency (fixed + jitter) delays each client's messages, FIFO per client. A
client that stops reading is disconnected once more than ``max_pending_kb`` are waiting to be sent.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

from hft.asx.ticks import format_price
from hft.fix.parser import FixMessage, FixValueError, byte_sum
from hft.fix.session import FixSession, SessionApplication, SessionState
from hft.fix.store import MemoryStore
from hft.ratelog import RateLimitedLog
from hft.sim.config import LatencySampler, MarketDataConfig
from hft.sim.gateway import price_bytes
from hft.sim.latency import DelayLine
from hft.sim.matching import Event, LevelEvent, MatchingEngine, TradeEvent, _Side

log = logging.getLogger("hft.sim.marketdata")
rlog = RateLimitedLog(log, burst=5, interval_s=10.0)  # per-connection lines (a reconnect loop)

Body = list[tuple[int, bytes | str | int]]
TICK_RING = 1 << 16
_MASK = TICK_RING - 1
_PLACEHOLDER = b"0" * 19  # SimSendNs before the stamp: fixed width, patched at write time
_PLACEHOLDER_SUM = sum(_PLACEHOLDER)
# one NoMDEntries entry in the canonical layout 279,269,55,270,271,273 (hft.fix.parser's fast path)
_ENTRY = b"\x01279=%s\x01269=%s\x0155=%s\x01270=%s\x01271=%d\x01273=%s"
_NS_DAY = 86_400 * 1_000_000_000


class NoRetainStore(MemoryStore):
    """Store of a market data session: sequence numbers only, no messages kept (a busy feed would grow
    without bound). A ResendRequest is answered with SequenceReset-GapFill; the client recovers the book
    with a new snapshot, as it does for any RptSeq gap."""

    def store_sent(self, seq: int, frame: bytes) -> None:
        if seq + 1 > self.next_sender_seq:
            self.next_sender_seq = seq + 1

    def get_sent(self, begin: int, end: int) -> list[tuple[int, bytes]]:
        return []


_px = price_bytes  # memoised format_price -> bytes


def md_entry_time(ns: int) -> bytes:
    """MDEntryTime (273): UTC time of day ``HH:MM:SS.ffffff``."""
    t = ns % _NS_DAY
    s, sub = divmod(t, 1_000_000_000)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return b"%02d:%02d:%02d.%06d" % (h, m, sec, sub // 1000)


class MarketDataApp(SessionApplication):
    """The application of one client's market data session."""

    def __init__(self, publisher: MarketDataPublisher, name: str) -> None:
        self.publisher = publisher
        self.name = name
        self.session: FixSession | None = None
        self.subscriptions: dict[str, bytes] = {}  # symbol -> MDReqID
        self.delay: DelayLine | None = None  # injected latency, FIFO
        self.x_head = b""
        self.begin = b""
        self._raw: Callable[[bytes], None] | None = None  # the transport's write while connected
        self._transport: asyncio.WriteTransport | None = None
        self._pending: Callable[[], int] | None = None
        self._kicked = False
        # 35=X held while the publisher is held (one socket read of an order session, one flow step):
        # (frame before SimSendNs, frame after it up to CheckSum, byte sum without the stamp, tick id)
        self._held: list[tuple[bytes, bytes, int, int]] = []

    def attach(self, session: FixSession) -> None:
        """Hook the session's writes: every frame goes through :meth:`_write` (slow-consumer check), and
        the publisher writes 35=X frames it encoded itself through :meth:`write_x`."""
        self.session = session
        session.app = self
        cfg = session.config
        # per-client constant part of a 35=X header (35, 49, 56, 34=)
        self.x_head = b"35=X\x0149=%s\x0156=%s\x0134=" % (cfg.sender_comp_id.encode(),
                                                            cfg.target_comp_id.encode())
        self.begin = b"8=%s\x019=" % cfg.begin_string.encode()

        def transport_filter(send_bytes: Callable[[bytes], None], close: Callable[[str], None]
                             ) -> tuple[Callable[[bytes], None], Callable[[str], None]]:
            # send_bytes is the asyncio transport's bound write; a plain callable has no transport
            transport: asyncio.WriteTransport | None = getattr(send_bytes, "__self__", None)
            self._transport = transport
            sndbuf = self.publisher.config.sndbuf_kb
            sock = transport.get_extra_info("socket") if sndbuf and transport is not None else None
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf * 1024)
            self._raw = send_bytes
            self._pending = getattr(transport, "get_write_buffer_size", None)
            self._kicked = False
            return self._write, close

        session.transport_filter = transport_filter  # applied by session.connection_made

    def _write(self, data: bytes) -> None:
        if self._held:  # a frame that is not a held 35=X (snapshot, admin) never overtakes them
            self.flush_x()
        self._write_raw(data)

    def _write_raw(self, data: bytes) -> None:
        raw = self._raw
        if raw is None:
            return
        raw(data)
        pending = self._pending
        if pending is not None and not self._kicked and pending() > self.publisher.max_pending_bytes:
            # a client that does not read: drop it instead of buffering without bound
            self._kicked = True
            n = pending()
            self.publisher.counters["slow_consumers"] += 1
            rlog.warning("slow:" + self.name, "market data session %s: slow consumer, %d bytes unsent: "
                         "disconnecting", self.name, n)
            s = self.session
            if s is not None:
                s.disconnect_reason = f"slow consumer: {n} bytes unsent"
            t = self._transport
            if t is not None:
                t.abort()

    def write_x(self, tick: int, shared: bytes, shared_sum: int, ring: list[int],
                sending_time: bytes = b"") -> bool:
        """Write one 35=X whose body after 6001 (83, 268, entries) is ``shared`` (the same bytes for every
        subscriber, encoded once). The frame is stored with a placeholder SimSendNs; the stamp is taken
        and put in (CheckSum adjusted) right before the bytes go to the socket. While the publisher is
        held the frame waits (with its sequence number taken) and goes out with the others of the batch
        in one write, stamped then (:meth:`flush_x`). ``sending_time``: SendingTime (52) already formatted
        in this session's precision (the publisher formats it once for all subscribers), else now.
        False if not logged on."""
        s = self.session
        if s is None or s.state is not SessionState.ACTIVE or self._raw is None:
            return False
        store = s.store
        seq = store.next_sender_seq
        pre = b"%s%d\x0152=%s\x016000=" % (self.x_head, seq,
                                            sending_time or s.encoder.format_timestamp(time.time_ns()))
        mid = b"\x016001=%d" % tick
        post = mid + shared
        pre = b"%s%d\x01%s" % (self.begin, len(pre) + 19 + len(post), pre)
        partial = byte_sum(pre + mid) + shared_sum
        if type(store) is NoRetainStore:
            store.store_sent(seq, b"")  # keeps no frame: only the sequence number moves
        else:
            store.store_sent(seq, b"%s%s%s10=%03d\x01" % (pre, _PLACEHOLDER, post,
                                                          (partial + _PLACEHOLDER_SUM) & 0xFF))
        c = s.counters
        c.msgs_out += 1
        c.app_out += 1
        c.bytes_out += len(pre) + 19 + len(post) + 7
        if self.publisher.held:
            if not self._held:
                self.publisher.held_apps.append(self)
            self._held.append((pre, post, partial, tick))
            ring[tick & _MASK] = 0  # not sent yet: an echo of it (impossible anyway) is ignored
            return True
        ns = time.monotonic_ns()
        digits = b"%019d" % ns
        ring[tick & _MASK] = ns
        self._write(b"%s%s%s10=%03d\x01" % (pre, digits, post, (partial + byte_sum(digits)) & 0xFF))
        return True

    def flush_x(self) -> None:
        """Write the held 35=X frames in one go, all stamped with one SimSendNs taken now."""
        held = self._held
        if not held:
            return
        self._held = []
        s = self.session
        if s is None or s.state != SessionState.ACTIVE:
            return  # gone meanwhile: a feed is not resent (the client re-requests a snapshot)
        ns = time.monotonic_ns()
        digits = b"%019d" % ns
        dsum = byte_sum(digits)
        ring = self.publisher._tick_ns
        frames = []
        for pre, post, partial, tick in held:
            ring[tick & _MASK] = ns
            frames.append(b"%s%s%s10=%03d\x01" % (pre, digits, post, (partial + dsum) & 0xFF))
        self._write_raw(frames[0] if len(frames) == 1 else b"".join(frames))

    def on_logon(self, session: FixSession) -> None:
        rlog.info("logon:" + self.name, "market data session %s logged on", self.name)

    def on_logout(self, session: FixSession, reason: str) -> None:
        rlog.info("logout:" + self.name, "market data session %s logged out: %s", self.name, reason)
        self.publisher.unsubscribe_all(self)

    def on_app_message(self, session: FixSession, msg: FixMessage) -> None:
        if msg.msg_type == b"V":
            self.publisher.on_request(self, msg)


class MarketDataPublisher:
    def __init__(
        self,
        engine: MatchingEngine,
        config: MarketDataConfig | None = None,
        *,
        latency: LatencySampler | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.engine = engine
        self.config = config or MarketDataConfig()
        self.depth = self.config.depth
        self.max_pending_bytes = self.config.max_pending_kb * 1024
        self.latency = latency if latency is not None and latency.enabled else None
        self.loop = loop
        self.clock = clock
        self.apps: dict[str, MarketDataApp] = {}
        self.subs: dict[str, list[MarketDataApp]] = {s: [] for s in engine.books}
        self.rpt_seq: dict[str, int] = dict.fromkeys(engine.books, 0)
        self._top: dict[str, tuple[dict[int, int], dict[int, int]]] = {s: ({}, {}) for s in engine.books}
        self._sym_b: dict[str, bytes] = {s: s.encode() for s in engine.books}
        self._tick = 0
        self._tick_ns = [0] * TICK_RING
        self.held = 0  # > 0: 35=X frames wait for release() (see hold)
        self.held_apps: list[MarketDataApp] = []
        self.counters: dict[str, int] = {"incrementals": 0, "snapshots": 0, "rejects": 0, "entries": 0,
                                         "trades": 0, "requests": 0, "publish_batches": 0,
                                         "slow_consumers": 0}

    def add_session(self, session: FixSession, name: str) -> MarketDataApp:
        app = MarketDataApp(self, name)
        app.attach(session)
        if self.latency is not None and self.loop is not None:
            app.delay = DelayLine(self.loop, self.latency)
        self.apps[name] = app
        return app

    # -- write coalescing -------------------------------------------------------------------------
    def hold(self) -> None:
        """Hold 35=X writes until the matching :meth:`release`: the server holds them while it handles one
        socket read of an order session (or one background flow step), so a read with 50 orders costs
        one ``send`` per subscriber instead of 50. Nested holds are counted."""
        self.held += 1

    def release(self) -> None:
        """End a :meth:`hold`; the outermost one writes what each subscriber has waiting (one write each,
        in subscription order, stamped at that moment)."""
        self.held -= 1
        if self.held <= 0:
            self.held = 0
            apps = self.held_apps
            if apps:
                self.held_apps = []
                for app in apps:
                    app.flush_x()

    # -- ticks ---------------------------------------------------------------------------------
    @property
    def last_tick(self) -> int:
        return self._tick

    def tick_send_ns(self, tick: int) -> int:
        """The SimSendNs stamp of tick ``tick`` if it is one of the last 65536 sent, else 0."""
        cur = self._tick
        if 0 < tick <= cur and cur - tick < TICK_RING:
            return self._tick_ns[tick & _MASK]
        return 0

    # -- requests ------------------------------------------------------------------------------
    def on_request(self, app: MarketDataApp, msg: FixMessage) -> None:
        self.counters["requests"] += 1
        req_id = msg.get(262) or b"?"
        sub = msg.get(263)
        if sub not in (b"0", b"1", b"2"):
            self._reject(app, req_id, 4, f"unsupported SubscriptionRequestType (263) {sub!r}")
            return
        try:
            groups = msg.group(146, 55)
            depth = msg.get_int(264, 0) or 0
        except FixValueError as e:
            self._reject(app, req_id, 0, f"malformed request: {e}")
            return
        if depth < 0:
            self._reject(app, req_id, 5, f"unsupported MarketDepth (264) {depth}")
            return
        symbols = [g.get(55) or b"" for g in groups]
        if not symbols:
            self._reject(app, req_id, 0, "no symbol in NoRelatedSym (146)")
            return
        for raw in symbols:
            sym = raw.decode("ascii", "replace")
            if sym not in self.engine.books:
                self._reject(app, req_id, 0, f"unknown symbol {sym!r}")
                continue
            if sub == b"2":
                self._unsubscribe(app, sym)
                continue
            self._snapshot(app, req_id, sym, depth)
            if sub == b"1":
                lst = self.subs[sym]
                if app not in lst:
                    lst.append(app)
                app.subscriptions[sym] = req_id

    def _unsubscribe(self, app: MarketDataApp, sym: str) -> None:
        lst = self.subs.get(sym)
        if lst is not None and app in lst:
            lst.remove(app)
        app.subscriptions.pop(sym, None)

    def unsubscribe_all(self, app: MarketDataApp) -> None:
        for sym in list(app.subscriptions):
            self._unsubscribe(app, sym)

    def _reject(self, app: MarketDataApp, req_id: bytes, reason: int, text: str) -> None:
        self.counters["rejects"] += 1
        self._send(app, b"Y", [(262, req_id), (281, reason), (58, text)])

    def _snapshot(self, app: MarketDataApp, req_id: bytes, sym: str, depth: int) -> None:
        bids, asks = self._top[sym]
        n = self.depth if depth <= 0 else min(depth, self.depth)
        sym_b = self._sym_b[sym]
        entries: Body = []
        count = 0
        for ty, lv in ((b"0", bids), (b"1", asks)):
            for i, (px, q) in enumerate(lv.items()):
                if i >= n:
                    break
                entries += [(269, ty), (270, format_price(px)), (271, q), (290, i + 1)]
                count += 1
        body: Body = [(262, req_id), (55, sym_b), (83, self.rpt_seq[sym]), (268, count), *entries]
        self.counters["snapshots"] += 1
        self._send(app, b"W", body)

    # -- publishing ----------------------------------------------------------------------------
    def on_events(self, events: Sequence[Event]) -> None:
        """Publish the market data consequences of one batch of engine events."""
        touched: dict[str, list[TradeEvent] | None] = {}
        e: Any  # dispatched on type(e) once, then `is` tests; mypy does not narrow through `t`
        for e in events:
            t = type(e)
            if t is LevelEvent:
                if e.instrument not in touched:
                    touched[e.instrument] = None
            elif t is TradeEvent:
                lst = touched.get(e.instrument)
                if lst is None:
                    touched[e.instrument] = [e]
                else:
                    lst.append(e)
        if touched:
            self.counters["publish_batches"] += 1
            for inst, trades in touched.items():
                self._publish(inst, trades)

    def _publish(self, inst: str, trades: list[TradeEvent] | None) -> None:
        book = self.engine.books[inst]
        depth = self.depth
        old_b, old_a = self._top[inst]
        new_b = self._top_of(book.bids, depth)
        new_a = self._top_of(book.asks, depth)
        self._top[inst] = (new_b, new_a)
        subs = self.subs[inst]
        if not subs:
            self.rpt_seq[inst] += 1
            return
        sym = self._sym_b[inst]
        ts = md_entry_time(self.clock())
        parts: list[bytes] = []
        n = 0
        if trades:
            for tr in trades:
                parts.append(_ENTRY % (b"0", b"2", sym, _px(tr.price), tr.qty, ts))
            n += len(trades)
            self.counters["trades"] += len(trades)
        for ty, old, new in ((b"0", old_b, new_b), (b"1", old_a, new_a)):
            for px in old:
                if px not in new:
                    parts.append(_ENTRY % (b"2", ty, sym, _px(px), 0, ts))
                    n += 1
        for ty, old, new in ((b"0", old_b, new_b), (b"1", old_a, new_a)):
            for px, q in new.items():
                oq = old.get(px)
                if oq is None:
                    parts.append(_ENTRY % (b"0", ty, sym, _px(px), q, ts))
                    n += 1
                elif oq != q:
                    parts.append(_ENTRY % (b"1", ty, sym, _px(px), q, ts))
                    n += 1
        if n == 0:
            return
        self.rpt_seq[inst] += 1
        seq = self.rpt_seq[inst]
        self.counters["incrementals"] += 1
        self.counters["entries"] += n
        shared = b"\x0183=%d\x01268=%d%s\x01" % (seq, n, b"".join(parts))
        shared_sum = byte_sum(shared)
        tick = self._tick
        ring = self._tick_ns
        now = 0
        st = b""
        prec = -1
        for app in subs:
            line = app.delay
            if line is not None:  # injected latency: written (and stamped) when it is due
                line.put(self._write_x, app, shared, shared_sum)
                continue
            s = app.session
            if s is None:
                continue
            enc = s.encoder
            if enc.timestamp_precision != prec:  # one SendingTime for every subscriber of this 35=X
                if not now:
                    now = time.time_ns()
                prec = enc.timestamp_precision
                st = enc.format_timestamp(now)
            if app.write_x(tick + 1, shared, shared_sum, ring, st):
                tick += 1
        self._tick = tick

    @staticmethod
    def _top_of(side: _Side, depth: int) -> dict[int, int]:
        sign = side.sign
        lv = side.levels
        return {k * sign: lv[k * sign].qty for k in side.keys[:depth]}

    def _write_x(self, app: MarketDataApp, shared: bytes, shared_sum: int) -> None:
        tick = self._tick + 1
        if app.write_x(tick, shared, shared_sum, self._tick_ns):
            self._tick = tick

    def _send(self, app: MarketDataApp, msg_type: bytes, body: Body) -> None:
        line = app.delay
        if line is not None:
            line.put(self._send_now, app, msg_type, body)
            return
        self._send_now(app, msg_type, body)

    def _send_now(self, app: MarketDataApp, msg_type: bytes, body: Body) -> None:
        s = app.session
        if s is not None and s.state == SessionState.ACTIVE:
            s.send(msg_type, body)
