"""``hft bench ring`` smoke test: tiny counts, every transport, JSON with the documented keys."""

from __future__ import annotations

import json

import pytest

from hft.cli import main


@pytest.mark.timeout(120)
def test_bench_ring_json(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["bench", "ring", "--json", "--messages", "500", "--latency-messages", "50",
               "--interval-us", "20", "--capacity", "64", "--size", "48"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["benchmark"] == "ring" and out["message_bytes"] == 48
    assert set(out["results"]) == {"ring", "ring_yield", "mp_queue", "pipe"}
    for kind, r in out["results"].items():
        assert r["errors"] == 0, kind
        assert r["msgs_per_s"] > 0
        lat = r["latency_ns"]
        assert lat["count"] == 50
        assert 0 < lat["p50"] <= lat["p99"] <= lat["max"]
    assert {"ring_over_mp_queue_msgs_per_s", "ring_over_pipe_msgs_per_s", "ring_yield_over_pipe_msgs_per_s",
            "mp_queue_over_ring_p50_latency", "pipe_over_ring_p99_latency"} <= set(out["ratios"])


@pytest.mark.timeout(60)
def test_bench_ring_pinned_subset_and_text(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["bench", "ring", "--messages", "200", "--latency-messages", "20", "--transports", "ring",
               "--pin", "0,0"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "ring" in text and "mp_queue" not in text


@pytest.mark.parametrize("argv, message", [
    (["--transports", "carrier_pigeon"], "unknown transport"),
    (["--size", "8"], "at least 16"),
    (["--capacity", "100"], "power of two"),
    (["--messages", "0"], "--messages must be >= 1"),
])
def test_bench_ring_bad_arguments(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "ring", *argv]) == 2
    assert message in capsys.readouterr().err


def test_bench_ring_restores_affinity(capsys: pytest.CaptureFixture[str]) -> None:
    import os

    before = os.sched_getaffinity(0)
    assert main(["bench", "ring", "--messages", "10", "--latency-messages", "5", "--transports", "pipe",
                 "--pin", "0,0"]) == 0
    assert os.sched_getaffinity(0) == before


@pytest.mark.timeout(60)
@pytest.mark.parametrize("transport", ["ring", "pipe"])
def test_bench_ring_reports_a_dead_consumer(transport: str, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """The consumer is forked, so a patched _consume is what the child runs: it dies at once. The
    producer must notice (ring: liveness check while full; pipe: EPIPE) instead of hanging."""
    import os

    from hft.bench import ring_bench

    monkeypatch.setattr(ring_bench, "_consume", lambda *a: os._exit(3))
    rc = main(["bench", "ring", "--messages", "5000", "--latency-messages", "5", "--capacity", "16",
               "--transports", transport])
    assert rc == 2
    err = capsys.readouterr().err
    why = " (broken pipe)" if transport == "pipe" else ""  # pipe: EPIPE on write; ring: liveness check
    assert err == f"hft bench ring: {transport}: the consumer process died{why}\n"
