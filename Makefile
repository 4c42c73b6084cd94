# diskdr: `make demo` runs the main job on the offline twin; `make test` runs the tests.
# Every target installs what it needs (venv, pip and npm packages) on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# checkov lives in its own venv (requirements-checkov.txt says why).
CHECKOV_VENV := $(VENV)/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

.PHONY: demo test lint format bench clean venv

venv: $(STAMP) $(CHECKOV_STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

$(CHECKOV_STAMP): requirements-checkov.txt | $(STAMP)
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	touch $(CHECKOV_STAMP)

demo: $(STAMP)
	@echo '== 1. the sample policies: validation and a 30-day simulation (diskdr validate / simulate)'
	$(PY) -m diskdr validate policies.sample.yaml
	$(PY) -m diskdr simulate policies.sample.yaml --days 30
	@echo '== 2. the backup capability on the offline twin'
	$(PY) -m twin.demo

test: $(STAMP) $(CHECKOV_STAMP)
	$(PY) -m pytest -q --durations=15 tests

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

bench: $(STAMP)
	$(PY) bench/retention.py
	$(PY) bench/devhost_fanout.py
	$(PY) bench/backup_cycle.py
	$(PY) bench/emulator_rps.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .state .demo
