"""Configuration of the exchange simulator server (``hft sim --config sim.toml``).

:func:`load_sim_config` reads a TOML file, :func:`sim_config_from_dict` validates a parsed mapping; both
return a :class:`SimConfig` and raise :class:`SimConfigError` naming the file and the full key path for an
unknown key, a wrong type or a value out of range (``sim.toml: latency.order_entry.fixed_us: expected a
number >= 0, got -3``). :meth:`SimConfig.default` builds the configuration used when no file is given
(`hft paper`'s embedded simulator): free ports on 127.0.0.1, one order-entry client ``HFT`` and one market
data client ``HFTMD`` (the CompIDs of ``config/paper.toml``), always-continuous trading, background flow
on the default instruments, no injected latency, sessions kept in memory (``store_dir = ""``).

A simulator *file* (and ``hft sim`` without a file) persists the order-entry sessions' sequence numbers
under :data:`DEFAULT_STORE_DIR` unless ``server.store_dir`` says otherwise (``""`` = in memory): one
default for the standalone simulator, whether a key is left out or no file is given.

Every section and key is documented in ``config/sim.toml`` and ``docs/sim.md``.
"""

from __future__ import annotations

import dataclasses
import math
import random
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from hft.asx.ticks import PRICE_SCALE, is_valid_price
from hft.fix.store import FsyncPolicy

DEFAULT_REQUIRED_TAGS: tuple[int, ...] = (1, 11, 21, 38, 40, 44, 54, 55, 59, 60, 100, 15, 167)
JITTER_KINDS = ("none", "uniform", "exponential", "normal")
STP_MODES = ("cancel_resting", "cancel_incoming", "off")
FSYNC_POLICIES = ("safe", "batch", "none")
BEGIN_STRINGS = ("FIX.4.2", "FIX.4.4")
DEFAULT_STORE_DIR = "var/sim/fix-store"  # standalone simulator (a file or `hft sim`); "" = in memory

# used when the background flow module offers no defaults (prices in price units)
FALLBACK_INSTRUMENTS: tuple[tuple[str, int], ...] = (("BHP", 450_000), ("PLS", 15_000), ("NWX", 480))


class SimConfigError(ValueError):
    """Invalid simulator configuration; the message names the file and the key path."""


# ------------------------------------------------------------------------------------- sections
@dataclass(frozen=True, slots=True)
class LatencySpec:
    """One-way latency added in one direction: ``fixed_us`` plus a seeded random jitter.

    ``jitter``: ``none``; ``uniform`` (0..jitter_us); ``exponential`` (mean jitter_us); ``normal``
    (|N(0, jitter_us)|). Values are microseconds (floats allowed: this is a model, not a price).
    """

    fixed_us: float = 0.0
    jitter_us: float = 0.0
    jitter: str = "none"

    @property
    def enabled(self) -> bool:
        return self.fixed_us > 0 or (self.jitter != "none" and self.jitter_us > 0)


class LatencySampler:
    """Draws delays (ns) for a :class:`LatencySpec` from its own seeded generator."""

    __slots__ = ("_fixed_ns", "_jitter_ns", "_kind", "_rng", "enabled")

    def __init__(self, spec: LatencySpec, seed: int) -> None:
        self._fixed_ns = int(spec.fixed_us * 1000)
        self._jitter_ns = spec.jitter_us * 1000.0
        self._kind = spec.jitter if spec.jitter_us > 0 else "none"
        self._rng = random.Random(seed)
        self.enabled = spec.enabled

    def sample_ns(self) -> int:
        k = self._kind
        if k == "none":
            return self._fixed_ns
        if k == "uniform":
            j = self._rng.random() * self._jitter_ns
        elif k == "exponential":
            j = self._rng.expovariate(1.0 / self._jitter_ns)
        else:
            j = abs(self._rng.gauss(0.0, self._jitter_ns))
        return self._fixed_ns + int(j)


@dataclass(frozen=True, slots=True)
class LatencyConfig:
    seed: int = 1
    order_entry: LatencySpec = field(default_factory=LatencySpec)
    market_data: LatencySpec = field(default_factory=LatencySpec)


