"""FIX 4.2/4.4 engine: streaming parser, encoder, data dictionary (and the session layer on top)."""

from hft.fix.encoder import FixEncodeError, FixEncoder, format_utc_timestamp, price_field
from hft.fix.parser import (
    FixFrameError,
    FixGroup,
    FixMessage,
    FixStreamParser,
    FixValueError,
    FrameError,
    parse_one,
)

__all__ = [
    "FixEncodeError",
    "FixEncoder",
    "FixFrameError",
    "FixGroup",
    "FixMessage",
    "FixStreamParser",
    "FixValueError",
    "FrameError",
    "format_utc_timestamp",
    "parse_one",
    "price_field",
]
