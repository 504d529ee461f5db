"""MTA-STS discovery with a policy cache (RFC 8461 s3.3, s5.1).

:meth:`MtaSts.discover` looks up ``_mta-sts.DOMAIN`` TXT, and:

* a valid record whose ``id`` equals the cached policy's (not expired): the cache;
* a valid record with a new ``id``, or nothing cached: fetch (:mod:`.mtasts_fetch`);
  a fetch that fails falls back to the cached policy while it lasts, else "no policy"
  (RFC 8461 s3.3: deliver as if the domain had no MTA-STS); a failed fetch is not
  tried again for :data:`RETRY_AFTER` seconds for the same domain and ``id``, so a
  dead policy host does not cost every delivery a timeout;
* no record, or a malformed one: the cached policy while it lasts, else no policy;
* a failed or bogus lookup: the cached policy while it lasts, else ``dns-failed``
  (the caller defers: the answer proves nothing either way).

The cache is per domain, bounded (least recently used first out), and keeps a policy
for its ``max_age`` (capped at one year). Concurrent discoveries of one domain share one
fetch. The clock is injectable.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..counters import Counters, NullCounters
from ..lru import Lru
from ..wire import rdata as rd
from ..wire.name import Name, NameError_
from ..wire.types import RRType
from .dnsapi import DnsSource, Lookup, LookupInfo
from .mtasts import Json, Mode, MtaStsError, Policy, StsRecord, select_record
from .mtasts_fetch import FetchResult, FetchSettings, fetch_policy

log = logging.getLogger(__name__)

DEFAULT_CACHE_SIZE = 10_000
RETRY_AFTER = 300.0        # seconds a failed fetch is not tried again (same domain and id)
Fetcher = Callable[[DnsSource, Name, FetchSettings], Awaitable[FetchResult]]


class StsStatus(enum.StrEnum):
    POLICY = "policy"              # a policy applies (any mode: see Policy.mode)
    NO_POLICY = "no-policy"        # no record, a malformed one, or no policy fetched
    DNS_FAILED = "dns-failed"      # the TXT lookup failed or was bogus; nothing cached


@dataclass(frozen=True, slots=True)
class CachedPolicy:
    record_id: str
    policy: Policy
    fetched_at: float
    expires_at: float


@dataclass(frozen=True, slots=True)
class MtaStsResult:
    """What MTA-STS says for one domain, and why."""

    domain: Name
    status: StsStatus
    reasons: tuple[str, ...]
    txt_lookup: LookupInfo
    record: StsRecord | None = None
    policy: Policy | None = None
    source: str | None = None            # "fetched" or "cache" when a policy applies
    fetched_at: float | None = None
    expires_at: float | None = None
    fetch: FetchResult | None = None

    @property
    def enforced(self) -> bool:
        return self.policy is not None and self.policy.mode is Mode.ENFORCE

    def to_json(self) -> Json:
        out: Json = {"domain": self.domain.to_text(), "result": self.status.value,
                     "reasons": list(self.reasons), "txt_lookup": self.txt_lookup.to_json(),
                     "record": self.record.to_json() if self.record is not None else None,
                     "policy": self.policy.to_json() if self.policy is not None else None,
                     "mode": self.policy.mode.value if self.policy is not None else None,
                     "source": self.source}
        if self.fetched_at is not None:
            out["fetched_at"] = round(self.fetched_at)
        if self.expires_at is not None:
            out["expires_at"] = round(self.expires_at)
        if self.fetch is not None:
            out["fetch"] = self.fetch.to_json()
        return out


def txt_strings(lookup: Lookup) -> list[str]:
    """Each TXT record's strings joined (RFC 7208 s3.3 style), undecodable ones dropped."""
    out: list[str] = []
    for data in lookup.records:
        try:
            txt = rd.decode(RRType.TXT, data)
        except (rd.RdataError, ValueError):
            continue
        assert isinstance(txt, rd.TXT)
        out.append(b"".join(txt.strings).decode("utf-8", "replace"))
    return out


