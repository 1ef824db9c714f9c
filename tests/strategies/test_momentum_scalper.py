"""Momentum scalper: EMA values, crossing, 5-level imbalance, signal weights, entries and exits."""

from __future__ import annotations

import pytest
from strat_harness import RecordingContext, attach

from hft.model.types import OrdStatus, Side, TimeInForce
from hft.strategies.momentum_scalper import (
    FAST_ALPHA,
    SLOW_ALPHA,
    MomentumScalper,
    MomentumScalperParams,
)


def make(pos: int = 0, instruments: tuple[str, ...] = ("BHP",), **kw: object) -> tuple[RecordingContext,
                                                                                        MomentumScalper]:
    args: dict[str, object] = {"trade_size": 100, "entry_threshold": 0.3, "exit_threshold": 0.0,
                               "imbalance_levels": 5, "warmup_updates": 0}
    args.update(kw)
    ctx = RecordingContext(instruments)
    ctx.pos["BHP"] = pos
    ms = MomentumScalper(ctx, list(instruments), MomentumScalperParams(**args))  # type: ignore[arg-type]
    attach(ctx, ms)
    return ctx, ms


def at_mid(mid: int, half: int = 100, bq: int = 100, aq: int = 100) -> tuple[list[tuple[int, int]],
                                                                             list[tuple[int, int]]]:
    return [(mid - half, bq)], [(mid + half, aq)]


def test_alphas() -> None:
    assert FAST_ALPHA == 2 / 11 and SLOW_ALPHA == 2 / 31


def test_ema_values_after_a_step() -> None:
    ctx, ms = make(entry_threshold=1e9)  # never trades here
    ctx.feed(*at_mid(451_000))  # seeds both EMAs
    s = ms.state("BHP")
    assert (s.fast, s.slow, s.momentum, s.signal) == (451_000.0, 451_000.0, 0.0, 0.0)
    for k in range(1, 16):
        ctx.feed(*at_mid(452_000))
        fast = 452_000 - 1_000 * (9 / 11) ** k  # closed form of the EMA after k steps at the new level
        slow = 452_000 - 1_000 * (29 / 31) ** k
        assert s.fast == pytest.approx(fast, abs=1e-6)
        assert s.slow == pytest.approx(slow, abs=1e-6)
        assert s.momentum == pytest.approx((fast - slow) / 100, abs=1e-8)  # ticks of 100 units
        assert s.signal == pytest.approx(0.6 * s.momentum, abs=1e-8)  # equal sizes: imbalance 0
    assert s.n == 16


def test_momentum_crosses_when_the_fast_ema_falls_below_the_slow() -> None:
    ctx, ms = make(entry_threshold=1e9)
    s = ms.state("BHP")
    ctx.feed(*at_mid(451_000))
    for _ in range(10):
        ctx.feed(*at_mid(452_000))
    assert s.momentum > 0
    f10 = 452_000 - 1_000 * (9 / 11) ** 10
    s10 = 452_000 - 1_000 * (29 / 31) ** 10
    # then at 450_000: the first j where the closed-form fast EMA is below the slow one
    level = 450_000
    cross = next(j for j in range(1, 50)
                 if level + (f10 - level) * (9 / 11) ** j < level + (s10 - level) * (29 / 31) ** j)
    assert cross == 2  # two updates at the lower level (independently computed)
    signs = []
    for _ in range(4):
        ctx.feed(*at_mid(level))
        signs.append(s.momentum > 0)
    assert signs == [True, False, False, False]


def test_momentum_is_normalised_in_ticks_across_price_bands() -> None:
    # a 1-tick step at $45 (100 units) and at $1.00 (50 units) give the same momentum
    a, ma = make(entry_threshold=1e9)
    b, mb = make(entry_threshold=1e9)
    a.feed(*at_mid(451_000))
    b.feed(*at_mid(10_050, half=50))
    for _ in range(3):
        a.feed(*at_mid(451_100))
        b.feed(*at_mid(10_100, half=50))
    assert ma.state("BHP").momentum == pytest.approx(mb.state("BHP").momentum)
    assert ma.state("BHP").momentum > 0


