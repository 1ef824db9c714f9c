"""The mypyc-compiled build (setup.py, hft._native): present, fresh, identical to the interpreted source."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import pytest

from hft import _native
from hft.backtest.synth import generate
from hft.data.format import write_events

HOT = ["hft.engine.risk", "hft.engine.orders", "hft.engine.fix_md", "hft.engine.fix_gateway", "hft.book.l2",
       "hft.fix.encoder", "hft.backtest.engine", "hft.strategies.market_maker"]
STATUS = ("import json, importlib, sys\nfrom hft import _native\n"
          "for m in sys.argv[1:]:\n    importlib.import_module(m)\nprint(json.dumps(_native.status()))\n")


def _env(pure: bool) -> dict[str, str]:
    env = dict(os.environ)
    env.pop(_native.PURE_ENV, None)
    if pure:
        env[_native.PURE_ENV] = "1"
    return env


def _status(pure: bool) -> dict:
    out = subprocess.run([sys.executable, "-c", STATUS, *HOT], env=_env(pure), capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def test_compiled_build_is_present_and_not_stale(unavailable: Callable[[str], NoReturn]) -> None:
    st = _status(pure=False)
    assert st["stale"] == [], f"rebuild with `make build`: {st['stale']}"
    if not st["built"]:
        unavailable("no mypyc build: installed with HFT_NO_COMPILE? (pip install -e . compiles it)")
    assert set(HOT) <= set(st["loaded_compiled"])


def test_pure_python_switch_loads_the_source() -> None:
    st = _status(pure=True)
    assert st["pure_python"] is True and st["loaded_compiled"] == []


def test_stale_extension_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "hft" / "engine"
    pkg.mkdir(parents=True)
    ext = pkg / ("risk" + _native._EXT_SUFFIXES[0])
    src = pkg / "risk.py"
    ext.write_bytes(b"")
    src.write_text("")
    os.utime(ext, (1_000_000, 1_000_000))
    os.utime(src, (2_000_000, 2_000_000))  # the source edited after the build
    monkeypatch.setattr(_native, "_PKG_DIR", str(tmp_path / "hft"))
    assert _native.stale_extensions() == ["hft.engine.risk"]
    os.utime(ext, (3_000_000, 3_000_000))
    assert _native.stale_extensions() == []


@pytest.mark.timeout(120)
def test_compiled_and_interpreted_backtests_are_identical(tmp_path: Path) -> None:
    """The same market-making backtest on both builds: every summary number equal (wall time aside)."""
    day = tmp_path / "day.parquet"
    write_events(day, generate(60_000, seed=11))
    cfg = tmp_path / "mm.toml"
    cfg.write_text('[backtest]\ninstrument = "BHP"\nentry_latency_ns = 200000\nresponse_latency_ns = 200000\n'
                   'seed = 3\nqueue_power = 3.0\n\n[strategy]\nname = "market_maker"\n\n[fees]\n'
                   'model = "ibkr_fixed"\n')
    out = {}
    for pure in (False, True):
        cmd = [sys.executable, "-m", "hft.cli", "backtest", "--config", str(cfg), "--data", str(day),
               "--json", "--no-progress"]
        r = subprocess.run(cmd, env=_env(pure), capture_output=True, text=True, check=True)
        s = json.loads(r.stdout)
        for k in ("wall_s", "events_per_s"):
            s.pop(k, None)
        out[pure] = s
    assert out[False]["maker_fills"] > 0 and out[False]["strategy_calls"] > 0
    assert out[False] == out[True]
