"""The one seam between the engine and the exchange simulator: the embedded venue.

``hft paper`` with no venue configured runs :mod:`hft.sim` in-process (its own thread and asyncio loop) and
connects to it over loopback. This module is the only one of :mod:`hft.engine` that imports :mod:`hft.sim`
(the package rules are in ``tests/test_layering.py`` and docs/architecture.md); it is not compiled, it runs
once per session.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from hft.engine.config import Config


def embedded_sim_config(config: Config) -> Any:
    """The :class:`hft.sim.config.SimConfig` for the embedded simulator: ``sim.config`` (a simulator TOML)
    or the simulator's defaults, with its sessions set to our CompIDs and our ``[sim]`` knobs applied."""
    from hft.sim.config import ClientSession, LatencySpec, SimConfig, load_sim_config
    from hft.sim.server import instruments_of

    sc, vc, mc = config.sim, config.venue, config.market_data
    base = load_sim_config(sc.config) if sc.config else SimConfig.default(metrics_enabled=False)
    cod = vc.cancel_on_disconnect
    oe = dataclasses.replace(base.order_entry, comp_id=vc.target_comp_id,
                             sessions=(ClientSession(vc.sender_comp_id, vc.begin_string, cod),),
                             ex_destination=vc.ex_destination, currency=vc.currency)
    md = dataclasses.replace(base.market_data, comp_id=mc.target_comp_id,
                             sessions=(ClientSession(mc.sender_comp_id, vc.begin_string),))
    cfg = dataclasses.replace(base, host="127.0.0.1", order_port=0, md_port=0, order_entry=oe, market_data=md,
                              store_dir="")
    if not sc.config:  # the [sim] knobs describe the default simulator; a full simulator file wins
        lat = LatencySpec(fixed_us=float(sc.latency_us))
        cfg = dataclasses.replace(
            cfg,
            flow=dataclasses.replace(cfg.flow, seed=sc.seed, rate=sc.flow_rate, enabled=sc.flow_rate > 0),
            schedule=dataclasses.replace(cfg.schedule, mode="continuous" if sc.continuous else "asx"),
            latency=dataclasses.replace(cfg.latency, order_entry=lat, market_data=lat))
    known = instruments_of(cfg)
    missing = [s for s in config.instruments.symbols if s not in known]
    if missing:
        raise RuntimeError(f"{config.source}: instruments.symbols: {', '.join(missing)} not listed by the "
                           f"embedded simulator (it has {', '.join(sorted(known))}); set sim.config to a "
                           "simulator config that lists them")
    return cfg


def start_embedded_sim(config: Config) -> Any:
    """Start the exchange simulator in-process (its own thread and asyncio loop) on 127.0.0.1 with free
    ports; the returned :class:`hft.sim.server.SimServer` has ``order_port``, ``md_port`` and ``stop()``."""
    from hft.sim.server import SimServer

    sim = SimServer(embedded_sim_config(config))
    sim.start()
    return sim
