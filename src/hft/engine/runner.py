"""The trading engine for paper and live: a synchronous core plus a thin asyncio host.

:class:`TradingEngine` implements :class:`~hft.engine.strategy.StrategyContext` and wires::

    market data source -> L2 books -> strategy -> risk check -> order manager -> order gateway
    execution reports -> order manager (journal first) -> positions (journal) -> strategy
    kill switch (daily loss, manual, disconnect, rejects) -> cancel everything, block new orders

Every method of the engine is a plain synchronous call; it never awaits, sleeps or touches a socket, so
any loop can drive it (the asyncio host below, or a busy-poll loop with non-blocking sockets): feed it
market events (:meth:`TradingEngine.on_market_event` + :meth:`TradingEngine.on_md_message_end`),
execution reports (through the gateway's sinks) and :meth:`TradingEngine.on_timer`. Time comes from an
injected ``now()`` (``time.time_ns`` in paper/live).

:func:`run_trading` is the asyncio host of ``hft paper`` and ``hft live``: the engine and its connections
as :func:`hft.engine.host.assemble` wires them for every host (journal and recovery, kill-switch latch,
FIX sessions or replayed market data, the optional embedded simulator, metrics, GC policy, signals),
driven by asyncio until the duration elapses or a stop is requested; then a clean shutdown (cancel open
orders, wait briefly for the answers, logout, close the journal) and the summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from mypy_extensions import mypyc_attr

from hft.book.l2 import L2Book
from hft.engine.config import Config
from hft.engine.gateway import (
    BookSnapshot,
    CancelReject,
    ExecReport,
    ExecType,
    LevelUpdate,
    MarketEvent,
    OrderGateway,
    StaleNotice,
)
from hft.engine.journal import Journal, RecoveryState
from hft.engine.orders import OrderManager
from hft.engine.positions import PositionTracker
from hft.engine.risk import ACCEPTED, RiskManager, risk_limits
from hft.engine.strategy import Strategy, StrategyContext
from hft.metrics.stats import EngineStats, SessionStats
from hft.model.types import Fill, Order, OrdStatus, OrdType, Side, TimeInForce, Trade

log = logging.getLogger(__name__)

_BUY: Final = Side.BUY
_SELL: Final = Side.SELL


def _noop() -> None:
    return None


T_KILL = "kill"  # journal record: the kill switch tripped {"reason"}
T_KILL_RESET = "kill_reset"  # journal record: an operator reset it {"operator", "was"}


def latched_kill(path: Path) -> str:
    """The reason of a kill-switch trip the journal at ``path`` holds without a later operator reset
    ("" if none): a restart after a trip starts tripped."""
    from hft.engine.journal import read_journal

    reason = ""
    records, _ = read_journal(path)
    for r in records:
        if r["t"] == T_KILL:
            reason = str(r.get("reason", "")) or "unknown"
        elif r["t"] == T_KILL_RESET:
            reason = ""
    return reason


class TradingEngine(StrategyContext):
    """The synchronous engine core (see module doc)."""

    def __init__(self, config: Config, gateway: OrderGateway, *, journal: Journal | None = None,
                 recovered: RecoveryState | None = None, now: Callable[[], int] = time.time_ns,
                 strategy: Strategy | None = None, stats: EngineStats | None = None,
                 write_clock: Callable[[], int] | None = None) -> None:
        self.config = config
        self._now = now
        self.gateway = gateway
        self.journal = journal
        self.instruments = list(config.instruments.symbols)
        self.books: dict[str, L2Book] = {s: L2Book(s, depth=20) for s in self.instruments}
        self.stats = stats if stats is not None else EngineStats()
        self.fee_model = config.fees.build()
        ec = config.engine
        self.om = OrderManager(gateway, journal, self.fee_model, max_pending_new=ec.max_pending_new,
                               max_pending_cancel=ec.max_pending_cancel,
                               max_pending_replace=ec.max_pending_replace, recovered=recovered, clock=now,
                               history=ec.order_history)
        self.om.on_order_update = self._on_order_update
        self.om.on_fill = self._on_fill
        gateway.set_sinks(self.on_exec_report, self.on_cancel_reject)
        self.recovered = recovered
        self.positions = PositionTracker(self.fee_model)
        if recovered is not None:
            for f in recovered.fills:
                self.positions.on_fill(f)
        self.risk = RiskManager(risk_limits(config), self.positions, self.om, books=self.books,
                                on_trip=self._on_trip)
        self.strategy: Strategy | None = strategy
        if write_clock is None and hasattr(gateway, "last_write_ns"):
            write_clock = lambda: gateway.last_write_ns  # noqa: E731  (the FIX gateway stamps each write)
        self._write_clock = write_clock
        self.md_request_snapshot: Callable[[str], None] | None = None
        # the venue tick id (FIX 6001) of the market data message being processed, when the gateway can
        # echo it on orders (hft.engine.fix_gateway.FixOrderGateway.echo_tick)
        self.md_tick: Callable[[], bytes] | None = None
        self._dirty: list[str] = []
        self._in_md = False
        self._md_recv_ns = 0
        self._timer_ns = 0
        self._next_timer_ns = 0
        self._retry_ns = 0
        self.venue_rejects = 0
        self.strategy_errors = 0
        self.last_risk_reason = ACCEPTED
        self._warm_order: Order | None = None  # the last order sent (warm())
        self.killed = False
        self.kill_reason = ""
        self.kill_time_ns = 0
        self.started = False
        self.stopped = False
        self.t_start_ns = 0
        self.kill_listeners: list[Callable[[str], None]] = []
        for s in self.instruments:
            self.stats.positions[s] = self.positions.position(s)
        if recovered is not None and recovered.fills:
            self._update_pnl()  # metrics show the recovered P&L at once; a recovered loss can trip

    # ---------------------------------------------------------------------------------- lifecycle
    def build_strategy(self) -> Strategy:
        from hft.strategies import make_strategy

        sc = self.config.strategy
        params = sc.params_obj if sc.params_obj is not None else (sc.params or None)
        return make_strategy(sc.name, self, self.instruments, params)

    def start(self) -> None:
        """Reconcile recovered orders, start the strategy. Call once both sessions are logged on."""
        if self.strategy is None:
            self.strategy = self.build_strategy()
        self.t_start_ns = self._now()
        self.reconcile()
        self.started = True
        try:
            self.strategy.on_start()
        except Exception as e:
            self._strategy_error("on_start", e)

    def reconcile(self) -> int:
        """Ask the venue for the status of every order the journal left open (35=H); the answers book
        missed fills and adopt terminal states. Then cancel them: the new strategy instance starts flat of
        orders (it does not know them). Returns the number of status requests sent."""
        if self.recovered is None:
            return 0
        opened = self.om.open_orders()
        n = self.om.request_status(opened) if opened else 0
        for o in opened:
            if o.is_open:
                self.om.cancel(o)
        if opened:
            log.warning("recovered %d open orders from the journal: status requested, then cancelled",
                        len(opened))
        return n

    def stop(self) -> None:
        """Strategy stops; every open order gets a cancel."""
        if self.stopped:
            return
        self.stopped = True
        if self.strategy is not None and self.started:
            try:
                self.strategy.on_stop()
            except Exception:  # a strategy bug must not prevent the cancels below
                log.exception("strategy.on_stop failed")
        self.cancel_everything()

    def cancel_everything(self) -> int:
        n = 0
        for o in self.om.open_orders():
            if o.status is not OrdStatus.PENDING_CANCEL and self.om.cancel(o):
                n += 1
                self.stats.cancels_sent += 1
        return n

    # ---------------------------------------------------------------------------------- kill switch
    def _strategy_error(self, where: str, e: Exception) -> None:
        """A strategy callback raised: it must not take a FIX session down (an exception escaping into
        the transport would close the connection). Logged with the traceback, counted, and the kill
        switch trips: a strategy in an unknown state does not keep trading."""
        self.strategy_errors += 1
        log.error("strategy.%s raised %s: %s", where, type(e).__name__, e, exc_info=e)
        if not self.killed:
            self.kill(f"strategy error in {where}: {type(e).__name__}: {e}")

    def kill(self, reason: str) -> None:
        """Trip the kill switch (manual API): cancel every open order, block new ones until reset."""
        self.risk.kill.trip(reason, self._now())

    def _on_trip(self, reason: str) -> None:
        """KillSwitch.on_trip: called once per trip, whatever the trigger."""
        self.killed = True
        self.kill_reason = reason
        self.kill_time_ns = self._now()
        self.stats.kill_switch_tripped = 1
        self.stats.kill_switch_reason = reason
        log.error("KILL SWITCH TRIPPED: %s; cancelling %d open orders", reason, len(self.om.open_orders()))
        if self.journal is not None:  # the latch survives a restart (see latched_kill)
            self.journal.append(T_KILL, {"reason": reason})
        self.cancel_everything()
        for cb in self.kill_listeners:
            cb(reason)

    def reset_kill(self, operator: str) -> None:
        """Operator reset of the kill switch (new orders allowed again)."""
        self.risk.kill.reset(operator)
        if self.journal is not None:
            self.journal.append(T_KILL_RESET, {"operator": operator, "was": self.kill_reason})
        self.killed = False
        self.kill_reason = ""
        self.stats.kill_switch_tripped = 0
        self.stats.kill_switch_reason = ""

    def on_order_session_down(self) -> None:
        """The order-entry session dropped (the host calls this)."""
        if self.started:
            self.risk.on_disconnect(self._now())

    def on_order_session_up(self) -> None:
        """Logged on again: reconcile what we think is open; if tripped, cancel it all."""
        if not self.started:
            return
        opened = self.om.open_orders()
        if opened:
            self.om.request_status(opened)
        if self.killed or self.stopped:
            self.cancel_everything()

    # ---------------------------------------------------------------------------------- market data
    def on_level(self, instrument: str, side: int, price: int, qty: int, ts_ns: int) -> None:
        """Hot path: one price level changed (absolute quantity, 0 deletes); no event object."""
        book = self.books.get(instrument)
        if book is None:
            return
        self.stats.book_updates += 1
        if not book.set_level(side, price, qty, ts_ns):
            self._book_bad(book)
        elif instrument not in self._dirty:
            self._dirty.append(instrument)

    def on_market_event(self, ev: MarketEvent) -> None:
        """Sink of the market data source."""
        if type(ev) is LevelUpdate:
            book = self.books.get(ev.instrument)
            if book is None:
                return
            self.stats.book_updates += 1
            if not book.set_level(ev.side, ev.price, ev.qty, ev.ts_ns):
                self._book_bad(book)
            elif ev.instrument not in self._dirty:
                self._dirty.append(ev.instrument)
        elif type(ev) is BookSnapshot:
            book = self.books.get(ev.instrument)
            if book is None:
                return
            self.stats.book_updates += 1
            if book.apply_snapshot(ev.bids, ev.asks, ev.ts_ns, truncated=True):
                if ev.instrument not in self._dirty:
                    self._dirty.append(ev.instrument)
            else:
                self._book_bad(book)
        elif type(ev) is Trade:
            self.risk.on_trade(ev.instrument, ev.price)
            if self.strategy is not None and self.started:
                try:
                    self.strategy.on_trade(ev)
                except Exception as e:
                    self._strategy_error("on_trade", e)
        elif type(ev) is StaleNotice:
            if not self.stopped:  # (the logout at shutdown is not a gap)
                self.stats.md_gaps += 1
            names = [ev.instrument] if ev.instrument else list(self.books)
            for name in names:
                book = self.books.get(name)
                if book is not None:
                    book.mark_stale(ev.reason)
                    if self.strategy is not None and self.started:
                        try:
                            self.strategy.on_book_stale(name)
                        except Exception as e:
                            self._strategy_error("on_book_stale", e)

    def _book_bad(self, book: L2Book) -> None:
        self.stats.md_gaps += 1
        log.warning("book %s inconsistent (%s): snapshot requested", book.instrument, book.stale_reason)
        if self.md_request_snapshot is not None:
            self.md_request_snapshot(book.instrument)
        if self.strategy is not None and self.started:
            try:
                self.strategy.on_book_stale(book.instrument)
            except Exception as e:
                self._strategy_error("on_book_stale", e)

    def on_md_message_end(self, recv_ns: int) -> None:
        """End of one market data message: mark positions, run the strategy for each changed book.
        ``recv_ns`` is when its bytes were read (tick-to-trade starts there)."""
        self.stats.md_messages += 1
        dirty = self._dirty
        if not dirty:
            return
        strat = self.strategy
        for inst in dirty:
            book = self.books[inst]
            if book.stale:
                continue
            if self.positions.position(inst):
                self._mark(inst, book)
            if strat is not None and self.started and not self.stopped:
                self._in_md = True
                self._md_recv_ns = recv_ns
                try:
                    strat.on_book(inst, book)
                except Exception as e:
                    self._strategy_error("on_book", e)
                finally:
                    self._in_md = False
        dirty.clear()

    def _mark(self, inst: str, book: L2Book) -> None:
        m2 = book.mid_x2()
        if not m2:
            return
        self.positions.mark(inst, m2 // 2)
        self._update_pnl()

    def _update_pnl(self) -> None:
        p = self.positions
        st = self.stats
        st.realized_pnl_cents = p.realised_cents
        st.unrealized_pnl_cents = p.unrealised_cents
        st.fees_cents = p.fees_cents
        if not self.killed:
            self.risk.on_pnl(self._now())

    # ---------------------------------------------------------------------------------- orders (context)
    def now(self) -> int:
        return self._now()

    def buy(self, instrument: str, price: int, qty: int, tif: TimeInForce = TimeInForce.DAY,
            ord_type: OrdType = OrdType.LIMIT, tag: str = "") -> Order | None:
        return self._submit(instrument, _BUY, price, qty, tif, ord_type, tag)

    def sell(self, instrument: str, price: int, qty: int, tif: TimeInForce = TimeInForce.DAY,
             ord_type: OrdType = OrdType.LIMIT, tag: str = "") -> Order | None:
        return self._submit(instrument, _SELL, price, qty, tif, ord_type, tag)

    def _submit(self, instrument: str, side: Side, price: int, qty: int, tif: TimeInForce,
                ord_type: OrdType, tag: str) -> Order | None:
        st = self.stats
        if self.killed or self.stopped:
            st.risk_rejected += 1
            return None
        code = self.risk.check(instrument, side, price, qty, ord_type, self._now())
        if code:
            st.risk_rejected += 1
            self.last_risk_reason = code
            return None
        gw = self.gateway
        if self._in_md and self.md_tick is not None:  # echo the venue's tick id (wire-to-wire bench)
            gw.echo_tick = self.md_tick()  # type: ignore[attr-defined]
            o = self.om.submit(instrument, side, price, qty, tif, ord_type, tag)
            gw.echo_tick = b""  # type: ignore[attr-defined]
        else:
            o = self.om.submit(instrument, side, price, qty, tif, ord_type, tag)
        if o is None:
            st.risk_rejected += 1
            return None
        st.orders_sent += 1
        if self._in_md and o.status is OrdStatus.PENDING_NEW:
            wc = self._write_clock
            st.tick_to_trade.record((wc() if wc is not None else time.time_ns()) - self._md_recv_ns)
        self._warm_order = o  # the shape that warm() runs again, read-only, while the loop is idle
        return o

    def warm(self) -> bool:
        """Cache warming between ticks (``hft.engine.busyloop.BusyLoop``, ``engine.busy_warm_us``): the
        order path of the last order sent runs again without side effects -- the book's best prices, the
        risk check (its token bucket and tick-grid memo restored afterwards), the order manager's id and
        ``Order`` (not stored: ``OrderManager.warm``), the gateway's 35=D encoding (not stored, not written:
        ``FixOrderGateway.warm_new``). Nothing observable changes: no sequence number, order id, order,
        position, risk count, journal record, metric or byte on the wire. False (nothing run) before the
        first order, or when stopped, killed or the kill switch is tripped."""
        o = self._warm_order
        r = self.risk
        if o is None or self.killed or self.stopped or r.kill.tripped:
            return False
        inst = o.instrument
        book = self.books.get(inst)
        if book is not None:
            book.best_bid()
            book.best_ask()
        r.warm(inst, o.side, o.price, o.qty, o.ord_type, self._now())  # (check() without lasting effect)
        self.om.warm(o)
        return True

    def cancel(self, order: Order) -> bool:
        ok = self.om.cancel(order)
        if ok:
            self.stats.cancels_sent += 1
        return ok

    def replace(self, order: Order, price: int | None = None, qty: int | None = None) -> Order | None:
        if self.killed or self.stopped:
            self.stats.risk_rejected += 1
            return None
        p = order.price if price is None else price
        q = order.qty if qty is None else qty
        code = self.risk.check(order.instrument, order.side, p, q - order.cum_qty, order.ord_type,
                               self._now())
        if code:
            self.stats.risk_rejected += 1
            self.last_risk_reason = code
            return None
        new = self.om.replace(order, price, qty)
        if new is not None:
            st = self.stats
            st.replaces_sent += 1
            if self._in_md:  # a replace sent from market data is a tick-to-trade sample too
                wc = self._write_clock
                st.tick_to_trade.record((wc() if wc is not None else time.time_ns()) - self._md_recv_ns)
        return new

    def cancel_all(self, instrument: str | None = None) -> int:
        n = 0
        for o in self.om.open_orders(instrument):
            if o.status is not OrdStatus.PENDING_CANCEL and self.cancel(o):
                n += 1
        return n

    def position(self, instrument: str) -> int:
        return self.positions.position(instrument)

    def book(self, instrument: str) -> L2Book:
        return self.books[instrument]

    def open_orders(self, instrument: str | None = None) -> list[Order]:
        return self.om.open_orders(instrument)

    def set_timer(self, interval_ns: int) -> None:
        self._timer_ns = interval_ns
        self._next_timer_ns = self._now() + interval_ns

    # ---------------------------------------------------------------------------------- venue input
    def on_exec_report(self, er: ExecReport) -> None:
        """Gateway sink: the order manager journals then applies it (fills reach :meth:`_on_fill`)."""
        et = er.exec_type
        seen = er.exec_id in self.om.exec_ids
        self.om.on_exec_report(er)
        if seen:
            return
        st = self.stats
        if et == ExecType.NEW:
            st.orders_acked += 1
        elif et == ExecType.REJECTED:
            st.orders_rejected += 1
            self.venue_rejects += 1
            log.warning("order %s rejected by the venue: %s", er.cl_ord_id, er.text)
            self.risk.on_reject(self._now())

    def on_cancel_reject(self, cr: CancelReject) -> None:
        self.om.on_cancel_reject(cr)

    def _on_order_update(self, o: Order) -> None:
        if self.strategy is not None and self.started:
            try:
                self.strategy.on_order_update(o)
            except Exception as e:
                self._strategy_error("on_order_update", e)

    def _on_fill(self, fill: Fill) -> None:
        p = self.positions
        p.on_fill(fill)
        pos = p.position(fill.instrument)
        if self.journal is not None:  # journaled before anything acts on the new position
            ip = p.get(fill.instrument)
            self.journal.record_position(fill.instrument, pos, ip.realised_cents, ip.fees_cents,
                                         fill.cl_ord_id)
        st = self.stats
        st.fills += 1
        st.filled_qty += fill.qty
        st.positions[fill.instrument] = pos
        book = self.books.get(fill.instrument)
        if book is not None and book.mid_x2():
            p.mark(fill.instrument, book.mid_x2() // 2)
        self._update_pnl()
        if self.strategy is not None and self.started:
            try:
                self.strategy.on_fill(fill)
            except Exception as e:
                self._strategy_error("on_fill", e)

    # ---------------------------------------------------------------------------------- timer
    def on_timer(self, now_ns: int) -> None:
        if self._timer_ns and now_ns >= self._next_timer_ns and self.strategy is not None and self.started \
                and not self.stopped:
            self._next_timer_ns = now_ns + self._timer_ns
            try:
                self.strategy.on_timer(now_ns)
            except Exception as e:
                self._strategy_error("on_timer", e)
        if (self.killed and now_ns - self._retry_ns >= 1_000_000_000
                and getattr(self.gateway, "connected", True)):
            self._retry_ns = now_ns
            for o in self.om.open_orders():  # a cancel refused (disconnected) or rejected: retry, 1/s
                if o.status is not OrdStatus.PENDING_CANCEL and o.status is not OrdStatus.PENDING_REPLACE:
                    self.cancel(o)
        if self.journal is not None:
            self.journal.flush()

    # ---------------------------------------------------------------------------------- reporting
    def summary(self) -> dict[str, Any]:
        st = self.stats
        p = self.positions
        c = self.om.counters
        lat = st.tick_to_trade
        return {
            "orders": st.orders_sent,
            "orders_acked": st.orders_acked,
            "orders_rejected": st.orders_rejected,
            "risk_rejected": st.risk_rejected,
            "cancels": st.cancels_sent,
            "replaces": st.replaces_sent,
            "fills": st.fills,
            "filled_qty": st.filled_qty,
            "positions": {s: p.position(s) for s in self.instruments},
            "realized_pnl_cents": p.realised_cents,
            "unrealized_pnl_cents": p.unrealised_cents,
            "fees_cents": p.fees_cents,
            "net_pnl_cents": p.net_pnl_cents(),
            "open_orders": len(self.om.open_orders()),
            "md_messages": st.md_messages,
            "book_updates": st.book_updates,
            "md_gaps": st.md_gaps,
            "kill_switch": {"tripped": self.killed, "reason": self.kill_reason},
            "strategy_errors": self.strategy_errors,
            "tick_to_trade_us": {"count": lat.count, "p50": round(lat.percentile(50) / 1e3, 1),
                                 "p99": round(lat.percentile(99) / 1e3, 1),
                                 "max": round(lat.max_ns / 1e3, 1)},
            "order_manager": dict(c),
            "recovered_orders": 0 if self.recovered is None else len(self.recovered.orders),
            "session": self.om.session,
        }


# ==================================================================================== asyncio host
@dataclass
class HostOptions:
    """Run-time overrides of the host (CLI flags, tests)."""

    duration: float | None = None  # seconds; None = until stopped
    venue_port: int | None = None  # override config venue.port (e.g. a separately started simulator's)
    md_port: int | None = None  # override config market_data.port
    metrics_port: int | None = None  # override config metrics.port (0 = free port)
    metrics_fallback: bool = False  # configured metrics port busy: use a free one (paper), else fail
    install_signals: bool = True  # SIGINT/SIGTERM stop, SIGUSR1 trips the kill switch (manual)
    status: Any = None  # an object with update(engine, host) and close(), see hft.engine.status
    status_interval: float = 0.5
    logon_timeout: float = 10.0
    stop_grace: float = 2.0  # seconds to wait for cancel answers at shutdown
    run_dir: str | None = None  # base of relative journal / store paths (default: the working dir)
    strategy_factory: Callable[[TradingEngine], Strategy] | None = None  # default: the configured one
    reset_kill_by: str | None = None  # operator name: reset a kill switch latched in the journal


@dataclass
@mypyc_attr(native_class=False)  # an ordinary Python class: hosts set request_stop per instance
class Host:
    """What :func:`run_trading` built (reachable from tests through ``on_started``)."""

    engine: TradingEngine
    order_session: Any
    md_session: Any
    gateway: Any
    md: Any
    metrics: Any = None
    sim: Any = None
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)
    extra: dict[str, Any] = field(default_factory=dict)
    commands: deque[Callable[[], object]] = field(default_factory=deque)

    def request_stop(self) -> None:
        self.stop_event.set()

    def call_soon(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` on the host's own thread, at its next timer tick (``engine.timer_ms``): the way for
        another thread (an operator command, a test) to act on the engine, which is single-threaded."""
        self.commands.append(fn)

    def run_commands(self) -> None:
        q = self.commands
        while q:
            try:
                q.popleft()()
            except Exception:
                log.exception("host command failed")


