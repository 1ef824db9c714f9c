"""The exchange simulator server: order entry + market data over FIX, background flow, phases, metrics.

:class:`SimServer` runs everything on its own thread with its own asyncio loop, so it can be embedded
in any process (``hft paper``, tests, benchmarks) or run in the foreground by ``hft sim``::

    from hft.sim.server import SimServer, SimConfig
    with SimServer(SimConfig.default()) as sim:        # or sim = SimServer(cfg); sim.start(); sim.stop()
        print(sim.order_port, sim.md_port, sim.metrics_url)

Inside the loop: two :class:`~hft.fix.transport.AsyncAcceptor` (order entry, market data) on 127.0.0.1,
one :class:`~hft.fix.session.FixSession` per configured client (in-memory or persisted store), the
:class:`~hft.sim.gateway.OrderGateway` and :class:`~hft.sim.marketdata.MarketDataPublisher` over one
:class:`~hft.sim.matching.MatchingEngine`, and a timer task that drives the background flow
(:class:`hft.sim.flow.BackgroundFlow` or :class:`hft.sim.replay.ReplayDriver`) and, in ``asx`` schedule
mode, the :class:`~hft.sim.phases.PhaseDriver`. Every engine event batch, whoever caused it, is routed
(ExecutionReports to their session) and published (market data). Prometheus metrics of its own
(``hft_sim_*``) are served on 127.0.0.1 (:attr:`SimServer.metrics_url`).

Thread-safety: the engine, sessions and counters belong to the server's loop. :meth:`SimServer.call`
runs a function there and returns its result; counters and the wire-to-wire histogram are plain ints
that other threads may read (a snapshot may be a few events stale).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hft.asx.phases import Phase
from hft.fix.session import FixSession, SessionConfig, session_options
from hft.fix.store import MemoryStore, SessionStore, open_store
from hft.fix.transport import AsyncAcceptor
from hft.metrics.exporter import MetricsServer, histogram_family, start_metrics_server
from hft.metrics.latency import LatencyHistogram
from hft.sim.clock import Clock, WallClock
from hft.sim.config import FALLBACK_INSTRUMENTS, LatencySampler, SimConfig
from hft.sim.gateway import OrderGateway
from hft.sim.marketdata import MarketDataPublisher, NoRetainStore
from hft.sim.matching import Event, LotRules, MatchingEngine, StpMode, TradeEvent
from hft.sim.phases import PhaseDriver, Schedule

log = logging.getLogger("hft.sim.server")
T = TypeVar("T")

__all__ = ["SimConfig", "SimServer"]

_STP = {"cancel_resting": StpMode.CANCEL_RESTING, "cancel_incoming": StpMode.CANCEL_INCOMING,
        "off": StpMode.OFF}
ORDER_MSG_TYPES = frozenset({b"D", b"F", b"G", b"H"})
MD_MSG_TYPES = frozenset({b"V"})
W2W_SAMPLES_MAX = 1_000_000
NEVER = (1 << 63) - 1


def _session_kw(table: dict[str, Any] | None, where: str) -> dict[str, Any]:
    """A client session's FIX session options. The simulator stamps microseconds (TimestampPrecision 6,
    as before the session default became 3): its feed captures are converted with microsecond exchange
    times; a client's session table may set another precision."""
    return {"timestamp_precision": 6, **session_options(table or {}, where)}


