"""Transports over real TCP on 127.0.0.1: asyncio initiator/acceptor, routing, reconnect, thread initiator."""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path

import pytest
from test_session_support import RecordingApp, new_order_body

from hft.fix.encoder import FixEncoder
from hft.fix.parser import FixStreamParser
from hft.fix.session import FixSession, SessionConfig, SessionState
from hft.fix.store import FileStore, open_store
from hft.fix.transport import AsyncAcceptor, AsyncInitiator, ThreadedInitiator, wait_for_state

pytestmark = pytest.mark.timeout(60)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _acceptor(tmp: Path, clients: list[tuple[str, str]]) -> tuple[AsyncAcceptor, dict[str, RecordingApp]]:
    apps: dict[str, RecordingApp] = {}
    sessions = []
    for version, client in clients:
        cfg = SessionConfig(version, "VENUE", client, initiator=False)
        app = RecordingApp(auto_fill=True)
        apps[client] = app
        sessions.append(FixSession(cfg, open_store(tmp / "acc", version, "VENUE", client), app))
    return AsyncAcceptor(sessions, "127.0.0.1", 0), apps


def _initiator(tmp: Path, version: str, client: str, port: int, **kw: object) -> AsyncInitiator:
    cfg = SessionConfig(version, client, "VENUE", initiator=True, heartbeat_interval=1, reconnect_min=0.05,
                        reconnect_max=0.2)
    s = FixSession(cfg, open_store(tmp / client, version, client, "VENUE"), RecordingApp())
    return AsyncInitiator(s, "127.0.0.1", port, **kw)  # type: ignore[arg-type]


async def _raw_logon(port: int, version: str, sender: str, target: str) -> bytes:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(FixEncoder(version, sender, target).encode(b"A", [(98, 0), (108, 30)], 1))
    await w.drain()
    data = await asyncio.wait_for(r.read(), 5)  # until the server closes
    w.close()
    return data


def test_acceptor_serves_several_sessions_and_refuses_strangers(tmp_path: Path) -> None:
    async def main() -> None:
        acc, apps = _acceptor(tmp_path, [("FIX.4.2", "C1"), ("FIX.4.4", "C2")])
        port = await acc.start()
        i1 = _initiator(tmp_path, "FIX.4.2", "C1", port)
        i2 = _initiator(tmp_path, "FIX.4.4", "C2", port)
        i1.start()
        i2.start()
        assert await i1.wait_logon(5) and await i2.wait_logon(5)
        sock = i1._proto.transport.get_extra_info("socket")  # type: ignore[union-attr]
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        i1.session.send(b"D", new_order_body("O-1"))
        i2.session.send(b"D", new_order_body("O-2", qty=7))
        ok = await wait_for_state(i1.session, lambda s: len(s.app.app_msgs) == 1, 5)  # type: ignore[attr-defined]
        ok &= await wait_for_state(i2.session, lambda s: len(s.app.app_msgs) == 1, 5)  # type: ignore[attr-defined]
        assert ok
        assert [m.get(11) for m in apps["C1"].app_msgs] == [b"O-1"]
        assert [m.get(11) for m in apps["C2"].app_msgs] == [b"O-2"]
        assert i2.session.app.app_msgs[0].get_int(14) == 7  # type: ignore[attr-defined]
        # strangers: unknown CompID, wrong BeginString, second connection for a live session
        unknown = await _raw_logon(port, "FIX.4.2", "NOBODY", "VENUE")
        wrong_ver = await _raw_logon(port, "FIX.4.4", "C1", "VENUE")
        dup = await _raw_logon(port, "FIX.4.2", "C1", "VENUE")
        for data, text in ((unknown, b"Unknown session: SenderCompID=NOBODY TargetCompID=VENUE"),
                           (wrong_ver, b"Incorrect BeginString FIX.4.4"),
                           (dup, b"Session already logged on")):
            p = FixStreamParser()
            p.feed(data)
            msgs = list(p)
            assert len(msgs) == 1 and msgs[0].msg_type == b"5" and msgs[0].get(58) == text
        assert i1.session.is_active  # the live session was not disturbed
        await i1.stop()
        await i2.stop()
        assert i1.session.state == SessionState.DISCONNECTED
        assert apps["C1"].events[-1] == ("logout", "peer logout: client shutdown")
        await acc.stop()

    asyncio.run(main())
    # both sides persisted: next seq nums resume from disk
    st = FileStore(next((tmp_path / "C1").glob("*.store")))
    assert (st.next_sender_seq, st.next_target_seq) == (4, 4)
    st.close()


