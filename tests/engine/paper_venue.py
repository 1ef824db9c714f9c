"""A small FIX venue for the engine tests: real acceptor sessions over loopback TCP in front of the real
matching engine (``hft.sim.matching``). Not a mock of the engine's own code: the engine under test talks
FIX to it exactly as it would to ``hft sim``, and the test can script the venue (reject everything,
skip a market data sequence number, publish a crossed book, drop the connection).

Order entry (35=D/F/G/H -> 35=8/35=9) and market data (35=V -> 35=W, then 35=X for every level change
and trade, one message per instrument with RptSeq 83 at message level) run on two acceptor ports in the
caller's asyncio loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hft.asx.ticks import format_price
from hft.fix.parser import FixMessage
from hft.fix.session import FixSession, SessionApplication, SessionConfig
from hft.fix.store import MemoryStore
from hft.fix.transport import AsyncAcceptor
from hft.model.types import OrdType, Side, TimeInForce
from hft.sim.matching import (
    CancelRejectEvent,
    ExecEvent,
    ExecType,
    LevelEvent,
    MatchingEngine,
    Phase,
    TradeEvent,
)

_ET_42 = {ExecType.NEW: b"0", ExecType.PARTIAL_FILL: b"1", ExecType.FILL: b"2", ExecType.CANCELED: b"4",
          ExecType.REPLACED: b"5", ExecType.REJECTED: b"8", ExecType.EXPIRED: b"C"}
_TIF = {b"0": TimeInForce.DAY, b"1": TimeInForce.GTC, b"3": TimeInForce.IOC, b"4": TimeInForce.FOK}


class _OrderApp(SessionApplication):
    def __init__(self, venue: MiniVenue) -> None:
        self.v = venue

    def on_app_message(self, session: FixSession, msg: FixMessage) -> None:
        self.v._on_order_msg(msg)


class _MdApp(SessionApplication):
    def __init__(self, venue: MiniVenue) -> None:
        self.v = venue

    def on_app_message(self, session: FixSession, msg: FixMessage) -> None:
        self.v._on_md_msg(msg)


class MiniVenue:
    """See module doc. ``instruments``: symbol -> reference price (price units)."""

    def __init__(self, instruments: dict[str, int], *, begin_string: str = "FIX.4.2",
                 order_ids: tuple[str, str] = ("ASXSIM", "HFT"),
                 md_ids: tuple[str, str] = ("ASXSIMMD", "HFTMD")) -> None:
        self.eng = MatchingEngine(instruments)
        for s in instruments:
            self.eng.set_phase(s, Phase.CONTINUOUS)
        self.client = order_ids[1]
        self.order_session = FixSession(SessionConfig(begin_string, order_ids[0], order_ids[1],
                                                      initiator=False), MemoryStore(), _OrderApp(self))
        self.md_session = FixSession(SessionConfig(begin_string, md_ids[0], md_ids[1], initiator=False,
                                                   validate_types=False), MemoryStore(), _MdApp(self))
        self.order_acc = AsyncAcceptor([self.order_session])
        self.md_acc = AsyncAcceptor([self.md_session])
        self.order_port = 0
        self.md_port = 0
        self.received: list[FixMessage] = []  # every application message on the order session
        self.subs: dict[str, str] = {}  # symbol -> MDReqID
        self.rpt_seq: dict[str, int] = dict.fromkeys(instruments, 0)
        self.md_requests = 0
        # scripting knobs
        self.reject_all = ""  # non-empty: reject every new order with this text (after accept_first)
        self.accept_first = 0
        self.accepted = 0
        self.hold_orders = False  # True: accept D silently (no ack) -- an order "in flight"
        self.status_answers = True
        self._bg = 0
        self._exec_ids: dict[str, int] = {}
        self.last_exec: dict[str, ExecEvent] = {}  # by ClOrdID (status answers for finished orders)

    async def start(self) -> None:
        self.order_port = await self.order_acc.start()
        self.md_port = await self.md_acc.start()

    async def stop(self) -> None:
        await self.order_acc.stop(0.5)
        await self.md_acc.stop(0.5)

    # ---------------------------------------------------------------------------------- scripting
    def add(self, instrument: str, side: Side, price: int, qty: int) -> list[Any]:
        """Another participant's limit order (session BG); publishes what it caused."""
        self._bg += 1
        ev = self.eng.submit("BG", f"OTHER{self._bg}", instrument, f"bg{self._bg}", side, qty, price)
        self._dispatch(ev)
        return ev

    def seed_book(self, instrument: str, mid: int, tick: int, levels: int = 5, qty: int = 1000) -> None:
        for i in range(1, levels + 1):
            self.add(instrument, Side.BUY, mid - i * tick, qty)
            self.add(instrument, Side.SELL, mid + i * tick, qty)

    def skip_rpt_seq(self, instrument: str, n: int = 1) -> None:
        """Simulate lost market data: the next message's RptSeq jumps by ``n``."""
        self.rpt_seq[instrument] += n

    def send_md_raw(self, msg_type: bytes, body: list[tuple[int, Any]]) -> None:
        self.md_session.send(msg_type, body)

    def drop_order_connection(self) -> None:
        self.order_session.disconnect("venue dropped the connection")

    def app_msgs(self, msg_type: bytes) -> list[FixMessage]:
        return [m for m in self.received if m.msg_type == msg_type]

    # ---------------------------------------------------------------------------------- order entry
    def _on_order_msg(self, msg: FixMessage) -> None:
        self.received.append(msg)
        mt = msg.msg_type
        cl = msg.get_str(11, "") or ""
        if mt == b"D":
            if self.hold_orders:
                return
            side = Side(int(msg.get(54) or b"1"))
            inst = msg.get_str(55, "") or ""
            qty = msg.get_int(38, 0) or 0
            px = msg.get_price(44, 0) or 0
            ot = OrdType.MARKET if msg.get(40) == b"1" else OrdType.LIMIT
            tif = _TIF.get(msg.get(59) or b"0", TimeInForce.DAY)
            if self.reject_all and self.accepted >= self.accept_first:
                self._send_reject(cl, inst, side, qty, px, self.reject_all)
                return
            self.accepted += 1
            self._dispatch(self.eng.submit(self.client, msg.get_str(1, "") or "", inst, cl, side, qty, px,
                                           ot, tif))
        elif mt == b"F":
            self._dispatch(self.eng.cancel(self.client, cl, msg.get_str(41, "") or ""))
        elif mt == b"G":
            self._dispatch(self.eng.replace(self.client, cl, msg.get_str(41, "") or "",
                                            msg.get_int(38, 0) or 0, msg.get_price(44, 0) or 0))
        elif mt == b"H" and self.status_answers:
            self._status(cl, msg)

    def _next_exec_id(self) -> str:
        n = self._exec_ids.get("x", 0) + 1
        self._exec_ids["x"] = n
        return f"V{n}"

    def _send_reject(self, cl: str, inst: str, side: Side, qty: int, px: int, text: str) -> None:
        self.order_session.send(b"8", [
            (37, "NONE"), (11, cl), (17, self._next_exec_id()), (20, b"0"), (150, b"8"), (39, b"8"),
            (55, inst), (54, int(side)), (38, qty), (44, format_price(px)), (32, 0), (31, b"0"), (14, 0),
            (151, 0), (6, b"0"), (58, text)])

    def _status(self, cl: str, msg: FixMessage) -> None:
        o = self.eng.find(self.client, cl)
        last = self.last_exec.get(cl)
        inst = msg.get_str(55, "") or ""
        side = int(msg.get(54) or b"1")
        if o is not None:
            body: list[tuple[int, Any]] = [
                (37, o.order_id), (11, cl), (17, self._next_exec_id()), (20, b"3"), (150, b"0"),
                (39, o.status.fix_char), (55, o.instrument), (54, int(o.side)), (38, o.order_qty),
                (44, format_price(o.price)), (14, o.cum_qty), (151, o.leaves_qty),
                (6, format_price(o.notional // o.cum_qty) if o.cum_qty else b"0")]
        elif last is not None:
            e = last
            body = [(37, e.order_id), (11, cl), (17, self._next_exec_id()), (20, b"3"), (150, b"0"),
                    (39, e.ord_status.fix_char), (55, e.instrument), (54, int(e.side)), (38, e.order_qty),
                    (44, format_price(e.price)), (14, e.cum_qty), (151, e.leaves_qty),
                    (6, format_price(e.avg_px_num // e.avg_px_den) if e.avg_px_den else b"0")]
        else:
            body = [(37, "NONE"), (11, cl), (17, self._next_exec_id()), (20, b"3"), (150, b"8"), (39, b"8"),
                    (55, inst), (54, side), (38, msg.get_int(38, 0) or 0), (14, 0), (151, 0), (6, b"0"),
                    (58, "unknown order")]
        self.order_session.send(b"8", body)

    def _exec_msg(self, e: ExecEvent) -> list[tuple[int, Any]]:
        body: list[tuple[int, Any]] = [(37, e.order_id), (11, e.cl_ord_id)]
        if e.orig_cl_ord_id:
            body.append((41, e.orig_cl_ord_id))
        body += [(17, f"E{e.exec_id}"), (20, b"0"), (150, _ET_42[e.exec_type]), (39, e.ord_status.fix_char),
                 (55, e.instrument), (54, int(e.side)), (38, e.order_qty), (44, format_price(e.price)),
                 (32, e.last_qty), (31, format_price(e.last_px) if e.last_qty else b"0"), (14, e.cum_qty),
                 (151, e.leaves_qty),
                 (6, format_price(e.avg_px_num // e.avg_px_den) if e.avg_px_den else b"0")]
        if e.text:
            body.append((58, e.text))
        return body

    def _dispatch(self, events: list[Any]) -> None:
        per_inst: dict[str, list[tuple[int, Any]]] = {}
        for e in events:
            if type(e) is ExecEvent:
                if e.session == self.client:
                    self.last_exec[e.cl_ord_id] = e
                    if self.order_session.is_active:
                        self.order_session.send(b"8", self._exec_msg(e))
            elif type(e) is CancelRejectEvent:
                if e.session == self.client and self.order_session.is_active:
                    body: list[tuple[int, Any]] = [
                        (37, e.order_id or "NONE"), (11, e.cl_ord_id), (41, e.orig_cl_ord_id),
                        (39, e.ord_status.fix_char if e.ord_status else b"8"),
                        (434, b"2" if e.is_replace else b"1"), (102, int(e.reason))]
                    if e.text:
                        body.append((58, e.text))
                    self.order_session.send(b"9", body)
            elif type(e) is LevelEvent:
                per_inst.setdefault(e.instrument, []).append(
                    (b"2" if e.qty == 0 else b"1", b"0" if e.side is Side.BUY else b"1", e.price, e.qty))
            elif type(e) is TradeEvent:
                per_inst.setdefault(e.instrument, []).append((b"0", b"2", e.price, e.qty))
        for inst, entries in per_inst.items():
            self._publish(inst, entries)

    # ---------------------------------------------------------------------------------- market data
    def _publish(self, inst: str, entries: list[tuple[bytes, bytes, int, int]]) -> None:
        if inst not in self.subs or not self.md_session.is_active:
            return
        self.rpt_seq[inst] += 1
        body: list[tuple[int, Any]] = [(83, self.rpt_seq[inst]), (268, len(entries))]
        for action, ty, px, qty in entries:
            body += [(279, action), (269, ty), (55, inst), (270, format_price(px)), (271, qty)]
        self.md_session.send(b"X", body)

    def _on_md_msg(self, msg: FixMessage) -> None:
        if msg.msg_type != b"V":
            return
        self.md_requests += 1
        req = msg.get_str(262, "") or ""
        sym = msg.get_str(55, "") or ""
        if msg.get(263) == b"2":
            self.subs.pop(sym, None)
            return
        if sym not in self.eng.books:
            self.md_session.send(b"Y", [(262, req), (281, b"0"), (58, f"unknown symbol {sym}")])
            return
        self.subs[sym] = req
        self.rpt_seq[sym] += 1
        bids, asks = self.eng.snapshot(sym, 10)
        body: list[tuple[int, Any]] = [(262, req), (55, sym), (83, self.rpt_seq[sym]),
                                       (268, len(bids) + len(asks))]
        for ty, lv in ((b"0", bids), (b"1", asks)):
            for px, qty, _n in lv:
                body += [(269, ty), (270, format_price(px)), (271, qty)]
        self.md_session.send(b"W", body)


async def wait_until(pred: Any, timeout: float = 5.0, step: float = 0.01) -> bool:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        if loop.time() >= end:
            return False
        await asyncio.sleep(step)
    return True
