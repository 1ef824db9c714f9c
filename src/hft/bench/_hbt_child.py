"""hftbacktest side of ``hft bench backtest``: run as a script by another interpreter (a throwaway venv
with ``hftbacktest`` installed), so it imports only numpy and hftbacktest, never ``hft``.

``python _hbt_child.py EVENTS.npz ENTRY_NS RESPONSE_NS`` prints one JSON line: events, fills, replay and
compile seconds. The strategy is the market maker of :mod:`hft.strategies.market_maker` written for
numba: on every feed event where the best bid/ask price or size changed, fair value = microprice,
half spread = base + vol_multiplier x rolling std of mid changes (ticks), inventory skew, quotes
floored/ceiled onto the tick grid and kept off the opposite best; a quote whose price changed is
cancelled and re-entered (GTX), at most one working order a side. Same latency, queue model (power 3)
and 0.08% fee (no per-order minimum: hftbacktest has none). hftbacktest's no-partial-fill exchange:
with ``partial_fill_exchange()`` 2.4.4 stops this loop after ~1,400 calls with error 14 (invalid order
status) on the benchmark day.
"""

from __future__ import annotations

import json
import math
import sys
import time
from typing import Any

T_START = time.perf_counter()

import numpy as np  # noqa: E402
from hftbacktest import (  # noqa: E402
    BUY,
    GTX,
    LIMIT,
    BacktestAsset,
    HashMapMarketDepthBacktest,
)
from numba import njit  # noqa: E402

T_IMPORT = time.perf_counter()


@njit(cache=False)
def market_maker(hbt, quote_qty, base_half, vol_mult, skew_ticks, max_pos, vol_window):  # type: ignore[no-untyped-def]
    ring = np.zeros(vol_window)
    n_ring = 0
    k_ring = 0
    s1 = 0.0
    s2 = 0.0
    last_mid2 = 0
    lbb = 0
    lba = 0
    lbq = 0.0
    laq = 0.0
    oid = 1
    calls = 0
    while True:
        r = hbt.wait_next_feed(False, 86_400_000_000_000)
        if r != 2:
            if r != 1:
                return -r  # an hftbacktest error code
            break
        depth = hbt.depth(0)
        bb = depth.best_bid_tick
        ba = depth.best_ask_tick
        bq = depth.best_bid_qty
        aq = depth.best_ask_qty
        if bb == lbb and ba == lba and bq == lbq and aq == laq:
            continue
        lbb = bb
        lba = ba
        lbq = bq
        laq = aq
        if bq <= 0 or aq <= 0 or bb >= ba:
            continue
        calls += 1
        mid2 = bb + ba
        x = (mid2 - last_mid2) / 2.0 if last_mid2 != 0 else 0.0
        last_mid2 = mid2
        if n_ring == vol_window:
            y = ring[k_ring]
            s1 -= y
            s2 -= y * y
        else:
            n_ring += 1
        ring[k_ring] = x
        k_ring = (k_ring + 1) % vol_window
        s1 += x
        s2 += x * x
        std = 0.0
        if n_ring >= 2:
            m = s1 / n_ring
            v = s2 / n_ring - m * m
            std = math.sqrt(v) if v > 0 else 0.0
        fair = (bb * aq + ba * bq) / (bq + aq)
        half = base_half + vol_mult * std
        pos = hbt.position(0)
        skew = pos / max_pos * skew_ticks
        bid_t = math.floor(fair - half - skew)
        ask_t = math.ceil(fair + half - skew)
        if bid_t > ba - 1:
            bid_t = ba - 1
        if ask_t < bb + 1:
            ask_t = bb + 1
        hbt.clear_inactive_orders(0)
        have_bid = False
        have_ask = False
        values = hbt.orders(0).values()
        while values.has_next():
            o = values.get()
            if o.side == BUY:
                if o.price_tick != bid_t and o.cancellable:
                    hbt.cancel(0, o.order_id, False)
                else:
                    have_bid = True
            else:
                if o.price_tick != ask_t and o.cancellable:
                    hbt.cancel(0, o.order_id, False)
                else:
                    have_ask = True
        tick = depth.tick_size
        if not have_bid and pos < max_pos:
            hbt.submit_buy_order(0, oid, bid_t * tick, quote_qty, GTX, LIMIT, False)
            oid += 1
        if not have_ask and pos > -max_pos:
            hbt.submit_sell_order(0, oid, ask_t * tick, quote_qty, GTX, LIMIT, False)
            oid += 1
    return calls


def _backtest(data: Any, entry: int, resp: int) -> Any:  # hftbacktest has no type information
    asset = (BacktestAsset().data([data]).linear_asset(1.0).constant_order_latency(entry, resp)
             .power_prob_queue_model(3.0).no_partial_fill_exchange().trading_value_fee_model(0.0008, 0.0008)
             .tick_size(0.01).lot_size(1.0).last_trades_capacity(0))
    return HashMapMarketDepthBacktest([asset])


def main() -> None:
    path, entry, resp = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    data = np.load(path)["data"]
    t_load = time.perf_counter()
    warm = _backtest(np.ascontiguousarray(data[:2000]), entry, resp)  # numba compiles on this first call
    market_maker(warm, 100.0, 0.5, 1.0, 2.0, 1000.0, 100)
    warm.close()
    t_compiled = time.perf_counter()
    hbt = _backtest(data, entry, resp)
    t0 = time.perf_counter()
    calls = market_maker(hbt, 100.0, 0.5, 1.0, 2.0, 1000.0, 100)
    t1 = time.perf_counter()
    if calls < 0:
        raise SystemExit(f"hftbacktest: wait_next_feed returned error {-calls}")
    sv = hbt.state_values(0)
    out = {"events": len(data), "strategy_calls": int(calls), "fills": int(sv.num_trades),
           "position": float(sv.position), "import_s": T_IMPORT - T_START, "load_s": t_load - T_IMPORT,
           "compile_s": t_compiled - t_load, "replay_s": t1 - t0}
    hbt.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
