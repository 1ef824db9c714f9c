# shellcheck shell=bash
# Shared helpers for scripts/os_tuning.sh and scripts/cpu_isolation.sh (sourced, not run).
#
# Every path goes through $P, the prefix from HFT_SYSROOT (default /), so the scripts can be tested
# without root against a fake tree: $P/proc/sys, $P/sys, $P/proc/irq, $P/etc/default/grub, ...
#
# Modes: dry-run (default; prints each change with the current value), apply, check.
# Result words, one line per setting:
#   OK       already as wanted            CHANGE   dry run: would change (current -> wanted)
#   APPLIED  written and read back        FAILED   the write was refused or did not stick
#   DIFF     check: differs               PENDING  boot parameter configured, active after reboot
#   SKIP     not present on this system (not counted as a difference)

MODE="dry-run"
SYSROOT="${HFT_SYSROOT:-/}"
P="${SYSROOT%/}"
N_OK=0
N_CHANGE=0
N_DIFF=0
N_FAILED=0
GRUB_WANT=()      # boot parameters to have (key=value or bare key)
GRUB_DROP=()      # boot parameter keys to remove
POST_COMMANDS=()  # commands to run after applying (real root only)

die() {
  printf '%s: %s\n' "${PROG:-tuning}" "$*" >&2
  exit 2
}

warn() {
  printf '%s: WARNING: %s\n' "${PROG:-tuning}" "$*" >&2
}

is_real_root() {
  [[ -z "$P" ]]
}

# The effective uid; a test may simulate another one, but only against a fake HFT_SYSROOT.
effective_uid() {
  if ! is_real_root && [[ -n "${HFT_TUNING_TEST_EUID:-}" ]]; then
    printf '%s\n' "$HFT_TUNING_TEST_EUID"
  else
    printf '%s\n' "$EUID"
  fi
}

require_root_for_apply() {
  if [[ "$MODE" == "apply" && "$(effective_uid)" != "0" ]]; then
    die "refusing --apply: must run as root (uid $(effective_uid)); run without --apply for a dry run"
  fi
}

report() {  # report WORD NAME DETAIL
  printf '%-8s %-52s %s\n' "$1" "$2" "$3"
}

# ------------------------------------------------------------------------------------------- cpu lists
valid_cpu_list() {
  [[ "$1" =~ ^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$ ]]
}

# "0-2,5" -> "0 1 2 5" (sorted, unique); empty input -> empty output
expand_cpus() {
  local list="$1" part lo hi c
  local -A seen=()
  [[ -z "$list" ]] && return 0
  IFS=',' read -r -a parts <<< "$list"
  for part in "${parts[@]}"; do
    if [[ "$part" == *-* ]]; then
      lo="${part%-*}"
      hi="${part#*-}"
    else
      lo="$part"
      hi="$part"
    fi
    for ((c = lo; c <= hi; c++)); do
      seen[$c]=1
    done
  done
  printf '%s\n' "${!seen[@]}" | sort -n | tr '\n' ' ' | sed 's/ $//'
}

# "0 1 2 5" -> "0-2,5"
compress_cpus() {
  local out="" start="" prev="" c
  for c in $1; do
    if [[ -z "$start" ]]; then
      start="$c"
    elif ((c != prev + 1)); then
      out+="${out:+,}$start$([[ "$prev" != "$start" ]] && printf -- '-%s' "$prev")"
      start="$c"
    fi
    prev="$c"
  done
  if [[ -n "$start" ]]; then
    out+="${out:+,}$start$([[ "$prev" != "$start" ]] && printf -- '-%s' "$prev")"
  fi
  printf '%s\n' "$out"
}

