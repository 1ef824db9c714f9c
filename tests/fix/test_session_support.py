"""Helpers for the FIX session tests (not a test module): two real sessions wired back to back in memory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hft.fix.encoder import FixEncoder
from hft.fix.parser import FixMessage, parse_one
from hft.fix.session import FixSession, SessionApplication, SessionConfig, SessionState
from hft.fix.store import SessionStore

NS = 1_000_000_000
T0 = 1_764_000_000 * NS
CLOSE = b"<close>"  # queue marker: the sender closed the connection


@dataclass
class RecordingApp(SessionApplication):
    """Records every callback; optionally answers NewOrderSingle with an ExecutionReport."""

    auto_fill: bool = False
    events: list[tuple[str, object]] = field(default_factory=list)
    app_msgs: list[FixMessage] = field(default_factory=list)
    on_msg: Callable[[FixSession, FixMessage], None] | None = None

    def on_logon(self, session: FixSession) -> None:
        self.events.append(("logon", session.next_target_seq))

    def on_logout(self, session: FixSession, reason: str) -> None:
        self.events.append(("logout", reason))

    def on_state_change(self, session: FixSession, old: SessionState, new: SessionState) -> None:
        self.events.append(("state", new))

    def on_session_reject(self, session: FixSession, msg: FixMessage) -> None:
        self.events.append(("reject", msg.get_int(373)))

    def on_app_message(self, session: FixSession, msg: FixMessage) -> None:
        self.app_msgs.append(msg)
        if self.on_msg is not None:
            self.on_msg(session, msg)
        if self.auto_fill and msg.msg_type == b"D":
            session.send(b"8", exec_report_body(msg))

    @property
    def states(self) -> list[SessionState]:
        return [e[1] for e in self.events if e[0] == "state"]  # type: ignore[misc]


def exec_report_body(order: FixMessage) -> list[tuple[int, bytes | str | int]]:
    """A filled ExecutionReport for ``order`` (4.2: ExecTransType 20 + ExecType 2; 4.4: ExecType F)."""
    qty = order.get(38) or b"0"
    px = order.get(44) or b"0"
    cl = order.get(11) or b"?"
    kind: list[tuple[int, bytes | str | int]] = (
        [(20, b"0"), (150, b"2")] if order.begin_string == b"FIX.4.2" else [(150, b"F")]
    )
    return [(37, b"OID-" + cl), (17, b"EXEC-" + cl), *kind, (39, b"2"), (11, cl),
            (55, order.get(55) or b"?"), (54, order.get(54) or b"1"), (38, qty), (151, b"0"), (14, qty),
            (6, px), (31, px), (32, qty)]


def new_order_body(clordid: str, symbol: str = "BHP", qty: int = 100, px: str = "45.67") -> list:
    return [(11, clordid), (21, b"1"), (55, symbol), (54, b"1"), (60, b"20251125-01:02:03.000"),
            (38, qty), (40, b"2"), (44, px)]


class Link:
    """An initiator and an acceptor FixSession connected through in-memory queues.

    Frames are delivered by :meth:`pump`; ``drop_to_acc``/``drop_to_ini`` hold MsgSeqNums to lose in
    flight (to force gaps). Every frame each side wrote is kept, parsed, in ``from_ini``/``from_acc``.
    """

    def __init__(
        self,
        version: str = "FIX.4.2",
        *,
        ini_store: SessionStore | None = None,
        acc_store: SessionStore | None = None,
        environ: dict[str, str] | None = None,
        ini_kw: dict | None = None,
        acc_kw: dict | None = None,
    ) -> None:
        self.now = T0
        self.ini_cfg = SessionConfig(version, "CLIENT", "VENUE", initiator=True, heartbeat_interval=5,
                                     **(ini_kw or {}))
        self.acc_cfg = SessionConfig(version, "VENUE", "CLIENT", initiator=False, **(acc_kw or {}))
        self.ini_app = RecordingApp()
        self.acc_app = RecordingApp(auto_fill=True)
        env = environ or {}
        self.ini = FixSession(self.ini_cfg, ini_store, self.ini_app, clock=self.clock, environ=env)
        self.acc = FixSession(self.acc_cfg, acc_store, self.acc_app, clock=self.clock, environ=env)
        self.q_to_acc: list[bytes] = []
        self.q_to_ini: list[bytes] = []
        self.from_ini: list[FixMessage] = []
        self.from_acc: list[FixMessage] = []
        self.drop_to_acc: set[int] = set()
        self.drop_to_ini: set[int] = set()
        self.mute_ini = False  # when True the initiator's frames vanish (a silent peer)
        self.closed: list[str] = []

    def clock(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * NS)
        self.ini.on_timer(self.now)
        self.acc.on_timer(self.now)
        self.pump()

    def _ini_send(self, frame: bytes) -> None:
        m = parse_one(frame)
        self.from_ini.append(m)
        if self.mute_ini:
            return
        if m.seq_num in self.drop_to_acc and not m.poss_dup:
            self.drop_to_acc.discard(m.seq_num)
            return
        self.q_to_acc.append(frame)

    def _acc_send(self, frame: bytes) -> None:
        m = parse_one(frame)
        self.from_acc.append(m)
        if m.seq_num in self.drop_to_ini and not m.poss_dup:
            self.drop_to_ini.discard(m.seq_num)
            return
        self.q_to_ini.append(frame)

    def _close(self, who: str) -> Callable[[str], None]:
        def close(reason: str) -> None:
            # like TCP: the peer sees the close after the bytes already in flight
            self.closed.append(f"{who}: {reason}")
            (self.q_to_acc if who == "ini" else self.q_to_ini).append(CLOSE)

        return close

    def connect(self) -> None:
        self.q_to_acc.clear()
        self.q_to_ini.clear()
        self.acc.connection_made(self._acc_send, self._close("acc"))
        self.ini.connection_made(self._ini_send, self._close("ini"))
        self.pump()

    def pump(self) -> None:
        for _ in range(10_000):
            if self.q_to_acc:
                data = self.q_to_acc.pop(0)
                if data is CLOSE:
                    self.acc.connection_lost("peer closed")
                else:
                    self.acc.on_data(data)
            elif self.q_to_ini:
                data = self.q_to_ini.pop(0)
                if data is CLOSE:
                    self.ini.connection_lost("peer closed")
                else:
                    self.ini.on_data(data)
            else:
                return
        raise AssertionError("message storm")

    def inject_to_acc(self, msg_type: bytes, body: list, seq: int, **kw) -> None:
        """A frame written by hand as if the initiator had sent it."""
        enc = FixEncoder(self.ini_cfg.begin_string, "CLIENT", "VENUE")
        self.acc.on_data(enc.encode(msg_type, body, seq, self.now, **kw))
        self.pump()
