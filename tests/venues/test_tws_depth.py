"""The IBKR depth-row fold (list semantics), its price mapping, and the book -> rows encoder of the fake
server. No network and no ib_async needed here."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from hft.bench.tws_bench import ReferenceFold
from hft.book.l2 import L2Book
from hft.venues.tws.depth import ASK_SIDE, BID_SIDE, DELETE, INSERT, UPDATE, DepthBook, price_units
from hft.venues.tws.fake_server import encode_side, random_op


def _bids(b: DepthBook) -> list[tuple[int, int]]:
    return list(zip(b.bid_px, b.bid_qty, strict=True))


def test_insert_and_delete_shift_the_rows_below() -> None:
    b = DepthBook("BHP", 5)
    for i, p in enumerate((45.10, 45.08, 45.05)):
        assert b.apply(i, INSERT, BID_SIDE, p, 100 * (i + 1))
    assert b.apply(1, INSERT, BID_SIDE, 45.09, 50)  # between 45.10 and 45.08: the rows below move down
    assert _bids(b) == [(451000, 100), (450900, 50), (450800, 200), (450500, 300)]
    assert b.apply(0, DELETE, BID_SIDE, 0.0, 0)  # the rows below move up
    assert _bids(b) == [(450900, 50), (450800, 200), (450500, 300)]
    assert b.apply(2, UPDATE, BID_SIDE, 45.06, 7)  # an update may change the row's price
    assert _bids(b) == [(450900, 50), (450800, 200), (450600, 7)]


def test_insert_into_a_full_side_drops_the_last_row() -> None:
    b = DepthBook("BHP", 3)
    for i, p in enumerate((45.13, 45.14, 45.15)):
        b.apply(i, INSERT, ASK_SIDE, p, 10)
    assert b.apply(0, INSERT, ASK_SIDE, 45.12, 5)
    assert list(zip(b.ask_px, b.ask_qty, strict=True)) == [(451200, 5), (451300, 10), (451400, 10)]


def test_rows_out_of_range_do_not_apply() -> None:
    b = DepthBook("BHP", 5)
    assert not b.apply(1, INSERT, BID_SIDE, 45.0, 1)  # position beyond the end
    assert not b.apply(0, UPDATE, BID_SIDE, 45.0, 1)
    assert not b.apply(0, DELETE, ASK_SIDE, 45.0, 0)
    assert not b.apply(0, 3, BID_SIDE, 45.0, 1)  # unknown operation
    assert not b.apply(0, INSERT, 2, 45.0, 1)  # unknown side
    assert b.bad_rows == 5 and b.rows_applied == 0


def test_prices_exact_and_on_the_asx_grid_else_counted() -> None:
    assert price_units(45.12) == 451200 and price_units(0.053) == 530 and price_units(1.235) == 12350
    assert price_units(45.12345) == -1
    b = DepthBook("X", 10)
    b.apply(0, INSERT, BID_SIDE, 45.12, 100)
    assert b.bad_prices == 0
    b.apply(0, INSERT, BID_SIDE, 45.125, 100)  # half a cent above $2: not an ASX price
    b.apply(0, INSERT, BID_SIDE, 0.0535, 100)  # 0.05c below 10c: not an ASX price
    b.apply(0, INSERT, BID_SIDE, 45.12345, 100)  # not exact in 1/10,000 dollar
    assert b.bad_prices == 3
    b.apply(0, INSERT, BID_SIDE, 45.11, 10.5)
    assert b.bad_sizes == 1 and b.bid_qty[0] == 10
    assert len(b.bid_px) == 5  # every row kept: later positions stay right


def test_levels_aggregate_rows_by_price_and_flush_hands_on_changes_deletes_first() -> None:
    b = DepthBook("BHP", 10)
    b.apply(0, INSERT, BID_SIDE, 45.00, 100)
    b.apply(1, INSERT, BID_SIDE, 45.00, 50)  # a second row at the same price (e.g. SMART depth)
    b.apply(0, INSERT, ASK_SIDE, 45.01, 10)
    got: list[tuple[int, int, int]] = []
    b.flush(lambda s, side, p, q, ts: got.append((side, p, q)), 1)
    assert sorted(got) == [(1, 450000, 150), (2, 450100, 10)]
    got.clear()
    b.flush(lambda s, side, p, q, ts: got.append((side, p, q)), 2)
    assert got == []  # nothing changed
    # the bid moves up to 45.01 while the ask leaves 45.01 for 45.02: the ask's delete must go before
    # the bid's new level (bids are otherwise handed on first), or the book is crossed on the way
    book = L2Book("BHP", depth=20)
    book.set_level(1, 450000, 150)
    book.set_level(2, 450100, 10)
    b.apply(1, DELETE, BID_SIDE, 0, 0)
    b.apply(0, UPDATE, BID_SIDE, 45.01, 150)
    b.apply(0, UPDATE, ASK_SIDE, 45.02, 10)
    ok: list[bool] = []
    b.flush(lambda s, side, p, q, ts: got.append((side, p, q)) or ok.append(book.set_level(side, p, q)), 3)
    assert [q for _s, _p, q in got[:2]] == [0, 0]
    assert all(ok) and not book.stale and book.best_bid() == 450100 and book.best_ask() == 450200


ops_strategy = st.lists(st.tuples(st.booleans(), st.integers(0, 10**6), st.integers(0, 10**6)), max_size=300)


@settings(max_examples=200, deadline=None)
@given(rows=st.integers(1, 12), seed=st.integers(0, 10**6), n=st.integers(0, 400))
def test_fold_equals_the_reference_fold_for_random_valid_rows(rows: int, seed: int, n: int) -> None:
    rng = random.Random(seed)
    shadow_b: list[list[int]] = []
    shadow_a: list[list[int]] = []
    b = DepthBook("BHP", rows)
    ref = ReferenceFold({1: rows})
    for _ in range(n):
        bid = rng.random() < 0.5
        op, pos, p, q = random_op(shadow_b if bid else shadow_a, rows, rng, 450_000, bid)
        px = f"{p / 10_000:.4f}"
        assert b.apply(pos, op, BID_SIDE if bid else ASK_SIDE, float(px), float(q))
        ref.row(1, pos, op, 1 if bid else 0, px, str(q))
    rb, ra = ref.levels(1)
    assert sorted(b.levels(1).items(), reverse=True) == rb
    assert sorted(b.levels(2).items()) == ra
    assert [list(r) for r in zip(b.bid_px, b.bid_qty, strict=True)] == shadow_b


levels = st.lists(st.tuples(st.integers(1, 60), st.integers(1, 5000)), max_size=25, unique_by=lambda x: x[0])


@settings(max_examples=300, deadline=None)
@given(old=levels, new=levels, rows=st.integers(1, 12), style=st.integers(0, 2))
def test_encoded_book_changes_fold_back_to_the_new_book(old: list[tuple[int, int]],
                                                        new: list[tuple[int, int]],
                                                        rows: int, style: int) -> None:
    def book(lv: list[tuple[int, int]]) -> list[tuple[int, int]]:  # bids best first, on a 1c grid
        return sorted(((450_000 - k * 100, q) for k, q in lv), reverse=True)

    cur: list[list[int]] = []
    encode_side(cur, book(old), rows, 0)
    fold = DepthBook("BHP", rows)
    for i, (p, q) in enumerate(cur):
        fold.apply(i, INSERT, BID_SIDE, p / 10_000, q)
    ops = encode_side(cur, book(new), rows, style)
    for op, pos, p, q in ops:
        assert fold.apply(pos, op, BID_SIDE, p / 10_000, q), (op, pos)
    want = [list(x) for x in book(new)[:rows]]
    assert [list(r) for r in zip(fold.bid_px, fold.bid_qty, strict=True)] == want
    assert cur == want
