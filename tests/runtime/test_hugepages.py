"""Huge-page arrays: the fallback chain hugetlb -> THP -> normal pages, one log line naming the kind, a
usable zeroed numpy view."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from hft.runtime.hugepages import huge_array, huge_page_size, thp_mode


def _free_hugetlb_pages() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("HugePages_Free:"):
                return int(line.split()[1])
    return 0


def test_default_chain_logs_one_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="hft.runtime")
    n = (4 * huge_page_size()) // 8
    with huge_array(n, np.int64) as h:
        assert h.array.shape == (n,) and h.array.dtype == np.int64
        assert not h.array.any()
        h.array[:] = np.arange(n)
        assert int(h.array[-1]) == n - 1
        lines = [r.message for r in caplog.records if "array on" in r.message]
        assert len(lines) == 1 and f"on {h.kind} pages" in lines[0]
        if _free_hugetlb_pages() >= 4:
            assert h.kind == "hugetlb"
        else:
            assert h.kind in ("thp", "normal")
            assert "hugetlb: pool empty" in lines[0]
        if h.kind == "thp":
            assert h.address % huge_page_size() == 0  # aligned so THP can back it
            got = h.huge_bytes()  # how much THP backs depends on the kernel's free huge pages, not on us
            assert got >= 0 and got % huge_page_size() == 0, got  # -1: /proc/self/smaps unreadable
        if thp_mode() in ("always", "madvise"):
            assert h.kind != "normal"


def test_huge_bytes_reads_the_entry_of_its_own_mapping(tmp_path: Path) -> None:
    """``AnonHugePages`` of the smaps entry that contains the array, not of its neighbours; 0 when that
    entry has none; -1 when smaps cannot be read."""
    with huge_array(16, np.int64, kinds=("normal",)) as h:
        a, mib = h.address, 1 << 20
        smaps = tmp_path / "smaps"

        def entry(lo: int, hi: int, huge_kb: int | None) -> str:
            out = f"{lo:x}-{hi:x} rw-p 00000000 00:00 0 \nSize:            {(hi - lo) >> 10} kB\n"
            return out + (f"AnonHugePages:   {huge_kb} kB\n" if huge_kb is not None else "")

        smaps.write_text(entry(a - 4 * mib, a, 4096) + entry(a, a + 4 * mib, 2048)
                         + entry(a + 4 * mib, a + 8 * mib, 6144))
        assert h.huge_bytes(str(smaps)) == 2 * mib
        smaps.write_text(entry(a - 4 * mib, a, 4096) + entry(a, a + 4 * mib, None))
        assert h.huge_bytes(str(smaps)) == 0
        assert h.huge_bytes(str(tmp_path / "missing")) == -1


def test_normal_pages_only_and_shape() -> None:
    with huge_array((3, 5), np.int32, kinds=("normal",)) as h:
        assert h.kind == "normal" and h.array.shape == (3, 5)
        h.array[2, 4] = 7
        assert h.array.sum() == 7


@pytest.mark.skipif(_free_hugetlb_pages() > 0, reason="a hugetlb pool is reserved here")
def test_hugetlb_only_without_a_pool_fails_with_reason() -> None:
    with pytest.raises(OSError, match=r"hugetlb: pool empty or too small \(vm.nr_hugepages\)"):
        huge_array(16, kinds=("hugetlb",))


@pytest.mark.skipif(_free_hugetlb_pages() < 1, reason="no free hugetlb pages (vm.nr_hugepages is 0)")
def test_hugetlb_when_a_pool_exists() -> None:
    with huge_array(1024, kinds=("hugetlb",)) as h:
        assert h.kind == "hugetlb" and not h.array.any()


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="shape"):
        huge_array(0)
    with pytest.raises(ValueError, match="unknown page kind"):
        huge_array(4, kinds=("gigantic",))  # type: ignore[arg-type]


def test_thp_mode_parsing(tmp_path: object) -> None:
    from pathlib import Path

    p = Path(str(tmp_path)) / "enabled"
    p.write_text("always [madvise] never\n")
    assert thp_mode(str(p)) == "madvise"
    assert thp_mode(str(Path(str(tmp_path)) / "missing")) == "unavailable"


def test_bench_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from hft.runtime.hugepages import main

    assert main(["--mib", "4", "--reads", "1000", "--repeats", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["results"]["normal"]["available"] and out["results"]["normal"]["ns_per_read"] > 0
    assert set(out["results"]) == {"hugetlb", "thp", "normal"}