def test_imbalance_uses_five_levels() -> None:
    ctx, ms = make(entry_threshold=1e9)
    bids = [(451_000 - 100 * i, 100) for i in range(5)] + [(450_400, 10_000)]  # 6th level ignored
    asks = [(451_100 + 100 * i, 50) for i in range(5)] + [(451_700, 10_000)]
    ctx.feed(bids, asks)
    s = ms.state("BHP")
    assert s.imbalance == pytest.approx((500 - 250) / 750)
    assert s.signal == pytest.approx(0.4 * (1 / 3))  # momentum 0 on the seeding update
    ms3 = MomentumScalper(ctx, ["BHP"], MomentumScalperParams(imbalance_levels=1, entry_threshold=9))
    ms3.on_book("BHP", ctx.books["BHP"])
    assert ms3.state("BHP").imbalance == pytest.approx((100 - 50) / 150)


def test_signal_weights() -> None:
    ctx, ms = make(entry_threshold=1e9)
    ctx.feed(*at_mid(451_000))
    ctx.feed(*at_mid(451_100, bq=300, aq=100))  # imbalance 0.5
    s = ms.state("BHP")
    mom = (451_000 + (100 * 2 / 11) - (451_000 + 100 * 2 / 31)) / 100
    assert s.momentum == pytest.approx(mom)
    assert s.signal == pytest.approx(0.6 * mom + 0.4 * 0.5)


# ------------------------------------------------------------------------------------------- entries
@pytest.mark.parametrize(("bq", "aq", "trades"), [(88, 12, True), (87, 13, False)])
def test_long_entry_threshold_just_above_and_below(bq: int, aq: int, trades: bool) -> None:
    # constant mid -> momentum 0, signal = 0.4 x imbalance: 0.4 x 0.76 = 0.304 > 0.3; 0.4 x 0.74 = 0.296
    ctx, _ = make()
    ctx.feed(*at_mid(451_000, bq=bq, aq=aq))
    if not trades:
        assert ctx.actions == []
        return
    (kind, o), = ctx.actions
    assert kind == "new" and o.side is Side.BUY and o.price == 451_100 and o.qty == 100
    assert o.tif is TimeInForce.IOC and o.tag == "entry"


@pytest.mark.parametrize(("bq", "aq", "trades"), [(12, 88, True), (13, 87, False)])
def test_short_entry_threshold_just_above_and_below(bq: int, aq: int, trades: bool) -> None:
    ctx, _ = make()
    ctx.feed(*at_mid(451_000, bq=bq, aq=aq))
    if not trades:
        assert ctx.actions == []
        return
    (kind, o), = ctx.actions
    assert kind == "new" and o.side is Side.SELL and o.price == 450_900 and o.qty == 100
    assert o.tif is TimeInForce.IOC


def test_entry_reverses_an_opposite_position_and_never_adds() -> None:
    ctx, _ = make(pos=-100)
    ctx.feed(*at_mid(451_000, bq=90, aq=10))
    assert ctx.orders[-1].side is Side.BUY and ctx.orders[-1].qty == 200  # cover 100 + go long 100
    ctx2, _ = make(pos=100)
    ctx2.feed(*at_mid(451_000, bq=10, aq=90))
    assert ctx2.orders[-1].side is Side.SELL and ctx2.orders[-1].qty == 200
    ctx3, _ = make(pos=100)
    ctx3.feed(*at_mid(451_000, bq=90, aq=10))  # already long: no pyramiding
    assert ctx3.actions == []


def test_nothing_while_an_order_is_working_then_fill_then_exit() -> None:
    ctx, _ = make()
    ctx.feed(*at_mid(451_000, bq=90, aq=10))
    entry = ctx.orders[-1]
    ctx.feed(*at_mid(451_000, bq=90, aq=10))
    ctx.feed(*at_mid(451_000, bq=10, aq=90))
    assert len(ctx.actions) == 1  # the IOC's answer has not arrived yet
    ctx.ack_all()
    ctx.fill(entry)
    assert ctx.pos["BHP"] == 100 and entry.status is OrdStatus.FILLED
    ctx.feed(*at_mid(451_000, bq=90, aq=10))
    assert len(ctx.actions) == 1  # long and signal still up: hold


def test_expired_ioc_allows_a_new_attempt() -> None:
    ctx, _ = make()
    ctx.feed(*at_mid(451_000, bq=90, aq=10))
    ctx.ack_all()
    ctx.expire(ctx.orders[-1])  # nothing filled
    ctx.feed(*at_mid(451_000, bq=90, aq=10))
    assert [a[0] for a in ctx.actions] == ["new", "new"]


