"""Market data: canonical L2 event format (Parquet/CSV), validation and repair, converters.

See docs/data.md. Converters: :mod:`hft.data.lobster` (LOBSTER message/orderbook CSV),
:mod:`hft.data.fixlog` (a captured FIX 35=W/35=X market data stream); ``hft data`` is :mod:`hft.data.cli`.
"""

from hft.data.format import (
    COLUMNS,
    FORMAT_VERSION,
    KIND_LEVEL,
    KIND_SNAPSHOT_END,
    KIND_SNAPSHOT_START,
    KIND_TRADE,
    SIDE_ASK,
    SIDE_BID,
    SIDE_UNKNOWN,
    DataError,
    EventArrays,
    EventWriter,
    Validator,
    iter_event_chunks,
    load_events,
    make_metadata,
    read_metadata,
    repair_events,
    validate_events,
    write_events,
)

__all__ = [
    "COLUMNS",
    "FORMAT_VERSION",
    "KIND_LEVEL",
    "KIND_SNAPSHOT_END",
    "KIND_SNAPSHOT_START",
    "KIND_TRADE",
    "SIDE_ASK",
    "SIDE_BID",
    "SIDE_UNKNOWN",
    "DataError",
    "EventArrays",
    "EventWriter",
    "Validator",
    "iter_event_chunks",
    "load_events",
    "make_metadata",
    "read_metadata",
    "repair_events",
    "validate_events",
    "write_events",
]
