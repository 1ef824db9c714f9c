"""QA finding 4: metrics.host = "0.0.0.0" was accepted without a word in paper/live."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import hft.engine.runner as runner
from hft.engine import paper_cli
from hft.engine.preflight import is_loopback


def _run_paper(tmp_path: Path, host: str, monkeypatch: pytest.MonkeyPatch,
               capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """`hft paper` up to the point where the session would start (stubbed: nothing binds or connects)."""
    async def no_session(config: Any, opts: Any = None, on_started: Any = None) -> dict[str, Any]:
        raise RuntimeError("stub: no session in this test")

    monkeypatch.setattr(runner, "run_trading", no_session)
    cfg = tmp_path / "p.toml"
    cfg.write_text(f'[metrics]\nhost = "{host}"\nport = 9\n[journal]\npath = "{tmp_path / "j"}"\n')
    rc = paper_cli.main(["--config", str(cfg), "--no-status"])
    return rc, capsys.readouterr().err


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3"])
def test_non_loopback_metrics_bind_warns_loudly(tmp_path: Path, host: str, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    rc, err = _run_paper(tmp_path, host, monkeypatch, capsys)
    assert rc == 1 and "stub: no session" in err
    assert "WARNING" in err and f"metrics.host = '{host}'" in " ".join(err.split())


def test_loopback_metrics_bind_is_quiet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    rc, err = _run_paper(tmp_path, "127.0.0.1", monkeypatch, capsys)
    assert rc == 1 and "WARNING" not in err


def test_is_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("127.3.0.1") and is_loopback("::1")
    assert is_loopback("localhost") and is_loopback("[::1]")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("192.168.1.1")
    assert not is_loopback("metrics.example.com")
