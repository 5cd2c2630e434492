# Two set-up commands on a fresh machine: `make demo` and `make test`. Each creates .venv and
# installs the pinned dependencies first (a stamp file skips that when nothing changed).
PYTHON ?= python3
# Where the environment sets PYTHONDONTWRITEBYTECODE, every Python process compiles each module
# it imports again (`quietday --help`: 2.4 s, 0.7 s from bytecode; so did each worker process of
# a decomposed solve). Written by the first, the bytecode serves every later process.
unexport PYTHONDONTWRITEBYTECODE
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Mozilla ical.js, an independent parser the feed tests check every calendar with (npm, lockfile).
NODE_STAMP := tests/js/node_modules/.installed
# Apache ECharts, Swagger UI and ReDoc, which the dashboard and /docs, /redoc serve themselves
# (npm, lockfile in web/; no CDN).
WEB_STAMP := web/node_modules/.installed
OUT ?= out

.PHONY: demo serve test browser docker deploy-test check lint typecheck imports bench bench-scale bench-load bench-distributed bench-sampling bench-feeds clean

# uv (pinned, from PyPI) installs the pinned dependencies in parallel: about 10 s where pip
# took 50 s on this machine.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]'
	touch $(STAMP)

$(NODE_STAMP): tests/js/package.json tests/js/package-lock.json
	cd tests/js && npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

$(WEB_STAMP): web/package.json web/package-lock.json web/.npmrc
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $(WEB_STAMP)

# The dashboard's browser tests drive Debian's chromium (never Playwright's own download) and
# need a CJK font for the Chinese pages; without root they skip locally (and fail under CI).
browser:
	@if [ -x /usr/bin/chromium ] && fc-list :lang=zh 2>/dev/null | grep -q .; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium fonts-noto-cjk; \
	else echo "缺少 chromium 或中文字体(apt-get install chromium fonts-noto-cjk): 浏览器测试将跳过"; fi

# Docker Engine (Debian's docker.io, dockerd started when none answers), debootstrap and Compose
# v2 (trixie's docker-compose .deb; bookworm's is v1), for the deployment test; root only.
docker:
	@if [ "$$(id -u)" = 0 ]; then tests/standins/engine.sh; \
	else echo "不是 root: 不安装 Docker; 没有 Docker 引擎时部署测试将跳过"; fi

# The deployment test alone (about 5 minutes): compose.yaml's whole stack built, started, broken
# and torn down (tests/system/test_deploy_stack.py); upstream images that no registry gives are
# built from Debian's packages first (tests/standins/build.sh). `make test` runs it too.
deploy-test: $(STAMP) docker
	$(BIN)/pytest tests/system/test_deploy_stack.py

demo: $(STAMP) $(WEB_STAMP)
	$(BIN)/quietday demo --out $(OUT)/demo

# Serve the demo's database again (after `make demo`), unless QUIETDAY_DATABASE_URL says otherwise.
serve: $(STAMP) $(WEB_STAMP)
	QUIETDAY_DATABASE_URL="$${QUIETDAY_DATABASE_URL:-sqlite:///$(OUT)/demo/quietday.db}" $(BIN)/quietday serve

test: $(STAMP) $(NODE_STAMP) $(WEB_STAMP) browser docker
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

check: lint typecheck imports test

# The feed benchmark loads the server with wrk, from Debian's packages; the dashboard's opens
# pages in Debian's chromium.
bench: $(STAMP) $(WEB_STAMP) browser
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m benchmarks --out $(OUT)/bench

# Province scale (the year's CP-SAT solve alone took 924-1,198 s here, its last stage 556-740):
# 100,000 enterprises for a quarter (also beside a busy core, verified) and 1,000,000 for a
# year, generated once into $(OUT)/bench-scale, solved, checked, each figure beside its target.
bench-scale: $(STAMP)
	$(BIN)/python -m benchmarks --only scale --out $(OUT)/bench-scale

# Load (about 3 minutes): 200 wrk clients polling feeds and submitting plans for a minute against
# two API processes on PostgreSQL while a `quietday worker` solves a run.
bench-load: $(STAMP)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m benchmarks --only load --out $(OUT)/bench-load

# Feed polls against a bare FastAPI endpoint answering the same bytes from memory (about 6
# minutes): same worker count, wrk -t2 -c64 10 s, two rounds; full answers and 304s, on SQLite
# and PostgreSQL with 10,000 subscriptions; each ratio printed beside its target (0.8).
bench-feeds: $(STAMP)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m benchmarks --only feeds-ratio --out $(OUT)/bench-feeds

# The 100,000-enterprise quarter in PostgreSQL, one deterministic run on the queue solved by one
# quietday worker, then by two: the speed-up and whether the schedules are the same.
bench-distributed: $(STAMP)
	$(BIN)/python -m benchmarks --only distributed --out $(OUT)/bench-distributed

# 双随机 (about 4 minutes): the demo province and the 100,000-enterprise quarter with their
# routine inspections drawn at the same ratios per risk class, coordinated and independent, each
# solved: door-openings and joint visits side by side, and the draws alone over 20 seeds.
bench-sampling: $(STAMP)
	$(BIN)/python -m benchmarks --only sampling --out $(OUT)/bench-sampling

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .mypy_cache .ruff_cache
