"""Price-level (L2) order book on preallocated per-side lists, best level first.

Prices are int price units, quantities int shares. ``side`` is 1 for bids and 2 for asks (the values of
:class:`hft.model.types.Side` BUY/SELL). Storage is plain Python ``list`` of ``int`` (measured faster
than ``array('q')`` for element reads from Python, which boxes a new int on every ``array`` access; see
docs/book.md).

Depth and the hidden reserve: each side holds up to ``depth + reserve`` levels (``reserve`` defaults to
``depth``); only the best ``depth`` are *visible* (``n_bids``/``n_asks`` never exceed ``depth``), the rest
is a reserve that refills the visible levels when better levels are deleted. A level pushed out of the
reserve is dropped and the book records an *unknown edge*: prices at or beyond the dropped price may be
missing. A later absolute update (``set_level``) at such a price is applied normally (L2 updates carry
the full quantity, so the level comes back correct); a delete of a price in the unknown region is
ignored (returns True, not an inconsistency). :meth:`known_levels` tells how many visible levels are
guaranteed complete (strictly better than the unknown edge). A snapshot marked ``truncated=True`` (e.g.
a 10-level LOBSTER row) sets the edge just beyond its worst price.

Inconsistencies (delete of an unknown level inside the known region, crossed book after an update, or an
explicit :meth:`mark_stale`) set ``stale = True`` with ``stale_reason``; updates keep being applied, and
only :meth:`apply_snapshot` or :meth:`clear` clears the flag.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

BID: Final = 1
ASK: Final = 2
_NO_BID_EDGE: Final = -1  # bid prices <= edge are unknown; -1 = none (prices are positive)
_NO_ASK_EDGE: Final = (1 << 62) - 1  # ask prices >= edge are unknown (the largest unboxed int when compiled)


class L2Book:
    __slots__ = ("_ask_edge", "_bid_edge", "_cap", "_na", "_nb", "ask_px", "ask_qty", "bid_px", "bid_qty",
                 "depth", "instrument", "last_update_ns", "n_asks", "n_bids", "seq", "stale", "stale_reason")

    def __init__(self, instrument: str, depth: int = 20, reserve: int | None = None) -> None:
        if depth <= 0:
            raise ValueError(f"depth must be positive, got {depth}")
        if reserve is None:
            reserve = depth
        if reserve < 0:
            raise ValueError(f"reserve must be >= 0, got {reserve}")
        self.instrument = instrument
        self.depth = depth
        self._cap = depth + reserve
        self.bid_px: list[int] = [0] * self._cap
        self.bid_qty: list[int] = [0] * self._cap
        self.ask_px: list[int] = [0] * self._cap
        self.ask_qty: list[int] = [0] * self._cap
        self._nb = 0  # levels held including the reserve
        self._na = 0
        self.n_bids = 0  # visible levels (<= depth)
        self.n_asks = 0
        self._bid_edge = _NO_BID_EDGE
        self._ask_edge = _NO_ASK_EDGE
        self.stale = False
        self.stale_reason = ""
        self.last_update_ns = 0
        self.seq = 0

    # ---------------------------------------------------------------- updates
    def set_level(self, side: int, price: int, qty: int, ts_ns: int = 0) -> bool:
        """Set the absolute quantity at ``price`` (0 deletes). False (and stale) on inconsistency."""
        self.seq += 1
        if ts_ns:
            self.last_update_ns = ts_ns
        if side == BID:
            ok = self._set_bid(price, qty)
        elif side == ASK:
            ok = self._set_ask(price, qty)
        else:
            self.mark_stale("bad side")
            return False
        if not ok:
            return False
        if self._nb and self._na and self.bid_px[0] >= self.ask_px[0]:
            self.stale = True
            self.stale_reason = "crossed"
            return False
        return True

    def _set_bid(self, price: int, qty: int) -> bool:
        px = self.bid_px
        n = self._nb
        i = 0
        while i < n and px[i] > price:
            i += 1
        if i < n and px[i] == price:
            if qty > 0:
                self.bid_qty[i] = qty
                return True
            if qty < 0:
                self.mark_stale("negative qty")
                return False
            del px[i]
            px.append(0)
            q = self.bid_qty
            del q[i]
            q.append(0)
            n -= 1
            self._nb = n
            self.n_bids = n if n < self.depth else self.depth
            return True
        if qty <= 0:
            if qty == 0 and price <= self._bid_edge:
                return True  # delete in the unknown region: level may have been dropped
            self.mark_stale("delete of unknown bid level" if qty == 0 else "negative qty")
            return False
        cap = self._cap
        if i >= cap:
            if price > self._bid_edge:
                self._bid_edge = price
            return True
        if n == cap:
            dropped = px[cap - 1]
            if dropped > self._bid_edge:
                self._bid_edge = dropped
            n -= 1
        px.insert(i, price)
        px.pop()
        q = self.bid_qty
        q.insert(i, qty)
        q.pop()
        n += 1
        self._nb = n
        self.n_bids = n if n < self.depth else self.depth
        return True

    def _set_ask(self, price: int, qty: int) -> bool:
        px = self.ask_px
        n = self._na
        i = 0
        while i < n and px[i] < price:
            i += 1
        if i < n and px[i] == price:
            if qty > 0:
                self.ask_qty[i] = qty
                return True
            if qty < 0:
                self.mark_stale("negative qty")
                return False
            del px[i]
            px.append(0)
            q = self.ask_qty
            del q[i]
            q.append(0)
            n -= 1
            self._na = n
            self.n_asks = n if n < self.depth else self.depth
            return True
        if qty <= 0:
            if qty == 0 and price >= self._ask_edge:
                return True
            self.mark_stale("delete of unknown ask level" if qty == 0 else "negative qty")
            return False
        cap = self._cap
        if i >= cap:
            if price < self._ask_edge:
                self._ask_edge = price
            return True
        if n == cap:
            dropped = px[cap - 1]
            if dropped < self._ask_edge:
                self._ask_edge = dropped
            n -= 1
        px.insert(i, price)
        px.pop()
        q = self.ask_qty
        q.insert(i, qty)
        q.pop()
        n += 1
        self._na = n
        self.n_asks = n if n < self.depth else self.depth
        return True

    def apply_snapshot(self, bids: Sequence[tuple[int, int]], asks: Sequence[tuple[int, int]],
                       ts_ns: int = 0, truncated: bool = False) -> bool:
        """Replace the book. Levels are sorted here; zero/negative quantities are skipped.

        ``truncated=True`` says the source cut the book at its own depth, so prices beyond the worst
        given level are unknown. Returns False (and stays stale) if the snapshot is crossed.
        """
        self.clear()
        if ts_ns:
            self.last_update_ns = ts_ns
        b = sorted((lv for lv in bids if lv[1] > 0), key=lambda lv: -lv[0])
        a = sorted((lv for lv in asks if lv[1] > 0), key=lambda lv: lv[0])
        cap = self._cap
        for i, (p, q) in enumerate(b[:cap]):
            self.bid_px[i] = p
            self.bid_qty[i] = q
        for i, (p, q) in enumerate(a[:cap]):
            self.ask_px[i] = p
            self.ask_qty[i] = q
        self._nb = min(len(b), cap)
        self._na = min(len(a), cap)
        self.n_bids = min(self._nb, self.depth)
        self.n_asks = min(self._na, self.depth)
        if len(b) > cap:
            self._bid_edge = b[cap][0]
        elif truncated and b:
            self._bid_edge = b[-1][0] - 1
        if len(a) > cap:
            self._ask_edge = a[cap][0]
        elif truncated and a:
            self._ask_edge = a[-1][0] + 1
        self.seq += 1
        if self._nb and self._na and self.bid_px[0] >= self.ask_px[0]:
            self.mark_stale("crossed snapshot")
            return False
        return True

    def clear(self) -> None:
        """Empty both sides, forget the unknown edges and the stale flag."""
        for lst in (self.bid_px, self.bid_qty, self.ask_px, self.ask_qty):
            for i in range(self._cap):
                lst[i] = 0
        self._nb = self._na = self.n_bids = self.n_asks = 0
        self._bid_edge = _NO_BID_EDGE
        self._ask_edge = _NO_ASK_EDGE
        self.stale = False
        self.stale_reason = ""

    def mark_stale(self, reason: str) -> None:
        """Flag the book as unreliable until the next snapshot (the engine then requests one)."""
        self.stale = True
        self.stale_reason = reason

    # ------------------------------------------------------------------ reads
    def best_bid(self) -> int:
        return self.bid_px[0] if self._nb else 0

    def best_ask(self) -> int:
        return self.ask_px[0] if self._na else 0

    def best_bid_qty(self) -> int:
        return self.bid_qty[0] if self._nb else 0

    def best_ask_qty(self) -> int:
        return self.ask_qty[0] if self._na else 0

    def spread(self) -> int:
        """best ask - best bid in price units; 0 if a side is empty."""
        if self._nb and self._na:
            return self.ask_px[0] - self.bid_px[0]
        return 0

    def mid_x2(self) -> int:
        """best bid + best ask (twice the mid, exact int); 0 if a side is empty."""
        if self._nb and self._na:
            return self.bid_px[0] + self.ask_px[0]
        return 0

    def mid(self) -> float:
        if self._nb and self._na:
            return (self.bid_px[0] + self.ask_px[0]) * 0.5
        return 0.0

    def microprice(self) -> float:
        """(bid*askqty + ask*bidqty)/(bidqty+askqty); 0.0 if a side is empty."""
        if self._nb and self._na:
            bq = self.bid_qty[0]
            aq = self.ask_qty[0]
            return (self.bid_px[0] * aq + self.ask_px[0] * bq) / (bq + aq)
        return 0.0

    def depth_bid(self, n: int) -> int:
        """Sum of quantities of the best ``n`` visible bid levels."""
        m = self.n_bids if n > self.n_bids else n
        q = self.bid_qty
        s = 0
        for i in range(m):
            s += q[i]
        return s

    def depth_ask(self, n: int) -> int:
        m = self.n_asks if n > self.n_asks else n
        q = self.ask_qty
        s = 0
        for i in range(m):
            s += q[i]
        return s

    def imbalance(self, n: int = 1) -> float:
        """(bid depth - ask depth) / (bid depth + ask depth) over ``n`` levels; 0.0 when both empty."""
        b = self.depth_bid(n)
        a = self.depth_ask(n)
        t = b + a
        return (b - a) / t if t else 0.0

    def level(self, side: int, i: int) -> tuple[int, int]:
        """(price, qty) of visible level ``i`` (0 = best); (0, 0) beyond the visible levels."""
        if side == BID:
            return (self.bid_px[i], self.bid_qty[i]) if 0 <= i < self.n_bids else (0, 0)
        return (self.ask_px[i], self.ask_qty[i]) if 0 <= i < self.n_asks else (0, 0)

    def qty_at(self, side: int, price: int) -> int:
        """Quantity held at ``price`` (visible or reserve), 0 if absent. O(levels)."""
        if side == BID:
            px, qs, n = self.bid_px, self.bid_qty, self._nb
        else:
            px, qs, n = self.ask_px, self.ask_qty, self._na
        for i in range(n):
            if px[i] == price:
                return qs[i]
        return 0

    def is_unknown(self, side: int, price: int) -> bool:
        """True if ``price`` lies in the region where levels may be missing (dropped or never seen)."""
        if side == BID:
            return price <= self._bid_edge
        return price >= self._ask_edge

    def known_levels(self, side: int) -> int:
        """How many visible levels are guaranteed complete (no hidden level between them)."""
        if side == BID:
            n, px, edge = self.n_bids, self.bid_px, self._bid_edge
            k = 0
            while k < n and px[k] > edge:
                k += 1
            return k
        n, px, edge = self.n_asks, self.ask_px, self._ask_edge
        k = 0
        while k < n and px[k] < edge:
            k += 1
        return k

    def __repr__(self) -> str:
        return (f"L2Book({self.instrument!r}, bid={self.best_bid()}x{self.best_bid_qty()}, "
                f"ask={self.best_ask()}x{self.best_ask_qty()}, levels={self.n_bids}/{self.n_asks}, "
                f"stale={self.stale})")
