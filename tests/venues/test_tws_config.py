"""``[market_data] source = "tws"`` and the ``[tws]`` section at config load; the factory."""

from __future__ import annotations

import pytest

from hft.engine.config import ConfigError, config_from_dict, is_loopback_host, load_config


def test_tws_source_accepted_with_the_defaults() -> None:
    cfg = config_from_dict({"market_data": {"source": "tws"},
                            "instruments": {"symbols": ["BHP", "CBA", "NAB"]}})
    tc = cfg.tws
    assert (tc.host, tc.port, tc.exchange, tc.currency) == ("127.0.0.1", 4002, "ASX", "AUD")
    assert not tc.smart_depth
    assert tc.subscription_limit() == 3 and tc.resubscribe_min_s == 15.0


@pytest.mark.parametrize(("lines", "limit"), [(100, 3), (499, 4), (1000, 10), (6000, 60), (100_000, 60)])
def test_subscription_limit_one_per_100_lines_at_least_3_at_most_60(lines: int, limit: int) -> None:
    syms = [f"S{i}" for i in range(limit)]
    cfg = config_from_dict({"market_data": {"source": "tws"}, "instruments": {"symbols": syms},
                            "tws": {"market_data_lines": lines}})
    assert cfg.tws.subscription_limit() == limit
    with pytest.raises(ConfigError, match=r"instruments\.symbols: .* raise tws\.market_data_lines"):
        config_from_dict({"market_data": {"source": "tws"}, "instruments": {"symbols": [*syms, "ZZZ"]},
                          "tws": {"market_data_lines": lines}})


def test_remote_host_only_with_the_allow_flag() -> None:
    assert is_loopback_host("127.0.0.1") and is_loopback_host("127.5.0.1") and is_loopback_host("::1")
    assert is_loopback_host("localhost") and not is_loopback_host("192.168.1.5")
    with pytest.raises(ConfigError, match=r"tws\.host: 'gw\.example' is not a loopback address"):
        config_from_dict({"tws": {"host": "gw.example"}})
    assert config_from_dict({"tws": {"host": "gw.example", "allow_remote": True}}).tws.host == "gw.example"


def test_shipped_paper_ibkr_config_loads_and_builds_a_source() -> None:
    pytest.importorskip("ib_async")
    from hft.engine.gateway import MarketDataSource
    from hft.venues.tws import make_tws_source

    cfg = load_config("config/paper_ibkr.toml")
    assert cfg.market_data.source == "tws" and cfg.tws.port == 4002
    md = make_tws_source(cfg)
    assert isinstance(md, MarketDataSource)


def test_hft_imports_without_ib_async() -> None:
    """ib_async is imported only when the TWS source is built (the optional extra hft[ibkr])."""
    import subprocess
    import sys

    code = ("import sys, importlib\n"
            "for m in ('hft.venues.tws', 'hft.venues.tws.depth', 'hft.venues.tws.fake_server',\n"
            "          'hft.engine.config', 'hft.engine.runner', 'hft.cli', 'hft.bench.tws_bench'):\n"
            "    importlib.import_module(m)\n"
            "bad = sorted(k for k in sys.modules if k.split('.')[0] in ('ib_async', 'eventkit'))\n"
            "print(','.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
