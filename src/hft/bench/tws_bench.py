"""``hft bench tws``: the TWS market data pass metric against the fake TWS API server.

The engine (a real :class:`hft.engine.runner.TradingEngine` fed by :class:`hft.venues.tws.source.
TwsMarketData` over ib_async, unmodified) and an independent reference run side by side on the same
bytes: the reference taps the client's socket reads, cuts its own frames, reads the depth rows and 317
resets with ``decimal`` prices and folds them with plain list operations (:class:`ReferenceFold`). After
every received batch each instrument's engine book that is not stale must equal the reference fold of its
current subscription (visible levels, price and quantity). The script (:func:`run_pass`) mixes book
changes of the exchange simulator (BHP: its matching engine under background flow, encoded as row
inserts/updates/deletes with shifts and truncation) with random valid rows (PLS), 317 resets, 316 halts,
1101/1102 notices, trades, and dropped connections (the source reconnects with backoff). Checked:

- ``mismatches`` = 0 (engine book vs reference after every batch);
- stale notices only for scripted events (reset, halted, restored, disconnect);
- at most one depth (re)subscription per instrument per ``resubscribe_min_s`` (as the server saw them);
- per-row decode+apply p50/p99: each row frame of the run once more through ib_async's decoder and the
  source's fold, timed one by one (``decode_apply_ns``), and the per-batch flush (``flush_ns``).

``--json`` prints the result as JSON; exit 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import random
import sys
import time
from decimal import Decimal
from typing import Any

from hft.venues.tws.fake_server import FakeContract, FakeTws, split_frames


class ReferenceFold:
    """Rows per depth request id, list semantics, written independently of :mod:`hft.venues.tws.depth`."""

    def __init__(self, rows_of: dict[int, int]) -> None:
        self.rows_of = rows_of  # request id -> numRows (from the requests the server received)
        self.sides: dict[int, tuple[list[tuple[int, int]], list[tuple[int, int]]]] = {}
        self.buf = bytearray()
        self.rows = 0
        self.bytes_in = 0  # of the current connection

    def feed(self, data: bytes) -> None:
        self.bytes_in += len(data)
        self.buf += data
        for f in split_frames(self.buf):
            mid = f[0]
            if mid == "12" or mid == "13":
                if mid == "12":
                    req, pos, op, side, px, sz = int(f[2]), int(f[3]), int(f[4]), int(f[5]), f[6], f[7]
                else:
                    req, pos, op, side, px, sz = int(f[2]), int(f[3]), int(f[5]), int(f[6]), f[7], f[8]
                self.row(req, pos, op, side, px, sz)
            elif mid == "4" and f[3] == "317":
                self.sides[int(f[2])] = ([], [])

    def row(self, req: int, pos: int, op: int, side: int, px: str, sz: str) -> None:
        bids, asks = self.sides.setdefault(req, ([], []))
        lst = bids if side == 1 else asks
        self.rows += 1
        if op == 2:
            lst.pop(pos)
            return
        row = (int(Decimal(px) * 10_000), int(Decimal(sz)))
        if op == 0:
            lst[pos:pos] = [row]
            del lst[self.rows_of.get(req, 10 ** 9):]
        else:
            lst[pos] = row

    def levels(self, req: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        bids, asks = self.sides.get(req, ([], []))
        out = []
        for lst, rev in ((bids, True), (asks, False)):
            agg: dict[int, int] = {}
            for p, q in lst:
                if q:
                    agg[p] = agg.get(p, 0) + q
            out.append(sorted(agg.items(), reverse=rev))
        return out[0], out[1]


class _NoOrders:
    """Order gateway of the benchmark's engine: no order entry here (market data only)."""

    def set_sinks(self, on_exec: Any, on_cancel_reject: Any) -> None:
        return None

    def send_new(self, order: Any) -> bool:
        return False

    def send_cancel(self, order: Any, cancel_cl_ord_id: str) -> bool:
        return False

    def send_replace(self, order: Any, new_order: Any) -> bool:
        return False

    def request_status(self, order: Any) -> bool:
        return False


