"""``hft bench fix`` runs with a tiny iteration count and prints JSON with the expected keys."""

from __future__ import annotations

import json

import pytest

from hft.cli import main


def test_bench_fix_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "fix", "--json", "--iterations", "3", "--repeats", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["benchmark"] == "fix" and out["unit"] == "ns_per_message"
    assert set(out["results"]) == {"parse_md_x", "parse_exec_report", "encode_nos"}
    for op, libs in out["results"].items():
        assert {"hft", "simplefix", "quickfix"} <= set(libs)
        assert libs["hft"] > 0
        assert set(out["ratios"][op]) == {"simplefix_over_hft", "quickfix_over_hft"}
    assert out["libraries"]["simplefix"] == "installed"
    assert out["libraries"]["quickfix"] in ("installed", "not installed")
    if out["libraries"]["quickfix"] == "not installed":
        assert out["results"]["parse_md_x"]["quickfix"] is None
    assert out["message_bytes"]["parse_md_x"] > 200


def test_bench_fix_without_quickfix(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "quickfix", None)  # makes `import quickfix` raise ImportError
    assert main(["bench", "fix", "--json", "--iterations", "2", "--repeats", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["libraries"]["quickfix"] == "not installed"
    assert all(out["results"][op]["quickfix"] is None for op in out["results"])
    assert all(out["ratios"][op]["quickfix_over_hft"] is None for op in out["ratios"])
