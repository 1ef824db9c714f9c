"""``hft bench tws`` end to end (short run): exit 0, JSON with the pass metric and per-row timings."""

from __future__ import annotations

import json
import os

import pytest

if os.environ.get("CI", "").lower() != "true":
    pytest.importorskip("ib_async")

from hft.cli import main


def test_bench_tws_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "tws", "--rows", "3000", "--seed", "3", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["ok"] and res["mismatches"] == 0 and res["rows_reference"] == res["rows_sent"] >= 3000
    da = res["decode_apply_ns"]
    assert da["p50"] > 0 and da["p99"] >= da["p50"]
