"""``hft bench backtest``: events/s of the backtester with the market maker on a fixed generated day,
whole-process time and peak memory, side by side with hftbacktest when it is available.

Data: :func:`hft.backtest.synth.generate` (seed 7: 5 levels a side, ~5% trades, ~1% mid moves, 1-tick
spread), written once to ``--cache-dir`` as canonical Parquet (and, for hftbacktest, as its ``.npz``
event array). Generation time is not part of any measurement.

Measured per engine, each in a fresh process started by this one (``--repeats`` times, interleaved;
the best run is reported):

* ``hft``: ``hft backtest --config <market maker> --data <parquet> --json`` exactly as a user runs it
  (imports, Parquet load and validation, replay with the full fill model and the paper risk manager,
  summary). ``replay_s`` is the replay loop alone (from the run's own summary).
* ``hftbacktest``: :mod:`hft.bench._hbt_child` run by an interpreter that has ``hftbacktest`` (the
  current one, ``--hftbacktest-python`` or ``$HFT_BENCH_HFTBACKTEST_PYTHON``): the same quoting rule in
  numba on the same events, same latency and queue model. ``compile_s`` is numba's compilation,
  ``replay_s`` the compiled replay.

``process_s`` is wall time from spawn to exit; ``cpu_s`` the process's user + system CPU time (robust
when other jobs share the machine); ``peak_rss_mb`` its maximum resident set size.

``--baseline-src DIR`` measures another version of this project side by side in the same run (e.g. the
commit before an optimisation: ``git archive REV src | tar -x -C DIR``): the same ``hft backtest`` command
with ``PYTHONPATH=DIR/src``, interleaved with ours; ``baseline`` has the same fields as ``hft`` and
``ratios`` the before/after speed-ups and whether fills and P&L are identical.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

SEED = 7
ENTRY_NS = 200_000
RESPONSE_NS = 200_000
MM_CONFIG = f"""# written by hft bench backtest
[backtest]
instrument = "BHP"
entry_latency_ns = {ENTRY_NS}
response_latency_ns = {RESPONSE_NS}
seed = 1
queue_power = 3.0

[strategy]
name = "market_maker"

[fees]
model = "ibkr_fixed"
"""


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hft" / "bench"


def dataset(n: int, cache: Path) -> tuple[Path, float]:
    """The canonical Parquet file of the benchmark day (generated once); returns (path, seconds spent)."""
    from hft.backtest.synth import generate
    from hft.data.format import make_metadata, write_events

    p = cache / f"synth_{n}_s{SEED}.parquet"
    if p.exists():
        return p, 0.0
    cache.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    ev = generate(n, seed=SEED)
    tmp = p.with_suffix(".tmp.parquet")
    write_events(tmp, ev, make_metadata("hft.backtest.synth", tick_rule={"kind": "asx"}, seed=str(SEED)))
    tmp.replace(p)
    return p, time.perf_counter() - t


def hbt_events(parquet: Path) -> Path:
    """hftbacktest's event array (.npz, key ``data``) of the same events (snapshot markers dropped)."""
    out = parquet.with_suffix(".hbt.npz")
    if out.exists():
        return out
    from hft.data.format import load_events

    ev = load_events(parquet, validate=False)
    keep = (ev.kind == 1) | (ev.kind == 2)
    n = int(keep.sum())
    dt = np.dtype([("ev", "u8"), ("exch_ts", "i8"), ("local_ts", "i8"), ("px", "f8"), ("qty", "f8"),
                   ("order_id", "u8"), ("ival", "i8"), ("fval", "f8")], align=True)
    a = np.zeros(n, dt)
    kind = ev.kind[keep].astype(np.uint64)
    side = ev.side[keep]
    exch, local, buy, sell = 1 << 31, 1 << 30, 1 << 29, 1 << 28
    flags = kind | np.uint64(exch | local)  # DEPTH_EVENT = 1, TRADE_EVENT = 2 (same codes as ours)
    flags |= np.where(side == 1, np.uint64(buy), np.where(side == 2, np.uint64(sell), np.uint64(0)))
    a["ev"] = flags
    a["exch_ts"] = ev.ts_exch[keep]
    a["local_ts"] = ev.ts_local[keep]
    a["px"] = ev.price[keep] / 10_000.0
    a["qty"] = ev.qty[keep].astype(np.float64)
    tmp = out.with_suffix(".tmp.npz")
    np.savez(tmp, data=a)
    tmp.replace(out)
    return out


