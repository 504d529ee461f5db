"""Micro-benchmarks (``make bench``); never collected by ``make test``."""
