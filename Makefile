# One virtual environment per checkout; every target creates it on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP_CORE := $(VENV)/.core-installed
STAMP_DEV := $(VENV)/.dev-installed

.PHONY: run test lint bench clean venv

$(PY):
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(STAMP_CORE): pyproject.toml setup.py | $(PY)
	$(PIP) install -q -e .
	touch $@

$(STAMP_DEV): pyproject.toml setup.py | $(PY)
	$(PIP) install -q -e ".[dev]"
	touch $@ $(STAMP_CORE)

venv: $(STAMP_DEV)

## make run: install and answer "who wins the AI stack?" on the built-in scenario
run: $(STAMP_CORE)
	$(VENV)/bin/stackgame run

## make test: install everything and pass the tests (browser tests and the tutorial notebook
## included)
test: $(STAMP_DEV)
	$(PY) -m pytest -q --nbmake tests docs/tutorial.ipynb

## make lint: ruff format check, ruff lint (docstring rules), mypy on the packages
lint: $(STAMP_DEV)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy agents environment strategies stackgame

## make bench: throughput and memory against the anchors measured in the same run
bench: $(STAMP_DEV)
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) runs/out .pytest_cache .mypy_cache .ruff_cache
