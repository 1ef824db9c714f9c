"""Mid-file journal damage is refused (never truncated away); a genuinely torn tail is still truncated.

QA finding 1: a flipped byte in the middle of a journal made recovery drop every later record (a fill,
its fees) and truncate the file, silently. Now: ``recover``/``Journal`` raise ``JournalDamaged`` naming
the offset, ``hft paper`` exits 2 without touching the file, ``hft journal show`` exits 1.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hft.asx.fees import IbkrAsxFixed
from hft.engine import journal_cli
from hft.engine.gateway import ExecReport, ExecType
from hft.engine.journal import MAGIC, Journal, JournalDamaged, read_journal, recover
from hft.engine.orders import OrderManager
from hft.model.types import Order, OrderRequest, OrdStatus, Side

HFT = [sys.executable, "-c", "import sys; from hft.cli import main; sys.exit(main())"]


def _fill(o: Order, eid: str) -> ExecReport:
    return ExecReport(eid, o.cl_ord_id, "", "V", ExecType.TRADE, OrdStatus.FILLED, o.side, o.instrument,
                      451_200, 1, 1, 0, 451_200, "", 7, False)


def _journal_with_a_fill(p: Path, padding: int = 40) -> list[int]:
    """Position records, then one order + its fill at the end; returns the record start offsets."""
    with Journal(p, fsync="none") as j:
        for i in range(padding):
            j.record_position("CBA", i)
        om = OrderManager(None, j, IbkrAsxFixed())
        o = om.new_order(OrderRequest("BHP", Side.BUY, 451_200, 1))
        assert o is not None
        om.on_exec_report(_fill(o, "e1"))
    data = p.read_bytes()
    offs, pos = [], len(MAGIC)
    while pos < len(data):
        offs.append(pos)
        pos += 8 + int.from_bytes(data[pos:pos + 4], "little")
    return offs


def test_flipped_byte_mid_file_is_refused_and_file_untouched(tmp_path: Path) -> None:
    p = tmp_path / "j"
    offs = _journal_with_a_fill(p)
    assert recover(p, IbkrAsxFixed()).positions == {"BHP": 1}
    for where in (offs[5] + 12, offs[5] + 1, offs[5]):  # payload byte, length byte, first byte
        data = bytearray(p.read_bytes())
        data[where] ^= 0x40
        bad = tmp_path / f"bad{where}"
        bad.write_bytes(bytes(data))
        recs, torn = read_journal(bad)
        assert torn is not None and torn.mid_file and torn.offset == offs[5]
        assert torn.next_valid_offset == offs[6] and torn.records_after == len(offs) - 6
        assert len(recs) == 5
        with pytest.raises(JournalDamaged, match=rf"offset {offs[5]}\b.*{len(offs) - 6} valid records"):
            recover(bad, IbkrAsxFixed())
        with pytest.raises(JournalDamaged, match=str(bad)):
            Journal(bad)
        assert bad.read_bytes() == bytes(data)  # not truncated
        with Journal(p):  # the lock was released after the refusal (other files unaffected)
            pass


def test_torn_tail_is_still_truncated_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    p = tmp_path / "j"
    offs = _journal_with_a_fill(p, padding=3)
    full = p.read_bytes()
    for cut in (offs[-1] + 3, offs[-1] + 9, len(full) - 1):
        p.write_bytes(full[:cut])
        _, torn = read_journal(p)
        assert torn is not None and not torn.mid_file and torn.records_after == 0
        st = recover(p, IbkrAsxFixed())
        assert st.torn is not None and st.positions == {}  # the fill was the torn record
        with caplog.at_level(logging.WARNING, logger="hft.engine.journal"), Journal(p) as j:
            assert j.torn is not None and j.last_seq == len(offs) - 1
        assert "torn tail truncated" in caplog.text and f"offset {offs[-1]}" in caplog.text
        assert p.stat().st_size == offs[-1]
    p.write_bytes(full + b"\0" * 4096)  # zero-filled tail after a power loss
    with Journal(p) as j:
        assert j.torn is not None and not j.torn.mid_file
    assert p.read_bytes() == full


def test_journal_show_exits_1_on_mid_file_damage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "j"
    offs = _journal_with_a_fill(p, padding=4)
    data = bytearray(p.read_bytes())
    data[offs[2] + 10] ^= 1
    p.write_bytes(bytes(data))
    assert journal_cli.main([str(p)]) == 1
    out, err = capsys.readouterr()
    assert "DAMAGED" in out
    assert "DAMAGED" in err and f"offset {offs[2]}" in err and "TORN TAIL" not in err
    p.write_bytes(bytes(data[:offs[2]]) + bytes(data[offs[2]:offs[3]]))  # damaged record is the last one
    assert journal_cli.main([str(p)]) == 0
    assert "TORN TAIL" in capsys.readouterr().err


@pytest.mark.timeout(60)
def test_hft_paper_refuses_a_damaged_journal_with_exit_2(tmp_path: Path) -> None:
    p = tmp_path / "journal.bin"
    offs = _journal_with_a_fill(p)
    data = bytearray(p.read_bytes())
    data[offs[10] + 3] ^= 0xFF
    p.write_bytes(bytes(data))
    cfg = tmp_path / "ext.toml"
    cfg.write_text(f"""
[venue]
host = "127.0.0.1"
port = 9
store_dir = "{tmp_path / 'store'}"
[market_data]
port = 9
[metrics]
enabled = false
[sim]
embedded = false
""")
    r = subprocess.run([*HFT, "paper", "--config", str(cfg), "--journal", str(p), "--duration", "1",
                        "--logon-timeout", "1", "--no-status"], capture_output=True, text=True, timeout=60,
                       cwd=tmp_path, env={**os.environ, "COLUMNS": "300"})
    assert r.returncode == 2, r.stderr
    assert "refusing to start" in r.stderr and f"offset {offs[10]}" in r.stderr and str(p) in r.stderr
    assert "Traceback" not in r.stderr
    assert p.read_bytes() == bytes(data)
