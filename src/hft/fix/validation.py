"""Data-dictionary validation of received FIX messages, with QuickFIX's checks, order, 373 and 371.

``DataDictionary.standard("FIX.4.2")`` is the complete FIX 4.2 dictionary (4.4 likewise), generated from
QuickFIX's FIX42.xml / FIX44.xml (see :mod:`hft.fix.spec`); ``DataDictionary.load(path)`` reads any
QuickFIX-format XML dictionary. ``dd.validate(msg, options)`` returns ``None`` for a valid message, else
the :class:`Rejection` the session answers with (Reject 35=3: 45, 58=text, 371=ref_tag, 372, 373=reason).

The checks and their precedence are QuickFIX 1.16's (``Message::setString`` then
``DataDictionary::validate``), so the first problem reported is the one QuickFIX reports:

1. structure: a header field after a body or trailer field, or a body field after a trailer field:
   "Tag specified out of required order" (14), 371 = the first such tag;
2. (option, QuickFIX/J's) a repeating-group member before one that precedes it in the group's
   definition: "Repeating group fields out of order" (15);
3. the MsgType is not in the dictionary: "Invalid MsgType" (11), no 371;
4. required fields: header (ascending tag), trailer, body (ascending), then the required members of each
   entry of each body group present ("Required tag missing", 1);
5. each field of the header (8, 9, 35, then ascending tag), the trailer, then the body (ascending tag),
   one field at a time: repeated ("Tag appears more than once", 13), empty (4), data format (6),
   enum value (5), tag unknown to the dictionary ("Invalid tag number", 0), tag not defined for the
   message type (2), NumInGroup differs from the entries ("Incorrect NumInGroup count ...", 16).

As in QuickFIX, fields inside repeating groups are parsed (entries, counts, required members) but their
values are not checked. In FIX 4.2 QuickFIX sends 373 only for reasons up to 11 (the 4.2 list ends
there), so ``Rejection.reason`` is ``None`` for 13, 14, 15 and 16 in a 4.2 dictionary; ``code`` always
holds the SessionRejectReason.

Speed: every table is built once at load (dicts keyed by the tag's wire bytes), validation is one pass
over the parsed message's token list, and a valid message allocates nothing but the pass's own integers
(repeated tags are found with per-tag generation stamps, not sets). The stamps are per thread, so one
DataDictionary (``standard()`` is shared) may validate in several threads at once.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

from hft.fix.parser import FixMessage
from hft.fix.spec import STANDARD_VERSIONS, SpecError, load_standard_spec, parse_quickfix_xml

__all__ = [
    "HFT_VENUE_EXTENSIONS", "REJECT_TEXT", "DataDictionary", "Rejection", "SpecError", "ValidationOptions",
]

# SessionRejectReason (373) texts, QuickFIX's wording
REJECT_TEXT: Final[dict[int, str]] = {
    0: "Invalid tag number",
    1: "Required tag missing",
    2: "Tag not defined for this message type",
    3: "Undefined Tag",
    4: "Tag specified without a value",
    5: "Value is incorrect (out of range) for this tag",
    6: "Incorrect data format for value",
    7: "Decryption problem",
    8: "Signature problem",
    9: "CompID problem",
    10: "SendingTime accuracy problem",
    11: "Invalid MsgType",
    13: "Tag appears more than once",
    14: "Tag specified out of required order",
    15: "Repeating group fields out of order",
    16: "Incorrect NumInGroup count for repeating group",
}
USER_MIN: Final = 5000  # QuickFIX's FIELD::UserMin: tags from here on are user-defined

# What hft's simulator and engine put on the wire beyond standard FIX 4.2 / 4.4 (DataDictionary.hft_venue):
# RptSeq (83) once per 35=W/35=X (the standard has it per entry), SimSendNs/SimTickId (6000/6001) on
# 35=X and SimTickId echoed on 35=D, and LastLiquidityInd (851, a 4.4 tag) on 4.2 ExecutionReports.
# (SimSendNs holds 19 zero-padded digits of nanoseconds: a STRING here, QuickFIX's INT is 32-bit)
_SIM_FIELDS: Final[dict[int, tuple[str, str]]] = {6000: ("SimSendNs", "STRING"), 6001: ("SimTickId", "INT")}
_SIM_MSG_FIELDS: Final[dict[bytes, tuple[int, ...]]] = {b"W": (83,), b"X": (83, 6000, 6001), b"D": (6001,)}
HFT_VENUE_EXTENSIONS: Final[dict[str, dict[str, Any]]] = {
    "FIX.4.2": {"fields": {**_SIM_FIELDS, 851: ("LastLiquidityInd", "INT")},
                "msg_fields": {**_SIM_MSG_FIELDS, b"8": (851,)}},
    "FIX.4.4": {"fields": dict(_SIM_FIELDS), "msg_fields": dict(_SIM_MSG_FIELDS)},
}


@dataclass(frozen=True, slots=True)
class ValidationOptions:
    """Which checks :meth:`DataDictionary.validate` makes. Defaults are QuickFIX's.

    ==================================  ===============================  =======  ============================
    attribute                           QuickFIX setting                 default  rejects with (373)
    ==================================  ===============================  =======  ============================
    validate_fields_out_of_order        ValidateFieldsOutOfOrder         True     14 out of required order
    validate_fields_have_values         ValidateFieldsHaveValues         True     4 tag without a value
    validate_user_defined_fields        ValidateUserDefinedFields        True     0 / 2 for tags >= 5000
    allow_unknown_msg_fields            AllowUnknownMsgFields            False    (True: tags < 5000 unknown
                                                                                  to the dictionary or the
                                                                                  message are accepted)
    validate_unordered_group_fields     ValidateUnorderedGroupFields     False    15 group fields out of order
                                        (QuickFIX/J's; QuickFIX C++
                                        never checks: default as C++)
    validate_msg_type                   UseDataDictionary                True     11 invalid MsgType
    validate_tag_numbers                UseDataDictionary                True     0 invalid tag number
    validate_msg_fields                 UseDataDictionary                True     2 tag not defined for type
    validate_enum_values                UseDataDictionary                True     5 value incorrect
    validate_data_format                UseDataDictionary                True     6 incorrect data format
    validate_repeated_tags              UseDataDictionary                True     13 tag more than once
    validate_group_counts               UseDataDictionary                True     16 NumInGroup count
    validate_required_fields            UseDataDictionary                True     1 required tag missing
    ==================================  ===============================  =======  ============================

    QuickFIX's ``UseDataDictionary=N`` turns all of them off: don't call validate at all.
    """

    validate_fields_out_of_order: bool = True
    validate_fields_have_values: bool = True
    validate_user_defined_fields: bool = True
    allow_unknown_msg_fields: bool = False
    validate_unordered_group_fields: bool = False
    validate_msg_type: bool = True
    validate_tag_numbers: bool = True
    validate_msg_fields: bool = True
    validate_enum_values: bool = True
    validate_data_format: bool = True
    validate_repeated_tags: bool = True
    validate_group_counts: bool = True
    validate_required_fields: bool = True

    @classmethod
    def from_quickfix(cls, settings: Mapping[str, str | bool]) -> ValidationOptions:
        """Options from QuickFIX-style settings (``{"ValidateFieldsOutOfOrder": "N", ...}``, values Y/N or
        bool). ``UseDataDictionary`` N turns every check off. An unknown name or a value that is not Y/N
        raises ValueError naming it."""
        kw: dict[str, bool] = {}
        for name, raw in settings.items():
            if isinstance(raw, bool):
                val = raw
            elif raw in ("Y", "N"):
                val = raw == "Y"
            else:
                raise ValueError(f"{name}: expected Y or N, got {raw!r}")
            if name == "UseDataDictionary":
                if not val:
                    kw.update(dict.fromkeys(_DICTIONARY_SWITCHES, False))
                continue
            attr = _QUICKFIX_NAMES.get(name)
            if attr is None:
                raise ValueError(f"{name}: not a QuickFIX validation setting (known: UseDataDictionary, "
                                 f"{', '.join(sorted(_QUICKFIX_NAMES))})")
            kw[attr] = val
        return cls(**kw)


_QUICKFIX_NAMES: Final[dict[str, str]] = {
    "ValidateFieldsOutOfOrder": "validate_fields_out_of_order",
    "ValidateFieldsHaveValues": "validate_fields_have_values",
    "ValidateUserDefinedFields": "validate_user_defined_fields",
    "AllowUnknownMsgFields": "allow_unknown_msg_fields",
    "ValidateUnorderedGroupFields": "validate_unordered_group_fields",
}
_DICTIONARY_SWITCHES: Final = (
    "validate_fields_out_of_order", "validate_fields_have_values", "validate_user_defined_fields",
    "validate_msg_type", "validate_tag_numbers", "validate_msg_fields", "validate_enum_values",
    "validate_data_format", "validate_repeated_tags", "validate_group_counts", "validate_required_fields",
)
DEFAULT_OPTIONS: Final = ValidationOptions()


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a message is rejected: what the session puts in its Reject (35=3).

    ``reason`` is the 373 to send (None where QuickFIX sends none: reasons above 11 in FIX 4.2),
    ``ref_tag`` the 371 (None when there is none, e.g. Invalid MsgType), ``text`` the 58 in QuickFIX's
    wording, ``ref_msg_type`` the 372. ``code`` is the SessionRejectReason whatever the version.
    ``drop`` is True when QuickFIX would not answer at all but discard the message as garbled (a tag that
    is not a number): no Reject, no sequence number consumed.
    """

    reason: int | None
    ref_tag: int | None
    text: str
    ref_msg_type: bytes
    code: int = 0
    drop: bool = False


