# Residual Lab: `make run` serves the app, `make test` runs every test.
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test lint bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	# The same two steps as the Dockerfile: torch first (2.13.0 is the CPU
	# build here), then the project with its test tools.
	$(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e '.[test]'
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/residual-lab serve --host $(HOST) --port $(PORT)

lint: install
	$(VENV)/bin/ruff check app tests bench
	$(VENV)/bin/ruff format --check app tests bench
	$(VENV)/bin/hadolint Dockerfile

test: install lint
	$(VENV)/bin/pytest -ra

bench: install
	$(PY) bench/paired_training.py

clean:
	rm -rf $(VENV) artifacts .pytest_cache
