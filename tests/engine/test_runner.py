"""The trading engine host (run_trading) over real FIX sessions on 127.0.0.1 against a FIX venue built on
the real matching engine (tests/engine/paper_venue.py): strategy orders, fills, positions, P&L, the
journal, stale books, config mapping, clean shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from paper_venue import MiniVenue, wait_until

from hft.engine.config import Config, config_from_dict
from hft.engine.journal import recover
from hft.engine.runner import Host, HostOptions, TradingEngine, risk_limits, run_trading
from hft.engine.strategy import Strategy
from hft.model.types import OrdStatus, Side
from hft.strategies import PARAMS

BHP = 451_200
TICK = 100


def make_config(tmp_path: Path, **sections: Any) -> Config:
    data: dict[str, Any] = {
        "venue": {"port": 1, "store_dir": str(tmp_path / "store"), "reconnect_s": 0.05, "heartbeat_s": 5},
        "market_data": {"port": 1},
        "journal": {"path": str(tmp_path / "journal.bin"), "fsync": "none"},
        "metrics": {"port": 0},
        "sim": {"embedded": False},
        "engine": {"timer_ms": 20},
        "strategy": {"name": "reference", "params": {"every_n": 1, "cancel_after": 1000}},
    }
    for k, v in sections.items():
        if isinstance(v, dict) and isinstance(data.get(k), dict):
            data[k] = {**data[k], **v}
        else:
            data[k] = v
    return config_from_dict(data, "<test>", PARAMS)


Scenario = Callable[[MiniVenue, Host], Awaitable[None]]


async def run_session(venue: MiniVenue, cfg: Config, scenario: Scenario, loop: str = "asyncio",
                      **opts: Any) -> dict[str, Any]:
    """Run the host ``loop`` names ("asyncio": in this event loop; "busy_poll": the busy-poll host in a
    worker thread, spinning 500 us after each read then blocking) against the venue, play ``scenario``,
    stop, return the summary. The scenario acts on the engine through :func:`on_host`."""
    import dataclasses

    aloop = asyncio.get_running_loop()
    started: asyncio.Future[Host] = aloop.create_future()
    o = HostOptions(venue_port=venue.order_port, md_port=venue.md_port, install_signals=False,
                    logon_timeout=5, stop_grace=1.0, **opts)
    task: asyncio.Future[dict[str, Any]]
    if loop == "busy_poll":
        from hft.engine.busyloop import run_busy

        cfg = dataclasses.replace(cfg, engine=dataclasses.replace(cfg.engine, loop="busy_poll",
                                                                  busy_spin_us=500.0))
        task = aloop.run_in_executor(None, lambda: run_busy(
            cfg, o, lambda h: aloop.call_soon_threadsafe(started.set_result, h)))
    else:
        task = asyncio.ensure_future(run_trading(cfg, o, started.set_result))
    done, _ = await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()  # raises the start-up error
    host = started.result()
    try:
        await scenario(venue, host)
    finally:
        host.request_stop()
    return await task


async def on_host(host: Host, fn: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Run ``fn`` on the host's own thread (``Host.call_soon``: at its next timer tick) and return its
    result: how a test acts on the single-threaded engine whatever the host."""
    aloop = asyncio.get_running_loop()
    fut: asyncio.Future[Any] = aloop.create_future()

    def run() -> None:
        try:
            r = fn()
        except BaseException as e:  # handed to the awaiting test
            aloop.call_soon_threadsafe(fut.set_exception, e)
        else:
            aloop.call_soon_threadsafe(fut.set_result, r)

    host.call_soon(run)
    return await asyncio.wait_for(fut, timeout)


