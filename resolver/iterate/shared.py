"""The iterator's side of the shared cache on Redis (``cachedb``, issue 18).

Two things, both on the same path as data from the network:

* :meth:`SharedCache.lookup`: on a miss of the local caches the iterator asks Redis
  before going upstream; a record found is a reply (resolver/cache/cachedb.py) that
  the iterator classifies with the scrubber and takes like a server's reply, without
  any verdict, so the validator judges it again (a poisoned Redis gives bogus data,
  asked again upstream before a SERVFAIL, never a secure answer).
* :meth:`SharedCache.record` notes, for one client query, what each top-level
  look-up (the question, its CNAME links, and the validator's DS and DNSKEY
  look-ups) added to its result; :meth:`SharedCache.settle` stores those in Redis
  in the background once the answer validated as secure or insecure (never bogus,
  nor under a negative trust anchor), and when data from Redis failed validation
  counts it as rejected and deletes it there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from ..answer import IterResult
from ..cache.cachedb import (
    CacheDb,
    CodecError,
    Stored,
    decode,
    encode,
    key_for,
    ours_to_drop,
    patterns_for,
)
from ..cache.stale import signatures_end
from ..counters import Counters
from ..dnssec.status import Security
from ..lru import Lru
from ..wire import rdata as rd
from ..wire.name import Name
from ..wire.rrset import RRset
from ..wire.types import Rcode, RRType

log = logging.getLogger(__name__)

MEMO_SIZE = 50000     # keys known to be in Redis (stored or read), not written again
MAX_TASKS = 64        # background writes at once; more are dropped (counted)

NETWORK, CACHE, SHARED = "network", "cache", "shared"


@dataclass(slots=True)
class Step:
    """What one look-up added to a result: the RRsets (with RRSIGs) of one answer or
    chain link, or a denial, and where they came from (:data:`NETWORK`,
    :data:`CACHE` or :data:`SHARED`)."""

    name: Name
    qtype: int
    zone: Name | None
    rcode: int
    answer: list[RRset]
    soa: RRset | None
    proofs: list[RRset]
    source: str


@dataclass(slots=True)
class Steps:
    """The steps of one client query (kept on the iterator's QueryState)."""

    items: list[Step] = field(default_factory=list)


class SharedCache:
    def __init__(self, db: CacheDb, now: Callable[[], float],
                 sig_now: Callable[[], float], max_ttl: int, max_negative_ttl: int,
                 counters: Counters) -> None:
        self.db = db
        self.now = now
        self.sig_now = sig_now
        self.max_ttl = max_ttl
        self.max_negative_ttl = max_negative_ttl
        self.counters = counters
        self._memo: Lru[str, float] = Lru(MEMO_SIZE)    # key -> until when it is there
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ reading
    async def lookup(self, name: Name, qtype: int) -> Stored | None:
        """The record for (*name*, *qtype*) in Redis, if any (a reply to classify)."""
        key = key_for(name, qtype)
        value = await self.db.get(key)
        if value is None:
            self.counters.inc("cachedb", ("miss",))
            return None
        now = self.now()
        try:
            stored = decode(value, name, qtype, now)
        except CodecError as exc:
            self.counters.inc("cachedb", ("rejected",))
            log.info("cachedb: record for %s/%d rejected: %s", name, qtype, exc)
            self._spawn(self.db.delete([key]))
            return None
        if stored is None:
            self.counters.inc("cachedb", ("miss",))
            return None
        self.counters.inc("cachedb", ("hit",))
        ttls = [rr.ttl for rr in stored.reply.answer + stored.reply.authority]
        self._memo[key] = now + min(ttls, default=0)
        return stored

    # ------------------------------------------------------------------ recording
    def record(self, steps: Steps, name: Name, qtype: int, result: IterResult,
               start: tuple[int, int], target: Name | None, source: str) -> None:
        """Note what the look-up of (*name*, *qtype*) added to *result* since *start*."""
        answer = result.answer[start[0]:]
        proofs = result.proofs[start[1]:]
        final = target is None
        soa = result.soa if final else None
        rcode = result.rcode if final else Rcode.NOERROR
        if not answer and soa is None and not proofs:
            return
        zone = result.zones[start[0]] if answer else result.neg_zone
        steps.items.append(Step(name, qtype, zone, rcode, list(answer), soa, list(proofs),
                                source))

    # ------------------------------------------------------------------ writing
    def settle(self, steps: Steps, first: Security, final: Security,
               negative_anchor: bool) -> None:
        """After validation: *first* the verdict before asking again, *final* the
        answer's. Data from Redis behind a bogus first verdict is counted rejected
        and deleted there; the rest is stored when *final* is secure or insecure."""
        latest: dict[str, Step] = {}
        from_redis: set[str] = set()
        asked_again: set[str] = set()     # read from Redis, then fetched upstream anyway
        for step in steps.items:
            key = key_for(step.name, step.qtype)
            latest[key] = step
            if step.source == SHARED:
                from_redis.add(key)
            elif step.source == NETWORK and key in from_redis:
                asked_again.add(key)
        if from_redis and (asked_again or first == Security.BOGUS):
            # only data judged bogus is fetched again (resolver/validate/refetch.py)
            self.counters.inc("cachedb", ("rejected",))
            log.info("cachedb: data from Redis failed validation; asked upstream")
            gone = [key for key, step in latest.items() if step.source == SHARED]
            for key in gone:
                self._memo.pop(key, None)
            if gone:
                self._spawn(self.db.delete(gone))
        if final not in (Security.SECURE, Security.INSECURE) or negative_anchor:
            return
        now = self.now()
        items: list[tuple[str, bytes, int]] = []
        for key, step in latest.items():
            if step.source == SHARED:
                continue
            if step.source == CACHE:
                there = self._memo.get(key)
                if there is not None and there > now:
                    continue
            item = self._encode(key, step, now)
            if item is not None:
                items.append(item)
                self._memo[key] = now + item[2]
        if items and self.db.queue(items) and not self._spawn(self.db.flush()):
            self.db.abandon()

    def _encode(self, key: str, step: Step, now: float) -> tuple[str, bytes, int] | None:
        if step.zone is None or not step.name.is_subdomain(step.zone):
            return None
        authority = ([step.soa] if step.soa is not None else []) + step.proofs
        rrsets = step.answer + authority
        ttl = min((r.ttl for r in rrsets), default=0)
        ttl = min(ttl, self.max_ttl)
        if step.soa is not None:
            try:
                soa = rd.decode(RRType.SOA, step.soa.rdatas[0])
            except (rd.RdataError, IndexError):
                return None
            if isinstance(soa, rd.SOA):
                ttl = min(ttl, soa.minimum, self.max_negative_ttl)
        sig_now = self.sig_now()
        ends = signatures_end(rrsets, sig_now)
        if ends is not None:
            ttl = min(ttl, int(ends - sig_now))
        if ttl <= 0:
            return None
        value = encode(step.name, step.qtype, step.zone, step.rcode, step.answer, authority,
                       now, now + ttl)
        return key, value, ttl

    def _spawn(self, work: Coroutine[Any, Any, None]) -> bool:
        """Run *work* in the background (bounded); False when it was dropped."""
        if len(self._tasks) >= MAX_TASKS:
            work.close()
            self.counters.inc("cachedb", ("dropped",))
            return False
        try:
            task = asyncio.get_running_loop().create_task(work)
        except RuntimeError:      # no event loop
            work.close()
            return False
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    # ------------------------------------------------------------------ flushing
    async def flush(self, zone: Name | None = None, name: Name | None = None,
                    rtype: int | None = None) -> int:
        """Remove from Redis what this resolver's keys hold for (*name*, *rtype*), for
        every type of *name*, for everything at and below *zone*, or (all None) every
        record of ours; the writes still queued for them are dropped first, and the
        memo of what is there forgotten. Returns how many keys were removed; raises
        CacheDbError (an OSError) when Redis failed (counted)."""
        if name is not None and rtype is not None:
            key = key_for(name, rtype)
            self.db.forget_pending(lambda k: k == key)
            self._memo.pop(key, None)
            removed = await self.db.unlink([key])
            self.counters.inc("cachedb", ("flushed",), removed)
            return removed

        def drop(key: str) -> bool:
            return ours_to_drop(key, zone, name)
        self.db.forget_pending(drop)
        for key in [k for k in self._memo if drop(k)]:
            self._memo.pop(key, None)
        removed = await self.db.drop_matching(patterns_for(zone, name), drop)
        self.counters.inc("cachedb", ("flushed",), removed)
        return removed

    async def drain(self) -> None:
        """Wait for the background writes (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        await self.drain()
        await self.db.close()
