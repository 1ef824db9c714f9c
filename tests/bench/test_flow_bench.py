from __future__ import annotations

import json

import pytest

from hft.bench import flow_bench


def test_flow_bench_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert flow_bench.main(["--seconds", "5", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["benchmark"] == "sim_flow"
    assert res["flow"]["actions"] > 0 and res["flow"]["events"] > 0
    assert res["replay"]["rows"] == res["record"]["rows"] > 0
    assert res["replay"]["trades_noted"] == 0
    assert res["flow_vs_engine"] > 0


def test_flow_bench_rejects_bad_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        flow_bench.main(["--seconds", "0"])
    assert "--seconds" in capsys.readouterr().err
