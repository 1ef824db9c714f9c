"""``hft fix decode FILE``: raw FIX (SOH- or ``|``-delimited) -> one JSON object per line, for people.

Each good frame prints ``{"offset", "msg_type", "msg_type_name", "fields": [{"tag", "name", "value",
"enum"?}], "missing_required"?}``; each bad frame or run of garbage prints ``{"offset", "error",
"snippet"}`` (``error`` names the problem: bad checksum, wrong body length, missing tag 35, ...).
Whitespace between frames (one message per line logs) is accepted silently. Exit code 0 when every
frame was good, 1 when any was bad, 2 when the input cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from hft.fix import dictionary as fixdict
from hft.fix.parser import FixMessage, FixStreamParser, FrameError

_WS = b" \t\r\n"


def _text(v: bytes) -> str:
    return v.decode("latin-1")


def message_json(msg: FixMessage, offset: int) -> dict[str, Any]:
    """The decoder's JSON object for one message."""
    fields = []
    for tag, value in msg.fields():
        f: dict[str, Any] = {"tag": tag, "name": fixdict.field_name(tag), "value": _text(value)}
        e = fixdict.enum_name(tag, value)
        if e is not None:
            f["enum"] = e
        fields.append(f)
    out: dict[str, Any] = {
        "offset": offset,
        "msg_type": _text(msg.msg_type),
        "msg_type_name": fixdict.msg_type_name(msg.msg_type),
        "fields": fields,
    }
    present = {t for t, _ in msg.fields()}
    req = fixdict.required_tags(msg.begin_string, msg.msg_type)
    missing = [t for t in (*fixdict.HEADER_REQUIRED, *(req or ())) if t not in present]
    if missing:
        out["missing_required"] = missing
    return out


def error_json(err: FrameError) -> dict[str, Any]:
    return {"offset": err.offset, "error": err.reason, "snippet": _text(err.snippet)}


def _benign(err: FrameError) -> bool:
    """Whitespace between frames (newline-separated logs) is not an error."""
    return 0 < err.length <= len(err.snippet) and not err.snippet[: err.length].strip(_WS)


def decode_stream(data_chunks: Any, out: TextIO) -> tuple[int, int]:
    """Decode an iterable of byte chunks, writing JSON lines; returns (good, bad) frame counts."""
    bad = 0

    def on_error(err: FrameError) -> None:
        nonlocal bad
        if _benign(err):
            return
        bad += 1
        out.write(json.dumps(error_json(err)) + "\n")

    parser = FixStreamParser(max_frame=1 << 20, max_buffer=1 << 24, on_error=on_error)
    pipe_mode: bool | None = None
    good = 0
    for chunk in data_chunks:
        if not chunk:
            continue
        if pipe_mode is None:
            # '|' instead of SOH (common in logs): decide from the first chunk that has either
            if b"\x01" in chunk:
                pipe_mode = False
            elif b"|" in chunk:
                pipe_mode = True
        if pipe_mode:
            chunk = chunk.replace(b"|", b"\x01")
        parser.feed(chunk)
        while True:
            msg = parser.next_message()
            if msg is None:
                break
            good += 1
            out.write(json.dumps(message_json(msg, parser.offset - len(msg.raw))) + "\n")
    parser.close()
    return good, bad


def _chunks(f: Any, size: int = 1 << 16) -> Any:
    while True:
        b = f.read(size)
        if not b:
            return
        yield b


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="hft fix decode", description=__doc__.splitlines()[0])
    ap.add_argument("file", help="raw FIX file, or - for stdin")
    args = ap.parse_args(argv)
    try:
        if args.file == "-":
            _good, bad = decode_stream(_chunks(sys.stdin.buffer), sys.stdout)
        else:
            with open(args.file, "rb") as f:
                _good, bad = decode_stream(_chunks(f), sys.stdout)
    except BrokenPipeError:
        raise  # the reader left (`| head`): the hft command ends quietly
    except OSError as e:
        print(f"hft fix decode: {e}", file=sys.stderr)
        return 2
    sys.stdout.flush()
    return 1 if bad else 0
