"""Market data from IBKR's TWS API (IB Gateway or TWS): ``[market_data] source = "tws"``.

One :class:`TwsMarketData` holds one API connection (``ib_async.IB``, client id ``tws.client_id``) and,
per instrument, one depth subscription (``reqMktDepth``, exchange ``tws.exchange``, ``tws.depth_rows``
rows, not SMART by default) and one tick-by-tick AllLast subscription for trades.

Rows: IBKR sends one row per message (operation 0 insert / 1 update / 2 delete at a position, side 0 ask /
1 bid, no venue timestamp). They are taken raw from ib_async's decoder (the wrapper's
``updateMktDepth``/``updateMktDepthL2`` callbacks, as IBKR's EWrapper defines them) and folded with list
semantics by :class:`hft.venues.tws.depth.DepthBook`: ib_async's own ``Ticker.domBids``/``domAsks``
overwrite on insert and leave gaps on delete, which is not IBKR's model. The level changes go to the
engine once per *received batch* (what one socket read decoded: ib_async's ``updateEvent`` after each
read), then ``on_message_end(recv_ns)``; ``recv_ns`` is the wall clock at the batch's first row (IBKR
rows carry no venue time). After a (re)subscription or a reset the first flush is a
:class:`~hft.engine.gateway.BookSnapshot` (it clears the engine book's stale flag).

Trades: tick-by-tick ``AllLast`` (IBKR: times in whole seconds, so the trade's time is our receive time).

Errors and notices (IBKR's message codes):

======  ==================================================  ===========================================
code    meaning                                             here
======  ==================================================  ===========================================
317     market depth reset                                  rows cleared; stale "reset" until the rebuilt
                                                            rows' flush (a snapshot)
316     market depth halted, re-subscribe                   stale "halted" and a resubscription
309     depth subscription limit reached                    stale "rejected", no retry (a config problem)
200     no security definition                              stale "rejected", no retry
1100    TWS lost its connection to IBKR                     every book stale "connection lost"
1101    restored, data lost                                 every book resubscribed
1102    restored, data kept                                 every book resubscribed (rows may be missing)
2103    market data farm connection lost                    every book stale "farm lost"
2104    market data farm connection OK                      stale books resubscribed
======  ==================================================  ===========================================

A snapshot is an unsubscribe plus a resubscribe (``cancelMktDepth`` + ``reqMktDepth`` with a new request
id; rows of the old id arriving afterwards are dropped). At most one (re)subscription per instrument per
``tws.resubscribe_min_s`` (default 15 s: IBKR allows one tick-by-tick request per instrument per 15 s);
a request inside that window waits for its end. ib_async throttles requests to 45/s (IBKR: 50 messages/s).

Silence: no row for ``market_data.stale_after_ms`` while the instrument is in continuous trading (ASX
timetable, Sydney time, weekdays) makes its book stale ("timeout") and resubscribes; outside continuous
trading a quiet book is normal and nothing happens. A lost connection makes every book stale
("disconnect"); :meth:`run` reconnects with exponential backoff (``tws.reconnect_min_s`` doubling up to
``tws.reconnect_max_s``) and resubscribes.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hft.asx.phases import Phase, Schedule
from hft.engine.config import Config, TwsConfig
from hft.engine.gateway import BookSnapshot, LevelUpdate, MarketSink, StaleNotice
from hft.model.types import Side, Trade
from hft.venues.tws.contracts import ContractError, ContractSpec, resolve_contracts
from hft.venues.tws.depth import DepthBook, price_units

log = logging.getLogger(__name__)
_SYDNEY = ZoneInfo("Australia/Sydney")


def _noop_sink(_: object) -> None:
    return None


def asx_phase_now(instrument: str, now_ns: int, schedule: Schedule = Schedule()) -> Phase:
    """The ASX phase of ``instrument`` at wall time ``now_ns`` (Sydney; weekends closed; no holidays)."""
    t = _dt.datetime.fromtimestamp(now_ns / 1e9, _SYDNEY)
    if t.weekday() >= 5:
        return Phase.CLOSED
    tod = ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000_000
    return schedule.phase_at(instrument, tod)


class _Inst:
    __slots__ = ("book", "depth_req", "last_row_ns", "last_sub", "pending", "rejected", "spec", "stale",
                 "symbol", "tbt_req", "want_snapshot")

    def __init__(self, symbol: str, rows: int) -> None:
        self.symbol = symbol
        self.book = DepthBook(symbol, rows)
        self.spec: ContractSpec | None = None
        self.depth_req = -1
        self.tbt_req = -1
        self.last_sub = -1e18  # monotonic seconds of the last (re)subscription
        self.pending = ""  # a resubscription waiting for the rate limit: its reason
        self.stale = True
        self.want_snapshot = True
        self.rejected = ""
        self.last_row_ns = 0


class TwsMarketData:
    """:class:`~hft.engine.gateway.MarketDataSource` over the TWS API; see the module doc."""

    def __init__(self, tws: TwsConfig, *, stale_after_ms: int = 5000, cache_path: str | Path | None = None,
                 clock: Callable[[], int] = time.time_ns, mono: Callable[[], float] = time.monotonic,
                 phase: Callable[[str, int], Phase] = asx_phase_now, ib: Any = None) -> None:
        from ib_async import IB  # the optional extra hft[ibkr]: imported only when configured

        self.tws = tws
        self.stale_after_ns = stale_after_ms * 1_000_000
        self.cache_path = Path(cache_path if cache_path is not None else tws.contracts_cache)
        self.clock = clock
        self.mono = mono
        self.phase = phase
        self.ib = ib if ib is not None else IB()
        self._sink: MarketSink = _noop_sink
        self.level_sink: Callable[[str, int, int, int, int], None] | None = None
        self.on_message_end: Callable[[int], None] | None = None
        self.insts: dict[str, _Inst] = {}
        self._by_req: dict[int, _Inst] = {}  # depth request id -> instrument
        self._by_tbt: dict[int, _Inst] = {}
        self._dirty: list[_Inst] = []
        self._batch_ns = 0
        self._closing = False
        self._connected = False
        self._lost = asyncio.Event()
        self.backoff_s = tws.reconnect_min_s
        self.counters: dict[str, int] = {
            "rows": 0, "batches": 0, "trades": 0, "bad_rows": 0, "bad_prices": 0, "bad_sizes": 0,
            "dropped_rows": 0, "subscriptions": 0, "resubscriptions": 0, "resets": 0, "stale": 0,
            "timeouts": 0, "connects": 0, "disconnects": 0, "errors": 0, "rate_limited": 0}
        self.stale_log: list[tuple[str, str]] = []  # (instrument, reason) of every StaleNotice sent
        self.sub_log: list[tuple[str, float]] = []  # (instrument, monotonic s) of every depth request
        w: Any = self.ib.wrapper
        # IBKR's EWrapper callbacks, taken over on ib_async's wrapper (its decoder looks them up by name
        # for every message): the raw rows, in order, with no per-row ib_async processing
        w.updateMktDepth = self._on_depth
        w.updateMktDepthL2 = self._on_depth_l2
        w.tickByTickAllLast = self._on_last
        self.ib.errorEvent += self._on_error
        self.ib.updateEvent += self._flush  # after every socket read's messages: one batch
        self.ib.disconnectedEvent += self._on_disconnected

    @classmethod
    def from_config(cls, config: Config, **kwargs: Any) -> TwsMarketData:
        return cls(config.tws, stale_after_ms=config.market_data.stale_after_ms, **kwargs)

    # ------------------------------------------------------------------------- MarketDataSource
    def set_sink(self, sink: MarketSink) -> None:
        self._sink = sink

    def subscribe(self, instruments: Iterable[str]) -> None:
        for sym in instruments:
            st = self.insts.get(sym)
            if st is None:
                st = self.insts[sym] = _Inst(sym, self.tws.depth_rows)
            if self._connected and st.spec is not None:
                self._resubscribe(st, "subscribe")

    def unsubscribe(self, instruments: Iterable[str]) -> None:
        for sym in instruments:
            st = self.insts.pop(sym, None)
            if st is not None:
                self._cancel(st)

    def is_stale(self, instrument: str) -> bool:
        st = self.insts.get(instrument)
        return st is None or st.stale

    def request_snapshot(self, instrument: str, reason: str = "inconsistent") -> None:
        """A snapshot: unsubscribe + resubscribe (rate-limited). The engine calls this when its book
        went inconsistent (it has marked the book stale itself)."""
        st = self.insts.get(instrument)
        if st is not None:
            st.stale = True
            st.want_snapshot = True
            self._resubscribe(st, reason)

    # ------------------------------------------------------------------------------ connection
    async def connect(self) -> None:
        """Connect once (raises on failure), resolve the contracts, subscribe everything."""
        from ib_async.ib import StartupFetch

        tc = self.tws
        await self.ib.connectAsync(tc.host, tc.port, clientId=tc.client_id, timeout=tc.connect_timeout_s,
                                   readonly=True, fetchFields=StartupFetch(0))
        self._connected = True
        self._lost.clear()
        self.counters["connects"] += 1
        specs = await resolve_contracts(self.ib, list(self.insts), tc, self.cache_path)
        for sym, st in self.insts.items():
            st.spec = specs[sym]
            st.depth_req = st.tbt_req = -1  # the old ids died with the old connection
            self._resubscribe(st, "connect")

    async def run(self) -> None:
        """Connect, and reconnect with backoff whenever the connection is lost, until :meth:`close`."""
        while not self._closing:
            if not self._connected:
                try:
                    await self.connect()
                    self.backoff_s = self.tws.reconnect_min_s
                except ContractError as e:  # not a connection problem: retrying cannot help
                    log.error("TWS API: %s", e)
                    for st in self.insts.values():
                        st.rejected = str(e)
                    self._notice("", f"rejected: {e}")
                    self.close()
                    return
                except (TimeoutError, OSError, ConnectionError) as e:
                    self._connected = False
                    log.warning("TWS API %s:%d: %s; retrying in %.1fs", self.tws.host, self.tws.port,
                                e or type(e).__name__, self.backoff_s)
                    await asyncio.sleep(self.backoff_s)
                    self.backoff_s = min(self.backoff_s * 2, self.tws.reconnect_max_s)
                    continue
            await self._lost.wait()

    def close(self) -> None:
        self._closing = True
        self._lost.set()
        if self.ib.isConnected():
            for st in self.insts.values():
                self._cancel(st)
            self.ib.disconnect()

    def _on_disconnected(self) -> None:
        was = self._connected
        self._connected = False
        self._by_req.clear()
        self._by_tbt.clear()
        if was:
            self.counters["disconnects"] += 1
            for st in self.insts.values():
                st.depth_req = st.tbt_req = -1
                st.stale = True
            self._notice("", "disconnect")
        self._lost.set()

    # ----------------------------------------------------------------------------- subscriptions
    def _cancel(self, st: _Inst) -> None:
        c = self.ib.client
        if st.depth_req >= 0:
            self._by_req.pop(st.depth_req, None)
            if c.isConnected():
                c.cancelMktDepth(st.depth_req, self.tws.smart_depth)
            st.depth_req = -1
        if st.tbt_req >= 0:
            self._by_tbt.pop(st.tbt_req, None)
            if c.isConnected():
                c.cancelTickByTickData(st.tbt_req)
            st.tbt_req = -1

    def _resubscribe(self, st: _Inst, reason: str) -> None:
        """Unsubscribe + subscribe now, or when the rate limit allows (:meth:`on_timer`)."""
        if st.rejected or st.spec is None:
            return
        now = self.mono()
        if now - st.last_sub < self.tws.resubscribe_min_s or not self._connected:
            if not st.pending:
                self.counters["rate_limited"] += 1
            st.pending = reason
            return
        st.pending = ""
        st.last_sub = now
        if not st.stale:  # between the unsubscribe and the new rows the book is unknown
            self._go_stale(st, reason)
        self.sub_log.append((st.symbol, now))
        c = self.ib.client
        contract = st.spec.contract()
        if st.depth_req >= 0:
            self.counters["resubscriptions"] += 1
            self._by_req.pop(st.depth_req, None)
            c.cancelMktDepth(st.depth_req, self.tws.smart_depth)
        self.counters["subscriptions"] += 1
        st.book.reset()
        st.want_snapshot = True
        st.depth_req = c.getReqId()
        self._by_req[st.depth_req] = st
        c.reqMktDepth(st.depth_req, contract, self.tws.depth_rows, self.tws.smart_depth, [])
        if self.tws.trades and st.tbt_req < 0:  # trades keep their subscription across depth snapshots
            st.tbt_req = c.getReqId()
            self._by_tbt[st.tbt_req] = st
            c.reqTickByTickData(st.tbt_req, contract, "AllLast", 0, False)
        st.last_row_ns = self.clock()

    def on_timer(self, now_ns: int = 0) -> None:
        """From the host's timer: pending (rate-limited) resubscriptions, and silence in continuous
        trading."""
        if not self._connected:
            return
        now = now_ns or self.clock()
        for st in self.insts.values():
            if st.pending:
                self._resubscribe(st, st.pending)
            elif (self.stale_after_ns and st.depth_req >= 0 and st.last_row_ns
                  and now - st.last_row_ns > self.stale_after_ns
                  and self.phase(st.symbol, now) == Phase.CONTINUOUS):
                self.counters["timeouts"] += 1
                st.last_row_ns = now  # once per period
                self._go_stale(st, "timeout")
                self._resubscribe(st, "timeout")

    check_resend = on_timer  # the name the host's timer calls on a FIX market data source

    # --------------------------------------------------------------------------------- staleness
    def _notice(self, sym: str, reason: str) -> None:
        self.counters["stale"] += 1
        self.stale_log.append((sym, reason))
        self._sink(StaleNotice(sym, reason, self.clock()))

    def _go_stale(self, st: _Inst, reason: str) -> None:
        st.stale = True
        st.want_snapshot = True
        self._notice(st.symbol, reason)

    def _on_error(self, req_id: int, code: int, text: str, contract: Any = None) -> None:
        self.counters["errors"] += 1
        st = self._by_req.get(req_id)
        if st is None:
            st = self._by_tbt.get(req_id)
        if code == 317:
            if st is not None and req_id == st.depth_req:
                self.counters["resets"] += 1
                st.book.reset()
                self._go_stale(st, "reset")
                if st not in self._dirty:
                    self._dirty.append(st)
        elif code == 316:
            if st is not None:
                if not st.stale:
                    self._go_stale(st, "halted")
                self._resubscribe(st, "halted")
        elif code in (309, 200, 354, 10090, 10167):
            if st is not None:
                log.error("TWS API: %s refused (%d: %s)", st.symbol, code, text)
                st.rejected = f"{code}: {text}"
                self._go_stale(st, f"rejected: {text}")
        elif code in (1100, 2103):
            for s in self.insts.values():
                s.stale = True
                s.want_snapshot = True
            self._notice("", "connection lost" if code == 1100 else "farm lost")
        elif code in (1101, 1102):
            for s in self.insts.values():
                if code == 1101 and not s.stale:  # data lost: stale now, even while the resubscription waits
                    self._go_stale(s, "restored")
                self._resubscribe(s, "restored")
        elif code == 2104:
            for s in self.insts.values():
                if s.stale:
                    self._resubscribe(s, "farm ok")

    # ----------------------------------------------------------------------------------- the rows
    def _on_depth(self, req_id: int, position: int, operation: int, side: int, price: float,
                  size: float) -> None:
        st = self._by_req.get(req_id)
        if st is None:  # a cancelled subscription's late rows
            self.counters["dropped_rows"] += 1
            return
        if not self._batch_ns:
            self._batch_ns = self.clock()
        b = st.book
        bad = b.bad_prices + b.bad_sizes
        if not b.apply(position, operation, side, price, size):
            log.warning("TWS depth %s: row (pos %d op %d side %d) does not apply to %d/%d rows: resubscribe",
                        st.symbol, position, operation, side, len(b.bid_px), len(b.ask_px))
            self._go_stale(st, "inconsistent")
            self._resubscribe(st, "inconsistent")
            return
        if b.bad_prices + b.bad_sizes != bad and b.bad_prices + b.bad_sizes <= 20:  # the first 20 logged
            log.warning("TWS depth %s: row price %r / size %r is not an exact ASX price / whole shares "
                        "(kept rounded; counted in bad_prices / bad_sizes)", st.symbol, price, size)
        if st not in self._dirty:
            self._dirty.append(st)

    def _on_depth_l2(self, req_id: int, position: int, market_maker: str, operation: int, side: int,
                     price: float, size: float, is_smart_depth: bool = False) -> None:
        self._on_depth(req_id, position, operation, side, price, size)

    def _on_last(self, req_id: int, tick_type: int, t: int, price: float, size: float, attrib: Any,
                 exchange: str, special: str) -> None:
        st = self._by_tbt.get(req_id)
        if st is None:
            return
        u = price_units(price)
        q = int(size)
        if u <= 0 or q <= 0:
            return
        self.counters["trades"] += 1
        # tick-by-tick times are whole seconds: the receive time is the finer stamp
        self._sink(Trade(st.symbol, u, q, self._batch_ns or self.clock()))

    def _flush(self) -> None:
        """End of one received batch: every changed book to the engine, then one message end."""
        dirty = self._dirty
        if not dirty:
            self._batch_ns = 0
            return
        ts = self._batch_ns or self.clock()
        self._batch_ns = 0
        c = self.counters
        c["batches"] += 1
        level = self.level_sink
        for st in dirty:
            b = st.book
            st.last_row_ns = ts
            if st.want_snapshot:
                st.want_snapshot = False
                st.stale = False
                bids, asks = b.snapshot()
                self._sink(BookSnapshot(st.symbol, bids, asks, ts))
            else:
                b.flush(level if level is not None else self._level_event, ts)
        dirty.clear()
        cb = self.on_message_end
        if cb is not None:
            cb(ts)

    def _level_event(self, sym: str, side: int, price: int, qty: int, ts: int) -> None:
        self._sink(LevelUpdate(sym, Side(side), price, qty, ts))

    def stats(self) -> dict[str, int]:
        """Counters, with the depth books' own (rows applied, bad rows/prices/sizes) summed."""
        out = dict(self.counters)
        for st in self.insts.values():
            out["rows"] += st.book.rows_applied
            out["bad_rows"] += st.book.bad_rows
            out["bad_prices"] += st.book.bad_prices
            out["bad_sizes"] += st.book.bad_sizes
        return out
