"""Drive the simulator's books from a recorded L2 event file (canonical format of :mod:`hft.data`).

:class:`ReplayDriver` has the interface of :class:`~hft.sim.flow.BackgroundFlow` (``seed_book``,
``advance``, ``next_event_ns``) so the server can use either. Rules, per row of the file:

* **level** (kind 1): the *background* quantity resting at (symbol, side, price) is brought to the
  recorded quantity: a missing amount is posted as one new limit order (at the back of the queue), an
  excess is removed from the newest background orders first (a partial excess by a quantity-down
  replace, which keeps that order's time priority). Client orders are never touched, so a client's
  quantity adds to the recorded one: with no client orders at a price, the engine's aggregate level
  equals the recorded one exactly.
* **snapshot** (kinds 3..4): the levels between the markers are collected; at the end marker every
  background level of the symbol missing from the snapshot is emptied, then the snapshot levels are
  applied (removals before additions).
* **trade** (kind 2) is *reproduced* when the next row is a level update of the same symbol at the same
  ``ts_local`` and price on the passive side (opposite to the aggressor): an IOC order of the
  aggressor's side for the trade quantity limited at the trade price is sent from the taker account.
  It executes against the queue in time priority, so a client order ahead of the background quantity
  is filled first, as on the venue; the following level row then resets the background quantity.
  Other trades (aggressor unknown, hidden executions, off-book prints, or outside continuous trading)
  are *noted*: counted in ``stats["trades_noted"]`` and not printed.

Time: row ``ts_local`` ``f`` is due at ``t0 + (f - f0) / speed`` engine ns, ``t0`` being the first
``seed_book``/``advance`` time and ``f0`` the first row's time; ``speed=None`` replays as fast as
possible (every row is due at once; each ``advance`` handles at most ``batch_rows`` rows so the caller
stays responsive).

Policy for bad input: a file that cannot be opened or whose first chunk cannot be read raises
:class:`~hft.data.format.DataError` (file, line) at construction. After that the driver never raises on
file content; it skips and reports:

* bad rows (kind, side, price, quantity out of range, e.g. a negative quantity) are skipped and counted in
  ``stats["bad_rows"]``; rows of a symbol the engine does not list in ``stats["unknown_symbol"]``;
* a row whose ``ts_local`` is earlier than an earlier row's (unsorted file) is applied with the previous
  row's time and counted in ``stats["unsorted"]``;
* a file that becomes unreadable part way (corrupt line, cut file) ends the replay there:
  ``stats["read_errors"]``;
* orders the engine rejects (off the ASX tick table, lot rules, closed) are counted in
  ``stats["rejected"]``.

Each problem is described in ``errors`` with its data row number (0-based, as in
:class:`~hft.data.format.DataError`; CSV line = row + 2) and logged as a warning on the ``hft.sim.replay``
logger (the first 20; the rest are counted only). At the end of the file :meth:`summary` is logged
(``hft sim`` also prints it at exit and writes ``stats``/``errors`` to ``--stats-json``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping
from pathlib import Path

from hft.asx.phases import Phase
from hft.data.format import (
    KIND_LEVEL,
    KIND_SNAPSHOT_END,
    KIND_SNAPSHOT_START,
    KIND_TRADE,
    DataError,
    EventArrays,
    iter_event_chunks,
    read_metadata,
)
from hft.model.types import OrdType, Side, TimeInForce
from hft.sim.flow import NEVER
from hft.sim.matching import Event, ExecEvent, ExecType, MatchingEngine, SimOrder

_SIDES = (None, Side.BUY, Side.SELL)
_MAX_ERRORS = 20
log = logging.getLogger("hft.sim.replay")


class ReplayDriver:
    """Replays ``path`` into ``engine`` (see module docs). ``symbol_map`` maps file symbols to engine
    instruments (default: same name)."""

    def __init__(self, engine: MatchingEngine, path: str | Path, speed: float | None = None, *,
                 session: str = "RP", symbol_map: Mapping[str, str] | None = None, batch_rows: int = 10_000,
                 chunk_rows: int = 65_536, start_ns: int | None = None) -> None:
        if speed is not None and (isinstance(speed, bool) or not math.isfinite(speed) or speed <= 0):
            raise ValueError(f"speed must be None (as fast as possible) or a number > 0, got {speed!r}")
        if batch_rows < 1:
            raise ValueError("batch_rows must be >= 1")
        self.engine = engine
        self.path = Path(path)
        self.speed = speed
        self.session = session
        self.maker_account = f"{session}-M"
        self.taker_account = f"{session}-T"
        self.batch_rows = batch_rows
        self._map = dict(symbol_map or {})
        md = read_metadata(self.path)  # DataError for a missing or unreadable file
        scale = md.get("hft.price_scale", "10000")
        if scale != "10000":
            raise DataError(self.path, f"hft.price_scale is {scale}, the simulator needs 10000 (price units)")
        self._chunks: Iterator[EventArrays] = iter_event_chunks(self.path, chunk_rows)
        # current window of rows as python lists
        self._ts: list[int] = []
        self._kind: list[int] = []
        self._side: list[int] = []
        self._price: list[int] = []
        self._qty: list[int] = []
        self._sid: list[int] = []
        self._i = 0
        self._row0 = 0  # file row number of window index 0
        self._eof = False
        self._names: list[str | None] = []  # symbol id -> engine instrument (None = unknown)
        self._file_symbols: list[str] = []
        self.errors: list[str] = []
        self.stats = dict.fromkeys(
            ("rows", "levels", "snapshots", "trades_reproduced", "trades_noted", "posted", "cancelled",
             "reduced", "rejected", "bad_rows", "unknown_symbol", "unsorted", "read_errors"), 0)
        self._dropped_errors = 0
        self._reported = False
        self._load(first=True)  # first chunk now: a corrupt file fails at construction (DataError)
        self._f0 = self._ts[0] if self._ts else 0
        self._t0 = 0
        self._started = False
        self._last_now = 0
        self._last_f = self._f0
        self._snap: dict[str, dict[tuple[int, int], int]] = {}
        self._next_id = 1
        if start_ns is not None:
            self._start(start_ns)

    # ------------------------------------------------------------------ file window
    def _load(self, first: bool = False) -> bool:
        """Append the next chunk to the window (dropping consumed rows). False at end of file. A file
        that cannot be read at all (``first``) raises its :class:`DataError`."""
        if self._eof:
            return False
        try:
            ch = next(self._chunks)
        except StopIteration:
            self._eof = True
            return False
        except DataError as e:  # unreadable tail: stop replay there, remember why
            if first:
                raise
            self._eof = True
            self.stats["read_errors"] += 1
            self._error(f"{e}; replay stopped there")
            return False
        i = self._i
        if i:
            self._row0 += i
            self._ts = self._ts[i:]
            self._kind = self._kind[i:]
            self._side = self._side[i:]
            self._price = self._price[i:]
            self._qty = self._qty[i:]
            self._sid = self._sid[i:]
            self._i = 0
        self._ts += ch.ts_local.tolist()
        self._kind += ch.kind.tolist()
        self._side += ch.side.tolist()
        self._price += ch.price.tolist()
        self._qty += ch.qty.tolist()
        self._sid += ch.symbol_id.tolist()
        for name in ch.symbols[len(self._names):]:
            self._file_symbols.append(name)
            inst = self._map.get(name, name)
            self._names.append(inst if inst in self.engine.books else None)
        return True

    def _has(self, k: int) -> bool:
        """True when row ``_i + k`` exists (loads chunks as needed)."""
        while self._i + k >= len(self._ts):
            if not self._load():
                return False
        return True

    def _error(self, msg: str) -> None:
        """Record and log one problem (cold path: bad input only)."""
        if len(self.errors) < _MAX_ERRORS:
            self.errors.append(msg)
            log.warning("replay: %s", msg)
            if len(self.errors) == _MAX_ERRORS:
                log.warning("replay: %d problems listed; further ones are only counted in the stats",
                            _MAX_ERRORS)
        else:
            self._dropped_errors += 1

    @property
    def problems(self) -> int:
        """Rows skipped or altered because of the file's content, plus read errors (not engine rejects)."""
        st = self.stats
        return st["bad_rows"] + st["unknown_symbol"] + st["unsorted"] + st["read_errors"]

    def summary(self) -> str:
        """One line: rows replayed and every problem count."""
        st = self.stats
        return (f"replay {self.path}: {st['rows']} rows{' (end of file)' if self._reported else ''}, "
                f"{st['trades_reproduced']} trades reproduced, {st['trades_noted']} noted; "
                f"bad rows {st['bad_rows']}, unsorted {st['unsorted']}, "
                f"unknown symbol {st['unknown_symbol']}, read errors {st['read_errors']}, "
                f"engine rejects {st['rejected']}")

    def _finish(self) -> None:
        """Log the summary once when the whole file has been applied."""
        self._reported = True
        if self.problems or self.stats["rejected"]:
            log.warning("%s", self.summary())
        else:
            log.info("%s", self.summary())

    # ------------------------------------------------------------------ time
    def _start(self, now: int) -> None:
        self._started = True
        self._t0 = now
        self._last_now = now

    def _due(self, f: int) -> int:
        if self.speed is None:
            return self._t0
        return self._t0 + int((f - self._f0) / self.speed)

    def next_event_ns(self) -> int:
        """Engine time the next row is due; 0 before the first call, ``NEVER`` when the file is done."""
        if not self._started:
            return 0
        if not self._has(0):
            if not self._reported:
                self._finish()
            return NEVER
        if self.speed is None:
            return self._last_now
        return self._due(max(self._ts[self._i], self._last_f))

    @property
    def done(self) -> bool:
        return not self._has(0)

    # ------------------------------------------------------------------ public API
    def seed_book(self, now_ns: int) -> list[Event]:
        """Start the replay clock at ``now_ns`` and apply every row at the file's first timestamp
        (normally the initial snapshot)."""
        if not self._started:
            self._start(now_ns)
        out: list[Event] = []
        while self._has(0) and self._ts[self._i] <= self._f0:
            self._row(out)
        if self._eof and not self._reported and self._i >= len(self._ts):
            self._finish()
        return out

    def advance(self, now_ns: int) -> list[Event]:
        """Apply the rows due up to ``now_ns`` (at most ``batch_rows``), returning the engine events."""
        if not self._started:
            self._start(now_ns)
        if now_ns > self._last_now:
            self._last_now = now_ns
        out: list[Event] = []
        n = self.batch_rows
        if self.speed is None:
            while n and self._has(0):
                self._row(out)
                n -= 1
        else:
            while n and self._has(0):
                f = self._ts[self._i]
                if f < self._last_f:  # unsorted row: treat as simultaneous with the previous one
                    f = self._last_f
                if self._due(f) > now_ns:
                    break
                self._row(out)
                n -= 1
        if self._eof and not self._reported and self._i >= len(self._ts):
            self._finish()
        return out

    # ------------------------------------------------------------------ rows
    def _row(self, out: list[Event]) -> None:
        i = self._i
        self._i = i + 1
        st = self.stats
        st["rows"] += 1
        f = self._ts[i]
        if f > self._last_f:
            self._last_f = f
        elif f < self._last_f:
            st["unsorted"] += 1
            self._error(f"{self.path} row {self._row0 + i}: ts_local {f} is earlier than a previous row's "
                        f"{self._last_f} (unsorted file); applied with the previous time")
        kind = self._kind[i]
        sid = self._sid[i]
        sym = self._names[sid]
        if sym is None:
            st["unknown_symbol"] += 1
            if st["unknown_symbol"] == 1:
                self._error(f"{self.path} row {self._row0 + i}: symbol {self._file_symbols[sid]!r} is not an "
                            f"engine instrument (rows of unknown symbols are skipped)")
            return
        side = self._side[i]
        price = self._price[i]
        qty = self._qty[i]
        if kind == KIND_LEVEL:
            if (side != 1 and side != 2) or price <= 0 or qty < 0:
                self._bad(i, "level row with invalid side/price/qty")
                return
            st["levels"] += 1
            snap = self._snap.get(sym)
            if snap is not None:
                snap[(side, price)] = qty
            else:
                self._set_level(sym, side, price, qty, out)
        elif kind == KIND_TRADE:
            if side < 0 or side > 2 or price <= 0 or qty <= 0:
                self._bad(i, "trade row with invalid side/price/qty")
                return
            self._trade(i, sym, side, price, qty, out)
        elif kind == KIND_SNAPSHOT_START:
            self._snap[sym] = {}
        elif kind == KIND_SNAPSHOT_END:
            snap = self._snap.pop(sym, None)
            if snap is None:
                self._bad(i, "snapshot end without a start")
                return
            self._apply_snapshot(sym, snap, out)
        else:
            self._bad(i, f"invalid kind {kind}")

    def _bad(self, i: int, what: str) -> None:
        self.stats["bad_rows"] += 1
        self._error(f"{self.path} row {self._row0 + i}: {what} (kind={self._kind[i]} side={self._side[i]} "
                    f"price={self._price[i]} qty={self._qty[i]}); skipped")

    def _clid(self) -> str:
        n = self._next_id
        self._next_id = n + 1
        return f"{self.session}{n}"

    def _bg_orders(self, sym: str, side: Side, price: int) -> list[SimOrder]:
        s = self.session
        return [o for o in self.engine.orders_at(sym, side, price) if o.session == s]

    def _set_level(self, sym: str, side_code: int, price: int, qty: int, out: list[Event]) -> None:
        side = _SIDES[side_code]
        assert side is not None
        mine = self._bg_orders(sym, side, price)
        have = 0
        for o in mine:
            have += o.order_qty - o.cum_qty
        if qty > have:
            res = self.engine.submit(self.session, self.maker_account, sym, self._clid(), side, qty - have,
                                     price, OrdType.LIMIT, TimeInForce.DAY)
            e = res[0]
            if isinstance(e, ExecEvent) and e.exec_type is ExecType.REJECTED:
                self.stats["rejected"] += 1
                if self.stats["rejected"] == 1:
                    self._error(f"{self.path}: order {side.name} {qty - have}@{price} {sym} rejected: "
                                f"{e.text}")
            else:
                self.stats["posted"] += 1
            out += res
            return
        excess = have - qty
        eng = self.engine
        for o in reversed(mine):
            if excess <= 0:
                break
            leaves = o.order_qty - o.cum_qty
            if leaves <= excess:
                out += eng.cancel(o.session, self._clid(), o.cl_ord_id)
                self.stats["cancelled"] += 1
                excess -= leaves
            else:
                out += eng.replace(o.session, self._clid(), o.cl_ord_id, o.order_qty - excess, o.price)
                self.stats["reduced"] += 1
                excess = 0

    def _apply_snapshot(self, sym: str, snap: dict[tuple[int, int], int], out: list[Event]) -> None:
        self.stats["snapshots"] += 1
        bids, asks = self.engine.snapshot(sym, depth=1 << 30)
        present = [(1, p) for p, _, _ in bids] + [(2, p) for p, _, _ in asks]
        for key in present:
            if key not in snap:
                self._set_level(sym, key[0], key[1], 0, out)
        adds: list[tuple[int, int, int]] = []
        for (code, price), q in snap.items():
            side = _SIDES[code]
            assert side is not None
            have = sum(o.order_qty - o.cum_qty for o in self._bg_orders(sym, side, price))
            if q < have:
                self._set_level(sym, code, price, q, out)
            elif q > have:
                adds.append((code, price, q))
        for code, price, q in adds:
            self._set_level(sym, code, price, q, out)

    def _trade(self, i: int, sym: str, aggressor: int, price: int, qty: int, out: list[Event]) -> None:
        ts = self._ts[i]
        sid = self._sid[i]
        passive = 3 - aggressor if aggressor else 0
        ok = aggressor != 0 and self.engine.books[sym].phase is Phase.CONTINUOUS and self._has(0)
        if ok:  # _has may have moved the window: index by self._i only from here
            j = self._i
            ok = (self._kind[j] == KIND_LEVEL and self._ts[j] == ts and self._price[j] == price
                  and self._side[j] == passive and self._sid[j] == sid)
        if not ok:
            self.stats["trades_noted"] += 1
            return
        side = _SIDES[aggressor]
        assert side is not None
        self.stats["trades_reproduced"] += 1
        out += self.engine.submit(self.session, self.taker_account, sym, self._clid(), side, qty, price,
                                  OrdType.LIMIT, TimeInForce.IOC)
