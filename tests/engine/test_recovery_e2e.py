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

import hft.sim.server as sim_server
from hft.engine.journal import recover
from hft.model.types import Side

HERE = Path(__file__).parent
CHILD = HERE / "paper_child.py"
HFT_CLI = [sys.executable, "-c", "import sys; from hft.cli import main; sys.exit(main())"]


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


LOOPS = ["asyncio", "busy_poll"]  # both hosts (engine.loop) recover the same way


def write_config(tmp_path: Path, sim: Any, loop: str = "asyncio") -> Path:
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
[engine]
loop = "{loop}"
busy_spin_us = 500.0
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
@pytest.mark.parametrize("loop", LOOPS)
def test_sigkill_restart_recovers_resends_reconciles_without_duplicates(tmp_path: Path, loop: str) -> None:
    trades: list[Any] = []
    sim = start_sim(trades)
    try:
        cfg = write_config(tmp_path, sim, loop)
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


@pytest.mark.timeout(180)
@pytest.mark.parametrize("loop", LOOPS)
def test_repeated_sigkill_of_hft_paper_never_duplicates_orders(tmp_path: Path, loop: str) -> None:
    """`hft paper --config` (the real CLI) is SIGKILLed at random moments while it sends orders every
    update; each restart recovers, reconciles and carries on; at the end the venue saw no duplicate
    ClOrdID, every order the venue accepted is in the journal, nothing of ours is left resting, and the
    journal's position equals the venue's trades."""
    import random

    from hft.engine.journal import read_journal
    from hft.sim.config import OrderEntryConfig, SimConfig
    from hft.sim.matching import ExecEvent, ExecType, TradeEvent

    rng = random.Random(7)
    seen: dict[str, int] = {}  # ClOrdID -> new acks at the venue
    rejects: list[str] = []
    signed: list[int] = []
    oe = dataclasses.replace(OrderEntryConfig(), cancel_on_disconnect=False)
    sim = sim_server.SimServer(SimConfig.default(metrics_enabled=False, order_entry=oe))
    orig = sim._on_events

    def record(events: list[Any]) -> None:
        for e in events:
            if type(e) is ExecEvent and e.session == "HFT":
                if e.exec_type is ExecType.NEW:
                    seen[e.cl_ord_id] = seen.get(e.cl_ord_id, 0) + 1
                elif e.exec_type is ExecType.REJECTED:
                    rejects.append(e.text)
            elif type(e) is TradeEvent:
                if e.buy_account == "PAPER":
                    signed.append(e.qty)
                if e.sell_account == "PAPER":
                    signed.append(-e.qty)
        orig(events)

    sim._on_events = record  # type: ignore[method-assign]
    sim.start()
    try:
        cfg = write_config(tmp_path, sim, loop)
        cfg.write_text(cfg.read_text() + '[strategy]\nname = "reference"\n[strategy.params]\n'
                       "every_n = 1\ncancel_after = 3\nqty = 1\n")
        cmd = [*HFT_CLI, "paper", "--config", str(cfg), "--no-status"]
        for _ in range(3):
            p = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 30
            n0 = len(seen)
            while len(seen) < n0 + 3 and time.monotonic() < deadline:  # trading has started
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 0.8))
            p.send_signal(signal.SIGKILL)
            assert p.wait(10) == -signal.SIGKILL
        final = subprocess.run([*cmd, "--duration", "2", "--json"], cwd=tmp_path, capture_output=True,
                               text=True, timeout=90)
        assert final.returncode == 0, final.stderr[-3000:]
        summary = json.loads(final.stdout.strip().splitlines()[-1])
        live = sim.call(lambda: [o.cl_ord_id for o in sim.engine.orders.values() if o.session == "HFT"])
    finally:
        sim.stop()
    assert len(seen) >= 9 and all(n == 1 for n in seen.values())  # every ClOrdID accepted exactly once
    assert not [t for t in rejects if "duplicate" in t.lower()]
    assert live == [] and summary["open_orders"] == 0
    records, _torn = read_journal(tmp_path / "journal.bin")
    journaled_new = {r["id"] for r in records if r["t"] == "new"}
    assert set(seen) <= journaled_new  # the journal knew every order before the venue did
    sessions = [r["session"] for r in records if r["t"] == "session"]
    assert len(sessions) == 4 and sessions == sorted(set(sessions))
    rec = recover(tmp_path / "journal.bin")
    assert rec.positions.get("BHP", 0) == sum(signed) == summary["positions"]["BHP"]
