"""Summary arithmetic on a hand-made result, and the HTML report's plots on a real backtest."""

from __future__ import annotations

import base64
import math
import re

import pytest

from hft.backtest.engine import BacktestConfig, Backtester, BacktestResult
from hft.backtest.report import html_report, pnl_by_hour, position_series, summary, trade_pnls
from hft.backtest.synth import generate
from hft.model.types import Fill, Side
from hft.strategies import make_strategy

MIN = 60_000_000_000
PLOTS = ("Equity (net, $)", "Drawdown ($)", "Position (shares)", "Fills over price ($)",
         "Realised P&L by hour ($, gross)", "Trade P&L distribution ($, gross)")
FIELDS = {"pnl_gross_cents", "pnl_net_cents", "fees_cents", "trades", "volume_shares", "win_rate",
          "avg_profit_per_trade_ticks", "sharpe_per_minute", "max_drawdown_cents", "max_position",
          "fill_ratio", "events", "events_per_s"}


def round_trip() -> BacktestResult:
    """Buy 100 at $45.00 (fee $6), sell 100 at $45.02 a minute later (fee $6)."""
    r = BacktestResult()
    r.fills = [Fill("B1", "BHP", Side.BUY, 450_000, 100, 600, 0, "E1", "A"),
               Fill("B2", "BHP", Side.SELL, 450_200, 100, 600, MIN, "E2", "A")]
    r.fill_maker = [True, True]
    r.samples_ts = [0, MIN, 2 * MIN, 3 * MIN]
    r.samples_mid2 = [900_000, 900_200, 900_400, 900_400]
    r.samples_pos = [0, 100, 0, 0]
    r.samples_cash = [0, -45_000_000, 20_000, 20_000]
    r.samples_fees = [0, 600, 1_200, 1_200]
    r.final_mid2 = 900_400
    r.orders_sent = 3
    r.qty_sent = 300
    r.events = 1_000
    r.wall_s = 0.5
    return r


def test_summary_of_a_round_trip() -> None:
    s = summary(round_trip())
    assert set(s) >= FIELDS
    assert s["pnl_gross_cents"] == 200  # 2 cents x 100 shares
    assert s["fees_cents"] == 1_200 and s["pnl_net_cents"] == -1_000
    assert s["trades"] == 2 and s["closing_trades"] == 1 and s["volume_shares"] == 200
    assert s["win_rate"] == 1.0
    assert s["avg_profit_per_trade_ticks"] == pytest.approx(2.0)  # per share, $0.01 ticks
    assert s["max_position"] == 100
    assert s["fill_ratio"] == pytest.approx(200 / 300)
    # net equity per minute: 0, -500, -1000, -1000 cents -> changes -500, -500, 0
    d = [-500.0, -500.0, 0.0]
    mean = sum(d) / 3
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / 3)
    assert s["sharpe_per_minute"] == pytest.approx(mean / sd)
    assert s["max_drawdown_cents"] == 1_000
    assert s["events"] == 1_000 and s["events_per_s"] == 2_000


def test_trade_pnls_average_cost_and_flips() -> None:
    r = BacktestResult()
    r.fills = [Fill("a", "BHP", Side.BUY, 450_000, 100, 0, 1),
               Fill("b", "BHP", Side.BUY, 450_200, 100, 0, 2),
               Fill("c", "BHP", Side.SELL, 450_300, 300, 0, 3),
               Fill("d", "BHP", Side.BUY, 450_000, 100, 0, 4)]
    pnls, ticks, ts = trade_pnls(r)
    # average cost 450,100: selling 200 at 450,300 makes 200 x 200 units; then short 100 at 450,300 covered
    # at 450,000: 300 x 100 units
    assert pnls == [40_000, 30_000]
    assert ticks == [pytest.approx(2.0), pytest.approx(3.0)]
    assert ts == [3, 4]


def _pngs(html: str) -> dict[str, bytes]:
    out = {}
    for alt, data in re.findall(r"<img alt='([^']*)' src='data:image/png;base64,([^']+)'>", html):
        out[alt.replace("&amp;", "&")] = base64.b64decode(data)
    return out


def test_html_report_has_the_plots() -> None:
    bt = Backtester(generate(40_000, seed=11), lambda ctx: make_strategy("market_maker", ctx, ["BHP"]),
                    BacktestConfig(record_every_ns=10_000_000_000))
    res = bt.run()
    assert len(res.fills) > 5
    s = summary(res)
    html = html_report(res, s, "MM test")
    pngs = _pngs(html)
    assert set(pngs) == set(PLOTS)
    for name, png in pngs.items():
        assert png[:8] == b"\x89PNG\r\n\x1a\n", name
        w = int.from_bytes(png[16:20], "big")
        h = int.from_bytes(png[20:24], "big")
        assert w > 300 and h > 100, name
    for k in FIELDS:
        assert f"<th>{k}</th>" in html
    assert "http://" not in html and "https://" not in html  # self-contained
    assert html.startswith("<!doctype html>") and html.rstrip().endswith("</html>")


def test_html_report_without_fills() -> None:
    res = Backtester(generate(2_000), lambda ctx: make_strategy("reference", ctx, ["BHP"],
                                                                 {"every_n": 10**9})).run()
    assert res.fills == []
    s = summary(res)
    assert s["trades"] == 0 and s["win_rate"] == 0.0 and s["pnl_net_cents"] == 0
    assert set(_pngs(html_report(res, s))) == set(PLOTS)