@dataclass(frozen=True, slots=True)
class ClientSession:
    """One FIX client the simulator accepts (its SenderCompID; our CompID is the server's)."""

    sender_comp_id: str
    begin_string: str = "FIX.4.2"
    cancel_on_disconnect: bool | None = None  # None: use order_entry.cancel_on_disconnect
    # FIX session options of this client's session (hft.fix.session.session_options; docs/fix_session.md),
    # e.g. {"required_username_env": "SIM_USER", "required_password_env": "SIM_PASS"}: a Logon without
    # that Username (553) / Password (554) is refused
    session: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class OrderEntryConfig:
    comp_id: str = "ASXSIM"
    required_tags: tuple[int, ...] = DEFAULT_REQUIRED_TAGS
    ex_destination: str = "ASX"  # 100 must equal this when present/required ("" = not checked)
    currency: str = "AUD"  # 15
    security_type: str = "CS"  # 167
    cancel_on_disconnect: bool = True
    sessions: tuple[ClientSession, ...] = (ClientSession("HFT"),)
    # longest ClOrdID (11), OrigClOrdID (41), Account (1), Symbol (55) accepted, in bytes; longer -> Reject
    max_id_len: int = 64
    # memory for the last state of finished orders (35=H answers), in KiB: oldest forgotten beyond it
    remembered_orders_kb: int = 65536
    # sent messages kept in memory for resends per session (no server.store_dir), KiB: older ones are
    # answered with a SequenceReset-GapFill
    resend_memory_kb: int = 65536


@dataclass(frozen=True, slots=True)
class MarketDataConfig:
    comp_id: str = "ASXSIMMD"
    depth: int = 10  # levels in a 35=W snapshot and in the incrementals
    max_pending_kb: int = 8192  # a client with more unsent bytes than this is disconnected (slow consumer)
    sndbuf_kb: int = 0  # SO_SNDBUF of market data connections (0 = the OS default, autotuned)
    sessions: tuple[ClientSession, ...] = (ClientSession("HFTMD"),)


@dataclass(frozen=True, slots=True)
class InstrumentConfig:
    symbol: str
    reference_price: int  # price units
    # background flow parameters (hft.sim.flow.FlowConfig fields except symbol/ref_price); None = the
    # flow's default for this symbol if it has one, else FlowConfig's defaults
    flow: tuple[tuple[str, Any], ...] | None = None


@dataclass(frozen=True, slots=True)
class FlowSettings:
    enabled: bool = True
    source: str = "synthetic"  # "synthetic" (hft.sim.flow) or "replay" (hft.sim.replay)
    seed: int = 1
    rate: float = 1.0  # multiplier of the synthetic flow's arrival rates (when the flow supports it)
    replay_path: str = ""
    replay_speed: float = 1.0  # 0 = as fast as possible
    max_sleep_ms: float = 50.0  # the flow timer wakes at least this often


@dataclass(frozen=True, slots=True)
class MatchingSettings:
    stp: str = "cancel_resting"
    min_qty: int = 1
    lot_size: int = 1
    max_qty: int = 100_000_000


@dataclass(frozen=True, slots=True)
class ScheduleSettings:
    mode: str = "continuous"  # "continuous" (any hour) or "asx" (Sydney-time phases, auctions)
    jitter_s: float = 0.0
    seed: int = 0


