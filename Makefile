# One-command setup, run and test. `make repro` and `make test` are the README's two commands.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup repro test bench

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[test]"
	touch $@

setup: $(VENV)/.installed .cache/nltk_data/.ready

.cache/nltk_data/.ready: $(VENV)/.installed
	$(BIN)/python -m stages.nltk_setup
	touch $@

repro: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/engine.py
	$(BIN)/python benchmarks/twins.py
