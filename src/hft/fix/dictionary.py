"""The FIX data dictionary as module-level tables and lookups: tags, types, message types, required fields,
enums, groups.

One source of truth: the complete FIX 4.2 and FIX 4.4 dictionaries shipped in :mod:`hft.fix.spec`
(generated from QuickFIX's FIX42.xml / FIX44.xml; the validator :mod:`hft.fix.validation` reads the same
files). The version-free tables here are their union, FIX 4.4 names first (e.g. tag 22 is
SecurityIDSource, 4.2's IDSource), plus a few tags of later FIX versions and hft/IBKR custom tags that
the stack decodes (``EXTRA_FIELDS``). Version-specific facts (required tags) come from the version's own
dictionary: e.g. ExecutionReport requires ExecTransType (20) in 4.2 only, NewOrderSingle HandlInst (21)
in 4.2 only.

Used by the decoder (``hft fix decode``), the parser (group layouts), the session layer and the simulator
gateway.
"""

from __future__ import annotations

from typing import Any, Final

from hft.fix.spec import load_standard_spec

_SPECS: Final = {v: load_standard_spec(v) for v in ("FIX.4.2", "FIX.4.4")}

# ----------------------------------------------------------------------------------------------- fields
# tags hft reads that FIX 4.2/4.4 do not define: later FIX versions, the simulator's, IBKR's
EXTRA_FIELDS: Final[dict[int, tuple[str, str]]] = {
    1023: ("MDPriceLevel", "INT"),  # FIX 5.0
    1128: ("ApplVerID", "STRING"),  # FIXT 1.1
    1137: ("DefaultApplVerID", "STRING"),  # FIXT 1.1
    1362: ("NoFills", "NUMINGROUP"),  # FIX 5.0 SP1
    1363: ("FillExecID", "STRING"),
    1364: ("FillPx", "PRICE"),
    1365: ("FillQty", "QTY"),
    6000: ("SimSendNs", "INT"),  # simulator: wall/monotonic ns just before the market data write
    6001: ("SimTickId", "INT"),  # simulator: id of a market data message; an order may echo it
    6035: ("IBLocalSymbol", "STRING"),  # IBKR CTCI custom tag
}


def _union_fields() -> dict[int, tuple[str, str]]:
    out: dict[int, tuple[str, str]] = {}
    for v in ("FIX.4.2", "FIX.4.4"):  # 4.4 last: its names win
        for tag, name, typ, _enums in _SPECS[v]["fields"]:
            out[tag] = (name, typ)
    for tag, nt in EXTRA_FIELDS.items():
        out.setdefault(tag, nt)
    return dict(sorted(out.items()))


# tag: (name, type). Types follow the FIX spec's names.
FIELDS: Final[dict[int, tuple[str, str]]] = _union_fields()

FIELD_NAMES: Final[dict[int, str]] = {t: nt[0] for t, nt in FIELDS.items()}
FIELD_TAGS: Final[dict[str, int]] = {nt[0]: t for t, nt in FIELDS.items()}
for _v in ("FIX.4.2",):  # 4.2 names of renamed tags still resolve (IDSource -> 22)
    for _t, _n, _ty, _e in _SPECS[_v]["fields"]:
        FIELD_TAGS.setdefault(_n, _t)
FIELD_TYPES: Final[dict[int, str]] = {t: nt[1] for t, nt in FIELDS.items()}

INT_TYPES: Final = frozenset({"INT", "SEQNUM", "LENGTH", "NUMINGROUP"})
DECIMAL_TYPES: Final = frozenset({"PRICE", "QTY", "AMT", "FLOAT", "PRICEOFFSET", "PERCENTAGE"})


def field_name(tag: int) -> str | None:
    return FIELD_NAMES.get(tag)


def field_tag(name: str) -> int | None:
    return FIELD_TAGS.get(name)


def field_type(tag: int) -> str | None:
    return FIELD_TYPES.get(tag)


