"""Both hosts, one wiring: every check here runs on the asyncio host and on the busy-poll host
(``engine.loop``), against the project's exchange simulator listening on 127.0.0.1 (real FIX over real
TCP). The session is a real ``hft paper`` process where the check is black-box (signals, exit status,
restart with the same journal), the host in this process where the check looks inside (the journal's
fsyncs on the order path).

Each fault the busy-poll host had when it wired the engine by hand has its test here: the kill-switch
latch not read at start-up and ``--reset-kill-switch`` ignored, no SIGUSR1 handling, the market-data
silence timeout (``stale_after_ms``) dropped, an fsync inline on the order path, no journal-lock check,
no replayed market data, no metrics-port fallback."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import hft.sim.server as sim_server
from hft.engine.config import load_config
from hft.engine.journal import Journal, read_journal
from hft.engine.runner import HostOptions, latched_kill
from hft.engine.strategy import Strategy
from hft.strategies import PARAMS

HFT = [sys.executable, "-c", "import sys; from hft.cli import main; sys.exit(main())"]
LOOPS = ["asyncio", "busy_poll"]
TICK = 100


@pytest.fixture
def sim() -> Iterator[Any]:
    from hft.sim.config import SimConfig

    s = sim_server.SimServer(SimConfig.default(metrics_enabled=False)).start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def quiet_sim() -> Iterator[Any]:
    """A simulator with no background flow: after the snapshot, market data goes silent."""
    import dataclasses

    from hft.sim.config import FlowSettings, SimConfig

    cfg = SimConfig.default(metrics_enabled=False)
    s = sim_server.SimServer(dataclasses.replace(cfg, flow=FlowSettings(enabled=False))).start()
    try:
        yield s
    finally:
        s.stop()


def write_config(tmp: Path, sim: Any, loop: str, extra: str = "", *, metrics: bool = False,
                 md: str = "") -> Path:
    p = tmp / "paper.toml"
    p.write_text(f"""
