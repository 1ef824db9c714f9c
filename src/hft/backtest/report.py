"""Summary statistics (JSON) and the self-contained HTML report of a backtest."""

from __future__ import annotations

import base64
import html
import io
import math
from typing import Any

import numpy as np

from hft.asx.ticks import tick_size
from hft.backtest.engine import BacktestResult


def trade_pnls(res: BacktestResult) -> tuple[list[int], list[float], list[int]]:
    """Realised P&L (price units, before fees) of every position-reducing fill, average-cost method.

    Returns (P&L per closing fill, the same in ticks per share, timestamps)."""
    pos = 0
    cost = 0  # signed cost basis of the open position, price units
    pnls: list[int] = []
    ticks: list[float] = []
    ts: list[int] = []
    for f in res.fills:
        q = f.qty if f.side == 1 else -f.qty
        if pos == 0 or (pos > 0) == (q > 0):
            pos += q
            cost += q * f.price
            continue
        close = min(abs(q), abs(pos)) * (1 if q > 0 else -1)  # signed, opposite to pos
        avg = cost / pos
        pnl = round(-close * (f.price - avg))
        pnls.append(pnl)
        ticks.append(pnl / (abs(close) * tick_size(f.price)))
        ts.append(f.ts_ns)
        cost -= round(avg * -close)
        pos += close
        rest = q - close
        if pos == 0:
            cost = 0
        if rest:
            pos += rest
            cost += rest * f.price
    return pnls, ticks, ts


def equity_series(res: BacktestResult) -> np.ndarray:
    """Net equity in cents at every sample: cash + position at the mid (both in price units, 1/10,000 of a
    dollar: / 100 gives cents) - fees (cents). The summary and the report's plots both use it."""
    mid2 = np.asarray(res.samples_mid2, dtype=np.float64)
    pos = np.asarray(res.samples_pos, dtype=np.float64)
    cash = np.asarray(res.samples_cash, dtype=np.float64)
    fees = np.asarray(res.samples_fees, dtype=np.float64)
    return (cash + pos * mid2 / 2.0) / 100.0 - fees


def summary(res: BacktestResult) -> dict[str, Any]:
    """The JSON summary (money in integer cents). Definitions:

    * ``pnl_gross_cents``: cash + final position at the final mid, before fees; ``pnl_net_cents`` after.
    * ``trades``: our fills; ``closing_trades``: fills that reduced a position (average-cost method);
      ``win_rate`` and ``avg_profit_per_trade_ticks`` (per share, before fees) are over closing trades.
    * ``sharpe_per_minute``: mean / std of the net equity change per ``record_every_ns`` sample (one
      minute by default); ``sharpe_annualised`` scales it by sqrt(252 days x 360 ASX minutes).
    * ``max_drawdown_cents``: largest fall of sampled net equity from its running peak.
    * ``fill_ratio``: filled shares / shares of every order version sent (new orders and replacements).
    """
    equity_net = equity_series(res)  # cents
    gross = round((res.samples_cash[-1] + res.samples_pos[-1] * res.final_mid2 / 2.0) / 100.0) \
        if res.samples_ts else 0
    fee_total = sum(f.fee_cents for f in res.fills)
    pnls, ticks, _ = trade_pnls(res)
    wins = sum(1 for p in pnls if p > 0)
    per_min = np.diff(equity_net) if len(equity_net) > 1 else np.zeros(0)
    sd = float(per_min.std()) if len(per_min) > 1 else 0.0
    sharpe = float(per_min.mean() / sd) if sd > 0 else 0.0
    peak = np.maximum.accumulate(equity_net) if len(equity_net) else equity_net
    mdd = float((peak - equity_net).max()) if len(equity_net) else 0.0
    p = 0
    maxpos = 0
    for f in res.fills:
        p += f.qty if f.side == 1 else -f.qty
        maxpos = max(maxpos, abs(p))
    filled = sum(f.qty for f in res.fills)
    return {
        "pnl_gross_cents": gross,
        "fees_cents": fee_total,
        "pnl_net_cents": gross - fee_total,
        "trades": len(res.fills),
        "closing_trades": len(pnls),
        "volume_shares": filled,
        "win_rate": wins / len(pnls) if pnls else 0.0,
        "avg_profit_per_trade_ticks": float(np.mean(ticks)) if ticks else 0.0,
        "sharpe_per_minute": sharpe,
        "sharpe_annualised": sharpe * math.sqrt(252 * 6 * 60),
        "max_drawdown_cents": round(mdd),
        "max_position": maxpos,
        "orders_sent": res.orders_sent,
        "orders_refused": res.orders_refused,
        "refusals": dict(res.refusals),
        "kill_switch": res.kill_switch,
        "cancels_sent": res.cancels_sent,
        "maker_fills": sum(res.fill_maker),
        "fill_ratio": filled / res.qty_sent if res.qty_sent else 0.0,
        "events": res.events,
        "book_errors": res.book_errors,
        "strategy_calls": res.strategy_calls,
        "wall_s": round(res.wall_s, 3),
        "events_per_s": round(res.events / res.wall_s) if res.wall_s > 0 else 0,
    }


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def position_series(res: BacktestResult) -> tuple[np.ndarray, np.ndarray]:
    """Our position after every fill (exact, not sampled): timestamps and positions, starting flat at the
    first event and held to the last. Its largest absolute value is the summary's ``max_position``."""
    ts = [res.first_ts]
    pos = [0]
    p = 0
    for f in res.fills:
        p += f.qty if f.side == 1 else -f.qty
        ts.append(f.ts_ns)
        pos.append(p)
    if res.last_ts > ts[-1]:
        ts.append(res.last_ts)
        pos.append(p)
    return np.asarray(ts, dtype=np.int64), np.asarray(pos, dtype=np.int64)


