"""``hft bench latency``: wire-to-wire tick-to-trade over loopback TCP, FIX both ways, plus a stage breakdown.

Two processes, started fresh for each measured loop kind:

- the **venue**: by default the stub venue of :mod:`hft.bench.hotpath` (a FIX market data session that
  publishes one 35=X incremental every ``1/rate`` seconds, and a FIX order-entry session that answers
  every 35=D). Each 35=X (tag 6001 carries the tick id) gets the **kernel's transmit stamp**
  (:class:`hft.runtime.timestamps.TxTimestamper`: the moment its last byte reached the loopback device)
  and each 35=D's arrival the **kernel's receive stamp** (``SO_TIMESTAMPNS`` on the order-entry socket):
  tick-to-trade = rx stamp of the 35=D that echoes 6001 - tx stamp of that tick, the two points where a
  packet capture on ``lo`` would see them (``wire_to_wire_basis: "capture"``). The venue's own stamp
  right before its ``send`` syscall is kept too: ``wire_to_wire_from_venue_write_us`` measures from
  there, and ``venue_send_us`` is the venue's send call up to the device (the exchange's side of the
  wire, not the engine's; 5-6 us p50 here). Where the kernel gives no transmit stamp the headline falls
  back to the write stamp (``"venue_write"``). The venue sleeps in ``select`` between events; its own
  wake-up delay is outside the measurement. ``--venue sim`` runs the project's exchange
  simulator (``hft.sim.server.SimServer``) instead and reads its tick-to-trade histogram (its stamps:
  monotonic ns at its write and at its read, so its wake-up delay is inside).
- the **engine**: the engine the paper/live hosts run, assembled by the same function
  (:func:`hft.engine.host.assemble`: FixSession x2, FixMarketData, TradingEngine with L2Book, the
  ``latency_probe`` strategy, RiskManager, OrderManager, FixOrderGateway, the journal and the FIX store
  with the product's fsync policies, the GC policy) and run by the same host functions
  (``runner.run_trading`` for ``--loop asyncio``, ``busyloop.run_busy`` for ``--loop busy``); the only
  benchmark additions are a recv->write stamp per order (the engine echoes 6001 itself) and, in the busy
  loops, the host's kernel stamps (``engine.wire_stamps``, off by default in paper/live), which split each
  sample into wire in (tick's tx stamp -> engine's rx stamp) / kernel-to-read / engine / wire out
  (``segments``).
- ``--paper``: the engine is an ``hft paper --config`` process instead (product defaults; ``--paper-hft``
  picks the build), measured by the same venue the same way; ``--alternate N`` runs benchmark engine and
  product side by side, N rounds alternating, and reports the medians and their ratios.

The headline is the wire-to-wire distribution (HdrHistogram: p50/p90/p99/p99.9/max/count) per loop.
The **stage breakdown** runs the same engine objects in-process against the stub venue over real
loopback sockets (see :class:`hft.bench.hotpath.InProcessHotPath`) and times each stage per tick with
``time.perf_counter_ns`` wrappers (exclusive time: a stage's time excludes the stages it calls), next to
the un-instrumented per-tick time so the wrappers' own cost is visible.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import multiprocessing as mp
import os
import select
import socket
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_TS = struct.Struct("qq")
PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _steal_ticks() -> dict[str, int]:
    """Per-CPU steal time so far (``/proc/stat``, USER_HZ ticks): time a virtual CPU was ready to run but
    the hypervisor ran something else. Empty where there is no ``/proc/stat``."""
    out: dict[str, int] = {}
    try:
        with open("/proc/stat") as f:
            for line in f:
                if not line.startswith("cpu") or line.startswith("cpu "):
                    continue
                parts = line.split()
                if len(parts) > 8:
                    out[parts[0]] = int(parts[8])
    except OSError:
        return {}
    return out


def _steal_ms(before: dict[str, int], after: dict[str, int]) -> dict[str, float]:
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    return {k: round((after[k] - before.get(k, after[k])) * 1000 / hz, 1) for k in after}


def summarize(values_ns: list[int]) -> dict[str, Any]:
    """HdrHistogram summary in microseconds (3 significant digits)."""
    from hdrh.histogram import HdrHistogram

    h = HdrHistogram(1, 60_000_000_000, 3)
    for v in values_ns:
        h.record_value(max(1, int(v)))
    out: dict[str, Any] = {"count": h.get_total_count()}
    if not values_ns:
        out.update({"p50": None, "p90": None, "p99": None, "p99_9": None, "max": None, "mean": None})
        return out
    for p in PERCENTILES:
        key = "p" + (f"{p:g}".replace(".", "_"))
        out[key] = round(h.get_value_at_percentile(p) / 1000, 1)
    out["max"] = round(h.get_max_value() / 1000, 1)
    out["min"] = round(h.get_min_value() / 1000, 1)
    out["mean"] = round(h.get_mean_value() / 1000, 1)
    return out


# ======================================================================================== venue process
class _Conn:
    """A venue-side connection: non-blocking reads; kernel receive timestamps when asked."""

    def __init__(self, session: Any, sock: socket.socket, rx_timestamps: bool) -> None:
        from hft.engine.busyloop import BusyConnection

        if rx_timestamps:
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.rx_timestamps = rx_timestamps
        self.sock = sock
        self.kernel_rx_ns = 0
        self.user_rx_ns = 0
        self._buf = bytearray(1 << 16)
        self._mv = memoryview(self._buf)
        self.conn = BusyConnection(session, sock, busy_poll_us=0)
        self.session = session

    def poll(self) -> int:
        if self.conn.closed:
            return 0
        if not self.rx_timestamps:
            return self.conn.poll()
        try:
            n, anc, _flags, _addr = self.sock.recvmsg_into([self._buf], 64)
        except BlockingIOError:
            return 0
        except OSError as e:
            self.conn._lost(str(e))
            return 0
        if n == 0:
            self.conn._lost("closed by peer")
            return 0
        self.user_rx_ns = time.time_ns()
        self.kernel_rx_ns = self.user_rx_ns
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
                s, ns = _TS.unpack_from(data)
                self.kernel_rx_ns = s * 1_000_000_000 + ns
        self.session.on_data(self._mv[:n])
        return n


def _venue_stub(pipe: Any, rate: float) -> None:
    """The stub venue process: listen on two ports, publish ticks at ``rate`` Hz after "go"."""
    from hft.bench.hotpath import StubVenueMd, StubVenueOrders, bench_config, venue_session_configs
    from hft.fix.session import FixSession
    from hft.fix.store import MemoryStore

    config = bench_config()
    vo_cfg, vm_cfg = venue_session_configs(config)
    md_app = StubVenueMd(clock=time.time_ns)
    orders_app = StubVenueOrders(md_app, clock=time.time_ns)
    s_order = FixSession(vo_cfg, MemoryStore(), orders_app)
    s_md = FixSession(vm_cfg, MemoryStore(), md_app)
    listeners = {}
    for name in ("order", "md"):
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", 0))
        ls.listen(4)
        listeners[name] = ls
    pipe.send({"order_port": listeners["order"].getsockname()[1],
               "md_port": listeners["md"].getsockname()[1]})
    conns: dict[str, _Conn] = {}
    # kernel transmit stamps of the ticks (TxTimestamper on the md connection): the moment each 35=X's
    # last byte reached the loopback device, where a capture on lo sees it
    from hft.runtime.timestamps import TxTimestamper

    mask = len(md_app.sent_ns) - 1
    tx_ns = [0] * (mask + 1)  # tick id & mask -> kernel tx stamp (0: none)
    tx_wait: dict[int, int] = {}  # stamp key -> tick id, until its stamp is read
    txs: TxTimestamper | None = None
    md_base = 0  # s_md.counters.bytes_out when the md connection was accepted
    tx_info: dict[str, Any] = {"stamped": 0, "mode": "off", "reason": ""}

    def drain_tx() -> None:
        if txs is None:
            return
        for key, ts in txs.drain():
            t = tx_wait.pop(key, 0)
            if t:
                tx_ns[t & mask] = ts
                tx_info["stamped"] += 1

    ticking = False
    period = 1.0 / rate
    next_tick = 0.0
    next_timer = time.monotonic() + 0.05
    user_lat: list[int] = []
    wrapped = False
    orig_app_msg = orders_app.on_app_message

    def on_order(session: Any, msg: Any) -> None:  # arrival = kernel rx timestamp of these bytes
        c = conns.get("order")
        if c is not None:
            orders_app.recv_ns = c.kernel_rx_ns
            n = len(orders_app.latencies)
            orig_app_msg(session, msg)
            if len(orders_app.latencies) > n:
                user_lat.append(c.user_rx_ns - md_app.sent_ns[orders_app.ticks_echoed[-1] & mask])
        else:
            orig_app_msg(session, msg)

    orders_app.on_app_message = on_order  # type: ignore[method-assign]
    ticks_sent = 0
    while True:
        now = time.monotonic()
        timeout = 0.05
        if ticking:
            timeout = max(0.0, min(timeout, next_tick - now))
        rl: list[Any] = [pipe, *listeners.values(), *(c.sock for c in conns.values() if not c.conn.closed)]
        ready, _, _ = select.select(rl, [], [], timeout)
        for r in ready:
            if r is pipe:
                cmd = pipe.recv()
                if cmd == "go":
                    ticking = True
                    tx_info["stamped"] = 0
                    next_tick = time.monotonic()
                    orders_app.latencies.clear()
                    orders_app.ticks_echoed.clear()
                    user_lat.clear()
                    orders_app.orders = 0
                    orders_app.unmatched = 0
                    ticks_sent = 0
                elif cmd == "stop":
                    ticking = False
                    end = time.monotonic() + 0.2  # answers still in flight
                    while time.monotonic() < end:
                        select.select([c.sock for c in conns.values() if not c.conn.closed], [], [], 0.01)
                        for c in conns.values():
                            c.poll()
                        drain_tx()
                    pipe.send({"latencies_ns": list(orders_app.latencies),
                               "venue_user_latencies_ns": user_lat, "ticks_sent": ticks_sent,
                               "orders": orders_app.orders, "matched": len(orders_app.latencies),
                               "unmatched": orders_app.unmatched,
                               "ticks_echoed": list(orders_app.ticks_echoed),
                               "sent_ns": [md_app.sent_ns[t & mask] for t in orders_app.ticks_echoed],
                               "tx_ns": [tx_ns[t & mask] for t in orders_app.ticks_echoed],
                               "tx_stamps": dict(tx_info)})
                elif cmd == "drop":  # tests: cut both connections (the engine must reconnect)
                    for c in conns.values():
                        c.conn.close("dropped")
                        if c.session.state != 0:
                            c.session.connection_lost("dropped")
                    conns.clear()
                    pipe.send({"dropped": True})
                elif cmd == "stats":
                    pipe.send({"orders": orders_app.orders, "ticks_sent": ticks_sent,
                               "logons": s_order.counters.logons + s_md.counters.logons})
                elif cmd == "exit":
                    for c in conns.values():
                        c.conn.close("exit")
                    return
            elif r is listeners["order"] or r is listeners["md"]:
                name = "order" if r is listeners["order"] else "md"
                sock, _ = r.accept()
                old = conns.get(name)
                if old is not None and not old.conn.closed:
                    old.conn.close("replaced")
                sess = s_order if name == "order" else s_md
                if sess.state != 0:
                    sess.connection_lost("replaced")
                if name == "md":  # before the first byte: stamp keys count from here
                    if txs is not None:
                        txs.close()
                    txs = TxTimestamper(sock)
                    tx_info["mode"] = "software" if txs.enabled else "off"
                    tx_info["reason"] = txs.reason
                    if not txs.enabled:
                        txs = None
                    tx_wait.clear()
                    md_base = s_md.counters.bytes_out
                conns[name] = _Conn(sess, sock, rx_timestamps=(name == "order"))
                if name == "md":
                    wrapped = False
            else:
                for c in conns.values():
                    if c.sock is r:
                        c.poll()
        if not wrapped and "md" in conns and s_md.is_active:
            md_app.wrap_writer(s_md)
            wrapped = True
        now = time.monotonic()
        drain_tx()  # other sends' stamps (snapshot, heartbeats): an undrained error queue keeps select awake
        if ticking and now >= next_tick:
            t = md_app.tick()
            if t:
                ticks_sent += 1
                if txs is not None:
                    tx_ns[t & mask] = 0
                    tx_wait[TxTimestamper.key_after(s_md.counters.bytes_out - md_base)] = t
                    drain_tx()  # loopback transmits inside the send call: the stamp is already queued
            next_tick += period
            if next_tick < now - 10 * period:  # fell far behind (machine busy): do not burst
                next_tick = now + period
        if now >= next_timer:
            next_timer = now + 0.05
            for s in (s_order, s_md):
                s.on_timer()


def _venue_sim(pipe: Any, rate: float) -> None:
    """The project's exchange simulator as the venue: BHP only, background flow scaled so that it
    publishes roughly ``rate`` incrementals per second; its own wire-to-wire samples (monotonic ns at
    its write of the 35=X and at its read of the 35=D)."""
    from hft.sim.config import FlowSettings, InstrumentConfig, SimConfig
    from hft.sim.server import SimServer

    # BHP's default flow: ~10 limit + 1.5 marketable + cancels per second, ~1.2 incrementals each
    cfg = SimConfig.default(metrics_enabled=False, instruments=(InstrumentConfig("BHP", 450_000),),
                            flow=FlowSettings(rate=max(0.01, rate / 14.0), seed=1, max_sleep_ms=5.0))
    sim = SimServer(cfg)
    sim.start()
    pipe.send({"order_port": sim.order_port, "md_port": sim.md_port})
    start = 0
    ticks0 = 0
    try:
        while True:
            cmd = pipe.recv()
            if cmd == "go":
                start = len(sim.wire_to_wire_samples())
                ticks0 = int(sim.stats()["md_ticks"])
            elif cmd == "stop":
                time.sleep(0.2)
                lat = sim.wire_to_wire_samples()[start:]
                st = sim.stats()
                pipe.send({"latencies_ns": lat, "venue_user_latencies_ns": [],
                           "ticks_sent": int(st["md_ticks"]) - ticks0, "orders": None, "matched": len(lat),
                           "unmatched": None, "ticks_echoed": [], "sim_stats": {
                               k: st[k] for k in ("gateway", "marketdata", "trades", "flow_events")}})
            elif cmd == "stats":
                pipe.send({"orders": None, "ticks_sent": int(sim.stats()["md_ticks"]) - ticks0})
            elif cmd == "exit":
                return
    finally:
        sim.stop()


def _venue_main(pipe: Any, venue: str, rate: float, cores: tuple[int, ...] = ()) -> None:
    if cores:
        with contextlib.suppress(OSError, ValueError):
            os.sched_setaffinity(0, cores)
    try:
        if venue == "sim":
            _venue_sim(pipe, rate)
        else:
            _venue_stub(pipe, rate)
    except Exception as e:  # report instead of dying silently
        with contextlib.suppress(Exception):
            pipe.send({"error": f"venue: {type(e).__name__}: {e}"})
        raise


# ======================================================================================= engine process
def _engine_main(pipe: Any, loop_kind: str, order_port: int, md_port: int, fraction: float,
                 spin_us: float = 100.0, cores: tuple[int, ...] = (), rt_priority: int = 0,
                 rx_stamps: bool = True, warm_us: float = 0.0) -> None:
    try:
        tuning: dict[str, Any] = {}
        if cores or rt_priority:
            from hft.runtime.affinity import apply_process_tuning

            tuning = apply_process_tuning(cores, realtime=rt_priority > 0,
                                          rt_priority=rt_priority or 50).as_dict()
        if loop_kind == "floor":
            _engine_floor(pipe, order_port, md_port, fraction, tuning)
        else:
            _engine(pipe, loop_kind, order_port, md_port, fraction, spin_us, tuning, rx_stamps, warm_us)
    except Exception as e:
        with contextlib.suppress(Exception):
            pipe.send({"error": f"engine: {type(e).__name__}: {e}"})
        raise


_GC_SEEN = [0, 0, 0]  # collections per generation in this (engine) process after start-up


def _count_gc(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        _GC_SEEN[info["generation"]] += 1


def _engine_floor(pipe: Any, order_port: int, md_port: int, fraction: float, tuning: dict[str, Any]) -> None:
    """The floor: the issue's "trivial Python client" speaking FIX. Spins on a non-blocking ``recv`` of
    the market data socket, finds each 35=X's 6001, and for the answered fraction sends a pre-shaped 35=D
    (``FixEncoder.new_order_single``, own sequence counter) echoing it; no session layer, no book, no
    strategy, no risk. What is left of wire-to-wire here is the machine (kernel, scheduler) plus a few
    microseconds of Python: the engine's number is best read as a multiple of this one."""
    from hft.bench.hotpath import SYMBOL, StampLog, bench_config
    from hft.fix.encoder import FixEncoder

    cfg = bench_config(fraction)
    vc, mc = cfg.venue, cfg.market_data
    eo = FixEncoder(vc.begin_string, vc.sender_comp_id, vc.target_comp_id)
    em = FixEncoder(vc.begin_string, mc.sender_comp_id, mc.target_comp_id)
    so = socket.create_connection(("127.0.0.1", order_port))
    sm = socket.create_connection(("127.0.0.1", md_port))
    for s_ in (so, sm):
        s_.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    logon = [(98, b"0"), (108, 30), (141, b"Y")]
    so.sendall(eo.encode(b"A", logon, 1))
    sm.sendall(em.encode(b"A", logon, 1))

    def wait_for(sock: socket.socket, needle: bytes) -> None:
        sock.settimeout(10)
        got = b""
        while needle not in got:
            chunk = sock.recv(65536)
            if not chunk:
                raise RuntimeError("floor client: venue closed the connection")
            got += chunk

    wait_for(so, b"\x0135=A\x01")
    wait_for(sm, b"\x0135=A\x01")
    sm.sendall(em.encode(b"V", [(262, b"floor"), (263, b"1"), (264, 10), (265, b"1"), (267, 2), (269, b"0"),
                                (269, b"1"), (146, 1), (55, SYMBOL)], 2))
    wait_for(sm, b"\x0135=W\x01")
    so.setblocking(False)
    sm.setblocking(False)
    gc.collect()
    gc.freeze()
    gc.callbacks.append(_count_gc)
    pipe.send({"ready": True})
    internal = StampLog()
    buf = bytearray(1 << 16)
    junk = bytearray(1 << 16)
    recv_into = sm.recv_into
    key = b"\x016001="
    seq = 2
    n = 0
    due = 0
    idle = 0
    sym = SYMBOL.encode()
    while True:
        try:
            k = recv_into(buf)
        except BlockingIOError:
            idle += 1
            if idle >= 256:
                idle = 0
                with contextlib.suppress(BlockingIOError):
                    so.recv_into(junk)  # execution reports: read and dropped
                if pipe.poll():
                    break
            continue
        if k == 0:
            break
        t_recv = time.time_ns()
        data = bytes(buf[:k])
        i = data.find(key)
        while i >= 0:
            j = data.find(b"\x01", i + 6)
            n += 1
            d = int(n * fraction)
            if d != due:
                due = d
                tick = data[i + 6 : j]
                frame = eo.new_order_single(seq, b"F%d" % seq, sym, 1, 1, 449_500, tif=b"3", account=b"PAPER",
                                            tail=b"\x016001=" + tick)
                seq += 1
                t_pre = time.time_ns()
                so.send(frame)
                internal.record(int(tick), 0, t_recv, t_pre)
            i = data.find(key, j)
    pipe.recv()
    pipe.send({"updates": n, "answered": len(internal), "refused": 0, "skipped": 0, "orders_sent": seq - 2,
               "risk_rejected": 0, "md_messages": n, "internal_ns": internal.as_dict(),
               "gc_counts": list(gc.get_count()), "gc_collections_while_measured": list(_GC_SEEN),
               "tuning": tuning})
    for s_ in (so, sm):
        s_.close()


