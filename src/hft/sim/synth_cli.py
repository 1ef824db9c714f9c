"""``hft data synth OUT --seconds N --seed S [--json]``: record a synthetic day from the simulator.

Runs :func:`hft.sim.record.generate_day` (the matching engine and background order flow on a fast-forward
clock) and writes the canonical format of :mod:`hft.data.format`. It lives here, not in :mod:`hft.data`,
because the data package is a lower layer than the simulator (``tests/test_layering.py``): the generator
imports the format, never the other way round. ``hft.cli`` routes ``hft data synth`` to this module.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from hft.data.format import DataError


def build_parser() -> argparse.ArgumentParser:
    s = argparse.ArgumentParser(
        prog="hft data synth", description="Record a synthetic day from the simulator's background flow: "
        "runs hft.sim's matching engine and background order flow on a fast-forward clock "
        "(hft.sim.record.generate_day) and records it.")
    s.add_argument("output", metavar="OUT")
    s.add_argument("--seconds", type=float, required=True, help="seconds of market time to generate")
    s.add_argument("--seed", type=int, default=1, help="random seed (same seed, same file)")
    s.add_argument("--json", action="store_true", help="print the generator's stats as JSON")
    return s


def main(argv: list[str]) -> int:
    a = build_parser().parse_args(argv)
    from hft.sim.record import generate_day

    t0 = time.perf_counter()
    try:
        stats: dict[str, Any] = generate_day(a.output, a.seconds, a.seed)
    except (DataError, ValueError, OSError) as e:
        print(f"hft data synth: {e}", file=sys.stderr)
        return 1
    stats["generator"] = "hft.sim.record.generate_day"
    dt_s = time.perf_counter() - t0
    stats["wall_seconds"] = round(dt_s, 3)
    if a.json:
        print(json.dumps(json.loads(json.dumps(stats, default=str)), sort_keys=True))
    else:
        print(f"{a.output}: {stats.get('rows', '?')} rows, {a.seconds} s of market, seed {a.seed}, "
              f"{stats['generator']} ({dt_s:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