def test_position_plot_is_exact_not_sampled() -> None:
    """Fills between two samples: the sampled position never shows the peak, the plotted series does."""
    r = round_trip()
    r.fills = [Fill("a", "BHP", Side.BUY, 450_000, 100, 600, 10),
               Fill("b", "BHP", Side.BUY, 450_000, 115, 600, 20),
               Fill("c", "BHP", Side.SELL, 450_100, 215, 600, 30)]
    r.first_ts, r.last_ts = 0, 3 * MIN
    assert max(r.samples_pos) == 100  # what a per-minute plot shows
    ts, pos = position_series(r)
    assert pos.tolist() == [0, 100, 215, 0, 0] and ts.tolist() == [0, 10, 20, 30, 3 * MIN]
    assert int(abs(pos).max()) == summary(r)["max_position"] == 215


def test_pnl_by_hour_is_labelled_with_the_venues_clock_hours() -> None:
    # 2026-01-05 10:15 in Sydney (AEDT, UTC+11) is 2026-01-04 23:15 UTC
    t0 = 1_767_568_500 * 10**9
    hour = 3_600 * 10**9
    r = BacktestResult()
    r.first_ts, r.last_ts = t0, t0 + 2 * hour
    r.fills = [Fill("a", "BHP", Side.BUY, 450_000, 100, 0, t0 + hour // 4),
               Fill("b", "BHP", Side.SELL, 450_300, 100, 0, t0 + hour // 2),  # 10:45: +$3.00
               Fill("c", "BHP", Side.BUY, 450_000, 100, 0, t0 + hour + hour // 2),
               Fill("d", "BHP", Side.SELL, 449_900, 100, 0, t0 + 2 * hour - 1)]  # 12:14: -$1.00
    assert pnl_by_hour(r, "Australia/Sydney") == [("10:00", 3.0), ("11:00", 0.0), ("12:00", -1.0)]
    assert [h for h, _ in pnl_by_hour(r)] == ["01-04 23:00", "01-05 00:00", "01-05 01:00"]  # UTC: 2 dates
    html = html_report(r, summary(r), "tz", generate(2_000), "Australia/Sydney")
    assert set(_pngs(html)) == set(PLOTS)


def _plotted(monkeypatch: pytest.MonkeyPatch, res: BacktestResult, s: dict[str, object]) -> dict[str, list]:
    """The y data of every series the HTML report draws, by plot title (matplotlib's own calls recorded)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.axes import Axes

    drawn: list[tuple[str, object]] = []
    for name in ("plot", "step", "fill_between", "bar", "hist", "scatter"):
        orig = getattr(Axes, name)

        def rec(self: Axes, *a: object, _orig: object = orig, _name: str = name, **kw: object) -> object:
            drawn.append((_name, a))
            return _orig(self, *a, **kw)  # type: ignore[operator]

        monkeypatch.setattr(Axes, name, rec)
    orig_title = Axes.set_title
    by_title: dict[str, list] = {}

    def title(self: Axes, t: str, *a: object, **kw: object) -> object:
        by_title[t] = list(drawn)
        drawn.clear()
        return orig_title(self, t, *a, **kw)

    monkeypatch.setattr(Axes, "set_title", title)
    html_report(res, s, "t")
    return by_title


def test_every_plotted_series_agrees_with_the_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    # a day with a position held across samples (the equity then depends on the cash and the mark)
    bt = Backtester(generate(60_000, seed=11), lambda ctx: make_strategy("market_maker", ctx, ["BHP"]),
                    BacktestConfig(record_every_ns=10_000_000_000))
    res = bt.run()
    s = summary(res)
    assert s["trades"] > 20 and s["pnl_net_cents"] != 0
    p = _plotted(monkeypatch, res, s)
    import numpy as np

    (_, (_, eq)), = [d for d in p["Equity (net, $)"] if d[0] == "plot"]
    assert round(float(eq[-1]) * 100) == s["pnl_net_cents"]
    (_, (_, dd)), = [d for d in p["Drawdown ($)"] if d[0] == "fill_between"]
    assert round(float(-np.min(dd)) * 100) == s["max_drawdown_cents"]
    (_, (_, pos)), = [d for d in p["Position (shares)"] if d[0] == "step"]
    assert int(np.abs(pos).max()) == s["max_position"]
    sc = [a for n, a in p["Fills over price ($)"] if n == "scatter"]
    assert sum(len(a[0]) for a in sc) == s["trades"]
    (_, (_, bars)), = [d for d in p["Realised P&L by hour ($, gross)"] if d[0] == "bar"]
    pnls, _, _ = trade_pnls(res)
    assert round(sum(bars) * 1e4) == sum(pnls)
    (_, (vals,)), = [d for d in p["Trade P&L distribution ($, gross)"] if d[0] == "hist"]
    assert len(vals) == s["closing_trades"] and round(sum(vals) * 1e4) == sum(pnls)


def test_equity_series_of_a_round_trip_in_dollars(monkeypatch: pytest.MonkeyPatch) -> None:
    r = round_trip()  # net -$10.00 at the end, -$5.00 after the first minute (fee $6, +$1 mark)
    r.first_ts, r.last_ts = 0, 3 * MIN
    p = _plotted(monkeypatch, r, summary(r))
    (_, (_, eq)), = [d for d in p["Equity (net, $)"] if d[0] == "plot"]
    assert [round(float(x), 2) for x in eq] == [0.0, -5.0, -10.0, -10.0]
