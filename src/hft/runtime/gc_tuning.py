"""Garbage-collector control for the trading process.

CPython frees most objects by reference counting; the cyclic collector runs when generation-0 allocations
minus deallocations exceed ``threshold0`` (700 by default) and then walks every tracked container of the
generation, which is a pause proportional to the heap. The policy here:

1. After start-up (config loaded, book and order tables preallocated, sessions logged on) call
   :meth:`GcController.after_startup`: one full ``gc.collect()``, then ``gc.freeze()`` moves every
   surviving object into the permanent generation, so later collections never traverse them (and fork
   children share those pages copy-on-write).
2. Thresholds from config (``gc.set_threshold``): a larger ``threshold0`` makes young collections rarer.
3. Optionally ``gc.disable()`` while trading and call :meth:`GcController.idle` from the loop when there is
   nothing to do (the engine timer, a quiet market): it collects generation 0 (or the configured one) only
   when enough time has passed or enough allocations piled up, so the pause lands where it costs nothing;
   every ``threshold1``-th idle collection takes generation 1 too, and every ``threshold2``-th of those
   generation 2, as the interpreter's own schedule would.

:class:`GcController` counts collections and their pause times through ``gc.callbacks`` so the benchmark
and the start-up report can prove there were none on the hot path.
"""

from __future__ import annotations

import gc
import logging
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["GcController", "GcPolicy", "GcStats"]

log = logging.getLogger("hft.runtime")


@dataclass(frozen=True, slots=True)
class GcPolicy:
    """``thresholds``: ``gc.set_threshold`` arguments, or ``None`` to keep the interpreter's.
    ``disable_while_trading``: ``gc.disable()`` after start-up; collections then happen only in
    :meth:`GcController.idle`, at most every ``idle_interval_ms`` unless ``idle_max_pending`` gen-0
    allocations are pending, collecting generation ``idle_generation``."""

    freeze: bool = True
    thresholds: tuple[int, ...] | None = None
    disable_while_trading: bool = False
    idle_interval_ms: int = 1000
    idle_max_pending: int = 10_000
    idle_generation: int = 0

    def __post_init__(self) -> None:
        thr = self.thresholds
        if thr is not None and (not 1 <= len(thr) <= 3 or any(
                not isinstance(t, int) or isinstance(t, bool) or t < 0 for t in thr)):
            raise ValueError(f"gc thresholds must be 1 to 3 non-negative integers, got {thr!r}")
        if self.idle_generation not in (0, 1, 2):
            raise ValueError(f"gc idle_generation must be 0, 1 or 2, got {self.idle_generation!r}")
        if self.idle_interval_ms < 0 or self.idle_max_pending < 0:
            raise ValueError("gc idle_interval_ms and idle_max_pending must be >= 0")

    @classmethod
    def from_mapping(cls, data: dict[str, Any], where: str = "gc") -> GcPolicy:
        """Build from a config table, naming an unknown key in the error."""
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)} "
                             f"(known: {', '.join(sorted(known))})")
        kw = dict(data)
        if kw.get("thresholds") is not None:
            kw["thresholds"] = tuple(kw["thresholds"])
        try:
            return cls(**kw)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{where}: {e}") from None


@dataclass
class GcStats:
    collections: list[int] = field(default_factory=lambda: [0, 0, 0])
    pause_ns_total: int = 0
    pause_ns_max: int = 0
    idle_collections: int = 0
    frozen_objects: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"collections": list(self.collections), "pause_ns_total": self.pause_ns_total,
                "pause_ns_max": self.pause_ns_max, "idle_collections": self.idle_collections,
                "frozen_objects": self.frozen_objects}


class GcController:
    """Applies a :class:`GcPolicy` and counts collections. Use :meth:`restore` (or ``with``) to undo."""

    def __init__(self, policy: GcPolicy | None = None, track: bool = True) -> None:
        self.policy = policy or GcPolicy()
        self.stats = GcStats()
        self._track = track
        self._t0 = 0
        self._saved_thresholds = gc.get_threshold()
        self._saved_enabled = gc.isenabled()
        self._last_idle_ns = time.monotonic_ns()
        self._installed = False
        self._froze = False

    # gc.callbacks hook: runs only when a collection happens (which is what must not happen when trading)
    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter_ns()
        else:
            dt = time.perf_counter_ns() - self._t0
            self.stats.collections[info["generation"]] += 1
            self.stats.pause_ns_total += dt
            if dt > self.stats.pause_ns_max:
                self.stats.pause_ns_max = dt

    def after_startup(self) -> dict[str, Any]:
        """Collect, freeze, set thresholds, optionally disable; returns a report (also logged once)."""
        p = self.policy
        gc.collect()
        if p.freeze:
            gc.freeze()
            self._froze = True
        self.stats.frozen_objects = gc.get_freeze_count()
        if p.thresholds is not None:
            gc.set_threshold(*p.thresholds)
        if p.disable_while_trading:
            gc.disable()
        if self._track and not self._installed:
            gc.callbacks.append(self._callback)
            self._installed = True
        self._last_idle_ns = time.monotonic_ns()
        report = {"frozen_objects": self.stats.frozen_objects, "thresholds": list(gc.get_threshold()),
                  "enabled": gc.isenabled()}
        log.info("runtime: gc frozen=%d thresholds=%s enabled=%s", report["frozen_objects"],
                 report["thresholds"], report["enabled"])
        return report

    def idle(self, now_ns: int | None = None) -> bool:
        """Call when idle. With the collector disabled, collect ``idle_generation`` when the interval has
        passed or many allocations are pending; returns ``True`` when it collected."""
        if gc.isenabled():
            return False
        p = self.policy
        now = time.monotonic_ns() if now_ns is None else now_ns
        pending = gc.get_count()[0]
        if pending == 0:
            return False
        if pending < p.idle_max_pending and now - self._last_idle_ns < p.idle_interval_ms * 1_000_000:
            return False
        gc.collect(self._idle_generation())
        self._last_idle_ns = now
        self.stats.idle_collections += 1
        return True

    def _idle_generation(self) -> int:
        """The generation an idle collection takes: ``idle_generation``, or older once the older
        generation is due by the thresholds' own rule (``gc.get_count()[g]`` counts the collections of
        generation g - 1 since the last one of g). With the collector disabled nothing else ever collects
        generations 1 and 2, so cyclic garbage that survived one young collection would otherwise stay
        for the life of the process."""
        gen = self.policy.idle_generation
        count = gc.get_count()
        thr = gc.get_threshold()
        if gen < 2 and thr[2] and count[2] >= thr[2]:
            return 2
        if gen < 1 and thr[1] and count[1] >= thr[1]:
            return 1
        return gen

    def restore(self) -> None:
        """Undo: unfreeze, the saved thresholds and enabled state, remove the callback."""
        if self._installed:
            gc.callbacks.remove(self._callback)
            self._installed = False
        if self._froze:
            gc.unfreeze()
            self._froze = False
        gc.set_threshold(*self._saved_thresholds)
        if self._saved_enabled:
            gc.enable()
        else:
            gc.disable()

    def __enter__(self) -> GcController:
        return self

    def __exit__(self, *exc: object) -> None:
        self.restore()
