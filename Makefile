# replysla: every command a developer or CI needs. The first run makes .venv (the project, with
# Python 3.12 like the Lambda runtime), .tools (SAM CLI and checkov, whose pins clash with the
# project's) and node_modules (DynamoDB Local).
SHELL := /bin/bash
PYENV_ROOT ?= $(HOME)/.pyenv
PYTHON ?= $(firstword $(wildcard $(PYENV_ROOT)/versions/3.12*/bin/python3.12) $(shell command -v python3.12 2>/dev/null) python3)
TOOLS_PYTHON ?= $(firstword $(shell command -v python3.11 2>/dev/null) $(PYTHON))
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .tools
OUT ?= demo-output
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# sam build must find the runtime's interpreter on PATH.
export PATH := $(dir $(PYTHON)):$(PATH)

.PHONY: help install tools node browser demo test test-unit lint format check pr clean bench bench-faults

help:
	@echo "make demo   run the whole pipeline locally on a simulated week (writes $(OUT)/)"
	@echo "make test   run every offline test (unit, integration, template checks)"
	@echo "make lint   ruff, ruff format --check and mypy --strict"
	@echo "make check  lint and test"

$(BIN)/.installed: pyproject.toml shared/requirements.txt
	@test -x "$(PYTHON)" || command -v "$(PYTHON)" >/dev/null || { echo "Python 3.12 not found (set PYTHON=...)"; exit 2; }
	@echo "Creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

$(TOOLS)/.installed:
	@echo "Creating $(TOOLS) (SAM CLI, cfn-lint, checkov)"
	$(TOOLS_PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --upgrade pip
	$(TOOLS)/bin/pip install --quiet 'aws-sam-cli>=1.120' 'cfn-lint>=1.20' 'checkov>=3.2'
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install: $(BIN)/.installed
tools: $(TOOLS)/.installed
node: node_modules/.installed

# Headless Chromium renders the HTML report in a test (Debian's package, as root or with sudo).
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
		echo "Installing Chromium (Debian package chromium) for the HTML report test"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
			chromium >/dev/null; }

demo: install
	$(BIN)/replysla demo --out $(OUT)

test: install tools node browser
	$(BIN)/pytest --cov --cov-report=term:skip-covered -q

test-unit: install
	$(BIN)/pytest -q tests/unit

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared/reply_sla functions

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

check: lint test

pr: check

# Every benchmark with its target (bench/run_all.py; docs/benchmarks.md); exits 1 on a miss.
bench: install tools node
	$(BIN)/python bench/run_all.py

# The fault-injection test with 10,000 examples (make test runs 300).
bench-faults: install node
	FAULT_EXAMPLES=10000 $(BIN)/pytest -q tests/integration/test_faults.py

# `sam build` (template.yaml: ReplySlaLayer, BuildMethod makefile) runs this in a copy of shared/
# with ARTIFACTS_DIR set: the hash-pinned lock for the Lambda platform, the package, and .pyc
# compiled by the runtime's Python as unchecked-hash (valid on Lambda's read-only file system).
build-ReplySlaLayer:
	$(PYTHON) -m pip install --quiet --no-deps --require-hashes --only-binary=:all: \
		--platform manylinux2014_x86_64 --implementation cp --python-version 3.12 \
		--target "$(ARTIFACTS_DIR)/python" \
		-r "$(abspath $(dir $(firstword $(MAKEFILE_LIST))))/infra/layer-requirements.lock"
	rm -rf "$(ARTIFACTS_DIR)/python/reply_sla"
	cp -R reply_sla "$(ARTIFACTS_DIR)/python/reply_sla"
	find "$(ARTIFACTS_DIR)/python" -name __pycache__ -prune -exec rm -rf {} +
	$(PYTHON) -m compileall -q -j 0 --invalidation-mode unchecked-hash "$(ARTIFACTS_DIR)/python"

clean:
	rm -rf $(VENV) $(TOOLS) node_modules .aws-sam $(OUT) .pytest_cache .mypy_cache .ruff_cache .coverage
