"""Bad input: the stream parser never raises, never spins, stays bounded, and recovers every good frame."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hft.fix.encoder import FixEncoder
from hft.fix.parser import FixFrameError, FixStreamParser, FixValueError, parse_one

T0 = 1_700_000_000_123_456_789
ENC = FixEncoder("FIX.4.4", "SIM", "ME")


def _good(i: int) -> bytes:
    return ENC.encode("X", [(268, 2), (279, "0"), (269, "0"), (270, "45.12"), (271, 100 + i),
                            (279, "1"), (269, "1"), (270, "45.13"), (271, 200 + i)], i + 1, T0)


GOOD = [_good(i) for i in range(8)]
ATOMS = [b"8=FIX.4.4\x019=", b"\x0110=", b"\x01", b"=", b"8=FIX", b"9=999999999\x01", b"9=12x\x01",
         b"35=X", b"10=000\x01", b"\n", b"|", b"8=", b"8=FIX.4.4\x019=5\x01", b"9=-3\x01"]


@st.composite
def garbage(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return draw(st.binary(max_size=80))
    if kind == 1:  # truncated good frame
        g = draw(st.sampled_from(GOOD))
        return g[: draw(st.integers(1, len(g) - 1))]
    if kind == 2:  # one flipped byte
        g = bytearray(draw(st.sampled_from(GOOD)))
        i = draw(st.integers(0, len(g) - 1))
        g[i] = (g[i] + draw(st.integers(1, 255))) % 256
        return bytes(g)
    if kind == 3:  # huge or non-digit BodyLength
        g = draw(st.sampled_from(GOOD))
        bad = draw(st.sampled_from([b"99999999999", b"70000", b"1x2", b"", b"-5", b"\x00"]))
        return g.replace(b"\x019=", b"\x019=" + bad + b"0", 1)[: draw(st.integers(10, 400))]
    if kind == 4:  # missing SOH
        g = draw(st.sampled_from(GOOD))
        return g.replace(b"\x01", b"", draw(st.integers(1, 3)))
    return b"".join(draw(st.lists(st.sampled_from(ATOMS), max_size=8)))


def _drain(p: FixStreamParser, data: bytes, chunk: int, cap: int) -> list[bytes]:
    out: list[bytes] = []
    for i in range(0, len(data), chunk):
        p.feed(data[i : i + chunk])
        assert p.buffered <= cap
        for _ in range(len(data) + 2):  # never loops forever: bounded number of messages per feed
            m = p.next_message()
            if m is None:
                break
            out.append(m.raw)
        else:
            raise AssertionError("parser produced more messages than bytes")
    p.close()
    return out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pieces=st.lists(st.tuples(garbage(), st.integers(0, len(GOOD) - 1)), min_size=1, max_size=6),
    tail=garbage(),
    chunk=st.sampled_from([1, 3, 17, 64, 1 << 16]),
)
def test_interleaved_garbage_every_good_frame_recovered_in_order(pieces, tail: bytes, chunk: int) -> None:
    data = b""
    expected = []
    for junk, gi in pieces:
        data += junk + GOOD[gi]
        expected.append(GOOD[gi])
    data += tail
    p = FixStreamParser(max_frame=4096, max_buffer=1 << 16)
    got = _drain(p, data, chunk, 1 << 16)
    assert got == expected
    assert p.frames_ok == len(expected)
    if any(j for j, _ in pieces) or tail:
        assert p.frames_bad >= 1 or all(j.strip(b"\x00") == b"" for j, _ in pieces)
    for e in p.errors:
        assert 0 <= e.offset < len(data) and e.reason


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=600), chunk=st.integers(1, 700))
def test_random_bytes_never_raise(data: bytes, chunk: int) -> None:
    p = FixStreamParser(max_frame=512, max_buffer=2048)
    _drain(p, data, chunk, 2048)
    assert p.frames_ok == 0 or b"10=" in data


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=400))
def test_parse_one_raises_only_frame_error(data: bytes) -> None:
    try:
        m = parse_one(data)
    except FixFrameError as e:
        assert e.reason
        return
    # whatever parsed must be self-consistent
    assert m.raw == data and m.msg_type


@settings(max_examples=100, deadline=None)
@given(g=st.sampled_from(GOOD), i=st.integers(0, 10_000), b=st.integers(1, 255))
def test_single_byte_corruption_never_accepted(g: bytes, i: int, b: int) -> None:
    ba = bytearray(g)
    i %= len(ba)
    ba[i] = (ba[i] + b) % 256
    p = FixStreamParser()
    p.feed(bytes(ba) + g)
    assert [m.raw for m in p] == [g]
    assert p.frames_bad >= 1


def test_buffer_cap_with_garbage_flood() -> None:
    p = FixStreamParser(max_frame=1024, max_buffer=4096)
    junk = b"x" * 1000
    for _ in range(1000):
        p.feed(junk)
        assert p.next_message() is None
        assert p.buffered <= 4096
    p.feed(GOOD[0])
    assert p.next_message().raw == GOOD[0]  # type: ignore[union-attr]
    assert p.frames_bad == 1 and "garbage" in p.errors[0].reason


def test_stalled_huge_length_frame_is_bounded() -> None:
    # declared length just under max_frame and no trailer: parser waits, but never beyond max_frame
    p = FixStreamParser(max_frame=2048, max_buffer=8192)
    p.feed(b"8=FIX.4.4\x019=2000\x0135=0\x01" + b"A" * 1500)
    assert p.next_message() is None
    p.feed(b"A" * 600 + GOOD[1])
    assert [m.raw for m in p] == [GOOD[1]]
    assert p.errors[0].reason == "wrong body length: no CheckSum (10) at the end given by BodyLength (9) 2000"


@settings(max_examples=100, deadline=None)
@given(v=st.binary(max_size=30), getter=st.sampled_from(
    ["get_int", "get_price", "get_char", "get_bool", "get_decimal", "get_timestamp_ns", "get_str"]))
def test_typed_getters_raise_only_fix_value_error(v: bytes, getter: str) -> None:
    v = v.replace(b"\x01", b"").replace(b"=", b"") or b"0"
    m = parse_one(ENC.encode("D", [(58, v)], 1, T0))
    try:
        getattr(m, getter)(58)
    except FixValueError as e:
        assert e.tag == 58
