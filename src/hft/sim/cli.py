"""``hft sim``: run the ASX exchange simulator in the foreground until Ctrl-C / SIGTERM.

Without ``--config`` it uses the built-in defaults on the standard ports (order entry 9878, market data
9879, metrics 9101, all on 127.0.0.1; session stores persisted under ``var/sim/fix-store``): clients
``HFT`` (order entry, our CompID ``ASXSIM``) and ``HFTMD`` (market data, our CompID ``ASXSIMMD``),
always-continuous trading, background flow on BHP / PLS / NWX.
Command-line options override the file. Session events (logons, logouts, refused connections,
cancel-on-disconnect) are logged to stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from hft.ratelog import RateLimitedLog
from hft.sim.config import (
    DEFAULT_STORE_DIR,
    JITTER_KINDS,
    LatencySpec,
    SimConfig,
    SimConfigError,
    load_sim_config,
)

log = logging.getLogger("hft.sim")
rlog = RateLimitedLog(log, burst=5, interval_s=10.0)

DEFAULT_ORDER_PORT = 9878
DEFAULT_MD_PORT = 9879
DEFAULT_METRICS_PORT = 9101


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hft sim",
        description="Run the ASX exchange simulator (FIX 4.2/4.4 order entry, FIX market data, background "
                    "order flow, Prometheus metrics) on 127.0.0.1 in the foreground. Ctrl-C or SIGTERM "
                    "logs every client out and stops cleanly.",
        epilog="Example: hft sim --config config/sim.toml. Every key of the config file is documented in "
               "config/sim.toml and docs/sim.md.")
    p.add_argument("--config", metavar="FILE", help="simulator TOML config (default: built-in defaults on "
                   f"ports {DEFAULT_ORDER_PORT}/{DEFAULT_MD_PORT}, metrics {DEFAULT_METRICS_PORT})")
    p.add_argument("--order-port", type=int, metavar="N", help="order-entry FIX port (0 = any free port)")
    p.add_argument("--md-port", type=int, metavar="N", help="market data FIX port (0 = any free port)")
    p.add_argument("--metrics-port", type=int, metavar="N", help="Prometheus metrics port (0 = any free)")
    p.add_argument("--no-metrics", action="store_true", help="do not serve Prometheus metrics")
    p.add_argument("--seed", type=int, metavar="N", help="background flow seed")
    p.add_argument("--flow-rate", type=float, metavar="X",
                   help="multiply the background flow's arrival rates by X (0 = no flow)")
    p.add_argument("--no-flow", action="store_true", help="no background order flow (empty books)")
    p.add_argument("--schedule", choices=("continuous", "asx"),
                   help="continuous trading at any hour, or the ASX phase schedule (Sydney time, auctions)")
    p.add_argument("--latency-us", type=float, metavar="US",
                   help="fixed one-way latency added to order entry and market data, microseconds")
    p.add_argument("--jitter-us", type=float, metavar="US", help="jitter scale added to --latency-us")
    p.add_argument("--jitter", choices=JITTER_KINDS, help="jitter distribution (default uniform)")
    p.add_argument("--store-dir", metavar="DIR",
                   help="persist each order-entry session's FIX sequence numbers and messages here "
                        f"(default {DEFAULT_STORE_DIR}, with or without --config, unless the file's "
                        "server.store_dir says otherwise; \"\" = keep them in memory)")
    p.add_argument("--duration", type=float, metavar="S", help="stop by itself after S seconds")
    p.add_argument("--ready-file", metavar="PATH",
                   help="write a JSON object with the ports and metrics URL here once listening")
    p.add_argument("--stats-json", metavar="PATH",
                   help="at exit write the counters and the raw wire-to-wire samples (ns) as JSON here")
    p.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                   help="log level of the session event log on stderr (default INFO)")
    return p


def config_from_args(a: argparse.Namespace) -> SimConfig:
    if a.config:
        cfg = load_sim_config(a.config)
    else:
        cfg = SimConfig.default(order_port=DEFAULT_ORDER_PORT, md_port=DEFAULT_MD_PORT,
                                metrics_port=DEFAULT_METRICS_PORT, store_dir=DEFAULT_STORE_DIR,
                                source="<built-in defaults>")
    ch: dict[str, Any] = {}
    for opt, key in (("order_port", "order_port"), ("md_port", "md_port"), ("metrics_port", "metrics_port")):
        v = getattr(a, opt)
        if v is not None:
            if not 0 <= v <= 65535:
                raise SimConfigError(f"--{opt.replace('_', '-')}: expected 0..65535, got {v}")
            ch[key] = v
    if a.no_metrics:
        ch["metrics_enabled"] = False
    if a.store_dir is not None:
        ch["store_dir"] = a.store_dir
    flow = cfg.flow
    if a.seed is not None:
        flow = dataclasses.replace(flow, seed=a.seed)
    if a.flow_rate is not None:
        if a.flow_rate < 0:
            raise SimConfigError(f"--flow-rate: expected >= 0, got {a.flow_rate}")
        flow = dataclasses.replace(flow, rate=a.flow_rate)
    if a.no_flow:
        flow = dataclasses.replace(flow, enabled=False)
    ch["flow"] = flow
    if a.schedule:
        ch["schedule"] = dataclasses.replace(cfg.schedule, mode=a.schedule)
    if a.latency_us is not None or a.jitter_us is not None:
        fixed = a.latency_us or 0.0
        jit = a.jitter_us or 0.0
        if fixed < 0 or jit < 0:
            raise SimConfigError("--latency-us / --jitter-us: expected >= 0")
        spec = LatencySpec(fixed, jit, a.jitter or ("uniform" if jit > 0 else "none"))
        ch["latency"] = dataclasses.replace(cfg.latency, order_entry=spec, market_data=spec)
    return cfg.replace(**ch)


def _write_json(path: str, data: Any) -> None:
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, p)


def main(argv: list[str]) -> int:
    a = build_parser().parse_args(argv)
    logging.basicConfig(level=getattr(logging, a.log_level), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = config_from_args(a)
    except SimConfigError as e:
        print(f"hft sim: {e}", file=sys.stderr)
        return 2
    from hft.sim.server import SimServer, SimServerError

    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("%s received, shutting down", signal.Signals(signum).name)
        stop.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    sim = SimServer(cfg)
    try:
        try:
            sim.start()
        except SimServerError as e:
            print(f"hft sim: {e}", file=sys.stderr)
            return 1
        info = {"order_port": sim.order_port, "md_port": sim.md_port, "metrics_url": sim.metrics_url,
                "host": sim.host, "pid": os.getpid(), "config": cfg.source,
                "order_comp_id": cfg.order_entry.comp_id, "md_comp_id": cfg.market_data.comp_id,
                "order_clients": [s.sender_comp_id for s in cfg.order_entry.sessions],
                "md_clients": [s.sender_comp_id for s in cfg.market_data.sessions]}
        print(f"hft sim: order entry {sim.host}:{sim.order_port} (CompID {cfg.order_entry.comp_id}), "
              f"market data {sim.host}:{sim.md_port} (CompID {cfg.market_data.comp_id})"
              + (f", metrics {sim.metrics_url}" if sim.metrics_url else "") + "; Ctrl-C to stop", flush=True)
        if a.ready_file:
            _write_json(a.ready_file, info)
        deadline = time.monotonic() + a.duration if a.duration else None
        seen = {"order": 0, "md": 0}
        while not stop.is_set():
            stop.wait(0.2)
            for kind, acc in (("order", sim._order_acceptor), ("md", sim._md_acceptor)):
                if acc is not None and acc.refused_total > seen[kind]:
                    new = min(acc.refused_total - seen[kind], len(acc.refused))  # only the latest are kept
                    for text in list(acc.refused)[-new:]:  # a reconnect loop: 5 lines per 10 s, then a count
                        rlog.warning("refused:" + kind, "%s port: refused a connection: %s", kind, text)
                    seen[kind] = acc.refused_total
            if not sim.running:
                log.error("simulator thread ended unexpectedly")
                return 1
            if deadline is not None and time.monotonic() >= deadline:
                log.info("--duration elapsed, shutting down")
                break
    finally:
        sim.stop()
        for s, h in old.items():
            signal.signal(s, h)
    stats = sim.stats()
    replay = _replay_report(sim.flow)
    if replay is not None:
        stats["replay"] = replay
    if a.stats_json:
        _write_json(a.stats_json, {**stats, "wire_to_wire_ns": sim.wire_to_wire_samples()})
    g = stats["gateway"]
    print(f"hft sim: stopped; orders {g.get('new', 0)}, exec reports {g.get('exec_reports', 0)}, "
          f"md ticks {stats['md_ticks']}, trades {stats['trades']}", flush=True)
    if replay is not None:
        print(f"hft sim: {replay['summary']}", flush=True)
        if replay["problems"]:
            log.warning("replay file had %d problem rows (skipped or re-timed, see the warnings above and "
                        "docs/sim.md, Replay: bad input)", replay["problems"])
    return 0


def _replay_report(flow: Any) -> dict[str, Any] | None:
    """The replay driver's counters and problems (after the server thread stopped), None for other flows."""
    mod = sys.modules.get("hft.sim.replay")  # imported by the server only when the flow is a replay
    if mod is None or not isinstance(flow, mod.ReplayDriver):
        return None
    return {"path": str(flow.path), "summary": flow.summary(), "problems": flow.problems,
            "stats": dict(flow.stats), "errors": list(flow.errors)}
