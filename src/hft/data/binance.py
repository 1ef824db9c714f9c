"""Binance USD-M futures capture (depth diffs + REST snapshot + trades) -> canonical L2 events.

Input: text (optionally gzip), one message per line, ``<local receive time, epoch ns> <JSON>``, as in
the hftbacktest example capture: combined-stream messages ``{"stream": ..., "data": {...}}`` for
``<sym>@depth@0ms`` (``depthUpdate`` with ``U``/``u``/``pu`` update ids), ``<sym>@trade`` and
``<sym>@bookTicker`` (ignored, counted), and a REST depth snapshot line ``{"lastUpdateId": ...,
"bids": [...], "asks": [...]}``.

The book is synchronised the way Binance documents for USD-M futures: depth events are buffered until
the snapshot; events with ``u < lastUpdateId`` are dropped; the first applied event must have
``U <= lastUpdateId <= u``; after that every event's ``pu`` must equal the previous event's ``u``. A
broken chain is a :class:`DataError` naming the line (``on_gap="resync"``: drop depth events until the
next snapshot line, counted). Buffered events applied at the snapshot get the snapshot line's receive
time as ``ts_local`` (that is when the book became known).

Units: prices and quantities are decimal strings. Prices are stored in ``price_scale`` units (10,000 per
USDT by default, like ASX prices); quantities in ``qty_scale`` units (1,000 per BTC by default: the
contract's 0.001 step), recorded as ``hft.qty_scale``. A value with more decimals than the scale allows
is an error naming the line. Within one depth event, deletions are written before other level rows so
that the book never looks crossed between the rows of one event; a deletion of a level that is not in
the book ("can happen and is normal", says Binance) writes no row (``noop_deletes``).

Times: ``ts_local`` = the line's receive time; ``ts_exch`` = the event's transaction time ``T`` (ms),
raised to the previous value when a stream's ``T`` is older than one already written (trades and depth
come on different streams; counted in ``ts_exch_clamped``). Trades: ``m`` (buyer is the maker) true
means the seller was the aggressor (side 2); only ``X == "MARKET"`` prints are kept.
"""

from __future__ import annotations

import gzip
import json
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


@dataclass(slots=True)
class BinanceResult:
    events: EventArrays
    stats: dict[str, int] = field(default_factory=dict)
    depth_rows: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    """One ``(u, rows written so far)`` pair per applied depth event: the book after update id ``u``."""


def _units(path: Path, line: int, v: str, scale: int, what: str) -> int:
    ip, _, fp = v.partition(".")
    digits = len(str(scale)) - 1
    fp = fp.rstrip("0")
    if not ip.isdigit() or (fp and not fp.isdigit()) or len(fp) > digits:
        raise DataError(path, f"{what} {v!r} is not a decimal with at most {digits} decimals", line=line)
    return int(ip) * scale + (int(fp.ljust(digits, "0")) if fp else 0)


