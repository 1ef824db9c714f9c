"""Config loader: defaults, shipped files, errors naming key paths, secrets, strategy params, live guard."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from hft.asx.fees import IbkrAsxFixed, ZeroFees
from hft.engine.config import (
    Config,
    ConfigError,
    config_from_dict,
    load_config,
    require_live,
    validate_params,
)

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class RefParams:
    spread_ticks: int = 2
    size: int = 100
    skew: float = 0.5
    quote_both: bool = True


REGISTRY = {"reference": RefParams}


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.toml"
    p.write_text(text)
    return p


def test_defaults_are_a_paper_config() -> None:
    c = load_config(None)
    assert isinstance(c, Config) and c.mode == "paper" and c.sim.embedded
    assert c.venue.host == "127.0.0.1" and c.metrics.host == "127.0.0.1" and c.metrics.port == 9090
    assert c.risk.max_daily_loss == 10_000 and c.risk.max_daily_loss_cents == 1_000_000
    assert c.risk.price_band_pct == 5.0 and c.journal.fsync == "batch"
    assert isinstance(c.fees.build(), IbkrAsxFixed)


@pytest.mark.parametrize("name", ["paper.toml", "paper_sim.toml", "live.example.toml"])
def test_shipped_configs_load_and_validate(name: str) -> None:
    c = load_config(ROOT / "config" / name, strategy_params=REGISTRY)
    assert c.source.endswith(name) and c.strategy.params_obj == RefParams()
    assert c.metrics.host == "127.0.0.1"
    if name.startswith("live"):
        assert c.mode == "live" and not c.sim.embedded
        assert c.venue.password_env == "HFT_IBKR_FIX_PASSWORD"
        require_live(c, True)
    else:
        assert c.mode == "paper" and c.market_data.source == "fix"
        assert c.sim.embedded is (name == "paper.toml")


@pytest.mark.parametrize(("text", "message"), [
    ("[risk]\nmax_order_qty = -5\n", "risk.max_order_qty: expected a positive integer, got -5"),
    ("[risk]\nmax_order_qty = 1.5\n", "risk.max_order_qty: expected an integer, got 1.5"),
    ("[risk]\nmax_order_qty = true\n", "risk.max_order_qty: expected an integer, got boolean true"),
    ("[risk]\nprice_band_pct = 150\n", "risk.price_band_pct: expected a number in [0.01, 100], got 150"),
    ("[risk]\nmax_ordr_qty = 5\n", "risk.max_ordr_qty: unknown key"),
    ("bogus = 1\n", "bogus: unknown key"),
    ("mode = \"demo\"\n", "mode: expected one of 'paper', 'live', 'backtest', got str 'demo'"),
    ("[venue]\nport = 70000\n", "venue.port: expected an integer in [0, 65535], got 70000"),
    ("[venue]\nbegin_string = \"FIX.5.0\"\n", "venue.begin_string: expected one of 'FIX.4.2', 'FIX.4.4'"),
    ("venue = 3\n", "venue: expected a table, got 3"),
    ("[engine]\ncpu_affinity = [0, -1]\n",
     "engine.cpu_affinity[1]: expected an integer in [0, 4095], got -1"),
    ("[engine]\nloop = \"uvloop\"\n", "engine.loop: expected one of 'asyncio', 'busy_poll'"),
    ("[journal]\nfsync = \"sometimes\"\n", "journal.fsync: expected one of 'always', 'batch', 'none'"),
    ("[market_data]\nsource = \"tws\"\n[instruments]\nsymbols = [\"BHP\", \"CBA\", \"NAB\", \"WBC\"]\n",
     "instruments.symbols: 4 symbols need 4 market depth subscriptions, but IBKR allows 3 with "
     "tws.market_data_lines = 100"),
    ("[tws]\nhost = \"10.1.2.3\"\n", "tws.host: '10.1.2.3' is not a loopback address"),
    ("[tws]\ncon_ids = { BHP = \"x\" }\n", "tws.con_ids.BHP: expected a positive integer conId"),
    ("[tws]\nport = 0\n", "tws.port: expected an integer in [1, 65535], got 0"),
    ("[tws]\nreconnect_min_s = 5.0\nreconnect_max_s = 1.0\n", "tws.reconnect_max_s: expected >= "),
    ("[market_data]\nsource = \"replay\"\n", "market_data.file: required when"),
    ("[instruments]\nsymbols = []\n", "instruments.symbols: expected at least one symbol"),
    ("[instruments]\nsymbols = [\"BHP\", 3]\n", "instruments.symbols[1]: expected a string, got 3"),
    ("[fees]\nmodel = \"ibkr_fixed\"\nparams = { rate = 3 }\n", "fees.params:"),
    ("[venue]\npassword = \"hunter2\"\n", "venue.password: literal credentials are not allowed"),
    ("[venue]\napi_token = \"x\"\n", "venue.api_token: literal credentials"),
    ("[venue]\npassword_env = \"MY PASS\"\n", "venue.password_env: expected an environment variable NAME"),
    ("[sim]\nlatency_us = -1\n", "sim.latency_us: expected a non-negative integer, got -1"),
    ("[metrics]\nenabled = \"yes\"\n", "metrics.enabled: expected a boolean (true/false), got str 'yes'"),
    ("mode = \"live\"\n", "sim.embedded: must be false in live mode"),
])
def test_errors_name_file_and_key_path(tmp_path: Path, text: str, message: str) -> None:
    p = _write(tmp_path, text)
    with pytest.raises(ConfigError) as ei:
        load_config(p)
    assert str(ei.value).startswith(f"{p}: "), str(ei.value)
    assert message in str(ei.value), str(ei.value)


def test_unreadable_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(_write(tmp_path, "[risk\n"))


def test_strategy_params_validated_against_registry(tmp_path: Path) -> None:
    c = load_config(_write(tmp_path, "[strategy]\nname='reference'\n[strategy.params]\nsize=300\nskew=1\n"),
                    strategy_params=REGISTRY)
    assert c.strategy.params_obj == RefParams(size=300, skew=1.0) and c.strategy.params == {"size": 300,
                                                                                            "skew": 1}
    for text, msg in [
        ("[strategy.params]\nsizee=3\n", "strategy.params.sizee: unknown key"),
        ("[strategy.params]\nsize='big'\n", "strategy.params.size: expected an integer, got str 'big'"),
        ("[strategy]\nname='nope'\n", "strategy.name: unknown strategy 'nope' (known: reference)"),
        ("[strategy]\nnam='x'\n", "strategy.nam: unknown key"),
    ]:
        with pytest.raises(ConfigError, match=msg.replace("(", r"\(").replace(")", r"\)")):
            load_config(_write(tmp_path, text), strategy_params=REGISTRY)
    # without a registry the raw table is kept unvalidated
    c = load_config(_write(tmp_path, "[strategy.params]\nanything=1\n"))
    assert c.strategy.params == {"anything": 1} and c.strategy.params_obj is None
    assert validate_params(RefParams, {"spread_ticks": 4}) == RefParams(spread_ticks=4)


def test_fees_and_credentials_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    c = config_from_dict({"fees": {"model": "zero"}, "venue": {"username_env": "HFT_T_U",
                                                               "password_env": "HFT_T_P"}})
    assert isinstance(c.fees.build(), ZeroFees)
    monkeypatch.setenv("HFT_T_U", "alice")
    monkeypatch.delenv("HFT_T_P", raising=False)
    assert c.venue.credentials() == ("alice", None)
    c2 = config_from_dict({"fees": {"params": {"min_cents": 500}}})
    assert c2.fees.build().order_fee(1) == 500


def test_require_live() -> None:
    live = load_config(ROOT / "config" / "live.example.toml")
    paper = load_config(None)
    require_live(live, True)  # both: allowed
    with pytest.raises(ConfigError, match="--live flag was not given"):
        require_live(live, False)
    with pytest.raises(ConfigError, match="--live was given but <defaults> has mode = 'paper'"):
        require_live(paper, True)
    with pytest.raises(ConfigError, match="refusing to trade live"):
        require_live(paper, False)


@dataclass(frozen=True)
class CheckedParams:
    qty: int = 1
    levels: tuple[int, ...] = (1, 2)

    def __post_init__(self) -> None:
        if self.qty > 10:
            raise ValueError("qty must be at most 10")


def test_params_dataclass_own_checks_become_config_errors() -> None:
    reg = {"checked": CheckedParams}
    c = config_from_dict({"strategy": {"name": "checked", "params": {"levels": [3]}}}, "x.toml", reg)
    assert c.strategy.params_obj == CheckedParams(levels=(3,))
    with pytest.raises(ConfigError, match=r"^x.toml: strategy.params: qty must be at most 10$"):
        config_from_dict({"strategy": {"name": "checked", "params": {"qty": 11}}}, "x.toml", reg)


def test_shipped_paper_config_with_the_real_strategy_registry() -> None:
    from hft import strategies  # the product's own package: an import failure must fail, never skip
    c = load_config(ROOT / "config" / "paper.toml", strategy_params=strategies.PARAMS)
    assert type(c.strategy.params_obj) is strategies.PARAMS["reference"]
    with pytest.raises(ConfigError, match=r"^y\.toml: strategy\.params: .*positive"):
        config_from_dict({"strategy": {"name": "reference", "params": {"qty": 0}}}, "y.toml",
                         strategies.PARAMS)


def test_engine_runtime_keys_and_their_checks() -> None:
    from hft.runtime import gc_controller_from_config

    c = config_from_dict({"engine": {"cpu_affinity": [0], "realtime_priority": True, "rt_priority": 10,
                                     "rt_policy": "rr", "mlock": True, "gc_thresholds": [50_000, 50, 100],
                                     "gc_disable": True, "gc_idle_ms": 20, "gc_idle_max_pending": 500,
                                     "busy_spin_us": 100}}, "e.toml")
    e = c.engine
    assert (e.rt_priority, e.rt_policy, e.mlock, e.busy_spin_us) == (10, "rr", True, 100.0)
    assert e.gc_thresholds == [50_000, 50, 100]
    p = gc_controller_from_config(e).policy
    assert (p.freeze, p.thresholds, p.disable_while_trading, p.idle_interval_ms, p.idle_max_pending) == (
        True, (50_000, 50, 100), True, 20, 500)
    assert gc_controller_from_config(config_from_dict({}).engine).policy.thresholds is None
    with pytest.raises(ConfigError, match=r"^e\.toml: engine\.gc_thresholds: expected 1 to 3 integers"):
        config_from_dict({"engine": {"gc_thresholds": [1, 2, 3, 4]}}, "e.toml")
    with pytest.raises(ConfigError, match=r"^e\.toml: engine\.gc_thresholds\[1\]: expected an integer"):
        config_from_dict({"engine": {"gc_thresholds": [1, "x"]}}, "e.toml")
    with pytest.raises(ConfigError, match=r"^e\.toml: engine\.rt_priority: expected an integer in \[1, 99\]"):
        config_from_dict({"engine": {"rt_priority": 0}}, "e.toml")
    with pytest.raises(ConfigError, match=r"^e\.toml: engine\.rt_policy: expected one of"):
        config_from_dict({"engine": {"rt_policy": "idle"}}, "e.toml")
    # real-time priority is never given to a loop that spins forever
    with pytest.raises(ConfigError, match=r"^e\.toml: engine\.realtime_priority: not with engine\.loop"):
        config_from_dict({"engine": {"loop": "busy_poll", "realtime_priority": True}}, "e.toml")
    ok = config_from_dict({"engine": {"loop": "busy_poll", "realtime_priority": True, "busy_spin_us": 50}})
    assert ok.engine.realtime_priority and ok.engine.busy_spin_us == 50.0