def _pct(xs: list[int], q: float) -> float:
    if not xs:
        return 0.0
    s = sorted(xs)
    return float(s[min(len(s) - 1, int(q * len(s)))])


async def run_pass(rows_target: int = 100_000, seed: int = 1, resubscribe_min_s: float = 0.25,
                   depth_rows: int = 10, max_write: int = 96, drops: int = 4, resets: int = 20,
                   halts: int = 6, l2_rows: bool = False, time_rows: bool = True) -> dict[str, Any]:
    """The pass metric (see the module doc); returns the result dict (``ok`` says whether it passed)."""
    from hft.engine.config import Config, InstrumentsConfig, MarketDataConfig, MetricsConfig, TwsConfig
    from hft.engine.runner import TradingEngine
    from hft.venues.tws.fake_server import sim_book_states
    from hft.venues.tws.source import TwsMarketData

    logging.getLogger("ib_async").setLevel(logging.CRITICAL)  # its log line per error/notice
    rng = random.Random(seed)
    syms = ["BHP", "PLS"]
    contracts = [FakeContract("BHP", 4036812), FakeContract("PLS", 81290042)]
    srv = FakeTws(contracts, seed=seed, max_write=max_write, l2_rows=l2_rows)
    await srv.start()
    tc = TwsConfig(port=srv.port, depth_rows=depth_rows, resubscribe_min_s=resubscribe_min_s,
                   reconnect_min_s=0.05, reconnect_max_s=0.4, con_ids={"BHP": 4036812, "PLS": 81290042})
    cfg = Config(market_data=MarketDataConfig(source="tws"), instruments=InstrumentsConfig(symbols=syms),
                 metrics=MetricsConfig(enabled=False), tws=tc)
    engine = TradingEngine(cfg, _NoOrders())
    md = TwsMarketData(tc, stale_after_ms=0, cache_path="/nonexistent/unused.json")
    md.set_sink(engine.on_market_event)
    md.level_sink = engine.on_level
    md.on_message_end = engine.on_md_message_end
    engine.md_request_snapshot = md.request_snapshot
    md.subscribe(syms)
    engine.start()
    rows_of: dict[int, int] = {}
    ref = ReferenceFold(rows_of)
    res: dict[str, Any] = {"rows_target": rows_target, "seed": seed, "depth_rows": depth_rows,
                           "max_write": max_write, "resubscribe_min_s": resubscribe_min_s}
    counts = {"batches_checked": 0, "books_compared": 0, "books_skipped_stale": 0, "mismatches": 0}
    first_mismatch: list[str] = []

    seen = [0]

    def note_requests() -> None:
        reqs = srv.requests
        for k in range(seen[0], len(reqs)):
            _t, mid, f = reqs[k]
            if mid == 10:
                rows_of[int(f[2])] = int(f[15])
        seen[0] = len(reqs)

    def check(data: bytes) -> None:
        note_requests()
        ref.feed(data)
        counts["batches_checked"] += 1
        for sym in syms:
            st = md.insts[sym]
            book = engine.books[sym]
            if book.stale or st.depth_req < 0 or st.want_snapshot:
                counts["books_skipped_stale"] += 1
                continue
            counts["books_compared"] += 1
            rb, ra = ref.levels(st.depth_req)
            eb = [book.level(1, i) for i in range(book.n_bids)]
            ea = [book.level(2, i) for i in range(book.n_asks)]
            if eb != rb or ea != ra:
                counts["mismatches"] += 1
                if not first_mismatch:
                    first_mismatch.append(f"{sym} req {st.depth_req}: engine bids {eb} asks {ea} / reference "
                                          f"bids {rb} asks {ra}")

    def resubscribed() -> bool:
        md.on_timer()  # (the host's timer: the rate-limited resubscriptions)
        return bool(md.ib.client.isReady()
                    and not any(md.insts[s].pending or md.insts[s].depth_req < 0 for s in syms))

    def client_read() -> int:
        return int(md.ib.client._numBytesRecv)  # bytes the client has read on this connection

    scripted: dict[str, int] = {"reset": 0, "halted": 0, "restored": 0, "disconnect": 0}
    # the tap: after the client's own handler on every socket read, so the same batch, decoded again
    md.ib.client.conn.hasData += check
    run_task = asyncio.create_task(md.run())
    t0 = time.perf_counter()
    try:
        await _until(lambda: md.ib.client.isReady() and all(md.insts[s].depth_req >= 0 for s in syms), 10)
        states = sim_book_states("BHP", seconds=1e9, seed=seed, levels=depth_rows + 5)
        n_events = rows_target // 2
        plan = ["sim"] * n_events
        for kind, k in (("drop", drops), ("reset", resets), ("halt", halts), ("r1101", 2), ("r1102", 2)):
            for _ in range(k):
                plan[rng.randrange(len(plan))] = kind
        pls_base = 15_000
        i = 0
        while srv.rows_sent < rows_target:
            kind = plan[i] if i < len(plan) else "sim"
            i += 1
            if kind == "sim":
                if rng.random() < 0.6:
                    bids, asks, trades = next(states)
                    await srv.set_book("BHP", bids, asks, depth_rows)
                    for p, q in trades[:2]:
                        await srv.trade("BHP", p, q)
                else:
                    await srv.random_rows("PLS", rng.randint(1, 8), depth_rows, pls_base)
            elif kind == "drop":
                scripted["disconnect"] += 1
                lost = md.counters["disconnects"]
                srv.drop_now()
                ref.buf.clear()  # (the same Connection object, so the tap stays; a new byte stream)
                ref.sides.clear()  # request ids start again on a new connection
                await _until(lambda lost=lost: md.counters["disconnects"] > lost, 10)
                await _until(resubscribed, 10 + 4 * resubscribe_min_s)
                await _until(lambda: client_read() >= srv.bytes_out(), 10)
            elif kind == "reset":
                scripted["reset"] += 1
                await srv.reset(rng.choice(syms))
            elif kind == "halt":
                scripted["halted"] += 1
                await srv.error(316, "Market depth data HALTED. Please re-subscribe.", rng.choice(syms))
            else:
                scripted["restored"] += 1
                code = 1101 if kind == "r1101" else 1102
                await srv.error(code, "Connectivity between IB and TWS has been restored")
            # the client reads everything written before the next action (what it reads per socket read,
            # i.e. its batches, is still cut at random by the server's random write pieces)
            for _ in range(200):
                await asyncio.sleep(0)
                if client_read() >= srv.bytes_out():
                    break
            else:
                await _until(lambda: client_read() >= srv.bytes_out(), 10)
            if i % 64 == 0:
                md.on_timer()
        await asyncio.sleep(0.05)
        md.on_timer()
        await asyncio.sleep(0.05)
    finally:
        wall = time.perf_counter() - t0
        md.close()
        run_task.cancel()
        await srv.close()
    # stale notices: only the scripted reasons
    unexpected = [(s, r) for s, r in md.stale_log if r not in scripted]
    # resubscriptions per instrument: the gaps between depth requests the server received
    min_gap = {}
    for sym in syms:
        ts = srv.depth_requests(sym)
        gaps = [b - a for a, b in itertools.pairwise(ts)]
        min_gap[sym] = round(min(gaps), 3) if gaps else None
    too_close = sum(1 for g in min_gap.values() if g is not None and g < resubscribe_min_s * 0.95)
    st = md.stats()
    res.update(counts)
    res.update(rows_sent=srv.rows_sent, rows_applied=st["rows"], rows_reference=ref.rows,
               server_writes=srv.writes, wall_s=round(wall, 2), scripted=scripted,
               stale_notices=len(md.stale_log), stale_unexpected=unexpected[:10],
               depth_requests={s: len(srv.depth_requests(s)) for s in syms}, min_resubscribe_gap_s=min_gap,
               source=st, first_mismatch=first_mismatch[0] if first_mismatch else "")
    if time_rows:
        res.update(time_decode_apply(depth_rows, seed=seed))
    res["ok"] = bool(counts["mismatches"] == 0 and not unexpected and too_close == 0
                     and ref.rows == srv.rows_sent and counts["books_compared"] > 0 and st["bad_rows"] == 0)
    return res


