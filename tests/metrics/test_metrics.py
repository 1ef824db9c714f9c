import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from hft.metrics import EngineStats, LatencyHistogram, SessionStats, TradingCollector, start_metrics_server


def test_histogram_buckets_and_percentiles() -> None:
    h = LatencyHistogram("t", bounds_ns=(10, 20, 50))
    for v in (5, 10, 11, 20, 49, 50, 51, 1000):
        h.record(v)
    # le semantics: a value equal to a bound counts in that bound's bucket
    assert h.bucket_counts() == [2, 2, 2, 2]
    assert h.cumulative() == [(10 / 1e9, 2), (20 / 1e9, 4), (50 / 1e9, 6), (float("inf"), 8)]
    assert h.count == 8 and h.max_ns == 1000 and h.min_ns == 5
    assert 10 <= h.percentile(50) <= 20
    assert h.percentile(100) == 1000


def scrape(url: str) -> dict[str, dict[tuple, float]]:
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    out: dict[str, dict[tuple, float]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_scrape_over_http_reflects_live_stats() -> None:
    stats = EngineStats()
    stats.sessions["ORD"] = SessionStats("ORD", state="active", next_sender_seq=7, next_target_seq=9)
    server = start_metrics_server(TradingCollector(stats), host="127.0.0.1", port=0)
    try:
        assert server.url.startswith("http://127.0.0.1:")
        m = scrape(server.url)
        assert m["hft_orders_sent_total"][()] == 0
        stats.orders_sent += 3
        stats.fills += 2
        stats.fees_cents += 1200
        stats.realized_pnl_cents += 5000
        stats.positions["BHP"] = -300
        stats.kill_switch_tripped = 1
        stats.kill_switch_reason = "daily_loss"
        for ns in (12_000, 18_000, 400_000):
            stats.tick_to_trade.record(ns)
        m = scrape(server.url)
        assert m["hft_orders_sent_total"][()] == 3
        assert m["hft_fills_total"][()] == 2
        assert m["hft_net_pnl_cents"][()] == 3800
        assert m["hft_position_shares"][(("instrument", "BHP"),)] == -300
        assert m["hft_kill_switch_tripped"][(("reason", "daily_loss"),)] == 1
        assert m["hft_tick_to_trade_seconds_count"][()] == 3
        assert m["hft_tick_to_trade_seconds_bucket"][(("le", "2e-05"),)] == 2
        assert m["hft_fix_next_sender_seq"][(("session", "ORD"),)] == 7
        assert m["hft_fix_session_state"][(("session", "ORD"), ("state", "active"))] == 1
    finally:
        server.close()


def test_grafana_dashboard_uses_exported_metric_names() -> None:
    import json
    import re
    from pathlib import Path

    dash = json.loads((Path(__file__).resolve().parents[2] / "docs/grafana/hft-dashboard.json").read_text())
    stats = EngineStats()
    stats.sessions["S"] = SessionStats("S")
    stats.positions["X"] = 1
    exported = set()
    for fam in TradingCollector(stats).collect():
        exported.update(s.name for s in fam.samples)
    used = set()
    for p in dash["panels"]:
        for t in p["targets"]:
            used.update(re.findall(r"hft_[a-z0-9_]+", t["expr"]))
    assert used, "dashboard has no queries"
    assert used <= exported, f"dashboard queries unknown metrics: {sorted(used - exported)}"
