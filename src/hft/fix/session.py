"""FIX 4.2 / 4.4 session layer: a sans-IO state machine.

:class:`FixSession` never touches a socket, a clock or a thread. The transport feeds it bytes
(:meth:`FixSession.on_data`) or parsed messages (:meth:`FixSession.on_message`), calls
:meth:`FixSession.on_timer` with the current time now and then, and gives it two callables: one that
writes bytes to the peer and one that closes the connection. The same object therefore runs under
asyncio (:mod:`hft.fix.transport`), a blocking thread, or a busy-polling loop with zero awaits.

Everything FIX above the frame level lives here: logon (HeartBtInt, ResetSeqNumFlag, Username/Password),
heartbeats and TestRequest on silence, sequence numbers (gap -> ResendRequest; incoming ResendRequest
answered from the store with PossDupFlag/OrigSendingTime or SequenceReset-GapFill for admin messages;
too-low MsgSeqNum -> Logout + disconnect), session-level Reject / BusinessMessageReject for well-framed
but invalid messages, and the Logout handshake.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Final

from mypy_extensions import mypyc_attr

from hft.fix import dictionary as fixdict
from hft.fix.encoder import FixEncoder
from hft.fix.parser import FixMessage, FixStreamParser, FixValueError, parse_utc_timestamp
from hft.fix.store import MemoryStore, SessionStore
from hft.fix.validation import DataDictionary, ValidationOptions

NS: Final = 1_000_000_000
log = logging.getLogger(__name__)
_HEADER_TAGS: Final = frozenset({8, 9, 35, 49, 56, 34, 52, 43, 97, 122, 10})
_INFINITY_42: Final = 999_999
_FIELD_RE = re.compile(rb"\x01(\d+)=([^\x01]*)")
_ADMIN_TYPES: Final = frozenset({b"0", b"1", b"2", b"3", b"5", b"A"})  # handled by the session (4 earlier)
_REVERSE_ROUTE: Final = ((115, 128), (116, 129), (144, 145), (128, 115), (129, 116), (145, 144))
_BODY_LENGTH_RE = re.compile(rb"8=[^\x01]{1,16}\x019=(\d{1,9})\x01")
_TAG_RE = re.compile(rb"\x01(\d+)=")
_INT_RE = re.compile(rb"-?\d+\Z")
_DEC_RE = re.compile(rb"-?(?:\d+\.?\d*|\.\d+)\Z")


def _type_kind(t: str) -> int:
    if t in fixdict.INT_TYPES:
        return 1
    if t in fixdict.DECIMAL_TYPES:
        return 2
    if t == "UTCTIMESTAMP":
        return 3
    if t == "BOOLEAN":
        return 4
    return 0


# tag (ASCII) -> 1 int, 2 decimal, 3 UTCTimestamp, 4 Y/N; other types are not format-checked
_TYPE_KIND: dict[bytes, int] = {
    b"%d" % tag: k for tag, t in fixdict.FIELD_TYPES.items() if (k := _type_kind(t))
}


class SessionState(enum.IntEnum):
    DISCONNECTED = 0
    CONNECTED = 1  # transport up, no Logon exchanged yet
    LOGON_SENT = 2  # initiator: Logon sent, waiting for the answer
    ACTIVE = 3
    LOGOUT_SENT = 4


_ACTIVE: Final = SessionState.ACTIVE
_CONNECTED: Final = SessionState.CONNECTED
_LOGON_SENT: Final = SessionState.LOGON_SENT

class SessionError(Exception):
    """Misuse of the session (e.g. sending an application message while not logged on)."""


@dataclass
class SessionConfig:
    """One FIX session. ``sender_comp_id`` is us, ``target_comp_id`` the peer."""

    begin_string: str = "FIX.4.2"
    sender_comp_id: str = "HFT"
    target_comp_id: str = "BROKER"
    initiator: bool = True
    heartbeat_interval: int = 30  # seconds (initiator proposes; an acceptor adopts the peer's value)
    reset_seq_num_on_logon: bool = False  # send ResetSeqNumFlag(141)=Y in our Logon
    username_env: str | None = None  # names of environment variables holding 553 / 554
    password_env: str | None = None
    logon_timeout: float = 10.0  # seconds
    logout_timeout: float = 2.0
    # incoming silence longer than test_request_factor*HeartBtInt -> TestRequest (QuickFIX:
    # 1 + TestRequestDelayMultiplier = 1.5); silence longer than heartbeat_timeout_factor*HeartBtInt ->
    # disconnect (QuickFIX: 1 + HeartBeatTimeoutMultiplier = 2.4). Two separate limits: the disconnect
    # comes 0.9*HeartBtInt after the TestRequest, before our own next Heartbeat would be due
    test_request_factor: float = 1.5
    heartbeat_timeout_factor: float = 2.4
    extra_header: Sequence[tuple[int, str]] = ()
    # digits of fraction in every UTCTimestamp we write (52, 122, 60 ...): 0, 3, 6 or 9. FIX 4.2 and 4.4
    # define UTCTimestamp to milliseconds at most; finer only when the peer is known to accept it
    timestamp_precision: int = 3
    # Application message types accepted from the peer; anything else known to FIX gets a
    # BusinessMessageReject (380=3). None = accept every type the dictionary knows.
    app_msg_types: frozenset[bytes] | None = None
    validate_types: bool = True  # check the format of every field of known type (Reject 373=6)
    max_queued: int = 100_000  # out-of-order messages kept while a resend is pending
    # acceptor side: expected credentials (env var names) -- a Logon without them is refused
    required_username_env: str | None = None
    required_password_env: str | None = None
    # reconnect backoff for initiator transports (seconds)
    reconnect_min: float = 0.5
    reconnect_max: float = 30.0
    # sequence resets (QuickFIX ResetOnLogon / ResetOnLogout / ResetOnDisconnect): start both seq nums over
    # at 1 when a Logon is received or sent, after a Logout exchange, or when the connection drops
    reset_on_logon: bool = False
    reset_on_logout: bool = False
    reset_on_disconnect: bool = False
    # CheckCompID: 49/56 must be the configured pair (Reject 373=9, Logout, disconnect)
    check_comp_id: bool = True
    # CheckLatency / MaxLatency: SendingTime (52) further than max_latency seconds from our clock ->
    # Reject 373=10, Logout, disconnect (a Logon with a bad SendingTime is dropped without an answer).
    # Off by default (QuickFIX: on): the simulator's clients and replays stamp 52 with their own clocks
    check_latency: bool = False
    max_latency: float = 120.0
    # StartTime / EndTime ("HH:MM:SS" in time_zone, an IANA name): the session exists only inside the
    # daily window and both seq nums start over at the first Logon of each new window. Equal times (the
    # usual 00:00:00/00:00:00) mean a 24-hour session that resets once a day at that time. None: no
    # schedule, never reset by time
    start_time: str | None = None
    end_time: str | None = None
    time_zone: str = "UTC"
    # data dictionary validation (QuickFIX UseDataDictionary / DataDictionary / Validate* switches):
    # None = the built-in checks only (required tags, field formats when validate_types)
    # "standard", "hft_venue" (standard + hft's simulator/engine extensions) or a QuickFIX-format XML path
    data_dictionary: str | None = None
    validation: ValidationOptions | None = None  # the Validate* switches (None: QuickFIX's defaults)

    @property
    def begin_bytes(self) -> bytes:
        return self.begin_string.encode("ascii")

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.begin_string, self.sender_comp_id, self.target_comp_id)


# Session options a config file may set ([venue.session] of the engine, a session table of the simulator):
# key (hft name, or QuickFIX's name) -> (SessionConfig attribute, kind). Kinds: bool, number (> 0), int,
# hms ("HH:MM:SS"), tz, str
_OPTION_KEYS: Final[dict[str, tuple[str, str]]] = {
    "reset_on_logon": ("reset_on_logon", "bool"), "ResetOnLogon": ("reset_on_logon", "bool"),
    "reset_on_logout": ("reset_on_logout", "bool"), "ResetOnLogout": ("reset_on_logout", "bool"),
    "reset_on_disconnect": ("reset_on_disconnect", "bool"),
    "ResetOnDisconnect": ("reset_on_disconnect", "bool"),
    "check_comp_id": ("check_comp_id", "bool"), "CheckCompID": ("check_comp_id", "bool"),
    "check_latency": ("check_latency", "bool"), "CheckLatency": ("check_latency", "bool"),
    "max_latency": ("max_latency", "number"), "MaxLatency": ("max_latency", "number"),
    "test_request_factor": ("test_request_factor", "number"),
    "heartbeat_timeout_factor": ("heartbeat_timeout_factor", "number"),
    "start_time": ("start_time", "hms"), "StartTime": ("start_time", "hms"),
    "end_time": ("end_time", "hms"), "EndTime": ("end_time", "hms"),
    "time_zone": ("time_zone", "tz"), "TimeZone": ("time_zone", "tz"),
    "timestamp_precision": ("timestamp_precision", "int"),
    "TimestampPrecision": ("timestamp_precision", "int"),
    "data_dictionary": ("data_dictionary", "str"), "DataDictionary": ("data_dictionary", "str"),
    "logon_timeout": ("logon_timeout", "number"), "LogonTimeout": ("logon_timeout", "number"),
    "logout_timeout": ("logout_timeout", "number"), "LogoutTimeout": ("logout_timeout", "number"),
    "validate_types": ("validate_types", "bool"),
    "required_username_env": ("required_username_env", "str"),
    "required_password_env": ("required_password_env", "str"),
}
# QuickFIX's validation switches -> hft.fix.validation.ValidationOptions attributes
_VALIDATION_KEYS: Final[dict[str, str]] = {
    "ValidateFieldsOutOfOrder": "validate_fields_out_of_order",
    "ValidateFieldsHaveValues": "validate_fields_have_values",
    "ValidateUserDefinedFields": "validate_user_defined_fields",
    "AllowUnknownMsgFields": "allow_unknown_msg_fields",
    "ValidateUnorderedGroupFields": "validate_unordered_group_fields",
}


def session_options(table: Any, where: str) -> dict[str, Any]:
    """A config file's session table -> keyword arguments of :class:`SessionConfig`. Keys are hft's names
    or QuickFIX's (``ResetOnLogon``, ``CheckLatency``, ``MaxLatency``, ``StartTime``, ``TimeZone``,
    ``ValidateFieldsOutOfOrder`` ...). A bad key or value raises ValueError naming ``where.key``."""
    if not isinstance(table, dict):
        raise ValueError(f"{where}: expected a table of session options")
    out: dict[str, Any] = {}
    vopts: dict[str, bool] = {}
    vnames = set(_VALIDATION_KEYS.values())
    for key, v in table.items():
        path = f"{where}.{key}"
        if key in _VALIDATION_KEYS or key in vnames:
            if not isinstance(v, bool):
                raise ValueError(f"{path}: expected a boolean (true/false), got {v!r}")
            vopts[_VALIDATION_KEYS.get(key) or str(key)] = v
            continue
        spec = _OPTION_KEYS.get(key)
        if spec is None:
            known = ", ".join(sorted(k for k in _OPTION_KEYS if k[0].islower()))
            raise ValueError(f"{path}: unknown session option (known: {known}, their QuickFIX names, and "
                             f"{', '.join(sorted(_VALIDATION_KEYS))})")
        attr, kind = spec
        if kind == "bool":
            if not isinstance(v, bool):
                raise ValueError(f"{path}: expected a boolean (true/false), got {v!r}")
        elif kind == "number":
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
                raise ValueError(f"{path}: expected a positive number, got {v!r}")
            v = float(v)
        elif kind == "int":
            if v not in (0, 3, 6, 9) or isinstance(v, bool):
                raise ValueError(f"{path}: expected 0, 3, 6 or 9 (digits of fraction), got {v!r}")
        else:
            if not isinstance(v, str):
                raise ValueError(f"{path}: expected a string, got {v!r}")
            if kind == "hms":
                _parse_hms(path, v)
            elif kind == "tz":
                try:
                    _Schedule(None, None, v)
                except ValueError:
                    raise ValueError(f"{path}: unknown time zone {v!r}") from None
        out[attr] = v
    dd = out.get("data_dictionary")
    if dd not in (None, "standard", "hft_venue") and not os.path.isfile(str(dd)):
        raise ValueError(f"{where}.data_dictionary: no such file {dd!r} (or 'standard', 'hft_venue')")
    if vopts:
        out["validation"] = ValidationOptions(**vopts)
        out.setdefault("data_dictionary", "standard")
    if ("start_time" in out) != ("end_time" in out):
        raise ValueError(f"{where}: start_time and end_time go together")
    return out


@mypyc_attr(allow_interpreted_subclasses=True)  # subclassed by interpreted code (see setup.py)
class SessionApplication:
    """Callbacks; subclass and override what you need (all optional)."""

    def on_logon(self, session: FixSession) -> None:
        pass

    def on_logout(self, session: FixSession, reason: str) -> None:
        pass

    def on_app_message(self, session: FixSession, msg: FixMessage) -> None:
        pass

    def on_state_change(self, session: FixSession, old: SessionState, new: SessionState) -> None:
        pass

    def on_session_reject(self, session: FixSession, msg: FixMessage) -> None:
        """A Reject (35=3) received from the peer."""


@dataclass
class SessionCounters:
    msgs_in: int = 0
    msgs_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    app_in: int = 0
    app_out: int = 0
    rejects_sent: int = 0
    rejects_received: int = 0
    business_rejects_sent: int = 0
    resend_requests_sent: int = 0
    resend_requests_received: int = 0
    messages_resent: int = 0
    gap_fills_sent: int = 0
    heartbeats_sent: int = 0
    heartbeats_received: int = 0
    test_requests_sent: int = 0
    duplicates_ignored: int = 0
    logons: int = 0
    disconnects: int = 0
    garbled_frames: int = 0
    app_errors: int = 0  # exceptions raised by the application's on_app_message (answered with 35=j)
    sending_time_rejects: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, int]:
        """Every counter by name (``extra`` merged in); a compiled class has no ``vars()``."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        d.update(self.extra)
        return d


