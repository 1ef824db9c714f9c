"""MarketDataSource over a FIX initiator session (the simulator's market data port, or any FIX venue).

Subscribes with MarketDataRequest (35=V: 263=1 snapshot + updates, 264 depth, 265=1 incremental,
267 bid/offer/trade), turns MarketDataSnapshotFullRefresh (35=W) into :class:`BookSnapshot`,
MarketDataIncrementalRefresh (35=X) into :class:`LevelUpdate` / :class:`~hft.model.types.Trade`, and
hands them to the sink (the engine, which applies them to its L2 books). After the last event of one
FIX message it calls ``on_message_end(recv_ns)`` so the engine runs the strategy once per message, not
once per level; ``recv_ns`` is the wall clock when the bytes were read (tick-to-trade starts there).

Gap detection, three ways, each ending in a :class:`StaleNotice` for the instrument (the engine marks
the book stale and tells the strategy) and a fresh snapshot request (a new 35=V for that symbol):

- **MsgSeqNum**: the session layer queues out-of-order messages and sends a ResendRequest; while a
  resend is pending every subscribed book is stale; once it is filled each gets a new snapshot.
- **per-instrument sequence**: RptSeq (83) on each W/X, per symbol; a jump (or a step back) marks that
  book stale and drops its updates until the snapshot arrives.
- **inconsistency**: an entry that cannot be decoded here; the engine's L2 book reports a delete of an
  unknown level or a crossed book and calls :meth:`FixMarketData.request_snapshot`.

A disconnect marks everything stale (reason ``disconnect``); the next logon re-subscribes.
Market data requests that the venue refuses (35=Y) are logged and reported as ``rejected`` notices.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import Final
from zlib import adler32 as _adler32

from hft.engine.gateway import BookSnapshot, LevelUpdate, MarketSink, StaleNotice
from hft.fix.parser import _MD_CANON, FixMessage, FixValueError, byte_sum, plain_price
from hft.fix.session import FixSession, SessionApplication, SessionError, SessionState
from hft.model.types import Side, Trade

log = logging.getLogger(__name__)

_BID: Final = Side.BUY
_ASK: Final = Side.SELL
_SIDE_OF: Final = {b"0": _BID, b"1": _ASK}
side_of = _SIDE_OF.__getitem__


def _noop_sink(_: object) -> None:
    return None


class _InstState:
    __slots__ = ("expected_seq", "req_id", "stale", "symbol")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.expected_seq = 0  # next RptSeq expected; 0 = unknown (until a snapshot)
        self.req_id = ""
        self.stale = True  # until the first snapshot


class FixMarketData(SessionApplication):
    """:class:`~hft.engine.gateway.MarketDataSource` over one FIX initiator session."""

    def __init__(self, session: FixSession | None = None, *, depth: int = 10, stale_after_ms: int = 0,
                 clock: Callable[[], int] = time.time_ns) -> None:
        self.session: FixSession | None = None
        self.depth = depth
        self.stale_after_ns = stale_after_ms * 1_000_000  # 0 = never time out
        self.last_msg_ns = 0
        self.clock = clock
        self._sink: MarketSink = _noop_sink
        # hot path: level changes go to level_sink(symbol, side, price, qty, recv_ns) when set (no event
        # object per level); otherwise a LevelUpdate goes to the sink
        self.level_sink: Callable[[str, int, int, int, int], None] | None = None
        self._by_bytes: dict[bytes, _InstState] = {}
        self.on_message_end: Callable[[int], None] | None = None
        self.on_state: Callable[[SessionState, SessionState], None] | None = None
        self.insts: dict[str, _InstState] = {}
        self._req_n = 0
        self._resend_stale = False
        self.recv_ns = 0  # read timestamp of the message being processed
        self.read_clock: Callable[[], int] = time.time_ns  # the wall clock of those read stamps
        self.tick = b""  # 6001 SimTickId of the 35=X being processed (the simulator stamps it), or b""
        self.fast_incremental = True  # False: every 35=X off fast_reader takes the general decoder (tests)
        self._warm_frame = b""  # the last canonical 35=X taken by _fast_x and its MsgSeqNum (warm())
        self._warm_expected = 0
        self.counters: dict[str, int] = {"messages": 0, "snapshots": 0, "incrementals": 0, "trades": 0,
                                         "levels": 0, "gaps": 0, "seq_gaps": 0, "inconsistent": 0,
                                         "snapshot_requests": 0, "rejects": 0, "dropped_stale": 0}
        if session is not None:
            self.attach(session)

    def attach(self, session: FixSession) -> None:
        self.session = session
        session.app = self
        cfg = session.config
        if not cfg.validate_types and (cfg.app_msg_types is None or b"X" in cfg.app_msg_types):
            # the canonical one-entry 35=X in one regex match (header order as this project's and most
            # venues' encoders write it); anything else goes through the session's general path
            self._x_re = re.compile(
                rb"8=" + re.escape(cfg.begin_bytes) + rb"\x019=(\d{1,9})\x0135=X\x0149="
                + re.escape(cfg.target_comp_id.encode())
                + rb"\x0156=" + re.escape(cfg.sender_comp_id.encode())
                + rb"\x0134=(\d{1,18})\x0152=[^\x01]+((?:\x01\d+=[^\x01]*)*?)\x01268=1\x01279=([0-2])"
                rb"\x01269=([01])(?:\x0155=([^\x01]+))?\x01270=([^\x01]+)\x01271=(\d+)\x0110=(\d{3})\x01\Z")
            session.fast_reader = self._fast_x
        session.on_read = self._stamp_read

    def current_tick(self) -> bytes:
        """The 6001 SimTickId of the 35=X being processed (``TradingEngine.md_tick``: a compiled bound method,
        no interpreted lambda on the order path)."""
        return self.tick

    def _stamp_read(self) -> None:
        """The session read bytes: tick-to-trade starts here (before the session parses them)."""
        self.recv_ns = self.read_clock()

    # -- MarketDataSource -------------------------------------------------------------------------
    def set_sink(self, sink: MarketSink) -> None:
        self._sink = sink

    def subscribe(self, instruments: Iterable[str]) -> None:
        for sym in instruments:
            if sym not in self.insts:
                self.insts[sym] = self._by_bytes[sym.encode()] = _InstState(sym)
            self._request(sym)

    def unsubscribe(self, instruments: Iterable[str]) -> None:
        for sym in instruments:
            st = self.insts.pop(sym, None)
            self._by_bytes.pop(sym.encode(), None)
            if st is not None and st.req_id:
                self._send_v(sym, st.req_id, b"2")

    def is_stale(self, instrument: str) -> bool:
        st = self.insts.get(instrument)
        return st is None or st.stale

    def request_snapshot(self, instrument: str, reason: str = "inconsistent") -> None:
        """The engine found the book inconsistent: drop updates until a fresh snapshot arrives."""
        st = self.insts.get(instrument)
        if st is not None:
            self.counters["inconsistent"] += 1
            st.stale = True
            st.expected_seq = 0
            self._request(instrument)

    # -- requests ---------------------------------------------------------------------------------
    def _send_v(self, sym: str, req_id: str, sub_type: bytes) -> bool:
        s = self.session
        if s is None or s.state != SessionState.ACTIVE:
            return False
        body: list[tuple[int, bytes | str | int]] = [
            (262, req_id), (263, sub_type), (264, self.depth), (265, b"1"),
            (267, 3), (269, b"0"), (269, b"1"), (269, b"2"), (146, 1), (55, sym)]
        try:
            s.send(b"V", body)
        except SessionError:
            return False
        return True

    def _request(self, sym: str) -> None:
        st = self.insts[sym]
        self._req_n += 1
        st.req_id = f"md{self._req_n}-{sym}"
        if self._send_v(sym, st.req_id, b"1"):
            self.counters["snapshot_requests"] += 1

    def _go_stale(self, st: _InstState, reason: str, expected: int = 0, got: int = 0,
                  request: bool = True) -> None:
        self.counters["gaps"] += 1
        was = st.stale
        st.stale = True
        st.expected_seq = 0
        if not was or reason != "gap":
            self._sink(StaleNotice(st.symbol, reason, self.clock(), expected, got))
        if request:
            self._request(st.symbol)

    # -- SessionApplication -----------------------------------------------------------------------
    def on_logon(self, session: FixSession) -> None:
        self.last_msg_ns = self.clock()
        for sym in self.insts:
            self._request(sym)

    def on_logout(self, session: FixSession, reason: str) -> None:
        for st in self.insts.values():
            if not st.stale:
                self.counters["gaps"] += 1
            st.stale = True
            st.expected_seq = 0
        self._sink(StaleNotice("", "disconnect", self.clock()))

    def on_state_change(self, session: FixSession, old: SessionState, new: SessionState) -> None:
        if self.on_state is not None:
            self.on_state(old, new)

    def check_resend(self, now_ns: int = 0) -> None:
        """Call from the timer: a pending MsgSeqNum resend makes every book stale; when it has been
        filled, every book gets a fresh snapshot. No market data message for ``stale_after_ms`` while
        logged on: every book is stale ("timeout") and a snapshot is requested."""
        s = self.session
        if s is None:
            return
        if self.stale_after_ns and s.state == SessionState.ACTIVE and self.insts:
            now = now_ns or self.clock()
            if self.last_msg_ns and now - self.last_msg_ns > self.stale_after_ns:
                self.last_msg_ns = now  # once per period
                self.counters["timeouts"] = self.counters.get("timeouts", 0) + 1
                for st in self.insts.values():
                    self._go_stale(st, "timeout")
        if s.resend_pending:
            if not self._resend_stale:
                self._resend_stale = True
                for st in self.insts.values():
                    self._go_stale(st, "gap", request=False)
        elif self._resend_stale:
            self._resend_stale = False
            for sym in self.insts:
                self._request(sym)

    def on_app_message(self, session: FixSession, msg: FixMessage) -> None:
        mt = msg.msg_type
        self.counters["messages"] += 1
        self.last_msg_ns = self.recv_ns
        if session.resend_pending and not self._resend_stale:
            self.check_resend()
        if mt == b"X":
            raw = msg.raw
            i = raw.find(b"\x016001=")
            self.tick = raw[i + 6 : raw.find(b"\x01", i + 6)] if i >= 0 else b""
            if not (self.fast_incremental and self._fast_incremental(raw)):
                self._on_incremental(msg)
        elif mt == b"W":
            self._on_snapshot(msg)
        elif mt == b"Y":
            self.counters["rejects"] += 1
            text = msg.get_str(58, "") or ""
            req = msg.get_str(262, "") or ""
            sym = next((s for s, st in self.insts.items() if st.req_id == req), "")
            log.warning("market data request %s (%s) rejected: %s", req, sym, text)
            self._sink(StaleNotice(sym, "rejected: " + text, self.clock()))
            return
        else:
            return
        cb = self.on_message_end
        if cb is not None:
            cb(self.recv_ns)

    def warm(self) -> bool:
        """Cache warming (``hft.engine.busyloop.BusyLoop`` while idle): the checks and decoding of
        :meth:`_fast_x` run again on the last canonical 35=X, read-only (``dry``): no book, counter,
        sequence number, tick id or strategy is touched. True when a frame was there to check."""
        f = self._warm_frame
        if not f:
            return False
        self._fast_x(f, self._warm_expected, True)
        return True

    def _fast_x(self, frame: bytes, expected: int, dry: bool = False) -> bool:
        """``FixSession.fast_reader``: a whole canonical one-entry 35=X frame checked and applied in one
        pass (frame, header, RptSeq, decode, level sink, message end). False, with nothing changed, for
        anything else (other layouts, several entries, PossDup, gaps, stale or unknown instruments, trades,
        unusual values): the session's general path then handles it exactly as before. ``dry`` (cache
        warming, :meth:`warm`): every check and decode, then return before anything is changed."""
        level = self.level_sink
        m = self._x_re.match(frame)
        if m is None or level is None:
            return False
        bl, sv, mid, action, ty, sym, pxb, qb, ck = m.groups()
        n = len(frame)
        if (int(sv) != expected or int(bl) != n - 8 - m.end(1) or mid.find(b"\x0143=") >= 0
                or (((_adler32(frame) & 0xFFFF) - 1 if n <= 256 else byte_sum(frame))  # byte_sum inlined
                    - 159 - frame[-4] - frame[-3] - frame[-2]) & 0xFF != int(ck)):
            return False
        px = plain_price(pxb)
        if px < 0:
            return False
        if sym is None:
            s0 = mid.find(b"\x0155=")
            if s0 >= 0:
                j = mid.find(b"\x01", s0 + 4)
                sym = mid[s0 + 4 : j] if j >= 0 else mid[s0 + 4 :]
            else:
                sym = b""
        st = self._by_bytes.get(sym)
        if st is None or st.stale:
            return False
        seq = 0
        i = mid.find(b"\x0183=")
        if i >= 0:
            j = mid.find(b"\x01", i + 4)
            sv = mid[i + 4 : j] if j >= 0 else mid[i + 4 :]
            if not sv.isdigit():
                return False
            seq = int(sv)
            exp = st.expected_seq
            if seq and exp and seq != exp and not dry:  # (dry: the frame's RptSeq is the one before exp)
                return False
        i = mid.find(b"\x016001=")
        tick = b""
        if i >= 0:
            j = mid.find(b"\x01", i + 6)
            tick = mid[i + 6 : j] if j >= 0 else mid[i + 6 :]
        q = 0 if action == b"2" else int(qb)
        side = side_of(ty)
        if dry:
            return True
        self.tick = tick
        if seq:
            st.expected_seq = seq + 1
        c = self.counters
        c["messages"] += 1
        c["incrementals"] += 1
        c["levels"] += 1
        ts = self.recv_ns
        self.last_msg_ns = ts
        level(st.symbol, side, px, q, ts)
        cb = self.on_message_end
        if cb is not None:
            cb(ts)
        self._warm_frame = frame  # after the tick: what warm() checks again while the loop is idle
        self._warm_expected = expected
        return True

    def _fast_incremental(self, raw: bytes) -> bool:
        """Hot path of a 35=X: one entry in the canonical layout, a known instrument that is not stale, the
        RptSeq expected (or absent), a bid/offer level with plain decimal price and size, a level sink.
        Decoded straight from the frame (no entry tuples); False with nothing changed otherwise, and
        :meth:`_on_incremental` handles the message (gaps, trades, errors, several entries)."""
        level = self.level_sink
        c0 = raw.find(b"\x01268=1\x01")
        if level is None or c0 < 0:
            return False
        found = _MD_CANON.findall(raw, c0 + 6)
        if len(found) != 1:
            return False
        action, ty, sym, pxb, qb, pos = found[0]
        if ty == b"0":
            side = _BID
        elif ty == b"1":
            side = _ASK
        else:
            return False
        if not qb.isdigit() or (pos and not pos.isdigit()):
            return False
        px = plain_price(pxb)
        if px < 0:
            return False
        if not sym:
            s0 = raw.find(b"\x0155=", 0, c0)
            sym = raw[s0 + 4 : raw.find(b"\x01", s0 + 4)] if s0 >= 0 else b""
        st = self._by_bytes.get(sym)
        if st is None or st.stale:
            return False
        i = raw.find(b"\x0183=")
        if i >= 0:
            sv = raw[i + 4 : raw.find(b"\x01", i + 4)]
            if not sv.isdigit():
                return False
            seq = int(sv)
            if seq:
                exp = st.expected_seq
                if exp and seq != exp:
                    return False
                st.expected_seq = seq + 1
        c = self.counters
        c["incrementals"] += 1
        c["levels"] += 1
        level(st.symbol, side, px, 0 if action == b"2" else int(qb), self.recv_ns)
        return True

    def _on_snapshot(self, msg: FixMessage) -> None:
        self.counters["snapshots"] += 1
        sym = msg.get_str(55, "") or ""
        st = self.insts.get(sym)
        if st is None:
            return
        try:
            entries = msg.md_entries()
            seq = msg.get_int(83, 0) or 0
        except FixValueError:
            self.counters["inconsistent"] += 1
            self._go_stale(st, "bad snapshot")
            return
        bids: list[tuple[int, int]] = []
        asks: list[tuple[int, int]] = []
        for _a, ty, px, qty, _s, _pos in entries:
            if px is None or qty is None:
                continue
            if ty == b"0":
                bids.append((px, qty))
            elif ty == b"1":
                asks.append((px, qty))
        bids.sort(reverse=True)
        asks.sort()
        st.expected_seq = seq + 1 if seq else 0
        st.stale = False
        self._sink(BookSnapshot(sym, tuple(bids), tuple(asks), self.recv_ns, seq))

    def _on_incremental(self, msg: FixMessage) -> None:
        self.counters["incrementals"] += 1
        try:
            entries = msg.md_entries()
            seq = msg.get_int(83, 0) or 0
        except FixValueError:
            self.counters["inconsistent"] += 1
            for ist in self.insts.values():
                self._go_stale(ist, "bad incremental")
            return
        sink = self._sink
        level = self.level_sink
        insts = self._by_bytes
        ts = self.recv_ns
        checked_seq = False
        for action, ty, px, qty, sym_b, _pos in entries:
            st = insts.get(sym_b)
            if st is None:
                continue
            if st.stale:
                self.counters["dropped_stale"] += 1
                continue
            if seq and not checked_seq:
                checked_seq = True
                exp = st.expected_seq
                if exp and seq != exp:
                    self.counters["seq_gaps"] += 1
                    self._go_stale(st, "gap", exp, seq)
                    return
                st.expected_seq = seq + 1
            if ty == b"2":
                if px is not None and qty:
                    self.counters["trades"] += 1
                    sink(Trade(st.symbol, px, qty, ts))
                continue
            if px is None:
                continue
            if ty == b"0":
                side = _BID
            elif ty == b"1":
                side = _ASK
            else:
                continue
            q = 0 if action == b"2" else (qty or 0)
            self.counters["levels"] += 1
            if level is not None:
                level(st.symbol, side, px, q, ts)
            else:
                sink(LevelUpdate(st.symbol, side, px, q, ts, seq))
