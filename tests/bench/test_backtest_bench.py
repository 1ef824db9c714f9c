"""``hft bench backtest``: a small run prints the documented JSON, with and without its peer (hftbacktest,
in its own venv: ``bash scripts/install_hftbacktest.sh .venv-hftbacktest``, which ``make test`` runs and
points ``$HFT_BENCH_HFTBACKTEST_PYTHON`` at); the hftbacktest event conversion."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import numpy as np
import pytest

from hft.bench import backtest_bench as B
from hft.data.format import load_events


@pytest.mark.timeout(120)
def test_bench_backtest_json_small(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert B.main(["--json", "--events", "3000", "--cache-dir", str(tmp_path), "--no-hftbacktest"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["benchmark"] == "backtest" and out["strategy"] == "market_maker" and out["events"] == 3000
    h = out["hft"]
    assert h["events"] == 3000 and h["events_per_s"] > 0 and h["replay_s"] > 0
    assert h["process_s"] >= h["replay_s"] and h["peak_rss_mb"] > 10 and h["cpu_s"] > 0
    assert h["strategy_calls"] > 0
    assert out["hftbacktest"] is None and out["ratios"] == {}
    assert (tmp_path / "synth_3000_s7.parquet").exists()  # cached for the next run


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_bench_backtest_runs_the_hftbacktest_peer(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  unavailable: Callable[[str], NoReturn]) -> None:
    """Both engines run the same quoting rule on the same small day, each in its own process."""
    py = B.find_hbt_python(None)
    if py is None:
        unavailable("no interpreter with hftbacktest: run `bash scripts/install_hftbacktest.sh "
                    ".venv-hftbacktest` and set HFT_BENCH_HFTBACKTEST_PYTHON=.venv-hftbacktest/bin/python")
    assert B.main(["--json", "--events", "3000", "--cache-dir", str(tmp_path),
                   "--hftbacktest-python", py]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["hftbacktest_status"] == "measured"
    ev = load_events(tmp_path / "synth_3000_s7.parquet")
    h, ours = out["hftbacktest"], out["hft"]
    assert h["events"] == int(((ev.kind == 1) | (ev.kind == 2)).sum())  # snapshot markers dropped
    assert h["strategy_calls"] > 0 and h["fills"] > 0 and ours["fills"] > 0
    assert h["replay_s"] > 0 and h["compile_s"] > 0 and h["process_s"] > h["compile_s"] + h["replay_s"]
    assert h["peak_rss_mb"] > 10 and h["cpu_s"] > 0
    r = out["ratios"]
    assert r["process_s_hftbacktest_over_hft"] == round(h["process_s"] / ours["process_s"], 2)
    assert r["replay_events_per_s_hft_over_hftbacktest"] == round(ours["events_per_s"] / h["events_per_s"], 3)


def test_hftbacktest_event_conversion(tmp_path: Path) -> None:
    p, _ = B.dataset(500, tmp_path)
    a = np.load(B.hbt_events(p))["data"]
    ev = load_events(p)
    keep = (ev.kind == 1) | (ev.kind == 2)
    assert len(a) == int(keep.sum())
    flags = a["ev"].astype(np.int64)
    assert np.array_equal(flags & 0xFF, ev.kind[keep])  # DEPTH_EVENT 1, TRADE_EVENT 2
    assert np.all(flags & (1 << 31)) and np.all(flags & (1 << 30))  # exchange and local events
    side = ev.side[keep]
    assert np.array_equal((flags & (1 << 29)) != 0, side == 1)
    assert np.array_equal((flags & (1 << 28)) != 0, side == 2)
    assert np.allclose(a["px"], ev.price[keep] / 10_000)
    assert np.array_equal(a["local_ts"], ev.ts_local[keep])


@pytest.mark.timeout(120)
def test_bench_backtest_baseline_side_by_side(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the baseline is this same source tree: both sides must report identical fills and P&L
    src = Path(B.__file__).resolve().parents[2]
    assert B.main(["--json", "--events", "3000", "--cache-dir", str(tmp_path), "--no-hftbacktest",
                   "--baseline-src", str(src)]) == 0
    out = json.loads(capsys.readouterr().out)
    b = out["baseline"]
    assert b["src"] == str(src) and b["events"] == 3000 and b["fills"] == out["hft"]["fills"]
    r = out["baseline_ratios"]
    assert r["same_fills_and_pnl"] is True and r["process_s_baseline_over_hft"] > 0
    with pytest.raises(OSError, match="no hft package"):
        B.baseline_src(str(tmp_path))