async def _until(cond: Any, timeout: float) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise TimeoutError(f"the fake TWS session did not reach the expected state in time ({cond})")
        await asyncio.sleep(0.01)


def time_decode_apply(depth_rows: int = 10, n: int = 50_000, seed: int = 1) -> dict[str, Any]:
    """Per-row decode+apply: a row frame's bytes -> fields (ib_async's framing: decode, split) -> ib_async's
    decoder -> the source's fold, each row timed alone; plus the flush per 8-row batch."""
    from ib_async import IB

    from hft.engine.config import TwsConfig
    from hft.venues.tws.fake_server import frame, random_op
    from hft.venues.tws.source import TwsMarketData, _Inst

    rng = random.Random(seed)
    md = TwsMarketData(TwsConfig(depth_rows=depth_rows), ib=IB())
    st = md.insts["BHP"] = _Inst("BHP", depth_rows)
    st.depth_req = 7
    st.want_snapshot = False
    md._by_req[7] = st
    sink_n = [0]

    def level(sym: str, side: int, p: int, q: int, ts: int) -> None:
        sink_n[0] += 1

    md.level_sink = level
    md.ib.client.decoder.serverVersion = 176
    interpret = md.ib.client.decoder.interpret
    bids: list[list[int]] = []
    asks: list[list[int]] = []
    frames = []
    for _ in range(n):
        bid = rng.random() < 0.5
        op, pos, p, q = random_op(bids if bid else asks, depth_rows, rng, 450_000, bid)
        px = f"{p // 10_000}.{p % 10_000:04d}".rstrip("0").rstrip(".")
        frames.append(frame(12, 1, 7, pos, op, 1 if bid else 0, px, q)[4:])
    per_row: list[int] = []
    flush: list[int] = []
    pc = time.perf_counter_ns
    for i, body in enumerate(frames):
        t = pc()
        fields = body.decode(errors="backslashreplace").split("\0")
        fields.pop()
        interpret(fields)
        per_row.append(pc() - t)
        if i % 8 == 7:
            t = pc()
            md._flush()
            flush.append(pc() - t)
    return {"decode_apply_rows": len(per_row), "decode_apply_ns": {"p50": _pct(per_row, 0.5),
                                                                    "p99": _pct(per_row, 0.99)},
            "flush_ns_per_8_rows": {"p50": _pct(flush, 0.5), "p99": _pct(flush, 0.99)},
            "levels_handed_on": sink_n[0]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="hft bench tws", description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100_000, help="row operations the server sends (>= 100000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--resubscribe-min-s", type=float, default=0.25,
                    help="the rate limit under test (the product's default is 15 s; shorter keeps the run "
                         "short)")
    ap.add_argument("--depth-rows", type=int, default=10)
    ap.add_argument("--max-write", type=int, default=96, help="largest write piece of the fake server")
    ap.add_argument("--l2", action="store_true", help="rows as updateMktDepthL2 (13) instead of 12")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    try:
        import ib_async  # noqa: F401
    except ImportError:
        print("hft bench tws needs ib_async: pip install 'hft[ibkr]'", file=sys.stderr)
        return 2
    res = asyncio.run(run_pass(a.rows, a.seed, a.resubscribe_min_s, a.depth_rows, a.max_write,
                               l2_rows=a.l2))
    if a.json:
        print(json.dumps(res, indent=1))
    else:
        da = res["decode_apply_ns"]
        print(f"rows {res['rows_sent']}  batches checked {res['batches_checked']}  mismatches "
              f"{res['mismatches']}  stale notices {res['stale_notices']} (unexpected "
              f"{len(res['stale_unexpected'])})  decode+apply p50 {da['p50'] / 1000:.2f} us "
              f"p99 {da['p99'] / 1000:.2f} us  {'PASS' if res['ok'] else 'FAIL'}")
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
