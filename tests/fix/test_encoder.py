"""Encoder: exact bytes, header order, BodyLength/CheckSum, resend headers, round trip property."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hft.fix.encoder import FixEncodeError, FixEncoder, format_utc_timestamp, price_field
from hft.fix.parser import FixStreamParser, parse_one

T0 = 1_700_000_000_123_456_789


def test_exact_bytes_heartbeat() -> None:
    enc = FixEncoder("FIX.4.2", "ME", "IB")
    f = enc.encode("0", [], 1, T0)
    body = b"35=0\x0149=ME\x0156=IB\x0134=1\x0152=20231114-22:13:20.123456\x01"
    head = b"8=FIX.4.2\x019=%d\x01" % len(body)
    assert f == head + body + b"10=%03d\x01" % (sum(head + body) % 256)
    assert len(body) == 50 and f.startswith(b"8=FIX.4.2\x019=50\x0135=0\x01")


def test_header_order_and_resend_fields() -> None:
    enc = FixEncoder("FIX.4.4", "ME", "IB", extra_header=[(50, "TRADER"), (57, "DESK")])
    f = enc.encode(b"D", [(11, "C1"), (55, b"BHP"), (54, 1), (38, 100), (44, price_field(451_200))],
                   7, T0, poss_dup=True, orig_sending_time_ns=T0 - 5_000_000_000)
    m = parse_one(f)
    assert [t for t, _ in m.fields()] == [8, 9, 35, 49, 56, 34, 52, 43, 122, 50, 57, 11, 55, 54, 38, 44, 10]
    assert m.poss_dup and m.get(122) == b"20231114-22:13:15.123456"
    assert m.get_price(44) == 451_200 and m.seq_num == 7


def test_precision_option_and_format() -> None:
    assert format_utc_timestamp(T0) == b"20231114-22:13:20.123456"
    assert format_utc_timestamp(T0, 3) == b"20231114-22:13:20.123"
    assert format_utc_timestamp(T0, 9) == b"20231114-22:13:20.123456789"
    assert format_utc_timestamp(0, 0) == b"19700101-00:00:00"
    enc = FixEncoder("FIX.4.2", "A", "B", timestamp_precision=3)
    assert parse_one(enc.encode("0", [], 1, T0)).get(52) == b"20231114-22:13:20.123"


def test_bad_values_rejected() -> None:
    enc = FixEncoder("FIX.4.2", "A", "B")
    with pytest.raises(FixEncodeError):
        enc.encode("D", [(58, "a\x01b")], 1, T0)
    with pytest.raises(FixEncodeError):
        enc.encode("D", [(44, 1.5)], 1, T0)  # type: ignore[list-item]
    with pytest.raises(FixEncodeError):
        enc.encode("D", [(58, "")], 1, T0)


def test_fast_paths_match_generic_encode() -> None:
    enc = FixEncoder("FIX.4.2", "ME", "IB")
    fast = enc.new_order_single(5, b"C9", b"BHP", 2, 300, 530, account=b"U1", tif=b"3",
                                sending_time_ns=T0, transact_time_ns=T0)
    ts = format_utc_timestamp(T0)
    slow = enc.encode("D", [(1, "U1"), (21, "1"), (11, "C9"), (55, "BHP"), (54, 2), (38, 300), (40, "2"),
                            (44, "0.053"), (59, "3"), (60, ts)], 5, T0)
    assert fast == slow
    f = enc.order_cancel_request(6, b"C10", b"C9", b"BHP", 2, 300, sending_time_ns=T0)
    assert f == enc.encode("F", [(41, "C9"), (11, "C10"), (55, "BHP"), (54, 2), (38, 300), (60, ts)], 6, T0)
    g = enc.order_cancel_replace_request(7, b"C11", b"C10", b"BHP", 2, 200, 540, order_id=b"O1",
                                         sending_time_ns=T0)
    assert g == enc.encode("G", [(21, "1"), (41, "C10"), (37, "O1"), (11, "C11"), (55, "BHP"), (54, 2),
                                 (38, 200), (40, "2"), (44, "0.054"), (59, "0"), (60, ts)], 7, T0)
    assert parse_one(g).get_price(44) == 540


def test_encode_into_preallocated() -> None:
    enc = FixEncoder("FIX.4.2", "A", "B")
    buf = bytearray(16)
    n = enc.encode_into(buf, "1", [(112, "T")], 3, T0)
    assert bytes(buf[:n]) == enc.encode("1", [(112, "T")], 3, T0)


_value = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=20),
    st.binary(min_size=1, max_size=20).filter(lambda b: b"\x01" not in b),
)
_body = st.lists(st.tuples(st.integers(min_value=11, max_value=9999).filter(lambda t: t not in (
    34, 35, 43, 49, 52, 56, 97, 122)), _value), max_size=25)


def _as_bytes(v: bytes | str | int) -> bytes:
    return v if isinstance(v, bytes) else (b"%d" % v if isinstance(v, int) else v.encode())


@settings(max_examples=150, deadline=None)
@given(
    body=_body,
    seq=st.integers(min_value=1, max_value=2**31),
    ns=st.integers(min_value=0, max_value=4_102_444_800 * 10**9),
    mt=st.sampled_from(["D", "8", "X", "AE", "0"]),
    version=st.sampled_from(["FIX.4.2", "FIX.4.4"]),
)
def test_round_trip_property(body, seq: int, ns: int, mt: str, version: str) -> None:
    enc = FixEncoder(version, "SENDER", "TARGET")
    f = enc.encode(mt, body, seq, ns)
    m = parse_one(f)
    assert m.msg_type == mt.encode() and m.seq_num == seq and m.begin_string == version.encode()
    assert m.get_timestamp_ns(52) == ns // 1000 * 1000
    fields = m.fields()
    assert fields[7:-1] == [(t, _as_bytes(v)) for t, v in body]
    # and the stream parser agrees, byte by byte
    p = FixStreamParser()
    for i in range(len(f)):
        p.feed(f[i : i + 1])
    assert [x.raw for x in p] == [f]
