"""Background order flow for the simulator: keeps each instrument's book alive.

Each instrument of a :class:`BackgroundFlow` has a *latent* (fair) price following a geometric random
walk with jumps, and four action streams that act on the :class:`~hft.sim.matching.MatchingEngine`:

* **limit arrivals** (Hawkes with an exponential kernel, or Poisson): a passive limit order, buy or sell
  with equal probability, placed ``d`` ticks behind the touch reference (``P(d) ~ depth_decay**d``,
  ``d < depth_levels``). The bid reference is the latent price rounded down onto the ASX grid, the ask
  reference one tick above it; a price that would cross the current opposite best is pulled back to one
  tick inside it, so background limit orders never trade on arrival;
* **marketable orders** (Hawkes or Poisson): an IOC limit at the opposite best (``sweep_ticks`` further
  to walk the book), buy with probability ``0.5 + skew * (latent - mid) / tick`` (clipped to
  [0.05, 0.95]) so the book is dragged towards the latent price;
* **cancellations**: every resting background order is cancelled at ``cancel_rate`` per second (the
  stream's intensity is ``cancel_rate * live orders``), the victim chosen uniformly, by engine order id;
* **jumps** (Poisson, ``jump_rate``): the latent price moves by a geometric number of ticks (mean
  ``jump_ticks``), up or down.

The caller supplies the time (``advance(now_ns)``); nothing here sleeps or reads a clock. Every action
runs at its own scheduled time, so the result depends only on the seed and the engine's state, not on
how often ``advance`` is called. Prices on orders are integer price units on valid ASX ticks; the
latent price and the intensities are floats (they are signals, not prices).

Makers and takers use different accounts (``<session>-M`` / ``<session>-T``) so that self-trade
prevention never cancels background orders against each other. Marketable orders are only sent in
continuous trading; in an auction phase only passive (non-crossing) limit orders and cancels run; in
``CLOSED`` nothing is sent. An instrument that is ``CLOSED`` at :meth:`BackgroundFlow.seed_book` (or
whose day orders expired at a close) is seeded again on the first :meth:`BackgroundFlow.advance` after
it accepts orders again.
"""

from __future__ import annotations

import math
import random
import re
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from hft.asx.phases import Phase
from hft.asx.ticks import is_valid_price, round_price, tick_down, tick_size, tick_up
from hft.model.types import OrdType, Side, TimeInForce
from hft.sim.matching import Event, ExecEvent, ExecType, MatchingEngine

NEVER = (1 << 63) - 1
"""``next_event_ns`` when nothing is scheduled."""
NS_PER_S = 1_000_000_000
TRADING_DAY_S = 6 * 3600  # ASX continuous session 10:00-16:00, for ``daily_vol``

BUY = Side.BUY
SELL = Side.SELL
_LIMIT = OrdType.LIMIT
_DAY = TimeInForce.DAY
_IOC = TimeInForce.IOC
_CONTINUOUS = Phase.CONTINUOUS
_CLOSED = Phase.CLOSED
_REJECTED = ExecType.REJECTED
_SYMBOL_RE = re.compile(r"^[A-Z0-9][A-Z0-9.]{0,11}$")


class FlowConfigError(ValueError):
    """Invalid :class:`FlowConfig`; the message names the instrument and the field."""


