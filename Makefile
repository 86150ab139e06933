# The README's two commands: `make demo` and `make test`. Each creates .venv and installs exactly
# what it needs from the committed lock files, so a fresh machine needs nothing else.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BASE_STAMP := $(VENV)/.base-installed
DEV_STAMP := $(VENV)/.dev-installed

.PHONY: demo test lint typecheck contracts unit bench sim clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"

$(BASE_STAMP): $(BIN)/python requirements/base.lock pyproject.toml
	$(BIN)/pip install --quiet -r requirements/base.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(DEV_STAMP): $(BASE_STAMP) requirements/dev.lock
	$(BIN)/pip install --quiet -r requirements/dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

demo: $(BASE_STAMP)
	$(BIN)/python -m bst.cli.demo

lint: $(DEV_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

contracts: $(DEV_STAMP)
	$(BIN)/lint-imports

unit: $(DEV_STAMP)
	$(BIN)/pytest -q

test: lint typecheck contracts unit

bench: $(DEV_STAMP)
	$(BIN)/python -m bench

sim: $(BASE_STAMP)
	$(BIN)/bst sim

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
