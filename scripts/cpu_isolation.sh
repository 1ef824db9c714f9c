#!/usr/bin/env bash
# CPU isolation for the trading cores: kernel boot parameters, IRQ affinity, irqbalance, CPU governor,
# idle states. See docs/os_tuning.md for what each setting does and its risk.
#
# Default: DRY RUN (prints every change with the current value, changes nothing).
#   --check   report which settings are in place; exit 1 when any is not
#   --apply   apply (root only); boot parameters take effect after a reboot
# Paths are read/written under HFT_SYSROOT (default /), so this can be tested against a fake tree.
set -euo pipefail

PROG="cpu_isolation.sh"
# shellcheck source=scripts/tuning_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/tuning_lib.sh"

usage() {
  cat <<'EOF'
usage: cpu_isolation.sh --trading-cores LIST [--nic NAME] [options] [--check | --apply]

  --trading-cores LIST     cores for the trading process, kernel cpu-list syntax (e.g. 2-3)
  --housekeeping-cores L   cores for everything else (default: online cores minus trading cores)
  --nic NAME               market data / order entry NIC; its IRQs go to --nic-irq-cores
  --nic-irq-cores LIST     cores for the NIC's IRQs (default: the housekeeping core just below the
                           first trading core, i.e. next to the trading cores, never on them)
  --idle-poll              also add idle=poll (cores never sleep: lowest wake-up latency, full power)
  --mitigations-off        also add mitigations=off (DANGEROUS: see docs/os_tuning.md)
  --no-boot                leave kernel boot parameters alone
  --check                  check mode: exit 1 when any setting is not in place
  --apply                  apply the changes (root only)
  -h, --help               this help

Environment: HFT_SYSROOT (default /) prefixes every path (/proc, /sys, /etc/default/grub).
EOF
}

TRADING=""
HOUSEKEEPING=""
NIC=""
NIC_IRQ_CORES=""
IDLE_POLL=0
MITIGATIONS_OFF=0
DO_BOOT=1
while (($#)); do
  case "$1" in
    --trading-cores) TRADING="${2:-}"; shift 2 || die "--trading-cores needs a value" ;;
    --housekeeping-cores) HOUSEKEEPING="${2:-}"; shift 2 || die "--housekeeping-cores needs a value" ;;
    --nic) NIC="${2:-}"; shift 2 || die "--nic needs a value" ;;
    --nic-irq-cores) NIC_IRQ_CORES="${2:-}"; shift 2 || die "--nic-irq-cores needs a value" ;;
    --idle-poll) IDLE_POLL=1; shift ;;
    --mitigations-off) MITIGATIONS_OFF=1; shift ;;
    --no-boot) DO_BOOT=0; shift ;;
    --check) MODE="check"; shift ;;
    --apply) MODE="apply"; shift ;;
    --dry-run) MODE="dry-run"; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

[[ -n "$TRADING" ]] || { usage >&2; die "--trading-cores is required"; }
valid_cpu_list "$TRADING" || die "--trading-cores: bad core list '$TRADING' (want e.g. 2-3 or 2,3)"
[[ -z "$HOUSEKEEPING" ]] || valid_cpu_list "$HOUSEKEEPING" || die "--housekeeping-cores: bad core list '$HOUSEKEEPING'"
[[ -z "$NIC_IRQ_CORES" ]] || valid_cpu_list "$NIC_IRQ_CORES" || die "--nic-irq-cores: bad core list '$NIC_IRQ_CORES'"
[[ -z "$NIC" || "$NIC" =~ ^[A-Za-z0-9_.:-]{1,15}$ ]] || die "--nic: bad interface name '$NIC'"
require_root_for_apply

ONLINE="$(online_cpus)"
TRADING_SET="$(expand_cpus "$TRADING")"
for c in $TRADING_SET; do
  _has_param "$ONLINE" "$c" || die "--trading-cores: core $c is not online here (online: $(compress_cpus "$ONLINE"))"
done
if [[ -z "$HOUSEKEEPING" ]]; then
  hk=""
  for c in $ONLINE; do
    _has_param "$TRADING_SET" "$c" || hk+="${hk:+ }$c"
  done
  HK_SET="$hk"
else
  HK_SET="$(expand_cpus "$HOUSEKEEPING")"
  for c in $HK_SET; do
    _has_param "$TRADING_SET" "$c" && die "core $c is both a trading and a housekeeping core"
    _has_param "$ONLINE" "$c" || die "--housekeeping-cores: core $c is not online here"
  done
fi
[[ -n "$HK_SET" ]] || die "no housekeeping core left: keep at least one core out of --trading-cores"
if [[ -z "$NIC_IRQ_CORES" ]]; then
  first_trading="${TRADING_SET%% *}"
  pick=""
  for c in $HK_SET; do
    ((c < first_trading)) && pick="$c"
  done
  NIC_IRQ_SET="${pick:-${HK_SET%% *}}"
else
  NIC_IRQ_SET="$(expand_cpus "$NIC_IRQ_CORES")"
  for c in $NIC_IRQ_SET; do
    _has_param "$TRADING_SET" "$c" && warn "NIC IRQs on trading core $c: every packet interrupts the strategy"
  done