@dataclass(frozen=True, slots=True)
class FlowConfig:
    """Background flow parameters of one instrument (validated on construction).

    Rates are per second of engine time. ``limit_rate`` and ``market_rate`` are *mean* rates: with
    ``process="hawkes"`` the baseline is ``rate * (1 - branching)`` and each event adds
    ``branching * decay * exp(-decay * t)`` to the intensity (expected ``branching`` children).
    """

    symbol: str
    """Instrument code as known to the engine, e.g. ``"BHP"``."""
    ref_price: int
    """Initial latent price, price units on a valid ASX tick (``450_000`` = $45.00)."""
    process: str = "hawkes"
    """``"hawkes"`` (self-exciting, exponential kernel) or ``"poisson"`` for limit and market streams."""
    limit_rate: float = 10.0
    """Mean passive limit order arrivals per second (both sides together)."""
    market_rate: float = 1.0
    """Mean marketable (IOC) orders per second (both sides together)."""
    cancel_rate: float = 0.1
    """Cancellation rate per resting background order per second (mean order life 1/cancel_rate s)."""
    branching: float = 0.5
    """Hawkes branching ratio in [0, 1): expected events triggered by one event (ignored for poisson)."""
    decay: float = 2.0
    """Hawkes kernel decay in 1/s (> 0): excitation half-life is ln 2 / decay seconds."""
    daily_vol: float = 0.015
    """Latent price volatility over a 6-hour trading day (0.015 = 1.5 %)."""
    jump_rate: float = 1.0 / 600.0
    """Latent price jumps per second."""
    jump_ticks: float = 3.0
    """Mean absolute jump size in ticks (>= 1; geometric distribution)."""
    depth_levels: int = 10
    """Limit orders are placed 0 .. depth_levels-1 ticks behind the touch reference."""
    depth_decay: float = 0.75
    """Depth distribution: P(d) proportional to depth_decay**d, in (0, 1]."""
    order_qty: int = 250
    """Median passive order size in shares (log-normal)."""
    market_qty: int = 200
    """Median marketable order size in shares (log-normal)."""
    qty_sigma: float = 0.8
    """Log-normal sigma of order sizes (0 = always the median)."""
    skew: float = 0.3
    """Marketable side bias per tick of (latent - mid): P(buy) = 0.5 + skew * ticks, in [0.05, 0.95]."""
    sweep_ticks: int = 0
    """A marketable order may walk this many ticks past the opposite best (0 = touch only)."""
    seed_levels: int = 10
    """Levels per side put in by ``seed_book`` (order counts follow the stationary depth profile)."""
    max_orders: int = 20_000
    """Cap on live background orders of the instrument (limit arrivals above it are skipped)."""

    def __post_init__(self) -> None:
        name = self.symbol

        def bad(field_name: str, why: str) -> FlowConfigError:
            value = getattr(self, field_name)
            return FlowConfigError(f"FlowConfig {name!r}: field {field_name!r} = {value!r}: {why}")

        if not isinstance(name, str) or not _SYMBOL_RE.match(name):
            raise bad("symbol", "must be an upper-case instrument code (A-Z, 0-9, '.'; up to 12 chars)")
        for f in ("ref_price", "depth_levels", "order_qty", "market_qty", "sweep_ticks", "seed_levels",
                  "max_orders"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool):
                raise bad(f, "must be an integer")
        for f in ("limit_rate", "market_rate", "cancel_rate", "branching", "decay", "daily_vol", "jump_rate",
                  "jump_ticks", "depth_decay", "qty_sigma", "skew"):
            v = getattr(self, f)
            if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v):
                raise bad(f, "must be a finite number")
        if not is_valid_price(self.ref_price):
            raise bad("ref_price", "must be a positive price in units of $0.0001 on the ASX tick table")
        if self.process not in ("hawkes", "poisson"):
            raise bad("process", "must be 'hawkes' or 'poisson'")
        for f in ("limit_rate", "market_rate", "cancel_rate", "daily_vol", "jump_rate", "qty_sigma", "skew"):
            if getattr(self, f) < 0:
                raise bad(f, "must be >= 0")
        if not 0 <= self.branching < 1:
            raise bad("branching", "must be in [0, 1) (a branching ratio >= 1 explodes)")
        if self.decay <= 0:
            raise bad("decay", "must be > 0")
        if self.jump_ticks < 1:
            raise bad("jump_ticks", "must be >= 1")
        if self.depth_levels < 1:
            raise bad("depth_levels", "must be >= 1")
        if not 0 < self.depth_decay <= 1:
            raise bad("depth_decay", "must be in (0, 1]")
        for f in ("order_qty", "market_qty", "max_orders"):
            if getattr(self, f) < 1:
                raise bad(f, "must be >= 1")
        if self.sweep_ticks < 0:
            raise bad("sweep_ticks", "must be >= 0")
        if not 0 <= self.seed_levels <= self.depth_levels:
            raise bad("seed_levels", f"must be in [0, depth_levels={self.depth_levels}]")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str = "flow") -> FlowConfig:
        """Build from a parsed TOML table; unknown or missing keys raise :class:`FlowConfigError`
        naming ``where.key``."""
        known = {f.name for f in fields(cls)}
        for k in data:
            if k not in known:
                raise FlowConfigError(f"{where}.{k}: unknown key (known: {', '.join(sorted(known))})")
        for k in ("symbol", "ref_price"):
            if k not in data:
                raise FlowConfigError(f"{where}.{k}: missing required key")
        try:
            return cls(**data)
        except FlowConfigError as e:
            raise FlowConfigError(f"{where}: {e}") from None


