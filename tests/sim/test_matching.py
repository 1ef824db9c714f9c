from __future__ import annotations

from hft.model.types import OrdStatus, OrdType, Side, TimeInForce
from hft.sim import (
    CancelRejectEvent,
    ExecEvent,
    ExecType,
    LevelEvent,
    LotRules,
    MatchingEngine,
    Phase,
    RejReason,
    StpMode,
    TradeEvent,
)

B, S = Side.BUY, Side.SELL
P10 = 100_000  # $10.00


def eng(stp: StpMode = StpMode.CANCEL_RESTING, lots: LotRules | None = None) -> MatchingEngine:
    e = MatchingEngine(["BHP"], stp=stp, lot_rules=lots)
    e.set_phase("BHP", Phase.CONTINUOUS)
    return e


def ex(evs: list) -> list[ExecEvent]:
    return [x for x in evs if isinstance(x, ExecEvent)]


def tr(evs: list) -> list[TradeEvent]:
    return [x for x in evs if isinstance(x, TradeEvent)]


def test_limit_rests_then_partial_and_full_fill_with_avgpx() -> None:
    e = eng()
    evs = e.submit("s1", "A", "BHP", "1", S, 100, P10)
    assert [x.exec_type for x in ex(evs)] == [ExecType.NEW]
    assert [(x.side, x.price, x.qty) for x in evs if isinstance(x, LevelEvent)] == [(S, P10, 100)]
    e.submit("s1", "A", "BHP", "2", S, 100, P10 + 100)
    evs = e.submit("s2", "B", "BHP", "9", B, 150, P10 + 100)
    t = tr(evs)
    assert [(x.price, x.qty, x.aggressor) for x in t] == [(P10, 100, B), (P10 + 100, 50, B)]
    buy = [x for x in ex(evs) if x.cl_ord_id == "9"]
    assert [(x.exec_type, x.cum_qty, x.leaves_qty, x.last_px) for x in buy] == [
        (ExecType.NEW, 0, 150, 0), (ExecType.PARTIAL_FILL, 100, 50, P10), (ExecType.FILL, 150, 0, P10 + 100)]
    assert buy[-1].avg_px_num == 100 * P10 + 50 * (P10 + 100) and buy[-1].avg_px_den == 150
    assert buy[-1].session == "s2" and buy[-1].account == "B"
    assert e.snapshot("BHP") == ([], [(P10 + 100, 50, 1)])
    ids = {x.exec_id for x in ex(evs)}
    assert len(ids) == len(ex(evs))


def test_rejects_off_tick_lot_closed_unknown() -> None:
    e = eng(lots=LotRules(min_qty=10, lot_size=10, max_qty=1000))
    r = ex(e.submit("s", "A", "BHP", "1", B, 100, P10 + 50))[0]
    assert r.exec_type == ExecType.REJECTED and r.rej_reason == RejReason.OTHER and "tick" in r.text
    assert ex(e.submit("s", "A", "BHP", "2", B, 15, P10))[0].rej_reason == RejReason.INCORRECT_QUANTITY
    assert ex(e.submit("s", "A", "BHP", "3", B, 5, P10))[0].rej_reason == RejReason.INCORRECT_QUANTITY
    assert ex(e.submit("s", "A", "BHP", "4", B, 2000, P10))[0].rej_reason == RejReason.EXCEEDS_LIMIT
    assert ex(e.submit("s", "A", "XYZ", "5", B, 10, P10))[0].rej_reason == RejReason.UNKNOWN_SYMBOL
    # 1.995 is valid (0.5c step below $2), 1.993 is not
    assert ex(e.submit("s", "A", "BHP", "6", B, 10, 19_950))[0].exec_type == ExecType.NEW
    assert ex(e.submit("s", "A", "BHP", "7", B, 10, 19_930))[0].exec_type == ExecType.REJECTED
    assert ex(e.submit("s", "A", "BHP", "6", B, 10, 19_950))[0].rej_reason == RejReason.DUPLICATE_ORDER
    e.set_phase("BHP", Phase.CLOSED)
    assert ex(e.submit("s", "A", "BHP", "8", B, 10, P10))[0].rej_reason == RejReason.EXCHANGE_CLOSED


def test_market_to_limit_rests_at_last_traded_price() -> None:
    e = eng()
    e.submit("s", "A", "BHP", "a1", S, 100, P10)
    e.submit("s", "A", "BHP", "a2", S, 100, P10 + 100)
    evs = e.submit("s", "B", "BHP", "m", B, 150, ord_type=OrdType.MARKET)
    assert [(x.price, x.qty) for x in tr(evs)] == [(P10, 100)]  # only best level
    last = [x for x in ex(evs) if x.cl_ord_id == "m"][-1]
    assert last.ord_status == OrdStatus.PARTIALLY_FILLED and last.leaves_qty == 50
    assert e.snapshot("BHP") == ([(P10, 50, 1)], [(P10 + 100, 100, 1)])
    r = ex(eng().submit("s", "B", "BHP", "m", B, 1, ord_type=OrdType.MARKET))[0]
    assert r.exec_type == ExecType.REJECTED


