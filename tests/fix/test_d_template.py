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