# ------------------------------------------------------------------------------------ value formats
# kinds up to _K_SEQNUM accept any value of up to 9 digits (the validator's fast path relies on it)
_K_NONE, _K_FLOAT, _K_INT, _K_SEQNUM, _K_CHAR, _K_BOOL, _K_TS, _K_TIME, _K_DATE = range(9)
_KIND_OF_TYPE: Final[dict[str, int]] = {
    "CHAR": _K_CHAR,
    "PRICE": _K_FLOAT, "AMT": _K_FLOAT, "QTY": _K_FLOAT, "FLOAT": _K_FLOAT, "PRICEOFFSET": _K_FLOAT,
    "PERCENTAGE": _K_FLOAT,
    "INT": _K_INT, "NUMINGROUP": _K_INT, "LENGTH": _K_INT, "TAGNUM": _K_INT,
    "SEQNUM": _K_SEQNUM,
    "BOOLEAN": _K_BOOL,
    "UTCTIMESTAMP": _K_TS, "TIME": _K_TS,
    "UTCTIMEONLY": _K_TIME,
    "UTCDATE": _K_DATE,
}  # every other type (STRING, CURRENCY, EXCHANGE, LOCALMKTDATE, MONTHYEAR, DATA, ...) is a string
_MULTI_TYPES: Final = frozenset({"MULTIPLEVALUESTRING", "MULTIPLESTRINGVALUE", "MULTIPLECHARVALUE"})
_TS_RE = re.compile(rb"[0-9]{8}-([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]*)?")
_TIME_RE = re.compile(rb"([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]*)?")
_INT32_MAX = 2**31 - 1
_UINT64_MAX = 2**64 - 1


