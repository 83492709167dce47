# Everything runs in a virtual environment that this Makefile creates.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench clean-venv sandbox

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

unit: $(STAMP)
	$(BIN)/pytest

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
