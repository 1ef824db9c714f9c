"""`hft sim` as a real subprocess: starts, serves FIX, stops cleanly on SIGINT / SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sim_fix_client import Client, md_request, new_order

from hft.fix.session import SessionState
from hft.sim.cli import build_parser

pytestmark = pytest.mark.timeout(60)


def start(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[str], dict[str, object]]:
    ready = tmp_path / "ready.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hft.cli", "sim", "--order-port", "0", "--md-port", "0", "--metrics-port", "0",
         "--ready-file", str(ready), "--stats-json", str(tmp_path / "stats.json"), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            out, err = proc.communicate(timeout=5) if proc.poll() is not None else ("", "")
            proc.kill()
            raise AssertionError(f"hft sim did not start (rc={proc.returncode}): {out} {err}")
        time.sleep(0.05)
    return proc, json.loads(ready.read_text())


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_runs_serves_and_stops_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    proc, info = start(tmp_path, "--store-dir", str(tmp_path / "store"))
    try:
        oe = Client(int(info["order_port"]), "HFT", "ASXSIM").logon()  # type: ignore[call-overload]
        md = Client(int(info["md_port"]), "HFTMD", "ASXSIMMD").logon()  # type: ignore[call-overload]
        md.send(b"V", md_request("r", ["BHP"]))
        md.wait_msg(lambda m: m.msg_type == b"W")
        oe.send(b"D", new_order("c1", 1, 100, "1.00"))
        oe.wait_msg(lambda m: m.msg_type == b"8" and m.get(150) == b"0")
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert "logged on" in err and f"{sig.name} received" in err and "simulator stopped" in err
        assert "Traceback" not in err
        assert "stopped; orders 1" in out
        # both clients were logged out by the server, not just cut off
        assert oe.wait_state(SessionState.DISCONNECTED, 5) and md.wait_state(SessionState.DISCONNECTED, 5)
        assert any("server shutdown" in r for r in [*oe.app.logouts, oe.session.last_logout_text])
        stats = json.loads((tmp_path / "stats.json").read_text())
        assert stats["gateway"]["new"] == 1 and "wire_to_wire_ns" in stats
        assert list((tmp_path / "store").glob("*.store"))
        oe.close()
        md.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_bad_config_names_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "sim.toml"
    bad.write_text('[latency.order_entry]\nfixed_us = -3\n')
    r = subprocess.run([sys.executable, "-m", "hft.cli", "sim", "--config", str(bad)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 2
    assert f"{bad}: latency.order_entry.fixed_us" in r.stderr
    bad.write_text('[server]\nordr_port = 1\n')
    r = subprocess.run([sys.executable, "-m", "hft.cli", "sim", "--config", str(bad)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 2 and "server.ordr_port: unknown key" in r.stderr


def test_help_documents_every_option() -> None:
    r = subprocess.run([sys.executable, "-m", "hft.cli", "sim", "--help"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0
    for action in build_parser()._actions:
        for opt in action.option_strings:
            assert opt in r.stdout
        assert action.help, action.option_strings


def test_port_in_use_is_a_clear_error() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "hft.cli", "sim", "--order-port", str(port),
                            "--md-port", "0", "--no-metrics", "--store-dir", ""],
                           capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "simulator failed to start" in r.stderr and "address already in use" in r.stderr
    assert "Traceback" not in r.stderr


def test_truncated_replay_file_is_a_clear_error(tmp_path: Path) -> None:
    data = tmp_path / "cut.csv"
    data.write_text("ts_exch,ts_local,kind,side,price,qty,symbol\n1,1,1,1,450000,100,BHP\n2,2,1,2,4501")
    cfg = tmp_path / "sim.toml"
    cfg.write_text(f'[server]\norder_port = 0\nmd_port = 0\nstore_dir = ""\n[metrics]\nenabled = false\n'
                   f'[flow]\nsource = "replay"\nreplay_path = "{data}"\n')
    r = subprocess.run([sys.executable, "-m", "hft.cli", "sim", "--config", str(cfg)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 1
    assert f"simulator failed to start: {data} line 3: last line does not end with a newline" in r.stderr
    assert "Traceback" not in r.stderr and "attribute" not in r.stderr


def test_replay_problems_are_logged_and_reported(tmp_path: Path) -> None:
    data = tmp_path / "bad.csv"
    data.write_text("ts_exch,ts_local,kind,side,price,qty,symbol\n"
                    "10,10,1,1,450000,100,BHP\n20,20,1,2,450100,-5,BHP\n5,5,1,2,450200,100,BHP\n")
    cfg = tmp_path / "sim.toml"
    cfg.write_text(f'[server]\nstore_dir = ""\n[metrics]\nenabled = false\n'
                   f'[flow]\nsource = "replay"\nreplay_path = "{data}"\nreplay_speed = 0.0\n')
    stats = tmp_path / "stats.json"
    r = subprocess.run([sys.executable, "-m", "hft.cli", "sim", "--config", str(cfg), "--order-port", "0",
                        "--md-port", "0", "--duration", "1", "--stats-json", str(stats)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "row 1: level row with invalid side/price/qty" in r.stderr
    assert "row 2: ts_local 5 is earlier" in r.stderr
    assert "bad rows 1, unsorted 1" in r.stdout and "3 rows (end of file)" in r.stdout
    assert "2 problem rows" in r.stderr
    rep = json.loads(stats.read_text())["replay"]
    assert rep["stats"]["bad_rows"] == 1 and rep["stats"]["unsorted"] == 1 and len(rep["errors"]) == 2