# ----------------------------------------------------------------------------------------- msg types
def _union_msg_types() -> dict[bytes, str]:
    out: dict[bytes, str] = {}
    for v in ("FIX.4.2", "FIX.4.4"):
        for mt, name, _cat, _nodes in _SPECS[v]["messages"]:
            out[mt.encode("ascii")] = name
    return out


MSG_TYPES: Final[dict[bytes, str]] = _union_msg_types()
MSG_TYPE_CODES: Final[dict[str, bytes]] = {v: k for k, v in MSG_TYPES.items()}
SESSION_MSG_TYPES: Final = frozenset({b"0", b"1", b"2", b"3", b"4", b"5", b"A"})


def msg_type_name(code: bytes | str) -> str | None:
    if isinstance(code, str):
        code = code.encode("ascii", "replace")
    return MSG_TYPES.get(code)


def msg_type_code(name: str) -> bytes | None:
    return MSG_TYPE_CODES.get(name)


def is_session_message(code: bytes) -> bool:
    return code in SESSION_MSG_TYPES


# -------------------------------------------------------------------------------------- required tags
HEADER_REQUIRED: Final = (8, 9, 35, 49, 56, 34, 52)
TRAILER_REQUIRED: Final = (10,)


def _required(v: str) -> dict[bytes, tuple[int, ...]]:
    # ascending tag: the order QuickFIX checks them in (the first missing one is the one reported)
    return {mt.encode("ascii"): tuple(sorted(n[0] for n in nodes if n[1]))
            for mt, _name, _cat, nodes in _SPECS[v]["messages"]}


REQUIRED: Final[dict[str, dict[bytes, tuple[int, ...]]]] = {v: _required(v) for v in _SPECS}


def _group_required(v: str) -> dict[int, tuple[int, ...]]:
    out: dict[int, set[int]] = {}

    def walk(nodes: list[list[Any]]) -> None:  # the spec's JSON: [tag, required, members?]
        for n in nodes:
            if len(n) > 2:
                members = n[2]
                assert isinstance(members, list)
                req = (int(m[0]) for m in members if m[1])
                out.setdefault(int(n[0]), set()).update(req)
                walk(members)

    for _mt, _name, _cat, nodes in _SPECS[v]["messages"]:
        walk(nodes)
    return {c: tuple(sorted(t)) for c, t in sorted(out.items())}


# required tags inside each entry of a group (of a required group), any message: (version, count tag) -> tags
GROUP_REQUIRED: Final[dict[str, dict[int, tuple[int, ...]]]] = {v: _group_required(v) for v in _SPECS}
# In 35=X (4.2 and 4.4) each entry must carry 279 MDUpdateAction; in 4.4 269 may be omitted on a delete.
X_ENTRY_REQUIRED: Final[dict[str, tuple[int, ...]]] = {"FIX.4.2": (279,), "FIX.4.4": (279,)}


def _version_key(begin_string: bytes | str) -> str:
    if isinstance(begin_string, bytes):
        begin_string = begin_string.decode("ascii", "replace")
    return "FIX.4.2" if begin_string in ("FIX.4.0", "FIX.4.1", "FIX.4.2", "FIX.4.3") else "FIX.4.4"


def required_tags(begin_string: bytes | str, msg_type: bytes | str) -> tuple[int, ...] | None:
    """Required body tags of ``msg_type`` in that FIX version; None when the message type is unknown."""
    if isinstance(msg_type, str):
        msg_type = msg_type.encode("ascii", "replace")
    return REQUIRED[_version_key(begin_string)].get(msg_type)


# -------------------------------------------------------------------------------------------- enums
def _union_enums() -> dict[int, dict[bytes, str]]:
    out: dict[int, dict[bytes, str]] = {}
    for v in ("FIX.4.4", "FIX.4.2"):  # 4.4 descriptions first; 4.2 adds the values 4.4 dropped (150=1/2)
        for tag, _name, _typ, enums in _SPECS[v]["fields"]:
            if enums:
                d = out.setdefault(tag, {})
                for e, desc in enums:
                    d.setdefault(e.encode("latin-1"), desc)
    out[35] = MSG_TYPES  # message names read better than HEARTBEAT, NEW_ORDER_SINGLE, ...
    return out


