"""The two number helpers of every FIX hot path, compiled with mypyc (setup.py): the exact plain-decimal
price of a field value and the byte sum behind the CheckSum. :mod:`hft.fix.parser` re-exports both (the
parser itself is interpreted; a compiled caller such as ``FixMarketData._fast_x`` calls them natively)."""

from __future__ import annotations

from typing import Final
from zlib import adler32 as _adler32

from hft.asx.ticks import PRICE_SCALE

_SCALE_BY_FRAC: Final = (PRICE_SCALE, PRICE_SCALE // 10, PRICE_SCALE // 100, PRICE_SCALE // 1000, 1)


def plain_price(v: bytes) -> int:
    """A plain decimal (digits, optionally ``.`` and up to 4 decimals) -> price units, exactly; -1 for any
    other form (sign, exponent, more decimals, spaces): the caller falls back or declines."""
    i = v.find(b".")
    if i < 0:
        return int(v) * PRICE_SCALE if v.isdigit() else -1
    fl = len(v) - i - 1
    if fl <= 4:
        d = v.replace(b".", b"", 1)
        if d.isdigit():
            return int(d) * _SCALE_BY_FRAC[fl]
    return -1


def byte_sum(b: bytes) -> int:
    """Sum of the bytes of ``b`` (the FIX checksum before ``% 256``), computed in C.

    zlib's Adler-32 low half is ``1 + sum(bytes) mod 65521``: exact while the sum stays below 65520,
    i.e. for chunks of up to 256 arbitrary bytes or 515 ASCII bytes; longer input is summed in chunks.
    """
    n = len(b)
    if n <= 256:
        return (_adler32(b) & 0xFFFF) - 1
    step = 515 if b.isascii() else 256
    if n <= step:
        return (_adler32(b) & 0xFFFF) - 1
    mv = memoryview(b)
    total = 0
    for i in range(0, n, step):
        total += (_adler32(mv[i : i + step]) & 0xFFFF) - 1
    return total