_STATE_NAMES = {"DISCONNECTED": "disconnected", "CONNECTED": "connecting", "LOGON_SENT": "logging_on",
                "ACTIVE": "active", "LOGOUT_SENT": "logging_out"}


def _update_session_stats(ss: SessionStats, session: Any) -> None:
    if session is None:
        return
    c = session.counters
    ss.state = _STATE_NAMES.get(session.state.name, "disconnected")
    ss.next_sender_seq = session.next_sender_seq
    ss.next_target_seq = session.next_target_seq
    ss.messages_in = c.msgs_in
    ss.messages_out = c.msgs_out
    ss.rejects_in = c.rejects_received
    ss.rejects_out = c.rejects_sent
    ss.resend_requests = c.resend_requests_sent
    ss.disconnects = c.disconnects


def _check_unlocked(path: Path) -> None:
    import fcntl
    import os

    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise RuntimeError(f"journal.path: {path} is in use by another session (running in this "
                           "directory?)") from None
    finally:
        os.close(fd)  # (closing releases the probe lock)


def _resolve(path: str, base: str | None) -> Path:
    p = Path(path)
    if base is not None and not p.is_absolute():
        return Path(base) / p
    return p


async def run_trading(config: Config, opts: HostOptions | None = None,
                      on_started: Callable[[Host], None] | None = None) -> dict[str, Any]:
    """The asyncio host: the engine as :func:`hft.engine.host.assemble` wires it (the embedded simulator
    when configured), driven by an asyncio loop; returns the summary dict. Raises ``RuntimeError`` when a
    session cannot log on."""
    from hft.engine.host import assemble

    opts = opts or HostOptions()
    with contextlib.ExitStack() as stack:  # closes metrics, stores, journal, simulator (in that order)
        w = assemble(config, opts, stack, loop_kind="asyncio")
        try:
            await _run(w, on_started)
        finally:
            if opts.status is not None:
                opts.status.close()
    return w.summary()


