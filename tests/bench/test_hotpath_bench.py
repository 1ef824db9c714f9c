"""python -m hft.bench.hotpath: in-process tick p50 (fresh processes), A/B against another tree, split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hft.bench import hotpath

SRC = Path(hotpath.__file__).resolve().parents[2]


@pytest.mark.timeout(120)
def test_ab_rounds_and_split(capsys: pytest.CaptureFixture[str]) -> None:
    assert hotpath.main(["--ticks", "200", "--rounds", "1", "--baseline-src", str(SRC), "--split",
                         "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rounds"] == 1 and len(out["after"]["p50_us_rounds"]) == 1
    assert out["before"]["median"] > 0 and out["after"]["median"] > 0 and out["ratio_median"] > 0
    assert set(out["split_us"]) == set(hotpath.SPLIT_POINTS)
    assert all(v > 0 for v in out["split_us"].values())


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        hotpath.main(["--baseline-src", str(tmp_path)])  # no hft package there
    with pytest.raises(SystemExit):
        hotpath.main(["--rounds", "0"])


@pytest.mark.timeout(120)
def test_gap_ticks_cold_and_warmed(capsys: pytest.CaptureFixture[str]) -> None:
    assert hotpath.main(["--ticks", "20", "--rounds", "1", "--gap-us", "300", "--warm-us", "50",
                         "--json"]) == 0
    gap = json.loads(capsys.readouterr().out)["gap"]
    assert gap["gap_us"] == 300 and gap["warm_us"] == 50 and gap["ticks"] == 20
    assert len(gap["cold"]) == 1 and len(gap["warmed"]) == 1
    assert gap["cold_median"] > 0 and gap["warmed_median"] > 0
