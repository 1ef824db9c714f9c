"""ASX symbol -> IBKR contract (conId, exchange, currency, tick rules), resolved once and cached on disk.

At start-up every configured symbol is resolved, in this order:

1. ``tws.con_ids`` in the config (``BHP = 4036812``): used as given, nothing asked (tests take conIds
   from the config);
2. the cache file ``tws.contracts_cache`` (JSON, written by an earlier start-up), when its entry has the
   configured exchange and currency;
3. the API: ``reqContractDetails`` for a stock ``symbol`` on ``tws.exchange`` in ``tws.currency``; exactly
   one match is required (none or several is an error naming the symbol). Its market rule
   (``reqMarketRule``, the price increments) is compared with the ASX tick table of ``hft.asx.ticks``; a
   difference is logged and recorded (``tick_rules_match = false``), never silently used. The answers
   are written to the cache (atomically) for the next start.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hft.engine.config import TwsConfig

log = logging.getLogger(__name__)

# hft.asx.ticks as (low edge, increment) in price units: 0.1c below 10c, 0.5c to $2, 1c from $2
ASX_INCREMENTS: tuple[tuple[int, int], ...] = ((0, 10), (1_000, 50), (20_000, 100))


class ContractError(RuntimeError):
    """A symbol could not be resolved to exactly one contract."""


@dataclass(frozen=True, slots=True)
class ContractSpec:
    symbol: str
    con_id: int
    exchange: str
    currency: str
    min_tick: int = 0  # price units; 0 = unknown (taken from the config)
    increments: tuple[tuple[int, int], ...] = ()  # (low edge, step) in price units, from the market rule
    tick_rules_match: bool = True  # the market rule equals the ASX tick table (or is unknown)
    long_name: str = ""
    source: str = "config"  # config / cache / api

    def contract(self) -> Any:
        """The ib_async contract for requests (conId given: IBKR needs nothing else to identify it)."""
        from ib_async import Stock

        return Stock(self.symbol, self.exchange, self.currency, conId=self.con_id)


def _units(x: float) -> int:
    return round(float(x) * 10_000)


def load_cache(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        log.warning("contract cache %s unreadable (%s): resolving through the API", path, e)
        return {}
    return data if isinstance(data, dict) else {}


def save_cache(path: Path, entries: dict[str, dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(entries, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def _from_entry(e: dict[str, Any]) -> ContractSpec:
    return ContractSpec(symbol=str(e["symbol"]), con_id=int(e["con_id"]), exchange=str(e["exchange"]),
                        currency=str(e["currency"]), min_tick=int(e.get("min_tick", 0)),
                        increments=tuple((int(a), int(b)) for a, b in e.get("increments", ())),
                        tick_rules_match=bool(e.get("tick_rules_match", True)),
                        long_name=str(e.get("long_name", "")), source="cache")


async def resolve_contracts(ib: Any, symbols: list[str], tc: TwsConfig, cache_path: Path
                            ) -> dict[str, ContractSpec]:
    """Resolve ``symbols`` (see the module doc); raises :class:`ContractError`."""
    out: dict[str, ContractSpec] = {}
    cache = load_cache(cache_path)
    wrote = False
    for sym in symbols:
        cid = tc.con_ids.get(sym)
        if cid:
            out[sym] = ContractSpec(sym, int(cid), tc.exchange, tc.currency)
            continue
        e = cache.get(sym)
        if e is not None and e.get("exchange") == tc.exchange and e.get("currency") == tc.currency:
            try:
                out[sym] = _from_entry(e)
                continue
            except (KeyError, TypeError, ValueError):
                log.warning("contract cache %s: bad entry for %s: resolving through the API", cache_path, sym)
        spec = await _ask(ib, sym, tc)
        out[sym] = spec
        cache[sym] = asdict(spec)
        wrote = True
    if wrote:
        save_cache(cache_path, cache)
    return out


async def _ask(ib: Any, sym: str, tc: TwsConfig) -> ContractSpec:
    from ib_async import Stock

    details = await ib.reqContractDetailsAsync(Stock(sym, tc.exchange, tc.currency))
    if not details:
        raise ContractError(f"instruments.symbols: {sym}: IBKR knows no stock {sym} on {tc.exchange} in "
                            f"{tc.currency} (check the symbol, tws.exchange and tws.currency)")
    if len(details) > 1:
        ids = ", ".join(f"{d.contract.conId} ({d.contract.primaryExchange})" for d in details)
        raise ContractError(f"instruments.symbols: {sym}: {len(details)} contracts match ({ids}); set "
                            f"tws.con_ids.{sym} to the one you mean")
    cd = details[0]
    c = cd.contract
    increments: tuple[tuple[int, int], ...] = ()
    rule = (cd.marketRuleIds or "").split(",")[0]
    if rule.strip().isdigit():
        incs = await ib.reqMarketRuleAsync(int(rule))
        increments = tuple((_units(i.lowEdge), _units(i.increment)) for i in (incs or ()))
    match = not increments or increments == ASX_INCREMENTS
    if not match:
        log.warning("contract %s (conId %d): IBKR's price increments %s differ from the ASX tick table %s",
                    sym, c.conId, increments, ASX_INCREMENTS)
    return ContractSpec(sym, int(c.conId), c.exchange or tc.exchange, c.currency or tc.currency,
                        min_tick=_units(cd.minTick or 0), increments=increments, tick_rules_match=match,
                        long_name=cd.longName or "", source="api")
