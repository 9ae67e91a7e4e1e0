# The README's two commands, `make mock` and `make test`, each set the project up on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-stamp

HOST ?= 127.0.0.1
PORT ?= 8000
SPEED ?= 1
WORKERS ?= 1

.DEFAULT_GOAL := help
.PHONY: help install mock test check lint typecheck spec-lint spec-tools contract live drift bench soak pair clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11 or newer is needed (set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(STAMP)  ## Create .venv and install the project with its dev tools

mock: $(STAMP)  ## Serve the mock (HOST, PORT, SPEED, WORKERS; MOCK_* variables for the rest)
	$(BIN)/spark-mock --host $(HOST) --port $(PORT) --speed $(SPEED) --workers $(WORKERS)

test: $(STAMP)  ## Run the checks and the whole test suite
	$(MAKE) --no-print-directory check
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# BASE_URL, API_KEY, MAX_TASKS, TASK_TIMEOUT, POLL_INTERVAL, PROFILE, REPORT_DIR, STRICT, WEBHOOK_LISTEN and
# WEBHOOK_SECRET given on the command line reach spark-contract through the environment (make exports
# command-line variables), so neither the key nor the secret is ever echoed into a recipe line.
contract: $(STAMP)  ## Check a target against the contract (default: the bundled mock; BASE_URL=... API_KEY=...; STRICT=1)
	@$(BIN)/spark-contract

# The key comes from MULEROUTER_API_KEY in the environment only. BASE_URL, ALLOW_SPEND, ALLOW_TASKS,
# DRY_RUN, RECORD, PRICE_PER_SECOND, RATE, TASK_TIMEOUT, REPORT_DIR and STRICT are read from the environment too.
live: $(STAMP)  ## A live conformance run under the spend guard (DRY_RUN=1 prints the plan)
	@$(BIN)/spark-live

drift: $(STAMP)  ## Replay a recorded live run against the mock: make drift CASSETTE=<file> [FOLLOW=1]
	@test -n "$(CASSETTE)" || { echo "make drift needs CASSETTE=<file>"; exit 2; }
	@$(BIN)/spark-drift "$(CASSETTE)"

# The benchmarks install what they compare with: matplotlib for the plots, wrk from Debian's
# packages (as root, when it is missing), and Prism from npm (into benchmarks/.tools, by the script).
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@command -v wrk >/dev/null || { echo "installing wrk (Debian's package)"; \
		apt-get install -y -q wrk >/dev/null || sudo apt-get install -y -q wrk >/dev/null; }
	touch $@

bench: $(BENCH_STAMP)  ## Our mock, Prism and the Starlette floor under wrk; writes benchmarks/results.{md,json,png}
	$(BIN)/python -m benchmarks.bench

soak: $(BENCH_STAMP)  ## Five minutes at saturation (SOAK_SECONDS); writes benchmarks/soak.{md,json,png}
	$(BIN)/python -m benchmarks.soak

check: lint typecheck spec-lint  ## ruff, mypy and the OpenAPI validator

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

spec-lint: $(STAMP)
	$(BIN)/openapi-spec-validator spec/openapi.yaml

# Three tools that others run on the spec, each failing on any warning. They install themselves under
# $(SPEC_TOOLS): Redocly CLI and openapi-typescript from npm (Node.js 20 or newer), openapi-python-client
# in a venv of its own. Redocly overlooks only what .redocly.lint-ignore.yaml lists, and says why.
SPEC_TOOLS := $(VENV)/spec-tools
REDOCLY_CLI ?= 2.77.0
OPENAPI_TYPESCRIPT ?= 7.13.0
OPENAPI_PYTHON_CLIENT ?= 0.29.1
SPEC_TOOLS_STAMP := $(SPEC_TOOLS)/.installed-$(REDOCLY_CLI)-$(OPENAPI_TYPESCRIPT)-$(OPENAPI_PYTHON_CLIENT)

$(SPEC_TOOLS_STAMP):
	@command -v npm >/dev/null || { echo "make spec-tools needs Node.js (20 or newer) and npm"; exit 1; }
	mkdir -p $(SPEC_TOOLS)
	npm install --prefix $(SPEC_TOOLS) --no-save --no-audit --no-fund --loglevel=error \
		@redocly/cli@$(REDOCLY_CLI) openapi-typescript@$(OPENAPI_TYPESCRIPT)
	test -x $(SPEC_TOOLS)/venv/bin/python || $(PYTHON) -m venv $(SPEC_TOOLS)/venv
	$(SPEC_TOOLS)/venv/bin/python -m pip install --quiet openapi-python-client==$(OPENAPI_PYTHON_CLIENT)
	touch $@

spec-tools: $(SPEC_TOOLS_STAMP)  ## Redocly lint, openapi-typescript and openapi-python-client on the spec; fails on any warning
	@out=$$(mktemp -d); trap 'rm -rf "$$out"' EXIT; failed=""; node=$(SPEC_TOOLS)/node_modules/.bin; \
	echo "== Redocly CLI $(REDOCLY_CLI): lint, recommended rules"; \
	$$node/redocly lint spec/openapi.yaml; \
	$$node/redocly lint spec/openapi.yaml --format=json >$$out/redocly.json 2>/dev/null; \
	$(PYTHON) -c 'import json, sys; t = json.load(open(sys.argv[1]))["totals"]; sys.exit(t["errors"] + t["warnings"] > 0)' \
		$$out/redocly.json || failed="$$failed redocly"; \
	echo "== openapi-typescript $(OPENAPI_TYPESCRIPT)"; \
	$$node/openapi-typescript spec/openapi.yaml -o $$out/spark.d.ts 2>$$out/ts.err; rc=$$?; cat $$out/ts.err; \
	{ [ $$rc -eq 0 ] && [ ! -s $$out/ts.err ] && grep -q '^    createGeneration: {' $$out/spark.d.ts \
		&& grep -q '^    getGeneration: {' $$out/spark.d.ts; } || failed="$$failed openapi-typescript"; \
	echo "== openapi-python-client $(OPENAPI_PYTHON_CLIENT)"; \
	PATH="$(CURDIR)/$(SPEC_TOOLS)/venv/bin:$$PATH" $(SPEC_TOOLS)/venv/bin/openapi-python-client generate \
		--path spec/openapi.yaml --output-path $$out/python-client >$$out/opc.txt 2>&1; rc=$$?; cat $$out/opc.txt; \
	{ [ $$rc -eq 0 ] && ! grep -qv -e '^Generating ' -e '^[[:space:]]*$$' $$out/opc.txt \
		&& for op in create_generation get_generation; do \
			ls $$out/python-client/*/api/generation/$$op.py >/dev/null 2>&1 || exit 1; done; } \
		|| failed="$$failed openapi-python-client"; \
	if [ -n "$$failed" ]; then echo "== warnings or errors from:$$failed"; exit 1; fi; \
	echo "== all three read the spec without a warning, and each has both operations"

clean:  ## Remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info

pair: $(BENCH_STAMP)  ## The working tree's mock against REV's, loaded at once on one core: make pair REV=HEAD~1
	@$(BIN)/python -m benchmarks.pair