def test_warmup() -> None:
    ctx, ms = make(warmup_updates=3)
    for _ in range(3):
        ctx.feed(*at_mid(451_000, bq=90, aq=10))
    assert ctx.actions == [] and ms.state("BHP").n == 3
    ctx.feed(*at_mid(451_000, bq=90, aq=10))
    assert len(ctx.actions) == 1


# ------------------------------------------------------------------------------------------- exits
@pytest.mark.parametrize(("bq", "aq", "exits"), [(45, 55, True), (55, 45, False)])
def test_long_exit_on_mean_reversion_past_the_exit_threshold(bq: int, aq: int, exits: bool) -> None:
    ctx, _ = make(pos=100)  # exit threshold 0: signal -0.04 exits, +0.04 holds
    ctx.feed(*at_mid(451_000, bq=bq, aq=aq))
    if not exits:
        assert ctx.actions == []
        return
    (kind, o), = ctx.actions
    assert kind == "new"
    assert (o.side, o.price, o.qty, o.tif, o.tag) == (Side.SELL, 450_900, 100, TimeInForce.IOC, "exit")


@pytest.mark.parametrize(("bq", "aq", "exits"), [(55, 45, True), (45, 55, False)])
def test_short_exit_on_mean_reversion(bq: int, aq: int, exits: bool) -> None:
    ctx, _ = make(pos=-100)
    ctx.feed(*at_mid(451_000, bq=bq, aq=aq))
    if not exits:
        assert ctx.actions == []
        return
    (kind, o), = ctx.actions
    assert kind == "new"
    assert (o.side, o.price, o.qty, o.tag) == (Side.BUY, 451_100, 100, "exit")


def test_nonzero_exit_threshold() -> None:
    # exit 0.1: a long exits once the signal drops below +0.1 (0.4 x 0.2 = 0.08), a short above -0.1
    ctx, _ = make(pos=100, exit_threshold=0.1)
    ctx.feed(*at_mid(451_000, bq=60, aq=40))
    assert ctx.orders[-1].tag == "exit" and ctx.orders[-1].side is Side.SELL
    ctx2, _ = make(pos=100, exit_threshold=0.1)
    ctx2.feed(*at_mid(451_000, bq=70, aq=30))  # 0.16: hold
    assert ctx2.actions == []
    ctx3, _ = make(pos=-100, exit_threshold=0.1)
    ctx3.feed(*at_mid(451_000, bq=40, aq=60))
    assert ctx3.orders[-1].tag == "exit" and ctx3.orders[-1].side is Side.BUY


def test_instruments_are_independent() -> None:
    ctx, _ = make(instruments=("BHP", "CBA"))
    ctx.feed(*at_mid(451_000, bq=90, aq=10), instrument="BHP")
    ctx.feed(*at_mid(1_200_000, bq=90, aq=10), instrument="CBA")  # BHP's working order does not block
    assert [o.instrument for o in ctx.orders] == ["BHP", "CBA"]


def test_stale_book_restarts_the_emas() -> None:
    ctx, ms = make(entry_threshold=1e9)
    ctx.feed(*at_mid(451_000))
    ctx.feed(*at_mid(452_000))
    ms.on_book_stale("BHP")
    ctx.feed(*at_mid(460_000))
    s = ms.state("BHP")
    assert (s.fast, s.slow, s.n) == (460_000.0, 460_000.0, 1)


def test_no_signal_without_a_two_sided_book() -> None:
    ctx, ms = make()
    ctx.feed([(451_000, 100)], [])
    assert ms.state("BHP").n == 0 and ctx.actions == []


@pytest.mark.parametrize(("kw", "key"), [
    ({"trade_size": 0}, "trade_size"), ({"entry_threshold": 0.0}, "entry_threshold"),
    ({"exit_threshold": 0.5}, "exit_threshold"), ({"exit_threshold": -0.6}, "exit_threshold"),
    ({"imbalance_levels": 0}, "imbalance_levels"), ({"warmup_updates": -1}, "warmup_updates"),
    ({"trade_size": 1.5}, "trade_size"),
])
def test_params_validation_names_the_key(kw: dict[str, object], key: str) -> None:
    with pytest.raises(ValueError, match=key):
        MomentumScalperParams(**kw)  # type: ignore[arg-type]
