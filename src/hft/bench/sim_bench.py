"""``hft bench sim``: exchange simulator throughput over FIX on loopback (orders/s, market data msgs/s).

The simulator (:class:`hft.sim.server.SimServer`) runs in a child process (its own interpreter and GIL),
the market data clients in another (one thread, a selector); the order client runs in this process on a
raw socket with pre-encoded frames, so the numbers are the server's, not the clients'.

* ``order_entry``: one FIX 4.2 order-entry client sends ``--orders`` messages in a repeating cycle of
  four -- a resting buy at $40.00 (1 ExecutionReport), a sell at $40.00 from another account that trades
  with it (3 ExecutionReports: New, two fills), a resting buy at $39.00 (1) and its cancel (1) -- keeping
  at most ``--window`` ExecutionReports outstanding; one market data client is subscribed to the
  instrument, so every book change is also published. Reported: orders/s (D + F messages fully
  answered per second), ExecutionReports/s, 35=X received/s by the subscriber. Run once with sessions
  kept in memory, once with persisted stores (``--store-fsync``, default ``batch``), and once more in
  memory with ``--subscribers`` market data clients (fan-out: every order's book change goes to each).
* ``market_data``: no orders; the background flow at ``--flow-rate`` times its default rates on the three
  default instruments, ``--subscribers`` market data clients subscribed to all of them for ``--seconds``.
  Reported: 35=X messages/s written by the server (all subscribers) and received, entries/s, flow events/s.

No timing is asserted anywhere; ``--json`` prints one JSON document.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import queue
import resource
import selectors
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from hft.fix.encoder import FixEncoder

NOS_TS = "20260101-00:00:00.000"


# ------------------------------------------------------------------------------------------ server
def _serve(cfg_kw: dict[str, Any], q: Any, stop: Any, cmd: Any) -> None:
    from hft.sim.config import ClientSession, FlowSettings, MarketDataConfig, OrderEntryConfig, SimConfig
    from hft.sim.server import SimServer

    flow = FlowSettings(enabled=cfg_kw["flow_rate"] > 0, rate=max(cfg_kw["flow_rate"], 0.0001), seed=5)
    md = MarketDataConfig(sessions=tuple(ClientSession(f"MD{i}") for i in range(cfg_kw["subscribers"])))
    cfg = SimConfig.default(order_entry=OrderEntryConfig(sessions=(ClientSession("BENCH"),)),
                            market_data=md, flow=flow, metrics_enabled=False,
                            store_dir=cfg_kw.get("store_dir", ""), fsync=cfg_kw.get("fsync", "batch"))
    sim = SimServer(cfg).start()
    q.put((sim.order_port, sim.md_port))
    prof = None
    if cfg_kw.get("profile"):
        import cProfile

        prof = cProfile.Profile()
    cpu: list[tuple[float, float, float, int]] = []  # the parent asks for readings around the measured part
    while not stop.is_set():
        try:
            msg = cmd.get(timeout=0.05)
        except queue.Empty:
            continue
        if msg == "cpu":
            if prof is not None:  # profile the server's loop thread over the measured part
                sim.call(prof.disable if cpu else prof.enable)
            r = resource.getrusage(resource.RUSAGE_SELF)
            gw = sim.gateway
            cpu.append((r.ru_utime, r.ru_stime, _runqueue_wait_s(), gw.counters["reads"] if gw else 0))
            q.put(len(cpu))
    stats = sim.call(lambda: {**sim.stats(), "md_ticks": sim.publisher.last_tick if sim.publisher else 0})
    sim.stop()
    if prof is not None:
        prof.dump_stats(cfg_kw["profile"])
    if len(cpu) >= 2:
        stats["cpu_user_s"] = round(cpu[-1][0] - cpu[0][0], 3)
        stats["cpu_sys_s"] = round(cpu[-1][1] - cpu[0][1], 3)
        stats["runqueue_wait_s"] = round(cpu[-1][2] - cpu[0][2], 3)
        stats["order_reads"] = cpu[-1][3] - cpu[0][3]
    q.put(stats)


def _runqueue_wait_s() -> float:
    """Time this process's threads spent runnable but waiting for a CPU (Linux schedstat; 0 elsewhere)."""
    total = 0
    try:
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/schedstat") as f:
                total += int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return total / 1e9


