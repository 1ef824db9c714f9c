"""The bulk NoMDEntries accessor: fast (canonical layout) and general paths agree with group()."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hft.fix.encoder import FixEncoder
from hft.fix.parser import FixValueError, parse_one

ENC = FixEncoder("FIX.4.2", "SIM", "ME")


def via_group(msg) -> list[tuple]:
    first = 279 if msg.has(279) else 269
    out = []
    msg_sym = msg.get(55) if msg.msg_type == b"W" else None
    for e in msg.group(268, first):
        out.append((e.get(279) or b"", e.get(269) or b"", e.get_price(270), e.get_int(271),
                    e.get(55) or msg_sym or b"", e.get_int(290) or 0))
    return out


entry = st.tuples(
    st.sampled_from(["0", "1", "2"]), st.sampled_from(["0", "1", "2"]),
    st.one_of(st.none(), st.sampled_from(["BHP", "CBA", "XYZ"])),
    st.integers(min_value=1, max_value=10**8), st.integers(min_value=0, max_value=10**7),
    st.one_of(st.none(), st.integers(min_value=1, max_value=10)),
    st.booleans(),  # add a non-canonical extra field (MDEntryID 278) -> general path
    st.booleans(),  # trailing MDEntryTime (273), as the simulator sends: still the fast path
)


@settings(max_examples=150, deadline=None)
@given(st.lists(entry, min_size=1, max_size=8), st.booleans())
def test_md_entries_matches_group(entries, trailing_field) -> None:
    body: list[tuple[int, str | int]] = [(262, "R1"), (268, len(entries))]
    for action, etype, sym, px, qty, pos, extra, t273 in entries:
        body += [(279, action), (269, etype)]
        if extra:
            body.append((278, "E1"))
        if sym:
            body.append((55, sym))
        body += [(270, f"{px // 10_000}.{px % 10_000:04d}"), (271, qty)]
        if pos:
            body.append((290, pos))
        if t273:
            body.append((273, "01:02:03.456789"))
    if trailing_field:
        body.append((58, "after the group"))
    msg = parse_one(ENC.encode("X", body, 9))
    got = msg.md_entries()
    assert got == via_group(msg)
    assert [(e[2], e[3]) for e in got] == [(px, qty) for _, _, _, px, qty, _, _, _ in entries]


def test_snapshot_entries_use_message_symbol() -> None:
    body = [(55, "BHP"), (268, 2), (269, "0"), (270, "45.12"), (271, 100), (269, "1"), (270, "45.13"),
            (271, 200)]
    msg = parse_one(ENC.encode("W", body, 3))
    assert msg.md_entries() == [(b"", b"0", 451_200, 100, b"BHP", 0), (b"", b"1", 451_300, 200, b"BHP", 0)]


def test_count_mismatch_and_bad_values_raise() -> None:
    bad_count = parse_one(ENC.encode("X", [(268, 3), (279, "0"), (269, "0"), (270, "1.5"), (271, 1)], 4))
    with pytest.raises(FixValueError):
        bad_count.md_entries()
    bad_px = parse_one(ENC.encode("X", [(268, 1), (279, "0"), (269, "0"), (270, "1.5x"), (271, 1)], 5))
    with pytest.raises(FixValueError):
        bad_px.md_entries()
    assert parse_one(ENC.encode("X", [(262, "R")], 6)).md_entries() == []
