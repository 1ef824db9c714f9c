"""A fuzzing client cannot crash the simulator or disturb the other sessions.

Seeded random input on both ports: raw garbage and half frames on fresh connections, frames with
random CompIDs/BeginStrings, and -- inside logged-on sessions -- random application and admin messages
with random tags and values, corrupted checksums, wrong lengths and out-of-order sequence numbers. A
well-behaved order client and market data client run at the same time; afterwards the server is alive,
the good clients were never disconnected, their last order was acknowledged, their feed had no RptSeq
gap and no gateway call raised.
"""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Iterator

import pytest
from sim_fix_client import BookReplica, Client, RawFix, md_request, new_order

from hft.fix.parser import FixStreamParser, byte_sum
from hft.fix.session import SessionState
from hft.sim.config import ClientSession, FlowSettings, MarketDataConfig, OrderEntryConfig, SimConfig
from hft.sim.server import SimServer

pytestmark = pytest.mark.timeout(120)

TAGS = [1, 11, 21, 37, 38, 40, 41, 44, 54, 55, 59, 60, 100, 15, 167, 6001, 7, 16, 36, 123, 43, 122, 112,
        98, 108, 141, 262, 263, 264, 265, 267, 269, 146, 58, 99999, 0]
TYPES = [b"D", b"D", b"D", b"F", b"G", b"H", b"V", b"0", b"1", b"2", b"4", b"A", b"8", b"Z", b"", b"5"]


def rand_value(rng: random.Random) -> bytes:
    k = rng.randrange(12)
    if k == 0:
        return b""
    if k == 1:
        return str(rng.randint(-10**12, 10**12)).encode()
    if k == 2:
        return f"{rng.uniform(-100, 100):.{rng.randrange(8)}f}".encode()
    if k == 3:
        return rng.choice([b"BHP", b"PLS", b"NWX", b"ZZZ", b"", b"BHP\x00"])
    if k == 4:
        return rng.choice([b"1", b"2", b"0", b"3", b"4", b"Y", b"N", b"C", b"K"])
    if k == 5:
        return bytes(rng.randrange(32, 127) for _ in range(rng.randrange(1, 40)))
    if k == 6:
        return b"20260101-00:00:00" + rng.choice([b"", b".123", b".1234567890", b"x"])
    if k == 7:
        return rng.choice([b"45.00", b"1.505", b"0.048", b"45.001", b"1e3", b"-0", b"00044.0000"])
    return str(rng.randint(0, 1000)).encode()


def frame(begin: bytes, fields: list[tuple[bytes, bytes]], corrupt: int = 0) -> bytes:
    body = b"".join(b"%s=%s\x01" % (t, v) for t, v in fields)
    n = len(body) + corrupt  # corrupt != 0: a wrong BodyLength
    head = b"8=%s\x019=%d\x01" % (begin, n)
    msg = head + body
    cs = byte_sum(msg) & 0xFF
    return msg + b"10=%03d\x01" % cs


def _templates(rng: random.Random, seq: int) -> list[tuple[bytes, list[tuple[int, str | int]]]]:
    cl = f"f{seq}"
    orig = f"f{max(1, seq - rng.randint(1, 20))}"
    sym = rng.choice(["BHP", "PLS", "NWX"])
    side = rng.choice([1, 2])
    px = rng.choice(["44.99", "45.00", "45.01", "1.50", "1.505", "0.048", "0.049"])
    return [
        (b"D", [(t, v) for t, v in new_order(cl, side, rng.randint(1, 500), px, symbol=sym)]),
        (b"F", [(41, orig), (11, cl), (55, sym), (54, side), (60, "20260101-00:00:00")]),
        (b"G", [(41, orig), (11, cl), (1, "ACC1"), (21, "1"), (55, sym), (54, side),
                (38, rng.randint(1, 500)), (40, "2"), (44, px), (59, "0"), (60, "20260101-00:00:00")]),
        (b"H", [(11, orig), (55, sym), (54, side)]),
        (b"V", [(262, cl), (263, rng.choice(["0", "1", "2"])), (264, rng.randint(0, 20)), (265, "1"),
                (267, 2), (269, "0"), (269, "1"), (146, 1), (55, rng.choice([sym, "ZZZ"]))]),
    ]