class _Server:
    def __init__(self, **cfg_kw: Any) -> None:
        ctx = mp.get_context("spawn")
        self.q = ctx.Queue()
        self.cmd = ctx.Queue()
        self.stop_evt = ctx.Event()
        self.proc = ctx.Process(target=_serve, args=(cfg_kw, self.q, self.stop_evt, self.cmd), daemon=True)
        self.proc.start()
        self.order_port, self.md_port = self.q.get(timeout=60)

    def cpu_mark(self) -> None:
        """Take a CPU time reading of the server process (the first and last ones are reported)."""
        self.cmd.put("cpu")
        self.q.get(timeout=60)

    def stop(self) -> dict[str, Any]:
        self.stop_evt.set()
        stats: dict[str, Any] = self.q.get(timeout=60)
        self.proc.join(30)
        return stats


# ------------------------------------------------------------------------------------------ clients
class _Raw:
    """A raw FIX client: logon, then pre-encoded frames; counts 35=<type> in what comes back."""

    def __init__(self, port: int, sender: str, target: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.enc = FixEncoder("FIX.4.2", sender, target)
        self.seq = 1
        self._tail = b""
        self.sock.sendall(self.frame(b"A", [(98, 0), (108, 30), (141, "Y")]))
        buf = b""
        while b"\x0135=A\x01" not in buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError(f"{sender}: logon refused: {buf!r}")
            buf += chunk

    def frame(self, mt: bytes, body: list[tuple[int, bytes | str | int]]) -> bytes:
        f = self.enc.encode(mt, body, self.seq)
        self.seq += 1
        return f

    def count(self, data: bytes, needle: bytes) -> int:
        """Occurrences of ``needle`` in the stream (safe across chunk boundaries)."""
        buf = self._tail + data
        n = buf.count(needle)
        keep = len(needle) - 1
        self._tail = buf[-keep:] if len(buf) >= keep else buf
        return n

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(self.frame(b"5", []))
        self.sock.close()


def _md_body(symbols: list[str]) -> list[tuple[int, bytes | str | int]]:
    body: list[tuple[int, bytes | str | int]] = [(262, "b"), (263, "1"), (264, 10), (265, "1"), (267, 3),
                                                 (269, "0"), (269, "1"), (269, "2"), (146, len(symbols))]
    return body + [(55, s) for s in symbols]


def _md_proc(port: int, names: list[str], symbols: list[str], ready: Any, stop: Any, counts: Any) -> None:
    """Market data clients in their own process (one thread, a selector): counts 35=X and entries into
    the shared ``counts`` array, so the readers never compete with the order client for a GIL."""
    sel = selectors.DefaultSelector()
    clients = []
    for name in names:
        c = _Raw(port, name, "ASXSIMMD")
        c.sock.sendall(c.frame(b"V", _md_body(symbols)))
        c.sock.setblocking(False)
        sel.register(c.sock, selectors.EVENT_READ, c)
        clients.append(c)
    ready.set()
    while not stop.is_set():
        for key, _ in sel.select(0.1):
            c = key.data
            try:
                data = c.sock.recv(1 << 20)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                sel.unregister(c.sock)
                continue
            if not data:
                sel.unregister(c.sock)
                continue
            counts[0] += c.count(data, b"\x0135=X\x01")
            counts[1] += data.count(b"\x01279=")
    for c in clients:
        c.sock.setblocking(True)
        c.close()


class _MdReaders:
    def __init__(self, port: int, n: int, symbols: list[str]) -> None:
        ctx = mp.get_context("spawn")
        self.counts = ctx.Array("q", 2, lock=False)
        self.stop_evt = ctx.Event()
        ready = ctx.Event()
        self.proc = ctx.Process(target=_md_proc, daemon=True,
                                args=(port, [f"MD{i}" for i in range(n)], symbols, ready, self.stop_evt,
                                      self.counts))
        self.proc.start()
        if not ready.wait(60):
            raise RuntimeError("market data readers did not start")

    @property
    def x(self) -> int:
        return int(self.counts[0])

    @property
    def entries(self) -> int:
        return int(self.counts[1])

    def stop(self) -> None:
        self.stop_evt.set()
        self.proc.join(30)


def _order_frames(c: _Raw, n: int) -> tuple[list[bytes], list[int]]:
    """The order cycle and the cumulative number of ExecutionReports expected after each message."""
    frames: list[bytes] = []
    cum: list[int] = []
    total = 0

    def nos(cl: str, side: int, px: str, account: str) -> bytes:
        return c.frame(b"D", [(1, account), (11, cl), (21, "1"), (55, "BHP"), (54, side), (38, 100),
                              (40, "2"), (44, px), (59, "0"), (60, NOS_TS), (100, "ASX"), (15, "AUD"),
                              (167, "CS")])

    i = 0
    while len(frames) < n:
        k = len(frames) % 4
        if k == 0:
            frames.append(nos(f"a{i}", 1, "40.00", "A1"))
            total += 1
        elif k == 1:
            frames.append(nos(f"b{i}", 2, "40.00", "A2"))
            total += 3
        elif k == 2:
            frames.append(nos(f"c{i}", 1, "39.00", "A1"))
            total += 1
        else:
            frames.append(c.frame(b"F", [(41, f"c{i}"), (11, f"x{i}"), (55, "BHP"), (54, 1), (60, NOS_TS)]))
            total += 1
            i += 1
        cum.append(total)
    return frames, cum


def bench_orders(n: int, window: int, store: str, fsync: str, subscribers: int = 1,
                 profile: str = "") -> dict[str, Any]:
    """``profile``: write the cProfile statistics of the server's loop thread over the run to this file."""
    with tempfile.TemporaryDirectory() as tmp:
        srv = _Server(flow_rate=0.0, subscribers=subscribers, store_dir=tmp if store == "file" else "",
                      fsync=fsync, profile=profile)
        try:
            mds = _MdReaders(srv.md_port, subscribers, ["BHP"])
            c = _Raw(srv.order_port, "BENCH", "ASXSIM")
            frames, cum = _order_frames(c, n)
            total = cum[-1]
            sock = c.sock
            sock.settimeout(10)
            got = sent = 0
            md_x0 = mds.x
            srv.cpu_mark()
            r0 = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.perf_counter()
            while got < total:
                while sent < n and cum[sent] - got <= window:
                    sock.sendall(frames[sent])
                    sent += 1
                data = sock.recv(1 << 20)
                if not data:
                    raise RuntimeError("server closed the order session")
                got += c.count(data, b"\x0135=8\x01")
            dt = time.perf_counter() - t0
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            srv.cpu_mark()
            time.sleep(0.2)
            md_x = mds.x - md_x0
            mds.stop()
            c.close()
        finally:
            stats = srv.stop()
    return {"store": store if store == "memory" else f"file/{fsync}", "md_subscribers": subscribers,
            "orders": n, "seconds": round(dt, 4),
            "orders_per_s": round(n / dt), "exec_reports": total, "exec_reports_per_s": round(total / dt),
            "md_x_received": md_x, "md_x_per_s": round(md_x / dt),
            "server_messages_per_read": round(n / max(stats.get("order_reads", 0), 1), 2),
            **_cpu_fields(stats, n, dt, r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime),
            "server": {"gateway": stats["gateway"], "md_ticks": stats["md_ticks"], "trades": stats["trades"]}}


def _cpu_fields(stats: dict[str, Any], n: int, dt: float, client_s: float) -> dict[str, Any]:
    """CPU time of the server process (user/sys) and of this process's order client over the measured
    part: a server near 100 % of a core is the bottleneck; otherwise the client or the box is."""
    out: dict[str, Any] = {}
    if "cpu_user_s" in stats:
        u, s = stats["cpu_user_s"], stats["cpu_sys_s"]
        out.update(server_cpu_user_s=u, server_cpu_sys_s=s, server_cpu_busy=round((u + s) / dt, 3),
                   server_runqueue_wait_s=stats.get("runqueue_wait_s", 0.0),
                   server_cpu_us_per_order=round((u + s) / n * 1e6, 1))
    out.update(client_cpu_s=round(client_s, 3), client_cpu_us_per_order=round(client_s / n * 1e6, 1))
    return out


def bench_md(seconds: float, subscribers: int, flow_rate: float) -> dict[str, Any]:
    srv = _Server(flow_rate=flow_rate, subscribers=subscribers)
    readers: _MdReaders | None = None
    try:
        readers = _MdReaders(srv.md_port, subscribers, ["BHP", "PLS", "NWX"])
        time.sleep(0.5)  # snapshots done, flow running
        x0, e0 = readers.x, readers.entries
        t0 = time.perf_counter()
        time.sleep(seconds)
        dt = time.perf_counter() - t0
        x, e = readers.x - x0, readers.entries - e0
    finally:
        if readers is not None:
            readers.stop()
        stats = srv.stop()
    return {"subscribers": subscribers, "flow_rate": flow_rate, "seconds": round(dt, 3),
            "md_x_received": x, "md_x_per_s": round(x / dt), "entries_per_s": round(e / dt),
            "server_md_ticks_total": stats["md_ticks"], "server_flow_events_total": stats["flow_events"],
            "server_trades_total": stats["trades"]}


# ------------------------------------------------------------------------------------ in process
class _Sink:
    """A transport stand-in: counts what the server writes (no socket, no syscall)."""

    def __init__(self) -> None:
        self.bytes = 0
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.bytes += len(data)
        self.writes += 1

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str) -> Any:
        return None

    def abort(self) -> None:
        pass