def with_venue(fn: Callable[[MiniVenue], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        venue = MiniVenue({"BHP": BHP})
        await venue.start()
        venue.seed_book("BHP", BHP, TICK, levels=3)
        try:
            return await fn(venue)
        finally:
            await venue.stop()

    return asyncio.run(main())


@pytest.mark.timeout(60)
def test_reference_strategy_trades_books_fills_and_journals(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)

    async def scenario(venue: MiniVenue, host: Host) -> None:
        eng = host.engine
        assert await wait_until(lambda: eng.books["BHP"].best_bid() == BHP - TICK)
        venue.add("BHP", Side.BUY, BHP - TICK, 10)  # a book update: the strategy bids 1 at the best bid
        assert await wait_until(lambda: eng.om.open_orders()), (eng.stats, eng.om.counters)
        o = eng.om.open_orders()[0]
        assert o.price == BHP - TICK and o.qty == 1 and o.side is Side.BUY
        assert await wait_until(lambda: o.status is OrdStatus.NEW)
        # a seller hits the bid level: time priority fills the book's 1010 first, so sell all of it + 1
        venue.add("BHP", Side.SELL, BHP - TICK, 1011)
        assert await wait_until(lambda: o.status is OrdStatus.FILLED)
        assert eng.position("BHP") == 1
        assert eng.stats.fills == 1 and eng.stats.positions["BHP"] == 1
        assert eng.positions.fees_cents == 600  # IBKR fixed: AUD 6 minimum
        assert eng.stats.tick_to_trade.count >= 1

    summary = with_venue(lambda v: run_session(v, cfg, scenario))
    assert summary["fills"] == 1 and summary["positions"] == {"BHP": 1} and summary["fees_cents"] == 600
    assert summary["orders"] >= 1 and summary["orders_acked"] >= 1
    assert summary["open_orders"] == 0  # the shutdown cancelled what the strategy left
    assert summary["tick_to_trade_us"]["count"] >= 1 and summary["tick_to_trade_us"]["p50"] > 0
    assert summary["sessions"]["order"]["state"] == "DISCONNECTED"
    rec = recover(tmp_path / "journal.bin")
    assert [f.qty for f in rec.fills] == [1] and rec.positions["BHP"] == 1 and not rec.open_orders


@pytest.mark.timeout(60)
def test_crossed_book_goes_stale_and_requests_a_snapshot(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    stale: list[str] = []

    class Watch(Strategy):
        def on_book(self, instrument: str, book: Any) -> None:
            pass

        def on_book_stale(self, instrument: str) -> None:
            stale.append(instrument)

    async def scenario(venue: MiniVenue, host: Host) -> None:
        eng = host.engine
        assert await wait_until(lambda: eng.books["BHP"].best_bid() == BHP - TICK)
        n_req = venue.md_requests
        # the venue publishes a bid above the best ask: the engine's book is crossed
        venue.rpt_seq["BHP"] += 1
        venue.send_md_raw(b"X", [(83, venue.rpt_seq["BHP"]), (268, 1), (279, b"0"), (269, b"0"), (55, "BHP"),
                                 (270, b"45.20"), (271, 5)])
        assert await wait_until(lambda: stale == ["BHP"])
        assert await wait_until(lambda: venue.md_requests == n_req + 1)
        assert await wait_until(lambda: not eng.books["BHP"].stale)  # the fresh snapshot repaired it
        assert eng.books["BHP"].best_bid() == BHP - TICK and eng.stats.md_gaps >= 1
        # a delete of a level the book does not have (inside its known region): stale, new snapshot
        venue.rpt_seq["BHP"] += 1
        venue.send_md_raw(b"X", [(83, venue.rpt_seq["BHP"]), (268, 1), (279, b"2"), (269, b"0"), (55, "BHP"),
                                 (270, b"45.105"), (271, 0)])
        assert await wait_until(lambda: stale == ["BHP", "BHP"])
        assert await wait_until(lambda: venue.md_requests == n_req + 2)
        assert await wait_until(lambda: not eng.books["BHP"].stale)

    with_venue(lambda v: run_session(v, cfg, scenario, strategy_factory=lambda e: Watch(e, ["BHP"])))


@pytest.mark.timeout(60)
def test_restart_recovers_position_and_cancels_leftover_orders(tmp_path: Path) -> None:
    """Two runs against the same venue: the first leaves an order open (no shutdown cancel: the venue
    ignores cancels), the second recovers the position from the journal and reconciles the order."""
    cfg = make_config(tmp_path)

    class BuyOnce(Strategy):
        def on_book(self, instrument: str, book: Any) -> None:
            if not self.ctx.open_orders() and self.ctx.position("BHP") == 0 and not getattr(self, "done", 0):
                self.done = 1
                self.ctx.buy("BHP", BHP - TICK, 7)

        def on_stop(self) -> None:
            pass

    async def first(venue: MiniVenue, host: Host) -> None:
        eng = host.engine
        venue.add("BHP", Side.BUY, BHP - 2 * TICK, 1)
        assert await wait_until(lambda: eng.om.open_orders() and eng.om.open_orders()[0].status is
                                OrdStatus.NEW)
        venue.add("BHP", Side.SELL, BHP - TICK, 1003)  # 1000 ahead of us, then 3 of our 7
        assert await wait_until(lambda: eng.position("BHP") == 3)
        host.engine.stopped = True  # simulate a crash: no shutdown cancels
        venue.status_answers = True

    async def second(venue: MiniVenue, host: Host) -> None:
        eng = host.engine
        assert eng.recovered is not None and eng.position("BHP") == 3
        assert eng.positions.fees_cents == 600 and eng.stats.fees_cents == 600  # metrics at once
        # the leftover order got a status request (35=H) and then a cancel
        assert await wait_until(lambda: len(venue.app_msgs(b"H")) == 1 and len(venue.app_msgs(b"F")) == 1)
        assert await wait_until(lambda: not eng.om.open_orders())
        assert len(venue.app_msgs(b"D")) == 1  # nothing was sent twice

    async def both(venue: MiniVenue) -> tuple[dict[str, Any], dict[str, Any]]:
        s1 = await run_session(venue, cfg, first, strategy_factory=lambda e: BuyOnce(e, ["BHP"]))
        s2 = await run_session(venue, cfg, second, strategy_factory=lambda e: BuyOnce(e, ["BHP"]))
        return s1, s2

    s1, s2 = with_venue(both)
    assert s1["positions"] == {"BHP": 3} and s1["open_orders"] == 1
    assert s2["positions"] == {"BHP": 3} and s2["recovered_orders"] >= 1 and s2["open_orders"] == 0
    assert s2["session"] > s1["session"]


def test_risk_section_maps_onto_risk_limits(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, risk={"max_daily_loss": 250, "price_band_pct": 2.5, "max_order_value": 1000,
                                      "max_orders_per_sec": 7, "reject_window_s": 1.5,
                                      "max_gross_position": 900, "reference": "last"})
    lim = risk_limits(cfg)
    assert lim.max_daily_loss_cents == 25_000 and lim.price_band_bp == 250
    assert lim.max_order_notional_cents == 100_000 and lim.max_orders_per_sec == 7 and lim.burst == 7
    assert lim.reject_window_ns == 1_500_000_000 and lim.max_gross_position == 900
    assert lim.reference == "last" and lim.allowed_instruments == frozenset({"BHP"})


def test_engine_blocks_orders_after_manual_kill_without_a_venue(tmp_path: Path) -> None:
    """The synchronous core alone (no sockets): a refusing gateway, manual trip, reset."""

    class NoVenue:
        connected = False

        def set_sinks(self, *a: Any) -> None:
            pass

        def send_new(self, o: Any) -> bool:
            return True

        def send_cancel(self, o: Any, c: str) -> bool:
            return True

        def send_replace(self, o: Any, n: Any) -> bool:
            return True

        def request_status(self, o: Any) -> bool:
            return True

    cfg = make_config(tmp_path)
    eng = TradingEngine(cfg, NoVenue(), now=lambda: 1_000_000_000)
    eng.strategy = type("S", (Strategy,), {"on_book": lambda self, i, b: None})(eng, ["BHP"])
    eng.start()
    o = eng.buy("BHP", BHP, 1)
    assert o is not None and o.status is OrdStatus.PENDING_NEW
    eng.kill("manual test")
    assert eng.killed and o.status is OrdStatus.PENDING_CANCEL
    assert eng.buy("BHP", BHP, 1) is None and eng.sell("BHP", BHP, 1) is None
    assert eng.replace(o, price=BHP - TICK) is None
    assert eng.summary()["kill_switch"] == {"tripped": True, "reason": "manual test"}
    eng.reset_kill("operator")
    assert eng.buy("BHP", BHP - TICK, 1) is not None


@pytest.mark.timeout(60)
def test_replay_market_data_source_drives_the_strategy(tmp_path: Path) -> None:
    """market_data.source = "replay": books from a recorded canonical file (paced on ts_local), orders
    over FIX to the venue."""
    from hft.data.format import EventArrays, write_events

    t0 = 1_700_000_000_000_000_000
    ms = 1_000_000
    rows = [  # ts_local, kind, side, price, qty
        (t0, 3, 0, 0, 0), (t0, 1, 1, BHP - TICK, 500), (t0, 1, 2, BHP + TICK, 400), (t0, 4, 0, 0, 0),
        (t0 + 50 * ms, 1, 1, BHP - TICK, 600),
        (t0 + 100 * ms, 2, 1, BHP + TICK, 100), (t0 + 100 * ms, 1, 2, BHP + TICK, 300),
        (t0 + 150 * ms, 1, 1, BHP, 50),
    ]
    ev = EventArrays.from_columns([r[0] for r in rows], [r[0] for r in rows], [r[1] for r in rows],
                                  [r[2] for r in rows], [r[3] for r in rows], [r[4] for r in rows], "BHP")
    f = tmp_path / "rec.parquet"
    write_events(f, ev)
    cfg = make_config(tmp_path, market_data={"source": "replay", "file": str(f), "speed": 1.0})
    seen: list[tuple[int, int]] = []

    class Rec(Strategy):
        def on_book(self, instrument: str, book: Any) -> None:
            seen.append((book.best_bid(), book.best_bid_qty()))

    async def scenario(venue: MiniVenue, host: Host) -> None:
        assert await wait_until(lambda: host.md.done, timeout=10)
        eng = host.engine
        assert eng.books["BHP"].best_bid() == BHP and eng.books["BHP"].best_ask() == BHP + TICK
        assert eng.books["BHP"].best_ask_qty() == 300 and host.md.counters["trades"] == 1
        assert host.md_session is None  # no FIX market data session at all

    summary = with_venue(lambda v: run_session(v, cfg, scenario, strategy_factory=lambda e: Rec(e, ["BHP"])))
    assert seen == [(BHP - TICK, 500), (BHP - TICK, 600), (BHP - TICK, 600), (BHP, 50)]
    assert summary["md_messages"] == 4 and summary["market_data"] == str(f)


@pytest.mark.timeout(60)
def test_status_line_and_summary_render(tmp_path: Path) -> None:
    import io

    from rich.console import Console

    from hft.engine.status import StatusLine, dollars, price, summary_table

    assert dollars(-123456) == "-$1,234.56" and dollars(5) == "$0.05"
    assert price(450_000) == "45.00" and price(4805) == "0.4805" and price(0) == "-"
    cfg = make_config(tmp_path)
    buf = io.StringIO()
    line = StatusLine(Console(file=buf, force_terminal=True, width=200), live=True)
    plain_buf = io.StringIO()
    plain = StatusLine(Console(file=plain_buf, width=300), live=False, plain_every=0)

    class Tee:
        def update(self, engine: TradingEngine, host: Host) -> None:
            line.update(engine, host)
            plain.update(engine, host)

        def close(self) -> None:
            line.close()
            plain.close()

    async def scenario(venue: MiniVenue, host: Host) -> None:
        await asyncio.sleep(0.3)
        host.engine.kill("status test")
        await asyncio.sleep(0.2)

    summary = with_venue(lambda v: run_session(v, cfg, scenario, status=Tee(), status_interval=0.05))
    text = plain_buf.getvalue()
    assert "BHP" in text and "order active" in text and "KILL SWITCH: status test" in text
    assert buf.getvalue()  # the live line was drawn
    out = io.StringIO()
    Console(file=out, width=120).print(summary_table(summary))
    s = out.getvalue()
    assert "TRIPPED: status test" in s and "tick-to-trade" in s and "GC while trading" in s
    g = summary["gc"]  # engine.gc_disable (the default): every collection is one the timer ran
    assert sum(g["collections"]) == g["idle_collections"]
    assert "run by the engine timer" in s


def test_summary_gc_row() -> None:
    from hft.engine.status import _gc_row

    row = _gc_row({"collections": [3, 1, 0], "idle_collections": 2, "pause_ns_max": 1500,
                   "frozen_objects": 9})
    assert row == ("collections per generation [3, 1, 0]: 2 run by the engine timer between ticks, 2 started "
                   "by an allocation; longest 2 us (after gc.freeze of 9 start-up objects)")
    assert _gc_row({}) == "?"


@pytest.mark.timeout(60)
def test_busy_metrics_port_falls_back_for_paper_and_fails_otherwise(tmp_path: Path) -> None:
    import socket

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        cfg = make_config(tmp_path, metrics={"port": port})

        async def noop(venue: MiniVenue, host: Host) -> None:
            assert host.metrics is not None and host.metrics.port != port

        summary = with_venue(lambda v: run_session(v, cfg, noop, metrics_port=None, metrics_fallback=True))
        url = summary["metrics_url"]
        assert url.startswith("http://127.0.0.1:") and f":{port}/" not in url
        with pytest.raises(RuntimeError, match=f"metrics endpoint 127.0.0.1:{port}"):
            with_venue(lambda v: run_session(v, cfg, noop, metrics_port=None))


@pytest.mark.timeout(60)
def test_kill_switch_latch_survives_a_restart_until_an_operator_resets_it(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)

    async def trip(venue: MiniVenue, host: Host) -> None:
        assert await wait_until(lambda: host.engine.om.open_orders())
        host.engine.kill("daily loss (test)")

    async def blocked(venue: MiniVenue, host: Host) -> None:
        eng = host.engine
        assert eng.killed and "daily loss (test)" in eng.kill_reason
        n = len(venue.app_msgs(b"D"))
        venue.add("BHP", Side.BUY, BHP - 30 * TICK, 1)  # book updates: the strategy tries
        venue.add("BHP", Side.BUY, BHP - 31 * TICK, 1)
        await asyncio.sleep(0.2)
        assert len(venue.app_msgs(b"D")) == n and eng.stats.risk_rejected >= 1

    async def reset(venue: MiniVenue, host: Host) -> None:
        assert not host.engine.killed
        n = len(venue.app_msgs(b"D"))
        venue.add("BHP", Side.BUY, BHP - 32 * TICK, 1)
        assert await wait_until(lambda: len(venue.app_msgs(b"D")) > n)

    async def runs(venue: MiniVenue) -> list[dict[str, Any]]:
        return [await run_session(venue, cfg, trip), await run_session(venue, cfg, blocked),
                await run_session(venue, cfg, reset, reset_kill_by="alice")]

    s1, s2, s3 = with_venue(runs)
    assert s1["kill_switch"]["tripped"] and s2["kill_switch"]["tripped"] and not s3["kill_switch"]["tripped"]
    from hft.engine.journal import read_journal

    kinds = [r["t"] for r in read_journal(tmp_path / "journal.bin")[0] if r["t"].startswith("kill")]
    assert kinds == ["kill", "kill", "kill_reset"]
