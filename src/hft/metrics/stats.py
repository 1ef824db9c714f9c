"""Plain-int statistics the hot path bumps; read by the exporter at scrape time."""

from __future__ import annotations

from dataclasses import dataclass, field

from hft.metrics.latency import LatencyHistogram


@dataclass(slots=True)
class SessionStats:
    """One FIX session's state, for metrics (the session layer or its owner keeps it current)."""

    name: str
    state: str = "disconnected"  # disconnected / logging_on / active / logging_out
    next_sender_seq: int = 1
    next_target_seq: int = 1
    messages_in: int = 0
    messages_out: int = 0
    rejects_in: int = 0
    rejects_out: int = 0
    resend_requests: int = 0
    disconnects: int = 0


STATES = ("disconnected", "connecting", "logging_on", "active", "logging_out")


@dataclass(slots=True)
class EngineStats:
    """Counters of the trading engine. Only ints and dicts of ints: safe to bump on the hot path."""

    md_messages: int = 0
    md_gaps: int = 0
    book_updates: int = 0
    orders_sent: int = 0
    orders_acked: int = 0
    orders_rejected: int = 0
    risk_rejected: int = 0
    cancels_sent: int = 0
    replaces_sent: int = 0
    fills: int = 0
    filled_qty: int = 0
    fees_cents: int = 0
    realized_pnl_cents: int = 0
    unrealized_pnl_cents: int = 0
    kill_switch_tripped: int = 0  # 0/1
    kill_switch_reason: str = ""
    positions: dict[str, int] = field(default_factory=dict)
    tick_to_trade: LatencyHistogram = field(
        default_factory=lambda: LatencyHistogram("tick_to_trade"))
    sessions: dict[str, SessionStats] = field(default_factory=dict)
