"""Paper replay source (market_data.source = "replay"): a bad recording is refused before the session
starts, naming file, line and problem (QA finding 7: a truncated CSV gave a DataError traceback and exit 1;
negative quantities and unsorted rows were replayed unchecked)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hft.engine.config import ConfigError
from hft.engine.replay_md import ReplayMarketData

HFT = [sys.executable, "-c", "import sys; from hft.cli import main; sys.exit(main())"]
HEADER = "ts_exch,ts_local,kind,side,price,qty,symbol\n"
ROWS = [  # a snapshot of BHP, two level updates, a trade (prices on the ASX tick grid)
    "1000,1000,3,0,0,0,BHP", "1000,1000,1,1,451200,100,BHP", "1000,1000,1,2,451300,200,BHP",
    "1000,1000,4,0,0,0,BHP", "2000,2000,1,1,451200,150,BHP", "3000,3000,2,1,451300,10,BHP",
    "4000,4000,1,2,451300,190,BHP",
]


def _csv(p: Path, rows: list[str]) -> Path:
    p.write_text(HEADER + "".join(r + "\n" for r in rows))
    return p


def test_good_file_replays(tmp_path: Path) -> None:
    md = ReplayMarketData(_csv(tmp_path / "ok.csv", ROWS), speed=0)
    assert md.rows_checked == len(ROWS)
    got: list[Any] = []
    md.set_sink(got.append)
    md.subscribe(["BHP"])
    asyncio.run(md.run())
    assert md.done and md.counters["snapshots"] == 1 and md.counters["levels"] == 2
    assert md.counters["trades"] == 1


@pytest.mark.parametrize(("rows", "where", "what"), [
    ([*ROWS[:5], "3000,3000,1,1,451200,-5,BHP", *ROWS[6:]], "line 7", "qty"),
    ([*ROWS[:6], "2500,2500,1,1,451200,10,BHP"], "line 8", "unsorted"),
    ([*ROWS[:5], "3000,3000,1,9,451200,10,BHP"], "line 7", "side"),
])
def test_bad_rows_are_refused_with_their_line(tmp_path: Path, rows: list[str], where: str, what: str) -> None:
    p = _csv(tmp_path / "bad.csv", rows)
    with pytest.raises(ConfigError) as ei:
        ReplayMarketData(p, speed=0)
    msg = str(ei.value)
    assert msg.startswith(f"market_data.file: {p} {where}") and what in msg, msg


def test_truncated_file_is_refused(tmp_path: Path) -> None:
    p = _csv(tmp_path / "t.csv", ROWS)
    p.write_bytes(p.read_bytes()[:-7])  # cut in the middle of the last line
    with pytest.raises(ConfigError, match=r"t\.csv line 8.*truncated"):
        ReplayMarketData(p, speed=0)
    p.write_text(HEADER + ROWS[0] + "\n" + ROWS[1] + "\n")  # snapshot never ends
    with pytest.raises(ConfigError, match="never ended"):
        ReplayMarketData(p, speed=0)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("loop", ["asyncio", "busy_poll"])
def test_hft_paper_exits_2_naming_the_line(tmp_path: Path, loop: str) -> None:
    p = _csv(tmp_path / "day.csv", ROWS)
    p.write_bytes(p.read_bytes()[:-7])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = tmp_path / "replay.toml"
    cfg.write_text(f"""
[venue]
host = "127.0.0.1"
port = {port}
store_dir = "{tmp_path / 'store'}"
[market_data]
source = "replay"
file = "{p}"
[metrics]
enabled = false
[journal]
path = "{tmp_path / 'journal.bin'}"
[sim]
embedded = false
[engine]
loop = "{loop}"
""")
    r = subprocess.run([*HFT, "paper", "--config", str(cfg), "--duration", "1", "--no-status",
                        "--logon-timeout", "1"], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "COLUMNS": "400"})
    assert r.returncode == 2, r.stderr
    msg = " ".join(r.stderr.split())
    assert f"{p} line 8" in msg and "truncated" in msg and "Traceback" not in msg
    assert f"config error: {cfg}: market_data.file:" in msg, msg  # the config file is named too
