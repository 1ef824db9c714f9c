"""Rate-limited logging: at most ``burst`` lines per ``interval_s`` per key, then a count of what was dropped.

A server logs per connection or per message (a refused connection, a client's bad message); a client in
a reconnect loop or a fuzzer would otherwise write one line per attempt, thousands a second. With
:class:`RateLimitedLog` each *key* (e.g. "refused connection on the order port") gets a budget of
``burst`` lines per window of ``interval_s`` seconds; lines over budget are counted, not formatted, and
the first line after the window says how many were suppressed::

    rl = RateLimitedLog(logging.getLogger("hft.sim"), burst=5, interval_s=10.0)
    rl.warning("refused:order", "order port: refused a connection: %s", text)
    # ... "order port: refused a connection: Unknown session ... [37 similar lines suppressed in 10.0 s]"

Keys are few and fixed by the caller (never derived from client input), so memory stays bounded; as a
guard, at most ``max_keys`` keys are tracked (the oldest window is forgotten beyond that).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["RateLimitedLog"]


class RateLimitedLog:
    __slots__ = ("_clock", "_keys", "burst", "interval_s", "logger", "max_keys", "suppressed_total")

    def __init__(self, logger: logging.Logger, burst: int = 5, interval_s: float = 10.0, max_keys: int = 256,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if burst < 1 or interval_s <= 0 or max_keys < 1:
            raise ValueError("burst and max_keys must be >= 1 and interval_s > 0")
        self.logger = logger
        self.burst = burst
        self.interval_s = interval_s
        self.max_keys = max_keys
        self.suppressed_total = 0
        self._clock = clock
        # key -> [window start, lines logged in the window, lines suppressed in the window]
        self._keys: dict[str, list[float]] = {}

    def allow(self, key: str) -> tuple[bool, int]:
        """(log this line?, lines suppressed for ``key`` in the window that just ended)."""
        now = self._clock()
        st = self._keys.get(key)
        if st is None:
            if len(self._keys) >= self.max_keys:
                del self._keys[next(iter(self._keys))]
            self._keys[key] = [now, 1.0, 0.0]
            return True, 0
        if now - st[0] >= self.interval_s:
            dropped = int(st[2])
            st[0], st[1], st[2] = now, 1.0, 0.0
            return True, dropped
        if st[1] < self.burst:
            st[1] += 1
            return True, 0
        st[2] += 1
        self.suppressed_total += 1
        return False, 0

    def log(self, level: int, key: str, msg: str, *args: object, exc_info: bool = False) -> bool:
        """Log ``msg % args`` at ``level`` unless ``key`` is over budget; True if it was logged."""
        if not self.logger.isEnabledFor(level):
            return False
        ok, dropped = self.allow(key)
        if not ok:
            return False
        if dropped:
            msg = f"{msg} [%d similar lines suppressed in the last %.1f s]"
            args = (*args, dropped, self.interval_s)
        self.logger.log(level, msg, *args, exc_info=exc_info)
        return True

    def info(self, key: str, msg: str, *args: object) -> bool:
        return self.log(logging.INFO, key, msg, *args)

    def warning(self, key: str, msg: str, *args: object) -> bool:
        return self.log(logging.WARNING, key, msg, *args)

    def error(self, key: str, msg: str, *args: object) -> bool:
        return self.log(logging.ERROR, key, msg, *args)

    def exception(self, key: str, msg: str, *args: object) -> bool:
        return self.log(logging.ERROR, key, msg, *args, exc_info=True)
