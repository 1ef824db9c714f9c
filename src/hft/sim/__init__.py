"""ASX exchange simulator: L3 matching engine, phases, clocks (gateway and market data live elsewhere)."""

from hft.asx.phases import Phase
from hft.sim.clock import ManualClock, WallClock
from hft.sim.matching import (
    AuctionResult,
    CancelRejectEvent,
    CxlRejReason,
    ExecEvent,
    ExecType,
    LevelEvent,
    LotRules,
    MatchingEngine,
    RejReason,
    StpMode,
    TradeEvent,
    compute_auction,
)
from hft.sim.phases import PhaseDriver, Schedule

__all__ = [
    "AuctionResult", "CancelRejectEvent", "CxlRejReason", "ExecEvent", "ExecType", "LevelEvent", "LotRules",
    "ManualClock", "MatchingEngine", "Phase", "PhaseDriver", "RejReason", "Schedule", "StpMode", "TradeEvent",
    "WallClock", "compute_auction",
]