_ts_ok_head = b""


def _hms_ok(m: re.Match[bytes]) -> bool:
    return m[1] <= b"23" and m[2] <= b"59" and m[3] <= b"60"


def _date_ok(v: bytes) -> bool:
    return b"01" <= v[4:6] <= b"12" and b"01" <= v[6:8] <= b"31"


def _format_ok(kind: int, v: bytes) -> bool:
    """QuickFIX 1.16's FieldConvertors, as a yes/no on the value's bytes."""
    if kind == _K_FLOAT:  # -?digits[.digits], at least one digit ("1." and ".5" are fine, "+1" is not)
        if v[:1] == b"-":
            v = v[1:]
        return v.replace(b".", b"", 1).isdigit()
    if kind == _K_INT:
        if v.isdigit():
            return len(v) < 10 or int(v) <= _INT32_MAX
        if v[:1] == b"-" and v[1:].isdigit():
            return len(v) < 11 or int(v) >= -_INT32_MAX - 1
        return False
    if kind == _K_CHAR:
        return len(v) == 1
    if kind == _K_TS:
        global _ts_ok_head
        if not 17 <= len(v) <= 27:
            return False
        head = v[:17]
        if head != _ts_ok_head:  # SendingTime and TransactTime of a message share their second
            m = _TS_RE.fullmatch(head)
            if m is None or not _hms_ok(m) or not _date_ok(v):
                return False
            _ts_ok_head = head
        return len(v) == 17 or (v[17] == 0x2E and (len(v) == 18 or v[18:].isdigit()))
    if kind == _K_SEQNUM:
        return v.isdigit() and (len(v) < 20 or int(v) <= _UINT64_MAX)
    if kind == _K_BOOL:
        return v == b"Y" or v == b"N"
    if kind == _K_TIME:
        if not 8 <= len(v) <= 18:
            return False
        m = _TIME_RE.fullmatch(v)
        return m is not None and _hms_ok(m)
    if kind == _K_DATE:
        return len(v) == 8 and v.isdigit() and _date_ok(v)
    return True


# ----------------------------------------------------------------------------------------- tables
_SEC_HEADER, _SEC_TRAILER, _SEC_BODY = 0, 1, 2  # also the structure states (the loop spells them out)


class _Field:
    __slots__ = ("count", "entry", "enum", "key", "kind", "multi", "name", "sec", "slot", "tag", "type")

    def __init__(self, tag: int, name: str, typ: str, enum: frozenset[bytes] | None, kind: int,
                 slot: int) -> None:
        self.tag = tag
        self.name = name
        self.type = typ
        self.enum = enum
        self.multi = typ in _MULTI_TYPES
        self.kind = kind
        self.slot = slot
        self.sec = _SEC_BODY
        self.key = tag  # sort key inside its section (QuickFIX's header_order / trailer_order / tag)
        self.count = False  # the NumInGroup tag of a group somewhere in the dictionary
        self.entry: tuple[int, int, int, frozenset[bytes] | None, bool, _Field] = (0, 0, 0, None, False, self)


class _Group:
    __slots__ = ("count", "delim", "groups", "members", "order", "required")

    def __init__(self, count: int, delim: bytes, members: dict[bytes, tuple[int, int]],
                 groups: dict[bytes, _Group], required: tuple[tuple[int, int], ...],
                 order: tuple[int, ...]) -> None:
        self.count = count
        self.delim = delim
        self.members = members  # member tag bytes -> (position in the definition, stamp slot)
        self.groups = groups
        self.required = required  # (tag, slot), ascending tag
        self.order = order  # member tags in definition order


class _Msg:
    __slots__ = ("fdict", "fields", "groups", "is_app", "msg_type", "name", "order", "required")

    def __init__(self, msg_type: bytes, name: str, is_app: bool, fields: frozenset[bytes],
                 groups: dict[bytes, _Group], required: tuple[tuple[int, int], ...],
                 order: tuple[int, ...]) -> None:
        self.msg_type = msg_type
        self.name = name
        self.is_app = is_app
        self.fields = fields
        self.groups = groups
        self.required = required
        self.order = order
        # header, trailer and this message's top-level body fields: tag bytes -> _Field.entry
        self.fdict: dict[bytes, tuple[int, int, int, frozenset[bytes] | None, bool, _Field]] = {}


# Message::isHeaderField / isTrailerField: these tags are header (trailer) fields whatever the dictionary says
_STATIC_HEADER: Final = frozenset({
    8, 9, 35, 49, 56, 115, 128, 90, 34, 50, 142, 57, 143, 116, 144, 129, 145, 43, 97, 52, 122, 212, 213,
    347, 369,
    370, 1128, 1129, 627,
})
_STATIC_TRAILER: Final = frozenset({93, 89, 10})
_ADMIN_TYPES: Final = frozenset({b"0", b"1", b"2", b"3", b"4", b"5", b"A"})
_EMPTY_GROUPS: Final[dict[bytes, _Group]] = {}


def _tag_int(tb: bytes) -> int | None:
    """QuickFIX's IntConvertor on a tag: optional '-', digits, int32 range; None if not a number."""
    s = tb[1:] if tb[:1] == b"-" else tb
    if not s.isdigit():
        return None
    t = int(tb)
    return t if -(2**31) <= t <= 2**31 - 1 else None


