# Everything runs inside .venv, created on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test lint bench venv clean demo

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

# The main job until the resolver exists: verify signed zones (signed by BIND/ldns,
# not by us) with our own DNSSEC code, one good and two broken.
AT := 2026-11-28T16:00:00Z
demo: $(STAMP)
	@echo "== a good zone, with its DS from the parent as anchor =="
	$(PY) -m resolver zone-check tests/data/interop/zones/rsasha256.test.db \
		--at $(AT) --anchor tests/data/interop/ds/rsasha256.test.ds
	@echo; echo "== corrupted signatures (exit status 1 expected) =="
	-$(PY) -m resolver zone-check tests/data/interop/zones/bogus-sig.test.db --at $(AT)
	@echo; echo "== expired signatures (exit status 1 expected) =="
	-$(PY) -m resolver zone-check tests/data/interop/zones/expired.test.db --at $(AT) | tail -3

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
