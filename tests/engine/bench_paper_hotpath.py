"""Engine hot path, in process: one 35=X frame -> FIX session -> FixMarketData -> L2Book -> strategy ->
risk -> order manager (+ journal) -> FixOrderGateway encode -> the session's write callable (a no-op
here, no socket). Prints JSON: per-tick thread CPU time (us) for each journal policy.

    .venv/bin/python tests/engine/bench_paper_hotpath.py [N]

Each tick the strategy sends one new order; the previous one is acknowledged as cancelled between
ticks (untimed) so the open-order count stays at one, as in a quoting strategy.
"""

from __future__ import annotations

import gc
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hft.engine.config import config_from_dict
from hft.engine.fix_gateway import FixOrderGateway
from hft.engine.fix_md import FixMarketData
from hft.engine.gateway import ExecReport, ExecType
from hft.engine.journal import Journal
from hft.engine.runner import TradingEngine
from hft.engine.strategy import Strategy
from hft.fix.encoder import FixEncoder
from hft.fix.session import FixSession, SessionConfig, SessionState
from hft.model.types import Order, OrdStatus, Side
from hft.strategies import PARAMS


class EveryTick(Strategy):
    order: Order | None = None

    def on_book(self, instrument: str, book: Any) -> None:
        self.order = self.ctx.buy(instrument, book.best_bid() - 500, 1)


def _active(sess: FixSession) -> None:
    sess.connection_made(lambda b: None, lambda r: None)
    sess.state = SessionState.ACTIVE


def run(policy: str | None, n: int) -> dict[str, Any]:
    cfg = config_from_dict({"risk": {"max_orders_per_sec": 10**6, "burst": 10**6}}, "<bench>", PARAMS)
    gw = FixOrderGateway(account="PAPER")
    osess = FixSession(SessionConfig("FIX.4.2", "HFT", "ASXSIM"), None, gw)
    gw.attach(osess)
    _active(osess)
    md = FixMarketData()
    msess = FixSession(SessionConfig("FIX.4.2", "HFTMD", "ASXSIMMD", validate_types=False), None, md)
    md.attach(msess)
    _active(msess)
    with tempfile.TemporaryDirectory() as d:
        j = Journal(Path(d) / "j", fsync=policy) if policy else None  # type: ignore[arg-type]
        eng = TradingEngine(cfg, gw, journal=j)
        strat = EveryTick(eng, ["BHP"])
        eng.strategy = strat
        md.set_sink(eng.on_market_event)
        md.level_sink = eng.on_level
        md.on_message_end = eng.on_md_message_end
        md.subscribe(["BHP"])
        enc = FixEncoder("FIX.4.2", "ASXSIMMD", "HFTMD")
        msess.on_data(enc.encode(b"W", [(262, "x"), (55, "BHP"), (83, 1), (268, 2), (269, b"0"),
                                        (270, b"45.00"), (271, 100), (269, b"1"), (270, b"45.05"),
                                        (271, 100)], 1))
        frames = [enc.encode(b"X", [(6000, 1), (6001, i), (83, i + 2), (268, 1), (279, b"1"), (269, b"0"),
                                    (55, "BHP"), (270, b"45.00"), (271, 101 + i % 50)], i + 2)
                  for i in range(n)]
        eng.start()
        gc.collect()
        gc.freeze()
        cpu = 0
        for f in frames:
            t0 = time.thread_time_ns()
            msess.on_data(f)
            cpu += time.thread_time_ns() - t0
            o = strat.order
            if o is not None:
                eng.on_exec_report(ExecReport("c" + o.cl_ord_id, o.cl_ord_id, "", "1", ExecType.CANCELED,
                                              OrdStatus.CANCELED, Side.BUY, "BHP"))
        gc.unfreeze()
        if j is not None:
            j.close()
    return {"journal": policy or "off", "ticks": n, "orders": eng.stats.orders_sent,
            "cpu_us_per_tick": round(cpu / n / 1e3, 1)}


def main() -> None:
    logging.disable(logging.WARNING)
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    for policy in (None, "none", "batch"):
        print(json.dumps(run(policy, n)))
    print(json.dumps(run("always", min(n, 300))))


if __name__ == "__main__":
    main()
