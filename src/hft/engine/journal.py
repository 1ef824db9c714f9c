"""The trading journal: an append-only, crash-safe log of everything that changes trading state.

Every order command (new / cancel / replace) is appended *before* its bytes go to the venue, every
execution report and cancel reject *before* the order manager acts on it, and every position change as
the position keeper reports it. After a crash, :func:`recover` replays the file through a fresh
:class:`~hft.engine.orders.OrderManager` and rebuilds open orders, fills, positions inputs, the
ClOrdID session counter and the seen exec ids, without sending anything.

File layout (little endian)::

    header   b"HFTJRNL1\\n" (9 bytes)
    record   length u32 | crc32 u32 | payload (``length`` bytes, UTF-8 JSON object, one line)

The CRC covers the payload. Every payload has ``q`` (journal sequence number, strictly increasing
across restarts), ``t`` (record type) and ``ns`` (wall-clock ns when written) plus type fields.
Reading stops at the first short, zero-length, oversize, CRC-invalid or non-JSON record. If no valid
record follows it anywhere in the file, it is a torn tail (a write cut by ``kill -9`` or power loss):
:class:`Journal` truncates the file there when it opens it for append (logged). If valid records follow
(mid-file damage), :class:`Journal` and :func:`recover` refuse with :class:`JournalDamaged` naming the
offset and what follows, and the file is not touched (see :mod:`hft.records`).
:func:`read_journal` only reports it.

Durability policy (``fsync``):

- ``always`` (default): each append is ``write`` + ``fsync`` before it returns. A record the caller saw
  appended survives a process kill *and* an OS crash / power loss.
- ``batch``: each append is ``write``-n at once (survives ``kill -9``: the bytes are in the kernel);
  ``fsync`` runs every ``batch_max_records`` records, when ``batch_max_ns`` has passed since the last
  sync, and on :meth:`Journal.flush` (call it when idle). An OS crash may lose the unsynced tail.
- ``none``: ``write`` only; survives a process kill, not an OS crash.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from hft.records import AfterDamage, describe, scan_after

if TYPE_CHECKING:
    from hft.asx.fees import FeeModel
    from hft.model.types import Fill, Order

FsyncPolicy = Literal["always", "batch", "none"]
FSYNC_POLICIES: tuple[str, ...] = ("always", "batch", "none")

MAGIC = b"HFTJRNL1\n"
_REC = struct.Struct("<II")  # payload length, crc32(payload)
MAX_PAYLOAD = 1 << 20

# record types
T_SESSION = "session"  # a process started writing: {"session": int}
T_NEW = "new"  # order command: full order
T_CANCEL = "cancel"  # {"id": order cl_ord_id, "cxl": cancel cl_ord_id}
T_REPLACE = "replace"  # {"id": old cl_ord_id, "new": new order}
T_LOCAL_REJECT = "local_reject"  # gateway refused to take a command: {"id", "cmd", "reason"}
T_EXEC = "exec"  # an ExecReport
T_CXL_REJECT = "cxl_reject"  # a CancelReject
T_POSITION = "pos"  # a position change: {"instrument", "position", ...}


log = logging.getLogger(__name__)


class JournalError(Exception):
    """The file is not a journal (bad magic) or cannot be written."""


class JournalDamaged(JournalError):
    """Valid records follow a bad one (mid-file damage): recovering would silently drop them."""


@dataclass(slots=True, frozen=True)
class TornTail:
    """Where and why reading stopped before the end of the file."""

    offset: int  # byte offset of the first bad record
    file_size: int
    reason: str
    records_after: int = 0  # valid records after the bad one (> 0: mid-file damage, not a torn tail)
    next_valid_offset: int = -1  # the first of them

    @property
    def dropped_bytes(self) -> int:
        return self.file_size - self.offset

    @property
    def mid_file(self) -> bool:
        return self.records_after > 0

    def damage_message(self, path: object) -> str:
        return describe(path, AfterDamage(self.offset, self.file_size, self.next_valid_offset,
                                          self.records_after)) + f" (first bad record: {self.reason})"


def _probe(data: bytes, pos: int) -> int:
    """End offset of a complete valid record at ``pos``, or -1."""
    hdr = _REC.size
    if pos < len(MAGIC) or pos + hdr > len(data):
        return -1
    length, crc = _REC.unpack_from(data, pos)
    end = pos + hdr + length
    if length == 0 or length > MAX_PAYLOAD or end > len(data):
        return -1
    payload = data[pos + hdr:end]
    if zlib.crc32(payload) != crc:
        return -1
    try:
        rec = json.loads(payload)
    except ValueError:
        return -1
    return end if isinstance(rec, dict) and "q" in rec and "t" in rec else -1


def _candidates(data: bytes, start: int) -> Iterator[int]:
    """Offsets where a record could start: every payload is a JSON object, so it begins with '{"'."""
    i = data.find(b'{"', start + _REC.size)
    while i >= 0:
        yield i - _REC.size
        i = data.find(b'{"', i + 1)


def _torn(data: bytes, end: int, reason: str) -> TornTail | None:
    if end >= len(data):
        return None
    if end == 0:  # torn header: nothing to resynchronise on
        return TornTail(0, len(data), reason)
    after = scan_after(data, end, _probe, _candidates)
    return TornTail(end, len(data), reason, after.valid_records, after.first_valid_offset)


def _scan(data: bytes) -> tuple[list[dict[str, Any]], int, str]:
    """Parse records from a whole file; returns (records, end offset of the last good one, reason)."""
    if not data.startswith(MAGIC):
        if MAGIC.startswith(data):  # empty or torn header
            return [], 0, "torn header" if data else ""
        raise JournalError("not a journal file (bad magic)")
    pos = len(MAGIC)
    n = len(data)
    out: list[dict[str, Any]] = []
    hdr = _REC.size
    while pos < n:
        if pos + hdr > n:
            return out, pos, "short record header"
        length, crc = _REC.unpack_from(data, pos)
        if length == 0 or length > MAX_PAYLOAD:
            return out, pos, f"bad record length {length}"
        end = pos + hdr + length
        if end > n:
            return out, pos, f"short record payload ({n - pos - hdr} of {length} bytes)"
        payload = data[pos + hdr:end]
        if zlib.crc32(payload) != crc:
            return out, pos, "crc mismatch"
        try:
            rec = json.loads(payload)
        except ValueError:
            return out, pos, "payload is not JSON"
        if not isinstance(rec, dict) or "q" not in rec or "t" not in rec:
            return out, pos, "payload lacks q/t"
        out.append(rec)
        pos = end
    return out, pos, ""


def read_journal(path: str | Path) -> tuple[list[dict[str, Any]], TornTail | None]:
    """Read every valid record of a journal without modifying it; report a torn tail if any."""
    data = Path(path).read_bytes()
    records, end, reason = _scan(data)
    return records, _torn(data, end, reason)


class Journal:
    """Append-only journal file (single writer, enforced with ``flock``). Opening an existing file
    validates it, truncates a torn tail (reported in :attr:`torn`, logged) and continues its sequence
    numbers; mid-file damage raises :class:`JournalDamaged` and leaves the file as it is."""

    __slots__ = ("_batch_max_ns", "_batch_max_records", "_dirty", "_fd", "_last_sync_ns", "fsync",
                 "last_seq", "max_session", "path", "records_at_open", "syncs", "torn")

    def __init__(self, path: str | Path, fsync: FsyncPolicy = "always", batch_max_records: int = 256,
                 batch_max_ns: int = 50_000_000) -> None:
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"fsync policy must be one of {FSYNC_POLICIES}, got {fsync!r}")
        self.path = Path(path)
        self.fsync = fsync
        self._batch_max_records = batch_max_records
        self._batch_max_ns = batch_max_ns
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:  # one writer per journal: a second process (or a still-running old one) is refused
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise JournalError(f"{self.path}: journal is locked by another writer") from None
        if created:  # make the new directory entry itself durable
            dfd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        try:
            size = os.fstat(fd).st_size
            data = os.pread(fd, size, 0) if size else b""
            records, end, reason = _scan(data)
            self.torn = _torn(data, end, reason)
            if self.torn is not None and self.torn.mid_file:
                raise JournalDamaged(self.torn.damage_message(self.path))
            if self.torn is not None:
                log.warning("journal %s: torn tail truncated: %d bytes at offset %d (%s), %d good records "
                            "before it", self.path, self.torn.dropped_bytes, end, reason, len(records))
            if end == 0:
                os.ftruncate(fd, 0)
                os.pwrite(fd, MAGIC, 0)
                end = len(MAGIC)
                os.fsync(fd)
            elif end < size:
                os.ftruncate(fd, end)
                os.fsync(fd)
            os.lseek(fd, end, os.SEEK_SET)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self.records_at_open = len(records)
        self.last_seq = records[-1]["q"] if records else 0
        self.max_session = max((r.get("session", 0) for r in records if r["t"] == T_SESSION), default=0)
        self._dirty = 0
        self._last_sync_ns = time.monotonic_ns()
        self.syncs = 0

    def append(self, rtype: str, fields: dict[str, Any]) -> int:
        """Append one record (``fields`` must be JSON-serialisable); returns its sequence number once it is
        as durable as the policy promises."""
        seq = self.last_seq + 1
        fields["q"] = seq
        fields["t"] = rtype
        fields["ns"] = time.time_ns()
        return self._write(seq, json.dumps(fields, separators=(",", ":")).encode())

    def append_prefix(self, rtype_q: bytes, prefix: bytes) -> int:
        """:meth:`append` for a payload whose fields are already JSON text: ``prefix`` is the object up to
        (not including) its closing brace, ``rtype_q`` the record type as a JSON string (``b'"new"'``).
        The record is byte-for-byte what :meth:`append` writes for the same fields (same key order,
        ``q``/``t``/``ns`` last); the hot path's order record, without building and serialising a dict."""
        seq = self.last_seq + 1
        return self._write(seq, b'%s,"q":%d,"t":%s,"ns":%d}' % (prefix, seq, rtype_q, time.time_ns()))

    def _write(self, seq: int, payload: bytes) -> int:
        """Frame ``payload`` as record ``seq`` (length, CRC), write it whole, apply the fsync policy."""
        if len(payload) > MAX_PAYLOAD:
            raise JournalError(f"record too large ({len(payload)} bytes)")
        buf = _REC.pack(len(payload), zlib.crc32(payload)) + payload
        n = os.write(self._fd, buf)
        if n < len(buf):  # a short write (signal, full disk): write the rest
            view = memoryview(buf)[n:]
            while view:
                view = view[os.write(self._fd, view):]
        self.last_seq = seq
        if self.fsync == "always":
            os.fsync(self._fd)
            self.syncs += 1
        elif self.fsync == "batch":
            self._dirty += 1
            if (self._dirty >= self._batch_max_records
                    or time.monotonic_ns() - self._last_sync_ns >= self._batch_max_ns):
                self.flush()
        return seq

    def flush(self) -> None:
        """fsync any records written since the last sync (the engine calls it when idle)."""
        if self._dirty and self._fd >= 0:
            os.fsync(self._fd)
            self.syncs += 1
            self._dirty = 0
            self._last_sync_ns = time.monotonic_ns()

    def close(self) -> None:
        if self._fd >= 0:
            if self.fsync != "none":
                self._dirty = max(self._dirty, 1)
                self.flush()
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- convenience writers for the engine ------------------------------------------------------------
    def record_position(self, instrument: str, position: int, realized_cents: int = 0,
                        fees_cents: int = 0, cl_ord_id: str = "") -> int:
        """A position change, as reported by the position keeper after a fill."""
        return self.append(T_POSITION, {"instrument": instrument, "position": position,
                                        "realized_cents": realized_cents, "fees_cents": fees_cents,
                                        "id": cl_ord_id})


