"""hft: a low-latency ASX equities trading stack (FIX engine, exchange simulator, backtester, paper/live)."""

__version__ = "0.1.0"