def default_flow_configs() -> list[FlowConfig]:
    """Three ASX-like names in the three tick bands: BHP ~$45 ($0.01), PLS ~$1.50 ($0.005) and a penny
    stock "NWX" ~$0.048 ($0.001). Sizes scale with the share price as on the real venue."""
    return [
        FlowConfig("BHP", 450_000, limit_rate=10.0, market_rate=1.5, cancel_rate=0.1, order_qty=250,
                   market_qty=200, daily_vol=0.015, jump_rate=1 / 900, jump_ticks=3.0, skew=0.3),
        FlowConfig("PLS", 15_000, limit_rate=6.0, market_rate=0.8, cancel_rate=0.08, order_qty=4_000,
                   market_qty=3_000, daily_vol=0.03, jump_rate=1 / 1200, jump_ticks=1.5, skew=0.5,
                   depth_levels=8, seed_levels=8),
        FlowConfig("NWX", 480, limit_rate=2.0, market_rate=0.2, cancel_rate=0.03, order_qty=60_000,
                   market_qty=50_000, daily_vol=0.05, jump_rate=1 / 3600, jump_ticks=1.0, skew=0.6,
                   depth_levels=6, seed_levels=6, branching=0.6),
    ]


class HawkesProcess:
    """Univariate Hawkes process with kernel ``branching * decay * exp(-decay * t)``.

    ``next_gap()`` returns the time in seconds from the previous event to the next one and updates the
    state as if that event happened; exact sampling (Dassios & Zhao 2013, exponential kernel, constant
    baseline), no thinning. Mean rate ``mean_rate``; ``branching = 0`` is a Poisson process.
    """

    __slots__ = ("beta", "excess", "jump", "mu", "rng")

    def __init__(self, mean_rate: float, branching: float, decay: float, rng: random.Random) -> None:
        if not 0 <= branching < 1:
            raise ValueError(f"branching ratio {branching} must be in [0, 1)")
        if decay <= 0 or mean_rate < 0:
            raise ValueError("decay must be > 0 and mean_rate >= 0")
        self.mu = mean_rate * (1.0 - branching)
        self.jump = branching * decay
        self.beta = decay
        self.excess = 0.0  # intensity above the baseline just after the last event
        self.rng = rng

    def next_gap(self) -> float:
        rng = self.rng
        mu = self.mu
        s = -math.log(1.0 - rng.random()) / mu if mu > 0 else math.inf
        e = self.excess
        if e > 0:
            d = 1.0 + self.beta * math.log(1.0 - rng.random()) / e
            if d > 0:
                s2 = -math.log(d) / self.beta
                if s2 < s:
                    s = s2
        if s == math.inf:
            return s
        self.excess = e * math.exp(-self.beta * s) + self.jump
        return s


def _gap_ns(seconds: float) -> int:
    if seconds > 1e9:
        return NEVER
    return max(1, int(seconds * NS_PER_S))


class _Live:
    """Background order ids of one instrument: O(1) add, remove and uniform pick."""

    __slots__ = ("ids", "pos")

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.pos: dict[int, int] = {}

    def add(self, oid: int) -> None:
        self.pos[oid] = len(self.ids)
        self.ids.append(oid)

    def remove_at(self, i: int) -> None:
        ids = self.ids
        oid = ids[i]
        last = ids.pop()
        del self.pos[oid]
        if i < len(ids):  # fill the hole with the former last id
            ids[i] = last
            self.pos[last] = i

    def __len__(self) -> int:
        return len(self.ids)