def test_initiator_reconnects_with_backoff_and_resumes(tmp_path: Path) -> None:
    async def main() -> None:
        port = _free_port()
        ini = _initiator(tmp_path, "FIX.4.2", "C1", port)
        ini.start()
        await asyncio.sleep(0.4)  # nobody listening yet
        assert ini.connect_failures >= 2 and not ini.session.is_active
        acc, apps = _acceptor(tmp_path, [("FIX.4.2", "C1")])
        acc.port = port
        await acc.start()
        assert await ini.wait_logon(5)
        ini.session.send(b"D", new_order_body("R-1"))
        # the venue drops the connection: the initiator comes back on its own, same seq nums
        await wait_for_state(ini.session, lambda s: len(s.app.app_msgs) == 1, 5)  # type: ignore[attr-defined]
        acc_session = next(iter(acc.sessions.values()))
        acc_session.disconnect("test drops the line")
        assert await wait_for_state(ini.session, lambda s: s.state == SessionState.DISCONNECTED, 5)
        assert await ini.wait_logon(5)
        assert ini.connects == 2 and ini.session.counters.logons == 2
        ini.session.send(b"D", new_order_body("R-2"))
        assert await wait_for_state(acc_session, lambda s: len(apps["C1"].app_msgs) == 2, 5)
        assert [m.seq_num for m in apps["C1"].app_msgs] == [2, 4]  # seq 3 was the second Logon
        await ini.stop()
        await acc.stop()

    asyncio.run(main())


def test_heartbeats_flow_over_tcp(tmp_path: Path) -> None:
    async def main() -> None:
        acc, _ = _acceptor(tmp_path, [("FIX.4.4", "C1")])
        port = await acc.start()
        ini = _initiator(tmp_path, "FIX.4.4", "C1", port)
        ini.start()
        assert await ini.wait_logon(5)
        await asyncio.sleep(2.3)
        acc_s = next(iter(acc.sessions.values()))
        assert ini.session.counters.heartbeats_sent >= 2 and acc_s.counters.heartbeats_sent >= 2
        assert acc_s.heartbeat_interval == 1 and ini.session.is_active
        await ini.stop()
        await acc.stop()

    asyncio.run(main())


def test_threaded_initiator_against_async_acceptor(tmp_path: Path) -> None:
    acc, apps = _acceptor(tmp_path, [("FIX.4.2", "SYNC")])
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(acc.start())
        started.set()
        loop.run_forever()

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    assert started.wait(5)
    try:
        cfg = SessionConfig("FIX.4.2", "SYNC", "VENUE", heartbeat_interval=1)
        app = RecordingApp()
        ini = ThreadedInitiator(FixSession(cfg, FileStore(tmp_path / "sync.store"), app), "127.0.0.1",
                                acc.port)
        ini.start()
        assert ini.wait_logon(5)
        seqs = [ini.send(b"D", new_order_body(f"T{k}")) for k in range(5)]
        assert seqs == [2, 3, 4, 5, 6]
        assert ini.wait_for(lambda s: len(app.app_msgs) == 5, 5)
        assert [m.get(11) for m in app.app_msgs] == [b"T0", b"T1", b"T2", b"T3", b"T4"]
        ini.stop()
        assert ini.session.state == SessionState.DISCONNECTED
        assert ini.session.store.next_sender_seq == 8  # 5 orders + Logon + Logout
    finally:
        asyncio.run_coroutine_threadsafe(acc.stop(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        th.join(5)
        loop.close()
    assert [m.get(11) for m in apps["SYNC"].app_msgs] == [b"T0", b"T1", b"T2", b"T3", b"T4"]


def test_acceptor_drops_silent_and_garbage_connections(tmp_path: Path) -> None:
    async def main() -> None:
        acc, _ = _acceptor(tmp_path, [("FIX.4.2", "C1")])
        acc.first_message_timeout = 0.3
        port = await acc.start()
        r1, w1 = await asyncio.open_connection("127.0.0.1", port)  # says nothing
        r2, w2 = await asyncio.open_connection("127.0.0.1", port)
        w2.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 10)  # not FIX at all
        await w2.drain()
        assert await asyncio.wait_for(r1.read(), 5) == b""  # closed by the acceptor
        assert await asyncio.wait_for(r2.read(), 5) == b""
        # the silent one at first_message_timeout, the one that sent garbage at once
        assert sorted(acc.refused) == ["malformed first message", "no valid first message"]
        w1.close()
        w2.close()
        await acc.stop()

    asyncio.run(main())
