"""Append-only CRC record files (trading journal, FIX session store): tell a torn tail from mid-file damage.

Both files are read record by record and reading stops at the first bad record (short, bad length, bad
CRC). What that means depends on what follows it:

- **torn tail**: no valid record can be found anywhere after the bad one. That is what a crash leaves
  (``kill -9`` between the bytes of one write, power loss with a zero-filled or half-written last
  block). Truncating there loses only the write that never completed.
- **mid-file damage**: at least one complete, CRC-valid record exists after the bad one (a flipped byte,
  a bad sector, a zeroed block in the middle). Truncating would silently drop history that was durable
  (fills, fees, sequence numbers), so the caller must refuse instead.

:func:`scan_after` looks for valid records after the bad offset by trying every candidate offset with
the file's own record check (a 32-bit CRC, so a false match in random bytes is a 1 in 4 billion event per
candidate), then follows the records from the first one it finds (re-synchronising again on further
damage) to count how many would be lost. Cold path only: it runs when a file fails to read cleanly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

# probe(data, offset) -> end offset of a complete valid record starting at ``offset``, or -1
Probe = Callable[[bytes, int], int]


@dataclass(slots=True, frozen=True)
class AfterDamage:
    """What lies after the first bad record of a file."""

    bad_offset: int  # byte offset of the first bad record
    file_size: int
    first_valid_offset: int  # first valid record after it (-1: none, the tail is torn)
    valid_records: int  # complete valid records after the bad offset (what truncating would drop)

    @property
    def bytes_after(self) -> int:
        return self.file_size - self.bad_offset

    @property
    def mid_file(self) -> bool:
        return self.valid_records > 0


def scan_after(data: bytes, bad_offset: int, probe: Probe,
               candidates: Callable[[bytes, int], Iterator[int]] | None = None) -> AfterDamage:
    """Count the valid records after ``bad_offset`` (see the module doc). ``candidates(data, start)``
    yields offsets worth probing in increasing order (default: every offset)."""
    n = len(data)
    cands = candidates(data, bad_offset + 1) if candidates is not None else iter(range(bad_offset + 1, n))
    first = -1
    count = 0
    pos = -1
    for off in cands:
        if off < pos:  # inside a record already counted
            continue
        end = probe(data, off)
        if end < 0:
            continue
        if first < 0:
            first = off
        count += 1
        pos = end
        while pos < n:  # follow the chain of records from there
            end = probe(data, pos)
            if end < 0:
                break
            count += 1
            pos = end
        if pos >= n:
            break
    return AfterDamage(bad_offset, n, first, count)


def describe(path: object, d: AfterDamage, what: str = "journal") -> str:
    """The operator message for mid-file damage."""
    return (f"{path}: {what} damaged in the middle: bad record at offset {d.bad_offset}, followed by "
            f"{d.valid_records} valid records ({d.bytes_after} bytes from the bad record to the end of the "
            f"file, first valid record after it at offset {d.first_valid_offset}); refusing to truncate "
            f"them. Keep a copy of the file and repair or move it aside by hand.")
