"""``hft backtest``: JSON summary, HTML report, progress output, and bad input named precisely."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from hft.backtest.cli import main
from hft.backtest.engine import make_events
from hft.backtest.synth import generate
from hft.data.format import write_events

ROOT = Path(__file__).resolve().parents[2]
MM = ROOT / "config" / "backtest_market_maker.toml"


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("bt") / "day.parquet"
    write_events(p, generate(20_000, seed=5))
    return p


def test_json_summary(day: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(MM), "--data", str(day), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["events"] == 20_000 and s["trades"] > 0 and s["orders_sent"] > 0
    assert s["pnl_net_cents"] == s["pnl_gross_cents"] - s["fees_cents"]
    assert s["events_per_s"] > 0


@pytest.mark.parametrize("name", ["market_maker", "momentum_scalper", "order_flow"])
def test_every_shipped_config_runs_and_writes_a_report(name: str, day: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.html"
    cfg = ROOT / "config" / f"backtest_{name}.toml"
    assert main(["--config", str(cfg), "--data", str(day), "--report", str(out)]) == 0
    text = capsys.readouterr().out
    assert "pnl_net_cents" in text  # the plain-text table
    html = out.read_text()
    assert html.count("data:image/png;base64,") == 6 and name in html


def test_csv_input_and_seed_override(day: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hft.data.format import load_events

    csv = tmp_path / "day.csv"
    write_events(csv, load_events(day))
    assert main(["--config", str(MM), "--data", str(csv), "--json"]) == 0
    a = json.loads(capsys.readouterr().out)
    assert main(["--config", str(MM), "--data", str(day), "--json", "--seed", "3"]) == 0
    b = json.loads(capsys.readouterr().out)
    keys = ("trades", "pnl_net_cents", "orders_sent")
    assert {k: a[k] for k in keys} == {k: b[k] for k in keys}  # no jitter configured: seed changes nothing


@pytest.mark.timeout(120)
def test_progress_and_report_through_the_hft_command(day: Path, tmp_path: Path) -> None:
    out = tmp_path / "mm.html"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    r = subprocess.run([sys.executable, "-m", "hft.cli", "backtest", "--config", str(MM), "--data", str(day),
                        "--report", str(out), "--json", "--progress", "always"],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert "backtest: 100% 20,000/20,000 events" in r.stderr
    assert json.loads(r.stdout)["events"] == 20_000
    assert out.stat().st_size > 10_000


def _write(tmp_path: Path, rows: list[tuple[int, int, int, int, int]], name: str = "bad.csv") -> Path:
    """A canonical CSV written by hand (the hft.data writer refuses bad rows)."""
    p = tmp_path / name
    if name.endswith(".parquet"):
        a = np.asarray(rows, dtype=np.int64)
        write_events(p, make_events(a[:, 0], a[:, 0], a[:, 1], a[:, 2], a[:, 3], a[:, 4]))
        return p
    lines = ["ts_exch,ts_local,kind,side,price,qty,symbol"]
    lines += [f"{t},{t},{k},{s},{px},{q},BHP" for t, k, s, px, q in rows]
    p.write_text("\n".join(lines) + "\n")
    return p


GOOD = [(10, 3, 0, 0, 0), (10, 1, 1, 449_900, 500), (10, 1, 2, 450_000, 500), (10, 4, 0, 0, 0)]


def test_crossed_book_names_file_and_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = _write(tmp_path, [*GOOD, (20, 1, 1, 449_800, 100), (30, 1, 1, 450_100, 100)])
    assert main(["--config", str(MM), "--data", str(p)]) == 2
    err = capsys.readouterr().err
    assert str(p) in err and "line 7" in err and "crossed book" in err


def test_unsorted_and_negative_rows_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = _write(tmp_path, [*GOOD, (20, 1, 1, 449_800, 100), (15, 1, 1, 449_800, 200)])
    assert main(["--config", str(MM), "--data", str(p)]) == 2
    err = capsys.readouterr().err
    assert str(p) in err and "line 7" in err and "unsorted" in err
    p = _write(tmp_path, [*GOOD, (20, 1, 1, 449_800, -100)])
    assert main(["--config", str(MM), "--data", str(p)]) == 2
    err = capsys.readouterr().err
    assert "line 6" in err and "negative" in err


def test_repair_policy_counts_what_it_dropped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = _write(tmp_path, [*GOOD, (20, 1, 1, 449_800, -100), (30, 1, 1, 449_700, 100)])
    assert main(["--config", str(MM), "--data", str(p), "--repair", "--json"]) == 0
    cap = capsys.readouterr()
    assert "dropped_invalid=1" in cap.err
    assert json.loads(cap.out)["events"] == 5


def test_missing_column_and_truncated_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "cols.csv"
    p.write_text("ts_exch,ts_local,kind,side,price\n1,1,1,1,100\n")
    assert main(["--config", str(MM), "--data", str(p)]) == 2
    assert "missing column(s): qty, symbol" in capsys.readouterr().err
    good = _write(tmp_path, GOOD * 1, "g.parquet")
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(good.read_bytes()[:-40])
    assert main(["--config", str(MM), "--data", str(cut)]) == 2
    assert str(cut) in capsys.readouterr().err


def test_bad_config_names_the_key(day: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(MM.read_text().replace("quote_size = 100", "quote_size = -1"))
    assert main(["--config", str(cfg), "--data", str(day)]) == 2
    assert "strategy.params" in capsys.readouterr().err
    cfg.write_text(MM.read_text().replace("queue_power = 3.0", "queue_power = -1.0"))
    assert main(["--config", str(cfg), "--data", str(day)]) == 2
    assert "backtest.queue_power" in capsys.readouterr().err
    cfg.write_text(MM.read_text() + "\n[risk]\nmax_position = 0\n")
    assert main(["--config", str(cfg), "--data", str(day)]) == 2
    assert "risk.max_position" in capsys.readouterr().err


def test_several_symbols_need_a_choice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hft.data.format import EventWriter

    p = tmp_path / "two.csv"
    with EventWriter(p) as w:
        for sym in ("BHP", "CBA"):
            for te, k, s, px, q in GOOD:
                w.append(te, te, k, s, px, q, sym)
    bare = tmp_path / "bare.toml"  # no backtest.instrument
    lines = MM.read_text().splitlines(keepends=True)
    bare.write_text("".join(x for x in lines if not x.startswith("instrument")))
    assert main(["--config", str(bare), "--data", str(p)]) == 2
    assert "--symbol or backtest.instrument" in capsys.readouterr().err
    assert main(["--config", str(bare), "--data", str(p), "--symbol", "CBA", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["events"] == 4


def test_config_instrument_chooses_the_symbol(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hft.data.format import EventWriter

    p = tmp_path / "three.parquet"
    with EventWriter(p) as w:
        for n, sym in enumerate(("BHP", "CBA", "CSL")):
            for te, k, s, px, q in GOOD + [(20, 1, 1, 449_800, 100 + n)] * (n + 1):
                w.append(te + 100 * n, te + 100 * n, k, s, px, q, sym)
    # the documented command: the shipped config sets instrument = "BHP" (docs/backtest.md)
    assert main(["--config", str(MM), "--data", str(p), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["events"] == 5
    cfg = tmp_path / "c.toml"
    cfg.write_text(MM.read_text().replace('instrument = "BHP"', 'instrument = "CSL"'))
    assert main(["--config", str(cfg), "--data", str(p), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["events"] == 7
    assert main(["--config", str(cfg), "--data", str(p), "--json", "--symbol", "CBA"]) == 0  # --symbol wins
    assert json.loads(capsys.readouterr().out)["events"] == 6
    cfg.write_text(MM.read_text().replace('instrument = "BHP"', 'instrument = "NAB"'))
    assert main(["--config", str(cfg), "--data", str(p)]) == 2
    assert "no events for symbol 'NAB' (backtest.instrument); the file has BHP, CBA, CSL" in \
        capsys.readouterr().err


def test_risk_limits_mapping_is_the_paper_engines() -> None:
    import hft.backtest.cli as bt_cli
    import hft.engine.runner as runner

    assert bt_cli.risk_limits is runner.risk_limits  # one mapping (values: test_runner.py)
    # and the backtest does not pay for the asyncio/FIX/simulator runtime to get it
    code = "import sys, hft.backtest.cli; print('hft.engine.runner' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_real_lobster_sample_replays(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     shared_data: Callable[..., Path]) -> None:
    from hft.data.lobster import convert_lobster

    ev = convert_lobster(shared_data("lobster", "AAPL_2012-06-21_34200000_57600000_message_10.csv"),
                         shared_data("lobster", "AAPL_2012-06-21_34200000_57600000_orderbook_10.csv")).events
    p = tmp_path / "aapl.parquet"
    write_events(p, ev)
    for name in ("market_maker", "momentum_scalper", "order_flow"):
        cfg = ROOT / "config" / f"backtest_{name}.toml"
        assert main(["--config", str(cfg), "--data", str(p), "--json"]) == 0
        s = json.loads(capsys.readouterr().out)
        assert s["events"] == len(ev) and s["strategy_calls"] > 0 and s["book_errors"] == 0
        assert s["pnl_net_cents"] == s["pnl_gross_cents"] - s["fees_cents"]


def test_unwritable_report_path_is_refused_before_the_run(day: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "no_such_dir" / "x.html"
    assert main(["--config", str(MM), "--data", str(day), "--report", str(bad), "--json"]) == 2
    cap = capsys.readouterr()
    assert str(bad) in cap.err and "directory" in cap.err and cap.out == ""
    assert main(["--config", str(MM), "--data", str(day), "--report", str(tmp_path)]) == 2
    assert str(tmp_path) in capsys.readouterr().err


def test_summary_survives_a_report_write_failure(day: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import hft.backtest.report as report

    def boom(*a: object, **k: object) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report, "html_report", boom)
    out = tmp_path / "r.html"
    assert main(["--config", str(MM), "--data", str(day), "--report", str(out), "--json"]) == 1
    cap = capsys.readouterr()
    assert json.loads(cap.out)["events"] == 20_000  # the summary is printed first, never lost
    assert str(out) in cap.err and "No space left" in cap.err and not out.exists()


@pytest.mark.parametrize(("line", "expect"), [
    ("queue_powr = 3.0", "backtest.queue_powr: unknown key (did you mean queue_power?)"),
    ('entry_latency_ns = "fast"', "backtest.entry_latency_ns: expected an integer, got 'fast'"),
    ("queue_power = true", "backtest.queue_power: expected a number, got True"),
    ("seed = 1.5", "backtest.seed: expected an integer, got 1.5"),
    ("book_depth = 0", "backtest.book_depth: must be >= 1, got 0"),
    ("latency_jitter_ns = -5", "backtest.latency_jitter_ns: must be >= 0, got -5"),
    ('entry_latency_file = "no/such/f.txt"', "backtest.entry_latency_file: 'no/such/f.txt' is not a file"),
])
def test_backtest_table_is_validated_naming_file_and_key(line: str, expect: str, day: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.toml"
    key = line.split(" =")[0]
    text = "".join(x for x in MM.read_text().splitlines(keepends=True) if not x.startswith(key + " "))
    cfg.write_text(text.replace("[backtest]\n", f"[backtest]\n{line}\n"))
    assert main(["--config", str(cfg), "--data", str(day)]) == 2
    err = capsys.readouterr().err
    assert f"{cfg}: {expect}" in err, err


def test_backtest_config_accepts_an_integer_for_a_float_and_the_shipped_tables() -> None:
    import tomllib

    from hft.backtest.config import backtest_config

    assert backtest_config({"queue_power": 2}).queue_power == 2.0
    for name in ("market_maker", "momentum_scalper", "order_flow"):
        p = ROOT / "config" / f"backtest_{name}.toml"
        backtest_config(tomllib.loads(p.read_text())["backtest"], str(p))
    with pytest.raises(ValueError, match=r"x\.toml: backtest: expected a table"):
        backtest_config(3, "x.toml")


def _summary_core(out: str) -> dict[str, object]:
    s = json.loads(out)
    return {k: v for k, v in s.items() if k not in ("wall_s", "events_per_s")}


def test_file_scales_are_converted_exactly_or_refused(day: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from hft.data.format import load_events, make_metadata

    assert main(["--config", str(MM), "--data", str(day), "--json"]) == 0
    base = _summary_core(capsys.readouterr().out)
    ev = load_events(day)
    # prices in 1,000,000 units per dollar and quantities in thousandths: both convert exactly
    scaled = ev.take(slice(None))
    scaled.price = ev.price * 100
    scaled.qty = ev.qty * 1000
    p = tmp_path / "scaled.parquet"
    write_events(p, scaled, make_metadata("test", price_scale=1_000_000, qty_scale="1000"))
    assert main(["--config", str(MM), "--data", str(p), "--json"]) == 0
    cap = capsys.readouterr()
    assert _summary_core(cap.out) == base  # same fills, fees and P&L as the file in ASX units
    assert "prices converted exactly from hft.price_scale 1,000,000" in cap.err
    assert "quantities converted exactly from hft.qty_scale 1,000" in cap.err
    # a fraction of a unit (Binance: 0.003 BTC is qty 3 at qty_scale 1000) cannot become shares
    frac = ev.take(slice(None))
    frac.qty = ev.qty * 1000
    r = int(np.flatnonzero(frac.kind == 1)[7])
    frac.qty[r] += 1
    q = tmp_path / "coins.parquet"
    write_events(q, frac, make_metadata("binance-usdm", qty_scale="1000"))
    assert main(["--config", str(MM), "--data", str(q)]) == 2
    err = capsys.readouterr().err
    assert f"{q} row {r}: metadata hft.qty_scale = 1000 (source binance-usdm" in err
    assert "not a whole unit" in err
    cents = tmp_path / "cents.parquet"
    odd = ev.take(slice(None))
    write_events(cents, odd, make_metadata("test", price_scale=3))  # thirds of a dollar: off the ASX grid
    assert main(["--config", str(MM), "--data", str(cents)]) == 2
    assert "row 2: level price 449900 ($149966.6667 at hft.price_scale 3) is off the ASX" in \
        capsys.readouterr().err
    write_events(cents, odd, make_metadata("test", price_scale=3, tick_rule={"kind": "fixed", "tick": 1}))
    assert main(["--config", str(MM), "--data", str(cents)]) == 2
    assert "row 2: metadata hft.price_scale = 3: price 449900 has no exact value" in capsys.readouterr().err


def test_off_tick_prices_are_refused_with_row_and_price(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    rows = [*GOOD, (20, 1, 1, 449_800, 100), (30, 1, 1, 449_850, 100)]  # $44.985 on BHP
    for name in ("off.csv", "off.parquet"):
        p = _write(tmp_path, rows, name)
        for extra in ([], ["--repair"]):
            assert main(["--config", str(MM), "--data", str(p), *extra]) == 2
            err = capsys.readouterr().err
            assert f"{p}" in err and "row 5" in err, err
            assert "level price 449850 ($44.985) is off the ASX tick grid" in err


def test_fixed_tick_rule_must_be_the_asx_step(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hft.data.format import load_events, make_metadata

    p = _write(tmp_path, [*GOOD, (20, 1, 1, 449_800, 100)], "x.parquet")
    ev = load_events(p)
    us = tmp_path / "us.parquet"  # NASDAQ cents above $2: the same steps as the ASX
    write_events(us, ev, make_metadata("lobster", tick_rule={"kind": "fixed", "tick": 100}))
    assert main(["--config", str(MM), "--data", str(us), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["events"] == 5
    coarse = tmp_path / "coarse.parquet"  # 0.1 of a currency unit (Binance BTCUSDT)
    ev = load_events(_write(tmp_path, [(10, 3, 0, 0, 0), (10, 1, 1, 449_000, 500), (10, 1, 2, 450_000, 500),
                                       (10, 4, 0, 0, 0), (20, 1, 1, 448_000, 100)], "y.parquet"))
    write_events(coarse, ev, make_metadata("binance-usdm", tick_rule={"kind": "fixed", "tick": 1000}))
    assert main(["--config", str(MM), "--data", str(coarse)]) == 2
    err = capsys.readouterr().err
    assert f"{coarse}: metadata hft.tick_rule" in err and "fixed tick is 1000 units" in err


@pytest.mark.timeout(120)
def test_real_binance_sample_is_not_replayed_as_shares(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       shared_data: Callable[..., Path]) -> None:
    from hft.data.binance import convert_binance

    p = tmp_path / "btc.parquet"
    write_events(p, convert_binance(shared_data("binance", "usdm_btcusdt_20240808.gz")).events)
    assert main(["--config", str(MM), "--data", str(p)]) == 2
    assert "metadata hft.qty_scale = 1000 (source binance-usdm" in capsys.readouterr().err


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_fills_file_lists_every_fill(ext: str, day: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / f"fills.{ext}"
    assert main(["--config", str(MM), "--data", str(day), "--json", "--fills", str(out)]) == 0
    s = json.loads(capsys.readouterr().out)
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    t = pcsv.read_csv(out) if ext == "csv" else pq.read_table(out)
    cols = ["ts_ns", "order_id", "side", "price", "qty", "fee_cents", "liquidity", "queue_ahead"]
    assert t.column_names == cols
    d = t.to_pydict()
    assert len(d["ts_ns"]) == s["trades"] > 0
    assert sum(d["qty"]) == s["volume_shares"] and sum(d["fee_cents"]) == s["fees_cents"]
    assert set(d["side"]) <= {"buy", "sell"} and set(d["liquidity"]) <= {"maker", "taker"}
    assert d["liquidity"].count("maker") == s["maker_fills"]
    assert d["ts_ns"] == sorted(d["ts_ns"])
    for liq, q in zip(d["liquidity"], d["queue_ahead"], strict=True):
        assert (q is None or q >= 0) if liq == "maker" else q is None


def test_fills_file_with_an_unknown_extension_is_refused_before_the_run(
        day: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(MM), "--data", str(day), "--fills", str(tmp_path / "f.txt")]) == 2
    assert "--fills" in capsys.readouterr().err
