"""Plain in-process counters and histograms, read at scrape time.

The hot paths (the UDP fast path, every upstream query) only do a dictionary
increment here; :mod:`resolver.metrics` turns these into Prometheus families when
``/metrics`` is scraped. Labels are low-cardinality by construction: callers pass
types and rcodes through :func:`qtype_label` and never pass names.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field

COMMON_TYPES = frozenset({"A", "AAAA", "MX", "TXT", "TLSA", "SMIMEA", "OPENPGPKEY", "PTR",
                          "NS", "SOA", "CNAME", "DS", "DNSKEY", "SRV", "HTTPS", "SVCB",
                          "CAA", "ANY"})
RTT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def qtype_label(text: str) -> str:
    return text if text in COMMON_TYPES else "other"


@dataclass(slots=True)
class Histogram:
    buckets: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.buckets) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.count += 1


class Counters:
    """Named counters with label tuples, and named histograms with label tuples."""

    def __init__(self) -> None:
        self.values: defaultdict[str, defaultdict[tuple[str, ...], int]] = defaultdict(
            lambda: defaultdict(int))
        self.histograms: dict[str, dict[tuple[str, ...], Histogram]] = {}

    def inc(self, name: str, labels: tuple[str, ...] = (), amount: int = 1) -> None:
        self.values[name][labels] += amount

    def observe(self, name: str, value: float, labels: tuple[str, ...] = (),
                buckets: tuple[float, ...] = RTT_BUCKETS) -> None:
        series = self.histograms.setdefault(name, {})
        hist = series.get(labels)
        if hist is None:
            hist = series[labels] = Histogram(buckets)
        hist.observe(value)

    def get(self, name: str, labels: tuple[str, ...] = ()) -> int:
        series = self.values.get(name)
        return series.get(labels, 0) if series is not None else 0

    def total(self, name: str) -> int:
        series = self.values.get(name)
        return sum(series.values()) if series is not None else 0





class NullCounters(Counters):
    """Counting switched off (``metrics-counting = false``): every call is a no-op.
    Exists to measure what counting costs; /metrics then shows zeros."""

    def inc(self, name: str, labels: tuple[str, ...] = (), amount: int = 1) -> None:
        return None

    def observe(self, name: str, value: float, labels: tuple[str, ...] = (),
                buckets: tuple[float, ...] = RTT_BUCKETS) -> None:
        return None
