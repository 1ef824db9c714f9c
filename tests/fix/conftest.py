"""Fixtures for the FIX session and interop tests."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["FIX.4.2", "FIX.4.4"])
def version(request: pytest.FixtureRequest) -> str:
    return request.param
