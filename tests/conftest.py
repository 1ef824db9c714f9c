"""Fixtures for the whole suite: one rule for a test whose input is missing.

A test that needs something outside the repository (the real market-data samples in ``../shared/data``
beside the checkout, the hftbacktest peer, a tool CI installs) skips on a developer's machine that lacks
it, and FAILS under ``CI=true``, where a missing input means the run proved less than it claims. Tests ask
through the fixtures below, never with their own ``skipif``:

* ``shared_data("lobster", "AAPL_..._message_10.csv")``: the path of a sample file
  (:func:`hft.data.samples.sample_path`: ``$HFT_SAMPLE_DATA`` or ``<repository>/../shared/data``);
* ``unavailable("why, and how to get it")``: skip, or fail under CI, with that message.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import pytest

from hft.data.samples import ENV_VAR, sample_path


def in_ci() -> bool:
    """``CI=true`` (also 1/yes): the environment every hosted CI sets."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _unavailable(reason: str) -> NoReturn:
    if in_ci():
        pytest.fail(f"{reason} (CI=true: a missing input fails the run instead of skipping)", pytrace=False)
    pytest.skip(reason)


def _shared_data(*parts: str) -> Path:
    p = sample_path(*parts)
    if not p.exists():
        _unavailable(f"sample data missing: {p} (the real samples live in ../shared/data beside the "
                     f"checkout, or in the directory named by ${ENV_VAR})")
    return p


@pytest.fixture
def unavailable() -> Callable[[str], NoReturn]:
    """Call with the reason: skips the test, or fails it under CI=true."""
    return _unavailable


@pytest.fixture
def shared_data() -> Callable[..., Path]:
    """``shared_data(*parts)``: the sample path; skips (fails under CI=true) naming it when absent."""
    return _shared_data
