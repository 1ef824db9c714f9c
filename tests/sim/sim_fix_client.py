"""A small FIX test client for the simulator tests: a real initiator session over TCP on 127.0.0.1
(hft.fix ThreadedInitiator) that records every application message it receives."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable

from hft.fix.parser import FixMessage, FixStreamParser
from hft.fix.session import FixSession, SessionApplication, SessionConfig, SessionState
from hft.fix.store import MemoryStore
from hft.fix.transport import ThreadedInitiator

Body = list[tuple[int, bytes | str | int]]


class Recorder(SessionApplication):
    def __init__(self) -> None:
        self.msgs: list[FixMessage] = []
        self.rejects: list[FixMessage] = []
        self.logouts: list[str] = []
        self.lock = threading.Lock()

    def on_app_message(self, session: FixSession, msg: FixMessage) -> None:
        with self.lock:
            self.msgs.append(msg)

    def on_session_reject(self, session: FixSession, msg: FixMessage) -> None:
        with self.lock:
            self.rejects.append(msg)

    def on_logout(self, session: FixSession, reason: str) -> None:
        self.logouts.append(reason)


class Client:
    """``Client(port, "HFT", "ASXSIM")``; ``send``, ``wait_msg(pred)``, ``close``."""

    def __init__(self, port: int, sender: str, target: str, begin: str = "FIX.4.2", hb: int = 30,
                 reset: bool = True, store: MemoryStore | None = None) -> None:
        self.app = Recorder()
        cfg = SessionConfig(begin_string=begin, sender_comp_id=sender, target_comp_id=target,
                            heartbeat_interval=hb, reset_seq_num_on_logon=reset, reconnect_min=0.2,
                            reconnect_max=0.5)
        self.session = FixSession(cfg, store if store is not None else MemoryStore(), self.app)
        self.init = ThreadedInitiator(self.session, "127.0.0.1", port, reconnect=False)
        self.init.start()

    def logon(self, timeout: float = 10.0) -> Client:
        assert self.init.wait_logon(timeout), f"no logon: {self.session.disconnect_reason}"
        return self

    def send(self, mt: bytes, body: Body) -> int:
        return self.init.send(mt, body)

    def snapshot(self) -> list[FixMessage]:
        with self.app.lock:
            return list(self.app.msgs)

    def wait_msg(self, pred: Callable[[FixMessage], bool], timeout: float = 10.0,
                 start: int = 0) -> FixMessage:
        deadline = time.monotonic() + timeout
        while True:
            for m in self.snapshot()[start:]:
                if pred(m):
                    return m
            if time.monotonic() > deadline:
                got = [m.raw.replace(b"\x01", b"|")[:200] for m in self.snapshot()[-5:]]
                raise AssertionError(f"no matching message within {timeout}s; last: {got}")
            time.sleep(0.005)

    def wait_state(self, state: SessionState, timeout: float = 10.0) -> bool:
        return self.init.wait_for(lambda s: s.state == state, timeout)

    def close(self) -> None:
        with contextlib.suppress(OSError):  # the line may already be gone (tests that cut it)
            self.init.stop()


def new_order(cl: str, side: int, qty: int, price: str | None, symbol: str = "BHP", account: str = "ACC1",
              tif: str = "0", ord_type: str = "2", extra: Body | None = None) -> Body:
    body: Body = [(1, account), (11, cl), (21, "1"), (55, symbol), (54, side),
                                                 (38, qty), (40, ord_type)]
    if price is not None:
        body.append((44, price))
    body += [(59, tif), (60, "20260101-00:00:00.000"), (100, "ASX"), (15, "AUD"), (167, "CS")]
    if extra:
        body += extra
    return body


def replace_order(orig: str, cl: str, side: int, qty: int, price: str, symbol: str = "BHP",
                  account: str = "ACC1", order_id: bytes | None = None, ctci: bool = True) -> Body:
    body: Body = [(41, orig)]
    if order_id:
        body.append((37, order_id))
    body += [(11, cl), (1, account), (21, "1"), (55, symbol), (54, side), (38, qty), (40, "2"), (44, price),
             (59, "0"), (60, "20260101-00:00:00")]
    if ctci:
        body += [(100, "ASX"), (15, "AUD"), (167, "CS")]
    return body


def md_request(req: str, symbols: list[str], sub: str = "1", depth: int = 10) -> Body:
    body: Body = [(262, req), (263, sub), (264, depth), (265, "1"), (267, 3),
                                                 (269, "0"), (269, "1"), (269, "2"), (146, len(symbols))]
    for s in symbols:
        body.append((55, s))
    return body


def raw_exchange(port: int, data: bytes, read_s: float = 1.0) -> list[FixMessage]:
    """Send raw bytes on a fresh connection; return what came back until close or ``read_s``."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        sock.settimeout(read_s)
        p = FixStreamParser()
        deadline = time.monotonic() + read_s
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            p.feed(chunk)
        return list(p)


