"""Commission schedules, in integer cents.

Default: Interactive Brokers' *fixed* pricing for ASX-listed stocks, AUD 6.00 minimum per order,
0.08% of trade value (IBKR, "Commissions: Stocks, ETFs and Warrants - Asia Pacific - Australia",
fixed pricing). The minimum applies per order, not per fill: an order filled in several parts is
charged max(AUD 6, 0.08% x the order's total value), so :meth:`FeeModel.fill_fee` charges each fill
the *increment* of the order's fee. Exchange and clearing fees are included in the fixed rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from hft.asx.ticks import CENTS_PER_UNIT_DIVISOR


class FeeModel(Protocol):
    """Commission of an order as a function of its cumulative filled value."""

    def order_fee(self, value_units: int) -> int:
        """Commission in cents for an order whose fills add up to ``value_units`` (price units x qty)."""
        ...

    def fill_fee(self, prev_value_units: int, fill_value_units: int) -> int:
        """Commission in cents charged for one fill, given the order's filled value before it."""
        ...


@dataclass(frozen=True, slots=True)
class IbkrAsxFixed:
    """IBKR fixed pricing for ASX stocks: ``rate_bp`` basis points of value, at least ``min_cents``."""

    rate_bp: int = 8  # 0.08%
    min_cents: int = 600  # AUD 6.00
    max_cents: int | None = None

    def order_fee(self, value_units: int) -> int:
        if value_units <= 0:
            return 0
        # value in cents = units / 100; fee = value_cents * bp / 10_000, rounded half up
        pct = (value_units * self.rate_bp + 500_000) // (CENTS_PER_UNIT_DIVISOR * 10_000)
        fee = max(self.min_cents, pct)
        if self.max_cents is not None:
            fee = min(fee, self.max_cents)
        return fee

    def fill_fee(self, prev_value_units: int, fill_value_units: int) -> int:
        return self.order_fee(prev_value_units + fill_value_units) - self.order_fee(prev_value_units)


@dataclass(frozen=True, slots=True)
class ZeroFees:
    """No commission (for tests and for isolating gross P&L)."""

    def order_fee(self, value_units: int) -> int:
        return 0

    def fill_fee(self, prev_value_units: int, fill_value_units: int) -> int:
        return 0


def fee_model_from_config(name: str, **params: int) -> FeeModel:
    """Build a fee model by config name: ``ibkr_fixed`` (default) or ``zero``."""
    if name == "ibkr_fixed":
        return IbkrAsxFixed(**params)
    if name == "zero":
        return ZeroFees()
    raise ValueError(f"unknown fee model {name!r}: expected 'ibkr_fixed' or 'zero'")
