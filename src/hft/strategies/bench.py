"""Per-update cost of each strategy's ``on_book`` (``python -m hft.strategies.bench --json``).

Drives every registered trading strategy with the same seeded sequence of L2 updates (5 levels a side,
random size changes, the spread switching between one and two ticks) through a minimal in-process
context that acknowledges orders at once and never fills them. Reports nanoseconds per ``on_book`` call,
measured side by side in one run, with a do-nothing strategy as the floor (the cost of the loop and the
book update itself), plus how many orders each strategy sent. It measures the strategy's own arithmetic,
not a venue: see ``hft bench backtest`` for the end-to-end replay.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
from typing import Any, ClassVar

from hft.book.l2 import ASK, BID, L2Book
from hft.engine.strategy import Strategy, StrategyContext
from hft.model.types import Order, OrdStatus, OrdType, Side, TimeInForce


class _InstantContext(StrategyContext):
    """Acks every order at once, IOCs expire at once, nothing fills; position stays flat."""

    def __init__(self, book: L2Book) -> None:
        self._book = book
        self.t = 0
        self.orders = 0
        self.cancels = 0
        self._ids = 0

    def now(self) -> int:
        return self.t

    def _new(self, instrument: str, side: Side, price: int, qty: int, tif: TimeInForce,
             ord_type: OrdType, tag: str) -> Order:
        self._ids += 1
        self.orders += 1
        st = OrdStatus.CANCELED if tif is TimeInForce.IOC else OrdStatus.NEW
        return Order(str(self._ids), instrument, side, price, qty, tif, ord_type, st, created_ns=self.t,
                     tag=tag)

    def buy(self, instrument: str, price: int, qty: int, tif: TimeInForce = TimeInForce.DAY,
            ord_type: OrdType = OrdType.LIMIT, tag: str = "") -> Order | None:
        return self._new(instrument, Side.BUY, price, qty, tif, ord_type, tag)

    def sell(self, instrument: str, price: int, qty: int, tif: TimeInForce = TimeInForce.DAY,
             ord_type: OrdType = OrdType.LIMIT, tag: str = "") -> Order | None:
        return self._new(instrument, Side.SELL, price, qty, tif, ord_type, tag)

    def cancel(self, order: Order) -> bool:
        if order.status.is_terminal:
            return False
        order.status = OrdStatus.CANCELED
        self.cancels += 1
        return True

    def replace(self, order: Order, price: int | None = None, qty: int | None = None) -> Order | None:
        if order.status.is_terminal:
            return None
        order.status = OrdStatus.REPLACED
        o = self._new(order.instrument, order.side, order.price if price is None else price,
                      order.qty if qty is None else qty, order.tif, order.ord_type, order.tag)
        return o

    def cancel_all(self, instrument: str | None = None) -> int:
        return 0

    def position(self, instrument: str) -> int:
        return 0

    def book(self, instrument: str) -> L2Book:
        return self._book

    def open_orders(self, instrument: str | None = None) -> list[Order]:
        return []

    def set_timer(self, interval_ns: int) -> None:
        pass


class _Noop(Strategy):
    name: ClassVar[str] = "noop"

    def on_book(self, instrument: str, book: Any) -> None:
        pass


def make_updates(n: int, seed: int = 7) -> list[tuple[int, int, int]]:
    """(side, price, qty) level updates of a 5-level book around $45 (100-unit ticks)."""
    rng = random.Random(seed)
    bid = 450_000
    ask = 450_100
    out: list[tuple[int, int, int]] = []
    bids = {bid - 100 * i: rng.randint(1, 50) * 100 for i in range(5)}
    asks = {ask + 100 * i: rng.randint(1, 50) * 100 for i in range(5)}
    out += [(BID, p, q) for p, q in bids.items()] + [(ASK, p, q) for p, q in asks.items()]
    while len(out) < n:
        r = rng.random()
        if r < 0.05 and ask - bid == 100:  # widen to two ticks
            del asks[ask]
            out.append((ASK, ask, 0))
            ask += 100
            asks.setdefault(ask, rng.randint(1, 50) * 100)
            out.append((ASK, ask, asks[ask]))
        elif r < 0.10 and ask - bid == 200:  # close back to one tick
            ask -= 100
            asks[ask] = rng.randint(1, 50) * 100
            out.append((ASK, ask, asks[ask]))
        else:
            side = BID if rng.random() < 0.5 else ASK
            lv = bids if side == BID else asks
            p = (bid - 100 * rng.randrange(5)) if side == BID else (ask + 100 * rng.randrange(5))
            q = rng.randint(1, 50) * 100
            lv[p] = q
            out.append((side, p, q))
    return out[:n]


def run_one(name: str, updates: list[tuple[int, int, int]], params: Any = None) -> dict[str, Any]:
    from hft.strategies import REGISTRY

    book = L2Book("BHP", depth=10)
    ctx = _InstantContext(book)
    strat: Strategy = _Noop(ctx, ["BHP"]) if name == "noop" else REGISTRY[name](ctx, ["BHP"], params=params)
    strat.on_start()
    on_book = strat.on_book
    set_level = book.set_level
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter_ns()
        t = 0
        for side, p, q in updates:
            t += 1_000_000
            ctx.t = t
            set_level(side, p, q)
            on_book("BHP", book)
        dt = time.perf_counter_ns() - t0
    finally:
        gc.enable()
    return {"ns_per_update": dt / len(updates), "orders": ctx.orders, "cancels": ctx.cancels}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hft.strategies.bench",
                                 description="per-update cost of each strategy's on_book")
    ap.add_argument("--updates", type=int, default=200_000, help="book updates per strategy (default 200000)")
    ap.add_argument("--seed", type=int, default=7, help="seed of the update sequence")
    ap.add_argument("--json", action="store_true", help="print machine-readable JSON")
    a = ap.parse_args(argv)
    if a.updates < 100:
        ap.error("--updates must be at least 100")
    updates = make_updates(a.updates, a.seed)
    names = ["noop", "reference", "market_maker", "momentum_scalper", "order_flow"]
    res = {n: run_one(n, updates) for n in names}
    floor = res["noop"]["ns_per_update"]
    for r in res.values():
        r["strategy_ns"] = r["ns_per_update"] - floor
    out = {"updates": a.updates, "seed": a.seed, "python": sys.version.split()[0], "results": res}
    if a.json:
        print(json.dumps(out, indent=2))
    else:
        for n, r in res.items():
            print(f"{n:18} {r['ns_per_update']:8.0f} ns/update  (strategy {r['strategy_ns']:6.0f} ns)  "
                  f"orders {r['orders']}  cancels {r['cancels']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