def run_process(cmd: list[str], env: dict[str, str] | None = None) -> tuple[dict[str, Any], dict[str, float]]:
    """Run ``cmd``; returns (its last stdout JSON object, {process_s, cpu_s, peak_rss_mb})."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = out.read().decode()
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[:3])}... exited {p.returncode}: {err.read().decode()[-2000:]}")
    start = text.find("{")
    if start < 0:
        raise RuntimeError(f"no JSON from {' '.join(cmd[:3])}...: {text[-500:]}")
    data = json.loads(text[start:])
    return data, {"process_s": round(wall, 3), "cpu_s": round(ru.ru_utime + ru.ru_stime, 3),
                  "peak_rss_mb": round(ru.ru_maxrss / 1024.0, 1)}


def find_hbt_python(arg: str | None) -> str | None:
    """An interpreter that can import hftbacktest, or None."""
    cands = [c for c in (arg, os.environ.get("HFT_BENCH_HFTBACKTEST_PYTHON")) if c]
    if not cands and importlib.util.find_spec("hftbacktest") is not None:
        cands = [sys.executable]
    for c in cands:
        if os.sep in c:  # a path relative to where we were started, not to the probe's working directory
            c = os.path.abspath(c)
        try:
            r = subprocess.run([c, "-c", "import hftbacktest, numba"], capture_output=True, timeout=120,
                               cwd=tempfile.gettempdir())
        except (OSError, subprocess.TimeoutExpired):
            continue
        if r.returncode == 0:
            return c
    return None


def _ours(s: dict[str, Any], proc: dict[str, float]) -> dict[str, Any]:
    replay_s = float(s["wall_s"])
    return {"events": s["events"], "replay_s": replay_s,
            "events_per_s": round(s["events"] / replay_s) if replay_s > 0 else 0,
            "process_events_per_s": round(s["events"] / proc["process_s"]), **proc,
            "strategy_calls": s["strategy_calls"], "fills": s["trades"], "orders_sent": s["orders_sent"],
            "orders_refused": s["orders_refused"], "pnl_net_cents": s["pnl_net_cents"]}


def baseline_src(arg: str) -> Path:
    """The directory holding the baseline's ``hft`` package (``DIR/src`` or ``DIR``)."""
    d = Path(arg)
    for cand in (d / "src", d):
        if (cand / "hft" / "__init__.py").exists():
            return cand.resolve()
    raise OSError(f"--baseline-src {arg}: no hft package in {d}/src or {d}")


