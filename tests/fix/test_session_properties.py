"""Property tests: any byte chunking, and any pattern of lost messages, end in the same delivered stream."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from test_session_support import Link, RecordingApp, new_order_body

from hft.fix.encoder import FixEncoder
from hft.fix.session import FixSession, SessionConfig, SessionState
from hft.fix.store import MemoryStore


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=40))
def test_any_chunking_gives_the_same_messages(cuts: list[int]) -> None:
    enc = FixEncoder("FIX.4.4", "VENUE", "HFT")
    frames = [enc.encode(b"A", [(98, 0), (108, 30)], 1)]
    frames += [enc.encode(b"D", new_order_body(f"K{k}"), k + 2) for k in range(12)]
    stream = b"".join(frames)
    app = RecordingApp()
    s = FixSession(SessionConfig("FIX.4.4", "HFT", "VENUE", initiator=False), MemoryStore(), app)
    s.connection_made(lambda b: None, lambda r: None)
    pos = 0
    for c in [*sorted({min(c, len(stream)) for c in cuts}), len(stream)]:
        s.on_data(stream[pos:c])
        pos = c
    assert s.state == SessionState.ACTIVE
    assert [m.get(11) for m in app.app_msgs] == [b"K%d" % k for k in range(12)]
    assert s.next_target_seq == 14 and s.counters.bytes_in == len(stream)


@settings(max_examples=40, deadline=None)
@given(lost=st.sets(st.integers(min_value=2, max_value=21), max_size=12),
       version=st.sampled_from(["FIX.4.2", "FIX.4.4"]))
def test_any_loss_pattern_is_recovered_exactly_once_in_order(lost: set[int], version: str) -> None:
    link = Link(version)
    link.connect()
    link.drop_to_acc.update(lost)  # first transmissions of these seq nums vanish
    ids = [f"L{k}" for k in range(20)]
    for cl in ids:  # seq 2..21
        link.ini.send(b"D", new_order_body(cl))
        link.pump()
    link.advance(5.1)  # a heartbeat (seq 22) reveals a loss at the tail
    assert [m.get(11).decode() for m in link.acc_app.app_msgs] == ids
    assert link.acc.next_target_seq == link.ini.next_sender_seq
    assert not link.acc.resend_pending and link.acc.is_active and link.ini.is_active
    assert link.acc.counters.rejects_sent == 0
    assert (link.acc.counters.resend_requests_sent >= 1) == bool(lost)
    assert link.ini.counters.messages_resent >= len(lost)
    # every first delivery was in order; every copy after the first was a PossDup
    assert all(m.poss_dup for m in link.acc_app.app_msgs if m.seq_num in lost)
