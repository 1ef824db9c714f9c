"""Session faults found by QuickFIX's acceptance scripts, and the QuickFIX session options (ResetOnLogon,
CheckLatency, StartTime/EndTime, ...). Each fault test failed before its fix.

The acceptor under test is a real :class:`FixSession`; the peer is written by hand frame by frame (so a
frame can be as wrong as a test needs: empty CompIDs, 122 after 52, a too-low ResendRequest ...).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable

import pytest

from hft.fix.encoder import format_utc_timestamp
from hft.fix.parser import FixMessage, FixStreamParser
from hft.fix.session import BusinessRejectError, FixSession, SessionApplication, SessionConfig, SessionState
from hft.fix.store import MemoryStore
from hft.fix.transport import AsyncAcceptor

NS = 1_000_000_000


def frame(text: str, begin: str = "FIX.4.2") -> bytes:
    """``35=...|34=...|...`` ('|' = SOH) -> a complete frame with a correct 9 and 10."""
    body = text.replace("|", "\x01").encode("latin-1")
    if not body.endswith(b"\x01"):
        body += b"\x01"
    head = b"8=" + begin.encode("latin-1") + b"\x019=%d\x01" % len(body)
    msg = head + body
    return msg + b"10=%03d\x01" % (sum(msg) & 0xFF)


class Echo(SessionApplication):
    def __init__(self, on_msg: Callable[[FixSession, FixMessage], None] | None = None) -> None:
        self.msgs: list[FixMessage] = []
        self.on_msg = on_msg

    def on_app_message(self, session: FixSession, msg: FixMessage) -> None:
        self.msgs.append(msg)
        if self.on_msg is not None:
            self.on_msg(session, msg)


class Acceptor:
    """One acceptor session (VENUE <- CLIENT) on a manual clock; ``out`` holds every message it wrote."""

    def __init__(self, begin: str = "FIX.4.2", app: SessionApplication | None = None,
                 environ: dict[str, str] | None = None, **kw: object) -> None:
        self.begin = begin
        self.now = int(time.time()) * NS  # near the wall clock (store creation times are wall clock)
        kw.setdefault("check_latency", True)
        self.cfg = SessionConfig(begin, "VENUE", "CLIENT", initiator=False, **kw)  # type: ignore[arg-type]
        self.store = MemoryStore()
        self.app = app if app is not None else Echo()
        self.s = FixSession(self.cfg, self.store, self.app, clock=lambda: self.now, environ=environ or {})
        self.out: list[FixMessage] = []
        self.closed: list[str] = []
        self._parser = FixStreamParser()
        self.connect()

    def connect(self) -> None:
        self.closed.clear()
        self.s.connection_made(self._write, self.closed.append)

    def _write(self, data: bytes) -> None:
        self._parser.feed(data)
        while (m := self._parser.next_message()) is not None:
            self.out.append(m)

    def ts(self, offset_s: float = 0.0) -> str:
        return format_utc_timestamp(self.now + int(offset_s * NS), 3).decode()

    def send(self, text: str, begin: str | None = None) -> list[FixMessage]:
        """Feed one frame from the peer; the messages the session wrote in answer."""
        n = len(self.out)
        text = text.replace("<TIME>", self.ts())
        self.s.on_data(frame(text, begin or self.begin))
        return self.out[n:]

    def logon(self, seq: int = 1, extra: str = "") -> list[FixMessage]:
        return self.send(f"35=A|34={seq}|49=CLIENT|52=<TIME>|56=VENUE|98=0|108=30{extra}")


def types(msgs: list[FixMessage]) -> list[bytes]:
    return [m.msg_type for m in msgs]


# ------------------------------------------------------------------------------------------ the six faults
def test_fault1_resend_request_inside_a_gap_is_answered_once() -> None:
    a = Acceptor()
    a.logon()
    a.s.send(b"8", [(37, "O1"), (17, "E1"), (20, "0"), (150, "0"), (39, "0"), (55, "X"), (54, "1"),
                    (151, 1), (14, 0), (6, "0")])  # our 34=2
    a.s.send(b"8", [(37, "O2"), (17, "E2"), (20, "0"), (150, "0"), (39, "0"), (55, "X"), (54, "1"),
                    (151, 1), (14, 0), (6, "0")])  # our 34=3
    out = a.send("35=0|34=7|49=CLIENT|52=<TIME>|56=VENUE")  # expected 2: gap 2..6
    assert types(out) == [b"2"]
    out = a.send("35=2|34=8|49=CLIENT|52=<TIME>|56=VENUE|7=2|16=3")  # answered at once
    assert [(m.msg_type, m.seq_num, m.poss_dup) for m in out] == [(b"8", 2, True), (b"8", 3, True)]
    # the peer fills 2..6: the queued Heartbeat 7 and ResendRequest 8 are processed in order,
    # and the ResendRequest is not answered a second time
    out = a.send("35=4|34=2|49=CLIENT|52=<TIME>|56=VENUE|43=Y|122=<TIME>|123=Y|36=7")
    assert [m for m in out if m.msg_type == b"8"] == []
    assert a.s.next_target_seq == 9 and a.s.state == SessionState.ACTIVE
    assert a.s.counters.messages_resent == 2


def test_fault2_too_low_possdup_without_orig_sending_time_is_rejected() -> None:
    a = Acceptor()
    a.logon()
    a.send("35=0|34=2|49=CLIENT|52=<TIME>|56=VENUE")
    a.send("35=0|34=3|49=CLIENT|52=<TIME>|56=VENUE")
    out = a.send("35=D|34=2|49=CLIENT|52=<TIME>|56=VENUE|43=Y|11=ID|21=3|40=1|54=1|55=INTC|60=<TIME>")
    assert types(out) == [b"3"]
    assert (out[0].get(373), out[0].get(371), out[0].get(45)) == (b"1", b"122", b"2")
    assert a.s.next_target_seq == 4 and a.s.state == SessionState.ACTIVE  # too low: nothing consumed


def test_fault2_too_low_possdup_with_orig_sending_time_after_sending_time() -> None:
    a = Acceptor()
    a.logon()
    a.send("35=0|34=2|49=CLIENT|52=<TIME>|56=VENUE")
    a.send("35=0|34=3|49=CLIENT|52=<TIME>|56=VENUE")
    out = a.send(f"35=D|34=2|49=CLIENT|52=<TIME>|56=VENUE|43=Y|122={a.ts(10)}|11=ID|21=3|40=1|54=1|55=INTC"
                 "|60=<TIME>")
    assert types(out) == [b"3", b"5"]
    assert (out[0].get(373), out[0].get(371)) == (b"10", None)
    assert a.s.state == SessionState.DISCONNECTED


@pytest.mark.parametrize(("field", "reason"), [("", b"1"), ("56=|", b"4")])
def test_fault3_missing_or_empty_target_comp_id_is_a_reject_not_a_logout(field: str, reason: bytes) -> None:
    a = Acceptor()
    a.logon()
    out = a.send(f"35=0|34=2|49=CLIENT|52=<TIME>|{field}")
    assert types(out) == [b"3"]
    assert (out[0].get(373), out[0].get(371), out[0].get(45)) == (reason, b"56", b"2")
    assert a.s.state == SessionState.ACTIVE and a.s.next_target_seq == 3
    out = a.send("35=1|34=3|49=CLIENT|52=<TIME>|56=VENUE|112=PING")  # and the session carries on
    assert types(out) == [b"0"] and out[0].get(112) == b"PING"


def test_fault4_fix44_logon_with_reset_seq_num_flag_resets_both_sides() -> None:
    """FIX 4.4: a Logon with ResetSeqNumFlag (141=Y) on a logged-on session resets both seq nums to 1."""
    a = Acceptor("FIX.4.4")
    a.logon()
    for seq in range(2, 11):
        a.send(f"35=1|34={seq}|49=CLIENT|52=<TIME>|56=VENUE|112=T{seq}")
    assert a.s.next_target_seq == 11 and a.s.next_sender_seq == 11
    out = a.logon(1, "|141=Y")
    assert [(m.msg_type, m.seq_num, m.get(141)) for m in out] == [(b"A", 1, b"Y")]
    assert a.s.state == SessionState.ACTIVE
    assert (a.s.next_target_seq, a.s.next_sender_seq) == (2, 2)
    out = a.send("35=1|34=2|49=CLIENT|52=<TIME>|56=VENUE|112=AFTER")
    assert [(m.msg_type, m.seq_num) for m in out] == [(b"0", 2)]


def test_fault4_logon_with_reset_flag_on_a_store_that_expects_more() -> None:
    """A new connection's Logon 34=1 with 141=Y on a store expecting 11 (FileStore kept across runs)."""
    a = Acceptor("FIX.4.4")
    a.store.set_next_target(11)
    a.store.set_next_sender(11)
    out = a.logon(1, "|141=Y")
    assert [(m.msg_type, m.seq_num, m.get(141)) for m in out] == [(b"A", 1, b"Y")]
    assert (a.s.next_target_seq, a.s.next_sender_seq) == (2, 2)


