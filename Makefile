# The two set-up commands of the README: `make demo` (the whole platform locally) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEPLAT := $(BIN)/deplat

.PHONY: install up down demo test test-fast lint bench clean

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

# The main job: local stack, infrastructure on moto, seeded sources, artifacts, every pipeline.
demo: up
	$(DEPLAT) doctor
	$(DEPLAT) infra apply --yes
	$(DEPLAT) local seed
	$(DEPLAT) local dms-capture --sample-changes 10
	$(DEPLAT) deploy
	$(DEPLAT) run all --wait

# The full test suite, including the Spark, Terraform and local-stack suites.
test: up
	$(BIN)/pytest -q

test-fast: install
	$(BIN)/pytest -q -m "not integration and not spark and not terraform"

lint: install
	$(BIN)/ruff check src jobs tests benchmarks

bench: install
	$(BIN)/python benchmarks/cli_startup.py

clean: down
	rm -rf .deplat