def utc_offset_ns(ts_ns: int, timezone: str | None) -> int:
    """The venue's UTC offset at ``ts_ns`` (``hft.timezone`` of the data; UTC when unknown or invalid)."""
    if not timezone:
        return 0
    import datetime as dt
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return 0
    off = dt.datetime.fromtimestamp(ts_ns / 1e9, zone).utcoffset()
    return round(off.total_seconds() * 1e9) if off is not None else 0


def pnl_by_hour(res: BacktestResult, timezone: str | None = None) -> list[tuple[str, float]]:
    """Realised P&L (dollars, before fees) per clock hour of the venue (``"10:00"``; with the date when the
    run spans days), every hour from the first event's to the last one's, empty hours included."""
    off = utc_offset_ns(res.first_ts, timezone)
    hour = 3_600_000_000_000
    pnls, _, pts = trade_pnls(res)
    first = (res.first_ts + off) // hour
    last = (max([res.first_ts, res.last_ts, *pts]) + off) // hour
    sums = dict.fromkeys(range(first, last + 1), 0.0)
    for p, t in zip(pnls, pts, strict=True):
        sums[(t + off) // hour] += p / 1e4
    days = {h // 24 for h in sums}
    import datetime as dt

    def label(h: int) -> str:
        d = dt.datetime.fromtimestamp(h * 3600, dt.UTC)
        return d.strftime("%m-%d %H:00") if len(days) > 1 else d.strftime("%H:00")

    return [(label(h), v) for h, v in sums.items()]


def html_report(res: BacktestResult, summ: dict[str, Any], title: str = "Backtest", events: Any = None,
                timezone: str | None = None) -> str:
    """The self-contained HTML report. Times on the x axes are the venue's clock (``timezone``, the data's
    ``hft.timezone``; UTC when None). Position and fills are exact (every fill); equity, drawdown and the
    mid are the periodic samples (``backtest.record_every_ns``); ``events`` (the replayed
    :class:`EventArrays`) adds the market's trade prints at full resolution to the price plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    off = utc_offset_ns(res.first_ts, timezone)
    zone = timezone or "UTC"

    def clock(ts: Any) -> np.ndarray:
        return (np.asarray(ts, dtype=np.int64) + off).astype("datetime64[ns]")

    st = clock(res.samples_ts)
    mid2 = np.asarray(res.samples_mid2, dtype=np.float64)
    eq = equity_series(res) / 100.0  # dollars, net
    period_s = float(np.median(np.diff(res.samples_ts))) / 1e9 if len(res.samples_ts) > 2 else 0.0
    every = f"sampled every {period_s:g} s" if period_s else "sampled"
    imgs: list[tuple[str, str]] = []

    def plot(name: str, fn: Any, times: bool = True) -> None:
        fig, ax = plt.subplots(figsize=(8, 3))
        fn(ax)
        ax.set_title(name)
        ax.grid(alpha=0.3)
        if times:
            # matplotlib.dates carries no annotations (matplotlib 3.x types its core, not this module)
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))  # type: ignore[no-untyped-call]
            ax.set_xlabel(f"time ({zone})")
        imgs.append((name, _png(fig)))
        plt.close(fig)

    plot("Equity (net, $)", lambda ax: ax.plot(st, eq, label=every))
    dd = np.maximum.accumulate(eq) - eq if len(eq) else eq
    plot("Drawdown ($)", lambda ax: ax.fill_between(st, -dd, color="tab:red", alpha=0.5))
    pts, pos = position_series(res)
    plot("Position (shares)", lambda ax: ax.step(clock(pts), pos, where="post", label="after every fill"))
    fx = clock([f.ts_ns for f in res.fills])
    fp = np.asarray([f.price / 1e4 for f in res.fills])
    buys = np.asarray([f.side == 1 for f in res.fills], dtype=bool)

    def fills(ax: Any) -> None:
        if events is not None and len(events):
            tr = np.flatnonzero(events.kind == 2)
            if tr.size > 100_000:  # enough for a plot's width
                tr = tr[:: tr.size // 100_000 + 1]
            if tr.size:
                ax.plot(clock(events.ts_exch[tr]), events.price[tr] / 1e4, color="lightsteelblue", lw=0.6,
                        label="market trades")
        ok = mid2 > 0
        ax.plot(st[ok], mid2[ok] / 2e4, color="grey", lw=0.8, label=f"mid ({every})")
        if len(fx):
            ax.scatter(fx[buys], fp[buys], s=6, color="tab:green", label="buy", zorder=3)
            ax.scatter(fx[~buys], fp[~buys], s=6, color="tab:red", label="sell", zorder=3)
        ax.legend(loc="best", fontsize="small")

    plot("Fills over price ($)", fills)
    hours = pnl_by_hour(res, timezone)

    def by_hour(ax: Any) -> None:
        ax.bar([h for h, _ in hours], [v for _, v in hours])
        ax.set_xlabel(f"hour starting ({zone})")
        if len(hours) > 12:
            ax.tick_params(axis="x", labelrotation=90)

    plot("Realised P&L by hour ($, gross)", by_hour, times=False)
    pnls, _, _ = trade_pnls(res)
    plot("Trade P&L distribution ($, gross)", lambda ax: ax.hist([p / 1e4 for p in pnls] or [0.0], bins=40),
         times=False)
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                   for k, v in summ.items())
    body = "".join(f"<h2>{html.escape(n)}</h2><img alt='{html.escape(n)}' src='{src}'>" for n, src in imgs)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>"
            "body{font-family:sans-serif;margin:20px}table{border-collapse:collapse}"
            "th,td{border:1px solid #ccc;padding:2px 8px;text-align:left}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><table>{rows}</table>{body}</body></html>")