Fields = list[tuple[bytes, bytes]]


def random_app_fields(rng: random.Random, sender: bytes, target: bytes, seq: int) -> Fields:
    head = [(b"49", sender), (b"56", target), (b"34", b"%d" % seq), (b"52", b"20260101-00:00:00.000")]
    if rng.random() < 0.75:  # a valid-looking message with a few mutations
        mt, body = rng.choice(_templates(rng, seq))
        fields = [(b"%d" % t, v.encode() if isinstance(v, str) else b"%d" % v) for t, v in body]
        for _ in range(rng.choice([0, 1, 1, 2, 3])):
            k = rng.randrange(3)
            i = rng.randrange(len(fields))
            if k == 0:
                fields[i] = (fields[i][0], rand_value(rng))
            elif k == 1 and len(fields) > 1:
                del fields[i]
            else:
                fields.insert(i, (b"%d" % rng.choice(TAGS), rand_value(rng)))
        return [(b"35", mt), *head, *fields]
    mt = rng.choice(TYPES)
    fields = [(b"35", mt), *head]
    for _ in range(rng.randrange(0, 14)):
        fields.append((b"%d" % rng.choice(TAGS), rand_value(rng)))
    return fields


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    oe = OrderEntryConfig(sessions=(ClientSession("HFT"), ClientSession("FZ1"),
                                    ClientSession("FZ2", "FIX.4.4")))
    md = MarketDataConfig(sessions=(ClientSession("HFTMD"), ClientSession("FZMD")))
    cfg = SimConfig.default(order_entry=oe, market_data=md, flow=FlowSettings(rate=2.0, seed=11),
                            metrics_enabled=False)
    with SimServer(cfg) as s:
        yield s


