"""The live status line and the final summary of ``hft paper`` / ``hft live`` (rich).

:class:`StatusLine` is what :class:`hft.engine.runner.HostOptions` calls twice a second (cold path, on the
engine's loop between events): one line with the book, position, orders, P&L, fees, tick-to-trade and the
FIX session states. On a terminal it is a ``rich.live.Live`` line redrawn in place; otherwise a plain
line is printed every ``plain_every`` seconds (logs stay readable). :func:`summary_table` renders the
summary dict returned by :func:`hft.engine.runner.run_trading`.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from hft.asx.ticks import format_price


def dollars(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    c = abs(cents)
    return f"{sign}${c // 100:,}.{c % 100:02d}"


def price(units: int) -> str:
    """A price for people: at least two decimals ($45 -> "45.00", 0.4805 stays)."""
    if not units:
        return "-"
    s = format_price(units)
    whole, _, frac = s.partition(".")
    return f"{whole}.{frac:0<2}"


def status_text(engine: Any, host: Any, elapsed_s: float) -> Text:
    """One status line (see module doc)."""
    st = engine.stats
    p = engine.positions
    t = Text()
    t.append(f"{elapsed_s:6.1f}s ", style="dim")
    for inst in engine.instruments[:3]:
        b = engine.books[inst]
        t.append(f"{inst} ", style="bold")
        if b.stale:
            t.append("STALE ", style="yellow")
        t.append(f"{price(b.best_bid())}/{price(b.best_ask())} pos {p.position(inst)}  ")
    t.append(f"ord {st.orders_sent} ack {st.orders_acked} rej {st.orders_rejected + st.risk_rejected} "
             f"fill {st.fills} open {len(engine.om.open_orders())}  ")
    net = p.net_pnl_cents()
    t.append("P&L ")
    t.append(dollars(net), style="green" if net >= 0 else "red")
    t.append(f" (fees {dollars(p.fees_cents)})  ")
    lat = st.tick_to_trade
    if lat.count:
        t.append(f"t2t p50 {lat.percentile(50) / 1e3:.0f}us p99 {lat.percentile(99) / 1e3:.0f}us  ")
    for name, ss in st.sessions.items():
        t.append(f"{name} ", style="dim")
        t.append(ss.state, style="green" if ss.state == "active" else "yellow")
        t.append(f" {ss.next_sender_seq}/{ss.next_target_seq} ", style="dim")
    if engine.killed:
        t.append(f" KILL SWITCH: {engine.kill_reason}", style="bold red")
    return t


class StatusLine:
    """``update(engine, host)`` / ``close()`` for :class:`~hft.engine.runner.HostOptions.status`."""

    def __init__(self, console: Console | None = None, *, live: bool | None = None,
                 plain_every: float = 5.0) -> None:
        self.console = console or Console(stderr=True)
        self.live_mode = self.console.is_terminal if live is None else live
        self.plain_every = plain_every
        self._live: Live | None = None
        self._t0 = time.monotonic()
        self._last_plain = 0.0

    def update(self, engine: Any, host: Any) -> None:
        now = time.monotonic()
        line = status_text(engine, host, now - self._t0)
        if self.live_mode:
            if self._live is None:
                self._live = Live(line, console=self.console, refresh_per_second=4, transient=True)
                self._live.start()
            else:
                self._live.update(line)
        elif now - self._last_plain >= self.plain_every:
            self._last_plain = now
            self.console.print(line, soft_wrap=True)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def summary_table(s: dict[str, Any], title: str = "paper session") -> Table:
    """The final summary (the dict from run_trading) as a two-column table."""
    tb = Table(title=title, show_header=False, title_justify="left")
    tb.add_column("what", style="bold")
    tb.add_column("value")
    lat = s.get("tick_to_trade_us", {})
    ks = s.get("kill_switch", {})
    rows = [
        ("venue", f"{s.get('venue', '')}{' (embedded simulator)' if s.get('embedded_sim') else ''}"),
        ("market data", str(s.get("market_data", ""))),
        ("duration", f"{s.get('duration_s', 0)} s"),
        ("orders", f"{s['orders']} sent, {s['orders_acked']} acked, {s['orders_rejected']} rejected by the "
                   f"venue, {s['risk_rejected']} refused by risk; {s['cancels']} cancels, "
                   f"{s['replaces']} replaces; {s['open_orders']} open at the end"),
        ("fills", f"{s['fills']} ({s['filled_qty']} shares)"),
        ("position", ", ".join(f"{k} {v}" for k, v in s["positions"].items()) or "flat"),
        ("P&L", f"realised {dollars(s['realized_pnl_cents'])}, "
                f"unrealised {dollars(s['unrealized_pnl_cents'])}, "
                f"fees {dollars(s['fees_cents'])}, net {dollars(s['net_pnl_cents'])}"),
        ("tick-to-trade", f"p50 {lat.get('p50', 0)} us, p99 {lat.get('p99', 0)} us, "
                          f"max {lat.get('max', 0)} us ({lat.get('count', 0)} new/replace orders sent "
                          "from market data)"),
        ("market data", f"{s['md_messages']} messages, {s['book_updates']} book updates, "
                        f"{s['md_gaps']} gaps"),
        ("kill switch", f"TRIPPED: {ks.get('reason')}" if ks.get("tripped") else "not tripped"),
        ("GC while trading", _gc_row(s.get("gc") or {})),
        ("journal", f"{s.get('journal', '')} (ClOrdID session {s.get('session', '')}, recovered "
                    f"{s.get('recovered_orders', 0)} orders)"),
    ]
    for k, v in rows:
        tb.add_row(k, v)
    return tb


def _gc_row(g: dict[str, Any]) -> str:
    """Collections after start-up, split into the engine timer's (between ticks, ``engine.gc_disable``)
    and the others (started by an allocation wherever it happened, a tick included)."""
    cols = g.get("collections")
    if not isinstance(cols, list):
        return "?"
    idle = int(g.get("idle_collections", 0))
    other = sum(cols) - idle
    return (f"collections per generation {cols}: {idle} run by the engine timer between ticks, {other} "
            f"started by an allocation; longest {g.get('pause_ns_max', 0) / 1000:.0f} us (after gc.freeze "
            f"of {g.get('frozen_objects', 0)} start-up objects)")