def test_fault5_malformed_first_frame_is_closed_at_once() -> None:
    async def main() -> None:
        s = FixSession(SessionConfig("FIX.4.2", "VENUE", "CLIENT", initiator=False), MemoryStore())
        acc = AsyncAcceptor([s], "127.0.0.1", 0, first_message_timeout=10.0)
        port = await acc.start()
        for bad in (frame("35=A|34=1|49=CLIENT|52=20250101-00:00:00|56=VENUE|98=0|108=30")[:-4] + b"999\x01",
                    frame("35=A|34=1|49=CLIENT|52=20250101-00:00:00|56=VENUE|98=0|108=30", "FIX.3.9")):
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(bad)
            t0 = time.monotonic()
            assert await asyncio.wait_for(r.read(), 5) == b""  # closed, nothing said
            assert time.monotonic() - t0 < 2.0  # at once, not after first_message_timeout (10 s)
            w.close()
        assert list(acc.refused) == ["malformed first message"] * 2
        await acc.stop()

    asyncio.run(main())


def test_refused_connections_keep_bounded_memory() -> None:
    """A client that reconnects with garbage forever (fuzzing found it) must not grow the acceptor: the
    latest refusal texts are kept (REFUSED_KEPT), the count is a number."""
    from hft.fix.transport import REFUSED_KEPT

    n = REFUSED_KEPT + 40

    async def main() -> None:
        s = FixSession(SessionConfig("FIX.4.2", "VENUE", "CLIENT", initiator=False), MemoryStore())
        acc = AsyncAcceptor([s], "127.0.0.1", 0)
        port = await acc.start()
        for _ in range(n):
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(b"garbage\x01")
            assert await asyncio.wait_for(r.read(), 5) == b""
            w.close()
        assert acc.refused_total == n
        assert len(acc.refused) == REFUSED_KEPT
        assert list(acc.refused)[-1] == "malformed first message"
        await acc.stop()

    asyncio.run(main())