def test_fuzzing_clients_cannot_crash_or_disturb(sim: SimServer) -> None:
    rng = random.Random(20261127)
    good = Client(sim.order_port, "HFT", "ASXSIM").logon()
    feed = Client(sim.md_port, "HFTMD", "ASXSIMMD").logon()
    feed.send(b"V", md_request("good", ["BHP"]))
    w = feed.wait_msg(lambda m: m.msg_type == b"W")
    try:
        # 1) garbage and random first messages on fresh connections
        for i in range(40):
            port = sim.order_port if i % 2 else sim.md_port
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                k = rng.randrange(4)
                if k == 0:
                    data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 3000)))
                elif k == 1:
                    data = frame(rng.choice([b"FIX.4.2", b"FIX.4.4", b"FIXT.1.1", b"XYZ"]),
                                 random_app_fields(rng, rng.choice([b"HFT", b"FZ1", b"??", b""]),
                                                   rng.choice([b"ASXSIM", b"ASXSIMMD", b"X"]), 1))
                elif k == 2:
                    full = frame(b"FIX.4.2", [(b"35", b"A"), (b"49", b"FZ1"), (b"56", b"ASXSIM"),
                                              (b"34", b"1"), (b"52", b"20260101-00:00:00"), (b"98", b"0"),
                                              (b"108", b"30")])
                    data = full[: rng.randrange(1, len(full))]
                else:
                    data = b"8=FIX.4.2\x019=99999999\x01" + b"x" * rng.randrange(5000)
                try:
                    s.sendall(data)
                    s.settimeout(0.05)
                    s.recv(4096)
                except OSError:
                    pass

        # 2) logged-on fuzzing sessions (reconnect whenever the server logs them out)
        def connect(port: int, sender: str, target: str, begin: str) -> RawFix:
            r = RawFix(port, sender, target, begin)
            r.logon()
            return r

        targets = [(sim.order_port, "FZ1", "ASXSIM", "FIX.4.2"), (sim.order_port, "FZ2", "ASXSIM", "FIX.4.4"),
                   (sim.md_port, "FZMD", "ASXSIMMD", "FIX.4.2")]
        conns = [connect(*t) for t in targets]
        sent = 0
        deadline = time.monotonic() + 6.0
        while time.monotonic() < deadline and sent < 1500:
            j = rng.randrange(len(conns))
            r = conns[j]
            port, sender, target, begin = targets[j]
            seq = r.seq
            u = rng.random()
            if u < 0.05:
                seq += rng.randint(1, 5)  # gap
            elif u < 0.08:
                seq = max(1, seq - rng.randint(1, 3))  # too low -> Logout
            fields = random_app_fields(rng, sender.encode(), target.encode(), seq)
            corrupt = rng.choice([0] * 8 + [1, -1])
            data = frame(begin.encode(), fields, corrupt)
            if rng.random() < 0.05:
                p = rng.randrange(len(data))
                data = data[:p] + bytes([rng.randrange(256)]) + data[p + 1:]
            r.seq = seq + 1
            broken = corrupt != 0 or seq != r.seq - 1 or data != frame(begin.encode(), fields, corrupt)
            try:
                r.send_raw(data)
                if (broken or u < 0.08) and rng.random() < 0.9:
                    # SequenceReset-Reset: whatever got lost, carry on at r.seq (else the session waits
                    # for a resend we never answer and nothing more reaches the application)
                    r.send_raw(frame(begin.encode(), [(b"35", b"4"), (b"49", sender.encode()),
                                                      (b"56", target.encode()), (b"34", b"%d" % r.seq),
                                                      (b"52", b"20260101-00:00:00"), (b"36", b"%d" % r.seq)]))
            except OSError:
                r.closed = True
            r.pump(0.0005)
            sent += 1
            if r.closed:
                r.close()
                time.sleep(0.02)
                try:
                    conns[j] = connect(*targets[j])
                except (AssertionError, OSError):
                    time.sleep(0.1)
                    conns[j] = connect(*targets[j])
            if sent % 100 == 0:  # the good client keeps trading in the middle of it
                good.send(b"D", new_order(f"good{sent}", 1, 100, "1.00"))
        for r in conns:
            r.close()

        # 3) the server is alive and the good sessions never noticed
        assert sim.running
        cl = "final"
        good.send(b"D", new_order(cl, 1, 100, "1.00"))
        m = good.wait_msg(lambda m: m.msg_type == b"8" and m.get(11) == cl.encode())
        assert m.get(150) == b"0"
        assert good.session.state == SessionState.ACTIVE and good.session.counters.disconnects == 0
        assert feed.session.state == SessionState.ACTIVE and feed.session.counters.disconnects == 0
        assert not good.app.rejects
        book = BookReplica(w)
        for x in feed.snapshot():
            if x.msg_type == b"X" and x.get(55) == b"BHP":
                book.apply(x)  # asserts no RptSeq gap and consistent new/change/delete
        stats = sim.stats()
        assert stats["gateway"]["internal_errors"] == 0
        assert sent >= 300
        print(f"fuzz: {sent} messages, gateway {stats['gateway']}, md {stats['marketdata']}")
        fz = sim.call(lambda: [sim.order_sessions[n].stats() for n in ("FZ1", "FZ2")])
        assert sum(f["app_in"] for f in fz) >= 50  # the fuzz reached the gateway, not only the session layer
        assert sum(f["rejects_sent"] for f in fz) > 0 and sum(f["garbled_frames"] for f in fz) > 0
        # a fresh, well-behaved session still works after all that
        again = Client(sim.order_port, "FZ1", "ASXSIM").logon()
        again.send(b"D", new_order("after", 2, 10, "99.00"))
        again.wait_msg(lambda m: m.msg_type == b"8" and m.get(11) == b"after")
        again.close()
    finally:
        good.close()
        feed.close()


def test_parser_sees_fuzz_frames_as_intended() -> None:
    """Sanity check of the frame builder used above: uncorrupted frames parse, corrupted ones do not."""
    rng = random.Random(1)
    ok = frame(b"FIX.4.2", random_app_fields(rng, b"A", b"B", 1))
    p = FixStreamParser()
    p.feed(ok)
    assert len(list(p)) == 1
    bad = frame(b"FIX.4.2", random_app_fields(rng, b"A", b"B", 2), corrupt=1)
    p = FixStreamParser()
    p.feed(bad + ok)
    assert len(list(p)) <= 1