class _Conv:
    def __init__(self, path: Path, price_scale: int, qty_scale: int, on_gap: str) -> None:
        self.path = path
        self.ps = price_scale
        self.qs = qty_scale
        self.on_gap = on_gap
        self.cols: list[list[int]] = [[] for _ in range(6)]
        self.lines: list[int] = []
        self.last_te = -1
        self.buffer: list[tuple[int, int, dict[str, Any]]] = []  # (line, ts_local, depthUpdate)
        self.synced = False
        self.snapshot_id = -1
        self.prev_u = -1
        self.depth_rows: list[tuple[int, int]] = []
        self.book: tuple[dict[int, int], dict[int, int]] = ({}, {})
        self.symbol = ""
        keys = ("lines", "depth_updates", "depth_applied", "depth_dropped_before_snapshot",
                "depth_dropped_stale", "snapshots", "trades", "trades_not_market", "book_tickers",
                "levels", "noop_deletes", "gaps", "ts_exch_clamped", "other")
        self.stats = dict.fromkeys(keys, 0)

    def emit(self, te: int, tl: int, kind: int, side: int, price: int, qty: int, line: int) -> None:
        if te < self.last_te:
            self.stats["ts_exch_clamped"] += 1
            te = self.last_te
        self.last_te = te
        c = self.cols
        c[0].append(te)
        c[1].append(tl)
        c[2].append(kind)
        c[3].append(side)
        c[4].append(price)
        c[5].append(qty)
        self.lines.append(line)

    def _sym(self, line: int, s: str | None) -> None:
        if not s:
            return
        if not self.symbol:
            self.symbol = s
        elif s != self.symbol:
            raise DataError(self.path, f"symbol {s!r} after {self.symbol!r}: one symbol per capture",
                            line=line)

    def levels(self, line: int, tl: int, te: int, d: dict[str, Any]) -> None:
        rows: list[tuple[int, int, int]] = []
        for side, key in ((1, "b"), (2, "a")):
            for p, q in d.get(key) or ():
                rows.append((side, _units(self.path, line, p, self.ps, "price"),
                             _units(self.path, line, q, self.qs, "quantity")))
        rows.sort(key=lambda r: r[2] != 0)  # deletions first (stable: wire order otherwise)
        for side, px, qty in rows:
            lv = self.book[side - 1]
            if qty:
                lv[px] = qty
            elif lv.pop(px, None) is None:  # "can happen and is normal" (Binance): no row
                self.stats["noop_deletes"] += 1
                continue
            self.emit(te, tl, KIND_LEVEL, side, px, qty, line)
            self.stats["levels"] += 1

    def apply_depth(self, line: int, tl: int, d: dict[str, Any]) -> None:
        U, u, pu = int(d["U"]), int(d["u"]), int(d.get("pu", -1))
        if self.prev_u < 0:  # first event after the snapshot
            if u < self.snapshot_id:
                self.stats["depth_dropped_before_snapshot"] += 1
                return
            if not U <= self.snapshot_id <= u:
                self._gap(line, f"first depth event after the snapshot has U={U} u={u}, "
                                f"snapshot lastUpdateId={self.snapshot_id} (need U <= id <= u)")
                return
        elif pu != self.prev_u:
            self._gap(line, f"depth event pu={pu} does not follow the previous u={self.prev_u}")
            return
        self.levels(line, tl, int(d["T"]) * 1_000_000, d)
        self.prev_u = u
        self.stats["depth_applied"] += 1
        self.depth_rows.append((u, len(self.lines)))

    def _gap(self, line: int, problem: str) -> None:
        self.stats["gaps"] += 1
        if self.on_gap != "resync":
            raise DataError(self.path, problem, line=line)
        self.synced = False
        self.buffer.clear()

    def snapshot(self, line: int, tl: int, d: dict[str, Any]) -> None:
        self.stats["snapshots"] += 1
        self.snapshot_id = int(d["lastUpdateId"])
        te = int(d.get("T") or d.get("E") or 0) * 1_000_000 or tl
        self.emit(te, tl, KIND_SNAPSHOT_START, 0, 0, 0, line)
        self.book = ({}, {})
        for side, key in ((1, "bids"), (2, "asks")):
            for p, q in d.get(key) or ():
                qty = _units(self.path, line, q, self.qs, "quantity")
                if qty:
                    px = _units(self.path, line, p, self.ps, "price")
                    self.book[side - 1][px] = qty
                    self.emit(te, tl, KIND_LEVEL, side, px, qty, line)
                    self.stats["levels"] += 1
        self.emit(te, tl, KIND_SNAPSHOT_END, 0, 0, 0, line)
        self.synced = True
        self.prev_u = -1
        buffered, self.buffer = self.buffer, []
        for bline, _btl, bd in buffered:
            if self.synced:
                self.apply_depth(bline, tl, bd)

    def message(self, line: int, tl: int, obj: dict[str, Any]) -> None:
        if "lastUpdateId" in obj:
            self.snapshot(line, tl, obj)
            return
        d = obj.get("data", obj)
        e = d.get("e")
        if e == "depthUpdate":
            self._sym(line, d.get("s"))
            self.stats["depth_updates"] += 1
            if self.synced:
                self.apply_depth(line, tl, d)
            elif self.snapshot_id < 0:
                self.buffer.append((line, tl, d))
            else:
                self.stats["depth_dropped_stale"] += 1
        elif e == "trade":
            self._sym(line, d.get("s"))
            if d.get("X", "MARKET") != "MARKET":
                self.stats["trades_not_market"] += 1
                return
            side = 2 if d.get("m") else 1
            px = _units(self.path, line, d["p"], self.ps, "price")
            qty = _units(self.path, line, d["q"], self.qs, "quantity")
            self.emit(int(d["T"]) * 1_000_000, tl, KIND_TRADE, side, px, qty, line)
            self.stats["trades"] += 1
        elif e == "bookTicker":
            self.stats["book_tickers"] += 1
        else:
            self.stats["other"] += 1


