"""The trading hot path assembled for measurement: engine wiring, a minimal FIX venue, an in-process loop.

Shared by ``hft bench latency`` (wire-to-wire across processes + in-process stage breakdown) and
``hft bench gc`` (GC runs and allocations per tick). Everything on the engine side is the production
code: :class:`~hft.fix.session.FixSession` (parser, validation, encoder),
:class:`~hft.engine.fix_md.FixMarketData`, :class:`~hft.engine.runner.TradingEngine` (L2Book, strategy,
risk, order manager), :class:`~hft.engine.fix_gateway.FixOrderGateway` (which echoes the venue's tick
id 6001 on the 35=D it causes; :class:`OrderStamps` records a recv->write stamp per order after the
write), the ``latency_probe`` strategy, and real loopback TCP sockets.

The venue side here (:class:`StubVenueMd`, :class:`StubVenueOrders`) is a deliberately small FIX
acceptor application: it publishes a 10-level book for one symbol, then 35=X incrementals (one level
change each, tags 6000 SimSendNs / 6001 SimTickId), answers every 35=D with an ExecutionReport
(IOC -> expired) and records wire-to-wire latency for each 35=D that echoes a 6001. The latency
benchmark uses it as the reference venue beside the project's exchange simulator (``hft.sim``), so
the engine's share of the latency can be told apart from the simulator's.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

from hft.asx.ticks import format_price
from hft.engine.config import Config, config_from_dict
from hft.engine.fix_gateway import FixOrderGateway, _fmt_ts
from hft.engine.fix_md import FixMarketData
from hft.engine.runner import TradingEngine
from hft.fix.parser import FixMessage
from hft.fix.session import FixSession, SessionApplication, SessionConfig
from hft.fix.store import MemoryStore
from hft.strategies.latency_probe import LatencyProbe

SYMBOL = "BHP"
BASE_BID = 450_000  # $45.00
STEP = 100  # one cent: the ASX tick above $2.00
LEVELS = 10
RING = 1 << 16  # tick id -> send time slots kept by the venue


def compiled_hot_path() -> bool:
    """True when the engine's hot-path classes are the mypyc-compiled build (see ``hft._native``)."""
    from hft import _native
    from hft.engine import risk

    return _native.is_compiled(risk)


def run_interpreted(module: str, func: str, kwargs: dict[str, Any]) -> Any:
    """``module.func(**kwargs)`` in a child on the interpreted build of this tree (``HFT_PURE_PYTHON=1``),
    its JSON result back. Instrumentation that wraps methods (stage breakdowns) needs it: instances of
    compiled classes do not take per-instance method wrappers."""
    import json
    import os
    import subprocess
    import sys

    code = (f"import json, sys\nfrom {module} import {func}\n"
            f"print(json.dumps({func}(**json.loads(sys.argv[1]))))\n")
    env = dict(os.environ, HFT_PURE_PYTHON="1")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(kwargs)], env=env, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------- engine side
class StampLog:
    """Preallocated per-order stamps (a ring of ``capacity`` rows, oldest overwritten): recording one is
    four int stores into lists allocated up front, so the benchmark's own bookkeeping allocates no
    GC-tracked object while trading (a dict of tuples did, and set off young collections of its own)."""

    def __init__(self, capacity: int = 1 << 16) -> None:
        if capacity <= 0 or capacity & (capacity - 1):
            raise ValueError(f"StampLog capacity must be a power of two, got {capacity}")
        self.mask = capacity - 1
        self.count = 0
        self.tick = [0] * capacity
        self.kernel_rx = [0] * capacity
        self.recv = [0] * capacity
        self.pre_write = [0] * capacity

    def record(self, tick: int, kernel_rx: int, recv: int, pre_write: int) -> None:
        i = self.count & self.mask
        self.tick[i] = tick
        self.kernel_rx[i] = kernel_rx
        self.recv[i] = recv
        self.pre_write[i] = pre_write
        self.count += 1

    def __len__(self) -> int:
        return min(self.count, self.mask + 1)

    def as_dict(self) -> dict[int, tuple[int, int, int]]:
        """tick id -> (kernel rx, recv, pre-write), oldest first (built after the run, off the hot path)."""
        n = len(self)
        first = self.count - n
        out: dict[int, tuple[int, int, int]] = {}
        for c in range(first, self.count):
            i = c & self.mask
            out[self.tick[i]] = (self.kernel_rx[i], self.recv[i], self.pre_write[i])
        return out


