"""``hft paper`` end to end in real processes: no arguments (embedded simulator), ``--config`` naming a
separately started simulator, bad configs, and the refusal to run a live config."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import hft.sim.server as sim_server

HFT = [sys.executable, "-c", "import sys; from hft.cli import main; sys.exit(main())"]


def hft(args: list[str], cwd: Path, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HFT, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def last_json(out: str) -> dict[str, Any]:
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.timeout(120)
def test_no_args_runs_a_bounded_session_against_the_embedded_simulator(tmp_path: Path) -> None:
    r = hft(["paper", "--duration", "2.5", "--json", "--metrics-port", "0"], tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    s = last_json(r.stdout)
    assert s["embedded_sim"] is True and s["md_messages"] > 0 and s["book_updates"] > 0
    assert s["orders"] >= 1 and s["orders_acked"] == s["orders"] and s["orders_rejected"] == 0
    assert s["open_orders"] == 0  # the shutdown cancelled what was left
    assert s["sessions"]["order"]["state"] == "DISCONNECTED" and s["sessions"]["order"]["logons"] == 1
    assert not s["kill_switch"]["tripped"]
    assert 2.0 < s["duration_s"] < 10
    assert s["gc"]["frozen_objects"] > 0 and len(s["gc"]["collections"]) == 3  # frozen after start-up
    assert (tmp_path / "var" / "journal.bin").stat().st_size > 0


@pytest.mark.timeout(120)
def test_text_summary_and_second_run_archives_the_journal(tmp_path: Path) -> None:
    r1 = hft(["paper", "--duration", "0.5", "--no-status", "--metrics-port", "0"], tmp_path)
    assert r1.returncode == 0, r1.stderr[-3000:]
    for word in ("paper session", "orders", "fills", "position", "P&L", "tick-to-trade", "kill switch",
                 "GC while trading"):
        assert word in r1.stdout
    r2 = hft(["paper", "--duration", "0.5", "--json", "--metrics-port", "0"], tmp_path)
    assert r2.returncode == 0, r2.stderr[-3000:]
    assert last_json(r2.stdout)["recovered_orders"] == 0  # a fresh simulator: the old journal is archived
    assert len(list((tmp_path / "var").glob("journal.bin.*"))) == 1


@pytest.mark.timeout(120)
def test_config_naming_a_separate_venue(tmp_path: Path) -> None:
    from hft.sim.config import SimConfig

    with sim_server.SimServer(SimConfig.default(metrics_enabled=False)) as sim:
        cfg = tmp_path / "venue.toml"
        cfg.write_text(f"""