def _engine(pipe: Any, loop_kind: str, order_port: int, md_port: int, fraction: float, spin_us: float,
            tuning: dict[str, Any], rx_stamps: bool = True, warm_us: float = 0.0) -> None:
    """The engine process: the engine the paper/live hosts assemble (:func:`hft.engine.host.assemble`,
    run by ``busyloop.run_busy`` or ``runner.run_trading``: journal and FIX store with the product's
    fsync policies in a temporary directory, GC policy, cache warmers), with the benchmark's per-order
    stamps hooked on the gateway (``OrderStamps``: tick id, kernel rx, read, pre-write; after the write,
    off the measured path). ``rx_stamps`` (busy/hybrid): ``engine.wire_stamps``, the host's kernel
    receive stamps on the market data socket (and transmit stamps on the order socket)."""
    import asyncio
    import dataclasses
    import tempfile

    from hft.bench.hotpath import SYMBOL, OrderStamps, StampLog, bench_config
    from hft.engine.runner import HostOptions

    busy = loop_kind in ("busy", "hybrid")
    work = tempfile.mkdtemp(prefix="hft-bench-engine-")
    base = bench_config(fraction, venue_port=order_port, md_port=md_port,
                        loop="busy_poll" if busy else "asyncio")
    config = dataclasses.replace(
        base, venue=dataclasses.replace(base.venue, store_dir=f"{work}/fix-store",
                                        store_fsync=type(base.venue)().store_fsync),  # the product's policy
        journal=dataclasses.replace(base.journal, path=f"{work}/journal.bin"),
        engine=dataclasses.replace(base.engine, wire_stamps=busy and rx_stamps, busy_warm_us=warm_us))
    internal = StampLog()
    box: dict[str, Any] = {}

    def hook(host: Any) -> OrderStamps:
        stamps = OrderStamps(host.gateway, host.md)
        stamps.internal = internal
        prev = host.gateway.on_sent  # the host's own (engine.wire_stamps), kept

        def on_sent(tick: bytes) -> None:
            stamps(tick)
            if prev is not None:
                prev(tick)

        host.gateway.on_sent = on_sent
        box["host"] = host
        return stamps

    def stop(host: Any) -> None:
        """The driver asked for the results: the measured window is over (collections from here on are
        the shutdown's, with the GC policy restored)."""
        if "gc_at_stop" not in box:
            gcc = host.extra["wiring"].gcc
            box["gc_at_stop"] = (list(_GC_SEEN), gcc.stats.idle_collections if gcc is not None else 0)
        host.request_stop()

    def ready(host: Any) -> bool:
        return not host.md.is_stale(SYMBOL) and bool(host.engine.books[SYMBOL].best_bid())

    def finish(summary: dict[str, Any]) -> None:
        host = box["host"]
        pipe.recv()  # "stop"
        st = host.engine.strategy
        e = host.engine
        pipe.send({"updates": st.updates, "answered": st.answered, "refused": st.refused,
                   "skipped": st.skipped, "orders_sent": e.stats.orders_sent,
                   "risk_rejected": e.stats.risk_rejected, "md_messages": e.stats.md_messages,
                   "internal_ns": internal.as_dict(), "gc_counts": list(gc.get_count()),
                   "gc_collections_while_measured": box["gc_at_stop"][0], "tuning": tuning,
                   "gc_policy": summary.get("gc_policy", {}),
                   "gc_idle_collections": box["gc_at_stop"][1],
                   "host": "hft.engine.host.assemble", "journal_fsync": summary.get("journal_fsync"),
                   "wire_to_wire_host_us": summary.get("wire_to_wire_us", {}),
                   **{k: v for k, v in summary.get("loop", {}).items() if k != "kind"}})

    opts = HostOptions(install_signals=False, logon_timeout=10, stop_grace=0.5)
    if busy:
        from hft.engine.busyloop import run_busy

        def started_busy(host: Any) -> None:
            stamps = hook(host)
            loop = host.extra["loop"]
            md_ini = loop.initiators[1]

            def rx_clock() -> int:
                c = md_ini.conn
                return c.rx.ts_ns if c is not None and c.rx is not None and c.rx.source != "clock" else 0

            stamps.rx_clock = rx_clock
            if not loop.wait_for(lambda: ready(host), 10):
                raise RuntimeError("busy loop: no market data snapshot")
            loop.call_every(5_000_000, lambda now: stop(host) if pipe.poll() else None)
            gc.callbacks.append(_count_gc)
            pipe.send({"ready": True})

        finish(run_busy(config, opts, started_busy, spin_us=spin_us if loop_kind == "hybrid" else None))
        return
    from hft.engine.runner import run_trading

    def started_async(host: Any) -> None:
        hook(host)
        aloop = asyncio.get_running_loop()

        async def when_ready() -> None:
            end = time.monotonic() + 10
            while not ready(host):
                if time.monotonic() > end:
                    raise RuntimeError("asyncio: no market data snapshot")
                await asyncio.sleep(0.005)
            gc.callbacks.append(_count_gc)
            aloop.add_reader(pipe.fileno(), lambda: stop(host))
            pipe.send({"ready": True})

        box["task"] = aloop.create_task(when_ready())

    async def main() -> dict[str, Any]:
        summary = await run_trading(config, opts, started_async)
        asyncio.get_running_loop().remove_reader(pipe.fileno())
        return summary

    if loop_kind == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            finish(runner.run(main()))
    else:
        finish(asyncio.run(main()))


