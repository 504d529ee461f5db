# Everything runs inside .venv, created on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test lint bench venv clean demo conformance run fuzz

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

# A long forgery-fuzzing campaign (issue 13): an attacker on the path tampers with
# the signed test hierarchy's replies; the resolver must answer the genuine data,
# secure, or SERVFAIL. The seed is printed; FORGERY_SEED=<seed> replays a run.
FORGERY_CASES ?= 50000
FORGERY_SECONDS ?= 1200
fuzz: $(STAMP)
	FORGERY_CASES=$(FORGERY_CASES) FORGERY_SECONDS=$(FORGERY_SECONDS) \
		$(PY) -m pytest -s tests/validation/test_forgery_fuzz.py

# Production mode: the real root (IANA hints and anchors, kept up to date by RFC 5011)
# on 127.0.0.1 and ::1; needs internet access, and root for port 53 (or PORT=5353).
PORT ?= 53
STATE ?= $(CURDIR)/.state/root-anchors.json
run: $(STAMP)
	mkdir -p $(dir $(STATE))
	$(PY) -m resolver serve --listen 127.0.0.1:$(PORT) --listen [::1]:$(PORT) \
		--api 127.0.0.1:8053 --auto-trust-anchor-file $(STATE)

# Every conformance suite, one line each ("suite: N passed, M failed").
conformance: $(STAMP)
	$(PY) tests/conformance/run_all.py

# The main job: the signed test network, the resolver on a loopback port, and a tour
# of secure, insecure and bogus answers (no internet needed).
demo: $(STAMP)
	$(PY) -m resolver demo

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
