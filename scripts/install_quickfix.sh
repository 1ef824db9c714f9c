#!/usr/bin/env bash
# Make `import quickfix` (1.16.0) work in the given interpreter, fast.
#   scripts/install_quickfix.sh PYTHON
# 1. nothing to do if PYTHON can already import quickfix;
# 2. else install a cached wheel from ${HFT_WHEEL_CACHE:-$HOME/.cache/hft/wheels} built for this interpreter;
# 3. else download the sdist, build a wheel with parallel compilation (scripts/build_quickfix_wheel.py,
#    jobs = nproc, CFLAGS=-O1), store it in the cache and install it.
# Exits non-zero when quickfix cannot be made importable.
set -euo pipefail

PY="${1:?usage: $0 PYTHON}"
VERSION=1.16.0
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${HFT_WHEEL_CACHE:-$HOME/.cache/hft/wheels}"
log() { echo "[install_quickfix] $*"; }

if "$PY" -c "import quickfix" >/dev/null 2>&1; then
    log "quickfix already importable by $PY; nothing to do"
    exit 0
fi

PYTAG="$("$PY" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')"
PLAT="$("$PY" -c 'import sysconfig; print(sysconfig.get_platform().replace("-", "_").replace(".", "_"))')"
WHEEL_NAME="quickfix-${VERSION}-${PYTAG}-${PYTAG}-${PLAT}.whl"
CACHED="${CACHE}/${WHEEL_NAME}"

install_wheel() {
    log "installing $1"
    "$PY" -m pip install --quiet --no-deps --force-reinstall "$1"
    if ! "$PY" -c "import quickfix" >/dev/null 2>&1; then
        log "ERROR: $1 installed but 'import quickfix' still fails"
        "$PY" -c "import quickfix" || true
        return 1
    fi
    log "quickfix ${VERSION} importable by $PY"
}

if [[ -f "$CACHED" ]]; then
    log "using cached wheel $CACHED"
    install_wheel "$CACHED"
    exit 0
fi

log "no cached wheel $CACHED; building quickfix ${VERSION} from source"
START=$(date +%s)
WORK="$(mktemp -d "${TMPDIR:-/tmp}/hft-quickfix.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

"$PY" -m pip install --quiet "setuptools>=68" wheel
log "downloading the source archive"
"$PY" -m pip download --quiet --no-binary :all: --no-deps "quickfix==${VERSION}" -d "$WORK"
SDIST="$WORK/quickfix-${VERSION}.tar.gz"
tar -xzf "$SDIST" -C "$WORK"
JOBS="$(nproc 2>/dev/null || echo 2)"
log "compiling with $JOBS parallel jobs (CFLAGS=-O1)"
CFLAGS="${CFLAGS:--O1}" "$PY" "$HERE/build_quickfix_wheel.py" --src "$WORK/quickfix-${VERSION}" \
    --out "$WORK/dist" --jobs "$JOBS"
BUILT="$(find "$WORK/dist" -maxdepth 1 -name "quickfix-${VERSION}-*.whl" -print -quit)"
if [[ -z "$BUILT" ]]; then
    log "ERROR: build produced no wheel"
    exit 1
fi
mkdir -p "$CACHE"
# copy then rename: a concurrent reader never sees a half-written wheel
cp "$BUILT" "$CACHED.tmp.$$"
mv -f "$CACHED.tmp.$$" "$CACHED"
log "built and cached $CACHED in $(( $(date +%s) - START ))s"
install_wheel "$CACHED"
