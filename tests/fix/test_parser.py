"""Parser: frame validation, lazy typed getters, groups, streaming with arbitrary chunking."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hft.fix.encoder import FixEncoder
from hft.fix.parser import FixFrameError, FixStreamParser, FixValueError, parse_one

T0 = 1_700_000_000_123_456_789  # 2023-11-14 22:13:20.123456789 UTC


def frame(s: str) -> bytes:
    """Build a valid frame from '|'-separated fields after BeginString (computes 9 and 10)."""
    body = s.replace("|", "\x01").encode() + b"\x01"
    head = b"8=FIX.4.2\x019=%d\x01" % len(body)
    msg = head + body
    return msg + b"10=%03d\x01" % (sum(msg) % 256)


MD_X = frame(
    "35=X|49=SIM|56=ME|34=12|52=20231114-22:13:20.123|268=4"
    "|279=0|269=0|270=45.12|271=100|290=1"
    "|279=1|269=1|270=45.13|271=200|290=1"
    "|279=2|269=0|270=45.11|271=300|290=2"
    "|279=0|269=1|270=0.053|271=400|290=2"
)
ER = frame(
    "35=8|49=SIM|56=ME|34=13|52=20231114-22:13:20.123456|37=O1|11=C1|17=E1|20=0|150=1|39=1"
    "|55=BHP|54=1|38=500|32=100|31=45.12|151=400|14=100|6=45.12|60=20231114-22:13:20"
)


def test_known_checksum_and_length() -> None:
    # classic example, checksum computed by hand: sum of bytes mod 256
    raw = b"8=FIX.4.2\x019=5\x0135=0\x0110=161\x01"
    assert sum(raw[:-7]) % 256 == 161
    m = parse_one(raw)
    assert m.msg_type == b"0"
    assert m.begin_string == b"FIX.4.2"


def test_header_and_typed_getters() -> None:
    m = parse_one(ER)
    assert m.msg_type == b"8"
    assert m.seq_num == 13
    assert m.sender_comp_id == b"SIM" and m.target_comp_id == b"ME"
    assert not m.poss_dup
    assert m.get(37) == b"O1"
    assert m.get_str(55) == "BHP"
    assert m.get_int(151) == 400
    assert m.get_char(39) == "1"
    assert m.get_price(31) == 451_200
    assert m.get_decimal(6) == Decimal("45.12")
    assert m.get_timestamp_ns(52) == T0 // 1000 * 1000
    assert m.get_timestamp_ns(60) == T0 // 10**9 * 10**9
    assert m.get(9999) is None and not m.has(44) and m.has(32)
    assert m.get_int(44, -1) == -1
    assert m.raw == ER


def test_timestamp_precisions() -> None:
    for ts, ns in (
        ("20231114-22:13:20.123", 1_700_000_000_123_000_000),
        ("20231114-22:13:20.123456", 1_700_000_000_123_456_000),
        ("20231114-22:13:20.123456789", 1_700_000_000_123_456_789),
        ("19700101-00:00:00", 0),
        ("20240229-23:59:59.999", 1_709_251_199_999_000_000),
    ):
        m = parse_one(frame(f"35=0|52={ts}"))
        assert m.get_timestamp_ns(52) == ns, ts


@pytest.mark.parametrize(
    ("tag", "value", "getter"),
    [
        (38, "12a", "get_int"),
        (44, "4.5.1", "get_price"),
        (44, "1.00001", "get_price"),
        (54, "12", "get_char"),
        (43, "X", "get_bool"),
        (52, "20231114-25:13:20", "get_timestamp_ns"),
        (52, "20230229-01:00:00", "get_timestamp_ns"),
        (52, "20231114-22:13:20.12", "get_timestamp_ns"),
        (6, "abc", "get_decimal"),
    ],
)
def test_wrong_type_raises_fix_value_error(tag: int, value: str, getter: str) -> None:
    m = parse_one(frame(f"35=D|{tag}={value}"))
    with pytest.raises(FixValueError) as ei:
        getattr(m, getter)(tag)
    assert ei.value.tag == tag
    assert isinstance(ei.value, ValueError)


def test_prices_exact() -> None:
    m = parse_one(frame("35=D|44=0.053|99=45|6=1.50000|31=-2.5"))
    assert m.get_price(44) == 530
    assert m.get_price(99) == 450_000
    assert m.get_price(6) == 15_000
    assert m.get_price(31) == -25_000


def test_md_group_entries() -> None:
    m = parse_one(MD_X)
    entries = m.group(268, 279)
    assert len(entries) == 4
    got = [(e.get_char(279), e.get_char(269), e.get_price(270), e.get_int(271), e.get_int(290))
           for e in entries]
    assert got == [("0", "0", 451_200, 100, 1), ("1", "1", 451_300, 200, 1),
                   ("2", "0", 451_100, 300, 2), ("0", "1", 530, 400, 2)]
    # message-level get returns the first occurrence
    assert m.get(270) == b"45.12"
    assert m.get_timestamp_ns(52) == 1_700_000_000_123_000_000


def test_group_count_mismatch_and_trailing_fields() -> None:
    m = parse_one(frame("35=X|268=3|279=0|269=0|270=1|271=1|279=0|269=1|270=2|271=2"))
    with pytest.raises(FixValueError):
        m.group(268, 279)
    # a non-member tag after the group ends the last entry
    m = parse_one(frame("35=W|55=BHP|268=2|269=0|270=1|271=5|269=1|270=2|271=6|1=done"))
    e = m.group(268, 269)
    assert [x.get_int(271) for x in e] == [5, 6]
    assert e[1].get(1) is None and m.get(1) == b"done"
    assert m.group(146, 55) == []


def test_nested_party_group_in_exec_report() -> None:
    m = parse_one(frame("35=8|37=1|453=2|448=ABC|447=D|452=1|448=XYZ|447=D|452=3|382=1|375=CB|437=10|58=x"))
    parties = m.group(453, 448)
    assert [(p.get_str(448), p.get_int(452)) for p in parties] == [("ABC", 1), ("XYZ", 3)]
    cb = m.group(382, 375)
    assert len(cb) == 1 and cb[0].get_int(437) == 10 and cb[0].get(58) is None


def test_fields_in_wire_order() -> None:
    m = parse_one(frame("35=0|49=A|56=B|34=1|52=20231114-22:13:20"))
    tags = [t for t, _ in m.fields()]
    assert tags == [8, 9, 35, 49, 56, 34, 52, 10]


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda f: f[:-4] + b"000\x01" if f[-4:-1] != b"000" else f[:-4] + b"001\x01", "bad checksum"),
        (lambda f: f.replace(b"9=", b"9=1", 1), "wrong body length"),
        (lambda f: f.replace(b"9=", b"9=x", 1), "non-digit BodyLength"),
        (lambda f: f.replace(b"8=FIX.4.2", b"8=FOO.4.2"), "BeginString"),
        (lambda f: f[:-1], "truncated"),
    ],
)
def test_parse_one_rejects(mutate, reason: str) -> None:
    with pytest.raises(FixFrameError) as ei:
        parse_one(mutate(ER))
    assert reason in ei.value.reason


def test_missing_msgtype() -> None:
    with pytest.raises(FixFrameError, match="missing tag 35"):
        parse_one(frame("49=A|35=0"))


def test_stream_any_chunking() -> None:
    enc = FixEncoder("FIX.4.4", "ME", "SIM")
    frames = [enc.encode("D", [(11, f"C{i}"), (55, "BHP"), (54, 1), (38, 100 + i)], i, T0)
              for i in range(1, 21)]
    data = b"".join(frames)
    for chunk in (1, 2, 3, 7, 64, 1000, len(data)):
        p = FixStreamParser()
        out = []
        for i in range(0, len(data), chunk):
            p.feed(data[i : i + chunk])
            out.extend(p)
        assert [m.raw for m in out] == frames, chunk
        assert [m.get_int(38) for m in out] == list(range(101, 121))
        assert p.frames_ok == 20 and p.frames_bad == 0 and p.buffered == 0


def test_stream_resync_after_bad_frames() -> None:
    bad_ck = ER[:-4] + (b"000\x01" if ER[-4:-1] != b"000" else b"001\x01")
    long_len = ER.replace(b"9=", b"9=9", 1)
    errors = []
    p = FixStreamParser(on_error=errors.append)
    data = b"garbage!" + MD_X + bad_ck + ER + long_len + MD_X + b"\x01\x01" + ER
    p.feed(data)
    got = [m.raw for m in p]
    assert got == [MD_X, ER, MD_X, ER]
    assert p.frames_bad == 4 and p.frames_ok == 4
    offs = [e.offset for e in p.errors]
    assert offs == [0, 8 + len(MD_X), 8 + len(MD_X) * 1 + len(bad_ck) + len(ER),
                    8 + len(MD_X) * 2 + len(bad_ck) + len(ER) + len(long_len)]
    assert "garbage" in p.errors[0].reason and "checksum" in p.errors[1].reason
    assert "body length" in p.errors[2].reason
    assert errors == list(p.errors)


def test_stream_truncated_at_end_reported_on_close() -> None:
    p = FixStreamParser()
    p.feed(ER + ER[:30])
    assert [m.raw for m in p] == [ER]
    assert p.frames_bad == 0
    p.close()
    assert p.frames_bad == 1 and "truncated" in p.errors[0].reason and p.errors[0].offset == len(ER)


def test_stream_buffer_cap() -> None:
    p = FixStreamParser(max_frame=256, max_buffer=1024)
    for _ in range(100):
        p.feed(ER)  # caller never drains
    assert p.buffered <= 1024
    assert any("buffer overflow" in e.reason for e in p.errors)
    assert p.next_message() is not None


def test_huge_body_length_rejected_without_waiting() -> None:
    p = FixStreamParser(max_frame=4096)
    p.feed(b"8=FIX.4.2\x019=99999999\x0135=0\x0110=000\x01" + ER)
    assert [m.raw for m in p] == [ER]
    assert "exceeds max frame" in p.errors[0].reason


def test_truncated_frame_after_bad_frame_reported_on_close() -> None:
    bad_ck = ER[:-4] + (b"000\x01" if ER[-4:-1] != b"000" else b"001\x01")
    p = FixStreamParser()
    p.feed(bad_ck + b"xx" + ER[:40])
    assert list(p) == []
    p.close()
    assert [e.offset for e in p.errors] == [0, len(bad_ck) + 2]
    assert "checksum" in p.errors[0].reason and "truncated" in p.errors[1].reason
