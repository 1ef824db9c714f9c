"""The per-update cost bench runs and prints machine-readable JSON (no timing assertions)."""

from __future__ import annotations

import json

import pytest

from hft.strategies.bench import main, make_updates


def test_bench_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--updates", "2000", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["updates"] == 2000
    assert set(out["results"]) == {"noop", "reference", "market_maker", "momentum_scalper", "order_flow"}
    assert out["results"]["market_maker"]["orders"] > 0
    assert all(r["ns_per_update"] > 0 for r in out["results"].values())


def test_updates_are_deterministic_and_uncrossed() -> None:
    from hft.book.l2 import L2Book

    u = make_updates(5_000, seed=3)
    assert u == make_updates(5_000, seed=3) and len(u) == 5_000
    book = L2Book("BHP", depth=10)
    for side, p, q in u:
        assert book.set_level(side, p, q)
    assert not book.stale


def test_bad_argument() -> None:
    with pytest.raises(SystemExit):
        main(["--updates", "5"])
