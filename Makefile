# Everything runs inside .venv, created on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test lint bench venv clean zone-check-demo

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

# The main job until the resolver exists: verify a bundled signed zone.
zone-check-demo: $(STAMP)
	$(PY) -m resolver zone-check tests/data/interop/zones/rsasha256.test.db \
		--origin rsasha256.test. --at 2026-11-28T16:00:00Z \
		--anchor tests/data/interop/ds/rsasha256.test.ds
	-$(PY) -m resolver zone-check tests/data/interop/zones/bogus-sig.test.db \
		--origin bogus-sig.test. --at 2026-11-28T16:00:00Z

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
