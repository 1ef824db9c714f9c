"""Typed TOML configuration for paper, live and backtest runs.

:func:`load_config` reads a TOML file (``tomllib``), :func:`config_from_dict` validates an already
parsed mapping; both return a frozen :class:`Config` of typed sections and raise :class:`ConfigError`
naming the full key path and the file for an unknown key, a wrong type or an out-of-range value, e.g.
``config/paper.toml: risk.max_order_qty: expected a positive integer, got -5``. Every key has a
default, so ``load_config(None)`` is a complete paper configuration (embedded simulator, reference
strategy).

Credentials never live in the file: ``venue.username_env`` / ``venue.password_env`` name environment
variables, and any key that looks like a literal secret (``password``, ``passwd``, ``secret``, ``token``,
``api_key``, ...) anywhere in the file is refused. :func:`require_live` is the live-trading guard.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Mode = Literal["paper", "live", "backtest"]


class ConfigError(ValueError):
    """Invalid configuration; the message names the file and the full key path."""


def _f(default: Any, *, min: float | None = None, max: float | None = None,
       doc: str = "") -> Any:
    return field(default=default, metadata={"min": min, "max": max, "doc": doc})


@dataclass(frozen=True, slots=True)
class VenueConfig:
    """Order entry (FIX initiator) to the venue: the simulator or IBKR's FIX gateway."""

    host: str = "127.0.0.1"
    port: int = _f(9878, min=0, max=65535, doc="0 = the embedded simulator's port (paper)")
    begin_string: Literal["FIX.4.2", "FIX.4.4"] = "FIX.4.2"
    sender_comp_id: str = "HFT"
    target_comp_id: str = "ASXSIM"
    heartbeat_s: int = _f(30, min=1, max=3600)
    reconnect_s: float = _f(2.0, min=0.01, max=3600)
    account: str = "PAPER"
    ex_destination: str = "ASX"
    currency: str = "AUD"
    username_env: str = ""  # NAME of the environment variable holding the user name
    password_env: str = ""  # NAME of the environment variable holding the password
    store_dir: str = "var/fix-store"
    # batch: each outgoing message written before it is sent (survives kill -9), fsynced by the host's thread;
    # safe: an fsync before every outgoing message (survives an OS crash too; costs the fsync per order)
    store_fsync: Literal["safe", "batch", "none"] = "batch"
    cancel_on_disconnect: bool = True
    # [venue.session]: FIX session options (hft.fix.session.session_options: ResetOnLogon, CheckLatency,
    # MaxLatency, StartTime/EndTime/TimeZone, TimestampPrecision, ... ; docs/fix_session.md)
    session: dict[str, Any] = field(default_factory=dict)

    def credentials(self) -> tuple[str | None, str | None]:
        """(username, password) read from the named environment variables (None when unset/unnamed)."""
        return (os.environ.get(self.username_env) if self.username_env else None,
                os.environ.get(self.password_env) if self.password_env else None)


@dataclass(frozen=True, slots=True)
class MarketDataConfig:
    """Market data source: ``fix`` (a FIX market data session, e.g. the simulator's), ``replay`` (a
    canonical data file at ``speed`` x real time), ``tws`` (IBKR TWS API depth and trades: the ``[tws]``
    section, ``hft.venues.tws``)."""

    source: Literal["fix", "replay", "tws"] = "fix"
    host: str = "127.0.0.1"
    port: int = _f(9879, min=0, max=65535, doc="0 = the embedded simulator's port (paper)")
    sender_comp_id: str = "HFTMD"
    target_comp_id: str = "ASXSIMMD"
    file: str = ""
    speed: float = _f(1.0, min=0.0, doc="replay speed multiplier; 0 = as fast as possible")
    stale_after_ms: int = _f(5000, min=1)