class OrderStamps:
    """The benchmark's per-order stamp, hooked on the production gateway (``FixOrderGateway.on_sent``, called
    after the 35=D's write, so off the measured path): for each order that echoes a tick id 6001
    (``TradingEngine.md_tick`` -> ``echo_tick``), the kernel receive stamp of the 35=X read (when the loop
    has one), its read time, and the time right before the 35=D's write. The gateway itself is the plain
    compiled :class:`~hft.engine.fix_gateway.FixOrderGateway`, as in paper/live trading."""

    def __init__(self, gateway: FixOrderGateway, md: FixMarketData) -> None:
        self.gateway = gateway
        self.md = md
        self.internal: StampLog | None = None  # set by the benchmark that wants the stamps
        self.rx_clock: Callable[[], int] | None = None  # kernel receive stamp of the current md read

    def __call__(self, tick: bytes) -> None:
        internal = self.internal
        if tick and internal is not None:
            rc = self.rx_clock
            internal.record(int(tick), rc() if rc is not None else 0, self.md.recv_ns,
                            self.gateway.last_write_ns)


def bench_config(fraction: float = 1.0, *, mode: str = "ioc", venue_port: int = 1, md_port: int = 1,
                 loop: str = "asyncio", order_history: int | None = None) -> Config:
    """A paper config for the benchmark: one symbol, the latency probe, risk limits that never bind at
    benchmark rates (the checks still run in full), no metrics, zero fees."""
    return config_from_dict({
        "mode": "paper",
        "venue": {"port": venue_port, "store_fsync": "none", "heartbeat_s": 30},
        "market_data": {"port": md_port},
        "instruments": {"symbols": [SYMBOL]},
        "strategy": {"name": "latency_probe", "params": {"fraction": fraction, "mode": mode}},
        "risk": {"max_orders_per_sec": 1_000_000, "max_open_orders": 1000, "max_position": 1_000_000,
                 "max_rejects": 1_000_000},
        "fees": {"model": "zero"},
        "metrics": {"enabled": False},
        "engine": {"loop": loop, "max_pending_new": 1000, "max_pending_cancel": 1000,
                   **({} if order_history is None else {"order_history": order_history})},
        "sim": {"embedded": False},
    }, "<bench>")


def order_session_config(config: Config) -> SessionConfig:
    vc = config.venue
    return SessionConfig(begin_string=vc.begin_string, sender_comp_id=vc.sender_comp_id,
                         target_comp_id=vc.target_comp_id, heartbeat_interval=vc.heartbeat_s,
                         reset_seq_num_on_logon=True, reconnect_min=0.05, reconnect_max=0.5,
                         app_msg_types=frozenset({b"8", b"9", b"j"}))


def md_session_config(config: Config) -> SessionConfig:
    vc, mc = config.venue, config.market_data
    return SessionConfig(begin_string=vc.begin_string, sender_comp_id=mc.sender_comp_id,
                         target_comp_id=mc.target_comp_id, heartbeat_interval=vc.heartbeat_s,
                         reset_seq_num_on_logon=True, validate_types=False, reconnect_min=0.05,
                         reconnect_max=0.5, app_msg_types=frozenset({b"W", b"X", b"Y", b"j"}))


class EngineParts:
    """The engine side, wired like the paper host (minus journal and metrics)."""

    def __init__(self, config: Config) -> None:
        vc = config.venue
        self.config = config
        self.gateway = FixOrderGateway(account=vc.account, ex_destination=vc.ex_destination,
                                       currency=vc.currency)
        self.order_session = FixSession(order_session_config(config), MemoryStore(), self.gateway)
        self.gateway.attach(self.order_session)
        # the write stamp (gateway.last_write_ns) is FixSession.last_write_ns, taken right before the socket
        # write: after send() returns the venue may already have run (on loopback the send wakes it, and
        # the scheduler can switch to it inside the syscall)
        self.md = FixMarketData()
        self.md_session = FixSession(md_session_config(config), MemoryStore(), self.md)
        self.md.attach(self.md_session)
        self.stamps = OrderStamps(self.gateway, self.md)
        self.gateway.on_sent = self.stamps
        self.engine = TradingEngine(config, self.gateway)
        self.md.set_sink(self.engine.on_market_event)
        if hasattr(self.engine, "on_level") and hasattr(self.md, "level_sink"):
            self.md.level_sink = self.engine.on_level  # the host's allocation-free level path
        self.md.on_message_end = self.engine.on_md_message_end
        self.engine.md_request_snapshot = self.md.request_snapshot
        self.engine.md_tick = self.md.current_tick  # the production echo of 6001 (as runner.run_trading)

    def start(self) -> None:
        self.md.subscribe(self.engine.instruments)
        self.engine.start()

    @property
    def strategy(self) -> LatencyProbe:
        """The engine's strategy: always the latency probe here (bench_config names it)."""
        st = self.engine.strategy
        if not isinstance(st, LatencyProbe):
            raise RuntimeError(f"the benchmark engine runs {type(st).__name__}, not the latency probe")
        return st


