"""The market data hot path (FixSession.fast_reader -> FixMarketData._fast_x, FixStreamParser.take_frame,
FixSession._fast_app, FixMarketData._fast_incremental) against the general path, differentially: the same
frames, read by read, go to two sans-IO sessions, one with every fast path switched off; after each read
the books, events, counters, sequence numbers and frames sent must be identical."""

from __future__ import annotations

from typing import Any

import pytest

from hft.engine.fix_md import FixMarketData
from hft.engine.gateway import MarketEvent
from hft.fix.encoder import FixEncoder
from hft.fix.parser import FixMessage, FixStreamParser
from hft.fix.session import FixSession, SessionConfig, SessionState
from hft.fix.store import MemoryStore

NOW = 1_790_000_000_000_000_000


class Side:
    """One engine-side market data session plus everything it emitted."""

    def __init__(self, fast: bool) -> None:
        self.md = FixMarketData(depth=10, clock=lambda: NOW)
        cfg = SessionConfig("FIX.4.2", "HFTMD", "ASXSIMMD", validate_types=False,
                            app_msg_types=frozenset({b"W", b"X", b"Y", b"j"}))
        self.s = FixSession(cfg, MemoryStore(), self.md, clock=lambda: NOW)
        self.md.attach(self.s)
        if not fast:
            self.s.fast_reader = None
            self.s.fast_app = False
            self.md.fast_incremental = False
        self.levels: list[tuple[Any, ...]] = []
        self.events: list[MarketEvent] = []
        self.ends: list[tuple[int, bytes]] = []
        self.sent: list[bytes] = []
        self.closed: list[str] = []
        self.md.level_sink = lambda *a: self.levels.append(a)
        self.md.set_sink(self.events.append)
        self.md.on_message_end = lambda ns: self.ends.append((ns, self.md.tick))
        self.s.connection_made(self.sent.append, self.closed.append)

    def feed(self, data: bytes) -> None:
        self.s.on_data(memoryview(bytearray(data)))

    def state(self) -> dict[str, Any]:
        c = self.s.counters.as_dict()
        return {"levels": list(self.levels), "events": list(self.events), "ends": list(self.ends),
                "sent": [self._strip(f) for f in self.sent], "closed": list(self.closed),
                "md": dict(self.md.counters), "tick": self.md.tick, "counters": c,
                "state": self.s.state, "target": self.s.store.next_target_seq,
                "stale": {k: (v.stale, v.expected_seq) for k, v in self.md.insts.items()},
                "frames_ok": self.s.parser.frames_ok, "offset": self.s.parser.offset,
                "resend": self.s.resend_pending}

    @staticmethod
    def _strip(frame: bytes) -> bytes:
        return frame  # both sides use the same fixed clock: frames are byte-identical


class Venue:
    def __init__(self) -> None:
        self.enc = FixEncoder("FIX.4.2", "ASXSIMMD", "HFTMD")
        self.seq = 0

    def frame(self, mt: bytes, body: list[tuple[int, Any]], *, seq: int | None = None, **kw: Any) -> bytes:
        if seq is None:
            self.seq += 1
            seq = self.seq
        return self.enc.encode(mt, body, seq, NOW, **kw)

    def x(self, entries: list[list[tuple[int, Any]]], *, rpt: int | None, tick: int | None = 7,
          pre: list[tuple[int, Any]] | None = None, seq: int | None = None, **kw: Any) -> bytes:
        body: list[tuple[int, Any]] = [(262, b"md1-BHP")]
        if rpt is not None:
            body.append((83, rpt))
        if tick is not None:
            body += [(6000, 123), (6001, tick)]
        body += pre or []
        body.append((268, len(entries)))
        for e in entries:
            body += e
        return self.frame(b"X", body, seq=seq, **kw)


def lvl(action: bytes, ty: bytes, px: bytes, qty: int, sym: bytes | None = b"BHP") -> list[tuple[int, Any]]:
    e: list[tuple[int, Any]] = [(279, action), (269, ty)]
    if sym is not None:
        e.append((55, sym))
    return [*e, (270, px), (271, qty)]


