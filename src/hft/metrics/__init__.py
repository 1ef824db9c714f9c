"""Prometheus metrics: hot-path-safe counters and histograms, exported at scrape time.

The trading hot path never touches ``prometheus_client`` objects (their ``inc()`` takes a lock). It
bumps plain ``int`` fields of :class:`~hft.metrics.stats.EngineStats` and records latencies into a
preallocated :class:`~hft.metrics.latency.LatencyHistogram`; the :class:`~hft.metrics.exporter.
TradingCollector` reads them when Prometheus scrapes (on the exporter's HTTP thread).
"""

from hft.metrics.exporter import MetricsServer, TradingCollector, start_metrics_server
from hft.metrics.latency import DEFAULT_BOUNDS_NS, LatencyHistogram
from hft.metrics.stats import EngineStats, SessionStats

__all__ = [
    "DEFAULT_BOUNDS_NS",
    "EngineStats",
    "LatencyHistogram",
    "MetricsServer",
    "SessionStats",
    "TradingCollector",
    "start_metrics_server",
]
