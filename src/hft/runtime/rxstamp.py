"""Parsing the kernel's stamps out of ``recvmsg`` ancillary data (compiled: the busy loop's stamped read
calls it on every market data read; :mod:`hft.runtime.timestamps` re-exports it, and its transmit stamps
from the error queue carry the same ``scm_timestamping``).

Layout (Linux UAPI, 64-bit): ``SCM_TIMESTAMPING`` carries ``struct scm_timestamping { struct timespec
ts[3]; }`` = 6 x int64: ``ts[0]`` software, ``ts[2]`` raw hardware (``ts[1]`` is deprecated and zero);
``SCM_TIMESTAMPNS`` one timespec.
"""

from __future__ import annotations

import socket
import struct
from typing import Final

SO_TIMESTAMPNS: Final = 35  # SO_TIMESTAMPNS_OLD: struct timespec with the 64-bit ABI
SO_TIMESTAMPING: Final = 37  # SO_TIMESTAMPING_OLD
SCM_TIMESTAMPNS: Final = SO_TIMESTAMPNS
SCM_TIMESTAMPING: Final = SO_TIMESTAMPING
_SOL_SOCKET: Final[int] = socket.SOL_SOCKET
_TS3: Final = struct.Struct("=6q")
_TS1: Final = struct.Struct("=2q")
ANC_SIZE: Final[int] = socket.CMSG_SPACE(_TS3.size) + socket.CMSG_SPACE(_TS1.size)


def parse_timestamping(ancdata: list[tuple[int, int, bytes]]) -> tuple[int, str]:
    """(ns, source) from ``recvmsg`` ancillary data: hardware if present, else software, else (0, "")."""
    for level, kind, data in ancdata:
        if level != _SOL_SOCKET:
            continue
        if kind == SCM_TIMESTAMPING and len(data) >= 48:
            s0, n0, _s1, _n1, s2, n2 = _TS3.unpack_from(data)
            if s2 or n2:
                return s2 * 1_000_000_000 + n2, "hardware"
            if s0 or n0:
                return s0 * 1_000_000_000 + n0, "software"
        elif kind == SCM_TIMESTAMPNS and len(data) >= 16:
            s, n = _TS1.unpack_from(data)
            return s * 1_000_000_000 + n, "timestampns"
    return 0, ""