class _Frames:
    """Pre-encodes a client's frames (the same ones the socket client sends)."""

    def __init__(self, sender: str, target: str) -> None:
        self.enc = FixEncoder("FIX.4.2", sender, target)
        self.seq = 1

    def frame(self, mt: bytes, body: list[tuple[int, bytes | str | int]]) -> bytes:
        f = self.enc.encode(mt, body, self.seq)
        self.seq += 1
        return f


STAGES = ("parse", "session", "gateway", "full")


def _in_process_run(stage: str, n: int, batch: int, subscribers: int, store_dir: str,
                    profile: Any = None) -> tuple[float, dict[str, int]]:
    """CPU seconds (this thread) to push the order cycle through the server's code in-process, ``batch``
    messages per simulated socket read. ``stage``: ``parse`` (FixStreamParser only), ``session`` (the
    FIX session layer with an application that does nothing), ``gateway`` (gateway + matching +
    ExecutionReports, no market data publishing), ``full`` (everything, ``subscribers`` feeds)."""
    from hft.fix.parser import FixStreamParser
    from hft.fix.session import SessionApplication
    from hft.sim.config import ClientSession, FlowSettings, MarketDataConfig, OrderEntryConfig, SimConfig
    from hft.sim.server import SimServer

    md = MarketDataConfig(sessions=tuple(ClientSession(f"MD{i}") for i in range(subscribers)))
    cfg = SimConfig.default(order_entry=OrderEntryConfig(sessions=(ClientSession("BENCH"),)),
                            market_data=md, flow=FlowSettings(enabled=False), metrics_enabled=False,
                            store_dir=store_dir, fsync="batch")
    sim = SimServer(cfg)
    sim.build_detached()
    oe = sim.order_sessions["BENCH"]
    sink = _Sink()
    oe.connection_made(sink.write, lambda reason: None)
    c = _Frames("BENCH", "ASXSIM")
    oe.on_data(c.frame(b"A", [(98, 0), (108, 30)]))
    md_sinks = []
    for name, s in sim.md_sessions.items():
        ms = _Sink()
        s.connection_made(ms.write, lambda reason: None)
        mc = _Frames(name, "ASXSIMMD")
        s.on_data(mc.frame(b"A", [(98, 0), (108, 30)]) + mc.frame(b"V", _md_body(["BHP"])))
        md_sinks.append(ms)
    frames, cum = _order_frames(c, n)  # type: ignore[arg-type]
    chunks = [b"".join(frames[i:i + batch]) for i in range(0, n, batch)]
    gw = sim.gateway
    assert gw is not None
    if stage == "parse":
        p = FixStreamParser()

        def feed_parser(chunk: bytes | bytearray | memoryview) -> None:
            p.feed(chunk)
            while p.next_message() is not None:
                pass

        feed: Callable[[bytes | bytearray | memoryview], None] = feed_parser
    else:
        if stage == "session":
            oe.app = SessionApplication()
        elif stage == "gateway":
            gw.on_events = None
        feed = oe.on_data
    if profile is not None:
        profile.enable()
    c0 = time.thread_time()
    for chunk in chunks:
        feed(chunk)
    cpu = time.thread_time() - c0
    if profile is not None:
        profile.disable()
    if stage in ("gateway", "full") and gw.counters["exec_reports"] != cum[-1]:
        raise RuntimeError(f"in-process run: {gw.counters['exec_reports']} ExecutionReports, "
                           f"expected {cum[-1]}")
    if store_dir:
        for s in sim.order_sessions.values():
            s.store.close()
    return cpu, {"order_bytes": sink.bytes, "order_writes": sink.writes,
                 "md_bytes": sum(m.bytes for m in md_sinks), "md_writes": sum(m.writes for m in md_sinks)}