def test_fault6_too_low_resend_request_without_possdup_is_answered() -> None:
    """QuickFIX's 8_OnlyAdminMessages: a ResendRequest is answered whatever its MsgSeqNum."""
    a = Acceptor()
    a.logon()
    for seq in (2, 3, 4):
        a.send(f"35=1|34={seq}|49=CLIENT|52=<TIME>|56=VENUE|112=HELLO")
    out = a.send("35=2|34=3|49=CLIENT|52=<TIME>|56=VENUE|7=1|16=0")  # too low (expected 5), no 43
    assert [(m.msg_type, m.seq_num, m.get(36), m.get(123)) for m in out] == [(b"4", 1, b"5", b"Y")]
    assert a.s.state == SessionState.ACTIVE and a.s.next_target_seq == 5
    out = a.send("35=5|34=3|49=CLIENT|52=<TIME>|56=VENUE")  # a too-low Logout is answered too
    assert types(out) == [b"5"] and out[0].get(58) is None


# ------------------------------------------------------------------------------- application faults
def test_application_that_raises_gets_a_business_reject_and_the_session_stays_up() -> None:
    def boom(session: FixSession, msg: FixMessage) -> None:
        if msg.get(11) == b"BAD":
            raise RuntimeError("no such book")
        if msg.get(11) == b"REFUSE":
            raise BusinessRejectError(4, "Application not available")
        session.send(b"D", [(115, b""), (11, msg.get(11) or b"")])  # an empty value: FixEncodeError

    a = Acceptor(app=Echo(boom))
    a.logon()
    base = "49=CLIENT|52=<TIME>|56=VENUE|21=3|40=1|54=1|55=INTC|60=<TIME>"
    out = a.send(f"35=D|34=2|{base}|11=BAD")
    assert types(out) == [b"j"] and (out[0].get(380), out[0].get(45), out[0].get(372)) == (b"0", b"2", b"D")
    assert b"no such book" in (out[0].get(58) or b"")
    out = a.send(f"35=D|34=3|{base}|11=REFUSE")
    assert types(out) == [b"j"] and out[0].get(380) == b"4"
    out = a.send(f"35=D|34=4|{base}|11=ECHO")
    assert types(out) == [b"j"] and b"empty value" in (out[0].get(58) or b"")
    assert a.s.state == SessionState.ACTIVE and a.s.counters.app_errors == 2


