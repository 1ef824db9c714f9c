"""Every kill-switch trigger over real FIX sessions (127.0.0.1) against a FIX venue on the real matching
engine: daily loss (realised + unrealised, after fees), manual, FIX disconnect (only if configured), too
many venue rejects. Each test shows the orders resting at the venue are cancelled, and that no new order
reaches the venue after the trip although the strategy keeps trying."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from paper_venue import MiniVenue, wait_until
from test_runner import BHP, TICK, make_config, on_host, run_session, with_venue

from hft.engine.runner import Host
from hft.engine.strategy import Strategy
from hft.model.types import OrdStatus, Side


class Keen(Strategy):
    """Keeps up to ``n`` bids resting at the best bid and lower levels; tries again on every update."""

    def __init__(self, ctx: Any, instruments: list[str], n: int = 2, qty: int = 100, offset: int = 0) -> None:
        super().__init__(ctx, instruments)
        self.n = n
        self.qty = qty
        self.offset = offset
        self.attempts = 0
        self.accepted = 0

    def on_book(self, instrument: str, book: Any) -> None:
        if len(self.ctx.open_orders(instrument)) >= self.n or not book.best_bid():
            return
        self.attempts += 1
        px = book.best_bid() - TICK * (self.offset + len(self.ctx.open_orders(instrument)))
        if self.ctx.buy(instrument, px, self.qty) is not None:
            self.accepted += 1


def venue_live_orders(venue: MiniVenue) -> list[Any]:
    return [o for o in venue.eng.orders.values() if o.session == venue.client]


class TripProbe:
    """Records, at the moment the switch trips, how many new orders had been handed to the venue."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.sent_at_trip = -1
        self.reason = ""
        host.engine.kill_listeners.append(self._on)

    def _on(self, reason: str) -> None:
        self.sent_at_trip = self.host.gateway.sent["new"]
        self.reason = reason


async def churn(venue: MiniVenue, n: int = 10) -> None:
    """Book updates far from the touch (the strategy is called on each)."""
    for i in range(n):
        venue.add("BHP", Side.BUY, BHP - (20 + i % 3) * TICK, 1)
        await asyncio.sleep(0.01)


async def assert_nothing_leaves_after_trip(venue: MiniVenue, host: Host, probe: TripProbe) -> None:
    strat = host.engine.strategy
    assert isinstance(strat, Keen)
    assert await wait_until(lambda: not venue_live_orders(venue))  # everything at the venue cancelled
    assert await _no_open_orders(host)
    tries = strat.attempts
    n_d = len(venue.app_msgs(b"D"))
    await churn(venue)
    assert strat.attempts > tries  # the strategy kept trying ...
    await asyncio.sleep(0.1)
    assert len(venue.app_msgs(b"D")) == n_d == probe.sent_at_trip  # ... and nothing left after the trip
    assert host.gateway.sent["new"] == probe.sent_at_trip
    assert host.engine.stats.risk_rejected >= strat.attempts - tries
    assert host.engine.stats.kill_switch_tripped == 1


async def _no_open_orders(host: Host, timeout: float = 5.0) -> bool:
    end = asyncio.get_running_loop().time() + timeout
    while await on_host(host, host.engine.om.open_orders):
        if asyncio.get_running_loop().time() >= end:
            return False
        await asyncio.sleep(0.01)
    return True


@pytest.fixture(params=["asyncio", "busy_poll"])
def loop(request: pytest.FixtureRequest) -> str:
    """Both hosts run every scenario (the busy-poll host in a worker thread)."""
    return str(request.param)


def keen(n: int = 2, qty: int = 100, offset: int = 0) -> Any:
    return lambda e: Keen(e, ["BHP"], n, qty, offset)


