# The two set-up commands are `make demo` and `make test` (see README). Everything they need is
# installed and started by the targets below, and stopped again when they end.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: demo test lint unit bench chaos venv stack-up stack-down clean

$(STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e ".[dev]"
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

venv: $(STAMP)

## Run the engine end to end: local Kafka + PostgreSQL, example rules, sample events, actions shown.
demo: venv
	stack/with-stack $(VENV)/bin/python -m cepflow.demo

## Conventions as checks: ruff (style, docstrings, exception messages, timezones, annotations),
## mypy, and the import floors (rules -> storage -> dataflow -> actions -> cepflow; see pyproject).
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

## Run the whole test suite against a real local Kafka and PostgreSQL (after the lint checks).
test: venv lint
	stack/browser.sh install
	CEPFLOW_REQUIRE_STACK=1 stack/with-stack $(VENV)/bin/python -m pytest -q -ra $(PYTEST_ARGS)

## The benchmark of BENCH.md (add ARGS=--quick for a small-scale run).
bench: venv
	stack/with-stack $(VENV)/bin/python -m bench.run $(ARGS)

## The chaos suite of issue 12: faults injected, histories checked (a few minutes; ARGS=--scale 0.3 for a quick run).
chaos: venv
	stack/with-stack $(VENV)/bin/python -m chaos.run $(ARGS)

## Only the fast tests that need no services.
unit: venv
	$(VENV)/bin/python -m pytest -q -m "not integration" $(PYTEST_ARGS)

stack-up:
	stack/up

stack-down:
	stack/down

clean:
	rm -rf .state build *.egg-info
