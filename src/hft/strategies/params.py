"""Parameter dataclasses of the strategies whose code is compiled by mypyc (see setup.py).

They live in this interpreted module on purpose: the config loader reads their annotations
(``Literal[...]`` choices included) to validate ``[strategy.params]`` and name a bad key, and a compiled
class would erase those annotations and reject a wrong-typed value with a bare TypeError before
``__post_init__`` can name it. Each strategy module re-exports its class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hft.strategies._util import check_fields


@dataclass(frozen=True, slots=True)
class MarketMakerParams:
    quote_size: int = 100  # shares per side
    max_position: int = 1_000  # shares, absolute; also the skew's normaliser
    base_spread_ticks: float = 0.5  # half spread floor, ticks
    vol_window: int = 100  # top-of-book updates in the rolling volatility
    vol_multiplier: float = 1.0  # ticks of half spread per tick of volatility
    skew_ticks: float = 2.0  # shift of both quotes at a full position, ticks
    max_orders_per_sec: int = 20  # new + replace + cancel requests, sliding second

    def __post_init__(self) -> None:
        check_fields(self, positive=("quote_size", "max_position", "max_orders_per_sec", "vol_window"),
                     non_negative=("base_spread_ticks", "vol_multiplier", "skew_ticks"),
                     ints=("quote_size", "max_position", "vol_window", "max_orders_per_sec"))
        if self.vol_window < 2:
            raise ValueError(f"vol_window must be >= 2, got {self.vol_window}")
        if self.quote_size > self.max_position:
            raise ValueError(f"quote_size ({self.quote_size}) must be <= max_position ({self.max_position})")


@dataclass(frozen=True, slots=True)
class LatencyProbeParams:
    fraction: float = 0.1  # share of book updates answered with an order, 0 < fraction <= 1
    qty: int = 1
    offset_ticks: int = 5  # ticks below the best bid (must stay inside the risk price band)
    mode: Literal["ioc", "rest"] = "ioc"

    def __post_init__(self) -> None:
        if not 0.0 < self.fraction <= 1.0:
            raise ValueError(f"fraction must be in (0, 1], got {self.fraction}")
        if self.qty <= 0:
            raise ValueError(f"qty must be positive, got {self.qty}")
        if self.offset_ticks < 0:
            raise ValueError(f"offset_ticks must be >= 0, got {self.offset_ticks}")
        if self.mode not in ("ioc", "rest"):
            raise ValueError(f"mode must be 'ioc' or 'rest', got {self.mode!r}")
