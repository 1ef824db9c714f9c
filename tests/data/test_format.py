"""Canonical event format: round trips (Parquet, CSV, CSV.gz), chunked reading, metadata, validation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from data_helpers import book_events

from hft.data.format import (
    BYTES_PER_ROW,
    META_VALIDATED,
    DataError,
    EventArrays,
    EventWriter,
    Validator,
    iter_event_chunks,
    load_events,
    make_metadata,
    read_metadata,
    validate_events,
    write_events,
)


def assert_same(a: EventArrays, b: EventArrays) -> None:
    assert len(a) == len(b)
    for c in ("ts_exch", "ts_local", "kind", "side", "price", "qty"):
        x, y = getattr(a, c), getattr(b, c)
        assert x.dtype == y.dtype, c
        assert np.array_equal(x, y), c
    sa = np.asarray(a.symbols, dtype=object)[a.symbol_id]
    sb = np.asarray(b.symbols, dtype=object)[b.symbol_id]
    assert list(sa) == list(sb)


@pytest.mark.parametrize("name", ["ev.parquet", "ev.csv", "ev.csv.gz"])
def test_round_trip(tmp_path: Path, name: str) -> None:
    ev = book_events()
    p = tmp_path / name
    assert write_events(p, ev) == len(ev)
    back = load_events(p)
    assert_same(ev, back)
    assert back.ts_local.dtype == np.int64 and back.kind.dtype == np.int8 and back.symbol_id.dtype == np.int32
    assert back.repairs == {}


def test_parquet_metadata_and_validated_flag(tmp_path: Path) -> None:
    ev = book_events()
    p = tmp_path / "ev.parquet"
    write_events(p, ev, make_metadata("lobster", 10_000, {"kind": "fixed", "tick": 100}, date="2012-06-21"))
    md = read_metadata(p)
    assert md["hft.source"] == "lobster"
    assert md["hft.price_scale"] == "10000"
    assert md["hft.date"] == "2012-06-21"
    assert json.loads(md["hft.tick_rule"]) == {"kind": "fixed", "tick": 100}
    assert md[META_VALIDATED] == "1"
    assert load_events(p).metadata == md
    # the symbol column is dictionary-encoded in the file
    assert str(pq.read_schema(p).field("symbol").type).startswith("dictionary")
    write_events(tmp_path / "raw.parquet", ev, validate=False)
    assert META_VALIDATED not in read_metadata(tmp_path / "raw.parquet")


def test_streaming_writer_and_chunks(tmp_path: Path) -> None:
    ev = book_events(1000)
    p = tmp_path / "ev.parquet"
    syms = np.asarray(ev.symbols, dtype=object)[ev.symbol_id]
    with EventWriter(p, make_metadata("test"), chunk_rows=97) as w:
        for i in range(len(ev)):
            w.append(int(ev.ts_exch[i]), int(ev.ts_local[i]), int(ev.kind[i]), int(ev.side[i]),
                     int(ev.price[i]), int(ev.qty[i]), str(syms[i]))
    assert w.rows == len(ev)
    assert pq.ParquetFile(p).metadata.num_row_groups == -(-len(ev) // 97)
    chunks = list(iter_event_chunks(p, chunk_rows=50))
    assert all(len(c) <= 50 for c in chunks)
    assert sum(len(c) for c in chunks) == len(ev)
    # symbol ids are stable across chunks
    names = [c.symbols[i] for c in chunks for i in c.symbol_id.tolist()]
    assert names == list(syms)
    # a chunked Validator accepts the same stream
    v = Validator(p)
    for c in chunks:
        v.feed(c)
    v.finish()
    assert v.rows == len(ev)
    assert_same(ev, load_events(p))


def test_csv_chunks_match_parquet(tmp_path: Path) -> None:
    ev = book_events(3000)
    write_events(tmp_path / "a.csv", ev)
    chunks = list(iter_event_chunks(tmp_path / "a.csv", chunk_rows=1000))
    assert len(chunks) >= 3
    whole = EventArrays(
        *(np.concatenate([getattr(c, n) for c in chunks])
          for n in ("ts_exch", "ts_local", "kind", "side", "price", "qty", "symbol_id")),
        chunks[-1].symbols,
    )
    assert_same(ev, whole)


def test_csv_header_order_free_and_extra_columns(tmp_path: Path) -> None:
    p = tmp_path / "x.csv"
    p.write_text(
        "symbol,qty,price,side,kind,ts_local,ts_exch,note\n"
        "BHP,100,450000,1,1,10,9,a\n"
        "BHP,200,450100,2,1,11,10,b\n"
    )
    ev = load_events(p)
    assert ev.qty.tolist() == [100, 200]
    assert ev.ts_exch.tolist() == [9, 10]
    assert ev.symbols == ["BHP"]


def test_empty_files(tmp_path: Path) -> None:
    ev = EventArrays.empty()
    for name in ("e.parquet", "e.csv"):
        write_events(tmp_path / name, ev)
        back = load_events(tmp_path / name)
        assert len(back) == 0


def test_for_symbol_and_from_columns() -> None:
    ev = book_events()
    cba = ev.for_symbol("CBA")
    assert cba.symbols == ["CBA"]
    assert set(cba.symbol_id.tolist()) == {0}
    assert len(cba) == int((ev.symbol_id == ev.symbols.index("CBA")).sum())
    with pytest.raises(KeyError, match="XYZ"):
        ev.for_symbol("XYZ")
    assert ev.nbytes == len(ev) * BYTES_PER_ROW


def test_validator_rows_numbered_across_chunks() -> None:
    ev = book_events(100, symbols=("BHP",))
    bad = ev.take(np.arange(len(ev)))
    bad.qty[60] = -5
    v = Validator("mem")
    v.feed(bad.take(np.arange(50)))
    with pytest.raises(DataError) as ei:
        v.feed(bad.take(np.arange(50, len(ev))))
    assert ei.value.row == 60
    assert "negative qty" in str(ei.value)


def test_unsorted_across_chunk_boundary() -> None:
    ev = book_events(100, symbols=("BHP",))
    v = Validator("mem")
    v.feed(ev.take(np.arange(50, 60)))
    with pytest.raises(DataError, match="unsorted") as ei:
        v.feed(ev.take(np.arange(20, 30)))
    assert ei.value.row == 10


def test_locked_book_is_an_error() -> None:
    ev = EventArrays.from_columns([1, 2], [1, 2], [1, 1], [1, 2], [450_000, 450_000], [100, 100], "BHP")
    with pytest.raises(DataError, match="crossed book for BHP") as ei:
        validate_events(ev, "f.parquet")
    assert ei.value.row == 1


def test_crossed_inside_snapshot_is_fine_until_the_end() -> None:
    # inside a snapshot the book may pass through a crossed state (levels arrive in any order)...
    ev = EventArrays.from_columns(
        [1] * 6, [1] * 6, [3, 2 - 1, 1, 1, 1, 4], [0, 2, 1, 2, 1, 0],
        [0, 450_000, 450_100, 450_200, 449_900, 0], [0, 100, 100, 100, 100, 0], "BHP",
    )
    with pytest.raises(DataError, match="after snapshot end") as ei:
        validate_events(ev)
    assert ei.value.row == 5
    # ... but it must be uncrossed when the snapshot ends
    ok = ev.take(np.array([0, 1, 3, 4, 5]))
    validate_events(ok)


def test_book_check_in_pieces_names_the_right_row(monkeypatch: pytest.MonkeyPatch) -> None:
    import hft.data.format as fmt

    monkeypatch.setattr(fmt, "_BOOK_PIECE", 7)
    ev = book_events(100, symbols=("BHP",))
    validate_events(ev)
    lv = np.flatnonzero((ev.kind == 1) & (ev.side == 1))
    r = int(lv[lv > 40][0])
    ev.price[r] = 10_000_000  # a bid far above every ask
    with pytest.raises(DataError, match="crossed book") as ei:
        validate_events(ev)
    assert ei.value.row == r


def test_writer_publishes_the_file_only_on_close(tmp_path: Path) -> None:
    p = tmp_path / "live.parquet"
    w = EventWriter(p, make_metadata("test"), chunk_rows=10)
    ev = book_events(50, symbols=("BHP",))
    w.append_arrays(ev)
    assert not p.exists()  # being written under a hidden partial name
    names = [x.name for x in tmp_path.iterdir()]
    assert len(names) == 1 and names[0].startswith(".live.parquet.partial-")
    w.close()
    assert [x.name for x in tmp_path.iterdir()] == ["live.parquet"]
    assert len(load_events(p)) == len(ev)


def test_writer_refuses_symbols_that_break_csv(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="comma"), EventWriter(tmp_path / "s.csv") as w:
        w.append(1, 1, 2, 1, 100, 1, "A,B")
        w.flush()
    assert list(tmp_path.iterdir()) == []
