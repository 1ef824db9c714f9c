"""Process runtime for the hot path: CPU pinning and real-time priority, GC control, socket options,
kernel socket timestamps, huge-page arrays and the shared-memory SPSC ring. See docs/runtime.md.

Engine hosts call two helpers with the ``[engine]`` config table (``hft.engine.config.EngineConfig`` or
anything with the same attribute names; missing attributes take the defaults below):

* :func:`apply_process_config` at process start: ``cpu_affinity`` (list of cores), ``realtime_priority``
  (bool), ``rt_priority`` (1..99, default 50), ``mlock`` (bool, default false).
* :func:`gc_controller_from_config` once start-up is done, then ``.after_startup()``: ``gc_freeze``
  (bool), ``gc_thresholds`` (1-3 ints or empty), ``gc_disable`` (bool, default true: collector off while
  trading, ``.idle()`` collects when the loop is idle, at most every ``gc_idle_ms`` unless
  ``gc_idle_max_pending`` allocations wait).

Submodules: :mod:`.affinity`, :mod:`.gc_tuning`, :mod:`.sockopts`, :mod:`.timestamps`,
:mod:`.hugepages` (imports numpy), :mod:`.ring`.
"""

from __future__ import annotations

from typing import Any

from hft.runtime.affinity import TuningReport, apply_process_tuning
from hft.runtime.gc_tuning import GcController, GcPolicy

__all__ = ["GcController", "GcPolicy", "TuningReport", "apply_process_config", "gc_controller_from_config"]


def apply_process_config(engine_cfg: Any) -> TuningReport:
    """Pin / raise priority / lock memory per the config; logs and records each step, never raises for a
    missing permission or an unavailable core (the report says what was skipped and why)."""
    cores = list(getattr(engine_cfg, "cpu_affinity", []) or [])
    return apply_process_tuning(cores=cores,
                                realtime=bool(getattr(engine_cfg, "realtime_priority", False)),
                                rt_priority=int(getattr(engine_cfg, "rt_priority", 50)),
                                rt_policy=getattr(engine_cfg, "rt_policy", "fifo"),
                                mlock=bool(getattr(engine_cfg, "mlock", False)))


def gc_controller_from_config(engine_cfg: Any) -> GcController:
    """The GC policy of the ``[engine]`` table (``gc_freeze``, ``gc_thresholds``, ``gc_disable`` with
    ``gc_idle_ms`` / ``gc_idle_max_pending``) as a :class:`GcController`; the host calls
    ``after_startup()`` once the sessions are up, ``idle()`` from its timer and ``restore()`` at the end."""
    thr = list(getattr(engine_cfg, "gc_thresholds", None) or [])
    return GcController(GcPolicy(freeze=bool(getattr(engine_cfg, "gc_freeze", True)),
                                 thresholds=tuple(thr) if thr else None,
                                 disable_while_trading=bool(getattr(engine_cfg, "gc_disable", True)),
                                 idle_interval_ms=int(getattr(engine_cfg, "gc_idle_ms", 1000)),
                                 idle_max_pending=int(getattr(engine_cfg, "gc_idle_max_pending", 10_000))))
