from __future__ import annotations

import math
import random
import statistics
from collections import Counter

import pytest

from hft.asx.ticks import is_valid_price, tick_size, ticks_between
from hft.model.types import Side
from hft.sim import CancelRejectEvent, ExecEvent, LevelEvent, ManualClock, MatchingEngine, Phase, TradeEvent
from hft.sim.flow import (
    NEVER,
    BackgroundFlow,
    FlowConfig,
    FlowConfigError,
    HawkesProcess,
    default_flow_configs,
)
from hft.sim.matching import Event, ExecType

S = 1_000_000_000
T0 = 1_767_567_600 * S  # 2026-01-05 10:00 Sydney


def make(configs: list[FlowConfig] | None = None, seed: int = 7,
         phase: Phase = Phase.CONTINUOUS) -> tuple[MatchingEngine, BackgroundFlow]:
    cfgs = configs or default_flow_configs()
    eng = MatchingEngine({c.symbol: c.ref_price for c in cfgs}, clock=ManualClock(T0))
    for c in cfgs:
        eng.set_phase(c.symbol, phase)
    return eng, BackgroundFlow(eng, cfgs, seed=seed)


def key(e: Event) -> tuple:
    if isinstance(e, TradeEvent):
        return ("T", e.instrument, e.price, e.qty, int(e.aggressor or 0), e.buy_order_id, e.sell_order_id)
    if isinstance(e, LevelEvent):
        return ("L", e.instrument, int(e.side), e.price, e.qty, e.count)
    if isinstance(e, ExecEvent):
        return ("E", e.order_id, int(e.exec_type), e.cum_qty, e.leaves_qty, e.price)
    return ("X", repr(e))


def run(flow: BackgroundFlow, seconds: int, step_ns: int = S) -> list[Event]:
    out = flow.seed_book(T0)
    for t in range(T0 + step_ns, T0 + seconds * S + 1, step_ns):
        out += flow.advance(t)
    return out


