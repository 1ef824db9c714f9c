"""The one wiring of the trading engine, shared by every host.

:func:`assemble` builds everything a paper or live session is made of, once, the same way whatever loop
will drive it:

- the process settings of ``[engine]`` (CPU affinity, real-time priority, mlock);
- the embedded simulator (asyncio host only: a busy-poll host would starve its thread);
- the journal: refused when another process holds it (``journal.path ... in use by another session``),
  recovered, its kill-switch latch read (a restart after a manual, reject, disconnect or loss trip starts
  tripped; ``HostOptions.reset_kill_by`` resets it, journaled), fsync batched off the order path (the
  host's timer syncs at most every ``journal.batch_max_ms``; ``fsync = "always"`` keeps a per-record sync);
- the FIX order-entry session and its store, the order gateway;
- the market-data source: the FIX market-data session (with ``market_data.stale_after_ms``) or a
  recorded file (``market_data.source = "replay"``);
- the :class:`~hft.engine.runner.TradingEngine` (book, order manager, risk, positions, kill switch);
- the metrics exporter (a free port when the configured one is busy, if the caller allows it);
- the GC policy (``hft.runtime.gc_controller_from_config``), applied once logged on;
- the signal semantics: SIGINT/SIGTERM stop cleanly, SIGUSR1 trips the kill switch (manual: cancel all,
  journaled, latched).

A host (``runner.run_trading``: asyncio; ``busyloop.run_busy``: busy polling) then only decides how to
wait for bytes and when to run :meth:`Wiring.on_timer`; it calls :meth:`Wiring.start` once both sessions
are logged on, :meth:`Wiring.run_signal` from its own loop when a signal arrived (never inside the signal
handler, which could interrupt the engine mid-update), :meth:`Wiring.stop` to wind down, and
:meth:`Wiring.summary` for the result. Everything opened here is closed by the ``ExitStack`` the caller
passes in. Cold path only: nothing here runs per message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hft.engine.config import Config, busy_spins_forever
from hft.engine.embedded import start_embedded_sim
from hft.engine.journal import Journal, JournalError, RecoveryState, recover
from hft.engine.runner import (
    Host,
    HostOptions,
    TradingEngine,
    _check_unlocked,
    _resolve,
    _update_session_stats,
    latched_kill,
)
from hft.metrics.stats import EngineStats, SessionStats

log = logging.getLogger(__name__)

LOOPS = ("asyncio", "busy_poll")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
KILL_SIGNAL = signal.SIGUSR1
MANUAL_KILL_REASON = "manual (SIGUSR1)"


@dataclasses.dataclass
class Wiring:
    """What :func:`assemble` built (see module doc)."""

    config: Config
    opts: HostOptions
    loop_kind: str
    host: Host
    engine: TradingEngine
    journal: Journal
    journal_path: Path
    gateway: Any
    md: Any
    order_session: Any
    md_session: Any  # None with replayed market data
    order_addr: tuple[str, int]
    md_addr: tuple[str, int]  # (host, 0) with replayed market data
    replay: bool
    embedded: bool
    stats: EngineStats
    order_ss: SessionStats
    md_ss: SessionStats
    runtime_report: dict[str, Any]
    gcc: Any = None
    gc_report: dict[str, Any] = dataclasses.field(default_factory=dict)
    started: bool = False
    stopping: bool = False  # set by the host when it winds down: a disconnect is then not a loss
    wire: WireStamps | None = None  # engine.wire_stamps on the busy host: per-order kernel stamps
    syncer: DiskSyncer | None = None  # the batched fsync thread
    tws: bool = False  # market_data.source = "tws": IBKR TWS API depth (hft.venues.tws), a run() task
    _last_status: float = 0.0

    # ---------------------------------------------------------------------------------- wire stamps
    def enable_wire_stamps(self, order_conn: Callable[[], Any], md_conn: Callable[[], Any] | None) -> None:
        """``engine.wire_stamps`` (a host whose connections give kernel stamps: the busy-poll host): each
        order sent from a market data message is matched with the kernel's receive stamp of that
        message's bytes and the kernel's transmit stamp of its 35=D: wire-to-wire in this process, from
        the kernel stamps, in the summary (the engine's own ``tick_to_trade_us`` stays read -> write)."""
        if md_conn is None:
            return
        self.wire = WireStamps(self.engine, md_conn, order_conn)
        self.gateway.on_sent = self.wire.on_sent

    def drain_wire_stamps(self) -> None:
        if self.wire is not None:
            self.wire.drain()

    # ---------------------------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Both sessions logged on: subscribe, start the engine (reconcile + strategy), apply the GC policy
        (start-up garbage collected once, long-lived objects frozen)."""
        self.md.subscribe(self.engine.instruments)
        self.engine.start()
        self.update_session_stats()
        from hft.runtime import gc_controller_from_config

        self.gcc = gc_controller_from_config(self.config.engine)
        self.gc_report = self.gcc.after_startup()
        self.started = True

    def on_timer(self, now_ns: int) -> None:
        """The host's periodic tick (every ``min(engine.timer_ms, journal.batch_max_ms)``): the strategy's
        timer and the kill switch's cancel retries, the journal's batched fsync, the market-data staleness
        and gap checks (the journal's and store's fsyncs are the DiskSyncer thread's), an idle GC collection
        when due, the session gauges, the status line."""
        self.host.run_commands()
        self.engine.on_timer(now_ns)
        if self.md_session is not None or self.tws:
            self.md.check_resend(now_ns)
        if self.gcc is not None:
            self.gcc.idle()  # collects only with engine.gc_disable, and only when due
        self.update_session_stats()
        opts = self.opts
        if opts.status is not None and time.monotonic() - self._last_status >= opts.status_interval:
            self._last_status = time.monotonic()
            try:
                opts.status.update(self.engine, self.host)
            except Exception:  # a display bug must not stop trading
                log.exception("status display failed; disabled")
                opts.status = None

    @property
    def timer_interval_ns(self) -> int:
        return min(self.config.engine.timer_ms, self.config.journal.batch_max_ms) * 1_000_000

    def update_session_stats(self) -> None:
        _update_session_stats(self.order_ss, self.order_session)
        _update_session_stats(self.md_ss, self.md_session)

    def on_order_state(self, old: Any, new: Any) -> None:
        """The order session's state changes (gateway.on_state)."""
        from hft.fix.session import SessionState

        _update_session_stats(self.order_ss, self.order_session)
        if new == SessionState.DISCONNECTED and old in (SessionState.ACTIVE, SessionState.LOGOUT_SENT):
            if not self.stopping and not self.engine.stopped:
                log.error("order session lost: %s", self.order_session.disconnect_reason)
                self.engine.on_order_session_down()
        elif new == SessionState.ACTIVE and self.engine.started:
            self.engine.on_order_session_up()

    def signal_actions(self) -> dict[int, Callable[[], None]]:
        """What each handled signal does (the same on every host)."""
        acts: dict[int, Callable[[], None]] = dict.fromkeys(STOP_SIGNALS, self.host.request_stop)
        acts[KILL_SIGNAL] = self.manual_kill
        return acts

    def run_signal(self, signum: int) -> None:
        act = self.signal_actions().get(signum)
        if act is not None:
            act()

    def manual_kill(self) -> None:
        if not self.engine.killed:
            self.engine.kill(MANUAL_KILL_REASON)

    def stop(self) -> None:
        """Start winding down: the strategy stops and every open order gets a cancel (the host then waits
        up to ``stop_grace`` for the answers while it keeps reading)."""
        self.stopping = True
        self.engine.stop()

    def logon_error(self, order_ok: bool, order_ini: Any, md_ini: Any) -> RuntimeError:
        from hft.engine.preflight import logon_failure_reason

        if not order_ok:
            which, s, (h, p), ini = "order entry", self.order_session, self.order_addr, order_ini
        else:
            which, s, (h, p), ini = "market data", self.md_session, self.md_addr, md_ini
        return RuntimeError(f"{which} session to {h}:{p} did not log on within {self.opts.logon_timeout:g}s "
                            f"({logon_failure_reason(s, ini)})")

    def summary(self, loop_info: dict[str, Any] | None = None) -> dict[str, Any]:
        engine = self.engine
        s = engine.summary()
        s["duration_s"] = round((time.time_ns() - engine.t_start_ns) / 1e9, 3) if engine.t_start_ns else 0
        s["sessions"] = {"order": self.order_session.stats()}
        if self.md_session is not None:
            s["sessions"]["marketdata"] = self.md_session.stats()
        s["runtime"] = self.runtime_report
        s["gc_policy"] = self.gc_report
        if self.gcc is not None:  # collections that happened while trading (after the start-up freeze)
            s["gc"] = self.gcc.stats.as_dict()
        m = self.host.metrics
        s["metrics_url"] = m.url if m is not None else ""
        s["journal"] = str(self.journal_path)
        s["venue"] = f"{self.order_addr[0]}:{self.order_addr[1]}"
        s["embedded_sim"] = self.embedded
        tc = self.config.tws
        s["market_data"] = (str(self.config.market_data.file) if self.replay
                            else f"tws {tc.host}:{tc.port}" if self.tws
                            else f"{self.md_addr[0]}:{self.md_addr[1]}")
        s["journal_fsync"] = {"policy": self.config.journal.fsync,
                              "store_policy": self.config.venue.store_fsync,
                              "inline_syncs": self.journal.syncs,
                              "background": self.syncer.stats() if self.syncer is not None else {}}
        if self.replay:
            s["replay"] = dict(self.md.counters)
        if self.wire is not None:
            self.wire.drain()
            s["wire_to_wire_us"] = self.wire.summary()
        elif self.config.engine.wire_stamps:
            s["wire_to_wire_us"] = {"count": 0, "note": "engine.wire_stamps needs engine.loop = busy_poll "
                                                        "(the asyncio transports read without kernel stamps)"}
        s["loop"] = {"kind": self.loop_kind, **(loop_info or {})}
        return s


class WireStamps:
    """Per-order kernel stamps (``engine.wire_stamps``): for each new order sent while a market data
    message is processed (``FixOrderGateway.on_sent``, called after the write, off the order path), the
    kernel receive stamp of the read that carried that message (the market data connection's ``rx``)
    and the offset of the order's last byte; :meth:`drain` (the host's 1 ms idle timer) reads the order
    socket's transmit stamps and records transmit - receive per order: the engine's wire-to-wire, where a
    packet capture on this machine would see the tick arrive and the order leave. Preallocated ring."""

    def __init__(self, engine: Any, md_conn: Callable[[], Any], order_conn: Callable[[], Any],
                 capacity: int = 1 << 12) -> None:
        from hft.metrics.latency import LatencyHistogram

        self.engine = engine
        self.md_conn = md_conn
        self.order_conn = order_conn
        self.mask = capacity - 1
        self.keys = [0] * capacity
        self.rx = [0] * capacity
        self.head = 0  # next slot to fill
        self.tail = 0  # oldest order without its transmit stamp
        self.conn: Any = None
        self.hist = LatencyHistogram("wire_to_wire")
        self.dropped = 0  # orders whose stamp never came (connection lost, ring overrun)

    def on_sent(self, tick: bytes) -> None:
        c = self.order_conn()
        m = self.md_conn()
        rx = m.rx if m is not None else None
        if c is None or c.tx is None or rx is None or not rx.ts_ns or not self.engine._in_md:
            return
        if c is not self.conn:  # a new connection: its stamps count from 0
            self.dropped += self.head - self.tail
            self.tail = self.head
            self.conn = c
        if self.head - self.tail > self.mask:
            self.tail += 1
            self.dropped += 1
        i = self.head & self.mask
        self.keys[i] = (c.bytes_out - 1) & 0xFFFFFFFF
        self.rx[i] = rx.ts_ns  # the kernel's receive stamp of the read being processed
        self.head += 1

    def drain(self) -> None:
        c = self.conn
        if c is None or c.tx is None:
            return
        for key, ns in c.tx.drain():
            while self.tail < self.head:
                i = self.tail & self.mask
                if (key - self.keys[i]) & 0xFFFFFFFF >= 0x80000000:  # this stamp is for an earlier send
                    break
                self.hist.record(max(1, ns - self.rx[i]))
                self.tail += 1

    def summary(self) -> dict[str, Any]:
        h = self.hist
        return {"count": h.count, "p50": round(h.percentile(50) / 1e3, 1),
                "p99": round(h.percentile(99) / 1e3, 1), "max": round(h.max_ns / 1e3, 1),
                "basis": "kernel rx of the tick -> kernel tx of the order",
                "unmatched": self.dropped + self.head - self.tail}


class DiskSyncer:
    """The batched fsync of the journal and the FIX store, off the loop thread (``journal.fsync = "batch"``,
    ``venue.store_fsync = "batch"``): the files are written by the loop before each action (so a record
    survives ``kill -9`` of the process) and opened with no fsync of their own; this thread fsyncs each
    file that changed every ``period_s`` (``journal.batch_max_ms``), through a descriptor of its own (an
    fsync covers the file, whichever descriptor wrote it; a store reset replaces the file, so it is
    re-opened by path each time). ``os.fsync`` releases the GIL: the loop keeps reading while the disk
    works (an fsync on the loop thread took 0.2-14 ms here, and every tick arriving meanwhile waited).
    An OS crash can lose what was written in the last period. :meth:`close` stops the thread and runs a
    last sync."""

    def __init__(self, period_s: float) -> None:
        import threading

        self.period_s = period_s
        self.paths: list[Path] = []
        self.syncs = 0
        self.errors = 0
        self.max_sync_us = 0.0
        self._seen: dict[Path, tuple[int, int, int]] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="hft-fsync", daemon=True)

    def add(self, path: Path) -> None:
        self.paths.append(path)

    def start(self) -> None:
        if self.paths:
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            self.sync_once()

    def sync_once(self) -> None:
        import os

        with self._lock:
            for p in self.paths:
                try:
                    st = os.stat(p)
                    key = (st.st_ino, st.st_size, st.st_mtime_ns)
                    if self._seen.get(p) == key:
                        continue
                    t0 = time.perf_counter_ns()
                    fd = os.open(p, os.O_RDONLY)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
                    self.max_sync_us = max(self.max_sync_us, (time.perf_counter_ns() - t0) / 1e3)
                    self._seen[p] = key
                    self.syncs += 1
                except OSError as e:
                    self.errors += 1
                    log.error("fsync of %s failed: %s", p, e)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        self.sync_once()

    def stats(self) -> dict[str, Any]:
        return {"thread": True, "period_ms": round(self.period_s * 1e3, 3), "syncs": self.syncs,
                "errors": self.errors, "max_sync_us": round(self.max_sync_us, 1)}


def _open_journal(config: Config, opts: HostOptions, embedded: bool,
                  syncer: DiskSyncer) -> tuple[Path, RecoveryState | None, Journal]:
    jpath = _resolve(config.journal.path, opts.run_dir)
    jpath.parent.mkdir(parents=True, exist_ok=True)
    if jpath.exists() and jpath.stat().st_size > 0:
        _check_unlocked(jpath)  # never recover (or archive) a journal another process is writing
        if embedded:
            # the embedded simulator starts empty every run (its orders, ExecIDs and sequence numbers died
            # with the previous process): the previous journal is archived, not recovered
            old = jpath.with_name(f"{jpath.name}.{int(jpath.stat().st_mtime)}")
            jpath.rename(old)
            log.warning("embedded simulator: previous journal archived as %s", old)
    recovered: RecoveryState | None = None
    if jpath.exists() and jpath.stat().st_size > 0:
        recovered = recover(jpath, config.fees.build())
        log.warning("journal %s: recovered %d orders (%d open), %d fills", jpath, len(recovered.orders),
                    len(recovered.open_orders), len(recovered.fills))
    # "batch": every record is written before the engine acts on it; the fsync is the DiskSyncer thread's
    # (every journal.batch_max_ms), never the loop's: no order, and no tick, waits for the disk.
    # "always" keeps an fsync per record, inline (its cost documented in docs/engine.md).
    batch = config.journal.fsync == "batch"
    try:
        journal = Journal(jpath, fsync="none" if batch else config.journal.fsync,
                          batch_max_records=config.journal.batch_max_records, batch_max_ns=1 << 62)
    except JournalError as e:
        if "locked" not in str(e):
            raise
        raise RuntimeError(f"journal.path: {e} (another session running in this directory?)") from None
    if batch:
        syncer.add(jpath)
    return jpath, recovered, journal


def _apply_latch(engine: TradingEngine, jpath: Path, opts: HostOptions) -> None:
    """A kill switch tripped in a previous run and never reset stays tripped; ``reset_kill_by`` resets it
    (journaled with the operator's name)."""
    still = latched_kill(jpath)
    if still and opts.reset_kill_by:
        engine.risk.kill.tripped = True  # recorded as tripped, then reset by the operator
        engine.risk.kill.reason = still
        engine.kill_reason = still
        engine.reset_kill(opts.reset_kill_by)
        log.warning("kill switch (%s) reset by %s at start-up", still, opts.reset_kill_by)
    elif still:
        engine.kill(f"still tripped from a previous run ({still}); reset with --reset-kill-switch")


def assemble(config: Config, opts: HostOptions, stack: contextlib.ExitStack, *, loop_kind: str = "asyncio",
             order_app: Any = None, md_app: Any = None) -> Wiring:
    """Build the engine and its connections for ``config`` (see module doc). ``loop_kind``: "asyncio" or
    "busy_poll" (the busy host refuses the embedded simulator: its thread would be starved). ``order_app``
    / ``md_app`` replace the default FixOrderGateway / FixMarketData (the latency benchmark passes
    subclasses that echo the venue's tick id); ``md_app`` is ignored with replayed market data."""
    from hft.engine.fix_gateway import FixOrderGateway
    from hft.fix.session import FixSession, SessionConfig, session_options
    from hft.fix.store import MemoryStore, open_store
    from hft.runtime import apply_process_config

    if loop_kind not in LOOPS:
        raise ValueError(f"loop_kind must be one of {LOOPS}, got {loop_kind!r}")
    vc, mc, ec = config.venue, config.market_data, config.engine
    replay = mc.source == "replay"
    tws = mc.source == "tws"  # IBKR TWS API market data: no FIX session, an asyncio run() task
    busy = loop_kind == "busy_poll"
    if busy and tws:
        raise RuntimeError("market_data.source = 'tws' runs on the asyncio host (the TWS API client is "
                           "asyncio): set engine.loop = 'asyncio'")
    venue_port = opts.venue_port if opts.venue_port is not None else vc.port
    md_port = opts.md_port if opts.md_port is not None else mc.port
    embedded = config.sim.embedded and config.mode != "live" and opts.venue_port is None
    if busy and (embedded or venue_port == 0 or (md_port == 0 and not replay and not tws)):
        raise RuntimeError("engine.loop = busy_poll needs a venue in another process (hft sim): set "
                           "sim.embedded = false, venue.port and market_data.port; the embedded simulator "
                           "would be starved")
    if busy and busy_spins_forever(ec) and ec.realtime_priority:
        log.warning("engine.realtime_priority ignored: this busy loop spins forever (busy_spin_us = 0, or "
                    "pinned) and a real-time spinner would starve its core")
        ec = dataclasses.replace(ec, realtime_priority=False)
    # CPU pinning / real-time priority per [engine] (skipped with a logged reason when not permitted)
    runtime_report = apply_process_config(ec).as_dict()

    sim = None
    if embedded:
        sim = start_embedded_sim(config)
        stack.callback(sim.stop)
        venue_port = sim.order_port
        md_port = sim.md_port if opts.md_port is None else md_port
    if venue_port == 0 or (md_port == 0 and not replay and not tws):
        raise RuntimeError(f"{config.source}: venue.port / market_data.port 0 means the embedded simulator, "
                           "but sim.embedded is false")

    # -- journal, recovery -------------------------------------------------------------------------
    syncer = DiskSyncer(config.journal.batch_max_ms / 1000.0)
    stack.callback(syncer.close)  # (registered first: runs last, after the files' own close)
    jpath, recovered, journal = _open_journal(config, opts, embedded, syncer)
    stack.callback(journal.close)

    # -- order entry -------------------------------------------------------------------------------
    rmin, rmax = min(vc.reconnect_s, 0.5), max(vc.reconnect_s, 0.5)
    order_cfg = SessionConfig(begin_string=vc.begin_string, sender_comp_id=vc.sender_comp_id,
                              target_comp_id=vc.target_comp_id, heartbeat_interval=vc.heartbeat_s,
                              username_env=vc.username_env or None, password_env=vc.password_env or None,
                              reset_seq_num_on_logon=embedded, reconnect_min=rmin, reconnect_max=rmax,
                              app_msg_types=frozenset({b"8", b"9", b"j"}),
                              **session_options(vc.session, "venue.session"))
    if embedded:  # the simulator lives and dies with us: nothing to resend across runs
        order_store: Any = MemoryStore()
    else:  # a venue that outlives us: sequence numbers and sent messages persist (resend after a crash)
        store_dir = _resolve(vc.store_dir, opts.run_dir)
        store_dir.mkdir(parents=True, exist_ok=True)
        # "batch": each message written before it is sent, the fsync is the DiskSyncer thread's (above)
        store_batch = vc.store_fsync == "batch"
        order_store = open_store(store_dir, vc.begin_string, vc.sender_comp_id, vc.target_comp_id,
                                 fsync="none" if store_batch else vc.store_fsync, batch_max_ns=1 << 62)
        if store_batch:
            syncer.add(Path(order_store.path))
    stack.callback(order_store.close)
    gateway = order_app if order_app is not None else FixOrderGateway(
        account=vc.account, ex_destination=vc.ex_destination, currency=vc.currency)
    order_session = FixSession(order_cfg, order_store, gateway)
    gateway.attach(order_session)

    # -- market data -------------------------------------------------------------------------------
    md_session = None
    if replay:
        from hft.engine.replay_md import ReplayMarketData

        md: Any = ReplayMarketData(_resolve(mc.file, opts.run_dir), speed=mc.speed)
    elif tws:
        from hft.venues.tws import make_tws_source

        md = make_tws_source(config)
        stack.callback(md.close)
    else:
        from hft.engine.fix_md import FixMarketData

        md_cfg = SessionConfig(begin_string=vc.begin_string, sender_comp_id=mc.sender_comp_id,
                               target_comp_id=mc.target_comp_id, heartbeat_interval=vc.heartbeat_s,
                               reset_seq_num_on_logon=True, validate_types=False,
                               reconnect_min=rmin, reconnect_max=rmax,
                               app_msg_types=frozenset({b"W", b"X", b"Y", b"j"}))
        md = md_app if md_app is not None else FixMarketData()
        md.stale_after_ns = mc.stale_after_ms * 1_000_000  # the silence timeout (md_app included)
        md_session = FixSession(md_cfg, MemoryStore(), md)
        md.attach(md_session)

    # -- engine ------------------------------------------------------------------------------------
    stats = EngineStats()
    engine = TradingEngine(config, gateway, journal=journal, recovered=recovered, stats=stats)
    if recovered is not None:
        _apply_latch(engine, jpath, opts)
    if opts.strategy_factory is not None:
        engine.strategy = opts.strategy_factory(engine)
    md.set_sink(engine.on_market_event)
    md.level_sink = engine.on_level
    md.on_message_end = engine.on_md_message_end
    engine.md_request_snapshot = md.request_snapshot
    if md_session is not None and hasattr(md, "current_tick"):
        engine.md_tick = md.current_tick  # echo the venue's tick id (6001) on orders it causes
    order_ss = stats.sessions.setdefault("order", SessionStats("order"))
    md_ss = stats.sessions.setdefault("marketdata", SessionStats("marketdata"))
    host = Host(engine, order_session, md_session, gateway, md, sim=sim)
    w = Wiring(config=config, opts=opts, loop_kind=loop_kind, host=host, engine=engine, journal=journal,
               journal_path=jpath, gateway=gateway, md=md, order_session=order_session, md_session=md_session,
               order_addr=(vc.host, venue_port), md_addr=(mc.host, md_port if not replay else 0),
               replay=replay, tws=tws, embedded=embedded, stats=stats, order_ss=order_ss, md_ss=md_ss,
               runtime_report=runtime_report)
    host.extra["wiring"] = w
    w.syncer = syncer
    syncer.start()
    gateway.on_state = w.on_order_state
    if md_session is not None:
        md.on_state = lambda old, new: _update_session_stats(md_ss, md_session)
    stack.callback(lambda: w.gcc.restore() if w.gcc is not None else None)

    # -- metrics -----------------------------------------------------------------------------------
    if config.metrics.enabled:
        from hft.metrics.exporter import TradingCollector, start_metrics_server

        port = opts.metrics_port if opts.metrics_port is not None else config.metrics.port
        try:
            host.metrics = start_metrics_server(TradingCollector(stats), config.metrics.host, port)
        except OSError as e:
            if not opts.metrics_fallback or port == 0:
                raise RuntimeError(f"metrics endpoint {config.metrics.host}:{port}: {e.strerror} (set "
                                   "[metrics] port, or enabled = false)") from None
            host.metrics = start_metrics_server(TradingCollector(stats), config.metrics.host, 0)
            log.warning("metrics port %d is busy (%s): serving on %s instead", port, e.strerror,
                        host.metrics.url)
        stack.callback(host.metrics.close)
        log.info("metrics on %s", host.metrics.url)
    return w


def run_session(config: Config, opts: HostOptions | None = None,
                on_started: Callable[[Host], None] | None = None) -> dict[str, Any]:
    """Run a paper or live session on the host ``engine.loop`` names (blocking); returns the summary.
    What ``hft paper`` and ``hft live`` run."""
    opts = opts or HostOptions()
    if config.engine.loop == "busy_poll":
        from hft.engine.busyloop import run_busy

        return run_busy(config, opts, on_started)
    import asyncio

    from hft.engine.runner import run_trading

    return asyncio.run(run_trading(config, opts, on_started))
