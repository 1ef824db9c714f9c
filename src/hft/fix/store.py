"""Persistent FIX session store: next sequence numbers and the sent messages, in one append-only file.

File layout (little endian)::

    file header   b"HFTFIXSTORE1\\n" (13 bytes) + creation time ns (u64)
    record        kind u8 | payload length u32 | value u64 | crc32 u32 | payload
                  crc32 covers kind, length, value and payload

Record kinds: ``SENT`` (value = seq num, payload = the exact wire bytes; implies next sender seq = value+1),
``SENDER`` (value = next sender seq num; used for admin messages, which are gap-filled on resend rather
than stored), ``TARGET`` (value = next target seq num).

Recovery reads records in order and stops at the first short or CRC-invalid record. When no valid record
follows it anywhere in the file it is a torn tail (a write cut by ``kill -9`` or power loss): the file is
truncated there (logged with the bytes dropped), so nothing after a torn record is ever accepted. When
valid records follow it (mid-file damage: sequence numbers and sent messages that were durable),
opening raises :class:`StoreDamaged` naming the offset and what follows, and the file is left as it is
(see :mod:`hft.records`).
A sequence reset writes a fresh file next to the old one and atomically renames it over.

Durability (``fsync`` policy):

- ``safe`` (default): every outgoing record (sent message, sender seq advance) is ``write``-n and
  ``fsync``-ed before the call returns, i.e. before the session hands the bytes to the socket. Incoming
  seq num records (``TARGET``) are written at once and synced with the next outgoing record or at the
  idle :meth:`FileStore.flush`. Survives process kill; after an OS crash / power loss no sequence number
  that went out is ever reused (the worst case is re-requesting a few incoming messages as PossDup).
- ``batch``: every outgoing record is ``write``-n at once (so it survives ``kill -9`` of the process: the
  bytes are in the kernel); incoming seq num updates are coalesced and written with the next outgoing
  record or at the idle flush; ``fsync`` is deferred to :meth:`FileStore.flush` (the session calls it when
  idle) or when ``batch_max_records``/``batch_max_ns`` is exceeded. An OS crash may lose the last
  unsynced records (then a sequence number that went out could be reused after a restart). The trading
  host (``hft.engine.host``) gives ``venue.store_fsync = "batch"`` (its default) this meaning with a
  thread of its own: the store opened with ``none`` and the file fsynced every ``journal.batch_max_ms``
  off the loop's thread, so no order waits for the disk; ``safe`` stays an option, at the cost of one
  fsync per outgoing message on the order path (docs/engine.md gives the figure).
- ``none``: like ``batch`` but never ``fsync`` (the OS decides). Survives process kill, not an OS crash.
"""

from __future__ import annotations

import logging
import os
import re
import struct
import time
import zlib
from collections.abc import Iterator
from typing import Literal, Protocol

from mypy_extensions import mypyc_attr

from hft.records import describe, scan_after

log = logging.getLogger(__name__)

FsyncPolicy = Literal["safe", "batch", "none"]
FSYNC_POLICIES: tuple[str, ...] = ("safe", "batch", "none")

MAGIC = b"HFTFIXSTORE1\n"
_FILE_HEAD = struct.Struct("<13sQ")
_REC = struct.Struct("<BIQI")  # kind, payload length, value, crc32
_REC_NOCRC = struct.Struct("<BIQ")
REC_SENT = 1
REC_SENDER = 2
REC_TARGET = 3
MAX_PAYLOAD = 1 << 24


class StoreError(Exception):
    """The store file is unusable (not a store, unreadable)."""


class StoreDamaged(StoreError):
    """Valid records follow a bad one (mid-file damage): truncating would drop them."""


def _probe(data: bytes, pos: int) -> int:
    """End offset of a complete valid record at ``pos``, or -1."""
    if pos < _FILE_HEAD.size or pos + _REC.size > len(data):
        return -1
    kind: int
    length: int
    crc: int
    kind, length, _value, crc = _REC.unpack_from(data, pos)  # struct types its fields Any
    end = pos + _REC.size + length
    if kind not in (REC_SENT, REC_SENDER, REC_TARGET) or length > MAX_PAYLOAD or end > len(data):
        return -1
    if zlib.crc32(data[pos + _REC.size:end], zlib.crc32(data[pos:pos + _REC_NOCRC.size])) != crc:
        return -1
    return end


_KIND_BYTE = re.compile(rb"[\x01-\x03]")


def _candidates(data: bytes, start: int) -> Iterator[int]:
    """Offsets where a record could start (its kind byte)."""
    for m in _KIND_BYTE.finditer(data, start):
        yield m.start()


