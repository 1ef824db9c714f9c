"""Lock-free single-producer single-consumer ring buffer in ``multiprocessing.shared_memory``.

A feed-handler process hands parsed book updates to the strategy process through this ring without a
lock, a syscall or a pickle per message.

Layout of the shared segment (every offset a multiple of 64 so head and tail never share a cache line)::

    offset   0  header line : magic, version, capacity, slot_size           (written once by the creator)
    offset  64  head line   : head  = count of records ever published        (written only by the producer)
    offset 128  tail line   : tail  = count of records ever consumed         (written only by the consumer)
    offset 192  slots       : capacity x slot_size bytes; slot = u64 length + payload (slot_size - 8 bytes)

``head`` and ``tail`` are 64-bit counters that only grow (no wrap in practice: 2**64 records at 10**8 per
second is 5,800 years); the slot of record ``i`` is ``i & (capacity - 1)``. The ring is empty when
``head == tail`` and full when ``head - tail == capacity`` (all ``capacity`` slots usable, no sentinel).

Memory ordering (why this is correct without locks or atomics instructions):

* Each counter has exactly one writer. The producer writes the payload and the slot's length, *then*
  stores ``head + 1``; the consumer loads ``head``, *then* loads the slot, *then* stores ``tail + 1``.
* The counters are 8-byte aligned and read/written through a ``memoryview`` cast to ``'Q'``, which
  CPython implements as one ``memcpy`` of 8 bytes: a single aligned 64-bit load/store on x86-64 and
  aarch64, so the other side never sees a torn counter.
* Compiler reordering: every access is a separate call from the interpreter into C code the compiler
  cannot see through, so program order is preserved up to the CPU.
* CPU reordering: x86-64 is TSO: stores become visible in program order (payload before head), loads are
  not reordered with older loads (head before payload), and a store is never reordered before an older
  load (the consumer's tail store happens after its payload loads, so the producer cannot overwrite a
  slot still being read). That is exactly the release/acquire pairing an SPSC ring needs. On weakly
  ordered CPUs (aarch64, POWER) plain stores give no such guarantee; Python has no portable fence, so
  :class:`SpscRing` warns once when created on a machine that is not x86-64.
* Each side caches the other side's counter and reloads it only when the ring looks full (producer) or
  empty (consumer), so in steady state the head and tail cache lines are not bounced for every record.

Exactly one process may produce and exactly one may consume; the ring does not detect a second producer.
The creator of the segment unlinks it (``unlink()``); others only ``close()``.
"""

from __future__ import annotations

import platform
import sys
import warnings
from multiprocessing import resource_tracker, shared_memory
from typing import Any

__all__ = ["RingError", "SpscRing"]

CACHE_LINE = 64
_MAGIC = 0x4846_5452_494E_4731  # "HFTRING1"
_VERSION = 1
_HEADER_BYTES = 3 * CACHE_LINE
_HEAD_IDX = CACHE_LINE // 8  # index into the 'Q' view
_TAIL_IDX = 2 * CACHE_LINE // 8
_LEN_BYTES = 8
_WEAK_ORDER_WARNED = False


class RingError(ValueError):
    """Bad ring parameters, a segment that is not a ring, or a record that does not fit a slot."""


def _check_platform() -> None:
    global _WEAK_ORDER_WARNED
    if _WEAK_ORDER_WARNED:
        return
    machine = platform.machine().lower()
    if machine not in ("x86_64", "amd64", "i686", "i386", "x86"):
        _WEAK_ORDER_WARNED = True
        warnings.warn(f"SpscRing relies on x86 TSO store ordering; on {machine} plain stores may be "
                      "reordered and a consumer could read a slot before its payload is visible",
                      RuntimeWarning, stacklevel=3)


def _attach_untracked(name: str) -> shared_memory.SharedMemory:
    """Attach without registering with the resource tracker (which would unlink the creator's segment
    when this process exits: bpo-38119, fixed by ``track=False`` in Python 3.13)."""
    if sys.version_info >= (3, 13):
        return shared_memory.SharedMemory(name=name, track=False)  # type: ignore[call-arg,unused-ignore]
    orig = resource_tracker.register

    def _skip(name: str, rtype: str) -> None:
        if rtype != "shared_memory":
            orig(name, rtype)

    resource_tracker.register = _skip  # type: ignore[assignment]
    try:
        return shared_memory.SharedMemory(name=name)
    finally:
        resource_tracker.register = orig


