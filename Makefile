# The two commands of the README's quick start are `make demo` and `make test`.
# Each creates .venv on first use (and again when the lock changes) from requirements.lock:
# every package at its locked version, checked against its hashes, then this project itself
# without dependencies. A fresh clone needs only Python 3.11 and the package registry.
# pyproject.toml keeps compatible ranges for people who install the package elsewhere;
# `make lock` re-resolves them into requirements.lock (needs the registry, pypi.org).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements.lock
# the resolver used by `make lock`, in its own venv (not part of the locked environment)
LOCK_TOOLS := .lock-tools
UV_SPEC    := uv>=0.9,<1
INDEX      := https://pypi.org/simple

.PHONY: demo test test-quick lint bench clean-results lock

$(STAMP): $(LOCK) pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@$(BIN)/python -m pip check || { echo "pyproject.toml needs packages that $(LOCK) lacks: run make lock"; exit 1; }
	$(BIN)/myocit --version
	touch $(STAMP)

## Re-resolve pyproject.toml's ranges (with the test and browser extras) into requirements.lock,
## pinned with the hashes of every file on the registry, for Python 3.11 on any platform.
## Pins already in the lock are kept while pyproject.toml allows them (a new dependency is
## added, a dropped one removed); `make lock UPGRADE=1` moves every package to its newest version.
lock:
	$(PYTHON) -m venv $(LOCK_TOOLS)
	$(LOCK_TOOLS)/bin/python -m pip install --quiet '$(UV_SPEC)'
	if [ -f $(LOCK) ]; then cp $(LOCK) $(LOCK).new; else rm -f $(LOCK).new; fi
	$(LOCK_TOOLS)/bin/uv pip compile pyproject.toml --extra test --extra browser --generate-hashes \
	    --universal --python-version 3.11 --no-config --index-url $(INDEX) \
	    --custom-compile-command "make lock" $(if $(UPGRADE),--upgrade) --quiet -o $(LOCK).new
	mv $(LOCK).new $(LOCK)
	@echo "$(LOCK) refreshed; the next make demo / make test re-installs .venv from it"

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
