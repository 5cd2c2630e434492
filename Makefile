# Two set-up commands on a fresh machine: `make demo` and `make test`. Each creates .venv and
# installs the pinned dependencies first (a stamp file skips that when nothing changed).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Mozilla ical.js, an independent parser the feed tests check every calendar with (npm, lockfile).
NODE_STAMP := tests/js/node_modules/.installed
OUT ?= out

.PHONY: demo test check lint typecheck imports bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

$(NODE_STAMP): tests/js/package.json tests/js/package-lock.json
	cd tests/js && npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

demo: $(STAMP)
	$(BIN)/quietday demo --out $(OUT)/demo

test: $(STAMP) $(NODE_STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

check: lint typecheck imports test

# The feed benchmark loads the server with wrk, from Debian's packages.
bench: $(STAMP)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/quietday bench --out $(OUT)/bench

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .mypy_cache .ruff_cache
