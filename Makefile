# Every target sets itself up: a fresh clone needs only python3 (3.11+) and node on PATH.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
CHECKOV := .tools/checkov/bin/checkov
ENV ?= dev

# A venv without .pyc files recompiles the 2,200-module provider on every import (DESIGN §3).
unexport PYTHONDONTWRITEBYTECODE
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: setup system-deps lint synth test test-cdktn diagram bench-synth bench-migrate bench-cutover rehearse clean

setup: $(INSTALLED) $(CHECKOV)

$(INSTALLED): pyproject.toml setup.py migrate/_plain.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev,cdktn]'
	touch $@

# checkov pins its own boto3/pydantic range; a venv of its own keeps it from dictating ours.
$(CHECKOV): tools/checkov-requirements.txt
	test -x .tools/checkov/bin/python || $(PYTHON) -m venv .tools/checkov
	.tools/checkov/bin/pip install -q --disable-pip-version-check -r tools/checkov-requirements.txt
	touch $@

# ENGINE=cdktn synthesizes with CDK Terrain (docs/engines.md); unset: the environment file's choice, else cdktf.
synth: $(INSTALLED)
	$(BIN)/infra synth --env $(ENV) $(if $(ENGINE),--engine $(ENGINE))

# The system tools the suite needs, before anything is set up: installed when root with apt-get, else one
# line naming what is missing and the command that installs it (docs/testing.md "A fresh machine").
system-deps:
	@PYTHON=$(PYTHON) tools/system-deps

test: system-deps lint $(CHECKOV)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# ruff's rules and line length are in pyproject.toml; `$(BIN)/ruff format .` fixes what the second line reports.
lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The proofs of the synthesized JSON (checkov, terraform validate, the lite rehearsal, synth) once more,
# on CDK Terrain's output; `make test` already proves both engines' JSON equal. .ci/run runs both.
test-cdktn: system-deps $(INSTALLED) $(CHECKOV)
	DUEWIN_ENGINE=cdktn $(BIN)/python -m pytest -m engines $(PYTEST_ARGS)

# The README's picture, drawn from prod's synthesized stacks (needs Graphviz); commit it when it changes.
diagram: $(INSTALLED)
	$(BIN)/infra graph --overview --env prod --format png --out docs/architecture-prod.png

bench-synth: $(INSTALLED)
	$(BIN)/python bench/synth.py $(BENCH_ARGS)

bench-migrate: $(INSTALLED)
	$(BIN)/python bench/migrate.py $(BENCH_ARGS)

bench-cutover: $(INSTALLED)
	$(BIN)/python bench/cutover.py $(BENCH_ARGS)

clean:
	rm -rf cdktf.out .pytest_cache

# Every stack of ENV applied, re-planned and destroyed against moto on 127.0.0.1 (docs/testing.md "Deploy rehearsal").
rehearse: $(INSTALLED)
	$(BIN)/infra rehearse --env $(ENV)
