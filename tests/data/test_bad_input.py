"""Bad market data files: a clear DataError naming file, row/line and problem, or the repair policy."""

from __future__ import annotations

import contextlib
import gzip
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from data_helpers import book_events
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hft.data.format import (
    KIND_LEVEL,
    KIND_SNAPSHOT_END,
    KIND_SNAPSHOT_START,
    KIND_TRADE,
    DataError,
    EventArrays,
    load_events,
    repair_events,
    validate_events,
    write_events,
)

HEADER = "ts_exch,ts_local,kind,side,price,qty,symbol\n"
GOOD_ROWS = [
    "1,1,1,1,449900,100,BHP",
    "2,2,1,2,450000,200,BHP",
    "3,3,2,1,450000,50,BHP",
    "4,4,1,2,450000,150,BHP",
]


def write_csv(p: Path, rows: list[str]) -> Path:
    p.write_text(HEADER + "".join(r + "\n" for r in rows))
    return p


def raw_parquet(p: Path, ev: EventArrays) -> Path:
    """Write without validation (a foreign or corrupted producer)."""
    write_events(p, ev, validate=False)
    return p


def err(path: Path, **kw: bool) -> DataError:
    with pytest.raises(DataError) as ei:
        load_events(path, **kw)
    e = ei.value
    assert str(path) in str(e)
    return e


# ---------------------------------------------------------------- CSV


def test_csv_good(tmp_path: Path) -> None:
    ev = load_events(write_csv(tmp_path / "ok.csv", GOOD_ROWS))
    assert len(ev) == 4


def test_csv_unsorted(tmp_path: Path) -> None:
    rows = [*GOOD_ROWS[:2], "1,1,1,1,449800,10,BHP", *GOOD_ROWS[2:]]
    e = err(write_csv(tmp_path / "u.csv", rows))
    assert e.line == 4 and e.row == 2
    assert "ts_local 1 < previous 2 (unsorted)" in str(e)
    assert "line 4" in str(e)


def test_csv_negative_qty(tmp_path: Path) -> None:
    rows = [*GOOD_ROWS[:3], "4,4,1,2,450000,-150,BHP"]
    e = err(write_csv(tmp_path / "n.csv", rows))
    assert e.line == 5
    assert "negative qty" in str(e)


def test_csv_crossed_book(tmp_path: Path) -> None:
    rows = [*GOOD_ROWS[:2], "3,3,1,1,450100,100,BHP"]
    e = err(write_csv(tmp_path / "x.csv", rows))
    assert e.line == 4
    assert "crossed book for BHP: best bid 450100 >= best ask 450000" in str(e)


def test_csv_missing_column(tmp_path: Path) -> None:
    p = tmp_path / "m.csv"
    p.write_text("ts_exch,ts_local,kind,side,price,symbol\n1,1,1,1,449900,BHP\n")
    e = err(p)
    assert e.line == 1
    assert "missing column(s): qty" in str(e)


def test_csv_truncated_mid_line(tmp_path: Path) -> None:
    p = write_csv(tmp_path / "t.csv", GOOD_ROWS)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) - 6])  # cut inside the last row: "4,4,1,2,450000,1"
    e = err(p)
    assert "truncated" in str(e)
    assert e.line == 5


def test_csv_truncated_row_with_missing_fields(tmp_path: Path) -> None:
    rows = [*GOOD_ROWS[:2], "3,3,1", *GOOD_ROWS[2:]]
    e = err(write_csv(tmp_path / "f.csv", rows))
    assert e.line == 4
    assert "expected 7 fields, got 3" in str(e)


def test_csv_not_an_integer(tmp_path: Path) -> None:
    rows = [*GOOD_ROWS[:1], "2,2,1,2,45.00,200,BHP"]
    e = err(write_csv(tmp_path / "i.csv", rows))
    assert e.line == 3
    assert "column 'price': '45.00' is not an integer" in str(e)


def test_csv_empty_symbol(tmp_path: Path) -> None:
    e = err(write_csv(tmp_path / "s.csv", [*GOOD_ROWS[:1], "2,2,1,2,450000,200,"]))
    assert e.line == 3 and "symbol" in str(e)