# ============================================================================================ driver
def _recv(pipe: Any, timeout: float, what: str) -> Any:
    if not pipe.poll(timeout):
        raise RuntimeError(f"{what}: no answer within {timeout:g}s")
    msg = pipe.recv()
    if isinstance(msg, dict) and "error" in msg:
        raise RuntimeError(msg["error"])
    return msg


class VenueProcess:
    """The venue in its own process; ``ports`` once started; commands ``go``/``stop``/``drop``/``exit``."""

    def __init__(self, venue: str = "stub", rate: float = 1000.0, cores: tuple[int, ...] = ()) -> None:
        ctx = mp.get_context("spawn")
        self.pipe, child = ctx.Pipe()
        self.proc = ctx.Process(target=_venue_main, args=(child, venue, rate, cores), daemon=True,
                                name="bench-venue")
        self.proc.start()
        self.ports: dict[str, int] = _recv(self.pipe, 30, "venue start")

    def command(self, cmd: str, timeout: float | None = None) -> Any:
        self.pipe.send(cmd)
        return _recv(self.pipe, timeout, f"venue {cmd}") if timeout is not None else None

    def close(self) -> None:
        if self.proc.is_alive():
            with contextlib.suppress(OSError, BrokenPipeError):
                self.pipe.send("exit")
            self.proc.join(5)
            if self.proc.is_alive():
                self.proc.terminate()
                self.proc.join(2)