# -------------------------------------------------------------------------------------- venue side
def venue_session_configs(config: Config) -> tuple[SessionConfig, SessionConfig]:
    vc, mc = config.venue, config.market_data
    order = SessionConfig(begin_string=vc.begin_string, sender_comp_id=vc.target_comp_id,
                          target_comp_id=vc.sender_comp_id, initiator=False,
                          heartbeat_interval=vc.heartbeat_s)
    md = SessionConfig(begin_string=vc.begin_string, sender_comp_id=mc.target_comp_id,
                       target_comp_id=mc.sender_comp_id, initiator=False, heartbeat_interval=vc.heartbeat_s)
    return order, md


class StubVenueMd(SessionApplication):
    """Market data side of the stub venue: snapshot on 35=V, then :meth:`tick` publishes one 35=X."""

    def __init__(self, symbol: str = SYMBOL, clock: Callable[[], int] = time.monotonic_ns) -> None:
        self.symbol = symbol
        self.sym_b = symbol.encode()
        self.clock = clock
        self.session: FixSession | None = None
        self.req_id = b""
        self.subscribed = False
        self.rpt_seq = 0
        self.tick_id = 0
        self.bids = [BASE_BID - i * STEP for i in range(LEVELS)]
        self.asks = [BASE_BID + STEP + i * STEP for i in range(LEVELS)]
        self.bid_px = [format_price(p).encode() for p in self.bids]
        self.ask_px = [format_price(p).encode() for p in self.asks]
        self.sent_ns = [0] * RING  # tick id & (RING-1) -> monotonic ns right before the socket write
        self._pending_tick = 0
        self._write: Callable[[bytes], None] | None = None

    def wrap_writer(self, session: FixSession) -> None:
        """Stamp the write time of each 35=X just before its bytes go to the socket (after encoding)."""
        inner = session._send_bytes
        sent = self.sent_ns
        clock = self.clock
        mask = RING - 1

        def write(data: bytes) -> None:
            t = self._pending_tick
            if t:
                sent[t & mask] = clock()
                self._pending_tick = 0
            inner(data)

        session._send_bytes = write

    def on_app_message(self, session: FixSession, msg: FixMessage) -> None:
        if msg.msg_type != b"V":
            return
        self.session = session
        self.req_id = msg.get(262) or b"md"
        if msg.get(263) == b"2":
            self.subscribed = False
            return
        if msg.get_str(55, "") != self.symbol:
            session.send(b"Y", [(262, self.req_id), (58, "unknown symbol")])
            return
        self.rpt_seq += 1
        body: list[tuple[int, bytes | str | int]] = [(262, self.req_id), (55, self.sym_b), (83, self.rpt_seq),
                                                     (268, 2 * LEVELS)]
        for i in range(LEVELS):
            body += [(269, b"0"), (270, self.bid_px[i]), (271, 1000 + i)]
        for i in range(LEVELS):
            body += [(269, b"1"), (270, self.ask_px[i]), (271, 1000 + i)]
        session.send(b"W", body)
        self.subscribed = True

    def tick(self) -> int:
        """Publish one incremental (a quantity change on one level); returns its tick id (0: not sent)."""
        s = self.session
        if s is None or not self.subscribed or not s.is_active:
            return 0
        self.tick_id += 1
        t = self.tick_id
        self.rpt_seq += 1
        lvl = t % LEVELS
        bid_side = t & 1
        px = self.bid_px[lvl] if bid_side else self.ask_px[lvl]
        qty = 1000 + (t * 37) % 500
        self._pending_tick = t
        s.send(b"X", [(262, self.req_id), (83, self.rpt_seq), (6000, self.clock()), (6001, t), (268, 1),
                      (279, b"1"), (269, b"0" if bid_side else b"1"), (55, self.sym_b), (270, px),
                      (271, qty)])
        return t


