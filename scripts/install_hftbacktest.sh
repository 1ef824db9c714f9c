#!/usr/bin/env bash
# Make hftbacktest (the peer of `hft bench backtest`) importable in its own virtualenv.
#   scripts/install_hftbacktest.sh VENV_DIR [PYTHON]
# The requirement is the project's `bench-peer` extra in pyproject.toml (one pinned range, read from
# there). It gets a venv of its own because it pins numpy and numba below what the project runs with,
# and the benchmark runs it in a separate process that never imports hft. Then:
#   hft bench backtest --hftbacktest-python VENV_DIR/bin/python
# 1. nothing to do if VENV_DIR/bin/python already imports hftbacktest and numba at a version the
#    requirement allows;
# 2. else create the venv with PYTHON (default python3) and pip install the requirement (~35 s, ~0.9 GB).
# Exits non-zero when hftbacktest cannot be made importable.
set -euo pipefail

VENV="${1:?usage: $0 VENV_DIR [PYTHON]}"
PY="${2:-python3}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { echo "[install_hftbacktest] $*"; }

REQ="$("$PY" - "$HERE/../pyproject.toml" <<'EOF'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    extra = tomllib.load(f)["project"]["optional-dependencies"]["bench-peer"]
print(next(r for r in extra if r.startswith("hftbacktest")))
EOF
)"

check() {
    [[ -x "$VENV/bin/python" ]] || return 1
    "$VENV/bin/python" - "$REQ" <<'EOF' >/dev/null 2>&1
import sys
from importlib.metadata import version
from packaging.requirements import Requirement
import hftbacktest, numba  # noqa: F401  (both import: numba compiles the benchmark's strategy)
sys.exit(0 if Requirement(sys.argv[1]).specifier.contains(version("hftbacktest")) else 1)
EOF
}

if check; then
    log "$REQ already importable by $VENV/bin/python; nothing to do"
    exit 0
fi

START=$(date +%s)
[[ -x "$VENV/bin/python" ]] || "$PY" -m venv "$VENV"
log "installing '$REQ' into $VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "$REQ" packaging
if ! check; then
    log "ERROR: '$REQ' installed but 'import hftbacktest, numba' fails in $VENV/bin/python"
    "$VENV/bin/python" -c "import hftbacktest, numba" || true
    exit 1
fi
log "$REQ importable by $VENV/bin/python ($(( $(date +%s) - START ))s)"
