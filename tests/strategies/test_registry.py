"""Strategy registry, params through the config loader, shipped configs, and the docs' parameter tables."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest
from strat_harness import RecordingContext, attach

from hft.engine.config import ConfigError, config_from_dict, validate_params
from hft.engine.strategy import Strategy
from hft.strategies import PARAMS, REGISTRY, make_strategy
from hft.strategies.market_maker import MarketMaker, MarketMakerParams
from hft.strategies.momentum_scalper import MomentumScalper
from hft.strategies.order_flow import OrderFlow
from hft.strategies.reference import Reference

ROOT = Path(__file__).resolve().parents[2]


def test_registry_names_classes_and_params() -> None:
    mine = {"market_maker": MarketMaker, "momentum_scalper": MomentumScalper, "order_flow": OrderFlow,
            "reference": Reference}
    assert {k: REGISTRY[k] for k in mine} == mine  # others (e.g. the latency probe) may be registered too
    for name, cls in REGISTRY.items():
        assert issubclass(cls, Strategy) and cls.name == name
        pcls = PARAMS[name]
        assert pcls is cls.params_cls and dataclasses.is_dataclass(pcls)
        p = pcls()  # every parameter has a default
        with pytest.raises(dataclasses.FrozenInstanceError):
            p.__setattr__(dataclasses.fields(pcls)[0].name, 1)


def test_book_depth_covers_what_each_strategy_reads() -> None:
    assert MarketMaker.book_depth == 1 and Reference.book_depth == 1
    assert MomentumScalper.book_depth >= PARAMS["momentum_scalper"]().imbalance_levels
    assert OrderFlow.book_depth >= PARAMS["order_flow"]().levels


def test_make_strategy_from_defaults_dict_and_dataclass() -> None:
    ctx = RecordingContext()
    s = make_strategy("market_maker", ctx, ["BHP"])
    assert isinstance(s, MarketMaker) and s.p == MarketMakerParams()
    s = make_strategy("market_maker", ctx, ["BHP"], {"quote_size": 50, "skew_ticks": 1})
    assert isinstance(s, MarketMaker) and s.p.quote_size == 50 and s.p.skew_ticks == 1.0
    s = make_strategy("market_maker", ctx, ["BHP"], MarketMakerParams(quote_size=7))
    assert isinstance(s, MarketMaker) and s.p.quote_size == 7
    attach(ctx, s)
    ctx.feed([(451_000, 100)], [(451_200, 100)])
    assert sorted(o.qty for o in ctx.orders) == [7, 7]


def test_make_strategy_errors_name_the_key() -> None:
    ctx = RecordingContext()
    with pytest.raises(ValueError, match=r"unknown strategy 'mm'.*market_maker"):
        make_strategy("mm", ctx, ["BHP"])
    with pytest.raises(ConfigError, match=r"strategy\.params\.quote_size: expected an integer"):
        make_strategy("market_maker", ctx, ["BHP"], {"quote_size": 1.5})
    with pytest.raises(ConfigError, match=r"strategy\.params\.quote_sz: unknown key"):
        make_strategy("market_maker", ctx, ["BHP"], {"quote_sz": 1})
    with pytest.raises(ConfigError, match=r"strategy\.params: quote_size must be positive, got 0"):
        make_strategy("market_maker", ctx, ["BHP"], {"quote_size": 0})
    with pytest.raises(ConfigError, match=r"strategy\.params: exit_threshold"):
        make_strategy("momentum_scalper", ctx, ["BHP"], {"entry_threshold": 0.2, "exit_threshold": 0.3})
    with pytest.raises(ConfigError, match=r"strategy\.params: trade_size \(600\) must be <= max_position"):
        make_strategy("order_flow", ctx, ["BHP"], {"trade_size": 600})


def test_config_loader_validates_strategy_params() -> None:
    c = config_from_dict({"strategy": {"name": "order_flow", "params": {"ofi_threshold": 0.4}}}, "c.toml",
                         PARAMS)
    assert c.strategy.params_obj == PARAMS["order_flow"](ofi_threshold=0.4)
    with pytest.raises(ConfigError, match=r"^c\.toml: strategy\.params: ofi_threshold must be below 1"):
        config_from_dict({"strategy": {"name": "order_flow", "params": {"ofi_threshold": 1.5}}}, "c.toml",
                         PARAMS)
    with pytest.raises(ConfigError, match=r"^c\.toml: strategy\.params\.tight_spread: expected one of"):
        config_from_dict({"strategy": {"name": "order_flow", "params": {"tight_spread": "take"}}}, "c.toml",
                         PARAMS)
    with pytest.raises(ConfigError, match=r"^c\.toml: strategy\.params\.stale_ns: expected an integer"):
        config_from_dict({"strategy": {"name": "order_flow", "params": {"stale_ns": "2s"}}}, "c.toml",
                         PARAMS)


SHIPPED_BACKTEST = ["market_maker", "momentum_scalper", "order_flow"]


def test_every_shipped_backtest_config_is_checked() -> None:
    assert sorted(p.stem.removeprefix("backtest_") for p in (ROOT / "config").glob("backtest_*.toml")) \
        == SHIPPED_BACKTEST


@pytest.mark.parametrize("name", SHIPPED_BACKTEST)
def test_shipped_backtest_configs_are_valid(name: str) -> None:
    path = ROOT / "config" / f"backtest_{name}.toml"
    raw = tomllib.loads(path.read_text())  # shipped with the repository: a missing file fails
    assert raw["strategy"]["name"] == name
    p = validate_params(PARAMS[name], raw["strategy"].get("params", {}), source=str(path))
    for k, v in raw["strategy"].get("params", {}).items():
        assert getattr(p, k) == v


def test_every_parameter_is_documented_with_its_default() -> None:
    doc = (ROOT / "docs" / "strategies.md").read_text()
    for name in ("market_maker", "momentum_scalper", "order_flow", "reference"):
        pcls = PARAMS[name]
        assert f"`{name}`" in doc
        for f in dataclasses.fields(pcls):
            default = f.default
            shown = f"{default:_}" if isinstance(default, int) and abs(default) >= 10_000 else f"{default}"
            row = f"| `{f.name}` | {shown} |"
            assert row in doc, f"docs/strategies.md lacks the row {row!r} for {name}"
