"""FixSession.send_built + FixEncoder.new_order_single(tail=...): the tuple-free 35=D path is byte-identical
to the generic one, stored and sequenced the same way."""

from __future__ import annotations

import pytest

from hft.fix.encoder import FixEncoder, format_utc_timestamp
from hft.fix.parser import FixMessage, parse_one
from hft.fix.session import FixSession, SessionApplication, SessionConfig, SessionError, SessionState
from hft.fix.store import MemoryStore

T0 = 1_732_700_000_123_456_000


def test_tail_and_exdest_match_generic_encode() -> None:
    enc = FixEncoder("FIX.4.2", "HFT", "ASXSIM")
    fast = enc.new_order_single(9, b"K1-7", b"BHP", 1, 100, 449_500, tif=b"3", account=b"PAPER",
                                exdest=b"ASX", sending_time_ns=T0, tail=b"\x0115=AUD\x01167=CS\x016001=42")
    ts = format_utc_timestamp(T0)
    slow = enc.encode("D", [(1, "PAPER"), (21, "1"), (11, "K1-7"), (55, "BHP"), (54, 1), (38, 100), (40, "2"),
                            (44, "44.95"), (59, "3"), (60, ts), (100, "ASX"), (15, "AUD"), (167, "CS"),
                            (6001, 42)], 9, T0)
    assert fast == slow
    m = parse_one(fast)
    assert m.get_int(6001) == 42 and m.get_price(44) == 449_500 and m.get(100) == b"ASX"
    # without tail/exdest: unchanged from before the tail parameter existed
    assert enc.new_order_single(3, b"A", b"BHP", 2, 5, None, ord_type=b"1", sending_time_ns=T0) == enc.encode(
        "D", [(21, "1"), (11, "A"), (55, "BHP"), (54, 2), (38, 5), (40, "1"), (59, "0"), (60, ts)], 3, T0)


def _active_pair() -> tuple[FixSession, FixSession, list[bytes]]:
    a = FixSession(SessionConfig(sender_comp_id="HFT", target_comp_id="ASXSIM"), MemoryStore())
    b = FixSession(SessionConfig(sender_comp_id="ASXSIM", target_comp_id="HFT", initiator=False),
                   MemoryStore())
    wire_a: list[bytes] = []
    wire_b: list[bytes] = []
    b.connection_made(wire_b.append, lambda r: None)
    a.connection_made(wire_a.append, lambda r: None)
    for _ in range(3):
        while wire_a:
            b.on_data(wire_a.pop(0))
        while wire_b:
            a.on_data(wire_b.pop(0))
    assert a.state == SessionState.ACTIVE and b.state == SessionState.ACTIVE
    return a, b, wire_a


def test_send_built_is_stored_sequenced_and_accepted_by_the_peer() -> None:
    a, b, wire = _active_pair()
    seen: list[int] = []

    def build(seq: int, now: int) -> bytes:
        seen.append(seq)
        return a.encoder.new_order_single(seq, b"C1", b"BHP", 1, 10, 450_000, sending_time_ns=now)

    seq = a.send_built(build)
    assert seen == [seq] and a.next_sender_seq == seq + 1 and a.counters.app_out == 1
    frame = wire[-1]
    assert parse_one(frame).seq_num == seq
    got: list[bytes] = []

    class Collect(SessionApplication):
        def on_app_message(self, session: FixSession, msg: FixMessage) -> None:
            got.append(msg.raw)

    b.app = Collect()
    b.on_data(frame)
    assert got == [frame] and b.next_target_seq == seq + 1 and b.counters.rejects_sent == 0
    # a resend request for it returns the same bytes (PossDup), i.e. it was stored
    a.on_data(b.encoder.encode("2", [(7, seq), (16, 0)], b.next_sender_seq))
    assert any(b"\x0143=Y" in f and b"\x0111=C1\x01" in f for f in wire[-2:])


def test_send_built_refused_when_not_logged_on() -> None:
    s = FixSession(SessionConfig(), MemoryStore())
    with pytest.raises(SessionError):
        s.send_built(lambda seq, now: b"")


def test_send_new_order_t_equals_send_built_of_the_template_path() -> None:
    clock = [T0]
    frames: list[list[bytes]] = []
    for direct in (False, True):
        a, _b, wire = _active_pair()
        a.clock = lambda: clock[0]
        t = a.encoder.d_template(b"BHP", 1, ord_type=b"2", tif=b"3", account=b"PAPER", exdest=b"ASX",
                                 tail=b"\x0115=AUD")
        if direct:
            seq = a.send_new_order_t(t, b"C9", 25, 449_500, b"\x016001=7")
        else:
            def build(s: int, now: int, enc: FixEncoder = a.encoder, t: tuple[bytes, ...] = t) -> bytes:
                return enc.new_order_single_t(s, now, t, b"C9", 25, 449_500, b"\x016001=7")

            seq = a.send_built(build)
        assert a.counters.app_out == 1 and a.next_sender_seq == seq + 1
        assert dict(a.store.get_sent(seq, seq))[seq] == wire[-1]
        frames.append(wire)
    assert frames[0][-1] == frames[1][-1]
    s = FixSession(SessionConfig(), MemoryStore())
    with pytest.raises(SessionError):
        s.send_new_order_t((b"",) * 5, b"X", 1, None)
