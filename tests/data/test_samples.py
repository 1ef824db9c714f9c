"""hft.data.samples: one lookup of the real-data sample directory for every test and tool."""

from __future__ import annotations

from pathlib import Path

import pytest

from hft.data import samples
from hft.data.samples import ENV_VAR, sample_data_dir, sample_path


def test_env_var_wins_and_is_the_only_candidate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "lobster").mkdir()
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert sample_data_dir() == tmp_path
    assert sample_path("lobster") == tmp_path / "lobster" and sample_path("lobster").is_dir()
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "missing"))
    assert sample_data_dir() is None  # an explicit directory that is absent: skip, no silent fallback
    assert not sample_path("lobster").exists()


def test_fallbacks_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    first, second = tmp_path / "a", tmp_path / "b"
    monkeypatch.setattr(samples, "FALLBACK_DIRS", (first, second))
    assert sample_data_dir() is None and not sample_path("x").exists()
    second.mkdir()
    assert sample_data_dir() == second
    first.mkdir()
    assert sample_data_dir() == first
    monkeypatch.setenv(ENV_VAR, "")  # empty = unset
    assert sample_data_dir() == first


def test_default_is_shared_beside_the_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the variable the one candidate is ``shared/data`` beside the repository root (where CI puts
    it), whatever the machine; no absolute fallback."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    beside = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    assert (beside,) == samples.FALLBACK_DIRS
    assert sample_path("lobster", "x.csv") == beside / "lobster" / "x.csv"
    assert sample_data_dir() == (beside if beside.is_dir() else None)