class MtaSts:
    """Discovery plus the policy cache; one per process (shared by the socketmap server
    and the API when both run)."""

    def __init__(self, settings: FetchSettings | None = None, *,
                 max_entries: int = DEFAULT_CACHE_SIZE,
                 clock: Callable[[], float] = time.time,
                 fetcher: Fetcher = fetch_policy, retry_after: float = RETRY_AFTER,
                 counters: Counters | NullCounters | None = None) -> None:
        self.settings = settings or FetchSettings()
        self.counters = counters if counters is not None else NullCounters()
        self.cache: Lru[bytes, CachedPolicy] = Lru(max_entries)
        self.failures: Lru[tuple[bytes, str], tuple[float, FetchResult]] = Lru(max_entries)
        self.retry_after = retry_after
        self.clock = clock
        self.fetcher = fetcher
        self.fetches = 0
        self._inflight: dict[tuple[bytes, str], asyncio.Future[FetchResult]] = {}

    def cached(self, domain: Name) -> CachedPolicy | None:
        entry = self.cache.use(domain.key)
        if entry is None:
            return None
        if entry.expires_at <= self.clock():
            self.cache.pop(domain.key, None)
            return None
        return entry

    async def _fetch(self, dns: DnsSource, domain: Name, record_id: str) -> FetchResult:
        key = (domain.key, record_id)
        failed = self.failures.get(key)
        if failed is not None and self.clock() < failed[0]:
            return failed[1]
        running = self._inflight.get(key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[FetchResult] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            self.fetches += 1
            result = await self.fetcher(dns, domain, self.settings)
            if result.policy is None:
                self.failures[key] = (self.clock() + self.retry_after, result)
            else:
                self.failures.pop(key, None)
            self.counters.inc("mta_sts_fetches",
                              ("ok" if result.policy is not None else "failed",))
            future.set_result(result)
            return result
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()       # retrieved: no "never retrieved" warning
            raise
        finally:
            self._inflight.pop(key, None)

    async def discover(self, dns: DnsSource, domain: Name) -> MtaStsResult:
        reasons: list[str] = []
        try:
            owner = domain.prepend(b"_mta-sts")
        except NameError_:
            lk = Lookup(domain, RRType.TXT, 0)
            return MtaStsResult(domain, StsStatus.NO_POLICY,
                                ("_mta-sts.<domain> would exceed 255 octets",), LookupInfo(lk))
        lookup = await dns.lookup(owner, RRType.TXT)
        info = LookupInfo(lookup)
        reasons.append(lookup.summary())
        cached = self.cached(domain)

        def from_cache(why: str, record: StsRecord | None = None,
                       fetch: FetchResult | None = None) -> MtaStsResult:
            assert cached is not None
            reasons.append(why)
            return MtaStsResult(domain, StsStatus.POLICY, tuple(reasons), info, record,
                                cached.policy, "cache", cached.fetched_at, cached.expires_at,
                                fetch)

        if lookup.failed:
            if cached is not None:
                return from_cache("TXT lookup failed: the cached policy still applies "
                                  "(RFC 8461 s5.1)")
            reasons.append("TXT lookup failed or bogus and no policy is cached: "
                           "nothing can be concluded")
            return MtaStsResult(domain, StsStatus.DNS_FAILED, tuple(reasons), info)
        try:
            record = select_record(txt_strings(lookup))
        except MtaStsError as exc:
            if cached is not None:
                return from_cache(f"no valid record ({exc}): the cached policy still "
                                  "applies until it expires (RFC 8461 s5.1)")
            reasons.append(f"no MTA-STS: {exc}")
            return MtaStsResult(domain, StsStatus.NO_POLICY, tuple(reasons), info)
        if cached is not None and cached.record_id == record.id:
            return from_cache(f"id {record.id} unchanged: cached policy", record)
        if cached is not None:
            reasons.append(f"id changed ({cached.record_id} -> {record.id}): fetching again")
        fetched = await self._fetch(dns, domain, record.id)
        if fetched.policy is None:
            if cached is not None:
                return from_cache(f"fetch failed ({fetched.error}): the cached policy "
                                  "still applies (RFC 8461 s3.3)", record, fetched)
            reasons.append(f"policy fetch failed ({fetched.error}): deliver as if the "
                           "domain had no MTA-STS (RFC 8461 s3.3)")
            return MtaStsResult(domain, StsStatus.NO_POLICY, tuple(reasons), info, record,
                                fetch=fetched)
        now = self.clock()
        entry = CachedPolicy(record.id, fetched.policy, now, now + fetched.policy.max_age)
        if fetched.policy.max_age > 0:
            self.cache[domain.key] = entry
        reasons.append(f"policy fetched from {fetched.url}: mode {fetched.policy.mode.value}, "
                       f"max_age {fetched.policy.max_age}")
        return MtaStsResult(domain, StsStatus.POLICY, tuple(reasons), info, record,
                            fetched.policy, "fetched", entry.fetched_at, entry.expires_at,
                            fetched)
