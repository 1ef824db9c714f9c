"""The simulator's real feed, captured as raw bytes from a TCP client on 127.0.0.1, converted by fixlog.

The capture ends with a fresh snapshot request: each final 35=W must equal the book that the converted
incrementals built (the venue sends W after every X with a lower RptSeq on the same connection).
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from hft.data.fixlog import convert_fixlog
from hft.data.format import (
    KIND_LEVEL,
    KIND_SNAPSHOT_END,
    KIND_SNAPSHOT_START,
    KIND_TRADE,
    load_events,
    write_events,
)
from hft.fix.encoder import FixEncoder
from hft.fix.parser import FixStreamParser
from hft.sim import config as sim_config
from hft.sim import server as sim_server

SYMS = ["BHP", "PLS", "NWX"]


def md_request(req: str, sub: str) -> list[tuple[int, bytes | str | int]]:
    body: list[tuple[int, bytes | str | int]] = [(262, req), (263, sub), (264, 10), (265, "1"), (267, 3),
                                                 (269, "0"), (269, "1"), (269, "2"), (146, len(SYMS))]
    body += [(55, s) for s in SYMS]
    return body


def capture(port: int, seconds: float) -> bytes:
    enc = FixEncoder("FIX.4.2", "DATAMD", "ASXSIMMD")
    parser = FixStreamParser()
    got = bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.settimeout(0.2)
        sock.sendall(enc.encode("A", [(98, 0), (108, 30), (141, "Y")], 1))
        sock.sendall(enc.encode("V", md_request("sub", "1"), 2))
        end = time.monotonic() + seconds
        asked = False
        final_w = 0
        deadline = end + 10
        while time.monotonic() < deadline:
            if not asked and time.monotonic() >= end:
                sock.sendall(enc.encode("V", md_request("final", "0"), 3))
                asked = True
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                break
            got += data
            parser.feed(data)
            for m in parser:
                if m.msg_type == b"W" and m.get(262) == b"final":
                    final_w += 1
            if final_w == len(SYMS):
                break
        sock.sendall(enc.encode("5", [], 4))
    assert final_w == len(SYMS), "the final snapshots did not arrive"
    return bytes(got)


@pytest.mark.timeout(60)
def test_simulator_feed_capture_converts_and_matches_final_snapshots(tmp_path: Path) -> None:
    md = sim_config.MarketDataConfig(sessions=(sim_config.ClientSession("DATAMD"),))
    cfg = sim_config.SimConfig.default(market_data=md, flow=sim_config.FlowSettings(rate=4.0, seed=9),
                                       metrics_enabled=False)
    with sim_server.SimServer(cfg) as sim:
        raw = capture(sim.md_port, 2.0)
    path = tmp_path / "sim_md.bin"
    path.write_bytes(raw)
    res = convert_fixlog(path)  # validates: sorted, uncrossed, snapshots paired
    s = res.stats
    assert s["gaps"] == 0 and s["bad_frames"] == 0
    assert s["snapshots"] == 2 * len(SYMS)
    assert s["incrementals"] > 10 and s["levels"] > 0
    ev = res.events
    assert sorted(ev.symbols) == sorted(SYMS)
    assert (ev.kind == KIND_TRADE).sum() == s["trades"]
    # replay: just before each symbol's final snapshot, our book equals that snapshot
    books: dict[int, tuple[dict[int, int], dict[int, int]]] = {}
    starts: dict[int, int] = {}
    snap: dict[int, tuple[dict[int, int], dict[int, int]]] = {}
    compared = 0
    for i in range(len(ev)):
        k, sid = int(ev.kind[i]), int(ev.symbol_id[i])
        if k == KIND_SNAPSHOT_START:
            starts[sid] = starts.get(sid, 0) + 1
            if starts[sid] == 2:  # the final one: remember what we had built
                b, a = books[sid]
                snap[sid] = (dict(b), dict(a))
            books[sid] = ({}, {})
        elif k == KIND_LEVEL:
            lv = books[sid][int(ev.side[i]) - 1]
            if ev.qty[i]:
                lv[int(ev.price[i])] = int(ev.qty[i])
            else:
                lv.pop(int(ev.price[i]), None)
        elif k == KIND_SNAPSHOT_END and starts.get(sid) == 2:
            assert books[sid] == snap[sid], ev.symbols[sid]
            compared += len(books[sid][0]) + len(books[sid][1])
    assert compared > 0
    # and the canonical file round-trips
    write_events(tmp_path / "sim_md.parquet", ev)
    assert len(load_events(tmp_path / "sim_md.parquet")) == len(ev)