def run_wire(loop_kind: str, *, duration: float = 5.0, rate: float = 1000.0, fraction: float = 0.1,
             venue: str = "stub", warmup: float = 0.5, spin_us: float = 100.0,
             pin: bool = False, rt_priority: int = 0, rx_stamps: bool = True,
             warm_us: float = 200.0) -> dict[str, Any]:
    """One wire-to-wire measurement: fresh venue and engine processes, ``warmup`` s unmeasured.
    ``rx_stamps=False``: the busy/hybrid engine reads like the paper/live host (no kernel stamps, no
    segments)."""
    ctx = mp.get_context("spawn")
    e_parent, e_child = ctx.Pipe()
    ncpu = os.cpu_count() or 1
    engine_cores = (ncpu - 1,) if pin and ncpu > 1 else ()
    v = VenueProcess(venue, rate, (0,) if pin and ncpu > 1 else ())
    pe = None
    try:
        pe = ctx.Process(target=_engine_main, args=(e_child, loop_kind, v.ports["order_port"],
                                                    v.ports["md_port"], fraction, spin_us,
                                                    engine_cores, rt_priority, rx_stamps, warm_us),
                         daemon=True,
                         name="bench-engine")
        pe.start()
        v.command("go")  # ticks flow during start-up and warm-up
        _recv(e_parent, 30, "engine start")
        time.sleep(warmup)
        load_before = _load()
        steal0 = _steal_ticks()
        v.command("go")  # restart the counts: the measured window starts here
        t0 = time.monotonic()
        time.sleep(duration)
        vres = v.command("stop", 30)
        elapsed = time.monotonic() - t0
        steal = _steal_ms(steal0, _steal_ticks())
        e_parent.send("stop")
        eres = _recv(e_parent, 30, "engine results")
        load_after = _load()
    finally:
        if pe is not None:
            pe.join(5)
            if pe.is_alive():
                pe.terminate()
                pe.join(2)
        v.close()
    write_lat = vres["latencies_ns"]  # 35=D kernel rx - the venue's stamp right before its write of the 35=X
    internal: dict[int, tuple[int, int, int]] = eres["internal_ns"]
    echoed = vres.get("ticks_echoed") or []
    sent = vres.get("sent_ns") or []
    tx = vres.get("tx_ns") or []
    # the headline starts where a capture on lo sees the tick: its kernel transmit stamp, when every
    # measured tick has one (the stub venue); else (no stamps, the simulator venue) at the venue's write
    capture = bool(write_lat) and len(tx) == len(write_lat) == len(sent) and all(tx)
    start = tx if capture else sent
    lat = [sent[i] + w - start[i] for i, w in enumerate(write_lat)] if capture else write_lat
    # join on the tick id: (tick start, engine kernel rx, engine recv, engine pre-write, venue kernel rx),
    # all CLOCK_REALTIME ns on the same host
    rows = [(start[i], *internal[t], sent[i] + w)
            for i, (t, w) in enumerate(zip(echoed, write_lat, strict=False))
            if t in internal and i < len(sent)]
    engine = [pw - r for _s, _k, r, pw, _a in rows] if rows else [pw - r for _k, r, pw in internal.values()]
    segments: dict[str, Any] = {}
    if rows and all(k for _s, k, _r, _pw, _a in rows):
        segments = {  # the four parts of each wire-to-wire sample (busy/hybrid: kernel stamps on both ends)
            "wire_in_us": summarize([max(1, k - s0) for s0, k, _r, _pw, _a in rows]),
            "kernel_to_read_us": summarize([max(1, r - k) for _s, k, r, _pw, _a in rows]),
            "engine_us": summarize(engine),
            "wire_out_us": summarize([max(1, a - pw) for _s, _k, _r, pw, a in rows]),
        }
    out = {
        "loop": loop_kind,
        "venue": venue,
        "rx_stamps": rx_stamps and loop_kind in ("busy", "hybrid"),
        "warm_us": warm_us if loop_kind in ("busy", "hybrid") else 0.0,
        "duration_s": round(elapsed, 2),
        "wire_to_wire_us": summarize(lat),
        "wire_to_wire_basis": "capture" if capture else "venue_write",
        "wire_to_wire_from_venue_write_us": summarize(write_lat),
        "venue_send_us": summarize([t_ - s_ for s_, t_ in zip(sent, tx, strict=False)]) if capture else {},
        "tx_stamps": vres.get("tx_stamps", {}),
        "venue_userspace_arrival_us": summarize(vres.get("venue_user_latencies_ns") or []),
        "engine_recv_to_write_us": summarize(engine),
        "outside_engine_us": summarize([max(1, (a - s0) - (pw - r)) for s0, _k, r, pw, a in rows]),
        "segments": segments,
        "ticks_sent": vres["ticks_sent"],
        "orders_received": vres["orders"],
        "orders_matched_to_ticks": vres["matched"],
        "orders_unmatched": vres["unmatched"],
        "engine": {k: v for k, v in eres.items() if k != "internal_ns"},
        "load_before": load_before,
        "load_after": load_after,
        "cpu_steal_ms": steal,  # per vCPU over the measured window: the hypervisor's share of the run
        "_latencies_ns": lat,
    }
    return out


