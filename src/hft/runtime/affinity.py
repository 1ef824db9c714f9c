"""CPU pinning, real-time scheduling and locked memory for the trading process.

Every call is best effort: when the OS refuses (no ``CAP_SYS_NICE`` / ``RLIMIT_RTPRIO`` for real-time
priority, no ``CAP_IPC_LOCK`` / ``RLIMIT_MEMLOCK`` for ``mlockall``, a core that does not exist or is
outside the cpuset) the step is skipped with one warning that names what is missing, and the outcome is
recorded in a :class:`TuningReport`. A trading process must never die because it could not pin itself.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import os
import resource
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["TuningReport", "apply_process_tuning", "current_affinity", "lock_memory", "parse_cpu_list",
           "set_affinity", "set_realtime"]

log = logging.getLogger("hft.runtime")

MCL_CURRENT = 1
MCL_FUTURE = 2


@dataclass
class TuningReport:
    """What was applied and what was skipped (with the reason), for logs and the start-up banner."""

    applied: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def warnings(self) -> list[str]:
        return [f"{k}: {v}" for k, v in self.skipped.items()]

    def ok(self, key: str, value: Any) -> None:
        self.applied[key] = value
        log.info("runtime: %s = %s", key, value)

    def skip(self, key: str, reason: str) -> None:
        self.skipped[key] = reason
        log.warning("runtime: %s not applied: %s", key, reason)

    def merge(self, other: TuningReport) -> TuningReport:
        self.applied.update(other.applied)
        self.skipped.update(other.skipped)
        return self

    def as_dict(self) -> dict[str, Any]:
        return {"applied": dict(self.applied), "skipped": dict(self.skipped)}


def parse_cpu_list(text: str | list[int] | tuple[int, ...]) -> list[int]:
    """``"2-3,6"`` (the kernel's cpu-list syntax) or a list of ints -> sorted unique core numbers."""
    if isinstance(text, (list, tuple)):
        cores = set()
        for c in text:
            if not isinstance(c, int) or isinstance(c, bool) or c < 0:
                raise ValueError(f"core list entry {c!r} is not a non-negative integer")
            cores.add(c)
        return sorted(cores)
    cores = set()
    for part in str(text).replace(" ", "").split(","):
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            a = int(lo)
            b = int(hi) if sep else a
        except ValueError:
            raise ValueError(f"bad core list {text!r}: {part!r} is not N or N-M") from None
        if a < 0 or b < a:
            raise ValueError(f"bad core list {text!r}: range {part!r} is empty or negative")
        cores.update(range(a, b + 1))
    return sorted(cores)


def current_affinity(pid: int = 0) -> list[int]:
    return sorted(os.sched_getaffinity(pid))


def set_affinity(cores: str | list[int] | tuple[int, ...], pid: int = 0) -> list[int]:
    """Pin ``pid`` (0 = this process) to ``cores``; returns the resulting affinity. Raises ``ValueError``
    naming the cores this machine/cpuset does not offer."""
    wanted = parse_cpu_list(cores)
    if not wanted:
        raise ValueError("empty core list")
    try:
        os.sched_setaffinity(pid, wanted)
    except OSError as e:
        if e.errno == errno.EINVAL:
            have = sorted(os.sched_getaffinity(0))
            ncpu = os.cpu_count()
            raise ValueError(f"cores {wanted} are not usable here (this machine has {ncpu} CPUs; "
                             f"this process may run on {have})") from None
        raise
    return current_affinity(pid)


def _rtprio_limit() -> str:
    try:
        soft, _hard = resource.getrlimit(resource.RLIMIT_RTPRIO)
    except (AttributeError, OSError):
        return "unknown"
    return "unlimited" if soft == resource.RLIM_INFINITY else str(soft)


def set_realtime(priority: int = 50, policy: Literal["fifo", "rr"] = "fifo",
                 report: TuningReport | None = None) -> TuningReport:
    """Switch this process to SCHED_FIFO/SCHED_RR at ``priority`` (1..99) when permitted.

    Caution: a spinning SCHED_FIFO thread on a core shared with anything else starves it; use only on
    isolated cores (scripts/cpu_isolation.sh) and keep ``kernel.sched_rt_runtime_us`` as a safety valve.
    """
    rep = report if report is not None else TuningReport()
    pol = os.SCHED_FIFO if policy == "fifo" else os.SCHED_RR
    lo, hi = os.sched_get_priority_min(pol), os.sched_get_priority_max(pol)
    if not lo <= priority <= hi:
        raise ValueError(f"real-time priority {priority} out of range {lo}..{hi}")
    key = f"sched_{policy}"
    try:
        os.sched_setscheduler(0, pol, os.sched_param(priority))
    except PermissionError:
        rep.skip(key, f"not permitted (needs CAP_SYS_NICE or RLIMIT_RTPRIO >= {priority}; ulimit -r is "
                      f"{_rtprio_limit()}); staying on SCHED_OTHER")
    except OSError as e:
        rep.skip(key, f"sched_setscheduler failed: {e.strerror}; staying on SCHED_OTHER")
    else:
        rep.ok(key, priority)
    return rep


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def lock_memory(report: TuningReport | None = None, future: bool = True) -> TuningReport:
    """``mlockall(MCL_CURRENT | MCL_FUTURE)`` so the process never page-faults to swap; when permitted."""
    rep = report if report is not None else TuningReport()
    flags = MCL_CURRENT | (MCL_FUTURE if future else 0)
    try:
        rc = _libc().mlockall(flags)
    except (OSError, AttributeError) as e:
        rep.skip("mlockall", f"libc mlockall unavailable ({e})")
        return rep
    if rc == 0:
        rep.ok("mlockall", "current+future" if future else "current")
        return rep
    err = ctypes.get_errno()
    soft, _ = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    limit = "unlimited" if soft == resource.RLIM_INFINITY else f"{soft} bytes"
    if err in (errno.EPERM, errno.ENOMEM):
        rep.skip("mlockall", f"not permitted ({errno.errorcode.get(err, err)}: needs CAP_IPC_LOCK or "
                             f"RLIMIT_MEMLOCK unlimited, ulimit -l is {limit})")
    else:
        rep.skip("mlockall", f"failed: {os.strerror(err)}")
    return rep


def apply_process_tuning(cores: str | list[int] | tuple[int, ...] = (), realtime: bool = False,
                         rt_priority: int = 50, rt_policy: Literal["fifo", "rr"] = "fifo",
                         mlock: bool = False) -> TuningReport:
    """Pin, raise priority and lock memory as asked; never raises for a missing permission or core."""
    rep = TuningReport()
    if cores:
        try:
            rep.ok("cpu_affinity", set_affinity(cores))
        except (ValueError, OSError) as e:
            rep.skip("cpu_affinity", str(e))
    if realtime:
        set_realtime(rt_priority, rt_policy, rep)
    if mlock:
        lock_memory(rep)
    return rep
