# Two commands on a fresh machine:
#   make run    install into .venv and run the default pipeline (the FIT chain on the miniature world)
#   make test   install into .venv (with dev tools) and run the whole test suite + ruff
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE ?= 1
export KEDRO_DISABLE_TELEMETRY ?= 1
export SPARK_LOCAL_IP ?= 127.0.0.1

.PHONY: install install-dev run test lint viz clean-versions

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade --quiet "pip>=24"

install: $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -e .
	$(BIN)/pip install --quiet -c constraints.txt --no-deps kedro-mlflow

install-dev: $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev,spark,faces]"
	$(BIN)/pip install --quiet -c constraints.txt --no-deps face-recognition kedro-mlflow

run: install
	$(BIN)/kedro run

test: install-dev
	$(BIN)/ruff check src tests
	$(BIN)/pytest

lint: install-dev
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

viz: install
	$(BIN)/kedro viz run --host 127.0.0.1 --no-browser

# Keep the latest KEEP versions of every versioned dataset under data/ (and every version a kept
# one was made from, per its provenance record): make clean-versions KEEP=3
KEEP ?= 5
clean-versions: $(BIN)/python
	$(BIN)/python -m imitation_kedro.versions --keep $(KEEP) --data data
