# shipstream — `make demo` runs the pipeline, `make test` runs every test. `make help` lists all.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# SECURE=1 (make up/down/status/worker/demo): the SASL_SSL stack beside the plain one, its
# state in .local/secure; clients read the settings it generates (secrets as *_FILE).
SECURE ?=
STACK := SECURE=$(SECURE) bash ops/stack.sh
WORKERS := SECURE=$(SECURE) bash ops/workers.sh
SECURE_ENV := .local/secure/client.env
CLIENT_ENV := $(if $(filter 1,$(SECURE)),set -a && . $(SECURE_ENV) && set +a &&,)

help: ## List the targets
	@grep -hE '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

# constraints.txt pins every package to the version the tests last ran with; refresh it with
# `make constraints` after changing pyproject.toml's ranges (and run the tests again).
$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11" >&2; exit 1; }
	[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,tools]'
	touch $@

constraints: venv ## Write constraints.txt from the installed .venv (after a passing `make test`)
	$(BIN)/pip freeze --exclude-editable | grep -v '^shipstream' >constraints.txt

venv: $(STAMP) ## Create .venv with shipstream and its dev tools

setup: venv ## Install everything: Python deps, Kafka and registry jars, Prometheus, kcat
	bash ops/setup.sh

up: setup ## Start Kafka, the registry and Prometheus; create topics; register schemas (SECURE=1: SASL_SSL stack)
	$(STACK) up
	$(CLIENT_ENV) $(BIN)/shipstream bootstrap

down: ## Stop workers and services; leaves no process behind
	-$(WORKERS) down
	$(STACK) down

status: ## Report services and workers
	@$(STACK) status
	@$(WORKERS) status

worker: up ## Start one more worker: make worker ROLE=processing [PORT=6070]
	$(CLIENT_ENV) $(WORKERS) start $(or $(ROLE),all) $(PORT)

lint: venv ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check streams tables tests ops
	$(BIN)/mypy streams tables

unit: venv ## Unit tests (no network)
	$(BIN)/pytest tests/unit -q

test: setup lint ## Everything: lint, schema compatibility, unit and integration tests on both stacks, the compose deployment
	$(BIN)/python -m streams.tools.cli.main schemas check --offline
	SECURE= bash ops/stack.sh up
	SECURE=1 bash ops/stack.sh up
	SECURE= $(BIN)/pytest tests -q -ra
	$(MAKE) compose-test

# tests/compose is collected only with SHIPSTREAM_COMPOSE_TEST=1, so `pytest tests` above skips it.
compose-images: setup ## Podman, the Debian base image and the images of compose.local.yaml
	bash ops/compose/local.sh setup base images

compose-test: compose-images ## Run compose.yaml (+ compose.local.yaml) under podman and check it end to end
	SHIPSTREAM_COMPOSE_TEST=1 $(BIN)/pytest tests/compose -q -ra -s --tb=short -p no:cacheprovider

compose-clean: ## Remove the compose test's containers, images and podman storage (.local/compose)
	bash ops/compose/local.sh clean

chaos-short: setup ## The short chaos run (3 kills, a scale change, a broker restart) as a test
	$(BIN)/pytest tests/integration/test_chaos.py -q -ra

demo: up ## Start the stack and all roles, drive a Black Friday surge, print a summary
	$(CLIENT_ENV) SECURE=$(SECURE) bash ops/demo.sh

CHAOS_ARGS ?= --events 100000 --rate 250 --kills 12 --scale-changes 2
chaos: setup ## Kill, scale and restart the pipeline under load on a second stack; verify (CHAOS_ARGS=...)
	$(PY) -m ops.chaos.harness $(CHAOS_ARGS)

BENCH ?= all
bench: setup ## Failover (standbys 0 vs 1), join rebalance, changelog restore, deliveries (BENCH=failover|join|restore|deliveries)
	$(PY) -m ops.bench $(BENCH)

bench-throughput: setup ## shipstream vs a raw loop and Quix Streams on 200k preloaded events (BENCH_ARGS=...)
	$(PY) -m ops.bench.throughput $(BENCH_ARGS)

.PHONY: help venv constraints setup up down status worker lint unit test compose-images compose-test compose-clean demo chaos chaos-short bench bench-throughput
