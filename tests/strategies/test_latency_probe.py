"""latency_probe: answers exactly floor(n * fraction) of n book updates, passive prices, never crosses."""

from __future__ import annotations

from typing import Any

import pytest

from hft.book.l2 import L2Book
from hft.engine.strategy import StrategyContext
from hft.model.types import Order, OrdStatus, Side, TimeInForce
from hft.strategies import PARAMS, REGISTRY, make_strategy
from hft.strategies.latency_probe import LatencyProbe, LatencyProbeParams


class Ctx(StrategyContext):
    """A minimal context that records orders (it always accepts unless told to refuse)."""

    def __init__(self, refuse: bool = False) -> None:
        self.orders: list[Order] = []
        self.cancels: list[Order] = []
        self.refuse = refuse

    def now(self) -> int:
        return 0

    def buy(self, instrument: str, price: int, qty: int, tif: TimeInForce = TimeInForce.DAY,
            ord_type: Any = None, tag: str = "") -> Order | None:
        if self.refuse:
            return None
        o = Order(f"C{len(self.orders)}", instrument, Side.BUY, price, qty, tif)
        self.orders.append(o)
        return o

    def sell(self, *a: Any, **kw: Any) -> Order | None:
        raise AssertionError("the probe only buys")

    def cancel(self, order: Order) -> bool:
        self.cancels.append(order)
        order.status = OrdStatus.CANCELED
        return True

    def replace(self, *a: Any, **kw: Any) -> Order | None:
        raise AssertionError("the probe never replaces")

    def cancel_all(self, instrument: str | None = None) -> int:
        return 0

    def position(self, instrument: str) -> int:
        return 0

    def book(self, instrument: str) -> L2Book:
        raise AssertionError

    def open_orders(self, instrument: str | None = None) -> list[Order]:
        return [o for o in self.orders if o.is_open]


def book(bid: int = 450_000, ask: int = 450_100) -> L2Book:
    b = L2Book("BHP", depth=5)
    b.set_level(Side.BUY, bid, 100, 1)
    b.set_level(Side.SELL, ask, 100, 1)
    return b


@pytest.mark.parametrize("fraction", [0.1, 0.25, 1 / 3, 0.5, 1.0])
def test_answers_floor_n_times_fraction(fraction: float) -> None:
    ctx = Ctx()
    s = LatencyProbe(ctx, ["BHP"], LatencyProbeParams(fraction=fraction))
    b = book()
    for n in range(1, 301):
        s.on_book("BHP", b)
        assert len(ctx.orders) == int(n * fraction)
    assert s.answered == len(ctx.orders) and s.updates == 300


def test_ioc_price_is_offset_ticks_below_the_bid_on_the_grid() -> None:
    ctx = Ctx()
    s = LatencyProbe(ctx, ["BHP"], LatencyProbeParams(fraction=1.0, offset_ticks=5, qty=3))
    s.on_book("BHP", book(450_000, 450_100))  # $45.00: 1c ticks
    s.on_book("BHP", book(20_100, 20_200))  # $2.01: one 1c step to $2.00, then 0.5c steps below $2.00
    o1, o2 = ctx.orders
    assert (o1.price, o1.qty, o1.tif) == (449_500, 3, TimeInForce.IOC)
    assert o2.price == 20_000 - 4 * 50


def test_rest_mode_keeps_one_order_and_cancels_it_at_the_next_answer() -> None:
    ctx = Ctx()
    s = LatencyProbe(ctx, ["BHP"], LatencyProbeParams(fraction=0.5, mode="rest"))
    b = book()
    for _ in range(6):
        s.on_book("BHP", b)
    assert len(ctx.orders) == 3 and all(o.tif == TimeInForce.DAY for o in ctx.orders)
    assert ctx.cancels == ctx.orders[:2]
    s.on_stop()
    assert ctx.cancels == ctx.orders


def test_no_bid_skips_and_refusals_are_counted() -> None:
    ctx = Ctx(refuse=True)
    s = LatencyProbe(ctx, ["BHP"], LatencyProbeParams(fraction=1.0))
    s.on_book("BHP", L2Book("BHP", depth=5))
    s.on_book("BHP", book())
    assert (s.skipped, s.refused, s.answered) == (1, 1, 0)


@pytest.mark.parametrize("kw", [{"fraction": 0.0}, {"fraction": 1.5}, {"qty": 0}, {"offset_ticks": -1},
                                {"mode": "market"}])
def test_params_validation(kw: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        LatencyProbeParams(**kw)


def test_registered() -> None:
    assert REGISTRY["latency_probe"] is LatencyProbe and PARAMS["latency_probe"] is LatencyProbeParams
    s = make_strategy("latency_probe", Ctx(), ["BHP"], {"fraction": 0.5})
    assert isinstance(s, LatencyProbe) and s.p.fraction == 0.5
