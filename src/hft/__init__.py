"""hft: a low-latency ASX equities trading stack (FIX engine, exchange simulator, backtester, paper/live)."""

from hft import _native

__version__ = "0.1.0"

if _native.pure_requested():
    _native.install_pure_finder()  # HFT_PURE_PYTHON=1: run the .py source of compiled modules
else:
    _native.warn_if_stale()
