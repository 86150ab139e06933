# The README's two commands: `make demo` and `make test`. Each creates .venv and installs exactly
# what it needs from the committed lock files, so a fresh machine needs nothing else.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BASE_STAMP := $(VENV)/.base-installed
DEV_STAMP := $(VENV)/.dev-installed

.PHONY: demo test lint typecheck contracts browser unit bench sim clean

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

# The report's browser test opens a report in headless Chromium (Debian's package). Installed here
# when it is missing and apt-get can run as root; elsewhere (or if the install fails) the test
# skips and says why, except under BST_REQUIRE_SERVICES=1 (CI), where it fails.
browser:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's chromium for the report's browser test (apt-get)"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
			|| echo "could not install chromium: the report's browser test will skip (or fail in CI)"; \
	else \
		echo "chromium is missing and apt-get cannot run here (not root): the report's browser test will skip"; \
	fi

test: lint typecheck contracts browser unit

bench: $(DEV_STAMP)
	$(BIN)/python -m bench

sim: $(BASE_STAMP)
	$(BIN)/bst sim

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
