"""FIX frame parsing: a streaming parser for socket bytes and a lazy, typed view on one message.

* :class:`FixStreamParser` takes raw bytes in any chunking, validates every frame (BeginString 8,
  BodyLength 9, CheckSum 10, MsgType 35 first in the body), yields :class:`FixMessage` objects, drops
  garbled frames (counted in ``frames_bad`` and reported in ``errors`` / ``on_error``) and
  resynchronises on the next ``8=FIX`` without losing the following good frames. It never raises, never
  loops forever and never buffers more than ``max_buffer`` bytes.
* :class:`FixMessage` keeps the exact wire bytes (``raw``) and builds its tag index only when a field is
  first asked for; values are decoded on demand by the typed getters (int, price units, Decimal, char,
  bool, UTC timestamp in ns). A value of the wrong type raises :class:`FixValueError`.
* :func:`parse_one` validates and wraps one complete frame.
"""

from __future__ import annotations

import contextlib
import re
from collections import deque
from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation
from typing import Final, NamedTuple

from hft.asx.ticks import parse_price
from hft.fix.dictionary import GROUPS
from hft.fix.fastnum import byte_sum as byte_sum  # compiled (setup.py); re-exported here
from hft.fix.fastnum import plain_price as plain_price

__all__ = [
    "FixFrameError",
    "FixGroup",
    "FixMessage",
    "FixStreamParser",
    "FixValueError",
    "FrameError",
    "MDEntry",
    "parse_one",
]

SOH = 0x01
_SOH = b"\x01"
# tag int -> its ASCII bytes, so get(tag) needs no formatting on the hot path
_TAGB: list[bytes] = [b"%d" % i for i in range(10_000)]

MDEntry = tuple[bytes, bytes, "int | None", "int | None", bytes, int]
"""One NoMDEntries entry: (279 action, 269 type, price units, size, symbol, 290 position)."""
_MD_MEMBERS: frozenset[bytes] = GROUPS[268][1]
# one NoMDEntries entry in the canonical field order, anchored on its SOH-delimited tags; the lookahead
# makes sure the entry ends there (next entry, a non-member tag, or the trailer), so an entry with extra
# fields in the middle does not match and the count check sends the message to the general loop
_MD_CANON = re.compile(
    rb"\x01279=([^\x01]*)\x01269=([^\x01]*)(?:\x0155=([^\x01]*))?\x01270=([^\x01]*)\x01271=([^\x01]*)"
    rb"(?:\x01290=([^\x01]*))?(?:\x01273=[^\x01]*)?(?=\x01(?:279|10)=)"
)


def _tagb(tag: int) -> bytes:
    if 0 <= tag < 10_000:
        return _TAGB[tag]
    return b"%d" % tag


class FixValueError(ValueError):
    """A field is missing or its value has the wrong format (session layer: Reject 373=6 / 5)."""

    def __init__(self, tag: int, reason: str) -> None:
        super().__init__(f"tag {tag}: {reason}")
        self.tag = tag
        self.reason = reason