@dataclass(frozen=True, slots=True)
class SimConfig:
    host: str = "127.0.0.1"
    order_port: int = 0  # 0 = a free port chosen by the OS
    md_port: int = 0
    metrics_enabled: bool = True
    metrics_port: int = 0
    # "" = sequence numbers kept in memory (programmatic default); a file without server.store_dir and
    # `hft sim` use DEFAULT_STORE_DIR. Else one persisted store per order-entry session.
    store_dir: str = ""
    fsync: FsyncPolicy = "batch"
    order_entry: OrderEntryConfig = field(default_factory=OrderEntryConfig)
    market_data: MarketDataConfig = field(default_factory=MarketDataConfig)
    instruments: tuple[InstrumentConfig, ...] = ()  # () = the background flow's default instruments
    flow: FlowSettings = field(default_factory=FlowSettings)
    matching: MatchingSettings = field(default_factory=MatchingSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    latency: LatencyConfig = field(default_factory=LatencyConfig)
    source: str = "<defaults>"

    @classmethod
    def default(cls, **overrides: Any) -> SimConfig:
        """The embedded simulator's configuration (see module doc); keyword arguments replace fields."""
        return dataclasses.replace(cls(), **overrides)

    def replace(self, **changes: Any) -> SimConfig:
        return dataclasses.replace(self, **changes)


# ------------------------------------------------------------------------------------- loading
class _Ctx:
    def __init__(self, source: str) -> None:
        self.source = source

    def err(self, path: str, msg: str) -> SimConfigError:
        return SimConfigError(f"{self.source}: {path}: {msg}")


def _table(ctx: _Ctx, d: Any, path: str, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(d, Mapping):
        raise ctx.err(path, f"expected a table, got {type(d).__name__}")
    for k in d:
        if k not in allowed:
            raise ctx.err(f"{path}.{k}" if path else k,
                          f"unknown key (allowed: {', '.join(sorted(allowed))})")
    return d


def _int(ctx: _Ctx, v: object, path: str, lo: int | None = None, hi: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ctx.err(path, f"expected an integer, got {v!r}")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ctx.err(path, f"expected an integer {rng}, got {v}")
    return v


def _num(ctx: _Ctx, v: Any, path: str, lo: float = 0.0) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ctx.err(path, f"expected a number, got {v!r}")
    if v < lo:
        raise ctx.err(path, f"expected a number >= {lo:g}, got {v}")
    return float(v)


def _bool(ctx: _Ctx, v: Any, path: str) -> bool:
    if not isinstance(v, bool):
        raise ctx.err(path, f"expected true or false, got {v!r}")
    return v


def _str(ctx: _Ctx, v: Any, path: str, choices: tuple[str, ...] | None = None,
         nonempty: bool = False) -> str:
    if not isinstance(v, str):
        raise ctx.err(path, f"expected a string, got {v!r}")
    if choices is not None and v not in choices:
        raise ctx.err(path, f"expected one of {', '.join(choices)}, got {v!r}")
    if nonempty and not v:
        raise ctx.err(path, "must not be empty")
    if not v.isascii() or "\x01" in v:
        raise ctx.err(path, f"must be printable ASCII, got {v!r}")
    return v


def _price(ctx: _Ctx, v: Any, path: str) -> int:
    """A price in dollars: a string ("45.12") or a number (45.12); must be on the ASX tick table."""
    if isinstance(v, bool) or not isinstance(v, (str, int, float)):
        raise ctx.err(path, f"expected a price in dollars like \"45.12\", got {v!r}")
    try:
        d = Decimal(str(v))
    except InvalidOperation:
        raise ctx.err(path, f"expected a price in dollars like \"45.12\", got {v!r}") from None
    units = d * PRICE_SCALE
    if not d.is_finite() or units != units.to_integral_value() or units <= 0:
        raise ctx.err(path, f"expected a positive price with at most 4 decimals, got {v!r}")
    p = int(units)
    if not is_valid_price(p):
        raise ctx.err(path, f"price {v} is not on the ASX tick table")
    return p


def _check_flow(ctx: _Ctx, sym: str, ref: int, params: dict[str, Any], path: str) -> None:
    from hft.sim.flow import FlowConfig, FlowConfigError

    try:
        FlowConfig.from_mapping({"symbol": sym, "ref_price": ref, **params}, path)
    except FlowConfigError as e:
        raise SimConfigError(f"{ctx.source}: {e}") from None
    except TypeError as e:
        raise ctx.err(path, str(e)) from None


def _latency_spec(ctx: _Ctx, d: Any, path: str) -> LatencySpec:
    t = _table(ctx, d, path, {"fixed_us", "jitter_us", "jitter"})
    fixed = _num(ctx, t.get("fixed_us", 0.0), f"{path}.fixed_us")
    jit = _num(ctx, t.get("jitter_us", 0.0), f"{path}.jitter_us")
    kind = _str(ctx, t.get("jitter", "uniform" if jit > 0 else "none"), f"{path}.jitter", JITTER_KINDS)
    return LatencySpec(fixed, jit, kind)


def _sessions(ctx: _Ctx, v: Any, path: str) -> tuple[ClientSession, ...]:
    if not isinstance(v, list) or not v:
        raise ctx.err(path, "expected a non-empty array of tables ([[...]])")
    out: list[ClientSession] = []
    seen: set[str] = set()
    for i, item in enumerate(v):
        p = f"{path}[{i}]"
        t = _table(ctx, item, p, {"sender_comp_id", "begin_string", "cancel_on_disconnect", "session"})
        if "sender_comp_id" not in t:
            raise ctx.err(f"{p}.sender_comp_id", "required")
        comp = _str(ctx, t["sender_comp_id"], f"{p}.sender_comp_id", nonempty=True)
        if comp in seen:
            raise ctx.err(f"{p}.sender_comp_id", f"duplicate client {comp!r}")
        seen.add(comp)
        begin = _str(ctx, t.get("begin_string", "FIX.4.2"), f"{p}.begin_string", BEGIN_STRINGS)
        cod = t.get("cancel_on_disconnect")
        opts = t.get("session")
        if opts is not None:
            from hft.fix.session import session_options

            try:
                session_options(opts, f"{p}.session")
            except ValueError as e:
                where, _, why = str(e).partition(": ")
                raise ctx.err(where, why) from None
        out.append(ClientSession(comp, begin, None if cod is None else
                                 _bool(ctx, cod, f"{p}.cancel_on_disconnect"), opts))
    return tuple(out)


_TOP = {"server", "metrics", "order_entry", "market_data", "instruments", "flow", "matching", "schedule",
        "latency"}


def sim_config_from_dict(d: Mapping[str, Any], source: str = "<dict>") -> SimConfig:
    """Validate a parsed TOML mapping (see ``config/sim.toml`` for every key)."""
    ctx = _Ctx(source)
    _table(ctx, d, "", _TOP)
    kw: dict[str, Any] = {"source": source}

    srv = _table(ctx, d.get("server", {}), "server",
                 {"host", "order_port", "md_port", "store_dir", "fsync"})
    if "host" in srv:
        host = _str(ctx, srv["host"], "server.host", nonempty=True)
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ctx.err("server.host", f"the simulator only listens on loopback, got {host!r}")
        kw["host"] = "127.0.0.1" if host == "localhost" else host
    for k in ("order_port", "md_port"):
        if k in srv:
            kw[k] = _int(ctx, srv[k], f"server.{k}", 0, 65535)
    kw["store_dir"] = (_str(ctx, srv["store_dir"], "server.store_dir") if "store_dir" in srv
                       else DEFAULT_STORE_DIR)
    if "fsync" in srv:
        kw["fsync"] = _str(ctx, srv["fsync"], "server.fsync", FSYNC_POLICIES)
    if kw.get("order_port") and kw.get("order_port") == kw.get("md_port"):
        raise ctx.err("server.md_port", "must differ from server.order_port")

    met = _table(ctx, d.get("metrics", {}), "metrics", {"enabled", "port"})
    if "enabled" in met:
        kw["metrics_enabled"] = _bool(ctx, met["enabled"], "metrics.enabled")
    if "port" in met:
        kw["metrics_port"] = _int(ctx, met["port"], "metrics.port", 0, 65535)

    oe = _table(ctx, d.get("order_entry", {}), "order_entry",
                {"comp_id", "required_tags", "ex_destination", "currency", "security_type",
                 "cancel_on_disconnect", "sessions", "max_id_len", "remembered_orders_kb",
                 "resend_memory_kb"})
    base = OrderEntryConfig()
    oe_kw: dict[str, Any] = {}
    if "comp_id" in oe:
        oe_kw["comp_id"] = _str(ctx, oe["comp_id"], "order_entry.comp_id", nonempty=True)
    if "required_tags" in oe:
        tags = oe["required_tags"]
        if not isinstance(tags, list):
            raise ctx.err("order_entry.required_tags", f"expected an array of tag numbers, got {tags!r}")
        oe_kw["required_tags"] = tuple(_int(ctx, t, f"order_entry.required_tags[{i}]", 1, 9999)
                                       for i, t in enumerate(tags))
    for k in ("ex_destination", "currency", "security_type"):
        if k in oe:
            oe_kw[k] = _str(ctx, oe[k], f"order_entry.{k}")
    if "cancel_on_disconnect" in oe:
        oe_kw["cancel_on_disconnect"] = _bool(ctx, oe["cancel_on_disconnect"],
                                              "order_entry.cancel_on_disconnect")
    if "sessions" in oe:
        oe_kw["sessions"] = _sessions(ctx, oe["sessions"], "order_entry.sessions")
    if "max_id_len" in oe:
        oe_kw["max_id_len"] = _int(ctx, oe["max_id_len"], "order_entry.max_id_len", 1, 1 << 20)
    if "resend_memory_kb" in oe:
        oe_kw["resend_memory_kb"] = _int(ctx, oe["resend_memory_kb"], "order_entry.resend_memory_kb", 1,
                                         1 << 30)
    if "remembered_orders_kb" in oe:
        oe_kw["remembered_orders_kb"] = _int(ctx, oe["remembered_orders_kb"],
                                             "order_entry.remembered_orders_kb", 1, 1 << 30)
    kw["order_entry"] = dataclasses.replace(base, **oe_kw)

    md = _table(ctx, d.get("market_data", {}), "market_data",
                {"comp_id", "depth", "max_pending_kb", "sndbuf_kb", "sessions"})
    md_kw: dict[str, Any] = {}
    if "comp_id" in md:
        md_kw["comp_id"] = _str(ctx, md["comp_id"], "market_data.comp_id", nonempty=True)
    if "depth" in md:
        md_kw["depth"] = _int(ctx, md["depth"], "market_data.depth", 1, 100)
    if "max_pending_kb" in md:
        md_kw["max_pending_kb"] = _int(ctx, md["max_pending_kb"], "market_data.max_pending_kb", 16)
    if "sndbuf_kb" in md:
        md_kw["sndbuf_kb"] = _int(ctx, md["sndbuf_kb"], "market_data.sndbuf_kb", 0)
    if "sessions" in md:
        md_kw["sessions"] = _sessions(ctx, md["sessions"], "market_data.sessions")
    kw["market_data"] = dataclasses.replace(MarketDataConfig(), **md_kw)
    if kw["market_data"].comp_id == kw["order_entry"].comp_id:
        raise ctx.err("market_data.comp_id", "must differ from order_entry.comp_id")

    if "instruments" in d:
        ins = d["instruments"]
        if not isinstance(ins, list):
            raise ctx.err("instruments", "expected an array of tables ([[instruments]])")
        out: list[InstrumentConfig] = []
        seen: set[str] = set()
        for i, item in enumerate(ins):
            p = f"instruments[{i}]"
            t = _table(ctx, item, p, {"symbol", "reference_price", "flow"})
            for req in ("symbol", "reference_price"):
                if req not in t:
                    raise ctx.err(f"{p}.{req}", "required")
            sym = _str(ctx, t["symbol"], f"{p}.symbol", nonempty=True)
            if sym in seen:
                raise ctx.err(f"{p}.symbol", f"duplicate instrument {sym!r}")
            seen.add(sym)
            ref = _price(ctx, t["reference_price"], f"{p}.reference_price")
            flow_params = None
            if "flow" in t:
                ft = t["flow"]
                if not isinstance(ft, Mapping):
                    raise ctx.err(f"{p}.flow", f"expected a table, got {type(ft).__name__}")
                for k in ("symbol", "ref_price"):
                    if k in ft:
                        raise ctx.err(f"{p}.flow.{k}", "set by the instrument itself, remove it here")
                flow_params = tuple(ft.items())
                _check_flow(ctx, sym, ref, dict(ft), f"{p}.flow")
            out.append(InstrumentConfig(sym, ref, flow_params))
        kw["instruments"] = tuple(out)

    fl = _table(ctx, d.get("flow", {}), "flow",
                {"enabled", "source", "seed", "rate", "replay_path", "replay_speed", "max_sleep_ms"})
    fl_kw: dict[str, Any] = {}
    if "enabled" in fl:
        fl_kw["enabled"] = _bool(ctx, fl["enabled"], "flow.enabled")
    if "source" in fl:
        fl_kw["source"] = _str(ctx, fl["source"], "flow.source", ("synthetic", "replay"))
    if "seed" in fl:
        fl_kw["seed"] = _int(ctx, fl["seed"], "flow.seed")
    if "rate" in fl:
        fl_kw["rate"] = _num(ctx, fl["rate"], "flow.rate")
    if "replay_path" in fl:
        fl_kw["replay_path"] = _str(ctx, fl["replay_path"], "flow.replay_path")
    if "replay_speed" in fl:
        fl_kw["replay_speed"] = _num(ctx, fl["replay_speed"], "flow.replay_speed")
    if "max_sleep_ms" in fl:
        fl_kw["max_sleep_ms"] = _num(ctx, fl["max_sleep_ms"], "flow.max_sleep_ms", 1.0)
    flow = dataclasses.replace(FlowSettings(), **fl_kw)
    if flow.enabled and flow.source == "replay" and not flow.replay_path:
        raise ctx.err("flow.replay_path", "required when flow.source = \"replay\"")
    kw["flow"] = flow

    mt = _table(ctx, d.get("matching", {}), "matching", {"stp", "min_qty", "lot_size", "max_qty"})
    mt_kw: dict[str, Any] = {}
    if "stp" in mt:
        mt_kw["stp"] = _str(ctx, mt["stp"], "matching.stp", STP_MODES)
    for k in ("min_qty", "lot_size", "max_qty"):
        if k in mt:
            mt_kw[k] = _int(ctx, mt[k], f"matching.{k}", 1)
    kw["matching"] = dataclasses.replace(MatchingSettings(), **mt_kw)

    sc = _table(ctx, d.get("schedule", {}), "schedule", {"mode", "jitter_s", "seed"})
    sc_kw: dict[str, Any] = {}
    if "mode" in sc:
        sc_kw["mode"] = _str(ctx, sc["mode"], "schedule.mode", ("continuous", "asx"))
    if "jitter_s" in sc:
        sc_kw["jitter_s"] = _num(ctx, sc["jitter_s"], "schedule.jitter_s")
    if "seed" in sc:
        sc_kw["seed"] = _int(ctx, sc["seed"], "schedule.seed")
    kw["schedule"] = dataclasses.replace(ScheduleSettings(), **sc_kw)

    la = _table(ctx, d.get("latency", {}), "latency", {"seed", "order_entry", "market_data"})
    la_kw: dict[str, Any] = {}
    if "seed" in la:
        la_kw["seed"] = _int(ctx, la["seed"], "latency.seed")
    for k in ("order_entry", "market_data"):
        if k in la:
            la_kw[k] = _latency_spec(ctx, la[k], f"latency.{k}")
    kw["latency"] = dataclasses.replace(LatencyConfig(), **la_kw)
    return SimConfig(**kw)


def load_sim_config(path: str | Path) -> SimConfig:
    """Read and validate a simulator TOML file (errors name the file, key path, and problem)."""
    p = Path(path)
    try:
        text = p.read_bytes()
    except OSError as e:
        raise SimConfigError(f"{p}: cannot read: {e.strerror or e}") from None
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise SimConfigError(f"{p}: not UTF-8 text: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise SimConfigError(f"{p}: TOML syntax error: {e}") from None
    return sim_config_from_dict(data, str(p))
