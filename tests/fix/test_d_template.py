"""FixEncoder.d_template + new_order_single_t: byte-identical to new_order_single for every option."""

from __future__ import annotations

import itertools

from hft.fix.encoder import FixEncoder
from hft.fix.parser import parse_one


def test_template_frames_identical_to_new_order_single() -> None:
    ns = 1_790_000_000_123_456_789
    for extra_header, price, acct, exd, handl, tail, extra in itertools.product(
            ((), ((50, "TRADER"),)), (449_900, 12_345, None), (b"U123", None), (b"ASX", None), (b"1", None),
            (b"", b"\x0115=AUD\x01167=CS"), (b"", b"\x016001=42")):
        enc = FixEncoder("FIX.4.2", "HFT", "IB", extra_header=extra_header)
        want = enc.new_order_single(7, b"k1-9", b"BHP", 2, 300, price, ord_type=b"2" if price else b"1",
                                    tif=b"3", account=acct, exdest=exd, handl_inst=handl,
                                    sending_time_ns=ns, tail=tail + extra)
        t = enc.d_template(b"BHP", 2, ord_type=b"2" if price else b"1", tif=b"3", account=acct, exdest=exd,
                           handl_inst=handl, tail=tail)
        got = enc.new_order_single_t(7, ns, t, b"k1-9", 300, price, extra)
        assert got == want
        assert parse_one(got).msg_type == b"D"
        # the second call in the same second takes the cached-timestamp branch
        assert enc.new_order_single_t(8, ns + 1000, t, b"k1-9", 300, price, extra) == enc.new_order_single(
            8, b"k1-9", b"BHP", 2, 300, price, ord_type=b"2" if price else b"1", tif=b"3", account=acct,
            exdest=exd, handl_inst=handl, sending_time_ns=ns + 1000, tail=tail + extra)


def test_template_other_precisions_and_long_frames() -> None:
    ns = 1_790_000_000_123_456_789
    for prec in (0, 3, 9):
        enc = FixEncoder("FIX.4.4", "HFT", "IB", timestamp_precision=prec)
        t = enc.d_template(b"BHP", 1, tail=b"\x0158=" + b"x" * 300)  # > 256 bytes: chunked checksum
        for k in range(2):
            got = enc.new_order_single_t(3 + k, ns + k, t, b"c-1", 5, 12_345)
            want = enc.new_order_single(3 + k, b"c-1", b"BHP", 1, 5, 12_345, sending_time_ns=ns + k,
                                        tail=b"\x0158=" + b"x" * 300)
            assert got == want and parse_one(got).msg_type == b"D"