class FixFrameError(ValueError):
    """A frame failed validation (bad checksum, wrong body length, missing tag 35, ...)."""

    def __init__(self, reason: str, offset: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.offset = offset


class FrameError(NamedTuple):
    """One dropped frame or run of garbage: absolute stream offset, reason, first bytes.

    ``length`` is the number of garbage bytes skipped (0 for a bad frame, whose extent is unknown).
    """

    offset: int
    reason: str
    snippet: bytes
    length: int = 0


# ----------------------------------------------------------------------------------------------- values
# days from 1970-01-01 to the first of each month (non-leap year)
_CUM_DAYS = (0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)
_DIGITS = frozenset(b"0123456789")


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


_DIM = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_ts_cache_key = b""
_ts_cache_val = 0


def parse_utc_timestamp(v: bytes) -> int:
    """``YYYYMMDD-HH:MM:SS[.sss|.ssssss|.sssssssss]`` -> UTC epoch nanoseconds. Raises ValueError."""
    global _ts_cache_key, _ts_cache_val
    n = len(v)
    if n < 17 or v[8] != 0x2D or v[11] != 0x3A or v[14] != 0x3A:
        raise ValueError("not a UTCTimestamp YYYYMMDD-HH:MM:SS[.fff]")
    head = v[:17]
    if head == _ts_cache_key:
        base = _ts_cache_val
    else:
        ds = v[:8]
        ts = v[9:11] + v[12:14] + v[15:17]
        if not (ds.isdigit() and ts.isdigit()):
            raise ValueError("not a UTCTimestamp YYYYMMDD-HH:MM:SS[.fff]")
        y = int(ds[:4])
        mo = int(ds[4:6])
        d = int(ds[6:8])
        hh = int(ts[:2])
        mi = int(ts[2:4])
        ss = int(ts[4:6])
        if not (1 <= mo <= 12 and 1 <= d <= _DIM[mo] and hh < 24 and mi < 60 and ss <= 60):
            raise ValueError("UTCTimestamp out of range")
        if mo == 2 and d == 29 and not (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)):
            raise ValueError("UTCTimestamp out of range")
        base = ((_days_from_civil(y, mo, d) * 24 + hh) * 60 + mi) * 60 + ss
        base *= 1_000_000_000
        _ts_cache_key = bytes(head)
        _ts_cache_val = base
    if n == 17:
        return base
    frac = v[18:]
    if v[17] != 0x2E or not frac.isdigit() or len(frac) not in (3, 6, 9):
        raise ValueError("bad fraction of seconds (want .sss, .ssssss or .sssssssss)")
    return base + int(frac) * (1_000_000, 1_000, 1)[len(frac) // 3 - 1]




def _price(v: bytes) -> int:
    """Fast exact decimal -> price units; falls back to :func:`parse_price` for unusual forms."""
    p = plain_price(v)
    return p if p >= 0 else parse_price(v)


def _int_slow(tag: int, v: bytes) -> int:
    if v[:1] == b"-" and v[1:].isdigit():
        return int(v)
    raise FixValueError(tag, f"not an integer: {v[:32]!r}")


def _price_checked(tag: int, v: bytes) -> int:
    try:
        return _price(v)
    except ValueError as e:
        raise FixValueError(tag, str(e)) from None


class _Fields:
    """Typed getters shared by a message and a group entry (subclasses provide ``get``)."""

    __slots__ = ()

    def get(self, tag: int) -> bytes | None:  # pragma: no cover - overridden
        raise NotImplementedError

    def has(self, tag: int) -> bool:
        return self.get(tag) is not None

    def get_str(self, tag: int, default: str | None = None) -> str | None:
        v = self.get(tag)
        if v is None:
            return default
        try:
            return v.decode("ascii")
        except UnicodeDecodeError:
            return v.decode("latin-1")

    def get_int(self, tag: int, default: int | None = None) -> int | None:
        v = self.get(tag)
        if v is None:
            return default
        if v.isdigit():
            return int(v)
        return _int_slow(tag, v)

    def get_char(self, tag: int, default: str | None = None) -> str | None:
        v = self.get(tag)
        if v is None:
            return default
        if len(v) != 1:
            raise FixValueError(tag, f"not a single character: {v[:32]!r}")
        return chr(v[0])

    def get_bool(self, tag: int, default: bool | None = None) -> bool | None:
        v = self.get(tag)
        if v is None:
            return default
        if v == b"Y":
            return True
        if v == b"N":
            return False
        raise FixValueError(tag, f"not a boolean Y/N: {v[:32]!r}")

    def get_price(self, tag: int, default: int | None = None) -> int | None:
        v = self.get(tag)
        if v is None:
            return default
        return _price_checked(tag, v)

    def get_decimal(self, tag: int, default: Decimal | None = None) -> Decimal | None:
        v = self.get(tag)
        if v is None:
            return default
        if not v or not all(c in b"0123456789.-" for c in v):
            raise FixValueError(tag, f"not a decimal: {v[:32]!r}")
        try:
            return Decimal(v.decode("ascii"))
        except InvalidOperation:
            raise FixValueError(tag, f"not a decimal: {v[:32]!r}") from None

    def get_timestamp_ns(self, tag: int, default: int | None = None) -> int | None:
        v = self.get(tag)
        if v is None:
            return default
        try:
            return parse_utc_timestamp(v)
        except ValueError as e:
            raise FixValueError(tag, str(e)) from None

    def require(self, tag: int) -> bytes:
        """The raw value of ``tag``; raises :class:`FixValueError` when absent."""
        v = self.get(tag)
        if v is None:
            raise FixValueError(tag, "required tag missing")
        return v


# "\x01<tag>=": the search key of a field inside a frame (every field but 8 is preceded by SOH)
_KEYS: list[bytes] = [b"\x01%d=" % i for i in range(10_000)]
# LENGTH tags announcing the size of the following binary DATA field (which may contain SOH)
_DATA_LEN: Final = {b"90": b"91", b"93": b"89", b"95": b"96", b"212": b"213", b"348": b"349",
                    b"350": b"351", b"352": b"353", b"354": b"355", b"356": b"357", b"358": b"359",
                    b"360": b"361", b"362": b"363", b"364": b"365", b"445": b"446", b"618": b"619",
                    b"621": b"622"}


_DATA_LEN_TAGS: Final = frozenset(_DATA_LEN)


def _key(tag: int) -> bytes:
    if 0 < tag < 10_000:
        return _KEYS[tag]
    return b"\x01%d=" % tag


def _walk(raw: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """Fields of ``raw`` between the SOH at ``start`` (or offset 0 / -1) and ``end``: (tag, vstart, vend).

    Binary DATA fields are skipped by their announced length, so an SOH inside them does no harm.
    """
    out: list[tuple[bytes, int, int]] = []
    p = start + 1
    data_len = -1
    while p < end:
        e = raw.find(b"=", p, end)
        if e < 0:
            break
        tag = raw[p:e]
        if data_len >= 0 and e + 1 + data_len < end and raw[e + 1 + data_len] == SOH:
            q = e + 1 + data_len
        else:
            q = raw.find(_SOH, e + 1, end + 1)
            if q < 0:
                q = end
        data_len = -1
        if tag in _DATA_LEN:
            v = raw[e + 1 : q]
            if v.isdigit():
                data_len = int(v)
        out.append((tag, e + 1, q))
        p = q + 1
    return out


_dict_get = dict.get


class FixGroup(dict):  # type: ignore[type-arg]
    """One entry of a repeating group, scoped to its own fields (first occurrence wins).

    It is a small ``dict`` of tag bytes -> value bytes built in C from the message's token list
    (``entry[b"270"]``), with the same typed getters as :class:`FixMessage` (``get_price(270)``).
    """

    __slots__ = ("_toks",)
    _toks: list[bytes]  # the entry's tokens (tag, value, tag, value...), for fields() and nested groups

    def get(self, tag: int) -> bytes | None:  # type: ignore[override]
        return _dict_get(self, _TAGB[tag] if 0 <= tag < 10_000 else b"%d" % tag)

    def has(self, tag: int) -> bool:
        return self.get(tag) is not None

    # inlined typed getters for the hot path (same semantics as the _Fields versions)
    def get_int(self, tag: int, default: int | None = None) -> int | None:
        v = _dict_get(self, _TAGB[tag] if 0 <= tag < 10_000 else b"%d" % tag)
        if v is None:
            return default
        if v.isdigit():
            return int(v)
        return _int_slow(tag, v)

    def get_price(self, tag: int, default: int | None = None) -> int | None:
        v = _dict_get(self, _TAGB[tag] if 0 <= tag < 10_000 else b"%d" % tag)
        if v is None:
            return default
        return _price_checked(tag, v)

    get_str = _Fields.get_str
    get_char = _Fields.get_char
    get_bool = _Fields.get_bool
    get_decimal = _Fields.get_decimal
    get_timestamp_ns = _Fields.get_timestamp_ns
    require = _Fields.require

    def fields(self) -> list[tuple[int, bytes]]:
        t = self._toks
        return [(int(t[i]), t[i + 1]) for i in range(0, len(t), 2)]

    def group(self, count_tag: int, first_tag: int) -> list[FixGroup]:
        """A nested repeating group inside this entry."""
        t = self._toks
        return _group_entries(t, t[0::2], count_tag, first_tag)

    def __repr__(self) -> str:
        return f"FixGroup({self.fields()!r})"


def _make_entry(toks: list[bytes]) -> FixGroup:
    it = iter(toks)
    g = FixGroup(zip(it, it))  # noqa: B905 - even length by construction
    if len(g) * 2 != len(toks):
        # a tag repeats inside the entry (nested group): keep the first occurrence
        it = iter(toks)
        pairs = list(zip(it, it))  # noqa: B905
        g = FixGroup(reversed(pairs))
    g._toks = toks
    return g


def _group_entries(toks: list[bytes], tags: list[bytes], count_tag: int, first_tag: int) -> list[FixGroup]:
    """Entries of the group counted by ``count_tag``; ``toks`` alternates tag, value; ``tags = toks[::2]``."""
    ctb = _TAGB[count_tag] if 0 <= count_tag < 10_000 else b"%d" % count_tag
    if ctb not in tags:
        return []
    i = tags.index(ctb)
    cv = toks[2 * i + 1]
    if not cv.isdigit():
        raise FixValueError(count_tag, f"group count is not an integer: {cv[:32]!r}")
    count = int(cv)
    if count == 0:
        return []
    ftb = _TAGB[first_tag] if 0 <= first_tag < 10_000 else b"%d" % first_tag
    k = i + 1
    stop = len(tags)
    if k >= stop or tags[k] != ftb:
        raise FixValueError(first_tag, f"group {count_tag} entry does not start with tag {first_tag}")
    starts = [k]
    try:
        for _ in range(count - 1):
            k = tags.index(ftb, k + 1)
            starts.append(k)
    except ValueError:
        raise FixValueError(count_tag, f"group count {count} but only {len(starts)} entries") from None
    known = GROUPS.get(count_tag)
    if known is not None:
        members = known[1]
    else:
        # unknown group: its members are the tags of the first entry
        e1 = starts[1] if count > 1 else stop
        members = frozenset(t for t in tags[starts[0] : e1] if t != b"10")
    # the last entry ends before the first field that is not a member of the group
    j = k + 1
    while j < stop:
        t = tags[j]
        if t not in members:
            break
        if t == ftb:
            raise FixValueError(count_tag, f"group count {count} but more entries follow")
        j += 1
    starts.append(j)
    out = []
    a = 2 * starts[0]
    for n in range(1, count + 1):
        b = 2 * starts[n]
        sl = toks[a:b]
        it = iter(sl)
        g = FixGroup(zip(it, it))  # noqa: B905 - even length by construction
        if len(g) * 2 != b - a:
            g = _make_entry(sl)  # a tag repeats inside the entry (nested group)
        g._toks = sl
        out.append(g)
        a = b
    return out


class FixMessage(_Fields):
    """A view on one complete, validated FIX frame (``raw``: the exact wire bytes).

    Nothing is decoded up front: ``get(tag)`` is a C-level search for ``SOH tag=`` in ``raw`` and a slice
    of the value; typed getters convert only the value asked for. ``group()`` and ``fields()`` build a
    token list of the frame once (``replace`` + ``split``, two C calls) and cache it.
    """

    __slots__ = ("_tags", "_toks", "msg_type", "raw")

    def __init__(self, raw: bytes, msg_type: bytes | None = None) -> None:
        self.raw = raw
        self._toks: list[bytes] | None = None
        self._tags: list[bytes] = []
        if msg_type is None:
            a = raw.find(b"\x0135=")
            msg_type = raw[a + 4 : raw.find(_SOH, a + 4)] if a >= 0 else b""
        self.msg_type = msg_type

    def _tokens(self) -> list[bytes]:
        raw = self.raw
        toks = raw.replace(b"=", _SOH).split(_SOH)
        tags = toks[0:-1:2]
        if len(toks) != 2 * raw.count(_SOH) + 1 or not _DATA_LEN_TAGS.isdisjoint(tags):
            # a value contains '=' (or a binary DATA field may hold SOH): walk field by field
            toks = []
            for t, a, b in _walk(raw, -1, len(raw) - 1):
                toks.append(t)
                toks.append(raw[a:b])
            tags = toks[0::2]
        else:
            del toks[-1]
        self._toks = toks
        self._tags = tags
        return toks

    def get(self, tag: int) -> bytes | None:
        raw = self.raw
        key = _KEYS[tag] if 0 < tag < 10_000 else _key(tag)
        i = raw.find(key)
        if i < 0:
            if tag == 8:
                return raw[2 : raw.find(_SOH)]
            return None
        i += len(key)
        return raw[i : raw.find(_SOH, i)]

    def get_int(self, tag: int, default: int | None = None) -> int | None:
        raw = self.raw
        key = _KEYS[tag] if 0 < tag < 10_000 else _key(tag)
        i = raw.find(key)
        if i < 0:
            return default
        i += len(key)
        v = raw[i : raw.find(_SOH, i)]
        if v.isdigit():
            return int(v)
        return _int_slow(tag, v)

    def get_price(self, tag: int, default: int | None = None) -> int | None:
        raw = self.raw
        key = _KEYS[tag] if 0 < tag < 10_000 else _key(tag)
        i = raw.find(key)
        if i < 0:
            return default
        i += len(key)
        return _price_checked(tag, raw[i : raw.find(_SOH, i)])

    def fields(self) -> list[tuple[int, bytes]]:
        """All fields in wire order (cold path)."""
        t = self._toks
        if t is None:
            t = self._tokens()
        return [(int(t[i]), t[i + 1]) for i in range(0, len(t), 2)]

    def group(self, count_tag: int, first_tag: int) -> list[FixGroup]:
        """Entries of the repeating group counted by ``count_tag`` whose delimiter is ``first_tag``.

        Raises :class:`FixValueError` when the count disagrees with the entries found.
        """
        t = self._toks
        if t is None:
            t = self._tokens()
        return _group_entries(t, self._tags, count_tag, first_tag)

    def md_entries(self) -> list[MDEntry]:
        """The NoMDEntries (268) group of a 35=W or 35=X as typed tuples, in one pass.

        Each :data:`MDEntry` is ``(update_action, entry_type, price, size, symbol, position)``:
        ``update_action`` is the 279 byte value (``b"0"`` new, ``b"1"`` change, ``b"2"`` delete; ``b""`` in
        a snapshot), ``entry_type`` the 269 value (``b"0"`` bid, ``b"1"`` offer, ``b"2"`` trade ...),
        ``price`` in integer price units or ``None``, ``size`` an int or ``None``, ``symbol`` the entry's
        55 or the message-level 55 (``b""`` if none), ``position`` the 290 value or 0. An entry starts at
        279 (or at 269 when the message carries no 279, as a snapshot does); the group ends at the first
        tag that is not a member of NoMDEntries. This is the market-data hot path: no dict per entry.
        Raises :class:`FixValueError` on a malformed value or a count that disagrees with the entries.
        """
        raw = self.raw
        # fast path: every entry in the canonical layout 279,269,[55],270,271,[290],[273] (what the simulator
        # and most venues send); one C-level findall, then typed conversion; any other layout -> general
        c0 = raw.find(b"\x01268=")
        if c0 >= 0:
            c1 = raw.find(_SOH, c0 + 5)
            cv = raw[c0 + 5 : c1]
            if cv.isdigit():
                found = _MD_CANON.findall(raw, c1)
                if found and len(found) == int(cv):
                    s0 = raw.find(b"\x0155=", 0, c0)
                    msg_sym = raw[s0 + 4 : raw.find(_SOH, s0 + 4)] if s0 >= 0 else b""
                    return [
                        (a, ty, _price_checked(270, px), int(q) if q.isdigit() else _int_slow(271, q),
                         sym or msg_sym, (int(pos) if pos.isdigit() else _int_slow(290, pos)) if pos else 0)
                        for a, ty, sym, px, q, pos in found
                    ]
        t = self._toks
        if t is None:
            t = self._tokens()
        tags = self._tags
        try:
            i = tags.index(b"268")
        except ValueError:
            return []
        cv = t[2 * i + 1]
        if not cv.isdigit():
            raise FixValueError(268, f"group count is not an integer: {cv[:32]!r}")
        count = int(cv)
        out: list[MDEntry] = []
        if count == 0:
            return out
        try:
            j = tags.index(b"55", 0, i)
            msg_sym = t[2 * j + 1]
        except ValueError:
            msg_sym = b""
        members = _MD_MEMBERS
        k = 2 * i + 2
        end = len(t)
        delim = t[k] if k < end else b""
        if delim != b"279" and delim != b"269":
            raise FixValueError(268, "NoMDEntries entry does not start with 279 or 269")
        action = etype = b""
        px: int | None = None
        qty: int | None = None
        sym = msg_sym
        pos = 0
        started = False
        while k < end:
            tag = t[k]
            v = t[k + 1]
            if tag == delim:
                if started:
                    out.append((action, etype, px, qty, sym, pos))
                    action = etype = b""
                    px = qty = None
                    sym = msg_sym
                    pos = 0
                started = True
            if tag == b"270":
                px = _price_checked(270, v)
            elif tag == b"271":
                qty = int(v) if v.isdigit() else _int_slow(271, v)
            elif tag == b"279":
                action = v
            elif tag == b"269":
                etype = v
            elif tag == b"55":
                sym = v
            elif tag == b"290":
                pos = int(v) if v.isdigit() else _int_slow(290, v)
            elif tag not in members:
                break
            k += 2
        if started:
            out.append((action, etype, px, qty, sym, pos))
        if len(out) != count:
            raise FixValueError(268, f"group count {count} but {len(out)} entries")
        return out

    # header conveniences
    @property
    def seq_num(self) -> int:
        v = self.get(34)
        if v is None:
            raise FixValueError(34, "required tag missing")
        if not v.isdigit():
            raise FixValueError(34, f"not an integer: {v[:32]!r}")
        return int(v)

    @property
    def begin_string(self) -> bytes:
        return self.raw[2 : self.raw.find(_SOH)]

    @property
    def sender_comp_id(self) -> bytes:
        return self.get(49) or b""

    @property
    def target_comp_id(self) -> bytes:
        return self.get(56) or b""

    @property
    def poss_dup(self) -> bool:
        return self.get(43) == b"Y"

    def __repr__(self) -> str:
        return f"FixMessage({self.raw.replace(_SOH, b'|')!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FixMessage) and other.raw == self.raw

    def __hash__(self) -> int:
        return hash(self.raw)


# ----------------------------------------------------------------------------------------------- frames
_MAX_BEGIN = 16  # len("FIXT.1.1") + slack


def _check_frame(buf: bytes | bytearray, pos: int, end_avail: int, max_frame: int) -> tuple[int, str]:
    """Validate the frame starting at ``buf[pos]`` (which starts with ``8=``).

    Returns ``(frame_end, "")`` for a good frame, ``(0, "")`` when more bytes are needed, or
    ``(-1, reason)`` for a bad frame.
    """
    s1 = buf.find(_SOH, pos + 2, min(end_avail, pos + 2 + _MAX_BEGIN + 1))
    if s1 < 0:
        if end_avail - pos > 2 + _MAX_BEGIN:
            return -1, "BeginString (8) too long or not terminated"
        return 0, ""
    begin = bytes(buf[pos + 2 : s1])
    if not (begin.startswith(b"FIX.4.") or begin == b"FIXT.1.1"):
        return -1, f"bad BeginString (8) {begin[:16]!r}"
    if end_avail < s1 + 3:
        return 0, ""
    if buf[s1 + 1] != 0x39 or buf[s1 + 2] != 0x3D:  # "9="
        return -1, "BodyLength (9) missing after BeginString"
    s2 = buf.find(_SOH, s1 + 3, min(end_avail, s1 + 3 + 12))
    if s2 < 0:
        if end_avail - (s1 + 3) >= 12:
            return -1, "BodyLength (9) too long or not terminated"
        return 0, ""
    lv = bytes(buf[s1 + 3 : s2])
    if not lv.isdigit() or not lv.isascii():
        return -1, f"non-digit BodyLength (9) {lv[:16]!r}"
    length = int(lv)
    body_start = s2 + 1
    body_end = body_start + length
    frame_end = body_end + 7
    if frame_end - pos > max_frame:
        return -1, f"BodyLength (9) {length} exceeds max frame size {max_frame}"
    if end_avail < frame_end:
        # early detection of a too-large BodyLength: a complete trailer before the declared end
        q = buf.find(b"\x0110=", body_start - 1, end_avail)
        if q >= 0 and q + 1 < body_end and q + 8 <= end_avail and buf[q + 7] == SOH:
            return -1, f"wrong body length: BodyLength (9) {length} but CheckSum (10) at body offset " \
                f"{q + 1 - body_start}"
        return 0, ""
    if buf[body_end - 1] == SOH and buf[body_end : body_end + 3] == b"10=" and buf[body_end + 6] != SOH:
        return -1, f"malformed CheckSum (10) {bytes(buf[body_end : body_end + 7])!r}"
    if buf[body_end : body_end + 3] != b"10=" or buf[body_end + 6] != SOH or buf[body_end - 1] != SOH:
        q = buf.find(b"\x0110=", body_start - 1, frame_end)
        if q >= 0:
            return -1, f"wrong body length: BodyLength (9) {length} but CheckSum (10) at body offset " \
                f"{q + 1 - body_start}"
        return -1, f"wrong body length: no CheckSum (10) at the end given by BodyLength (9) {length}"
    return frame_end, ""


def _verify(frame: bytes) -> str:
    """CheckSum and MsgType checks of a structurally complete frame (see :func:`_check_frame`)."""
    ck = frame[-4:-1]
    if not ck.isdigit():
        return f"non-digit CheckSum (10) {ck!r}"
    actual = (byte_sum(frame) - 159 - frame[-4] - frame[-3] - frame[-2]) & 0xFF  # 159 = sum(b"10=\x01")
    if actual != int(ck):
        return f"bad checksum: CheckSum (10) {ck.decode()} but computed {actual:03d}"
    s1 = frame.find(_SOH)
    s2 = frame.find(_SOH, s1 + 1)
    if frame[s2 + 1 : s2 + 4] != b"35=":
        return "missing tag 35 (MsgType must be the first body field)"
    if frame[s2 + 4 : s2 + 5] == _SOH:
        return "empty MsgType (35)"
    return ""


def parse_one(frame: bytes | bytearray | memoryview) -> FixMessage:
    """Validate one complete frame and return its message; raises :class:`FixFrameError`."""
    if not isinstance(frame, bytes):
        frame = bytes(frame)
    n = len(frame)
    # fast path: the common, valid frame
    if frame[:2] == b"8=":
        s1 = frame.find(_SOH, 2, 20)
        if s1 > 0 and frame[s1 + 1 : s1 + 3] == b"9=":
            s2 = frame.find(_SOH, s1 + 3, s1 + 15)
            if s2 > 0:
                lv = frame[s1 + 3 : s2]
                if lv.isdigit() and s2 + 1 + int(lv) + 7 == n:
                    be = n - 7
                    if (
                        frame[be - 1 : be + 3] == b"\x0110="
                        and frame[-1] == SOH
                        and frame[be + 3 : be + 6].isdigit()
                        and (byte_sum(frame) - 159 - frame[-4] - frame[-3] - frame[-2]) & 0xFF
                        == int(frame[be + 3 : be + 6])
                        and frame[s2 + 1 : s2 + 4] == b"35="
                        and (frame[2:8] == b"FIX.4." or frame[2:s1] == b"FIXT.1.1")
                    ):
                        e = frame.find(_SOH, s2 + 4)
                        return FixMessage(frame, frame[s2 + 4 : e])
    if frame[:2] != b"8=":
        raise FixFrameError("frame does not start with BeginString (8=)")
    end, reason = _check_frame(frame, 0, n, max(n, 1 << 30))
    if end < 0:
        raise FixFrameError(reason)
    if end == 0:
        raise FixFrameError("truncated frame")
    if end != n:
        raise FixFrameError(f"{n - end} trailing bytes after the CheckSum (10)")
    reason = _verify(frame)
    if reason:
        raise FixFrameError(reason)
    return FixMessage(frame)


class FixStreamParser:
    """Incremental frame parser for a byte stream (see module doc)."""

    def __init__(
        self,
        max_frame: int = 1 << 16,
        max_buffer: int = 1 << 22,
        on_error: Callable[[FrameError], None] | None = None,
        max_errors: int = 1000,
    ) -> None:
        self.max_frame = max_frame
        self.max_buffer = max(max_buffer, max_frame)
        self.on_error = on_error
        self.errors: deque[FrameError] = deque(maxlen=max_errors)
        self.frames_ok = 0
        self.frames_bad = 0
        self.bytes_dropped = 0
        self._buf = bytearray()
        self._pos = 0  # parse position inside _buf
        self._base = 0  # absolute stream offset of _buf[0]
        self._garbage_from = -1  # absolute offset where unreported garbage starts, -1 if none
        self._garbage_snip = b""
        self._after_bad = False  # skipping the tail of a frame already reported bad

    # -------------------------------------------------------------------------------------------
    @property
    def buffered(self) -> int:
        """Bytes received and not yet consumed."""
        return len(self._buf) - self._pos

    @property
    def offset(self) -> int:
        """Absolute stream offset of the next unconsumed byte."""
        return self._base + self._pos

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        buf = self._buf
        pos = self._pos
        if pos and (pos >= 65536 or pos * 2 >= len(buf)):
            del buf[:pos]
            self._base += pos
            self._pos = 0
        room = self.max_buffer - len(buf)
        if len(data) > room:
            dropped = len(data) - max(room, 0)
            off = self._base + len(buf) + max(room, 0)
            if room > 0:
                buf += memoryview(data)[:room]
            self.bytes_dropped += dropped
            self._report(off, f"buffer overflow: {dropped} bytes dropped (more than max_buffer="
                         f"{self.max_buffer} bytes buffered; drain the parser)", bytes(data[room: room + 32]))
            return
        buf += data

    def _report(self, offset: int, reason: str, snippet: bytes, length: int = 0) -> None:
        self.frames_bad += 1
        err = FrameError(offset, reason, snippet, length)
        self.errors.append(err)
        cb = self.on_error
        if cb is not None:
            with contextlib.suppress(Exception):  # a broken callback must not break the stream
                cb(err)

    def _flush_garbage(self, upto: int) -> None:
        g = self._garbage_from
        if g >= 0:
            self._garbage_from = -1
            if upto > g:
                self._report(g, f"garbage: {upto - g} bytes before the next frame", self._garbage_snip,
                             upto - g)

    def take_frame(self, data: bytes | bytearray | memoryview) -> FixMessage | None:
        """Hot path for a read that holds exactly one complete, valid frame while nothing is buffered:
        the message (the same checks as :meth:`next_message`, no copy into the stream buffer), or None
        with nothing consumed; the caller then takes the general path (``feed`` + ``next_message``)."""
        if self._pos < len(self._buf) or self._after_bad or self._garbage_from >= 0:
            return None
        frame = bytes(data)
        n = len(frame)
        if n > self.max_frame or not frame.startswith(b"8=FIX"):
            return None
        s1 = frame.find(_SOH, 2, 3 + _MAX_BEGIN)
        if s1 < 0 or not frame.startswith(b"9=", s1 + 1):
            return None
        s2 = frame.find(_SOH, s1 + 3, s1 + 15)
        if s2 < 0:
            return None
        lv = frame[s1 + 3 : s2]
        if (lv.isdigit() and lv.isascii() and s2 + 8 + int(lv) == n
                and frame.endswith(b"\x01", 0, -7) and frame.startswith(b"10=", n - 7)
                and frame[-1] == SOH and frame[-4:-1].isdigit()
                and frame.startswith(b"35=", s2 + 1) and frame[s2 + 4] != SOH
                and (frame.startswith(b"FIX.4.", 2) or frame[2:s1] == b"FIXT.1.1")
                and (byte_sum(frame) - 159 - frame[-4] - frame[-3] - frame[-2]) & 0xFF == int(frame[-4:-1])):
            self._base += n
            self.frames_ok += 1
            return FixMessage(frame, frame[s2 + 4 : frame.find(_SOH, s2 + 4)])
        return None

    def next_message(self) -> FixMessage | None:
        buf = self._buf
        n = len(buf)
        pos = self._pos
        if pos >= n:
            return None
        if not self._after_bad and self._garbage_from < 0 and buf.startswith(b"8=FIX", pos):
            # fast path: one complete, valid frame at pos (the same checks as _check_frame + _verify,
            # without their calls and copies); anything unusual takes the general path below
            s1 = buf.find(_SOH, pos + 2, pos + 3 + _MAX_BEGIN)
            if s1 > 0 and buf.startswith(b"9=", s1 + 1):
                s2 = buf.find(_SOH, s1 + 3, s1 + 15)
                if s2 > 0:
                    lv = buf[s1 + 3 : s2]
                    if lv.isdigit() and lv.isascii():
                        end = s2 + 8 + int(lv)
                        if end <= n and end - pos <= self.max_frame:
                            frame = bytes(buf[pos:end])
                            b0 = s1 - pos
                            b2 = s2 - pos
                            if (frame.endswith(b"\x01", 0, -7) and frame.startswith(b"10=", len(frame) - 7)
                                    and frame[-1] == SOH and frame[-4:-1].isdigit()
                                    and frame.startswith(b"35=", b2 + 1) and frame[b2 + 4] != SOH
                                    and (frame.startswith(b"FIX.4.", 2) or frame[2:b0] == b"FIXT.1.1")
                                    and (byte_sum(frame) - 159 - frame[-4] - frame[-3] - frame[-2]) & 0xFF
                                    == int(frame[-4:-1])):
                                self._pos = end
                                self.frames_ok += 1
                                return FixMessage(frame, frame[b2 + 4 : frame.find(_SOH, b2 + 4)])
        while True:
            pos = self._pos
            if pos >= n:
                return None
            if buf[pos : pos + 5] != b"8=FIX":
                # not at a frame start: skip to the next "8=FIX"
                nxt = buf.find(b"8=FIX", pos + 1 if n - pos >= 5 else pos)
                if n - pos < 5 and b"8=FIX".startswith(bytes(buf[pos:n])):
                    return None  # maybe the start of a frame: wait
                if nxt < 0:
                    keep = 4
                    # keep a possible partial "8=FIX" prefix at the end
                    cut = max(pos, n - keep)
                    while cut < n and not b"8=FIX".startswith(bytes(buf[cut:n])):
                        cut += 1
                    if not self._after_bad and self._garbage_from < 0 and cut > pos:
                        self._garbage_from = self._base + pos
                        self._garbage_snip = bytes(buf[pos : pos + 32])
                    self._pos = cut
                    return None
                if not self._after_bad and self._garbage_from < 0:
                    self._garbage_from = self._base + pos
                    self._garbage_snip = bytes(buf[pos : min(nxt, pos + 32)])
                self._pos = nxt
                continue
            self._after_bad = False  # a new frame starts here: the previous bad frame is behind us
            end, reason = _check_frame(buf, pos, n, self.max_frame)
            if end == 0:
                return None
            self._flush_garbage(self._base + pos)
            if end > 0:
                frame = bytes(buf[pos:end])
                reason = _verify(frame)
                if not reason:
                    self._after_bad = False
                    self._pos = end
                    self.frames_ok += 1
                    s = frame.find(b"\x0135=")
                    return FixMessage(frame, frame[s + 4 : frame.find(_SOH, s + 4)])
            self._report(self._base + pos, reason, bytes(buf[pos : pos + 32]))
            self._after_bad = True
            self._pos = pos + 1

    def __iter__(self) -> Iterator[FixMessage]:
        while True:
            m = self.next_message()
            if m is None:
                return
            yield m

    def close(self) -> None:
        """End of stream: report any unconsumed bytes (a truncated frame or trailing garbage)."""
        pos = self._pos
        n = len(self._buf)
        if pos < n:
            if self._buf[pos : pos + 2] == b"8=" and not self._after_bad:
                self._flush_garbage(self._base + pos)
                self._report(self._base + pos, f"truncated frame: stream ended after {n - pos} bytes",
                             bytes(self._buf[pos : pos + 32]))
            elif not self._after_bad:
                if self._garbage_from < 0:
                    self._garbage_from = self._base + pos
                    self._garbage_snip = bytes(self._buf[pos : pos + 32])
                self._flush_garbage(self._base + n)
            self._pos = n
        elif not self._after_bad:
            self._flush_garbage(self._base + n)
        self._after_bad = False