def test_non_ascii_begin_string_gets_a_logout_not_an_exception() -> None:
    a = Acceptor()
    a.logon()
    out = a.send("35=0|34=2|49=CLIENT|52=<TIME>|56=VENUE", begin="FIX.4.\xe9")
    assert types(out) == [b"5"] and (out[0].get(58) or b"").isascii()
    assert a.s.state == SessionState.DISCONNECTED


def test_transport_never_drops_the_line_silently_on_an_internal_error() -> None:
    """Whatever escapes the session into the transport ends it with a Logout that says why."""

    class Broken(SessionApplication):
        def on_logon(self, session: FixSession) -> None:
            raise RuntimeError("logon hook failed")

    async def main() -> None:
        s = FixSession(SessionConfig("FIX.4.2", "VENUE", "CLIENT", initiator=False), MemoryStore(), Broken())
        acc = AsyncAcceptor([s], "127.0.0.1", 0)
        port = await acc.start()
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(frame(f"35=A|34=1|49=CLIENT|52={format_utc_timestamp(time.time_ns(), 3).decode()}|56=VENUE"
                      "|98=0|108=30"))
        data = await asyncio.wait_for(r.read(), 5)
        assert b"\x0135=5\x01" in data and b"logon hook failed" in data
        w.close()
        await acc.stop()

    asyncio.run(main())


# ------------------------------------------------------------------------------------ session options
def test_reset_on_logon_starts_every_logon_at_one() -> None:
    a = Acceptor(reset_on_logon=True)
    a.logon()
    a.send("35=0|34=2|49=CLIENT|52=<TIME>|56=VENUE")
    a.send("35=5|34=3|49=CLIENT|52=<TIME>|56=VENUE")
    a.s.connection_lost("closed")
    a.connect()
    out = a.logon(1)
    assert types(out) == [b"A"] and out[0].seq_num == 1 and out[0].get(141) is None
    b = Acceptor()  # without: the second Logon 34=1 is too low
    b.logon()
    b.send("35=5|34=2|49=CLIENT|52=<TIME>|56=VENUE")
    b.s.connection_lost("closed")
    b.connect()
    out = b.logon(1)
    assert types(out) == [b"5"] and b"too low" in (out[0].get(58) or b"")


@pytest.mark.parametrize("option", ["reset_on_logout", "reset_on_disconnect"])
def test_reset_on_logout_and_on_disconnect(option: str) -> None:
    a = Acceptor(**{option: True})
    a.logon()
    a.send("35=0|34=2|49=CLIENT|52=<TIME>|56=VENUE")
    if option == "reset_on_logout":
        a.send("35=5|34=3|49=CLIENT|52=<TIME>|56=VENUE")
    a.s.connection_lost("closed")
    assert (a.s.next_sender_seq, a.s.next_target_seq) == (1, 1)
    b = Acceptor(reset_on_logout=True)  # a dropped line is not a Logout
    b.logon()
    b.s.connection_lost("closed")
    assert b.s.next_target_seq == 2


def test_check_comp_id_and_its_switch() -> None:
    a = Acceptor()
    a.logon()
    out = a.send("35=0|34=2|49=OTHER|52=<TIME>|56=VENUE")
    assert types(out) == [b"3", b"5"] and out[0].get(373) == b"9" and out[0].get(371) is None
    assert a.s.state == SessionState.DISCONNECTED
    b = Acceptor(check_comp_id=False)
    b.logon()
    out = b.send("35=1|34=2|49=OTHER|52=<TIME>|56=VENUE|112=X")
    assert types(out) == [b"0"] and b.s.state == SessionState.ACTIVE


def test_check_latency_max_latency() -> None:
    a = Acceptor(max_latency=30)
    a.logon()
    assert a.send(f"35=1|34=2|49=CLIENT|52={a.ts(-29)}|56=VENUE|112=X")[0].msg_type == b"0"
    out = a.send(f"35=0|34=3|49=CLIENT|52={a.ts(-31)}|56=VENUE")
    assert types(out) == [b"3", b"5"] and (out[0].get(373), out[0].get(372)) == (b"10", b"0")
    b = Acceptor()  # a Logon with a bad SendingTime is dropped without a word
    out = b.send("35=A|34=1|49=CLIENT|52=20010101-00:00:00|56=VENUE|98=0|108=30")
    assert out == [] and b.s.state == SessionState.DISCONNECTED
    # the one-pass application fast path (no type validation) checks it too
    d = Acceptor(validate_types=False, app_msg_types=frozenset({b"D"}))
    d.logon()
    out = d.send(f"35=D|34=2|49=CLIENT|52={d.ts(-200)}|56=VENUE|11=ID|21=3|40=1|54=1|55=INTC|60=<TIME>")
    assert types(out) == [b"3", b"5"] and out[0].get(373) == b"10" and d.app.msgs == []  # type: ignore[attr-defined]
    c = Acceptor(check_latency=False)
    assert types(c.send("35=A|34=1|49=CLIENT|52=20010101-00:00:00|56=VENUE|98=0|108=30")) == [b"A"]