[venue]
port = {sim.order_port}
store_dir = "fix-store"
[market_data]
port = {sim.md_port}
[sim]
embedded = false
[strategy]
name = "reference"
[strategy.params]
every_n = 2
[metrics]
port = 0
""")
        r = hft(["paper", "--config", str(cfg), "--duration", "2", "--json"], tmp_path)
        assert r.returncode == 0, r.stderr[-3000:]
        s = last_json(r.stdout)
        assert s["embedded_sim"] is False and s["venue"] == f"127.0.0.1:{sim.order_port}"
        assert s["orders"] >= 1 and sim.stats()["gateway"]["new"] == s["orders"]
        assert (tmp_path / "fix-store").is_dir()  # a venue that outlives us: persisted sequence numbers


@pytest.mark.parametrize(("body", "needle"), [
    ("[risk]\nmax_ordr_qty = 5\n", "risk.max_ordr_qty: unknown key"),
    ("[risk]\nmax_order_qty = -5\n", "risk.max_order_qty: expected a positive integer, got -5"),
    ("[risk]\nkill_on_disconnect = \"yes\"\n", "risk.kill_on_disconnect: expected a boolean"),
    ("[strategy]\nname = \"reference\"\n[strategy.params]\nqty = \"a\"\n", "strategy.params.qty"),
    ("[venue]\npassword = \"hunter2\"\n", "venue.password: literal credentials are not allowed"),
])
def test_bad_config_stops_with_the_key_named(tmp_path: Path, body: str, needle: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from hft.engine.paper_cli import main

    cfg = tmp_path / "bad.toml"
    cfg.write_text(body)
    assert main(["--config", str(cfg), "--duration", "1"]) == 2  # (in process: exits before any I/O)
    err = capsys.readouterr().err
    assert needle in err and str(cfg) in err


@pytest.mark.timeout(120)
def test_busy_poll_loop_against_a_separate_venue(tmp_path: Path) -> None:
    from hft.sim.config import SimConfig

    with sim_server.SimServer(SimConfig.default(metrics_enabled=False)) as sim:
        cfg = tmp_path / "busy.toml"
        cfg.write_text(f'[venue]\nport = {sim.order_port}\n[market_data]\nport = {sim.md_port}\n'
                       '[sim]\nembedded = false\n[engine]\nloop = "busy_poll"\n[metrics]\nport = 0\n')
        r = hft(["paper", "--config", str(cfg), "--duration", "2", "--json"], tmp_path)
        assert r.returncode == 0, r.stderr[-3000:]
        s = last_json(r.stdout)
        assert s["md_messages"] > 0 and s["orders"] == sim.stats()["gateway"]["new"]


def test_busy_poll_needs_an_external_venue(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hft.engine.paper_cli import main

    cfg = tmp_path / "busy.toml"
    cfg.write_text('[engine]\nloop = "busy_poll"\n')
    assert main(["--config", str(cfg), "--duration", "1"]) == 2
    err = capsys.readouterr().err
    assert "engine.loop" in err and "sim.embedded = false" in err


def test_paper_refuses_a_live_config(tmp_path: Path) -> None:
    cfg = tmp_path / "live.toml"
    cfg.write_text('mode = "live"\n[venue]\nusername_env = "U"\npassword_env = "P"\n'
                   '[sim]\nembedded = false\n')
    r = hft(["paper", "--config", str(cfg)], tmp_path)
    assert r.returncode == 2 and "hft live" in r.stderr


def test_unreachable_venue_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[venue]\nport = {port}\n[market_data]\nport = {port}\n[sim]\nembedded = false\n"
                   "[metrics]\nenabled = false\n")
    r = hft(["paper", "--config", str(cfg), "--duration", "1", "--logon-timeout", "1.5"], tmp_path,
            timeout=60)
    assert r.returncode == 1 and f"127.0.0.1:{port}" in r.stderr and "did not log on" in r.stderr


@pytest.mark.timeout(120)
def test_shipped_paper_config_runs(tmp_path: Path) -> None:
    cfg = Path(__file__).resolve().parents[2] / "config" / "paper.toml"
    r = hft(["paper", "--config", str(cfg), "--duration", "1", "--json", "--metrics-port", "0"], tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    s = last_json(r.stdout)
    assert s["embedded_sim"] is True and s["journal"] == "var/paper/journal.bin"
    assert (tmp_path / "var" / "paper" / "journal.bin").exists()


@pytest.mark.timeout(120)
def test_sigusr1_trips_and_sigterm_stops_cleanly(tmp_path: Path) -> None:
    import signal
    import time

    p = subprocess.Popen([*HFT, "paper", "--json", "--metrics-port", "0", "--strategy", "market_maker"],
                         cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        journal = tmp_path / "var" / "journal.bin"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not journal.exists() or journal.stat().st_size < 200):
            time.sleep(0.1)  # wait until it is trading (orders journaled)
        time.sleep(0.5)
        p.send_signal(signal.SIGUSR1)  # manual kill switch
        time.sleep(0.5)
        p.send_signal(signal.SIGTERM)  # clean stop
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 3, err[-3000:]  # ended with the kill switch tripped
    s = last_json(out)
    assert s["kill_switch"] == {"tripped": True, "reason": "manual (SIGUSR1)"}
    assert s["open_orders"] == 0 and s["orders"] >= 1
    assert s["sessions"]["order"]["state"] == "DISCONNECTED"


def test_second_session_in_the_same_directory_is_refused(tmp_path: Path) -> None:
    from hft.engine.journal import Journal

    (tmp_path / "var").mkdir()
    with Journal(tmp_path / "var" / "journal.bin"):  # a running session holds it
        r = hft(["paper", "--duration", "1", "--metrics-port", "0"], tmp_path)
    assert r.returncode == 1 and "in use by another session" in r.stderr
    assert not list((tmp_path / "var").glob("journal.bin.*"))  # not archived from under the writer
