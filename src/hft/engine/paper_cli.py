"""``hft paper``: paper trading end to end.

With no arguments: starts the embedded ASX exchange simulator in-process, connects to it over loopback
FIX (order entry + market data), runs the configured strategy (default ``reference``), shows a live
status line and prints a final summary (orders, fills, position, P&L, fees, tick-to-trade p50/p99).
``--config FILE`` with ``sim.embedded = false`` connects to the venue named in the file instead (a
separately started ``hft sim``, or a broker's FIX test system); ``market_data.source = "replay"`` replays
a recorded file in real time instead of the FIX market data session.

Exit status: 0 done, 2 bad configuration or arguments or a journal / FIX store damaged in the middle
(refused, file untouched), 1 the venue could not be reached, 3 the session ended with the kill switch
tripped.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from typing import Any

from hft.engine.config import Config, ConfigError, load_config

log = logging.getLogger("hft.paper")

EXIT_OK, EXIT_VENUE, EXIT_CONFIG, EXIT_KILLED = 0, 1, 2, 3


def add_common_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="TOML config (docs/config.md); default: built-in paper "
                   "defaults = embedded simulator, reference strategy, BHP")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: until Ctrl-C "
                   "/ SIGTERM); the strategy stops, open orders are cancelled, sessions log out")
    p.add_argument("--json", action="store_true", help="print the final summary as JSON on stdout (no "
                   "status line)")
    p.add_argument("--no-status", action="store_true", help="no live status line")
    p.add_argument("--strategy", metavar="NAME", help="override strategy.name (default params)")
    p.add_argument("--metrics-port", type=int, metavar="N", help="override metrics.port (0 = a free port)")
    p.add_argument("--journal", metavar="PATH", help="override journal.path")
    p.add_argument("--reset-kill-switch", metavar="OPERATOR", help="a kill switch tripped in a previous "
                   "run (latched in the journal) is reset by OPERATOR at start-up; without it the session "
                   "starts tripped")
    p.add_argument("--logon-timeout", type=float, default=10.0, metavar="S",
                   help="give up when a FIX session has not logged on after S seconds (default 10)")
    p.add_argument("--wire-stamps", action="store_true", help="engine.wire_stamps = true: the busy-poll host "
                   "reads kernel receive/transmit stamps and the summary reports wire-to-wire per order")
    p.add_argument("--log-level", default="WARNING", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                   help="log level on stderr (default WARNING)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hft paper", description=__doc__.split("\n\n")[1] if __doc__ else None,
        epilog="SIGUSR1 trips the kill switch (cancel all, block new orders). Metrics: Prometheus on "
               "127.0.0.1:9090 by default (a free port if 9090 is busy). See docs/paper.md.")
    add_common_options(p)
    return p


def load(args: argparse.Namespace) -> Config:
    from hft.strategies import PARAMS

    cfg = load_config(args.config, PARAMS)
    if args.strategy:
        if args.strategy not in PARAMS:
            raise ConfigError(f"--strategy: unknown strategy {args.strategy!r} (known: "
                              f"{', '.join(sorted(PARAMS))})")
        cfg = dataclasses.replace(cfg, strategy=dataclasses.replace(
            cfg.strategy, name=args.strategy, params={}, params_obj=PARAMS[args.strategy]()))
    if args.wire_stamps:
        cfg = dataclasses.replace(cfg, engine=dataclasses.replace(cfg.engine, wire_stamps=True))
    if args.journal:
        cfg = dataclasses.replace(cfg, journal=dataclasses.replace(cfg.journal, path=args.journal))
    if args.metrics_port is not None and not 0 <= args.metrics_port <= 65535:
        raise ConfigError(f"--metrics-port: expected 0..65535, got {args.metrics_port}")
    return cfg


def run(cfg: Config, args: argparse.Namespace, *, title: str, metrics_fallback: bool) -> int:
    """Run a session with the CLI's status line and summary (shared by ``hft paper`` and ``hft live``)."""
    from rich.console import Console
    from rich.logging import RichHandler

    from hft.engine.host import run_session
    from hft.engine.journal import JournalError
    from hft.engine.preflight import warnings_for
    from hft.engine.runner import HostOptions
    from hft.engine.status import StatusLine, summary_table
    from hft.fix.store import StoreError

    err = Console(stderr=True)
    show_status = not args.json and not args.no_status
    logging.basicConfig(level=getattr(logging, args.log_level), format="%(message)s",
                        handlers=[RichHandler(console=err, show_path=False, rich_tracebacks=False)])
    if args.duration is not None and args.duration <= 0:
        err.print("--duration: expected a positive number of seconds")
        return EXIT_CONFIG
    if not args.logon_timeout > 0:  # (0 or NaN would give up before the first connect attempt)
        err.print(f"--logon-timeout: expected a positive number of seconds, got {args.logon_timeout:g}",
                  markup=False)
        return EXIT_CONFIG
    busy = cfg.engine.loop == "busy_poll"
    if busy and cfg.sim.embedded:
        err.print(f"config error: {cfg.source}: engine.loop: 'busy_poll' spins on the GIL and would starve "
                  "the embedded simulator; set sim.embedded = false and start `hft sim`", markup=False)
        return EXIT_CONFIG
    for warning in warnings_for(cfg):  # e.g. a non-loopback metrics bind: loud, once, before anything starts
        err.print(f"WARNING: {warning}", style="bold red", markup=False)
        log.warning("%s", warning)
    status = StatusLine(err) if show_status else None
    opts = HostOptions(duration=args.duration, metrics_port=args.metrics_port, status=status,
                       metrics_fallback=metrics_fallback, logon_timeout=args.logon_timeout,
                       reset_kill_by=args.reset_kill_switch)
    try:
        summary: dict[str, Any] = run_session(cfg, opts)
    except ConfigError as e:  # found while starting (e.g. a bad replay recording): name the config file too
        msg = str(e)
        if cfg.source and not msg.startswith(cfg.source):
            msg = f"{cfg.source}: {msg}"
        err.print(f"config error: {msg}", markup=False)
        return EXIT_CONFIG
    except (JournalError, StoreError) as e:  # mid-file damage: never trade on a silently shortened history
        err.print(f"{title}: refusing to start: {e}", markup=False)
        return EXIT_CONFIG
    except RuntimeError as e:
        err.print(f"{title}: {e}", markup=False)
        return EXIT_VENUE
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        err.print("interrupted")
        return EXIT_VENUE
    if args.json:
        print(json.dumps(summary, default=str))
    else:
        Console().print(summary_table(summary, title))
    return EXIT_KILLED if summary["kill_switch"]["tripped"] else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        cfg = load(args)
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return EXIT_CONFIG
    if cfg.mode == "live":
        print(f"{cfg.source} has mode = \"live\": use `hft live --live --config {cfg.source}`; hft paper "
              "never trades live", file=sys.stderr)
        return EXIT_CONFIG
    return run(cfg, args, title="paper session", metrics_fallback=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
