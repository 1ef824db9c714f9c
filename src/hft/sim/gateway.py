"""Order-entry side of the simulator: FIX 4.2/4.4 acceptor application shaped like a broker's CTCI.

One :class:`OrderEntryApp` (a :class:`~hft.fix.session.SessionApplication`) per client session, all
sharing one :class:`OrderGateway` that owns the routing to the :class:`~hft.sim.matching.MatchingEngine`:

- 35=D NewOrderSingle: the configured required tags (default 1, 11, 21, 38, 40, 44 for limits, 54, 55,
  59, 60, 100=ASX, 15=AUD, 167=CS) are checked first; a missing or invalid one is answered with an
  ExecutionReport 150=8/39=8, 103 OrdRejReason and a Text naming the tag. Valid orders go to
  ``engine.submit`` (the engine's own rejects, e.g. off-tick price or unknown symbol, come back the same
  way).
- 35=F cancel, 35=G cancel/replace -> ``engine.cancel`` / ``engine.replace``; unknown or done orders get an
  OrderCancelReject 35=9 (102 reason, 434 response-to, Text).
- 35=H order status -> an ExecutionReport with the order's current state (FIX 4.4: 150=I; FIX 4.2:
  20=3 and 150 = the status), also for orders that are already done; unknown orders: 39=8 + Text.
- Every engine ExecEvent is routed to the session that owns the order (the engine session name is the
  client's SenderCompID; background flow orders use session ``BG`` and are routed nowhere) as an
  ExecutionReport with ExecID, LastPx/LastQty, CumQty/LeavesQty and the exact AvgPx; fills carry
  851 LastLiquidityInd (1 added, 2 removed, 4 auction).
- A session that is logged out when its ExecutionReports happen gets them written to its store with
  their sequence numbers, so the client receives them by ResendRequest when it logs on again (unless it
  resets the sequence numbers).
- Cancel-on-disconnect (per session option): when a logged-on session drops, its live orders are
  cancelled.
- Wire-to-wire: a 35=D carrying tag 6001 SimTickId records ``arrival - send`` in nanoseconds
  (``time.monotonic_ns`` when the bytes were read, minus the market data publisher's stamp of that tick).
- Optional one-way latency (fixed + jitter) on messages in and on ExecutionReports out, FIFO per session.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from hft.asx.ticks import PRICE_SCALE, format_price, parse_price
from hft.fix import dictionary as fixdict
from hft.fix.parser import FixMessage, FixValueError, byte_sum
from hft.fix.session import FixSession, SessionApplication, SessionState
from hft.model.types import OrdStatus, OrdType, Side, TimeInForce
from hft.ratelog import RateLimitedLog
from hft.sim.config import LatencySampler, OrderEntryConfig
from hft.sim.latency import DelayLine
from hft.sim.matching import (
    CancelRejectEvent,
    CxlRejReason,
    Event,
    ExecEvent,
    ExecType,
    MatchingEngine,
    RejReason,
    TradeEvent,
    exec_event,
)

log = logging.getLogger("hft.sim.gateway")
# per connection and per message lines: at most 5 per 10 s per kind, then a count of the suppressed ones
rlog = RateLimitedLog(log, burst=5, interval_s=10.0)

Body = list[tuple[int, bytes | str | int]]
BACKGROUND_SESSIONS = frozenset({"BG", "RP"})  # hft.sim.flow / hft.sim.replay orders: routed nowhere

_SIDES = {b"1": Side.BUY, b"2": Side.SELL}
_ORD_TYPES = {b"1": OrdType.MARKET, b"2": OrdType.LIMIT}
_TIFS = {b"0": TimeInForce.DAY, b"1": TimeInForce.GTC, b"3": TimeInForce.IOC, b"4": TimeInForce.FOK}
_EXEC_TYPE_42 = {ExecType.NEW: b"0", ExecType.PARTIAL_FILL: b"1", ExecType.FILL: b"2",
                 ExecType.CANCELED: b"4", ExecType.REPLACED: b"5", ExecType.REJECTED: b"8",
                 ExecType.EXPIRED: b"C"}
_EXEC_TYPE_44 = {**_EXEC_TYPE_42, ExecType.PARTIAL_FILL: b"F", ExecType.FILL: b"F"}
_STATUS = {s: s.fix_char.encode() for s in OrdStatus}
_SIDE_B = {Side.BUY: b"1", Side.SELL: b"2"}
_ORD_TYPE_B = {OrdType.MARKET: b"1", OrdType.LIMIT: b"2"}
_TIF_B = {TimeInForce.DAY: b"0", TimeInForce.GTC: b"1", TimeInForce.IOC: b"3", TimeInForce.FOK: b"4"}


_PX_CACHE: dict[int, bytes] = {}


def price_bytes(price: int) -> bytes:
    """``format_price(price)`` as bytes, memoised (a book trades at a few hundred distinct prices)."""
    b = _PX_CACHE.get(price)
    if b is None:
        if len(_PX_CACHE) >= 65_536:
            _PX_CACHE.clear()
        b = _PX_CACHE[price] = format_price(price).encode()
    return b


def avg_px_field(num: int, den: int) -> bytes:
    """Exact AvgPx ``num / den`` price units as a FIX decimal; rounded half up to 8 decimals when the
    quotient does not terminate within 4 (``PRICE_SCALE`` = 4 decimals)."""
    if den <= 0:
        return b"0"
    if num % den == 0:
        return price_bytes(num // den)
    scaled = (num * PRICE_SCALE * 2 + den) // (2 * den)  # in 1e-8 dollars
    whole, frac = divmod(scaled, PRICE_SCALE * PRICE_SCALE)
    return (b"%d.%08d" % (whole, frac)).rstrip(b"0").rstrip(b".")


_FIELD_RE = re.compile(rb"\x01(\d+)=([^\x01]*)")  # every field after BeginString, in wire order


def _field_map(raw: bytes) -> dict[bytes, bytes]:
    """Tag (ASCII digits) -> value of every field of a frame, in two C calls instead of a search per tag.
    A repeated tag keeps its first value, as ``FixMessage.get`` does."""
    toks = raw.replace(b"=", b"\x01").split(b"\x01")
    if len(toks) == 2 * raw.count(b"\x01") + 1:  # no '=' inside a value: tags and values alternate
        f = dict(zip(toks[0:-1:2], toks[1::2], strict=False))
        if len(f) == len(toks) // 2:
            return f
    f = {}
    for t, v in _FIELD_RE.findall(raw):
        f.setdefault(t, v)
    return f


_ID_TAGS = ((b"11", 11), (b"1", 1), (b"55", 55))  # ClOrdID, Account (may be empty), Symbol
# identifiers whose length is capped (order_entry.max_id_len): the simulator keeps and echoes them
_CAPPED_ID_TAGS = ((11, b"11"), (41, b"41"), (1, b"1"), (55, b"55"))
MAX_REMEMBERED_ORDERS = 200_000  # client orders whose last state a 35=H can still be answered with
# bytes one remembered order costs besides its strings (ExecEvent, dict entries; measured, rounded up) and
# one (session, ClOrdID) alias of it
_EVENT_COST = 640
_ALIAS_COST = 200


def _tag_getter(msg: FixMessage) -> Callable[[bytes], bytes | None]:
    return lambda key: msg.get(int(key))


def _event_cost(e: ExecEvent) -> int:
    """Estimated bytes a remembered ExecEvent holds (the strings that are its own, not shared)."""
    return _EVENT_COST + len(e.cl_ord_id) + len(e.orig_cl_ord_id) + len(e.text) + len(e.account)


def _no_ts(ns: int) -> bytes:
    raise RuntimeError("ExecutionReport fast path used before the session was attached")


def _tag_name(tag: int) -> str:
    f = fixdict.FIELDS.get(tag)
    return f"{tag} ({f[0]})" if f else str(tag)


class _Rejected(Exception):
    """Validation failure of an incoming order (cold path: turned into a rejected ExecutionReport)."""

    def __init__(self, text: str, reason: int = int(RejReason.OTHER)) -> None:
        super().__init__(text)
        self.text = text
        self.reason = reason


class OrderEntryApp(SessionApplication):
    """The application of one client's order-entry session."""

    def __init__(self, gateway: OrderGateway, name: str, cancel_on_disconnect: bool) -> None:
        self.gateway = gateway
        self.name = name  # the client's SenderCompID = the engine session name
        self.cancel_on_disconnect = cancel_on_disconnect
        self.session: FixSession | None = None
        self.arrival_ns = 0  # time.monotonic_ns() when the bytes being processed were read
        self.ever_logged_on = False
        self.delay_in: DelayLine | None = None  # injected latency (FIFO per direction)
        self.delay_out: DelayLine | None = None
        # ExecutionReport fast path (see :meth:`OrderGateway._er_tail`): the constant frame parts of this
        # session, and the body of the report being sent (read by :meth:`build_er` inside send_built)
        self.v44 = False
        self.fast_er = False
        self._begin = b""
        self._head = b""
        self._fmt_ts: Callable[[int], bytes] = _no_ts
        self._er_tail = b""

    def build_er(self, seq: int, now_ns: int) -> bytes:
        """The complete ExecutionReport frame around ``_er_tail`` (``FixSession.send_built`` callback):
        the same bytes as ``session.encoder.encode(b"8", body, seq, now_ns)``."""
        tail = self._er_tail
        head = b"%s%d\x0152=%s" % (self._head, seq, self._fmt_ts(now_ns))
        msg = b"%s%d\x01%s%s" % (self._begin, len(head) + len(tail), head, tail)
        return b"%s10=%03d\x01" % (msg, byte_sum(msg) & 0xFF)

    def attach(self, session: FixSession) -> None:
        """Hook the session: stamp the read time of incoming bytes, and coalesce the answers to one read
        into one socket write (a read carrying 50 orders costs one ``send`` instead of 50+; a single
        order is written as soon as it has been handled, so its latency does not change)."""
        self.session = session
        session.app = self
        enc = session.encoder
        self.v44 = session.config.begin_string >= "FIX.4.4"
        # the fast path writes the header itself: only for the plain header the simulator's sessions use
        self.fast_er = not enc.extra_header and all(
            v.isascii() and v and "\x01" not in v and "=" not in v
            for v in (enc.begin_string, enc.sender_comp_id, enc.target_comp_id))
        if self.fast_er:
            self._begin = b"8=%s\x019=" % enc.begin_string.encode()
            self._head = b"35=8\x0149=%s\x0156=%s\x0134=" % (enc.sender_comp_id.encode(),
                                                               enc.target_comp_id.encode())
            self._fmt_ts = enc.format_timestamp
        out: list[bytes] = []
        batching = False
        write: Callable[[bytes], None] | None = None

        def send(data: bytes) -> None:
            if batching:
                out.append(data)
            elif write is not None:
                write(data)

        def flush() -> None:
            if out and write is not None:
                data = out[0] if len(out) == 1 else b"".join(out)
                out.clear()
                write(data)

        gateway = self.gateway

        counters = self.gateway.counters

        def before_read() -> None:  # the session's on_read hook: first thing on every read
            nonlocal batching
            self.arrival_ns = time.monotonic_ns()
            counters["reads"] += 1
            batching = True
            begin = gateway.on_read_begin
            if begin is not None:
                begin()

        def after_read() -> None:  # the session's after_read hook: on_data returned or raised
            nonlocal batching
            batching = False
            # the read's market data first, then the client's reports (the order they went out in
            # when each 35=X was written as soon as it was made and only the reports were coalesced)
            end = gateway.on_read_end
            try:
                if end is not None:
                    end()
            finally:
                flush()

        def transport_filter(send_bytes: Callable[[bytes], None], close: Callable[[str], None]
                             ) -> tuple[Callable[[bytes], None], Callable[[str], None]]:
            nonlocal write
            write = send_bytes
            out.clear()

            def close_after_flush(reason: str) -> None:
                flush()
                close(reason)

            return send, close_after_flush

        session.on_read = before_read
        session.after_read = after_read
        session.transport_filter = transport_filter

    # -- SessionApplication ------------------------------------------------------------------------
    def on_logon(self, session: FixSession) -> None:
        self.ever_logged_on = True
        self.gateway.counters["logons"] += 1
        rlog.info("logon:" + self.name, "order session %s logged on (next seq out %d, in %d)", self.name,
                  session.next_sender_seq, session.next_target_seq)

    def on_logout(self, session: FixSession, reason: str) -> None:
        rlog.info("logout:" + self.name, "order session %s logged out: %s", self.name, reason)
        if self.cancel_on_disconnect:
            self.gateway.cancel_all(self.name)

    def on_session_reject(self, session: FixSession, msg: FixMessage) -> None:
        rlog.warning("reject:" + self.name, "order session %s: client rejected our seq %s: %s", self.name,
                     msg.get_str(45, "?"), msg.get_str(58, ""))

    def on_app_message(self, session: FixSession, msg: FixMessage) -> None:
        line = self.delay_in
        if line is not None:
            line.put(self._delayed, session, session.counters.disconnects, msg, self.arrival_ns)
            return
        self.gateway.handle(self, msg, self.arrival_ns)

    def _delayed(self, session: FixSession, disconnects: int, msg: FixMessage, arrival_ns: int) -> None:
        """A message whose injected latency has elapsed; dropped if its connection has gone meanwhile
        (cancel-on-disconnect has already run: it must not leave an order behind)."""
        if session.counters.disconnects != disconnects or not session.is_active:
            self.gateway.counters["dropped_in_flight"] += 1
            return
        try:
            self.gateway.handle(self, msg, arrival_ns)
        except FixValueError as e:  # outside the session's dispatch: answer it here
            session.send(b"j", [(45, msg.get(34) or b"0"), (372, msg.msg_type or b"?"), (380, 0),
                                (58, f"malformed field: {e}")])