mode = "paper"
[venue]
port = {sim.order_port}
store_dir = "{tmp / 'store'}"
store_fsync = "none"
reconnect_s = 0.2
[market_data]
port = {sim.md_port}
{md}
[journal]
path = "{tmp / 'journal.bin'}"
[metrics]
enabled = {'true' if metrics else 'false'}
[sim]
embedded = false
[engine]
loop = "{loop}"
busy_spin_us = 500.0
timer_ms = 20
{extra}
""")
    return p


def last_json(out: str) -> dict[str, Any]:
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    assert lines, out[-2000:]
    obj: dict[str, Any] = json.loads(lines[-1])
    return obj


def paper(cfg: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HFT, "paper", "--config", str(cfg), "--json", *args], cwd=cfg.parent,
                          capture_output=True, text=True, timeout=timeout)


def wait_for_orders(journal: Path, proc: subprocess.Popen[str], n: int = 2, timeout: float = 40) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        if journal.exists():
            with contextlib.suppress(Exception):
                recs, _ = read_journal(journal)
                if sum(1 for r in recs if r["t"] == "new") >= n:
                    return
        time.sleep(0.1)
    raise AssertionError("the session placed no orders")


# ------------------------------------------------------------------------------------ kill switch
@pytest.mark.timeout(180)
@pytest.mark.parametrize("loop", LOOPS)
def test_sigusr1_trips_cancels_journals_and_a_restart_stays_latched(tmp_path: Path, sim: Any,
                                                                    loop: str) -> None:
    cfg = write_config(tmp_path, sim, loop)
    journal = tmp_path / "journal.bin"
    p = subprocess.Popen([*HFT, "paper", "--config", str(cfg), "--json", "--strategy", "market_maker"],
                         cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_orders(journal, p)
        p.send_signal(signal.SIGUSR1)  # manual kill switch
        end = time.monotonic() + 20
        while time.monotonic() < end and not latched_kill(journal):
            time.sleep(0.05)
        p.send_signal(signal.SIGTERM)  # clean stop
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 3, (p.returncode, err[-3000:])  # ended tripped (not -10: killed by the signal)
    s = last_json(out)
    assert s["kill_switch"] == {"tripped": True, "reason": "manual (SIGUSR1)"}
    assert s["loop"]["kind"] == loop
    assert s["orders"] >= 1 and s["open_orders"] == 0 and s["cancels"] >= 1  # cancel-all
    assert latched_kill(journal) == "manual (SIGUSR1)"  # journaled: the latch
    recs, _ = read_journal(journal)
    kill_q = next(r["q"] for r in recs if r["t"] == "kill")
    assert any(r["t"] == "cancel" and r["q"] > kill_q for r in recs) or s["cancels"] >= 1

    # a restart with the same journal starts tripped: no order leaves
    r = paper(cfg, "--duration", "3", "--strategy", "market_maker")
    assert r.returncode == 3, r.stderr[-3000:]
    s2 = last_json(r.stdout)
    assert s2["orders"] == 0 and s2["kill_switch"]["tripped"]
    assert "still tripped from a previous run (manual (SIGUSR1))" in s2["kill_switch"]["reason"]
    assert len([x for x in read_journal(journal)[0] if x["t"] == "new"]) == s["orders"]

    # an operator reset at start-up trades again, and the reset is journaled
    r = paper(cfg, "--duration", "3", "--strategy", "market_maker", "--reset-kill-switch", "alice")
    assert r.returncode == 0, r.stderr[-3000:]
    s3 = last_json(r.stdout)
    assert s3["orders"] >= 1 and not s3["kill_switch"]["tripped"]
    assert latched_kill(journal) == ""
    resets = [x for x in read_journal(journal)[0] if x["t"] == "kill_reset"]
    assert resets and resets[-1]["operator"] == "alice"


# ------------------------------------------------------------------------------------ market data
@pytest.mark.timeout(90)
@pytest.mark.parametrize("loop", LOOPS)
def test_market_data_silence_makes_the_books_stale(tmp_path: Path, quiet_sim: Any, loop: str) -> None:
    cfg = write_config(tmp_path, quiet_sim, loop, md="stale_after_ms = 300")
    r = paper(cfg, "--duration", "2.5", "--strategy", "market_maker")
    assert r.returncode == 0, r.stderr[-3000:]
    s = last_json(r.stdout)
    assert s["md_gaps"] >= 2, s  # one timeout per silent period of 300 ms


@pytest.mark.timeout(90)
@pytest.mark.parametrize("loop", LOOPS)
def test_replayed_market_data(tmp_path: Path, sim: Any, loop: str) -> None:
    rows = ["1000,1000,3,0,0,0,BHP", "1000,1000,1,1,451200,100,BHP", "1000,1000,1,2,451300,200,BHP",
            "1000,1000,4,0,0,0,BHP"]
    rows += [f"{t},{t},1,1,451200,{100 + i},BHP" for i, t in enumerate(range(2000, 202_000, 2000))]
    data = tmp_path / "day.csv"
    data.write_text("ts_exch,ts_local,kind,side,price,qty,symbol\n" + "".join(r + "\n" for r in rows))
    cfg = write_config(tmp_path, sim, loop, md=f'source = "replay"\nfile = "{data}"\nspeed = 1.0')
    r = paper(cfg, "--duration", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    s = last_json(r.stdout)
    assert s["market_data"] == str(data)
    assert s["replay"]["snapshots"] == 1 and s["replay"]["levels"] == len(rows) - 4
    assert s["md_messages"] == 101 and s["book_updates"] == len(rows) - 4 + 1


# ------------------------------------------------------------------------------------ journal
@pytest.mark.timeout(90)
@pytest.mark.parametrize("loop", LOOPS)
def test_a_second_session_on_the_same_journal_is_refused(tmp_path: Path, sim: Any, loop: str) -> None:
    cfg = write_config(tmp_path, sim, loop)
    with Journal(tmp_path / "journal.bin") as j:  # a running session holds it
        j.append("note", {"x": 1})
        r = paper(cfg, "--duration", "1")
    assert r.returncode == 1, r.stderr[-3000:]
    assert "in use by another session" in " ".join(r.stderr.split())


class _Bidder(Strategy):
    """A bid far below the touch on each book update, up to 15; ``in_order`` is set while it sends."""

    in_order = [False]

    def __init__(self, ctx: Any, instruments: list[str]) -> None:
        super().__init__(ctx, instruments)
        self.sent = 0
        self.last = 0

    def on_book(self, instrument: str, book: Any) -> None:
        now = time.monotonic_ns()
        if self.sent >= 15 or not book.best_bid() or now - self.last < 5_000_000:
            return
        self.last = now
        self.in_order[0] = True
        try:
            if self.ctx.buy(instrument, book.best_bid() - 40 * TICK, 1) is not None:
                self.sent += 1
        finally:
            self.in_order[0] = False


def run_host(loop: str, cfg: Any, opts: HostOptions) -> dict[str, Any]:
    if loop == "busy_poll":
        from hft.engine.busyloop import run_busy

        return run_busy(cfg, opts)
    from hft.engine.runner import run_trading

    return asyncio.run(run_trading(cfg, opts))


@pytest.mark.timeout(90)
@pytest.mark.parametrize("loop", LOOPS)
def test_no_fsync_on_the_loop_by_default(tmp_path: Path, sim: Any, loop: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The defaults (journal.fsync = "batch", venue.store_fsync = "batch"): the journal record and the FIX
    store's copy of each order are written before the order leaves (they survive kill -9); their fsync is
    another thread's: while the session trades, the loop's thread never waits for the disk (an fsync
    there, even between ticks, delays every tick that arrives meanwhile)."""
    import threading

    path = write_config(tmp_path, sim, loop)
    path.write_text(path.read_text().replace('store_fsync = "none"\n', "")
                    .replace("[journal]", "[journal]\nbatch_max_ms = 5") + "[risk]\nmax_open_orders = 100\n")
    cfg = load_config(str(path), PARAMS)
    assert cfg.journal.fsync == "batch" and cfg.venue.store_fsync == "batch"
    jname = str(tmp_path / "journal.bin")
    real_fsync = os.fsync
    loop_thread = threading.current_thread()  # the host runs here
    trading = [False]
    calls = {"loop_thread": 0, "order_path": 0, "journal": 0, "store": 0}

    def fsync(fd: int) -> None:
        with contextlib.suppress(OSError):
            name = os.readlink(f"/proc/self/fd/{fd}")
            kind = "journal" if name == jname else "store" if name.endswith(".store") else ""
            if kind:
                calls[kind] += 1
                if threading.current_thread() is loop_thread and trading[0]:
                    calls["loop_thread"] += 1
                    if _Bidder.in_order[0]:
                        calls["order_path"] += 1
        real_fsync(fd)

    class Bidder(_Bidder):
        def on_start(self) -> None:
            trading[0] = True

        def on_stop(self) -> None:
            trading[0] = False

    monkeypatch.setattr(os, "fsync", fsync)
    opts = HostOptions(duration=2.0, install_signals=False, strategy_factory=lambda e: Bidder(e, ["BHP"]))
    s = run_host(loop, cfg, opts)
    assert s["orders"] >= 5, s
    assert calls["order_path"] == 0 and calls["loop_thread"] == 0, calls  # the loop never waited ...
    assert calls["journal"] >= 2 and calls["store"] >= 2, calls  # ... both were synced, by another thread
    assert s["journal_fsync"]["background"]["syncs"] >= 2
    recs, _ = read_journal(tmp_path / "journal.bin")
    assert sum(1 for r in recs if r["t"] == "new") == s["orders"]  # every order was journaled ...
    from hft.fix.store import open_store

    with open_store(tmp_path / "store", "FIX.4.2", cfg.venue.sender_comp_id, cfg.venue.target_comp_id) as st:
        sent = st.get_sent(1, st.next_sender_seq)
    assert sum(1 for _, m in sent if b"\x0135=D\x01" in m) == s["orders"]  # ... and stored


