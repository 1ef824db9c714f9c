"""A paper-trading process for the crash/restart tests: ``python paper_child.py CONFIG MODE DURATION``.

Runs :func:`hft.engine.host.run_session` (what ``hft paper --config`` runs, on the host the config's
``engine.loop`` names) with a deterministic test strategy and prints one JSON object per line on stdout
(flushed):

- MODE ``lift``: on the first usable book, buys ``QTY`` at the best ask (fills at once), then rests a bid
  ``TICKS`` ticks below the best bid; prints ``{"ready": ..., "bid": ClOrdID, "bid_px": price}`` once the
  fill is booked and the bid acknowledged, then idles until killed.
- MODE ``watch``: places nothing; prints the summary at the end.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from hft.engine.config import load_config
from hft.engine.host import run_session
from hft.engine.runner import HostOptions
from hft.engine.strategy import Strategy
from hft.model.types import Order, OrdStatus
from hft.strategies import PARAMS

QTY = 10
BID_QTY = 7
TICKS = 40  # far enough that the background flow does not fill it before the kill
TICK = 100  # $0.01 in price units (BHP trades around $45)


def out(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class Lift(Strategy):
    def __init__(self, ctx: Any, instruments: list[str]) -> None:
        super().__init__(ctx, instruments)
        self.lift: Order | None = None
        self.bid: Order | None = None
        self.reported = False

    def on_book(self, instrument: str, book: Any) -> None:
        if self.lift is None and book.best_ask() and book.best_bid():
            self.lift = self.ctx.buy(instrument, book.best_ask(), QTY, tag="lift")
        elif self.lift is not None and self.lift.status is OrdStatus.FILLED and self.bid is None:
            self.bid = self.ctx.buy(instrument, book.best_bid() - TICKS * TICK, BID_QTY, tag="rest")
        self._report()

    def on_order_update(self, order: Order) -> None:
        self._report()

    def _report(self) -> None:
        b = self.bid
        if (not self.reported and b is not None and b.status is OrdStatus.NEW
                and self.ctx.position("BHP") == QTY):
            self.reported = True
            out({"ready": True, "bid": b.cl_ord_id, "bid_px": b.price, "position": self.ctx.position("BHP")})

    def on_stop(self) -> None:
        pass  # keep the resting bid: the test kills us anyway


class Watch(Strategy):
    def on_book(self, instrument: str, book: Any) -> None:
        pass


def main() -> int:
    path, mode, duration = sys.argv[1], sys.argv[2], float(sys.argv[3])
    cfg = load_config(path, PARAMS)
    cls = Lift if mode == "lift" else Watch

    at_build: dict[str, Any] = {}

    def factory(engine: Any) -> Strategy:
        # called when the engine is built from the recovered journal, before any venue message arrives
        rec = engine.recovered
        at_build.update(recovered=len(rec.orders) if rec else 0,
                        journal_position=rec.positions.get("BHP", 0) if rec else 0,
                        journal_open=len(rec.open_orders) if rec else 0,
                        journal_fees=engine.positions.fees_cents)
        return cls(engine, ["BHP"])

    def started(host: Any) -> None:
        out({"started": True, **at_build, "position": host.engine.position("BHP")})

    opts = HostOptions(duration=duration, strategy_factory=factory)
    summary = run_session(cfg, opts, started)  # the host engine.loop names
    out({"summary": summary})
    return 0


if __name__ == "__main__":
    sys.exit(main())
