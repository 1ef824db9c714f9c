"""Interop with an independent FIX engine: QuickFIX 1.16 (C++), run as a subprocess peer (qf_peer.py).

Both directions (our initiator -> QuickFIX acceptor, QuickFIX initiator -> our acceptor), FIX 4.2 and 4.4:
logon, NewOrderSingle -> ExecutionReport, heartbeats at HeartBtInt=1, a forced gap each way recovered by
ResendRequest (SequenceReset-GapFill and PossDup resends of stored messages), logout.

If ``quickfix`` cannot be imported the tests skip locally and FAIL under CI (env CI=true):
``scripts/install_quickfix.sh .venv/bin/python`` (run by ``make test``) installs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_session_support import RecordingApp, new_order_body

from hft.fix.session import FixSession, SessionConfig, SessionState
from hft.fix.store import FileStore
from hft.fix.transport import AsyncAcceptor, AsyncInitiator, wait_for_state

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.timeout(90)]
PEER = Path(__file__).with_name("qf_peer.py")
VERSIONS = ["FIX.4.2", "FIX.4.4"]


def require_quickfix() -> None:
    try:
        import quickfix  # noqa: F401
    except ImportError as e:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(
                f"quickfix is not importable under CI ({e}); the interop tests need it: run "
                "`bash scripts/install_quickfix.sh .venv/bin/python` (make test does this first)",
                pytrace=False,
            )
        pytest.skip("quickfix not installed (bash scripts/install_quickfix.sh .venv/bin/python)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class QfPeer:
    """The QuickFIX subprocess: commands on stdin, JSON events on stdout."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.events: list[dict[str, Any]] = []
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def start(cls, role: str, version: str, port: int, root: Path, sender: str, target: str) -> QfPeer:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(PEER), "--role", role, "--version", version, "--port", str(port),
            "--dir", str(root), "--sender", sender, "--target", target, "--heartbeat", "1",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        peer = cls(proc)
        await peer.wait(lambda e: e["ev"] == "ready", 20)
        return peer

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            with contextlib.suppress(ValueError):
                self.events.append(json.loads(line))

    async def cmd(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()

    def find(self, pred: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        return [e for e in self.events if pred(e)]

    async def wait(self, pred: Callable[[dict[str, Any]], bool], timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            hits = self.find(pred)
            if hits:
                return hits[-1]
            if time.monotonic() > deadline or self.proc.returncode is not None:
                err = b""
                if self.proc.returncode is not None and self.proc.stderr is not None:
                    err = await self.proc.stderr.read()
                raise AssertionError(f"QuickFIX peer: no matching event in {timeout}s; last events "
                                     f"{self.events[-8:]}; stderr {err[-2000:]!r}")
            await asyncio.sleep(0.01)

    async def state(self) -> dict[str, Any]:
        n = len(self.find(lambda e: e["ev"] == "state"))
        await self.cmd("state")
        deadline = time.monotonic() + 5
        while len(self.find(lambda e: e["ev"] == "state")) <= n:
            assert time.monotonic() < deadline, "no state answer"
            await asyncio.sleep(0.01)
        return self.find(lambda e: e["ev"] == "state")[-1]

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.cmd("quit")
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


def assert_clean_exit(peer: QfPeer) -> None:
    """The QuickFIX peer exited 0, or died by a signal inside QuickFIX's own engine.stop() teardown
    (its C++ threads race the SWIG objects under load) after the session had logged out: that is the
    peer's problem, not ours. Anything else fails with the exit code."""
    rc = peer.proc.returncode
    if rc == 0:
        return
    logged_out = peer.find(lambda e: e["ev"] == "logout")
    assert rc is not None and rc < 0 and logged_out, f"QuickFIX peer exited with {rc}"


async def converge(peer: QfPeer, session: FixSession, timeout: float = 10) -> dict[str, Any]:
    """Wait until both sides agree on both sequence numbers (no resend in flight)."""
    deadline = time.monotonic() + timeout
    while True:
        st = await peer.state()
        if st["sender"] == session.next_target_seq and st["target"] == session.next_sender_seq \
                and not session.resend_pending:
            return st
        assert time.monotonic() < deadline, f"seq nums never converged: QuickFIX {st}, ours " \
            f"{session.next_sender_seq}/{session.next_target_seq}"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("version", VERSIONS)
def test_our_initiator_against_quickfix_acceptor(tmp_path: Path, version: str) -> None:
    require_quickfix()

    async def main() -> None:
        port = free_port()
        peer = await QfPeer.start("acceptor", version, port, tmp_path / "qf", "VENUE", "HFT")
        app = RecordingApp()
        session = FixSession(SessionConfig(version, "HFT", "VENUE", heartbeat_interval=1),
                             FileStore(tmp_path / "hft.store"), app)
        ini = AsyncInitiator(session, "127.0.0.1", port)
        ini.start()
        try:
            # logon
            assert await ini.wait_logon(10), session.disconnect_reason
            await peer.wait(lambda e: e["ev"] == "logon")
            # NewOrderSingle -> ExecutionReport
            session.send(b"D", new_order_body("O1"))
            assert await wait_for_state(session, lambda s: len(app.app_msgs) == 1, 10)
            er = app.app_msgs[0]
            assert er.msg_type == b"8" and er.get(11) == b"O1" and er.get(39) == b"2"
            assert er.get_int(14) == 100 and er.get_price(31) == 456_700
            # heartbeats both ways at HeartBtInt=1
            assert await wait_for_state(session, lambda s: s.counters.heartbeats_received >= 1, 5)
            assert await wait_for_state(session, lambda s: s.counters.heartbeats_sent >= 1, 5)
            await peer.wait(lambda e: e["ev"] == "from_admin" and e["type"] == "0")
            # gap QuickFIX -> us: it skips 3 seq nums; we must ResendRequest and get a GapFill
            await peer.cmd("skip 3")
            await asyncio.sleep(0.1)
            session.send(b"D", new_order_body("O2"))
            assert await wait_for_state(session, lambda s: len(app.app_msgs) == 2, 10)
            assert app.app_msgs[1].get(11) == b"O2"
            assert session.counters.resend_requests_sent == 1
            rr = await peer.wait(lambda e: e["ev"] == "from_admin" and e["type"] == "2")
            gf = await peer.wait(lambda e: e["ev"] == "to_admin" and e["type"] == "4")
            assert gf["possdup"] and gf["fields"]["123"] == "Y"
            assert int(gf["fields"]["36"]) > int(rr["fields"]["7"])
            await converge(peer, session)
            # gap us -> QuickFIX with stored app messages: its next-expected goes back to our O2;
            # it must ResendRequest and we resend O2 with PossDupFlag=Y and OrigSendingTime
            o2_seq = next(s for s, f in session.store.get_sent(1, 10_000) if b"\x0111=O2\x01" in f)
            await peer.cmd(f"settarget {o2_seq}")
            await asyncio.sleep(0.1)
            session.send(b"D", new_order_body("O3"))
            dup = await peer.wait(lambda e: e["ev"] == "from_app" and e["possdup"]
                                  and e["fields"].get("11") == "O2")
            assert dup["seq"] == o2_seq and "122" in dup["fields"]
            await peer.wait(lambda e: e["ev"] == "to_admin" and e["type"] == "2")
            assert session.counters.resend_requests_received >= 1 and session.counters.messages_resent >= 1
            await peer.wait(lambda e: e["ev"] == "from_app" and e["fields"].get("11") == "O3")
            await converge(peer, session)
            assert session.is_active and session.counters.rejects_received == 0
            assert not peer.find(lambda e: e["ev"] == "to_admin" and e["type"] == "3")  # QF never rejected
            # logout handshake started by us
            await ini.stop()
            assert session.state == SessionState.DISCONNECTED
            assert session.disconnect_reason.startswith("logout confirmed")
            await peer.wait(lambda e: e["ev"] == "logout")
        finally:
            await ini.stop(timeout=1)
            await peer.close()
        assert_clean_exit(peer)

    asyncio.run(main())


@pytest.mark.parametrize("version", VERSIONS)
def test_quickfix_initiator_against_our_acceptor(tmp_path: Path, version: str) -> None:
    require_quickfix()

    async def main() -> None:
        app = RecordingApp(auto_fill=True)
        session = FixSession(SessionConfig(version, "VENUE", "QFCLIENT", initiator=False),
                             FileStore(tmp_path / "venue.store"), app)
        acc = AsyncAcceptor([session], "127.0.0.1", 0)
        port = await acc.start()
        peer = await QfPeer.start("initiator", version, port, tmp_path / "qf", "QFCLIENT", "VENUE")
        try:
            await peer.wait(lambda e: e["ev"] == "logon", 15)
            assert session.is_active and session.heartbeat_interval == 1
            # NewOrderSingle -> our ExecutionReport
            await peer.cmd("order Q1")
            er = await peer.wait(lambda e: e["ev"] == "from_app" and e["type"] == "8")
            assert er["fields"]["11"] == "Q1" and er["fields"]["14"] == "100"
            assert [m.get(11) for m in app.app_msgs] == [b"Q1"]
            # heartbeats
            await peer.wait(lambda e: e["ev"] == "from_admin" and e["type"] == "0", 5)
            assert await wait_for_state(session, lambda s: s.counters.heartbeats_received >= 1, 5)
            # gap QuickFIX -> us
            await peer.cmd("skip 3")
            await peer.cmd("order Q2")
            assert await wait_for_state(session, lambda s: len(app.app_msgs) == 2, 10)
            assert app.app_msgs[1].get(11) == b"Q2" and session.counters.resend_requests_sent == 1
            await peer.wait(lambda e: e["ev"] == "from_admin" and e["type"] == "2")
            await peer.wait(lambda e: e["ev"] == "to_admin" and e["type"] == "4")
            await converge(peer, session)
            # gap us -> QuickFIX: it forgets our execution reports and asks for them again
            first_er = next(s for s, f in session.store.get_sent(1, 10_000) if b"\x0135=8\x01" in f)
            await peer.cmd(f"settarget {first_er}")
            await asyncio.sleep(0.1)
            await peer.cmd("order Q3")
            dup = await peer.wait(lambda e: e["ev"] == "from_app" and e["type"] == "8" and e["possdup"]
                                  and e["fields"].get("11") == "Q1")
            assert dup["seq"] == first_er and "122" in dup["fields"]
            assert session.counters.messages_resent >= 2 and session.counters.gap_fills_sent >= 1
            await peer.wait(lambda e: e["ev"] == "from_app" and e["type"] == "8"
                            and e["fields"].get("11") == "Q3")
            await converge(peer, session)
            assert [m.get(11) for m in app.app_msgs] == [b"Q1", b"Q2", b"Q3"]
            assert session.counters.rejects_sent == 0 and session.counters.rejects_received == 0
            # logout started by QuickFIX
            await peer.cmd("logout")
            await peer.wait(lambda e: e["ev"] == "logout")
            assert await wait_for_state(session, lambda s: s.state == SessionState.DISCONNECTED, 5)
            assert session.disconnect_reason.startswith("peer logout")
        finally:
            await peer.close()
            await acc.stop(timeout=1)
        assert_clean_exit(peer)

    asyncio.run(main())