def test_deterministic_with_seed_and_independent_of_call_granularity() -> None:
    _, f1 = make(seed=11)
    _, f2 = make(seed=11)
    _, f3 = make(seed=11)
    _, f4 = make(seed=12)
    a = [key(e) for e in run(f1, 120)]
    b = [key(e) for e in run(f2, 120)]
    c = [key(e) for e in run(f3, 120, step_ns=S // 7 * 7 * 3 + 1)]  # odd step, different wakeups
    d = [key(e) for e in run(f4, 120)]
    assert len(a) > 5_000
    assert a == b
    # same actions at the same scheduled times however often advance is called
    n = min(len(a), len(c))
    assert a[: n - 200] == c[: n - 200]
    assert a != d
    # a caller far behind gets the backlog in bounded slices, same result
    _, f5 = make(seed=11)
    f5.max_actions = 100
    e = f5.seed_book(T0)
    calls = 0
    while f5.next_event_ns() <= T0 + 120 * S:
        e += f5.advance(T0 + 120 * S)
        calls += 1
    assert calls > 20
    assert [key(x) for x in e] == a


def test_book_never_crossed_prices_on_ticks_and_cancels_refer_to_live_orders() -> None:
    eng, flow = make(seed=3)
    live: set[int] = set()
    n_trades = n_cancels = 0
    evs = flow.seed_book(T0)
    for step in range(1, 602):
        for e in evs:
            assert not isinstance(e, CancelRejectEvent), e
            if isinstance(e, ExecEvent):
                assert e.exec_type is not ExecType.REJECTED, e
                if e.exec_type is ExecType.NEW:
                    live.add(e.order_id)
                elif e.exec_type is ExecType.CANCELED:
                    assert e.order_id in live, e  # a resting order the flow posted, not filled before
                    n_cancels += 1
                if e.ord_status.is_terminal:
                    live.discard(e.order_id)
            if isinstance(e, TradeEvent | LevelEvent):
                assert is_valid_price(e.price), e
            if isinstance(e, TradeEvent):
                n_trades += 1
        for sym in ("BHP", "PLS", "NWX"):
            bids, asks = eng.snapshot(sym, 1)
            assert bids and asks, sym
            assert bids[0][0] < asks[0][0], (sym, bids, asks)
        now = T0 + step * S
        if step <= 600:
            evs = flow.advance(now)
            assert flow.next_event_ns() > now
    assert n_trades > 100 and n_cancels > 1_000
    assert live == set(eng.orders)
    st = flow.stats()
    assert all(v["cancel"] > 0 and v["limit"] > 0 and v["rejected"] == 0 for v in st.values()), st


@pytest.mark.slow
def test_liquid_name_statistics_over_a_simulated_hour() -> None:
    eng, flow = make(seed=5)
    flow.seed_book(T0)
    spreads: Counter[int] = Counter()
    sizes: list[int] = []
    for step in range(1, 3601):
        flow.advance(T0 + step * S)
        bids, asks = eng.snapshot("BHP", 10)
        spreads[ticks_between(bids[0][0], asks[0][0])] += 1
        if step % 10 == 0:
            sizes += [q for _, q, _ in bids + asks]
    assert spreads[1] / sum(spreads.values()) > 0.7, spreads
    med = statistics.median(sizes)
    assert 300 <= med <= 5_000, med
    sizes.sort()
    assert sizes[len(sizes) // 10] >= 100 and sizes[9 * len(sizes) // 10] <= 20_000
    # the book follows the latent price
    bids, asks = eng.snapshot("BHP", 1)
    mid = (bids[0][0] + asks[0][0]) / 2
    assert abs(mid - flow.latent_price("BHP")) <= 5 * tick_size(int(mid))


@pytest.mark.parametrize(("rate", "n", "beta"), [(5.0, 0.0, 2.0), (5.0, 0.6, 3.0), (2.0, 0.85, 10.0)])
def test_hawkes_mean_event_count(rate: float, n: float, beta: float) -> None:
    horizon = 4_000.0
    counts = []
    for seed in range(3):
        h = HawkesProcess(rate, n, beta, random.Random(seed))
        t = 0.0
        k = 0
        while True:
            t += h.next_gap()
            if t > horizon:
                break
            k += 1
        counts.append(k)
    expected = rate * horizon
    # std of a stationary Hawkes count ~ sqrt(mu T) / (1 - n)^1.5
    sd = math.sqrt(rate * (1 - n) * horizon) / (1 - n) ** 1.5 / math.sqrt(len(counts))
    assert abs(statistics.mean(counts) - expected) < 4 * sd + 0.01 * expected, (counts, expected)


def test_hawkes_clusters_poisson_does_not() -> None:
    def dispersion(n: float) -> float:
        h = HawkesProcess(4.0, n, 1.0, random.Random(1))
        bins = [0] * 2000
        t = 0.0
        while True:
            t += h.next_gap()
            if t >= 2000:
                break
            bins[int(t)] += 1
        return statistics.pvariance(bins) / statistics.mean(bins)

    assert 0.8 < dispersion(0.0) < 1.2
    assert dispersion(0.7) > 2.0


def test_flow_limit_arrivals_match_configured_rate() -> None:
    cfg = FlowConfig("BHP", 450_000, limit_rate=8.0, market_rate=0.5, branching=0.7, decay=4.0)
    _, flow = make([cfg], seed=9)
    flow.seed_book(T0)
    while flow.next_event_ns() <= T0 + 2_000 * S:
        flow.advance(T0 + 2_000 * S)
    st = flow.stats()["BHP"]
    assert abs(st["limit"] - 16_000) < 0.1 * 16_000, st
    assert abs(st["market"] - 1_000) < 0.25 * 1_000, st


def test_auction_phase_is_passive_only_and_closed_is_seeded_later() -> None:
    cfg = FlowConfig("BHP", 450_000)
    eng, flow = make([cfg], phase=Phase.PRE_OPEN)
    flow.seed_book(T0)
    evs = flow.advance(T0 + 60 * S)
    assert not any(isinstance(e, TradeEvent) for e in evs)
    bids, asks = eng.snapshot("BHP", 1)
    assert bids[0][0] < asks[0][0]
    eng2, flow2 = make([cfg], phase=Phase.CLOSED)
    assert flow2.seed_book(T0) == []
    assert flow2.advance(T0 + 10 * S) == []
    eng2.set_phase("BHP", Phase.CONTINUOUS)
    evs = flow2.advance(T0 + 11 * S)
    assert any(isinstance(e, LevelEvent) for e in evs)
    assert eng2.snapshot("BHP", 1)[0]
    flow2.advance(T0 + 60 * S)
    eng2.set_phase("BHP", Phase.CLOSED)  # day orders expire
    assert eng2.snapshot("BHP", 1) == ([], [])
    flow2.advance(T0 + 120 * S)
    eng2.set_phase("BHP", Phase.PRE_OPEN)
    flow2.advance(T0 + 121 * S)
    bids, asks = eng2.snapshot("BHP", 10)
    assert len(bids) >= 5 and len(asks) >= 5 and bids[0][0] < asks[0][0]


def test_next_event_ns() -> None:
    _, flow = make([FlowConfig("BHP", 450_000)])
    assert flow.next_event_ns() == 0  # not started: call advance now
    flow.seed_book(T0)
    t = flow.next_event_ns()
    assert T0 < t < T0 + 10 * S
    assert flow.advance(t - 1) == []
    assert flow.advance(t)
    quiet = FlowConfig("XYZ", 15_000, limit_rate=0, market_rate=0, jump_rate=0, seed_levels=0)
    e2 = MatchingEngine({"XYZ": 15_000})
    e2.set_phase("XYZ", Phase.CONTINUOUS)
    f2 = BackgroundFlow(e2, [quiet], seed=1, start_ns=T0)
    assert f2.next_event_ns() == NEVER


def test_client_order_trades_with_background() -> None:
    eng, flow = make([FlowConfig("BHP", 450_000)])
    flow.seed_book(T0)
    _, asks = eng.snapshot("BHP", 1)
    evs = eng.submit("CLIENT", "ACC1", "BHP", "c1", Side.BUY, 100, asks[0][0])
    assert any(isinstance(e, TradeEvent) for e in evs)
    flow.advance(T0 + 300 * S)  # filled background orders are skipped by cancels, no rejects
    assert flow.stats()["BHP"]["rejected"] == 0


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"symbol": "bhp"}, "symbol"),
        ({"ref_price": 450_050}, "ref_price"),
        ({"ref_price": 45.0}, "ref_price"),
        ({"process": "hawk"}, "process"),
        ({"branching": 1.0}, "branching"),
        ({"decay": 0.0}, "decay"),
        ({"limit_rate": -1.0}, "limit_rate"),
        ({"cancel_rate": float("nan")}, "cancel_rate"),
        ({"depth_levels": 0}, "depth_levels"),
        ({"depth_decay": 1.5}, "depth_decay"),
        ({"order_qty": 0}, "order_qty"),
        ({"jump_ticks": 0.5}, "jump_ticks"),
        ({"seed_levels": 11}, "seed_levels"),
        ({"sweep_ticks": -1}, "sweep_ticks"),
    ],
)
def test_config_validation_names_the_field(kw: dict, field: str) -> None:
    args = {"symbol": "BHP", "ref_price": 450_000, **kw}
    with pytest.raises(FlowConfigError, match=f"'{field}'"):
        FlowConfig(**args)


