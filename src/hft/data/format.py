"""Canonical L2 (market-by-price) event format: writer, columnar reader, validation, repair.

One row per event, sorted by ``ts_local`` (ties keep file order). Columns (full spec: docs/data.md):

``ts_exch`` int64 ns, ``ts_local`` int64 ns, ``kind`` int8 (1 level, 2 trade, 3 snapshot start,
4 snapshot end), ``side`` int8 (1 bid/buy, 2 ask/sell, 0 unknown), ``price`` int64 price units
(``hft.price_scale`` units per currency unit, 10,000 by default), ``qty`` int64, ``symbol`` string.

Parquet (dictionary-encoded symbol, file metadata keys ``hft.*``) and CSV (header line, optionally
gzipped) are both read by :func:`load_events` into an :class:`EventArrays` of numpy columns, without a
Python loop per row for Parquet and for well-formed CSV. :func:`iter_event_chunks` streams a file in
bounded memory; :class:`Validator` checks a stream chunk by chunk.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

FORMAT_VERSION = "1"
KIND_LEVEL = 1
KIND_TRADE = 2
KIND_SNAPSHOT_START = 3
KIND_SNAPSHOT_END = 4
SIDE_UNKNOWN = 0
SIDE_BID = 1
SIDE_ASK = 2
COLUMNS = ("ts_exch", "ts_local", "kind", "side", "price", "qty", "symbol")
_INT_COLUMNS = ("ts_exch", "ts_local", "kind", "side", "price", "qty")
_DTYPES: dict[str, Any] = {
    "ts_exch": np.int64,
    "ts_local": np.int64,
    "kind": np.int8,
    "side": np.int8,
    "price": np.int64,
    "qty": np.int64,
}
SCHEMA = pa.schema(
    [
        ("ts_exch", pa.int64()),
        ("ts_local", pa.int64()),
        ("kind", pa.int8()),
        ("side", pa.int8()),
        ("price", pa.int64()),
        ("qty", pa.int64()),
        ("symbol", pa.dictionary(pa.int32(), pa.string())),
    ]
)
DEFAULT_CHUNK_ROWS = 1_000_000
BYTES_PER_ROW = 38  # in memory: 4 x int64 + 2 x int8 + int32 symbol id
META_VALIDATED = "hft.validated"
_BOOK_PIECE = 262_144


class DataError(ValueError):
    """Bad market data: names the file, the row (0-based data row) and/or line (1-based) and the problem."""

    def __init__(
        self, path: str | Path, problem: str, row: int | None = None, line: int | None = None
    ) -> None:
        self.path = str(path)
        self.row = row
        self.line = line
        self.problem = problem
        where = ""
        if line is not None:
            where = f" line {line}"
            if row is not None:
                where += f" (row {row})"
        elif row is not None:
            where = f" row {row}"
        super().__init__(f"{self.path}{where}: {problem}")


@dataclass(slots=True)
class EventArrays:
    """Column arrays of an event file. ``symbols[symbol_id[i]]`` is row i's symbol.

    Stable API (the backtester, simulator replay and converters use it): the seven arrays below
    (``ts_exch``/``ts_local``/``price``/``qty`` int64, ``kind``/``side`` int8, ``symbol_id`` int32),
    ``symbols``, ``metadata`` (the file's ``hft.*`` keys) and ``repairs`` (what :func:`repair_events`
    changed, as counts).
    """

    ts_exch: np.ndarray
    ts_local: np.ndarray
    kind: np.ndarray
    side: np.ndarray
    price: np.ndarray
    qty: np.ndarray
    symbol_id: np.ndarray
    symbols: list[str]
    metadata: dict[str, str] = field(default_factory=dict)
    repairs: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.ts_local.shape[0])

    @classmethod
    def empty(cls, n: int = 0) -> EventArrays:
        return cls(
            np.zeros(n, np.int64),
            np.zeros(n, np.int64),
            np.zeros(n, np.int8),
            np.zeros(n, np.int8),
            np.zeros(n, np.int64),
            np.zeros(n, np.int64),
            np.zeros(n, np.int32),
            [],
        )

    @classmethod
    def from_columns(
        cls,
        ts_exch: Any,
        ts_local: Any,
        kind: Any,
        side: Any,
        price: Any,
        qty: Any,
        symbol: str | list[str] = "UNKNOWN",
        metadata: dict[str, str] | None = None,
    ) -> EventArrays:
        """Build from array-likes; ``symbol`` is one name for every row, or one name per row."""
        ts = np.asarray(ts_exch, np.int64)
        n = ts.shape[0]
        if isinstance(symbol, str):
            symbols = [symbol]
            sid = np.zeros(n, np.int32)
        else:
            names, inv = np.unique(np.asarray(symbol, dtype=object).astype(str), return_inverse=True)
            symbols = [str(s) for s in names]
            sid = inv.astype(np.int32)
        return cls(
            ts,
            np.asarray(ts_local, np.int64),
            np.asarray(kind, np.int8),
            np.asarray(side, np.int8),
            np.asarray(price, np.int64),
            np.asarray(qty, np.int64),
            sid,
            symbols,
            dict(metadata or {}),
        )

    def take(self, idx: np.ndarray | slice) -> EventArrays:
        """Rows ``idx`` (an index array, a boolean mask or a slice), same symbol table."""
        return EventArrays(
            self.ts_exch[idx],
            self.ts_local[idx],
            self.kind[idx],
            self.side[idx],
            self.price[idx],
            self.qty[idx],
            self.symbol_id[idx],
            list(self.symbols),
            dict(self.metadata),
            dict(self.repairs),
        )

    def for_symbol(self, symbol: str) -> EventArrays:
        """Only the rows of ``symbol`` (its symbol table becomes ``[symbol]``); KeyError if absent."""
        if symbol not in self.symbols:
            raise KeyError(f"no events for symbol {symbol!r} (has {', '.join(self.symbols) or 'none'})")
        sid = self.symbols.index(symbol)
        if len(self.symbols) == 1:
            return self
        out = self.take(self.symbol_id == sid)
        out.symbol_id = np.zeros(len(out), np.int32)
        out.symbols = [symbol]
        return out

    @property
    def nbytes(self) -> int:
        return sum(
            a.nbytes
            for a in (self.ts_exch, self.ts_local, self.kind, self.side, self.price, self.qty, self.symbol_id)
        )


def make_metadata(
    source: str, price_scale: int = 10_000, tick_rule: dict[str, Any] | None = None, **extra: str
) -> dict[str, str]:
    """Build the ``hft.*`` file metadata.

    ``tick_rule`` e.g. {"kind": "asx"} or {"kind": "fixed", "tick": 100}.
    """
    md = {
        "hft.format_version": FORMAT_VERSION,
        "hft.price_scale": str(price_scale),
        "hft.source": source,
        "hft.tick_rule": json.dumps(tick_rule or {"kind": "asx"}),
    }
    for k, v in extra.items():
        md[f"hft.{k}"] = str(v)
    return md


# ---------------------------------------------------------------- metadata: scales and tick rule

ASX_TICK_RULE: dict[str, Any] = {"kind": "asx"}
# ASX price steps in 1/10,000 dollar units (hft.asx.ticks; a test checks these against tick_size)
_ASX_BAND1, _ASX_BAND2 = 1_000, 20_000  # $0.10, $2.00
_ASX_STEPS = (10, 50, 100)  # below $0.10, $0.10 to below $2.00, $2.00 and above


def metadata_scale(md: dict[str, str], key: str, default: int, path: str | Path = "<memory>") -> int:
    """A positive integer scale (``hft.price_scale``, ``hft.qty_scale``); ``default`` when absent.

    DataError naming the file and the key when it is not a positive integer."""
    v = md.get(key)
    if v is None:
        return default
    try:
        n = int(v)
    except ValueError:
        n = 0
    if n <= 0:
        raise DataError(path, f"metadata {key} = {v!r}: expected a positive integer")
    return n


def parse_tick_rule(md: dict[str, str], path: str | Path = "<memory>") -> dict[str, Any]:
    """The file's ``hft.tick_rule`` (``{"kind": "asx"}`` when absent, e.g. CSV): ``{"kind": "asx"}`` or
    ``{"kind": "fixed", "tick": <positive int, price units>}``; DataError naming the key otherwise."""
    raw = md.get("hft.tick_rule")
    if raw is None:
        return dict(ASX_TICK_RULE)
    try:
        rule = json.loads(raw)
    except ValueError:
        rule = None
    if not isinstance(rule, dict) or rule.get("kind") not in ("asx", "fixed"):
        raise DataError(path, f"metadata hft.tick_rule = {raw!r}: expected JSON {{\"kind\": \"asx\"}} or "
                              f"{{\"kind\": \"fixed\", \"tick\": <price units>}}")
    if rule["kind"] == "fixed":
        t = rule.get("tick")
        if isinstance(t, bool) or not isinstance(t, int) or t <= 0:
            raise DataError(path, f"metadata hft.tick_rule = {raw!r}: a fixed rule needs a positive integer "
                                  "\"tick\" in price units")
    return rule


def asx_step(price: np.ndarray) -> np.ndarray:
    """The ASX price step at each price (1/10,000 dollar units), vectorised ``hft.asx.ticks.tick_size``."""
    low = np.where(price < _ASX_BAND1, _ASX_STEPS[0], _ASX_STEPS[1])
    return np.where(price >= _ASX_BAND2, _ASX_STEPS[2], low)


def off_tick_rows(
    kind: np.ndarray, price: np.ndarray, rule: dict[str, Any], price_scale: int = 10_000
) -> np.ndarray:
    """Rows whose price breaks the tick rule (indices, ascending). The policy (docs/data.md):

    * ``asx``: a level price must be on the ASX grid (``hft.asx.ticks``); a trade may also print exactly
      half way between two steps (ASX Centre Point matches at the midpoint of the best bid and offer).
      Prices in another ``price_scale`` are compared after an exact conversion to 1/10,000 dollars (a
      price finer than that is off the grid).
    * ``fixed``: a level price must be a multiple of ``tick``; trades are not checked (venues print
      hidden and midpoint executions between ticks: 19 of the LOBSTER AAPL hour's trades).
    """
    if rule.get("kind") == "fixed":
        cand = np.flatnonzero(price % int(rule["tick"]) != 0)  # markers have price 0
        levels: np.ndarray = cand[kind[cand] == KIND_LEVEL]
        return levels
    if price_scale == 10_000:
        p = price
        inexact = None
        # one pass over the file for the common case (a whole cent: on the grid at any price; markers
        # have price 0), the exact test only for the rest (~50 ms per 10M rows here)
        cand = np.flatnonzero(p % _ASX_STEPS[2] != 0)
    else:
        num = price * 10_000
        inexact = num % price_scale != 0
        p = num // price_scale
        cand = np.arange(len(price))
    k = kind[cand]
    cand = cand[(k == KIND_LEVEL) | (k == KIND_TRADE)]
    if not cand.size:
        empty: np.ndarray = cand
        return empty
    pc: np.ndarray = p[cand]
    step = asx_step(pc)
    bad = np.where(kind[cand] == KIND_LEVEL, pc % step != 0, (2 * pc) % step != 0)
    if inexact is not None:
        bad |= inexact[cand]
    off: np.ndarray = cand[bad]
    return off


def describe_off_tick(price: int, kind: int, rule: dict[str, Any], price_scale: int = 10_000) -> str:
    """Problem text for an off-tick row, e.g. ``level price 450050 ($45.005) is off the ASX tick grid``."""
    what = "trade" if kind == KIND_TRADE else "level"
    money = f"{price / price_scale:.10g}"
    if price_scale != 10_000:
        money += f" at hft.price_scale {price_scale}"
    if rule.get("kind") == "fixed":
        return (f"{what} price {price} ({money}) is not a multiple of the fixed tick {rule['tick']} "
                f"(hft.tick_rule)")
    p10k = price * 10_000 // price_scale
    step = int(asx_step(np.asarray([p10k]))[0])
    extra = " or half way between two steps" if kind == KIND_TRADE else ""
    return (f"{what} price {price} (${money}) is off the ASX tick grid (hft.tick_rule asx: steps of "
            f"${step / 10_000:g} at this price{extra})")


def file_format(path: str | Path) -> str:
    """``"csv"`` for ``.csv`` / ``.csv.gz`` names, else ``"parquet"``."""
    name = Path(path).name.lower()
    if name.endswith(".csv") or name.endswith(".csv.gz"):
        return "csv"
    return "parquet"


# ---------------------------------------------------------------- validation


def _bad_value_masks(
    kind: np.ndarray, side: np.ndarray, price: np.ndarray, qty: np.ndarray, ts_exch: np.ndarray,
    ts_local: np.ndarray,
) -> list[tuple[str, np.ndarray]]:
    lvl = kind == KIND_LEVEL
    trd = kind == KIND_TRADE
    return [
        ("invalid kind (expected 1 level, 2 trade, 3 snapshot start, 4 snapshot end)",
         (kind < 1) | (kind > 4)),
        ("invalid side for a level update (expected 1 bid or 2 ask)", lvl & (side != 1) & (side != 2)),
        ("invalid side for a trade (expected 0, 1 or 2)", trd & ((side < 0) | (side > 2))),
        ("non-positive price", (lvl | trd) & (price <= 0)),
        ("negative qty", qty < 0),
        ("zero qty for a trade", trd & (qty == 0)),
        ("negative timestamp", (ts_local < 0) | (ts_exch < 0)),
    ]


def _symbol_groups(ev: EventArrays) -> list[tuple[np.ndarray | None, int]]:
    """(row indices in file order, symbol id) per symbol present; indices None for a one-symbol chunk."""
    n = len(ev)
    if n == 0:
        return []
    sid = ev.symbol_id
    if len(ev.symbols) <= 1 or not (sid != sid[0]).any():
        return [(None, int(sid[0]))]
    order = np.argsort(sid, kind="stable")
    ss = sid[order]
    cuts = np.flatnonzero(ss[1:] != ss[:-1]) + 1
    starts = np.concatenate(([0], cuts))
    ends = np.concatenate((cuts, [n]))
    return [(order[a:b], int(ss[a])) for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]


class _Book:
    """Per-symbol price -> qty maps with tracked best prices; crossing check outside snapshots."""

    __slots__ = ("asks", "best_ask", "best_bid", "bids", "in_snap")

    def __init__(self) -> None:
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.best_bid = -1  # -1: no bid
        self.best_ask = -1  # -1: no ask
        self.in_snap = False

    def crossed(self) -> bool:
        return self.best_bid >= 0 and self.best_ask >= 0 and self.best_bid >= self.best_ask


class Validator:
    """Stateful validation of an event stream fed chunk by chunk (rows numbered across chunks).

    Checks, raising :class:`DataError` at the first problem: values (kind, side, price > 0 for levels
    and trades, qty >= 0, trade qty > 0, timestamps >= 0), ``ts_local`` non-decreasing, ``ts_exch``
    non-decreasing per symbol, snapshot markers paired (start ... end per symbol) and, with
    ``check_book``, that no level update outside a snapshot (and no snapshot end) leaves a symbol's
    book crossed or locked (best bid >= best ask). ``lines`` maps rows to source lines when the rows
    come from a line-oriented source (CSV: ``row + 2``).
    """

    def __init__(
        self,
        path: str | Path = "<memory>",
        *,
        check_book: bool = True,
        csv_lines: bool = False,
        metadata: dict[str, str] | None = None,
    ) -> None:
        self.path = str(path)
        self.check_book = check_book
        self.csv_lines = csv_lines
        # the file's hft.* metadata: prices are checked against its tick rule (absent key: asx); None (the
        # writer, converters' own checks) skips the tick check
        self.tick_rule: dict[str, Any] | None = None
        self.price_scale = 10_000
        if metadata is not None:
            self.tick_rule = parse_tick_rule(metadata, path)
            self.price_scale = metadata_scale(metadata, "hft.price_scale", 10_000, path)
        self.rows = 0
        self._last_local: int | None = None
        self._last_exch: dict[str, int] = {}
        self._in_snap: dict[str, bool] = {}
        self._books: dict[str, _Book] = {}

    def _err(self, problem: str, row: int, lines: np.ndarray | None) -> DataError:
        if lines is not None:
            return DataError(self.path, problem, row=row, line=int(lines[row - self.rows]))
        return DataError(self.path, problem, row=row, line=row + 2 if self.csv_lines else None)

    def feed(self, ev: EventArrays, lines: np.ndarray | None = None) -> None:
        n = len(ev)
        if n == 0:
            return
        base = self.rows
        first: list[tuple[int, str]] = []
        for name, mask in _bad_value_masks(ev.kind, ev.side, ev.price, ev.qty, ev.ts_exch, ev.ts_local):
            if mask.any():
                r = int(np.argmax(mask))
                first.append(
                    (r, f"{name}: kind={ev.kind[r]} side={ev.side[r]} price={ev.price[r]} qty={ev.qty[r]}")
                )
        tl = ev.ts_local
        if self._last_local is not None and tl[0] < self._last_local:
            first.append((0, f"ts_local {tl[0]} < previous {self._last_local} (unsorted)"))
        dec = np.flatnonzero(tl[1:] < tl[:-1])
        if dec.size:
            r = int(dec[0]) + 1
            first.append((r, f"ts_local {tl[r]} < previous {tl[r - 1]} (unsorted)"))
        first.extend(self._check_exch(ev))
        first.extend(self._check_markers(ev))
        if self.tick_rule is not None:
            off = off_tick_rows(ev.kind, ev.price, self.tick_rule, self.price_scale)
            if off.size:
                r = int(off[0])
                first.append((r, describe_off_tick(int(ev.price[r]), int(ev.kind[r]), self.tick_rule,
                                                   self.price_scale)))
        if first:
            r, problem = min(first, key=lambda x: x[0])
            raise self._err(problem, base + r, lines)
        if self.check_book:
            self._check_book(ev, lines)
        self._last_local = int(tl[-1])
        self.rows += n

    def _check_exch(self, ev: EventArrays) -> list[tuple[int, str]]:
        """ts_exch non-decreasing per symbol (one stable sort by symbol, then per-group diffs)."""
        out: list[tuple[int, str]] = []
        te = ev.ts_exch
        for idx, s in _symbol_groups(ev):
            col = te if idx is None else te[idx]
            name = ev.symbols[s] if ev.symbols else "?"
            prev = self._last_exch.get(name)
            if prev is not None and col[0] < prev:
                r = 0 if idx is None else int(idx[0])
                out.append((r, f"ts_exch {col[0]} < previous {prev} for {name} (unsorted exchange time)"))
            dec = np.flatnonzero(col[1:] < col[:-1])
            if dec.size:
                j = int(dec[0]) + 1
                r = j if idx is None else int(idx[j])
                out.append(
                    (r, f"ts_exch {col[j]} < previous {col[j - 1]} for {name} (unsorted exchange time)")
                )
            self._last_exch[name] = int(col[-1])
        return out

    def _check_markers(self, ev: EventArrays) -> list[tuple[int, str]]:
        mk = np.flatnonzero(ev.kind >= KIND_SNAPSHOT_START)
        if not mk.size:
            return []
        kinds = ev.kind[mk].tolist()
        sids = ev.symbol_id[mk].tolist()
        for r, k, s in zip(mk.tolist(), kinds, sids, strict=True):
            name = ev.symbols[s]
            open_ = self._in_snap.get(name, False)
            if k == KIND_SNAPSHOT_START and open_:
                return [(r, f"snapshot start for {name} while its previous snapshot is still open")]
            if k == KIND_SNAPSHOT_END and not open_:
                return [(r, f"snapshot end for {name} without a snapshot start")]
            self._in_snap[name] = k == KIND_SNAPSHOT_START
        return []

    def _check_book(self, ev: EventArrays, lines: np.ndarray | None) -> None:
        rows = np.flatnonzero(ev.kind != KIND_TRADE)
        # in pieces: the Python lists of one piece cost ~100 bytes/row, not the whole file's
        for a in range(0, rows.size, _BOOK_PIECE):
            self._check_book_rows(ev, rows[a : a + _BOOK_PIECE], lines)

    def _check_book_rows(self, ev: EventArrays, rows: np.ndarray, lines: np.ndarray | None) -> None:
        kinds = ev.kind[rows].tolist()
        sides = ev.side[rows].tolist()
        prices = ev.price[rows].tolist()
        qtys = ev.qty[rows].tolist()
        sids = ev.symbol_id[rows].tolist()
        books = [self._books.setdefault(s, _Book()) for s in ev.symbols]
        for j in range(len(kinds)):
            b = books[sids[j]]
            k = kinds[j]
            if k == KIND_LEVEL:
                p = prices[j]
                q = qtys[j]
                if sides[j] == SIDE_BID:
                    lv = b.bids
                    if q:
                        lv[p] = q
                        if p > b.best_bid:
                            b.best_bid = p
                    elif lv.pop(p, 0) and p == b.best_bid:
                        b.best_bid = max(lv) if lv else -1
                else:
                    lv = b.asks
                    if q:
                        lv[p] = q
                        if b.best_ask < 0 or p < b.best_ask:
                            b.best_ask = p
                    elif lv.pop(p, 0) and p == b.best_ask:
                        b.best_ask = min(lv) if lv else -1
                if b.in_snap or b.best_bid < 0 or b.best_ask < 0 or b.best_bid < b.best_ask:
                    continue
            elif k == KIND_SNAPSHOT_START:
                b.bids.clear()
                b.asks.clear()
                b.best_bid = b.best_ask = -1
                b.in_snap = True
                continue
            else:
                b.in_snap = False
                if not b.crossed():
                    continue
            r = int(rows[j])
            what = "after snapshot end" if k == KIND_SNAPSHOT_END else (
                f"after level update side={sides[j]} price={prices[j]} qty={qtys[j]}"
            )
            raise self._err(
                f"crossed book for {ev.symbols[sids[j]]}: best bid {b.best_bid} >= best ask "
                f"{b.best_ask} {what}",
                self.rows + r,
                lines,
            )

    def finish(self) -> None:
        """End of stream: a snapshot still open is an error (truncated file?)."""
        open_ = [s for s, v in self._in_snap.items() if v]
        if open_:
            raise DataError(
                self.path, f"snapshot for {', '.join(open_)} never ended (truncated file?)", row=self.rows
            )


def validate_events(
    ev: EventArrays,
    path: str | Path = "<memory>",
    *,
    check_book: bool = True,
    csv_lines: bool = False,
    lines: np.ndarray | None = None,
    metadata: dict[str, str] | None = None,
) -> None:
    """Raise :class:`DataError` naming the first bad row (see :class:`Validator`); None when valid.
    With ``metadata`` (the file's ``hft.*`` keys) prices are also checked against its tick rule."""
    v = Validator(path, check_book=check_book, csv_lines=csv_lines, metadata=metadata)
    v.feed(ev, lines)
    v.finish()


# ---------------------------------------------------------------- repair


def repair_events(ev: EventArrays) -> EventArrays:
    """Apply the documented repair policy (docs/data.md) and record the counts in ``repairs``.

    1. ``resorted``: rows whose ``ts_local`` is below an earlier row's are moved by a stable sort on
       ``ts_local``; then ``ts_exch`` that still goes backwards within a symbol is raised to the
       previous value (``ts_exch_clamped``).
    2. ``dropped_invalid``: rows with an invalid kind/side, a non-positive price, a negative qty, a zero
       trade qty or a negative timestamp are dropped; so are unpaired snapshot markers
       (``dropped_markers``); a snapshot left open at the end is closed (``closed_snapshots``).
    3. ``uncrossed``: a level update outside a snapshot that crosses or locks the book is trusted (it is
       the newer information) and the opposite levels it crosses are deleted by inserting explicit
       qty-0 level rows with the same timestamps just before it (one row per removed level).
    """
    repairs: dict[str, int] = {}
    n = len(ev)
    if n:
        dec = ev.ts_local[1:] < np.maximum.accumulate(ev.ts_local)[:-1]
        if dec.any():
            repairs["resorted"] = int(dec.sum())
            ev = ev.take(np.argsort(ev.ts_local, kind="stable"))
        bad = np.zeros(len(ev), dtype=bool)
        for _name, mask in _bad_value_masks(ev.kind, ev.side, ev.price, ev.qty, ev.ts_exch, ev.ts_local):
            bad |= mask
        if bad.any():
            repairs["dropped_invalid"] = int(bad.sum())
            ev = ev.take(np.flatnonzero(~bad))
        ev = _repair_exch(ev, repairs)
        ev = _repair_book(ev, repairs)
    ev.repairs = {k: v for k, v in repairs.items() if v}
    return ev


def _repair_exch(ev: EventArrays, repairs: dict[str, int]) -> EventArrays:
    te = ev.ts_exch.copy()
    fixed = 0
    for idx, _s in _symbol_groups(ev):
        col = te if idx is None else te[idx]
        run = np.maximum.accumulate(col)
        fixed += int((run != col).sum())
        if idx is None:
            te = run
        else:
            te[idx] = run
    if fixed:
        repairs["ts_exch_clamped"] = fixed
        ev.ts_exch = te
    return ev


def _repair_book(ev: EventArrays, repairs: dict[str, int]) -> EventArrays:
    n = len(ev)
    keep = np.ones(n, dtype=bool)
    ins_at: list[int] = []
    ins_src: list[int] = []  # row whose timestamps and symbol the inserted delete copies
    ins_side: list[int] = []
    ins_price: list[int] = []
    kinds, sides, prices, qtys, sids = (
        ev.kind.tolist(), ev.side.tolist(), ev.price.tolist(), ev.qty.tolist(), ev.symbol_id.tolist()
    )
    books: dict[int, _Book] = {}
    dropped_markers = 0
    for i in range(n):
        k = kinds[i]
        if k == KIND_TRADE:
            continue
        b = books.get(sids[i])
        if b is None:
            b = books[sids[i]] = _Book()
        if k == KIND_SNAPSHOT_START:
            if b.in_snap:
                keep[i] = False
                dropped_markers += 1
                continue
            b.bids.clear()
            b.asks.clear()
            b.in_snap = True
            continue
        if k == KIND_SNAPSHOT_END:
            if not b.in_snap:
                keep[i] = False
                dropped_markers += 1
                continue
            b.in_snap = False
            # a crossed snapshot: keep the newest side? We cannot tell; remove the crossed asks (documented)
            if b.bids and b.asks:
                bb = max(b.bids)
                for ap in sorted(p for p in b.asks if p <= bb):
                    del b.asks[ap]
                    ins_at.append(i + 1)
                    ins_src.append(i)
                    ins_side.append(SIDE_ASK)
                    ins_price.append(ap)
            continue
        p, q = prices[i], qtys[i]
        own, other = (b.bids, b.asks) if sides[i] == SIDE_BID else (b.asks, b.bids)
        if q:
            own[p] = q
        else:
            own.pop(p, None)
        if q and not b.in_snap and other:
            crossed = [x for x in other if (x <= p if sides[i] == SIDE_BID else x >= p)]
            for x in sorted(crossed):
                del other[x]
                ins_at.append(i)
                ins_src.append(i)
                ins_side.append(SIDE_ASK if sides[i] == SIDE_BID else SIDE_BID)
                ins_price.append(x)
    if dropped_markers:
        repairs["dropped_markers"] = dropped_markers
    # snapshots still open at the end: uncross them like a snapshot end would, then close them
    tail: list[tuple[int, int, int, int]] = []  # (kind, side, price, symbol id)
    closed = 0
    for sym, b in books.items():
        if not b.in_snap:
            continue
        closed += 1
        if b.bids and b.asks:
            bb = max(b.bids)
            for ap in sorted(p for p in b.asks if p <= bb):
                tail.append((KIND_LEVEL, SIDE_ASK, ap, sym))
        tail.append((KIND_SNAPSHOT_END, 0, 0, sym))
    uncrossed = len(ins_at) + sum(1 for t in tail if t[0] == KIND_LEVEL)
    if not keep.all() or ins_at or tail:
        at = np.asarray(ins_at, np.int64)
        src = np.asarray(ins_src, np.int64)
        cols: dict[str, np.ndarray] = {}
        for name in ("ts_exch", "ts_local", "kind", "side", "price", "qty", "symbol_id"):
            a = getattr(ev, name)
            vals = a[src]
            if name == "kind":
                vals = np.full(at.size, KIND_LEVEL, np.int8)
            elif name == "side":
                vals = np.asarray(ins_side, np.int8)
            elif name == "price":
                vals = np.asarray(ins_price, np.int64)
            elif name == "qty":
                vals = np.zeros(at.size, np.int64)
            merged = np.insert(a, at, vals) if at.size else a
            kept = np.insert(keep, at, True) if at.size else keep
            cols[name] = merged[kept]
        if tail:
            t_sid = np.asarray([t[3] for t in tail], np.int32)
            # timestamps: the latest of the file (local) and of the symbol (exchange), so order holds
            te_last = {s: int(cols["ts_exch"][cols["symbol_id"] == s].max()) for s in set(t_sid.tolist())}
            extra = {
                "ts_exch": np.asarray([te_last[s] for s in t_sid.tolist()], np.int64),
                "ts_local": np.full(len(tail), int(cols["ts_local"].max()), np.int64),
                "kind": np.asarray([t[0] for t in tail], np.int8),
                "side": np.asarray([t[1] for t in tail], np.int8),
                "price": np.asarray([t[2] for t in tail], np.int64),
                "qty": np.zeros(len(tail), np.int64),
                "symbol_id": t_sid,
            }
            cols = {k: np.concatenate([v, extra[k]]) for k, v in cols.items()}
        ev = _from_ints([cols[c] for c in _INT_COLUMNS], cols["symbol_id"], list(ev.symbols),
                        dict(ev.metadata))
        if uncrossed:
            repairs["uncrossed"] = uncrossed
        if closed:
            repairs["closed_snapshots"] = closed
    return ev


# ---------------------------------------------------------------- writing


class EventWriter:
    """Streaming writer, Parquet or CSV (``.csv`` / ``.csv.gz``) by suffix.

    Rows are validated as they are flushed (``validate=True``: the checks of :class:`Validator`,
    crossed books included); a bad row raises :class:`DataError` naming the output file and row, and
    the partial file is removed. Parquet files written with validation carry ``hft.validated = "1"``
    so that :func:`load_events` can skip the per-row book check on load. The data goes to a hidden
    ``.<name>.partial-<pid>`` file next to ``path`` that is renamed to ``path`` by :meth:`close`: a
    crash never leaves a half-written file under the final name.
    """

    def __init__(
        self,
        path: str | Path,
        metadata: dict[str, str] | None = None,
        chunk_rows: int = 262_144,
        *,
        validate: bool = True,
    ) -> None:
        self.path = Path(path)
        self.fmt = file_format(self.path)
        self.metadata = dict(metadata or make_metadata("unknown"))
        self.metadata.setdefault("hft.format_version", FORMAT_VERSION)
        if validate:
            self.metadata[META_VALIDATED] = "1"
        else:
            self.metadata.pop(META_VALIDATED, None)
        self._chunk = chunk_rows
        self._validator = Validator(self.path) if validate else None
        self._buf: list[list[int]] = [[] for _ in _INT_COLUMNS]
        self._sym: list[str] = []
        self._symbols: list[str] = []
        self._index: dict[str, int] = {}
        self.rows = 0
        self._pq: pq.ParquetWriter | None = None
        self._csv: Any = None
        self._schema = SCHEMA.with_metadata({k.encode(): v.encode() for k, v in self.metadata.items()})
        self._tmp = self.path.with_name(f".{self.path.name}.partial-{os.getpid()}")
        if self.fmt == "csv":
            opener: Any = gzip.open if self.path.name.lower().endswith(".gz") else open
            self._csv = opener(self._tmp, "wt", newline="")
            self._csv.write(",".join(COLUMNS) + "\n")
        else:
            self._pq = pq.ParquetWriter(self._tmp, self._schema)

    def append(
        self, ts_exch: int, ts_local: int, kind: int, side: int, price: int, qty: int, symbol: str
    ) -> None:
        b = self._buf
        b[0].append(ts_exch)
        b[1].append(ts_local)
        b[2].append(kind)
        b[3].append(side)
        b[4].append(price)
        b[5].append(qty)
        self._sym.append(symbol)
        if len(self._sym) >= self._chunk:
            self.flush()

    def append_arrays(self, ev: EventArrays) -> None:
        """Append a whole :class:`EventArrays` (written in ``chunk_rows`` row groups)."""
        self.flush()
        remap = np.asarray([self._sym_id(s) for s in ev.symbols], np.int32)
        sid = remap[ev.symbol_id] if len(ev) and remap.size else ev.symbol_id.astype(np.int32)
        for a in range(0, len(ev), self._chunk):
            sl = slice(a, a + self._chunk)
            self._write(
                EventArrays(
                    ev.ts_exch[sl], ev.ts_local[sl], ev.kind[sl], ev.side[sl], ev.price[sl], ev.qty[sl],
                    sid[sl], self._symbols,
                )
            )

    def _sym_id(self, name: str) -> int:
        k = self._index.get(name)
        if k is None:
            if not name or any(c in name for c in ',"\r\n'):
                self.abort()
                raise DataError(self.path, f"symbol {name!r} is empty or contains a comma, quote or newline")
            k = self._index[name] = len(self._symbols)
            self._symbols.append(name)
        return k

    def flush(self) -> None:
        if not self._sym:
            return
        cols = [np.asarray(c, dtype=_DTYPES[n]) for c, n in zip(self._buf, _INT_COLUMNS, strict=True)]
        sid = np.asarray([self._sym_id(s) for s in self._sym], np.int32)
        self._buf = [[] for _ in _INT_COLUMNS]
        self._sym = []
        self._write(_from_ints(cols, sid, self._symbols))

    def _write(self, ev: EventArrays) -> None:
        n = len(ev)
        if n == 0:
            return
        if self._validator is not None:
            try:
                self._validator.feed(ev)
            except DataError:
                self.abort()
                raise
        self.rows += n
        if self._pq is not None:
            cols = [ev.ts_exch, ev.ts_local, ev.kind, ev.side, ev.price, ev.qty]
            arrays: list[pa.Array] = [pa.array(c, type=SCHEMA.field(i).type) for i, c in enumerate(cols)]
            arrays.append(pa.DictionaryArray.from_arrays(pa.array(ev.symbol_id, pa.int32()),
                                                         pa.array(self._symbols, pa.string())))
            self._pq.write_table(pa.Table.from_arrays(arrays, schema=self._schema))
        else:
            syms = np.asarray(self._symbols, dtype=object)[ev.symbol_id]
            lists = [c.tolist() for c in (ev.ts_exch, ev.ts_local, ev.kind, ev.side, ev.price, ev.qty)]
            self._csv.writelines(
                f"{a},{b},{c},{d},{e},{f},{g}\n" for a, b, c, d, e, f, g in zip(*lists, syms, strict=True)
            )

    def _close_files(self) -> bool:
        """Close the open writer, if any; True when there was one (the temporary file holds the data)."""
        opened = self._pq is not None or self._csv is not None
        if self._pq is not None:
            self._pq.close()
            self._pq = None
        if self._csv is not None:
            self._csv.close()
            self._csv = None
        return opened

    def abort(self) -> None:
        """Close and delete the partial file."""
        self._close_files()
        self._tmp.unlink(missing_ok=True)

    def close(self) -> None:
        try:
            self.flush()
            if self._validator is not None:
                self._validator.finish()
        except DataError:
            self.abort()
            raise
        if self._close_files():
            os.replace(self._tmp, self.path)

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()


def write_events(
    path: str | Path, ev: EventArrays, metadata: dict[str, str] | None = None, *, validate: bool = True
) -> int:
    """Write a whole :class:`EventArrays`; returns rows written (DataError, no file, if invalid)."""
    md = metadata if metadata is not None else (ev.metadata or None)
    with EventWriter(path, md, validate=validate) as w:
        w.append_arrays(ev)
    return w.rows


# ---------------------------------------------------------------- reading


def read_metadata(path: str | Path) -> dict[str, str]:
    """The ``hft.*`` metadata of a Parquet file ({} for CSV)."""
    p = Path(path)
    if not p.exists():
        raise DataError(p, "no such file")
    if file_format(p) == "csv":
        return {}
    try:
        md = pq.read_schema(p).metadata or {}
    except (pa.ArrowException, OSError) as e:
        raise DataError(p, f"not a readable Parquet file (truncated or corrupt?): {e}") from e
    return {k.decode(): v.decode() for k, v in md.items() if k.startswith(b"hft.")}


def _check_parquet_schema(p: Path, schema: pa.Schema) -> None:
    names = set(schema.names)
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise DataError(p, f"missing column(s): {', '.join(missing)} (has {', '.join(schema.names)})")
    for c in _INT_COLUMNS:
        t = schema.field(c).type
        if not pa.types.is_integer(t):
            raise DataError(p, f"column {c!r} has type {t}, expected an integer type")
    t = schema.field("symbol").type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        raise DataError(p, f"column 'symbol' has type {schema.field('symbol').type}, expected string")


class _SymbolTable:
    def __init__(self) -> None:
        self.symbols: list[str] = []
        self.index: dict[str, int] = {}

    def ids(self, p: Path, col: pa.Array | pa.ChunkedArray, row0: int, csv_lines: bool = False) -> np.ndarray:
        chunks = col.chunks if isinstance(col, pa.ChunkedArray) else [col]
        out: list[np.ndarray] = []
        r = row0
        for s in chunks:
            if not isinstance(s, pa.DictionaryArray):
                s = s.dictionary_encode()
            if s.null_count:
                bad = int(np.flatnonzero(s.is_null().to_numpy(zero_copy_only=False))[0])
                raise _row_error(p, "null symbol", r + bad, csv_lines)
            local = s.dictionary.to_pylist()
            remap = np.empty(len(local), np.int32)
            for j, name in enumerate(local):
                k = self.index.get(name)
                if k is None:
                    if not name:
                        bad = int(np.flatnonzero(s.indices.to_numpy(zero_copy_only=False) == j)[0])
                        raise _row_error(p, "empty symbol", r + bad, csv_lines)
                    k = self.index[name] = len(self.symbols)
                    self.symbols.append(name)
                remap[j] = k
            idx = s.indices.to_numpy(zero_copy_only=False)
            out.append(remap[idx] if len(idx) else np.zeros(0, np.int32))
            r += len(s)
        return out[0] if len(out) == 1 else np.concatenate(out) if out else np.zeros(0, np.int32)


def _from_ints(cols: Sequence[np.ndarray], symbol_id: np.ndarray, symbols: list[str],
               metadata: dict[str, str] | None = None) -> EventArrays:
    """EventArrays from the six integer columns in file order (``_INT_COLUMNS``), as readers build them."""
    ts_exch, ts_local, kind, side, price, qty = cols
    return EventArrays(ts_exch, ts_local, kind, side, price, qty, symbol_id, symbols,
                       {} if metadata is None else metadata)


def _row_error(p: Path, problem: str, row: int, csv_lines: bool) -> DataError:
    return DataError(p, problem, row=row, line=row + 2 if csv_lines else None)


def _int_column(
    p: Path, name: str, col: pa.ChunkedArray | pa.Array, row0: int, csv_lines: bool = False
) -> np.ndarray:
    if col.null_count:
        bad = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
        raise _row_error(p, f"null in column {name!r}", row0 + bad, csv_lines)
    arr = col.to_numpy()
    want = _DTYPES[name]
    if arr.dtype != want:
        cast = arr.astype(want)
        if not np.array_equal(cast, arr):
            bad = int(np.flatnonzero(cast != arr)[0])
            raise _row_error(p, f"column {name!r} value {arr[bad]} out of range for {np.dtype(want).name}",
                             row0 + bad, csv_lines)
        arr = cast
    out: np.ndarray = arr
    return out


def _open_parquet(p: Path) -> pq.ParquetFile:
    try:
        f = pq.ParquetFile(p)
        _check_parquet_schema(p, f.schema_arrow)
        if not pa.types.is_dictionary(f.schema_arrow.field("symbol").type):
            f = pq.ParquetFile(p, read_dictionary=["symbol"])
    except (pa.ArrowException, OSError) as e:
        raise DataError(p, f"not a readable Parquet file (truncated or corrupt?): {e}") from e
    return f


def _parquet_md(f: pq.ParquetFile) -> dict[str, str]:
    md = f.schema_arrow.metadata or {}
    return {k.decode(): v.decode() for k, v in md.items() if k.startswith(b"hft.")}


def _read_group(p: Path, f: pq.ParquetFile, g: int, row0: int) -> pa.Table:
    try:
        return f.read_row_group(g, columns=list(COLUMNS), use_threads=True)
    except (pa.ArrowException, OSError) as e:
        raise DataError(p, f"read failed in row group {g} (truncated or corrupt?): {e}", row=row0) from e


def _iter_parquet(p: Path, chunk_rows: int) -> Iterator[EventArrays]:
    f = _open_parquet(p)
    md = _parquet_md(f)
    syms = _SymbolTable()
    row0 = 0
    for g in range(f.num_row_groups):
        t = _read_group(p, f, g, row0)
        for a in range(0, t.num_rows, chunk_rows):
            sl = t.slice(a, chunk_rows)
            cols = [_int_column(p, c, sl.column(c), row0) for c in _INT_COLUMNS]
            sid = syms.ids(p, sl.column("symbol"), row0)
            yield _from_ints(cols, sid, list(syms.symbols), dict(md))
            row0 += sl.num_rows


def _load_parquet(p: Path) -> EventArrays:
    """Whole file into preallocated arrays, one row group at a time (peak = result + one row group)."""
    f = _open_parquet(p)
    n = f.metadata.num_rows
    out = EventArrays.empty(n)
    out.metadata = _parquet_md(f)
    syms = _SymbolTable()
    row0 = 0
    for g in range(f.num_row_groups):
        t = _read_group(p, f, g, row0)
        m = t.num_rows
        for c in _INT_COLUMNS:
            getattr(out, c)[row0 : row0 + m] = _int_column(p, c, t.column(c), row0)
        out.symbol_id[row0 : row0 + m] = syms.ids(p, t.column("symbol"), row0)
        del t
        row0 += m
    if row0 != n:
        raise DataError(p, f"footer says {n} rows, row groups hold {row0} (corrupt?)", row=row0)
    out.symbols = syms.symbols
    return out


_CSV_TYPES = {c: pa.int64() for c in _INT_COLUMNS} | {"symbol": pa.dictionary(pa.int32(), pa.string())}


def _check_csv_tail(p: Path) -> None:
    """A CSV that does not end with a newline was cut mid-line (our writer always ends lines)."""
    if p.name.lower().endswith(".gz"):
        return  # gzip has its own end-of-stream check (EOFError on truncation)
    with open(p, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        if size == 0:
            raise DataError(p, "empty file (no header line)", line=1)
        fh.seek(size - 1)
        if fh.read(1) != b"\n":
            with open(p, "rb") as fh2:
                nlines = sum(1 for _ in fh2)
            raise DataError(p, "last line does not end with a newline (truncated file?)", line=nlines)


def _iter_csv(p: Path, chunk_rows: int) -> Iterator[EventArrays]:
    _check_csv_tail(p)
    opener: Any = gzip.open if p.name.lower().endswith(".gz") else open
    try:
        with opener(p, "rb") as raw:
            header = raw.readline().decode("utf-8", "replace").strip()
    except (OSError, EOFError) as e:
        raise DataError(p, f"read failed (truncated or corrupt?): {e}", line=1) from e
    names = [h.strip() for h in header.split(",")] if header else []
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise DataError(p, f"missing column(s): {', '.join(missing)} (header: {header[:120]!r})", line=1)
    syms = _SymbolTable()
    row0 = 0
    try:
        reader = pacsv.open_csv(
            pa.input_stream(str(p), compression="detect"),
            read_options=pacsv.ReadOptions(block_size=max(1 << 20, chunk_rows * 40)),
            parse_options=pacsv.ParseOptions(newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(
                column_types=_CSV_TYPES, include_columns=list(COLUMNS), strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        for batch in reader:
            for a in range(0, batch.num_rows, chunk_rows):
                sl = batch.slice(a, chunk_rows)
                cols = [_int_column(p, c, sl.column(c), row0, True) for c in _INT_COLUMNS]
                sid = syms.ids(p, sl.column("symbol"), row0, True)
                yield _from_ints(cols, sid, list(syms.symbols))
                row0 += sl.num_rows
    except (pa.ArrowException, EOFError, OSError) as e:
        _csv_locate_error(p, e)
    if row0 == 0:
        yield EventArrays.empty()


def _csv_locate_error(p: Path, err: Exception) -> None:
    """Cold path after the fast reader failed: find the first bad line with the csv module and raise."""
    opener: Any = gzip.open if p.name.lower().endswith(".gz") else open
    line = 1  # the line being read when the file ends early: every line before it was read whole
    try:
        with opener(p, "rt", newline="") as fh:
            reader = csv.reader(fh)
            header = [h.strip() for h in next(reader)]
            pos = [header.index(c) for c in COLUMNS]
            width = len(header)
            line = 2
            for line, rec in enumerate(reader, start=2):
                if len(rec) != width:
                    raise DataError(p, f"expected {width} fields, got {len(rec)} (truncated line?)",
                                    row=line - 2, line=line)
                for j, c in enumerate(_INT_COLUMNS):
                    v = rec[pos[j]]
                    try:
                        x = int(v)
                    except ValueError:
                        raise DataError(p, f"column {c!r}: {v!r} is not an integer", row=line - 2,
                                        line=line) from None
                    if not -(1 << 63) <= x < (1 << 63):
                        raise DataError(p, f"column {c!r}: {v!r} out of range for int64", row=line - 2,
                                        line=line)
                if not rec[pos[6]]:
                    raise DataError(p, "empty symbol", row=line - 2, line=line)
                line += 1  # this one was whole: a read failure from here on is in the next
    except (EOFError, OSError, gzip.BadGzipFile) as e:
        raise DataError(p, f"read failed (truncated or corrupt?): {e}", line=line) from e
    raise DataError(p, f"unreadable CSV: {err}")


def iter_event_chunks(path: str | Path, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[EventArrays]:
    """Stream a file in chunks of at most ``chunk_rows`` rows (bounded memory, ~38 bytes/row).

    Symbol ids are stable across chunks; each chunk's ``symbols`` lists every symbol seen so far.
    No validation here: feed the chunks to a :class:`Validator` (as ``hft data validate`` does).
    """
    p = Path(path)
    if not p.exists():
        raise DataError(p, "no such file")
    if file_format(p) == "csv":
        yield from _iter_csv(p, chunk_rows)
    else:
        yield from _iter_parquet(p, chunk_rows)


def load_events(
    path: str | Path,
    *,
    validate: bool = True,
    check_book: bool | None = None,
    repair: bool = False,
) -> EventArrays:
    """Read a whole event file into numpy columns (Parquet: ~38 bytes/row, no Python loop per row).

    ``validate`` raises :class:`DataError` at the first bad row (see :class:`Validator`).
    ``check_book`` (the per-row crossed-book replay): ``None`` = only when the file does not carry
    ``hft.validated = "1"`` (set by :class:`EventWriter`, which checked the book while writing).
    ``repair=True`` instead applies :func:`repair_events` and reports counts in ``repairs``.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(p, "no such file")
    if file_format(p) == "csv":
        chunks = list(_iter_csv(p, DEFAULT_CHUNK_ROWS))
        if len(chunks) == 1:
            ev = chunks[0]
        else:
            ev = _from_ints([np.concatenate([getattr(c, n) for c in chunks]) for n in _INT_COLUMNS],
                            np.concatenate([c.symbol_id for c in chunks]), list(chunks[-1].symbols))
        del chunks
    else:
        ev = _load_parquet(p)
    if repair:
        return repair_events(ev)
    if validate:
        if check_book is None:
            check_book = ev.metadata.get(META_VALIDATED) != "1"
        validate_events(ev, p, check_book=check_book, csv_lines=file_format(p) == "csv", metadata=ev.metadata)
    return ev
