"""``hft fix decode`` through the real CLI entry point and the installed console script."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import pytest

from hft.cli import main
from hft.fix.encoder import FixEncoder

T0 = 1_700_000_000_123_456_789
ENC = FixEncoder("FIX.4.2", "SIM", "ME")
ER = ENC.encode("8", [(37, "O1"), (11, "C1"), (17, "E1"), (20, "0"), (150, "2"), (39, "2"), (55, "BHP"),
                      (54, "1"), (151, 0), (14, 100), (6, "45.12")], 2, T0)
HB = ENC.encode("0", [], 3, T0)
HFT = Path(sys.executable).with_name("hft")


def _bad_checksum(f: bytes) -> bytes:
    ck = int(f[-4:-1])
    return f[:-4] + b"%03d\x01" % ((ck + 1) % 256)


def _run(capsys: pytest.CaptureFixture[str], path: Path) -> tuple[int, list[dict]]:
    rc = main(["fix", "decode", str(path)])
    out = capsys.readouterr().out
    return rc, [json.loads(line) for line in out.splitlines()]


def test_good_file_names_and_enums(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "good.fix"
    p.write_bytes(ER + HB)
    rc, objs = _run(capsys, p)
    assert rc == 0 and len(objs) == 2
    er = objs[0]
    assert er["offset"] == 0 and er["msg_type"] == "8" and er["msg_type_name"] == "ExecutionReport"
    by_tag = {f["tag"]: f for f in er["fields"]}
    assert by_tag[39] == {"tag": 39, "name": "OrdStatus", "value": "2", "enum": "FILLED"}
    assert by_tag[150]["enum"] == "FILL" and by_tag[54]["enum"] == "BUY"
    assert by_tag[6]["name"] == "AvgPx" and by_tag[6]["value"] == "45.12"
    assert "missing_required" not in er  # 4.2 ER lacks nothing
    assert objs[1]["offset"] == len(ER) and objs[1]["msg_type_name"] == "Heartbeat"


def test_bad_frames_reported_with_offsets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    no35 = b"8=FIX.4.2\x019=5\x0149=A\x0110=%03d\x01"
    no35 = no35 % (sum(b"8=FIX.4.2\x019=5\x0149=A\x01") % 256)
    wrong_len = ER.replace(b"\x019=", b"\x019=9", 1)
    data = ER + _bad_checksum(HB) + HB + wrong_len + no35 + HB
    p = tmp_path / "bad.fix"
    p.write_bytes(data)
    rc, objs = _run(capsys, p)
    assert rc == 1
    kinds = [("error" in o, o["offset"]) for o in objs]
    o1 = len(ER)
    o2 = o1 + len(HB)
    o3 = o2 + len(HB)
    o4 = o3 + len(wrong_len)
    o5 = o4 + len(no35)
    assert kinds == [(False, 0), (True, o1), (False, o2), (True, o3), (True, o4), (False, o5)]
    assert "bad checksum" in objs[1]["error"]
    assert "wrong body length" in objs[3]["error"]
    assert "missing tag 35" in objs[4]["error"]


def test_pipe_delimited_stdin_via_console_script(tmp_path: Path,
                                                 unavailable: Callable[[str], NoReturn]) -> None:
    if not HFT.exists():
        unavailable(f"console script {HFT} not installed (pip install -e .)")
    text = (ER + b"\n" + HB + b"\n").replace(b"\x01", b"|")
    r = subprocess.run([str(HFT), "fix", "decode", "-"], input=text, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    objs = [json.loads(x) for x in r.stdout.splitlines()]
    assert [o["msg_type"] for o in objs] == ["8", "0"]
    assert objs[1]["offset"] == len(ER) + 1  # the newline between frames is accepted
    r = subprocess.run([str(HFT), "fix", "decode", "-"], input=text[:-20], capture_output=True, timeout=60)
    assert r.returncode == 1
    last = json.loads(r.stdout.splitlines()[-1])
    assert "truncated" in last["error"] and last["offset"] == len(ER) + 1


def test_missing_file_exit_2(tmp_path: Path) -> None:
    assert main(["fix", "decode", str(tmp_path / "nope.fix")]) == 2