class BoundedMemoryStore(MemoryStore):
    """In-memory store of an order-entry session that keeps at most ``max_bytes`` of sent messages (the
    most recent); a ResendRequest for older ones is answered with a SequenceReset-GapFill, as for any
    message a store no longer has. Without it a long run kept every ExecutionReport ever sent."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__()
        self.max_bytes = max_bytes
        self.bytes = 0
        self.evicted = 0

    def store_sent(self, seq: int, frame: bytes) -> None:
        self._sent[seq] = frame  # insertion order = age (seq numbers only grow)
        self.bytes += len(frame)  # (a seq stored twice is counted twice: evicts a little early, never late)
        if seq + 1 > self.next_sender_seq:
            self.next_sender_seq = seq + 1
        if self.bytes > self.max_bytes:
            self._evict()

    def _evict(self) -> None:
        sent = self._sent
        while self.bytes > self.max_bytes and len(sent) > 1:
            self.bytes -= len(sent.pop(next(iter(sent))))
            self.evicted += 1
        if len(sent) <= 1:
            self.bytes = sum(len(f) for f in sent.values())

    def reset(self) -> None:
        super().reset()
        self.bytes = 0


class SimServerError(RuntimeError):
    pass


class FlowDriver(Protocol):
    """What the server's timer drives: :class:`hft.sim.flow.BackgroundFlow` or
    :class:`hft.sim.replay.ReplayDriver` (imported only when configured)."""

    def seed_book(self, now_ns: int) -> list[Event]: ...

    def advance(self, now_ns: int) -> list[Event]: ...

    def next_event_ns(self) -> int: ...


def build_flow(engine: MatchingEngine, config: SimConfig) -> FlowDriver | None:
    """The background driver for ``config.flow`` (None when disabled or the rate is 0)."""
    fc = config.flow
    if not fc.enabled:
        return None
    if fc.source == "replay":
        from hft.sim.replay import ReplayDriver

        return ReplayDriver(engine, fc.replay_path, fc.replay_speed or None)
    if fc.rate <= 0:
        return None
    from hft.sim.flow import BackgroundFlow, FlowConfig, default_flow_configs

    defaults = {c.symbol: c for c in default_flow_configs()}
    configs: list[FlowConfig] = []
    if config.instruments:
        for ins in config.instruments:
            if ins.flow is not None:
                c = FlowConfig.from_mapping({"symbol": ins.symbol, "ref_price": ins.reference_price,
                                             **dict(ins.flow)}, f"instruments.{ins.symbol}.flow")
            elif ins.symbol in defaults:
                c = dataclasses.replace(defaults[ins.symbol], ref_price=ins.reference_price)
            else:
                c = FlowConfig(ins.symbol, ins.reference_price)
            configs.append(c)
    else:
        configs = list(defaults.values())
    if fc.rate != 1.0:
        r = fc.rate
        configs = [dataclasses.replace(c, limit_rate=c.limit_rate * r, market_rate=c.market_rate * r)
                   for c in configs]
    return BackgroundFlow(engine, configs, fc.seed, session="BG")


def instruments_of(config: SimConfig) -> dict[str, int]:
    """Instrument -> reference price (price units): the configured ones, else the flow's defaults."""
    if config.instruments:
        return {i.symbol: i.reference_price for i in config.instruments}
    try:
        from hft.sim.flow import default_flow_configs

        return {c.symbol: c.ref_price for c in default_flow_configs()}
    except ImportError:  # pragma: no cover - the flow module ships with the simulator
        return dict(FALLBACK_INSTRUMENTS)