class _Scratch:
    """Per-thread working state of validate(): generation stamps per tag slot (one row per group depth;
    a slot holding the current generation means "seen in this message / entry"), entries per NumInGroup
    tag, and the first group problems found."""

    __slots__ = ("gen", "gorder", "greq", "gtot", "gtot_gen", "nslots", "stamps")

    def __init__(self, nslots: int) -> None:
        self.nslots = nslots
        self.gen = itertools.count(1)
        self.stamps: list[list[int]] = [[0] * nslots]
        self.gtot: list[int] = [0] * nslots
        self.gtot_gen: list[int] = [0] * nslots
        self.gorder: int | None = None
        self.greq: tuple[tuple[int, ...], int] | None = None

    def clear(self) -> None:
        self.gorder = None
        self.greq = None

    def row(self, depth: int) -> list[int]:
        st = self.stamps
        while len(st) <= depth:
            st.append([0] * self.nslots)
        return st[depth]


def _libstdcxx_sort(a: list[tuple[int, int, bytes, _Field | None, bool]]) -> None:
    """Sort ``a`` by its first item exactly as libstdc++'s std::sort (introsort: median-of-three
    quicksort down to runs of 16, heapsort past the depth limit, then insertion sort) orders equal keys,
    so that the copies of a repeated tag end up in the order QuickFIX's FieldMap::sortFields leaves them."""

    def lt(x: int, y: int) -> bool:
        return a[x][0] < a[y][0]

    def swap(x: int, y: int) -> None:
        a[x], a[y] = a[y], a[x]

    def adjust_heap(first: int, hole: int, length: int, value: tuple[int, int, bytes, _Field | None, bool]
                    ) -> None:
        top = hole
        child = hole
        while child < (length - 1) // 2:
            child = 2 * (child + 1)
            if a[first + child][0] < a[first + child - 1][0]:
                child -= 1
            a[first + hole] = a[first + child]
            hole = child
        if length & 1 == 0 and child == (length - 2) // 2:
            child = 2 * (child + 1)
            a[first + hole] = a[first + child - 1]
            hole = child - 1
        parent = (hole - 1) // 2
        while hole > top and a[first + parent][0] < value[0]:
            a[first + hole] = a[first + parent]
            hole = parent
            parent = (hole - 1) // 2
        a[first + hole] = value

    def heap_sort(first: int, last: int) -> None:
        length = last - first
        if length >= 2:
            parent = (length - 2) // 2
            while True:
                adjust_heap(first, parent, length, a[first + parent])
                if parent == 0:
                    break
                parent -= 1
        while last - first > 1:
            last -= 1
            value = a[last]
            a[last] = a[first]
            adjust_heap(first, 0, last - first, value)

    def unguarded_linear_insert(last: int) -> None:
        val = a[last]
        nxt = last - 1
        while val[0] < a[nxt][0]:
            a[last] = a[nxt]
            last = nxt
            nxt -= 1
        a[last] = val

    def insertion_sort(first: int, last: int) -> None:
        for i in range(first + 1, last):
            if lt(i, first):
                val = a[i]
                a[first + 1:i + 1] = a[first:i]
                a[first] = val
            else:
                unguarded_linear_insert(i)

    def introsort_loop(first: int, last: int, depth: int) -> None:
        while last - first > 16:
            if depth == 0:
                heap_sort(first, last)
                return
            depth -= 1
            mid = first + (last - first) // 2
            x, y, z = first + 1, mid, last - 1  # median of three moved to first
            if lt(x, y):
                swap(first, y if lt(y, z) else (z if lt(x, z) else x))
            else:
                swap(first, x if lt(x, z) else (z if lt(y, z) else y))
            lo, hi = first + 1, last  # unguarded partition around a[first]
            while True:
                while lt(lo, first):
                    lo += 1
                hi -= 1
                while lt(first, hi):
                    hi -= 1
                if not lo < hi:
                    break
                swap(lo, hi)
                lo += 1
            introsort_loop(lo, last, depth)
            last = lo

    n = len(a)
    if n < 2:
        return
    introsort_loop(0, n, 2 * (n.bit_length() - 1))
    if n > 16:
        insertion_sort(0, 16)
        for i in range(16, n):
            unguarded_linear_insert(i)
    else:
        insertion_sort(0, n)


def _unknown_field(t: int, v: bytes, state: int, o: ValidationOptions, seen: set[int]
                   ) -> tuple[int, int, tuple[int, int, int] | None, int]:
    """A tag the dictionary does not define: (new structure state, out-of-order tag or 0, error key, code)."""
    struct = 0
    if t in _STATIC_HEADER:
        sec = _SEC_HEADER
        if state != _SEC_HEADER:
            struct = t
        key = {8: -3, 9: -2, 35: -1}.get(t, t)
    elif t in _STATIC_TRAILER:
        sec = state = _SEC_TRAILER
        key = 1 << 40 if t == 10 else t
    else:
        sec = _SEC_BODY
        if state == _SEC_TRAILER:
            struct = t
        state = _SEC_BODY
        key = t
    occ = 1 if t in seen else 0
    seen.add(t)
    if occ and o.validate_repeated_tags:
        code = 13
    elif o.validate_fields_have_values and not v:
        code = 4
    elif o.validate_tag_numbers and (o.validate_user_defined_fields if t >= USER_MIN
                                     else not o.allow_unknown_msg_fields):
        code = 0
    else:
        return state, struct, None, 0
    return state, struct, (sec, key, occ), code