def paper_config_text(loop_kind: str, order_port: int, md_port: int, fraction: float, workdir: str,
                      spin_us: float = 100.0, core: int | None = None) -> str:
    """The ``hft paper`` config of :func:`run_wire_paper`: the product's defaults (journal, FIX store,
    fsync policies, GC policy, metrics), with only what the benchmark needs set: the venue's ports, the
    benchmark's symbol, strategy and never-binding risk limits (as :func:`hft.bench.hotpath.bench_config`),
    the host (``busy`` = busy_poll spinning, ``hybrid`` = busy_poll spinning ``spin_us`` then select,
    unpinned) and, with ``core``, ``engine.cpu_affinity``."""
    from hft.bench.hotpath import SYMBOL

    loop = {"busy": "busy_poll", "hybrid": "busy_poll", "asyncio": "asyncio"}[loop_kind]
    lines = [
        'mode = "paper"', "[venue]", f"port = {order_port}", f'store_dir = "{workdir}/fix-store"',
        "[market_data]", f"port = {md_port}", "[instruments]", f'symbols = ["{SYMBOL}"]',
        "[strategy]", 'name = "latency_probe"', "[strategy.params]", f"fraction = {fraction}", 'mode = "ioc"',
        "[risk]", "max_orders_per_sec = 1000000", "max_open_orders = 1000", "max_position = 1000000",
        "max_rejects = 1000000", "[fees]", 'model = "zero"', "[journal]", f'path = "{workdir}/journal.bin"',
        "[sim]", "embedded = false", "[engine]", f'loop = "{loop}"', "max_pending_new = 1000",
        "max_pending_cancel = 1000"]
    if loop_kind == "hybrid":
        lines.append(f"busy_spin_us = {spin_us}")
    if core is not None and loop_kind != "hybrid":
        lines.append(f"cpu_affinity = [{core}]")
    return "\n".join(lines) + "\n"


