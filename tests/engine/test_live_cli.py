"""``hft live`` refuses without --live AND mode = "live"; credentials only from the environment or a
private file outside the repository; with both locks open it trades (here: against the simulator)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hft.engine.config import ConfigError
from hft.engine.live_cli import load_credentials_file, main

REPO = Path(__file__).resolve().parents[2]
HFT = [sys.executable, "-c", "import sys; from hft.cli import main; sys.exit(main())"]


def live_config(tmp_path: Path, port: int = 4101, md_port: int = 9879, mode: str = "live") -> Path:
    p = tmp_path / "live.toml"
    p.write_text(f"""
mode = "{mode}"
[venue]
host = "127.0.0.1"
port = {port}
username_env = "HFT_TEST_FIX_USER"
password_env = "HFT_TEST_FIX_PASS"
store_dir = "{tmp_path / 'store'}"
[market_data]
port = {md_port}
[journal]
path = "{tmp_path / 'journal.bin'}"
[metrics]
port = 0
[sim]
embedded = false
""")
    return p


def run_cli(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("HFT_TEST_FIX")}
    e.update(env or {})
    return subprocess.run([*HFT, "live", *args], capture_output=True, text=True, timeout=60, env=e)


@pytest.fixture
def no_creds(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in list(os.environ):
        if k.startswith("HFT_TEST_FIX"):
            monkeypatch.delenv(k)


def test_refuses_without_the_live_flag(tmp_path: Path) -> None:
    r = run_cli(["--config", str(live_config(tmp_path))])  # (one real process: the command itself)
    assert r.returncode == 2 and "--live flag was not given" in r.stderr


def test_refuses_a_paper_config_even_with_the_flag(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "paper.toml"
    cfg.write_text('mode = "paper"\n')
    assert main(["--live", "--config", str(cfg)]) == 2
    assert "not \"live\"" in capsys.readouterr().err
    assert main(["--live"]) == 2  # no config at all: the built-in defaults are paper
    assert "--config" in capsys.readouterr().err


def test_refuses_without_credentials_in_the_environment(tmp_path: Path, no_creds: None,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--live", "--config", str(live_config(tmp_path))]) == 2
    assert "HFT_TEST_FIX_USER is not set" in capsys.readouterr().err


def test_credentials_file_must_be_private_and_outside_the_repo(tmp_path: Path) -> None:
    names = ("HFT_TEST_FIX_USER", "HFT_TEST_FIX_PASS")
    f = tmp_path / "creds"
    f.write_text("# ibkr\nHFT_TEST_FIX_USER=alice\nHFT_TEST_FIX_PASS = s3cret\nOTHER=x\n")
    f.chmod(0o644)
    with pytest.raises(ConfigError, match="group/others"):
        load_credentials_file(str(f), names, {})
    f.chmod(0o600)
    env: dict[str, str] = {}
    assert load_credentials_file(str(f), names, env) == list(names)
    assert env == {"HFT_TEST_FIX_USER": "alice", "HFT_TEST_FIX_PASS": "s3cret"}  # OTHER is not taken
    inside = REPO / "src" / "hft" / "engine" / "creds-test-never-created"
    with pytest.raises(ConfigError, match="inside the repository"):
        load_credentials_file(str(inside), names, {})
    bad = tmp_path / "bad"
    bad.write_text("no equals sign\n")
    bad.chmod(0o600)
    with pytest.raises(ConfigError, match=r"bad:1: expected NAME=value"):
        load_credentials_file(str(bad), names, {})


def test_config_with_a_literal_password_is_refused(tmp_path: Path) -> None:
    cfg = live_config(tmp_path)
    cfg.write_text(cfg.read_text().replace("[venue]\n", "[venue]\npassword = \"hunter2\"\n"))
    assert main(["--live", "--config", str(cfg)]) == 2


@pytest.mark.timeout(90)
def test_both_locks_open_trades_against_the_simulator(tmp_path: Path) -> None:
    from hft.sim import server
    from hft.sim.config import SimConfig

    with server.SimServer(SimConfig.default(metrics_enabled=False)) as sim:
        cfg = live_config(tmp_path, sim.order_port, sim.md_port)
        creds = tmp_path / "creds"
        creds.write_text("HFT_TEST_FIX_USER=alice\nHFT_TEST_FIX_PASS=s3cret\n")
        creds.chmod(0o600)
        r = run_cli(["--live", "--config", str(cfg), "--credentials-file", str(creds), "--duration", "2",
                     "--json"])
        assert r.returncode == 0, r.stderr[-3000:]
        assert "LIVE trading" in r.stderr
        s = json.loads(r.stdout.strip().splitlines()[-1])
        assert s["embedded_sim"] is False and s["venue"] == f"127.0.0.1:{sim.order_port}"
        assert sim.stats()["gateway"]["logons"] >= 1


@pytest.mark.parametrize(("key", "value"), [("sender_comp_id", "YOUR_SENDER_COMP_ID"),
                                            ("account", "YOUR_ACCOUNT"),
                                            ("host", "fix-gateway.example.invalid")])
def test_placeholders_from_the_example_are_refused(tmp_path: Path, key: str, value: str,
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HFT_TEST_FIX_USER", "alice")
    monkeypatch.setenv("HFT_TEST_FIX_PASS", "s3cret")
    cfg = live_config(tmp_path)
    text = cfg.read_text().replace("[venue]\n", f"[venue]\n{key} = \"{value}\"\n")
    cfg.write_text(text.replace('host = "127.0.0.1"\n', "") if key == "host" else text)
    assert main(["--live", "--config", str(cfg)]) == 2  # refused before connecting anywhere
    err = capsys.readouterr().err
    assert f"venue.{key} = '{value}'" in err and "placeholder" in err


def test_the_shipped_example_is_refused_for_its_placeholders(capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HFT_IBKR_FIX_USERNAME", "alice")
    monkeypatch.setenv("HFT_IBKR_FIX_PASSWORD", "s3cret")
    assert main(["--live", "--config", str(REPO / "config" / "live.example.toml")]) == 2
    err = capsys.readouterr().err
    assert "YOUR_SENDER_COMP_ID" in err and "YOUR_ACCOUNT" in err and "example.invalid" in err


def test_live_forces_the_reference_price_requirement(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """QA 2: a live limit order before any market data skipped the price band (require_reference off)."""
    import hft.engine.live_cli as live_cli
    from hft.engine.config import Config

    monkeypatch.setenv("HFT_TEST_FIX_USER", "alice")
    monkeypatch.setenv("HFT_TEST_FIX_PASS", "s3cret")
    seen: list[Config] = []

    def fake_run(cfg: Config, args: object, *, title: str, metrics_fallback: bool) -> int:
        seen.append(cfg)
        return 0

    monkeypatch.setattr(live_cli, "run", fake_run)
    cfg = live_config(tmp_path)
    cfg.write_text(cfg.read_text() + "[risk]\nrequire_reference = false\n")
    assert main(["--live", "--config", str(cfg)]) == 0
    assert seen[0].risk.require_reference is True
    assert "risk.require_reference = false is overridden to true" in capsys.readouterr().err
    from hft.engine.risk import NO_REFERENCE_PRICE
    from hft.engine.runner import TradingEngine  # the engine's risk limits follow the config
    from hft.model.types import Side

    class NoGateway:
        def set_sinks(self, *a: object) -> None: ...
        def send_new(self, order: object) -> bool: return True

    eng = TradingEngine(seen[0], NoGateway())  # type: ignore[arg-type]
    assert eng.risk.check("BHP", Side.BUY, 451_200, 10) == NO_REFERENCE_PRICE