class StubVenueOrders(SessionApplication):
    """Order entry side of the stub venue: every 35=D is answered (IOC -> expired, DAY -> new), every 35=F
    is answered canceled; a 35=D echoing 6001 records ``arrival - sent_ns[tick]`` in ``latencies``."""

    def __init__(self, md: StubVenueMd, clock: Callable[[], int] = time.monotonic_ns) -> None:
        self.md = md
        self.clock = clock
        self.recv_ns = 0
        self.latencies: list[int] = []
        self.ticks_echoed: list[int] = []
        self.orders = 0
        self.unmatched = 0
        self._oid = 0

    def wrap_reader(self, session: FixSession) -> None:
        """Stamp arrival when the bytes are handed to the session (before parsing)."""
        clock = self.clock

        def stamp() -> None:
            self.recv_ns = clock()

        session.on_read = stamp  # the session's hook, first thing on every read

    def on_app_message(self, session: FixSession, msg: FixMessage) -> None:
        mt = msg.msg_type
        if mt == b"D":
            self.orders += 1
            tick = msg.get(6001)
            if tick is not None:
                t = int(tick)
                sent = self.md.sent_ns[t & (RING - 1)]
                if sent and t <= self.md.tick_id:
                    self.latencies.append(self.recv_ns - sent)
                    self.ticks_echoed.append(t)
                else:
                    self.unmatched += 1
            self._oid += 1
            ioc = msg.get(59) == b"3"
            status = b"C" if ioc else b"0"  # IOC remainder: expired (no warning path in the OM)
            session.send(b"8", [(37, b"O%d" % self._oid), (11, msg.get(11) or b""),
                                (17, b"E%d" % self._oid), (20, b"0"), (150, status), (39, status),
                                (55, msg.get(55) or b""), (54, msg.get(54) or b"1"),
                                (38, msg.get(38) or b"0"), (44, msg.get(44) or b"0"),
                                (151, b"0" if ioc else (msg.get(38) or b"0")), (14, b"0"), (6, b"0"),
                                (60, _fmt_ts(time.time_ns()))])
        elif mt == b"F":
            self._oid += 1
            session.send(b"8", [(37, msg.get(37) or b"O0"), (11, msg.get(11) or b""),
                                (41, msg.get(41) or b""), (17, b"E%d" % self._oid), (20, b"0"), (150, b"4"),
                                (39, b"4"), (55, msg.get(55) or b""), (54, msg.get(54) or b"1"), (151, b"0"),
                                (14, b"0"), (6, b"0"), (60, _fmt_ts(time.time_ns()))])


# ------------------------------------------------------------------------------- in-process harness
def tcp_pair() -> tuple[socket.socket, socket.socket]:
    """Two connected TCP sockets on 127.0.0.1 (a real loopback connection)."""
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        ls.bind(("127.0.0.1", 0))
        ls.listen(1)
        a = socket.create_connection(ls.getsockname())
        b, _ = ls.accept()
    finally:
        ls.close()
    return a, b