def convert_binance(
    path: str | Path,
    *,
    price_scale: int = 10_000,
    qty_scale: int = 1_000,
    on_gap: str = "error",
    validate: bool = True,
) -> BinanceResult:
    """Convert a Binance USD-M futures capture (see the module doc) to canonical events."""
    if on_gap not in ("error", "resync"):
        raise ValueError(f"on_gap must be 'error' or 'resync', got {on_gap!r}")
    for name, s in (("price_scale", price_scale), ("qty_scale", qty_scale)):
        if s < 1 or str(s).rstrip("0") != "1":
            raise ValueError(f"{name} must be a power of ten, got {s}")
    p = Path(path)
    conv = _Conv(p, price_scale, qty_scale, on_gap)
    opener: Any = gzip.open if p.name.lower().endswith(".gz") else open
    try:
        with opener(p, "rt", encoding="utf-8") as fh:
            for line_no, raw in enumerate(fh, start=1):
                raw = raw.strip()
                if not raw:
                    continue
                conv.stats["lines"] += 1
                ts_s, _, js = raw.partition(" ")
                if not ts_s.isdigit():
                    raise DataError(p, f"line does not start with a receive time in ns: {raw[:40]!r}",
                                    line=line_no)
                try:
                    obj = json.loads(js)
                except json.JSONDecodeError as e:
                    raise DataError(p, f"bad JSON ({e.msg} at column {e.colno}; truncated?)",
                                    line=line_no) from None
                try:
                    conv.message(line_no, int(ts_s), obj)
                except (KeyError, TypeError, ValueError) as e:
                    if isinstance(e, DataError):
                        raise
                    raise DataError(p, f"unexpected message layout ({type(e).__name__}: {e})",
                                    line=line_no) from None
    except (OSError, EOFError) as e:
        raise DataError(p, f"read failed (truncated or corrupt?): {e}") from e
    if conv.snapshot_id < 0 and conv.stats["depth_updates"]:
        raise DataError(p, "no depth snapshot line (lastUpdateId): the book cannot be built")
    symbol = conv.symbol or "UNKNOWN"
    c = conv.cols
    ev = EventArrays.from_columns(
        c[0], c[1], c[2], c[3], c[4], c[5], symbol,
        make_metadata("binance-usdm", price_scale, {"kind": "fixed", "tick": price_scale // 10},
                      qty_scale=str(qty_scale), symbol=symbol, timezone="UTC"),
    )
    if validate:
        validate_events(ev, p, lines=np.asarray(conv.lines, np.int64))
    stats = dict(conv.stats)
    stats["events"] = len(ev)
    return BinanceResult(ev, stats, np.asarray(conv.depth_rows, np.int64).reshape(-1, 2))