def run_wire_paper(loop_kind: str, *, duration: float = 5.0, rate: float = 1000.0, fraction: float = 0.1,
                   warmup: float = 0.5, spin_us: float = 100.0, pin: bool = False,
                   hft_cmd: list[str] | None = None, start_timeout: float = 60.0,
                   wire_stamps: bool = True) -> dict[str, Any]:
    """:func:`run_wire` with the product as the engine: an ``hft paper --config`` process (``hft_cmd``,
    default this interpreter's ``hft``; another build's ``hft`` measures that build) against the same
    stub venue, measured the same way (the tick's kernel transmit stamp to the kernel receive stamp of
    the 35=D that echoes its id). The paper process's own figure (``tick_to_trade_us`` of its summary:
    its read to just before its write) and, with ``wire_stamps`` on a busy loop (``hft paper --wire-stamps``,
    as the benchmark engine reads with kernel stamps by default), its own wire-to-wire from the kernel's
    stamps are reported beside it."""
    import shlex
    import signal as _signal
    import subprocess
    import tempfile

    if loop_kind not in ("asyncio", "busy", "hybrid"):
        raise RuntimeError(f"--paper: loop {loop_kind!r} has no hft paper host (asyncio, busy, hybrid)")
    cmd = hft_cmd or [sys.executable, "-m", "hft.cli"]
    ncpu = os.cpu_count() or 1
    core = ncpu - 1 if pin and ncpu > 1 else None
    v = VenueProcess("stub", rate, (0,) if pin and ncpu > 1 else ())
    proc = None
    with tempfile.TemporaryDirectory(prefix="hft-bench-paper-") as work:
        cfg = os.path.join(work, "paper.toml")
        with open(cfg, "w") as f:
            f.write(paper_config_text(loop_kind, v.ports["order_port"], v.ports["md_port"], fraction, work,
                                      spin_us, core))
        try:
            v.command("go")  # ticks flow during start-up
            stamps = ["--wire-stamps"] if wire_stamps and loop_kind != "asyncio" else []
            proc = subprocess.Popen([*cmd, "paper", "--config", cfg, "--json", "--metrics-port", "0",
                                     *stamps],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=work)
            end = time.monotonic() + start_timeout
            while v.command("stats", 10)["orders"] < 5:
                if proc.poll() is not None or time.monotonic() > end:
                    why = proc.communicate(timeout=10)[1][-800:] if proc.poll() is not None else "timeout"
                    raise RuntimeError(f"hft paper ({shlex.join(cmd)}) did not trade: rc={proc.poll()} {why}")
                time.sleep(0.1)
            time.sleep(warmup)
            load_before = _load()
            steal0 = _steal_ticks()
            v.command("go")  # the measured window starts here
            t0 = time.monotonic()
            time.sleep(duration)
            vres = v.command("stop", 30)
            elapsed = time.monotonic() - t0
            steal = _steal_ms(steal0, _steal_ticks())
            load_after = _load()
            proc.send_signal(_signal.SIGTERM)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(5)
            v.close()
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"hft paper printed no summary (rc={proc.returncode}): {err[-800:]}")
    summary = json.loads(lines[-1])
    write_lat = vres["latencies_ns"]
    sent = vres.get("sent_ns") or []
    tx = vres.get("tx_ns") or []
    capture = bool(write_lat) and len(tx) == len(write_lat) == len(sent) and all(tx)
    lat = [sent[i] + w - tx[i] for i, w in enumerate(write_lat)] if capture else write_lat
    return {
        "loop": f"paper-{loop_kind}",
        "venue": "stub",
        "engine_process": shlex.join(cmd) + " paper",
        "pinned_core": core,
        "duration_s": round(elapsed, 2),
        "wire_to_wire_us": summarize(lat),
        "wire_to_wire_basis": "capture" if capture else "venue_write",
        "wire_to_wire_from_venue_write_us": summarize(write_lat),
        "paper_tick_to_trade_us": summary.get("tick_to_trade_us", {}),
        "paper_wire_to_wire_us": summary.get("wire_to_wire_us", {}),
        "paper_loop": summary.get("loop", {}),
        "ticks_sent": vres["ticks_sent"],
        "orders_received": vres["orders"],
        "orders_matched_to_ticks": vres["matched"],
        "orders_unmatched": vres["unmatched"],
        "engine_recv_to_write_us": {},
        "load_before": load_before,
        "load_after": load_after,
        "cpu_steal_ms": steal,
        "_latencies_ns": lat,
    }


# --------------------------------------------------------------------------------------- breakdown
STAGES = ("socket_read", "fix_parse", "fix_session", "md_decode", "book_update", "strategy", "risk",
          "order_manager", "order_build", "encode", "socket_write", "other")


class _StageTimer:
    """Exclusive per-stage time of nested wrapped calls (a stack of child-time accumulators)."""

    def __init__(self) -> None:
        self.acc: dict[str, int] = dict.fromkeys(STAGES, 0)
        self._stack: list[int] = []

    def wrap(self, fn: Callable[..., Any], stage: str) -> Callable[..., Any]:
        acc = self.acc
        stack = self._stack
        pc = time.perf_counter_ns

        def w(*a: Any, **kw: Any) -> Any:
            stack.append(0)
            t0 = pc()
            try:
                return fn(*a, **kw)
            finally:
                dt = pc() - t0
                child = stack.pop()
                acc[stage] += dt - child
                if stack:
                    stack[-1] += dt

        return w

    def reset(self) -> None:
        for k in self.acc:
            self.acc[k] = 0


