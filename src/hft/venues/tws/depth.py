"""IBKR market depth rows folded with list semantics, mapped to price levels.

IBKR's ``reqMktDepth`` sends one row per message (``updateMktDepth`` / ``updateMktDepthL2``): an
``operation`` (0 insert, 1 update, 2 delete) at a ``position`` of one ``side`` (0 ask, 1 bid), with a
price and a size and no venue timestamp. IBKR's own sample keeps each side as a *list*: an insert at
``position`` shifts the rows below it down, a delete shifts them up, an update replaces the row (its price
may change). ``ib_async`` 2.1 keeps ``Ticker.domBids``/``domAsks`` in a dict by position instead: an insert
overwrites the row at that position and a delete leaves a gap, so its book drifts from IBKR's after the
first insert or delete in the middle. Its raw rows arrive intact, and :class:`DepthBook` folds them here
with IBKR's list semantics (tests/venues/test_tws_depth.py shows both directions of the difference).

A side never holds more than ``rows`` rows (the ``numRows`` of the request): an insert into a full side
drops its last row, as the depth a venue shows is cut at the requested rows.

Rows are then *aggregated by price* (several rows at one price, e.g. SMART depth, add up) and the changes
since the last flush are handed on as absolute level quantities (``level(side, price, qty)``, 0 deletes),
deletes first so that no intermediate book is crossed when the final one is not. Prices become integer
price units (``round(price x 10,000)``); a price that is not exact in 1/10,000 dollar or not on the ASX
grid (hft.asx.ticks) is an inconsistency: counted in ``bad_prices`` and kept (rounded) so that the
positions of the later rows stay right. Sizes must be whole shares (else ``bad_sizes``, rounded down).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from hft.asx.ticks import is_valid_price

INSERT: Final = 0
UPDATE: Final = 1
DELETE: Final = 2
ASK_SIDE: Final = 0  # IBKR's side numbers
BID_SIDE: Final = 1
BOOK_BID: Final = 1  # hft.book.l2.BID / Side.BUY
BOOK_ASK: Final = 2  # hft.book.l2.ASK / Side.SELL
_TOL: Final = 1e-3  # price units: a decimal price with <= 4 places is within 1e-6 units as a float

# (symbol, book side 1 bid / 2 ask, price units, qty (0 deletes), ts_ns): the engine's level sink
LevelFn = Callable[[str, int, int, int, int], None]


def price_units(price: float) -> int:
    """``round(price x 10,000)``, or -1 when the float is not an exact 1/10,000 of a dollar."""
    x = price * 10_000.0
    u = round(x)
    if abs(x - u) > _TOL:
        return -1
    return int(u)


class DepthBook:
    """The depth rows of one subscription, both sides, with list semantics; see the module doc."""

    __slots__ = ("ask_px", "ask_qty", "bad_prices", "bad_rows", "bad_sizes", "bid_px", "bid_qty",
                 "dirty_ask", "dirty_bid", "rows", "rows_applied", "sent_ask", "sent_bid", "symbol")

    def __init__(self, symbol: str, rows: int) -> None:
        if rows <= 0:
            raise ValueError(f"rows must be positive, got {rows}")
        self.symbol = symbol
        self.rows = rows
        self.bid_px: list[int] = []
        self.bid_qty: list[int] = []
        self.ask_px: list[int] = []
        self.ask_qty: list[int] = []
        self.sent_bid: dict[int, int] = {}  # what the L2 book holds (after the last flush)
        self.sent_ask: dict[int, int] = {}
        self.dirty_bid = False
        self.dirty_ask = False
        self.rows_applied = 0
        self.bad_rows = 0  # position out of range, unknown operation or side
        self.bad_prices = 0
        self.bad_sizes = 0

    def reset(self) -> None:
        """Error 317 (depth reset) or a new subscription: no rows (the next flush empties the levels)."""
        for lst in (self.bid_px, self.bid_qty, self.ask_px, self.ask_qty):
            lst.clear()
        self.dirty_bid = self.dirty_ask = True

    def forget_sent(self) -> None:
        """The L2 book was replaced (snapshot): the next :meth:`flush` diffs against nothing."""
        self.sent_bid.clear()
        self.sent_ask.clear()
        self.dirty_bid = self.dirty_ask = True

    def apply(self, position: int, operation: int, side: int, price: float, size: float) -> bool:
        """Apply one IBKR row. False when the row cannot apply (position out of range, unknown operation
        or side): the rows are then out of step with IBKR's and the caller resubscribes."""
        if side == BID_SIDE:
            px = self.bid_px
            qs = self.bid_qty
            self.dirty_bid = True
        elif side == ASK_SIDE:
            px = self.ask_px
            qs = self.ask_qty
            self.dirty_ask = True
        else:
            self.bad_rows += 1
            return False
        n = len(px)
        if operation == DELETE:
            if position < 0 or position >= n:
                self.bad_rows += 1
                return False
            del px[position]
            del qs[position]
            self.rows_applied += 1
            return True
        u = price_units(price)
        if u <= 0 or not is_valid_price(u):
            self.bad_prices += 1
            if u < 0:
                u = round(price * 10_000.0)
        q = int(size)
        if q != size or q < 0:
            self.bad_sizes += 1
            if q < 0:
                q = 0
        if operation == INSERT:
            if position < 0 or position > n:
                self.bad_rows += 1
                return False
            px.insert(position, u)
            qs.insert(position, q)
            if n >= self.rows:  # a full side: the last row falls off
                px.pop()
                qs.pop()
        elif operation == UPDATE:
            if position < 0 or position >= n:
                self.bad_rows += 1
                return False
            px[position] = u
            qs[position] = q
        else:
            self.bad_rows += 1
            return False
        self.rows_applied += 1
        return True

    def levels(self, book_side: int) -> dict[int, int]:
        """The rows of one side aggregated by price (price units -> total qty; zero sizes left out)."""
        if book_side == BOOK_BID:
            px, qs = self.bid_px, self.bid_qty
        else:
            px, qs = self.ask_px, self.ask_qty
        out: dict[int, int] = {}
        for i in range(len(px)):
            q = qs[i]
            if q > 0:
                p = px[i]
                out[p] = out.get(p, 0) + q
        return out

    def snapshot(self) -> tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]:
        """(bids best first, asks best first) aggregated by price; the sent levels become these."""
        b = self.levels(BOOK_BID)
        a = self.levels(BOOK_ASK)
        self.sent_bid = b
        self.sent_ask = a
        self.dirty_bid = self.dirty_ask = False
        return (tuple(sorted(b.items(), reverse=True)), tuple(sorted(a.items())))

    def flush(self, level: LevelFn, ts_ns: int) -> int:
        """Hand the level changes since the last flush to ``level``, the deletes of both sides before any
        new quantity (so no intermediate book is crossed when the final one is not); returns how many."""
        sym = self.symbol
        ob, oa = self.sent_bid, self.sent_ask
        nb = self.levels(BOOK_BID) if self.dirty_bid else ob
        na = self.levels(BOOK_ASK) if self.dirty_ask else oa
        self.dirty_bid = self.dirty_ask = False
        n = 0
        if nb is not ob:
            for p in ob:
                if p not in nb:
                    level(sym, BOOK_BID, p, 0, ts_ns)
                    n += 1
        if na is not oa:
            for p in oa:
                if p not in na:
                    level(sym, BOOK_ASK, p, 0, ts_ns)
                    n += 1
        if nb is not ob:
            for p, q in nb.items():
                if ob.get(p) != q:
                    level(sym, BOOK_BID, p, q, ts_ns)
                    n += 1
            self.sent_bid = nb
        if na is not oa:
            for p, q in na.items():
                if oa.get(p) != q:
                    level(sym, BOOK_ASK, p, q, ts_ns)
                    n += 1
            self.sent_ask = na
        return n
