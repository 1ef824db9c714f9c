"""The ``[backtest]`` table of a backtest TOML, validated key by key.

Every error names the config file and the key: an unknown key (with the closest known one), a value of
the wrong type (``entry_latency_ns = "fast"``, ``queue_power = true``, ``seed = 1.5``) and the range
checks of :class:`hft.backtest.engine.BacktestConfig`. The known keys and their types are read from the
dataclass's defaults, so a key added there is accepted here without a second list to keep in step.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from typing import Any

from hft.backtest.engine import BacktestConfig


def _kinds() -> dict[str, type]:
    """Key -> the type of its default (int, float or str)."""
    out: dict[str, type] = {}
    for f in dataclasses.fields(BacktestConfig):
        out[f.name] = type(f.default)
    return out


KEYS: dict[str, type] = _kinds()
_POSITIVE = frozenset(("book_depth", "record_every_ns"))
_FILES = frozenset(("entry_latency_file", "response_latency_file"))


def _check_value(key: str, value: Any, kind: type) -> Any:
    """``value`` for ``key`` or a ValueError naming ``backtest.<key>``; an int is accepted for a float."""
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"backtest.{key}: expected a number, got {value!r}")
        return float(value)
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"backtest.{key}: expected an integer, got {value!r}")
        return value
    if kind is str:
        if not isinstance(value, str):
            raise ValueError(f"backtest.{key}: expected a string, got {value!r}")
        return value
    raise ValueError(f"backtest.{key}: unsupported type {kind.__name__}")  # pragma: no cover


def backtest_config(table: Any, source: str = "<config>") -> BacktestConfig:
    """A :class:`BacktestConfig` from a parsed ``[backtest]`` table (plus any overrides merged into it).

    Raises ValueError ``"<source>: backtest.<key>: <problem>"``."""
    if not isinstance(table, dict):
        raise ValueError(f"{source}: backtest: expected a table, got {table!r}")
    kw: dict[str, Any] = {}
    for key, value in table.items():
        kind = KEYS.get(key)
        if kind is None:
            near = difflib.get_close_matches(key, list(KEYS), n=1)
            hint = f" (did you mean {near[0]}?)" if near else ""
            raise ValueError(f"{source}: backtest.{key}: unknown key{hint}; known keys: {', '.join(KEYS)}")
        try:
            kw[key] = _check_value(key, value, kind)
        except ValueError as e:
            raise ValueError(f"{source}: {e}") from None
        if key in _POSITIVE and kw[key] < 1:
            raise ValueError(f"{source}: backtest.{key}: must be >= 1, got {value!r}")
        if key in _FILES and kw[key] and not os.path.isfile(kw[key]):
            raise ValueError(f"{source}: backtest.{key}: {kw[key]!r} is not a file "
                             "(expected one latency in ns per line)")
    try:
        return BacktestConfig(**kw)
    except ValueError as e:  # the range checks of BacktestConfig name the key
        raise ValueError(f"{source}: {e}") from None