@dataclass(slots=True)
class RecoveryState:
    """What :func:`recover` rebuilt from a journal."""

    orders: dict[str, Order]  # every order ever placed, by ClOrdID
    fills: list[Fill]  # in journal order, duplicates removed
    exec_ids: set[str]
    session: int  # highest session number seen (the next process uses a larger one)
    last_seq: int  # last journal sequence number
    torn: TornTail | None
    positions: dict[str, int] = field(default_factory=dict)  # net shares from the fills
    cash_units: dict[str, int] = field(default_factory=dict)  # sum(-side * price * qty) per instrument
    fees_cents: int = 0
    last_position_records: dict[str, dict[str, Any]] = field(default_factory=dict)
    records: int = 0
    counters: dict[str, int] = field(default_factory=dict)

    def _unconfirmed_replacement(self, o: Order) -> bool:
        old = self.orders.get(o.orig_cl_ord_id) if o.orig_cl_ord_id else None
        return o.status.name == "PENDING_REPLACE" and old is not None and old.status.name == "PENDING_REPLACE"

    @property
    def open_orders(self) -> list[Order]:
        """Live orders at the venue as far as the journal knows (a replacement not yet confirmed
        Replaced is not live: its original is, in PENDING_REPLACE)."""
        return [o for o in self.orders.values() if o.is_open and not self._unconfirmed_replacement(o)]

    @property
    def pending_replacements(self) -> list[Order]:
        return [o for o in self.orders.values() if self._unconfirmed_replacement(o)]

    @property
    def needs_status(self) -> list[Order]:
        """Orders whose venue state is uncertain: every open one (including pending new/cancel/replace).
        The engine sends an order status request (or relies on the session resend) for each."""
        return self.open_orders

    def realized_pnl_units(self, instrument: str, mark: int = 0) -> int:
        """Cash + position x ``mark`` in price-unit*shares (gross of fees); with ``mark`` = 0 and a flat
        position this is the realized gross P&L."""
        return self.cash_units.get(instrument, 0) + self.positions.get(instrument, 0) * mark


