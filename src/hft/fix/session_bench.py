"""Micro-benchmark of the FIX session layer: ``send()`` cost per store fsync policy, receive cost per message.

    python -m hft.fix.session_bench [--sends N] [--receives N] [--dir DIR]

Prints one JSON object (microseconds). No sockets: the session's output callable drops the bytes, so the
numbers are encode + store + bookkeeping (send) and parse + checks + store + dispatch (receive).
``--dir`` should be on the disk the real store will use (fsync cost depends on it).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable

from hft.fix.encoder import FixEncoder
from hft.fix.session import FixSession, SessionConfig, SessionState
from hft.fix.store import FileStore, MemoryStore, SessionStore

_ORDER: list[tuple[int, bytes | str | int]] = [
    (11, "ORD1"), (21, b"1"), (55, "BHP"), (54, b"1"), (60, b"20251125-01:02:03.000"), (38, 100),
    (40, b"2"), (44, b"45.67"),
]
_FILL: list[tuple[int, bytes | str | int]] = [
    (37, b"OID1"), (17, b"E1"), (20, b"0"), (150, b"2"), (39, b"2"), (11, b"ORD1"), (55, b"BHP"), (54, b"1"),
    (38, 100), (151, 0), (14, 100), (6, b"45.67"), (31, b"45.67"), (32, 100),
]


def _active(store: SessionStore, validate: bool = True,
            dictionary: bool = False) -> tuple[FixSession, FixEncoder]:
    s = FixSession(SessionConfig("FIX.4.2", "HFT", "VENUE", validate_types=validate,
                                 data_dictionary="standard" if dictionary else None), store)
    s.connection_made(lambda b: None, lambda r: None)
    peer = FixEncoder("FIX.4.2", "VENUE", "HFT")
    s.on_data(peer.encode(b"A", [(98, 0), (108, 30)], 1))
    assert s.state == SessionState.ACTIVE
    return s, peer


def _pct(ts: list[int], q: float) -> float:
    return round(ts[min(len(ts) - 1, int(len(ts) * q))] / 1000, 2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sends", type=int, default=20_000)
    ap.add_argument("--receives", type=int, default=20_000)
    ap.add_argument("--dir", default=None, help="directory for the store files (default: a temp dir)")
    a = ap.parse_args(argv)
    d = a.dir or tempfile.mkdtemp(prefix="hft-session-bench-")
    out: dict[str, float | int] = {}
    stores: list[tuple[str, Callable[[], SessionStore]]] = [
        ("memory", MemoryStore),
        ("none", lambda: FileStore(f"{d}/none.store", "none")),
        ("batch", lambda: FileStore(f"{d}/batch.store", "batch")),
        ("safe", lambda: FileStore(f"{d}/safe.store", "safe")),
    ]
    for name, make in stores:
        store = make()
        s, _ = _active(store)
        n = max(100, a.sends // 50) if name == "safe" else a.sends
        ts = []
        for _ in range(n):
            t0 = time.perf_counter_ns()
            s.send(b"D", _ORDER)
            ts.append(time.perf_counter_ns() - t0)
        ts.sort()
        out[f"send_{name}_p50_us"] = _pct(ts, 0.5)
        out[f"send_{name}_p99_us"] = _pct(ts, 0.99)
        store.close()
    for name, make in stores:
        for validate in (True, False):
            store = make()
            store.reset()
            s, peer = _active(store, validate)
            frames = [peer.encode(b"8", _FILL, k) for k in range(2, a.receives + 2)]
            t0 = time.perf_counter_ns()
            for f in frames:
                s.on_data(f)
            dt = time.perf_counter_ns() - t0
            assert s.next_target_seq == a.receives + 2
            out[f"recv_{name}_validate_{'on' if validate else 'off'}_us"] = round(dt / a.receives / 1000, 2)
            store.close()
    # full data dictionary validation (hft.fix.validation, QuickFIX's checks), memory store
    s, peer = _active(MemoryStore(), dictionary=True)
    frames = [peer.encode(b"8", _FILL, k) for k in range(2, a.receives + 2)]
    t0 = time.perf_counter_ns()
    for f in frames:
        s.on_data(f)
    dt = time.perf_counter_ns() - t0
    assert s.next_target_seq == a.receives + 2 and s.counters.rejects_sent == 0
    out["recv_memory_dictionary_us"] = round(dt / a.receives / 1000, 2)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
