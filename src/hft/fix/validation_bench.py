"""Micro-benchmark of data-dictionary validation (``DataDictionary.validate``) per message.

    hft bench validate [--n N] [--rounds R]
    python -m hft.fix.validation_bench [--n N] [--rounds R]

Prints one JSON object: nanoseconds per ``validate`` (best of R rounds of N messages) for a FIX 4.2 and
4.4 ExecutionReport (35=8, 20 fields) and MarketDataIncrementalRefresh (35=X, 10 entries), on messages
whose token list the parser has already built (``*_ns``: the cost the session adds when it has parsed
the message anyway) and on fresh messages (``*_fresh_ns``: tokenising included), and the memory blocks a
valid message leaves allocated (``*_blocks``, expected 0).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from hft.fix.encoder import FixEncoder
from hft.fix.parser import FixMessage, parse_one
from hft.fix.validation import DataDictionary, ValidationOptions

_TS = b"20251125-01:02:03.123"


def _er(version: str) -> list[tuple[int, bytes | str | int]]:
    body: list[tuple[int, bytes | str | int]] = [
        (37, b"OID1"), (17, b"E1"), (150, b"F" if version == "FIX.4.4" else b"2"), (39, b"2"), (11, b"ORD1"),
        (55, b"BHP"), (54, b"1"), (38, 100), (40, b"2"), (44, b"45.67"), (59, b"0"), (151, 0), (14, 100),
        (6, b"45.67"), (31, b"45.67"), (32, 100), (60, _TS), (58, b"fill"),
    ]
    if version == "FIX.4.2":
        body.insert(2, (20, b"0"))
    return body


def _x(entries: int = 10) -> list[tuple[int, bytes | str | int]]:
    body: list[tuple[int, bytes | str | int]] = [(262, b"md1"), (268, entries)]
    for k in range(entries):
        body += [(279, b"1"), (269, b"0" if k % 2 == 0 else b"1"), (55, b"BHP"), (270, b"45.%02d" % k),
                 (271, 100 + k)]
    return body


def _frames(version: str) -> dict[str, bytes]:
    enc = FixEncoder(version, "VENUE", "HFT")
    return {"er": enc.encode(b"8", _er(version), 2), "x": enc.encode(b"X", _x(), 3)}


def measure(n: int = 20_000, rounds: int = 5) -> dict[str, float | int]:
    out: dict[str, float | int] = {}
    opts = ValidationOptions()
    for version in ("FIX.4.2", "FIX.4.4"):
        dd = DataDictionary.standard(version)
        v = version[-3:].replace(".", "")
        for name, raw in _frames(version).items():
            msg = parse_one(raw)
            r = dd.validate(msg, opts)
            if r is not None:
                raise AssertionError(f"benchmark message {version} {name} is invalid: {r}")
            validate = dd.validate
            best = float("inf")
            for _ in range(rounds):
                t0 = time.perf_counter_ns()
                for _i in range(n):
                    validate(msg, opts)
                best = min(best, (time.perf_counter_ns() - t0) / n)
            out[f"fix{v}_{name}_ns"] = round(best)
            best = float("inf")
            for _ in range(rounds):
                msgs = [FixMessage(raw, msg.msg_type) for _i in range(n // 4)]
                t0 = time.perf_counter_ns()
                for m in msgs:
                    validate(m, opts)
                best = min(best, (time.perf_counter_ns() - t0) / len(msgs))
            out[f"fix{v}_{name}_fresh_ns"] = round(best)
            validate(msg, opts)
            before = sys.getallocatedblocks()
            for _i in range(1000):
                validate(msg, opts)
            out[f"fix{v}_{name}_blocks"] = sys.getallocatedblocks() - before
            out[f"fix{v}_{name}_fields"] = len(msg.fields())
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000, help="messages per round")
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args(argv)
    print(json.dumps(measure(a.n, a.rounds)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
