"""Level-2 order book (:class:`hft.book.l2.L2Book`)."""

from hft.book.l2 import ASK, BID, L2Book

__all__ = ["ASK", "BID", "L2Book"]
