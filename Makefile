# The two commands of the README's quick start are `make demo` and `make test`.
# Each creates .venv from the package registry on first use (and again when
# pyproject.toml changes), so a fresh clone needs only Python 3.11.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-quick lint bench clean-results

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,browser]'
	touch $(STAMP)

## Set up, ingest the shipped demo study and run the whole analysis; prints where the results are.
demo: $(STAMP)
	$(BIN)/myocit demo

## Set up and run every test (the slow end-to-end ones too). `.ci/run` calls this.
test: $(STAMP)
	$(BIN)/python -m pytest

## The quick loop: everything but the slow end-to-end tests.
test-quick: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check src flows tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py
