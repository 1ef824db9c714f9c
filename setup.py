"""Build hook: compiles the hot-path modules with mypyc (the same Python source, compiled to C).

Everything else about the package is in pyproject.toml. The modules below are ordinary, type-annotated
Python; mypyc turns each into a C extension that the import system prefers to the ``.py`` file. The
source stays the reference: ``HFT_PURE_PYTHON=1`` at run time imports the ``.py`` files instead (see
``hft._native``), and ``HFT_NO_COMPILE=1`` at install time skips the compilation altogether.

Why and how much: docs/native.md (measured side by side with the interpreted build).
"""

from __future__ import annotations

import os

from setuptools import setup

# The market-data-in -> order-out path of paper/live trading and the backtester's replay loop. A module
# listed here must type-check under mypy; classes subclassed by interpreted code (strategies written by
# users, tests, benchmarks) carry @mypyc_attr(allow_interpreted_subclasses=True).
COMPILED = [
    "hft/asx/ticks.py",
    "hft/asx/fees.py",
    "hft/book/l2.py",
    "hft/fix/encoder.py",
    "hft/fix/store.py",
    "hft/fix/fastnum.py",
    "hft/fix/session.py",
    "hft/fix/validation.py",
    "hft/model/types.py",
    "hft/engine/positions.py",
    "hft/engine/risk.py",
    "hft/engine/orders.py",
    "hft/engine/journal.py",
    "hft/engine/fix_md.py",
    "hft/engine/fix_gateway.py",
    "hft/engine/runner.py",
    "hft/engine/busyloop.py",
    "hft/runtime/rxstamp.py",
    "hft/engine/strategy.py",
    "hft/metrics/latency.py",
    "hft/backtest/engine.py",
    "hft/strategies/_util.py",
    "hft/strategies/market_maker.py",
    "hft/strategies/latency_probe.py",
]


def _ext_modules() -> list:
    if os.environ.get("HFT_NO_COMPILE", "").lower() in ("1", "true", "yes"):
        return []
    from mypyc.build import mypycify

    here = os.path.dirname(os.path.abspath(__file__))
    paths = [os.path.join("src", p) for p in COMPILED]
    old = os.getcwd()
    os.chdir(here)
    try:
        # experimental_features: the librt primitives the backtester's replay loop reads its columns with
        # (librt.strings.read_i64_le compiles to a load from the bytes; without it, a Python call per value)
        return mypycify(["--ignore-missing-imports", "--follow-imports=silent", *paths], opt_level="3",
                        experimental_features=True)
    finally:
        os.chdir(old)


setup(ext_modules=_ext_modules())