class DataDictionary:
    """A FIX data dictionary (fields, types, enums, messages, groups) and the validator built on it."""

    def __init__(self, spec: dict[str, Any], source: str = "<spec>") -> None:
        self.source = source
        self.begin_string: str = spec["version"]
        self.fields: dict[int, tuple[str, str]] = {}
        self.enums: dict[int, dict[bytes, str]] = {}
        self._fields: dict[bytes, _Field] = {}
        slot = 0
        for tag, name, typ, enums in spec["fields"]:
            kind = _KIND_OF_TYPE.get(typ, _K_NONE)
            if typ == "CHAR" and self.begin_string < "FIX.4.2":
                kind = _K_NONE  # QuickFIX: CHAR is a string before 4.2
            ev = frozenset(e.encode("latin-1") for e, _d in enums) if enums else None
            self._fields[b"%d" % tag] = _Field(tag, name, typ, ev, kind, slot)
            self.fields[tag] = (name, typ)
            if enums:
                self.enums[tag] = {e.encode("latin-1"): d for e, d in enums}
            slot += 1
        self._names = {n: t for t, (n, _ty) in self.fields.items()}
        self._nslots = slot
        self._tls = threading.local()  # one _Scratch per thread: validate() may run in several at once

        header, trailer = spec["header"], spec["trailer"]
        self._header_groups = self._groups_of(header)
        self._trailer_groups = self._groups_of(trailer)
        self.header_tags: tuple[int, ...] = tuple(n[0] for n in header)
        self.trailer_tags: tuple[int, ...] = tuple(n[0] for n in trailer)
        for n in header:
            f = self._field(n[0])
            f.sec = _SEC_HEADER
            f.key = {8: -3, 9: -2, 35: -1}.get(f.tag, f.tag)
        for n in trailer:
            f = self._field(n[0])
            f.sec = _SEC_TRAILER
            f.key = 1 << 40 if f.tag == 10 else f.tag
        self._hreq = self._required(header)
        self._treq = self._required(trailer)
        self._msgs: dict[bytes, _Msg] = {}
        for mt, name, cat, nodes in spec["messages"]:
            mtb = mt.encode("latin-1")
            is_app = cat == "app" if cat in ("app", "admin") else mtb not in _ADMIN_TYPES
            self._msgs[mtb] = _Msg(mtb, name, is_app, frozenset(b"%d" % n[0] for n in nodes),
                                   self._groups_of(nodes), self._required(nodes), tuple(n[0] for n in nodes))
        def mark(groups: dict[bytes, _Group]) -> None:
            for tb, g in groups.items():
                self._fields[tb].count = True
                mark(g.groups)

        mark(self._header_groups)
        mark(self._trailer_groups)
        for m in self._msgs.values():
            mark(m.groups)
        # what the validator's loop unpacks: (section, slot, kind, enum values, NumInGroup?, field)
        for f in self._fields.values():
            f.entry = (f.sec, f.slot, f.kind, f.enum, f.count, f)
        self._ht_fdict = {tb: f.entry for tb, f in self._fields.items() if f.sec != _SEC_BODY}
        for m in self._msgs.values():
            m.fdict = {**self._ht_fdict, **{tb: self._fields[tb].entry for tb in m.fields}}
        self.spec = spec

    # ---------------------------------------------------------------------------------- building
    def _field(self, tag: int) -> _Field:
        f = self._fields.get(b"%d" % tag)
        if f is None:
            raise SpecError(f"{self.source}: tag {tag} is used but not defined in the fields section")
        return f

    def _required(self, nodes: list[list[Any]]) -> tuple[tuple[int, int], ...]:
        return tuple(sorted((n[0], self._field(n[0]).slot) for n in nodes if n[1]))

    def _groups_of(self, nodes: list[list[Any]]) -> dict[bytes, _Group]:
        out: dict[bytes, _Group] = {}
        for n in nodes:
            if len(n) > 2:
                members = n[2]
                mdict: dict[bytes, tuple[int, int]] = {}
                for pos, mn in enumerate(members):
                    mdict.setdefault(b"%d" % mn[0], (pos, self._field(mn[0]).slot))
                out[b"%d" % n[0]] = _Group(n[0], b"%d" % members[0][0], mdict, self._groups_of(members),
                                           self._required(members), tuple(mn[0] for mn in members))
        return out

    @staticmethod
    def standard(begin_string: str) -> DataDictionary:
        """The complete shipped dictionary of ``FIX.4.2`` or ``FIX.4.4`` (cached: one per version)."""
        if isinstance(begin_string, bytes):
            begin_string = begin_string.decode("ascii", "replace")
        return _standard(begin_string)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> DataDictionary:
        """Read a QuickFIX-format XML data dictionary; :class:`SpecError` names the line of a problem."""
        spec = parse_quickfix_xml(path)
        return cls(spec, os.fspath(path))

    @staticmethod
    def standard_versions() -> tuple[str, ...]:
        return STANDARD_VERSIONS

    @staticmethod
    def hft_venue(begin_string: str) -> DataDictionary:
        """The standard dictionary plus what hft's simulator (``hft sim``) and hft's engine send beyond it
        (:data:`HFT_VENUE_EXTENSIONS`): a session between them can validate with the default options.
        Cached: one per version."""
        return _hft_venue(begin_string)

    def extended(self, fields: Mapping[int, tuple[str, str]] | None = None,
                 msg_fields: Mapping[bytes, Iterable[int]] | None = None) -> DataDictionary:
        """A copy with more fields (tag -> (name, type)) and more optional top-level fields in some message
        types (msg type -> tags), as a venue's own XML dictionary would add them."""
        spec = json.loads(json.dumps(self.spec))
        known = {f[0] for f in spec["fields"]}
        for tag, (name, typ) in sorted((fields or {}).items()):
            if tag not in known:
                spec["fields"].append([tag, name, typ.upper(), []])
                known.add(tag)
        by_type = {m[0]: m for m in spec["messages"]}
        for mt, tags in (msg_fields or {}).items():
            m = by_type.get(mt.decode("latin-1"))
            if m is None:
                raise ValueError(f"message type {mt!r} is not in the {self.begin_string} dictionary")
            present = {n[0] for n in m[3]}
            for tag in tags:
                if tag not in known:
                    raise ValueError(f"tag {tag} is not a field of the dictionary (add it to fields)")
                if tag not in present:
                    m[3].append([tag, False])
                    present.add(tag)
        return DataDictionary(spec, f"{self.source} + extensions")

    # ----------------------------------------------------------------------------------- queries
    def is_msg_type(self, msg_type: bytes) -> bool:
        return msg_type in self._msgs

    def is_app_message(self, msg_type: bytes) -> bool:
        """True for an application message (QuickFIX: anything but 0 1 2 3 4 5 A; msgcat when known)."""
        m = self._msgs.get(msg_type)
        return m.is_app if m is not None else msg_type not in _ADMIN_TYPES

    def msg_types(self) -> dict[bytes, str]:
        return {mt: m.name for mt, m in self._msgs.items()}

    def field_name(self, tag: int) -> str | None:
        f = self.fields.get(tag)
        return None if f is None else f[0]

    def field_tag(self, name: str) -> int | None:
        return self._names.get(name)

    def field_type(self, tag: int) -> str | None:
        f = self.fields.get(tag)
        return None if f is None else f[1]

    def required_tags(self, msg_type: bytes) -> tuple[int, ...] | None:
        """Required body tags of ``msg_type`` (ascending, as QuickFIX checks them); None if unknown."""
        m = self._msgs.get(msg_type)
        return None if m is None else tuple(t for t, _s in m.required)

    def msg_fields(self, msg_type: bytes) -> tuple[int, ...] | None:
        """Top-level body tags of ``msg_type`` in definition order (group NumInGroup tags included)."""
        m = self._msgs.get(msg_type)
        return None if m is None else m.order

    def groups(self, msg_type: bytes) -> dict[int, tuple[int, tuple[int, ...]]]:
        """NumInGroup tag -> (delimiter, member tags in order) of every group of ``msg_type``, nested
        groups included."""
        m = self._msgs.get(msg_type)
        out: dict[int, tuple[int, tuple[int, ...]]] = {}

        def walk(gs: dict[bytes, _Group]) -> None:
            for g in gs.values():
                out.setdefault(g.count, (int(g.delim), g.order))
                walk(g.groups)

        if m is not None:
            walk(m.groups)
        return out

    def is_header_field(self, tag: int) -> bool:
        f = self._fields.get(b"%d" % tag)
        return f is not None and f.sec == _SEC_HEADER

    def is_trailer_field(self, tag: int) -> bool:
        f = self._fields.get(b"%d" % tag)
        return f is not None and f.sec == _SEC_TRAILER

    # ---------------------------------------------------------------------------------- validate
    def _reject(self, code: int, tag: int | None, msg_type: bytes) -> Rejection:
        bs = self.begin_string
        if (bs < "FIX.4.2" and not bs.startswith("FIXT")) or (bs == "FIX.4.2" and code > 11):
            reason = None
        else:
            reason = code
        return Rejection(reason, tag, REJECT_TEXT[code], msg_type, code)

    def _scratch(self) -> _Scratch:
        try:
            sc: _Scratch = self._tls.sc
        except AttributeError:
            sc = self._tls.sc = _Scratch(self._nslots)
        return sc

    def validate(self, msg: FixMessage, options: ValidationOptions = DEFAULT_OPTIONS) -> Rejection | None:
        """Check ``msg`` against the dictionary; None if valid, else the first problem QuickFIX reports."""
        toks = msg._toks
        if toks is None:
            toks = msg._tokens()
        mt = msg.msg_type
        m = self._msgs.get(mt)
        o = options
        if m is not None:
            mfields = m.fdict
            body_groups = m.groups
        else:
            mfields = self._ht_fdict
            body_groups = _EMPTY_GROUPS
        fmap = self._fields
        chk_empty = o.validate_fields_have_values
        chk_fmt = o.validate_data_format
        chk_enum = o.validate_enum_values
        sc = self._scratch()
        gen = next(sc.gen)
        seen = sc.stamps[0]

        n = len(toks)
        i = 0
        state = _SEC_HEADER
        struct_tag = 0  # 0: none (0 is no header field's tag, so it cannot be the culprit)
        best_key: tuple[int, int, int] | None = None
        best_code = 0
        best_tag = 0
        pending: list[tuple[_Field, bytes]] | None = None  # NumInGroup fields to compare once all are read
        extra_seen: set[int] | None = None  # tags the dictionary does not know, to find their repeats
        repeated = False  # a tag repeats: which copy QuickFIX checks first needs its sort (_iterate_exact)
        sc.clear()  # (a method, not assignments here: mypy(c) would narrow sc.greq to None below)
        while i < n:
            tb = toks[i]
            v = toks[i + 1]
            i += 2
            e = mfields.get(tb)
            inmsg = True
            if e is None:
                # the rare path: a known field this message does not define, a tag the dictionary does not
                # know, or a tag spelt with leading zeros
                f = fmap.get(tb)
                if f is None:
                    t = _tag_int(tb)
                    if t is None:
                        return Rejection(None, None, f"Field tag is invalid: {tb[:32]!r}", mt, 0, True)
                    tb = b"%d" % t
                    e = mfields.get(tb)
                    if e is None:
                        f = fmap.get(tb)
                        if f is None:
                            if extra_seen is None:
                                extra_seen = set()
                            if t in extra_seen:
                                repeated = True
                            state, st, key, code = _unknown_field(t, v, state, o, extra_seen)
                            if st and not struct_tag:
                                struct_tag = st
                            if key is not None and (best_key is None or key < best_key):
                                best_key, best_code, best_tag = key, code, t
                            continue
                        inmsg = False
                        e = f.entry
                else:
                    inmsg = False
                    e = f.entry
            sec, s, k, enum, cnt, f = e
            # header / body / trailer structure (Message::setString)
            if sec == 2:  # body
                if state == 1 and not struct_tag:
                    struct_tag = f.tag
                state = 2
            elif sec == 0:  # header
                if state and not struct_tag:
                    struct_tag = f.tag
            else:
                state = 1
            if cnt and inmsg:
                grp = (body_groups if sec == 2 else self._header_groups if sec == 0 else self._trailer_groups
                       ).get(tb)
                if grp is not None:
                    i, entries = self._parse_group(sc, toks, i, n, grp, 1, o, (f.tag,) if sec == 2
                                                   and m is not None and m.required else None)
                    gtot = sc.gtot
                    if sc.gtot_gen[s] != gen:
                        sc.gtot_gen[s] = gen
                        gtot[s] = entries
                    else:
                        gtot[s] += entries
            # per-field checks (DataDictionary::iterate)
            if seen[s] == gen:
                repeated = True
                if o.validate_repeated_tags:
                    key = (sec, f.key, 1)
                    if best_key is None or key < best_key:
                        best_key, best_code, best_tag = key, 13, f.tag
                continue
            seen[s] = gen
            if not v:
                if chk_empty:
                    code = 4
                elif k and chk_fmt and not _format_ok(k, v):
                    code = 6
                elif enum is not None and chk_enum and (f.tag != 35 or o.validate_msg_type):
                    code = 5
                elif not inmsg and sec == 2 and m is not None and o.validate_msg_fields and (
                        o.validate_user_defined_fields if f.tag >= USER_MIN
                        else not o.allow_unknown_msg_fields):
                    code = 2
                else:
                    continue
            elif k and chk_fmt and not (k < 4 and v.isdigit() and len(v) < 10) and not _format_ok(k, v):
                code = 6  # (kinds below 4, FLOAT INT SEQNUM, take any value of up to 9 digits)
            elif enum is not None and chk_enum and v not in enum and (
                    not f.multi or not all(x in enum for x in v.split(b" "))) and (
                    f.tag != 35 or o.validate_msg_type):
                code = 5
            elif inmsg:
                if cnt and sec == 2 and o.validate_group_counts:
                    # QuickFIX compares with all the group's entries in the message: check at the end
                    if pending is None:
                        pending = []
                    pending.append((f, v))
                continue
            elif sec == 2 and m is not None and o.validate_msg_fields and (
                    o.validate_user_defined_fields if f.tag >= USER_MIN else not o.allow_unknown_msg_fields):
                code = 2
            else:
                continue
            key = (sec, f.key, 0)
            if best_key is None or key < best_key:
                best_key, best_code, best_tag = key, code, f.tag

        if pending is not None:
            gtot = sc.gtot
            for f, v in pending:
                if _tag_int(v) != gtot[f.slot]:
                    key = (_SEC_BODY, f.key, 0)
                    if best_key is None or key < best_key:
                        best_key, best_code, best_tag = key, 16, f.tag
        # precedence: structure, group order, MsgType, required, then the per-field problems
        if struct_tag and o.validate_fields_out_of_order:
            return self._reject(14, struct_tag, mt)
        if sc.gorder is not None:
            return self._reject(15, sc.gorder, mt)
        if m is None:
            if o.validate_msg_type:
                return self._reject(11, None, mt)
        elif o.validate_required_fields:
            for t, s in self._hreq:
                if seen[s] != gen:
                    return self._reject(1, t, mt)
            for t, s in self._treq:
                if seen[s] != gen:
                    return self._reject(1, t, mt)
            if m.required:
                for t, s in m.required:
                    if seen[s] != gen:
                        return self._reject(1, t, mt)
                if sc.greq is not None:
                    return self._reject(1, sc.greq[1], mt)
        if best_key is not None:
            if repeated:
                exact = self._iterate_exact(sc, toks, m, o)
                if exact is not None:
                    best_code, best_tag = exact
            return self._reject(best_code, best_tag, mt)
        return None

    def _iterate_exact(self, sc: _Scratch, toks: list[bytes], m: _Msg | None, o: ValidationOptions
                       ) -> tuple[int, int] | None:
        """DataDictionary::iterate exactly, for a message in which a tag repeats (the rare, rejected case):
        QuickFIX sorts each section's fields with std::sort, which is not stable, so which copy of a
        repeated tag is checked first (and which one is "the repeat") depends on that sort. Returns the
        (code, tag) of the first problem."""
        sections: tuple[list[tuple[int, int, bytes, _Field | None, bool]], ...] = ([], [], [])
        totals: dict[int, int] = {}
        mfields = m.fdict if m is not None else self._ht_fdict
        body_groups = m.groups if m is not None else _EMPTY_GROUPS
        n = len(toks)
        i = 0
        while i < n:
            tb = toks[i]
            v = toks[i + 1]
            i += 2
            e = mfields.get(tb)
            inmsg = True
            if e is None:
                t = _tag_int(tb)
                if t is None:
                    return None
                tb = b"%d" % t
                e = mfields.get(tb)
                if e is None:
                    fu = self._fields.get(tb)
                    if fu is None:
                        if t in _STATIC_HEADER:
                            hkey = {8: -3, 9: -2, 35: -1}.get(t, t)
                            sections[_SEC_HEADER].append((hkey, t, v, None, False))
                        elif t in _STATIC_TRAILER:
                            sections[_SEC_TRAILER].append((1 << 40 if t == 10 else t, t, v, None, False))
                        else:
                            sections[_SEC_BODY].append((t, t, v, None, False))
                        continue
                    e = fu.entry
                    inmsg = False
            sec, _s, _k, _enum, cnt, f = e
            if cnt and inmsg:
                grp = (body_groups if sec == _SEC_BODY else self._header_groups if sec == _SEC_HEADER
                       else self._trailer_groups).get(tb)
                if grp is not None:
                    i, c = self._parse_group(sc, toks, i, n, grp, 1, o, None)
                    totals[f.tag] = totals.get(f.tag, 0) + c
            sections[sec].append((f.key, f.tag, v, f, inmsg))
        for sec in (_SEC_HEADER, _SEC_TRAILER, _SEC_BODY):
            items = sections[sec]
            _libstdcxx_sort(items)
            last = None
            for idx, (_key, tag, v, fo, inmsg) in enumerate(items):
                if idx and tag == last and o.validate_repeated_tags:
                    return 13, tag
                last = tag
                code = self._field_code(fo, tag, v, inmsg, sec, m, o, totals)
                if code >= 0:
                    return code, tag
        return None

    @staticmethod
    def _field_code(f: _Field | None, tag: int, v: bytes, inmsg: bool, sec: int, m: _Msg | None,
                    o: ValidationOptions, totals: dict[int, int]) -> int:
        """The checks of DataDictionary::iterate on one field, as the main loop makes them; -1 if fine."""
        checked = o.validate_user_defined_fields if tag >= USER_MIN else not o.allow_unknown_msg_fields
        if not v and o.validate_fields_have_values:
            return 4
        if f is None:
            return 0 if o.validate_tag_numbers and checked else -1
        if f.kind and o.validate_data_format and not _format_ok(f.kind, v):
            return 6
        if f.enum is not None and o.validate_enum_values and v not in f.enum and (
                not f.multi or not v or not all(x in f.enum for x in v.split(b" "))) and (
                tag != 35 or o.validate_msg_type):
            return 5
        if not inmsg and sec == _SEC_BODY and m is not None and o.validate_msg_fields and checked:
            return 2
        if inmsg and f.count and sec == _SEC_BODY and o.validate_group_counts and tag in totals and (
                _tag_int(v) != totals[tag]):
            return 16
        return -1

    def _parse_group(self, sc: _Scratch, toks: list[bytes], i: int, n: int, g: _Group, depth: int,
                     options: ValidationOptions, path: tuple[int, ...] | None) -> tuple[int, int]:
        """Entries of group ``g`` from token ``i`` on (Message::setGroup); returns (next index, count).

        Records the first required member missing (when ``path`` is given: a body group of a message
        with required fields, as QuickFIX checks them) and, with validate_unordered_group_fields, the
        first member out of its definition order, in ``sc.greq`` and ``sc.gorder``.
        """
        seen = sc.row(depth)
        members = g.members
        delim = g.delim
        gen = 0
        count = 0
        last = -1
        chk_order = options.validate_unordered_group_fields
        while i < n:
            tb = toks[i]
            mem = members.get(tb)
            if mem is None:
                if len(tb) < 2 or tb[:1] != b"0":
                    break
                t = _tag_int(tb)  # a member spelt with leading zeros is still the member
                if t is None:
                    break
                tb = b"%d" % t
                mem = members.get(tb)
                if mem is None:
                    break
            pos, slot = mem
            if tb == delim or gen == 0 or seen[slot] == gen:
                if gen and path is not None:
                    self._entry_required(sc, g, seen, gen, path)
                gen = next(sc.gen)
                count += 1
                last = -1
            elif chk_order and pos < last and sc.gorder is None:
                sc.gorder = int(tb)
            seen[slot] = gen
            last = pos
            i += 2
            sub = g.groups.get(tb) if g.groups else None
            if sub is not None:
                i, _c = self._parse_group(sc, toks, i, n, sub, depth + 1, options,
                                          None if path is None else (*path, gen, 1, sub.count))
                seen = sc.stamps[depth]
        if gen and path is not None:
            self._entry_required(sc, g, seen, gen, path)
        return i, count

    def _entry_required(self, sc: _Scratch, g: _Group, seen: list[int], gen: int,
                        path: tuple[int, ...]) -> None:
        # key: top-level NumInGroup tag, then entries in wire order (their generation numbers grow),
        # own required members (0) before nested groups (1): QuickFIX's checkHasRequired order
        for t, s in g.required:
            if seen[s] != gen:
                key = (*path, gen, 0, t)
                cur = sc.greq
                if cur is None or key < cur[0]:
                    sc.greq = (key, t)
                return


# (module-level caches: mypyc compiles DataDictionary's methods, and a decorated method is not one)
@cache
def _standard(begin_string: str) -> DataDictionary:
    return DataDictionary(load_standard_spec(begin_string), f"hft {begin_string} dictionary")


@cache
def _hft_venue(begin_string: str) -> DataDictionary:
    if begin_string not in HFT_VENUE_EXTENSIONS:
        raise ValueError(f"no hft venue dictionary for {begin_string!r}: {', '.join(HFT_VENUE_EXTENSIONS)}")
    ext = HFT_VENUE_EXTENSIONS[begin_string]
    return _standard(begin_string).extended(ext["fields"], ext["msg_fields"])
