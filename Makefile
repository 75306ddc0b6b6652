# One-command setup, run and test. `make repro` and `make test` are the README's two commands.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup repro test bench browser

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[test]"
	touch $@

setup: $(VENV)/.installed browser .cache/nltk_data/.ready

.cache/nltk_data/.ready: $(VENV)/.installed
	$(BIN)/python -m stages.text.nltk_setup
	touch $@

# Headless Chromium (study-page tests) and strace (the no-network test): installed from Debian when missing
# and we may (root + apt-get).
browser:
	@if ! { command -v chromium && command -v chromedriver && command -v strace; } >/dev/null 2>&1 \
		&& command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver strace; \
	fi

# One Prefect server for every stage (PREFECT_API_URL's when set), stopped when dvc ends, however it ends.
repro: $(VENV)/.installed .cache/nltk_data/.ready
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m tasks.prefect_server $(BIN)/dvc repro

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/engine.py
	$(BIN)/python benchmarks/speed.py
	$(BIN)/python benchmarks/twins.py
	$(BIN)/python benchmarks/learned.py
	$(BIN)/python benchmarks/masks.py