def bench_in_process(n: int, batch: int, subscribers: int, reps: int, store: str) -> dict[str, Any]:
    """Server CPU per order-entry message by stage, without sockets (best of ``reps``; each stage includes
    the ones before it, so the differences are the cost of each layer)."""
    best: dict[str, float] = {}
    io: dict[str, int] = {}
    for _ in range(reps):
        for stage in STAGES:
            with tempfile.TemporaryDirectory() as tmp:
                cpu, io = _in_process_run(stage, n, batch, subscribers, tmp if store == "file" else "")
            best[stage] = min(best.get(stage, cpu), cpu)
    us = {k: round(v / n * 1e6, 2) for k, v in best.items()}
    layers = {"parse": us["parse"], "session": round(us["session"] - us["parse"], 2),
              "gateway_matching_reports": round(us["gateway"] - us["session"], 2),
              "market_data": round(us["full"] - us["gateway"], 2)}
    return {"orders": n, "batch": batch, "md_subscribers": subscribers, "store": store, "reps": reps,
            "cpu_us_per_message": us, "cpu_us_per_message_by_layer": layers,
            "messages_per_cpu_s": round(n / best["full"]), **io}


def machine() -> dict[str, Any]:
    try:
        load = os.getloadavg()
    except OSError:
        load = (0.0, 0.0, 0.0)
    return {"cpus": os.cpu_count(), "loadavg": [round(x, 2) for x in load], "python": sys.version.split()[0],
            "platform": sys.platform}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="hft bench sim", description=__doc__.splitlines()[0],
                                 epilog="The docstring of hft.bench.sim_bench describes each measurement.")
    ap.add_argument("--orders", type=int, default=20_000, help="order-entry messages to send (default 20000)")
    ap.add_argument("--window", type=int, default=400,
                    help="max ExecutionReports outstanding while sending (default 400)")
    ap.add_argument("--store-fsync", choices=("safe", "batch", "none"), default="batch",
                    help="fsync policy of the persisted-store run (default batch)")
    ap.add_argument("--no-store-run", action="store_true", help="skip the persisted-store order run")
    ap.add_argument("--seconds", type=float, default=3.0, help="market data run length (default 3)")
    ap.add_argument("--subscribers", type=int, default=4, help="market data clients (default 4)")
    ap.add_argument("--flow-rate", type=float, default=50.0,
                    help="background flow rate multiplier for the market data run (default 50)")
    ap.add_argument("--in-process", action="store_true",
                    help="instead of the socket runs: the server's CPU per order-entry message by layer "
                         "(parse, session, gateway+matching+reports, market data), no sockets, best of "
                         "--reps")
    ap.add_argument("--batch", type=int, default=16,
                    help="--in-process: messages per simulated socket read (default 16)")
    ap.add_argument("--reps", type=int, default=3, help="--in-process: repetitions, best kept (default 3)")
    ap.add_argument("--store", choices=("memory", "file"), default="memory",
                    help="--in-process: session store of the order session (default memory)")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="--in-process: also cProfile one full run and print the top N functions to stderr")
    ap.add_argument("--profile-server", default="", metavar="PREFIX",
                    help="socket runs: cProfile the server's loop thread during each order run and write "
                         "PREFIX-<store>-<subscribers>.prof (pstats format; slows the server down)")
    ap.add_argument("--json", action="store_true", help="print only the JSON document")
    a = ap.parse_args(argv)
    if a.in_process:
        if a.orders < 4 or a.batch < 1 or a.reps < 1 or a.subscribers < 0:
            ap.error("--orders >= 4, --batch >= 1, --reps >= 1, --subscribers >= 0")
        res: dict[str, Any] = {"benchmark": "sim_in_process", "machine": machine(),
               "in_process": bench_in_process(a.orders, a.batch, a.subscribers, a.reps, a.store)}
        res["machine"]["loadavg_after"] = machine()["loadavg"]
        if a.profile > 0:
            import cProfile
            import pstats

            profile = cProfile.Profile()
            with tempfile.TemporaryDirectory() as tmp:
                _in_process_run("full", a.orders, a.batch, a.subscribers, tmp if a.store == "file" else "",
                                profile)
            pstats.Stats(profile, stream=sys.stderr).sort_stats("tottime").print_stats(a.profile)
        if not a.json:
            ip = res["in_process"]
            print(f"server CPU per message (us): {ip['cpu_us_per_message_by_layer']}; "
                  f"{ip['messages_per_cpu_s']:,} messages per CPU second")
        print(json.dumps(res, indent=None if not a.json else 2))
        return 0
    if a.orders < 4 or a.window < 4 or a.subscribers < 1 or a.seconds <= 0 or a.flow_rate <= 0:
        ap.error("--orders and --window >= 4, --subscribers >= 1, --seconds and --flow-rate > 0")
    out: dict[str, Any] = {"benchmark": "sim", "machine": machine(), "order_entry": []}
    pp = a.profile_server

    def prof(store: str, subs: int) -> str:
        return f"{pp}-{store}-{subs}.prof" if pp else ""

    out["order_entry"].append(bench_orders(a.orders, a.window, "memory", "none", 1, prof("memory", 1)))
    if not a.no_store_run:
        out["order_entry"].append(bench_orders(a.orders, a.window, "file", a.store_fsync, 1, prof("file", 1)))
        m, f = out["order_entry"]
        out["ratio_file_vs_memory_orders_per_s"] = round(f["orders_per_s"] / m["orders_per_s"], 3)
    if a.subscribers > 1:  # the same order stream fanned out to every subscriber
        out["order_entry"].append(bench_orders(a.orders, a.window, "memory", "none", a.subscribers,
                                               prof("memory", a.subscribers)))
        m, fan = out["order_entry"][0], out["order_entry"][-1]
        out["ratio_fanout_vs_1_subscriber_orders_per_s"] = round(fan["orders_per_s"] / m["orders_per_s"], 3)
    out["market_data"] = bench_md(a.seconds, a.subscribers, a.flow_rate)
    out["machine"]["loadavg_after"] = machine()["loadavg"]
    if a.json:
        print(json.dumps(out, indent=2))
        return 0
    for r in out["order_entry"]:
        print(f"order entry ({r['store']}): {r['orders_per_s']:,} orders/s, {r['exec_reports_per_s']:,} "
              f"exec reports/s, {r['md_x_per_s']:,} 35=X/s to {r['md_subscribers']} subscriber(s)")
    m = out["market_data"]
    print(f"market data: {m['md_x_per_s']:,} 35=X/s received by {m['subscribers']} subscribers, "
          f"{m['entries_per_s']:,} entries/s (flow x{m['flow_rate']:g})")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
