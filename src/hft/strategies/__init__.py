"""Trading strategies and their registry (config ``strategy.name`` -> class, params dataclass).

Every strategy subclasses :class:`hft.engine.strategy.Strategy` and takes its parameters as a typed,
validated, frozen dataclass (``params_cls``). ``book_depth`` declares what the strategy observes: the
backtester calls ``on_book`` only for level updates within the top ``book_depth`` levels of a side
(1 = top of book only; 0 = every update). See docs/strategies.md.
"""

from __future__ import annotations

from typing import Any

from hft.engine.strategy import Strategy, StrategyContext
from hft.strategies.latency_probe import LatencyProbe
from hft.strategies.market_maker import MarketMaker
from hft.strategies.momentum_scalper import MomentumScalper, MomentumScalperParams
from hft.strategies.order_flow import OrderFlow, OrderFlowParams
from hft.strategies.params import LatencyProbeParams, MarketMakerParams
from hft.strategies.reference import Reference, ReferenceParams

REGISTRY: dict[str, type[Strategy]] = {
    "market_maker": MarketMaker,
    "momentum_scalper": MomentumScalper,
    "order_flow": OrderFlow,
    "reference": Reference,
    "latency_probe": LatencyProbe,
}

PARAMS: dict[str, type] = {name: cls.params_cls for name, cls in REGISTRY.items()}  # type: ignore[attr-defined]


def make_strategy(name: str, ctx: StrategyContext, instruments: list[str],
                  params: Any = None) -> Strategy:
    """Build a strategy by registry name; ``params`` is its params dataclass, a dict, or None (defaults)."""
    if name not in REGISTRY:
        raise ValueError(f"unknown strategy {name!r} (known: {', '.join(sorted(REGISTRY))})")
    cls = REGISTRY[name]
    pcls = PARAMS[name]
    if params is None:
        params = pcls()
    elif isinstance(params, dict):
        from hft.engine.config import validate_params

        params = validate_params(pcls, params)
    return cls(ctx, instruments, params=params)


__all__ = ["PARAMS", "REGISTRY", "LatencyProbe", "LatencyProbeParams", "MarketMaker", "MarketMakerParams",
           "MomentumScalper",
           "MomentumScalperParams", "OrderFlow", "OrderFlowParams", "Reference", "ReferenceParams",
           "make_strategy"]