class SessionStore(Protocol):
    """What :class:`hft.fix.session.FixSession` needs from a store."""

    next_sender_seq: int
    next_target_seq: int
    creation_time_ns: int

    def store_sent(self, seq: int, frame: bytes) -> None: ...
    def set_next_sender(self, seq: int) -> None: ...
    def set_next_target(self, seq: int) -> None: ...
    def get_sent(self, begin: int, end: int) -> list[tuple[int, bytes]]: ...
    def reset(self) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


def _record(kind: int, value: int, payload: bytes = b"") -> bytes:
    head = _REC_NOCRC.pack(kind, len(payload), value)
    crc = zlib.crc32(payload, zlib.crc32(head))
    return _REC.pack(kind, len(payload), value, crc) + payload


@mypyc_attr(allow_interpreted_subclasses=True)  # subclassed by interpreted code (see setup.py)
class MemoryStore:
    """Same interface, nothing on disk (tests, throwaway sessions)."""

    def __init__(self) -> None:
        self.next_sender_seq = 1
        self.next_target_seq = 1
        self.creation_time_ns = time.time_ns()
        self._sent: dict[int, bytes] = {}

    def store_sent(self, seq: int, frame: bytes) -> None:
        self._sent[seq] = frame
        if seq + 1 > self.next_sender_seq:
            self.next_sender_seq = seq + 1

    def set_next_sender(self, seq: int) -> None:
        self.next_sender_seq = seq

    def set_next_target(self, seq: int) -> None:
        self.next_target_seq = seq

    def get_sent(self, begin: int, end: int) -> list[tuple[int, bytes]]:
        return [(s, self._sent[s]) for s in range(begin, end + 1) if s in self._sent]

    def reset(self) -> None:
        self.next_sender_seq = 1
        self.next_target_seq = 1
        self.creation_time_ns = time.time_ns()
        self._sent.clear()

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class FileStore:
    """Append-only, CRC-checked, crash-safe store for one session (see module doc)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        fsync: FsyncPolicy = "safe",
        *,
        batch_max_records: int = 256,
        batch_max_ns: int = 50_000_000,
    ) -> None:
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"fsync policy must be one of {FSYNC_POLICIES}, not {fsync!r}")
        self.path = os.fspath(path)
        self.fsync_policy: str = fsync
        self.batch_max_records = batch_max_records
        self.batch_max_ns = batch_max_ns
        self.next_sender_seq = 1
        self.next_target_seq = 1
        self.creation_time_ns = 0
        self.records_dropped = 0  # bytes of torn tail found at open (0 = clean)
        self.fsyncs = 0
        self._index: dict[int, tuple[int, int]] = {}  # seq -> (payload offset, length)
        self._unsynced = 0
        self._first_unsynced_ns = 0
        self._pending_target = 0  # batch/none: a coalesced TARGET record not yet written (0 = none)
        self._fd = -1
        self._size = 0
        d = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(d, exist_ok=True)
        if os.path.exists(self.path) and os.path.getsize(self.path) > 0:
            self._open_existing()
        else:
            self._create_fresh()

    # ------------------------------------------------------------------------------------ open/reset
    def _create_fresh(self) -> None:
        now = time.time_ns()
        tmp = self.path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, _FILE_HEAD.pack(MAGIC, now))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        self._fsync_dir()
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
        self._size = _FILE_HEAD.size
        self.creation_time_ns = now
        self.next_sender_seq = 1
        self.next_target_seq = 1
        self._index.clear()
        self._unsynced = 0
        self._pending_target = 0

    def _fsync_dir(self) -> None:
        try:
            dfd = os.open(os.path.dirname(os.path.abspath(self.path)), os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    def _open_existing(self) -> None:
        with open(self.path, "rb") as f:
            data = f.read()
        if len(data) < _FILE_HEAD.size:
            # a crash during creation (header never completed): start fresh
            self._create_fresh()
            return
        magic, created = _FILE_HEAD.unpack_from(data, 0)
        if magic != MAGIC:
            raise StoreError(f"{self.path}: not an hft FIX store (bad magic)")
        self.creation_time_ns = created
        pos = _FILE_HEAD.size
        n = len(data)
        sender, target = 1, 1
        index: dict[int, tuple[int, int]] = {}
        while pos + _REC.size <= n:
            kind, length, value, crc = _REC.unpack_from(data, pos)
            end = pos + _REC.size + length
            if kind not in (REC_SENT, REC_SENDER, REC_TARGET) or length > MAX_PAYLOAD or end > n:
                break
            payload = data[pos + _REC.size : end]
            if zlib.crc32(payload, zlib.crc32(data[pos : pos + _REC_NOCRC.size])) != crc:
                break
            if kind == REC_SENT:
                index[value] = (pos + _REC.size, length)
                sender = max(sender, value + 1)
            elif kind == REC_SENDER:
                sender = value
            else:
                target = value
            pos = end
        if pos < n:
            after = scan_after(data, pos, _probe, _candidates)
            if after.mid_file:
                raise StoreDamaged(describe(self.path, after, "FIX session store"))
            log.warning("FIX store %s: torn tail truncated: %d bytes at offset %d (no valid record after it)",
                        self.path, n - pos, pos)
        self.records_dropped = n - pos
        self.next_sender_seq = sender
        self.next_target_seq = target
        self._index = index
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
        if pos < n:
            os.ftruncate(self._fd, pos)  # drop the torn tail so later appends follow valid records
            os.fsync(self._fd)
        self._size = pos

    def reset(self) -> None:
        """Start the session over: seq nums 1/1, no stored messages (atomic file replacement)."""
        self._create_fresh()

    # ----------------------------------------------------------------------------------------- write
    def _append(self, rec: bytes, outgoing: bool = True) -> None:
        n = os.write(self._fd, rec)
        if n != len(rec):  # a short write to a regular file means the disk is full
            os.ftruncate(self._fd, self._size)
            raise OSError(f"{self.path}: short write ({n} of {len(rec)} bytes)")
        self._size += n
        p = self.fsync_policy
        if p == "safe" and outgoing:
            os.fsync(self._fd)  # also covers earlier deferred records (one file)
            self.fsyncs += 1
            self._unsynced = 0
        elif p != "none":
            if self._unsynced == 0:
                self._first_unsynced_ns = time.monotonic_ns()
            self._unsynced += 1
            if self._unsynced >= self.batch_max_records or (
                time.monotonic_ns() - self._first_unsynced_ns >= self.batch_max_ns
            ):
                self.flush()

    def store_sent(self, seq: int, frame: bytes) -> None:
        """Record an outgoing message (call BEFORE the bytes go to the socket)."""
        rec = self._take_pending() + _record(REC_SENT, seq, frame)
        off = self._size + len(rec) - len(frame)
        self._append(rec)  # raises OSError (disk full...) before any in-memory state changes
        self._index[seq] = (off, len(frame))
        if seq + 1 > self.next_sender_seq:
            self.next_sender_seq = seq + 1

    def set_next_sender(self, seq: int) -> None:
        self._append(self._take_pending() + _record(REC_SENDER, seq))
        self.next_sender_seq = seq

    def set_next_target(self, seq: int) -> None:
        """Incoming side. ``safe``: written at once (survives kill -9), its fsync rides on the next outgoing
        record or the idle flush. ``batch``/``none``: coalesced in memory and written in front of the next
        outgoing record or at the idle flush (no syscall per incoming message). Losing it can only make
        the session re-request messages, which then arrive as PossDup."""
        self.next_target_seq = seq
        if self.fsync_policy == "safe":
            self._append(_record(REC_TARGET, seq), outgoing=False)
        else:
            self._pending_target = seq

    def _take_pending(self) -> bytes:
        t = self._pending_target
        if not t:
            return b""
        self._pending_target = 0
        return _record(REC_TARGET, t)

    @property
    def unsynced(self) -> int:
        return self._unsynced

    def flush(self) -> None:
        """Write a coalesced target record and fsync what is unsynced (``none``: write only). Idle path."""
        if self._fd < 0:
            return
        pend = self._take_pending()
        if pend:
            self._append(pend, outgoing=False)
        if self._unsynced:
            os.fsync(self._fd)
            self.fsyncs += 1
            self._unsynced = 0

    # ------------------------------------------------------------------------------------------ read
    def get_sent(self, begin: int, end: int) -> list[tuple[int, bytes]]:
        """Stored outgoing messages with begin <= seq <= end, in seq order (cold path: resend)."""
        out = []
        hi = min(end, self.next_sender_seq - 1)
        for seq in range(begin, hi + 1):
            loc = self._index.get(seq)
            if loc is not None:
                out.append((seq, os.pread(self._fd, loc[1], loc[0])))
        return out

    def stored_seqs(self) -> list[int]:
        return sorted(self._index)

    def close(self) -> None:
        if self._fd >= 0:
            self.flush()
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> FileStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(directory: str | os.PathLike[str], begin_string: str, sender: str, target: str,
               fsync: FsyncPolicy = "safe", *, batch_max_records: int = 256,
               batch_max_ns: int = 50_000_000) -> FileStore:
    """The store of one session inside ``directory`` (one file per BeginString/Sender/Target).
    ``batch_max_*``: the ``batch`` policy's inline triggers (a host that calls :meth:`FileStore.flush` from
    its own timer passes a huge ``batch_max_ns``, so no outgoing message waits for an fsync)."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in f"{begin_string}-{sender}-{target}")
    return FileStore(os.path.join(os.fspath(directory), safe + ".store"), fsync,
                     batch_max_records=batch_max_records, batch_max_ns=batch_max_ns)
