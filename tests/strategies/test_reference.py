"""Reference strategy: a bid at the best bid every ``every_n`` updates, cancelled after ``cancel_after``."""

from __future__ import annotations

import pytest
from strat_harness import RecordingContext, attach

from hft.model.types import OrdStatus, Side, TimeInForce
from hft.strategies.reference import Reference, ReferenceParams

BOOK = ([(451_000, 100)], [(451_100, 100)])


def test_bids_every_n_updates_and_cancels_after_m() -> None:
    ctx = RecordingContext()
    ref = attach(ctx, Reference(ctx, ["BHP"], ReferenceParams(qty=5, every_n=3, cancel_after=2)))
    assert isinstance(ref, Reference)
    ctx.feed(*BOOK)
    ctx.feed(*BOOK)
    assert ctx.actions == []
    ctx.feed(*BOOK)  # update 3
    (kind, o), = ctx.actions
    assert kind == "new" and (o.side, o.price, o.qty, o.tif, o.tag) == (Side.BUY, 451_000, 5, TimeInForce.DAY,
                                                                       "ref")
    ctx.ack_all()
    ctx.feed(*BOOK)  # update 4: 1 update old
    assert len(ctx.actions) == 1
    ctx.feed(*BOOK)  # update 5: 2 updates old -> cancel
    assert ctx.actions[-1] == ("cancel", o)
    ctx.feed(*BOOK)  # update 6: the cancel is in flight; no second cancel, no new order
    assert len(ctx.actions) == 2
    ctx.ack_all()
    assert o.status is OrdStatus.CANCELED
    for _ in range(3):  # updates 7, 8, 9: a new bid on 9
        ctx.feed([(451_100, 100)], [(451_200, 100)])
    assert ctx.actions[-1][0] == "new" and ctx.actions[-1][1].price == 451_100
    assert ref.updates == 9


def test_filled_order_is_not_cancelled() -> None:
    ctx = RecordingContext()
    attach(ctx, Reference(ctx, ["BHP"], ReferenceParams(qty=1, every_n=1, cancel_after=5)))
    ctx.feed(*BOOK)
    ctx.ack_all()
    ctx.fill(ctx.orders[0])
    ctx.feed(*BOOK)
    assert [a[0] for a in ctx.actions] == ["new", "new"] and ctx.pos["BHP"] == 1


def test_no_bid_on_an_empty_bid_side() -> None:
    ctx = RecordingContext()
    attach(ctx, Reference(ctx, ["BHP"], ReferenceParams(every_n=1)))
    ctx.feed([], [(451_100, 100)])
    assert ctx.actions == []


@pytest.mark.parametrize("kw", [{"qty": 0}, {"every_n": 0}, {"cancel_after": -1}])
def test_params_must_be_positive(kw: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="positive"):
        ReferenceParams(**kw)