class RawFix:
    """A hand-driven FIX connection (no session layer): choose every seq num, send any bytes."""

    def __init__(self, port: int, sender: str, target: str, begin: str = "FIX.4.2") -> None:
        from hft.fix.encoder import FixEncoder

        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.enc = FixEncoder(begin, sender, target)
        self.parser = FixStreamParser()
        self.seq = 1
        self.received: list[FixMessage] = []
        self.closed = False

    def frame(self, mt: bytes, body: Body, seq: int | None = None) -> bytes:
        if seq is None:
            seq = self.seq
        self.seq = seq + 1
        return self.enc.encode(mt, body, seq)

    def send(self, mt: bytes, body: Body, seq: int | None = None) -> None:
        self.sock.sendall(self.frame(mt, body, seq))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def logon(self, hb: int = 30, reset: bool = True) -> FixMessage:
        body: Body = [(98, 0), (108, hb)]
        if reset:
            body.append((141, "Y"))
        self.send(b"A", body)
        return self.wait(lambda m: m.msg_type == b"A")

    def pump(self, timeout: float = 0.05) -> None:
        if self.closed:
            return
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return
        except OSError:
            self.closed = True
            return
        if not data:
            self.closed = True
            return
        self.parser.feed(data)
        self.received.extend(self.parser)

    def wait(self, pred: Callable[[FixMessage], bool], timeout: float = 5.0) -> FixMessage:
        deadline = time.monotonic() + timeout
        i = 0
        while True:
            while i < len(self.received):
                m = self.received[i]
                i += 1
                if pred(m):
                    return m
            if time.monotonic() > deadline or self.closed:
                got = [m.raw.replace(b"\x01", b"|")[:160] for m in self.received[-4:]]
                raise AssertionError(f"no matching message (closed={self.closed}); last: {got}")
            self.pump()

    def wait_closed(self, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            self.pump()
        return self.closed

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class BookReplica:
    """The client's view: a 35=W then 35=X applied in RptSeq order (gaps are errors here)."""

    def __init__(self, w: FixMessage) -> None:
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.seq = w.get_int(83) or 0
        for _a, ty, px, qty, _s, _p in w.md_entries():
            assert px is not None and qty is not None
            (self.bids if ty == b"0" else self.asks)[px] = qty
        self.trades: list[tuple[int, int]] = []

    def apply(self, x: FixMessage) -> None:
        seq = x.get_int(83)
        assert seq == self.seq + 1, f"RptSeq gap: have {self.seq}, got {seq}"
        self.seq = seq
        for action, ty, px, qty, _sym, _p in x.md_entries():
            assert px is not None and qty is not None
            if ty == b"2":
                self.trades.append((px, qty))
                continue
            side = self.bids if ty == b"0" else self.asks
            if action == b"2":
                assert px in side, f"delete of unknown level {px}"
                del side[px]
            elif action == b"0":
                assert px not in side, f"new level {px} already known"
                side[px] = qty
            else:
                assert px in side, f"change of unknown level {px}"
                side[px] = qty

    def top(self, depth: int = 10) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        return (sorted(self.bids.items(), reverse=True)[:depth], sorted(self.asks.items())[:depth])
