"""``hft data``: real subprocesses for exit codes and messages, in-process calls for the rest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from data_helpers import book_events

from hft.data.cli import main
from hft.data.format import load_events, read_metadata, write_events

HEADER = "ts_exch,ts_local,kind,side,price,qty,symbol\n"


def hft(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hft.cli", "data", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.timeout(120)
def test_validate_exit_codes_and_message(tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    write_events(good, book_events(100))
    r = hft("validate", str(good))
    assert r.returncode == 0, r.stderr
    assert "ok," in r.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "1,1,1,1,449900,100,BHP\n2,2,1,2,450000,200,BHP\n3,1,1,1,449800,5,BHP\n")
    r = hft("validate", str(bad))
    assert r.returncode == 1
    assert f"{bad} line 4 (row 2): ts_local 1 < previous 2 (unsorted)" in r.stderr
    assert r.stdout == ""


@pytest.mark.timeout(120)
def test_convert_lobster_and_info_json(tmp_path: Path) -> None:
    msg = tmp_path / "XYZ_2020-01-02_34200000_57600000_message_1.csv"
    msg.write_text("34200.0,1,1,100,1000000,1\n34200.1,1,2,200,1000100,-1\n34200.2,4,2,50,1000100,-1\n")
    out = tmp_path / "xyz.parquet"
    r = hft("convert", "--from", "lobster", str(msg), str(out), "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["rows"] == 4 and res["symbols"] == ["XYZ"] and res["stats"]["executions"] == 1
    r = hft("info", str(out), "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["rows"] == 4
    assert d["symbols"]["XYZ"]["trades"] == 1 and d["symbols"]["XYZ"]["trade_qty"] == 50
    assert d["metadata"]["hft.source"] == "lobster"
    assert d["first_ts_local"].startswith("2020-01-02T14:30:00")  # 09:30 New York (EST) in UTC


def test_convert_bad_lobster_names_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    msg = tmp_path / "m.csv"
    msg.write_text("34200.0,1,1,100,1000000,1\n34200.1,1,2,200,1000100\n")
    assert main(["convert", "--from", "lobster", str(msg), str(tmp_path / "o.parquet")]) == 1
    err = capsys.readouterr().err
    assert f"{msg} line 2: expected 6 fields, got 5" in err
    assert not (tmp_path / "o.parquet").exists()


def test_convert_fixlog(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from test_fixlog import EXPECT, Feed, rows, session, write_lines

    log = write_lines(tmp_path / "md.log", session(Feed()))
    out = tmp_path / "md.csv"
    assert main(["convert", "--from", "fixlog", str(log), str(out)]) == 0
    assert rows(load_events(out)) == EXPECT
    assert main(["convert", "--from", "fixlog", "--mode", "book", str(log), str(out)]) == 2
    capsys.readouterr()


def test_repair_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "r.csv"
    src.write_text(HEADER + "1,1,1,1,449900,100,BHP\n3,3,1,2,450000,200,BHP\n2,2,1,1,449800,300,BHP\n"
                   "4,4,1,2,450100,-5,BHP\n")
    out = tmp_path / "r.parquet"
    assert main(["repair", str(src), str(out), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["repairs"] == {"resorted": 1, "dropped_invalid": 1}
    assert res["rows"] == 3
    md = read_metadata(out)
    assert md["hft.repaired.resorted"] == "1"
    assert main(["validate", str(out)]) == 0


def test_validate_chunked_names_global_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ev = book_events(300, symbols=("BHP",))
    ev.qty[250] = -1
    p = tmp_path / "b.parquet"
    write_events(p, ev, validate=False)
    assert main(["validate", str(p), "--chunk-rows", "64"]) == 1
    assert f"{p} row 250: negative qty" in capsys.readouterr().err


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(tmp_path / "none.parquet")]) == 1
    assert "no such file" in capsys.readouterr().err


@pytest.mark.timeout(120)
def test_synth_small_day(tmp_path: Path) -> None:
    out = tmp_path / "day.parquet"
    r = hft("synth", str(out), "--seconds", "20", "--seed", "5", "--json")
    assert r.returncode == 0, r.stderr
    stats = json.loads(r.stdout)
    ev = load_events(out)
    assert len(ev) == stats["rows"] > 0
    assert read_metadata(out)["hft.validated"] == "1"
    r2 = hft("synth", str(tmp_path / "again.parquet"), "--seconds", "20", "--seed", "5")
    assert r2.returncode == 0, r2.stderr
    again = load_events(tmp_path / "again.parquet")
    assert (again.price == ev.price).all() and (again.ts_local == ev.ts_local).all()  # deterministic


def test_repair_help_has_a_description(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["repair", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "repair policy" in out and "docs/data.md" in out  # what it does, not only the usage line


def test_info_prints_whole_shares_and_exact_fractional_units(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    from hft.data.format import make_metadata

    ev = book_events(300, symbols=("BHP",))
    p = tmp_path / "shares.parquet"
    write_events(p, ev, make_metadata("test"))
    assert main(["info", str(p)]) == 0
    out = capsys.readouterr().out
    assert " shares)" in out and ".0 shares" not in out
    traded = int(ev.qty[ev.kind == 2].sum())
    assert f"({traded:,} shares)" in out
    q = tmp_path / "coins.parquet"
    write_events(q, ev, make_metadata("test", qty_scale="1000"))
    assert main(["info", str(q)]) == 0
    out = capsys.readouterr().out
    assert f"({traded // 1000:,}.{traded % 1000:03d} units traded" in out
