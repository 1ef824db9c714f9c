"""scripts/os_tuning.sh and scripts/cpu_isolation.sh against a fake HFT_SYSROOT tree: dry run prints and
changes nothing, check exits non-zero until every setting matches, apply refuses without root and (with
the documented test override, fake roots only) writes the tree so that check then passes."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import pytest

REPO = Path(__file__).resolve().parents[2]
OS_TUNING = REPO / "scripts" / "os_tuning.sh"
CPU_ISOLATION = REPO / "scripts" / "cpu_isolation.sh"

SYSCTLS = {
    "net/core/busy_poll": "0", "net/core/busy_read": "0", "net/core/rmem_max": "212992",
    "net/core/wmem_max": "212992", "net/core/netdev_max_backlog": "1000",
    "net/ipv4/tcp_rmem": "4096\t131072\t6291456", "net/ipv4/tcp_wmem": "4096\t16384\t4194304",
    "net/ipv4/tcp_slow_start_after_idle": "1", "net/ipv4/tcp_autocorking": "1",
    "vm/swappiness": "60", "vm/nr_hugepages": "0", "vm/stat_interval": "1",
    "kernel/numa_balancing": "1", "kernel/sched_rt_runtime_us": "950000", "kernel/nmi_watchdog": "1",
}  # net.ipv4.tcp_low_latency is absent, as on kernels >= 4.14


def _w(root: Path, rel: str, text: str) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text + "\n")


@pytest.fixture
def sysroot(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    for k, v in SYSCTLS.items():
        _w(root, f"proc/sys/{k}", v)
    _w(root, "proc/cmdline", "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet")
    _w(root, "proc/irq/default_smp_affinity", "f")
    for irq in (24, 25, 37, 38):
        _w(root, f"proc/irq/{irq}/smp_affinity_list", "0-3")
    _w(root, "proc/interrupts", "           CPU0       CPU1\n"
                                " 24:         10          0   IO-APIC    1-edge      i8042\n"
                                " 37:        500         20   PCI-MSI 524288-edge      eth0-TxRx-0\n"
                                " 38:          0          0   PCI-MSI 524289-edge      eth0-TxRx-1\n")
    _w(root, "proc/100/comm", "irqbalance")
    _w(root, "proc/101/comm", "sshd")
    _w(root, "sys/devices/system/cpu/online", "0-3")
    for c in range(4):
        _w(root, f"sys/devices/system/cpu/cpu{c}/cpufreq/scaling_governor", "powersave")
        for s, name in enumerate(("POLL", "C1", "C6")):
            _w(root, f"sys/devices/system/cpu/cpu{c}/cpuidle/state{s}/disable", "0")
            _w(root, f"sys/devices/system/cpu/cpu{c}/cpuidle/state{s}/name", name)
    _w(root, "sys/kernel/mm/transparent_hugepage/enabled", "[always] madvise never")
    _w(root, "sys/kernel/mm/transparent_hugepage/defrag", "always defer defer+madvise [madvise] never")
    _w(root, "sys/class/net/eth0/gro_flush_timeout", "20000")
    _w(root, "sys/class/net/eth0/napi_defer_hard_irqs", "0")
    _w(root, "sys/class/net/eth0/queues/rx-0/rps_cpus", "00000000")
    _w(root, "sys/class/net/eth0/queues/rx-1/rps_cpus", "0000000c")
    _w(root, "etc/default/grub", 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet splash isolcpus=1"\n'
                                 'GRUB_CMDLINE_LINUX=""')
    return root


def _run(script: Path, root: Path, *args: str, euid: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HFT_")}
    env["HFT_SYSROOT"] = str(root)
    if euid is not None:
        env["HFT_TUNING_TEST_EUID"] = euid  # test override, honoured only for a fake HFT_SYSROOT
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True, env=env, timeout=60)


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in root.rglob("*") if p.is_file()}


ARGS = ("--trading-cores", "2-3", "--nic", "eth0")


def test_dry_run_prints_changes_with_current_values_and_changes_nothing(sysroot: Path) -> None:
    before = _snapshot(sysroot)
    r = _run(OS_TUNING, sysroot, *ARGS)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "CHANGE   sysctl net.core.busy_poll" in out and "0 -> 50" in out
    assert "sysctl net.ipv4.tcp_rmem" in out and "4096 131072 6291456 -> 4096 131072 16777216" in out
    assert "SKIP     sysctl net.ipv4.tcp_low_latency" in out
    assert "thp enabled" in out and "always -> madvise" in out
    assert "OK       thp defrag" in out
    assert "eth0 rx-1 rps_cpus" in out and "0000000c -> 0" in out
    assert "OK       eth0 rx-0 rps_cpus" in out
    assert "boot hugepages=512" in out
    # cpu_isolation.sh ran too, same mode
    assert "boot isolcpus=managed_irq,domain,2-3" in out and "boot nohz_full=2-3" in out
    assert "irq 24" in out and "0-3 -> 0-1" in out
    assert "irq 37 (eth0)" in out and "irq 38 (eth0)" in out
    assert "irqbalance" in out and "would run: systemctl disable --now irqbalance" in out
    assert "cpu2 governor" in out and "powersave -> performance" in out
    assert "cpu3 idle state2 (C6)" in out and "cpu2 idle state0" not in out
    assert "mitigations" not in out
    assert _snapshot(sysroot) == before


def test_nic_irqs_go_next_to_the_trading_cores(sysroot: Path) -> None:
    r = _run(CPU_ISOLATION, sysroot, *ARGS)
    assert r.returncode == 0, r.stderr
    line37 = next(x for x in r.stdout.splitlines() if "irq 37 (eth0)" in x)
    assert line37.rstrip().endswith("0-3 -> 1")  # housekeeping core just below the first trading core
    line24 = next(x for x in r.stdout.splitlines() if x.split()[1:3] == ["irq", "24"])
    assert line24.rstrip().endswith("0-3 -> 0-1")
    r = _run(CPU_ISOLATION, sysroot, *ARGS, "--nic-irq-cores", "0")
    assert next(x for x in r.stdout.splitlines() if "irq 37 (eth0)" in x).rstrip().endswith("-> 0")


def test_check_fails_on_an_untuned_box(sysroot: Path) -> None:
    r = _run(OS_TUNING, sysroot, *ARGS, "--check")
    assert r.returncode == 1
    assert "DIFF     sysctl net.core.busy_poll" in r.stdout and "is 0, want 50" in r.stdout
    assert "differ(s)" in r.stdout
    assert "CHANGE" not in r.stdout


def test_apply_refuses_without_root(sysroot: Path) -> None:
    before = _snapshot(sysroot)
    for script in (OS_TUNING, CPU_ISOLATION):
        r = _run(script, sysroot, *ARGS, "--apply", euid="1000")
        assert r.returncode == 2
        assert "refusing --apply: must run as root" in r.stderr
    assert _snapshot(sysroot) == before
    if os.geteuid() != 0:  # really unprivileged: no override, same refusal
        r = _run(OS_TUNING, sysroot, *ARGS, "--apply")
        assert r.returncode == 2 and "must run as root" in r.stderr


def test_apply_then_check_passes_after_reboot(sysroot: Path) -> None:
    (sysroot / "proc/100/comm").unlink()  # irqbalance not running (a fake root cannot stop a service)
    r = _run(OS_TUNING, sysroot, *ARGS, "--apply", euid="0")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "APPLIED  sysctl net.core.busy_poll" in r.stdout
    assert (sysroot / "proc/sys/net/core/busy_poll").read_text().strip() == "50"
    assert (sysroot / "proc/sys/kernel/sched_rt_runtime_us").read_text().strip() == "-1"
    assert (sysroot / "proc/irq/37/smp_affinity_list").read_text().strip() == "1"
    assert (sysroot / "proc/irq/24/smp_affinity_list").read_text().strip() == "0-1"
    assert (sysroot / "sys/devices/system/cpu/cpu2/cpuidle/state2/disable").read_text().strip() == "1"
    assert (sysroot / "sys/devices/system/cpu/cpu0/cpuidle/state2/disable").read_text().strip() == "0"
    assert "memlock unlimited" in (sysroot / "etc/security/limits.d/90-hft.conf").read_text()
    assert "net.core.busy_poll = 50" in (sysroot / "etc/sysctl.d/90-hft.conf").read_text()
    grub = (sysroot / "etc/default/grub").read_text()
    line = next(x for x in grub.splitlines() if x.startswith("GRUB_CMDLINE_LINUX_DEFAULT="))
    words = line.split("=", 1)[1].strip('"').split()
    assert words[:2] == ["quiet", "splash"] and "isolcpus=1" not in words  # old isolcpus replaced
    assert "isolcpus=managed_irq,domain,2-3" in words and "hugepages=512" in words
    assert (sysroot / "etc/default/grub.hft-backup").exists()

    # boot parameters are configured but not active yet
    r = _run(OS_TUNING, sysroot, *ARGS, "--check")
    assert r.returncode == 1
    assert "PENDING  boot nohz_full=2-3" in r.stdout and "DIFF     sysctl" not in r.stdout

    # "reboot": the kernel now runs with the grub command line
    (sysroot / "proc/cmdline").write_text("BOOT_IMAGE=/vmlinuz root=/dev/sda1 " + " ".join(words) + "\n")
    r = _run(OS_TUNING, sysroot, *ARGS, "--check")
    assert r.returncode == 0, r.stdout
    assert "DIFF" not in r.stdout and "PENDING" not in r.stdout

    # one setting drifts: check names it and fails
    (sysroot / "proc/sys/vm/swappiness").write_text("60\n")
    r = _run(OS_TUNING, sysroot, *ARGS, "--check")
    assert r.returncode == 1
    diffs = [x for x in r.stdout.splitlines() if x.startswith("DIFF")]
    assert len(diffs) == 1 and "vm.swappiness" in diffs[0] and "is 60, want 1" in diffs[0]


def test_irqbalance_running_fails_check(sysroot: Path) -> None:
    r = _run(CPU_ISOLATION, sysroot, *ARGS, "--check", "--no-boot")
    assert r.returncode == 1
    assert any(x.startswith("DIFF") and "irqbalance" in x for x in r.stdout.splitlines())


def test_mitigations_off_only_with_the_flag_and_loudly(sysroot: Path) -> None:
    r = _run(CPU_ISOLATION, sysroot, *ARGS, "--mitigations-off", "--idle-poll")
    assert r.returncode == 0
    assert "boot mitigations=off" in r.stdout and "boot idle=poll" in r.stdout
    assert "WARNING" in r.stderr and "Spectre" in r.stderr


@pytest.mark.parametrize("script, args, message", [
    (OS_TUNING, ("--nic", "eth0"), "--trading-cores is required"),
    (OS_TUNING, ("--trading-cores", "2-3"), "--nic is required"),
    (OS_TUNING, ("--trading-cores", "2-3", "--nic", "eth7"), "no interface 'eth7' here (have: eth0)"),
    (OS_TUNING, ("--trading-cores", "2-x", "--nic", "eth0"), "bad core list '2-x'"),
    (OS_TUNING, (*ARGS, "--hugepages", "many"), "--hugepages: not a non-negative integer"),
    (OS_TUNING, (*ARGS, "--bogus"), "unknown argument: --bogus"),
    (CPU_ISOLATION, ("--trading-cores", "7"), "core 7 is not online here (online: 0-3)"),
    (CPU_ISOLATION, ("--trading-cores", "0-3"), "no housekeeping core left"),
    (CPU_ISOLATION, ("--trading-cores", "2", "--housekeeping-cores", "1-2"),
     "core 2 is both a trading and a housekeeping core"),
])
def test_bad_arguments(sysroot: Path, script: Path, args: tuple[str, ...], message: str) -> None:
    r = _run(script, sysroot, *args)
    assert r.returncode == 2
    assert message in r.stderr


def test_help(sysroot: Path) -> None:
    for script in (OS_TUNING, CPU_ISOLATION):
        r = _run(script, sysroot, "--help")
        assert r.returncode == 0 and "--trading-cores" in r.stdout and "--apply" in r.stdout


def test_shellcheck_clean(unavailable: Callable[[str], NoReturn]) -> None:
    """Every shell script the project ships (scripts/*.sh)."""
    if shutil.which("shellcheck") is None:
        unavailable("shellcheck not installed here (CI installs it: .ci/run)")
    scripts = sorted(str(p.relative_to(REPO)) for p in (REPO / "scripts").glob("*.sh"))
    assert "scripts/os_tuning.sh" in scripts and len(scripts) >= 5
    r = subprocess.run(["shellcheck", "-x", *scripts], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs a housekeeping core besides the trading core")
@pytest.mark.parametrize("mode", [(), ("--check",)])
def test_read_only_modes_against_the_real_root(mode: tuple[str, ...]) -> None:
    """Dry run and check only read: run them on this machine's real /proc and /sys (NIC lo, last core)."""
    last = str(max(os.sched_getaffinity(0)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HFT_")}
    r = subprocess.run(["bash", str(OS_TUNING), "--trading-cores", last, "--nic", "lo", *mode],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode in ((0, 1) if mode else (0,)), r.stderr  # check: 1 unless this box is tuned
    assert "FAILED" not in r.stdout and "APPLIED" not in r.stdout
    assert "sysctl net.core.busy_poll" in r.stdout and "cpu_isolation.sh:" in r.stdout
