#!/usr/bin/env bash
# Production OS settings for the trading host: network and memory sysctls, huge pages, transparent huge
# pages, NIC polling knobs, memlock/rtprio limits; then CPU isolation (scripts/cpu_isolation.sh) with the
# same mode. See docs/os_tuning.md for what each setting does and its risk.
#
# Default: DRY RUN (prints every change with the current value, changes nothing).
#   --check   report which settings are in place; exit 1 when any is not
#   --apply   apply (root only); sysctls are also written to /etc/sysctl.d/90-hft.conf to survive reboots
# Paths are read/written under HFT_SYSROOT (default /), so this can be tested against a fake tree.
set -euo pipefail

PROG="os_tuning.sh"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/tuning_lib.sh
source "$HERE/tuning_lib.sh"

usage() {
  cat <<'EOF'
usage: os_tuning.sh --trading-cores LIST --nic NAME [options] [--check | --apply]

  --trading-cores LIST     cores for the trading process, kernel cpu-list syntax (e.g. 2-3)
  --nic NAME               the NIC carrying market data and order entry (e.g. eth0)
  --hugepages N            2 MiB huge pages to reserve (vm.nr_hugepages and boot hugepages=; default 512)
  --busy-poll US           net.core.busy_poll / busy_read in microseconds (default 50; 0 = off)
  --rt-runtime-us N        kernel.sched_rt_runtime_us (default -1: no RT throttling; see the doc's risks)
  --user NAME              limits.d entry for memlock/rtprio: a user, @group or * (default @hft)
  --no-cpu-isolation       do not run cpu_isolation.sh
  --no-boot                leave kernel boot parameters alone (here and in cpu_isolation.sh)
  --idle-poll, --mitigations-off, --housekeeping-cores L, --nic-irq-cores L
                           passed to cpu_isolation.sh (see its --help)
  --check                  check mode: exit 1 when any setting is not in place
  --apply                  apply the changes (root only)
  -h, --help               this help

Environment: HFT_SYSROOT (default /) prefixes every path (/proc/sys, /sys, /etc, /proc/irq).
EOF
}

TRADING=""
NIC=""
HUGEPAGES=512
BUSY_POLL=50
RT_RUNTIME=-1
LIMITS_USER="@hft"
CPU_ISOLATION=1
DO_BOOT=1
PASS=()
while (($#)); do
  case "$1" in
    --trading-cores) TRADING="${2:-}"; shift 2 || die "--trading-cores needs a value" ;;
    --nic) NIC="${2:-}"; shift 2 || die "--nic needs a value" ;;
    --hugepages) HUGEPAGES="${2:-}"; shift 2 || die "--hugepages needs a value" ;;
    --busy-poll) BUSY_POLL="${2:-}"; shift 2 || die "--busy-poll needs a value" ;;
    --rt-runtime-us) RT_RUNTIME="${2:-}"; shift 2 || die "--rt-runtime-us needs a value" ;;
    --user) LIMITS_USER="${2:-}"; shift 2 || die "--user needs a value" ;;
    --no-cpu-isolation) CPU_ISOLATION=0; shift ;;
    --no-boot) DO_BOOT=0; PASS+=("--no-boot"); shift ;;
    --idle-poll | --mitigations-off) PASS+=("$1"); shift ;;
    --housekeeping-cores | --nic-irq-cores) PASS+=("$1" "${2:-}"); shift 2 || die "$1 needs a value" ;;
    --check) MODE="check"; shift ;;
    --apply) MODE="apply"; shift ;;
    --dry-run) MODE="dry-run"; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

