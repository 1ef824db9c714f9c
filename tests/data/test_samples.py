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


def test_default_candidates() -> None:
    repo = Path(__file__).resolve().parents[2]
    assert (repo.parent / "shared" / "data", Path("/work/shared/data")) == samples.FALLBACK_DIRS
