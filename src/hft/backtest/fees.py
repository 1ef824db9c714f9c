"""Fee models of the backtester's venue, chosen by ``backtest.fee_model`` (docs/backtest.md).

Every model follows :class:`hft.asx.fees.FeeModel`: a commission per *order* as a function of the order's
filled value, each fill charged the increment (so a per-order minimum is paid once across partial fills).
Money is integer cents; values are price units x shares (price units are 1/10,000 of a dollar).

* ``ibkr_fixed``: :class:`hft.asx.fees.IbkrAsxFixed` (0.08% of value, at least AUD 6.00 an order; exchange
  and clearing fees included), the paper engine's default.
* ``ibkr_tiered``: :class:`IbkrAsxTiered`, IBKR's tiered commission for ASX stocks by month-to-date trade
  value: 0.08% (min AUD 5) up to AUD 3M, 0.05% (min 4) to 30M, 0.03% (min 3) to 100M, 0.025% (min 2)
  to 300M, 0.015% (min 1) above. The tier of a fill is the one of the month-to-date value before it (the
  run's fills added to ``fee_month_value_cents``). Only IBKR's commission: the exchange and clearing fees
  IBKR passes through under tiered pricing are not included (set them with ``extra_bp_x100``).
* ``per_share``: :class:`PerShare`, ``fee_per_share_millicents`` (1/1,000 cent) a share, at least
  ``fee_min_cents`` an order, rounded up to the cent (e.g. 500 and 100: half a cent a share, at least $1).
* ``zero``: no fees.
"""

from __future__ import annotations

from dataclasses import dataclass

from hft.asx.fees import FeeModel, IbkrAsxFixed, ZeroFees
from hft.asx.ticks import CENTS_PER_UNIT_DIVISOR

FEE_MODELS = ("", "ibkr_fixed", "ibkr_tiered", "per_share", "zero")

# (month-to-date value below which the tier applies, in cents; rate in 1/100 basis points; minimum, cents)
IBKR_ASX_TIERS: tuple[tuple[int, int, int], ...] = (
    (300_000_000, 800, 500),  # <= AUD 3,000,000: 0.08%, AUD 5.00
    (3_000_000_000, 500, 400),  # <= AUD 30,000,000: 0.05%, AUD 4.00
    (10_000_000_000, 300, 300),  # <= AUD 100,000,000: 0.03%, AUD 3.00
    (30_000_000_000, 250, 200),  # <= AUD 300,000,000: 0.025%, AUD 2.00
    (1 << 62, 150, 100),  # above: 0.015%, AUD 1.00
)


@dataclass(slots=True)
class IbkrAsxTiered:
    """IBKR tiered commission for ASX stocks (module docstring). Stateful: it counts the month-to-date
    traded value of every fill it charged (one instance per backtest)."""

    month_value_cents: int = 0  # traded value of the month before the run
    extra_bp_x100: int = 0  # pass-through fees not included in the commission, 1/100 basis point of value

    def tier(self) -> int:
        """Index into :data:`IBKR_ASX_TIERS` for the month-to-date value now."""
        v = self.month_value_cents
        for i, (upto, _, _) in enumerate(IBKR_ASX_TIERS):
            if v <= upto:
                return i
        return len(IBKR_ASX_TIERS) - 1  # pragma: no cover - the last bound is beyond any value

    def _fee(self, value_units: int, tier: int) -> int:
        if value_units <= 0:
            return 0
        _, rate, minimum = IBKR_ASX_TIERS[tier]
        # value in cents = units / 100; fee = cents x rate / 1,000,000 (rate in 1/100 bp), rounded half up
        div = CENTS_PER_UNIT_DIVISOR * 1_000_000
        fee = max(minimum, (value_units * rate + div // 2) // div)
        return fee + (value_units * self.extra_bp_x100 + div // 2) // div

    def order_fee(self, value_units: int) -> int:
        return self._fee(value_units, self.tier())

    def fill_fee(self, prev_value_units: int, fill_value_units: int) -> int:
        t = self.tier()
        fee = self._fee(prev_value_units + fill_value_units, t) - self._fee(prev_value_units, t)
        self.month_value_cents += fill_value_units // CENTS_PER_UNIT_DIVISOR
        return fee


@dataclass(frozen=True, slots=True)
class PerShare:
    """``per_share_millicents`` (1/1,000 cent) a share, at least ``min_cents`` an order, rounded up to the
    cent. It depends on shares, not value, so the backtester charges it through :meth:`fill_fee_shares`."""

    per_share_millicents: int = 0
    min_cents: int = 0

    def order_fee_shares(self, shares: int) -> int:
        if shares <= 0:
            return 0
        return max(self.min_cents, -(-shares * self.per_share_millicents // 1_000))

    def fill_fee_shares(self, prev_shares: int, shares: int) -> int:
        """Commission in cents for a fill of ``shares`` of an order that had ``prev_shares`` filled."""
        return self.order_fee_shares(prev_shares + shares) - self.order_fee_shares(prev_shares)


def build_fee_model(name: str, month_value_cents: int = 0, per_share_millicents: int = 0,
                    min_cents: int = 0) -> FeeModel | PerShare | None:
    """The model named by ``backtest.fee_model``; None for "" (the ``[fees]`` table decides)."""
    if name == "":
        return None
    if name == "ibkr_fixed":
        return IbkrAsxFixed()
    if name == "ibkr_tiered":
        return IbkrAsxTiered(month_value_cents)
    if name == "per_share":
        return PerShare(per_share_millicents, min_cents)
    if name == "zero":
        return ZeroFees()
    raise ValueError(f"backtest.fee_model: must be one of {', '.join(repr(n) for n in FEE_MODELS)}, "
                     f"got {name!r}")
