"""LOBSTER message (+ orderbook) CSV files -> canonical L2 events.

LOBSTER (https://lobsterdata.com) reconstructs NASDAQ ITCH into a *message* file (time, type, order id,
size, price, direction; one line per event) and an optional *orderbook* file (the top N levels after
each message: ask price, ask size, bid price, bid size per level). Prices are dollars x 10,000, which is
exactly our price unit. Two conversion modes:

``mode="book"`` (default when the orderbook file has one row per message): the level updates are the
differences between consecutive orderbook rows, so the canonical book equals the recorded top N after
every message, exactly (an N-level market-by-price feed: a level that leaves the top N is deleted, one
that enters it is added with its full quantity). Row 1 becomes a snapshot. Trades come from the
messages: type 4 (visible execution) and 5 (hidden execution) with the aggressor side opposite to the
executed order's direction, type 6 (cross) with side 0; a message's trade precedes its level updates.

``mode="messages"`` (no orderbook, or only its first row as a seed, e.g. the 50-level hour file seeded
by the 10-level clip's first row): order-level aggregation. Per message: type 1 adds, 2 and 3 subtract,
4 subtracts and emits the trade before the level update, 5 and 6 emit a trade only, 7 (halt) is counted.
Quantities of levels outside the seed's price range are unknown at the start; a reduction below zero
is clamped to 0 (``stats["clamped"]``) and updates outside the seed's range are counted
(``stats["unknown_region"]``): those levels can be understated. A reduction of a level we never had
writes no row (``stats["noop_deletes"]``). Without a seed the book starts empty.

Timestamps: LOBSTER gives seconds after midnight, New York time, of the date in the file name. We store
true UTC epoch nanoseconds (``hft.timezone = America/New_York`` for display). LOBSTER has no receive
times: ``ts_local`` copies ``ts_exch`` and the metadata says so (``hft.local_time = exchange``), so the
backtester applies its feed latency model (``backtest.feed_time = "auto"``) instead of letting the
strategy see each event at the instant the exchange produced it.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path

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

DUMMY_ASK = 9_999_999_999
DUMMY_BID = -9_999_999_999
TIMEZONE = "America/New_York"
_NAME = re.compile(r"^(?P<sym>[A-Za-z.]+)_(?P<date>\d{4}-\d{2}-\d{2})_")


@dataclass(slots=True)
class LobsterResult:
    events: EventArrays
    stats: dict[str, int] = field(default_factory=dict)
    msg_end: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """``msg_end[i]`` = number of events emitted up to and including message i (0-based)."""


def _midnight_utc_ns(date: str, tz: str) -> int:
    d = dt.date.fromisoformat(date)
    local = dt.datetime(d.year, d.month, d.day, tzinfo=zoneinfo.ZoneInfo(tz))
    return int(local.timestamp()) * 1_000_000_000


def _ts(path: Path, line: int, s: str, midnight: int) -> int:
    sec, _, frac = s.partition(".")
    if not sec.isdigit() or (frac and not frac.isdigit()):
        raise DataError(path, f"bad time {s!r} (expected seconds after midnight)", line=line)
    ns = int((frac + "000000000")[:9])
    if len(frac) > 9 and frac[9] >= "5":  # some files print float noise past the nanosecond: round
        ns += 1
    return midnight + int(sec) * 1_000_000_000 + ns


def read_messages(path: str | Path, midnight: int) -> tuple[np.ndarray, np.ndarray]:
    """Parse a message file: (ts ns, int64 array n x 5 of type, order id, size, price, direction)."""
    mp = Path(path)
    ts: list[int] = []
    rows: list[tuple[int, int, int, int, int]] = []
    try:
        fh = open(mp)  # noqa: SIM115
    except OSError as e:
        raise DataError(mp, f"cannot open: {e}") from e
    with fh:
        for line_no, raw in enumerate(fh, start=1):
            raw = raw.strip()
            if not raw:
                continue
            parts = raw.split(",")
            if len(parts) < 6:
                raise DataError(mp, f"expected 6 fields, got {len(parts)} (truncated?)", line=line_no)
            t = _ts(mp, line_no, parts[0], midnight)
            try:
                typ, oid, size, price, direction = (int(x) for x in parts[1:6])
            except ValueError:
                raise DataError(mp, f"non-integer field in {raw[:80]!r}", line=line_no) from None
            if typ not in (1, 2, 3, 4, 5, 6, 7):
                raise DataError(mp, f"unknown event type {typ}", line=line_no)
            if typ != 7:  # a halt message carries price -1/0/1 as its indicator
                if direction not in (1, -1):
                    raise DataError(mp, f"direction must be 1 or -1, got {direction}", line=line_no)
                if size < 0:
                    raise DataError(mp, f"negative size {size}", line=line_no)
                if price <= 0:
                    raise DataError(mp, f"non-positive price {price}", line=line_no)
            if ts and t < ts[-1]:
                raise DataError(mp, f"time goes backwards ({parts[0]})", line=line_no)
            ts.append(t)
            rows.append((typ, oid, size, price, direction))
    if not rows:
        raise DataError(mp, "no messages")
    return np.asarray(ts, np.int64), np.asarray(rows, np.int64)


def read_lobster_orderbook(path: str | Path, max_rows: int | None = None) -> np.ndarray:
    """The orderbook file as int64 (rows x 4*levels): ask p, ask q, bid p, bid q per level."""
    p = Path(path)
    try:
        arr = np.loadtxt(p, delimiter=",", dtype=np.int64, ndmin=2, max_rows=max_rows)
    except (OSError, ValueError) as e:
        raise DataError(p, f"cannot read orderbook: {e}") from e
    if arr.shape[0] == 0 or arr.shape[1] % 4:
        raise DataError(p, f"expected 4 x levels columns, got {arr.shape[1]}", line=1)
    return arr


def _row_levels(row: np.ndarray) -> tuple[dict[int, int], dict[int, int]]:
    r = row.reshape(-1, 4)
    bids = {int(p): int(q) for p, q in zip(r[:, 2], r[:, 3], strict=True) if q > 0 and p != DUMMY_BID}
    asks = {int(p): int(q) for p, q in zip(r[:, 0], r[:, 1], strict=True) if q > 0 and p != DUMMY_ASK}
    return bids, asks


class _Out:
    def __init__(self) -> None:
        self.ts: list[int] = []
        self.kind: list[int] = []
        self.side: list[int] = []
        self.price: list[int] = []
        self.qty: list[int] = []
        self.line: list[int] = []

    def emit(self, ts: int, kind: int, side: int, price: int, qty: int, line: int) -> None:
        self.ts.append(ts)
        self.kind.append(kind)
        self.side.append(side)
        self.price.append(price)
        self.qty.append(qty)
        self.line.append(line)

    def snapshot(self, ts: int, bids: dict[int, int], asks: dict[int, int], line: int) -> None:
        self.emit(ts, KIND_SNAPSHOT_START, 0, 0, 0, line)
        for p in sorted(bids, reverse=True):
            self.emit(ts, KIND_LEVEL, 1, p, bids[p], line)
        for p in sorted(asks):
            self.emit(ts, KIND_LEVEL, 2, p, asks[p], line)
        self.emit(ts, KIND_SNAPSHOT_END, 0, 0, 0, line)


def _trade(out: _Out, stats: dict[str, int], ts: int, msg: np.ndarray, line: int) -> None:
    typ, _oid, size, price, direction = (int(x) for x in msg)
    if typ in (4, 5):
        out.emit(ts, KIND_TRADE, 2 if direction == 1 else 1, price, size, line)
        stats["executions" if typ == 4 else "hidden_executions"] += 1
    elif typ == 6:
        out.emit(ts, KIND_TRADE, 0, price, size, line)
        stats["cross_trades"] += 1
    elif typ == 7:
        stats["halts"] += 1


def _diff(out: _Out, ts: int, side: int, old: dict[int, int], new: dict[int, int], line: int) -> None:
    for p in old:
        if p not in new:
            out.emit(ts, KIND_LEVEL, side, p, 0, line)


def _changes(out: _Out, ts: int, side: int, old: dict[int, int], new: dict[int, int], line: int) -> None:
    for p, q in new.items():
        if old.get(p) != q:
            out.emit(ts, KIND_LEVEL, side, p, q, line)


def convert_lobster(
    messages: str | Path,
    orderbook: str | Path | None = None,
    *,
    symbol: str | None = None,
    date: str | None = None,
    mode: str | None = None,
    timezone: str = TIMEZONE,
    validate: bool = True,
) -> LobsterResult:
    """Convert a LOBSTER message file (and optionally its orderbook file) to canonical events.

    ``mode`` None picks ``"book"`` when the orderbook has one row per message, else ``"messages"``.
    The result is validated (DataError naming the message file line) unless ``validate=False``.
    """
    mp = Path(messages)
    m = _NAME.match(mp.name)
    symbol = symbol or (m.group("sym") if m else "UNKNOWN")
    date = date or (m.group("date") if m else "1970-01-01")
    try:
        midnight = _midnight_utc_ns(date, timezone)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError) as e:
        raise DataError(mp, f"bad date {date!r} or timezone {timezone!r}: {e}") from e
    ts, msgs = read_messages(mp, midnight)
    n = len(ts)
    book_rows: np.ndarray | None = None
    if orderbook is not None:
        book_rows = read_lobster_orderbook(orderbook)
    if mode is None:
        mode = "book" if book_rows is not None and len(book_rows) == n else "messages"
    if mode not in ("book", "messages"):
        raise ValueError(f"mode must be 'book' or 'messages', got {mode!r}")
    if mode == "book" and (book_rows is None or len(book_rows) != n):
        got = "no orderbook" if book_rows is None else f"{len(book_rows)} orderbook rows"
        raise DataError(orderbook or mp, f"mode 'book' needs one orderbook row per message ({n}), got {got}")
    keys = ("messages", "executions", "hidden_executions", "cross_trades", "halts", "clamped",
            "unknown_region", "noop_deletes")
    stats = dict.fromkeys(keys, 0)
    stats["messages"] = n
    out = _Out()
    msg_end = np.zeros(n, np.int64)
    if mode == "book":
        assert book_rows is not None
        bids, asks = _row_levels(book_rows[0])
        _trade(out, stats, int(ts[0]), msgs[0], 1)
        out.snapshot(int(ts[0]), bids, asks, 1)
        msg_end[0] = len(out.ts)
        for i in range(1, n):
            t = int(ts[i])
            _trade(out, stats, t, msgs[i], i + 1)
            nb, na = _row_levels(book_rows[i])
            _diff(out, t, 1, bids, nb, i + 1)
            _diff(out, t, 2, asks, na, i + 1)
            _changes(out, t, 1, bids, nb, i + 1)
            _changes(out, t, 2, asks, na, i + 1)
            bids, asks = nb, na
            msg_end[i] = len(out.ts)
        stats["levels"] = book_rows.shape[1] // 4
    else:
        _convert_messages(out, stats, ts, msgs, book_rows, msg_end)
    ev = EventArrays.from_columns(
        out.ts, out.ts, out.kind, out.side, out.price, out.qty, symbol,
        make_metadata(
            "lobster", 10_000, {"kind": "fixed", "tick": 100, "venue": "NASDAQ"},
            date=date, timezone=timezone, lobster_mode=mode, symbol=symbol, local_time="exchange",
        ),
    )
    if validate:
        validate_events(ev, mp, lines=np.asarray(out.line, np.int64))
    stats["events"] = len(ev)
    stats["trades"] = int((ev.kind == KIND_TRADE).sum())
    return LobsterResult(ev, stats, msg_end)


def _convert_messages(
    out: _Out,
    stats: dict[str, int],
    ts: np.ndarray,
    msgs: np.ndarray,
    book_rows: np.ndarray | None,
    msg_end: np.ndarray,
) -> None:
    books: dict[int, dict[int, int]] = {1: {}, 2: {}}
    bid_edge = 1 << 62  # bid prices below the edge are not covered by the seed
    ask_edge = -1  # ask prices above the edge are not covered by the seed
    start = 0
    if book_rows is not None:
        bids, asks = _row_levels(book_rows[0])
        books[1], books[2] = dict(bids), dict(asks)
        bid_edge = min(bids) if bids else bid_edge
        ask_edge = max(asks) if asks else ask_edge
        _trade(out, stats, int(ts[0]), msgs[0], 1)
        out.snapshot(int(ts[0]), bids, asks, 1)
        msg_end[0] = len(out.ts)
        start = 1
    tl = ts.tolist()
    rows = msgs.tolist()
    for i in range(start, len(tl)):
        t = tl[i]
        typ, _oid, size, price, direction = rows[i]
        line = i + 1
        if typ >= 5 or typ == 4:
            _trade(out, stats, t, msgs[i], line)
        if typ <= 4:
            side = 1 if direction == 1 else 2
            book = books[side]
            cur = book.get(price, 0)
            if typ == 1:
                new = cur + size
            else:
                new = cur - size
                if new < 0:
                    stats["clamped"] += 1
                    new = 0
            if new:
                book[price] = new
            else:
                book.pop(price, None)
            if (side == 1 and price < bid_edge) or (side == 2 and price > ask_edge):
                stats["unknown_region"] += 1
            if cur == 0 and new == 0:  # a level we never had stays empty: no row
                stats["noop_deletes"] += 1
            else:
                out.emit(t, KIND_LEVEL, side, price, new, line)
        msg_end[i] = len(out.ts)