def corrupt_checksum(frame: bytes) -> bytes:
    ck = int(frame[-4:-1])
    return frame[:-4] + b"%03d\x01" % ((ck + 1) % 256)


def scenario(v: Venue) -> list[bytes]:
    """Reads (each element one socket read) covering the fast path and every reason to leave it."""
    logon = v.frame(b"A", [(98, b"0"), (108, 30)])
    snap = v.frame(b"W", [(262, b"md1-BHP"), (55, b"BHP"), (83, 1), (268, 4),
                          (269, b"0"), (270, b"45.00"), (271, 100), (269, b"0"), (270, b"44.99"), (271, 100),
                          (269, b"1"), (270, b"45.01"), (271, 100), (269, b"1"), (270, b"45.02"), (271, 100)])
    reads = [logon, snap]
    reads.append(v.x([lvl(b"1", b"0", b"45.00", 250)], rpt=2))                      # canonical
    reads.append(v.x([lvl(b"0", b"1", b"45.03", 10)], rpt=3, tick=None))            # no 6000/6001
    reads.append(v.x([lvl(b"1", b"0", b"44.99", 7, sym=None)], rpt=4, pre=[(55, b"BHP")]))  # msg-level 55
    reads.append(v.x([lvl(b"2", b"1", b"45.03", 0)], rpt=5))                        # delete
    reads.append(v.x([lvl(b"0", b"0", b"44.985", 3)], rpt=6))                       # 3 decimals (off grid)
    reads.append(v.x([lvl(b"2", b"0", b"44.985", 0)], rpt=7))
    reads.append(v.x([lvl(b"0", b"2", b"45.00", 5)], rpt=8))                        # trade
    reads.append(v.x([lvl(b"1", b"0", b"45.00", 1), lvl(b"1", b"1", b"45.01", 2)], rpt=9))  # two entries
    reads.append(v.x([lvl(b"1", b"0", b"45", 300)], rpt=10))                        # integer price
    reads.append(v.x([lvl(b"1", b"0", b"45.00", 301)], rpt=None))                   # no RptSeq
    reads.append(v.x([lvl(b"1", b"0", b"45.00", 302)], rpt=11, tick=8)
                 + v.x([lvl(b"1", b"0", b"45.00", 303)], rpt=12, tick=9))           # two frames, one read
    v.seq += 1  # frame 2 of the next 3 goes missing
    reads.append(v.x([lvl(b"1", b"0", b"45.00", 3030)], rpt=14))                     # MsgSeqNum gap: queued
    reads.append(v.x([lvl(b"1", b"0", b"45.00", 304)], rpt=15))
    reads.append(v.x([lvl(b"1", b"0", b"45.00", 305)], rpt=13, seq=v.seq - 2, poss_dup=True,
                     orig_sending_time_ns=NOW))                                     # the resent one
    big = v.x([lvl(b"1", b"0", b"45.00", 306)], rpt=16)
    reads += [big[:40], big[40:]]                                                   # split read
    reads.append(corrupt_checksum(v.x([lvl(b"1", b"0", b"45.00", 307)], rpt=17)))   # garbled: dropped
    v.seq -= 1
    reads.append(v.x([lvl(b"1", b"0", b"45.00", 308)], rpt=17))
    reads.append(v.x([lvl(b"1", b"0", b"45.00", 309)], rpt=19))                     # RptSeq gap: stale
    reads.append(v.x([lvl(b"1", b"0", b"45.00", 310)], rpt=20))                     # dropped (stale)
    reads.append(v.frame(b"W", [(262, b"md2-BHP"), (55, b"BHP"), (83, 30), (268, 1),
                                (269, b"0"), (270, b"45.00"), (271, 100)]))
    reads.append(v.x([lvl(b"1", b"0", b"4x.00", 311)], rpt=31))                     # bad price
    reads.append(v.frame(b"W", [(262, b"md3-BHP"), (55, b"BHP"), (83, 40), (268, 1),
                                (269, b"1"), (270, b"45.05"), (271, 100)]))
    reads.append(v.x([lvl(b"1", b"1", b"45.05", 9, sym=b"CBA")], rpt=41))            # unknown symbol
    reads.append(v.x([lvl(b"1", b"1", b"45.05", 9)], rpt=41))
    reads.append(v.x([lvl(b"1", b"1", b"45.05", 10)], rpt=42, seq=v.seq - 1))       # seq too low: logout
    return reads


