"""Load throughput and memory of the canonical format.

``python -m hft.bench.data_bench [--events N] [--json]``.

Builds an N-event synthetic L2 day (the backtester's generator, 1M-event tiles each starting with a
snapshot, times shifted), writes it as Parquet (and a 1M-row CSV), then measures in fresh child
processes, so that the generator's memory does not count (peak RSS = VmHWM): ``load_events`` on a
validated file (vectorised checks only), ``load_events(check_book=True)`` (per-row crossed-book
replay), ``iter_event_chunks`` (streaming) and plain ``pyarrow.parquet.read_table`` + ``to_numpy``
side by side. Not a test: the numbers vary with the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

_CHILD = r"""
import json, sys, time
import numpy as np, pyarrow.parquet as pq
from hft.data.format import iter_event_chunks, load_events

def hwm():  # peak RSS of this process (VmHWM is per address space: not inherited like ru_maxrss)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0

what, path, reps = sys.argv[1], sys.argv[2], int(sys.argv[3])
rss0 = hwm()
times = []
for _ in range(reps):
    t = time.perf_counter()
    if what == "load":
        ev = load_events(path)
    elif what == "load_book":
        ev = load_events(path, check_book=True)
    elif what == "stream":
        for c in iter_event_chunks(path):
            pass
    elif what == "pyarrow":
        tb = pq.read_table(path)
        ev = [tb.column(c).to_numpy() for c in ("ts_exch", "ts_local", "kind", "side", "price", "qty",
                                                  "symbol")]
        del tb
    times.append(time.perf_counter() - t)
    ev = None
n = pq.ParquetFile(path).metadata.num_rows
print(json.dumps({"rows": n, "times": times, "rss_before": rss0, "peak_rss": hwm()}))
"""

def make_day(n: int, path: Path) -> int:
    from hft.backtest.synth import generate
    from hft.data.format import EventWriter, make_metadata

    tile_n = min(n, 1_000_000)
    tile = generate(tile_n, seed=11)
    span = int(tile.ts_local[-1] - tile.ts_local[0]) + 1
    written = 0
    md = make_metadata("hft.bench.data_bench", tick_rule={"kind": "asx"})
    with EventWriter(path, md, chunk_rows=1_000_000) as w:
        k = 0
        while written < n:
            m = min(tile_n, n - written)
            part = tile.take(np.arange(m))
            part.ts_exch = part.ts_exch + k * span
            part.ts_local = part.ts_local + k * span
            w.append_arrays(part)
            written += m
            k += 1
    return written


def child(what: str, path: Path, reps: int) -> dict[str, Any]:
    r = subprocess.run([sys.executable, "-c", _CHILD, what, str(path), str(reps)], capture_output=True,
                       text=True, check=True)
    out: dict[str, Any] = json.loads(r.stdout)
    return out


def run(n: int, workdir: Path, reps: int = 3) -> dict[str, Any]:
    pq_path = workdir / "day.parquet"
    t = time.perf_counter()
    rows = make_day(n, pq_path)
    write_s = time.perf_counter() - t
    out: dict[str, Any] = {"events": rows, "parquet_bytes": pq_path.stat().st_size,
                           "generate_and_write_seconds": round(write_s, 2)}
    for what in ("load", "load_book", "stream", "pyarrow"):
        d = child(what, pq_path, 1 if what == "load_book" else reps)
        best = min(d["times"])
        out[what] = {
            "first_seconds": round(d["times"][0], 3),
            "best_seconds": round(best, 3),
            "events_per_s": round(d["rows"] / best),
            "file_MB_per_s": round(out["parquet_bytes"] / best / 1e6, 1),
            "peak_rss_MB": round(d["peak_rss"] / 1e6, 1),
            "rss_before_MB": round(d["rss_before"] / 1e6, 1),
        }
    out["load_vs_pyarrow_time_ratio"] = round(out["load"]["best_seconds"] / out["pyarrow"]["best_seconds"], 2)
    # CSV on at most 1M rows
    from hft.data.format import load_events, write_events

    csv_path = workdir / "day.csv"
    ev = load_events(pq_path).take(np.arange(min(rows, 1_000_000)))
    write_events(csv_path, ev)
    best = float("inf")
    m = 0
    for _ in range(reps):
        t = time.perf_counter()
        m = len(load_events(csv_path))
        best = min(best, time.perf_counter() - t)
    out["csv"] = {"events": m, "bytes": csv_path.stat().st_size, "best_seconds": round(best, 3),
                  "events_per_s": round(m / best)}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hft.bench.data_bench", description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=10_000_000, help="events in the generated day")
    ap.add_argument("--reps", type=int, default=3, help="repetitions per measurement (best is reported)")
    ap.add_argument("--dir", default=None, help="work directory (default: a temporary one)")
    ap.add_argument("--json", action="store_true", help="print JSON only")
    a = ap.parse_args(argv)
    if a.dir:
        res = run(a.events, Path(a.dir), a.reps)
    else:
        with tempfile.TemporaryDirectory() as d:
            res = run(a.events, Path(d), a.reps)
    print(json.dumps(res, indent=None if a.json else 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