def test_config_from_mapping_and_engine_mismatch() -> None:
    c = FlowConfig.from_mapping({"symbol": "BHP", "ref_price": 450_000, "limit_rate": 3})
    assert c.limit_rate == 3
    with pytest.raises(FlowConfigError, match=r"flow\[0\]\.limit_rat: unknown key"):
        FlowConfig.from_mapping({"symbol": "BHP", "ref_price": 450_000, "limit_rat": 3}, "flow[0]")
    with pytest.raises(FlowConfigError, match=r"flow\.ref_price: missing"):
        FlowConfig.from_mapping({"symbol": "BHP"})
    with pytest.raises(FlowConfigError, match="'branching'"):
        FlowConfig.from_mapping({"symbol": "BHP", "ref_price": 450_000, "branching": 2})
    with pytest.raises(FlowConfigError, match="not in the matching engine"):
        BackgroundFlow(MatchingEngine(["CBA"]), [c], seed=1)
    with pytest.raises(FlowConfigError, match="duplicate"):
        BackgroundFlow(MatchingEngine(["BHP"]), [c, c], seed=1)


def test_default_configs_span_the_three_tick_bands() -> None:
    ticks = sorted(tick_size(c.ref_price) for c in default_flow_configs())
    assert ticks == [10, 50, 100]


def test_random_client_orders_interleaved_with_flow() -> None:
    eng, flow = make(seed=21)
    rng = random.Random(5)
    flow.seed_book(T0)
    cid = 0
    for step in range(1, 1_201):
        now = T0 + step * S // 4
        evs = flow.advance(now)
        assert not any(isinstance(e, CancelRejectEvent) for e in evs)
        assert not any(isinstance(e, ExecEvent) and e.exec_type is ExecType.REJECTED for e in evs)
        sym = rng.choice(["BHP", "PLS", "NWX"])
        bids, asks = eng.snapshot(sym, 10)
        if not bids or not asks:
            continue
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        opp = asks if side is Side.BUY else bids
        px = opp[min(len(opp) - 1, rng.randrange(4))][0]  # marketable, sometimes sweeping 4 levels
        if rng.random() < 0.5:
            px = (bids if side is Side.BUY else asks)[0][0]  # or joining the touch
        qty = rng.choice([100, 1_000, 20_000, 400_000])
        cid += 1
        eng.submit("CL", f"ACC{cid % 3}", sym, str(cid), side, qty, px)
        for s in ("BHP", "PLS", "NWX"):
            b, a = eng.snapshot(s, 1)
            if b and a:
                assert b[0][0] < a[0][0]
    for s in ("BHP", "PLS", "NWX"):
        b, a = eng.snapshot(s, 5)
        assert b and a, s  # the flow rebuilds both sides after client sweeps