def test_csv_kind_out_of_range(tmp_path: Path) -> None:
    e = err(write_csv(tmp_path / "k.csv", [*GOOD_ROWS[:1], "2,2,300,2,450000,200,BHP"]))
    assert "'kind'" in str(e) and "out of range" in str(e)
    assert e.row == 1


def test_csv_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "e.csv"
    p.write_text("")
    assert "empty file" in str(err(p))


def test_csv_gz_truncated(tmp_path: Path) -> None:
    """Cut anywhere (in the gzip header, the CSV header or the rows), one message, naming the line where
    the data ends: no later than the first line the cut file does not hold whole (text decoding reads
    ahead in blocks, so up to a block's lines earlier)."""
    p = tmp_path / "g.csv.gz"
    write_events(p, book_events(3000))
    data = p.read_bytes()
    for cut in (12, len(data) // 2, len(data) - 9):
        p.write_bytes(data[:cut])
        d = zlib.decompressobj(wbits=31)  # what the cut file still holds, decompressed independently
        whole = d.decompress(data[:cut]).count(b"\n")  # lines ending before the cut
        e = err(p)
        assert e.problem.startswith("read failed (truncated or corrupt?): "), (cut, str(e))
        assert e.line is not None and max(1, whole - 200) <= e.line <= whole + 1, (cut, e.line, whole)
        assert str(e).startswith(f"{p} line {e.line}: read failed")


def test_missing_file(tmp_path: Path) -> None:
    assert "no such file" in str(err(tmp_path / "nope.parquet"))


# ---------------------------------------------------------------- Parquet


def test_parquet_truncated(tmp_path: Path) -> None:
    p = tmp_path / "t.parquet"
    write_events(p, book_events(2000))
    data = p.read_bytes()
    for cut in (len(data) - 10, len(data) // 2, 3):
        p.write_bytes(data[:cut])
        e = err(p)
        assert "truncated or corrupt" in str(e)


def test_parquet_corrupt_page(tmp_path: Path) -> None:
    p = tmp_path / "c.parquet"
    write_events(p, book_events(2000))
    data = bytearray(p.read_bytes())
    for i in range(200, 1200):  # clobber data pages, keep the footer
        data[i] = 0xFF
    p.write_bytes(bytes(data))
    e = err(p)
    assert "corrupt" in str(e)


def test_parquet_missing_column(tmp_path: Path) -> None:
    p = tmp_path / "m.parquet"
    pq.write_table(pa.table({"ts_exch": [1], "ts_local": [1], "kind": [1], "side": [1], "price": [5]}), p)
    e = err(p)
    assert "missing column(s): qty, symbol" in str(e)


def test_parquet_wrong_type(tmp_path: Path) -> None:
    p = tmp_path / "w.parquet"
    pq.write_table(
        pa.table({"ts_exch": [1], "ts_local": [1], "kind": [1], "side": [1], "price": [45.5], "qty": [1],
                  "symbol": ["BHP"]}),
        p,
    )
    assert "column 'price' has type double" in str(err(p))


def test_parquet_null(tmp_path: Path) -> None:
    p = tmp_path / "n.parquet"
    pq.write_table(
        pa.table({"ts_exch": [1, 2], "ts_local": [1, 2], "kind": [1, 1], "side": [1, 2],
                  "price": [449900, 450000], "qty": [100, None], "symbol": ["BHP", "BHP"]}),
        p,
    )
    e = err(p)
    assert e.row == 1 and "null in column 'qty'" in str(e)


@pytest.mark.parametrize(
    ("row", "change", "problem"),
    [
        (5, ("qty", -1), "negative qty"),
        (5, ("price", 0), "non-positive price"),
        (5, ("kind", 9), "invalid kind"),
        (5, ("side", 0), "invalid side for a level update"),
        (5, ("ts_local", 0), "unsorted"),
    ],
)
def test_parquet_bad_rows_named(tmp_path: Path, row: int, change: tuple[str, int], problem: str) -> None:
    ev = book_events(50, symbols=("BHP",))
    ev.kind[5:8] = KIND_LEVEL  # rows 5..7 are inside the initial snapshot: plain levels
    getattr(ev, change[0])[row] = change[1]
    p = raw_parquet(tmp_path / "b.parquet", ev)
    e = err(p)
    assert e.row == row, str(e)
    assert problem in str(e)


def test_writer_refuses_bad_rows_and_leaves_no_file(tmp_path: Path) -> None:
    ev = book_events(50, symbols=("BHP",))
    ev.qty[30] = -1
    p = tmp_path / "w.parquet"
    with pytest.raises(DataError, match="row 30: negative qty"):
        write_events(p, ev)
    assert not p.exists()


def test_unvalidated_parquet_gets_the_book_check_on_load(tmp_path: Path) -> None:
    ev = EventArrays.from_columns([1, 2], [1, 2], [1, 1], [1, 2], [450_100, 450_000], [100, 100], "BHP")
    p = raw_parquet(tmp_path / "x.parquet", ev)
    e = err(p)
    assert e.row == 1 and "crossed book" in str(e)
    assert len(load_events(p, check_book=False)) == 2  # explicitly skipped


def test_unsorted_exchange_time_per_symbol() -> None:
    ev = EventArrays.from_columns([5, 3], [1, 2], [2, 2], [1, 1], [100, 100], [1, 1], "BHP")
    with pytest.raises(DataError, match="ts_exch 3 < previous 5 for BHP") as ei:
        validate_events(ev, "f")
    assert ei.value.row == 1
    # different symbols may interleave exchange times
    ok = EventArrays.from_columns([5, 3], [1, 2], [2, 2], [1, 1], [100, 100], [1, 1], ["A", "B"])
    validate_events(ok)


def test_snapshot_markers_must_pair() -> None:
    ev = EventArrays.from_columns([1, 2], [1, 2], [KIND_SNAPSHOT_END, 1], [0, 1], [0, 100], [0, 1], "BHP")
    with pytest.raises(DataError, match="snapshot end for BHP without a snapshot start"):
        validate_events(ev)
    ev = EventArrays.from_columns([1, 2], [1, 2], [KIND_SNAPSHOT_START, 1], [0, 1], [0, 100], [0, 1], "BHP")
    with pytest.raises(DataError, match="never ended"):
        validate_events(ev)


# ---------------------------------------------------------------- repair policy


def test_repair_policy_counts(tmp_path: Path) -> None:
    rows = [
        "1,1,1,1,449900,100,BHP",
        "3,3,1,2,450000,200,BHP",
        "2,2,1,1,449800,300,BHP",  # out of order: moved before the previous row
        "4,4,1,2,450100,-5,BHP",  # negative qty: dropped
        "5,5,1,1,450000,70,BHP",  # bid at the best ask: trusted, the ask at 450000 is deleted
        "6,6,2,1,450000,20,BHP",
    ]
    p = write_csv(tmp_path / "r.csv", rows)
    with pytest.raises(DataError):
        load_events(p)
    ev = load_events(p, repair=True)
    assert ev.repairs == {"resorted": 1, "dropped_invalid": 1, "uncrossed": 1}
    assert ev.ts_local.tolist() == [1, 2, 3, 5, 5, 6]
    # the inserted delete comes right before the crossing update, same timestamps
    assert (ev.kind[3], ev.side[3], ev.price[3], ev.qty[3]) == (KIND_LEVEL, 2, 450_000, 0)
    assert (ev.side[4], ev.price[4], ev.qty[4]) == (1, 450_000, 70)
    validate_events(ev)  # the repaired stream is valid


def test_repair_closes_open_snapshot_and_drops_stray_markers() -> None:
    ev = EventArrays.from_columns(
        [1, 2, 3, 4], [1, 2, 3, 4], [KIND_SNAPSHOT_END, KIND_SNAPSHOT_START, 1, KIND_TRADE], [0, 0, 1, 1],
        [0, 0, 100, 100], [0, 0, 5, 1], "BHP",
    )
    out = repair_events(ev)
    assert out.repairs == {"dropped_markers": 1, "closed_snapshots": 1}
    assert out.kind.tolist() == [KIND_SNAPSHOT_START, 1, KIND_TRADE, KIND_SNAPSHOT_END]
    validate_events(out)


def test_repair_of_valid_data_changes_nothing() -> None:
    ev = book_events(500)
    out = repair_events(ev.take(np.arange(len(ev))))
    assert out.repairs == {}
    for c in ("ts_exch", "ts_local", "kind", "side", "price", "qty", "symbol_id"):
        assert np.array_equal(getattr(out, c), getattr(ev, c))


def test_gz_written_csv_round_trip_reads_back(tmp_path: Path) -> None:
    p = tmp_path / "a.csv.gz"
    write_events(p, book_events(10))
    with gzip.open(p, "rt") as fh:
        assert fh.readline() == HEADER


def test_unsorted_exchange_time_interleaved_symbols_and_repair() -> None:
    ev = EventArrays.from_columns([1, 10, 2, 9, 3], [1, 2, 3, 4, 5], [2] * 5, [1] * 5, [100] * 5, [1] * 5,
                                  ["A", "B", "A", "B", "A"])
    with pytest.raises(DataError, match="ts_exch 9 < previous 10 for B") as ei:
        validate_events(ev, "f")
    assert ei.value.row == 3
    out = repair_events(ev)
    assert out.repairs == {"ts_exch_clamped": 1}
    assert out.ts_exch.tolist() == [1, 10, 2, 10, 3]


# ---------------------------------------------------------------- every truncation point


def test_every_csv_truncation_is_an_error_or_an_exact_prefix(tmp_path: Path) -> None:
    src = tmp_path / "full.csv"
    ev = book_events(12, symbols=("BHP",))
    write_events(src, ev)
    data = src.read_bytes()
    full = load_events(src)
    p = tmp_path / "cut.csv"
    outcomes = {"error": 0, "prefix": 0}
    for cut in range(len(data)):
        p.write_bytes(data[:cut])
        try:
            got = load_events(p)
        except DataError as e:
            assert str(p) in str(e)
            outcomes["error"] += 1
            continue
        n = len(got)
        assert data[:cut].count(b"\n") == n + 1, cut  # only whole lines are accepted
        for c in ("ts_exch", "ts_local", "kind", "side", "price", "qty"):
            assert np.array_equal(getattr(got, c), getattr(full, c)[:n]), (cut, c)
        outcomes["prefix"] += 1
    assert outcomes["prefix"] >= 1  # cuts at a line end after the snapshot: a shorter, valid file
    assert outcomes["error"] > len(data) * 0.8


def test_every_parquet_truncation_is_an_error(tmp_path: Path) -> None:
    src = tmp_path / "full.parquet"
    write_events(src, book_events(300))
    data = src.read_bytes()
    p = tmp_path / "cut.parquet"
    for cut in range(0, len(data), max(1, len(data) // 400)):
        p.write_bytes(data[:cut])
        with pytest.raises(DataError, match="truncated or corrupt"):
            load_events(p)


# ---------------------------------------------------------------- repair on arbitrary input


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 5), st.integers(-1, 3), st.integers(-1, 3),
                          st.integers(-2, 8), st.integers(-5, 50), st.sampled_from(["A", "B"])),
                max_size=60))
def test_repair_always_yields_a_valid_stream(rows: list[tuple[int, int, int, int, int, int, str]]) -> None:
    if not rows:
        return
    cols = list(zip(*rows, strict=True))
    ev = EventArrays.from_columns(cols[0], cols[0], cols[2], cols[3], [x * 100 for x in cols[4]], cols[5],
                                  symbol=list(cols[6]))
    with contextlib.suppress(DataError):  # arbitrary input: valid, or a DataError (nothing else)
        validate_events(ev)
    out = repair_events(ev)
    validate_events(out)  # whatever came in, the repaired stream passes every check
    again = repair_events(out.take(np.arange(len(out))))
    assert again.repairs == {}  # and repairing it again changes nothing
    assert len(again) == len(out)
