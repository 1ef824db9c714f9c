"""Where the real market data samples are (LOBSTER AAPL, Binance; see ``README.md`` beside them).

The samples are never copied into the repository. :func:`sample_data_dir` finds them:

1. the directory named by the environment variable ``HFT_SAMPLE_DATA`` (when set and non-empty: only
   that one, so a run can point at another copy, or at a missing directory to hide them on purpose);
2. else ``<repository>/../shared/data``: ``shared/`` beside the checkout, where CI puts it.

Tests ask through the ``shared_data`` fixture (tests/conftest.py): a missing sample skips the test on a
developer's machine and fails it under ``CI=true``.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "HFT_SAMPLE_DATA"
REPO_ROOT = Path(__file__).resolve().parents[3]
FALLBACK_DIRS: tuple[Path, ...] = (REPO_ROOT.parent / "shared" / "data",)


def _candidates() -> tuple[Path, ...]:
    env = os.environ.get(ENV_VAR, "")
    return (Path(env).expanduser(),) if env else FALLBACK_DIRS


def sample_data_dir() -> Path | None:
    """The sample data directory (see module doc), or ``None`` when none exists."""
    for d in _candidates():
        if d.is_dir():
            return d
    return None


def sample_path(*parts: str) -> Path:
    """``sample_data_dir() / parts...``; when no directory was found, the same parts under the first
    (missing) candidate, so ``sample_path("lobster").exists()`` is the skip condition."""
    d = sample_data_dir()
    return (d if d is not None else _candidates()[0]).joinpath(*parts)
