# Everything runs inside .venv, created on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test lint bench venv clean demo conformance run

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check resolver tests
	$(VENV)/bin/mypy resolver

bench: $(STAMP)
	$(PY) -m tests.bench.run

# Every conformance suite, one line each ("suite: N passed, M failed").
conformance: $(STAMP)
	$(PY) tests/conformance/run_all.py

# The main job: the signed test network, the resolver on a loopback port, and a tour
# of secure, insecure and bogus answers (no internet needed).
demo: $(STAMP)
	$(PY) -m resolver demo

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
