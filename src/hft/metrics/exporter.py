"""Prometheus exporter: a custom collector over :class:`EngineStats`, served by prometheus_client.

Binds 127.0.0.1:9090 by default. Metric names are documented in ``docs/metrics.md`` and used by the
Grafana dashboard in ``docs/grafana/hft-dashboard.json``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from hft.metrics.latency import LatencyHistogram
from hft.metrics.stats import STATES, EngineStats

_COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("md_messages", "hft_md_messages", "Market data messages received"),
    ("md_gaps", "hft_md_gaps", "Market data gaps or book inconsistencies detected"),
    ("book_updates", "hft_book_updates", "Book level updates applied"),
    ("orders_sent", "hft_orders_sent", "New orders sent to the venue"),
    ("orders_acked", "hft_orders_acked", "Orders acknowledged by the venue"),
    ("orders_rejected", "hft_orders_rejected", "Orders rejected by the venue"),
    ("risk_rejected", "hft_risk_rejected", "Orders refused by pre-trade risk checks"),
    ("cancels_sent", "hft_cancels_sent", "Cancel requests sent"),
    ("replaces_sent", "hft_replaces_sent", "Cancel/replace requests sent"),
    ("fills", "hft_fills", "Fills received"),
    ("filled_qty", "hft_filled_shares", "Shares filled"),
)


def histogram_family(name: str, doc: str, hist: LatencyHistogram,
                     labels: dict[str, str] | None = None) -> HistogramMetricFamily:
    labels = labels or {}
    fam = HistogramMetricFamily(name, doc, labels=list(labels))
    buckets = [(("+Inf" if le == float("inf") else repr(le)), c) for le, c in hist.cumulative()]
    fam.add_metric(list(labels.values()), buckets, hist.sum_ns / 1e9)
    return fam


class TradingCollector(Collector):
    """Reads :class:`EngineStats` (and optional extra histograms) when Prometheus scrapes."""

    def __init__(self, stats: EngineStats, extra_histograms: Iterable[LatencyHistogram] = (),
                 extra: Callable[[], Iterable[Metric]] | None = None) -> None:
        self.stats = stats
        self.extra_histograms = list(extra_histograms)
        self.extra = extra

    def collect(self) -> Iterable[Metric]:
        s = self.stats
        for attr, name, doc in _COUNTERS:
            yield CounterMetricFamily(name, doc, value=getattr(s, attr))
        yield CounterMetricFamily("hft_fees_cents", "Commission paid, cents", value=s.fees_cents)
        yield GaugeMetricFamily("hft_realized_pnl_cents", "Realised P&L, cents", value=s.realized_pnl_cents)
        yield GaugeMetricFamily("hft_unrealized_pnl_cents", "Unrealised P&L, cents",
                                value=s.unrealized_pnl_cents)
        yield GaugeMetricFamily("hft_net_pnl_cents", "Realised + unrealised - fees, cents",
                                value=s.realized_pnl_cents + s.unrealized_pnl_cents - s.fees_cents)
        ks = GaugeMetricFamily("hft_kill_switch_tripped", "1 when the kill switch is tripped",
                               labels=["reason"])
        ks.add_metric([s.kill_switch_reason], s.kill_switch_tripped)
        yield ks
        pos = GaugeMetricFamily("hft_position_shares", "Net position", labels=["instrument"])
        for inst, qty in list(s.positions.items()):
            pos.add_metric([inst], qty)
        yield pos
        yield histogram_family("hft_tick_to_trade_seconds",
                               "Market data receive to order write, in-process", s.tick_to_trade)
        for h in self.extra_histograms:
            yield histogram_family(f"hft_{h.name}_seconds", f"{h.name} latency", h)
        state = GaugeMetricFamily("hft_fix_session_state", "FIX session state (1 = current)",
                                  labels=["session", "state"])
        seq_out = GaugeMetricFamily("hft_fix_next_sender_seq", "Next outgoing MsgSeqNum",
                                    labels=["session"])
        seq_in = GaugeMetricFamily("hft_fix_next_target_seq", "Next expected incoming MsgSeqNum",
                                   labels=["session"])
        msgs = CounterMetricFamily("hft_fix_messages", "FIX messages", labels=["session", "direction"])
        rej = CounterMetricFamily("hft_fix_rejects", "FIX session rejects", labels=["session", "direction"])
        for name, ss in list(s.sessions.items()):
            for st in STATES:
                state.add_metric([name, st], 1 if ss.state == st else 0)
            seq_out.add_metric([name], ss.next_sender_seq)
            seq_in.add_metric([name], ss.next_target_seq)
            msgs.add_metric([name, "in"], ss.messages_in)
            msgs.add_metric([name, "out"], ss.messages_out)
            rej.add_metric([name, "in"], ss.rejects_in)
            rej.add_metric([name, "out"], ss.rejects_out)
        yield from (state, seq_out, seq_in, msgs, rej)
        if self.extra is not None:
            yield from self.extra()


@dataclass
class MetricsServer:
    """A running exporter; ``close()`` stops it."""

    host: str
    port: int
    registry: CollectorRegistry
    _server: object
    _thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()  # type: ignore[attr-defined]
        self._server.server_close()  # type: ignore[attr-defined]
        self._thread.join(timeout=5)


def start_metrics_server(collector: Collector, host: str = "127.0.0.1", port: int = 9090,
                         registry: CollectorRegistry | None = None) -> MetricsServer:
    """Serve ``collector`` over HTTP on ``host:port`` (port 0 picks a free port)."""
    reg = registry or CollectorRegistry(auto_describe=False)
    reg.register(collector)
    server, thread = start_http_server(port, addr=host, registry=reg)
    actual_port = server.server_address[1]
    return MetricsServer(host, actual_port, reg, server, thread)