class SpscRing:
    """One end (or both ends, in tests) of a shared-memory SPSC ring of fixed-size, length-prefixed slots.

    ``SpscRing.create(capacity, slot_size)`` makes a new segment; pass ``ring.name`` to the other process,
    which calls ``SpscRing.attach(name)``. The producer uses :meth:`try_push` (copy in),
    :meth:`try_push_packed` (``struct`` pack into the slot) or :meth:`claim`/:meth:`publish` (write in
    place); the consumer uses :meth:`try_pop_into` (copy out), :meth:`try_pop_unpack` (``struct`` unpack
    from the slot), :meth:`try_pop` (new ``bytes``, convenient, allocates) or :meth:`peek`/:meth:`release`
    (read in place). None of them blocks, takes a lock or raises on full/empty: they return ``False``,
    ``-1`` or ``None``.
    """

    __slots__ = ("_buf", "_cap", "_closed", "_data_off", "_head", "_head_seen", "_mask", "_max", "_owner",
                 "_q", "_shm", "_slot", "_tail", "_tail_seen", "name")

    def __init__(self, shm: shared_memory.SharedMemory, owner: bool) -> None:
        self._shm = shm
        self._owner = owner
        self._closed = False
        self.name: str = shm.name
        buf = shm.buf
        assert buf is not None
        if len(buf) < _HEADER_BYTES or len(buf) % 8:
            raise RingError(f"shared memory segment {shm.name!r} is not an hft SPSC ring (size {len(buf)})")
        q = buf.cast("Q")
        magic, version, cap, slot = int(q[0]), int(q[1]), int(q[2]), int(q[3])
        problem = ""
        if magic != _MAGIC or version != _VERSION:
            problem = "is not an hft SPSC ring (bad magic/version)"
        elif cap <= 0 or cap & (cap - 1) or slot < 16 or slot % 8 or len(buf) < _HEADER_BYTES + cap * slot:
            problem = f"has a corrupt ring header (capacity={cap}, slot_size={slot}, size={len(buf)})"
        if problem:
            q.release()
            raise RingError(f"shared memory segment {shm.name!r} {problem}")
        self._buf = buf
        self._q = q
        self._cap = cap
        self._mask = cap - 1
        self._slot = slot
        self._max = slot - _LEN_BYTES
        self._data_off = _HEADER_BYTES
        # local copies of the counter this side owns and the last seen value of the other side's
        self._head = int(q[_HEAD_IDX])
        self._tail = int(q[_TAIL_IDX])
        self._head_seen = self._head
        self._tail_seen = self._tail

    # ------------------------------------------------------------------------------ construction
    @classmethod
    def create(cls, capacity: int, slot_size: int = 128, name: str | None = None) -> SpscRing:
        """New ring: ``capacity`` slots (a power of two) of ``slot_size`` bytes (a multiple of 8, >= 16;
        the largest record is ``slot_size - 8`` bytes)."""
        if not isinstance(capacity, int) or capacity < 1 or capacity & (capacity - 1):
            raise RingError(f"capacity must be a power of two >= 1, got {capacity!r}")
        if not isinstance(slot_size, int) or slot_size < 16 or slot_size % 8:
            raise RingError(f"slot_size must be a multiple of 8 and >= 16, got {slot_size!r}")
        _check_platform()
        size = _HEADER_BYTES + capacity * slot_size
        shm = shared_memory.SharedMemory(name=name, create=True, size=size)
        assert shm.buf is not None
        q = shm.buf.cast("Q")
        q[1], q[2], q[3] = _VERSION, capacity, slot_size
        q[_HEAD_IDX] = 0
        q[_TAIL_IDX] = 0
        q[0] = _MAGIC  # last: an attacher that sees the magic sees the rest
        q.release()
        try:
            return cls(shm, owner=True)
        except BaseException:
            shm.close()
            shm.unlink()
            raise

    @classmethod
    def attach(cls, name: str) -> SpscRing:
        """Attach to a ring made by :meth:`create` in another process."""
        _check_platform()
        shm = _attach_untracked(name)
        try:
            return cls(shm, owner=False)
        except BaseException:
            shm.close()
            raise

    def close(self) -> None:
        """Release this process's mapping (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._q.release()
        self._buf = None  # type: ignore[assignment]
        self._shm.close()

    def unlink(self) -> None:
        """Remove the segment name (creator only; the memory goes when every process has closed it)."""
        self._shm.unlink()

    def __enter__(self) -> SpscRing:
        return self

    def __exit__(self, *exc: object) -> None:
        owner = self._owner
        self.close()
        if owner:
            self.unlink()

    # ------------------------------------------------------------------------------ properties
    @property
    def capacity(self) -> int:
        return self._cap

    @property
    def slot_size(self) -> int:
        return self._slot

    @property
    def max_record(self) -> int:
        """Largest record in bytes (``slot_size - 8``)."""
        return self._max

    @property
    def buffer(self) -> memoryview:
        """The whole segment; slot payloads start at the offsets returned by :meth:`claim`/:meth:`peek`."""
        return self._buf

    def __len__(self) -> int:
        """Records waiting (a snapshot: the other side may be moving)."""
        return int(self._q[_HEAD_IDX]) - int(self._q[_TAIL_IDX])

    # ------------------------------------------------------------------------------ producer
    def try_push(self, data: Any) -> bool:
        """Copy one record (bytes-like, at most :attr:`max_record` bytes) in; ``False`` when full."""
        n = len(data)
        if n > self._max:
            raise RingError(f"record of {n} bytes does not fit a slot (max {self._max})")
        head = self._head
        if head - self._tail_seen >= self._cap:
            self._tail_seen = self._q[_TAIL_IDX]
            if head - self._tail_seen >= self._cap:
                return False
        off = self._data_off + (head & self._mask) * self._slot
        self._q[off >> 3] = n
        self._buf[off + 8:off + 8 + n] = data
        head += 1
        self._head = head
        self._q[_HEAD_IDX] = head  # publish: after the payload stores
        return True

    def try_push_packed(self, st: Any, *values: Any) -> bool:
        """Pack ``values`` with the ``struct.Struct`` ``st`` straight into the next slot (one call, no
        intermediate bytes); ``False`` when full. ``st.size`` must fit :attr:`max_record`."""
        n = st.size
        if n > self._max:
            raise RingError(f"record of {n} bytes does not fit a slot (max {self._max})")
        head = self._head
        if head - self._tail_seen >= self._cap:
            self._tail_seen = self._q[_TAIL_IDX]
            if head - self._tail_seen >= self._cap:
                return False
        off = self._data_off + (head & self._mask) * self._slot
        st.pack_into(self._buf, off + 8, *values)
        self._q[off >> 3] = n
        head += 1
        self._head = head
        self._q[_HEAD_IDX] = head
        return True

    def claim(self) -> int:
        """Zero-copy write: the byte offset in :attr:`buffer` of the next free slot's payload
        (:attr:`max_record` bytes), or ``-1`` when full. Fill it, then call :meth:`publish`."""
        head = self._head
        if head - self._tail_seen >= self._cap:
            self._tail_seen = self._q[_TAIL_IDX]
            if head - self._tail_seen >= self._cap:
                return -1
        return self._data_off + (head & self._mask) * self._slot + 8

    def publish(self, length: int) -> None:
        """Make the slot returned by the last successful :meth:`claim` visible with ``length`` bytes."""
        if length < 0 or length > self._max:
            raise RingError(f"record length {length} out of range 0..{self._max}")
        head = self._head
        self._q[(self._data_off + (head & self._mask) * self._slot) >> 3] = length
        head += 1
        self._head = head
        self._q[_HEAD_IDX] = head

    # ------------------------------------------------------------------------------ consumer
    def try_pop_into(self, out: Any) -> int:
        """Copy the next record into the writable buffer ``out`` (at least :attr:`max_record` bytes, or
        the record's length); returns its length, or ``-1`` when empty."""
        tail = self._tail
        if tail == self._head_seen:
            self._head_seen = self._q[_HEAD_IDX]
            if tail == self._head_seen:
                return -1
        off = self._data_off + (tail & self._mask) * self._slot
        n = self._q[off >> 3]
        out[:n] = self._buf[off + 8:off + 8 + n]
        tail += 1
        self._tail = tail
        self._q[_TAIL_IDX] = tail  # free the slot: after the payload loads
        return n

    def try_pop(self) -> bytes | None:
        """The next record as new ``bytes`` (allocates), or ``None`` when empty."""
        tail = self._tail
        if tail == self._head_seen:
            self._head_seen = self._q[_HEAD_IDX]
            if tail == self._head_seen:
                return None
        off = self._data_off + (tail & self._mask) * self._slot
        n = self._q[off >> 3]
        data = bytes(self._buf[off + 8:off + 8 + n])
        tail += 1
        self._tail = tail
        self._q[_TAIL_IDX] = tail
        return data

    def try_pop_unpack(self, st: Any) -> tuple[Any, ...] | None:
        """Unpack the next record with the ``struct.Struct`` ``st`` (a new tuple), or ``None`` when
        empty. The record must have been written with the same layout."""
        tail = self._tail
        if tail == self._head_seen:
            self._head_seen = self._q[_HEAD_IDX]
            if tail == self._head_seen:
                return None
        off = self._data_off + (tail & self._mask) * self._slot
        values: tuple[Any, ...] = st.unpack_from(self._buf, off + 8)
        tail += 1
        self._tail = tail
        self._q[_TAIL_IDX] = tail
        return values

    def peek(self) -> int:
        """Zero-copy read: the byte offset in :attr:`buffer` of the next record's payload, or ``-1`` when
        empty. Its length is :meth:`peek_length`; call :meth:`release` when done reading it."""
        tail = self._tail
        if tail == self._head_seen:
            self._head_seen = self._q[_HEAD_IDX]
            if tail == self._head_seen:
                return -1
        return self._data_off + (tail & self._mask) * self._slot + 8

    def peek_length(self, offset: int) -> int:
        """Length of the record whose payload starts at ``offset`` (from :meth:`peek`)."""
        return self._q[(offset - 8) >> 3]

    def release(self) -> None:
        """Free the record returned by the last successful :meth:`peek`."""
        tail = self._tail + 1
        self._tail = tail
        self._q[_TAIL_IDX] = tail

