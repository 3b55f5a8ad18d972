# inventory-sync — every command a developer or CI needs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SHARED := ../shared

.PHONY: help venv lint test check demo lock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): requirements/dev.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --require-hashes -r requirements/dev.lock
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

venv: $(STAMP) ## create .venv from the lock file (only when it changed)

lint: venv ## ruff, mypy --strict, the layer contracts, and the GraphQL documents
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo
	@if [ -x $(SHARED)/tools/check-graphql ]; then $(BIN)/python $(SHARED)/tools/check-graphql graphql; \
	else echo "check-graphql: $(SHARED) not present, skipped (tests check the documents against the emulators' schemas)"; fi

test: lint ## the gates above, then the whole test suite
	$(BIN)/pytest -q

check: test ## exactly what CI runs

demo: venv ## run the job against the bundled emulators: full sync, change, delta sync
	$(BIN)/python -m tests.demo

lock: ## re-pin requirements/*.lock from pyproject.toml (needs uv)
	uv pip compile pyproject.toml --generate-hashes --python-version 3.11 -o requirements/runtime.lock -q
	uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements/dev.lock -q

clean: ## remove the venv, caches and demo output
	rm -rf $(VENV) .demo .mypy_cache .ruff_cache .pytest_cache