# "0 1 5" -> hex mask in the kernel's comma-separated 32-bit groups, e.g. "23" or "1,00000000"
cpus_to_mask() {
  local -a words=()
  local c w i out=""
  for c in $1; do
    w=$((c / 32))
    words[w]=$(( ${words[w]:-0} | (1 << (c % 32)) ))
  done
  local n=${#words[@]}
  ((n == 0)) && { printf '0\n'; return; }
  local top=0
  for i in "${!words[@]}"; do ((i > top)) && top=$i; done
  for ((i = top; i >= 0; i--)); do
    if ((i == top)); then
      out+=$(printf '%x' "${words[i]:-0}")
    else
      out+=$(printf ',%08x' "${words[i]:-0}")
    fi
  done
  printf '%s\n' "$out"
}

# normalise a hex mask for comparison: drop commas and leading zeros ("00000000,00000003" -> "3")
mask_norm() {
  local m="${1//,/}"
  m="${m#"${m%%[!0]*}"}"
  printf '%s\n' "${m:-0}"
}

online_cpus() {
  local f="$P/sys/devices/system/cpu/online"
  [[ -r "$f" ]] || die "cannot read $f (is HFT_SYSROOT right?)"
  expand_cpus "$(tr -d ' \n' < "$f")"
}

# ------------------------------------------------------------------------------------------- settings
read_first_line() {  # whitespace-collapsed first line of a file
  local -a words=()
  read -r -a words < "$1" || true
  printf '%s\n' "${words[*]}"
}

# Compare/print/apply one value. $1 name, $2 file, $3 wanted, $4 current (already read and normalised),
# $5 "same" when current equals wanted (caller decides equality for lists and masks).
_settle() {
  local name="$1" file="$2" want="$3" cur="$4" same="$5"
  if [[ "$same" == "same" ]]; then
    report OK "$name" "= $cur"
    N_OK=$((N_OK + 1))
    return 0
  fi
  case "$MODE" in
    dry-run)
      report CHANGE "$name" "$cur -> $want"
      N_CHANGE=$((N_CHANGE + 1))
      ;;
    check)
      report DIFF "$name" "is $cur, want $want"
      N_DIFF=$((N_DIFF + 1))
      ;;
    apply)
      if printf '%s\n' "$want" 2>/dev/null > "$file"; then
        report APPLIED "$name" "$cur -> $want"
        N_CHANGE=$((N_CHANGE + 1))
      else
        report FAILED "$name" "writing $want to $file was refused (still $cur)"
        N_FAILED=$((N_FAILED + 1))
      fi
      ;;
  esac
}

# A plain value file (sysctl, sysfs). Missing file -> SKIP (the kernel does not have that knob).
set_value() {  # NAME FILE WANT
  local name="$1" file="$2" want="$3" cur
  if [[ ! -e "$file" ]]; then
    report SKIP "$name" "not present on this system (${file#"$P"})"
    return 0
  fi
  cur="$(read_first_line "$file")"
  _settle "$name" "$file" "$want" "$cur" "$([[ "$cur" == "$want" ]] && echo same)"
}

sysctl_set() {  # KEY WANT
  set_value "sysctl $1" "$P/proc/sys/${1//.//}" "$2"
}

# A sysfs selector file such as "always [madvise] never": the current value is the bracketed word.
set_selector() {  # NAME FILE WANT
  local name="$1" file="$2" want="$3" text cur
  if [[ ! -e "$file" ]]; then
    report SKIP "$name" "not present on this system (${file#"$P"})"
    return 0
  fi
  text="$(read_first_line "$file")"
  if [[ "$text" =~ \[([^]]+)\] ]]; then cur="${BASH_REMATCH[1]}"; else cur="$text"; fi
  _settle "$name" "$file" "$want" "$cur" "$([[ "$cur" == "$want" ]] && echo same)"
}

set_cpu_list() {  # NAME FILE WANT_LIST
  local name="$1" file="$2" want="$3" cur
  if [[ ! -e "$file" ]]; then
    report SKIP "$name" "not present on this system (${file#"$P"})"
    return 0
  fi
  cur="$(read_first_line "$file")"
  local same=""
  if valid_cpu_list "$cur" && [[ "$(expand_cpus "$cur")" == "$(expand_cpus "$want")" ]]; then same=same; fi
  _settle "$name" "$file" "$want" "$cur" "$same"
}

set_mask() {  # NAME FILE WANT_MASK
  local name="$1" file="$2" want="$3" cur
  if [[ ! -e "$file" ]]; then
    report SKIP "$name" "not present on this system (${file#"$P"})"
    return 0
  fi
  cur="$(read_first_line "$file")"
  _settle "$name" "$file" "$want" "$cur" "$([[ "$(mask_norm "$cur")" == "$(mask_norm "$want")" ]] && echo same)"
}

