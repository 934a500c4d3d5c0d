# Two commands: `make run` (serve the demo status page) and `make test` (lint, then the whole suite).

PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint install clean bench

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is needed (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

install: $(STAMP)

run: install
	$(BIN)/statuspage db upgrade
	$(BIN)/statuspage db seed-demo
	@# The on-call worker runs beside the web server and stops with it: it fires escalation
	@# deadlines and reminders (printing each page) and delivers the outbox (Slack, webhooks).
	@trap 'kill 0' EXIT INT TERM; \
	$(BIN)/incident watch & \
	$(BIN)/statuspage serve --host $(HOST) --port $(PORT)

# Lint first, then the suite: SQLite always; PostgreSQL too when TEST_DATABASE_URL is set. Two
# pytest processes per core: many tests spend their time waiting on servers and subprocesses.
test: install lint
	$(BIN)/python -m pytest -n $(shell echo $$(( $$(nproc 2>/dev/null || echo 2) * 2 )))

# ruff, and mypy with the settings in pyproject.toml (strict for statuspage/domain/ and statuspage/read/).
lint: install
	$(BIN)/ruff check statuspage incident_cli tests bench
	$(BIN)/mypy statuspage incident_cli

# Throughput, freshness and CLI timings against baselines; writes bench/results/latest.md.
bench: install
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) var .pytest_cache