fi
TRADING_LIST="$(compress_cpus "$TRADING_SET")"
HK_LIST="$(compress_cpus "$HK_SET")"
NIC_IRQ_LIST="$(compress_cpus "$NIC_IRQ_SET")"

printf '%s: %s; trading cores %s, housekeeping %s, NIC %s IRQs on %s, root %s\n' "$PROG" "$MODE" \
  "$TRADING_LIST" "$HK_LIST" "${NIC:-(none)}" "$NIC_IRQ_LIST" "$SYSROOT"

# ---- kernel boot parameters ---------------------------------------------------------------------------
if ((DO_BOOT)); then
  boot_want "isolcpus=managed_irq,domain,$TRADING_LIST"  # no scheduler load balancing onto these cores
  boot_want "nohz_full=$TRADING_LIST"                    # no scheduler tick while one task runs
  boot_want "rcu_nocbs=$TRADING_LIST"                    # RCU callbacks run on housekeeping cores
  boot_want "irqaffinity=$HK_LIST"                       # default IRQ affinity at boot
  boot_want "intel_idle.max_cstate=0"                    # no deep C-states (wake-up costs 10-100 us)
  boot_want "processor.max_cstate=1"
  boot_want "skew_tick=1"                                # stagger ticks on housekeeping cores
  boot_want "nosoftlockup"                               # no watchdog thread on the trading cores
  boot_want "tsc=reliable"                               # no clocksource watchdog re-checking the TSC
  if ((IDLE_POLL)); then
    boot_want "idle=poll"
  fi
  if ((MITIGATIONS_OFF)); then
    warn "************************************************************************************"
    warn "mitigations=off DISABLES Spectre/Meltdown/MDS/retbleed protections for the whole box."
    warn "Only on a dedicated trading host that never runs untrusted code, VMs or browsers."
    warn "************************************************************************************"
    boot_want "mitigations=off"
  fi
  boot_settle
fi

# ---- IRQ affinity: everything on housekeeping cores, the NIC's IRQs next to the trading cores ----------
set_mask "irq default_smp_affinity" "$P/proc/irq/default_smp_affinity" "$(cpus_to_mask "$HK_SET")"
declare -A NIC_IRQS=()
if [[ -n "$NIC" ]]; then
  for f in "$P/sys/class/net/$NIC/device/msi_irqs/"* "$P/sys/class/net/$NIC/device/../msi_irqs/"*; do
    [[ -e "$f" ]] && NIC_IRQS[$(basename "$f")]=1
  done
  if [[ -r "$P/proc/interrupts" ]]; then
    while read -r irq rest; do
      irq="${irq%:}"
      [[ "$irq" =~ ^[0-9]+$ ]] || continue
      [[ " $rest " == *" $NIC"[-\ ]* ]] && NIC_IRQS[$irq]=1
    done < "$P/proc/interrupts"
  fi
  if ((${#NIC_IRQS[@]} == 0)); then
    report SKIP "irq $NIC" "no IRQs found for $NIC (virtual NIC?)"
  fi
fi
for d in "$P"/proc/irq/[0-9]*; do
  [[ -e "$d/smp_affinity_list" ]] || continue
  irq="$(basename "$d")"
  if [[ -n "${NIC_IRQS[$irq]:-}" ]]; then
    set_cpu_list "irq $irq ($NIC)" "$d/smp_affinity_list" "$NIC_IRQ_LIST"
  else
    set_cpu_list "irq $irq" "$d/smp_affinity_list" "$HK_LIST"
  fi
done

# ---- irqbalance would move the IRQs back ---------------------------------------------------------------
irqbalance_running=0
for comm in "$P"/proc/[0-9]*/comm; do
  [[ -r "$comm" ]] || continue
  if [[ "$(cat "$comm" 2>/dev/null || true)" == "irqbalance" ]]; then
    irqbalance_running=1
    break
  fi
done
if ((irqbalance_running)); then
  run_command "irqbalance" systemctl disable --now irqbalance
else
  report OK "irqbalance" "not running"
  N_OK=$((N_OK + 1))
fi

# ---- CPU frequency governor and idle states ----------------------------------------------------------
found_governor=0
for c in $ONLINE; do
  f="$P/sys/devices/system/cpu/cpu$c/cpufreq/scaling_governor"
  if [[ -e "$f" ]]; then
    found_governor=1
    set_value "cpu$c governor" "$f" "performance"
  fi
done
((found_governor)) || report SKIP "cpu governor" "no cpufreq here (VM or fixed-frequency CPU)"
found_idle=0
for c in $TRADING_SET; do
  for s in "$P/sys/devices/system/cpu/cpu$c/cpuidle/state"[0-9]*; do
    [[ -e "$s/disable" ]] || continue
    found_idle=1
    [[ "$(basename "$s")" == "state0" ]] && continue  # state0 is polling: keep it
    name="$(read_first_line "$s/name" 2>/dev/null || basename "$s")"
    set_value "cpu$c idle $(basename "$s") ($name)" "$s/disable" "1"
  done
done
((found_idle)) || report SKIP "cpu idle states" "no cpuidle states exposed for the trading cores"

if [[ "$MODE" == "apply" ]]; then
  run_post_commands
fi
finish
