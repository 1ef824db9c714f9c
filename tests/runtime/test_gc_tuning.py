"""GC policy: freeze after start-up, thresholds, disabled collector with idle collections, counting."""

from __future__ import annotations

import gc

import pytest

from hft.runtime.gc_tuning import GcController, GcPolicy


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_policy_validation() -> None:
    with pytest.raises(ValueError, match="thresholds"):
        GcPolicy(thresholds=(1, 2, 3, 4))
    with pytest.raises(ValueError, match="thresholds"):
        GcPolicy(thresholds=(-1,))
    with pytest.raises(ValueError, match="idle_generation"):
        GcPolicy(idle_generation=3)
    with pytest.raises(ValueError, match=r"engine\.gc: unknown key.*thresold"):
        GcPolicy.from_mapping({"thresold": [1]}, where="engine.gc")
    assert GcPolicy.from_mapping({"thresholds": [50_000, 20, 100]}).thresholds == (50_000, 20, 100)


def test_freeze_and_thresholds_then_restore() -> None:
    before_thr, before_enabled = gc.get_threshold(), gc.isenabled()
    keep = [Node() for _ in range(100)]
    with GcController(GcPolicy(thresholds=(50_000, 50, 50))) as ctl:
        rep = ctl.after_startup()
        assert rep["frozen_objects"] >= 100 and gc.get_freeze_count() == rep["frozen_objects"]
        assert gc.get_threshold() == (50_000, 50, 50)
        gc.collect()
        assert ctl.stats.collections[2] >= 1 and ctl.stats.pause_ns_max > 0
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before_thr and gc.isenabled() == before_enabled
    del keep


def test_disabled_collector_runs_no_collection_until_idle() -> None:
    pol = GcPolicy(freeze=False, disable_while_trading=True, idle_interval_ms=10_000, idle_max_pending=5_000)
    with GcController(pol) as ctl:
        ctl.after_startup()
        assert not gc.isenabled()
        for _ in range(20_000):  # far beyond threshold0: would trigger ~28 young collections if enabled
            Node()
        assert ctl.stats.collections == [0, 0, 0]
        assert ctl.idle()  # many allocations pending: collects now
        assert ctl.stats.idle_collections == 1 and ctl.stats.collections[0] == 1
        Node()
        assert not ctl.idle()  # few pending and the interval has not passed
        assert ctl.idle(now_ns=ctl._last_idle_ns + 10_000 * 1_000_000)  # interval passed
    assert gc.isenabled()


def test_idle_is_a_noop_when_the_collector_is_enabled() -> None:
    with GcController(GcPolicy(freeze=False)) as ctl:
        ctl.after_startup()
        assert not ctl.idle()
        assert ctl.stats.as_dict()["idle_collections"] == 0


def test_idle_collections_escalate_to_older_generations() -> None:
    """With the collector off nothing else collects generations 1 and 2: every threshold1-th idle
    collection takes generation 1, and cyclic garbage promoted out of generation 0 is freed."""
    import weakref

    pol = GcPolicy(freeze=False, disable_while_trading=True, idle_interval_ms=0, idle_max_pending=1)
    with GcController(pol) as ctl:
        ctl.after_startup()
        gc.set_threshold(700, 3, 1000)
        a = Node()  # a cycle: only the collector frees it
        gone = weakref.ref(a)
        gc.collect(0)  # as if it survived one young collection while still referenced: now in generation 1
        del a
        gens: list[int] = []

        def cb(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                gens.append(info["generation"])

        gc.callbacks.append(cb)
        try:
            for _ in range(6):
                Node()  # something pending, so idle() collects
                assert ctl.idle()
        finally:
            gc.callbacks.remove(cb)
        assert 1 in gens and gens.count(0) >= 3  # generation 1 once generation 0 ran threshold1 times
        assert gone() is None  # the promoted cycle was collected
