"""FIX session store: mid-file damage is refused (not truncated away), a torn tail is truncated and logged.

QA finding 1 (store part): a flipped byte in the middle silently dropped every later record (sequence
numbers, stored messages for resend) and ``records_dropped`` was never logged.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from hft.fix.store import MAGIC, FileStore, StoreDamaged


def _frame(seq: int) -> bytes:
    return b"8=FIX.4.2\x019=5\x0135=D\x0134=%d\x01payload-%d\x0110=000\x01" % (seq, seq)


def _store(p: Path, n: int = 20) -> list[int]:
    """n sent messages with a target record after each; returns the record start offsets."""
    offs: list[int] = []
    st = FileStore(p, "none")
    for s in range(1, n + 1):
        offs.append(st._size)
        st.store_sent(s, _frame(s))
        offs.append(st._size)
        st.set_next_target(s + 1)
        st.flush()
    st.close()
    return offs


def test_mid_file_damage_is_refused_with_offset(tmp_path: Path) -> None:
    p = tmp_path / "s.store"
    offs = _store(p)
    full = p.read_bytes()
    for where in (offs[10], offs[10] + 2, offs[10] + 25):  # kind byte, length byte, payload byte
        bad = bytearray(full)
        bad[where] ^= 0x5A
        p.write_bytes(bytes(bad))
        with pytest.raises(StoreDamaged, match=rf"offset {offs[10]}\b.*{len(offs) - 11} valid records"):
            FileStore(p)
        assert p.read_bytes() == bytes(bad)  # untouched


def test_torn_tail_is_truncated_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    p = tmp_path / "s.store"
    offs = _store(p, 3)
    full = p.read_bytes()
    assert offs[0] > len(MAGIC)
    for tail in (full[:offs[-1] + 5], full[:-1], full + b"\0" * 512):
        p.write_bytes(tail)
        with caplog.at_level(logging.WARNING, logger="hft.fix.store"):
            st = FileStore(p)
        assert st.records_dropped > 0 and "torn tail truncated" in caplog.text
        assert st.next_sender_seq in (3, 4)
        st.close()
        caplog.clear()