class _SimCollector(Collector):
    def __init__(self, server: SimServer) -> None:
        self.server = server

    def collect(self) -> Iterable[Metric]:
        srv = self.server
        gw, pub = srv.gateway, srv.publisher
        if gw is None or pub is None:
            return
        oc = CounterMetricFamily("hft_sim_orders", "Order-entry messages received", labels=["type"])
        for k in ("new", "cancel", "replace", "status"):
            oc.add_metric([k], gw.counters[k])
        yield oc
        yield CounterMetricFamily("hft_sim_exec_reports", "ExecutionReports routed to clients",
                                  value=gw.counters["exec_reports"])
        yield CounterMetricFamily("hft_sim_client_fills", "Fills of client orders",
                                  value=gw.counters["fills"])
        yield CounterMetricFamily("hft_sim_gateway_rejects", "Orders rejected by the gateway's tag checks",
                                  value=gw.counters["rejected_gateway"])
        yield CounterMetricFamily("hft_sim_cancel_rejects", "OrderCancelRejects sent",
                                  value=gw.counters["cancel_rejects"])
        yield CounterMetricFamily("hft_sim_cancel_on_disconnect", "Orders cancelled by cancel-on-disconnect",
                                  value=gw.counters["cancel_on_disconnect"])
        yield CounterMetricFamily("hft_sim_internal_errors", "Client messages that raised inside the gateway",
                                  value=gw.counters["internal_errors"])
        md = CounterMetricFamily("hft_sim_md_messages", "Market data messages sent", labels=["type"])
        md.add_metric(["incremental"], pub.counters["incrementals"])
        md.add_metric(["snapshot"], pub.counters["snapshots"])
        md.add_metric(["reject"], pub.counters["rejects"])
        yield md
        yield CounterMetricFamily("hft_sim_md_ticks", "35=X messages written (SimTickId)",
                                  value=pub.last_tick)
        yield CounterMetricFamily("hft_sim_md_trades", "Trades published", value=pub.counters["trades"])
        yield CounterMetricFamily("hft_sim_engine_trades", "Trades in the matching engine",
                                  value=srv.trades_total)
        yield histogram_family("hft_sim_wire_to_wire_seconds",
                               "35=X write (SimSendNs) to the read of a 35=D echoing its SimTickId",
                               srv.wire_to_wire)
        st = GaugeMetricFamily("hft_sim_session_active", "1 when the client session is logged on",
                               labels=["session", "kind"])
        seq_out = GaugeMetricFamily("hft_sim_session_next_sender_seq", "Next outgoing MsgSeqNum",
                                    labels=["session", "kind"])
        seq_in = GaugeMetricFamily("hft_sim_session_next_target_seq", "Next expected incoming MsgSeqNum",
                                   labels=["session", "kind"])
        msgs = CounterMetricFamily("hft_sim_session_messages", "FIX messages",
                                   labels=["session", "kind", "dir"])
        rej = CounterMetricFamily("hft_sim_session_rejects_sent", "Session-level Rejects sent",
                                  labels=["session", "kind"])
        for kind, sessions in (("order", srv.order_sessions), ("md", srv.md_sessions)):
            for name, s in list(sessions.items()):
                st.add_metric([name, kind], 1 if s.is_active else 0)
                seq_out.add_metric([name, kind], s.next_sender_seq)
                seq_in.add_metric([name, kind], s.next_target_seq)
                msgs.add_metric([name, kind, "in"], s.counters.msgs_in)
                msgs.add_metric([name, kind, "out"], s.counters.msgs_out)
                rej.add_metric([name, kind], s.counters.rejects_sent)
        yield from (st, seq_out, seq_in, msgs, rej)
        conn = CounterMetricFamily("hft_sim_connections", "TCP connections accepted", labels=["port"])
        refused = CounterMetricFamily("hft_sim_connections_refused", "Connections refused (Logout + close)",
                                      labels=["port"])
        for kind, acc in (("order", srv._order_acceptor), ("md", srv._md_acceptor)):
            if acc is not None:
                conn.add_metric([kind], acc.connections)
                refused.add_metric([kind], acc.refused_total)
        yield from (conn, refused)