@pytest.mark.timeout(60)
def test_fast_path_matches_general_path_read_by_read() -> None:
    fast, slow = Side(True), Side(False)
    for sd in (fast, slow):
        sd.md.read_clock = lambda: NOW  # read stamps
    for sd in (fast, slow):
        sd.md.subscribe(["BHP"])
    took_fast = 0
    calls = 0
    orig = fast.md._fast_x

    def counting(frame: bytes, expected: int) -> bool:
        nonlocal took_fast, calls
        calls += 1
        ok = orig(frame, expected)
        took_fast += ok
        return ok

    fast.s.fast_reader = counting
    for i, data in enumerate(scenario(Venue())):
        fast.feed(data)
        slow.feed(data)
        a, b = fast.state(), slow.state()
        for k in a:
            assert a[k] == b[k], f"read {i} ({data[:60]!r}...): {k} differs:\n{a[k]}\n{b[k]}"
    assert took_fast >= 8 and calls > took_fast  # both branches exercised
    assert fast.s.state == SessionState.DISCONNECTED  # the last read (seq too low) ends the session
    assert fast.md.counters["seq_gaps"] == 1 and fast.md.counters["inconsistent"] >= 1


def test_take_frame_only_whole_single_frames() -> None:
    v = Venue()
    f = v.x([lvl(b"1", b"0", b"45.00", 1)], rpt=2)
    p = FixStreamParser()
    m = p.take_frame(f)
    assert isinstance(m, FixMessage) and m.raw == f and m.msg_type == b"X"
    assert p.frames_ok == 1 and p.offset == len(f)
    assert p.take_frame(f + f) is None  # two frames: general path
    assert p.take_frame(f[:-1]) is None  # truncated
    assert p.take_frame(corrupt_checksum(f)) is None
    assert p.take_frame(b"x" + f) is None
    assert p.frames_ok == 1 and p.frames_bad == 0 and p.offset == len(f)  # nothing consumed
    p.feed(f[:10])  # something buffered: the stream must be parsed in order
    assert p.take_frame(f) is None


def test_write_stamp_taken_before_the_transport_write() -> None:
    stamps: list[int] = []
    cfg = SessionConfig("FIX.4.2", "HFT", "ASXSIM")
    s = FixSession(cfg, MemoryStore())
    s.connection_made(lambda data: stamps.append(s.last_write_ns), lambda r: None)
    assert stamps and stamps[0] > 0 and s.last_write_ns == stamps[0]


def test_an_error_in_the_application_consumes_the_message_as_on_the_general_path() -> None:
    results = []
    for fast in (True, False):
        sd = Side(fast)
        sd.md.subscribe(["BHP"])
        v = Venue()
        reads = scenario(v)
        sd.feed(reads[0])
        sd.feed(reads[1])

        def boom(*a: object) -> None:
            raise RuntimeError("strategy bug")

        sd.md.level_sink = boom
        sd.feed(reads[2])  # answered by the session (35=j 380=0, logged), not raised into the transport
        assert sd.s.counters.app_errors == 1 and "strategy bug" in sd.s.last_app_error
        results.append((sd.s.store.next_target_seq, sd.s.counters.msgs_in, sd.s.counters.app_in,
                        sd.s.parser.frames_ok, sd.md.insts["BHP"].expected_seq))
    assert results[0] == results[1]
