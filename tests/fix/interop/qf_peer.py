"""A QuickFIX (C++ engine, Python binding) peer for the interop tests, run as a subprocess.

    python qf_peer.py --role acceptor|initiator --version FIX.4.2 --port P --dir TMP \
        --sender S --target T [--heartbeat 1]

Prints one JSON object per line on stdout (events: ready, logon, logout, to_admin, from_admin, to_app,
from_app, state, error) and reads commands on stdin, one per line:

    order CLORDID     send a NewOrderSingle (initiator role)
    skip N            jump the next outgoing MsgSeqNum forward by N (forces a gap at the peer)
    settarget N       set the next expected incoming MsgSeqNum (N below the real one -> ResendRequest)
    state             print {"ev": "state", "sender": next out seq, "target": next expected in seq}
    logout            start the Logout handshake
    quit              stop and exit (also on stdin EOF)

As an acceptor it answers every NewOrderSingle with a filled ExecutionReport.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

import quickfix as fix

SOH = "\x01"
_out_lock = threading.Lock()


def emit(**kw: object) -> None:
    line = json.dumps(kw)
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def fields_of(msg: fix.Message) -> dict[str, str]:
    out: dict[str, str] = {}
    for f in msg.toString().split(SOH):
        if "=" in f:
            k, v = f.split("=", 1)
            out.setdefault(k, v)
    return out


def describe(msg: fix.Message) -> dict[str, object]:
    f = fields_of(msg)
    keep = ("11", "14", "36", "7", "16", "58", "112", "123", "122", "373", "45", "371", "141", "108", "38")
    return {"type": f.get("35"), "seq": int(f.get("34", "0")), "possdup": f.get("43") == "Y",
            "fields": {k: f[k] for k in keep if k in f}}


class PeerApp(fix.Application):  # type: ignore[misc]
    def __init__(self, role: str, version: str) -> None:
        super().__init__()
        self.role = role
        self.version = version
        self.session_id: fix.SessionID | None = None
        self.exec_id = 0

    def onCreate(self, sid: fix.SessionID) -> None:
        self.session_id = sid

    def onLogon(self, sid: fix.SessionID) -> None:
        emit(ev="logon")

    def onLogout(self, sid: fix.SessionID) -> None:
        emit(ev="logout")

    def toAdmin(self, msg: fix.Message, sid: fix.SessionID) -> None:
        emit(ev="to_admin", **describe(msg))

    def fromAdmin(self, msg: fix.Message, sid: fix.SessionID) -> None:
        emit(ev="from_admin", **describe(msg))

    def toApp(self, msg: fix.Message, sid: fix.SessionID) -> None:
        emit(ev="to_app", **describe(msg))

    def fromApp(self, msg: fix.Message, sid: fix.SessionID) -> None:
        d = describe(msg)
        emit(ev="from_app", **d)
        if self.role == "acceptor" and d["type"] == "D":
            self.fill(fields_of(msg), sid)

    def _new(self, msg_type: str) -> fix.Message:
        m = fix.Message()
        m.getHeader().setField(fix.BeginString(self.version))
        m.getHeader().setField(fix.MsgType(msg_type))
        return m

    def fill(self, order: dict[str, str], sid: fix.SessionID) -> None:
        self.exec_id += 1
        m = self._new("8")
        qty = order.get("38", "0")
        px = order.get("44", "0")
        body = [(37, "QF-" + order["11"]), (17, f"QFX{self.exec_id}"), (11, order["11"]),
                (55, order.get("55", "?")), (54, order.get("54", "1")), (38, qty), (39, "2"),
                (151, "0"), (14, qty), (6, px), (31, px), (32, qty)]
        body += [(20, "0"), (150, "2")] if self.version == "FIX.4.2" else [(150, "F")]
        for tag, value in body:
            m.setField(fix.StringField(tag, value))
        fix.Session.sendToTarget(m, sid)

    def order(self, clordid: str) -> None:
        m = self._new("D")
        now = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime())
        for tag, value in [(11, clordid), (21, "1"), (55, "BHP"), (54, "1"), (60, now), (38, "100"),
                           (40, "2"), (44, "45.67")]:
            m.setField(fix.StringField(tag, value))
        assert self.session_id is not None
        fix.Session.sendToTarget(m, self.session_id)


def write_settings(a: argparse.Namespace, root: Path) -> Path:
    spec = Path(sys.prefix) / "share" / "quickfix" / (a.version.replace(".", "") + ".xml")
    dd = f"UseDataDictionary=Y\nDataDictionary={spec}\n" if spec.exists() else "UseDataDictionary=N\n"
    conn = (f"SocketAcceptPort={a.port}\n" if a.role == "acceptor"
            else f"SocketConnectHost=127.0.0.1\nSocketConnectPort={a.port}\nReconnectInterval=1\n")
    text = (
        "[DEFAULT]\n"
        f"ConnectionType={a.role}\n"
        f"FileStorePath={root / 'store'}\n"
        f"FileLogPath={root / 'log'}\n"
        "StartTime=00:00:00\nEndTime=00:00:00\n"
        f"HeartBtInt={a.heartbeat}\n"
        "ValidateUserDefinedFields=N\n"
        "ResetOnLogon=N\nResetOnLogout=N\nResetOnDisconnect=N\n"
        "SocketNodelay=Y\n"
        f"{dd}{conn}\n"
        "[SESSION]\n"
        f"BeginString={a.version}\nSenderCompID={a.sender}\nTargetCompID={a.target}\n"
    )
    path = root / "qf.cfg"
    path.write_text(text)
    return path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--role", choices=["acceptor", "initiator"], required=True)
    ap.add_argument("--version", default="FIX.4.2")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--sender", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--heartbeat", type=int, default=1)
    a = ap.parse_args()
    root = Path(a.dir)
    root.mkdir(parents=True, exist_ok=True)
    settings = fix.SessionSettings(str(write_settings(a, root)))
    app = PeerApp(a.role, a.version)
    store = fix.FileStoreFactory(settings)
    log = fix.FileLogFactory(settings)
    engine = (fix.SocketAcceptor if a.role == "acceptor" else fix.SocketInitiator)(app, store, settings, log)
    engine.start()
    emit(ev="ready")
    try:
        for line in sys.stdin:
            cmd = line.split()
            if not cmd:
                continue
            sess = fix.Session.lookupSession(app.session_id) if app.session_id is not None else None
            try:
                if cmd[0] == "order":
                    app.order(cmd[1])
                elif cmd[0] == "skip" and sess is not None:
                    sess.setNextSenderMsgSeqNum(sess.getExpectedSenderNum() + int(cmd[1]))
                elif cmd[0] == "settarget" and sess is not None:
                    sess.setNextTargetMsgSeqNum(int(cmd[1]))
                elif cmd[0] == "state" and sess is not None:
                    emit(ev="state", sender=sess.getExpectedSenderNum(), target=sess.getExpectedTargetNum(),
                         logged_on=bool(sess.isLoggedOn()))
                elif cmd[0] == "logout" and sess is not None:
                    sess.logout()
                elif cmd[0] == "quit":
                    break
                else:
                    emit(ev="error", text=f"bad command {line.strip()!r}")
            except Exception as e:  # report and keep serving
                emit(ev="error", text=f"{cmd[0]}: {e}")
    finally:
        engine.stop()
        emit(ev="stopped")
    return 0


if __name__ == "__main__":
    rc = main()
    sys.stdout.flush()
    # skip interpreter teardown: the SWIG objects' destructors racing QuickFIX's threads can segfault
    os._exit(rc)