def test_schedule_refuses_logon_outside_the_window_and_resets_daily() -> None:
    a = Acceptor(start_time="00:00:00", end_time="00:00:01", time_zone="Australia/Sydney")
    out = a.logon()
    assert out == [] and a.s.state == SessionState.DISCONNECTED
    assert "session time" in a.s.disconnect_reason
    # a 24-hour session resetting at the current minute: a store created before today's start resets
    now = time.gmtime()
    start = f"{now.tm_hour:02d}:{now.tm_min:02d}:00"
    b = Acceptor(start_time=start, end_time=start)
    b.store.set_next_target(7)
    b.store.set_next_sender(9)
    b.store.creation_time_ns -= 2 * 86400 * NS  # created two days ago
    out = b.logon(1)
    assert types(out) == [b"A"] and out[0].seq_num == 1 and b.s.next_target_seq == 2
    # ... and an active session logs out when its period ends (the store predates the new period)
    b.store.creation_time_ns -= 2 * 86400 * NS
    b.s.on_timer(b.now)
    assert b.out[-1].msg_type == b"5" and b.s.state == SessionState.LOGOUT_SENT
    with pytest.raises(ValueError, match="start_time"):
        FixSession(SessionConfig(start_time="25:00:00"))
    with pytest.raises(ValueError, match="time_zone"):
        FixSession(SessionConfig(start_time="08:00:00", time_zone="Mars/Olympus"))


def test_timestamp_precision_is_milliseconds_by_default_on_every_message() -> None:
    a = Acceptor()
    out = a.logon()
    out += a.send("35=0|34=2|49=OTHER|52=<TIME>|56=VENUE")  # Reject + Logout
    assert len(out) == 3
    for m in out:
        assert re.fullmatch(rb"\d{8}-\d\d:\d\d:\d\d\.\d{3}", m.get(52) or b""), m

    async def main() -> bytes:  # the transport's refusal Logout too
        s = FixSession(SessionConfig("FIX.4.2", "VENUE", "CLIENT", initiator=False), MemoryStore())
        acc = AsyncAcceptor([s], "127.0.0.1", 0)
        port = await acc.start()
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(frame("35=A|34=1|49=STRANGER|52=20250101-00:00:00|56=VENUE|98=0|108=30"))
        data = await asyncio.wait_for(r.read(), 5)
        w.close()
        await acc.stop()
        return data

    data = asyncio.run(main())
    assert re.search(rb"\x0152=\d{8}-\d\d:\d\d:\d\d\.\d{3}\x01", data), data


def test_username_password_checked_on_logon() -> None:
    env = {"U": "alice", "P": "s3cret"}
    kw = {"required_username_env": "U", "required_password_env": "P"}
    a = Acceptor(environ=env, **kw)
    out = a.logon(1, "|553=alice|554=wrong")
    assert types(out) == [b"5"] and a.s.state == SessionState.DISCONNECTED
    b = Acceptor(environ=env, **kw)
    assert types(b.logon(1, "|553=alice|554=s3cret")) == [b"A"]
    c = Acceptor(environ={}, **kw)  # configured but the variables are unset: nobody gets in
    assert types(c.logon(1, "|553=|554=")) != [b"A"]




def test_acceptor_refuses_a_non_ascii_begin_string_with_a_logout() -> None:
    """The refusal Logout's text quotes the BeginString: it must still encode (it used to raise)."""

    async def main() -> bytes:
        s = FixSession(SessionConfig("FIX.4.2", "VENUE", "CLIENT", initiator=False), MemoryStore())
        acc = AsyncAcceptor([s], "127.0.0.1", 0)
        port = await acc.start()
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(frame("35=A|34=1|49=CLIENT|52=20250101-00:00:00|56=VENUE|98=0|108=30", "FIX.4.\xe9"))
        data = await asyncio.wait_for(r.read(), 5)
        w.close()
        await acc.stop()
        return data

    data = asyncio.run(main())
    assert b"\x0135=5\x01" in data and b"Incorrect BeginString FIX.4.\\xe9" in data