class OrderGateway:
    """Routes order-entry messages of every client session to the matching engine and back."""

    def __init__(
        self,
        engine: MatchingEngine,
        config: OrderEntryConfig | None = None,
        *,
        on_events: Callable[[Sequence[Event]], None] | None = None,
        tick_send_ns: Callable[[int], int] | None = None,
        on_wire_to_wire: Callable[[int], None] | None = None,
        latency_in: LatencySampler | None = None,
        latency_out: LatencySampler | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        clock: Callable[[], int] = time.time_ns,
        on_read_begin: Callable[[], None] | None = None,
        on_read_end: Callable[[], None] | None = None,
    ) -> None:
        """``on_read_begin`` / ``on_read_end``: called around the handling of each socket read of a client
        (the server holds and releases the market data writes there, see MarketDataPublisher.hold)."""
        self.engine = engine
        self.on_read_begin = on_read_begin
        self.on_read_end = on_read_end
        self.config = config or OrderEntryConfig()
        self.on_events = on_events  # every engine event list (the server publishes market data)
        self.tick_send_ns = tick_send_ns
        self.on_wire_to_wire = on_wire_to_wire
        self.latency_in = latency_in if latency_in is not None and latency_in.enabled else None
        self.latency_out = latency_out if latency_out is not None and latency_out.enabled else None
        self.loop = loop
        self.clock = clock
        self.apps: dict[str, OrderEntryApp] = {}
        cfg = self.config
        self._required = tuple(cfg.required_tags)
        self._required_keys = tuple((tag, b"%d" % tag) for tag in self._required)
        self._ex_dest = cfg.ex_destination.encode()
        self._currency = cfg.currency.encode()
        self._sec_type = cfg.security_type.encode()
        self._static = ((b"100", 100, self._ex_dest), (b"15", 15, self._currency),
                        (b"167", 167, self._sec_type))
        self._reject_n = 0
        # latest ExecEvent per order id and the order id of every (session, ClOrdID) seen (35=H answers)
        self._latest: dict[int, ExecEvent] = {}
        self._by_cl: dict[tuple[str, str], int] = {}
        self.max_remembered = MAX_REMEMBERED_ORDERS
        # the same memory in bytes (estimated: _EVENT_COST / _ALIAS_COST plus the strings kept)
        self.max_remembered_bytes = cfg.remembered_orders_kb * 1024
        self.remembered_bytes = 0
        self._max_id_len = cfg.max_id_len
        self.counters: dict[str, int] = {
            "logons": 0, "new": 0, "cancel": 0, "replace": 0, "status": 0, "rejected_gateway": 0,
            "exec_reports": 0, "cancel_rejects": 0, "fills": 0, "stored_offline": 0, "dropped": 0,
            "internal_errors": 0, "wire_to_wire": 0, "cancel_on_disconnect": 0,
            "dropped_in_flight": 0, "reads": 0, "id_too_long": 0, "forgotten": 0}

    def add_session(self, session: FixSession, name: str, cancel_on_disconnect: bool) -> OrderEntryApp:
        app = OrderEntryApp(self, name, cancel_on_disconnect)
        app.attach(session)
        if self.loop is not None:
            if self.latency_in is not None:
                app.delay_in = DelayLine(self.loop, self.latency_in)
            if self.latency_out is not None:
                app.delay_out = DelayLine(self.loop, self.latency_out)
        self.apps[name] = app
        return app

    # -- incoming --------------------------------------------------------------------------------
    def handle(self, app: OrderEntryApp, msg: FixMessage, arrival_ns: int) -> None:
        """One application message from ``app``'s client (after any injected latency)."""
        mt = msg.msg_type
        try:
            if mt != b"D" and self._id_too_long(app, msg, _tag_getter(msg)):
                return
            if mt == b"D":
                self.counters["new"] += 1
                self._new_order(app, msg, arrival_ns)
            elif mt == b"F":
                self.counters["cancel"] += 1
                self._cancel(app, msg)
            elif mt == b"G":
                self.counters["replace"] += 1
                self._replace(app, msg)
            elif mt == b"H":
                self.counters["status"] += 1
                self._status(app, msg)
        except FixValueError:
            raise  # the session answers with a Reject 373=6 naming the tag
        except Exception as e:  # never let a client message take the server down
            self.counters["internal_errors"] += 1
            rlog.exception("internal:" + app.name, "order session %s: internal error on %r", app.name, msg)
            s = app.session
            if s is not None and s.is_active:
                s.send(b"j", [(45, msg.get(34) or b"0"), (372, mt or b"?"), (380, 0),
                              (58, f"internal error: {type(e).__name__}")])

    def _id_too_long(self, app: OrderEntryApp, msg: FixMessage, get: Callable[[bytes], bytes | None]) -> bool:
        """An identifier (ClOrdID, OrigClOrdID, Account, Symbol) longer than ``order_entry.max_id_len``:
        answered with a BusinessMessageReject (35=j, 380=0 Other) naming the tag, its length and the limit,
        without echoing the value (nothing of it is kept); True when rejected. ``get``: tag bytes -> value."""
        limit = self._max_id_len
        for tag, key in _CAPPED_ID_TAGS:
            v = get(key)
            if v is not None and len(v) > limit:
                n = len(v)
                self.counters["id_too_long"] += 1
                rlog.warning("id_too_long:" + app.name,
                             "order session %s: %s of %d bytes rejected (limit %d)", app.name,
                             _tag_name(tag), n, limit)
                s = app.session
                if s is not None and s.is_active:
                    self._send(app, b"j", [(45, msg.get(34) or b"0"), (372, msg.msg_type or b"?"), (380, 0),
                                           (58, f"{_tag_name(tag)} is {n} bytes, longer than the limit of "
                                                f"{limit} (order_entry.max_id_len)")])
                return True
        return False

    def _new_order(self, app: OrderEntryApp, msg: FixMessage, arrival_ns: int) -> None:
        f = _field_map(msg.raw)
        get = f.get
        cl_raw = get(b"11")
        account = get(b"1")
        symbol = get(b"55")
        lim = self._max_id_len
        if (cl_raw is not None and len(cl_raw) > lim) or (account is not None and len(account) > lim) or (
                symbol is not None and len(symbol) > lim):
            self._id_too_long(app, msg, get)
            return
        if self.on_wire_to_wire is not None and self.tick_send_ns is not None:
            tick = get(b"6001")
            if tick is not None and tick.isdigit():
                sent = self.tick_send_ns(int(tick))
                if sent:
                    self.counters["wire_to_wire"] += 1
                    self.on_wire_to_wire(arrival_ns - sent)
        cl = cl_raw.decode("latin-1") if cl_raw is not None else ""  # = get_str: ASCII, else latin-1
        try:
            ord_type = _ORD_TYPES.get(get(b"40") or b"")
            for tag, key in self._required_keys:
                if key not in f:
                    if tag == 44 and ord_type is not OrdType.LIMIT:
                        continue
                    raise _Rejected(f"missing required tag {_tag_name(tag)}")
            for key, tag in _ID_TAGS:  # identifiers echoed on every report: FIX text, i.e. ASCII
                v = get(key)
                if v is not None and ((not v and tag != 1) or not v.isascii()):
                    raise _Rejected(f"{_tag_name(tag)} must be non-empty ASCII text, got {v[:24]!r}")
            if ord_type is None:
                raise _Rejected(f"unsupported OrdType (40) {msg.get_str(40, '')!a}: 1 market or 2 limit",
                                int(RejReason.UNSUPPORTED))
            side = _SIDES.get(get(b"54") or b"")
            if side is None:
                raise _Rejected(f"unsupported Side (54) {msg.get_str(54, '')!a}: 1 buy or 2 sell")
            tif_raw = get(b"59")
            tif = TimeInForce.DAY if tif_raw is None else _TIFS.get(tif_raw)
            if tif is None:
                raise _Rejected(f"unsupported TimeInForce (59) {tif_raw!r}: 0 day, 1 GTC, 3 IOC, 4 FOK",
                                int(RejReason.UNSUPPORTED))
            qty_raw = get(b"38")
            if qty_raw is None:
                raise _Rejected(f"missing required tag {_tag_name(38)}")
            if not qty_raw.isdigit() or int(qty_raw) <= 0:
                raise _Rejected(f"OrderQty (38) must be a positive whole number, got {qty_raw[:20]!r}",
                                int(RejReason.INCORRECT_QUANTITY))
            qty = int(qty_raw)
            price = 0
            if ord_type is OrdType.LIMIT:
                px_raw = get(b"44")
                if px_raw is None:
                    raise _Rejected("missing required tag 44 (Price) for a limit order")
                price = self._price(px_raw)
            for key, tag, want in self._static:
                v = get(key)
                if want and v is not None and v != want:
                    got = v[:20].decode("ascii", "replace")
                    raise _Rejected(f"{_tag_name(tag)} must be {want.decode()}, got {got}")
        except _Rejected as r:
            self._reject_order(app, msg, r.text, r.reason)
            return
        events = self.engine.submit(app.name, account.decode("latin-1") if account else "",
                                    symbol.decode("latin-1") if symbol else "", cl, side, qty, price,
                                    ord_type, tif)
        self.dispatch(events)

    @staticmethod
    def _price(raw: bytes) -> int:
        try:
            p = parse_price(raw)
        except ValueError:
            raise _Rejected(f"Price (44) {raw[:24]!r} is not a decimal with at most 4 places") from None
        if p <= 0:
            raise _Rejected(f"Price (44) must be positive, got {raw[:24]!r}")
        return p

    def _bad_ids(self, app: OrderEntryApp, msg: FixMessage, is_replace: bool) -> bool:
        """A cancel / replace whose ClOrdID (11) or OrigClOrdID (41) is empty or not ASCII cannot be
        echoed on an ExecutionReport: answered with a 35=9 carrying the raw values, nothing changed."""
        raw11 = msg.get(11)
        raw41 = msg.get(41)
        for tag, v in ((11, raw11), (41, raw41)):
            if v is not None and (not v or not v.isascii()):
                s = app.session
                if s is None:
                    return True
                self.counters["cancel_rejects"] += 1
                self._send(app, b"9", [(37, b"NONE"), (11, raw11 or b"?"), (41, raw41 or b"?"), (39, b"8"),
                                       (434, b"2" if is_replace else b"1"), (102, 99),
                                       (58, f"{_tag_name(tag)} must be non-empty ASCII text, got {v[:24]!r}"),
                                       (60, s.encoder.format_timestamp(self.clock()))])
                return True
        return False

    def _cancel(self, app: OrderEntryApp, msg: FixMessage) -> None:
        if self._bad_ids(app, msg, False):
            return
        cl = msg.get_str(11, "") or ""
        orig = msg.get_str(41, "") or ""
        self.dispatch(self.engine.cancel(app.name, cl, orig))

    def _replace(self, app: OrderEntryApp, msg: FixMessage) -> None:
        if self._bad_ids(app, msg, True):
            return
        cl = msg.get_str(11, "") or ""
        orig = msg.get_str(41, "") or ""
        o = self.engine.find(app.name, orig)
        text = ""
        qty = price = 0
        if o is not None:
            qty_raw = msg.get(38)
            sym = msg.get_str(55, "") or ""
            side = _SIDES.get(msg.get(54) or b"")
            if qty_raw is None or not qty_raw.isdigit() or int(qty_raw) <= 0:
                text = "OrderQty (38) must be a positive whole number"
            elif sym != o.instrument or side is not o.side:
                text = "Symbol (55) and Side (54) cannot be changed by a replace"
            else:
                qty = int(qty_raw)
                px_raw = msg.get(44)
                if px_raw is None:
                    price = o.price
                else:
                    try:
                        price = self._price(px_raw)
                    except _Rejected as r:
                        text = r.text
            if text:
                ev = CancelRejectEvent(app.name, cl, orig, o.order_id, CxlRejReason.OTHER, text, True,
                                       o.status)
                self.dispatch([ev])
                return
        self.dispatch(self.engine.replace(app.name, cl, orig, qty, price))

    def _status(self, app: OrderEntryApp, msg: FixMessage) -> None:
        cl = msg.get_str(11, "") or ""
        oid = self._by_cl.get((app.name, cl))
        if oid is None:
            raw37 = msg.get(37)
            if raw37 is not None and raw37.isdigit():
                cand = self._latest.get(int(raw37))
                if cand is not None and cand.session == app.name:
                    oid = cand.order_id
        e = self._latest.get(oid) if oid is not None else None
        if e is None:
            live = self.engine.find(app.name, cl)
            if live is not None:  # live but no longer remembered here: its state straight from the book
                e = exec_event(live, 0, ExecType.NEW)
        s = app.session
        if s is None or not s.is_active:
            return
        v44 = s.config.begin_string >= "FIX.4.4"
        self._reject_n += 1
        if e is None:
            body: Body = [(37, b"NONE"), (11, msg.get(11) or b"?"), (17, b"S%d" % self._reject_n)]
            if not v44:
                body.append((20, b"3"))
            body += [(150, b"I" if v44 else b"8"), (39, b"8"), (55, msg.get(55) or b"?"),
                     (54, msg.get(54) or b"1"), (151, 0), (14, 0), (6, b"0"), (58, f"unknown order {cl!a}")]
            self._send(app, b"8", body)
            return
        body = self._exec_body(e, v44, status=True, exec_id=b"S%d" % self._reject_n)
        self._send(app, b"8", body)

    def _forget_oldest(self) -> None:
        """Bound the memory of done orders (35=H answers), in count and in bytes: drop the least recently
        active orders (and their ClOrdID aliases) until both are at 90 % of their limits."""
        latest = self._latest
        by_cl = self._by_cl
        aliases: dict[int, int] = {}  # order id -> bytes of its (session, ClOrdID) aliases
        for (_s, cl), oid in by_cl.items():
            aliases[oid] = aliases.get(oid, 0) + _ALIAS_COST + len(cl)
        mem = self.remembered_bytes
        keep_n = self.max_remembered * 9 // 10
        keep_b = self.max_remembered_bytes * 9 // 10
        dropped = 0
        while latest and (len(latest) > keep_n or mem > keep_b):
            oid = next(iter(latest))
            mem -= _event_cost(latest.pop(oid)) + aliases.get(oid, 0)
            dropped += 1
        self._by_cl = {k: v for k, v in by_cl.items() if v in latest}
        self.remembered_bytes = sum(_event_cost(e) for e in latest.values()) + sum(
            _ALIAS_COST + len(cl) for (_s, cl) in self._by_cl)
        self.counters["forgotten"] += dropped

    # -- rejects -----------------------------------------------------------------------------------
    def _reject_order(self, app: OrderEntryApp, msg: FixMessage, text: str, reason: int) -> None:
        self.counters["rejected_gateway"] += 1
        s = app.session
        if s is None:
            return
        v44 = s.config.begin_string >= "FIX.4.4"
        self._reject_n += 1
        body: Body = [(37, b"NONE"), (11, msg.get(11) or b"?"), (17, b"R%d" % self._reject_n)]
        if not v44:
            body.append((20, b"0"))
        body += [(150, b"8"), (39, b"8")]
        for tag in (1, 55, 54, 38, 40, 44, 59):
            v = msg.get(tag)
            if v:
                body.append((tag, v))
        if msg.get(55) is None:
            body.append((55, b"?"))
        if msg.get(54) is None:
            body.append((54, b"1"))
        body += [(151, 0), (14, 0), (6, b"0"), (103, reason), (58, text),
                 (60, s.encoder.format_timestamp(self.clock()))]
        self._send(app, b"8", body)

    # -- outgoing ----------------------------------------------------------------------------------
    def cancel_all(self, name: str) -> int:
        """Cancel every live order of engine session ``name`` (cancel-on-disconnect)."""
        live = [o for o in self.engine.orders.values() if o.session == name]
        events: list[Event] = []
        for o in live:
            events.extend(self.engine.cancel(name, o.cl_ord_id, o.cl_ord_id))
        if live:
            self.counters["cancel_on_disconnect"] += len(live)
            log.info("cancel-on-disconnect: cancelled %d orders of %s", len(live), name)
            self.dispatch(events)
        return len(live)

    def dispatch(self, events: Sequence[Event]) -> None:
        """Route ExecEvents / CancelRejectEvents to their sessions, then hand all events on (market
        data). Background orders (sessions ``BG`` flow, ``RP`` replay) are routed nowhere."""
        apps = self.apps
        aggressor: Side | None = None
        # one type() per event, then `is` tests (cheaper than an isinstance chain); mypy does not narrow
        # through `t`, so the loop variable is dynamic
        e: Any
        for e in events:
            t = type(e)
            if t is TradeEvent:
                aggressor = e.aggressor
                continue
            if t is ExecEvent:
                if e.session in BACKGROUND_SESSIONS:
                    continue
                latest = self._latest
                old = latest.pop(e.order_id, None)  # most recently active last
                latest[e.order_id] = e
                cl = e.cl_ord_id
                # bytes kept: the _event_cost of the new state minus the old one's, plus a new alias
                mem = self.remembered_bytes + len(cl) + len(e.orig_cl_ord_id) + len(e.text) + len(e.account)
                if old is not None:
                    mem -= len(old.cl_ord_id) + len(old.orig_cl_ord_id) + len(old.text) + len(old.account)
                else:
                    mem += _EVENT_COST
                by_cl = self._by_cl
                n = len(by_cl)
                by_cl[(e.session, cl)] = e.order_id
                if len(by_cl) != n:
                    mem += _ALIAS_COST + len(cl)
                self.remembered_bytes = mem
                if len(latest) > self.max_remembered or mem > self.max_remembered_bytes:
                    self._forget_oldest()
                app = apps.get(e.session)
                if app is None:
                    self.counters["dropped"] += 1
                    continue
                s = app.session
                if s is None:
                    continue
                if app.fast_er and app.delay_out is None and s.state == SessionState.ACTIVE:
                    tail = self._er_tail(app, e, aggressor)
                    if tail is not None:  # the common case: encoded in one go, no field tuples
                        if e.last_qty:
                            self.counters["fills"] += 1
                        self.counters["exec_reports"] += 1
                        app._er_tail = tail
                        s.send_built(app.build_er)
                        continue
                v44 = s.config.begin_string >= "FIX.4.4"
                body = self._exec_body(e, v44)
                if e.last_qty:
                    self.counters["fills"] += 1
                    body.append((851, b"4" if aggressor is None else (b"2" if e.side is aggressor else b"1")))
                self.counters["exec_reports"] += 1
                self._send(app, b"8", body)
            elif t is CancelRejectEvent:
                app = apps.get(e.session)
                if app is None or app.session is None:
                    continue
                self.counters["cancel_rejects"] += 1
                st = e.ord_status
                body = [(37, e.order_id if e.order_id else b"NONE"), (11, e.cl_ord_id or b"?"),
                        (41, e.orig_cl_ord_id or b"?"), (39, _STATUS[st] if st is not None else b"8"),
                        (434, b"2" if e.is_replace else b"1"), (102, int(e.reason))]
                if e.text:
                    body.append((58, e.text))
                body.append((60, app.session.encoder.format_timestamp(self.clock())))
                self._send(app, b"9", body)
        cb = self.on_events
        if cb is not None:
            cb(events)

    def _exec_body(self, e: ExecEvent, v44: bool, status: bool = False, exec_id: bytes = b"") -> Body:
        body: Body = [(37, e.order_id), (11, e.cl_ord_id)]
        if e.orig_cl_ord_id:
            body.append((41, e.orig_cl_ord_id))
        body.append((17, exec_id or e.exec_id))
        st = _STATUS[e.ord_status]
        if status:
            if v44:
                body.append((150, b"I"))
            else:
                body += [(20, b"3"), (150, st)]
        else:
            if not v44:
                body.append((20, b"0"))
            body.append((150, (_EXEC_TYPE_44 if v44 else _EXEC_TYPE_42)[e.exec_type]))
        body.append((39, st))
        if e.account:
            body.append((1, e.account))
        body += [(55, e.instrument), (54, _SIDE_B[e.side]), (38, e.order_qty), (40, _ORD_TYPE_B[e.ord_type])]
        if e.price:
            body.append((44, format_price(e.price)))
        body.append((59, _TIF_B[e.tif]))
        if e.last_qty and not status:
            body += [(32, e.last_qty), (31, format_price(e.last_px))]
        body += [(14, e.cum_qty), (151, e.leaves_qty), (6, avg_px_field(e.avg_px_num, e.avg_px_den))]
        if e.rej_reason >= 0:
            body.append((103, e.rej_reason))
        if e.text:
            body.append((58, e.text))
        body.append((60, self._ts(e)))
        return body

    def _er_tail(self, app: OrderEntryApp, e: ExecEvent, aggressor: Side | None) -> bytes | None:
        """The body of ``e``'s ExecutionReport (from 37 to the trailing SOH) as one format: the same
        fields and bytes as :meth:`_exec_body` (+ 851) through the encoder. None when a text value needs
        the encoder's checks (empty, non-ASCII or SOH): the caller then takes the generic path."""
        cl = e.cl_ord_id
        inst = e.instrument
        orig = e.orig_cl_ord_id
        account = e.account
        text = e.text
        chk = cl + inst
        if orig:
            chk += orig
        if account:
            chk += account
        if text:
            chk += text
        if not cl or not inst or not chk.isascii() or "\x01" in chk:
            return None
        v44 = app.v44
        qty = e.last_qty
        if qty:
            fill = b"\x0132=%d\x0131=%s" % (qty, price_bytes(e.last_px))
            liq = b"\x01851=4" if aggressor is None else (b"\x01851=2" if e.side is aggressor
                                                           else b"\x01851=1")
        else:
            fill = liq = b""
        price = e.price
        rej = e.rej_reason
        ts = app._fmt_ts(self.clock())  # TransactTime 60 (the gateway's clock, as in _exec_body)
        return (b"\x0137=%d\x0111=%s%s\x0117=%d%s\x01150=%s\x0139=%s%s\x0155=%s\x0154=%s\x0138=%d\x0140=%s%s"
                b"\x0159=%s%s\x0114=%d\x01151=%d\x016=%s%s%s\x0160=%s%s\x01") % (
            e.order_id, cl.encode(), b"\x0141=" + orig.encode() if orig else b"", e.exec_id,
            b"" if v44 else b"\x0120=0", (_EXEC_TYPE_44 if v44 else _EXEC_TYPE_42)[e.exec_type],
            _STATUS[e.ord_status], b"\x011=" + account.encode() if account else b"", inst.encode(),
            _SIDE_B[e.side], e.order_qty, _ORD_TYPE_B[e.ord_type],
            b"\x0144=" + price_bytes(price) if price else b"", _TIF_B[e.tif], fill,
            e.cum_qty, e.leaves_qty, avg_px_field(e.avg_px_num, e.avg_px_den),
            b"\x01103=%d" % rej if rej >= 0 else b"", b"\x0158=" + text.encode() if text else b"", ts, liq)

    def _ts(self, e: ExecEvent) -> bytes:
        app = self.apps.get(e.session)
        if app is None or app.session is None:
            return b"19700101-00:00:00"
        return app.session.encoder.format_timestamp(self.clock())

    def _send(self, app: OrderEntryApp, msg_type: bytes, body: Body) -> None:
        line = app.delay_out
        if line is not None:
            line.put(self._send_now, app, msg_type, body)
            return
        self._send_now(app, msg_type, body)

    def _send_now(self, app: OrderEntryApp, msg_type: bytes, body: Body) -> None:
        s = app.session
        if s is None:
            return
        if s.state == SessionState.ACTIVE:
            s.send(msg_type, body)
            return
        if not app.ever_logged_on:
            self.counters["dropped"] += 1
            return
        # logged out: keep it in the store under its seq num so a ResendRequest after the next logon
        # delivers it (the session layer resends stored application messages with PossDupFlag)
        store = s.store
        seq = store.next_sender_seq
        frame = s.encoder.encode(msg_type, body, seq, self.clock())
        store.store_sent(seq, frame)
        self.counters["stored_offline"] += 1