class _Inst:
    __slots__ = ("book", "cfg", "cum", "depth_cdf", "hk_limit", "hk_market", "jump_p", "last_ns", "latent",
                 "live", "rng", "seeded", "sigma", "stats")

    def __init__(self, cfg: FlowConfig, engine: MatchingEngine, seed: int) -> None:
        book = engine.books.get(cfg.symbol)
        if book is None:
            raise FlowConfigError(f"FlowConfig {cfg.symbol!r}: instrument not in the matching engine")
        self.cfg = cfg
        self.book = book
        self.rng = random.Random(f"hft.sim.flow:{seed}:{cfg.symbol}")
        n = 0.0 if cfg.process == "poisson" else cfg.branching
        self.hk_limit = HawkesProcess(cfg.limit_rate, n, cfg.decay, self.rng)
        self.hk_market = HawkesProcess(cfg.market_rate, n, cfg.decay, self.rng)
        w = [cfg.depth_decay**d for d in range(cfg.depth_levels)]
        tot = sum(w)
        acc = 0.0
        self.depth_cdf: list[float] = []
        self.cum = w  # unnormalised weights, kept for the seed profile
        for x in w:
            acc += x / tot
            self.depth_cdf.append(acc)
        self.depth_cdf[-1] = 1.0
        self.sigma = cfg.daily_vol / math.sqrt(TRADING_DAY_S)  # per sqrt(second)
        self.jump_p = 1.0 / cfg.jump_ticks  # geometric success probability
        self.latent = float(cfg.ref_price)
        self.last_ns = 0
        self.live = _Live()
        self.seeded = False
        self.stats = dict.fromkeys(("limit", "market", "cancel", "jump", "skipped", "rejected"), 0)

    def evolve(self, t: int) -> None:
        dt = t - self.last_ns
        if dt > 0:
            self.last_ns = t
            if self.sigma > 0:
                x = self.latent * math.exp(self.sigma * math.sqrt(dt / NS_PER_S) * self.rng.gauss(0.0, 1.0))
                self.latent = x if x > 20.0 else 20.0

    def qty(self, median: int, lot: int, min_qty: int, max_qty: int) -> int:
        s = self.cfg.qty_sigma
        q = median * math.exp(s * self.rng.gauss(0.0, 1.0)) if s > 0 else float(median)
        n = int(q / lot + 0.5) * lot
        if n < min_qty:
            n = min_qty + (-min_qty) % lot
        return n if n <= max_qty else max_qty - max_qty % lot


# stream indices inside BackgroundFlow._times (4 per instrument)
_S_LIMIT, _S_MARKET, _S_CANCEL, _S_JUMP = 0, 1, 2, 3