def bench(n: int, cache: Path, hbt_python: str | None, repeats: int,
          baseline: Path | None = None) -> dict[str, Any]:
    parquet, gen_s = dataset(n, cache)
    cfg = cache / "bench_market_maker.toml"
    cfg.write_text(MM_CONFIG)
    ours_cmd = [sys.executable, "-m", "hft.cli", "backtest", "--config", str(cfg), "--data", str(parquet),
                "--json", "--no-progress"]
    hbt_cmd = None
    if hbt_python is not None:
        npz = hbt_events(parquet)
        hbt_cmd = [hbt_python, str(Path(__file__).with_name("_hbt_child.py")), str(npz), str(ENTRY_NS),
                   str(RESPONSE_NS)]
    best: dict[str, tuple[dict[str, Any], dict[str, float]]] = {}
    runs = (("hft", ours_cmd), ("baseline", ours_cmd if baseline is not None else None),
            ("hftbacktest", hbt_cmd))
    for _ in range(repeats):
        for name, cmd in runs:
            if cmd is None:
                continue
            env = dict(os.environ)
            if name == "hftbacktest":
                env.pop("PYTHONPATH", None)
            elif name == "baseline":
                env["PYTHONPATH"] = str(baseline)
            r = run_process(cmd, env)
            if name not in best or r[1]["process_s"] < best[name][1]["process_s"]:
                best[name] = r
    s, proc = best["hft"]
    ours = _ours(s, proc)
    out: dict[str, Any] = {
        "benchmark": "backtest", "strategy": "market_maker", "events": n, "seed": SEED,
        "data": {"levels": 5, "trade_frac": 0.05, "file": str(parquet), "generate_s": round(gen_s, 3)},
        "latency_ns": {"entry": ENTRY_NS, "response": RESPONSE_NS}, "repeats": repeats, "hft": ours,
        "hftbacktest": None, "ratios": {},
        "hftbacktest_status": "measured" if hbt_cmd else "not installed (see --hftbacktest-python)",
    }
    if "baseline" in best:
        bs, bp = best["baseline"]
        b = out["baseline"] = {"src": str(baseline), **_ours(bs, bp)}
        out["baseline_ratios"] = {
            "replay_s_baseline_over_hft": (round(b["replay_s"] / ours["replay_s"], 2) if ours["replay_s"]
                                           else None),
            "process_s_baseline_over_hft": round(b["process_s"] / ours["process_s"], 2),
            "cpu_s_baseline_over_hft": round(b["cpu_s"] / ours["cpu_s"], 2) if ours["cpu_s"] else None,
            "same_fills_and_pnl": (b["fills"], b["pnl_net_cents"]) == (ours["fills"], ours["pnl_net_cents"]),
        }
    if "hftbacktest" in best:
        h, hp = best["hftbacktest"]
        out["hftbacktest"] = {"events": h["events"], "replay_s": round(h["replay_s"], 3),
                              "events_per_s": round(h["events"] / h["replay_s"]) if h["replay_s"] > 0 else 0,
                              "compile_s": round(h["compile_s"], 3), "import_s": round(h["import_s"], 3),
                              **hp, "strategy_calls": h["strategy_calls"], "fills": h["fills"]}
        hb = out["hftbacktest"]
        out["ratios"] = {
            "process_s_hftbacktest_over_hft": round(hb["process_s"] / proc["process_s"], 2),
            "cpu_s_hftbacktest_over_hft": round(hb["cpu_s"] / proc["cpu_s"], 2) if proc["cpu_s"] else None,
            "replay_events_per_s_hft_over_hftbacktest": round(ours["events_per_s"] / hb["events_per_s"], 3)
            if hb["events_per_s"] else None,
        }
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="hft bench backtest", description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="print the result as JSON (else a short table)")
    ap.add_argument("--events", type=int, default=1_000_000, help="events in the generated day (1,000,000)")
    ap.add_argument("--cache-dir", default=None, help="where the generated day is kept (~/.cache/hft/bench)")
    ap.add_argument("--hftbacktest-python", default=None,
                    help="interpreter with hftbacktest installed (else $HFT_BENCH_HFTBACKTEST_PYTHON, else "
                         "this one if it can import hftbacktest)")
    ap.add_argument("--no-hftbacktest", action="store_true", help="measure only this project's backtester")
    ap.add_argument("--repeats", type=int, default=1, help="runs per engine, interleaved; best reported")
    ap.add_argument("--baseline-src", default=None, metavar="DIR",
                    help="also run another version of this project side by side: a tree with src/hft (e.g. "
                         "'git archive REV src | tar -x -C DIR'); adds 'baseline' and 'baseline_ratios'")
    a = ap.parse_args(argv)
    if a.events < 100 or a.repeats < 1:
        ap.error("--events must be >= 100 and --repeats >= 1")
    cache = Path(a.cache_dir) if a.cache_dir else default_cache_dir()
    hbt = None if a.no_hftbacktest else find_hbt_python(a.hftbacktest_python)
    try:
        base = baseline_src(a.baseline_src) if a.baseline_src else None
        out = bench(a.events, cache, hbt, a.repeats, base)
    except (RuntimeError, OSError) as e:
        print(f"hft bench backtest: {e}", file=sys.stderr)
        return 1
    if a.json:
        print(json.dumps(out, indent=2))
        return 0
    o = out["hft"]
    print(f"hft:         {o['events_per_s']:>10,} events/s replay, process {o['process_s']} s "
          f"(cpu {o['cpu_s']} s), peak RSS {o['peak_rss_mb']} MB")
    h = out["hftbacktest"]
    if h:
        print(f"hftbacktest: {h['events_per_s']:>10,} events/s replay, process {h['process_s']} s "
              f"(cpu {h['cpu_s']} s, compile {h['compile_s']} s), peak RSS {h['peak_rss_mb']} MB")
        print(f"ratios:      {out['ratios']}")
    else:
        print(f"hftbacktest: {out['hftbacktest_status']}")
    b = out.get("baseline")
    if b:
        print(f"baseline:    {b['events_per_s']:>10,} events/s replay, process {b['process_s']} s "
              f"(cpu {b['cpu_s']} s); {out['baseline_ratios']}")
    return 0
