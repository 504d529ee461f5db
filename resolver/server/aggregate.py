"""``/metrics`` of several workers as one (``workers`` > 1).

Each worker serves its own ``/metrics`` on a Unix socket; the supervisor reads them
all when it is scraped, parses the text and adds the samples up: counters and
histograms are summed, and so are gauges, except those every worker has alike (the
trust anchors, the build, limits of the process: the largest is shown) and the start
times (the earliest is shown). On top come the supervisor's own families, with a
``worker`` label (a number, never a query name): whether each worker is up, how often
it was restarted, the client queries it answered and the CPU it used. The counters a
worker had at the last scrape stay in the sums once it has been replaced
(:meth:`Totals.add_counts`), so the sums never drop.

Our own aggregation rather than prometheus-client's multiprocess mode: the counters
stay plain integers on the query path (:mod:`resolver.metrics`), a scrape costs one
request per worker, and nothing is written to disk per sample.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

from aiohttp import ClientError, ClientSession, ClientTimeout, UnixConnector
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

FETCH_TIMEOUT = 5.0
MONOTONIC = frozenset({"counter", "histogram"})
# (family, sample name, labels) -> value
Counts = dict[tuple[str, str, tuple[tuple[str, str], ...]], float]
# gauges that are alike in every worker: the largest value is shown
SAME_GAUGES = frozenset({"resolver_trust_anchor", "resolver_negative_trust_anchors",
                         "resolver_trust_anchor_last_validated_seconds", "resolver_build_info",
                         "process_max_fds", "process_virtual_memory_max_bytes"})
# when something started: the earliest is shown
EARLIEST_GAUGES = frozenset({"resolver_start_time_seconds", "process_start_time_seconds"})


async def fetch(path: Path) -> str | None:
    """The text of ``/metrics`` on the Unix socket *path*; None when nobody answers."""
    try:
        async with ClientSession(connector=UnixConnector(path=str(path)),
                                 timeout=ClientTimeout(total=FETCH_TIMEOUT)) as session, \
                session.get("http://worker/metrics") as response:
            response.raise_for_status()
            return await response.text()
    except (TimeoutError, ClientError, OSError) as exc:
        log.debug("no /metrics from %s: %s", path, exc)
        return None


def _combine(family: str, kind: str, old: float, new: float) -> float:
    if kind == "gauge" or kind == "info":
        if family in EARLIEST_GAUGES:
            return min(old, new)
        if family in SAME_GAUGES or kind == "info":
            return max(old, new)
    return old + new


class Totals:
    """The metric families of several workers, added up (:meth:`add`)."""

    def __init__(self) -> None:
        self._families: dict[str, Metric] = {}
        self._values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
        self.per_worker: dict[int, dict[str, float]] = {}    # worker -> queries, cpu

    def add(self, worker: int, text: str) -> Counts:
        """Add one worker's ``/metrics`` text; returns its counter and histogram samples
        (for :meth:`add_counts` once that worker has been replaced)."""
        counts: Counts = {}
        mine = self.per_worker.setdefault(worker, {"queries": 0.0, "cpu": 0.0})
        for family in text_string_to_metric_families(text):
            known = self._families.get(family.name)
            if known is None:
                known = self._families[family.name] = Metric(
                    family.name, family.documentation, family.type, family.unit)
                self._values[family.name] = {}
            values = self._values[family.name]
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue
                if sample.name == "resolver_client_queries_total":
                    mine["queries"] += sample.value
                elif sample.name == "process_cpu_seconds_total":
                    mine["cpu"] += sample.value
                key = (sample.name, tuple(sorted(sample.labels.items())))
                old = values.get(key)
                values[key] = sample.value if old is None else \
                    _combine(family.name, family.type, old, sample.value)
                if family.type in MONOTONIC:
                    counts[(family.name, *key)] = sample.value
        return counts

    def add_counts(self, counts: Counts) -> None:
        """Add the last counts of workers that died: the sums keep growing across a
        restart (a sum that drops would look like a counter reset to Prometheus)."""
        for (family, sample, labels), value in counts.items():
            values = self._values.get(family)
            if values is not None:
                key = (sample, labels)
                values[key] = values.get(key, 0.0) + value

    def families(self) -> Iterator[Metric]:
        for name, family in self._families.items():
            out = Metric(family.name, family.documentation, family.type, family.unit)
            for (sample, labels), value in self._values[name].items():
                out.add_sample(sample, dict(labels), value)
            yield out

    def samples(self) -> dict[str, float]:
        """``{"name{labels}": value}``, as ``resolver control stats`` shows them."""
        out: dict[str, float] = {}
        for family in self.families():
            for sample in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                out[sample.name + (f"{{{labels}}}" if labels else "")] = float(sample.value)
        return out


def worker_families(per_worker: dict[int, dict[str, float]], configured: int,
                    slots: Iterable[tuple[int, bool, int]]) -> list[Metric]:
    """The supervisor's families; *slots* gives (worker, up, restarts) per worker."""
    count = GaugeMetricFamily("resolver_workers", "Serving processes configured (workers).")
    count.add_metric([], configured)
    up = GaugeMetricFamily("resolver_worker_up", "1 when the worker is running and "
                           "answered the last scrape.", labels=["worker"])
    restarts = CounterMetricFamily("resolver_worker_restarts", "Times the worker died "
                                   "and was started again.", labels=["worker"])
    queries = CounterMetricFamily("resolver_worker_client_queries", "Client queries "
                                  "answered by the worker (since it last started).",
                                  labels=["worker"])
    cpu = CounterMetricFamily("resolver_worker_cpu_seconds", "CPU time of the worker "
                              "(since it last started).", labels=["worker"])
    for worker, running, restarted in slots:
        label = [str(worker)]
        mine = per_worker.get(worker)
        up.add_metric(label, 1 if running and mine is not None else 0)
        restarts.add_metric(label, restarted)
        if mine is not None:
            queries.add_metric(label, mine["queries"])
            cpu.add_metric(label, mine["cpu"])
    return [count, up, restarts, queries, cpu]


class _Fixed(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        yield from self._families


def render(families: list[Metric]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(families))
    return generate_latest(registry)
