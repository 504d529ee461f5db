"""The resolver service: the composition root of cache, iterator and validator.

:meth:`Resolver.resolve` answers one question: locally served zones first, then the
iterator (cache or network), then the validator, whose verdicts are written back
into the caches, onto the very records judged (data stored under the same key while
the validator awaited the network keeps no verdict). Identical questions in flight
are merged. Failures and bogus answers are cached briefly (RFC 9520). A change of
trust anchors or negative trust anchors drops every verdict reached under the old
ones (:meth:`Resolver.forget_verdicts`). The DNS server and the HTTP API use only
this class (and :mod:`resolver.answer`: the Answer and its wire form), never the
layers below (tests/test_layering.py checks it). The service owns the wire answer
cache of the server's fast path (:attr:`Resolver.messages`), because its AD bits and
SERVFAILs are verdicts that a change of trust anchors must drop with the others; the
metrics read the caches through plain-number accessors (:meth:`Resolver.cache_stats`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from .answer import Answer, IterResult
from .cache import dump as cache_dump
from .cache import stale
from .cache.cachedb import CacheDb
from .cache.messages import MessageCache
from .cache.nsec_index import NsecIndex
from .cache.rrsets import NXDOMAIN_TYPE, NegativeCache, ProofPool, RRsetCache
from .cache.slotstore import SlotStore
from .cache.store import LruStore
from .cache.wildcard_synth import remember_wildcard
from .config import Settings
from .counters import Counters, NullCounters
from .dnssec.algorithms import DEFAULT, LEGACY
from .dnssec.anchors import TrustAnchor, TrustAnchors, load_default_anchors, read_anchor_file
from .dnssec.budget import Budget
from .dnssec.status import Problem, Reason, Security
from .errors import LimitExceeded, ResolveError
from .iterate.dot import TlsForwardTransport
from .iterate.engine import Iterator, QueryState
from .iterate.hints import builtin_hints, read_hints
from .iterate.infra import Infra
from .iterate.shared import SharedCache
from .iterate.transport import NetTransport, Transport
from .local import LocalZones
from .validate.autotrust import signal_qname
from .validate.autotrust_manager import TrustAnchorManager
from .validate.chain import KeyFinder, NegativeAnchor, final_rrset
from .validate.harvest import delegation_denials
from .validate.keycache import KeyCache
from .validate.refetch import (
    ANSWER_RETRIES,
    QueryFetch,
    answer_retry,
    known_servers,
    same_data,
)
from .validate.trace import OFF, Trace
from .validate.validator import Outcome, Validator
from .wire.name import Name
from .wire.rrset import RRset
from .wire.types import Rcode, RRType, type_to_text

log = logging.getLogger(__name__)

# How long a resolution failure is remembered (RFC 9520 s3.2: at least 1 s, with a
# backoff for failures that persist): 5 s, doubled each time the same question fails
# again right after, up to a minute; an answer ends the streak.
FAILURE_TTL = 5
FAILURE_TTL_MAX = 60
# Questions whose failure is remembered, least recently asked dropped first: a flood
# of failing names pushes out the old ones, not the ones still being asked.
FAILURE_CACHE_SIZE = 10000
SIGNAL_INTERVAL = 3600.0   # RFC 8145 key-tag queries: at most this often per anchor zone
# Serve-stale (RFC 8767): the TTL of a stale answer (s4), the client-response timer
# (s5: 1.8 s), the EDE it carries (RFC 8914: 3, Stale Answer)
STALE_TTL = 30
STALE_CLIENT_TIMER = 1.8
STALE_EDE = 3
# Prefetch (Unbound's prefetch): a hit in the last tenth of the TTL refreshes, at most
# PREFETCH_MAX refreshes at once
PREFETCH_FRACTION = 0.1
PREFETCH_MAX = 32


@dataclass(slots=True)
class Stats:
    """Plain counters, read at scrape time (the hot path never touches Prometheus)."""

    queries: int = 0
    merged: int = 0
    servfail: int = 0
    bogus: int = 0
    secure: int = 0
    insecure: int = 0
    local: int = 0
    upstream: int = 0
    failures_cached: int = 0
    anchor_signals: int = 0       # RFC 8145 key-tag queries sent
    by_problem: dict[str, int] = field(default_factory=dict)
    # the last bogus verdicts (when, name, type, zone, reason): the report page shows them
    recent_bogus: deque[tuple[float, str, str, str, str]] = field(
        default_factory=lambda: deque(maxlen=16))


@dataclass(frozen=True, slots=True)
class RuntimeAnchor:
    """A negative trust anchor added at run time (``resolver control nta add``)."""

    zone: Name
    until: float       # seconds since the epoch (the validation clock)
    reason: str
    added: float


@dataclass(frozen=True, slots=True)
class CacheStats:
    """One cache's counters as plain numbers, read at scrape time."""

    hits: int
    misses: int
    entries: int
    size: int          # approximate bytes used
    evictions: int     # entries dropped to stay within the size limit


