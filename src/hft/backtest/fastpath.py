"""The backtester's "fast" replay (``[backtest] replay = "fast"``): the plain replay loop of
:meth:`hft.backtest.engine.Backtester.run`, minus one Python iteration per *quiet* event.

The market book of a replay does not depend on anything we do (the data is not reactive), so before the
loop numpy works out, per event, what the plain loop would find (:func:`plan`):

* a price-grid model of each side (last quantity per price, forward-filled over the events in chunks of
  rows): the quantity at the event's price before it (``prev``) and the number of live levels better than
  that price; an event *touches* the strategy's view exactly when the plain loop's test says so
  (``q != prev`` and fewer than ``book_depth`` better levels);
* *stops*: touched level events, every non-level event (trades, ...), the first event of a new local
  timestamp after a touched one (where the plain loop calls ``on_book``), the first row of each chunk;
* the *quiet runs* between two stops: per run the price range of its bid and ask level events, the
  number of deletes of unknown levels (book errors), and its net level changes (last quantity per
  price, deletes ordered before inserts).

The loop then visits stops only. A quiet run is applied to the book in bulk (its net changes) when
nothing in it can concern us: no answer, order arrival, timer or sample is due before its last event, and
its price ranges contain none of our resting prices and reach none of our prices on the other side (no
queue update, no fill). Otherwise its events go through the plain loop's code one by one. Either way the
book, the strategy calls and every order, fill and P&L are those of the plain replay (tested by a
differential test on random days, latencies and all three strategies).

Not used (the plain loop runs instead; :func:`plan` returns the reason) when the day has level events
with a bad side, a non-positive price or a negative quantity, a book that would cross (the plain loop
raises the error naming the row), more live levels than the book holds, a price band too wide for the
chunked model, or a strategy that reads every level (``book_depth = 0``) or more levels than the book has.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hft.engine.types import Side, Trade

if TYPE_CHECKING:
    from hft.backtest.engine import Backtester, BacktestResult

ROWS = 4096  # rows of a side's price-grid block
MAX_WIDTH = 512  # price-grid columns per block (wider: not planned)
_NEVER = 1 << 62


@dataclass(slots=True)
class Plan:
    """What :func:`run_fast` needs, computed from the events alone."""

    stops: np.ndarray  # int64, sorted event indices the loop visits (a sentinel n at the end)
    bmin: list[int]  # per run r (the quiet events before stops[r]): bid level price range
    bmax: list[int]
    amin: list[int]  # ask level price range
    amax: list[int]
    errors: list[int]  # deletes of unknown levels in the run
    off: list[int]  # groups of run r (its quiet events at one side and price): off[r]..off[r + 1]
    gs: list[int]  # per group: side, price, quantity before its first event and after its last
    gp: list[int]
    gst: list[int]
    gq: list[int]
    gerr: list[int]  # deletes of unknown levels in the group
    ge0: list[int]  # its events: evs[ge0[g]:ge1[g]] (event indices, in order)
    ge1: list[int]
    evs: list[int]
    roomy: bool  # fewer live levels than the book holds on each side, always (a level can be added)
    quiet: int  # quiet events (not stops)


def plan(kind: np.ndarray, side: np.ndarray, price: np.ndarray, qty: np.ndarray, ts_local: np.ndarray,
         depth: int, book_depth: int, cap: int, chunk: int) -> Plan | str:
    """A :class:`Plan` for these events, or the reason the fast replay does not apply (a string)."""
    n = len(kind)
    if depth < 1 or depth > book_depth:
        return f"the strategy reads {depth} levels (fast replay needs 1..{book_depth})"
    lvl = kind == 1
    clears = np.flatnonzero(kind == 3)  # a snapshot starts: the book is cleared
    if np.any(lvl & (side != 1) & (side != 2)):
        return "level events with a bad side"
    if np.any(lvl & ((price <= 0) | (qty < 0))):
        return "level events with a non-positive price or a negative quantity"
    touched = np.zeros(n, dtype=bool)
    prev = np.zeros(n, dtype=np.int64)
    max_live = 0
    best = [np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)]  # best bid / ask after event, ffill
    for si, s in enumerate((1, 2)):
        idx = np.flatnonzero(lvl & (side == s))
        if not len(idx):
            continue
        uniq, u = np.unique(price[idx], return_inverse=True)
        u = u.astype(np.int64)
        qs = qty[idx]
        cur = np.zeros(len(uniq), dtype=np.int64)
        bst = np.zeros(len(idx), dtype=np.int64)
        seg = np.searchsorted(idx, clears).tolist()  # side events before each clear
        blocks: list[tuple[int, int, bool]] = []  # (start, end, clear the model first)
        starts = [0, *seg]
        ends = [*seg, len(idx)]
        for x in range(len(starts)):
            blocks += [(a, min(a + ROWS, ends[x]), a == starts[x] and x > 0)
                       for a in range(starts[x], ends[x], ROWS)]
        for a, b, clear in blocks:
            if clear:
                cur[:] = 0
            uu = u[a:b]
            qq = qs[a:b]
            live0 = np.flatnonzero(cur)
            lo = int(uu.min())
            hi = int(uu.max())
            if len(live0):
                lo = min(lo, int(live0[0]))
                hi = max(hi, int(live0[-1]))
            w = hi - lo + 1
            if w > MAX_WIDTH:
                return f"price band too wide ({w} prices in {b - a} updates)"
            rows = b - a
            ar = np.arange(rows)
            last = np.full((rows, w), -1, dtype=np.int64)
            c = uu - lo
            last[ar, c] = ar
            np.maximum.accumulate(last, axis=0, out=last)
            base = cur[lo:hi + 1]
            val = np.where(last >= 0, qq[last], base)
            pv = np.empty(rows, dtype=np.int64)
            pv[0] = base[c[0]]
            pv[1:] = val[ar[:-1], c[1:]]
            live = val > 0
            cnt = live.sum(axis=1)
            max_live = max(max_live, int(cnt.max()))
            if max_live > cap:
                return f"more than {cap} live levels on a side"
            cs = np.cumsum(live, axis=1)
            if s == 1:
                rank = cnt - cs[ar, c]  # live levels at higher prices
                top = w - 1 - np.argmax(live[:, ::-1], axis=1)
            else:
                rank = cs[ar, c] - live[ar, c]  # live levels at lower prices
                top = np.argmax(live, axis=1)
            bst[a:b] = np.where(cnt > 0, uniq[lo + top], 0)
            touched[idx[a:b]] = (qq != pv) & (rank < depth)
            prev[idx[a:b]] = pv
            cur[lo:hi + 1] = val[-1]
        # best price after each event of this side (0 after a clear), carried forward over the others
        g = np.zeros(n, dtype=np.int64)
        g[idx] = bst
        pos = np.full(n, -1, dtype=np.int64)
        pos[idx] = idx
        pos[clears] = clears
        np.maximum.accumulate(pos, out=pos)
        best[si] = np.where(pos >= 0, g[np.maximum(pos, 0)], 0)
    bb, ba = best
    if np.any((bb > 0) & (ba > 0) & (bb >= ba)):
        return "the book crosses"
    # stops: touched level events, other kinds, the calls of on_book, chunk starts
    new_tl = np.ones(n, dtype=bool)
    new_tl[1:] = ts_local[1:] != ts_local[:-1]
    grp = np.cumsum(new_tl) - 1
    # what sets the plain loop's dirty flag: a touched level outside a snapshot, a snapshot's end
    marks = (kind == 3) | (kind == 4)
    fi = np.where(marks, np.arange(n), -1)
    np.maximum.accumulate(fi, out=fi)
    in_snap = (fi >= 0) & (kind[np.maximum(fi, 0)] == 3)  # after a snapshot start, before its end
    sets_dirty = (touched & ~in_snap) | (kind == 4)
    grp_touched = np.bincount(grp, weights=sets_dirty, minlength=int(grp[-1]) + 1 if n else 0) > 0
    call = new_tl.copy()
    if n:
        call[0] = False
        call[1:] &= grp_touched[grp[1:] - 1]
    stop = touched | ~lvl | call
    stop[::chunk] = True
    stops = np.flatnonzero(stop).astype(np.int64)
    stops = np.append(stops, n)
    nr = len(stops)
    qi = np.flatnonzero(~stop)
    rid = np.searchsorted(stops, qi)  # run r holds the quiet events between stops[r - 1] and stops[r]
    ranges: list[list[int]] = []
    for s in (1, 2):
        m = side[qi] == s
        r_s = rid[m]
        p_s = price[qi[m]]
        mn = np.full(nr, _NEVER, dtype=np.int64)
        mx = np.full(nr, -1, dtype=np.int64)
        if len(r_s):
            starts = np.flatnonzero(np.r_[True, r_s[1:] != r_s[:-1]])
            mn[r_s[starts]] = np.minimum.reduceat(p_s, starts)
            mx[r_s[starts]] = np.maximum.reduceat(p_s, starts)
        ranges += [mn.tolist(), mx.tolist()]
    qq = qty[qi]
    errors = np.bincount(rid, weights=(qq == 0) & (prev[qi] == 0), minlength=nr).astype(np.int64)
    # groups: the quiet events of one run at one (side, price), in event order; per group the quantity
    # before its first event and after its last; per run, deletes first (the book never holds more
    # levels than at the run's start or end)
    sq = side[qi].astype(np.int64)
    pq = price[qi]
    _, pu = np.unique(pq, return_inverse=True)
    npu = int(pu.max()) + 1 if len(pu) else 1
    key = (rid * 2 + (sq - 1)) * npu + pu
    order = np.argsort(key, kind="stable")
    ko = key[order]
    if len(order):
        first = np.flatnonzero(np.r_[True, ko[1:] != ko[:-1]])
        lastk = np.r_[first[1:] - 1, len(order) - 1]
        g_r = rid[order[first]]
        g_q = qq[order[lastk]]
        o2 = np.lexsort((g_q > 0, g_r))
        first, lastk, g_r, g_q = first[o2], lastk[o2], g_r[o2], g_q[o2]
        g_s = sq[order[first]]
        g_p = pq[order[first]]
        g_st = prev[qi[order[first]]]
        err_o = ((qq == 0) & (prev[qi] == 0))[order].astype(np.int64)
        g_err = np.add.reduceat(err_o, np.sort(first))[np.argsort(np.argsort(first))]
        e0, e1 = first, lastk + 1
    else:
        g_r = g_s = g_p = g_st = g_q = g_err = e0 = e1 = np.zeros(0, dtype=np.int64)
    off = np.searchsorted(g_r, np.arange(nr + 1)).tolist()
    return Plan(stops, ranges[0], ranges[1], ranges[2], ranges[3], errors.tolist(), off, g_s.tolist(),
                g_p.tolist(), g_st.tolist(), g_q.tolist(), g_err.tolist(), e0.tolist(), e1.tolist(),
                qi[order].tolist(), max_live < cap, len(qi))


def run_fast(bt: Backtester, pl: Plan, chunk: int, t0: float,
             progress: Callable[[int], None] | None = None) -> BacktestResult:
    """:meth:`Backtester.run` over the stops of ``pl`` (same results; see the module docstring)."""
    self = bt
    ev = self.ev
    n = len(ev)
    book = self._book
    bpx, bqt, apx, aqt = book.bid_px, book.bid_qty, book.ask_px, book.ask_qty
    strat = self.strategy
    on_book = strat.on_book
    depth = self._depth_interest
    dm1 = depth - 1
    wants_trades = self._wants_trades
    on_queue = self._on_queue
    inst = self.inst
    set_level = book.set_level
    on_trade = strat.on_trade
    risk_trade = self.risk.last_trade
    res = self.res
    calls = 0
    first_te = int(ev.ts_exch[0]) if n else 0
    period = self.cfg.record_every_ns
    self._next_sample = (first_te // period + 1) * period if n else _NEVER
    self._now = int(ev.ts_local[0]) if n else 0
    self._te = first_te
    strat.on_start()
    self._refresh_due()
    res.first_ts = first_te
    if n:
        self._sample(first_te)
    in_snapshot = False
    dirty = False
    mid2 = 0
    last_tl = self._now
    due_e = self._due_e
    due_l = self._due_l
    bid_hi = self._bid_hi
    ask_lo = self._ask_lo
    wbid = self._wbid
    wask = self._wask
    stops = pl.stops
    bmin, bmax, amin, amax, errs, off = pl.bmin, pl.bmax, pl.amin, pl.amax, pl.errors, pl.off
    gs, gp, gst, gq, gerr, ge0, ge1, evs = pl.gs, pl.gp, pl.gst, pl.gq, pl.gerr, pl.ge0, pl.ge1, pl.evs
    roomy = pl.roomy
    r = 0  # run / stop number
    for c0 in range(0, n, chunk):
        c1 = min(n, c0 + chunk)
        te_l = ev.ts_exch[c0:c1].tolist()
        tl_l = ev.ts_local[c0:c1].tolist()
        rows = list(zip(te_l, tl_l, ev.kind[c0:c1].tolist(), ev.side[c0:c1].tolist(),
                        ev.price[c0:c1].tolist(), ev.qty[c0:c1].tolist(), strict=True))
        r1 = int(np.searchsorted(stops, c1))  # stops of this chunk: r..r1 - 1 (stops[r1] >= c1)
        st_l = (stops[r:r1 + 1] - c0).tolist()
        prev_st = 0  # local index after the previous stop (the chunk's first row is a stop)
        clen = c1 - c0
        for x in range(len(st_l)):
            st = st_l[x]
            tail = st >= clen  # the next stop is in a later chunk (or the end): only the run is here
            if tail:
                st = clen
            a = prev_st
            seq: Any = None
            if a < st:  # the quiet run [a, st)
                b = st - 1
                if te_l[b] < due_e and tl_l[b] < due_l and bmax[r] < ask_lo and amin[r] > bid_hi:
                    te = te_l[b]
                    if ((not wbid or not any(bmin[r] <= w <= bmax[r] for w in wbid))
                            and (not wask or not any(amin[r] <= w <= amax[r] for w in wask))):
                        # nothing at our prices: the whole run in bulk
                        for y in range(off[r], off[r + 1]):
                            q = gq[y]
                            if q != gst[y]:
                                p = gp[y]
                                if gs[y] == 1:
                                    if q and gst[y]:
                                        bqt[bpx.index(p)] = q
                                    else:
                                        set_level(1, p, q, te)
                                elif q and gst[y]:
                                    aqt[apx.index(p)] = q
                                else:
                                    set_level(2, p, q, te)
                        if errs[r]:
                            res.book_errors += errs[r]
                        last_tl = tl_l[b]
                        a = st
                    elif roomy:
                        # the events at our prices one by one (queue positions), the other levels in bulk
                        steps: list[int] = []
                        for y in range(off[r], off[r + 1]):
                            p = gp[y]
                            if p in (wbid if gs[y] == 1 else wask):
                                if steps:
                                    steps += evs[ge0[y]:ge1[y]]
                                    steps.sort()
                                else:
                                    steps = evs[ge0[y]:ge1[y]]
                                continue
                            q = gq[y]
                            if q != gst[y]:
                                if gs[y] == 1:
                                    if q and gst[y]:
                                        bqt[bpx.index(p)] = q
                                    else:
                                        set_level(1, p, q, te)
                                elif q and gst[y]:
                                    aqt[apx.index(p)] = q
                                else:
                                    set_level(2, p, q, te)
                            if gerr[y]:
                                res.book_errors += gerr[y]
                        seq = [v - c0 for v in steps]
                        if not tail:
                            seq.append(st)
            if tail:
                end = st
            else:
                r += 1
                end = st + 1
            prev_st = end
            if seq is None:
                seq = range(a, end)
            for li in seq:
                i = c0 + li
                te, tl, k, s, p, q = rows[li]
                # ---- from here: the body of Backtester.run's loop (keep the two in step)
                if tl != last_tl:
                    if dirty:
                        dirty = False
                        self._now = last_tl
                        calls += 1
                        on_book(inst, book)
                        m = bpx[0] + apx[0]
                        if m != mid2:
                            mid2 = m
                            self._mark()
                        due_e = self._due_e
                        due_l = self._due_l
                    last_tl = tl
                if te >= due_e or tl >= due_l:
                    if te >= due_e:
                        self._exch_due(te)
                    if tl >= self._due_l:
                        self._local_due(tl)
                    due_e = self._due_e
                    due_l = self._due_l
                    bid_hi = self._bid_hi
                    ask_lo = self._ask_lo
                    wbid = self._wbid
                    wask = self._wask
                if k == 1:
                    if s == 1:
                        if p == bpx[0] or p in bpx:
                            j = 0 if p == bpx[0] else bpx.index(p)
                            prev = bqt[j]
                            if q > 0:
                                bqt[j] = q
                            elif not set_level(1, p, 0, te):
                                self._book_error(i, s, p, q)
                            touched = j <= dm1 and q != prev
                        else:
                            prev = 0
                            if depth == 1:
                                touched = q > 0 and p > bpx[0]
                            else:
                                touched = q > 0 and (book.n_bids <= dm1 or p > bpx[dm1])
                            if not set_level(1, p, q, te):
                                self._book_error(i, s, p, q)
                        lvs = wbid.get(p)
                        if lvs is not None:
                            on_queue(lvs, prev, q)
                        if p >= ask_lo:
                            self._te = te
                            self._now = tl
                            self._on_cross(1, p, q)
                            due_l = self._due_l
                            bid_hi = self._bid_hi
                            ask_lo = self._ask_lo
                            wbid = self._wbid
                            wask = self._wask
                    else:
                        if p == apx[0] or p in apx:
                            j = 0 if p == apx[0] else apx.index(p)
                            prev = aqt[j]
                            if q > 0:
                                aqt[j] = q
                            elif not set_level(2, p, 0, te):
                                self._book_error(i, s, p, q)
                            touched = j <= dm1 and q != prev
                        else:
                            prev = 0
                            if depth == 1:
                                a0 = apx[0]
                                touched = q > 0 and (a0 == 0 or p < a0)
                            else:
                                touched = q > 0 and (book.n_asks <= dm1 or p < apx[dm1])
                            if not set_level(2, p, q, te):
                                self._book_error(i, s, p, q)
                        lvs = wask.get(p)
                        if lvs is not None:
                            on_queue(lvs, prev, q)
                        if p <= bid_hi:
                            self._te = te
                            self._now = tl
                            self._on_cross(2, p, q)
                            due_l = self._due_l
                            bid_hi = self._bid_hi
                            ask_lo = self._ask_lo
                            wbid = self._wbid
                            wask = self._wask
                    if touched and not in_snapshot:
                        dirty = True
                elif k == 2:
                    risk_trade[inst] = p
                    if (s != 1 and p <= bid_hi) or (s != 2 and p >= ask_lo):
                        self._te = te
                        self._now = tl
                        self._on_trade(p, q, s)
                    if wants_trades:
                        self._now = tl
                        on_trade(Trade(inst, p, q, tl, Side(s) if s == 1 or s == 2 else None))
                    due_e = self._due_e
                    due_l = self._due_l
                    bid_hi = self._bid_hi
                    ask_lo = self._ask_lo
                    wbid = self._wbid
                    wask = self._wask
                elif k == 3:
                    book.clear()
                    in_snapshot = True
                elif k == 4:
                    in_snapshot = False
                    dirty = True
        if progress is not None:
            progress(c1)
    if dirty:
        self._now = last_tl
        calls += 1
        on_book(inst, book)
    self._finish(last_tl, calls, t0, progress)
    return res
