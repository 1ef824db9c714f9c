"""L2Book: unit tests, LOBSTER replay against recorded book rows, hypothesis vs a dict reference book."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hft.book.l2 import ASK, BID, L2Book

MSG = ("lobster", "AAPL_2012-06-21_34200000_57600000_message_10.csv")
OB = ("lobster", "AAPL_2012-06-21_34200000_57600000_orderbook_10.csv")


def test_basic_reads() -> None:
    b = L2Book("BHP", depth=5)
    assert b.best_bid() == 0 and b.best_ask() == 0 and b.spread() == 0 and b.mid_x2() == 0
    assert b.set_level(BID, 100_000, 300)
    assert b.set_level(BID, 99_900, 200)
    assert b.set_level(ASK, 100_100, 100)
    assert b.set_level(ASK, 100_200, 400)
    assert (b.best_bid(), b.best_bid_qty(), b.best_ask(), b.best_ask_qty()) == (100_000, 300, 100_100, 100)
    assert b.spread() == 100 and b.mid_x2() == 200_100 and b.mid() == 100_050.0
    assert b.microprice() == pytest.approx((100_000 * 100 + 100_100 * 300) / 400)
    assert b.depth_bid(2) == 500 and b.depth_ask(2) == 500 and b.depth_ask(99) == 500
    assert b.imbalance(1) == pytest.approx((300 - 100) / 400)
    assert b.level(BID, 1) == (99_900, 200) and b.level(ASK, 5) == (0, 0)
    assert b.seq == 4 and not b.stale
    assert b.set_level(BID, 100_000, 0)
    assert b.best_bid() == 99_900 and b.n_bids == 1


def test_delete_unknown_and_crossed_mark_stale() -> None:
    b = L2Book("X", depth=3)
    assert not b.set_level(BID, 500, 0)
    assert b.stale and "unknown" in b.stale_reason
    b.apply_snapshot([(100, 1)], [(200, 1)])
    assert not b.stale
    assert not b.set_level(BID, 200, 5)
    assert b.stale and b.stale_reason == "crossed"
    assert not b.apply_snapshot([(300, 1)], [(200, 1)]) and b.stale
    b.clear()
    assert not b.stale and b.n_bids == 0


def test_depth_reserve_and_dropped_levels() -> None:
    b = L2Book("X", depth=2, reserve=1)
    for p in (100, 99, 98):
        b.set_level(BID, p, p)
    assert b.n_bids == 2 and b.known_levels(BID) == 2
    b.set_level(BID, 97, 1)  # beyond capacity: dropped, region <= 97 unknown
    assert b.is_unknown(BID, 97) and not b.is_unknown(BID, 98)
    assert b.set_level(BID, 97, 0)  # delete of a dropped level is not an inconsistency
    assert not b.stale
    b.set_level(BID, 101, 5)  # pushes 98 out of the reserve
    assert b.is_unknown(BID, 98)
    b.set_level(BID, 101, 0)
    b.set_level(BID, 100, 0)
    # visible: 99, 98 (98 still held? no: dropped) -> only 99 known
    assert b.level(BID, 0) == (99, 99)
    assert b.known_levels(BID) == 1
    b.set_level(BID, 98, 7)  # comes back with its absolute qty
    assert b.level(BID, 1) == (98, 7) and not b.stale


def _lobster_rows(shared_data: Callable[..., Path]) -> tuple[list[list[int]], list[list[int]]]:
    with shared_data(*MSG).open() as f:
        msgs = [[int(x) if i else 0 for i, x in enumerate(r)] for r in csv.reader(f)]
    with shared_data(*OB).open() as f:
        rows = [[int(x) for x in r] for r in csv.reader(f)]
    return msgs, rows


def _levels(row: list[int], side: int) -> list[tuple[int, int]]:
    off = 2 if side == BID else 0
    out = []
    for k in range(10):
        p, q = row[4 * k + off], row[4 * k + off + 1]
        if q > 0 and abs(p) < 9_999_999_999:
            out.append((p, q))
    return out


def test_lobster_replay_matches_every_book_row(shared_data: Callable[..., Path]) -> None:
    msgs, rows = _lobster_rows(shared_data)
    assert len(msgs) == len(rows)
    # The clip's messages only cover the recorded top 10: a level that leaves the top 10 can change
    # without a message (e.g. 5876500 x 1160 vanishes at row 12). So the book keeps exactly 10 levels,
    # no reserve: a level pushed out is dropped and its price region becomes unknown.
    book = L2Book("AAPL", depth=10, reserve=0)
    # Seed from row 0 (the book after message 0); levels beyond the 10 given are unknown.
    assert book.apply_snapshot(_levels(rows[0], BID), _levels(rows[0], ASK), truncated=True)
    compared = 0
    resyncs: list[tuple[int, int]] = []
    for n in range(1, len(msgs)):
        _, typ, _oid, size, price, direction = msgs[n]
        side = BID if direction == 1 else ASK
        if typ in (1, 2, 3, 4) and not book.is_unknown(side, price):
            cur = book.qty_at(side, price)
            new = cur + size if typ == 1 else cur - size
            assert new >= 0, (n, msgs[n])
            assert book.set_level(side, price, new), (n, book.stale_reason)
        assert not book.stale
        for s in (BID, ASK):
            # every recorded level outside the unknown region must be exactly our known levels
            expect = [lv for lv in _levels(rows[n], s) if not book.is_unknown(s, lv[0])]
            k = book.known_levels(s)
            got = [book.level(s, i) for i in range(k)]
            if got != expect:
                # The clip lacks some messages (e.g. a bid at 5854000 x 50 surfaces at row 146 with no
                # add message): count it and re-seed from the recorded row, as the engine would.
                resyncs.append((n, s))
                book.apply_snapshot(_levels(rows[n], BID), _levels(rows[n], ASK), truncated=True)
                break
            compared += len(expect)
    assert compared > 5_000
    assert resyncs == [(146, BID)], resyncs  # the one known gap in the clip


class RefBook:
    def __init__(self) -> None:
        self.sides: dict[int, dict[int, int]] = {BID: {}, ASK: {}}

    def top(self, side: int, n: int) -> list[tuple[int, int]]:
        items = sorted(self.sides[side].items(), reverse=(side == BID))
        return items[:n]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([BID, ASK]), st.integers(1, 40), st.integers(0, 5)), max_size=120))
def test_matches_reference_book(ops: list[tuple[int, int, int]]) -> None:
    depth = 4
    book = L2Book("X", depth=depth, reserve=100)  # reserve larger than the price range: nothing drops
    ref = RefBook()
    for side, p, q in ops:
        price = p if side == BID else p + 40  # bids 1..40, asks 41..80: never crossed
        known = price in ref.sides[side]
        ok = book.set_level(side, price, q)
        if q == 0 and not known:
            assert not ok and book.stale
            book.stale = False
            continue
        assert ok
        if q == 0:
            del ref.sides[side][price]
        else:
            ref.sides[side][price] = q
        for s in (BID, ASK):
            top = ref.top(s, depth)
            assert [book.level(s, i) for i in range(len(top))] == top
            assert (book.n_bids if s == BID else book.n_asks) == len(top)
        tb, ta = ref.top(BID, 3), ref.top(ASK, 3)
        assert book.depth_bid(3) == sum(q for _, q in tb)
        assert book.depth_ask(3) == sum(q for _, q in ta)
        assert book.best_bid() == (tb[0][0] if tb else 0)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 30), st.integers(0, 3)), max_size=80))
def test_small_capacity_never_corrupts_known_levels(ops: list[tuple[int, int]]) -> None:
    """With drops, every level the book claims as known equals the reference exactly."""
    book = L2Book("X", depth=3, reserve=2)
    ref: dict[int, int] = {}
    for p, q in ops:
        book.set_level(BID, p, q)
        book.stale = False
        if q == 0:
            ref.pop(p, None)
        else:
            ref[p] = q
        k = book.known_levels(BID)
        top = sorted(ref.items(), reverse=True)
        assert [book.level(BID, i) for i in range(k)] == top[:k]
        # a level the book holds as known is never missing a better one
        for i in range(k):
            assert not book.is_unknown(BID, book.level(BID, i)[0])