def run_breakdown(ticks: int = 3000, fraction: float = 1.0, warmup: int = 300) -> dict[str, Any]:
    """Per-stage exclusive time per tick (us) in-process; un-instrumented tick time beside it.

    On the compiled build (``hft._native``) the stages are timed on the interpreted build of the same
    tree in a child process (per-instance method wrappers need interpreted classes): ``stages_build`` says
    which, and ``tick_plain_us`` stays the compiled build's un-instrumented tick, measured here."""
    from hft.bench.hotpath import InProcessHotPath, compiled_hot_path, plain_ticks_ns, run_interpreted
    from hft.fix.parser import FixMessage

    if compiled_hot_path():
        res: dict[str, Any] = run_interpreted("hft.bench.latency", "run_breakdown",
                                              {"ticks": ticks, "fraction": fraction, "warmup": warmup})
        res["stages_build"] = "interpreted"
        res["tick_plain_interpreted_us"] = res["tick_plain_us"]
        res["tick_plain_us"] = _tick_us(plain_ticks_ns(ticks, warmup, fraction))
        return res
    h = InProcessHotPath(fraction)
    try:
        h.warm_and_freeze(warmup)
        # 1) plain: the md connection's poll (read -> ... -> order written), no wrappers
        plain = h.time_ticks(ticks)
        pc = time.perf_counter_ns
        conn = h.e_md_conn
        # 2) instrumented
        st = _StageTimer()
        p = h.parts
        md_sess = p.md_session
        md_sess.on_data = st.wrap(md_sess.on_data, "other")  # type: ignore[method-assign]
        parser = md_sess.parser
        parser.feed = st.wrap(parser.feed, "fix_parse")  # type: ignore[method-assign]
        parser.next_message = st.wrap(parser.next_message, "fix_parse")  # type: ignore[method-assign]
        md_sess._validate = st.wrap(md_sess._validate, "fix_session")  # type: ignore[method-assign]
        md_sess.on_message = st.wrap(md_sess.on_message, "fix_session")  # type: ignore[method-assign]
        if md_sess.fast_reader is not None:  # the fused 35=X path: frame + header checks + decode + level
            md_sess.fast_reader = st.wrap(md_sess.fast_reader, "md_decode")
        orig_md_entries = FixMessage.md_entries
        FixMessage.md_entries = st.wrap(orig_md_entries, "fix_parse")  # type: ignore[method-assign]
        p.md.on_app_message = st.wrap(p.md.on_app_message, "md_decode")  # type: ignore[method-assign]
        p.md.set_sink(st.wrap(p.engine.on_market_event, "book_update"))
        level_sink = getattr(p.md, "level_sink", None)
        if level_sink is not None:
            p.md.level_sink = st.wrap(level_sink, "book_update")
        p.md.on_message_end = st.wrap(p.engine.on_md_message_end, "other")
        strat = p.engine.strategy
        assert strat is not None, "the benchmark engine runs its probe strategy"
        strat.on_book = st.wrap(strat.on_book, "strategy")  # type: ignore[method-assign]
        p.engine.risk.check = st.wrap(p.engine.risk.check, "risk")  # type: ignore[method-assign]
        p.engine.om.submit = st.wrap(p.engine.om.submit, "order_manager")  # type: ignore[method-assign]
        p.gateway.send_new = st.wrap(p.gateway.send_new, "order_build")  # type: ignore[method-assign]
        os_ = p.order_session
        os_.encoder.encode = st.wrap(os_.encoder.encode, "encode")  # type: ignore[method-assign]
        os_.encoder.new_order_single = st.wrap(  # type: ignore[method-assign]
            os_.encoder.new_order_single, "encode")
        os_.encoder.new_order_single_t = st.wrap(  # type: ignore[method-assign]
            os_.encoder.new_order_single_t, "encode")
        os_._send_bytes = st.wrap(os_._send_bytes, "socket_write")
        per_stage: dict[str, list[int]] = {k: [] for k in STAGES}
        totals: list[int] = []
        try:
            for _ in range(ticks):
                h.venue_md.tick()
                st.reset()
                t0 = pc()
                while not conn.poll():
                    t0 = pc()
                total = pc() - t0
                inner = sum(st.acc.values())
                st.acc["socket_read"] = total - inner  # recv_into + poll bookkeeping
                totals.append(total)
                for k in STAGES:
                    per_stage[k].append(st.acc[k])
                h.drain()
        finally:
            FixMessage.md_entries = orig_md_entries  # type: ignore[method-assign]
    finally:
        gc.unfreeze()
        h.close()

    stages = {k: {"p50_us": _pct(v, 50), "mean_us": round(sum(v) / len(v) / 1000, 2), "p99_us": _pct(v, 99)}
              for k, v in per_stage.items()}
    return {"ticks": ticks, "fraction": fraction, "tick_plain_us": _tick_us(plain),
            "tick_instrumented_us": {"p50": _pct(totals, 50), "p99": _pct(totals, 99),
                                     "mean": round(sum(totals) / len(totals) / 1000, 2)},
            "stages": stages, "stages_build": "interpreted", "load": _load()}


def _pct(v: list[int], q: float) -> float:
    s = sorted(v)
    return round(s[min(len(s) - 1, int(q / 100 * len(s)))] / 1000, 2)


def _tick_us(v: list[int]) -> dict[str, float]:
    """p50/p90/p99/mean in us of per-tick ns times."""
    return {"p50": _pct(v, 50), "p90": _pct(v, 90), "p99": _pct(v, 99),
            "mean": round(sum(v) / len(v) / 1000, 2)}