# A whole small config file that must have exactly this content (limits.d snippets).
set_file_content() {  # NAME FILE CONTENT
  local name="$1" file="$2" want="$3" cur=""
  [[ -e "$file" ]] && cur="$(cat "$file")"
  if [[ "$cur" == "$want" ]]; then
    report OK "$name" "${file#"$P"} in place"
    N_OK=$((N_OK + 1))
    return 0
  fi
  local state="missing"
  [[ -e "$file" ]] && state="different"
  case "$MODE" in
    dry-run) report CHANGE "$name" "${file#"$P"} $state -> write: ${want//$'\n'/ | }"; N_CHANGE=$((N_CHANGE + 1)) ;;
    check) report DIFF "$name" "${file#"$P"} $state"; N_DIFF=$((N_DIFF + 1)) ;;
    apply)
      if mkdir -p "$(dirname "$file")" 2>/dev/null && printf '%s\n' "$want" 2>/dev/null > "$file"; then
        report APPLIED "$name" "wrote ${file#"$P"}"
        N_CHANGE=$((N_CHANGE + 1))
      else
        report FAILED "$name" "cannot write ${file#"$P"}"
        N_FAILED=$((N_FAILED + 1))
      fi
      ;;
  esac
}

# A command to run on apply (only against the real root); dry-run and check just print it.
run_command() {  # NAME CMD...
  local name="$1"
  shift
  case "$MODE" in
    dry-run) report CHANGE "$name" "would run: $*"; N_CHANGE=$((N_CHANGE + 1)) ;;
    check) report DIFF "$name" "needs: $*"; N_DIFF=$((N_DIFF + 1)) ;;
    apply)
      if ! is_real_root; then
        report SKIP "$name" "not run against HFT_SYSROOT=$SYSROOT: $*"
      elif "$@"; then
        report APPLIED "$name" "ran: $*"
        N_CHANGE=$((N_CHANGE + 1))
      else
        report FAILED "$name" "failed: $*"
        N_FAILED=$((N_FAILED + 1))
      fi
      ;;
  esac
}

# ------------------------------------------------------------------------------------------- boot
boot_want() {  # PARAM (key=value or bare key)
  GRUB_WANT+=("$1")
}

boot_drop() {  # KEY
  GRUB_DROP+=("$1")
}

_param_key() {
  printf '%s\n' "${1%%=*}"
}

# The running kernel's parameters (up to "--", after which they belong to init).
_running_cmdline() {
  local f="$P/proc/cmdline" tok out=() words=()
  [[ -r "$f" ]] || return 0
  read -r -a words < "$f" || true
  for tok in "${words[@]}"; do
    [[ "$tok" == "--" ]] && break
    out+=("$tok")
  done
  printf '%s\n' "${out[*]}"
}

_grub_value() {  # the GRUB_CMDLINE_LINUX_DEFAULT value without quotes
  local f="$P/etc/default/grub" line
  [[ -r "$f" ]] || return 0
  line="$(grep -E '^GRUB_CMDLINE_LINUX_DEFAULT=' "$f" | tail -n 1 || true)"
  line="${line#GRUB_CMDLINE_LINUX_DEFAULT=}"
  line="${line#\"}"
  line="${line%\"}"
  printf '%s\n' "$line"
}

_has_param() {  # WORDS PARAM -> 0 when PARAM (exact key=value) is among WORDS
  local w
  for w in $1; do
    [[ "$w" == "$2" ]] && return 0
  done
  return 1
}

_has_key() {  # WORDS KEY -> 0 when any word has that key
  local w
  for w in $1; do
    [[ "$(_param_key "$w")" == "$2" ]] && return 0
  done
  return 1
}

