"""Crash and restart for real: a paper session (subprocess, real FIX to a separately running simulator)
is SIGKILLed with an order resting at the venue; while it is down the venue fills that order (the
execution report waits in the venue's session store). The restarted session recovers orders, position,
fees and P&L from its journal, gets the missed fill by the FIX session resend, asks the venue for the
status of what it thought open (35=H), and sends no order twice."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hft.engine.journal import recover
from hft.engine.types import Side

HERE = Path(__file__).parent
CHILD = HERE / "paper_child.py"

sim_server = pytest.importorskip("hft.sim.server")


def start_sim(trades: list[Any]) -> Any:
    from hft.sim.config import OrderEntryConfig, SimConfig
    from hft.sim.matching import TradeEvent

    oe = dataclasses.replace(OrderEntryConfig(), cancel_on_disconnect=False)  # orders outlive our crash
    sim = sim_server.SimServer(SimConfig.default(metrics_enabled=False, order_entry=oe))
    orig = sim._on_events

    def record(events: list[Any]) -> None:  # the venue's own record of our trades
        for e in events:
            if type(e) is TradeEvent and "PAPER" in (e.buy_account, e.sell_account):
                trades.append((e.trade_id, e.qty, e.price))
        orig(events)

    sim._on_events = record  # type: ignore[method-assign]
    return sim.start()


def write_config(tmp_path: Path, sim: Any) -> Path:
    cfg = tmp_path / "paper.toml"
    cfg.write_text(f"""
mode = "paper"
[venue]
port = {sim.order_port}
store_dir = "{tmp_path / 'store'}"
reconnect_s = 0.2
[market_data]
port = {sim.md_port}
[journal]
path = "{tmp_path / 'journal.bin'}"
fsync = "batch"
[metrics]
enabled = false
[sim]
embedded = false
""")
    return cfg


def read_until(proc: subprocess.Popen[str], key: str, timeout: float) -> dict[str, Any]:
    end = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if not line:
            break
        obj = json.loads(line)
        if key in obj:
            return obj
    raise AssertionError(f"child did not print {key!r} (rc={proc.poll()})")


@pytest.mark.timeout(120)
def test_sigkill_restart_recovers_resends_reconciles_without_duplicates(tmp_path: Path) -> None:
    trades: list[Any] = []
    sim = start_sim(trades)
    try:
        cfg = write_config(tmp_path, sim)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        first = subprocess.Popen([sys.executable, str(CHILD), str(cfg), "lift", "120"], cwd=tmp_path,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        try:
            ready = read_until(first, "ready", 60)
        finally:
            first.send_signal(signal.SIGKILL)  # no shutdown: no cancel, no logout, no flush
            first.wait(10)
        assert first.returncode == -signal.SIGKILL
        assert ready["position"] == 10

        # while we are down, the venue fills the resting bid; the report waits for the resend
        bid_px = ready["bid_px"]

        def fill_bid() -> None:
            eng, gw = sim.engine, sim.gateway
            gw.dispatch(eng.submit("BG", "SWEEP", "BHP", "sweep", Side.SELL, 1_000_000, bid_px))
            gw.dispatch(eng.cancel("BG", "sweep-x", "sweep"))

        sim.call(fill_bid)
        assert sim.call(lambda: sim.engine.find("HFT", ready["bid"])) is None  # done at the venue
        news_before = sim.stats()["gateway"]["new"]

        second = subprocess.run([sys.executable, str(CHILD), str(cfg), "watch", "3"], cwd=tmp_path,
                                capture_output=True, text=True, timeout=90, env=env)
        assert second.returncode == 0, second.stderr[-2000:]
        lines = [json.loads(x) for x in second.stdout.splitlines() if x.startswith("{")]
        started = next(x for x in lines if "started" in x)
        summary = next(x for x in lines if "summary" in x)["summary"]
    finally:
        sim.stop()

    # recovered from the journal at start-up: the orders and the position before the crash
    assert started["recovered"] >= 2 and started["journal_position"] == 10, started
    assert started["journal_open"] == 1 and started["journal_fees"] == 600, started
    # the missed fill came by the session resend (or the status answer): the position is the venue's
    ours = sum(q for _, q, _ in trades)
    assert ours == 10 + 7
    assert summary["positions"] == {"BHP": 17}
    assert summary["open_orders"] == 0 and summary["orders"] == 0  # nothing new was sent
    assert sim.stats()["gateway"]["new"] == news_before  # no duplicate order reached the venue
    assert summary["fees_cents"] == 1200  # two orders, AUD 6 minimum each, recovered + new
    assert summary["sessions"]["order"]["resend_requests_sent"] >= 1 or \
        summary["order_manager"]["status_mismatches"] >= 1
    rec = recover(tmp_path / "journal.bin")
    assert rec.positions["BHP"] == 17 and not rec.open_orders
    exec_ids = [f.exec_id for f in rec.fills]
    assert len(exec_ids) == len(set(exec_ids)) == len(trades)  # every venue trade booked exactly once