# ------------------------------------------------------------------------------------ metrics
@pytest.mark.timeout(90)
@pytest.mark.parametrize("loop", LOOPS)
def test_metrics_port_busy_falls_back_to_a_free_port(tmp_path: Path, sim: Any, loop: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        cfg = write_config(tmp_path, sim, loop, metrics=True)
        cfg.write_text(cfg.read_text().replace("[metrics]", f"[metrics]\nport = {port}"))
        r = paper(cfg, "--duration", "1")
    assert r.returncode == 0, r.stderr[-3000:]
    s = last_json(r.stdout)
    assert s["metrics_url"].startswith("http://127.0.0.1:") and f":{port}/" not in s["metrics_url"]
    assert "is busy" in r.stderr


@pytest.mark.timeout(60)
@pytest.mark.parametrize("loop", LOOPS)
def test_sigusr1_during_the_logon_is_handled_not_fatal(tmp_path: Path, loop: str) -> None:
    """The signal handlers are in place before the first connect: a SIGUSR1 while the sessions are still
    logging on trips (and journals) the kill switch instead of killing the process (exit 138 before)."""
    with socket.socket() as s:  # a port nobody listens on: the logon keeps retrying
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    fake = type("Venue", (), {"order_port": port, "md_port": port})()
    cfg = write_config(tmp_path, fake, loop)
    p = subprocess.Popen([*HFT, "paper", "--config", str(cfg), "--json", "--logon-timeout", "8"],
                         cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        journal = tmp_path / "journal.bin"
        end = time.monotonic() + 30
        while time.monotonic() < end and not journal.exists():  # the host is up (journal opened)
            time.sleep(0.05)
        time.sleep(0.5)
        p.send_signal(signal.SIGUSR1)
        _out, err = p.communicate(timeout=40)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 1, (p.returncode, err[-2000:])  # venue unreachable; not killed by the signal
    assert latched_kill(journal) == "manual (SIGUSR1)"
