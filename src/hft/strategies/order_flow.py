"""Order-flow strategy: 5-level depth imbalance and its velocity, joins one tick inside the spread.

Per instrument, on every update within the top ``levels`` levels (``book_depth = 5``):

* OFI = (bid depth - ask depth) / (bid depth + ask depth) over ``levels`` (5) levels, in [-1, 1]
* velocity = OFI now - OFI ``velocity_window`` book updates ago: the change of the normalised depth
  difference over the window (0 until the window is full)
* OFI > ``ofi_threshold`` (0.3) and velocity > ``velocity_threshold`` (0.1), and position +
  ``trade_size`` <= ``max_position``: buy ``trade_size`` one tick above the best bid (a DAY limit)
* OFI < -0.3 and velocity < -0.1, and position - ``trade_size`` >= -``max_position``: sell one tick below
  the best ask, symmetrically. Both comparisons are strict.
* when the spread is a single tick, "one tick inside the bid" is the best ask itself; ``tight_spread``
  says what to do then: ``"cross"`` (default, the literal rule: the order is marketable and takes the
  ask), ``"join"`` (bid at the best bid instead) or ``"skip"`` (no entry)
* one entry order at a time per instrument; an entry still open ``stale_ns`` after it was sent is
  cancelled
* exits, checked on every book update and every ``timer_ns`` of engine time, as an IOC limit for the whole
  position at the opposite best (the entry order, if open, is cancelled first):
  time stop: the position has been open ``max_hold_ns`` (the clock starts at the fill that opens it from
  flat, engine time, and restarts when the position flips); price stop: the mid is ``stop_ticks`` or more
  ticks (the step at the entry price) against the average entry price; profit target: ``take_ticks`` or
  more in favour (0 disables it)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from hft.asx.ticks import tick_down, tick_size, tick_up
from hft.engine.strategy import Strategy, StrategyContext
from hft.model.types import Fill, Order, Side, TimeInForce
from hft.strategies._util import RingFloat, check_fields

if TYPE_CHECKING:
    from hft.book.l2 import L2Book

NO_EXIT = ""
TIME_STOP = "time"
PRICE_STOP = "stop"
TAKE_PROFIT = "take"


@dataclass(frozen=True, slots=True)
class OrderFlowParams:
    trade_size: int = 100  # shares per entry
    max_position: int = 500  # shares, absolute
    levels: int = 5  # book levels in the OFI
    ofi_threshold: float = 0.3  # |OFI| must exceed this
    velocity_threshold: float = 0.1  # |velocity| must exceed this, same sign as the OFI
    velocity_window: int = 10  # book updates
    stale_ns: int = 2_000_000_000  # cancel an entry order older than this
    max_hold_ns: int = 30_000_000_000  # time stop
    stop_ticks: int = 3  # price stop, ticks against the entry
    take_ticks: int = 2  # profit target, ticks in favour (0 = off)
    timer_ns: int = 100_000_000  # how often exits and stale orders are checked without book updates
    tight_spread: Literal["cross", "join", "skip"] = "cross"  # entry price when the spread is one tick

    def __post_init__(self) -> None:
        check_fields(self, positive=("trade_size", "max_position", "levels", "ofi_threshold",
                                     "velocity_window", "stale_ns", "max_hold_ns", "stop_ticks", "timer_ns"),
                     non_negative=("velocity_threshold", "take_ticks"),
                     ints=("trade_size", "max_position", "levels", "velocity_window", "stale_ns",
                           "max_hold_ns", "stop_ticks", "take_ticks", "timer_ns"))
        if self.trade_size > self.max_position:
            raise ValueError(f"trade_size ({self.trade_size}) must be <= max_position ({self.max_position})")
        if self.ofi_threshold >= 1:
            raise ValueError(f"ofi_threshold must be below 1 (OFI lies in [-1, 1]), got {self.ofi_threshold}")
        if self.tight_spread not in ("cross", "join", "skip"):
            raise ValueError(f"tight_spread must be 'cross', 'join' or 'skip', got {self.tight_spread!r}")
        if self.velocity_threshold >= 2:
            raise ValueError(f"velocity_threshold must be below 2 (|velocity| <= 2), got "
                             f"{self.velocity_threshold}")


class _State:
    __slots__ = ("entry", "entry_ns", "entry_px", "entry_sent_ns", "exit", "hist", "ofi", "velocity")

    def __init__(self, window: int) -> None:
        self.hist = RingFloat(window + 1)
        self.ofi = 0.0
        self.velocity = 0.0
        self.entry: Order | None = None
        self.entry_sent_ns = 0
        self.exit: Order | None = None
        self.entry_px = 0.0  # average entry price of the open position (price units; 0.0 = flat)
        self.entry_ns = 0  # engine time the current position was opened


class OrderFlow(Strategy):
    name: ClassVar[str] = "order_flow"
    params_cls: ClassVar[type] = OrderFlowParams
    book_depth: ClassVar[int] = 5

    def __init__(self, ctx: StrategyContext, instruments: list[str], params: OrderFlowParams | None = None,
                 **kw: Any) -> None:
        super().__init__(ctx, instruments)
        self.p = params or OrderFlowParams(**kw)
        self._st: dict[str, _State] = {i: _State(self.p.velocity_window) for i in self.instruments}

    def state(self, instrument: str) -> _State:
        st = self._st.get(instrument)
        if st is None:
            st = self._st[instrument] = _State(self.p.velocity_window)
        return st

    def on_start(self) -> None:
        self.ctx.set_timer(self.p.timer_ns)

    def on_book(self, instrument: str, book: L2Book) -> None:
        p = self.p
        bb = book.best_bid()
        ba = book.best_ask()
        if not bb or not ba or bb >= ba:
            return
        st = self._st.get(instrument) or self.state(instrument)
        ofi = book.imbalance(p.levels)
        h = st.hist
        h.push(ofi)
        vel = ofi - h.oldest if h.full else 0.0
        st.ofi = ofi
        st.velocity = vel
        ctx = self.ctx
        now = ctx.now()
        pos = ctx.position(instrument)
        entry = st.entry
        if entry is not None:
            if entry.status.is_terminal:
                entry = st.entry = None
            elif now - st.entry_sent_ns >= p.stale_ns:
                ctx.cancel(entry)
        if pos != 0 and self._manage_exit(instrument, st, pos, bb, ba, now):
            return
        if entry is not None:
            return
        if ofi > p.ofi_threshold and vel > p.velocity_threshold and pos + p.trade_size <= p.max_position:
            px = tick_up(bb)
            if px >= ba:
                if p.tight_spread == "skip":
                    return
                px = ba if p.tight_spread == "cross" else bb
            st.entry = ctx.submit(instrument, Side.BUY, px, p.trade_size, tag="entry")
            st.entry_sent_ns = now
        elif ofi < -p.ofi_threshold and vel < -p.velocity_threshold and pos - p.trade_size >= -p.max_position:
            px = tick_down(ba)
            if px <= bb:
                if p.tight_spread == "skip":
                    return
                px = bb if p.tight_spread == "cross" else ba
            st.entry = ctx.submit(instrument, Side.SELL, px, p.trade_size, tag="entry")
            st.entry_sent_ns = now

    def on_timer(self, now_ns: int) -> None:
        ctx = self.ctx
        for instrument, st in self._st.items():
            entry = st.entry
            if (entry is not None and not entry.status.is_terminal
                    and now_ns - st.entry_sent_ns >= self.p.stale_ns):
                ctx.cancel(entry)
            pos = ctx.position(instrument)
            if pos != 0:
                book = ctx.book(instrument)
                bb = book.best_bid()
                ba = book.best_ask()
                if bb and ba and bb < ba:
                    self._manage_exit(instrument, st, pos, bb, ba, now_ns)

    def exit_reason(self, instrument: str, pos: int, bb: int, ba: int, now: int) -> str:
        """Which exit fires for ``pos`` at this book and time (``""`` = none)."""
        p = self.p
        st = self._st.get(instrument)
        if st is None or pos == 0 or not st.entry_px:
            return NO_EXIT
        if now - st.entry_ns >= p.max_hold_ns:
            return TIME_STOP
        entry = st.entry_px
        move = ((bb + ba) * 0.5 - entry) / tick_size(int(entry))
        if pos < 0:
            move = -move
        if move <= -p.stop_ticks:
            return PRICE_STOP
        if p.take_ticks and move >= p.take_ticks:
            return TAKE_PROFIT
        return NO_EXIT

    def _manage_exit(self, instrument: str, st: _State, pos: int, bb: int, ba: int, now: int) -> bool:
        """Send an exit if one is due; True while an exit order is working."""
        ex = st.exit
        if ex is not None:
            if not ex.status.is_terminal:
                return True
            st.exit = None
        reason = self.exit_reason(instrument, pos, bb, ba, now)
        if not reason:
            return False
        ctx = self.ctx
        entry = st.entry
        if entry is not None and not entry.status.is_terminal:
            ctx.cancel(entry)
        if pos > 0:
            st.exit = ctx.submit(instrument, Side.SELL, bb, pos, TimeInForce.IOC, tag=reason)
        else:
            st.exit = ctx.submit(instrument, Side.BUY, ba, -pos, TimeInForce.IOC, tag=reason)
        return st.exit is not None

    def on_fill(self, fill: Fill) -> None:
        """Track the average entry price and the holding clock of the position."""
        st = self._st.get(fill.instrument)
        if st is None:
            st = self.state(fill.instrument)
        pos = self.ctx.position(fill.instrument)  # already includes this fill
        prev = pos - fill.qty if fill.side is Side.BUY else pos + fill.qty
        if pos == 0:
            st.entry_px = 0.0
            st.entry_ns = 0
        elif prev == 0 or (prev > 0) != (pos > 0) or not st.entry_px:  # opened from flat, or flipped
            st.entry_px = float(fill.price)
            st.entry_ns = self.ctx.now()
        elif abs(pos) > abs(prev):  # added: average in
            st.entry_px = (st.entry_px * abs(prev) + fill.price * fill.qty) / abs(pos)
        # reduced: the average entry of what is left is unchanged

    def on_stop(self) -> None:
        self.ctx.cancel_all()