def recover(path: str | Path, fee_model: FeeModel | None = None) -> RecoveryState:
    """Rebuild trading state from a journal (read-only; a torn tail is reported, not removed). Raises
    :class:`JournalDamaged` when valid records follow a bad one (mid-file damage)."""
    from hft.engine.orders import OrderManager  # the order manager owns the replay semantics

    records, torn = read_journal(path)
    if torn is not None and torn.mid_file:
        raise JournalDamaged(torn.damage_message(path))
    om = OrderManager(gateway=None, journal=None, fee_model=fee_model, history=1 << 62)  # keep every order
    fills: list[Fill] = []
    om.on_fill = fills.append
    session = 0
    last_pos: dict[str, dict[str, Any]] = {}
    for rec in records:
        t = rec["t"]
        if t == T_SESSION:
            session = max(session, int(rec.get("session", 0)))
        elif t == T_POSITION:
            last_pos[rec["instrument"]] = rec
        else:
            om.replay(rec)
    positions: dict[str, int] = {}
    cash: dict[str, int] = {}
    fees = 0
    for f in fills:
        s = f.side.sign
        positions[f.instrument] = positions.get(f.instrument, 0) + s * f.qty
        cash[f.instrument] = cash.get(f.instrument, 0) - s * f.price * f.qty
        fees += f.fee_cents
    return RecoveryState(orders=dict(om.orders), fills=fills, exec_ids=set(om.exec_ids), session=session,
                         last_seq=records[-1]["q"] if records else 0, torn=torn, positions=positions,
                         cash_units=cash, fees_cents=fees, last_position_records=last_pos,
                         records=len(records), counters=om.counters_dict())
