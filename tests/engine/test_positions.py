"""PositionTracker: worked numbers (FIFO, flips, fees incl. IBKR per-order minimum), snapshot/restore."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hft.asx.fees import IbkrAsxFixed
from hft.engine.positions import PositionTracker, units_to_cents
from hft.model.types import Fill, Side

FEES = IbkrAsxFixed()


def fill(side: Side, px: int, qty: int, fee: int = 0, inst: str = "BHP", cl: str = "o1") -> Fill:
    return Fill(cl, inst, side, px, qty, fee, 0)


def test_units_to_cents_rounds_half_up() -> None:
    assert units_to_cents(149) == 1 and units_to_cents(150) == 2 and units_to_cents(-150) == -1
    assert units_to_cents(-151) == -2 and units_to_cents(0) == 0


def test_long_round_trip_with_ibkr_fees_across_partial_fills() -> None:
    t = PositionTracker(FEES)
    # buy order 1,000 @ $10.00 filled 300 + 700: value $10,000 -> fee max(6, 8.00) = $8.00 for the order
    f1 = FEES.fill_fee(0, 100_000 * 300)
    f2 = FEES.fill_fee(100_000 * 300, 100_000 * 700)
    assert (f1, f2) == (600, 200)  # minimum on the first part, increment on the second
    t.on_fill(fill(Side.BUY, 100_000, 300, f1))
    t.on_fill(fill(Side.BUY, 100_000, 700, f2))
    p = t.get("BHP")
    assert p.qty == 1000 and p.cost_units == 100_000_000 and p.avg_entry_px == 100_000.0
    t.mark("BHP", 100_500)  # +$0.05 x 1000 = $50.00 unrealised
    assert t.unrealised_cents == 5000 and t.net_pnl_cents() == 5000 - 800
    # sell 1,000 @ $10.10 in one fill: value $10,100 -> 0.08% = $8.08
    f3 = FEES.fill_fee(0, 101_000 * 1000)
    assert f3 == 808
    t.on_fill(fill(Side.SELL, 101_000, 1000, f3, cl="o2"))
    assert p.qty == 0 and p.cost_units == 0 and p.unrealised_units == 0
    assert t.realised_cents == 10_000  # $100.00
    assert t.fees_cents == 1608 and t.net_pnl_cents() == 10_000 - 1608
    assert t.turnover_cents == 2_010_000 and t.trades == 3 and p.max_abs_qty == 1000


def test_small_order_pays_minimum_once() -> None:
    t = PositionTracker(FEES)
    # 100 @ $10 = $1,000 -> 0.08% = $0.80 < $6 minimum; two partial fills pay 600 then 0
    a = FEES.fill_fee(0, 100_000 * 50)
    b = FEES.fill_fee(100_000 * 50, 100_000 * 50)
    t.on_fill(fill(Side.BUY, 100_000, 50, a))
    t.on_fill(fill(Side.BUY, 100_000, 50, b))
    assert (a, b) == (600, 0) and t.fees_cents == 600


def test_fifo_partial_close_and_flip_through_zero() -> None:
    t = PositionTracker()
    t.on_fill(fill(Side.BUY, 100, 10))  # lot 10 @ 100
    t.on_fill(fill(Side.BUY, 130, 20))  # lot 20 @ 130 ; avg = (1000 + 2600) / 30 = 120
    p = t.get("BHP")
    assert p.cost_units == 3600 and p.avg_entry_px == 120.0
    t.on_fill(fill(Side.SELL, 150, 15))  # closes 10 @100 (+500) and 5 @130 (+100)
    assert p.realised_units == 600 and p.qty == 15 and p.cost_units == 15 * 130
    t.on_fill(fill(Side.SELL, 110, 25))  # closes 15 @130 (-300), opens short 10 @ 110
    assert p.realised_units == 300 and p.qty == -10 and p.cost_units == 1100
    assert list(p.lots) == [[110, 10]]
    t.mark("BHP", 100)  # short 10 from 110, mark 100: +100 units
    assert p.unrealised_units == 100 and t.unrealised_units == 100
    t.on_fill(fill(Side.BUY, 90, 30))  # closes short (+200), flips to long 20 @ 90
    assert p.realised_units == 500 and p.qty == 20 and p.cost_units == 1800
    assert p.unrealised_units == 20 * (100 - 90) and t.unrealised_units == 200
    assert p.max_abs_qty == 30 and t.gross_qty == 20


def test_totals_across_instruments_and_snapshot_restore() -> None:
    t = PositionTracker(FEES)
    t.on_fill(fill(Side.BUY, 451_200, 100, 600, inst="BHP"))
    t.on_fill(fill(Side.SELL, 12_345, 1000, 600, inst="CBA"))
    t.mark("BHP", 451_300)
    t.mark("CBA", 12_300)
    assert t.unrealised_units == 100 * 100 + 1000 * 45
    assert t.gross_qty == 1100 and t.position("CBA") == -1000 and t.position("XYZ") == 0
    snap = t.snapshot()
    r = PositionTracker(FEES)
    r.restore(snap)
    assert r.snapshot() == snap
    assert (r.realised_units, r.unrealised_units, r.fees_cents, r.gross_qty, r.trades) == (
        t.realised_units, t.unrealised_units, t.fees_cents, t.gross_qty, t.trades)
    snap["positions"]["BHP"]["qty"] = 99
    with pytest.raises(ValueError, match="inconsistent"):
        PositionTracker().restore(snap)


def test_zero_qty_fill_ignored() -> None:
    t = PositionTracker()
    t.on_fill(fill(Side.BUY, 100, 0, 5))
    assert t.trades == 0 and t.fees_cents == 0


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 200_000), st.integers(1, 500)), min_size=1,
                max_size=40), st.integers(1, 200_000))
def test_round_trip_realised_equals_sell_minus_buy_value(
    trades: list[tuple[bool, int, int]], close_px: int
) -> None:
    t = PositionTracker()
    buy_v = sell_v = 0
    for is_buy, px, q in trades:
        t.on_fill(fill(Side.BUY if is_buy else Side.SELL, px, q))
        if is_buy:
            buy_v += px * q
        else:
            sell_v += px * q
        p = t.get("BHP")
        assert sum(lot[1] for lot in p.lots) == abs(p.qty)
        # realised + open-lot cost reconcile with cash flows at every step
        assert p.realised_units == sell_v - buy_v + (p.cost_units if p.qty > 0 else -p.cost_units)
    q = t.position("BHP")
    if q:  # flatten
        t.on_fill(fill(Side.SELL if q > 0 else Side.BUY, close_px, abs(q)))
        if q > 0:
            sell_v += close_px * q
        else:
            buy_v += close_px * -q
    assert t.position("BHP") == 0
    assert t.realised_units == sell_v - buy_v
    assert t.unrealised_units == 0
