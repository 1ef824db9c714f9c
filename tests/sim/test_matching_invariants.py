"""Property tests: random order flow across phases against the engine's invariants."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hft.model.types import OrdStatus, OrdType, Side, TimeInForce
from hft.sim import (
    CancelRejectEvent,
    ExecEvent,
    ExecType,
    LevelEvent,
    MatchingEngine,
    Phase,
    StpMode,
    TradeEvent,
)

PRICES = [99_000 + 100 * i for i in range(8)]
ACCOUNTS = ["A", "B", "C"]

submit = st.tuples(st.just("submit"), st.sampled_from(ACCOUNTS), st.sampled_from([Side.BUY, Side.SELL]),
              st.integers(1, 300), st.sampled_from(PRICES), st.sampled_from(list(OrdType)),
              st.sampled_from([TimeInForce.DAY, TimeInForce.DAY, TimeInForce.IOC, TimeInForce.FOK]))
op = st.one_of(
    submit, submit, submit, submit, submit,
    st.tuples(st.just("cancel"), st.integers(0, 60)),
    st.tuples(st.just("replace"), st.integers(0, 60), st.integers(1, 300), st.sampled_from(PRICES)),
    st.tuples(st.just("phase"), st.sampled_from([Phase.CONTINUOUS, Phase.PRE_OPEN, Phase.PRE_CSPA,
                                                 Phase.CLOSED])),
)


class Model:
    def __init__(self, stp: StpMode) -> None:
        self.e = MatchingEngine({"X": 99_500}, stp=stp)
        self.cl: list[str] = []
        self.n = 0
        self.fills: dict[int, list[tuple[int, int]]] = {}
        self.qty: dict[int, int] = {}
        self.limit: dict[int, tuple[Side, int]] = {}
        self.terminal: set[int] = set()
        self.bought = 0
        self.sold = 0

    def book_queues(self) -> dict[tuple[Side, int], list[int]]:
        out = {}
        for side in Side:
            for p in PRICES:
                out[(side, p)] = [o.order_id for o in self.e.orders_at("X", side, p)]
        return out

    def run(self, o: tuple) -> None:
        e = self.e
        before = self.book_queues()
        phase = e.books["X"].phase
        if o[0] == "submit":
            _, acct, side, qty, px, ot, tif = o
            self.n += 1
            cl = f"c{self.n}"
            self.cl.append(cl)
            evs = e.submit("s", acct, "X", cl, side, qty, px, ot, tif)
        elif o[0] == "cancel":
            if not self.cl:
                return
            orig = self.cl[o[1] % len(self.cl)]
            self.n += 1
            evs = e.cancel("s", f"c{self.n}", orig)
            self.cl.append(f"c{self.n}")
        elif o[0] == "replace":
            if not self.cl:
                return
            orig = self.cl[o[1] % len(self.cl)]
            self.n += 1
            evs = e.replace("s", f"c{self.n}", orig, o[2], o[3])
            self.cl.append(f"c{self.n}")
        else:
            evs = e.set_phase("X", o[1])
        self.check_events(evs, before, phase)
        self.check_book()

    def check_events(self, evs: list, before: dict[tuple[Side, int], list[int]], phase: Phase) -> None:
        queues = {k: list(v) for k, v in before.items()}
        prev_trade: TradeEvent | None = None
        for ev in evs:
            if isinstance(ev, TradeEvent):
                assert ev.qty > 0 and ev.buy_order_id != ev.sell_order_id
                bs, bp = self.limit[ev.buy_order_id]
                ss, sp = self.limit[ev.sell_order_id]
                assert bs is Side.BUY and ss is Side.SELL
                assert sp <= ev.price <= bp, "fill price within both limits"
                self.bought += ev.qty
                self.sold += ev.qty
                prev_trade = ev
                if ev.aggressor is not None:
                    # time priority: the resting order is the head of its level's queue
                    rest_side = ev.aggressor.opposite
                    rid = ev.sell_order_id if ev.aggressor is Side.BUY else ev.buy_order_id
                    q = queues[(rest_side, ev.price)]
                    assert q and q[0] == rid, (q, rid)
            elif isinstance(ev, ExecEvent):
                oid = ev.order_id
                if ev.exec_type in (ExecType.NEW, ExecType.REPLACED):
                    self.qty[oid] = ev.order_qty
                    self.limit[oid] = (ev.side, ev.price)
                if ev.exec_type in (ExecType.PARTIAL_FILL, ExecType.FILL):
                    assert prev_trade is not None and ev.last_px == prev_trade.price
                    assert ev.last_qty == prev_trade.qty and ev.trade_id == prev_trade.trade_id
                    self.fills.setdefault(oid, []).append((ev.last_px, ev.last_qty))
                    if ev.exec_type == ExecType.FILL:
                        for q in queues.values():
                            if q and q[0] == oid:
                                q.pop(0)
                if ev.exec_type in (ExecType.CANCELED, ExecType.EXPIRED):
                    for q in queues.values():
                        if oid in q:
                            q.remove(oid)
                f = self.fills.get(oid, [])
                assert ev.cum_qty == sum(q for _, q in f)
                assert ev.avg_px_num == sum(p * q for p, q in f) and ev.avg_px_den == ev.cum_qty
                if ev.ord_status.is_terminal:
                    assert ev.leaves_qty == 0
                    self.terminal.add(oid)
                else:
                    assert ev.cum_qty + ev.leaves_qty == ev.order_qty
                if ev.ord_status is OrdStatus.FILLED:
                    assert ev.cum_qty == ev.order_qty
            elif isinstance(ev, LevelEvent):
                assert ev.qty >= 0
            else:
                assert isinstance(ev, CancelRejectEvent)
        if phase is not Phase.CONTINUOUS:
            # only auction prints (no aggressor) outside continuous trading
            assert all(t.aggressor is None for t in evs if isinstance(t, TradeEvent))

    def check_book(self) -> None:
        e = self.e
        book = e.books["X"]
        bids, asks = e.snapshot("X", depth=100)
        if book.phase is Phase.CONTINUOUS and bids and asks:
            assert bids[0][0] < asks[0][0], "crossed book in continuous trading"
        assert [p for p, _, _ in bids] == sorted((p for p, _, _ in bids), reverse=True)
        assert [p for p, _, _ in asks] == sorted(p for p, _, _ in asks)
        # level aggregates == sum of resting leaves, conservation per live order
        for side, levels in ((Side.BUY, bids), (Side.SELL, asks)):
            for p, qty, cnt in levels:
                orders = e.orders_at("X", side, p)
                assert cnt == len(orders) and qty == sum(o.order_qty - o.cum_qty for o in orders) > 0
                seqs = [o.seq for o in orders]
                assert seqs == sorted(seqs)
                for o in orders:
                    assert o.order_id not in self.terminal
                    assert o.cum_qty == sum(q for _, q in self.fills.get(o.order_id, []))
        if book.phase is Phase.CLOSED:
            assert all(o.tif is not TimeInForce.DAY for o in e.orders.values())
        assert self.bought == self.sold


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(list(StpMode)), st.sampled_from([Phase.CONTINUOUS, Phase.PRE_OPEN]),
       st.lists(op, min_size=1, max_size=80))
def test_random_flow_invariants(stp: StpMode, start: Phase, ops: list[tuple]) -> None:
    m = Model(stp)
    m.e.set_phase("X", start)
    for o in ops:
        m.run(o)
    # quantity conservation per order: qty = filled + resting leaves + cancelled/expired remainder
    for oid, qty in m.qty.items():
        filled = sum(q for _, q in m.fills.get(oid, []))
        live = m.e.orders.get(oid)
        if live is not None:
            assert filled + (live.order_qty - live.cum_qty) == qty
        else:
            assert oid in m.terminal and filled <= qty