[[ -n "$TRADING" ]] || { usage >&2; die "--trading-cores is required"; }
[[ -n "$NIC" ]] || { usage >&2; die "--nic is required"; }
valid_cpu_list "$TRADING" || die "--trading-cores: bad core list '$TRADING' (want e.g. 2-3 or 2,3)"
[[ "$NIC" =~ ^[A-Za-z0-9_.:-]{1,15}$ ]] || die "--nic: bad interface name '$NIC'"
[[ "$HUGEPAGES" =~ ^[0-9]+$ ]] || die "--hugepages: not a non-negative integer: '$HUGEPAGES'"
[[ "$BUSY_POLL" =~ ^[0-9]+$ ]] || die "--busy-poll: not a non-negative integer: '$BUSY_POLL'"
[[ "$RT_RUNTIME" =~ ^-?[0-9]+$ ]] || die "--rt-runtime-us: not an integer: '$RT_RUNTIME'"
[[ "$LIMITS_USER" =~ ^[@*A-Za-z0-9_.-]+$ ]] || die "--user: bad name '$LIMITS_USER'"
require_root_for_apply
if [[ ! -d "$P/sys/class/net/$NIC" ]]; then
  have=""
  for n in "$P"/sys/class/net/*; do
    [[ -e "$n" ]] && have+="${have:+ }$(basename "$n")"
  done
  die "--nic: no interface '$NIC' here (have: ${have:-none})"
fi

printf '%s: %s; trading cores %s, NIC %s, %s huge pages, busy poll %s us, root %s\n' "$PROG" "$MODE" \
  "$TRADING" "$NIC" "$HUGEPAGES" "$BUSY_POLL" "$SYSROOT"

# ---- sysctl: network ------------------------------------------------------------------------------------
SYSCTLS=(
  "net.core.busy_poll=$BUSY_POLL"          # poll()/select() busy-poll the device queue before sleeping
  "net.core.busy_read=$BUSY_POLL"          # blocking reads busy-poll (default for SO_BUSY_POLL)
  "net.core.rmem_max=16777216"             # allow 16 MiB socket buffers (bursts at the open)
  "net.core.wmem_max=16777216"
  "net.core.netdev_max_backlog=5000"       # packets queued per core before the stack drops
  "net.ipv4.tcp_rmem=4096 131072 16777216"
  "net.ipv4.tcp_wmem=4096 65536 16777216"
  "net.ipv4.tcp_low_latency=1"             # removed in Linux 4.14 (then SKIP)
  "net.ipv4.tcp_slow_start_after_idle=0"   # a burst of orders after a quiet spell is not throttled
  "net.ipv4.tcp_autocorking=0"             # small writes leave at once, never corked
  # ---- memory and scheduler
  "vm.swappiness=1"                        # keep the process in RAM (with mlockall: never swapped)
  "vm.nr_hugepages=$HUGEPAGES"             # hugetlb pool for hft.runtime.hugepages
  "vm.stat_interval=10"                    # vmstat timer every 10 s instead of 1 s (fewer interrupts)
  "kernel.numa_balancing=0"                # no page migration / hinting faults under the process
  "kernel.sched_rt_runtime_us=$RT_RUNTIME" # -1: SCHED_FIFO threads are never throttled
  "kernel.nmi_watchdog=0"                  # no periodic NMI on every core
)
for kv in "${SYSCTLS[@]}"; do
  sysctl_set "${kv%%=*}" "${kv#*=}"
done
# persist them (apply), or check that the file is there
persist=""
for kv in "${SYSCTLS[@]}"; do
  key="${kv%%=*}"
  [[ -e "$P/proc/sys/${key//.//}" ]] && persist+="$key = ${kv#*=}"$'\n'
done
set_file_content "sysctl persistence" "$P/etc/sysctl.d/90-hft.conf" "# written by scripts/os_tuning.sh
${persist%$'\n'}"

# ---- transparent huge pages: only where asked (madvise), never behind the process's back -------------
set_selector "thp enabled" "$P/sys/kernel/mm/transparent_hugepage/enabled" "madvise"
set_selector "thp defrag" "$P/sys/kernel/mm/transparent_hugepage/defrag" "madvise"

# ---- NIC: no deferred interrupts, no software steering to other cores --------------------------------
set_value "$NIC gro_flush_timeout" "$P/sys/class/net/$NIC/gro_flush_timeout" "0"
set_value "$NIC napi_defer_hard_irqs" "$P/sys/class/net/$NIC/napi_defer_hard_irqs" "0"
for q in "$P/sys/class/net/$NIC/queues/"rx-*; do
  [[ -e "$q/rps_cpus" ]] && set_mask "$NIC $(basename "$q") rps_cpus" "$q/rps_cpus" "0"
done
if command -v ethtool >/dev/null 2>&1 && is_real_root && [[ "$MODE" == "apply" ]]; then
  # interrupt coalescing off: the NIC raises the IRQ for every packet (not checkable via sysfs)
  run_command "$NIC coalescing" ethtool -C "$NIC" adaptive-rx off rx-usecs 0 rx-frames 1
else
  report SKIP "$NIC coalescing" "not checked; on apply: ethtool -C $NIC adaptive-rx off rx-usecs 0 rx-frames 1"
fi

# ---- limits: lock memory (mlockall) and real-time priority without root ------------------------------
set_file_content "limits memlock/rtprio" "$P/etc/security/limits.d/90-hft.conf" "# written by scripts/os_tuning.sh
$LIMITS_USER - memlock unlimited
$LIMITS_USER - rtprio 99"

# ---- boot: reserve huge pages before memory fragments -------------------------------------------------
if ((DO_BOOT)) && ((HUGEPAGES > 0)); then
  boot_want "hugepagesz=2M"
  boot_want "hugepages=$HUGEPAGES"
  boot_want "transparent_hugepage=madvise"
  boot_settle
fi

if [[ "$MODE" == "apply" ]]; then
  run_post_commands
fi
status=0
finish || status=$?

if ((CPU_ISOLATION)); then
  iso_args=(--trading-cores "$TRADING" --nic "$NIC" "${PASS[@]}")
  [[ "$MODE" == "dry-run" ]] || iso_args+=("--$MODE")
  iso_status=0
  bash "$HERE/cpu_isolation.sh" "${iso_args[@]}" || iso_status=$?
  ((iso_status > status)) && status=$iso_status
fi
exit "$status"