@dataclass(frozen=True, slots=True)
class TwsConfig:
    """IBKR TWS API connection (IB Gateway or TWS) for ``[market_data] source = "tws"``; see docs/ibkr.md.

    Ports: IB Gateway 4001 live / 4002 paper, TWS 7496 live / 7497 paper. IBKR's limits (its TWS API
    pages): depth (reqMktDepth) and tick-by-tick (reqTickByTickData) subscriptions are each limited to
    ``max(3, min(60, market_data_lines // 100))``; checked at load against ``instruments.symbols``."""

    host: str = "127.0.0.1"
    port: int = _f(4002, min=1, max=65535, doc="IB Gateway 4001 live / 4002 paper; TWS 7496 / 7497")
    allow_remote: bool = False  # a host other than loopback only with this flag (the API is unencrypted)
    client_id: int = _f(17, min=0, max=2_147_483_647)
    connect_timeout_s: float = _f(10.0, min=0.1, max=600.0)
    exchange: str = "ASX"  # not SMART: SMART depth mixes venues
    currency: str = "AUD"
    depth_rows: int = _f(10, min=1, max=50, doc="reqMktDepth numRows per side")
    smart_depth: bool = False
    market_data_lines: int = _f(100, min=100, max=100_000, doc="your account's market data lines")
    trades: bool = True  # trades from tick-by-tick AllLast
    resubscribe_min_s: float = _f(15.0, min=1.0, max=3600.0,
                                  doc="at most one (re)subscription per instrument in this many seconds")
    reconnect_min_s: float = _f(1.0, min=0.05, max=3600.0)
    reconnect_max_s: float = _f(60.0, min=0.05, max=3600.0)
    contracts_cache: str = "var/tws-contracts.json"
    con_ids: dict[str, Any] = field(default_factory=dict)  # symbol -> conId: skips the look-up

    def subscription_limit(self) -> int:
        """Depth (and tick-by-tick) subscriptions allowed: 3 by default, 1 per 100 lines, at most 60."""
        return max(3, min(60, self.market_data_lines // 100))


@dataclass(frozen=True, slots=True)
class InstrumentsConfig:
    symbols: list[str] = field(default_factory=lambda: ["BHP"])


@dataclass(frozen=True, slots=True)
class StrategyConfig:
    name: str = "reference"
    params: dict[str, Any] = field(default_factory=dict)  # raw table
    params_obj: Any = None  # the strategy's validated params dataclass, when a registry was given


@dataclass(frozen=True, slots=True)
class RiskConfig:
    """Pre-trade limits and kill switch triggers; the engine maps them onto ``hft.engine.risk.RiskLimits``
    (dollars -> cents, percent -> basis points, seconds -> ns)."""

    max_daily_loss: int = _f(10_000, min=1, doc="dollars; the kill switch trips when realised + "
                                                "unrealised P&L after fees reaches -max_daily_loss")
    price_band_pct: float = _f(5.0, min=0.01, max=100.0, doc="max distance from the reference price")
    reference: Literal["mid", "last"] = "mid"  # reference price for the band: book mid or last trade
    require_reference: bool = False  # refuse limit orders while no reference price is known
    max_order_qty: int = _f(10_000, min=1)
    max_order_value: int = _f(100_000, min=1, doc="dollars")
    max_position: int = _f(50_000, min=1, doc="shares, absolute, per instrument")
    max_gross_position: int = _f(1_000_000, min=1, doc="shares, sum of absolute positions")
    max_open_orders: int = _f(50, min=1)
    max_orders_per_sec: int = _f(50, min=1, doc="token bucket refill rate")
    burst: int = _f(0, min=0, doc="token bucket capacity; 0 = max_orders_per_sec")
    max_rejects: int = _f(20, min=1, doc="venue rejects within reject_window_s that trip the kill switch")
    reject_window_s: float = _f(60.0, min=0.001, max=86_400.0)
    kill_on_disconnect: bool = True
    self_cross_check: bool = True  # always on in the risk manager; false is refused at load

    @property
    def max_daily_loss_cents(self) -> int:
        return self.max_daily_loss * 100


@dataclass(frozen=True, slots=True)
class FeesConfig:
    model: Literal["ibkr_fixed", "zero"] = "ibkr_fixed"
    params: dict[str, Any] = field(default_factory=dict)

    def build(self) -> Any:
        from hft.asx.fees import fee_model_from_config

        return fee_model_from_config(self.model, **self.params)


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = _f(9090, min=0, max=65535)


@dataclass(frozen=True, slots=True)
class JournalConfig:
    path: str = "var/journal.bin"
    fsync: Literal["always", "batch", "none"] = "batch"  # write() per record, fsync per batch; live: always
    batch_max_records: int = _f(256, min=1)
    batch_max_ms: int = _f(50, min=1)


def busy_spins_forever(ec: EngineConfig) -> bool:
    """Whether the busy-poll loop spins without ever blocking: ``busy_spin_us = 0``, or pinned to its cores
    (``cpu_affinity``) with ``busy_spin_pinned`` (a pinned loop that slept in ``select`` would be asleep
    when most ticks arrive, and its core has nothing else to run)."""
    return ec.busy_spin_us == 0 or (bool(ec.cpu_affinity) and ec.busy_spin_pinned)


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """The trading process: event loop, CPU/priority/memory (applied by ``hft.runtime.apply_process_config``)
    and the garbage collector policy (``gc_*``, applied after start-up). See docs/config.md."""

    loop: Literal["asyncio", "busy_poll"] = "asyncio"
    cpu_affinity: list[int] = field(default_factory=list, metadata={"min": 0, "max": 4095})
    realtime_priority: bool = False  # SCHED_FIFO/RR; refused with busy_poll + busy_spin_us = 0 (spins)
    rt_priority: int = _f(50, min=1, max=99)
    rt_policy: Literal["fifo", "rr"] = "fifo"
    mlock: bool = False  # mlockall(MCL_CURRENT | MCL_FUTURE)
    gc_freeze: bool = True
    gc_thresholds: list[int] = field(default_factory=list, metadata={"min": 0, "max": 100_000_000})
    gc_disable: bool = True  # collector off while trading; collections only between ticks (timer)
    gc_idle_ms: int = _f(1000, min=0, max=3_600_000, doc="gc_disable: idle collection at most this often")
    gc_idle_max_pending: int = _f(10_000, min=0, doc="gc_disable: or sooner once this many allocations pend")
    busy_spin_us: float = _f(0.0, min=0.0, max=10_000_000.0,
                             doc="busy_poll: 0 = spin forever; > 0 = spin this long after a read, then block")
    busy_spin_pinned: bool = field(default=True, metadata={
        "doc": "busy_poll with cpu_affinity: spin forever (the core is the loop's), busy_spin_us ignored"})
    wire_stamps: bool = field(default=False, metadata={
        "doc": "busy_poll: kernel rx/tx stamps per order; the summary reports wire-to-wire from them"})
    busy_warm_us: float = _f(200.0, min=0.0, max=1_000_000.0,
                             doc="busy_poll: cache warming every N us while idle (BusyLoop); 0 = off")
    timer_ms: int = _f(100, min=1, max=3_600_000)
    max_pending_new: int = _f(64, min=1)
    max_pending_cancel: int = _f(64, min=1)
    max_pending_replace: int = _f(64, min=1)
    order_history: int = _f(10_000, min=0, doc="finished orders kept in memory for late reports")


@dataclass(frozen=True, slots=True)
class SimConfig:
    """The embedded exchange simulator (paper mode without an external venue)."""

    embedded: bool = True
    seed: int = 1
    continuous: bool = True  # continuous trading all day (usable at any hour)
    flow_rate: float = _f(1.0, min=0.0, doc="background order flow rate multiplier")
    latency_us: int = _f(0, min=0, doc="one-way latency added by the simulator")
    config: str = ""  # optional path to a full simulator config (config/sim.toml)


@dataclass(frozen=True, slots=True)
class Config:
    mode: Mode = "paper"
    venue: VenueConfig = field(default_factory=VenueConfig)
    market_data: MarketDataConfig = field(default_factory=MarketDataConfig)
    instruments: InstrumentsConfig = field(default_factory=InstrumentsConfig)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    risk: RiskConfig = field(default_factory=RiskConfig)
    fees: FeesConfig = field(default_factory=FeesConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    journal: JournalConfig = field(default_factory=JournalConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    sim: SimConfig = field(default_factory=SimConfig)
    tws: TwsConfig = field(default_factory=TwsConfig)
    source: str = "<defaults>"  # the file it came from


_SECRET_WORDS = ("password", "passwd", "pwd", "secret", "token", "api_key", "apikey", "private_key")


def _is_secret_key(key: str) -> bool:
    k = key.lower()
    return not k.endswith("_env") and any(w in k for w in _SECRET_WORDS)


class _Ctx:
    def __init__(self, source: str) -> None:
        self.source = source

    def err(self, path: str, msg: str) -> ConfigError:
        return ConfigError(f"{self.source}: {path}: {msg}")


def _describe(v: Any) -> str:
    if isinstance(v, bool):
        return f"boolean {str(v).lower()}"
    if isinstance(v, dict):
        return "a table"
    if isinstance(v, list):
        return "an array"
    return f"{type(v).__name__} {v!r}" if not isinstance(v, (int, float)) else repr(v)


def _check_scalar(ctx: _Ctx, path: str, tp: Any, v: Any, meta: Mapping[str, Any]) -> Any:
    lo, hi = meta.get("min"), meta.get("max")
    origin = typing.get_origin(tp)
    if origin is Literal:
        choices = typing.get_args(tp)
        if v not in choices or isinstance(v, bool):
            raise ctx.err(path, f"expected one of {', '.join(repr(c) for c in choices)}, got {_describe(v)}")
        return v
    if tp is bool:
        if not isinstance(v, bool):
            raise ctx.err(path, f"expected a boolean (true/false), got {_describe(v)}")
        return v
    if tp is int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise ctx.err(path, f"expected an integer, got {_describe(v)}")
    elif tp is float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ctx.err(path, f"expected a number, got {_describe(v)}")
        v = float(v)
    elif tp is str:
        if not isinstance(v, str):
            raise ctx.err(path, f"expected a string, got {_describe(v)}")
        return v
    else:
        raise ctx.err(path, f"unsupported type {tp!r}")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        kind = "an integer" if tp is int else "a number"
        if lo == 1 and hi is None and tp is int:
            want = "a positive integer"
        elif lo == 0 and hi is None:
            want = f"a non-negative {kind[kind.index(' ') + 1:]}"
        elif hi is None:
            want = f"{kind} >= {lo:g}"
        elif lo is None:
            want = f"{kind} <= {hi:g}"
        else:
            want = f"{kind} in [{lo:g}, {hi:g}]"
        raise ctx.err(path, f"expected {want}, got {_describe(v)}")
    return v


def _check_value(ctx: _Ctx, path: str, tp: Any, v: Any, meta: Mapping[str, Any]) -> Any:
    origin = typing.get_origin(tp)
    if origin is list or origin is tuple:
        item = typing.get_args(tp)[0]
        if not isinstance(v, list):
            raise ctx.err(path, f"expected an array, got {_describe(v)}")
        out = [_check_scalar(ctx, f"{path}[{i}]", item, x, meta) for i, x in enumerate(v)]
        return out if origin is list else tuple(out)
    if origin is dict or tp is dict:
        if not isinstance(v, dict):
            raise ctx.err(path, f"expected a table, got {_describe(v)}")
        return dict(v)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if v is None:
            return None
        return _check_value(ctx, path, args[0], v, meta)
    return _check_scalar(ctx, path, tp, v, meta)


def _build(ctx: _Ctx, cls: type, data: Mapping[str, Any], prefix: str, skip: tuple[str, ...] = ()) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in skip}
    kwargs: dict[str, Any] = {}
    for key, v in data.items():
        path = f"{prefix}{key}"
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ctx.err(path, f"unknown key (known keys: {known})")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            if not isinstance(v, dict):
                raise ctx.err(path, f"expected a table, got {_describe(v)}")
            kwargs[key] = _build(ctx, tp, v, f"{path}.")  # type: ignore[arg-type]
        else:
            kwargs[key] = _check_value(ctx, path, tp, v, fields[key].metadata)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:  # e.g. a params dataclass's own __post_init__ checks
        raise ctx.err(prefix.rstrip(".") or "<root>", str(e)) from None


def _find_secrets(ctx: _Ctx, data: Mapping[str, Any], prefix: str = "") -> None:
    for k, v in data.items():
        if _is_secret_key(k):
            raise ctx.err(f"{prefix}{k}", "literal credentials are not allowed in a config file; put the "
                                          "secret in an environment variable and name it with "
                                          "username_env / password_env")
        if isinstance(v, dict):
            _find_secrets(ctx, v, f"{prefix}{k}.")


def validate_params(params_cls: type, params: Mapping[str, Any], *, path: str = "strategy.params",
                    source: str = "<config>") -> Any:
    """Validate a strategy params table against the strategy's params dataclass and build it."""
    ctx = _Ctx(source)
    if not dataclasses.is_dataclass(params_cls):
        raise ctx.err(path, f"{params_cls!r} is not a dataclass")
    return _build(ctx, params_cls, params, f"{path}.")


def config_from_dict(data: Mapping[str, Any], source: str = "<dict>",
                     strategy_params: Mapping[str, type] | None = None) -> Config:
    """Validate a parsed TOML mapping. ``strategy_params`` maps strategy name -> params dataclass; when
    given, ``strategy.name`` must be one of them and ``[strategy.params]`` is validated against it."""
    ctx = _Ctx(source)
    _find_secrets(ctx, data)
    data = dict(data)
    strat = data.pop("strategy", {})
    if not isinstance(strat, dict):
        raise ctx.err("strategy", f"expected a table, got {_describe(strat)}")
    cfg: Config = _build(ctx, Config, data, "", skip=("source", "strategy"))
    sc = _build(ctx, StrategyConfig, strat, "strategy.", skip=("params_obj",))
    params_obj = None
    if strategy_params is not None:
        if sc.name not in strategy_params:
            raise ctx.err("strategy.name", f"unknown strategy {sc.name!r} (known: "
                                           f"{', '.join(sorted(strategy_params))})")
        params_obj = _build(ctx, strategy_params[sc.name], sc.params, "strategy.params.")
    cfg = dataclasses.replace(cfg, source=source,
                              strategy=dataclasses.replace(sc, params_obj=params_obj))
    _cross_checks(ctx, cfg)
    return cfg


def _cross_checks(ctx: _Ctx, cfg: Config) -> None:
    md = cfg.market_data
    _check_tws(ctx, cfg)
    if md.source == "replay" and not md.file:
        raise ctx.err("market_data.file", "required when market_data.source = 'replay'")
    if not cfg.risk.self_cross_check:
        raise ctx.err("risk.self_cross_check", "expected true: the risk manager always refuses an order that "
                                               "would cross our own resting order (no wash trades)")
    if not cfg.instruments.symbols:
        raise ctx.err("instruments.symbols", "expected at least one symbol")
    for i, s in enumerate(cfg.instruments.symbols):
        if not s or not s.replace(".", "").isalnum():
            raise ctx.err(f"instruments.symbols[{i}]", f"expected a ticker such as 'BHP', got {s!r}")
    if len(set(cfg.instruments.symbols)) != len(cfg.instruments.symbols):
        raise ctx.err("instruments.symbols", "duplicate symbols")
    ec = cfg.engine
    if ec.gc_thresholds and len(ec.gc_thresholds) > 3:
        raise ctx.err("engine.gc_thresholds", f"expected 1 to 3 integers (gc.set_threshold), got "
                                             f"{len(ec.gc_thresholds)}")
    if ec.realtime_priority and ec.loop == "busy_poll" and busy_spins_forever(ec):
        why = "busy_spin_us = 0" if ec.busy_spin_us == 0 else "cpu_affinity with busy_spin_pinned = true"
        raise ctx.err("engine.realtime_priority",
                      f"not with engine.loop = 'busy_poll' and {why}: a real-time process that "
                      "spins forever starves everything else on its core; set busy_spin_us > 0 "
                      "(spin, then block; unpinned or busy_spin_pinned = false) or realtime_priority = false")
    if cfg.venue.session:
        from hft.fix.session import session_options

        try:
            session_options(cfg.venue.session, "venue.session")
        except ValueError as e:
            path, _, why = str(e).partition(": ")
            raise ctx.err(path, why) from None
    for key in ("username_env", "password_env"):
        name = getattr(cfg.venue, key)
        if name and not name.replace("_", "").isalnum():
            raise ctx.err(f"venue.{key}", f"expected an environment variable NAME, got {name!r}")
    if cfg.mode == "live":
        if cfg.sim.embedded:
            raise ctx.err("sim.embedded", "must be false in live mode")
        if not cfg.venue.username_env or not cfg.venue.password_env:
            raise ctx.err("venue.username_env", "live mode needs venue.username_env and venue.password_env")
    try:
        cfg.fees.build()
    except (TypeError, ValueError) as e:
        raise ctx.err("fees.params", str(e)) from None


_LOOPBACK_NAMES = ("localhost", "ip6-localhost")


def is_loopback_host(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost (the only hosts allowed without ``tws.allow_remote``)."""
    import ipaddress

    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_tws(ctx: _Ctx, cfg: Config) -> None:
    tc = cfg.tws
    if not is_loopback_host(tc.host) and not tc.allow_remote:
        raise ctx.err("tws.host", f"{tc.host!r} is not a loopback address; the TWS API connection is not "
                                  "encrypted: run IB Gateway on this machine, or set tws.allow_remote = true")
    if tc.reconnect_max_s < tc.reconnect_min_s:
        raise ctx.err("tws.reconnect_max_s", f"expected >= tws.reconnect_min_s ({tc.reconnect_min_s:g}), got "
                                             f"{tc.reconnect_max_s:g}")
    for sym, cid in tc.con_ids.items():
        if isinstance(cid, bool) or not isinstance(cid, int) or cid <= 0:
            raise ctx.err(f"tws.con_ids.{sym}", f"expected a positive integer conId, got {_describe(cid)}")
    if cfg.market_data.source == "tws":
        n = len(cfg.instruments.symbols)
        limit = tc.subscription_limit()
        if n > limit:
            raise ctx.err("instruments.symbols",
                          f"{n} symbols need {n} market depth subscriptions, but IBKR allows {limit} with "
                          f"tws.market_data_lines = {tc.market_data_lines} (3 by default, 1 per 100 lines, "
                          "at most 60): list fewer symbols or raise tws.market_data_lines")


def load_config(path: str | Path | None, strategy_params: Mapping[str, type] | None = None) -> Config:
    """Load and validate a TOML config file; ``None`` gives the defaults (paper, embedded simulator)."""
    if path is None:
        return config_from_dict({}, "<defaults>", strategy_params)
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise ConfigError(f"{p}: cannot read config: {e.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    return config_from_dict(data, str(p), strategy_params)


def require_live(config: Config, live_flag: bool) -> None:
    """Refuse live trading unless the config's mode is "live" AND ``--live`` was given."""
    if not live_flag and config.mode != "live":
        raise ConfigError(f"refusing to trade live: the --live flag was not given and {config.source} has "
                          f"mode = {config.mode!r} (live trading needs both --live and mode = \"live\")")
    if not live_flag:
        raise ConfigError(f"refusing to trade live: {config.source} has mode = \"live\" but the --live flag "
                          "was not given")
    if config.mode != "live":
        raise ConfigError(f"refusing to trade live: --live was given but {config.source} has mode = "
                          f"{config.mode!r}, not \"live\"")
