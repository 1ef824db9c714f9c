"""The neutral model: order, side, order-type, status and time-in-force enums and the order and event types
(:mod:`hft.model.types`), shared by the engine, the simulator, the backtester, the venues and the strategies.

It imports nothing else of hft, so any layer may use it (the rules: ``tests/test_layering.py``).
"""
