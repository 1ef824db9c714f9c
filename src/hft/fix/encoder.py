"""FIX message encoder: correct BodyLength (9) and CheckSum (10), header in the order FIX requires.

Header order: 8, 9, 35, 49, 56, 34, 52, then 43 and 122 for a possible-duplicate resend, then the
session's extra header fields (50/57/115/128 ...), then the body fields in the order given.

Speed: per-session constant bytes (``\\x0149=SENDER\\x0156=TARGET\\x0134=``, the extra header) are
preformatted once; tag prefixes come from a table; the SendingTime's ``YYYYMMDD-HH:MM:SS`` part is
cached per second; the message is assembled with one ``b"".join`` and the checksum is ``sum(bytes)``
(a C loop). :meth:`FixEncoder.encode_into` writes into a caller's preallocated ``bytearray``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any
from zlib import adler32 as _adler32

from hft.asx.ticks import format_price
from hft.fix.fastnum import byte_sum

__all__ = ["FixEncodeError", "FixEncoder", "format_utc_timestamp", "price_field"]

_SOH = b"\x01"
# tag -> b"tag=" for the body (each field is written as b"tag=" + value + SOH)
_TAGEQ: list[bytes] = [b"%d=" % i for i in range(10_000)]
_PFX: list[bytes] = [b"\x01%d=" % i for i in range(10_000)]


class FixEncodeError(ValueError):
    """A value cannot be put on the wire (contains SOH, wrong type, ...)."""


_sec_cache: dict[int, bytes] = {}


def _second_text(sec: int) -> bytes:
    t = _sec_cache.get(sec)
    if t is None:
        g = time.gmtime(sec)
        t = b"%04d%02d%02d-%02d:%02d:%02d" % (g.tm_year, g.tm_mon, g.tm_mday, g.tm_hour, g.tm_min,
                                              g.tm_sec)
        if len(_sec_cache) > 4096:
            _sec_cache.clear()
        _sec_cache[sec] = t
    return t


def format_utc_timestamp(ns: int, precision: int = 6) -> bytes:
    """UTC epoch ns -> ``YYYYMMDD-HH:MM:SS[.sss|.ssssss|.sssssssss]`` (precision 0, 3, 6 or 9)."""
    sec, sub = divmod(ns, 1_000_000_000)
    head = _second_text(sec)
    if precision == 6:
        return b"%s.%06d" % (head, sub // 1000)
    if precision == 3:
        return b"%s.%03d" % (head, sub // 1_000_000)
    if precision == 9:
        return b"%s.%09d" % (head, sub)
    if precision == 0:
        return head
    raise ValueError(f"timestamp precision must be 0, 3, 6 or 9, not {precision}")


_px44_cache: dict[int, bytes] = {}


def _px44(price: int) -> bytes:
    """``SOH 44=<price>`` for a price in units, cached (a strategy sends few distinct prices)."""
    f = _px44_cache.get(price)
    if f is None:
        if len(_px44_cache) >= 4096:
            _px44_cache.clear()
        f = _px44_cache[price] = b"\x0144=" + format_price(price).encode()
    return f


def price_field(price: int) -> bytes:
    """Price units -> the exact FIX decimal (``451200`` -> ``b"45.12"``)."""
    return format_price(price).encode("ascii")


def _value(tag: int, v: Any) -> bytes:
    if isinstance(v, bytes):
        b = v
    elif isinstance(v, str):
        try:
            b = v.encode("ascii")
        except UnicodeEncodeError:
            raise FixEncodeError(f"tag {tag}: non-ASCII value {v[:32]!r}") from None
    elif isinstance(v, bool):
        b = b"Y" if v else b"N"
    elif isinstance(v, int):
        b = b"%d" % v
    elif isinstance(v, (bytearray, memoryview)):
        b = bytes(v)
    else:
        raise FixEncodeError(f"tag {tag}: unsupported value type {type(v).__name__} (floats are not allowed)")
    if b.find(_SOH) >= 0:  # (`in` on bytes formats and clears a TypeError first in CPython 3.11)
        raise FixEncodeError(f"tag {tag}: value contains SOH")
    if not b:
        raise FixEncodeError(f"tag {tag}: empty value")
    return b


class FixEncoder:
    """Encodes messages for one session (fixed BeginString, SenderCompID, TargetCompID)."""

    def __init__(
        self,
        begin_string: str,
        sender_comp_id: str,
        target_comp_id: str,
        *,
        extra_header: Sequence[tuple[int, str]] = (),
        timestamp_precision: int = 6,
    ) -> None:
        if timestamp_precision not in (0, 3, 6, 9):
            raise ValueError("timestamp_precision must be 0, 3, 6 or 9")
        self.begin_string = begin_string
        self.sender_comp_id = sender_comp_id
        self.target_comp_id = target_comp_id
        self.extra_header = tuple(extra_header)
        self.timestamp_precision = timestamp_precision
        self._begin = b"8=" + _value(8, begin_string) + b"\x019="
        # between 35's value and 34's value
        self._mid = b"\x0149=" + _value(49, sender_comp_id) + b"\x0156=" + _value(56, target_comp_id) \
            + b"\x0134="
        self._extra = b"".join(b"\x01" + _TAGEQ[t] + _value(t, v) for t, v in self.extra_header)
        self._ts_sec = -1
        self._ts_head = b""
        self._buf = bytearray(4096)

    # ------------------------------------------------------------------------------------------
    def _ts(self, ns: int) -> bytes:
        sec, sub = divmod(ns, 1_000_000_000)
        if sec != self._ts_sec:
            self._ts_head = _second_text(sec)
            self._ts_sec = sec
        p = self.timestamp_precision
        if p == 6:
            return b"%s.%06d" % (self._ts_head, sub // 1000)
        if p == 3:
            return b"%s.%03d" % (self._ts_head, sub // 1_000_000)
        if p == 9:
            return b"%s.%09d" % (self._ts_head, sub)
        return self._ts_head

    def format_timestamp(self, ns: int) -> bytes:
        """A UTCTimestamp in this session's precision (for TransactTime 60 etc.)."""
        return self._ts(ns)

    def _header(
        self,
        msg_type: bytes | str,
        seq_num: int,
        sending_time_ns: int | None,
        poss_dup: bool,
        orig_sending_time_ns: int | None,
    ) -> bytes:
        if isinstance(msg_type, str):
            msg_type = msg_type.encode("ascii")
        if sending_time_ns is None:
            sending_time_ns = time.time_ns()
        h = b"35=%s%s%d\x0152=%s" % (msg_type, self._mid, seq_num, self._ts(sending_time_ns))
        if poss_dup:
            h += b"\x0143=Y"
            if orig_sending_time_ns is not None:
                h += b"\x01122=" + self._ts(orig_sending_time_ns)
        elif orig_sending_time_ns is not None:
            h += b"\x01122=" + self._ts(orig_sending_time_ns)
        if self._extra:
            h += self._extra
        return h

    def encode(
        self,
        msg_type: bytes | str,
        body: Sequence[tuple[int, Any]],
        seq_num: int,
        sending_time_ns: int | None = None,
        poss_dup: bool = False,
        orig_sending_time_ns: int | None = None,
    ) -> bytes:
        """One complete frame. Body values: bytes, str (ASCII) or int (anything else is refused with
        FixEncodeError); use :func:`price_field` for prices."""
        head = self._header(msg_type, seq_num, sending_time_ns, poss_dup, orig_sending_time_ns)
        parts = [head]
        append = parts.append
        for tag, v in body:
            append(_PFX[tag] if 0 < tag < 10_000 else b"\x01%d=" % tag)
            append(v if type(v) is bytes and v and v.find(_SOH) < 0 else _value(tag, v))
        append(_SOH)
        return self._finish(b"".join(parts))

    def _finish(self, body: bytes) -> bytes:
        msg = b"%s%d\x01%s" % (self._begin, len(body), body)
        return b"%s10=%03d\x01" % (msg, byte_sum(msg) & 0xFF)

    def encode_into(
        self,
        buf: bytearray,
        msg_type: bytes | str,
        body: Sequence[tuple[int, Any]],
        seq_num: int,
        sending_time_ns: int | None = None,
        poss_dup: bool = False,
        orig_sending_time_ns: int | None = None,
    ) -> int:
        """Encode into the caller's preallocated ``buf`` (grown only if too small); returns the length."""
        frame = self.encode(msg_type, body, seq_num, sending_time_ns, poss_dup, orig_sending_time_ns)
        n = len(frame)
        if len(buf) < n:
            buf.extend(bytes(n - len(buf)))
        buf[:n] = frame
        return n

    # ------------------------------------------------------------------------------------ fast paths
    def new_order_single(
        self,
        seq_num: int,
        cl_ord_id: bytes,
        symbol: bytes,
        side: int,
        qty: int,
        price: int | None,
        *,
        ord_type: bytes = b"2",
        tif: bytes = b"0",
        account: bytes | None = None,
        exdest: bytes | None = None,
        transact_time_ns: int | None = None,
        sending_time_ns: int | None = None,
        handl_inst: bytes | None = b"1",
        tail: bytes = b"",
    ) -> bytes:
        """NewOrderSingle (35=D) without building tuples. ``price`` in price units (None: market).

        ``tail``: further body fields already encoded, each as ``SOH tag=value`` (e.g. the constant
        ``b"\x0115=AUD\x01167=CS"`` of a session), appended after 100; the caller guarantees them."""
        if sending_time_ns is None:
            sending_time_ns = time.time_ns()
        ts = self._ts(sending_time_ns)
        tt = ts if transact_time_ns is None or transact_time_ns == sending_time_ns \
            else self._ts(transact_time_ns)
        body = b"35=D%s%d\x0152=%s%s%s%s\x0111=%s\x0155=%s\x0154=%d\x0138=%d\x0140=%s%s" \
            b"\x0159=%s\x0160=%s%s%s\x01" % (
            self._mid, seq_num, ts, self._extra,
            b"\x011=" + account if account else b"",
            b"\x0121=" + handl_inst if handl_inst else b"",
            cl_ord_id, symbol, side, qty, ord_type,
            _px44(price) if price is not None else b"",
            tif, tt,
            b"\x01100=" + exdest if exdest else b"",
            tail,
        )
        return self._finish(body)

    def d_template(self, symbol: bytes, side: int, *, ord_type: bytes = b"2", tif: bytes = b"0",
                   account: bytes | None = None, exdest: bytes | None = None, handl_inst: bytes | None = b"1",
                   tail: bytes = b"") -> tuple[bytes, ...]:
        """The constant parts of a 35=D for one (symbol, side, type, TIF) of this session, pre-encoded for
        :meth:`new_order_single_t` (same arguments as :meth:`new_order_single`)."""
        return (self._extra + (b"\x011=" + account if account else b"")
                + (b"\x0121=" + handl_inst if handl_inst else b"") + b"\x0111=",
                b"\x0155=%s\x0154=%d\x0138=" % (symbol, side),
                b"\x0140=" + ord_type,
                b"\x0159=" + tif + b"\x0160=",
                (b"\x01100=" + exdest if exdest else b"") + tail)

    def new_order_single_t(self, seq_num: int, sending_time_ns: int, t: tuple[bytes, ...], cl_ord_id: bytes,
                           qty: int, price: int | None, extra: bytes = b"") -> bytes:
        """:meth:`new_order_single` from a :meth:`d_template` (byte-identical frame; TransactTime =
        SendingTime); ``extra``: further ``SOH tag=value`` fields after the template's tail."""
        # _ts, _px44, _finish and byte_sum inlined (the per-order path; same bytes)
        sec, sub = divmod(sending_time_ns, 1_000_000_000)
        if sec == self._ts_sec and self.timestamp_precision == 6:
            ts = b"%s.%06d" % (self._ts_head, sub // 1000)
        else:
            ts = self._ts(sending_time_ns)
        if price is None:
            px = b""
        else:
            px = _px44_cache.get(price) or _px44(price)
        body = b"35=D%s%d\x0152=%s%s%s%s%d%s%s%s%s%s%s\x01" % (
            self._mid, seq_num, ts, t[0], cl_ord_id, t[1], qty, t[2], px, t[3], ts, t[4], extra)
        msg = b"%s%d\x01%s" % (self._begin, len(body), body)
        ck = (_adler32(msg) & 0xFFFF) - 1 if len(msg) <= 256 else byte_sum(msg)  # see byte_sum
        return b"%s10=%03d\x01" % (msg, ck & 0xFF)

    def order_cancel_request(
        self,
        seq_num: int,
        cl_ord_id: bytes,
        orig_cl_ord_id: bytes,
        symbol: bytes,
        side: int,
        qty: int,
        *,
        order_id: bytes | None = None,
        transact_time_ns: int | None = None,
        sending_time_ns: int | None = None,
    ) -> bytes:
        """OrderCancelRequest (35=F) without building tuples."""
        if sending_time_ns is None:
            sending_time_ns = time.time_ns()
        ts = self._ts(sending_time_ns)
        tt = ts if transact_time_ns is None or transact_time_ns == sending_time_ns \
            else self._ts(transact_time_ns)
        body = b"35=F%s%d\x0152=%s%s\x0141=%s%s\x0111=%s\x0155=%s\x0154=%d\x0138=%d\x0160=%s\x01" % (
            self._mid, seq_num, ts, self._extra, orig_cl_ord_id,
            b"\x0137=" + order_id if order_id else b"",
            cl_ord_id, symbol, side, qty, tt,
        )
        return self._finish(body)

    def order_cancel_replace_request(
        self,
        seq_num: int,
        cl_ord_id: bytes,
        orig_cl_ord_id: bytes,
        symbol: bytes,
        side: int,
        qty: int,
        price: int | None,
        *,
        ord_type: bytes = b"2",
        tif: bytes = b"0",
        order_id: bytes | None = None,
        account: bytes | None = None,
        transact_time_ns: int | None = None,
        sending_time_ns: int | None = None,
        handl_inst: bytes | None = b"1",
    ) -> bytes:
        """OrderCancelReplaceRequest (35=G) without building tuples."""
        if sending_time_ns is None:
            sending_time_ns = time.time_ns()
        ts = self._ts(sending_time_ns)
        tt = ts if transact_time_ns is None or transact_time_ns == sending_time_ns \
            else self._ts(transact_time_ns)
        body = b"35=G%s%d\x0152=%s%s%s%s\x0141=%s%s\x0111=%s\x0155=%s\x0154=%d\x0138=%d\x0140=%s%s" \
            b"\x0159=%s\x0160=%s\x01" % (
                self._mid, seq_num, ts, self._extra,
                b"\x011=" + account if account else b"",
                b"\x0121=" + handl_inst if handl_inst else b"",
                orig_cl_ord_id,
                b"\x0137=" + order_id if order_id else b"",
                cl_ord_id, symbol, side, qty, ord_type,
                _px44(price) if price is not None else b"",
                tif, tt,
            )
        return self._finish(body)
