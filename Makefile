# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck imports unit emulator bench clean

$(STAMP): requirements.txt requirements-demo.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/tgstream demo

emulator: $(STAMP)
	$(BIN)/tgstream emulator

bench: $(STAMP)
	$(BIN)/tgstream bench

lint: $(STAMP)
	$(BIN)/ruff check tgstream tgemu tgbench tests
	$(BIN)/ruff format --check tgstream tgemu tgbench tests

typecheck: $(STAMP)
	$(BIN)/mypy

# The import contracts in pyproject.toml: layers, the product alone, no cycles.
imports: $(STAMP)
	$(BIN)/lint-imports

test: lint typecheck imports
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
