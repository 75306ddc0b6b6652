# One-command setup, run and test. `make repro` and `make test` are the README's two commands.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup repro test bench browser lock verify

# Every package at the version and hash of requirements.lock, then the project itself without dependencies.
$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes -r requirements.lock
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	touch $@

# Refresh the lock: the newest releases pyproject.toml's ranges allow, torch held at the CPU build 2.13.0.
lock: $(VENV)/.installed
	$(BIN)/pip install -q pip-tools==7.7.0
	$(BIN)/pip-compile -q --generate-hashes --allow-unsafe --strip-extras --extra test --no-emit-index-url \
		--no-emit-find-links --upgrade --upgrade-package torch==2.13.0 -o requirements.lock pyproject.toml

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

# dvc repro in a fresh clone of the committed state, empty caches: every output hash that differs from
# the committed dvc.lock, by stage (exit 1 when any does).
verify: $(VENV)/.installed
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m tasks.verify

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/engine.py
	$(BIN)/python benchmarks/speed.py
	$(BIN)/python benchmarks/twins.py
	$(BIN)/python benchmarks/learned.py
	$(BIN)/python benchmarks/masks.py
	$(BIN)/python benchmarks/fvd.py
