"""Positions, P&L and fees per instrument, exact in integers.

Accounting: FIFO lots. Every open lot is ``[price, qty]``; a fill against the position closes lots
oldest first and realises ``(exit - entry) * qty`` (sign by direction) exactly in price units x shares.
A fill larger than the position flips it: the remainder opens a new lot at the fill price.
``cost_units`` = sum(price * qty) of the open lots, so the average entry price is
``cost_units / abs(qty)`` (exposed exactly as numerator/denominator, and as a float for reports).

Money: accumulators are in price units x shares (1 unit = 1/10,000 dollar, so 100 units = 1 cent).
Conversion to cents rounds half up (towards +inf): ``(units + 50) // 100``, the rule of
:func:`hft.asx.ticks.price_to_cents_value`. Totals round the summed units once (so a total can differ by
a cent from the sum of the per-instrument rounded values). Fees arrive in ``Fill.fee_cents`` (computed by
the order manager with the fee model's per-order ``fill_fee``, so the IBKR per-order minimum is charged
once per order across its partial fills). Net P&L = realised + unrealised - fees.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from hft.asx.fees import FeeModel
from hft.model.types import Fill, Side


def units_to_cents(units: int) -> int:
    """Price units x shares -> cents, rounded half up."""
    return (units + 50) // 100


@dataclass(slots=True)
class Position:
    instrument: str
    qty: int = 0  # net shares, + long / - short
    cost_units: int = 0  # sum(entry price * qty) of open lots (>= 0)
    realised_units: int = 0
    unrealised_units: int = 0  # at mark_px; 0 while unmarked
    mark_px: int = 0
    fees_cents: int = 0
    turnover_units: int = 0
    buy_qty: int = 0
    sell_qty: int = 0
    buy_value_units: int = 0
    sell_value_units: int = 0
    trades: int = 0
    max_abs_qty: int = 0
    lots: deque[list[int]] = field(default_factory=deque)

    @property
    def avg_entry_px(self) -> float:
        """Average entry price in price units (float, reports only); 0.0 when flat."""
        return self.cost_units / abs(self.qty) if self.qty else 0.0

    @property
    def realised_cents(self) -> int:
        return units_to_cents(self.realised_units)

    @property
    def unrealised_cents(self) -> int:
        return units_to_cents(self.unrealised_units)

    @property
    def turnover_cents(self) -> int:
        return units_to_cents(self.turnover_units)

    @property
    def net_cents(self) -> int:
        return units_to_cents(self.realised_units + self.unrealised_units) - self.fees_cents

    def _unreal(self) -> int:
        if not self.mark_px or not self.qty:
            return 0
        if self.qty > 0:
            return self.mark_px * self.qty - self.cost_units
        return self.cost_units - self.mark_px * (-self.qty)


class PositionTracker:
    """Per-instrument :class:`Position` plus running totals (O(1) to read)."""

    def __init__(self, fee_model: FeeModel | None = None) -> None:
        self.fee_model = fee_model
        self.positions: dict[str, Position] = {}
        self.realised_units = 0
        self.unrealised_units = 0
        self.fees_cents = 0
        self.turnover_units = 0
        self.trades = 0
        self.gross_qty = 0  # sum of abs(net qty) over instruments

    def get(self, instrument: str) -> Position:
        p = self.positions.get(instrument)
        if p is None:
            p = self.positions[instrument] = Position(instrument)
        return p

    def position(self, instrument: str) -> int:
        p = self.positions.get(instrument)
        return p.qty if p is not None else 0

    def on_fill(self, fill: Fill) -> Position:
        """Book one fill. Quantities <= 0 are ignored (returns the unchanged position)."""
        p = self.get(fill.instrument)
        q = fill.qty
        if q <= 0:
            return p
        px = fill.price
        old_unreal = p.unrealised_units
        old_abs = abs(p.qty)
        value = px * q
        sign = 1 if fill.side == Side.BUY else -1
        if sign > 0:
            p.buy_qty += q
            p.buy_value_units += value
        else:
            p.sell_qty += q
            p.sell_value_units += value
        p.turnover_units += value
        p.trades += 1
        p.fees_cents += fill.fee_cents
        remaining = q
        realised = 0
        lots = p.lots
        # close against opposite-direction lots (FIFO)
        while remaining and p.qty and (p.qty > 0) != (sign > 0):
            lot = lots[0]
            take = lot[1] if lot[1] < remaining else remaining
            if p.qty > 0:  # long, selling
                realised += (px - lot[0]) * take
                p.qty -= take
            else:  # short, buying
                realised += (lot[0] - px) * take
                p.qty += take
            p.cost_units -= lot[0] * take
            lot[1] -= take
            if lot[1] == 0:
                lots.popleft()
            remaining -= take
        if remaining:
            lots.append([px, remaining])
            p.cost_units += px * remaining
            p.qty += sign * remaining
        p.realised_units += realised
        a = abs(p.qty)
        if a > p.max_abs_qty:
            p.max_abs_qty = a
        p.unrealised_units = p._unreal()
        self.realised_units += realised
        self.unrealised_units += p.unrealised_units - old_unreal
        self.fees_cents += fill.fee_cents
        self.turnover_units += value
        self.trades += 1
        self.gross_qty += a - old_abs
        return p

    def mark(self, instrument: str, price: int) -> None:
        """Set the mark price (mid or last trade: the caller chooses) for unrealised P&L."""
        if price <= 0:
            return
        p = self.get(instrument)
        old = p.unrealised_units
        p.mark_px = price
        p.unrealised_units = p._unreal()
        self.unrealised_units += p.unrealised_units - old

    # totals in cents
    @property
    def realised_cents(self) -> int:
        return units_to_cents(self.realised_units)

    @property
    def unrealised_cents(self) -> int:
        return units_to_cents(self.unrealised_units)

    @property
    def turnover_cents(self) -> int:
        return units_to_cents(self.turnover_units)

    def net_pnl_cents(self) -> int:
        """Realised + unrealised - fees, all instruments, in cents."""
        return units_to_cents(self.realised_units + self.unrealised_units) - self.fees_cents

    # recovery
    def snapshot(self) -> dict[str, Any]:
        """JSON-serialisable state for the journal."""
        return {
            "positions": {
                k: {
                    "qty": p.qty, "cost_units": p.cost_units, "realised_units": p.realised_units,
                    "mark_px": p.mark_px, "fees_cents": p.fees_cents, "turnover_units": p.turnover_units,
                    "buy_qty": p.buy_qty, "sell_qty": p.sell_qty, "buy_value_units": p.buy_value_units,
                    "sell_value_units": p.sell_value_units, "trades": p.trades,
                    "max_abs_qty": p.max_abs_qty, "lots": [list(lot) for lot in p.lots],
                }
                for k, p in self.positions.items()
            }
        }

    def restore(self, snap: dict[str, Any]) -> None:
        """Replace the state with a :meth:`snapshot`; raises ValueError on an inconsistent snapshot."""
        positions: dict[str, Position] = {}
        for k, d in snap.get("positions", {}).items():
            lots = deque([int(a), int(b)] for a, b in d["lots"])
            p = Position(k, qty=int(d["qty"]), cost_units=int(d["cost_units"]),
                         realised_units=int(d["realised_units"]), mark_px=int(d["mark_px"]),
                         fees_cents=int(d["fees_cents"]), turnover_units=int(d["turnover_units"]),
                         buy_qty=int(d["buy_qty"]), sell_qty=int(d["sell_qty"]),
                         buy_value_units=int(d["buy_value_units"]),
                         sell_value_units=int(d["sell_value_units"]), trades=int(d["trades"]),
                         max_abs_qty=int(d["max_abs_qty"]), lots=lots)
            if sum(b for _, b in lots) != abs(p.qty) or sum(a * b for a, b in lots) != p.cost_units:
                raise ValueError(f"position snapshot for {k!r} is inconsistent (lots vs qty/cost)")
            p.unrealised_units = p._unreal()
            positions[k] = p
        self.positions = positions
        ps = positions.values()
        self.realised_units = sum(p.realised_units for p in ps)
        self.unrealised_units = sum(p.unrealised_units for p in ps)
        self.fees_cents = sum(p.fees_cents for p in ps)
        self.turnover_units = sum(p.turnover_units for p in ps)
        self.trades = sum(p.trades for p in ps)
        self.gross_qty = sum(abs(p.qty) for p in ps)
