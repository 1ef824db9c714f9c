"""The paper host with ``[market_data] source = "tws"``: the engine's books fill from the fake TWS server
(orders still go to the embedded simulator)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

if os.environ.get("CI", "").lower() != "true":
    pytest.importorskip("ib_async")

from hft.engine.config import config_from_dict
from hft.engine.runner import HostOptions, run_trading
from hft.venues.tws.fake_server import FakeContract, FakeTws, sim_book_states


def test_paper_host_with_tws_market_data(tmp_path: Path) -> None:
    async def main() -> dict:
        async with FakeTws([FakeContract("BHP", 4036812)]) as srv:
            cfg = config_from_dict({
                "market_data": {"source": "tws"}, "instruments": {"symbols": ["BHP"]},
                "tws": {"port": srv.port, "con_ids": {"BHP": 4036812}, "reconnect_min_s": 0.1},
                "metrics": {"enabled": False}, "journal": {"path": str(tmp_path / "j.bin")},
                "venue": {"store_dir": str(tmp_path / "store")}}, "<test>")
            books = []

            async def feed() -> None:
                states = sim_book_states("BHP", seconds=1e9, seed=2)
                while True:
                    b, a, _t = next(states)
                    await srv.set_book("BHP", b, a, 10)
                    await asyncio.sleep(0.005)

            seen: list[tuple[bool, int, int]] = []

            async def look() -> None:
                await asyncio.sleep(2.0)
                b = books[0]
                seen.append((b.stale, b.n_bids, b.n_asks))

            task = asyncio.create_task(feed())
            looker = asyncio.create_task(look())
            try:
                summary = await run_trading(cfg, HostOptions(duration=3.0, install_signals=False,
                                                             run_dir=str(tmp_path)),
                                            on_started=lambda h: books.append(h.engine.books["BHP"]))
            finally:
                task.cancel()
            assert looker.done() and seen[0][0] is False and seen[0][1] > 0 and seen[0][2] > 0
            book = books[0]
            assert book.best_bid() < book.best_ask()
            return summary

    summary = asyncio.run(asyncio.wait_for(main(), 60))
    assert summary["market_data"].startswith("tws 127.0.0.1:")
    assert summary["md_messages"] > 10 and summary["book_updates"] > 10
