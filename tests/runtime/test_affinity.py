"""CPU pinning on the cores this machine has; real-time priority and mlockall in child processes (so the
test runner itself is never made SCHED_FIFO or memory-locked), including the not-permitted path."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest

from hft.runtime.affinity import TuningReport, apply_process_tuning, parse_cpu_list, set_affinity


@pytest.fixture
def restore_affinity() -> object:
    saved = os.sched_getaffinity(0)
    yield saved
    os.sched_setaffinity(0, saved)


def test_parse_cpu_list() -> None:
    assert parse_cpu_list("2-3,6") == [2, 3, 6]
    assert parse_cpu_list(" 0 , 0-1 ") == [0, 1]
    assert parse_cpu_list([3, 1, 3]) == [1, 3]
    assert parse_cpu_list("") == []
    for bad in ("a", "3-1", "1-x", "-1"):
        with pytest.raises(ValueError, match="bad core list"):
            parse_cpu_list(bad)
    with pytest.raises(ValueError, match="not a non-negative integer"):
        parse_cpu_list([-1])


def test_pin_to_each_available_core(restore_affinity: set[int]) -> None:
    for core in sorted(restore_affinity):
        assert set_affinity([core]) == [core]
        assert os.sched_getaffinity(0) == {core}
    assert set_affinity(sorted(restore_affinity)) == sorted(restore_affinity)


def test_pin_to_a_core_that_does_not_exist(restore_affinity: set[int]) -> None:
    missing = (os.cpu_count() or 1) + 64
    with pytest.raises(ValueError, match=rf"cores \[{missing}\] are not usable here"):
        set_affinity([missing])
    assert os.sched_getaffinity(0) == restore_affinity
    rep = apply_process_tuning(cores=[missing])
    assert "cpu_affinity" in rep.skipped and not rep.applied


def test_report_logs_one_line_per_step(caplog: pytest.LogCaptureFixture, restore_affinity: set[int]) -> None:
    caplog.set_level(logging.INFO, logger="hft.runtime")
    rep = apply_process_tuning(cores=[min(restore_affinity)])
    assert rep.applied == {"cpu_affinity": [min(restore_affinity)]}
    assert any("cpu_affinity" in r.message for r in caplog.records)
    assert TuningReport().merge(rep).as_dict()["applied"] == rep.applied


_CHILD = """
import json, os, sys
from hft.runtime.affinity import apply_process_tuning
rep = apply_process_tuning(realtime=True, rt_priority=10, mlock=True)
print(json.dumps({"report": rep.as_dict(), "policy": os.sched_getscheduler(0),
                  "fifo": os.SCHED_FIFO}))
"""


def _drop_privileges() -> None:
    """Child-side, before exec: remove CAP_SYS_NICE and CAP_IPC_LOCK from the bounding set (so even root
    lacks them after exec) and set RLIMIT_RTPRIO 0 and RLIMIT_MEMLOCK 64 KiB."""
    import ctypes
    import resource

    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop, cap_ipc_lock, cap_sys_nice = 24, 14, 23
    for cap in (cap_ipc_lock, cap_sys_nice):
        libc.prctl(pr_capbset_drop, cap, 0, 0, 0)
    resource.setrlimit(resource.RLIMIT_RTPRIO, (0, 0))
    resource.setrlimit(resource.RLIMIT_MEMLOCK, (65536, 65536))


def _run_child(unprivileged: bool = False) -> dict:  # type: ignore[type-arg]
    proc = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=60,
                          preexec_fn=_drop_privileges if unprivileged else None,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.timeout(60)
def test_realtime_and_mlock_in_a_child() -> None:
    out = _run_child()
    rep = out["report"]
    if "sched_fifo" in rep["applied"]:
        assert out["policy"] == out["fifo"]
    else:  # not permitted here: the warning names the missing capability and the process carries on
        assert "CAP_SYS_NICE" in rep["skipped"]["sched_fifo"]
        assert out["policy"] != out["fifo"]
    assert "mlockall" in rep["applied"] or "CAP_IPC_LOCK" in rep["skipped"]["mlockall"]


@pytest.mark.timeout(60)
def test_not_permitted_names_the_capability() -> None:
    """Without CAP_SYS_NICE/CAP_IPC_LOCK and with RLIMIT_RTPRIO 0 / RLIMIT_MEMLOCK 64 KiB, both steps are
    refused with reasons that name the capability and the limit, and the process carries on."""
    out = _run_child(unprivileged=True)
    rep = out["report"]
    assert "CAP_SYS_NICE" in rep["skipped"]["sched_fifo"] and "ulimit -r is 0" in rep["skipped"]["sched_fifo"]
    assert out["policy"] != out["fifo"]
    assert "CAP_IPC_LOCK" in rep["skipped"]["mlockall"] and "65536 bytes" in rep["skipped"]["mlockall"]


def test_apply_process_config_from_engine_config(restore_affinity: set[int]) -> None:
    import gc

    from hft.engine.config import EngineConfig
    from hft.runtime import apply_process_config, gc_controller_from_config

    core = min(restore_affinity)
    rep = apply_process_config(EngineConfig(cpu_affinity=[core]))
    assert rep.applied == {"cpu_affinity": [core]} and not rep.skipped
    assert os.sched_getaffinity(0) == {core}
    assert apply_process_config(EngineConfig()).as_dict() == {"applied": {}, "skipped": {}}
    with gc_controller_from_config(EngineConfig(gc_freeze=True)) as ctl:
        assert ctl.after_startup()["frozen_objects"] == gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
