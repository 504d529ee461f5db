"""Prometheus metrics, computed at scrape time from plain counters.

Nothing on the query path touches prometheus-client: the resolver, the DNS server
and the API keep plain integers (:mod:`resolver.counters` and their ``stats``
objects), and :class:`ResolverCollector` turns them into metric families when
``/metrics`` is scraped (on the API server, or on its own ``--metrics`` address).
Every name starts with ``resolver_``; labels never carry query names.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from . import __version__
from .counters import Counters, Histogram

if TYPE_CHECKING:
    from .service import Resolver

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ServerCounts(Protocol):
    """The DNS server's plain counters, as read here (``server.listener.ServerStats``;
    the metrics sit beside the server and do not import it)."""

    udp: int
    tcp: int
    tls: int
    fast_hits: int
    formerr: int
    refused: int
    dropped: int
    tcp_connections: int
    pending: int
    ratelimited_tc: int
    ratelimited_drop: int
    udp_batches: int
    udp_batched: int
    udp_oversize: int
    udp_send_dropped: int


class CountingServer(Protocol):
    """A DNS server whose counters ``/metrics`` shows (``server.listener.DnsServer``)."""

    @property
    def stats(self) -> ServerCounts: ...

# counter name -> (help, label names)
COUNTER_HELP: dict[str, tuple[str, tuple[str, ...]]] = {
    "client_queries": ("Client queries answered, by transport, type, rcode and DNSSEC "
                       "status.", ("transport", "qtype", "rcode", "security")),
    "upstream_queries": ("Queries sent to authoritative servers.", ("transport",)),
    "upstream_timeouts": ("Upstream queries that timed out.", ()),
    "upstream_forwarded": ("Upstream queries sent to the servers of a [[forward]] zone "
                           "(RD=1).", ()),
    "upstream_tcp_fallbacks": ("Upstream queries retried over TCP (truncation or "
                               "suspected spoofing).", ("reason",)),
    "validation_outcomes": ("Validation verdicts, by result and reason (EDE code).",
                            ("result", "ede")),
    "bogus_servfail": ("Bogus answers served as SERVFAIL.", ()),
    "upstream_bogus": ("Bogus data from upstream asked again at other servers before "
                       "a SERVFAIL: an answer, a denial, or the DS/DNSKEY sets of a key "
                       "entry.", ("kind",)),
    "budget_cutoffs": ("Work cut off by a limit (KeyTrap and query limits).", ("limit",)),
    "stale_answers": ("Expired answers served (RFC 8767 serve-stale, EDE 3) because the "
                      "servers of a zone failed.", ()),
    "prefetches": ("Background refreshes started by a cache hit in the last 10 % of the "
                   "TTL, by kind (answer, or a DNSKEY set: key).", ("kind",)),
    "aggressive_nsec": ("Denials synthesised from cached, validated NSEC records "
                        "without asking upstream (RFC 8198), by kind (nxdomain, "
                        "nodata, or wildcard: an answer expanded from a cached "
                        "validated wildcard).", ("kind",)),
    "aggressive_nsec3": ("Denials synthesised from cached, validated NSEC3 records "
                         "without asking upstream (RFC 8198 with RFC 5155 proofs; never "
                         "from opt-out spans), by kind (nxdomain, nodata or "
                         "wildcard).", ("kind",)),
    "dot_upstream_handshakes": ("TLS handshakes completed with DNS-over-TLS upstreams "
                                "([[forward]] tls = true); reused connections need none.",
                                ()),
    "dot_upstream_failures": ("DNS-over-TLS upstream connections that failed, by reason "
                              "(certificate, connect, timeout, busy); such a server is "
                              "never asked over plain DNS instead.", ("reason",)),
    "cachedb": ("The shared cache on Redis (cachedb): look-ups answered (hit) or not "
                "(miss), records stored, operations failed (error) or not tried during "
                "an outage (skipped), data that failed validation or decoding (rejected), "
                "deadlines extended because the event loop was busy (late), writes "
                "dropped (over 64 at once), keys removed by a control flush (flushed).",
                ("event",)),
    "upstream_ratelimited": ("Upstream queries not sent: the zone was over its "
                             "ratelimit (queries per second).", ()),
    "milter_messages": ("Messages the milter judged, by action (continue, reject, "
                        "tempfail, quarantine).", ("action",)),
    "milter_results": ("Milter authentication results, by method (spf: MAIL FROM, "
                       "spf_helo: HELO, dkim: one per signature, dmarc), result and "
                       "DNSSEC status.",
                       ("method", "result", "security")),
    "tls_policy_answers": ("Answers of the Postfix TLS policy map (tls-policy), by answer "
                           "(dane, secure: MTA-STS enforce, notfound, temp, perm).",
                           ("answer",)),
    "mta_sts_fetches": ("MTA-STS policies fetched over HTTPS, by result (ok, failed).",
                        ("result",)),
}
HIST_HELP: dict[str, tuple[str, tuple[str, ...]]] = {
    "upstream_rtt_seconds": ("Round-trip time of upstream queries.", ()),
}


def _hist_family(name: str, help_text: str, labels: tuple[str, ...],
                 series: dict[tuple[str, ...], Histogram]) -> Metric:
    family = HistogramMetricFamily(name, help_text, labels=list(labels))
    for label_values, hist in series.items():
        cumulative = 0
        buckets = []
        for bound, count in zip((*hist.buckets, float("inf")), hist.counts, strict=True):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        family.add_metric(list(label_values), buckets, hist.total)
    return family


class ResolverCollector(Collector):
    """Reads the resolver's, the server's and the API's counters at scrape time."""

    def __init__(self, resolver: Resolver, server: CountingServer | None = None,
                 api_stats: dict[str, Any] | None = None) -> None:
        self.resolver = resolver
        self.server = server
        self.api_stats = api_stats
        self.started = time.time()

    def collect(self) -> Iterator[Metric]:
        yield from self._info()
        yield from self._counters(self.resolver.counters)
        yield from self._service()
        yield from self._caches()
        if self.server is not None:
            yield from self._server()
        if self.api_stats is not None:
            yield from self._api()
        yield from self._anchors()

    def _info(self) -> Iterator[Metric]:
        info = InfoMetricFamily("resolver_build", "Version information.")
        info.add_metric([], {"version": __version__, "python": platform.python_version()})
        yield info
        start = GaugeMetricFamily("resolver_start_time_seconds",
                                  "When the process started (seconds since the epoch).")
        start.add_metric([], self.started)
        yield start

    def _counters(self, counters: Counters) -> Iterator[Metric]:
        for name, (help_text, labels) in COUNTER_HELP.items():
            family = CounterMetricFamily(f"resolver_{name}", help_text, labels=list(labels))
            series = dict(counters.values.get(name, {}))
            if name == "client_queries":   # answers of the fast path, counted by the cache
                for key, value in self.resolver.fast_path_answers().items():
                    series[key] = series.get(key, 0) + value
            for label_values, value in series.items():
                family.add_metric(list(label_values), value)
            yield family
        for name, (help_text, labels) in HIST_HELP.items():
            yield _hist_family(f"resolver_{name}", help_text, labels,
                               counters.histograms.get(name, {}))

    def _service(self) -> Iterator[Metric]:
        stats = self.resolver.stats
        merged = CounterMetricFamily("resolver_inflight_merged", "Client questions merged "
                                     "into an identical question already being resolved.")
        merged.add_metric([], stats.merged)
        yield merged
        cached = CounterMetricFamily("resolver_failures_cached", "Questions answered from the "
                                     "failure cache (RFC 9520).")
        cached.add_metric([], stats.failures_cached)
        yield cached
        signals = CounterMetricFamily("resolver_trust_anchor_signals", "RFC 8145 key-tag "
                                      "queries sent after the anchor keys validated.")
        signals.add_metric([], stats.anchor_signals)
        yield signals
        local = CounterMetricFamily("resolver_local_answers", "Questions answered from "
                                    "locally served special-use zones.")
        local.add_metric([], stats.local)
        yield local

    def _caches(self) -> Iterator[Metric]:
        hits = CounterMetricFamily("resolver_cache_hits", "Cache hits.", labels=["cache"])
        misses = CounterMetricFamily("resolver_cache_misses", "Cache misses.",
                                     labels=["cache"])
        entries = GaugeMetricFamily("resolver_cache_entries", "Entries in the cache.",
                                    labels=["cache"])
        size = GaugeMetricFamily("resolver_cache_bytes", "Approximate memory used.",
                                 labels=["cache"])
        evictions = CounterMetricFamily("resolver_cache_evictions", "Entries evicted to "
                                        "stay within the size limit.", labels=["cache"])
        for label, stats in self.resolver.cache_stats().items():
            hits.add_metric([label], stats.hits)
            misses.add_metric([label], stats.misses)
            entries.add_metric([label], stats.entries)
            size.add_metric([label], stats.size)
            evictions.add_metric([label], stats.evictions)
        if self.server is not None:
            hits.add_metric(["fastpath"], self.server.stats.fast_hits)
        infra = GaugeMetricFamily("resolver_cache_entries_infra", "Servers in the "
                                  "infrastructure cache (RTT, EDNS, lameness).")
        infra.add_metric([], self.resolver.infra_servers())
        yield from (hits, misses, entries, size, evictions, infra)

    def _server(self) -> Iterator[Metric]:
        assert self.server is not None
        s = self.server.stats
        received = CounterMetricFamily("resolver_client_packets", "Client packets received.",
                                       labels=["transport"])
        received.add_metric(["udp"], s.udp)
        received.add_metric(["tcp"], s.tcp)
        received.add_metric(["tls"], s.tls)
        yield received
        problems = CounterMetricFamily("resolver_client_rejected", "Client queries refused, "
                                       "malformed or dropped.", labels=["reason"])
        problems.add_metric(["formerr"], s.formerr)
        problems.add_metric(["refused"], s.refused)
        problems.add_metric(["dropped"], s.dropped)
        problems.add_metric(["oversize"], s.udp_oversize)
        yield problems
        batches = CounterMetricFamily("resolver_udp_batches", "recvmmsg calls of the UDP "
                                      "listeners that returned datagrams (udp-batch).")
        batches.add_metric([], s.udp_batches)
        yield batches
        batched = CounterMetricFamily("resolver_udp_batched_datagrams", "Datagrams those "
                                      "calls returned: over resolver_udp_batches_total, "
                                      "the mean batch.")
        batched.add_metric([], s.udp_batched)
        yield batched
        unsent = CounterMetricFamily("resolver_udp_replies_dropped", "UDP replies the "
                                     "kernel did not take (send buffer full), dropped.")
        unsent.add_metric([], s.udp_send_dropped)
        yield unsent
        limited = CounterMetricFamily("resolver_ratelimited", "UDP client queries over "
                                      "ratelimit-per-client, by action (tc or drop).",
                                      labels=["action"])
        limited.add_metric(["tc"], s.ratelimited_tc)
        limited.add_metric(["drop"], s.ratelimited_drop)
        yield limited
        inflight = GaugeMetricFamily("resolver_inflight_queries", "Client queries being "
                                     "resolved now.")
        inflight.add_metric([], s.pending)
        yield inflight
        tcp = GaugeMetricFamily("resolver_tcp_connections", "Open client TCP connections.")
        tcp.add_metric([], s.tcp_connections)
        yield tcp

    def _api(self) -> Iterator[Metric]:
        assert self.api_stats is not None
        requests = CounterMetricFamily("resolver_api_requests", "API requests by route and "
                                       "status.", labels=["route", "status"])
        for (route, status), count in self.api_stats.get("requests", {}).items():
            requests.add_metric([route, str(status)], count)
        yield requests
        series: dict[tuple[str, ...], Histogram] = self.api_stats.get("histograms", {})
        yield _hist_family("resolver_api_request_duration_seconds", "API request latency.",
                           ("route",), series)

    def _anchors(self) -> Iterator[Metric]:
        anchors = GaugeMetricFamily("resolver_trust_anchor", "Trust anchor keys (1 per key), "
                                    "by zone, key tag and RFC 5011 state.",
                                    labels=["zone", "key_tag", "state"])
        validated = GaugeMetricFamily("resolver_trust_anchor_last_validated_seconds",
                                      "When each anchor zone's key set last validated "
                                      "(seconds since the epoch).", labels=["zone"])
        for zone, key_tag, state in self.resolver.anchor_keys():
            anchors.add_metric([zone, str(key_tag), state], 1)
        for zone, when in self.resolver.anchors_validated().items():
            validated.add_metric([zone], when)
        yield anchors
        yield validated
        ntas = GaugeMetricFamily("resolver_negative_trust_anchors", "Negative trust anchors "
                                 "in force (RFC 7646), by source: config or control.",
                                 labels=["source"])
        sources = {"config": 0, "control": 0}
        for nta in self.resolver.negative_anchors():
            source = str(nta["source"])
            sources[source] = sources.get(source, 0) + 1
        for source, count in sources.items():
            ntas.add_metric([source], count)
        yield ntas


def registry_for(resolver: Resolver, server: CountingServer | None = None,
                 api_stats: dict[str, Any] | None = None) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ResolverCollector(resolver, server, api_stats))
    # process_cpu_seconds_total, process_resident_memory_bytes, process_open_fds, ...
    # (read from /proc when scraped; nothing on platforms without it)
    ProcessCollector(registry=registry)
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
