"""Scrape the Prometheus endpoint over HTTP during a paper session against the exchange simulator (its own
thread, real FIX on 127.0.0.1), on both hosts: tick-to-trade histogram, market data, orders, fills,
position, P&L, fees, kill-switch state, FIX session state and sequence numbers."""

from __future__ import annotations

import asyncio
import re
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from paper_child import QTY, Lift
from paper_venue import wait_until
from test_runner import on_host

import hft.sim.server as sim_server
from hft.engine.busyloop import run_busy
from hft.engine.config import config_from_dict
from hft.engine.runner import Host, HostOptions, run_trading
from hft.strategies import PARAMS


def scrape(url: str) -> dict[str, float]:
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def one(m: dict[str, float], pattern: str) -> float:
    hits = [v for k, v in m.items() if re.fullmatch(pattern, k)]
    assert len(hits) == 1, (pattern, [k for k in m if k.startswith(pattern[:12])])
    return hits[0]


@pytest.mark.timeout(90)
@pytest.mark.parametrize("loop", ["asyncio", "busy_poll"])
def test_scrape_during_a_paper_session(tmp_path: Path, loop: str) -> None:
    from hft.sim.config import SimConfig

    sim = sim_server.SimServer(SimConfig.default(metrics_enabled=False)).start()
    cfg = config_from_dict({"journal": {"path": str(tmp_path / "j.bin")}, "metrics": {"port": 0},
                            "venue": {"port": sim.order_port, "store_dir": str(tmp_path / "store")},
                            "market_data": {"port": sim.md_port}, "sim": {"embedded": False},
                            "engine": {"timer_ms": 20, "loop": loop, "busy_spin_us": 500.0}},
                           "<test>", PARAMS)
    scrapes: list[dict[str, float]] = []

    async def main() -> dict[str, Any]:
        aloop = asyncio.get_running_loop()
        started: asyncio.Future[Host] = aloop.create_future()
        opts = HostOptions(duration=60, install_signals=False, strategy_factory=lambda e: Lift(e, ["BHP"]))
        task: asyncio.Future[dict[str, Any]]
        if loop == "busy_poll":  # (in a worker thread)
            task = aloop.run_in_executor(None, lambda: run_busy(
                cfg, opts, lambda h: aloop.call_soon_threadsafe(started.set_result, h)))
        else:
            task = asyncio.ensure_future(run_trading(cfg, opts, started.set_result))
        host = await started
        eng = host.engine
        assert host.metrics is not None and host.metrics.host == "127.0.0.1"
        assert await wait_until(lambda: eng.strategy.reported, timeout=30)  # type: ignore[union-attr]
        await asyncio.sleep(0.1)  # FIX session gauges are refreshed by the host's timer (20 ms here)
        scrapes.append(await asyncio.to_thread(scrape, host.metrics.url))
        await on_host(host, lambda: eng.kill("manual: metrics test"))
        await asyncio.sleep(0.3)  # the session loop refreshes the FIX session gauges every tick
        scrapes.append(await asyncio.to_thread(scrape, host.metrics.url))
        host.request_stop()
        return await task

    try:
        summary = asyncio.run(main())
    finally:
        sim.stop()
    m = scrapes[0]
    assert one(m, r"hft_tick_to_trade_seconds_count") >= 2  # the lift and the resting bid
    n = one(m, r"hft_tick_to_trade_seconds_count")
    assert one(m, r'hft_tick_to_trade_seconds_bucket\{le="\+Inf"\}') == n
    assert one(m, r"hft_tick_to_trade_seconds_sum") > 0
    assert one(m, r"hft_md_messages_total") > 0 and one(m, r"hft_book_updates_total") > 0
    assert one(m, r"hft_orders_sent_total") == 2 and one(m, r"hft_orders_acked_total") == 2
    assert one(m, r"hft_orders_rejected_total") == 0
    assert one(m, r"hft_fills_total") >= 1 and one(m, r"hft_filled_shares_total") == QTY
    assert one(m, r'hft_position_shares\{instrument="BHP"\}') == QTY
    assert one(m, r"hft_fees_cents_total") == 600
    pnl = one(m, r"hft_realized_pnl_cents") + one(m, r"hft_unrealized_pnl_cents")
    assert one(m, r"hft_net_pnl_cents") == pnl - 600
    assert one(m, r'hft_kill_switch_tripped\{reason=""\}') == 0
    assert one(m, r'hft_fix_session_state\{session="order",state="active"\}') == 1
    assert one(m, r'hft_fix_session_state\{session="marketdata",state="active"\}') == 1
    assert one(m, r'hft_fix_next_sender_seq\{session="order"\}') >= 4  # logon + 2 orders
    assert one(m, r'hft_fix_next_target_seq\{session="marketdata"\}') > 2
    k = scrapes[1]
    assert one(k, r'hft_kill_switch_tripped\{reason="manual: metrics test"\}') == 1
    assert one(k, r"hft_cancels_sent_total") >= 1  # the resting bid was cancelled by the trip
    assert summary["kill_switch"]["tripped"] and summary["open_orders"] == 0
