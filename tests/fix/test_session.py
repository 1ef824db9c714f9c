"""FixSession (sans-IO) driven by two real sessions back to back, with a manual clock."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_session_support import Link, new_order_body

from hft.fix.encoder import FixEncoder
from hft.fix.parser import FixMessage
from hft.fix.session import SessionError, SessionState
from hft.fix.store import FileStore, MemoryStore


def _types(msgs: list[FixMessage]) -> list[bytes]:
    return [m.msg_type for m in msgs]


def test_logon_order_fill_logout(version: str) -> None:
    link = Link(version)
    link.connect()
    assert link.ini.state == SessionState.ACTIVE and link.acc.state == SessionState.ACTIVE
    assert link.acc.heartbeat_interval == 5  # acceptor adopted the initiator's HeartBtInt
    logon = link.from_ini[0]
    assert logon.msg_type == b"A" and logon.get_int(108) == 5 and logon.get_int(98) == 0
    assert logon.begin_string == version.encode()
    seq = link.ini.send(b"D", new_order_body("ORD1"))
    link.pump()
    assert seq == 2
    assert [m.get(11) for m in link.acc_app.app_msgs] == [b"ORD1"]
    fills = link.ini_app.app_msgs
    assert len(fills) == 1 and fills[0].msg_type == b"8" and fills[0].get_int(14) == 100
    assert fills[0].get_price(31) == 456_700  # 45.67 in 1/10,000 dollars
    assert (link.ini.next_sender_seq, link.ini.next_target_seq) == (3, 3)
    assert (link.acc.next_sender_seq, link.acc.next_target_seq) == (3, 3)
    assert link.ini.counters.app_out == 1 and link.ini.counters.app_in == 1
    link.ini.logout("bye")
    assert link.ini.state == SessionState.LOGOUT_SENT
    link.pump()
    assert link.ini.state == SessionState.DISCONNECTED and link.acc.state == SessionState.DISCONNECTED
    assert _types(link.from_ini)[-1] == b"5" and _types(link.from_acc)[-1] == b"5"
    assert link.acc.last_logout_text == "bye"
    assert ("logout", "logout confirmed") in link.ini_app.events
    assert link.ini_app.states == [SessionState.CONNECTED, SessionState.LOGON_SENT, SessionState.ACTIVE,
                                   SessionState.LOGOUT_SENT, SessionState.DISCONNECTED]
    with pytest.raises(SessionError):
        link.ini.send(b"D", new_order_body("LATE"))


def test_heartbeats_and_test_request_then_silent_peer_disconnect() -> None:
    link = Link()
    link.connect()
    n0 = len(link.from_ini)
    link.advance(4.9)
    assert len(link.from_ini) == n0  # nothing before HeartBtInt
    link.advance(0.2)
    assert _types(link.from_ini)[n0:] == [b"0"] and _types(link.from_acc)[-1] == b"0"
    # the initiator goes silent: the acceptor sends a TestRequest after 1.5 * HeartBtInt of silence
    # (test_request_factor) and disconnects at 2.4 * HeartBtInt (heartbeat_timeout_factor): two separate
    # limits, so no Heartbeat of ours slips in between the TestRequest and the disconnect
    link.mute_ini = True
    link.advance(7.3)
    assert not [m for m in link.from_acc if m.msg_type == b"1"]
    link.advance(0.3)
    tr = [m for m in link.from_acc if m.msg_type == b"1"]
    assert len(tr) == 1 and tr[0].get(112) == b"TEST"  # QuickFIX's TestReqID
    n_tr = len(link.from_acc)
    assert link.acc.state == SessionState.ACTIVE
    link.advance(4.3)
    assert link.acc.state == SessionState.ACTIVE
    link.advance(0.2)
    assert link.acc.state == SessionState.DISCONNECTED
    assert len(link.from_acc) == n_tr  # nothing after the TestRequest: no Heartbeat before the disconnect
    assert "TestRequest" in link.acc.disconnect_reason
    assert link.acc.counters.test_requests_sent == 1


def test_test_request_is_answered_with_its_id() -> None:
    link = Link()
    link.connect()
    link.inject_to_acc(b"1", [(112, b"PING-42")], link.acc.next_target_seq)
    hb = link.from_acc[-1]
    assert hb.msg_type == b"0" and hb.get(112) == b"PING-42"


def test_gap_triggers_resend_with_possdup_and_gapfill(version: str) -> None:
    link = Link(version)
    link.connect()
    link.ini.send(b"D", new_order_body("A1"))  # seq 2
    link.pump()
    link.advance(5.1)  # heartbeats: initiator seq 3 (admin, will be gap-filled)
    link.drop_to_acc.update({4, 5})
    link.ini.send(b"D", new_order_body("A2"))  # seq 4, lost
    link.ini.send(b"D", new_order_body("A3"))  # seq 5, lost
    link.pump()
    assert [m.get(11) for m in link.acc_app.app_msgs] == [b"A1"]
    link.ini.send(b"D", new_order_body("A4"))  # seq 6 arrives: gap 4..5
    link.pump()
    rr = [m for m in link.from_acc if m.msg_type == b"2"]
    assert len(rr) == 1 and rr[0].get_int(7) == 4 and rr[0].get_int(16) == 0
    assert [m.get(11) for m in link.acc_app.app_msgs] == [b"A1", b"A2", b"A3", b"A4"]
    dup = link.acc_app.app_msgs[1]
    assert dup.poss_dup and dup.get_timestamp_ns(122) is not None and dup.seq_num == 4
    assert not link.acc_app.app_msgs[3].poss_dup
    assert link.acc.next_target_seq == 7 and not link.acc.resend_pending
    # the ResendRequest asked up to infinity: 4, 5 and 6 come back; the duplicate 6 is ignored
    assert link.ini.counters.messages_resent == 3 and link.acc.counters.resend_requests_sent == 1
    assert link.acc.counters.duplicates_ignored == 1
    # now ask the initiator to resend everything: admin messages come back as gap fills
    n = len(link.from_ini)
    link.ini.on_data(FixEncoder(version, "VENUE", "CLIENT").encode(
        b"2", [(7, 1), (16, 0)], link.ini.next_target_seq, link.now))
    out = link.from_ini[n:]
    assert [(m.msg_type, m.seq_num) for m in out] == [
        (b"4", 1), (b"D", 2), (b"4", 3), (b"D", 4), (b"D", 5), (b"D", 6)]
    assert out[0].get_int(36) == 2 and out[0].get(123) == b"Y" and out[0].poss_dup
    assert out[2].get_int(36) == 4
    assert all(m.poss_dup and m.has(122) for m in out)
    assert out[1].get(11) == b"A1" and out[1].get_timestamp_ns(122) < out[1].get_timestamp_ns(52)


def test_too_low_seq_num_ends_session() -> None:
    link = Link()
    link.connect()
    link.ini.send(b"D", new_order_body("X"))
    link.pump()
    link.inject_to_acc(b"D", new_order_body("Y"), 2)  # seq 2 again, no PossDup
    lo = link.from_acc[-1]
    assert lo.msg_type == b"5"
    assert lo.get_str(58) == "MsgSeqNum too low, expecting 3 but received 2"
    assert link.acc.state == SessionState.DISCONNECTED


def test_possdup_duplicate_is_ignored() -> None:
    link = Link()
    link.connect()
    link.ini.send(b"D", new_order_body("X"))
    link.pump()
    link.inject_to_acc(b"D", new_order_body("X"), 2, poss_dup=True, orig_sending_time_ns=link.now)
    assert link.acc.state == SessionState.ACTIVE and link.acc.counters.duplicates_ignored == 1
    assert len(link.acc_app.app_msgs) == 1


@pytest.mark.parametrize(
    ("msg_type", "body", "reason", "ref_tag"),
    [
        (b"ZZ", [(58, b"what")], 11, None),  # unknown MsgType
        # ClOrdID: required in 4.2 and 4.4 (Symbol is not required in QuickFIX's FIX44.xml)
        (b"D", [(21, b"1"), (55, b"BHP"), (54, b"1"), (60, b"20251125-01:02:03"), (40, b"2")], 1, 11),
        (b"D", [*new_order_body("C2")[:5], (38, b"ten"), (40, b"2")], 6, 38),  # wrong value type
        (b"D", [*new_order_body("C3")[:4], (60, b"yesterday"), (40, b"2")], 6, 60),
        (b"D", [*new_order_body("C4")[:7], (44, b"4.5.6")], 6, 44),  # a price that is not a decimal
    ],
)
def test_invalid_message_gets_reject_and_session_goes_on(
    version: str, msg_type: bytes, body: list, reason: int, ref_tag: int | None
) -> None:
    link = Link(version)
    link.connect()
    seq = link.acc.next_target_seq
    link.inject_to_acc(msg_type, body, seq)
    rej = link.from_acc[-1]
    assert rej.msg_type == b"3"
    assert rej.get_int(45) == seq and rej.get_int(373) == reason
    assert rej.get_int(371) == ref_tag
    assert rej.get(372) == msg_type
    assert link.acc.state == SessionState.ACTIVE and link.acc.next_target_seq == seq + 1
    assert link.acc.counters.rejects_sent == 1 and link.acc_app.app_msgs == []
    link.inject_to_acc(b"D", new_order_body("OK"), seq + 1)  # next seq accepted normally
    assert [m.get(11) for m in link.acc_app.app_msgs] == [b"OK"]
    assert ("reject", reason) in link.ini_app.events  # the initiator's app was told about the Reject


def test_unsupported_app_message_gets_business_reject() -> None:
    link = Link(acc_kw={"app_msg_types": frozenset({b"D", b"F"})})
    link.connect()
    seq = link.acc.next_target_seq
    link.inject_to_acc(b"V", [(262, b"R1"), (263, b"1"), (264, 0), (267, 1), (269, b"0"), (146, 1),
                             (55, b"BHP")], seq)
    j = link.from_acc[-1]
    assert j.msg_type == b"j" and j.get_int(45) == seq and j.get(372) == b"V" and j.get_int(380) == 3
    assert link.acc.next_target_seq == seq + 1 and link.acc.counters.business_rejects_sent == 1


def test_app_decode_error_becomes_reject() -> None:
    link = Link(acc_kw={"validate_types": False})
    link.connect()
    link.acc_app.auto_fill = False
    link.acc_app.on_msg = lambda s, m: m.get_int(38)
    seq = link.acc.next_target_seq
    link.inject_to_acc(b"D", [*new_order_body("C")[:5], (38, b"1x0"), (40, b"2")], seq)
    rej = link.from_acc[-1]
    assert rej.msg_type == b"3" and rej.get_int(373) == 6 and rej.get_int(371) == 38


def test_credentials_from_environment() -> None:
    env = {"HFT_FIX_USER": "alice", "HFT_FIX_PASS": "s3cret", "VENUE_USER": "alice", "VENUE_PASS": "s3cret"}
    link = Link(environ=env, ini_kw={"username_env": "HFT_FIX_USER", "password_env": "HFT_FIX_PASS"},
                acc_kw={"required_username_env": "VENUE_USER", "required_password_env": "VENUE_PASS"})
    link.connect()
    assert link.from_ini[0].get(553) == b"alice" and link.from_ini[0].get(554) == b"s3cret"
    assert link.acc.is_active
    env["HFT_FIX_PASS"] = "wrong"
    bad = Link(environ=env, ini_kw={"username_env": "HFT_FIX_USER", "password_env": "HFT_FIX_PASS"},
               acc_kw={"required_username_env": "VENUE_USER", "required_password_env": "VENUE_PASS"})
    bad.connect()
    assert bad.acc.state == SessionState.DISCONNECTED and bad.ini.state == SessionState.DISCONNECTED
    assert bad.from_acc[-1].msg_type == b"5" and b"password" in bad.from_acc[-1].get(58)


def test_wrong_begin_string_and_compid() -> None:
    link = Link("FIX.4.2")
    link.connect()
    enc = FixEncoder("FIX.4.4", "CLIENT", "VENUE")
    link.acc.on_data(enc.encode(b"0", [], link.acc.next_target_seq))
    assert link.acc.state == SessionState.DISCONNECTED
    assert b"BeginString" in link.from_acc[-1].get(58)
    link2 = Link()
    link2.connect()
    enc = FixEncoder("FIX.4.2", "INTRUDER", "VENUE")
    link2.acc.on_data(enc.encode(b"0", [], link2.acc.next_target_seq))
    assert [m.msg_type for m in link2.from_acc[-2:]] == [b"3", b"5"]
    assert link2.from_acc[-2].get_int(373) == 9 and link2.acc.state == SessionState.DISCONNECTED


def test_first_message_must_be_logon_and_logon_timeout() -> None:
    link = Link()
    link.acc.connection_made(lambda b: None, lambda r: None)
    link.acc.on_data(FixEncoder("FIX.4.2", "CLIENT", "VENUE").encode(b"0", [], 1))
    assert link.acc.state == SessionState.DISCONNECTED and "Logon" in link.acc.disconnect_reason
    link2 = Link()
    link2.acc.connection_made(lambda b: None, lambda r: None)
    link2.advance(9.9)
    assert link2.acc.state == SessionState.CONNECTED
    link2.advance(0.2)
    assert link2.acc.state == SessionState.DISCONNECTED and link2.acc.disconnect_reason == "logon timeout"


def test_restart_resumes_from_file_store(tmp_path: Path, version: str) -> None:
    ip, ap = tmp_path / "ini.store", tmp_path / "acc.store"
    link = Link(version, ini_store=FileStore(ip), acc_store=FileStore(ap))
    link.connect()
    link.ini.send(b"D", new_order_body("R1"))
    link.pump()
    link.ini.logout()
    link.pump()
    seqs = (link.ini.next_sender_seq, link.ini.next_target_seq, link.acc.next_sender_seq,
            link.acc.next_target_seq)
    assert seqs == (4, 4, 4, 4)
    link.ini.store.close()
    link.acc.store.close()
    # both processes "restart": new sessions, same files
    link2 = Link(version, ini_store=FileStore(ip), acc_store=FileStore(ap))
    link2.connect()
    assert link2.from_ini[0].seq_num == 4 and link2.from_acc[0].seq_num == 4
    assert link2.ini.is_active and link2.acc.is_active
    assert not any(m.msg_type == b"2" for m in link2.from_acc + link2.from_ini)


def test_restart_with_target_behind_recovers_by_resend(tmp_path: Path) -> None:
    """The acceptor restarts with a store whose next-target is behind: it must send a ResendRequest."""
    ap = tmp_path / "acc.store"
    link = Link(acc_store=FileStore(ap))
    link.connect()
    for k in range(3):
        link.ini.send(b"D", new_order_body(f"B{k}"))
    link.pump()
    link.ini.logout()
    link.pump()
    link.acc.store.close()
    st = FileStore(ap)
    assert st.next_target_seq == 6
    st.set_next_target(2)  # lost the last target updates (e.g. restored from an older copy)
    st.close()
    link2 = Link(ini_store=link.ini.store, acc_store=FileStore(ap))
    link2.connect()
    rr = [m for m in link2.from_acc if m.msg_type == b"2"]
    assert len(rr) == 1 and rr[0].get_int(7) == 2
    assert [m.get(11) for m in link2.acc_app.app_msgs] == [b"B0", b"B1", b"B2"]
    assert all(m.poss_dup for m in link2.acc_app.app_msgs)
    # the Logout (seq 5) and the new Logon (seq 6) were admin messages: gap-filled
    assert link2.acc.next_target_seq == link2.ini.next_sender_seq == 7
    assert not link2.acc.resend_pending and link2.acc.is_active and link2.ini.is_active


def test_reset_seq_num_flag_restarts_both_sides(version: str) -> None:
    ini_store, acc_store = MemoryStore(), MemoryStore()
    for s in (ini_store, acc_store):
        s.set_next_sender(50)
        s.set_next_target(60)
    link = Link(version, ini_store=ini_store, acc_store=acc_store,
                ini_kw={"reset_seq_num_on_logon": True})
    link.connect()
    assert link.from_ini[0].get(141) == b"Y" and link.from_ini[0].seq_num == 1
    assert link.from_acc[0].get(141) == b"Y" and link.from_acc[0].seq_num == 1
    assert (link.ini.next_sender_seq, link.ini.next_target_seq) == (2, 2)
    assert (link.acc.next_sender_seq, link.acc.next_target_seq) == (2, 2)


def test_sequence_reset_reset_mode_and_bad_value() -> None:
    link = Link()
    link.connect()
    link.inject_to_acc(b"4", [(36, 20)], 999)  # Reset mode: seq num of the message is ignored
    assert link.acc.next_target_seq == 20 and link.acc.is_active
    link.inject_to_acc(b"4", [(36, 5)], 20)
    rej = link.from_acc[-1]
    assert rej.msg_type == b"3" and rej.get_int(373) == 5 and link.acc.next_target_seq == 20


def test_counters_and_stats() -> None:
    link = Link()
    link.connect()
    link.ini.send(b"D", new_order_body("S"))
    link.pump()
    st = link.ini.stats()
    assert st["state"] == "ACTIVE" and st["next_sender_seq"] == 3 and st["msgs_out"] == 2
    assert st["msgs_in"] == 2 and st["app_in"] == 1 and st["bytes_out"] > 100
    link.acc.on_data(b"8=FIX.4.2\x019=5\x0135=0\x01garbage10=000\x01")  # a garbled frame: dropped, counted
    assert link.acc.stats()["garbled_frames"] == 1 and link.acc.is_active


def test_batch_policy_defers_fsync_to_idle_timer(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "b.store", "batch", batch_max_records=1000, batch_max_ns=10**12)
    link = Link(ini_store=store)
    link.connect()
    for k in range(5):
        link.ini.send(b"D", new_order_body(f"P{k}"))
    assert store.fsyncs == 0 and store.unsynced >= 6  # nothing synced on the send path
    link.ini.on_timer(link.now)  # the transport's timer tick = idle time
    assert store.fsyncs == 1 and store.unsynced == 0


def test_test_request_cleared_by_any_traffic() -> None:
    link = Link()
    link.connect()
    for _ in range(40):  # 20 s in 0.5 s ticks: heartbeats both ways, nobody silent
        link.advance(0.5)
    assert link.acc.counters.test_requests_sent == 0 and link.ini.counters.test_requests_sent == 0
    assert link.acc.counters.heartbeats_received == 4 and link.ini.counters.heartbeats_received == 4
    assert link.ini.is_active and link.acc.is_active