ENUMS: Final[dict[int, dict[bytes, str]]] = _union_enums()


def enum_name(tag: int, value: bytes) -> str | None:
    e = ENUMS.get(tag)
    return None if e is None else e.get(value)


# Session Reject (35=3) SessionRejectReason (373) codes used by the session layer.
REJECT_INVALID_TAG_NUMBER: Final = 0
REJECT_REQUIRED_TAG_MISSING: Final = 1
REJECT_TAG_NOT_DEFINED_FOR_MSG_TYPE: Final = 2
REJECT_UNDEFINED_TAG: Final = 3
REJECT_TAG_WITHOUT_VALUE: Final = 4
REJECT_VALUE_INCORRECT: Final = 5
REJECT_INCORRECT_DATA_FORMAT: Final = 6
REJECT_COMPID_PROBLEM: Final = 9
REJECT_SENDINGTIME_ACCURACY: Final = 10
REJECT_INVALID_MSGTYPE: Final = 11
REJECT_TAG_APPEARS_MORE_THAN_ONCE: Final = 13
REJECT_INCORRECT_NUMINGROUP_COUNT: Final = 16

# ------------------------------------------------------------------------------------------- groups
# What the parser uses to cut a message's repeating groups into entries, whatever the message type and
# version: count tag -> (delimiter, every member tag, nested groups' members included). The members are the
# union over all messages of FIX 4.2 and 4.4, plus the members later FIX versions add to the market-data
# entries hft reads (_EXTRA_MEMBERS). NoMDEntries (268) starts with MDUpdateAction (279) in 35=X but with
# MDEntryType (269) in 35=W: the parser's md_entries reads 35=X, so 279 is its delimiter here.
_DELIMITER_OVERRIDES: Final[dict[int, int]] = {268: 279}
_EXTRA_MEMBERS: Final[dict[int, tuple[int, ...]]] = {
    268: (1023, 285, 454, 453, 386, 83),  # MDPriceLevel (FIX 5.0), and components later versions add
    1362: (1363, 1364, 1365, 1443, 1414),  # NoFills (FIX 5.0 SP1)
}


def _union_groups() -> tuple[dict[int, int], dict[int, set[int]]]:
    delims: dict[int, int] = {}
    direct: dict[int, set[int]] = {}

    def walk(nodes: list[list[Any]]) -> None:  # the spec's JSON: [tag, required, members?]
        for n in nodes:
            if len(n) > 2:
                members = n[2]
                assert isinstance(members, list)
                c = int(n[0])
                delims.setdefault(c, int(members[0][0]))
                direct.setdefault(c, set()).update(int(m[0]) for m in members)
                walk(members)

    for v in ("FIX.4.4", "FIX.4.2"):
        walk(_SPECS[v]["header"])
        for _mt, _name, _cat, nodes in _SPECS[v]["messages"]:
            walk(nodes)
    for c, extra in _EXTRA_MEMBERS.items():
        direct.setdefault(c, set()).update(extra)
    delims.setdefault(1362, 1363)
    delims.update(_DELIMITER_OVERRIDES)
    return delims, direct


def _closure(count_tag: int, direct: dict[int, set[int]], seen: frozenset[int] = frozenset()) -> set[int]:
    out = set(direct[count_tag])
    for m in direct[count_tag]:
        if m in direct and m not in seen and m != count_tag:
            out |= _closure(m, direct, seen | {count_tag})
    return out


_DELIMS, _DIRECT = _union_groups()
GROUP_DELIMITERS: Final[dict[int, int]] = dict(sorted(_DELIMS.items()))
GROUP_MEMBERS: Final[dict[int, frozenset[int]]] = {
    c: frozenset(_closure(c, _DIRECT)) for c in GROUP_DELIMITERS
}
# what the parser uses: count tag -> (delimiter, member tags as ASCII bytes, nested groups included)
GROUPS: Final[dict[int, tuple[int, frozenset[bytes]]]] = {
    c: (GROUP_DELIMITERS[c], frozenset(b"%d" % t for t in GROUP_MEMBERS[c])) for c in GROUP_DELIMITERS
}