def test_ioc_and_fok() -> None:
    e = eng()
    e.submit("s", "A", "BHP", "a", S, 100, P10)
    evs = e.submit("s", "B", "BHP", "i", B, 150, P10, tif=TimeInForce.IOC)
    assert [x.exec_type for x in ex(evs) if x.cl_ord_id == "i"] == [ExecType.NEW, ExecType.PARTIAL_FILL,
                                                                      ExecType.EXPIRED]
    assert ex(evs)[-1].cum_qty == 100 and ex(evs)[-1].leaves_qty == 0
    assert e.snapshot("BHP") == ([], [])
    e.submit("s", "A", "BHP", "a2", S, 100, P10)
    evs = e.submit("s", "B", "BHP", "f", B, 101, P10, tif=TimeInForce.FOK)
    assert not tr(evs) and ex(evs)[-1].exec_type == ExecType.EXPIRED
    evs = e.submit("s", "B", "BHP", "f2", B, 100, P10, tif=TimeInForce.FOK)
    assert [x.qty for x in tr(evs)] == [100] and ex(evs)[-1].exec_type == ExecType.FILL


def test_cancel_and_unknown_cancel_reject() -> None:
    e = eng()
    e.submit("s", "A", "BHP", "1", B, 100, P10)
    evs = e.cancel("s", "2", "1")
    c = ex(evs)[0]
    assert c.exec_type == ExecType.CANCELED and c.orig_cl_ord_id == "1" and c.cl_ord_id == "2"
    assert c.leaves_qty == 0 and [(x.price, x.qty) for x in evs if isinstance(x, LevelEvent)] == [(P10, 0)]
    rej = e.cancel("s", "3", "1")
    assert isinstance(rej[0], CancelRejectEvent) and not rej[0].is_replace
    assert isinstance(e.replace("s", "4", "nope", 10, P10)[0], CancelRejectEvent)


def test_replace_priority_rules() -> None:
    e = eng()
    e.submit("s", "A", "BHP", "1", B, 100, P10)
    e.submit("s", "B", "BHP", "2", B, 100, P10)
    # qty decrease keeps priority
    evs = e.replace("s", "1b", "1", 60, P10)
    assert ex(evs)[0].exec_type == ExecType.REPLACED and ex(evs)[0].leaves_qty == 60
    assert [o.cl_ord_id for o in e.orders_at("BHP", B, P10)] == ["1b", "2"]
    # qty increase loses it
    e.replace("s", "1c", "1b", 80, P10)
    assert [o.cl_ord_id for o in e.orders_at("BHP", B, P10)] == ["2", "1c"]
    # price change loses it, and back at same price goes to the back
    e.replace("s", "2b", "2", 100, P10 + 100)
    e.replace("s", "2c", "2b", 100, P10)
    assert [o.cl_ord_id for o in e.orders_at("BHP", B, P10)] == ["1c", "2c"]
    assert e.snapshot("BHP")[0] == [(P10, 180, 2)]
    # marketable replace matches
    e.submit("s", "C", "BHP", "x", S, 50, P10 + 200)
    evs = e.replace("s", "1d", "1c", 80, P10 + 200)
    assert [(t.price, t.qty) for t in tr(evs)] == [(P10 + 200, 50)]


def test_stp_modes() -> None:
    for mode in StpMode:
        e = eng(stp=mode)
        e.submit("s", "A", "BHP", "r", S, 100, P10)
        evs = e.submit("s", "A", "BHP", "i", B, 100, P10)
        if mode is StpMode.OFF:
            assert [t.qty for t in tr(evs)] == [100]
        elif mode is StpMode.CANCEL_RESTING:
            assert not tr(evs)
            assert [(x.cl_ord_id, x.exec_type) for x in ex(evs)][1] == ("r", ExecType.CANCELED)
            assert e.snapshot("BHP") == ([(P10, 100, 1)], [])
        else:
            assert not tr(evs) and ex(evs)[-1].cl_ord_id == "i"
            assert ex(evs)[-1].exec_type == ExecType.CANCELED
            assert e.snapshot("BHP") == ([], [(P10, 100, 1)])


def test_price_time_priority_across_levels() -> None:
    e = eng()
    e.submit("s", "A", "BHP", "1", S, 10, P10 + 100)
    e.submit("s", "B", "BHP", "2", S, 10, P10)
    e.submit("s", "C", "BHP", "3", S, 10, P10)
    evs = e.submit("s", "D", "BHP", "x", B, 25, P10 + 100)
    assert [(t.sell_order_id, t.price, t.qty) for t in tr(evs)] == [(2, P10, 10), (3, P10, 10),
                                                                    (1, P10 + 100, 5)]
