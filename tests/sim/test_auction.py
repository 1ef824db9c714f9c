from __future__ import annotations

from hft.model.types import Side
from hft.sim import ExecEvent, ExecType, MatchingEngine, Phase, TradeEvent, compute_auction

B, S = Side.BUY, Side.SELL


def test_asx_worked_example_buy_pressure() -> None:
    # Bids 500@6.40, 500@6.39 x2, 1000@6.34, 500@6.33; asks 1000@6.10, 500@6.40, 520@6.41, ...
    # Max volume 1000 at 6.10..6.39; minimum surplus 500 (buy) at 6.39 -> 6.39.
    bids = [(64_000, 500), (63_900, 500), (63_900, 500), (63_400, 1000), (63_300, 500)]
    asks = [(61_000, 1000), (64_000, 500), (64_100, 520), (64_200, 550), (64_300, 519)]
    r = compute_auction(bids, asks, 0)
    assert r is not None and (r.price, r.volume, r.surplus) == (63_900, 1000, 500)


def test_tiebreak_market_pressure_buy_and_sell() -> None:
    # both 9.90 and 10.00 execute 100 with +50 buy surplus -> highest price
    r = compute_auction([(100_000, 150)], [(99_000, 100)], 0)
    assert r is not None and (r.price, r.volume, r.surplus) == (100_000, 100, 50)
    r = compute_auction([(100_000, 100)], [(99_000, 150)], 0)
    assert r is not None and (r.price, r.surplus) == (99_000, -50)


def test_tiebreak_reference_price() -> None:
    bids, asks = [(100_000, 100)], [(99_000, 100)]
    assert compute_auction(bids, asks, 98_000).price == 99_000  # type: ignore[union-attr]
    assert compute_auction(bids, asks, 101_000).price == 100_000  # type: ignore[union-attr]
    assert compute_auction(bids, asks, 99_500).price == 100_000  # type: ignore[union-attr] # tie -> higher


def test_no_cross_no_auction() -> None:
    assert compute_auction([(99_000, 100)], [(100_000, 100)], 0) is None


def test_opening_uncross_in_engine_time_priority_and_residual() -> None:
    e = MatchingEngine({"BHP": 99_500})
    e.set_phase("BHP", Phase.PRE_OPEN)
    e.submit("s", "A", "BHP", "b1", B, 300, 100_000)
    e.submit("s", "B", "BHP", "b2", B, 300, 100_000)
    e.submit("s", "C", "BHP", "a1", S, 400, 99_000)
    # pre-open: no matching
    assert e.snapshot("BHP") == ([(100_000, 600, 2)], [(99_000, 400, 1)])
    evs = e.set_phase("BHP", Phase.CONTINUOUS)
    trades = [x for x in evs if isinstance(x, TradeEvent)]
    # vol 400 at 9.90 and 10.00 both with buy surplus 200 -> buy pressure -> 10.00
    assert [(t.price, t.qty, t.buy_order_id, t.aggressor) for t in trades] == [(100_000, 300, 1, None),
                                                                                (100_000, 100, 2, None)]
    b2 = [x for x in evs if isinstance(x, ExecEvent) and x.cl_ord_id == "b2"][-1]
    assert b2.exec_type == ExecType.PARTIAL_FILL and b2.leaves_qty == 200
    assert e.snapshot("BHP") == ([(100_000, 200, 1)], [])
    assert e.books["BHP"].last_price == 100_000


def test_closing_auction_then_day_orders_expire() -> None:
    e = MatchingEngine(["BHP"])
    e.set_phase("BHP", Phase.CONTINUOUS)
    e.set_phase("BHP", Phase.PRE_CSPA)
    e.submit("s", "A", "BHP", "b", B, 100, 100_000)
    e.submit("s", "B", "BHP", "a", S, 50, 100_000)
    e.submit("s", "B", "BHP", "a2", S, 50, 120_000)
    evs = e.set_phase("BHP", Phase.CLOSED)
    assert [(t.price, t.qty) for t in evs if isinstance(t, TradeEvent)] == [(100_000, 50)]
    exp = [x for x in evs if isinstance(x, ExecEvent) and x.exec_type == ExecType.EXPIRED]
    assert sorted((x.cl_ord_id, x.cum_qty) for x in exp) == [("a2", 0), ("b", 50)]
    assert e.snapshot("BHP") == ([], [])
