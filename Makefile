# The two set-up commands of the README: `make demo` (the whole platform locally) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEPLAT := $(BIN)/deplat

.PHONY: install up down demo test test-fast lint bench clean chromium

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

up: install
	$(DEPLAT) local up

down:
	$(DEPLAT) local down

# The main job, as one resumable command: local stack, infrastructure on moto, seeded sources and
# their DMS capture, artifacts, every pipeline with its DQ gates, catalog, Lake Formation, maintenance
# and a sample query, then the summary. After a failure, `deplat runbook --resume` continues from it.
demo: install
	$(DEPLAT) runbook
	$(DEPLAT) report

# The full test suite, including the Spark, Terraform and local-stack suites.
test: up chromium
	$(BIN)/pytest -q

test-fast: install
	$(BIN)/pytest -q -m "not integration and not spark and not terraform"

# mypy checks pyproject's [tool.mypy] files: the CLI side (src/deplat) and the job side (src/deplat_job).
lint: install
	$(BIN)/ruff check src jobs tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy

bench: install
	$(BIN)/python benchmarks/cli_startup.py

# Headless Chromium (Debian's package) renders `deplat report` in its test; installed once.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium:
	command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

clean: down
	rm -rf .deplat
