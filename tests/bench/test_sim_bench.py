"""`hft bench sim` runs end to end on a tiny load and prints one JSON document (no timing asserted)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.timeout(120)
def test_sim_bench_json_shape() -> None:
    r = subprocess.run([sys.executable, "-m", "hft.cli", "bench", "sim", "--orders", "200", "--window", "40",
                        "--seconds", "0.5", "--subscribers", "2", "--flow-rate", "5", "--json"],
                       capture_output=True, text=True, timeout=110)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    runs = out["order_entry"]
    assert [x["store"] for x in runs] == ["memory", "file/batch", "memory"]
    for x in runs:
        assert x["orders"] == 200 and x["exec_reports"] == 300 and x["orders_per_s"] > 0
        assert x["server"]["gateway"]["new"] == 150 and x["server"]["gateway"]["cancel"] == 50
        assert x["server"]["gateway"]["internal_errors"] == 0 and x["server"]["trades"] == 50
        assert x["server_messages_per_read"] >= 1 and x["client_cpu_s"] >= 0 and x["server_cpu_user_s"] >= 0
    assert runs[2]["md_subscribers"] == 2 and runs[2]["md_x_received"] >= 2 * 150
    md = out["market_data"]
    assert md["subscribers"] == 2 and md["md_x_received"] > 0 and md["entries_per_s"] > 0
    assert out["machine"]["cpus"] >= 1


@pytest.mark.timeout(120)
def test_sim_bench_in_process_layers() -> None:
    """--in-process: the server's CPU per message by layer, no sockets; every order answered."""
    r = subprocess.run([sys.executable, "-m", "hft.cli", "bench", "sim", "--in-process", "--orders", "400",
                        "--reps", "1", "--subscribers", "2", "--json"],
                       capture_output=True, text=True, timeout=110)
    assert r.returncode == 0, r.stderr
    ip = json.loads(r.stdout)["in_process"]
    assert set(ip["cpu_us_per_message"]) == {"parse", "session", "gateway", "full"}
    assert set(ip["cpu_us_per_message_by_layer"]) == {"parse", "session", "gateway_matching_reports",
                                                      "market_data"}
    assert ip["messages_per_cpu_s"] > 0 and ip["order_bytes"] > 0 and ip["md_bytes"] > 0
    assert ip["order_writes"] == 400 // 16 + 1 + (1 if 400 % 16 else 0)  # one write per read (+ the logon)