async def _run(w: Any, on_started: Callable[[Host], None] | None) -> None:
    from hft.fix.transport import AsyncInitiator

    loop = asyncio.get_running_loop()
    opts, engine, host, md = w.opts, w.engine, w.host, w.md
    order_session, md_session = w.order_session, w.md_session
    order_init = AsyncInitiator(order_session, *w.order_addr)
    md_init = AsyncInitiator(md_session, *w.md_addr) if md_session is not None else None
    removers: list[int] = []
    if opts.install_signals:  # before connecting: a signal during the logon is handled, not fatal
        for sig, fn in w.signal_actions().items():
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, fn)
                removers.append(sig)
    replay_task = None
    # No ``await`` inside a ``finally`` that runs with an exception pending: in the compiled build (mypyc)
    # an exception caught and suppressed inside the awaited cleanup (the initiators' cancelled tasks)
    # replaces the pending one, so a failed logon surfaced as a bare CancelledError with a traceback
    # instead of its message. The error is held, the cleanup awaited, then the error raised again.
    failure: BaseException | None = None
    try:
        order_init.start()
        if md_init is not None:
            md_init.start()
        ok = await order_init.wait_logon(opts.logon_timeout)
        ok_md = ok and (md_init is None or await md_init.wait_logon(opts.logon_timeout))
        if not ok or not ok_md:
            raise w.logon_error(ok, order_init, md_init)
        w.start()
        replay_task = loop.create_task(md.run()) if w.replay or w.tws else None
        if on_started is not None:
            on_started(host)
        deadline = None if opts.duration is None else time.monotonic() + opts.duration
        tick = w.timer_interval_ns / 1e9  # on_timer flushes the journal
        while not host.stop_event.is_set():
            now_m = time.monotonic()
            if deadline is not None and now_m >= deadline:
                break
            wait = tick if deadline is None else max(0.0, min(tick, deadline - now_m))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(host.stop_event.wait(), wait)
            w.on_timer(time.time_ns())
        # -- clean shutdown: the strategy stops, open orders are cancelled, answers awaited briefly
        w.stop()
        end = time.monotonic() + opts.stop_grace
        while engine.om.open_orders() and time.monotonic() < end and order_session.is_active:
            await asyncio.sleep(0.02)
    except BaseException as e:  # held, raised again after the cleanup below
        failure = e
    w.stopping = True
    if w.tws:
        md.close()
    if replay_task is not None:
        replay_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await replay_task
    if md_session is not None and md_session.is_active:
        md.unsubscribe(list(md.insts))
    await order_init.stop()
    if md_init is not None:
        await md_init.stop()
    w.update_session_stats()
    for sig in removers:
        loop.remove_signal_handler(sig)
    if failure is not None:
        raise failure
