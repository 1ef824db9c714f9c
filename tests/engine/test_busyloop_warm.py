"""Cache warming in the busy loop (``BusyLoop.add_warmer``, ``engine.busy_warm_us``): a warm-up pass runs the
tick path's code again (``FixMarketData.warm``: the 35=X reader's checks and decoding on the last frame;
``TradingEngine.warm``: book, risk check, order manager, 35=D encoding of the last order's shape) and must
change nothing observable: sequence numbers, stored frames, orders and ids, positions, books, risk state,
strategy state, counters, metrics, bytes on the wire.

The engine and the stub venue run in one process over real loopback TCP (``InProcessHotPath``). Every
check compares a deep snapshot of that state before and after; the negative controls show the snapshot
catches a warm-up that sends an order or only counts a risk check.
"""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from hft.bench.hotpath import SYMBOL, InProcessHotPath
from hft.engine.busyloop import BusyLoop
from hft.engine.config import config_from_dict
from hft.model.types import TimeInForce


@pytest.fixture
def hp() -> Iterator[InProcessHotPath]:
    h = InProcessHotPath(0.5)  # every second tick answered: ticks with and without an order
    try:
        yield h
    finally:
        h.close()


def _book(b: Any) -> tuple[Any, ...]:
    return (tuple(b.level(1, i) for i in range(12)), tuple(b.level(2, i) for i in range(12)), b.stale,
            b.n_bids, b.n_asks)


def _session(s: Any) -> tuple[Any, ...]:
    st = s.store
    return (s.state, st.next_sender_seq, st.next_target_seq, tuple(sorted(st._sent.items())),
            tuple(sorted(s.counters.as_dict().items())), s.last_write_ns, s._last_sent_ns, s._last_recv_ns,
            s.parser._base, s.parser.frames_ok)


