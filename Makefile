# Two entry points for a fresh machine (see README): `make paper` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install paper test lint bench clean

$(BIN)/hft: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,fast]'
	@touch $(BIN)/hft

install: $(BIN)/hft

# The main job: a bounded paper-trading session against the embedded exchange simulator.
paper: install
	$(BIN)/hft paper --duration 20

# Everything CI runs: QuickFIX (built once, cached by version), ruff, the test suite.
test: install
	bash scripts/install_quickfix.sh $(BIN)/python
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/hft bench fix --json

clean:
	rm -rf $(VENV) build dist src/*.egg-info