# Report every wanted/dropped boot parameter against the running kernel and the grub config, then (apply)
# rewrite GRUB_CMDLINE_LINUX_DEFAULT once and regenerate the boot config.
boot_settle() {
  local running grub p key new w grubfile="$P/etc/default/grub"
  running="$(_running_cmdline)"
  grub="$(_grub_value)"
  local need_write=0
  for p in "${GRUB_WANT[@]}"; do
    if _has_param "$running" "$p" && { _has_param "$grub" "$p" || [[ ! -e "$grubfile" ]]; }; then
      report OK "boot $p" "active"
      N_OK=$((N_OK + 1))
    elif _has_param "$running" "$p"; then
      need_write=1
      case "$MODE" in
        dry-run) report CHANGE "boot $p" "active, not in /etc/default/grub -> add it (kept after reboot)"; N_CHANGE=$((N_CHANGE + 1)) ;;
        check) report DIFF "boot $p" "active now but not in /etc/default/grub (lost at reboot)"; N_DIFF=$((N_DIFF + 1)) ;;
        apply) : ;;
      esac
    elif _has_param "$grub" "$p"; then
      report PENDING "boot $p" "in /etc/default/grub, active after reboot"
      N_DIFF=$((N_DIFF + 1))
    else
      need_write=1
      case "$MODE" in
        dry-run) report CHANGE "boot $p" "not set -> add to GRUB_CMDLINE_LINUX_DEFAULT (reboot)"; N_CHANGE=$((N_CHANGE + 1)) ;;
        check) report DIFF "boot $p" "not active and not in /etc/default/grub"; N_DIFF=$((N_DIFF + 1)) ;;
        apply) : ;;
      esac
    fi
  done
  for key in "${GRUB_DROP[@]}"; do
    if _has_key "$running" "$key" || _has_key "$grub" "$key"; then
      need_write=1
      case "$MODE" in
        dry-run) report CHANGE "boot $key" "present -> remove (reboot)"; N_CHANGE=$((N_CHANGE + 1)) ;;
        check) report DIFF "boot $key" "present, should be absent"; N_DIFF=$((N_DIFF + 1)) ;;
        apply) : ;;
      esac
    fi
  done
  [[ "$MODE" == "apply" && "$need_write" == 1 ]] || return 0
  if [[ ! -e "$grubfile" ]]; then
    report FAILED "boot parameters" "no /etc/default/grub (set them in your boot loader by hand)"
    N_FAILED=$((N_FAILED + 1))
    return 0
  fi
  new=""
  for w in $grub; do
    key="$(_param_key "$w")"
    local drop=0 q
    for q in "${GRUB_WANT[@]}" "${GRUB_DROP[@]}"; do
      [[ "$(_param_key "$q")" == "$key" ]] && drop=1
    done
    ((drop)) || new+="${new:+ }$w"
  done
  for p in "${GRUB_WANT[@]}"; do
    new+="${new:+ }$p"
  done
  local tmp="$grubfile.hft-tmp"
  if grep -qE '^GRUB_CMDLINE_LINUX_DEFAULT=' "$grubfile"; then
    awk -v v="GRUB_CMDLINE_LINUX_DEFAULT=\"$new\"" \
      '/^GRUB_CMDLINE_LINUX_DEFAULT=/ { print v; next } { print }' "$grubfile" > "$tmp"
  else
    { cat "$grubfile"; printf 'GRUB_CMDLINE_LINUX_DEFAULT="%s"\n' "$new"; } > "$tmp"
  fi
  cp "$grubfile" "$grubfile.hft-backup"
  mv "$tmp" "$grubfile"
  report APPLIED "boot parameters" "GRUB_CMDLINE_LINUX_DEFAULT=\"$new\" (backup: /etc/default/grub.hft-backup)"
  N_CHANGE=$((N_CHANGE + 1))
  if is_real_root; then
    if command -v update-grub >/dev/null 2>&1; then
      POST_COMMANDS+=("update-grub")
    elif command -v grub2-mkconfig >/dev/null 2>&1; then
      POST_COMMANDS+=("grub2-mkconfig -o /boot/grub2/grub.cfg")
    else
      warn "no update-grub/grub2-mkconfig: regenerate your boot loader config by hand"
    fi
  fi
  warn "boot parameters change at the next reboot"
}

run_post_commands() {
  local c
  for c in "${POST_COMMANDS[@]}"; do
    # shellcheck disable=SC2086  # the commands are fixed strings built above, split on purpose
    run_command "post" $c
  done
}

# Summary line and exit status: check -> 1 when anything differs; apply -> 1 when anything failed.
finish() {
  printf '%s: %s mode: %d ok, %d change(s), %d differ(s), %d failed\n' \
    "${PROG:-tuning}" "$MODE" "$N_OK" "$N_CHANGE" "$N_DIFF" "$N_FAILED"
  if [[ "$MODE" == "check" ]] && ((N_DIFF > 0)); then
    return 1
  fi
  if [[ "$MODE" == "apply" ]] && ((N_FAILED > 0)); then
    return 1
  fi
  return 0
}
