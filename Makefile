# Two entry points for a fresh machine (see README): `make paper` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# hftbacktest, the peer of `hft bench backtest`, in a venv of its own (pyproject's bench-peer extra)
HBT_VENV ?= .venv-hftbacktest

.PHONY: install build paper test lint bench clean

# installs the package editable and compiles the hot-path modules with mypyc (setup.py; ~1.5 min)
$(BIN)/hft: pyproject.toml setup.py
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,fast]'
	@touch $(BIN)/hft

install: $(BIN)/hft

# recompile the mypyc modules after editing them (an old extension would shadow the edited .py; hft warns)
build: install
	$(BIN)/python -m pip install --quiet --no-deps -e .

# The main job: a bounded paper-trading session against the embedded exchange simulator.
paper: install
	$(BIN)/hft paper --duration 20

# Everything CI runs: QuickFIX (built once, cached by version), hftbacktest, ruff, mypy, the test suite.
test: install
	bash scripts/install_quickfix.sh $(BIN)/python
	bash scripts/install_hftbacktest.sh $(HBT_VENV) $(PY)
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m mypy  # [tool.mypy] in pyproject.toml: strict, over the whole of src/hft
	HFT_BENCH_HFTBACKTEST_PYTHON=$(abspath $(HBT_VENV))/bin/python $(BIN)/python -m pytest -q

bench: install
	$(BIN)/hft bench fix --json

clean:
	rm -rf $(VENV) $(HBT_VENV) build dist src/*.egg-info
	find src -name '*.so' -delete
