"""``hft bench latency``: separate venue and engine processes over loopback, FIX both ways.

Checks the JSON shape and the bookkeeping (every order the venue counts echoes a tick it sent; the
engine answered the configured fraction), never timings.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from typing import NoReturn

import pytest

from hft.bench.latency import STAGES, run_breakdown, summarize
from hft.cli import main


@pytest.mark.timeout(120)
def test_wire_to_wire_both_loops(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["bench", "latency", "--duration", "1.5", "--rate", "500", "--fraction", "0.2", "--warmup",
               "0.3", "--breakdown-ticks", "200", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["benchmark"] == "latency" and out["fraction"] == 0.2 and out["venue"] == "stub"
    assert [r["loop"] for r in out["runs"]] == ["asyncio", "busy"]
    for r in out["runs"]:
        w = r["wire_to_wire_us"]
        assert set(w) >= {"count", "p50", "p90", "p99", "p99_9", "max"}
        assert w["count"] > 0
        assert w["p50"] <= w["p90"] <= w["p99"] <= w["p99_9"] <= w["max"]
        assert r["ticks_sent"] > 100
        # every order that reached the venue echoed a tick id it had sent, and was measured
        assert r["orders_unmatched"] == 0
        assert r["orders_matched_to_ticks"] == r["orders_received"] == w["count"]
        # the probe answers exactly floor(n * fraction) of the updates it saw
        e = r["engine"]
        assert e["answered"] == int(e["updates"] * 0.2)
        assert e["orders_sent"] == e["answered"] and e["risk_rejected"] == 0
        assert w["count"] <= e["answered"]
        # the engine's own recv->write, joined on the tick id with what the venue measured
        assert r["engine_recv_to_write_us"]["count"] == w["count"] == r["outside_engine_us"]["count"]
        assert len(r["load_before"]) == 3
        assert all(v >= 0 for v in r["cpu_steal_ms"].values())
        assert "_latencies_ns" not in r
        # the host's GC policy (engine.gc_disable by default): every collection after start-up is one the
        # engine timer ran between ticks, none started by an allocation inside a tick
        assert e["gc_policy"]["enabled"] is False
        assert sum(e["gc_collections_while_measured"]) == e["gc_idle_collections"]
        # the headline starts at the tick's kernel transmit stamp (where a capture on lo sees it): every
        # measured tick has one, it follows the venue's own stamp before its write, so each sample (and so
        # each percentile) is at most the write-based one
        if r["tx_stamps"]["mode"] != "software":  # the kernel refused transmit stamps: the write stamps
            assert r["wire_to_wire_basis"] == "venue_write" and r["tx_stamps"]["reason"]
            continue
        assert r["wire_to_wire_basis"] == "capture" and r["tx_stamps"]["stamped"] >= w["count"]
        wv = r["wire_to_wire_from_venue_write_us"]
        assert wv["count"] == w["count"]
        assert all(w[k] <= wv[k] for k in ("p50", "p90", "p99", "max", "min"))
        assert r["venue_send_us"]["count"] == w["count"] and r["venue_send_us"]["min"] >= 0
    assert "busy_vs_asyncio_p50_ratio" in out
    # the busy loop reads market data with kernel receive stamps: each sample splits into four parts
    busy = out["runs"][1]
    seg = busy["segments"]
    assert set(seg) == {"wire_in_us", "kernel_to_read_us", "engine_us", "wire_out_us"}
    assert all(v["count"] == busy["wire_to_wire_us"]["count"] for v in seg.values())
    assert busy["engine"]["sockopts"][1]["rx_timestamps"] in ("software", "timestampns")
    assert out["runs"][0]["segments"] == {}  # asyncio: its transport reads, no kernel stamps
    b = out["breakdown"]
    assert b["ticks"] == 200 and set(b["stages"]) == set(STAGES)
    assert b["tick_plain_us"]["p50"] > 0


@pytest.mark.timeout(60)
def test_breakdown_stages_cover_the_tick() -> None:
    b = run_breakdown(ticks=150, warmup=50)
    st = b["stages"]
    # md_decode: the fused 35=X path (frame, header and RptSeq checks, decode; FixSession.fast_reader);
    # fix_parse / fix_session only see the messages that take the general path (the snapshot, admin)
    for k in ("md_decode", "book_update", "strategy", "risk", "order_manager", "encode", "socket_write",
              "socket_read"):
        assert st[k]["mean_us"] > 0, k
    total = sum(v["mean_us"] for v in st.values())
    assert abs(total - b["tick_instrumented_us"]["mean"]) <= 0.05 * b["tick_instrumented_us"]["mean"] + 0.1


@pytest.mark.timeout(120)
def test_floor_client_plot_and_table(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path

    png = Path(str(tmp_path)) / "lat.png"
    assert main(["bench", "latency", "--duration", "0.8", "--loop", "floor", "--rate", "500",
                 "--warmup", "0.2", "--breakdown-ticks", "0", "--plot", str(png)]) == 0
    text = capsys.readouterr().out
    assert "wire-to-wire" in text and "floor" in text
    assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"
    # the trivial client speaks valid FIX: the venue matched every order it received to a tick
    assert main(["bench", "latency", "--duration", "0.8", "--loop", "floor", "--rate", "500",
                 "--warmup", "0.2", "--breakdown-ticks", "0", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)["runs"][0]
    assert r["wire_to_wire_us"]["count"] > 0 and r["orders_unmatched"] == 0
    assert r["orders_matched_to_ticks"] == r["orders_received"] == r["engine_recv_to_write_us"]["count"]


def test_summarize_and_bad_args() -> None:
    s = summarize([1000, 2000, 3000, 1_000_000])
    assert s["count"] == 4 and s["p50"] == 2.0 and s["max"] == 1000.4
    assert summarize([])["p50"] is None
    assert main(["bench", "latency", "--fraction", "0"]) == 2
    assert main(["bench", "latency", "--rate", "-1"]) == 2


@pytest.mark.timeout(120)
def test_with_the_exchange_simulator(capsys: pytest.CaptureFixture[str]) -> None:
    # the project's simulator (hft.sim.server) as the venue: its own wire-to-wire samples of our echoes
    assert main(["bench", "latency", "--venue", "sim", "--loop", "asyncio", "--duration", "1.5",
                 "--rate", "500", "--warmup", "0.3", "--breakdown-ticks", "0", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    r = out["runs"][0]
    assert out["venue"] == "sim" and r["venue"] == "sim"
    assert r["ticks_sent"] > 50 and r["wire_to_wire_us"]["count"] > 0
    assert r["wire_to_wire_us"]["count"] <= r["engine"]["answered"] == r["engine"]["orders_sent"]
    assert r["wire_to_wire_basis"] == "venue_write"  # the simulator's own stamps, no transmit stamps


@pytest.mark.timeout(120)
def test_uvloop_host(capsys: pytest.CaptureFixture[str], unavailable: Callable[[str], NoReturn]) -> None:
    if importlib.util.find_spec("uvloop") is None:  # the optional 'fast' extra: make install has it
        unavailable("uvloop not installed (pip install -e '.[fast]')")
    assert main(["bench", "latency", "--loop", "uvloop", "--duration", "0.8", "--rate", "500",
                 "--warmup", "0.2", "--breakdown-ticks", "0", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)["runs"][0]
    assert r["loop"] == "uvloop" and r["wire_to_wire_us"]["count"] > 0 and r["orders_unmatched"] == 0


@pytest.mark.timeout(120)
def test_busy_without_rx_stamps_reads_like_the_paper_host(capsys: pytest.CaptureFixture[str]) -> None:
    # --no-rx-stamps: the busy engine reads with plain recv_into (as run_busy does): no kernel stamps, so
    # no four-part split, and the same bookkeeping
    assert main(["bench", "latency", "--loop", "busy", "--no-rx-stamps", "--duration", "0.8", "--rate",
                 "500", "--warmup", "0.2", "--breakdown-ticks", "0", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    r = out["runs"][0]
    assert out["rx_stamps"] is False and r["rx_stamps"] is False
    assert r["wire_to_wire_us"]["count"] > 0 and r["orders_unmatched"] == 0 and r["segments"] == {}
    assert "rx_timestamps" not in r["engine"]["sockopts"][1]


@pytest.mark.timeout(180)
def test_product_side_by_side_with_the_benchmark_engine(capsys: pytest.CaptureFixture[str]) -> None:
    """--alternate: the benchmark engine, then an `hft paper` process (the product, its own defaults) against
    the same stub venue, measured the same way (kernel stamps of the tick and of the 35=D at the venue);
    the product reports its own wire-to-wire from kernel stamps (engine.wire_stamps) beside it."""
    rc = main(["bench", "latency", "--alternate", "1", "--loop", "busy", "--duration", "1.5", "--rate", "500",
               "--fraction", "0.2", "--warmup", "0.3", "--breakdown-ticks", "0", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["loop"] for r in out["runs"]] == ["busy", "paper-busy"]
    bench, paper = out["runs"]
    for r in (bench, paper):
        assert r["wire_to_wire_us"]["count"] > 20 and r["orders_unmatched"] == 0
        assert r["orders_matched_to_ticks"] == r["orders_received"]
    assert bench["engine"]["host"] == "hft.engine.host.assemble"  # the hosts' engine, not a copy
    assert paper["paper_loop"]["kind"] == "busy_poll" and paper["engine_process"].endswith(" paper")
    pw = paper["paper_wire_to_wire_us"]  # the product's own figure from the kernel stamps
    # (the whole session, warm-up included: the per-order join is tests/engine/test_busyloop.py's)
    assert pw["count"] >= paper["wire_to_wire_us"]["count"] and pw["p50"] > 0
    row = out["side_by_side"]["busy"]
    assert row["rounds"] == 1
    assert row["paper_vs_bench_p50"] == round(row["paper_p50_us"] / row["bench_p50_us"], 2)
