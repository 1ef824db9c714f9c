"""FIX market data capture (35=W / 35=X) -> canonical events: layouts, mapping, gaps, bad frames."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from hft.data.fixlog import convert_fixlog
from hft.data.format import (
    KIND_LEVEL,
    KIND_SNAPSHOT_END,
    KIND_SNAPSHOT_START,
    KIND_TRADE,
    DataError,
    load_events,
    write_events,
)
from hft.fix.encoder import FixEncoder

T0 = int(dt.datetime(2026, 11, 27, 0, 0, 5, tzinfo=dt.UTC).timestamp()) * 10**9  # 11:00:05 AEDT
MS = 1_000_000


class Feed:
    """Builds the frames a venue sends on the market data session."""

    def __init__(self, use_rpt: bool = True) -> None:
        self.use_rpt = use_rpt
        self.enc = FixEncoder("FIX.4.4", "SIM", "CLIENT")
        self.seq = 1
        self.rpt: dict[str, int] = {}
        self.t = T0

    def _next(self, sym: str, step_ms: int) -> tuple[int, int]:
        self.t += step_ms * MS
        self.rpt[sym] = self.rpt.get(sym, 0) + 1
        self.seq += 1
        return self.seq - 1, self.rpt[sym]

    def snapshot(self, sym: str, bids: list[tuple[str, int]], asks: list[tuple[str, int]], step_ms: int = 1,
                 rpt: int | None = None) -> bytes:
        seq, r = self._next(sym, step_ms)
        if rpt is not None:
            self.rpt[sym] = r = rpt
        body: list[tuple[int, bytes | str | int]] = [(262, "req1"), (55, sym)]
        if self.use_rpt:
            body.append((83, r))
        body.append((268, len(bids) + len(asks) + 1))
        for i, (p, q) in enumerate(bids):
            body += [(269, "0"), (270, p), (271, q), (290, i + 1)]
        for i, (p, q) in enumerate(asks):
            body += [(269, "1"), (270, p), (271, q), (290, i + 1)]
        body += [(269, "2"), (270, bids[0][0]), (271, 1)]  # last trade statistic: ignored
        return self.enc.encode("W", body, seq, sending_time_ns=self.t)

    def incremental(self, entries: list[tuple[str, str, str, str, int]], step_ms: int = 1,
                    rpt_skip: int = 0, poss_dup_seq: int | None = None, entry_time: bool = True) -> bytes:
        """entries: (action, type, symbol, price, size)."""
        sym = entries[0][2]
        seq, r = self._next(sym, step_ms)
        r += rpt_skip
        self.rpt[sym] = r
        body: list[tuple[int, bytes | str | int]] = [(83, r)] if self.use_rpt else []
        body.append((268, len(entries)))
        tod = dt.datetime.fromtimestamp((self.t - 200_000) / 1e9, dt.UTC).strftime("%H:%M:%S.%f")
        for a, ty, s, p, q in entries:
            body += [(279, a), (269, ty), (55, s), (270, p), (271, q)]
            if entry_time:
                body.append((273, tod))
        body.append((6000, 123456789))  # the simulator's send stamp (monotonic): not a timestamp we use
        if poss_dup_seq is not None:
            self.seq -= 1
            return self.enc.encode("X", body, poss_dup_seq, sending_time_ns=self.t, poss_dup=True)
        return self.enc.encode("X", body, seq, sending_time_ns=self.t)

    def heartbeat(self) -> bytes:
        self.seq += 1
        return self.enc.encode("0", [], self.seq - 1, sending_time_ns=self.t)


def session(f: Feed) -> list[bytes]:
    return [
        f.heartbeat(),
        f.snapshot("BHP", [("45.10", 500), ("45.09", 700)], [("45.11", 300), ("45.12", 900)]),
        f.incremental([("1", "0", "BHP", "45.10", 800)]),  # bid change
        f.incremental([("0", "2", "BHP", "45.11", 100), ("1", "1", "BHP", "45.11", 200)]),  # buy trade
        f.incremental([("2", "1", "BHP", "45.11", 0), ("0", "1", "BHP", "45.13", 50)]),  # delete, new
        f.incremental([("0", "2", "BHP", "45.10", 300), ("1", "0", "BHP", "45.10", 500)]),  # sell trade
    ]


def write_lines(p: Path, frames: list[bytes], prefix: bool = True, sep: bytes = b"\x01") -> Path:
    out = []
    for i, fr in enumerate(frames):
        fr = fr.replace(b"\x01", sep)
        out.append((b"%d " % (T0 + 10**9 + i * 1000) if prefix else b"") + fr)
    p.write_bytes(b"\n".join(out) + b"\n")
    return p


EXPECT = [  # kind, side, price, qty
    (KIND_SNAPSHOT_START, 0, 0, 0),
    (KIND_LEVEL, 1, 451_000, 500),
    (KIND_LEVEL, 1, 450_900, 700),
    (KIND_LEVEL, 2, 451_100, 300),
    (KIND_LEVEL, 2, 451_200, 900),
    (KIND_SNAPSHOT_END, 0, 0, 0),
    (KIND_LEVEL, 1, 451_000, 800),
    (KIND_TRADE, 1, 451_100, 100),
    (KIND_LEVEL, 2, 451_100, 200),
    (KIND_LEVEL, 2, 451_100, 0),
    (KIND_LEVEL, 2, 451_300, 50),
    (KIND_TRADE, 2, 451_000, 300),
    (KIND_LEVEL, 1, 451_000, 500),
]


def rows(ev: object) -> list[tuple[int, int, int, int]]:
    return [(int(k), int(s), int(p), int(q)) for k, s, p, q in
            zip(ev.kind, ev.side, ev.price, ev.qty, strict=True)]  # type: ignore[attr-defined]


def test_lines_with_receive_time(tmp_path: Path) -> None:
    f = Feed()
    res = convert_fixlog(write_lines(tmp_path / "md.log", session(f)))
    ev = res.events
    assert rows(ev) == EXPECT
    assert ev.symbols == ["BHP"]
    # ts_local = the line prefix (line 2 holds the snapshot); ts_exch = MDEntryTime (+ date of 52)
    assert int(ev.ts_local[0]) == T0 + 10**9 + 1000
    assert int(ev.ts_exch[0]) == T0 + 1 * MS  # snapshot: no 273 -> SendingTime
    assert int(ev.ts_exch[6]) == T0 + 2 * MS - 200_000  # MDEntryTime, 200 us before sending
    s = res.stats
    assert (s["snapshots"], s["incrementals"], s["trades"], s["other_messages"]) == (1, 4, 2, 1)
    assert s["ignored_entries"] == 1  # the snapshot's last-trade entry
    assert ev.metadata["hft.source"] == "fixlog"


def test_raw_stream_same_events(tmp_path: Path) -> None:
    p = tmp_path / "md.bin"
    p.write_bytes(b"".join(session(Feed())))
    ev = convert_fixlog(p).events
    assert rows(ev) == EXPECT
    assert int(ev.ts_local[0]) == T0 + 1 * MS  # no receive time: SendingTime
    assert ev.metadata["hft.layout"] == "raw"


def test_pipe_separated_quickfix_style_log(tmp_path: Path) -> None:
    frames = session(Feed())
    p = tmp_path / "messages.log"
    lines = [b"20261127-00:00:06.%06d : " % i + fr.replace(b"\x01", b"|") for i, fr in enumerate(frames)]
    p.write_bytes(b"\n".join(lines) + b"\n")
    ev = convert_fixlog(p).events
    assert rows(ev) == EXPECT
    assert int(ev.ts_local[0]) == T0 + 10**9 + 1000


def test_round_trip_through_parquet(tmp_path: Path) -> None:
    ev = convert_fixlog(write_lines(tmp_path / "md.log", session(Feed()))).events
    write_events(tmp_path / "md.parquet", ev)
    back = load_events(tmp_path / "md.parquet")
    assert rows(back) == EXPECT
    assert np.array_equal(back.ts_exch, ev.ts_exch)


def test_rpt_seq_gap_is_an_error_naming_the_line(tmp_path: Path) -> None:
    f = Feed()
    frames = session(f)
    frames.append(f.incremental([("1", "0", "BHP", "45.10", 600)], rpt_skip=3))
    p = write_lines(tmp_path / "gap.log", frames)
    with pytest.raises(DataError) as ei:
        convert_fixlog(p)
    assert ei.value.line == 7
    assert "RptSeq gap for BHP: expected 6, got 9" in str(ei.value)
    assert str(p) in str(ei.value)


def test_gap_resync_drops_until_next_snapshot(tmp_path: Path) -> None:
    f = Feed()
    frames = session(f)
    frames.append(f.incremental([("1", "0", "BHP", "45.10", 600)], rpt_skip=3))
    frames.append(f.incremental([("1", "0", "BHP", "45.10", 650)]))
    frames.append(f.snapshot("BHP", [("45.10", 650)], [("45.12", 900)], rpt=20))
    frames.append(f.incremental([("1", "1", "BHP", "45.12", 950)]))
    res = convert_fixlog(write_lines(tmp_path / "gap.log", frames), on_gap="resync")
    assert res.stats["gaps"] == 1
    assert res.stats["dropped_stale"] == 2
    ev = res.events
    assert rows(ev)[len(EXPECT):] == [
        (KIND_SNAPSHOT_START, 0, 0, 0), (KIND_LEVEL, 1, 451_000, 650), (KIND_LEVEL, 2, 451_200, 900),
        (KIND_SNAPSHOT_END, 0, 0, 0), (KIND_LEVEL, 2, 451_200, 950),
    ]


def test_bad_checksum_line(tmp_path: Path) -> None:
    frames = session(Feed())
    bad = bytearray(frames[3])
    bad[bad.index(b"\x01271=") + 5] = ord("9")  # change a size digit: checksum no longer matches
    frames[3] = bytes(bad)
    p = write_lines(tmp_path / "bad.log", frames)
    with pytest.raises(DataError, match="bad FIX frame") as ei:
        convert_fixlog(p)
    assert ei.value.line == 4
    res = convert_fixlog(p, on_gap="resync")
    assert res.stats["bad_frames"] == 1
    assert res.stats["dropped_stale"] > 0  # the book is unknown until a new snapshot


def test_raw_stream_garbage_names_the_offset(tmp_path: Path) -> None:
    frames = session(Feed())
    p = tmp_path / "md.bin"
    off = len(frames[0]) + len(frames[1])
    p.write_bytes(frames[0] + frames[1] + b"garbage!" + b"".join(frames[2:]))
    with pytest.raises(DataError, match=f"byte offset {off}"):
        convert_fixlog(p)


def test_truncated_raw_stream(tmp_path: Path) -> None:
    data = b"".join(session(Feed()))
    p = tmp_path / "md.bin"
    p.write_bytes(data[:-20])
    with pytest.raises(DataError, match="truncated frame"):
        convert_fixlog(p)


def test_poss_dup_resend_is_skipped(tmp_path: Path) -> None:
    f = Feed()
    frames = session(f)
    frames.append(f.incremental([("1", "0", "BHP", "45.10", 800)], poss_dup_seq=3))
    res = convert_fixlog(write_lines(tmp_path / "dup.log", frames))
    assert res.stats["duplicates"] == 1
    assert rows(res.events) == EXPECT


def test_crossing_update_named(tmp_path: Path) -> None:
    f = Feed()
    frames = [f.heartbeat(), f.snapshot("BHP", [("45.10", 500)], [("45.12", 900)])]
    frames.append(f.incremental([("0", "0", "BHP", "45.12", 100)]))  # bid at the best ask
    with pytest.raises(DataError, match="crossed book for BHP") as ei:
        convert_fixlog(write_lines(tmp_path / "x.log", frames))
    assert ei.value.line == 3


def test_incremental_before_snapshot_is_dropped_and_symbols_filter(tmp_path: Path) -> None:
    f = Feed()
    frames = [f.incremental([("0", "0", "CBA", "120.00", 10)]), *session(f)]
    res = convert_fixlog(write_lines(tmp_path / "a.log", frames))
    assert res.stats["dropped_before_snapshot"] == 1
    assert rows(res.events) == EXPECT
    only = convert_fixlog(write_lines(tmp_path / "a.log", frames), symbols={"CBA"})
    assert len(only.events) == 0


def test_bad_prefix_and_non_fix_line(tmp_path: Path) -> None:
    frames = session(Feed())
    p = tmp_path / "p.log"
    p.write_bytes(b"yesterday " + frames[0] + b"\n")
    with pytest.raises(DataError, match="neither epoch ns nor a UTCTimestamp") as ei:
        convert_fixlog(p)
    assert ei.value.line == 1
    p.write_bytes(frames[0] + b"\nhello\n")
    with pytest.raises(DataError, match="no FIX frame") as ei:
        convert_fixlog(p)
    assert ei.value.line == 2


def test_msg_seq_num_gaps_without_rpt_seq(tmp_path: Path) -> None:
    f = Feed(use_rpt=False)
    frames = session(f)  # a heartbeat between market data messages is not a gap
    assert rows(convert_fixlog(write_lines(tmp_path / "ok.log", frames)).events) == EXPECT
    frames.append(f.heartbeat())
    f.seq += 2  # two messages lost
    frames.append(f.incremental([("1", "0", "BHP", "45.10", 600)]))
    with pytest.raises(DataError, match="MsgSeqNum gap: expected 8, got 10") as ei:
        convert_fixlog(write_lines(tmp_path / "gap.log", frames))
    assert ei.value.line == 8
    # a SequenceReset (35=4, 36 NewSeqNo) announces the jump: no gap
    reset = f.enc.encode("4", [(123, "Y"), (36, 10)], 8, sending_time_ns=f.t)
    frames.insert(7, reset)
    res = convert_fixlog(write_lines(tmp_path / "reset.log", frames))
    assert res.stats["gaps"] == 0 and res.stats["levels"] == 10
