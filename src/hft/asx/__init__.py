"""ASX market rules shared by every component: price units, tick table, lots, phases, fee schedules."""

from hft.asx.fees import FeeModel, IbkrAsxFixed, ZeroFees
from hft.asx.phases import Phase, Schedule
from hft.asx.ticks import (
    PRICE_SCALE,
    format_price,
    is_valid_price,
    parse_price,
    round_price,
    tick_down,
    tick_size,
    tick_up,
    ticks_between,
)

__all__ = [
    "PRICE_SCALE",
    "FeeModel",
    "IbkrAsxFixed",
    "Phase",
    "Schedule",
    "ZeroFees",
    "format_price",
    "is_valid_price",
    "parse_price",
    "round_price",
    "tick_down",
    "tick_size",
    "tick_up",
    "ticks_between",
]