# ---------------------------------------------------------------------------------------------- plot
def plot(results: dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for run in results["runs"]:
        lat = sorted(v / 1000 for v in run.get("_latencies_ns", []))
        if not lat:
            continue
        n = len(lat)
        qs = [1 - (i + 0.5) / n for i in range(n)]
        ax.plot(lat, qs, label=f"{run['loop']} (p50 {run['wire_to_wire_us']['p50']} us, "
                               f"p99 {run['wire_to_wire_us']['p99']} us)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("wire-to-wire tick-to-trade (us)")
    ax.set_ylabel("fraction of orders slower")
    ax.set_title(f"hft bench latency: rate {results['rate_hz']:g} Hz, fraction {results['fraction']:g}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ------------------------------------------------------------------------------------------------ CLI
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hft bench latency",
                                description=__doc__.split("\n")[0].replace("``", ""))
    p.add_argument("--duration", type=float, default=5.0, help="measured seconds per loop kind (default 5)")
    p.add_argument("--rate", type=float, default=1000.0, help="market data ticks per second (default 1000)")
    p.add_argument("--fraction", type=float, default=0.1,
                   help="share of ticks the strategy answers with an order, 0 < F <= 1 (default 0.1)")
    p.add_argument("--loop", choices=("asyncio", "uvloop", "busy", "hybrid", "floor", "both", "all"),
                   default="both",
                   help="engine host: asyncio transports (uvloop: the same on uvloop, the optional 'fast' "
                        "extra); busy (spin forever); hybrid (spin --spin-us after each read, then block in "
                        "select); floor = not the engine but a trivial spinning FIX client (the machine's "
                        "floor, measured side by side); both = asyncio + busy (default); all = floor, "
                        "asyncio, uvloop (when installed), busy, hybrid")
    p.add_argument("--spin-us", type=float, default=100.0,
                   help="hybrid loop: microseconds to keep spinning after the last read (default 100)")
    p.add_argument("--pin", action="store_true",
                   help="pin the venue to CPU 0 and the engine to the last CPU (os.sched_setaffinity)")
    p.add_argument("--rt", type=int, default=0, metavar="PRIO",
                   help="engine on SCHED_FIFO at PRIO when permitted (asyncio and hybrid only, not busy or "
                        "floor: a spinning real-time process would starve its core)")
    p.add_argument("--venue", choices=("stub", "sim"), default="stub",
                   help="stub: minimal FIX venue with kernel rx timestamps (default); sim: hft.sim.server")
    p.add_argument("--no-rx-stamps", dest="rx_stamps", action="store_false",
                   help="busy/hybrid: read market data with the plain recv_into of the paper/live host "
                        "instead of recvmsg + SO_TIMESTAMPING (no wire_in/kernel_to_read split; ~1 us less)")
    p.add_argument("--warm-us", type=float, default=200.0, metavar="US",
                   help="busy/hybrid: cache warming every US microseconds while idle (BusyLoop.add_warmer: "
                        "the tick path runs again without side effects; engine.busy_warm_us); 0 = off "
                        "(default 200, as engine.busy_warm_us)")
    p.add_argument("--warmup", type=float, default=0.5,
                   help="unmeasured seconds before each run (default 0.5)")
    p.add_argument("--breakdown-ticks", type=int, default=3000,
                   help="ticks of the in-process stage breakdown; 0 skips it (default 3000)")
    p.add_argument("--paper", action="store_true",
                   help="measure the product: the engine is an `hft paper --config` process (product "
                        "defaults, the benchmark's strategy and symbol) against the same stub venue, "
                        "measured the same way; loops asyncio, busy (pinned with --pin), hybrid")
    p.add_argument("--paper-hft", metavar="CMD", default="",
                   help="--paper: the hft command to run (default this interpreter's); another build's `hft` "
                        "measures that build (A/B)")
    p.add_argument("--alternate", type=int, default=0, metavar="N",
                   help="side by side: N rounds, each the benchmark engine then the --paper engine for every "
                        "loop, alternating (medians and ratios in the result)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--plot", metavar="OUT.png", help="write a latency plot (matplotlib)")
    return p


def run(args: argparse.Namespace) -> dict[str, Any]:
    try:
        import uvloop  # noqa: F401

        have_uv = True
    except ImportError:
        have_uv = False
    if args.loop == "uvloop" and not have_uv:
        raise RuntimeError("--loop uvloop: uvloop is not installed (pip install -e '.[fast]')")
    loops = {"both": ["asyncio", "busy"],
             "all": ["floor", "asyncio", *(["uvloop"] if have_uv else []), "busy", "hybrid"]}.get(args.loop,
                                                                                                  [args.loop])
    import shlex

    def bench_run(lk: str) -> dict[str, Any]:
        return run_wire(lk, duration=args.duration, rate=args.rate, fraction=args.fraction, venue=args.venue,
                        warmup=args.warmup, spin_us=args.spin_us, pin=args.pin,
                        rt_priority=args.rt if lk in ("asyncio", "uvloop", "hybrid") else 0,
                        rx_stamps=args.rx_stamps, warm_us=args.warm_us)

    def paper_run(lk: str) -> dict[str, Any]:
        return run_wire_paper(lk, duration=args.duration, rate=args.rate, fraction=args.fraction,
                              warmup=args.warmup, spin_us=args.spin_us, pin=args.pin,
                              hft_cmd=shlex.split(args.paper_hft) if args.paper_hft else None,
                              wire_stamps=args.rx_stamps)

    if args.alternate > 0:
        runs = []
        for _ in range(args.alternate):
            for lk in loops:
                runs.append(bench_run(lk))
                runs.append(paper_run(lk))
    else:
        runs = [paper_run(lk) if args.paper else bench_run(lk) for lk in loops]
    res: dict[str, Any] = {"benchmark": "latency", "rate_hz": args.rate, "fraction": args.fraction,
                           "venue": args.venue, "pin": args.pin, "rt": args.rt, "rx_stamps": args.rx_stamps,
                           "python": sys.version.split()[0],
                           "cpus": os.cpu_count(), "runs": runs}
    if args.alternate > 0:
        res["side_by_side"] = side_by_side(runs)
    by = {r["loop"]: r["wire_to_wire_us"]["p50"] for r in runs}
    for r in runs:
        p50 = r["wire_to_wire_us"]["p50"]
        if r["loop"] not in ("asyncio", "floor") and by.get("asyncio") and p50:
            res[f"{r['loop']}_vs_asyncio_p50_ratio"] = round(p50 / by["asyncio"], 3)
        if r["loop"] != "floor" and by.get("floor") and p50:
            res[f"{r['loop']}_vs_floor_p50_ratio"] = round(p50 / by["floor"], 3)
    if args.breakdown_ticks > 0:
        res["breakdown"] = run_breakdown(args.breakdown_ticks)
    return res


def side_by_side(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over rounds of each loop's p50/p99, benchmark engine vs product, and their ratios."""
    import statistics

    out: dict[str, Any] = {}
    for lk in dict.fromkeys(r["loop"] for r in runs if not r["loop"].startswith("paper-")):
        b = [r["wire_to_wire_us"] for r in runs if r["loop"] == lk]
        p = [r["wire_to_wire_us"] for r in runs if r["loop"] == f"paper-{lk}"]
        if not b or not p:
            continue
        row: dict[str, Any] = {"rounds": len(b)}
        for q in ("p50", "p99"):
            mb = statistics.median(x[q] for x in b)
            mp = statistics.median(x[q] for x in p)
            row[f"bench_{q}_us"] = round(mb, 1)
            row[f"paper_{q}_us"] = round(mp, 1)
            row[f"paper_vs_bench_{q}"] = round(mp / mb, 2) if mb else None
        row["bench_p50_each"] = [x["p50"] for x in b]
        row["paper_p50_each"] = [x["p50"] for x in p]
        row["load"] = [r["load_before"] for r in runs if r["loop"] in (lk, f"paper-{lk}")]
        out[lk] = row
    return out


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0.0 < args.fraction <= 1.0:
        print("hft bench latency: --fraction must be in (0, 1]", file=sys.stderr)
        return 2
    if args.rate <= 0 or args.duration <= 0:
        print("hft bench latency: --rate and --duration must be positive", file=sys.stderr)
        return 2
    try:
        res = run(args)
    except RuntimeError as e:
        print(f"hft bench latency: {e}", file=sys.stderr)
        return 1
    if args.plot:
        plot(res, args.plot)
    for r in res["runs"]:
        r.pop("_latencies_ns", None)
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"wire-to-wire tick-to-trade, venue={res['venue']}, rate {args.rate:g} Hz, "
          f"fraction {args.fraction:g}")
    print(f"{'loop':<8} {'count':>6} {'p50':>7} {'p90':>7} {'p99':>7} {'p99.9':>7} {'max':>8}  (us)  "
          "engine recv->write p50/p99  load")
    for r in res["runs"]:
        w = r["wire_to_wire_us"]
        own = r["engine_recv_to_write_us"] or r.get("paper_tick_to_trade_us") or {}
        print(f"{r['loop']:<8} {w['count']:>6} {w['p50']!s:>7} {w['p90']!s:>7} {w['p99']!s:>7} "
              f"{w['p99_9']!s:>7} {w['max']!s:>8}  {own.get('p50')}/{own.get('p99')}  {r['load_before']}")
        if r.get("wire_to_wire_basis") == "capture":
            v = r["wire_to_wire_from_venue_write_us"]
            print(f"         (from the tick's kernel transmit stamp; from the venue's write call: "
                  f"p50 {v['p50']} p99 {v['p99']})")
        if r.get("segments"):
            print("         p50 parts: " + ", ".join(f"{k[:-3].replace('_', ' ')} {v['p50']}"
                                                     for k, v in r["segments"].items()))
    for lk, row in res.get("side_by_side", {}).items():
        print(f"side by side ({row['rounds']} rounds, medians): {lk}: bench p50 {row['bench_p50_us']} p99 "
              f"{row['bench_p99_us']}, paper p50 {row['paper_p50_us']} p99 {row['paper_p99_us']} -> "
              f"paper/bench p50 {row['paper_vs_bench_p50']}x, p99 {row['paper_vs_bench_p99']}x")
    b = res.get("breakdown")
    if b:
        print(f"\nstage breakdown in-process ({b['ticks']} ticks, us per tick, exclusive): plain tick p50 "
              f"{b['tick_plain_us']['p50']}, instrumented p50 {b['tick_instrumented_us']['p50']}")
        if "tick_plain_interpreted_us" in b:
            print(f"  (stages timed on the interpreted build, whose plain tick p50 is "
                  f"{b['tick_plain_interpreted_us']['p50']}; the plain tick above is the compiled build's)")
        for k, v in b["stages"].items():
            print(f"  {k:<14} p50 {v['p50_us']:>7}  mean {v['mean_us']:>7}  p99 {v['p99_us']:>7}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