class InProcessHotPath:
    """Engine and stub venue in one process over two real loopback TCP connections, pumped in turn.

    :meth:`tick` publishes one 35=X and runs the engine side on it (read, parse, book, strategy, risk,
    encode, write); :meth:`drain` lets the venue read the order and answer, and the engine read the
    execution report. Nothing blocks: all four sockets are non-blocking.
    """

    def __init__(self, fraction: float = 1.0, mode: str = "ioc", order_history: int | None = None) -> None:
        from hft.engine.busyloop import BusyConnection

        self.config = bench_config(fraction, mode=mode, order_history=order_history)
        self.parts = EngineParts(self.config)
        vo_cfg, vm_cfg = venue_session_configs(self.config)
        self.venue_md = StubVenueMd()
        self.venue_orders = StubVenueOrders(self.venue_md)
        self.v_order = FixSession(vo_cfg, MemoryStore(), self.venue_orders)
        self.v_md = FixSession(vm_cfg, MemoryStore(), self.venue_md)
        self._socks: list[socket.socket] = []
        oa, ob = tcp_pair()
        ma, mb = tcp_pair()
        self._socks += [oa, ob, ma, mb]
        self.v_order_conn = BusyConnection(self.v_order, ob, busy_poll_us=0)
        self.v_md_conn = BusyConnection(self.v_md, mb, busy_poll_us=0)
        self.venue_orders.wrap_reader(self.v_order)
        self.e_order_conn = BusyConnection(self.parts.order_session, oa, busy_poll_us=0)
        self.e_md_conn = BusyConnection(self.parts.md_session, ma, busy_poll_us=0)
        self.conns = (self.e_order_conn, self.e_md_conn, self.v_order_conn, self.v_md_conn)
        self._pump_until(lambda: self.parts.order_session.is_active and self.parts.md_session.is_active)
        self.venue_md.wrap_writer(self.v_md)
        self.parts.start()
        self._pump_until(lambda: not self.parts.md.is_stale(SYMBOL) and bool(
            self.parts.engine.books[SYMBOL].best_bid()))

    def _pump_until(self, pred: Callable[[], bool], timeout: float = 5.0) -> None:
        end = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > end:
                raise RuntimeError("in-process hot path: setup did not complete (logon/snapshot)")
            for c in self.conns:
                c.poll()

    def tick(self) -> bool:
        """Publish one 35=X and process it on the engine side; True if the engine read something."""
        self.venue_md.tick()
        conn = self.e_md_conn
        return any(conn.poll() for _ in range(10_000))

    def drain(self) -> None:
        """Venue reads orders and answers; the engine reads the answers (cold part of the cycle)."""
        for _ in range(3):
            self.v_order_conn.poll()
            self.e_order_conn.poll()
            self.v_md_conn.poll()

    def warm_and_freeze(self, warmup: int = 300) -> None:
        """Run ``warmup`` whole cycles, then collect and freeze what start-up left (gc.unfreeze to undo)."""
        import gc

        for _ in range(warmup):
            self.tick()
            self.drain()
        gc.collect()
        gc.freeze()

    def time_ticks(self, ticks: int) -> list[int]:
        """Un-instrumented engine ticks: ns from the first poll that finds the 35=X to the order written."""
        pc = time.perf_counter_ns
        conn = self.e_md_conn
        tick, drain = self.venue_md.tick, self.drain
        out: list[int] = []
        for _ in range(ticks):
            tick()
            t0 = pc()
            while not conn.poll():
                t0 = pc()
            out.append(pc() - t0)
            drain()
        return out

    def gap_ticks(self, ticks: int, gap_us: float, warm_us: float = 0.0) -> list[int]:
        """:meth:`time_ticks` with an idle gap before each tick, as at 1000 ticks/s across processes: the
        engine polls its two sockets (non-blocking reads that find nothing, as the busy loop's idle passes)
        for ``gap_us``, and with ``warm_us`` > 0 calls the busy loop's warmers (``FixMarketData.warm``,
        ``TradingEngine.warm``), each every ``warm_us``, one at a time as ``BusyLoop`` does. ns per tick,
        read -> 35=D written."""
        pc = time.perf_counter_ns
        conn, oconn = self.e_md_conn, self.e_order_conn
        warmers = (self.parts.md.warm, self.parts.engine.warm)
        gap, every = int(gap_us * 1000), int(warm_us * 1000) // len(warmers)  # one per pass, in turn
        out: list[int] = []
        k = 0
        for _ in range(ticks):
            now = pc()
            end = now + gap
            next_warm = now + every
            while now < end:
                conn.poll()
                oconn.poll()
                now = pc()
                if every and now >= next_warm:
                    warmers[k % 2]()
                    k += 1
                    next_warm = pc() + every
            out += self.time_ticks(1)  # the tick itself, timed as time_ticks times it
        return out

    def close(self) -> None:
        for c in self.conns:
            c.close("done")
        for s in self._socks:
            s.close()


# ------------------------------------------------------------------------------- tick timing / A/B
def plain_ticks_ns(ticks: int = 2000, warmup: int = 300, fraction: float = 1.0) -> list[int]:
    """Un-instrumented engine ticks (read -> ... -> 35=D written) in-process on a fresh hot path, ns each
    (warmed and frozen first; unfrozen and closed after)."""
    import gc

    h = InProcessHotPath(fraction)
    try:
        h.warm_and_freeze(warmup)
        return h.time_ticks(ticks)
    finally:
        gc.unfreeze()
        h.close()