def _wire_pending(sock: socket.socket) -> bytes:
    """Bytes waiting unread in a socket's receive buffer (peeked: left there)."""
    try:
        return sock.recv(1 << 16, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return b""


def snapshot(h: InProcessHotPath) -> dict[str, Any]:
    p = h.parts
    e, om, risk, md, gw, st = p.engine, p.engine.om, p.engine.risk, p.md, p.gateway, p.strategy
    return {
        "order_session": _session(p.order_session),
        "md_session": _session(p.md_session),
        "md": (tuple(sorted(md.counters.items())), md.tick, md.recv_ns, md.last_msg_ns,
               tuple((k, v.expected_seq, v.stale) for k, v in sorted(md.insts.items()))),
        "book": _book(e.books[SYMBOL]),
        "orders": tuple((k, repr(o)) for k, o in om.orders.items()),
        "open": tuple(o.cl_ord_id for o in om.open_orders()),
        "om": (om._seq, om.pending_new, om.pending_cancel, om.pending_replace,
               tuple(sorted(om.counters.items()))),
        "positions": (e.positions.position(SYMBOL), e.positions.gross_qty, e.positions.realised_cents),
        "risk": (tuple(risk.counts), risk._tokens_x, risk._last_ns, risk._valid_px, risk.kill.tripped,
                 risk.kill.blocked),
        "stats": (e.stats.orders_sent, e.stats.risk_rejected, e.stats.md_messages, e.stats.book_updates,
                  e.stats.tick_to_trade.count, e.stats.tick_to_trade.bucket_counts()),
        "engine": (e.killed, e.stopped, e.last_risk_reason, e.venue_rejects, e.strategy_errors),
        "strategy": (st.updates, st.answered, st.refused, st.skipped, st._due, st._last_bid, st._last_px),
        "gateway": (tuple(sorted(gw.sent.items())), gw.last_write_ns, gw.echo_tick),
        # bytes on the wire: what the venue's sockets have received and not yet read
        "wire_to_venue": (_wire_pending(h.v_order_conn.sock), _wire_pending(h.v_md_conn.sock)),
        "venue": (h.venue_orders.orders, h.v_order.counters.bytes_in, h.v_md.counters.bytes_in),
    }


def _run(h: InProcessHotPath, ticks: int) -> None:
    for _ in range(ticks):
        assert h.tick()
        h.drain()


def test_warm_up_changes_nothing_observable(hp: InProcessHotPath) -> None:
    md, engine = hp.parts.md, hp.parts.engine
    _run(hp, 20)
    assert hp.parts.strategy.answered >= 9
    before = snapshot(hp)
    for _ in range(50):
        assert md.warm() is True  # a canonical 35=X was there to check
        assert engine.warm() is True  # an order was there to shape the warm-up
    assert snapshot(hp) == before
    # the next tick and its order continue exactly where they were: ids, sequence numbers, counts
    seq_out = hp.parts.order_session.store.next_sender_seq
    om_seq = engine.om._seq
    _run(hp, 2)
    assert engine.om._seq == om_seq + 1 and hp.parts.order_session.store.next_sender_seq == seq_out + 1
    assert hp.venue_orders.orders == before["venue"][0] + 1


def test_warm_up_with_an_order_still_open(hp: InProcessHotPath) -> None:
    """The order the warm-up is shaped on is still in flight (not yet acknowledged): still nothing moves."""
    _run(hp, 10)
    hp.tick()
    hp.tick()  # answered, but the venue has not read it yet
    assert hp.parts.engine.om.open_orders()
    before = snapshot(hp)
    assert before["wire_to_venue"][0]  # the 35=D waits in the venue's socket
    for _ in range(20):
        hp.parts.md.warm()
        hp.parts.engine.warm()
    assert snapshot(hp) == before


def test_warm_up_before_any_order_or_frame_does_nothing() -> None:
    h = InProcessHotPath(0.001)  # answers the 1000th update only
    try:
        before = snapshot(h)
        assert h.parts.md.warm() is False and h.parts.engine.warm() is False
        assert snapshot(h) == before
        _run(h, 3)
        before = snapshot(h)
        assert h.parts.md.warm() is True and h.parts.engine.warm() is False  # no order to shape it on
        assert snapshot(h) == before
    finally:
        h.close()


def test_warm_up_does_nothing_once_killed(hp: InProcessHotPath) -> None:
    _run(hp, 4)
    hp.parts.engine.kill("test")
    hp.drain()
    before = snapshot(hp)
    assert hp.parts.engine.warm() is False
    assert snapshot(hp) == before


def test_warmed_run_sends_the_same_orders_as_an_unwarmed_one() -> None:
    """Two hot paths fed the same ticks, one warmed between every tick: the venue receives the same 35=D
    frames (times and checksum masked) and both end in the same state."""
    times = re.compile(rb"\x01(52|60)=[^\x01]*|\x0110=\d{3}\x01$")
    got: list[list[bytes]] = []
    states: list[dict[str, Any]] = []
    for warm in (False, True):
        h = InProcessHotPath(0.5)
        try:
            frames: list[bytes] = []
            for _ in range(30):
                assert h.tick()
                if warm:
                    h.parts.md.warm()
                    h.parts.engine.warm()
                h.drain()
                if warm:
                    h.parts.md.warm()
                    h.parts.engine.warm()
            frames = [times.sub(b"", f) for _, f in sorted(h.parts.order_session.store._sent.items())]
            got.append(frames)
            s = snapshot(h)
            states.append({k: s[k] for k in ("open", "om", "positions", "strategy", "book")}
                          | {"md": (s["md"][0], s["md"][1], s["md"][4]),  # (not its read times)
                             "risk_counts": s["risk"][0], "stats": s["stats"][:4], "venue": s["venue"][0]})
        finally:
            h.close()
    assert len(got[0]) == 15 and got[0] == got[1]
    assert states[0] == states[1]


def test_the_snapshot_catches_a_warm_up_with_side_effects(hp: InProcessHotPath) -> None:
    """Negative controls: a 'warm-up' that sends an order (bytes on the wire, ids, sequence numbers), or one
    that only runs the counting risk check, is seen by the snapshot."""
    _run(hp, 6)
    before = snapshot(hp)
    px = hp.parts.engine.books[SYMBOL].best_bid() - 500
    assert hp.parts.engine.buy(SYMBOL, px, 1, TimeInForce.IOC) is not None
    after = snapshot(hp)
    changed = {k for k in before if before[k] != after[k]}
    assert {"wire_to_venue", "order_session", "orders", "om", "risk", "stats"} <= changed
    _run(hp, 2)
    before = snapshot(hp)
    hp.parts.engine.risk.check(SYMBOL, 1, px, 1)
    assert {k for k, v in snapshot(hp).items() if before[k] != v} == {"risk"}


def test_fast_reader_dry_run_checks_without_applying(hp: InProcessHotPath) -> None:
    md = hp.parts.md
    _run(hp, 3)
    frame, expected = md._warm_frame, md._warm_expected
    assert frame.find(b"\x0135=X\x01") > 0 and expected == hp.parts.md_session.store.next_target_seq - 1
    before = snapshot(hp)
    assert md._fast_x(frame, expected, True) is True
    bad = frame[:-2] + (b"1\x01" if frame[-2:] == b"0\x01" else b"0\x01")  # a wrong CheckSum digit
    assert md._fast_x(bad, expected, True) is False  # refused, as live
    assert md._fast_x(frame, expected + 1, True) is False  # not the MsgSeqNum expected
    assert snapshot(hp) == before


def test_busy_loop_runs_warmers_only_while_idle_and_drops_one_that_raises(
        caplog: pytest.LogCaptureFixture) -> None:
    calls: list[str] = []

    def bad() -> None:
        calls.append("bad")
        raise RuntimeError("boom")

    loop = BusyLoop(warm_interval_us=1.0)
    loop.add_warmer(lambda: calls.append("a"))
    loop.add_warmer(bad)
    with caplog.at_level(logging.ERROR, logger="hft.engine.busyloop"):
        assert loop.wait_for(lambda: calls.count("a") >= 5, 5)
    assert calls.count("bad") == 1 and "warmer" in caplog.text  # dropped after raising once
    assert loop.warms >= 5 and loop.warm_socket_bytes > 0  # (the loop's own socket warmer, in turn)
    loop.shutdown(0.1)
    off = BusyLoop()  # warm_interval_us = 0: off
    n: list[int] = []
    off.add_warmer(lambda: n.append(1))
    for _ in range(1000):
        off.poll_once()
    assert not n and off.warms == 0


def test_engine_config_busy_warm_us() -> None:
    assert config_from_dict({}, "<t>").engine.busy_warm_us == 200.0
    assert config_from_dict({"engine": {"busy_warm_us": 0}}, "<t>").engine.busy_warm_us == 0.0
    with pytest.raises(Exception, match="busy_warm_us"):
        config_from_dict({"engine": {"busy_warm_us": -1}}, "<t>")


def test_socket_warmer_uses_its_own_loopback_connection(hp: InProcessHotPath) -> None:
    """The loop's socket warmer writes and reads one byte on a private connection: the trading connections
    and everything else stay as they were; shutdown closes it."""
    _run(hp, 4)
    loop = BusyLoop(warm_interval_us=1.0)
    assert loop._wsock is not None and loop.warm_socket in loop._warmers
    before = snapshot(hp)
    for _ in range(100):
        loop.warm_socket()
    assert snapshot(hp) == before
    assert 90 <= loop.warm_socket_bytes <= 100  # (a byte not yet delivered is read by the next pass)
    a, b = loop._wsock
    loop.shutdown(0.1)
    assert loop._wsock is None and a.fileno() == -1 and b.fileno() == -1
    assert BusyLoop(warm_interval_us=1.0, warm_socket=False)._wsock is None
    assert BusyLoop()._wsock is None  # no warming, no socket
