# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
# Prerequisites: Python >= 3.11, a JDK >= 17, Maven (see README).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: all venv stack stack-down demo test unit bench clean

all: test

$(STAMP): pyproject.toml setup.py processors/enrich/_ctext.c
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $(STAMP)

venv: $(STAMP)

stack: venv
	$(BIN)/wirewatch stack up

stack-down: venv
	$(BIN)/wirewatch stack down

demo: venv
	$(BIN)/wirewatch demo

# Unit tests and integration tests against the real local stack (started if needed;
# `make stack-down` stops it).
test: stack
	$(BIN)/pytest $(PYTEST_ARGS)

unit: venv
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

bench: stack
	$(BIN)/wirewatch bench e2e

clean: stack-down
	rm -rf $(VENV) .wirewatch