def gap_tick_p50_us(ticks: int = 500, gap_us: float = 1000.0, warm_us: float = 200.0, rounds: int = 3,
                    fraction: float = 1.0) -> dict[str, Any]:
    """In-process tick p50 after an idle gap (:meth:`InProcessHotPath.gap_ticks`), without and with cache
    warming, rounds alternating in one process: ``{"cold": [p50 us per round], "warmed": [...]}``."""
    import gc

    h = InProcessHotPath(fraction)
    res: dict[str, Any] = {"gap_us": gap_us, "warm_us": warm_us, "ticks": ticks, "cold": [], "warmed": []}
    try:
        h.warm_and_freeze(300)
        for _ in range(rounds):
            for k, w in (("cold", 0.0), ("warmed", warm_us)):
                v = sorted(h.gap_ticks(ticks, gap_us, w))
                res[k].append(round(v[len(v) // 2] / 1000, 2))
    finally:
        gc.unfreeze()
        h.close()
    for k in ("cold", "warmed"):
        res[k + "_median"] = sorted(res[k])[len(res[k]) // 2]
    return res


def tick_p50_us(ticks: int = 2000, warmup: int = 300, fraction: float = 1.0) -> float:
    """Median un-instrumented engine tick (read -> ... -> 35=D written) in-process, microseconds."""
    out = plain_ticks_ns(ticks, warmup, fraction)
    out.sort()
    return round(out[len(out) // 2] / 1000, 2)


# standalone on purpose: it also runs against --baseline-src trees that predate time_ticks()
_CHILD = """
import gc, time
from hft.bench.hotpath import InProcessHotPath
h = InProcessHotPath(1.0)
for _ in range(300):
    h.tick(); h.drain()
gc.collect(); gc.freeze()
pc = time.perf_counter_ns; conn = h.e_md_conn; out = []
for _ in range({ticks}):
    h.venue_md.tick()
    t0 = pc()
    while not conn.poll():
        t0 = pc()
    out.append(pc() - t0)
    h.drain()
h.close(); out.sort()
print(round(out[len(out) // 2] / 1000, 2))
"""


SPLIT_POINTS = ("read_to_md", "md_decode", "book", "to_strategy", "strategy_to_risk", "risk",
                "order_manager", "gateway", "build_store", "send_and_return")


def tick_split_us(ticks: int = 3000, warmup: int = 300) -> dict[str, float]:
    """Where the tick goes, in place (cold caches included): a ``perf_counter_ns`` stamp on entry to each
    stage (one thin wrapper per stage, ~0.1-0.2 us each), median of the differences between consecutive
    stamps: poll start -> market data reader -> level sink -> message end -> strategy -> risk check ->
    order manager -> gateway -> session send -> socket write -> poll end."""
    import gc

    if compiled_hot_path():
        # the wrappers below need interpreted classes: split the interpreted build, say so
        res: dict[str, float] = run_interpreted("hft.bench.hotpath", "tick_split_us",
                                                {"ticks": ticks, "warmup": warmup})
        return res
    h = InProcessHotPath(1.0)
    p = h.parts
    stamps: dict[str, int] = {}
    pc = time.perf_counter_ns

    def at(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def w(*a: Any, **k: Any) -> Any:
            stamps[name] = pc()
            return fn(*a, **k)
        return w

    try:
        for _ in range(warmup):
            h.tick()
            h.drain()
        s = p.md_session
        if s.fast_reader is None:
            raise RuntimeError("the market data session has no fast reader")
        s.fast_reader = at(SPLIT_POINTS[0], s.fast_reader)
        strat = p.engine.strategy
        if p.md.level_sink is None or p.md.on_message_end is None or strat is None:
            raise RuntimeError("the benchmark engine has no level sink, message-end hook or strategy")
        p.md.level_sink = at(SPLIT_POINTS[1], p.md.level_sink)
        p.md.on_message_end = at(SPLIT_POINTS[2], p.md.on_message_end)
        strat.on_book = at(SPLIT_POINTS[3], strat.on_book)  # type: ignore[method-assign]
        p.engine.risk.check = at(SPLIT_POINTS[4], p.engine.risk.check)  # type: ignore[method-assign]
        p.engine.om.submit = at(SPLIT_POINTS[5], p.engine.om.submit)  # type: ignore[method-assign]
        p.gateway.send_new = at(SPLIT_POINTS[6], p.gateway.send_new)  # type: ignore[method-assign]
        p.order_session.send_new_order_t = at(  # type: ignore[method-assign]
            SPLIT_POINTS[7], p.order_session.send_new_order_t)
        p.order_session._send_bytes = at(SPLIT_POINTS[8], p.order_session._send_bytes)
        gc.collect()
        gc.freeze()
        acc: dict[str, list[int]] = {k: [] for k in SPLIT_POINTS}
        conn = h.e_md_conn
        for _ in range(ticks):
            h.venue_md.tick()
            t0 = pc()
            while not conn.poll():
                t0 = pc()
            t9 = pc()
            prev = t0
            for k in SPLIT_POINTS[:-1]:
                acc[k].append(stamps[k] - prev)
                prev = stamps[k]
            acc[SPLIT_POINTS[-1]].append(t9 - prev)
            h.drain()
    finally:
        gc.unfreeze()
        h.close()
    return {k: round(sorted(v)[len(v) // 2] / 1000, 2) for k, v in acc.items()}


def _child_round(src: str, ticks: int) -> float:
    import subprocess
    import sys

    # self-contained (the baseline tree may predate tick_p50_us): the same loop as tick_p50_us
    code = _CHILD.format(ticks=ticks)
    env = None
    if src:
        import os

        env = dict(os.environ, PYTHONPATH=src)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    """``python -m hft.bench.hotpath``: in-process tick p50, optionally A/B against another source tree."""
    import argparse
    import json
    import os

    ap = argparse.ArgumentParser(prog="python -m hft.bench.hotpath", description=(
        "In-process engine tick time (read -> parse -> book -> strategy -> risk -> order -> write), p50 of "
        "TICKS back-to-back ticks per round; each round is a fresh process."))
    ap.add_argument("--ticks", type=int, default=2000, help="ticks per round (default 2000)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per code version (default 3)")
    ap.add_argument("--baseline-src", default="", metavar="DIR",
                    help="a 'src' directory of another version (e.g. from git archive): rounds alternate "
                         "between it (before) and this checkout (after)")
    ap.add_argument("--split", action="store_true",
                    help="also report where the tick goes (median gaps between stage-entry stamps)")
    ap.add_argument("--gap-us", type=float, default=0.0, metavar="US",
                    help="also time ticks after an idle gap of US microseconds (the engine polling its "
                         "sockets, as the busy loop between ticks), without and with cache warming")
    ap.add_argument("--warm-us", type=float, default=200.0, metavar="US",
                    help="--gap-us: the busy loop's warmers every US microseconds of the gap (default 200)")
    ap.add_argument("--json", action="store_true", help="print JSON only")
    a = ap.parse_args(argv)
    if a.ticks <= 0 or a.rounds <= 0:
        ap.error("--ticks and --rounds must be positive")
    if a.baseline_src and not os.path.isdir(os.path.join(a.baseline_src, "hft")):
        ap.error(f"--baseline-src {a.baseline_src!r}: no hft package there")
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    res: dict[str, list[float]] = {"after": []}
    if a.baseline_src:
        res["before"] = []
    load_before = os.getloadavg()[0]
    for _ in range(a.rounds):
        if a.baseline_src:
            res["before"].append(_child_round(a.baseline_src, a.ticks))
        res["after"].append(_child_round(here, a.ticks))
    out: dict[str, object] = {"ticks": a.ticks, "rounds": a.rounds, "load": [load_before, os.getloadavg()[0]]}
    for k, v in res.items():
        s = sorted(v)
        out[k] = {"p50_us_rounds": v, "min": s[0], "median": s[len(s) // 2]}
    if a.split:
        out["split_us"] = tick_split_us(max(a.ticks, 500))
    if a.gap_us > 0:
        out["gap"] = gap_tick_p50_us(min(a.ticks, 500), a.gap_us, a.warm_us, a.rounds)
    if "before" in res:
        out["ratio_median"] = round(out["after"]["median"] / out["before"]["median"], 3)  # type: ignore[index]
    print(json.dumps(out) if a.json else json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
