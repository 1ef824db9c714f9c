"""The ``[backtest]`` table of a backtest TOML, validated key by key, and the data file's units
(:func:`file_units`: ``hft.price_scale``, ``hft.qty_scale``, ``hft.tick_rule``).

Every error names the config file and the key: an unknown key (with the closest known one), a value of
the wrong type (``entry_latency_ns = "fast"``, ``queue_power = true``, ``seed = 1.5``) and the range
checks of :class:`hft.backtest.engine.BacktestConfig`. The known keys and their types are read from the
dataclass's defaults, so a key added there is accepted here without a second list to keep in step.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
from typing import Any

import numpy as np

from hft.asx.ticks import PRICE_SCALE, format_price, tick_size
from hft.backtest.engine import BacktestConfig
from hft.data.format import (
    KIND_LEVEL,
    DataError,
    EventArrays,
    describe_off_tick,
    metadata_scale,
    off_tick_rows,
    parse_tick_rule,
)


def _kinds() -> dict[str, type]:
    """Key -> the type of its default (int, float or str)."""
    out: dict[str, type] = {}
    for f in dataclasses.fields(BacktestConfig):
        out[f.name] = type(f.default)
    return out


KEYS: dict[str, type] = _kinds()
_POSITIVE = frozenset(("book_depth", "record_every_ns"))
_FILES = frozenset(("entry_latency_file", "response_latency_file", "feed_latency_file"))


def _check_value(key: str, value: Any, kind: type) -> Any:
    """``value`` for ``key`` or a ValueError naming ``backtest.<key>``; an int is accepted for a float."""
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"backtest.{key}: expected true or false, got {value!r}")
        return value
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


def file_units(events: EventArrays, path: str = "<events>",
               file_rows: np.ndarray | None = None) -> tuple[EventArrays, list[str]]:
    """Honour the data file's metadata (docs/data.md): the backtester works in ASX units, prices in
    ``PRICE_SCALE`` (10,000) units per currency unit, quantities in whole shares, on the ASX price steps.

    * ``hft.price_scale`` other than 10,000: prices are converted exactly, or refused naming the first
      row whose price has no exact value in 1/10,000 units.
    * ``hft.qty_scale`` other than 1 (e.g. Binance, 1,000 units per BTC): converted when every quantity
      is a whole number of units, else refused (a fraction of a coin cannot become shares).
    * ``hft.tick_rule``: ``asx``: every level price on the grid (a trade also at the half tick), else
      refused naming the row and price; ``fixed``: level prices multiples of the tick, and the tick must
      equal the ASX step over the file's price range (the strategies and risk checks quote on ASX steps).

    Returns the events (a converted copy when a scale differs, its metadata then says 10,000 / 1) and
    notes for the user. Raises :class:`DataError` naming the file, the key and, for a row, its number."""
    md = events.metadata
    ps = metadata_scale(md, "hft.price_scale", PRICE_SCALE, path)
    qs = metadata_scale(md, "hft.qty_scale", 1, path)
    rule = parse_tick_rule(md, path)
    notes: list[str] = []

    def row(i: int) -> int:
        return int(file_rows[i]) if file_rows is not None else i

    if ps != PRICE_SCALE or qs != 1:
        events = events.take(slice(None))  # a copy: the caller's arrays are left as they were
        events.price = events.price.copy()
        events.qty = events.qty.copy()
    if ps != PRICE_SCALE:
        num = events.price * PRICE_SCALE
        bad = np.flatnonzero(num % ps != 0)
        if bad.size:
            i = int(bad[0])
            raise DataError(path, f"metadata hft.price_scale = {ps}: price {events.price[i]} has no exact "
                                  f"value in the backtester's {PRICE_SCALE:,} units per currency unit "
                                  f"({bad.size:,} such rows); convert the file first", row=row(i))
        events.price = num // ps
        if rule["kind"] == "fixed":
            t = rule["tick"] * PRICE_SCALE
            if t % ps:
                raise DataError(path, f"metadata hft.tick_rule: tick {rule['tick']} at hft.price_scale {ps} "
                                      f"has no exact value in {PRICE_SCALE:,} units")
            rule = {**rule, "tick": t // ps}
        notes.append(f"prices converted exactly from hft.price_scale {ps:,} to {PRICE_SCALE:,} units")
    if qs != 1:
        src = md.get("hft.source", "?")
        bad = np.flatnonzero(events.qty % qs != 0)
        if bad.size:
            i = int(bad[0])
            raise DataError(path, f"metadata hft.qty_scale = {qs} (source {src}: quantities in 1/{qs:,} of a "
                                  f"unit): qty {events.qty[i]} is not a whole unit ({bad.size:,} such rows); "
                                  "the backtester trades whole shares and will not round quantities "
                                  "(notional, fees and P&L would be wrong)", row=row(i))
        events.qty = events.qty // qs
        notes.append(f"quantities converted exactly from hft.qty_scale {qs:,} to whole units")
    if ps != PRICE_SCALE or qs != 1:
        events.metadata = {**md, "hft.price_scale": str(PRICE_SCALE), "hft.qty_scale": "1",
                           "hft.tick_rule": json.dumps(rule)}
    off = off_tick_rows(events.kind, events.price, rule)
    if off.size:
        i = int(off[0])
        raise DataError(path, describe_off_tick(int(events.price[i]), int(events.kind[i]), rule)
                        + f" ({off.size:,} such rows)", row=row(i))
    if rule["kind"] == "fixed":
        lv = events.price[events.kind == KIND_LEVEL]
        if lv.size:
            lo, hi = int(lv.min()), int(lv.max())
            s_lo, s_hi = tick_size(lo), tick_size(hi)
            if s_lo != rule["tick"] or s_hi != rule["tick"]:
                raise DataError(path, f"metadata hft.tick_rule = {md.get('hft.tick_rule')}: the venue's "
                                      f"fixed tick is {rule['tick']} units but the backtester quotes and "
                                      f"checks on the ASX price steps ({s_lo} units at {format_price(lo)}, "
                                      f"{s_hi} at {format_price(hi)}); the results would not be this venue's")
    return events, notes