class BackgroundFlow:
    """Seeded background participants for a set of instruments of one engine (see module docs).

    ``advance(now_ns)`` performs every action due up to ``now_ns`` and returns the engine's events in
    order (``ExecEvent`` of the background session included, so fills of client orders are among them);
    ``next_event_ns()`` is when the next action is due (``NEVER`` if none; 0 before the first
    ``seed_book``/``advance``, meaning "call advance now").
    """

    def __init__(self, engine: MatchingEngine, configs: list[FlowConfig], seed: int, session: str = "BG",
                 *, start_ns: int | None = None, max_actions: int = 20_000) -> None:
        if max_actions < 1:
            raise FlowConfigError(f"max_actions must be >= 1, got {max_actions}")
        self.max_actions = max_actions
        seen: set[str] = set()
        for c in configs:
            if not isinstance(c, FlowConfig):
                raise FlowConfigError(f"configs: expected FlowConfig, got {type(c).__name__}")
            if c.symbol in seen:
                raise FlowConfigError(f"FlowConfig {c.symbol!r}: duplicate symbol")
            seen.add(c.symbol)
        self.engine = engine
        self.session = session
        self.maker_account = f"{session}-M"
        self.taker_account = f"{session}-T"
        self.seed = seed
        self._insts = [_Inst(c, engine, seed) for c in configs]
        self._times: list[int] = [NEVER] * (4 * len(self._insts))
        self._next_id = 1
        self._started = False
        self._pending_seed: list[_Inst] = []
        lr = engine.lot_rules
        self._lot = (lr.lot_size, lr.min_qty, lr.max_qty)
        if start_ns is not None:
            self._start(start_ns)

    # ------------------------------------------------------------------ scheduling
    def _start(self, now: int) -> None:
        self._started = True
        t = self._times
        for i, inst in enumerate(self._insts):
            inst.last_ns = now
            k = 4 * i
            t[k + _S_LIMIT] = now + _gap_ns(inst.hk_limit.next_gap())
            t[k + _S_MARKET] = now + _gap_ns(inst.hk_market.next_gap())
            jr = inst.cfg.jump_rate
            t[k + _S_JUMP] = now + _gap_ns(-math.log(1.0 - inst.rng.random()) / jr) if jr > 0 else NEVER
            self._resched_cancel(i, now)

    def _resched_cancel(self, i: int, now: int) -> None:
        inst = self._insts[i]
        rate = inst.cfg.cancel_rate * len(inst.live)
        self._times[4 * i + _S_CANCEL] = (now + _gap_ns(-math.log(1.0 - inst.rng.random()) / rate)
                                          if rate > 0 else NEVER)

    def next_event_ns(self) -> int:
        if not self._started:
            return 0
        return min(self._times) if self._times else NEVER

    # ------------------------------------------------------------------ public API
    def seed_book(self, now_ns: int) -> list[Event]:
        """Put initial depth on both sides (``seed_levels`` levels, the stationary number of orders per
        level) for every instrument that accepts orders; start the flow's time at ``now_ns``."""
        if not self._started:
            self._start(now_ns)
        out: list[Event] = []
        for i, inst in enumerate(self._insts):
            if inst.seeded:
                continue
            if inst.book.phase is _CLOSED:
                if inst not in self._pending_seed:
                    self._pending_seed.append(inst)
                continue
            self._seed(inst, out)
            self._resched_cancel(i, now_ns)
        return out

    def advance(self, now_ns: int) -> list[Event]:
        """Run the actions due up to ``now_ns`` (each at its own scheduled time), at most ``max_actions``
        per call so a caller that fell far behind stays responsive (``next_event_ns`` is then still due)."""
        out: list[Event] = []
        if not self._started:
            self._start(now_ns)
        if self._pending_seed:
            for inst in list(self._pending_seed):
                if inst.book.phase is not _CLOSED:
                    self._pending_seed.remove(inst)
                    self._seed(inst, out)
                    self._resched_cancel(self._insts.index(inst), now_ns)
        times = self._times
        insts = self._insts
        budget = self.max_actions
        while times and budget:
            budget -= 1
            t = min(times)
            if t > now_ns:
                break
            k = times.index(t)
            i = k >> 2
            s = k & 3
            inst = insts[i]
            inst.evolve(t)
            if s == _S_LIMIT:
                self._limit(inst, out)
                times[k] = t + _gap_ns(inst.hk_limit.next_gap())
            elif s == _S_MARKET:
                self._market(inst, out)
                times[k] = t + _gap_ns(inst.hk_market.next_gap())
            elif s == _S_CANCEL:
                self._cancel(inst, out)
            else:
                self._jump(inst)
                times[k] = t + _gap_ns(-math.log(1.0 - inst.rng.random()) / inst.cfg.jump_rate)
            self._resched_cancel(i, t)
        return out

    def stats(self) -> dict[str, dict[str, int]]:
        """Action counters per symbol (limit, market, cancel, jump, skipped, rejected) and live orders."""
        return {inst.cfg.symbol: {**inst.stats, "live": len(inst.live)} for inst in self._insts}

    def latent_price(self, symbol: str) -> float:
        """Current latent (fair) price of ``symbol`` in price units (a float signal)."""
        for inst in self._insts:
            if inst.cfg.symbol == symbol:
                return inst.latent
        raise KeyError(symbol)

    def live_order_ids(self, symbol: str) -> list[int]:
        """Engine order ids the flow believes are resting (may include ones filled since)."""
        for inst in self._insts:
            if inst.cfg.symbol == symbol:
                return list(inst.live.ids)
        raise KeyError(symbol)

    # ------------------------------------------------------------------ actions
    def _clid(self) -> str:
        n = self._next_id
        self._next_id = n + 1
        return str(n)

    def _post(self, inst: _Inst, side: Side, price: int, qty: int, out: list[Event]) -> None:
        res = self.engine.submit(self.session, self.maker_account, inst.cfg.symbol, self._clid(), side, qty,
                                 price, _LIMIT, _DAY)
        ev = res[0]  # submit() reports the order itself first
        if isinstance(ev, ExecEvent):
            if ev.exec_type is _REJECTED:
                inst.stats["rejected"] += 1
            elif ev.order_id in self.engine.orders:
                inst.live.add(ev.order_id)
        out += res

    def _refs(self, inst: _Inst) -> tuple[int, int]:
        """Touch references (bid, ask) from the latent price, pulled inside the current opposite best."""
        bid = round_price(int(inst.latent), "down")
        ask = tick_up(bid)
        book = inst.book
        ba = book.asks.best()
        if ba is not None and bid >= ba.price:
            bid = tick_down(ba.price)
        bb = book.bids.best()
        if bb is not None and ask <= bb.price:
            ask = tick_up(bb.price)
        return bid, ask

    def _seed(self, inst: _Inst, out: list[Event]) -> None:
        inst.seeded = True
        cfg = inst.cfg
        lot, mn, mx = self._lot
        bid, ask = self._refs(inst)
        scale = (cfg.limit_rate / 2.0 / sum(inst.cum) / cfg.cancel_rate) if cfg.cancel_rate > 0 else 3.0
        for d in range(cfg.seed_levels):
            n = max(1, min(100, round(inst.cum[d] * scale)))
            pb = tick_down(bid, d) if d else bid
            pa = tick_up(ask, d) if d else ask
            for _ in range(n):
                self._post(inst, BUY, pb, inst.qty(cfg.order_qty, lot, mn, mx), out)
                self._post(inst, SELL, pa, inst.qty(cfg.order_qty, lot, mn, mx), out)

    def _limit(self, inst: _Inst, out: list[Event]) -> None:
        cfg = inst.cfg
        rng = inst.rng
        side = BUY if rng.random() < 0.5 else SELL
        d = bisect_right(inst.depth_cdf, rng.random())
        if d >= cfg.depth_levels:
            d = cfg.depth_levels - 1
        lot, mn, mx = self._lot
        qty = inst.qty(cfg.order_qty, lot, mn, mx)
        if inst.book.phase is _CLOSED:  # day orders expire at the close: seed again when it reopens
            inst.stats["skipped"] += 1
            if inst.seeded:
                inst.seeded = False
                self._pending_seed.append(inst)
            return
        if len(inst.live) >= cfg.max_orders:
            inst.stats["skipped"] += 1
            return
        bid, ask = self._refs(inst)
        if side is BUY:
            price = tick_down(bid, d) if d else bid
        else:
            price = tick_up(ask, d) if d else ask
        inst.stats["limit"] += 1
        self._post(inst, side, price, qty, out)

    def _market(self, inst: _Inst, out: list[Event]) -> None:
        cfg = inst.cfg
        rng = inst.rng
        u = rng.random()
        lot, mn, mx = self._lot
        qty = inst.qty(cfg.market_qty, lot, mn, mx)
        book = inst.book
        bb = book.bids.best()
        ba = book.asks.best()
        if book.phase is not _CONTINUOUS or bb is None or ba is None:
            inst.stats["skipped"] += 1
            return
        mid = (bb.price + ba.price) * 0.5
        p_buy = 0.5 + cfg.skew * (inst.latent - mid) / tick_size(int(mid))
        if p_buy < 0.05:
            p_buy = 0.05
        elif p_buy > 0.95:
            p_buy = 0.95
        if u < p_buy:
            side = BUY
            price = tick_up(ba.price, cfg.sweep_ticks) if cfg.sweep_ticks else ba.price
        else:
            side = SELL
            price = tick_down(bb.price, cfg.sweep_ticks) if cfg.sweep_ticks else bb.price
        inst.stats["market"] += 1
        out += self.engine.submit(self.session, self.taker_account, cfg.symbol, self._clid(), side, qty,
                                  price, _LIMIT, _IOC)

    def _cancel(self, inst: _Inst, out: list[Event]) -> None:
        live = inst.live
        orders = self.engine.orders
        rng = inst.rng
        while live.ids:
            i = int(rng.random() * len(live.ids))
            oid = live.ids[i]
            live.remove_at(i)
            if oid in orders:  # still resting (not filled meanwhile)
                inst.stats["cancel"] += 1
                out += self.engine.cancel_order_id(oid)
                return

    def _jump(self, inst: _Inst) -> None:
        rng = inst.rng
        n = 1
        p = inst.jump_p
        if p < 1.0:  # geometric number of ticks >= 1 with mean 1/p
            n = 1 + int(math.log(1.0 - rng.random()) / math.log(1.0 - p))
        sign = 1 if rng.random() < 0.5 else -1
        step = tick_size(int(inst.latent))
        x = inst.latent + sign * n * step
        inst.latent = x if x > 20.0 else 20.0
        inst.stats["jump"] += 1