@pytest.mark.timeout(60)
def test_daily_loss_counts_unrealised_and_fees(tmp_path: Path, loop: str) -> None:
    # limit $10. We buy 100 at 45.13 (AUD 6 commission). The market then drops to a 45.06 mid: -$7
    # unrealised alone is within the limit, with the commission it is -$13 and the switch trips.
    cfg = make_config(tmp_path, risk={"max_daily_loss": 10})

    async def scenario(venue: MiniVenue, host: Host) -> None:
        eng = host.engine
        probe = TripProbe(host)
        assert await wait_until(lambda: len(venue_live_orders(venue)) == 1)  # the far bid rests
        lift = await on_host(host, lambda: eng.buy("BHP", BHP + TICK, 100))  # takes the 45.13 offer
        assert lift is not None
        assert await wait_until(lambda: lift.status is OrdStatus.FILLED)
        assert not eng.killed and eng.position("BHP") == 100
        assert eng.positions.fees_cents == 600 and eng.positions.net_pnl_cents() > -1000
        for o in list(venue.eng.orders.values()):  # the market moves down
            if o.session == "BG":
                venue._dispatch(venue.eng.cancel_order_id(o.order_id))
        venue.add("BHP", Side.BUY, BHP - 7 * TICK, 5)
        venue.add("BHP", Side.SELL, BHP - 5 * TICK, 5)
        assert await wait_until(lambda: bool(probe.reason))  # (the listeners run after `killed` is set)
        assert probe.reason.startswith("daily loss limit")
        # the first breach trips (the busy host may see an intermediate book); then the book settles
        assert await wait_until(lambda: eng.positions.unrealised_cents == -700)
        assert eng.positions.unrealised_cents == -700 and eng.positions.fees_cents == 600
        assert eng.positions.net_pnl_cents() == -1300
        assert eng.stats.kill_switch_reason == probe.reason
        await assert_nothing_leaves_after_trip(venue, host, probe)

    summary = with_venue(lambda v: run_session(v, cfg, scenario, loop, strategy_factory=keen(1, 10, 10)))
    assert summary["kill_switch"]["tripped"] and summary["positions"] == {"BHP": 100}
    assert summary["net_pnl_cents"] == -1300


@pytest.mark.timeout(60)
def test_manual_kill_cancels_and_blocks_until_reset(tmp_path: Path, loop: str) -> None:
    cfg = make_config(tmp_path)

    async def scenario(venue: MiniVenue, host: Host) -> None:
        eng = host.engine
        probe = TripProbe(host)
        assert await wait_until(lambda: len(venue_live_orders(venue)) == 2)
        await on_host(host, lambda: eng.kill("manual: operator pressed the button"))
        assert probe.reason == "manual: operator pressed the button"
        await assert_nothing_leaves_after_trip(venue, host, probe)
        await on_host(host, lambda: eng.reset_kill("alice"))  # only an operator reset re-enables trading
        await churn(venue, 3)
        assert await wait_until(lambda: len(venue_live_orders(venue)) == 2)

    summary = with_venue(lambda v: run_session(v, cfg, scenario, loop, strategy_factory=keen()))
    assert not summary["kill_switch"]["tripped"]


@pytest.mark.timeout(60)
def test_fix_disconnect_trips_when_configured_and_cancels_after_reconnect(tmp_path: Path, loop: str) -> None:
    cfg = make_config(tmp_path, risk={"kill_on_disconnect": True})

    async def scenario(venue: MiniVenue, host: Host) -> None:
        eng = host.engine
        probe = TripProbe(host)
        assert await wait_until(lambda: len(venue_live_orders(venue)) == 2)
        venue.drop_order_connection()
        assert await wait_until(lambda: bool(probe.reason))
        assert probe.reason == "FIX disconnect"
        # the venue does not cancel on disconnect here: the engine cancels as soon as it is back
        assert await wait_until(lambda: host.order_session.is_active, timeout=10)
        await assert_nothing_leaves_after_trip(venue, host, probe)
        assert eng.stats.sessions["order"].disconnects >= 1

    with_venue(lambda v: run_session(v, cfg, scenario, loop, strategy_factory=keen()))


@pytest.mark.timeout(60)
def test_fix_disconnect_does_not_trip_when_not_configured(tmp_path: Path, loop: str) -> None:
    cfg = make_config(tmp_path, risk={"kill_on_disconnect": False})

    async def scenario(venue: MiniVenue, host: Host) -> None:
        eng = host.engine
        assert await wait_until(lambda: len(venue_live_orders(venue)) == 2)
        venue.drop_order_connection()
        assert await wait_until(lambda: not host.order_session.is_active)
        assert await wait_until(lambda: host.order_session.is_active, timeout=10)
        assert not eng.killed
        assert len(venue_live_orders(venue)) == 2  # the venue kept them, the engine still trades

    with_venue(lambda v: run_session(v, cfg, scenario, loop, strategy_factory=keen()))


