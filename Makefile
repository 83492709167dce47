# Everything runs in a virtual environment that this Makefile creates.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench clean-venv sandbox tools

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/bluegreen demo

sandbox: $(STAMP)
	$(BIN)/bluegreen sandbox

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# Packer (docs/IMAGES.md): the bake tests run the real executable. When it is
# missing it is installed from Debian's packages (as root, or with sudo -n);
# where that is impossible the bake tests fail and say how to install it.
tools:
	@command -v packer >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi; \
	  command -v apt-get >/dev/null 2>&1 \
	    && $$SUDO apt-get update -qq \
	    && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq packer >/dev/null \
	  || echo "warning: packer is missing and could not be installed: apt-get install packer"; }

# Two workers (this machine has two cores), each with its own emulator on
# loopback; PYTEST_ARGS="-n 0" runs in one process.
PYTEST_ARGS ?= -n 2
unit: $(STAMP) tools
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck unit

# The AWS CLI (for the start-up comparison) gets a venv of its own: it pins a
# botocore of its own, which must not change the one bluegreen is tested with.
AWSCLI := .venv-awscli/bin/aws

$(AWSCLI):
	$(PYTHON) -m venv .venv-awscli
	.venv-awscli/bin/pip install --quiet awscli

bench: $(STAMP) $(AWSCLI)
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

clean-venv:
	rm -rf $(VENV)

# The reliability report (crash points, API faults, concurrency, bad input);
# `make bench` runs it too (bench/bench_reliability.py).
.PHONY: reliability
reliability: $(STAMP)
	$(BIN)/python bench/reliability.py $(BENCH_ARGS)

# Every printed policy (init, operate, teardown) in a full run on the emulator
# that enforces IAM, for every strategy, load-balancer kind, key pair and launch
# kind; `make test` runs a sample of them (docs/SECURITY.md).
.PHONY: policies
policies: $(STAMP)
	BLUEGREEN_POLICY_SWEEP=1 $(BIN)/pytest tests/test_iam_enforced.py -k full_run