class SimServer:
    """The simulator on its own thread and asyncio loop (see module doc)."""

    def __init__(self, config: SimConfig | None = None, *, clock: Clock | None = None) -> None:
        """``clock``: the exchange's time (trading phases, background flow, timestamps); default the wall
        clock. A :class:`~hft.sim.clock.ManualClock` fast-forwards the schedule in tests."""
        self.config = config or SimConfig.default()
        self.clock: Clock = clock if clock is not None else WallClock()
        self.host = self.config.host
        self.order_port = 0
        self.md_port = 0
        self.metrics_url = ""
        self.engine: MatchingEngine | None = None
        self.gateway: OrderGateway | None = None
        self.publisher: MarketDataPublisher | None = None
        self.flow: FlowDriver | None = None
        self.phase_driver: PhaseDriver | None = None
        self.order_sessions: dict[str, FixSession] = {}
        self.md_sessions: dict[str, FixSession] = {}
        self.wire_to_wire = LatencyHistogram("sim_wire_to_wire")
        self._w2w: list[int] = []
        self.trades_total = 0
        self.flow_events = 0
        self._order_acceptor: AsyncAcceptor | None = None
        self._md_acceptor: AsyncAcceptor | None = None
        self._metrics: MetricsServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_evt: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._started = False
        self._stopped = False

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self, timeout: float = 15.0) -> SimServer:
        """Start the server thread; returns once both ports listen (raises on a startup failure)."""
        if self._started:
            return self
        self._started = True
        self._thread = threading.Thread(target=self._run, name="hft-sim", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise SimServerError(f"simulator did not start within {timeout} s")
        if self._error is not None:
            self._thread.join(5)
            raise SimServerError(f"simulator failed to start: {self._error}") from self._error
        if self.config.metrics_enabled:
            try:
                self._metrics = start_metrics_server(_SimCollector(self), self.host, self.config.metrics_port)
                self.metrics_url = self._metrics.url
            except OSError as e:
                self.stop()
                raise SimServerError(f"cannot start the metrics server on {self.host}:"
                                     f"{self.config.metrics_port}: {e}") from e
        log.info("simulator up: order entry %s:%d, market data %s:%d%s", self.host, self.order_port,
                 self.host, self.md_port, f", metrics {self.metrics_url}" if self.metrics_url else "")
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Log out every client, close the ports, stop the flow and the loop; idempotent."""
        if not self._started or self._stopped:
            return
        self._stopped = True
        loop, evt = self._loop, self._stop_evt
        if loop is not None and evt is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(evt.set)
        # called from a callback on the server's own loop: it winds down by itself (joining would deadlock)
        if self._thread is not None and threading.current_thread() is not self._thread:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("simulator thread did not stop within %.1f s", timeout)
        if self._metrics is not None:
            self._metrics.close()
            self._metrics = None
        log.info("simulator stopped")

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._started and not self._stopped and self._thread is not None and self._thread.is_alive()

    def call(self, fn: Callable[..., T], *args: Any, timeout: float = 10.0) -> T:
        """Run ``fn(*args)`` on the server's loop thread and return its result."""
        loop = self._loop
        if loop is None or not self.running:
            raise SimServerError("simulator is not running")

        async def run() -> T:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout)

    # -- data for benchmarks and tests ----------------------------------------------------------
    def record_wire_to_wire(self, ns: int) -> None:
        self.wire_to_wire.record(ns)
        w = self._w2w
        if len(w) < W2W_SAMPLES_MAX:
            w.append(ns)

    def wire_to_wire_samples(self) -> list[int]:
        """Raw wire-to-wire latencies in ns (the first million), for HdrHistogram-style reports."""
        return list(self._w2w)

    def stats(self) -> dict[str, Any]:
        """A snapshot of the counters (cold path; any thread)."""
        gw, pub = self.gateway, self.publisher
        out: dict[str, Any] = {
            "order_port": self.order_port, "md_port": self.md_port, "metrics_url": self.metrics_url,
            "gateway": dict(gw.counters) if gw else {}, "marketdata": dict(pub.counters) if pub else {},
            "md_ticks": pub.last_tick if pub else 0, "trades": self.trades_total,
            "flow_events": self.flow_events, "wire_to_wire": self.wire_to_wire.summary(),
            "sessions": {f"order:{k}": s.state.name for k, s in self.order_sessions.items()}
            | {f"md:{k}": s.state.name for k, s in self.md_sessions.items()},
        }
        return out

    def build_detached(self) -> SimServer:
        """Build the engine, gateway, publisher and sessions without a loop, a thread or sockets (for
        in-process benchmarks and tests: connect the sessions to any ``send_bytes`` callable and feed
        them bytes). No background flow timer runs and injected latency is not applied."""
        self._build(None)
        return self

    # -- the loop thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as e:  # startup errors are reported by start(); later ones are logged
            if not self._ready.is_set():
                self._error = e
                self._ready.set()
            else:
                log.exception("simulator loop failed")

    def _store(self, begin: str, ours: str, theirs: str) -> SessionStore:
        cfg = self.config
        if not cfg.store_dir:
            return BoundedMemoryStore(cfg.order_entry.resend_memory_kb * 1024)
        return open_store(cfg.store_dir, begin, ours, theirs, cfg.fsync)

    def _build(self, loop: asyncio.AbstractEventLoop | None) -> None:
        cfg = self.config
        m = cfg.matching
        clock = self.clock
        engine = MatchingEngine(instruments_of(cfg), lot_rules=LotRules(m.min_qty, m.lot_size, m.max_qty),
                                stp=_STP[m.stp], clock=clock)
        self.engine = engine
        lat = cfg.latency
        pub = MarketDataPublisher(engine, cfg.market_data,
                                  latency=LatencySampler(lat.market_data, lat.seed + 2), loop=loop,
                                  clock=clock.now_ns)
        gw = OrderGateway(engine, cfg.order_entry, on_events=self._on_events, tick_send_ns=pub.tick_send_ns,
                          on_wire_to_wire=self.record_wire_to_wire,
                          latency_in=LatencySampler(lat.order_entry, lat.seed),
                          latency_out=LatencySampler(lat.order_entry, lat.seed + 1), loop=loop,
                          clock=clock.now_ns, on_read_begin=pub.hold, on_read_end=pub.release)
        self.publisher, self.gateway = pub, gw
        oe = cfg.order_entry
        for c in oe.sessions:
            s = FixSession(SessionConfig(begin_string=c.begin_string, sender_comp_id=oe.comp_id,
                                         target_comp_id=c.sender_comp_id, initiator=False,
                                         app_msg_types=ORDER_MSG_TYPES,
                                         **_session_kw(c.session, "order_entry.sessions")),
                           self._store(c.begin_string, oe.comp_id, c.sender_comp_id))
            cod = oe.cancel_on_disconnect if c.cancel_on_disconnect is None else c.cancel_on_disconnect
            gw.add_session(s, c.sender_comp_id, cod)
            self.order_sessions[c.sender_comp_id] = s
        md = cfg.market_data
        for c in md.sessions:
            s = FixSession(SessionConfig(begin_string=c.begin_string, sender_comp_id=md.comp_id,
                                         target_comp_id=c.sender_comp_id, initiator=False,
                                         app_msg_types=MD_MSG_TYPES,
                                         **_session_kw(c.session, "market_data.sessions")),
                           NoRetainStore())  # a feed is not resent: gap fill, then a new snapshot
            pub.add_session(s, c.sender_comp_id)
            self.md_sessions[c.sender_comp_id] = s
        if cfg.schedule.mode == "continuous":
            for sym in engine.books:
                engine.set_phase(sym, Phase.CONTINUOUS)
        else:
            sc = cfg.schedule
            self.phase_driver = PhaseDriver(engine, clock,
                                            Schedule(jitter_ns=int(sc.jitter_s * 1e9), seed=sc.seed))
            gw.dispatch(self.phase_driver.poll())
        self.flow = build_flow(engine, cfg)
        if self.flow is not None:
            gw.dispatch(self.flow.seed_book(clock.now_ns()))

    def _on_events(self, events: Sequence[Event]) -> None:
        pub = self.publisher
        for e in events:
            if type(e) is TradeEvent:
                self.trades_total += 1
        if pub is not None:
            pub.on_events(events)

    async def _main(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._stop_evt = asyncio.Event()
        self._build(loop)
        cfg = self.config
        self._order_acceptor = AsyncAcceptor(list(self.order_sessions.values()), cfg.host, cfg.order_port)
        self._md_acceptor = AsyncAcceptor(list(self.md_sessions.values()), cfg.host, cfg.md_port)
        self.order_port = await self._order_acceptor.start()
        try:
            self.md_port = await self._md_acceptor.start()
        except OSError:
            await self._order_acceptor.stop()
            raise
        timer = loop.create_task(self._timer())
        self._ready.set()
        try:
            await self._stop_evt.wait()
        finally:
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer
            await self._order_acceptor.stop()
            await self._md_acceptor.stop()
            for s in (*self.order_sessions.values(), *self.md_sessions.values()):
                with contextlib.suppress(Exception):
                    s.store.flush()
                    close = getattr(s.store, "close", None)
                    if close is not None:
                        close()

    async def _timer(self) -> None:
        """Background flow (at its own schedule, at least every ``flow.max_sleep_ms``) and phases."""
        flow = self.flow
        gw = self.gateway
        pub = self.publisher
        assert gw is not None and pub is not None
        driver = self.phase_driver
        max_sleep = self.config.flow.max_sleep_ms / 1000.0
        clock = self.clock
        next_phase = 0
        while True:
            now = clock.now_ns()
            mono = time.monotonic_ns()
            if driver is not None and mono >= next_phase:
                next_phase = mono + 50_000_000
                ev = driver.poll()
                if ev:
                    gw.dispatch(ev)
            if flow is not None:
                try:
                    ev = flow.advance(now)
                except Exception:  # a broken flow must not take the exchange down
                    log.exception("background flow failed; flow stopped")
                    self.flow = flow = None
                    continue
                if ev:
                    self.flow_events += len(ev)
                    pub.hold()  # one write per subscriber for the whole step
                    try:
                        gw.dispatch(ev)
                    finally:
                        pub.release()
                nxt = flow.next_event_ns()
            else:
                nxt = NEVER
            delay = (nxt - clock.now_ns()) / 1e9
            await asyncio.sleep(min(max(delay, 0.0), max_sleep))
