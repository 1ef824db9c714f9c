"""A fake TWS API server for tests and benchmarks: asyncio on 127.0.0.1, the real TWS wire protocol.

No IBKR account is reachable from a test machine, so the TWS market data source is tested against this
server with ``ib_async`` unmodified as the client. The wire protocol, as ``ib_async`` 2.1 (client.py,
decoder.py) speaks it and as IBKR's API documents it:

- every message is a 4-byte big-endian length, then fields, each ended by NUL (``b"\\0"``);
- the client opens with ``b"API\\0"`` and a length-prefixed ``b"v157..178"`` (its version range); the
  server answers ``[server version, connection time]``; the client sends startApi (71) and the server
  answers nextValidId (9) and managedAccounts (15): then the client is ready;
- messages from the server start with their id; most have a version field after it; some (tick-by-tick
  99, contract details 10 from server version 164 on, market rule 93) have none.

The server announces :data:`SERVER_VERSION` and encodes what ``ib_async``'s decoder expects for it.
It answers positions (61 -> 62), open orders (5 -> 53), contract details (9 -> 10 + 52, or error 200),
market rules (91 -> 93), market depth (10 -> rows 12 or 13; 11 cancels) and tick-by-tick (97 -> 99; 98
cancels). The test or benchmark drives the market (:meth:`FakeTws.set_book`, :meth:`FakeTws.random_rows`,
:meth:`FakeTws.reset`, :meth:`FakeTws.error`, :meth:`FakeTws.trade`, :meth:`FakeTws.drop`); every batch
of frames is written in pieces of random size (frames split anywhere), so the client's reads cut frames
at random places. Every request is recorded (:attr:`FakeTws.requests`) with its arrival time.

Book changes become IBKR rows by :func:`encode_side` (inserts and deletes that shift the rows below,
updates that change a row's price, and inserts into a full side that push the last row out), and
:func:`sim_book_states` produces book states from the exchange simulator's own matching engine and
background flow.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import struct
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from hft.asx.ticks import format_price, tick_size

log = logging.getLogger(__name__)

SERVER_VERSION = 176
MIN_CLIENT_VERSION = 157

Rows = list[list[int]]  # [[price units, qty], ...] one side, IBKR's row order
Op = tuple[int, int, int, int]  # (operation, position, price units, qty)


# ---------------------------------------------------------------------------------------------- wire
def frame(*fields: object) -> bytes:
    """One message: 4-byte big-endian length, then each field followed by NUL."""
    body = b"".join(str(f).encode() + b"\0" for f in fields)
    return struct.pack(">I", len(body)) + body


def split_frames(buf: bytearray) -> Iterator[list[str]]:
    """Take the complete messages off the front of ``buf``; yields each one's fields."""
    while len(buf) >= 4:
        n = struct.unpack_from(">I", buf)[0]
        if len(buf) < 4 + n:
            return
        body = bytes(buf[4 : 4 + n])
        del buf[: 4 + n]
        fields = body.decode(errors="backslashreplace").split("\0")
        fields.pop()
        yield fields


# ----------------------------------------------------------------------------------- book -> rows
def encode_side(cur: Rows, new: Sequence[tuple[int, int]], rows: int, style: int) -> list[Op]:
    """IBKR row operations turning ``cur`` (changed in place) into ``new[:rows]`` (levels best first).

    ``style`` 0: delete the rows whose price left, then insert/update in order (shifts);
    1: overwrite row by row with updates (a row's price changes), then delete the surplus at the end;
    2: delete only the prices gone from the whole ``new`` book, then insert; an insert into a full side
    pushes the last row out (truncation, no delete is sent for it).
    """
    ops: list[Op] = []
    want = list(new[:rows])
    if style == 1:
        for i, (p, q) in enumerate(want):
            if i < len(cur):
                if cur[i][0] != p or cur[i][1] != q:
                    cur[i] = [p, q]
                    ops.append((1, i, p, q))
            else:
                cur.append([p, q])
                ops.append((0, i, p, q))
        while len(cur) > len(want):
            i = len(cur) - 1
            ops.append((2, i, cur[i][0], 0))
            cur.pop()
        return ops
    keep = {p for p, _ in (want if style == 0 else new)}
    for i in range(len(cur) - 1, -1, -1):
        if cur[i][0] not in keep:
            ops.append((2, i, cur[i][0], 0))
            del cur[i]
    for i, (p, q) in enumerate(want):
        if i < len(cur) and cur[i][0] == p:
            if cur[i][1] != q:
                cur[i][1] = q
                ops.append((1, i, p, q))
        else:
            cur.insert(i, [p, q])
            ops.append((0, i, p, q))
            if len(cur) > rows:
                cur.pop()  # truncation: IBKR's side is cut at the requested rows
    while len(cur) > len(want):  # (styles 0/2: rows whose price moved beyond the cut)
        i = len(cur) - 1
        ops.append((2, i, cur[i][0], 0))
        cur.pop()
    return ops