@pytest.mark.timeout(60)
def test_too_many_rejects_trips(tmp_path: Path, loop: str) -> None:
    cfg = make_config(tmp_path, risk={"max_rejects": 3, "reject_window_s": 60.0})

    async def scenario(venue: MiniVenue, host: Host) -> None:
        eng = host.engine
        probe = TripProbe(host)
        venue.reject_all, venue.accept_first = "venue says no", 1  # the first order rests, then rejects
        for _ in range(20):
            await churn(venue, 2)
            if probe.reason:
                break
        assert eng.killed and "3 rejects" in probe.reason
        assert eng.stats.orders_rejected == 3 and probe.sent_at_trip == 4
        await assert_nothing_leaves_after_trip(venue, host, probe)
        assert venue.eng.find(venue.client, venue.app_msgs(b"D")[0].get_str(11)) is None  # cancelled

    with_venue(lambda v: run_session(v, cfg, scenario, loop, strategy_factory=keen(2)))


@pytest.mark.timeout(90)
def test_disconnect_against_the_simulator_with_cancel_on_disconnect(tmp_path: Path) -> None:
    """The same checks against the project's simulator (embedded SimServer, cancel-on-disconnect on):
    the venue drops our order session -> the switch trips, the venue has cancelled our orders, nothing
    new is sent after we are back."""
    from paper_venue import wait_until as wait

    import hft.sim.server  # noqa: F401  (an import error in the simulator fails this test, not skips it)
    from hft.engine.runner import HostOptions, run_trading

    cfg = make_config(tmp_path, sim={"embedded": True}, venue={"port": 9878})
    out: dict[str, Any] = {}

    async def main() -> dict[str, Any]:
        started: asyncio.Future[Host] = asyncio.get_running_loop().create_future()
        opts = HostOptions(duration=60, install_signals=False, strategy_factory=keen(2, 10, 5))
        task = asyncio.create_task(run_trading(cfg, opts, started.set_result))
        host = await started
        eng, sim = host.engine, host.sim
        probe = TripProbe(host)

        def ours() -> int:
            return sim.call(lambda: sum(1 for o in sim.engine.orders.values() if o.session == "HFT"))

        assert await wait(lambda: len(eng.om.open_orders()) == 2 and all(
            o.status is OrdStatus.NEW for o in eng.om.open_orders()), timeout=30)
        assert ours() == 2
        sim.call(lambda: sim.order_sessions["HFT"].disconnect("test: venue drops the session"))
        assert await wait(lambda: eng.killed, timeout=10)
        assert probe.reason == "FIX disconnect" and ours() == 0  # the venue cancelled on disconnect
        assert await wait(lambda: host.order_session.is_active, timeout=15)
        assert await wait(lambda: not eng.om.open_orders(), timeout=10)  # reconciled by status requests
        sent = host.gateway.sent["new"]
        tries = eng.strategy.attempts  # type: ignore[union-attr]
        assert await wait(lambda: eng.strategy.attempts > tries, timeout=10)  # type: ignore[union-attr]
        assert host.gateway.sent["new"] == sent == probe.sent_at_trip and ours() == 0
        out["stats"] = sim.stats()["gateway"]
        host.request_stop()
        return await task

    summary = asyncio.run(main())
    assert summary["kill_switch"] == {"tripped": True, "reason": "FIX disconnect"}
    assert out["stats"]["cancel_on_disconnect"] == 2 and out["stats"]["new"] == summary["orders"]


@pytest.mark.timeout(60)
def test_strategy_exception_trips_instead_of_dropping_the_session(tmp_path: Path, loop: str) -> None:
    cfg = make_config(tmp_path)

    class Buggy(Keen):
        armed = False  # set once the test listens (the busy host trades from its own thread at once)

        def on_book(self, instrument: str, book: Any) -> None:
            super().on_book(instrument, book)
            if self.armed and self.ctx.open_orders():
                raise ZeroDivisionError("bug in the strategy")

    async def scenario(venue: MiniVenue, host: Host) -> None:
        probe = TripProbe(host)
        assert isinstance(host.engine.strategy, Buggy)
        host.engine.strategy.armed = True
        for _ in range(20):
            if probe.reason:
                break
            await churn(venue, 2)
        assert await wait_until(lambda: bool(probe.reason))
        assert probe.reason.startswith("strategy error in on_book: ZeroDivisionError")
        await assert_nothing_leaves_after_trip(venue, host, probe)
        assert host.order_session.is_active and host.md_session.is_active  # no session was dropped
        assert host.order_session.counters.disconnects == 0

    summary = with_venue(lambda v: run_session(v, cfg, scenario, loop,
                                               strategy_factory=lambda e: Buggy(e, ["BHP"])))
    assert summary["strategy_errors"] >= 1
