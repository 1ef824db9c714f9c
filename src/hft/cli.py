"""The ``hft`` command.

Sub-commands live in their own modules and are imported only when chosen, so ``hft --help`` and each
command start fast. Every command module exposes ``main(argv: list[str]) -> int`` and builds its own
argparse parser (so ``hft sim --help`` documents every option of ``hft sim``).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

# (command words) -> (module, one-line help)
COMMANDS: dict[tuple[str, ...], tuple[str, str]] = {
    ("paper",): ("hft.engine.paper_cli", "paper-trade against the built-in simulator or a FIX venue"),
    ("live",): ("hft.engine.live_cli", "trade live (requires --live and a live config)"),
    ("sim",): ("hft.sim.cli", "run the ASX exchange simulator (FIX order entry + market data)"),
    ("backtest",): ("hft.backtest.cli", "replay L2 data through the event-driven backtester"),
    ("data",): ("hft.data.cli", "convert and inspect market data files"),
    ("data", "synth"): ("hft.sim.synth_cli", "record a synthetic day from the simulator's background flow"),
    ("fix", "decode"): ("hft.fix.decode", "decode a raw FIX log into JSON, one object per message"),
    ("fix", "conformance-acceptor"): ("hft.fix.conformance", "acceptor for QuickFIX's session test scripts"),
    ("journal", "show"): ("hft.engine.journal_cli", "print a trading journal for people"),
    ("bench", "fix"): ("hft.bench.fix_bench", "FIX parse/encode benchmark against simplefix and quickfix"),
    ("bench", "latency"): ("hft.bench.latency", "wire-to-wire tick-to-trade latency benchmark"),
    ("bench", "backtest"): ("hft.bench.backtest_bench", "backtester events/s benchmark"),
    ("bench", "sim"): ("hft.bench.sim_bench", "exchange simulator orders/s and market data msgs/s"),
    ("bench", "ring"): ("hft.bench.ring_bench", "shared-memory SPSC ring vs multiprocessing.Queue and pipe"),
    ("bench", "gc"): ("hft.bench.gc_bench", "allocations and GC runs on the hot path"),
    ("bench", "validate"): ("hft.fix.validation_bench", "FIX data-dictionary validation, ns per message"),
    ("bench", "tws"): ("hft.bench.tws_bench", "TWS API market data pass metric against the fake TWS server"),
}


def _available(only: tuple[tuple[str, ...], ...] | None = None) -> dict[tuple[str, ...], tuple[str, str]]:
    out = {}
    for words, (module, help_) in COMMANDS.items():
        if only is not None and words not in only:
            continue
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if found:
            out[words] = (module, help_)
    return out


def _usage(prefix: tuple[str, ...] = ()) -> str:
    lines = ["usage: hft <command> [options]", "", "commands:"]
    for words, (_, help_) in sorted(_available().items()):
        if words[: len(prefix)] == prefix:
            lines.append(f"  {' '.join(words):<18} {help_}")
    lines += ["", "Run 'hft <command> --help' for the options of a command."]
    return "\n".join(lines)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not raise again."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, ValueError):
        pass


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if args[0] == "--version":
        from hft import __version__

        print(f"hft {__version__}")
        return 0
    for n in (2, 1):
        key = tuple(args[:n])
        # look up only the chosen command (find_spec of every command would import every parent package,
        # e.g. hft.sim and hft.fix, ~0.1 s on each start)
        if key in COMMANDS and key in _available((key,)):
            module = importlib.import_module(COMMANDS[key][0])
            try:
                rc = module.main(args[n:])
            except BrokenPipeError:  # `hft ... | head`: the reader left; not an error, no traceback
                _quiet_stdout()
                return 0
            return int(rc or 0)
    available = _available()
    prefix = (args[0],)
    if any(w[:1] == prefix for w in available):
        print(_usage(prefix), file=sys.stderr)
        return 2
    print(f"hft: unknown command {' '.join(args[:2])!r}\n\n{_usage()}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