def random_op(cur: Rows, rows: int, rng: random.Random, base: int, bid: bool) -> Op:
    """One random valid row operation on ``cur`` (changed in place); prices on the ASX grid on the
    bid (below ``base``) or ask (at or above ``base``) side so the aggregated book is never crossed."""
    n = len(cur)
    k = rng.random()
    step = tick_size(base)
    off = rng.randrange(0, 3 * rows)
    p = base - (off + 1) * step if bid else base + off * step
    q = rng.choice((1, 100, 250, 1000, 4321))
    if n == 0 or (k < 0.4 and n < rows + 2):
        i = rng.randrange(0, n + 1)
        cur.insert(i, [p, q])
        if len(cur) > rows:
            cur.pop()
        return (0, i, p, q)
    i = rng.randrange(0, n)
    if k < 0.75:
        if rng.random() < 0.5:
            p = cur[i][0]
        cur[i] = [p, q]
        return (1, i, p, q)
    old = cur.pop(i)
    return (2, i, old[0], 0)


def sim_book_states(symbol: str = "BHP", seconds: float = 60.0, seed: int = 1, levels: int = 20
                    ) -> Iterator[tuple[list[tuple[int, int]], list[tuple[int, int]], list[tuple[int, int]]]]:
    """Book states of the exchange simulator's matching engine under its background flow, one per
    flow event that changed something: ``(bids best first, asks best first, trades [(price, qty)])``."""
    from hft.asx.phases import Phase
    from hft.sim.clock import ManualClock
    from hft.sim.flow import NEVER, BackgroundFlow, default_flow_configs
    from hft.sim.matching import MatchingEngine, TradeEvent
    from hft.sim.record import sydney_open_ns

    cfgs = [c for c in default_flow_configs() if c.symbol == symbol]
    if not cfgs:
        raise ValueError(f"no simulator flow for {symbol!r}")
    t0 = sydney_open_ns()
    clock = ManualClock(t0)
    engine = MatchingEngine({symbol: cfgs[0].ref_price}, clock=clock)
    engine.set_phase(symbol, Phase.CONTINUOUS)
    flow = BackgroundFlow(engine, cfgs, seed, start_ns=t0)
    flow.seed_book(t0)
    book = engine.books[symbol]
    end = t0 + int(seconds * 1e9)

    def state() -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        return ([(lv.price, lv.qty) for lv in book.bids.iter_levels()[:levels]],
                [(lv.price, lv.qty) for lv in book.asks.iter_levels()[:levels]])

    yield (*state(), [])
    while True:
        t = flow.next_event_ns()
        if t > end or t == NEVER:
            return
        clock.set(t)
        evs = flow.advance(t)
        if evs:
            trades = [(e.price, e.qty) for e in evs if isinstance(e, TradeEvent)]
            yield (*state(), trades)


# ---------------------------------------------------------------------------------------- server
@dataclass
class FakeContract:
    symbol: str
    con_id: int
    exchange: str = "ASX"
    currency: str = "AUD"
    min_tick: float = 0.001
    long_name: str = ""
    market_rule: int = 1972  # any id; its increments are the ASX table unless ``increments`` is given
    increments: tuple[tuple[float, float], ...] = ((0.0, 0.001), (0.1, 0.005), (2.0, 0.01))


@dataclass
class _Sub:
    req_id: int
    symbol: str
    rows: int
    conn: _Conn


@dataclass
class _Conn:
    writer: asyncio.StreamWriter
    client_id: int = -1
    ready: bool = False
    bytes_out: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one batch at a time: frames never interleave
    subs: dict[int, _Sub] = field(default_factory=dict)
    tbt: dict[int, str] = field(default_factory=dict)