TransportFilter = Callable[[Callable[[bytes], None], Callable[[str], None]],
                           tuple[Callable[[bytes], None], Callable[[str], None]]]


def _parse_hms(key: str, v: str) -> int:
    """"HH:MM:SS" -> seconds after midnight; ValueError naming the key."""
    parts = v.split(":")
    try:
        if len(parts) != 3:
            raise ValueError
        h, m, sec = (int(p) for p in parts)
        if not (0 <= h < 24 and 0 <= m < 60 and 0 <= sec < 60):
            raise ValueError
    except ValueError:
        raise ValueError(f"{key}: expected HH:MM:SS, got {v!r}") from None
    return h * 3600 + m * 60 + sec


class _Schedule:
    """A daily session window (StartTime/EndTime in a time zone). ``period(now_ns)`` -> (in session, start
    of the current period in epoch ns); cold path, cached per second."""

    def __init__(self, start: str | None, end: str | None, tz: str) -> None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        self.start = _parse_hms("start_time", start or "00:00:00")
        self.end = _parse_hms("end_time", end or start or "00:00:00")
        try:
            self.tz = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"time_zone: unknown time zone {tz!r}") from None
        self._sec = -1
        self._ans = (True, 0)

    def _at(self, day: Any, secs: int) -> int:
        from datetime import datetime
        from datetime import time as dtime

        t = dtime(secs // 3600, secs // 60 % 60, secs % 60)
        return int(datetime.combine(day, t, tzinfo=self.tz).timestamp()) * NS

    def period(self, now_ns: int) -> tuple[bool, int]:
        sec = now_ns // NS
        if sec == self._sec:
            return self._ans
        from datetime import datetime, timedelta

        local = datetime.fromtimestamp(sec, self.tz)
        day = local.date()
        start_today = self._at(day, self.start)
        start_prev = self._at(day - timedelta(days=1), self.start)
        now = sec * NS
        if self.start == self.end:  # 24-hour session, new period at start time
            ans = (True, start_today if now >= start_today else start_prev)
        elif self.start < self.end:  # within one day
            ans = (start_today <= now < self._at(day, self.end), start_today)
        else:  # across midnight (e.g. 17:00 -> 08:00)
            if now >= start_today:
                ans = (True, start_today)
            else:
                ans = (now < self._at(day, self.end), start_prev)
        self._sec = sec
        self._ans = ans
        return ans


class BusinessRejectError(Exception):
    """Raised by an application callback to refuse a message: the session answers with a
    BusinessMessageReject (35=j) carrying ``reason`` (380) and ``text`` (58), and stays up (QuickFIX's
    UnsupportedMessageType / FieldNotFound thrown from fromApp play the same part)."""

    def __init__(self, reason: int, text: str, ref_tag: int | None = None) -> None:
        super().__init__(text)
        self.reason = reason
        self.text = text
        self.ref_tag = ref_tag


def _ascii(v: str | bytes) -> str:
    """Text that can go in a FIX field whatever it quotes (non-ASCII and control bytes escaped)."""
    if isinstance(v, bytes):
        v = v.decode("latin-1")
    out = v.encode("ascii", "backslashreplace").decode("ascii")
    return out.replace("\x01", "\\x01") if "\x01" in out else out


def _noop_send(data: bytes) -> None:
    raise SessionError("session has no transport attached")


def _noop_close(reason: str) -> None:
    pass


class FixSession:
    """The session state machine (see module doc). Not thread-safe: drive it from one thread."""

    def __init__(
        self,
        config: SessionConfig,
        store: SessionStore | None = None,
        app: SessionApplication | None = None,
        *,
        clock: Callable[[], int] = time.time_ns,
        environ: dict[str, str] | os._Environ[str] | None = None,
    ) -> None:
        self.config = config
        self.store: SessionStore = store if store is not None else MemoryStore()
        self.app = app if app is not None else SessionApplication()
        self.clock = clock
        self._environ = os.environ if environ is None else environ
        self.encoder = FixEncoder(
            config.begin_string,
            config.sender_comp_id,
            config.target_comp_id,
            extra_header=config.extra_header,
            timestamp_precision=config.timestamp_precision,
        )
        self._begin_b = config.begin_bytes
        self._our_id = config.sender_comp_id.encode("ascii")
        self._peer_id = config.target_comp_id.encode("ascii")
        self._required: dict[bytes, tuple[tuple[int, bytes], ...]] = {}
        self._needles: dict[bytes, tuple[tuple[int, bytes], ...]] = {}
        self._extra_header_tags = frozenset(t for t, _ in config.extra_header)
        self.parser = FixStreamParser()
        self.state = SessionState.DISCONNECTED
        self.counters = SessionCounters()
        self.heartbeat_interval = config.heartbeat_interval
        self._hb_ns = config.heartbeat_interval * NS
        self._send_bytes: Callable[[bytes], None] = _noop_send
        self._close: Callable[[str], None] = _noop_close
        self._last_sent_ns = 0
        self._last_recv_ns = 0
        self._state_since_ns = 0
        self._test_req_id: bytes | None = None
        self._test_req_sent_ns = 0
        self._test_req_counter = 0
        self._queue: dict[int, FixMessage] = {}
        self._resend_target: int = 0  # highest seq we asked to be resent (0: none pending)
        self._reset_requested = False  # we sent 141=Y
        self._skip_until = 0  # stream offset: messages starting before it lie inside a garbled BodyLength
        self._answered: set[int] = set()  # ResendRequests answered ahead of a gap (seq nums)
        self._logout_seen = False  # a Logout was sent or received on this connection (ResetOnLogout)
        self._lat_key = b""  # SendingTime second last checked by _good_time, and its epoch second
        self._lat_sec = 0
        self._max_lat_s = int(config.max_latency)
        self._schedule = _Schedule(config.start_time, config.end_time, config.time_zone) \
            if config.start_time is not None or config.end_time is not None else None
        self.last_app_error = ""
        # data dictionary validation (QuickFIX UseDataDictionary): every in-sequence message is checked
        # against the dictionary instead of the built-in required-tag / format checks
        dd_src = config.data_dictionary
        self._dd: DataDictionary | None = None
        if dd_src:
            if dd_src == "standard":
                self._dd = DataDictionary.standard(config.begin_string)
            elif dd_src == "hft_venue":  # the standard one plus what hft's simulator and engine send
                self._dd = DataDictionary.hft_venue(config.begin_string)
            else:
                self._dd = DataDictionary.load(dd_src)
        self._vopts = config.validation if config.validation is not None else ValidationOptions()
        # the one-pass application fast path checks what the built-in validation would (required tags):
        # not taken when every field is checked (validate_types or a dictionary)
        self._fast_ok = not config.validate_types and self._dd is None
        self.last_logout_text = ""
        self.disconnect_reason = ""
        # Optional application fast path: fast_reader(frame, expected_seq) -> bool is offered each read that
        # is exactly one complete frame while the session is ACTIVE with nothing buffered, queued or being
        # resent. It returns True only after checking everything this session would (frame: BodyLength,
        # CheckSum, BeginString; header: CompIDs, MsgSeqNum == expected_seq, no PossDup; required tags;
        # message type allowed) and handling the message; the session then counts it and consumes the
        # sequence number. False: nothing changed, the general path runs.
        self.fast_reader: Callable[[bytes, int], bool] | None = None
        # called first thing on every read (before any parsing): an application's receive stamp
        self.on_read: Callable[[], None] | None = None
        # called when on_data returns or raises (e.g. the simulator flushes the answers to one read)
        self.after_read: Callable[[], None] | None = None
        # transport_filter(send_bytes, close) -> (send_bytes, close), applied by connection_made: lets an
        # application put its own writer/closer between the session and the transport (the simulator's
        # write coalescing and slow-consumer check). Hooks, not per-instance method patching: the module
        # is compiled (a compiled instance's methods cannot be replaced)
        self.transport_filter: TransportFilter | None = None
        self.fast_app = True  # False: every message that is not taken by fast_reader goes through on_message
        self.last_write_ns = 0  # wall clock right before the last frame was handed to the transport

    # ------------------------------------------------------------------------------ properties
    @property
    def next_sender_seq(self) -> int:
        return self.store.next_sender_seq

    @property
    def next_target_seq(self) -> int:
        return self.store.next_target_seq

    @property
    def is_active(self) -> bool:
        return self.state == SessionState.ACTIVE

    @property
    def resend_pending(self) -> bool:
        return self._resend_target != 0

    def stats(self) -> dict[str, Any]:
        """A snapshot for metrics (cold path)."""
        c = self.counters
        d: dict[str, Any] = dict(c.as_dict())
        d.update(
            state=self.state.name,
            next_sender_seq=self.next_sender_seq,
            next_target_seq=self.next_target_seq,
            heartbeat_interval=self.heartbeat_interval,
            garbled_frames=c.garbled_frames + self.parser.frames_bad,
        )
        return d

    def _set_state(self, new: SessionState) -> None:
        old = self.state
        if old == new:
            return
        self.state = new
        self._state_since_ns = self.clock()
        self.app.on_state_change(self, old, new)

    # ------------------------------------------------------------------------------ transport API
    def connection_made(self, send_bytes: Callable[[bytes], None], close: Callable[[str], None]) -> None:
        """The transport is connected. An initiator sends its Logon now."""
        f = self.transport_filter
        if f is not None:
            send_bytes, close = f(send_bytes, close)
        self._send_bytes = send_bytes
        self._close = close
        self.counters.garbled_frames += self.parser.frames_bad  # keep the total across connections
        self.parser = FixStreamParser()
        self._queue.clear()
        self._answered.clear()
        self._skip_until = 0
        self._resend_target = 0
        self._test_req_id = None
        self._logout_seen = False
        self.disconnect_reason = ""
        now = self.clock()
        self._last_recv_ns = now
        self._last_sent_ns = now
        self._set_state(SessionState.CONNECTED)
        if self.config.initiator:
            if not self._schedule_check():
                return
            self._send_logon()

    def connection_lost(self, reason: str = "connection lost") -> None:
        """The transport is gone (either side closed it)."""
        if self.state == SessionState.DISCONNECTED:
            return
        was_logged_on = self.state in (SessionState.ACTIVE, SessionState.LOGOUT_SENT)
        self.counters.disconnects += 1
        if not self.disconnect_reason:
            self.disconnect_reason = reason
        self._send_bytes = _noop_send
        self._close = _noop_close
        cfg = self.config
        if was_logged_on and (cfg.reset_on_disconnect or (cfg.reset_on_logout and self._logout_seen)):
            self.store.reset()  # ResetOnDisconnect / ResetOnLogout
        self.store.flush()
        self._set_state(SessionState.DISCONNECTED)
        if was_logged_on:
            self.app.on_logout(self, self.disconnect_reason)

    def fail(self, reason: str) -> None:
        """A fault outside the protocol (a bug met while handling input): Logout with ``reason`` and
        disconnect, so the peer and the operator both learn why the line went down."""
        self.last_app_error = reason
        try:
            self._logout_and_disconnect(reason[:200])
        except Exception:  # the Logout itself failed: close anyway
            self.disconnect(reason)

    def disconnect(self, reason: str) -> None:
        """Close the transport now (no Logout)."""
        if self.state == SessionState.DISCONNECTED:
            return
        self.disconnect_reason = reason
        close = self._close
        close(reason)
        self.connection_lost(reason)

    def on_data(self, data: bytes | bytearray | memoryview) -> None:
        """Bytes from the socket, any chunking."""
        hook = self.on_read
        if hook is not None:
            hook()
        after = self.after_read
        if after is None:
            self._on_data(data)
            return
        try:
            self._on_data(data)
        finally:
            after()

    def _on_data(self, data: bytes | bytearray | memoryview) -> None:
        self.counters.bytes_in += len(data)
        parser = self.parser
        if (self.state is _ACTIVE and not self._queue and not self._resend_target and not self._skip_until
                and parser._pos >= len(parser._buf) and not parser._after_bad and parser._garbage_from < 0):
            # hot path: a read that is one whole frame, nothing buffered, nothing queued
            frame = bytes(data)
            fr = self.fast_reader
            if fr is not None and self._dd is None and (not self.config.check_latency
                                                        or self._good_time(frame, self.clock())):
                store = self.store
                expected = store.next_target_seq
                err: Exception | None = None
                try:
                    took = fr(frame, expected)  # True: checked and handled whole (see fast_reader)
                except Exception as e:
                    # the application raised while handling an accepted message (its checks cannot
                    # raise): the frame is consumed and the error answered, as on the general path
                    took = True
                    err = e
                if took:
                    parser._base += len(frame)
                    parser.frames_ok += 1
                    c = self.counters
                    c.msgs_in += 1
                    c.app_in += 1
                    self._last_recv_ns = self.clock()
                    store.set_next_target(expected + 1)
                    if err is not None:
                        self._app_failed(FixMessage(frame), err)
                    return
            msg = parser.take_frame(frame)
            if msg is not None:
                if not (self.fast_app and self._fast_app(msg)):
                    self.on_message(msg)
                return
        parser.feed(data)
        bad = parser.frames_bad
        while self.state != SessionState.DISCONNECTED:
            msg = parser.next_message()
            if parser.frames_bad != bad:
                self._note_bad_frames(parser, parser.frames_bad - bad)
                bad = parser.frames_bad
            if msg is None:
                break
            if self._skip_until:
                if parser.offset - len(msg.raw) < self._skip_until:
                    self.counters.garbled_frames += 1  # inside a garbled message's declared BodyLength
                    continue
                self._skip_until = 0
            self.on_message(msg)

    def _note_bad_frames(self, parser: FixStreamParser, n: int) -> None:
        """Garbled frames are ignored (no seq num consumed). A frame with a wrong BodyLength owns the
        bytes its BodyLength covers, as QuickFIX reads it: a message that starts inside them is part of
        the garbled one and is dropped too (the FIX session test case 2m; the sender resends it)."""
        errs = list(parser.errors)[-n:]
        for e in errs:
            if not e.reason.startswith("wrong body length"):
                continue
            m = _BODY_LENGTH_RE.match(e.snippet)
            if m is not None:
                self._skip_until = max(self._skip_until, e.offset + m.end() + int(m.group(1)) + 7)

    def on_timer(self, now_ns: int | None = None) -> None:
        """Heartbeats, TestRequest, timeouts, and deferred store syncs. Call every ~100 ms or so."""
        now = self.clock() if now_ns is None else now_ns
        st = self.state
        if st == SessionState.DISCONNECTED:
            return
        if st == SessionState.ACTIVE:
            hb = self._hb_ns
            if hb > 0:
                if now - self._last_sent_ns >= hb:
                    self._send_admin(b"0", ())
                    self.counters.heartbeats_sent += 1
                silence = now - self._last_recv_ns
                cfg = self.config
                if silence >= int(hb * cfg.heartbeat_timeout_factor):
                    self.disconnect("peer silent: no answer to TestRequest")
                    return
                if self._test_req_id is not None and self._last_recv_ns > self._test_req_sent_ns:
                    self._test_req_id = None  # the peer spoke after our TestRequest: it is alive
                if self._test_req_id is None and silence >= int(hb * cfg.test_request_factor):
                    self._test_req_counter += 1
                    self._test_req_id = b"TEST"
                    self._test_req_sent_ns = now
                    self._send_admin(b"1", ((112, self._test_req_id),))
                    self.counters.test_requests_sent += 1
            sch = self._schedule
            if sch is not None:
                in_session, start = sch.period(now)
                if not in_session or self.store.creation_time_ns < start:
                    self.logout("end of session time")  # the next Logon (in the next window) resets
                    return
        elif st in (SessionState.CONNECTED, SessionState.LOGON_SENT):
            if now - self._state_since_ns >= int(self.config.logon_timeout * NS):
                self.disconnect("logon timeout")
                return
        elif st == SessionState.LOGOUT_SENT and now - self._state_since_ns >= int(
            self.config.logout_timeout * NS
        ):
            self.disconnect("logout timeout")
            return
        # idle: sync what the batch policy deferred
        self.store.flush()

    # ------------------------------------------------------------------------------ app API
    def send(self, msg_type: bytes | str, body: Sequence[tuple[int, bytes | str | int]]) -> int:
        """Send an application message; returns its MsgSeqNum. Raises SessionError when not logged on."""
        if self.state != SessionState.ACTIVE:
            raise SessionError(f"cannot send {msg_type!r}: session is {self.state.name}")
        self.counters.app_out += 1
        return self._send_stored(msg_type, body)

    def send_built(self, build: Callable[[int, int], bytes]) -> int:
        """Fast path of :meth:`send`: ``build(seq_num, sending_time_ns)`` returns the complete frame (e.g.
        from one of ``self.encoder``'s tuple-free fast paths such as ``new_order_single``); it is stored
        and written exactly like a :meth:`send` frame. Raises SessionError when not logged on."""
        seq = self._next_app_seq()
        now = self.clock()
        return self._store_and_write(seq, now, build(seq, now))

    def send_new_order_t(self, t: tuple[bytes, ...], cl_ord_id: bytes, qty: int, price: int | None,
                         extra: bytes = b"") -> int:
        """:meth:`send_built` of ``encoder.new_order_single_t(seq, now, t, cl_ord_id, qty, price, extra)``
        (a 35=D from a ``d_template``) without a build callable: the order gateway's per-order path."""
        seq = self._next_app_seq()
        now = self.clock()
        return self._store_and_write(seq, now, self.encoder.new_order_single_t(seq, now, t, cl_ord_id, qty,
                                                                               price, extra))

    def _next_app_seq(self) -> int:
        """The MsgSeqNum of the application message about to be sent (counted); SessionError when not
        logged on."""
        if self.state != SessionState.ACTIVE:
            raise SessionError(f"cannot send: session is {self.state.name}")
        self.counters.app_out += 1
        return self.store.next_sender_seq

    def _store_and_write(self, seq: int, now: int, frame: bytes) -> int:
        self.store.store_sent(seq, frame)  # durable (per policy) before the bytes go out
        self._write(frame, now)
        return seq

    def logout(self, text: str = "") -> None:
        """Start the Logout handshake (the transport closes after the peer answers or on timeout)."""
        if self.state == SessionState.ACTIVE:
            self._logout_seen = True
            self._send_admin(b"5", ((58, _ascii(text)),) if text else ())
            self._set_state(SessionState.LOGOUT_SENT)
        elif self.state != SessionState.DISCONNECTED and self.state != SessionState.LOGOUT_SENT:
            self.disconnect(text or "logout before logon completed")

    # ------------------------------------------------------------------------------ sending
    def _write(self, frame: bytes, now: int) -> None:
        self._last_sent_ns = now
        self.counters.msgs_out += 1
        self.counters.bytes_out += len(frame)
        # stamped before the write: on loopback the peer may run inside the send syscall
        self.last_write_ns = time.time_ns()
        self._send_bytes(frame)

    def _send_stored(self, msg_type: bytes | str, body: Sequence[tuple[int, bytes | str | int]]) -> int:
        store = self.store
        seq = store.next_sender_seq
        now = self.clock()
        frame = self.encoder.encode(msg_type, body, seq, now)
        store.store_sent(seq, frame)  # durable (per policy) before the bytes go out
        self._write(frame, now)
        return seq

    def _send_admin(self, msg_type: bytes, body: Sequence[tuple[int, bytes | str | int]]) -> int:
        """Admin messages are not stored (a resend gap-fills them); only the seq num advances."""
        store = self.store
        seq = store.next_sender_seq
        now = self.clock()
        frame = self.encoder.encode(msg_type, body, seq, now)
        store.set_next_sender(seq + 1)
        self._write(frame, now)
        return seq

    def _send_logon(self, reply_to: FixMessage | None = None) -> None:
        cfg = self.config
        body: list[tuple[int, bytes | str | int]] = [(98, b"0"), (108, self.heartbeat_interval)]
        reset = (cfg.reset_seq_num_on_logon or cfg.reset_on_logon) if reply_to is None \
            else bool(reply_to.get_bool(141, False))
        if reset:
            body.append((141, b"Y"))
        if reply_to is None:
            if cfg.username_env:
                user = self._environ.get(cfg.username_env)
                if user:
                    body.append((553, user))
            if cfg.password_env:
                pw = self._environ.get(cfg.password_env)
                if pw:
                    body.append((554, pw))
            if reset:
                self.store.reset()
                self._reset_requested = True
        self._send_admin(b"A", body)
        if reply_to is None:
            self._set_state(SessionState.LOGON_SENT)

    @staticmethod
    def _reverse_route(ref: FixMessage) -> list[tuple[int, bytes | str | int]]:
        """Routing fields for an answer to ``ref``: OnBehalfOf (115/116/144) become DeliverTo
        (128/129/145) and the reverse, in ascending tag order (QuickFIX's header order). Empty values are
        not echoed (the Reject names them)."""
        out: list[tuple[int, bytes | str | int]] = []
        raw = ref.raw
        if raw.find(b"\x01115=") < 0 and raw.find(b"\x01128=") < 0:
            return out  # the common case: no third-party routing
        for src, dst in _REVERSE_ROUTE:
            v = ref.get(src)
            if v:
                out.append((dst, v))
        out.sort(key=lambda tv: tv[0])
        return out

    def _send_reject(self, ref: FixMessage, reason: int | None, text: str, tag: int | None = None) -> None:
        """Reject (35=3) of ``ref``: 45, 371, 372, 373, 58. FIX 4.2 defines SessionRejectReason values up to
        11 only (QuickFIX leaves 373 out above that on 4.2 and keeps the text); ``reason=None`` omits it."""
        body = self._reverse_route(ref)
        sv = ref.get(34)
        if sv and sv.isdigit():
            body.append((45, sv))
        begin = self.config.begin_string
        if begin >= "FIX.4.2":
            if tag is not None:
                body.append((371, tag))
            mt = ref.msg_type
            if mt:
                body.append((372, mt))
            if reason is not None and (begin > "FIX.4.2" or reason <= fixdict.REJECT_INVALID_MSGTYPE):
                body.append((373, reason))
            if text:
                body.append((58, _ascii(text)))
        elif text:
            body.append((58, _ascii(text if tag is None else f"{text} ({tag})")))
        self.counters.rejects_sent += 1
        self._send_admin(b"3", body)

    def _send_business_reject(self, ref: FixMessage, reason: int, text: str, tag: int | None = None) -> None:
        body = self._reverse_route(ref)
        sv = ref.get(34)
        if sv and sv.isdigit():
            body.append((45, sv))
        body.append((372, ref.msg_type))
        body.append((380, reason))
        if text:
            body.append((58, _ascii(text)))
        self.counters.business_rejects_sent += 1
        self._send_stored(b"j", body)

    def _logout_and_disconnect(self, text: str) -> None:
        self.last_logout_text = text
        if self.state != SessionState.DISCONNECTED:
            self._logout_seen = True
            with contextlib.suppress(OSError):
                self._send_admin(b"5", ((58, _ascii(text)),))
        self.disconnect(text)

    def _send_resend_request(self, begin: int, end_seq: int) -> None:
        """Ask for [begin, end_seq] (we always ask up to 'infinity' and remember end_seq as the target)."""
        self._resend_target = max(self._resend_target, end_seq)
        end = 0 if self.config.begin_string >= "FIX.4.2" else _INFINITY_42
        self.counters.resend_requests_sent += 1
        self._send_admin(b"2", ((7, begin), (16, end)))

    # ------------------------------------------------------------------------------ receiving
    def on_message(self, msg: FixMessage) -> None:
        """One parsed, frame-valid message from the peer."""
        if self.state == SessionState.DISCONNECTED:
            return
        self.counters.msgs_in += 1
        self._last_recv_ns = now = self.clock()
        cfg = self.config
        st = self.state
        logging_on = st is _CONNECTED or st is _LOGON_SENT
        mt = msg.msg_type
        if msg.begin_string != self._begin_b:
            if logging_on or mt == b"5":
                self.disconnect(f"Incorrect BeginString {_ascii(msg.begin_string)}")
            else:  # QuickFIX's text, then close (the peer speaks another version: nothing else to say)
                self._logout_and_disconnect("Incorrect BeginString")
            return
        sv = msg.get(34)  # (inlined msg.seq_num: one call less per message)
        if sv is None or not sv.isdigit():
            if logging_on:
                self.disconnect("MsgSeqNum missing or not an integer")
            else:
                self._logout_and_disconnect("MsgSeqNum missing or not an integer")
            return
        seq = int(sv)
        expected = self.store.next_target_seq
        sender = msg.get(49)
        target = msg.get(56)
        if not sender or not target:
            # a missing or empty CompID is a malformed header, not someone else's message: Reject, carry on
            tag = 49 if not sender else 56
            v = sender if tag == 49 else target
            if logging_on:
                self.disconnect(f"Logon without {'SenderCompID' if tag == 49 else 'TargetCompID'} {tag}")
                return
            if v is None:
                self._send_reject(msg, fixdict.REJECT_REQUIRED_TAG_MISSING, "Required tag missing", tag)
            else:
                self._send_reject(msg, fixdict.REJECT_TAG_WITHOUT_VALUE, "Tag specified without a value", tag)
            if seq == expected:
                self.store.set_next_target(seq + 1)
                self._drain_queue()
            return
        if cfg.check_comp_id and (sender != self._peer_id or target != self._our_id):
            if logging_on:
                self.disconnect("CompID problem")
                return
            self._send_reject(msg, fixdict.REJECT_COMPID_PROBLEM, "CompID problem")
            self._logout_and_disconnect("CompID problem")
            return
        if cfg.check_latency and not self._good_time(msg.raw, now):
            if logging_on:  # a Logon with a bad SendingTime is dropped without an answer
                self.disconnect("Logon SendingTime accuracy problem")
                return
            self._send_reject(msg, fixdict.REJECT_SENDINGTIME_ACCURACY, "SendingTime accuracy problem")
            self._logout_and_disconnect("SendingTime accuracy problem")
            return
        if logging_on:
            if mt == b"5":  # the venue refused our Logon: keep its reason (58) for the operator
                text = msg.get_str(58, "") or ""
                self.last_logout_text = text
                self.disconnect(f"logon rejected by the venue (Logout{': ' + text if text else ''})")
                return
            if mt != b"A":
                self.disconnect(f"first message is not a Logon (35={_ascii(mt)})")
                return
            self._on_logon(msg, seq)
            return
        if mt == b"4" and not msg.get_bool(123, False):
            self._on_sequence_reset(msg, seq, gap_fill=False)
            return
        if mt == b"A" and msg.raw.find(b"\x01141=Y\x01") >= 0:
            self._on_reset_logon(msg, seq)  # FIX 4.4: ResetSeqNumFlag on a logged-on session
            return
        if seq > expected:
            if mt == b"2":
                # answer even with a gap (spec), then ask for ours; when the gap fills and this message is
                # reached again in order, it only consumes its seq num (answered once)
                self._on_resend_request(msg)
                self._answered.add(seq)
            if mt == b"5":
                self._on_logout(msg)
                return
            if len(self._queue) < cfg.max_queued:
                self._queue[seq] = msg
            if self._resend_target < expected or self._resend_target == 0:
                self._send_resend_request(expected, seq - 1)
            return
        if seq < expected:
            if msg.poss_dup:
                if mt != b"4" and not self._check_orig_sending_time(msg):
                    return
                self.counters.duplicates_ignored += 1
                return
            if mt == b"2":
                # QuickFIX (and the FIX session test cases, 8_OnlyAdminMessages) answer a ResendRequest
                # whatever its MsgSeqNum: the peer is asking for our messages, its own seq num is not
                # consumed (see docs/fix_session.md)
                self._on_resend_request(msg)
                return
            if mt == b"5":  # a peer that is leaving anyway: answer its Logout, no complaint
                self._on_logout(msg)
                return
            self._logout_and_disconnect(f"MsgSeqNum too low, expecting {expected} but received {seq}")
            return
        self._process_in_order(msg, seq)
        if self._queue or self._resend_target:
            self._drain_queue()

    def _good_time(self, raw: bytes, now: int) -> bool:
        """SendingTime (52) within max_latency of our clock (CheckLatency). A SendingTime of the same
        second as the previous message is not parsed again (one slice and compare per message)."""
        i = raw.find(b"\x0152=")
        if i < 0:
            return True  # missing 52: the required-tag check answers it (Reject 373=1)
        key = raw[i + 4 : i + 21]
        if key != self._lat_key:
            try:
                sec = parse_utc_timestamp(key) // NS
            except ValueError:
                return True  # not a timestamp: the format check answers it (Reject 373=6)
            self._lat_key = key
            self._lat_sec = sec
        d = now // NS - self._lat_sec
        return -self._max_lat_s <= d <= self._max_lat_s

    def _check_orig_sending_time(self, msg: FixMessage) -> bool:
        """A PossDup message needs OrigSendingTime (122) no later than its SendingTime (52): Reject 373=1
        371=122 when missing, Reject 373=10 then Logout when later. True when fine."""
        if msg.get(122) is None:
            self._send_reject(msg, fixdict.REJECT_REQUIRED_TAG_MISSING, "Required tag missing", 122)
            return False
        try:
            orig = msg.get_timestamp_ns(122)
            sent = msg.get_timestamp_ns(52)
        except FixValueError as e:
            self._send_reject(msg, fixdict.REJECT_INCORRECT_DATA_FORMAT, "Incorrect data format for value",
                              e.tag)
            return False
        if orig is not None and sent is not None and orig > sent:
            self._send_reject(msg, fixdict.REJECT_SENDINGTIME_ACCURACY, "SendingTime accuracy problem")
            self._logout_and_disconnect("SendingTime accuracy problem")
            return False
        return True

    def _fast_app(self, msg: FixMessage) -> bool:
        """The in-sequence application message on an active session with nothing queued, in one pass:
        header checks, required tags by substring search (``validate_types=False`` sessions only), then
        dispatch. False (nothing changed) when anything differs: :meth:`on_message` then handles it."""
        mt = msg.msg_type
        raw = msg.raw
        needles = self._needles.get(mt)
        if (needles is None or not self._fast_ok or mt in _ADMIN_TYPES or mt == b"4"
                or raw.find(b"\x0143=") >= 0 or not raw.startswith(self._begin_b, 2)
                or raw[len(self._begin_b) + 2] != 1):
            return False
        i = raw.find(b"\x0134=")
        if i < 0:
            return False
        i += 4
        sv = raw[i : raw.find(b"\x01", i)]
        store = self.store
        if not sv.isdigit() or int(sv) != store.next_target_seq:
            return False
        i = raw.find(b"\x0149=")
        if i < 0 or raw[i + 4 : raw.find(b"\x01", i + 4)] != self._peer_id:
            return False
        i = raw.find(b"\x0156=")
        if i < 0 or raw[i + 4 : raw.find(b"\x01", i + 4)] != self._our_id:
            return False
        for _tag, needle in needles:
            if raw.find(needle) < 0:  # (not `in`: bytes.__contains__ formats a TypeError first, 3.11)
                return False
        allowed = self.config.app_msg_types
        if allowed is not None and mt not in allowed:
            return False
        now = self.clock()
        if self.config.check_latency and not self._good_time(raw, now):
            return False
        c = self.counters
        c.msgs_in += 1
        c.app_in += 1
        self._last_recv_ns = now
        store.set_next_target(int(sv) + 1)
        try:
            self.app.on_app_message(self, msg)
        except Exception as e:  # answered (Reject / 35=j), never raised into the transport
            self._app_failed(msg, e)
        return True

    def _app_failed(self, msg: FixMessage, e: Exception) -> None:
        """An exception from the application's handling of ``msg`` (cold path). Whatever it is, it is
        answered, never dropped with the connection: FixValueError (a malformed field met while decoding)
        -> Reject 373=6 with its tag; BusinessRejectError -> BusinessMessageReject with its reason;
        anything else -> logged with its traceback, counted (``app_errors``, ``last_app_error``) and
        answered with BusinessMessageReject 380=0 (Other). The session stays up."""
        if isinstance(e, FixValueError):
            self._send_reject(msg, fixdict.REJECT_INCORRECT_DATA_FORMAT, str(e), e.tag)
            return
        if isinstance(e, BusinessRejectError):
            self._send_business_reject(msg, e.reason, e.text, e.ref_tag)
            return
        self.counters.app_errors += 1
        self.last_app_error = f"{type(e).__name__}: {e}"
        log.error("FIX session %s: the application raised on 35=%s seq %s (answered with 35=j 380=0)",
                  self.config.key, _ascii(msg.msg_type), _ascii(msg.get(34) or b"?"), exc_info=e)
        if self.state == SessionState.ACTIVE or self.state == SessionState.LOGOUT_SENT:
            self._send_business_reject(msg, 0, _ascii(f"Application error: {self.last_app_error}"[:200]))

    def _drain_queue(self) -> None:
        q = self._queue
        while q and self.state in (SessionState.ACTIVE, SessionState.LOGOUT_SENT):
            expected = self.store.next_target_seq
            for s in [s for s in q if s < expected]:
                del q[s]
            m = q.pop(expected, None)
            if m is None:
                break
            self._process_in_order(m, expected)
        if self._resend_target and self.store.next_target_seq > self._resend_target:
            self._resend_target = 0

    def _process_in_order(self, msg: FixMessage, seq: int) -> None:
        """seq == next expected: validate, consume the seq num, dispatch."""
        mt = msg.msg_type
        store = self.store
        if mt == b"4":  # gap fill: sets the next expected seq itself
            self._on_sequence_reset(msg, seq, gap_fill=True)
            return
        problem = self._validate(msg)
        if problem is not None and problem[0] == -1:
            self.counters.garbled_frames += 1  # QuickFIX: not a message (a tag that is no number)
            return
        store.set_next_target(seq + 1)
        if self._resend_target and seq >= self._resend_target:
            self._resend_target = 0
        if problem is not None:
            reason, tag, text, business = problem
            if business:
                self._send_business_reject(msg, reason if reason is not None else 0, text, tag)
            else:
                self._send_reject(msg, reason, text, tag)
            return
        if msg.raw.find(b"\x0143=Y") >= 0 and not self._check_orig_sending_time(msg):
            return
        if mt not in _ADMIN_TYPES:  # the common case first: an application message
            self.counters.app_in += 1
            try:
                self.app.on_app_message(self, msg)
            except Exception as e:  # answered (Reject / 35=j), never raised into the transport
                self._app_failed(msg, e)
        elif mt == b"2" and self._answered and seq in self._answered:
            self._answered.discard(seq)  # answered when it arrived ahead of a gap: consumed, not again
        elif mt == b"0":
            self.counters.heartbeats_received += 1
            tid = msg.get(112)
            if tid is not None and tid == self._test_req_id:
                self._test_req_id = None
        elif mt == b"1":
            self._send_admin(b"0", ((112, msg.get(112) or b"TEST"),))
            self.counters.heartbeats_sent += 1
        elif mt == b"2":
            self._on_resend_request(msg)
        elif mt == b"3":
            self.counters.rejects_received += 1
            self.app.on_session_reject(self, msg)
        elif mt == b"5":
            self._on_logout(msg)
        elif mt == b"A":
            # a second Logon on an established session
            self._send_reject(msg, fixdict.REJECT_VALUE_INCORRECT, "already logged on")

    def _validate(self, msg: FixMessage) -> tuple[int | None, int | None, str, bool] | None:
        """(reason, ref tag, text, is_business_reject) or None when the message is acceptable; reason -1
        when it is to be ignored as garbled."""
        mt = msg.msg_type
        dd = self._dd
        if dd is not None:
            r = dd.validate(msg, self._vopts)
            if r is not None:
                if r.drop:
                    return (-1, None, "", False)
                return (r.reason, r.ref_tag, r.text, False)
            allowed = self.config.app_msg_types
            if allowed is not None and mt not in _ADMIN_TYPES and mt != b"4" and mt not in allowed:
                return (3, None, "Unsupported Message Type", True)
            return None
        req = self._required.get(mt)
        if req is None:
            tags = fixdict.required_tags(self.config.begin_string, mt)
            if tags is None:
                return (fixdict.REJECT_INVALID_MSGTYPE, None, "Invalid MsgType", False)
            req = self._required[mt] = tuple((t, b"%d" % t) for t in (52, *tags))
        validate_types = self.config.validate_types
        raw = msg.raw
        if validate_types:
            # one C-level pass over the frame (needed for the type checks anyway)
            pairs = _FIELD_RE.findall(raw)
            present = {t for t, _ in pairs}
            for tag, key in req:
                if key not in present:
                    return (fixdict.REJECT_REQUIRED_TAG_MISSING, tag, "Required tag missing", False)
        else:
            # presence only (e.g. market data): a C substring search per required tag is cheaper than
            # tokenising the frame (35=X: 2 searches instead of a findall + set of ~20 tags)
            pairs = []
            needles = self._needles.get(mt)
            if needles is None:
                needles = self._needles[mt] = tuple((t, b"\x01%d=" % t) for t, _ in req)
            for tag, needle in needles:
                if raw.find(needle) < 0:
                    return (fixdict.REJECT_REQUIRED_TAG_MISSING, tag, "Required tag missing", False)
        if validate_types:
            bad = self._check_types(msg, pairs)
            if bad is not None:
                return (fixdict.REJECT_INCORRECT_DATA_FORMAT, bad, "Incorrect data format for value", False)
        allowed = self.config.app_msg_types
        if allowed is not None and mt not in fixdict.SESSION_MSG_TYPES and mt not in allowed:
            return (3, None, "Unsupported Message Type", True)
        return None

    @staticmethod
    def _check_types(msg: FixMessage, pairs: list[tuple[bytes, bytes]]) -> int | None:
        """The first field whose value does not match its dictionary type (None when all do)."""
        kinds = _TYPE_KIND
        for tag, value in pairs:
            k = kinds.get(tag)
            if k is None:
                continue
            if k == 1:
                if _INT_RE.match(value) is None:
                    return int(tag)
            elif k == 2:
                if _DEC_RE.match(value) is None:
                    return int(tag)
            elif k == 3:
                try:
                    msg.get_timestamp_ns(int(tag))
                except (FixValueError, ValueError):
                    return int(tag)
            elif value != b"Y" and value != b"N":
                return int(tag)
        return None

    # ------------------------------------------------------------------------------ handlers
    def _on_logon(self, msg: FixMessage, seq: int) -> None:
        cfg = self.config
        try:
            hb = msg.get_int(108)
        except FixValueError:
            hb = None
        if hb is None or hb < 0:
            self._logout_and_disconnect("Logon without a valid HeartBtInt (108)")
            return
        if not cfg.initiator:
            if cfg.required_username_env or cfg.required_password_env:
                want_u = self._environ.get(cfg.required_username_env or "", "")
                want_p = self._environ.get(cfg.required_password_env or "", "")
                if (cfg.required_username_env and (not want_u or msg.get_str(553, "") != want_u)) or (
                    cfg.required_password_env and (not want_p or msg.get_str(554, "") != want_p)
                ):
                    self._logout_and_disconnect("Logon rejected: invalid username or password")
                    return
            if not self._schedule_check():
                return
            self.heartbeat_interval = hb
            self._hb_ns = hb * NS
        reset = bool(msg.get_bool(141, False))
        if reset:
            # ResetSeqNumFlag: both sides start over at 1. An initiator that asked for it has reset its
            # store already (before its own Logon 34=1 went out); anyone else resets now
            if cfg.initiator and self._reset_requested:
                pass
            else:
                self.store.reset()
                if cfg.initiator:  # our Logon went out with the old seq num: the reset covers it
                    self.store.set_next_sender(2)
        elif cfg.reset_on_logon and not cfg.initiator:
            self.store.reset()  # ResetOnLogon: every Logon starts both seq nums over
        self._reset_requested = False
        self._answered.clear()
        expected = self.store.next_target_seq
        if seq < expected and not reset:
            self._logout_and_disconnect(f"MsgSeqNum too low, expecting {expected} but received {seq}")
            return
        if not cfg.initiator:
            self._send_logon(reply_to=msg)
        self._set_state(SessionState.ACTIVE)
        self.counters.logons += 1
        if seq > expected:
            self._send_resend_request(expected, seq)
            # the Logon's own seq num will be gap-filled by the peer's resend
        else:
            self.store.set_next_target(seq + 1)
        self.app.on_logon(self)
        self._drain_queue()

    def _on_reset_logon(self, msg: FixMessage, seq: int) -> None:
        """A Logon with ResetSeqNumFlag (141=Y) while logged on: both sides start over at 1, whatever seq
        nums were expected (FIX 4.4 ResetSeqNumFlag; QuickFIX does the same for 4.2). The answer to our
        own 141=Y Logon only sets the incoming seq num."""
        self._queue.clear()
        self._answered.clear()
        self._resend_target = 0
        if self._reset_requested:
            self._reset_requested = False
        else:
            self.store.reset()
            self._send_logon(reply_to=msg)
        self.store.set_next_target(seq + 1)

    def _schedule_check(self) -> bool:
        """StartTime/EndTime: False (and disconnected) outside the session window; at the first Logon of a
        new window both seq nums start over (daily reset)."""
        sch = self._schedule
        if sch is None:
            return True
        in_session, start = sch.period(self.clock())
        if not in_session:
            self.disconnect("Logon outside the session time (start_time/end_time)")
            return False
        if self.store.creation_time_ns < start:
            self.store.reset()
        return True

    def _on_logout(self, msg: FixMessage) -> None:
        self._logout_seen = True
        text = msg.get_str(58, "") or ""
        self.last_logout_text = text
        if self.state == SessionState.LOGOUT_SENT:
            self.disconnect(f"logout confirmed{': ' + text if text else ''}")
            return
        self._send_admin(b"5", ())
        self.disconnect(f"peer logout{': ' + text if text else ''}")

    def _on_sequence_reset(self, msg: FixMessage, seq: int, gap_fill: bool) -> None:
        try:
            new_seq = msg.get_int(36)
        except FixValueError:
            new_seq = None
        store = self.store
        expected = store.next_target_seq
        if new_seq is None:
            self._send_reject(msg, fixdict.REJECT_REQUIRED_TAG_MISSING, "Required tag missing", 36)
            if gap_fill:
                store.set_next_target(seq + 1)
            return
        if new_seq < expected:
            # QuickFIX's answer (no 371: the reason is the message's, 58 says which value)
            self._send_reject(msg, fixdict.REJECT_VALUE_INCORRECT,
                              f"Value is incorrect (out of range) for this tag: NewSeqNo {new_seq} < "
                              f"expected {expected}")
            if gap_fill:
                store.set_next_target(max(expected, seq + 1))
            return
        store.set_next_target(new_seq)
        if self._resend_target and new_seq > self._resend_target:
            self._resend_target = 0
        self._drain_queue()

    def _on_resend_request(self, msg: FixMessage) -> None:
        self.counters.resend_requests_received += 1
        try:
            begin = msg.get_int(7) or 1
            end = msg.get_int(16) or 0
        except FixValueError as e:
            self._send_reject(msg, fixdict.REJECT_INCORRECT_DATA_FORMAT, str(e), e.tag)
            return
        last = self.store.next_sender_seq - 1
        if end == 0 or end >= _INFINITY_42 or end > last:
            end = last
        if begin > end:
            # nothing we ever sent: tell them where we are
            if begin <= last + 1:
                self._send_gap_fill(begin, last + 1)
            return
        stored = dict(self.store.get_sent(begin, end))
        gap_start = 0
        for s in range(begin, end + 1):
            frame = stored.get(s)
            if frame is None:
                if gap_start == 0:
                    gap_start = s
                continue
            if gap_start:
                self._send_gap_fill(gap_start, s)
                gap_start = 0
            self._resend_one(s, frame)
        if gap_start:
            self._send_gap_fill(gap_start, end + 1)

    def _send_gap_fill(self, seq: int, new_seq: int) -> None:
        now = self.clock()
        frame = self.encoder.encode(
            b"4", ((123, b"Y"), (36, new_seq)), seq, now, poss_dup=True, orig_sending_time_ns=now
        )
        self.counters.gap_fills_sent += 1
        self._write(frame, now)

    def _resend_one(self, seq: int, frame: bytes) -> None:
        from hft.fix.parser import parse_one

        try:
            old = parse_one(frame)
            orig = old.get_timestamp_ns(52)
        except (ValueError, FixValueError):
            self._send_gap_fill(seq, seq + 1)
            return
        skip = _HEADER_TAGS | self._extra_header_tags
        body = [(t, v) for t, v in old.fields() if t not in skip]
        now = self.clock()
        out = self.encoder.encode(old.msg_type, body, seq, now, poss_dup=True, orig_sending_time_ns=orig)
        self.counters.messages_resent += 1
        self._write(out, now)
