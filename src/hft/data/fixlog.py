"""A captured FIX market data feed (35=W snapshots, 35=X incrementals) -> canonical L2 events.

This is the converter for the simulator's feed as a client receives it (and for any venue that sends
market-by-price FIX market data). Frames are parsed with :class:`hft.fix.parser.FixStreamParser` (every
frame checked: BodyLength, CheckSum) and :meth:`FixMessage.md_entries`.

Input layouts (detected per file):

* **lines**: one frame per line, optionally prefixed by its local receive time, ``<prefix> 8=FIX...``;
  the prefix is integer epoch nanoseconds or a UTCTimestamp ``YYYYMMDD-HH:MM:SS[.fff]`` (a trailing
  ``:`` or ``,`` is ignored, as in QuickFIX's message logs). Fields may be separated by SOH or ``|``.
* **raw**: the concatenated bytes read from the socket (no newlines), e.g. a tcpdump payload.

Mapping:

* 35=W (one symbol, 55 at message level): snapshot start, one level row per 269=0 (bid) / 269=1
  (offer) entry, snapshot end. Other entry types in a snapshot (last trade, statistics) are ignored.
* 35=X: per entry, 279=0/1 (new/change) with 269=0/1 -> level row with the entry's 271 size; 279=2
  (delete) -> level row with qty 0; 269=2 (trade) -> trade row, written before the message's level
  rows (the trade caused them). FIX trade entries carry no aggressor side: it is inferred from the
  book *before* the message (price >= best ask: buy, <= best bid: sell, else 0 unknown, counted).
  Other entry types are counted in ``stats["ignored_entries"]``. Incrementals for a symbol that has
  had no snapshot yet are dropped (``dropped_before_snapshot``): its book is unknown.
* Timestamps: ``ts_local`` = the line prefix, else SendingTime (52). ``ts_exch`` = MDEntryTime (273,
  first entry; date from 272 MDEntryDate or from 52) when present, else SendingTime (52).
* Other message types (session messages, 35=Y ...) are skipped (counted).

Gaps and bad frames: RptSeq (83) is checked per symbol (a snapshot sets it); without 83, MsgSeqNum
(34) gaps of the session count. A resent duplicate (43=Y with an already seen 34) is skipped. By
default a gap or a garbled frame raises :class:`DataError` naming the file, the line (or byte offset)
and the problem. With ``on_gap="resync"`` the affected symbol's entries (every symbol on a frame error
or a 34 gap) are dropped until its next 35=W, and the counts are reported in ``stats``.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hft.data.format import (
    KIND_LEVEL,
    KIND_SNAPSHOT_END,
    KIND_SNAPSHOT_START,
    KIND_TRADE,
    DataError,
    EventArrays,
    make_metadata,
    validate_events,
)
from hft.fix.parser import FixMessage, FixStreamParser, FixValueError, parse_utc_timestamp

_DAY_NS = 86_400 * 1_000_000_000


@dataclass(slots=True)
class FixlogResult:
    events: EventArrays
    stats: dict[str, int] = field(default_factory=dict)


def _parse_prefix(path: Path, line: int, pre: bytes) -> int | None:
    pre = pre.strip().rstrip(b":,").strip()
    if not pre:
        return None
    if pre.isdigit():
        return int(pre)
    try:
        return parse_utc_timestamp(pre)
    except ValueError:
        raise DataError(path, f"line prefix {pre[:40]!r} is neither epoch ns nor a UTCTimestamp",
                        line=line) from None


def _time_of_day(v: bytes) -> int:
    """``HH:MM:SS[.f...]`` -> ns after midnight (ValueError if malformed)."""
    if len(v) < 8 or v[2] != 0x3A or v[5] != 0x3A:
        raise ValueError("not HH:MM:SS[.fff]")
    hh, mm, ss = int(v[:2]), int(v[3:5]), int(v[6:8])
    ns = ((hh * 60 + mm) * 60 + ss) * 1_000_000_000
    if len(v) > 8:
        frac = v[9:]
        if v[8] != 0x2E or not frac.isdigit() or len(frac) > 9:
            raise ValueError("bad fraction of seconds")
        ns += int(frac) * 10 ** (9 - len(frac))
    return ns


class _Converter:
    def __init__(self, path: Path, on_gap: str, symbols: set[str] | None) -> None:
        self.path = path
        self.on_gap = on_gap
        self.only = {s.encode() for s in symbols} if symbols else None
        self.ts_exch: list[int] = []
        self.ts_local: list[int] = []
        self.kind: list[int] = []
        self.side: list[int] = []
        self.price: list[int] = []
        self.qty: list[int] = []
        self.sym: list[str] = []
        self.line: list[int] = []
        self.names: dict[bytes, str] = {}
        self.rpt: dict[bytes, int] = {}  # next expected RptSeq per symbol (0 = unknown)
        self.stale: set[bytes] = set()  # symbols waiting for a snapshot after a gap
        self.synced: set[bytes] = set()  # symbols that had a snapshot
        self.best: dict[bytes, list[dict[int, int]]] = {}
        self.last_seq: dict[tuple[bytes, bytes], int] = {}
        self.rpt_seen = False  # the feed carries RptSeq (83): gaps are judged per symbol
        keys = ("frames", "snapshots", "incrementals", "levels", "trades", "other_messages",
                "ignored_entries", "duplicates", "gaps", "bad_frames", "dropped_stale",
                "dropped_before_snapshot", "trades_side_unknown")
        self.stats = dict.fromkeys(keys, 0)

    # ------------------------------------------------------------------ helpers
    def _emit(
        self, te: int, tl: int, kind: int, side: int, price: int, qty: int, sym: bytes, line: int
    ) -> None:
        self.ts_exch.append(te)
        self.ts_local.append(tl)
        self.kind.append(kind)
        self.side.append(side)
        self.price.append(price)
        self.qty.append(qty)
        name = self.names.get(sym)
        if name is None:
            name = self.names[sym] = sym.decode("ascii", "replace")
        self.sym.append(name)
        self.line.append(line)

    def gap(self, where: int, problem: str, syms: set[bytes] | None) -> None:
        """A gap or a bad frame: raise, or mark symbols stale until their next snapshot."""
        self.stats["gaps"] += 1
        if self.on_gap != "resync":
            raise DataError(self.path, problem, line=where) if where > 0 else DataError(
                self.path, f"{problem} (at byte offset {-where})")
        self.stale |= set(self.synced) if syms is None else syms
        for s in syms if syms is not None else list(self.synced):
            self.rpt[s] = 0

    def _times(self, msg: FixMessage, local: int | None) -> tuple[int, int]:
        st = msg.get(52)
        try:
            sending = parse_utc_timestamp(st) if st else None
        except ValueError:
            raise FixValueError(52, f"bad SendingTime {st!r}") from None
        te = sending
        t273 = msg.get(273)
        if t273:
            try:
                tod = _time_of_day(t273)
            except ValueError:
                raise FixValueError(273, f"bad MDEntryTime {t273!r}") from None
            d272 = msg.get(272)
            if d272:
                try:
                    day = parse_utc_timestamp(d272 + b"-00:00:00")
                except ValueError:
                    raise FixValueError(272, f"bad MDEntryDate {d272!r}") from None
                te = day + tod
            elif sending is not None:
                day = sending - sending % _DAY_NS
                te = day + tod
                if te > sending + _DAY_NS // 2:  # entry just before midnight, sent just after
                    te -= _DAY_NS
        if te is None:
            if local is None:
                raise FixValueError(52, "no SendingTime and no receive time: cannot timestamp")
            te = local
        return te, (local if local is not None else (sending if sending is not None else te))

    # ------------------------------------------------------------------ messages
    def message(self, msg: FixMessage, local: int | None, where: int) -> None:
        self.stats["frames"] += 1
        mt = msg.msg_type
        key = (msg.get(49) or b"", msg.get(56) or b"")
        try:
            seq = msg.get_int(34, 0) or 0
        except FixValueError:
            seq = 0
        last = self.last_seq.get(key, 0)
        if mt == b"A":  # logon: the sequence (re)starts here
            self.last_seq[key] = seq
            self.stats["other_messages"] += 1
            return
        if seq and last and seq <= last and msg.poss_dup:
            self.stats["duplicates"] += 1
            return
        if mt == b"4":  # SequenceReset: the next message carries NewSeqNo (36)
            new = msg.get(36)
            if new and new.isdigit():
                self.last_seq[key] = int(new) - 1
            self.stats["other_messages"] += 1
            return
        if seq:
            # MsgSeqNum gaps matter when the feed has no per-symbol RptSeq to tell what was lost
            if last and seq != last + 1 and not self.rpt_seen and msg.get(83) is None:
                self.gap(where, f"MsgSeqNum gap: expected {last + 1}, got {seq}", None)
            self.last_seq[key] = max(seq, last)
        if mt != b"W" and mt != b"X":
            self.stats["other_messages"] += 1
            return
        try:
            te, tl = self._times(msg, local)
            entries = msg.md_entries()
            rpt = msg.get_int(83, 0) or 0
        except FixValueError as e:
            self.stats["bad_frames"] += 1
            self.gap(where, f"35={mt.decode()} MsgSeqNum {seq}: {e}", None)
            return
        if msg.get(83) is not None:
            self.rpt_seen = True
        if mt == b"W":
            self._snapshot(msg, entries, rpt, te, tl, where)
        else:
            self._incremental(entries, rpt, seq, te, tl, where)

    def _snapshot(self, msg: FixMessage, entries: list[Any], rpt: int, te: int, tl: int, line: int) -> None:
        self.stats["snapshots"] += 1
        sym = msg.get(55) or (entries[0][4] if entries else b"")
        if not sym or (self.only is not None and sym not in self.only):
            return
        self.stale.discard(sym)
        self.synced.add(sym)
        self.rpt[sym] = rpt + 1 if rpt else 0
        bids: dict[int, int] = {}
        asks: dict[int, int] = {}
        self.best[sym] = [bids, asks]
        self._emit(te, tl, KIND_SNAPSHOT_START, 0, 0, 0, sym, line)
        for _a, ty, px, q, _s, _pos in entries:
            if ty == b"0" or ty == b"1":
                if px is None or q is None:
                    raise DataError(self.path, f"snapshot entry without price or size for {sym.decode()}",
                                    line=line if line > 0 else None)
                side = 1 if ty == b"0" else 2
                (bids if side == 1 else asks)[px] = q
                self._emit(te, tl, KIND_LEVEL, side, px, q, sym, line)
                self.stats["levels"] += 1
            else:
                self.stats["ignored_entries"] += 1
        self._emit(te, tl, KIND_SNAPSHOT_END, 0, 0, 0, sym, line)

    def _incremental(self, entries: list[Any], rpt: int, seq: int, te: int, tl: int, line: int) -> None:
        """Levels are applied in wire order; the message's trades are written before its level rows
        (the trade caused the level change, as in the LOBSTER conversion)."""
        self.stats["incrementals"] += 1
        checked: set[bytes] = set()
        trades: list[tuple[bytes, int, int]] = []
        levels: list[tuple[int, int, int, bytes]] = []
        book_before: dict[bytes, tuple[int, int]] = {}
        err_line = line if line > 0 else None
        for action, ty, px, q, sym, _pos in entries:
            if self.only is not None and sym not in self.only:
                continue
            if rpt and sym not in checked:
                checked.add(sym)
                exp = self.rpt.get(sym, 0)
                if exp and rpt != exp and sym not in self.stale:
                    self.gap(line, f"RptSeq gap for {sym.decode()}: expected {exp}, got {rpt} "
                                   f"(MsgSeqNum {seq})", {sym})
                elif sym not in self.stale:
                    self.rpt[sym] = rpt + 1
            if sym in self.stale:
                self.stats["dropped_stale"] += 1
                continue
            book = self.best.get(sym)
            if book is None:  # no snapshot yet for this symbol: its book is unknown
                self.stats["dropped_before_snapshot"] += 1
                continue
            if sym not in book_before:
                bids, asks = book
                book_before[sym] = (max(bids) if bids else -1, min(asks) if asks else -1)
            if ty == b"2":
                if px is None or not q:
                    self.stats["ignored_entries"] += 1
                else:
                    trades.append((sym, px, q))
                continue
            if ty != b"0" and ty != b"1":
                self.stats["ignored_entries"] += 1
                continue
            if px is None:
                raise DataError(self.path, f"level entry without a price for {sym.decode()}", line=err_line)
            side = 1 if ty == b"0" else 2
            lv = book[side - 1]
            if action == b"2":
                qty = 0
            elif q is None:
                raise DataError(self.path, f"level entry without a size for {sym.decode()}", line=err_line)
            else:
                qty = q
            if qty:
                lv[px] = qty
            else:
                lv.pop(px, None)
            levels.append((side, px, qty, sym))
        for sym, px, q in trades:
            bb, ba = book_before[sym]
            if ba >= 0 and px >= ba:
                side = 1
            elif bb >= 0 and px <= bb:
                side = 2
            else:
                side = 0
                self.stats["trades_side_unknown"] += 1
            self._emit(te, tl, KIND_TRADE, side, px, q, sym, line)
            self.stats["trades"] += 1
        for side, px, qty, sym in levels:
            self._emit(te, tl, KIND_LEVEL, side, px, qty, sym, line)
        self.stats["levels"] += len(levels)


def _frames_from_lines(conv: _Converter, path: Path, data: bytes) -> None:
    parser = FixStreamParser(max_frame=1 << 20, max_buffer=1 << 22)
    for line_no, raw in enumerate(data.split(b"\n"), start=1):
        raw = raw.rstrip(b"\r")
        if not raw.strip():
            continue
        i = raw.find(b"8=FIX")
        if i < 0:
            conv.stats["bad_frames"] += 1
            conv.gap(line_no, f"no FIX frame on this line: {raw[:40]!r}", None)
            continue
        local = _parse_prefix(path, line_no, raw[:i])
        frame = raw[i:]
        if b"\x01" not in frame:
            frame = frame.replace(b"|", b"\x01")
        bad0 = parser.frames_bad
        parser.feed(frame)
        msg = parser.next_message()
        parser.close()
        if msg is None or parser.frames_bad != bad0:
            conv.stats["bad_frames"] += 1
            reason = parser.errors[-1].reason if parser.errors else "incomplete frame"
            conv.gap(line_no, f"bad FIX frame: {reason}", None)
            parser = FixStreamParser(max_frame=1 << 20, max_buffer=1 << 22)
            continue
        conv.message(msg, local, line_no)


def _frames_from_stream(conv: _Converter, data: bytes) -> None:
    parser = FixStreamParser(max_frame=1 << 20, max_buffer=max(1 << 22, len(data) + 1))
    parser.feed(data)
    while True:
        bad0 = parser.frames_bad
        off = parser.offset
        msg = parser.next_message()
        if parser.frames_bad != bad0:
            conv.stats["bad_frames"] += parser.frames_bad - bad0
            e = parser.errors[-1]
            conv.gap(-e.offset, f"bad FIX frame: {e.reason}", None)
        if msg is None:
            break
        conv.message(msg, None, -off)
    bad0 = parser.frames_bad
    parser.close()
    if parser.frames_bad != bad0:
        e = parser.errors[-1]
        conv.stats["bad_frames"] += 1
        conv.gap(-e.offset, f"bad FIX frame: {e.reason}", None)


def convert_fixlog(
    path: str | Path,
    *,
    on_gap: str = "error",
    symbols: set[str] | None = None,
    validate: bool = True,
) -> FixlogResult:
    """Convert a FIX market data capture (see the module doc) to canonical events.

    ``on_gap``: ``"error"`` (default) or ``"resync"``. ``symbols``: keep only these. The result is
    validated (a DataError names the log line, or the byte offset for a raw stream) unless
    ``validate=False``.
    """
    if on_gap not in ("error", "resync"):
        raise ValueError(f"on_gap must be 'error' or 'resync', got {on_gap!r}")
    p = Path(path)
    try:
        if p.name.lower().endswith(".gz"):
            with gzip.open(p, "rb") as fh:
                data = fh.read()
        else:
            data = p.read_bytes()
    except (OSError, EOFError) as e:
        raise DataError(p, f"cannot read: {e}") from e
    conv = _Converter(p, on_gap, symbols)
    lines = b"\n" in data
    if lines:
        _frames_from_lines(conv, p, data)
    else:
        _frames_from_stream(conv, data)
    n = len(conv.kind)
    ev = EventArrays.from_columns(
        conv.ts_exch, conv.ts_local, conv.kind, conv.side, conv.price, conv.qty,
        conv.sym if n else "UNKNOWN",
        make_metadata("fixlog", 10_000, {"kind": "asx"}, layout="lines" if lines else "raw"),
    )
    if validate:
        if lines:
            validate_events(ev, p, lines=np.asarray(conv.line, np.int64))
        else:
            try:
                validate_events(ev, p)
            except DataError as e:
                off = -conv.line[e.row] if e.row is not None and e.row < n else None
                raise DataError(p, f"{e.problem} (frame at byte offset {off})", row=e.row) from None
    stats = {k: v for k, v in conv.stats.items()}
    stats["events"] = n
    return FixlogResult(ev, stats)
