"""QA finding 17: an unreachable venue said "did not log on within 10s (DISCONNECTED)" without the reason;
--logon-timeout 0 was accepted."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HFT = [sys.executable, "-c", "import sys; from hft.cli import main; sys.exit(main())"]


def _config(tmp_path: Path, port: int, md_port: int, sender: str = "HFTTRADER") -> Path:
    p = tmp_path / "ext.toml"
    p.write_text(f"""
[venue]
host = "127.0.0.1"
port = {port}
sender_comp_id = "{sender}"
store_dir = "{tmp_path / 'store'}"
[market_data]
port = {md_port}
[metrics]
enabled = false
[journal]
path = "{tmp_path / 'journal.bin'}"
[sim]
embedded = false
""")
    return p


def _paper(cfg: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HFT, "paper", "--config", str(cfg), "--duration", "1", "--no-status", *extra],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "400"})


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("value", ["0", "-1", "nan"])
def test_logon_timeout_must_be_positive(tmp_path: Path, value: str) -> None:
    from hft.engine import paper_cli

    assert paper_cli.main(["--logon-timeout", value, "--config", str(_config(tmp_path, 9, 9))]) == 2


def _session_and_initiator(port: int, sender: str = "HFT", target: str = "VENUE") -> Any:
    from hft.fix.session import FixSession, SessionApplication, SessionConfig
    from hft.fix.store import MemoryStore
    from hft.fix.transport import AsyncInitiator

    cfg = SessionConfig("FIX.4.2", sender, target, initiator=True, reconnect_min=0.05, reconnect_max=0.1)
    return AsyncInitiator(FixSession(cfg, MemoryStore(), SessionApplication()), "127.0.0.1", port)


@pytest.mark.timeout(60)
def test_reason_names_refusal_and_rejected_logon_in_process() -> None:
    from hft.engine.preflight import logon_failure_reason
    from hft.fix.session import FixSession, SessionApplication, SessionConfig
    from hft.fix.store import MemoryStore
    from hft.fix.transport import AsyncAcceptor

    async def go() -> tuple[str, str]:
        port = _closed_port()
        ini = _session_and_initiator(port)
        ini.start()
        assert not await ini.wait_logon(0.5)
        refused = logon_failure_reason(ini.session, ini)
        await ini.stop()
        acc = AsyncAcceptor([FixSession(SessionConfig("FIX.4.2", "VENUE", "KNOWN", initiator=False),
                                        MemoryStore(), SessionApplication())], "127.0.0.1", 0)
        await acc.start()
        ini = _session_and_initiator(acc.port, sender="UNKNOWN")
        ini.start()
        assert not await ini.wait_logon(1.0)
        rejected = logon_failure_reason(ini.session, ini)
        await ini.stop()
        await acc.stop()
        return refused, rejected

    refused, rejected = asyncio.run(go())
    assert "connect to 127.0.0.1:" in refused and "refused" in refused.lower()
    assert "logon rejected by the venue (Logout: " in rejected, rejected
@pytest.mark.timeout(60)
def test_connection_refused_is_named(tmp_path: Path) -> None:
    port = _closed_port()
    r = _paper(_config(tmp_path, port, port), "--logon-timeout", "1")
    assert r.returncode == 1, r.stderr
    msg = " ".join(r.stderr.split())
    assert f"127.0.0.1:{port}" in msg and "refused" in msg.lower() and "Traceback" not in msg


@pytest.mark.timeout(60)
def test_silent_venue_is_named(tmp_path: Path) -> None:
    with socket.socket() as srv:  # accepts the connection, never answers the Logon
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        port = int(srv.getsockname()[1])
        r = _paper(_config(tmp_path, port, port), "--logon-timeout", "1")
    assert r.returncode == 1, r.stderr
    assert "has not answered the Logon" in " ".join(r.stderr.split())


@pytest.mark.timeout(90)
def test_logon_rejected_by_the_venue_carries_its_text(tmp_path: Path) -> None:
    from hft.sim.config import SimConfig
    from hft.sim.server import SimServer

    with SimServer(SimConfig.default(metrics_enabled=False)) as sim:
        cfg = _config(tmp_path, sim.order_port, sim.md_port, sender="NOSUCHFIRM")
        r = _paper(cfg, "--logon-timeout", "2")
    assert r.returncode == 1, r.stderr
    msg = " ".join(r.stderr.split())
    assert "logon rejected by the venue (Logout: " in msg, msg




@pytest.mark.timeout(60)
def test_connection_refused_is_named_by_the_busy_poll_host(tmp_path: Path) -> None:
    port = _closed_port()
    cfg = _config(tmp_path, port, port)
    cfg.write_text(cfg.read_text() + '[engine]\nloop = "busy_poll"\n')
    r = _paper(cfg, "--logon-timeout", "1")
    assert r.returncode == 1, r.stderr
    msg = " ".join(r.stderr.split())
    assert f"127.0.0.1:{port}" in msg and "refused" in msg.lower() and "Traceback" not in msg