class Resolver:
    # the RFC 5011 manager; a worker that must not write the state file (workers > 1,
    # all but worker 0) puts a read-only subclass here before it builds its Resolver
    anchor_manager: ClassVar[type[TrustAnchorManager]] = TrustAnchorManager

    def __init__(self, settings: Settings, *, transport: Transport | None = None,
                 now: Callable[[], float] = time.time,
                 validation_now: Callable[[], float] | None = None,
                 anchors: TrustAnchors | None = None) -> None:
        self.settings = settings
        self.now = now
        total = int(settings.cache_size_mb * 1024 * 1024)
        pool = ProofPool()      # denial RRsets shared by both caches
        self.rrsets = RRsetCache(total * 45 // 100, now, settings.max_ttl, settings.min_ttl,
                                 pool)
        self.negative = NegativeCache(total * 15 // 100, now, settings.max_negative_ttl, pool)
        # the wire answer cache of the server's fast path: the DNS server reads and
        # fills it (answer, put, epoch); forget_verdicts empties it
        self.messages = MessageCache(total * 35 // 100, now)
        self.messages.max_ttl = settings.max_ttl
        self.keys = KeyCache(now, max(1 << 20, total * 5 // 100))
        self.infra = Infra()
        hints = read_hints(settings.root_hints) if settings.root_hints else builtin_hints()
        self.transport = transport or NetTransport()
        self.iterator = Iterator(self.transport, self.rrsets, self.negative, self.infra, hints,
                                 settings, now)
        # the DNSSEC side of the DS denials a CNAME response may carry (validate/harvest)
        self.iterator.ds_denials = lambda proofs, zone, target: delegation_denials(
            proofs, zone, target, settings.validation_limits)
        # RFC 8198: validated NSEC records, for denials of names not asked about yet
        self.nsec_index = NsecIndex(now, settings.max_negative_ttl,
                                    settings.validation_limits)
        self.iterator.nsec_index = self.nsec_index if settings.aggressive_nsec else None
        self.local = LocalZones(settings.nodefault, settings.local_zones)
        self.policy = LEGACY if settings.legacy_algorithms else DEFAULT
        vnow = validation_now or now
        self.autotrust: TrustAnchorManager | None = None
        if anchors is None:
            anchors = self._load_anchors(vnow())
            if settings.validate and settings.auto_trust_anchor_file is not None:
                self.autotrust = self.anchor_manager(
                    settings.auto_trust_anchor_file, list(anchors), now=vnow,
                    policy=self.policy, limits=settings.validation_limits)
                anchors = self.autotrust.anchors()
        self.anchors = anchors
        ntas = [NegativeAnchor(Name.from_text(z), until) for z, until in settings.negative_anchors]
        self.finder = KeyFinder(anchors, self.keys, self.policy, settings.validation_limits, vnow,
                                ntas)
        # anchor zone -> when its key set last validated (static anchors: at priming)
        self.anchor_validated: dict[str, float] = self.finder.primed
        self._signalled: dict[bytes, float] = {}     # anchor zone -> last RFC 8145 query
        self._background: set[asyncio.Task[None]] = set()
        if settings.validate and settings.trust_anchor_signaling:
            self.finder.on_primed = self._signal_anchor
        self.validator = Validator(self.finder, self.policy, settings.validation_limits, vnow)
        self.stats = Stats()
        self.counters = Counters() if settings.metrics_counting else NullCounters()
        self.messages.counting = settings.metrics_counting
        self.iterator.counters = self.counters
        # cachedb (issue 18): the shared cache on Redis, asked by the iterator on a miss,
        # filled once answers validate (resolver/iterate/shared.py)
        self.shared: SharedCache | None = None
        if settings.cachedb:
            self.shared = SharedCache(
                CacheDb(settings.cachedb, settings.cachedb_timeout_ms / 1000, now,
                        self.counters, settings.cachedb_tls_ca_file),
                now, vnow, settings.max_ttl, settings.max_negative_ttl, self.counters)
            self.iterator.shared = self.shared
        # DNS over TLS to the servers of [[forward]]/[[stub]] zones with tls = true
        self.dot = TlsForwardTransport(self.iterator.transport, settings, self.counters)
        self.iterator.transport = self.dot
        self._inflight: dict[tuple[bytes, int, bool], asyncio.Future[Answer]] = {}
        # the task doing each resolution that runs in its first asker's task
        self._owners: dict[tuple[bytes, int, bool], asyncio.Task[Any] | None] = {}
        # (qname, qtype) -> (until when the failure is answered, the SERVFAIL); each
        # entry counts 1 and outlives its answer by FAILURE_TTL_MAX, for the backoff
        self._failures: LruStore[tuple[bytes, int], tuple[float, Answer]] = \
            LruStore(FAILURE_CACHE_SIZE, now)
        # serve-stale keeps expired RRsets and denials in place (cache/stale.py);
        # (qname, qtype) of the prefetch refreshes running
        self._stale_window()
        self._refreshing: set[tuple[bytes, int]] = set()
        self.messages.prefetch = settings.prefetch
        self._epoch = 0     # bumped by forget_verdicts: work begun before writes nothing
        # negative trust anchors added at run time, by zone key (they survive a reload)
        self._runtime_ntas: dict[bytes, RuntimeAnchor] = {}

    def _load_anchors(self, now: float) -> TrustAnchors:
        if not self.settings.validate:
            return TrustAnchors()
        if self.settings.trust_anchors:
            anchors = TrustAnchors()
            for path in self.settings.trust_anchors:
                anchors.merge(read_anchor_file(path))
            return anchors
        return load_default_anchors(now)

    # ------------------------------------------------------------------ anchors
    def set_anchors(self, anchors: TrustAnchors) -> None:
        """Use another set of trust anchors (RFC 5011 change, SIGHUP reload). When they
        differ from those in force, every verdict reached under the old ones is dropped
        (:meth:`forget_verdicts`); the same anchors read again keep them."""
        changed = set(anchors) != set(self.anchors)
        self.anchors = anchors
        self.finder.anchors = anchors
        if changed:
            self.forget_verdicts()

    def forget_verdicts(self) -> None:
        """Drop everything judged under the trust anchors and negative trust anchors
        in force until now: the key cache, the validator's memo of verified signatures,
        the wire answers (their AD bit and SERVFAILs are verdicts), and the verdict of
        every cached RRset and denial. The cached records themselves are kept (the
        delegations and addresses the iterator needs are facts, not verdicts); they are
        validated again when next used. Resolutions already running finish under the
        old anchors but write no verdict and no answer into the caches, and questions
        asked from now on are not merged into them."""
        self._epoch += 1
        self.keys.clear()
        self.validator.forget()
        self.messages.clear()
        self.rrsets.forget_verdicts()
        self.negative.forget_verdicts()
        self.nsec_index.clear()
        self._inflight.clear()
        log.info("trust anchors changed: cached verdicts and answers dropped")

    def _signal_anchor(self, zone: Name, anchors: tuple[TrustAnchor, ...]) -> None:
        """RFC 8145 s5: once the keys of an anchored zone validated, tell the zone which
        key tags we trust, with one query for ``_ta-<tags>.<zone>`` type NULL in the
        background (its answer, NXDOMAIN, is of no interest). At most hourly per zone,
        as Unbound sends it when it primes the anchor."""
        name = signal_qname(zone, (a.key_tag for a in anchors))
        now = self.now()
        last = self._signalled.get(zone.key)
        if name is None or (last is not None and now - last < SIGNAL_INTERVAL):
            return
        self._signalled[zone.key] = now
        try:
            task = asyncio.get_running_loop().create_task(self._send_signal(name))
        except RuntimeError:      # no event loop: nothing to send with
            return
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _send_signal(self, name: Name) -> None:
        try:
            await self.iterator.resolve(name, RRType.NULL, self.iterator.new_state())
        except ResolveError as exc:
            log.debug("trust anchor signal %s: %s", name, exc.text)
        self.stats.anchor_signals += 1

    async def fetch_dnskey(self, zone: Name) -> RRset | None:
        result = await self.iterator.resolve(zone, RRType.DNSKEY, self.iterator.new_state())
        return final_rrset(result, zone, RRType.DNSKEY)

    async def refresh_trust_anchors(self, force: bool = False) -> bool:
        """One RFC 5011 refresh of the managed anchors (a no-op without a state file)."""
        if self.autotrust is None:
            return False
        changed = await self.autotrust.refresh(self.fetch_dnskey, force=force)
        for point in self.autotrust.summary():
            if point.get("last_success"):
                self.anchor_validated[str(point["zone"])] = float(point["last_success"])
        if changed:
            log.warning("trust anchors changed: %s", ", ".join(
                f"{a.zone} {a.key_tag}" for a in self.autotrust.trusted()))
            self.set_anchors(self.autotrust.anchors())
        return changed

    def reload_anchors(self, settings: Settings) -> TrustAnchors:
        """Read the trust anchors again (SIGHUP) and switch to them; raises on bad files."""
        anchors, manager = self._read_anchors(settings)
        if manager is not None:
            self.autotrust = manager
        self.set_anchors(anchors)
        return anchors

    def _read_anchors(self, settings: Settings) -> tuple[TrustAnchors,
                                                         TrustAnchorManager | None]:
        """The trust anchors *settings* ask for, and their RFC 5011 manager if managed;
        changes nothing (raises on bad files)."""
        saved = self.settings
        self.settings = settings
        try:
            anchors = self._load_anchors(self.finder.now())
        finally:
            self.settings = saved
        manager = None
        if settings.validate and settings.auto_trust_anchor_file is not None:
            manager = self.anchor_manager(
                settings.auto_trust_anchor_file, list(anchors), now=self.finder.now,
                policy=self.policy, limits=settings.validation_limits)
            anchors = manager.anchors()
        return anchors, manager

    def reload(self, settings: Settings) -> TrustAnchors:
        """SIGHUP and ``reload``: switch to *settings* in one step. Everything that can
        fail (anchor files, the RFC 5011 state, names of negative trust anchors and
        local zones) is read first; on error this raises and nothing has changed.
        Cached records are kept, but every cached verdict and answer that the change
        could alter is dropped (:meth:`forget_verdicts`, the wire answer cache
        included): on other trust anchors or negative trust anchors, other local zones
        (``nodefault``) or validation switched on or off."""
        for zone, _ in settings.negative_anchors:
            Name.from_text(zone)
        LocalZones(settings.nodefault, settings.local_zones)
        anchors, manager = self._read_anchors(settings)
        # nothing can fail from here on
        current = self.settings
        changed = [what for what, differs in (
            ("validation switched " + ("on" if settings.validate else "off"),
             settings.validate != current.validate),
            ("local zones changed",
             sorted(settings.nodefault) != sorted(current.nodefault)
             or settings.local_zones != current.local_zones)) if differs]
        epoch = self._epoch
        current.validate = settings.validate
        current.trust_anchor_signaling = settings.trust_anchor_signaling
        self.finder.on_primed = self._signal_anchor if (
            settings.validate and settings.trust_anchor_signaling) else None
        self.autotrust = manager
        self.set_anchors(anchors)
        self.apply_settings(settings)
        if changed:
            self._failures.clear()
            if self._epoch == epoch:
                self.forget_verdicts()
            log.info("reload: %s: cached verdicts and answers dropped", ", ".join(changed))
        return anchors

    def apply_settings(self, settings: Settings) -> None:
        """Take the settings that can change while running (SIGHUP); caches are kept,
        but a change of the negative trust anchors drops the verdicts (forget_verdicts)."""
        current = self.settings
        for name in ("qname_minimisation", "nodefault", "negative_anchors", "bogus_ttl",
                     "max_negative_ttl", "query_log", "trust_anchors",
                     "auto_trust_anchor_file", "forward_zones", "local_zones"):
            setattr(current, name, getattr(settings, name))
        for name in ("serve_stale", "stale_max", "prefetch", "prefetch_key",
                     "tcp_reuse_timeout", "max_reuse_tcp_queries"):
            setattr(current, name, getattr(settings, name))
        self._stale_window()
        self.messages.prefetch = settings.prefetch
        current.iter_limits = settings.iter_limits
        self.iterator.limits = settings.iter_limits
        self.local = LocalZones(current.nodefault, current.local_zones)
        self._install_negative_anchors()
        current.aggressive_nsec = settings.aggressive_nsec
        self.iterator.nsec_index = self.nsec_index if settings.aggressive_nsec else None

    # ------------------------------------------------------------------ negative anchors
    def add_negative_anchor(self, zone: Name, until: float, reason: str = "") -> None:
        """Add (or replace) a negative trust anchor for *zone* until *until* (seconds
        since the epoch), effective at once: the verdicts cached under the old set go.
        It lasts until it expires or is removed, across reloads (RFC 7646)."""
        if zone.is_root():
            raise ValueError("a negative trust anchor for the root is not allowed")
        if until <= self.finder.now():
            raise ValueError("the negative trust anchor would already have expired")
        self._runtime_ntas[zone.key] = RuntimeAnchor(zone, until, reason, self.finder.now())
        self._install_negative_anchors()

    def remove_negative_anchor(self, zone: Name) -> bool:
        """Remove the negative trust anchor of *zone* (added at run time or read from
        the configuration; the latter comes back with the next reload if still in the
        file), effective at once. False when there was none."""
        removed = self._runtime_ntas.pop(zone.key, None) is not None
        kept = [(z, u) for z, u in self.settings.negative_anchors
                if Name.from_text(z).key != zone.key]
        if len(kept) != len(self.settings.negative_anchors):
            self.settings.negative_anchors = kept
            removed = True
        if removed:
            self._install_negative_anchors()
        return removed

    def negative_anchors(self) -> list[dict[str, object]]:
        """The negative trust anchors in force: zone, until (epoch seconds), seconds
        left, reason, and source (``config`` or ``control``)."""
        now = self.finder.now()
        for key in [k for k, nta in self._runtime_ntas.items() if nta.until <= now]:
            del self._runtime_ntas[key]
        runtime = {nta.zone.key for nta in self._runtime_ntas.values()}
        listed: list[dict[str, object]] = []
        for zone, until in self.settings.negative_anchors:
            name = Name.from_text(zone)
            if until > now and name.key not in runtime:
                listed.append({"zone": name.to_text(), "until": until,
                               "remaining": round(until - now), "reason": "",
                               "source": "config"})
        for nta in self._runtime_ntas.values():
            listed.append({"zone": nta.zone.to_text(), "until": nta.until,
                           "remaining": round(nta.until - now), "reason": nta.reason,
                           "source": "control"})
        return sorted(listed, key=lambda item: str(item["zone"]))

    def _install_negative_anchors(self) -> None:
        """Give the validator the configured and run-time negative trust anchors; when
        they changed, drop the verdicts reached under the old set: an NTA added must
        hide the verdicts cached for its zone, one removed the insecure answers it
        made (wire cache), and remembered failures go too."""
        runtime = {nta.zone.key: NegativeAnchor(nta.zone, nta.until)
                   for nta in self._runtime_ntas.values()}
        ntas = [NegativeAnchor(Name.from_text(z), until)
                for z, until in self.settings.negative_anchors
                if Name.from_text(z).key not in runtime]
        ntas.extend(runtime.values())
        if ntas != self.finder.negative_anchors:
            self.finder.negative_anchors = ntas
            self._failures.clear()
            self.forget_verdicts()

    def anchor_report(self) -> dict[str, object]:
        """The document of ``/v1/trust-anchors`` (with the negative trust anchors)."""
        if self.autotrust is not None:
            report = self.autotrust.report()
        else:
            report = {"state_file": None, "trust_points": [], "keys": [
                {"zone": a.zone.to_text(), "key_tag": a.key_tag, "algorithm": a.algorithm,
                 "type": "DS" if a.rtype == RRType.DS else "DNSKEY", "state": "Configured",
                 "trusted": True, "source": a.source} for a in self.anchors]}
        report["negative_trust_anchors"] = self.negative_anchors()
        return report

    # ------------------------------------------------------------------ cache control
    # ``resolver control flush-*``: each drops the entries concerned from every cache
    # that holds them (RRsets, denials, keys, the failure cache, the wire answers of
    # the fast path, the iterator's memo of names that are no zone cuts) and returns
    # how many cache entries went (the memos are not counted). Scans: rare work.
    def flush_name(self, name: Name) -> int:
        """Drop everything cached about *name*, every type: its RRsets and denials,
        its key entry, its remembered failures, the wire answers about it."""
        owner = name.key
        dropped = (self.rrsets.drop_name(name) + self.negative.drop_name(name)
                   + self.keys.drop(lambda entry: entry.zone.key == owner)
                   + self._failures.drop_where(lambda key, _: key[0] == owner)
                   + self.messages.drop_name(name))
        self.iterator.forget_no_cuts(name)
        self.nsec_index.drop_name(name)
        log.info("flush %s: %d entries dropped", name, dropped)
        return dropped

    def flush_type(self, name: Name, rtype: int) -> int:
        """Drop what is cached for (*name*, *rtype*): the RRset, the denials that
        answer it (NODATA, and the name error, which covers every type), remembered
        failures, the wire answers; for DNSKEY and DS also the key entry of *name*."""
        owner = name.key
        dropped = (self.rrsets.drop_name(name, rtype) + self.negative.drop_name(name, rtype)
                   + self._failures.drop_where(lambda key, _: key == (owner, rtype))
                   + self.messages.drop_name(name, rtype))
        if rtype in (RRType.DNSKEY, RRType.DS):
            dropped += self.keys.drop(lambda entry: entry.zone.key == owner)
        if rtype == RRType.NS:
            self.iterator.forget_no_cuts(name)
        self.nsec_index.drop_name(name)
        log.info("flush %s %s: %d entries dropped", name, type_to_text(rtype), dropped)
        return dropped

    def flush_zone(self, zone: Name) -> int:
        """Drop everything cached at or below *zone*: RRsets (its DS included),
        denials, key entries, failures, wire answers whose question or answer records
        are in it. The root flushes every name (the servers' state stays: that is
        :meth:`flush_infra`)."""
        dropped = (self.rrsets.drop_zone(zone) + self.negative.drop_zone(zone)
                   + self.keys.drop(lambda entry: entry.zone.is_subdomain(zone))
                   + self._failures.drop_where(
                       lambda key, _: key[0].endswith(zone.key) and
                       Name(key[0]).is_subdomain(zone))
                   + self.messages.drop_zone(zone))
        self.iterator.forget_no_cuts(zone, below=True)
        self.nsec_index.drop_zone(zone)
        if zone.is_root():
            self.validator.forget()
        log.info("flush zone %s: %d entries dropped", zone, dropped)
        return dropped

    def flush_bogus(self) -> int:
        """Drop every bogus verdict with its data (RRsets, denials, key entries, with
        their backoff) and every remembered failure, and the wire answers that are
        SERVFAIL or bogus: the next question fetches and validates afresh."""
        dropped = (self.rrsets.drop_bogus() + self.negative.drop_bogus()
                   + self.keys.drop(lambda entry: entry.security == Security.BOGUS)
                   + self._failures.drop_where(lambda _, __: True)
                   + self.messages.drop_bogus())
        log.info("flush bogus: %d entries dropped", dropped)
        return dropped

    def flush_negative(self) -> int:
        """Drop the negative cache (NXDOMAIN and NODATA) and the negative wire answers."""
        dropped = self.negative.clear() + self.messages.drop_negative()
        self.nsec_index.clear()   # the NSEC records of those denials (RFC 8198)
        log.info("flush negative: %d entries dropped", dropped)
        return dropped

    def flush_infra(self, address: str | None = None) -> int:
        """Drop the infrastructure cache (RTT, timeouts and backoff, EDNS, lameness) of
        the server at *address*, or of every server when None."""
        dropped = self.infra.forget(address)
        log.info("flush infra %s: %d servers dropped", address or "(all)", dropped)
        return dropped

    def flush_all(self) -> int:
        """Drop every cache: RRsets, denials, keys, failures, wire answers and the
        infrastructure cache, with the memos (no zone cuts, verified signatures)."""
        dropped = (self.rrsets.clear() + self.negative.clear() + len(self.keys)
                   + self._failures.drop_where(lambda _, __: True) + len(self.messages)
                   + self.infra.forget(None))
        self.keys.clear()
        self.messages.clear()
        self.validator.forget()
        self.iterator.forget_no_cuts()
        self.nsec_index.clear()
        log.info("flush all: %d entries dropped", dropped)
        return dropped

    async def flush_shared(self, zone: Name | None = None, name: Name | None = None,
                           rtype: int | None = None) -> int | None:
        """The flush of (*name*, *rtype*), of *name*, of *zone* or (all None) of
        everything, in the shared cache on Redis (``cachedb``): how many keys were
        removed, None without one. Raises OSError when Redis failed
        (:meth:`resolver.iterate.shared.SharedCache.flush`)."""
        if self.shared is None:
            return None
        removed = await self.shared.flush(zone, name, rtype)
        log.info("flush in cachedb: %d keys removed", removed)
        return removed

    def dump_cache(self, path: Path) -> int:
        """Write the RRset and negative caches into *path* (format and rules:
        :mod:`resolver.cache.dump`); returns how many entries were written."""
        return cache_dump.dump(path, self.rrsets, self.negative, self.now())

    def load_cache(self, path: Path) -> int:
        """Read a dump into the caches, every entry unvalidated (validated when used;
        expired, bogus and no longer signed ones left out). Returns how many entries
        were stored; raises :class:`resolver.cache.dump.DumpError` (nothing stored)
        for a file that does not decode, OSError for one that cannot be read. The wire
        answers are dropped when anything was stored, to be built from the caches."""
        stored = cache_dump.load(path, self.rrsets, self.negative, self.now(),
                                 self.finder.now())
        if stored:
            self.messages.clear()
        return stored

    async def close(self) -> None:
        """Finish the background writes to the shared cache and close its connections,
        and close the TLS connections to forwarders (a close_notify each, not a reset)."""
        if self.shared is not None:
            await self.shared.close()
        await self.dot.client.close()

    # ------------------------------------------------------------------ read-only views
    def cache_stats(self) -> dict[str, CacheStats]:
        """The counters of the RRset, negative, wire answer (``message``) and key caches."""
        stores: dict[str, LruStore[Any, Any] | SlotStore[Any, Any]] = {
            "rrset": self.rrsets.store, "negative": self.negative.store,
            "message": self.messages.store, "key": self.keys.store}
        return {name: CacheStats(store.hits, store.misses, len(store), store.bytes,
                                 store.evictions) for name, store in stores.items()}

    def infra_servers(self) -> int:
        """Servers in the infrastructure cache (RTT, EDNS, lameness)."""
        return len(self.infra)

    def anchor_keys(self) -> list[tuple[str, int, str]]:
        """(zone, key tag, state) of each trust anchor key: its RFC 5011 state when the
        anchors are managed (``--auto-trust-anchor-file``), ``configured`` otherwise."""
        if self.autotrust is not None:
            return [(str(k["zone"]), int(k["key_tag"]), str(k["state"]))
                    for k in self.autotrust.status()]
        return [(a.zone.to_text(), a.key_tag, "configured") for a in self.anchors]

    def anchors_validated(self) -> dict[str, float]:
        """Anchor zone -> when its key set last validated (seconds since the epoch)."""
        if self.autotrust is not None:
            return {str(p["zone"]): float(p["last_success"])
                    for p in self.autotrust.summary() if p.get("last_success")}
        return dict(self.anchor_validated)

    def fast_path_answers(self) -> dict[tuple[str, ...], int]:
        """Answers the server sent from the wire answer cache, by (transport, qtype,
        rcode, security): they never reach :meth:`resolve`, so they are counted there."""
        return dict(self.messages.served)

    # ------------------------------------------------------------------ public
    async def resolve(self, qname: Name, qtype: int, qclass: int = 1, *, cd: bool = False,
                      trace: Trace | None = None) -> Answer:
        self.stats.queries += 1
        if qclass != 1:
            return Answer(qname, qtype, qclass, rcode=Rcode.REFUSED,
                          security=Security.INDETERMINATE)
        local = self.local.answer(qname, qtype)
        if local is not None:
            self.stats.local += 1
            return local
        if trace is not None and trace.enabled:
            return await self._resolve(qname, qtype, cd, trace)
        key = (qname.key, qtype, cd)
        running = self._inflight.get(key)
        if running is not None:
            self.stats.merged += 1
            return await self._wait(running, qname, qtype)
        # at DEBUG level the validation steps are logged: each resolution keeps a trace
        steps = Trace() if log.isEnabledFor(logging.DEBUG) else OFF
        if self._kept(qname, qtype) is None:
            # no stale answer to fall back on: the first asker does the work in its own
            # task (no task, shield and loop round of its own per cold answer)
            return await self._resolve_here(key, qname, qtype, cd, steps)
        # the work runs in a task of its own, so that the stale answer can be given
        # after the client-response timer while the resolution goes on
        task = asyncio.ensure_future(self._resolve(qname, qtype, cd, steps))
        self._in_flight(key, task)
        return await self._wait(task, qname, qtype, kept=True)

    async def _resolve_here(self, key: tuple[bytes, int, bool], qname: Name, qtype: int,
                            cd: bool, steps: Trace) -> Answer:
        """Resolve in the caller's task; askers of the same question meanwhile merge
        into a future the result is copied to. A caller that is cancelled (a client
        gone away, a time limit) must cancel neither their answer nor the resolution
        filling the caches: the work is handed on to a task of its own, which starts
        again from what the caches hold by then."""
        shared: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._inflight[key] = shared
        owner = self._owners[key] = asyncio.current_task()
        try:
            answer = await self._resolve(qname, qtype, cd, steps)
        except asyncio.CancelledError:
            self._disown(key, owner)
            task = asyncio.ensure_future(self._carry_on(key, shared, qname, qtype, cd, steps))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            raise
        except BaseException as exc:
            self._disown(key, owner)
            self._settle(key, shared, None, exc)
            raise
        self._disown(key, owner)
        self._settle(key, shared, answer, None)
        return answer

    def _disown(self, key: tuple[bytes, int, bool], owner: asyncio.Task[Any] | None) -> None:
        if self._owners.get(key) is owner:
            del self._owners[key]

    async def _carry_on(self, key: tuple[bytes, int, bool], shared: asyncio.Future[Answer],
                        qname: Name, qtype: int, cd: bool, steps: Trace) -> None:
        """The resolution of a cancelled first asker, for those merged into it."""
        owner = self._owners[key] = asyncio.current_task()
        try:
            answer = await self._resolve(qname, qtype, cd, steps)
        except asyncio.CancelledError:
            self._disown(key, owner)
            if self._inflight.get(key) is shared:
                del self._inflight[key]
            shared.cancel()
            raise
        except Exception as exc:
            self._disown(key, owner)
            log.exception("resolution of %s %s failed", qname, type_to_text(qtype))
            self._settle(key, shared, None, exc)
            return
        self._disown(key, owner)
        self._settle(key, shared, answer, None)

    def _settle(self, key: tuple[bytes, int, bool], shared: asyncio.Future[Answer],
                answer: Answer | None, exc: BaseException | None) -> None:
        """End the in-flight entry *shared* of *key* with *answer* or *exc*, at once:
        an asker coming after this point starts afresh (the failure cache, say)."""
        if self._inflight.get(key) is shared:
            del self._inflight[key]
        if shared.done():
            return
        if exc is not None:
            shared.set_exception(exc)
            shared.exception()       # retrieved: the asker raises it already
        else:
            assert answer is not None
            shared.set_result(answer)

    def _in_flight(self, key: tuple[bytes, int, bool], task: asyncio.Future[Answer],
                   then: Callable[[], None] | None = None) -> None:
        """Register *task* as the resolution of *key* that later askers merge into,
        until it ends (then *then* runs)."""
        self._inflight[key] = task

        def done(finished: asyncio.Future[Answer]) -> None:
            if then is not None:
                then()
            if self._inflight.get(key) is finished:
                del self._inflight[key]
            if not finished.cancelled():
                finished.exception()  # mark retrieved
        task.add_done_callback(done)

    async def explain(self, qname: Name, qtype: int, qclass: int = 1, *,
                      cd: bool = False, fresh: bool = False) -> tuple[Answer, Trace]:
        """:meth:`resolve` with a readable account of the validation: the answer and
        its trace (``render()`` as text, ``to_json()`` as data). Not merged with the
        same question in flight, so the trace is of this resolution. *fresh*: the
        chain of trust is worked out again, not taken from cached key entries,
        verdicts or failures (the data may still come from the cache), so that the
        trace shows every step (the report page draws it)."""
        trace = Trace(fresh=fresh)
        answer = await self.resolve(qname, qtype, qclass, cd=cd, trace=trace)
        return answer, trace

    # ------------------------------------------------------------------ work
    async def _resolve(self, qname: Name, qtype: int, cd: bool, trace: Trace) -> Answer:
        failed = None if trace.fresh else self._failures.get((qname.key, qtype))
        if failed is not None and failed[0] > self.now():
            self.stats.failures_cached += 1
            return self._stale_answer(qname, qtype) or failed[1]
        epoch = self._epoch
        state = self.iterator.new_state()
        try:
            result = await self.iterator.resolve(qname, qtype, state)
        except ResolveError as exc:
            failure = self._failure(qname, qtype, exc, state)
            return self._stale_answer(qname, qtype) or failure
        if failed is not None:
            self._failures.delete((qname.key, qtype))   # the streak of failures is over
        self.stats.upstream += state.upstream
        if not self.settings.validate:
            unchecked = Outcome(Security.INDETERMINATE, Reason(
                Problem.INDETERMINATE, "validation is switched off"))
            answer = self._answer(qname, qtype, result, unchecked, cd)
            if epoch == self._epoch and not cd:
                self._keep(qname, qtype, answer, unchecked)
            return answer
        budget = Budget(self.settings.validation_limits)

        fetch = QueryFetch(partial(self.iterator.resolve, state=state, validating=True),
                           state, self.counters)
        outcome = await self.validator.validate(qname, qtype, result, fetch, budget, trace)
        first = outcome.security
        if not cd:
            result, outcome = await self._ask_again(qname, qtype, result, outcome, state,
                                                    fetch, budget, trace)
        if self.shared is not None and not cd and epoch == self._epoch:
            self.shared.settle(state.shared, first, outcome.security,
                               self._negative_anchor_until(outcome) is not None)
        if trace.enabled and log.isEnabledFor(logging.DEBUG):
            log.debug("validation of %s %s: %s: %s", qname, type_to_text(qtype),
                      outcome.security.label, "; ".join(
                          line.strip() for line in trace.render().splitlines() if line.strip()))
        if epoch == self._epoch:   # else judged (partly) under anchors no longer in force
            self._remember(qname, qtype, result, outcome, budget, cd)
        answer = self._answer(qname, qtype, result, outcome, cd)
        until = self._negative_anchor_until(outcome)
        if until is not None:   # not cached past the end of the negative trust anchor
            answer.ttl = max(0, min(answer.ttl, int(until - self.finder.now())))
        if epoch == self._epoch and not cd:
            self._keep(qname, qtype, answer, outcome)
        return answer

    # ------------------------------------------------------------------ serve-stale, prefetch
    def _stale_window(self) -> None:
        """How long the RRset and negative caches keep expired entries in place:
        ``stale-max`` with serve-stale on; with prefetch only, long enough for an
        entry a refresh marked expired to be answered from if the refresh fails."""
        settings = self.settings
        grace = float(settings.stale_max) if settings.serve_stale else (
            settings.max_ttl * PREFETCH_FRACTION + 1 if settings.prefetch else 0.0)
        self.rrsets.store.grace = self.negative.store.grace = grace

    def _kept(self, qname: Name, qtype: int) -> stale.Kept | None:
        """What the caches still hold for (*qname*, *qtype*), alive or (serve-stale on)
        expired up to ``stale-max`` ago, when it may be served: never bogus, and with
        validation on, judged (data no verdict was written on, after a change of trust
        anchors say, is not served from here)."""
        settings = self.settings
        window = float(settings.stale_max) if settings.serve_stale else 0.0
        found = stale.kept(self.rrsets, self.negative, qname, qtype, self.now(), window,
                           settings.iter_limits.cname_chain)
        if found is None or found.security == Security.BOGUS:
            return None
        if found.security is None:
            if settings.validate:
                return None
            found.security = Security.INDETERMINATE
        return found

    async def _wait(self, task: asyncio.Future[Answer], qname: Name, qtype: int,
                    kept: bool | None = None) -> Answer:
        """The answer of *task*. With a stale answer at hand (RFC 8767 s5), a resolution
        still running after the client-response timer is answered from it; the
        resolution goes on in the background and refreshes the caches. *kept*: whether
        the caller has just found one (None: look)."""
        if kept is None:
            kept = self._kept(qname, qtype) is not None
        if kept:
            try:
                return await asyncio.wait_for(asyncio.shield(task), STALE_CLIENT_TIMER)
            except TimeoutError:
                answer = self._stale_answer(qname, qtype)
                if answer is not None:
                    return answer
        return await asyncio.shield(task)

    def _stale_answer(self, qname: Name, qtype: int) -> Answer | None:
        """The cached answer to (*qname*, *qtype*) when resolving it failed. Expired
        (up to ``stale-max`` ago), as RFC 8767 serves it: TTL 30, EDE 3, and only with
        serve-stale on; still alive (a prefetch marked the cached copy expired, then
        failed), with its TTL left. Secure only while its RRSIGs are inside their
        validity window. None when there is none (bogus data is never served)."""
        found = self._kept(qname, qtype)
        if found is None:
            return None
        left = int(found.expires - self.now())
        ede: list[tuple[int, str]] = []
        if left > 0:
            # alive data the resolution did not answer from: only when a prefetch
            # marked it expired (else the iterator refused it: a limit, a loop)
            if (qname.key, qtype) not in self._refreshing:
                return None
            ttl = left
        elif not self.settings.serve_stale:
            return None
        else:
            ttl, ede = STALE_TTL, [(STALE_EDE, "stale answer")]
            self.counters.inc("stale_answers")
            log.debug("stale answer for %s %s", qname, type_to_text(qtype))
        security, reason = found.security or Security.INDETERMINATE, found.reason
        vnow = self.finder.now()
        sig_until = stale.signatures_end(found.answer + found.authority, vnow)
        if security == Security.SECURE and (sig_until is None or sig_until <= vnow):
            security = Security.INDETERMINATE
            reason = Reason(Problem.INDETERMINATE, "stale answer: its RRSIGs have expired")

        # answer ttl 0: the wire answer cache never keeps it
        def aged(section: list[RRset]) -> list[RRset]:
            return [r.with_ttl(ttl if left <= 0 else min(r.ttl, ttl)) for r in section]
        return Answer(qname, qtype, 1, found.rcode, aged(found.answer),
                      aged(found.authority), [], security, reason, ede,
                      ttl=0, from_cache=True)

    def _keep(self, qname: Name, qtype: int, answer: Answer, outcome: Outcome) -> None:
        """After a CD=0 answer: a hit in the last tenth of its TTL starts one refresh
        (prefetch), and so do the DNSKEY sets it rests on (prefetch-key). Serve-stale
        needs nothing here: the data stays in place in the caches."""
        settings = self.settings
        if not (settings.prefetch or settings.prefetch_key) or answer.security == \
                Security.BOGUS or answer.rcode not in (Rcode.NOERROR, Rcode.NXDOMAIN):
            return
        now = self.now()
        if settings.prefetch:
            found = stale.kept(self.rrsets, self.negative, qname, qtype, now, 0.0)
            if found is not None and stale.near_expiry(found, now, PREFETCH_FRACTION):
                self._refresh(qname, qtype)
        if settings.prefetch_key:
            for part in outcome.parts:
                zone = part.zone
                held = self.keys.store.peek(zone.key) if zone is not None else None
                if zone is not None and held is not None and held[1].secure and \
                        held[0] - held[1].ttl * PREFETCH_FRACTION <= now < held[0]:
                    self._refresh(zone, RRType.DNSKEY)

    def _refresh(self, qname: Name, qtype: int) -> None:
        """Prefetch: one background resolution of (*qname*, *qtype*), at most
        PREFETCH_MAX at once. The cached copy is marked expired first, so that the
        fresh data replaces it (a live secure entry is otherwise kept), and clients
        asking meanwhile wait for this resolution rather than start their own."""
        key = (qname.key, qtype)
        flight = (qname.key, qtype, False)
        running = self._inflight.get(flight)
        current = asyncio.current_task()
        if key in self._refreshing or len(self._refreshing) >= PREFETCH_MAX or (
                running is not None and running is not current
                and (current is None or self._owners.get(flight) is not current)):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:      # no event loop: nothing to refresh with
            return
        now = self.now()
        for rtype in (qtype, RRType.CNAME):
            self.rrsets.store.set_expiry((qname.key, rtype), now)
        for neg in (qtype, NXDOMAIN_TYPE):
            self.negative.store.set_expiry((qname.key, neg), now)
        if qtype == RRType.DNSKEY:
            self.keys.store.set_expiry(qname.key, now)
        self.counters.inc("prefetches", ("key" if qtype == RRType.DNSKEY else "answer",))
        self._refreshing.add(key)
        task = loop.create_task(self._resolve(qname, qtype, False, OFF))
        self._in_flight(flight, task, lambda: self._refreshing.discard(key))

    async def _ask_again(self, qname: Name, qtype: int, result: IterResult, outcome: Outcome,
                         state: QueryState, fetch: QueryFetch, budget: Budget,
                         trace: Trace) -> tuple[IterResult, Outcome]:
        """Before a bogus answer becomes a SERVFAIL, fetch what was bogus again
        (skipping the cache, the servers that gave it asked last) and validate anew, at
        most ANSWER_RETRIES times (resolver/validate/refetch.py says which data and
        why). One stale secondary or one forged packet must not fail a name."""
        for _ in range(ANSWER_RETRIES):
            if budget.exhausted:
                break
            plan = answer_retry(qname, qtype, result, outcome, self.keys)
            if plan is None:
                break
            fetch.answer_again(plan)
            trace.add("", f"bogus ({outcome.reason}): asking again, other servers first")
            try:
                again = await self.iterator.resolve(qname, qtype, state)
            except ResolveError as exc:
                log.debug("asking again for %s %s: %s", qname, type_to_text(qtype), exc.text)
                break
            if same_data(again, result):
                # the same records, so the same verdict (not validated again); when the
                # bogus copy came from the cache, its server unknown, the next round
                # asks the other servers (the one that just gave it is now known)
                cached = not known_servers(result)
                result = again
                if cached and known_servers(again):
                    continue
                break
            result = again
            outcome = await self.validator.validate(qname, qtype, result, fetch, budget,
                                                    trace)
        return result, outcome

    def _failure(self, qname: Name, qtype: int, exc: ResolveError, state: QueryState) -> Answer:
        self.stats.servfail += 1
        if isinstance(exc, LimitExceeded):
            self.counters.inc("budget_cutoffs", ("query",))
        log.debug("SERVFAIL for %s %s: %s", qname, type_to_text(qtype), exc.text)
        ede = [(exc.ede, exc.text)] if exc.ede else [(0, exc.text)]
        now = self.now()
        key = (qname.key, qtype)
        found = self._failures.peek(key)
        before = found[1] if found is not None else None
        ttl = FAILURE_TTL
        if before is not None and now - before[0] < FAILURE_TTL_MAX:
            ttl = min(FAILURE_TTL_MAX, 2 * before[1].ttl)   # failed again right after
        answer = Answer(qname, qtype, rcode=Rcode.SERVFAIL, security=Security.INDETERMINATE,
                        reason=Reason(Problem.INDETERMINATE, exc.text), ede=ede, ttl=ttl)
        # kept past its answer's end for as long as a new failure continues the streak
        self._failures.put(key, (now + ttl, answer), now + ttl + FAILURE_TTL_MAX, 1)
        return answer

    def _remember(self, qname: Name, qtype: int, result: IterResult, outcome: Outcome,
                  budget: Budget, cd: bool = False) -> None:
        """Write the verdicts back into the caches (cached data keeps its status).

        Each verdict goes onto the records it was reached on: the cache compares the
        entry now under the key with the RRset (or SOA and NSEC/NSEC3 records) judged,
        and an entry stored there meanwhile with other data (a concurrent query, a
        converging CNAME chain, a glueless NS lookup) keeps no verdict.

        Two kinds of verdict are not a property of the data and are not written: those
        resting on a negative trust anchor (they must end when the anchor expires, so
        the data is validated again each time, which is cheap), and bogus verdicts of a
        query that ran out of validation budget (one expensive query, such as a long
        CNAME chain, must not make its RRsets bogus for everyone); nor bogus verdicts
        of a CD=1 query, which does not ask again: its data stays unchecked (as in
        Unbound), so that a CD=0 query finding it bogus fetches it anew before
        answering SERVFAIL."""
        bogus_ttl = self.settings.bogus_ttl
        for index, part in enumerate(outcome.parts):
            reason = part.verdict.reason
            if reason is not None and reason.problem == Problem.NEGATIVE_ANCHOR:
                continue
            if part.verdict.security == Security.BOGUS and (budget.exhausted or cd):
                continue
            if index < len(result.answer):
                if index < len(result.verdicts) and result.verdicts[index] is not None:
                    continue
                rrset = result.answer[index]
                ttl = bogus_ttl if part.verdict.security == Security.BOGUS else part.ttl
                self.rrsets.set_security(rrset, part.verdict.security, part.verdict.reason,
                                         ttl, proofs=result.proofs)
                # RFC 8198 s5.3: keep the wildcard behind a secure expansion fresh from
                # upstream, for other names its NSEC covers (cache/wildcard_synth.py)
                if part.verdict.security == Security.SECURE and part.zone is not None \
                        and part.ttl and rrset.from_wildcard() and result.servers[index] \
                        and self.settings.aggressive_nsec:
                    remember_wildcard(self.rrsets, self.nsec_index, rrset, part.zone,
                                      part.proofs, part.ttl)
            elif result.neg_verdict is None:
                last = result.answer[-1] if result.answer else None
                target = Name(last.rdatas[0]) if last is not None and \
                    last.rtype == RRType.CNAME else qname
                ttl = bogus_ttl if part.verdict.security == Security.BOGUS else None
                self.negative.set_security(target, qtype, part.verdict.security,
                                           part.verdict.reason, ttl, rcode=result.rcode,
                                           soa=result.soa, proofs=result.proofs)
                # RFC 8198: the NSEC records that verified in a secure denial fresh
                # from upstream (a cached one would only refresh their life)
                if part.proofs and part.zone is not None and result.soa is not None \
                        and result.neg_server is not None \
                        and part.verdict.security == Security.SECURE:
                    self.nsec_index.add(part.zone, result.soa, part.proofs, part.ttl)

    def _negative_anchor_until(self, outcome: Outcome) -> float | None:
        """When the negative trust anchor the outcome rests on ends, if it rests on one."""
        ends = []
        for part in outcome.parts:
            reason = part.verdict.reason
            if reason is not None and reason.problem == Problem.NEGATIVE_ANCHOR \
                    and part.zone is not None:
                nta = self.finder.negative_anchor(part.zone)
                if nta is not None:
                    ends.append(nta.until)
        return min(ends) if ends else None

    def _answer(self, qname: Name, qtype: int, result: IterResult, outcome: Outcome,
                cd: bool) -> Answer:
        security = outcome.security
        code = outcome.reason.ede if outcome.reason is not None else None
        self.counters.inc("validation_outcomes",
                          (security.label, str(code) if code is not None else ""))
        if outcome.reason is not None and outcome.reason.problem == Problem.BUDGET_EXCEEDED:
            self.counters.inc("budget_cutoffs", ("validation",))
        if security == Security.BOGUS and not cd:
            self.counters.inc("bogus_servfail")
        if security == Security.SECURE:
            self.stats.secure += 1
        elif security == Security.BOGUS:
            self.stats.bogus += 1
            problem = outcome.reason.problem.name if outcome.reason else "UNKNOWN"
            self.stats.by_problem[problem] = self.stats.by_problem.get(problem, 0) + 1
            log.info("bogus: %s %s zone %s: %s", qname, type_to_text(qtype), outcome.zone,
                     outcome.reason)
            self.stats.recent_bogus.append((time.time(), str(qname), type_to_text(qtype),
                                            str(outcome.zone or ""), str(outcome.reason)))
        else:
            self.stats.insecure += 1
        answer = Answer(qname, qtype, rcode=result.rcode, security=security,
                        reason=outcome.reason, ede=list(outcome.ede))
        if security == Security.BOGUS and not cd:
            answer.rcode = Rcode.SERVFAIL
            answer.ttl = self.settings.bogus_ttl
            return answer
        # RFC 4035 s5.3.3: a validated RRset lives no longer than its signature does
        answer.answer = [
            rrset.with_ttl(part.ttl) if part.ttl is not None and part.ttl < rrset.ttl
            and part.verdict.security == Security.SECURE else rrset
            for rrset, part in zip(result.answer, outcome.parts, strict=False)
        ] + list(result.answer[len(outcome.parts):])
        negative = result.soa is not None or (result.rcode == Rcode.NXDOMAIN) or (
            bool(result.proofs) and not any(r.rtype == qtype for r in result.answer))
        if result.soa is not None:
            answer.authority.append(result.soa)
        if negative or any(r.from_wildcard() for r in result.answer):
            answer.authority.extend(result.proofs)
        ttls = [r.ttl for r in answer.answer + answer.authority]
        answer.ttl = min(ttls) if ttls else 0
        if negative and result.soa is not None:
            answer.ttl = min(answer.ttl, self.settings.max_negative_ttl)
        if security == Security.BOGUS:
            answer.ttl = min(answer.ttl, self.settings.bogus_ttl)
        return answer


