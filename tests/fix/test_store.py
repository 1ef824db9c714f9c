"""FileStore: round trips, torn tails, policies, and real kill -9 of a writer process."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hft.fix.store import MAGIC, FileStore, MemoryStore, StoreDamaged, StoreError, open_store


def _frame(seq: int) -> bytes:
    return b"8=FIX.4.2\x019=5\x0135=D\x0134=%d\x01payload-%d\x0110=000\x01" % (seq, seq)


@pytest.mark.parametrize("policy", ["safe", "batch", "none"])
def test_round_trip_and_reopen(tmp_path: Path, policy: str) -> None:
    p = tmp_path / "s.store"
    st = FileStore(p, policy)  # type: ignore[arg-type]
    assert (st.next_sender_seq, st.next_target_seq) == (1, 1)
    st.store_sent(1, _frame(1))
    st.set_next_sender(3)  # seq 2 was an admin message
    st.store_sent(3, _frame(3))
    st.set_next_target(2)
    st.set_next_target(7)
    created = st.creation_time_ns
    st.close()
    st2 = FileStore(p, policy)  # type: ignore[arg-type]
    assert st2.next_sender_seq == 4
    assert st2.next_target_seq == 7
    assert st2.creation_time_ns == created
    assert st2.get_sent(1, 10) == [(1, _frame(1)), (3, _frame(3))]
    assert st2.get_sent(2, 2) == []
    assert st2.records_dropped == 0
    # appends after reopen land after the old records
    st2.store_sent(4, _frame(4))
    st2.close()
    st3 = FileStore(p)
    assert st3.get_sent(3, 4) == [(3, _frame(3)), (4, _frame(4))]
    assert st3.next_sender_seq == 5
    st3.close()


def test_safe_fsyncs_every_record_and_batch_defers(tmp_path: Path) -> None:
    safe = FileStore(tmp_path / "a.store", "safe")
    for s in range(1, 11):
        safe.store_sent(s, _frame(s))
    assert safe.fsyncs == 10
    safe.set_next_target(5)  # incoming side: written, fsync deferred to the next send or the idle flush
    assert safe.fsyncs == 10 and safe.unsynced == 1
    safe.flush()
    assert safe.fsyncs == 11 and safe.unsynced == 0
    safe.set_next_target(6)
    safe.set_next_sender(12)
    assert safe.fsyncs == 12 and safe.unsynced == 0
    batch = FileStore(tmp_path / "b.store", "batch", batch_max_records=1000, batch_max_ns=10**12)
    for s in range(1, 11):
        batch.store_sent(s, _frame(s))
        batch.set_next_target(s + 1)  # coalesced, written with the next outgoing record
    assert batch.fsyncs == 0 and batch.unsynced == 10
    batch.flush()
    assert batch.fsyncs == 1 and batch.unsynced == 0
    assert FileStore(tmp_path / "b.store", "none").next_target_seq == 11  # flush wrote the pending one
    batch.flush()
    assert batch.fsyncs == 1
    small = FileStore(tmp_path / "c.store", "batch", batch_max_records=4, batch_max_ns=10**12)
    for s in range(1, 10):
        small.store_sent(s, _frame(s))
    assert small.fsyncs == 2  # after records 4 and 8
    none = FileStore(tmp_path / "d.store", "none")
    none.store_sent(1, _frame(1))
    none.set_next_target(4)
    none.flush()
    assert none.fsyncs == 0
    assert FileStore(tmp_path / "d.store").next_target_seq == 4
    for st in (safe, batch, small, none):
        st.close()


def test_torn_tail_is_dropped_and_truncated(tmp_path: Path) -> None:
    p = tmp_path / "t.store"
    st = FileStore(p)
    for s in range(1, 6):
        st.store_sent(s, _frame(s))
    st.set_next_target(9)
    st.close()
    full = p.read_bytes()
    # every possible truncation point: never a torn record accepted, seq nums consistent
    sizes = []
    for cut in range(len(MAGIC) + 8, len(full)):
        p.write_bytes(full[:cut])
        st = FileStore(p)
        seqs = [s for s, _ in st.get_sent(1, 100)]
        assert seqs == list(range(1, len(seqs) + 1))
        for s, fr in st.get_sent(1, 100):
            assert fr == _frame(s)
        assert st.next_sender_seq == len(seqs) + 1
        assert st.next_target_seq in (1, 9)
        sizes.append(len(seqs))
        st.close()
        assert p.stat().st_size <= cut
    assert sizes == sorted(sizes) and sizes[-1] == 5
    # a flipped byte in the middle (valid records after it): refused, file untouched (test_store_damage.py)
    bad = bytearray(full)
    bad[len(full) // 2] ^= 0xFF
    p.write_bytes(bytes(bad))
    with pytest.raises(StoreDamaged):
        FileStore(p)
    assert p.read_bytes() == bytes(bad)


def test_reset_and_bad_file(tmp_path: Path) -> None:
    p = tmp_path / "r.store"
    st = FileStore(p)
    st.store_sent(1, _frame(1))
    st.set_next_target(5)
    st.reset()
    assert (st.next_sender_seq, st.next_target_seq, st.get_sent(1, 9)) == (1, 1, [])
    st.close()
    st = FileStore(p)
    assert (st.next_sender_seq, st.next_target_seq) == (1, 1)
    st.close()
    junk = tmp_path / "junk.store"
    junk.write_bytes(b"this is not a store at all, definitely not")
    with pytest.raises(StoreError):
        FileStore(junk)
    with pytest.raises(ValueError):
        FileStore(tmp_path / "x.store", "sometimes")  # type: ignore[arg-type]
    s2 = open_store(tmp_path / "dir", "FIX.4.4", "A/B", "C")
    assert s2.path.endswith("FIX.4.4-A_B-C.store")
    s2.close()


def test_memory_store_same_semantics() -> None:
    m = MemoryStore()
    m.store_sent(1, _frame(1))
    m.set_next_sender(3)
    m.set_next_target(4)
    assert (m.next_sender_seq, m.next_target_seq, m.get_sent(1, 5)) == (3, 4, [(1, _frame(1))])
    m.reset()
    assert (m.next_sender_seq, m.next_target_seq, m.get_sent(1, 5)) == (1, 1, [])


_WRITER = textwrap.dedent(
    """
    import os, sys
    from hft.fix.store import FileStore
    path, policy = sys.argv[1], sys.argv[2]
    st = FileStore(path, policy)
    seq = st.next_sender_seq
    os.write(1, b"READY\\n")
    while True:
        frame = b"8=FIX.4.2\\x0135=D\\x0134=%d\\x01" % seq + b"x" * (seq % 700) + b"\\x0110=000\\x01"
        if seq % 3 == 0:
            st.set_next_sender(seq + 1)  # an admin message: seq advances, nothing stored
        else:
            st.store_sent(seq, frame)
        st.set_next_target(seq * 2)
        # "the bytes go out" only after the store call returned
        os.write(1, b"%d\\n" % seq)
        seq += 1
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["safe", "none"])
def test_kill_minus_9_at_random_points(tmp_path: Path, policy: str) -> None:
    """A real writer process killed with SIGKILL at random moments; the store never goes backwards."""
    rng = random.Random(1234)
    path = tmp_path / "k.store"
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    last_sent_overall = 0
    last_target = 0
    for _round in range(6):
        proc = subprocess.Popen(
            [sys.executable, str(script), str(path), policy], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"READY\n"
        time.sleep(0.05 + rng.random() * 0.3)
        os.kill(proc.pid, signal.SIGKILL)
        out = proc.stdout.read()  # includes what readline() already buffered
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == -signal.SIGKILL, err.decode()
        lines = out.split(b"\n")
        reported = [int(x) for x in lines[:-1]]  # the last line may itself be torn
        assert reported, "writer produced nothing before the kill"
        last_sent = reported[-1]
        assert reported[0] == last_sent_overall + 1  # resumed exactly where the store said
        st = FileStore(path)
        # never behind what went out; at most one record ahead (written but not yet "sent")
        assert last_sent + 1 <= st.next_sender_seq <= last_sent + 2
        if policy == "safe":  # target records are written at once
            assert st.next_target_seq in (last_sent * 2, (last_sent + 1) * 2)
        else:  # coalesced: written in front of the next outgoing record, the last one may be lost
            assert (last_sent - 2) * 2 <= st.next_target_seq <= (last_sent + 1) * 2
        assert st.next_target_seq >= last_target  # never backwards
        last_target = st.next_target_seq
        stored = st.get_sent(1, st.next_sender_seq)
        assert [s for s, _ in stored] == [s for s in range(1, st.next_sender_seq) if s % 3 != 0]
        for s, fr in stored:
            assert fr == b"8=FIX.4.2\x0135=D\x0134=%d\x01" % s + b"x" * (s % 700) + b"\x0110=000\x01"
        last_sent_overall = st.next_sender_seq - 1
        st.close()
    assert last_sent_overall > 50
