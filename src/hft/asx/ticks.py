"""ASX price steps on integer prices.

Every price inside the engine is an ``int`` in *price units* of 1/10,000 of a dollar
(``PRICE_SCALE = 10_000``): $45.12 is ``451_200``, 5.3c is ``530``. That unit is fine enough for
the smallest ASX step (0.1c = 10 units) and matches the LOBSTER data format. Conversion to and from
the decimal strings FIX carries happens only at the edges (:func:`parse_price`, :func:`format_price`).

ASX equity price steps (ASX Operating Rules, Procedure 3100 / "tick size table"):

=====================  ========
price                  step
=====================  ========
below $0.10            $0.001
$0.10 to below $2.00   $0.005
$2.00 and above        $0.01
=====================  ========
"""

from __future__ import annotations

from typing import Final, Literal

PRICE_SCALE: Final = 10_000
"""Price units per dollar."""

CENTS_PER_UNIT_DIVISOR: Final = 100
"""price units per cent (10_000 units per dollar / 100 cents per dollar)."""

_BAND1: Final = 1_000  # $0.10
_BAND2: Final = 20_000  # $2.00
_STEP1: Final = 10  # $0.001
_STEP2: Final = 50  # $0.005
_STEP3: Final = 100  # $0.01


def tick_size(price: int) -> int:
    """The ASX price step (in price units) that applies at ``price``."""
    if price >= _BAND2:  # the common case first
        return _STEP3
    if price < _BAND1:
        return _STEP1
    return _STEP2


def is_valid_price(price: int) -> bool:
    """True when ``price`` is positive and a multiple of the step of its band."""
    if price <= 0:
        return False
    return price % tick_size(price) == 0


def tick_up(price: int, n: int = 1) -> int:
    """The valid price ``n`` steps above ``price`` (``price`` is first rounded down onto the grid)."""
    if price >= _BAND2 and n >= 0:  # one band all the way: no loop
        return price - price % _STEP3 + n * _STEP3
    p = round_price(price, "down")
    for _ in range(n):
        p += tick_size(p)
    return p


def tick_down(price: int, n: int = 1) -> int:
    """The valid price ``n`` steps below ``price`` (``price`` is first rounded up onto the grid).

    Never returns less than the smallest valid price (one 0.1c step).
    """
    if price > _BAND2 and n >= 0:
        r = price % _STEP3
        p = price - r + _STEP3 if r else price
        q = p - n * _STEP3
        if q >= _BAND2:  # every step taken from above $2.00 is a cent (the last one may land on $2.00)
            return q
    p = round_price(price, "up")
    for _ in range(n):
        # the step below p is the step of the band p - 1 falls in
        step = tick_size(p - 1)
        if p - step <= 0:
            return _STEP1
        p -= step
    return p


def round_price(price: int, direction: Literal["down", "up", "nearest"] = "nearest") -> int:
    """Round an arbitrary integer price onto the ASX grid.

    ``down`` is the right choice for a bid (never pay more), ``up`` for an offer.
    """
    if price <= _STEP1:
        return _STEP1
    step = tick_size(price)
    below = price - price % step
    if below == price:
        return price
    # the step above ``below`` is the step at ``below`` (bands start on their own grid)
    above = below + tick_size(below)
    if direction == "down":
        return below
    if direction == "up":
        return above
    return below if price - below < above - price else above


def ticks_between(low: int, high: int) -> int:
    """Number of valid steps from ``low`` up to ``high`` (both on the grid; negative if high < low)."""
    if high < low:
        return -ticks_between(high, low)
    n = 0
    p = low
    # jump band by band so this is O(number of bands), not O(ticks)
    while p < high:
        step = tick_size(p)
        band_end = _BAND1 if p < _BAND1 else (_BAND2 if p < _BAND2 else high)
        target = min(high, band_end)
        k = (target - p + step - 1) // step
        n += k
        p += k * step
    return n


def parse_price(text: bytes | str) -> int:
    """Parse a FIX decimal price (``b"45.12"``, ``"0.053"``) into price units, exactly, no float.

    Raises ``ValueError`` for anything that is not a plain decimal with at most 4 fraction digits
    after trailing zeros are removed.
    """
    if isinstance(text, str):
        text = text.encode("ascii")
    s = bytes(text)
    if not s:
        raise ValueError("empty price")
    neg = s[0] == 0x2D  # '-'
    if neg:
        s = s[1:]
    whole, dot, frac = s.partition(b".")
    if not whole:
        whole = b"0"
    if not whole.isdigit() or (dot and frac and not frac.isdigit()):
        raise ValueError(f"not a decimal price: {text!r}")
    frac = frac.rstrip(b"0")
    if len(frac) > 4:
        raise ValueError(f"price has more than 4 decimal places: {text!r}")
    value = int(whole) * PRICE_SCALE + (int(frac.ljust(4, b"0")) if frac else 0)
    return -value if neg else value


def format_price(price: int) -> str:
    """Format price units as the shortest exact decimal string (``451200`` -> ``"45.12"``)."""
    sign = "-" if price < 0 else ""
    price = abs(price)
    whole, frac = divmod(price, PRICE_SCALE)
    if frac == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:04d}".rstrip("0")


def price_to_cents_value(price: int, qty: int) -> int:
    """Trade value in whole cents, rounded half up (price units * qty / 100)."""
    return (price * qty + 50) // CENTS_PER_UNIT_DIVISOR
