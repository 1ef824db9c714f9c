"""Simulator TOML config: the sample loads, errors name the file and the key path; latency sampler."""

from __future__ import annotations

from pathlib import Path

import pytest

from hft.sim.config import (
    DEFAULT_REQUIRED_TAGS,
    LatencySampler,
    LatencySpec,
    SimConfig,
    SimConfigError,
    load_sim_config,
    sim_config_from_dict,
)
from hft.sim.server import instruments_of

SAMPLE = Path(__file__).resolve().parents[2] / "config" / "sim.toml"


def test_defaults_match_paper_config() -> None:
    c = SimConfig.default()
    assert c.host == "127.0.0.1" and c.order_port == 0 and c.md_port == 0
    assert c.order_entry.comp_id == "ASXSIM" and [s.sender_comp_id for s in c.order_entry.sessions] == ["HFT"]
    assert c.market_data.comp_id == "ASXSIMMD" and c.market_data.sessions[0].sender_comp_id == "HFTMD"
    assert c.order_entry.required_tags == DEFAULT_REQUIRED_TAGS and c.schedule.mode == "continuous"
    assert set(instruments_of(c)) == {"BHP", "PLS", "NWX"}
    assert SimConfig.default(order_port=5).order_port == 5


def test_sample_config_loads() -> None:
    c = load_sim_config(SAMPLE)
    assert c.order_port == 9878 and c.md_port == 9879 and c.metrics_port == 9101
    assert [(s.sender_comp_id, s.begin_string) for s in c.order_entry.sessions] == [
        ("HFT", "FIX.4.2"), ("HFT44", "FIX.4.4")]
    assert c.order_entry.sessions[1].cancel_on_disconnect is False
    assert instruments_of(c)["CBA"] == 1_200_000 and instruments_of(c)["NWX"] == 480
    assert dict(c.instruments[3].flow or ())["order_qty"] == 100


@pytest.mark.parametrize("text,where", [
    ("[server]\nordr_port = 1\n", "server.ordr_port: unknown key"),
    ("bogus = 1\n", "bogus: unknown key"),
    ("[server]\norder_port = 70000\n", "server.order_port: expected an integer in [0, 65535]"),
    ("[server]\norder_port = \"9878\"\n", "server.order_port: expected an integer"),
    ("[server]\nhost = \"0.0.0.0\"\n", "server.host: the simulator only listens on loopback"),
    ("[server]\nfsync = \"sometimes\"\n", "server.fsync: expected one of safe, batch, none"),
    ("[server]\norder_port = 5000\nmd_port = 5000\n", "server.md_port: must differ"),
    ("[latency.order_entry]\nfixed_us = -3\n", "latency.order_entry.fixed_us: expected a number >= 0"),
    ("[latency.market_data]\njitter = \"pareto\"\n", "latency.market_data.jitter: expected one of"),
    ("[[instruments]]\nsymbol = \"BHP\"\nreference_price = \"45.005\"\n",
     "instruments[0].reference_price: price 45.005 is not on the ASX tick table"),
    ("[[instruments]]\nsymbol = \"BHP\"\n", "instruments[0].reference_price: required"),
    ("[[instruments]]\nsymbol = \"BHP\"\nreference_price = 45\n[[instruments]]\nsymbol = \"BHP\"\n"
     "reference_price = 45\n", "instruments[1].symbol: duplicate instrument"),
    ("[[instruments]]\nsymbol = \"BHP\"\nreference_price = 45\nflow = { limit_rat = 1 }\n",
     "instruments[0].flow.limit_rat: unknown key"),
    ("[[order_entry.sessions]]\nsender_comp_id = \"A\"\n[[order_entry.sessions]]\nsender_comp_id = \"A\"\n",
     "order_entry.sessions[1].sender_comp_id: duplicate client"),
    ("[[order_entry.sessions]]\nbegin_string = \"FIX.4.2\"\n",
     "order_entry.sessions[0].sender_comp_id: required"),
    ("[[market_data.sessions]]\nsender_comp_id = \"A\"\nbegin_string = \"FIX.5.0\"\n",
     "market_data.sessions[0].begin_string: expected one of FIX.4.2, FIX.4.4"),
    ("[order_entry]\nrequired_tags = [1, \"x\"]\n", "order_entry.required_tags[1]: expected an integer"),
    ("[market_data]\ncomp_id = \"ASXSIM\"\n", "market_data.comp_id: must differ from order_entry.comp_id"),
    ("[flow]\nsource = \"replay\"\n", "flow.replay_path: required"),
    ("[schedule]\nmode = \"sometimes\"\n", "schedule.mode: expected one of continuous, asx"),
    ("[matching]\nlot_size = 0\n", "matching.lot_size: expected an integer >= 1"),
])
def test_errors_name_file_and_key(tmp_path: Path, text: str, where: str) -> None:
    p = tmp_path / "sim.toml"
    p.write_text(text)
    with pytest.raises(SimConfigError) as ei:
        load_sim_config(p)
    assert str(ei.value).startswith(f"{p}: ") and where in str(ei.value), str(ei.value)


