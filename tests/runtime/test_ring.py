"""SPSC shared-memory ring: FIFO order, full/empty, wraparound, zero-copy API, and real producer/consumer
processes attaching by name."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from collections import deque
from multiprocessing import shared_memory

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hft.runtime.ring import RingError, SpscRing

REC = struct.Struct("<QI")  # sequence number, payload length marker


def _record(i: int) -> bytes:
    # variable length 12..(12 + 40) bytes, content derived from i so the consumer can check it
    body = bytes((i * 7 + k) & 0xFF for k in range(i % 41))
    return REC.pack(i, len(body)) + body


# The other side runs in a fresh interpreter (python -c), attaching by name: no fork, no pickling, and
# independent of how pytest imports this module.
_CHILD_COMMON = """
import json, struct, sys
from hft.runtime.ring import SpscRing
REC = struct.Struct("<QI")
def record(i):
    body = bytes((i * 7 + k) & 0xFF for k in range(i % 41))
    return REC.pack(i, len(body)) + body
name, count = sys.argv[1], int(sys.argv[2])
ring = SpscRing.attach(name)
"""
_PRODUCER = _CHILD_COMMON + """
i = 0
while i < count:
    if ring.try_push(record(i)):
        i += 1
ring.close()
"""
_CONSUMER = _CHILD_COMMON + """
out = bytearray(ring.max_record)
bad, i = -1, 0
while i < count:
    n = ring.try_pop_into(out)
    if n < 0:
        continue
    if bad < 0 and bytes(out[:n]) != record(i):
        bad = i
    i += 1