class FakeTws:
    """See the module doc. ``async with FakeTws(...) as srv:`` binds 127.0.0.1 on ``srv.port``."""

    def __init__(self, contracts: Sequence[FakeContract] = (), *, seed: int = 1, max_write: int = 64,
                 account: str = "DU1234567", next_order_id: int = 1, l2_rows: bool = False,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.contracts = {c.symbol: c for c in contracts}
        self.by_con_id = {c.con_id: c for c in contracts}
        self.rng = random.Random(seed)
        self.max_write = max_write
        self.account = account
        self.next_order_id = next_order_id
        self.l2_rows = l2_rows  # rows as updateMktDepthL2 (13) instead of updateMktDepth (12)
        self.host = host
        self.port = port
        self.book: dict[str, tuple[Rows, Rows]] = {}  # symbol -> (bid rows, ask rows): IBKR's rows
        self.conns: list[_Conn] = []
        self.requests: list[tuple[float, int, list[str]]] = []  # (monotonic time, msg id, fields)
        self.rows_sent = 0
        self.frames_sent = 0
        self.writes = 0
        self.refuse_depth: set[str] = set()  # symbols whose depth requests get error 309
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.connected = asyncio.Event()

    async def __aenter__(self) -> FakeTws:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        self.drop_now()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        if self._tasks:  # the handlers end on their aborted connections
            await asyncio.wait(list(self._tasks), timeout=2)

    # --------------------------------------------------------------------------- the connection
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        conn = _Conn(writer)
        try:
            if await reader.readexactly(4) != b"API\0":
                return
            n = struct.unpack(">I", await reader.readexactly(4))[0]
            versions = (await reader.readexactly(n)).decode()
            lo, _, hi = versions[1:].partition("..")
            if int(hi.split()[0]) < SERVER_VERSION or int(lo) > SERVER_VERSION:
                return
            hello = frame(SERVER_VERSION, time.strftime("%Y%m%d %H:%M:%S") + " Australia/Sydney")
            conn.bytes_out += len(hello)
            writer.write(hello)
            self.conns.append(conn)
            buf = bytearray()
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                buf += data
                for fields in split_frames(buf):
                    await self._on_request(conn, fields)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            return
        except Exception:
            log.exception("fake TWS server: connection handler failed")
            raise
        finally:
            if conn in self.conns:
                self.conns.remove(conn)
            writer.close()
            if task is not None:
                self._tasks.discard(task)

    async def _on_request(self, conn: _Conn, f: list[str]) -> None:
        mid = int(f[0])
        self.requests.append((time.monotonic(), mid, f))
        out: list[bytes] = []
        if mid == 71:  # startApi
            conn.client_id = int(f[2])
            out += [frame(9, 1, self.next_order_id), frame(15, 1, self.account)]
            conn.ready = True
            self.connected.set()
        elif mid == 61:  # reqPositions
            out.append(frame(62, 1))
        elif mid == 5:  # reqOpenOrders
            out.append(frame(53, 1))
        elif mid == 6:  # reqAccountUpdates: no values, just the end
            out.append(frame(54, 1, f[3] or self.account))
        elif mid == 76:  # reqAccountUpdatesMulti
            out.append(frame(74, 1, f[2]))
        elif mid == 7:  # reqExecutions: none yet
            out.append(frame(55, 1, f[2]))
        elif mid == 99:  # reqCompletedOrders
            out.append(frame(102))
        elif mid == 9:  # reqContractDetails: 9, 8, reqId, contract (12 fields), ...
            req_id, con_id, sym, exch, cur = int(f[2]), int(f[3] or 0), f[4], f[10], f[12]
            c = self.by_con_id.get(con_id) if con_id else self.contracts.get(sym)
            if c is None or (exch and exch not in (c.exchange, "SMART")) or (cur and cur != c.currency):
                out.append(self._error(req_id, 200, "No security definition has been found for the request"))
            else:
                out += [self._contract_details(req_id, c), frame(52, 1, req_id)]
        elif mid == 91:  # reqMarketRule
            rule = int(f[1])
            c = next((c for c in self.contracts.values() if c.market_rule == rule), None)
            inc = c.increments if c is not None else ()
            out.append(frame(93, rule, len(inc), *(x for pair in inc for x in pair)))
        elif mid == 10:  # reqMktDepth: 10, 5, reqId, conId, symbol, ..., numRows, isSmartDepth, options
            req_id, con_id, sym, rows = int(f[2]), int(f[3] or 0), f[4], int(f[15])
            c = self.by_con_id.get(con_id) if con_id else self.contracts.get(sym)
            if c is None:
                out.append(self._error(req_id, 200, "No security definition has been found for the request"))
            elif c.symbol in self.refuse_depth:
                out.append(self._error(req_id, 309, "Max number (3) of market depth requests has been "
                                                    "reached"))
            else:
                sub = _Sub(req_id, c.symbol, rows, conn)
                conn.subs[req_id] = sub
                bids, asks = self.book.setdefault(c.symbol, ([], []))
                out += self._rows(sub, [(0, i, p, q) for i, (p, q) in enumerate(bids[:rows])], 1)
                out += self._rows(sub, [(0, i, p, q) for i, (p, q) in enumerate(asks[:rows])], 0)
        elif mid == 11:  # cancelMktDepth
            conn.subs.pop(int(f[2]), None)
        elif mid == 97:  # reqTickByTickData: 97, reqId, contract (12 fields), tickType, n, ignoreSize
            req_id, con_id, sym = int(f[1]), int(f[2] or 0), f[3]
            c = self.by_con_id.get(con_id) if con_id else self.contracts.get(sym)
            if c is None:
                out.append(self._error(req_id, 200, "No security definition has been found for the request"))
            else:
                conn.tbt[req_id] = c.symbol
        elif mid == 98:  # cancelTickByTickData
            conn.tbt.pop(int(f[1]), None)
        if out:
            await self._write(conn, b"".join(out))

    def _contract_details(self, req_id: int, c: FakeContract) -> bytes:
        # decoder.contractDetails, server version >= 164 (no version field, no mdSizeMultiplier)
        return frame(10, req_id, c.symbol, "STK", "", 0.0, "", c.exchange, c.currency, c.symbol, c.symbol,
                     c.symbol, c.con_id, c.min_tick, "", "LMT,MKT", f"{c.exchange},SMART", 1, 0,
                     c.long_name or c.symbol, c.exchange, "", "", "", "", "Australia/Sydney", "", "", "",
                     "", 0, 1, "", "", f"{c.market_rule},{c.market_rule}", "", "COMMON", 1, 1, 1)

    def _error(self, req_id: int, code: int, text: str) -> bytes:
        return frame(4, 2, req_id, code, text, "")

    def _rows(self, sub: _Sub, ops: Sequence[Op], side: int) -> list[bytes]:
        out = []
        for op, pos, p, q in ops:
            px = format_price(p) if op != 2 else format_price(p) if p > 0 else "0"
            if self.l2_rows:
                out.append(frame(13, 1, sub.req_id, pos, "", op, side, px, q, 0))
            else:
                out.append(frame(12, 1, sub.req_id, pos, op, side, px, q))
        self.rows_sent += len(out)
        return out

    async def _write(self, conn: _Conn, data: bytes) -> None:
        """Write ``data`` in pieces of random size, yielding between them so the reader sees them apart.
        One batch at a time per connection (a request's answer waits for a script batch and vice versa)."""
        async with conn.lock:
            await self._write_pieces(conn, data)

    async def _write_pieces(self, conn: _Conn, data: bytes) -> None:
        w = conn.writer
        if w.is_closing():
            return
        conn.bytes_out += len(data)
        i = 0
        n = len(data)
        rng = self.rng
        while i < n:
            k = rng.randint(1, self.max_write)
            w.write(data[i : i + k])
            self.writes += 1
            i += k
            if rng.random() < 0.3:
                try:
                    await w.drain()
                except ConnectionError:
                    return
                await asyncio.sleep(0)
        with contextlib.suppress(ConnectionError):
            await w.drain()

    # ------------------------------------------------------------------------------ the script
    def subs(self, symbol: str) -> list[_Sub]:
        return [s for c in self.conns for s in c.subs.values() if s.symbol == symbol]

    async def _send_ops(self, symbol: str, bid_ops: Sequence[Op], ask_ops: Sequence[Op],
                        extra: Sequence[bytes] = ()) -> None:
        for c in list(self.conns):
            out: list[bytes] = []
            for s in c.subs.values():
                if s.symbol == symbol:
                    out += self._rows(s, bid_ops, 1)
                    out += self._rows(s, ask_ops, 0)
            out += extra
            if out:
                self.frames_sent += len(out)
                await self._write(c, b"".join(out))

    async def set_book(self, symbol: str, bids: Sequence[tuple[int, int]], asks: Sequence[tuple[int, int]],
                       rows: int, style: int | None = None) -> int:
        """The book of ``symbol`` becomes ``bids``/``asks`` (levels best first): the row changes go to every
        subscription of it, in one batch. Returns the number of rows. ``style``: see :func:`encode_side`
        (None: random per side)."""
        b, a = self.book.setdefault(symbol, ([], []))
        sb = self.rng.randrange(3) if style is None else style
        sa = self.rng.randrange(3) if style is None else style
        bops = encode_side(b, bids, rows, sb)
        aops = encode_side(a, asks, rows, sa)
        await self._send_ops(symbol, bops, aops)
        return len(bops) + len(aops)

    async def random_rows(self, symbol: str, n: int, rows: int, base: int) -> int:
        """``n`` random valid row operations on ``symbol`` (bids below ``base``, asks from it), one batch."""
        b, a = self.book.setdefault(symbol, ([], []))
        bops: list[Op] = []
        aops: list[Op] = []
        for _ in range(n):
            if self.rng.random() < 0.5:
                bops.append(random_op(b, rows, self.rng, base, True))
            else:
                aops.append(random_op(a, rows, self.rng, base, False))
        await self._send_ops(symbol, bops, aops)
        return n

    async def send_raw_rows(self, symbol: str, rows: Sequence[tuple[int, int, int, str, str]]) -> None:
        """Rows exactly as given, ``(position, operation, side, price text, size text)``: for bad input."""
        for c in list(self.conns):
            out = [frame(12, 1, s.req_id, pos, op, side, px, sz)
                   for s in c.subs.values() if s.symbol == symbol for pos, op, side, px, sz in rows]
            if out:
                await self._write(c, b"".join(out))

    async def reset(self, symbol: str) -> None:
        """Error 317 (depth reset) to every subscription of ``symbol``, then its rows again as inserts."""
        for c in list(self.conns):
            out: list[bytes] = []
            for s in c.subs.values():
                if s.symbol == symbol:
                    out.append(self._error(s.req_id, 317, "Market depth data has been RESET. Please empty "
                                                          "deep book contents before applying any new "
                                                          "entries."))
                    bids, asks = self.book.get(symbol, ([], []))
                    out += self._rows(s, [(0, i, p, q) for i, (p, q) in enumerate(bids[: s.rows])], 1)
                    out += self._rows(s, [(0, i, p, q) for i, (p, q) in enumerate(asks[: s.rows])], 0)
            if out:
                await self._write(c, b"".join(out))

    async def error(self, code: int, text: str, symbol: str | None = None) -> None:
        """An error/notice: to each depth subscription of ``symbol``, or with reqId -1 when None."""
        for c in list(self.conns):
            if symbol is None:
                out = [self._error(-1, code, text)]
            else:
                out = [self._error(s.req_id, code, text) for s in c.subs.values() if s.symbol == symbol]
            if out:
                await self._write(c, b"".join(out))

    async def trade(self, symbol: str, price: int, size: int, t_s: int | None = None) -> None:
        """A tick-by-tick AllLast print (type 2) to every tick-by-tick subscription of ``symbol``."""
        t = int(time.time()) if t_s is None else t_s
        for c in list(self.conns):
            out = [frame(99, r, 2, t, format_price(price), size, 0, "ASX", "")
                   for r, s in c.tbt.items() if s == symbol]
            if out:
                await self._write(c, b"".join(out))

    def bytes_out(self) -> int:
        """Bytes written to the current connections (to wait until a client has read them all)."""
        return sum(c.bytes_out for c in self.conns)

    def drop_now(self) -> None:
        """Drop every client connection (abort: no orderly close)."""
        for c in list(self.conns):
            tr: Any = c.writer.transport
            tr.abort()
        self.conns.clear()

    def depth_requests(self, symbol: str | None = None) -> list[float]:
        """Arrival times of the depth requests (10) for ``symbol`` (all when None)."""
        out = []
        for t, mid, f in self.requests:
            if mid == 10:
                c = self.by_con_id.get(int(f[3] or 0)) or self.contracts.get(f[4])
                if symbol is None or (c is not None and c.symbol == symbol):
                    out.append(t)
        return out
