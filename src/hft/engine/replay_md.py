"""MarketDataSource that replays a recorded canonical event file (``hft.data.format``) in real time.

IBKR sends no market data over FIX, so the paper engine can take its market data from a recording
instead of the simulator's feed: ``[market_data] source = "replay"``, ``file = "day.parquet"``,
``speed = 1.0`` (x real time; 0 = as fast as possible). Rows are paced on ``ts_local`` (the receive
time at recording); rows with the same ``ts_local`` form one "message" (one strategy call per changed
book, as for a FIX 35=X). Snapshot markers (kind 3 ... 4) become one :class:`BookSnapshot`; level rows go
to ``level_sink`` (the engine's hot path) or, without one, as :class:`LevelUpdate` to the sink; trades
as :class:`~hft.model.types.Trade`. Timestamps handed on are the wall clock at delivery.

A recording cannot be asked for a snapshot: when the engine finds a book inconsistent
(:meth:`request_snapshot`), that symbol's updates are dropped until the file's next snapshot for it.
The file is read in chunks (bounded memory) with ``hft.data.format.iter_event_chunks``.

Policy for bad data: the whole file is checked before the session starts (one extra streaming pass,
bounded memory; :class:`hft.data.format.Validator` without the crossed-book replay): a truncated file,
a negative or zero-size value, an unknown kind/side, ``ts_local`` going backwards, unpaired snapshot
markers or an off-tick price refuse the start with a :class:`~hft.engine.config.ConfigError` naming the
file, line/row and problem (``hft paper`` exits 2). Nothing from a bad file is ever replayed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from hft.data.format import (
    KIND_LEVEL,
    KIND_SNAPSHOT_END,
    KIND_SNAPSHOT_START,
    KIND_TRADE,
    DataError,
    Validator,
    file_format,
    iter_event_chunks,
    read_metadata,
)
from hft.engine.config import ConfigError
from hft.engine.gateway import BookSnapshot, LevelUpdate, MarketSink, StaleNotice
from hft.model.types import Side, Trade

log = logging.getLogger(__name__)


def _noop_sink(_: object) -> None:
    return None


class ReplayMarketData:
    """See module doc. ``run()`` is the replay task (the host creates it after logon)."""

    def __init__(self, path: str | Path, speed: float = 1.0, *, chunk_rows: int = 65_536,
                 clock: Callable[[], int] = time.time_ns, validate: bool = True) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise RuntimeError(f"market_data.file: {self.path}: no such file")
        if speed < 0:
            raise ValueError(f"speed must be >= 0, got {speed}")
        self.speed = speed
        self.chunk_rows = chunk_rows
        self.clock = clock
        self._sink: MarketSink = _noop_sink
        self.level_sink: Callable[[str, int, int, int, int], None] | None = None
        self.on_message_end: Callable[[int], None] | None = None
        self.insts: dict[str, bool] = {}  # subscribed symbol -> stale (waiting for a snapshot)
        self.done = False
        self._steps: Iterator[int] | None = None  # poll(): the replay generator and when it is due next
        self._due = 0
        self.counters: dict[str, int] = {"rows": 0, "messages": 0, "snapshots": 0, "levels": 0, "trades": 0,
                                         "skipped_other_symbols": 0, "dropped_stale": 0, "late_ms": 0}
        self.rows_checked = self.check() if validate else 0

    def check(self) -> int:
        """Validate the whole file (see the module doc); returns its row count. Raises ConfigError."""
        p = self.path
        try:
            v = Validator(p, check_book=False, csv_lines=file_format(p) == "csv", metadata=read_metadata(p))
            for chunk in iter_event_chunks(p, self.chunk_rows):
                v.feed(chunk)
            v.finish()
        except DataError as e:
            raise ConfigError(f"market_data.file: {e} (refusing to replay a bad recording; see `hft data "
                              "validate` and `hft data repair`)") from None
        if v.rows == 0:
            raise ConfigError(f"market_data.file: {p}: no rows to replay")
        return v.rows

    # -- MarketDataSource -------------------------------------------------------------------------
    def set_sink(self, sink: MarketSink) -> None:
        self._sink = sink

    def subscribe(self, instruments: Iterable[str]) -> None:
        for s in instruments:
            self.insts.setdefault(s, True)  # stale until the file's first snapshot (or first level)

    def unsubscribe(self, instruments: Iterable[str]) -> None:
        for s in instruments:
            self.insts.pop(s, None)

    def request_snapshot(self, instrument: str, reason: str = "inconsistent") -> None:
        if instrument in self.insts:
            self.insts[instrument] = True
            log.warning("replay: %s inconsistent (%s); dropping its updates until the next snapshot in the "
                        "file", instrument, reason)

    # -- the replay task --------------------------------------------------------------------------
    async def run(self) -> None:
        """Replay the whole file (paced), then return (``done`` = True): the asyncio host's task."""
        try:
            for due in self.steps():
                wait = due - time.monotonic_ns()
                await asyncio.sleep(wait / 1e9 if wait > 0 else 0)  # (0: yield, the sessions must run)
        finally:
            self.done = True

    def poll(self, now_mono_ns: int) -> None:
        """The polling host's driver (``hft.engine.busyloop``): replay what is due at ``now_mono_ns``
        (``time.monotonic_ns``), then return; never blocks. At most 64 messages per call when replaying
        as fast as possible (the sessions and timers run in between)."""
        if self.done:
            return
        if self._steps is None:
            self._steps = self.steps()
        n = 0
        while self._due <= now_mono_ns and n < 64:
            n += 1
            try:
                self._due = next(self._steps)
            except StopIteration:
                self.done = True
                return

    def steps(self) -> Iterator[int]:
        """The replay as a generator: delivers rows, and yields before each new message the
        ``time.monotonic_ns`` at which it is due (the host waits until then: sleeping or polling)."""
        speed = self.speed
        level = self.level_sink
        sink = self._sink
        end = self.on_message_end
        insts = self.insts
        c = self.counters
        t0_file = -1
        t0_wall = 0
        cur_ts = -1
        snap: dict[str, tuple[list[tuple[int, int]], list[tuple[int, int]]]] = {}
        for chunk in iter_event_chunks(self.path, self.chunk_rows):
            syms = chunk.symbols
            ts_l = chunk.ts_local.tolist()
            kinds = chunk.kind.tolist()
            sides = chunk.side.tolist()
            prices = chunk.price.tolist()
            qtys = chunk.qty.tolist()
            sids = chunk.symbol_id.tolist()
            for i in range(len(ts_l)):
                ts = ts_l[i]
                if ts != cur_ts:
                    if cur_ts >= 0 and end is not None:
                        end(self.clock())
                        c["messages"] += 1
                    cur_ts = ts
                    if t0_file < 0:
                        t0_file, t0_wall = ts, time.monotonic_ns()
                    if speed > 0:
                        due = t0_wall + int((ts - t0_file) / speed)
                        wait = due - time.monotonic_ns()
                        if wait < -1_000_000:
                            c["late_ms"] = max(c["late_ms"], -wait // 1_000_000)
                        yield due
                    else:
                        yield 0  # due at once; the host still lets the sessions and the timer run
                c["rows"] += 1
                sym = syms[sids[i]]
                if sym not in insts:
                    c["skipped_other_symbols"] += 1
                    continue
                k = kinds[i]
                if k == KIND_LEVEL:
                    if sym in snap:
                        (snap[sym][0] if sides[i] == 1 else snap[sym][1]).append((prices[i], qtys[i]))
                        continue
                    if insts[sym]:
                        c["dropped_stale"] += 1
                        continue
                    c["levels"] += 1
                    if level is not None:
                        level(sym, sides[i], prices[i], qtys[i], self.clock())
                    else:
                        sink(LevelUpdate(sym, Side(sides[i]), prices[i], qtys[i], self.clock()))
                elif k == KIND_TRADE:
                    c["trades"] += 1
                    sink(Trade(sym, prices[i], qtys[i], self.clock(),
                               Side(sides[i]) if sides[i] in (1, 2) else None))
                elif k == KIND_SNAPSHOT_START:
                    snap[sym] = ([], [])
                elif k == KIND_SNAPSHOT_END and sym in snap:
                    bids, asks = snap.pop(sym)
                    bids.sort(reverse=True)
                    asks.sort()
                    insts[sym] = False
                    c["snapshots"] += 1
                    sink(BookSnapshot(sym, tuple(bids), tuple(asks), self.clock()))
        if cur_ts >= 0 and end is not None:
            end(self.clock())
            c["messages"] += 1
        log.info("replay of %s finished: %s", self.path, c)
        sink(StaleNotice("", "replay finished", self.clock()))