ring.close()
print(json.dumps({"got": i, "bad": bad}))
"""


def _child(code: str, name: str, count: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen([sys.executable, "-c", code, name, str(count)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def test_rejects_bad_parameters() -> None:
    for cap in (0, 3, 12, -4):
        with pytest.raises(RingError, match="power of two"):
            SpscRing.create(cap)
    for slot in (8, 20, 0):
        with pytest.raises(RingError, match="slot_size"):
            SpscRing.create(4, slot)


def test_attach_to_a_segment_that_is_not_a_ring() -> None:
    shm = shared_memory.SharedMemory(create=True, size=4096)
    try:
        with pytest.raises(RingError, match="not an hft SPSC ring"):
            SpscRing.attach(shm.name)
    finally:
        shm.close()
        shm.unlink()


def test_fifo_full_and_empty() -> None:
    with SpscRing.create(8, 32) as ring:
        assert ring.capacity == 8 and ring.max_record == 24 and len(ring) == 0
        assert ring.try_pop() is None
        assert ring.try_pop_into(bytearray(24)) == -1
        for i in range(8):
            assert ring.try_push(bytes([i]) * (i + 1))
        assert len(ring) == 8
        assert not ring.try_push(b"x")  # full: all capacity slots are usable, the ninth is refused
        assert ring.claim() == -1
        assert ring.try_pop() == b"\x00"
        assert ring.try_push(b"late")
        got = []
        while (r := ring.try_pop()) is not None:
            got.append(r)
        assert got == [bytes([i]) * (i + 1) for i in range(1, 8)] + [b"late"]
        assert len(ring) == 0


def test_record_size_limits() -> None:
    with SpscRing.create(2, 16) as ring:
        assert ring.try_push(b"")
        assert ring.try_push(b"12345678")
        with pytest.raises(RingError, match="9 bytes does not fit"):
            ring.try_push(b"123456789")
        assert ring.try_pop() == b""
        assert ring.try_pop() == b"12345678"
        with pytest.raises(RingError):
            ring.publish(9)


def test_wraparound_many_laps() -> None:
    with SpscRing.create(4, 64) as ring:
        out = bytearray(ring.max_record)
        nxt = 0
        for i in range(2_000):
            while not ring.try_push(_record(i)):
                n = ring.try_pop_into(out)
                assert bytes(out[:n]) == _record(nxt)
                nxt += 1
        while (n := ring.try_pop_into(out)) >= 0:
            assert bytes(out[:n]) == _record(nxt)
            nxt += 1
        assert nxt == 2_000


def test_zero_copy_claim_publish_peek_release() -> None:
    with SpscRing.create(4, 32) as ring:
        buf = ring.buffer
        for i in range(10):
            off = ring.claim()
            assert off >= 0 and off % 8 == 0
            struct.pack_into("<qq", buf, off, i, -i)
            ring.publish(16)
            off = ring.peek()
            assert ring.peek_length(off) == 16
            assert struct.unpack_from("<qq", buf, off) == (i, -i)
            ring.release()
        assert ring.peek() == -1


def test_struct_pack_and_unpack_in_place() -> None:
    book = struct.Struct("<qqiq")  # instrument, price, side, qty: a parsed book update
    with SpscRing.create(4, 40) as ring:
        for i in range(9):
            assert ring.try_push_packed(book, i, 451_200 + i, i & 1, 100 * i)
            assert ring.try_pop_unpack(book) == (i, 451_200 + i, i & 1, 100 * i)
        assert ring.try_pop_unpack(book) is None
        for i in range(4):
            assert ring.try_push_packed(book, i, 0, 0, 0)
        assert not ring.try_push_packed(book, 9, 0, 0, 0)
        assert ring.try_pop() == book.pack(0, 0, 0, 0)  # the length prefix is the struct size
        with pytest.raises(RingError, match="does not fit"):
            ring.try_push_packed(struct.Struct("<5q"), 1, 2, 3, 4, 5)


def test_two_handles_one_segment() -> None:
    """Producer and consumer handles attached separately share head and tail through the segment."""
    with SpscRing.create(16, 64) as prod:
        cons = SpscRing.attach(prod.name)
        try:
            assert prod.try_push(b"a") and prod.try_push(b"b")
            assert len(cons) == 2
            assert cons.try_pop() == b"a"
            for _ in range(15):
                assert prod.try_push(b"z")
            assert not prod.try_push(b"overflow")  # 16 waiting
            assert cons.try_pop() == b"b"
            assert prod.try_push(b"ok")
        finally:
            cons.close()


@pytest.mark.timeout(60)
def test_producer_process_to_consumer() -> None:
    count = 20_000
    with SpscRing.create(8, 64) as ring:  # small capacity: the producer meets a full ring constantly
        p = _child(_PRODUCER, ring.name, count)
        out = bytearray(ring.max_record)
        i = 0
        try:
            while i < count:
                n = ring.try_pop_into(out)
                if n < 0:
                    if p.poll() is not None and len(ring) == 0:
                        break
                    continue
                assert bytes(out[:n]) == _record(i), f"record {i} corrupt or out of order"
                i += 1
        finally:
            _, err = p.communicate(timeout=30)
        assert p.returncode == 0, err
        assert i == count
        assert ring.try_pop() is None
        # the child attached and exited: the segment must still exist (not unlinked by its tracker)
        again = SpscRing.attach(ring.name)
        again.close()


@pytest.mark.timeout(60)
def test_consumer_process_from_producer() -> None:
    count = 20_000
    with SpscRing.create(16, 64) as ring:
        c = _child(_CONSUMER, ring.name, count)
        try:
            i = 0
            while i < count:
                if ring.try_push(_record(i)):
                    i += 1
                elif c.poll() is not None:
                    break
        finally:
            out, err = c.communicate(timeout=30)
        assert c.returncode == 0, err
        assert json.loads(out) == {"got": count, "bad": -1}


@settings(max_examples=150, deadline=None)
@given(ops=st.lists(st.one_of(st.binary(max_size=24), st.none()), max_size=200),
       cap_log2=st.integers(min_value=0, max_value=4))
def test_matches_a_bounded_queue_model(ops: list[bytes | None], cap_log2: int) -> None:
    """Any interleaving of pushes (bytes) and pops (None) behaves like a bounded FIFO."""
    cap = 1 << cap_log2
    model: deque[bytes] = deque()
    with SpscRing.create(cap, 32) as ring:
        for op in ops:
            if op is None:
                expected = model.popleft() if model else None
                assert ring.try_pop() == expected
            else:
                accepted = ring.try_push(op)
                assert accepted == (len(model) < cap)
                if accepted:
                    model.append(op)
            assert len(ring) == len(model)
        while model:
            assert ring.try_pop() == model.popleft()
        assert ring.try_pop() is None
