"""Event-driven L2 backtester (see docs/backtest.md)."""

from hft.backtest.engine import (
    BacktestConfig,
    Backtester,
    BacktestResult,
    EventArrays,
    check_sorted,
    make_events,
)

__all__ = ["BacktestConfig", "BacktestResult", "Backtester", "EventArrays", "check_sorted", "make_events"]
