"""Record the simulator's market data (engine events) into the canonical L2 event format.

:class:`FeedRecorder` turns :class:`~hft.sim.matching.LevelEvent` (kind 1, side 1 bid / 2 ask, new
aggregate qty, 0 = level gone) and :class:`~hft.sim.matching.TradeEvent` (kind 2, side = aggressor
1 buy / 2 sell, 0 for auction prints) into rows of :class:`hft.data.format.EventWriter`; execution
reports and cancel rejects are not market data and are skipped. :meth:`FeedRecorder.snapshot` writes
the engine's full book between snapshot start/end markers (kinds 3/4), so a file can start from (or
resynchronise to) a known book.

:func:`generate_day` runs a :class:`~hft.sim.matching.MatchingEngine` with
:class:`~hft.sim.flow.BackgroundFlow` on a fast-forward clock and records a synthetic trading day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hft.asx.phases import Phase
from hft.data.format import (
    KIND_LEVEL,
    KIND_SNAPSHOT_END,
    KIND_SNAPSHOT_START,
    KIND_TRADE,
    EventWriter,
    make_metadata,
)
from hft.sim.clock import ManualClock
from hft.sim.flow import NEVER, NS_PER_S, BackgroundFlow, FlowConfig, default_flow_configs
from hft.sim.matching import Event, LevelEvent, MatchingEngine, TradeEvent

DEFAULT_DAY = "2026-01-05"
"""Date of :func:`generate_day` when no ``start_ns`` is given (a Monday); the day starts at 10:00 Sydney."""


def sydney_open_ns(date: str = DEFAULT_DAY, hour: int = 10) -> int:
    """UTC epoch ns of ``hour``:00 Australia/Sydney local time on ``date`` (YYYY-MM-DD)."""
    from zoneinfo import ZoneInfo

    d = dt.date.fromisoformat(date)
    local = dt.datetime(d.year, d.month, d.day, hour, tzinfo=ZoneInfo("Australia/Sydney"))
    return int(local.timestamp()) * NS_PER_S


class FeedRecorder:
    """Write engine market data events with timestamps to a canonical event file (Parquet or CSV).

    ``record(ts_ns, events)`` appends one row per ``LevelEvent``/``TradeEvent`` with ``ts_local =
    ts_exch = ts_ns`` (or ``ts_exch_ns`` when given). Timestamps must not go backwards (``ValueError``).
    Rows are validated by the writer (a crossed book outside a snapshot raises ``DataError`` and
    removes the partial file), so record continuous-trading books, or snapshot after an auction.
    """

    def __init__(self, path: str | Path, *, source: str = "hft-sim", validate: bool = True,
                 metadata: dict[str, str] | None = None) -> None:
        md = make_metadata(source, 10_000, {"kind": "asx"})
        for k, v in (metadata or {}).items():
            md[k if k.startswith("hft.") else f"hft.{k}"] = str(v)
        self.path = Path(path)
        self._w = EventWriter(self.path, md, validate=validate)
        self._last = -1
        self.stats = {"rows": 0, "levels": 0, "trades": 0, "snapshots": 0, "skipped": 0}

    def _check_ts(self, ts: int) -> None:
        if ts < self._last:
            raise ValueError(f"{self.path}: timestamp {ts} is before the previous one {self._last}")
        self._last = ts

    def record(self, ts_ns: int, events: Iterable[Event], ts_exch_ns: int | None = None) -> int:
        """Append the market data in ``events``; returns the number of rows written."""
        self._check_ts(ts_ns)
        te = ts_ns if ts_exch_ns is None else ts_exch_ns
        app = self._w.append
        n = 0
        st = self.stats
        for e in events:
            if isinstance(e, LevelEvent):
                app(te, ts_ns, KIND_LEVEL, int(e.side), e.price, e.qty, e.instrument)
                st["levels"] += 1
                n += 1
            elif isinstance(e, TradeEvent):
                app(te, ts_ns, KIND_TRADE, int(e.aggressor) if e.aggressor is not None else 0, e.price, e.qty,
                    e.instrument)
                st["trades"] += 1
                n += 1
            else:
                st["skipped"] += 1
        st["rows"] += n
        return n

    def snapshot(self, ts_ns: int, engine: MatchingEngine, instruments: Iterable[str] | None = None) -> int:
        """Write the full book of each instrument (all levels) as a snapshot; returns rows written."""
        self._check_ts(ts_ns)
        app = self._w.append
        n = 0
        for sym in instruments if instruments is not None else list(engine.books):
            bids, asks = engine.snapshot(sym, depth=1 << 30)
            app(ts_ns, ts_ns, KIND_SNAPSHOT_START, 0, 0, 0, sym)
            for p, q, _ in bids:
                app(ts_ns, ts_ns, KIND_LEVEL, 1, p, q, sym)
            for p, q, _ in asks:
                app(ts_ns, ts_ns, KIND_LEVEL, 2, p, q, sym)
            app(ts_ns, ts_ns, KIND_SNAPSHOT_END, 0, 0, 0, sym)
            n += 2 + len(bids) + len(asks)
            self.stats["snapshots"] += 1
        self.stats["rows"] += n
        return n

    def close(self) -> None:
        self._w.close()

    def abort(self) -> None:
        """Close and delete the partial file."""
        self._w.abort()

    def __enter__(self) -> FeedRecorder:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()


def generate_day(path: str | Path, seconds: float, seed: int, configs: list[FlowConfig] | None = None, *,
                 start_ns: int | None = None) -> dict[str, Any]:
    """Record ``seconds`` of background flow (continuous trading) into ``path``; deterministic in ``seed``.

    The file starts with a snapshot of the seeded books, then every level change and trade. The clock
    is a fast-forward :class:`~hft.sim.clock.ManualClock` starting at ``start_ns`` (default 10:00
    Sydney on :data:`DEFAULT_DAY`). Returns stats: rows, levels, trades, per-symbol flow counters.
    """
    if not seconds > 0:
        raise ValueError(f"seconds must be > 0, got {seconds!r}")
    cfgs = default_flow_configs() if configs is None else list(configs)
    if not cfgs:
        raise ValueError("configs is empty")
    t0 = sydney_open_ns() if start_ns is None else start_ns
    end = t0 + int(seconds * NS_PER_S)
    clock = ManualClock(t0)
    engine = MatchingEngine({c.symbol: c.ref_price for c in cfgs}, clock=clock)
    for c in cfgs:
        engine.set_phase(c.symbol, Phase.CONTINUOUS)
    flow = BackgroundFlow(engine, cfgs, seed, start_ns=t0)
    md = {"generator": "hft.sim.record.generate_day", "seed": str(seed), "seconds": str(seconds),
          "symbols": ",".join(c.symbol for c in cfgs)}
    with FeedRecorder(path, source="hft-sim-synthetic", metadata=md) as rec:
        flow.seed_book(t0)
        rec.snapshot(t0, engine)
        while True:
            t = flow.next_event_ns()
            if t > end or t == NEVER:
                break
            clock.set(t)
            rec.record(t, flow.advance(t))
        stats: dict[str, Any] = dict(rec.stats)
    stats.update(path=str(path), seed=seed, seconds=seconds, start_ns=t0, end_ns=end,
                 symbols=[c.symbol for c in cfgs], flow=flow.stats())
    return stats