def test_file_problems(tmp_path: Path) -> None:
    with pytest.raises(SimConfigError, match="cannot read"):
        load_sim_config(tmp_path / "missing.toml")
    p = tmp_path / "bad.toml"
    p.write_text("[server\n")
    with pytest.raises(SimConfigError, match="TOML syntax error"):
        load_sim_config(p)
    p.write_bytes(b"\xff\xfe")
    with pytest.raises(SimConfigError, match="not UTF-8"):
        load_sim_config(p)


def test_prices_accept_string_and_number() -> None:
    c = sim_config_from_dict({"instruments": [{"symbol": "A", "reference_price": "1.505"},
                                              {"symbol": "B", "reference_price": 45}]})
    assert [i.reference_price for i in c.instruments] == [15_050, 450_000]


def test_latency_sampler_seeded_and_bounded() -> None:
    assert LatencySampler(LatencySpec(100.0), 1).sample_ns() == 100_000
    assert not LatencySampler(LatencySpec(), 1).enabled
    for kind in ("uniform", "exponential", "normal"):
        a = [LatencySampler(LatencySpec(10.0, 5.0, kind), 7).sample_ns() for _ in range(3)]
        spec = LatencySpec(10.0, 5.0, kind)
        s1, s2 = LatencySampler(spec, 7), LatencySampler(spec, 7)
        xs = [s1.sample_ns() for _ in range(200)]
        assert xs == [s2.sample_ns() for _ in range(200)]
        assert min(xs) >= 10_000 and len(set(xs)) > 100 and a[0] == xs[0]
    u = LatencySampler(LatencySpec(0.0, 5.0, "uniform"), 3)
    assert max(u.sample_ns() for _ in range(500)) <= 5_000


def test_store_dir_default_is_the_same_with_or_without_a_file(tmp_path: Path) -> None:
    from hft.sim.cli import build_parser, config_from_args
    from hft.sim.config import DEFAULT_STORE_DIR

    assert DEFAULT_STORE_DIR == "var/sim/fix-store"
    assert SimConfig.default().store_dir == ""  # programmatic / embedded: in memory
    p = tmp_path / "sim.toml"
    p.write_text("[server]\norder_port = 0\n")
    assert load_sim_config(p).store_dir == DEFAULT_STORE_DIR  # key left out: persisted
    assert sim_config_from_dict({}).store_dir == DEFAULT_STORE_DIR
    assert sim_config_from_dict({"server": {"store_dir": ""}}).store_dir == ""
    assert sim_config_from_dict({"server": {"store_dir": "x/y"}}).store_dir == "x/y"
    parse = build_parser().parse_args
    assert config_from_args(parse([])).store_dir == DEFAULT_STORE_DIR
    assert config_from_args(parse(["--config", str(p)])).store_dir == DEFAULT_STORE_DIR
    assert config_from_args(parse(["--config", str(p), "--store-dir", ""])).store_dir == ""
    assert load_sim_config(SAMPLE).store_dir == DEFAULT_STORE_DIR
