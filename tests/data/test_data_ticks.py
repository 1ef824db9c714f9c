"""File metadata honoured by validation: ``hft.tick_rule`` (ASX grid or a fixed tick), ``hft.price_scale``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hft.asx.ticks import is_valid_price, tick_size
from hft.data.format import (
    KIND_LEVEL,
    DataError,
    EventArrays,
    asx_step,
    load_events,
    make_metadata,
    off_tick_rows,
    parse_tick_rule,
    write_events,
)

T0 = 1_700_000_000_000_000_000
HEADER = "ts_exch,ts_local,kind,side,price,qty,symbol\n"


def _events(extra: list[tuple[int, int, int, int]]) -> EventArrays:
    """A snapshot (bid 45.00, ask 45.02) then ``extra`` rows (kind, side, price, qty), 1 us apart."""
    rows = [(3, 0, 0, 0), (1, 1, 450_000, 100), (1, 2, 450_200, 100), (4, 0, 0, 0), *extra]
    a = np.asarray(rows, dtype=np.int64)
    t = T0 + np.arange(len(rows), dtype=np.int64) * 1000
    return EventArrays.from_columns(t, t, a[:, 0], a[:, 1], a[:, 2], a[:, 3], symbol="BHP")


def test_asx_grid_matches_hft_asx_ticks() -> None:
    prices = np.arange(1, 60_000, dtype=np.int64)
    assert (asx_step(prices) == np.asarray([tick_size(int(p)) for p in prices])).all()
    kind = np.full(prices.size, KIND_LEVEL, np.int8)
    off = set(off_tick_rows(kind, prices, {"kind": "asx"}).tolist())
    assert off == {i for i, p in enumerate(prices.tolist()) if not is_valid_price(p)}
    # whole cents (price_scale 100, $0.01 .. $99.99) are on the ASX grid at every price
    cents = np.arange(1, 10_000, dtype=np.int64)
    off_c = off_tick_rows(np.full(cents.size, KIND_LEVEL, np.int8), cents, {"kind": "asx"}, price_scale=100)
    assert off_c.size == 0


def test_off_tick_level_is_named_with_row_and_price(tmp_path: Path) -> None:
    p = tmp_path / "bhp.parquet"
    write_events(p, _events([(1, 1, 449_900, 50), (1, 1, 450_050, 10)]), make_metadata("test"))
    with pytest.raises(DataError) as e:
        load_events(p)
    assert e.value.row == 5 and "level price 450050 ($45.005) is off the ASX tick grid" in str(e.value)
    r = subprocess.run([sys.executable, "-m", "hft.cli", "data", "validate", str(p)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1
    assert f"{p} row 5: level price 450050 ($45.005) is off the ASX tick grid" in r.stderr


def test_trades_may_print_at_the_half_tick_only() -> None:
    from hft.data.format import validate_events

    md = make_metadata("test")
    validate_events(_events([(2, 1, 450_050, 10)]), metadata=md)  # Centre Point midpoint: accepted
    with pytest.raises(DataError, match=r"row 4: trade price 450030 .* half way between two steps"):
        validate_events(_events([(2, 1, 450_030, 10)]), metadata=md)
    validate_events(_events([(1, 1, 450_050, 10)]))  # no metadata given: no tick check (e.g. the writer)


def test_csv_without_metadata_gets_the_asx_default(tmp_path: Path) -> None:
    p = tmp_path / "bhp.csv"
    p.write_text(HEADER + "1,1,1,1,450000,100,BHP\n2,2,1,2,450105,100,BHP\n")
    with pytest.raises(DataError, match=r"line 3 \(row 1\): level price 450105"):
        load_events(p)


def test_fixed_tick_rule_checks_levels_not_trades(tmp_path: Path) -> None:
    rule = {"kind": "fixed", "tick": 100, "venue": "NASDAQ"}
    p = tmp_path / "us.parquet"
    write_events(p, _events([(2, 1, 450_050, 10)]), make_metadata("test", tick_rule=rule))
    assert len(load_events(p)) == 5  # a hidden / midpoint print between ticks
    write_events(p, _events([(1, 1, 449_950, 10)]), make_metadata("test", tick_rule=rule))
    with pytest.raises(DataError, match=r"row 4: level price 449950 .* not a multiple of the fixed tick 100"):
        load_events(p)


def test_other_price_scales_are_converted_exactly_for_the_check(tmp_path: Path) -> None:
    ev = _events([(1, 1, 449_900, 10)])
    ev.price = ev.price * 100  # 1,000,000 units per dollar
    p = tmp_path / "fine.parquet"
    write_events(p, ev, make_metadata("test", price_scale=1_000_000))
    assert len(load_events(p)) == 5
    ev.price[4] = 44_990_001  # $44.990001: finer than 1/10,000 dollar, off any ASX step
    write_events(p, ev, make_metadata("test", price_scale=1_000_000))
    with pytest.raises(DataError, match="row 4: level price 44990001"):
        load_events(p)


@pytest.mark.parametrize(("md", "key"), [
    ({"hft.tick_rule": "asx"}, "hft.tick_rule"),
    ({"hft.tick_rule": json.dumps({"kind": "nyse"})}, "hft.tick_rule"),
    ({"hft.tick_rule": json.dumps({"kind": "fixed", "tick": 0})}, "hft.tick_rule"),
    ({"hft.price_scale": "ten"}, "hft.price_scale"),
])
def test_bad_metadata_is_named(md: dict[str, str], key: str, tmp_path: Path) -> None:
    p = tmp_path / "m.parquet"
    write_events(p, _events([]), {**make_metadata("test"), **md})
    with pytest.raises(DataError, match=rf"m\.parquet: metadata {key} = "):
        load_events(p)
    assert parse_tick_rule({}) == {"kind": "asx"}  # absent (CSV): the ASX default
