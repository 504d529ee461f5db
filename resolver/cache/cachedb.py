"""The shared second-level cache on Redis (``cachedb``, issue 18): the client and the
record format.

A resolver that misses its own caches asks Redis before going upstream, and after a
validated answer stores there what it fetched (the answer and the DS and DNSKEY sets
the validation used), so the workers of one host and the resolvers of a fleet share
one another's upstream work. Redis is not trusted: a record read here is a reply
like one from the network, which the iterator classifies and the validator judges
again (resolver/iterate/shared.py); nothing stored here carries a verdict.

Record format, version 1. Key: ``rsv1:<owner, lowercase text>/<type>/<class>``.
Value: one version octet (1), the time it was stored and the absolute expiry
(big-endian float64 seconds since the epoch), the zone the data came from (octet
length + uncompressed wire name), then a DNS response in wire form: the question,
the answer chain with its RRSIGs, and in AUTHORITY the SOA and NSEC/NSEC3 records
with theirs. The Redis expiry is the remaining TTL, never past the first RRSIG's
expiration.

Redis down or slow (each operation bounded by ``cachedb-timeout-ms``) means resolving
as if it were not configured: a failure counts in ``resolver_cachedb_total{event=
"error"}``; a refused connection, or :data:`FAILURES` failures in a row, make an outage,
logged once, during which Redis is left alone for :data:`BACKOFF` seconds at a time.

Over TLS (``rediss://``) the server's certificate is verified, its host name too,
against ``cachedb-tls-ca-file`` (or the system's CAs); a failure is a failure like any.

Flushes (``resolver control flush*``, :meth:`CacheDb.drop_matching`): the keys of a
name or a zone are found with SCAN and a MATCH pattern (:func:`patterns_for`, a
filter), checked here (:func:`ours_to_drop`) and UNLINKed; never KEYS, never FLUSHDB.
SCAN costs a walk over the whole key space per flush, a few ms per thousand keys in
steps of :data:`SCAN_COUNT`; the alternative, a generation number per zone in every
key, would cost every look-up a read of the ancestors' generations, and look-ups are
the hot path where flushes are rare.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from ..counters import Counters
from ..wire import message as wm
from ..wire.message import RR, FormError, Message, Question
from ..wire.name import Name
from ..wire.rrset import RRset
from ..wire.types import QR
from .cachedb_keys import KEY_PREFIX, key_for, ours_to_drop, owner_of, patterns_for

log = logging.getLogger(__name__)
T = TypeVar("T")
__all__ = ["KEY_PREFIX", "CacheDb", "CacheDbError", "CodecError", "Stored", "decode", "encode",
           "key_for", "ours_to_drop", "owner_of", "patterns_for", "safe_url"]

VERSION = 1
_HEAD = struct.Struct(">Bdd")
BACKOFF = 5.0             # seconds Redis is left alone after an outage is seen
FAILURES = 3              # failures in a row that make an outage (a busy event loop
                          # can make one operation miss its deadline now and then)
CONNECTIONS = 16          # connections to Redis at most (look-ups wait for one)
MAX_VALUE = 65535 + 300   # a record larger than this is not ours
SCAN_COUNT = 1000         # keys Redis looks at per SCAN step of a flush
FLUSH_TIME = 20.0         # seconds a flush in Redis may take at most


class CodecError(ValueError):
    """A value from Redis that is not a record of ours."""


class CacheDbError(OSError):
    """A flush in Redis that failed (the message says why)."""


@dataclass(slots=True)
class Stored:
    """A record read back: the reply (TTLs aged by the time since it was stored) and
    the zone its data came from (a hint, like the zone of the server asked)."""

    reply: Message
    zone: Name


def safe_url(url: str) -> str:
    """*url* without its user and password (for logs)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _rrs(rrsets: list[RRset]) -> list[RR]:
    out: list[RR] = []
    for rrset in rrsets:
        out.extend(rrset.records())
        out.extend(rrset.sig_records())
    return out


def encode(name: Name, qtype: int, zone: Name, rcode: int, answer: list[RRset],
           authority: list[RRset], stored: float, expires: float) -> bytes:
    """The value of a record (format above)."""
    reply = Message(flags=QR, question=[Question(name, qtype, 1)],
                    answer=_rrs(answer), authority=_rrs(authority))
    reply.set_rcode(rcode)
    return (_HEAD.pack(VERSION, stored, expires) + bytes((len(zone.wire),)) + zone.wire
            + reply.to_wire())


def _wire_name(data: bytes) -> Name:
    """A well-formed uncompressed wire name, or CodecError."""
    if not data or len(data) > 255:
        raise CodecError("bad zone name length")
    pos = 0
    while True:
        length = data[pos]
        if length == 0:
            if pos != len(data) - 1:
                raise CodecError("trailing octets after the zone name")
            return Name(data)
        if length > 63 or pos + 1 + length >= len(data):
            raise CodecError("bad label in the zone name")
        pos += 1 + length


def decode(value: bytes, name: Name, qtype: int, now: float) -> Stored | None:
    """The record in *value* for (*name*, *qtype*) as of *now*; None when it has
    expired; CodecError when it is not a well-formed record for that question."""
    if len(value) > MAX_VALUE or len(value) < _HEAD.size + 2:
        raise CodecError("bad size")
    version, stored, expires = _HEAD.unpack_from(value)
    if version != VERSION:
        raise CodecError(f"unknown record version {version}")
    if not (stored == stored and expires == expires):      # NaN
        raise CodecError("bad times")
    if expires <= now:
        return None
    pos = _HEAD.size
    zone = _wire_name(value[pos + 1:pos + 1 + value[pos]])
    pos += 1 + value[pos]
    try:
        reply = wm.parse(value[pos:])
    except FormError as exc:
        raise CodecError(f"malformed reply: {exc}") from None
    if not reply.flags & QR or len(reply.question) != 1:
        raise CodecError("not a reply to one question")
    question = reply.question[0]
    if question.name.key != name.key or question.qtype != qtype or question.qclass != 1:
        raise CodecError("a reply to another question")
    if not name.is_subdomain(zone):
        raise CodecError("the zone is not above the name")
    age = max(0, int(now - min(stored, now)))
    for section in (reply.answer, reply.authority):
        for rr in section:
            rr.ttl = max(0, rr.ttl - age)
            if rr.ttl == 0:
                return None
    return Stored(reply, zone)


class CacheDb:
    """One Redis, asked with a bounded time per operation and a circuit breaker:
    after an outage (a refused connection, or :data:`FAILURES` failures in a row) it
    is skipped for :data:`BACKOFF` seconds (those look-ups are misses); the outage is
    logged once, its end once. Look-ups of one turn of the event loop share one MGET,
    writes one pipeline."""

    def __init__(self, url: str, timeout: float, now: Callable[[], float],
                 counters: Counters, ca_file: Path | None = None) -> None:
        self.url = url
        self.ca_file = ca_file        # rediss://: the CAs to trust (None: the system's)
        self.where = safe_url(url)      # for the log: no password
        self.timeout = timeout
        self.now = now
        self.counters = counters
        self._client: aioredis.Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._down_until = 0.0
        self._outage = False
        self._failures = 0            # in a row
        self._pending: list[tuple[str, bytes, int]] = []   # writes for the next batch
        # look-ups for the next MGET, and the event loop they wait in
        self._wanted: list[tuple[str, asyncio.Future[bytes | None]]] = []
        self._wanted_loop: asyncio.AbstractEventLoop | None = None
        self._batches: set[asyncio.Task[None]] = set()
        self._flushing = False

    def _redis(self) -> aioredis.Redis:
        """The client of the running event loop (a client's connections belong to
        the loop that opened them)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            tls: dict[str, Any] = {}
            if urlsplit(self.url).scheme == "rediss":
                # the server's certificate is checked, its host name included
                tls = {"ssl_cert_reqs": "required", "ssl_check_hostname": True}
                if self.ca_file is not None:
                    tls["ssl_ca_certs"] = str(self.ca_file)
            pool = aioredis.BlockingConnectionPool.from_url(
                # each operation is bounded by _bounded; these are backstops
                self.url, max_connections=CONNECTIONS, timeout=10 * self.timeout,
                socket_timeout=10 * self.timeout, socket_connect_timeout=10 * self.timeout,
                retry=Retry(NoBackoff(), 0), retry_on_timeout=False,
                health_check_interval=0, **tls)
            self._client = aioredis.Redis(connection_pool=pool)
            self._loop = loop
        return self._client

    async def _bounded(self, work: Awaitable[T], timeout: float) -> T:
        """*work* within *timeout* seconds, else TimeoutError. A deadline noticed late
        because the event loop was busy (our CPU, not Redis) is extended once: the
        reply is most likely waiting in the socket already."""
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(work)
        deadline = loop.time() + timeout
        extended = False
        try:
            while True:
                done, _ = await asyncio.wait((task,), timeout=max(0.0, deadline - loop.time()))
                if done:
                    return task.result()
                now = loop.time()
                if extended or now - deadline < timeout / 2:
                    raise TimeoutError(f"no reply in {timeout * 1000:.0f} ms")
                extended = True
                self.counters.inc("cachedb", ("late",))
                deadline = now + timeout
        finally:
            if not task.done():
                task.cancel()

    def available(self) -> bool:
        if self._down_until > self.now():
            self.counters.inc("cachedb", ("skipped",))
            return False
        return True

    def _failed(self, what: str, exc: BaseException) -> None:
        self.counters.inc("cachedb", ("error",))
        self._failures += 1
        refused = isinstance(exc, (RedisConnectionError, ConnectionError))
        if self._failures < FAILURES and not refused:
            return
        self._down_until = self.now() + BACKOFF
        if not self._outage:
            self._outage = True
            log.warning("cachedb %s: %s failed (%s); resolving without it, trying again "
                        "every %.0f s", self.where, what, type(exc).__name__, BACKOFF)

    def _worked(self) -> None:
        self._failures = 0
        if self._outage:
            self._outage = False
            log.warning("cachedb %s: reachable again", self.where)

    async def get(self, key: str) -> bytes | None:
        """The value under *key*; None when there is none or Redis failed. The keys
        asked for in one turn of the event loop go in one MGET (under load, many
        resolutions miss their caches at once; one round trip serves them all)."""
        if not self.available():
            return None
        loop = asyncio.get_running_loop()
        if not self._wanted or self._wanted_loop is not loop:
            self._wanted = []
            self._wanted_loop = loop
            loop.call_soon(self._start_batch)    # after the tasks ready now asked theirs
        future: asyncio.Future[bytes | None] = loop.create_future()
        self._wanted.append((key, future))
        return await future

    def _start_batch(self) -> None:
        batch, self._wanted = self._wanted, []
        if batch:
            task = asyncio.get_running_loop().create_task(self._mget(batch))
            self._batches.add(task)
            task.add_done_callback(self._batches.discard)

    async def _mget(self, batch: list[tuple[str, asyncio.Future[bytes | None]]]) -> None:
        values: Sequence[object] = [None] * len(batch)
        try:
            got = await self._bounded(self._redis().mget([key for key, _ in batch]),
                                      self.timeout)
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed("GET", exc)
        else:
            self._worked()
            if isinstance(got, list) and len(got) == len(batch):
                values = got
        for (_, future), value in zip(batch, values, strict=True):
            if not future.done():
                future.set_result(value if isinstance(value, bytes) else None)

    def queue(self, items: list[tuple[str, bytes, int]]) -> bool:
        """Add writes to the next batch; True when the caller must start a
        :meth:`flush` (none is running)."""
        self._pending.extend(items)
        if self._flushing:
            return False
        self._flushing = True
        return True

    def abandon(self) -> None:
        """Drop the queued writes (no flush could be started)."""
        self._pending = []
        self._flushing = False

    async def flush(self) -> None:
        """Write the queued records, in batches of one round trip each, until none
        is left (the writes of many answers share one pipeline under load)."""
        try:
            while self._pending:
                await asyncio.sleep(0)      # let this loop iteration's answers queue theirs
                items, self._pending = self._pending, []
                await self.put(items)
        finally:
            self._flushing = False

    async def put(self, items: list[tuple[str, bytes, int]]) -> bool:
        """SET each (key, value, seconds) with that expiry, in one round trip."""
        if not items or not self.available():
            return False
        try:
            pipe = self._redis().pipeline(transaction=False)
            for key, value, seconds in items:
                pipe.set(key, value, ex=max(1, seconds))
            await self._bounded(pipe.execute(), self.timeout * 2)
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed("SET", exc)
            return False
        self._worked()
        self.counters.inc("cachedb", ("store",), len(items))
        return True

    async def delete(self, keys: list[str]) -> None:
        if not keys or not self.available():
            return
        try:
            await self._bounded(self._redis().delete(*keys), self.timeout)
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed("DEL", exc)
            return
        self._worked()

    def forget_pending(self, drop: Callable[[str], bool]) -> None:
        """Take the queued writes whose key *drop* selects out of the next batch."""
        self._pending = [item for item in self._pending if not drop(item[0])]

    async def unlink(self, keys: list[str]) -> int:
        """UNLINK *keys* (a flush); how many were there; CacheDbError when Redis
        fails."""
        try:
            removed = int(await self._bounded(self._redis().unlink(*keys),
                                              max(self.timeout, 1.0)))
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed("UNLINK", exc)
            raise CacheDbError(f"cachedb {self.where}: {type(exc).__name__}: {exc}") \
                from None
        self._worked()
        return removed

    async def drop_matching(self, patterns: Iterable[str], drop: Callable[[str], bool]
                            ) -> int:
        """UNLINK the keys that SCAN finds with *patterns* and *drop* selects: the
        flushes (resolver control). SCAN walks the whole key space, :data:`SCAN_COUNT`
        keys a step (each step bounded like any operation, so Redis stays responsive
        for the others), never KEYS. Returns how many keys were removed; raises
        CacheDbError when Redis fails or the flush takes over :data:`FLUSH_TIME` s
        (counted, like any failure)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FLUSH_TIME
        removed = 0
        client = self._redis()
        try:
            for pattern in patterns:
                cursor: int = 0
                while True:
                    if loop.time() > deadline:
                        raise TimeoutError(f"not done in {FLUSH_TIME:.0f} s")
                    cursor, found = await self._bounded(
                        client.scan(cursor, match=pattern, count=SCAN_COUNT),
                        max(self.timeout, 1.0))
                    keys = [k.decode("utf-8", "replace") if isinstance(k, bytes) else str(k)
                            for k in found]
                    chosen = [key for key in keys if drop(key)]
                    if chosen:
                        removed += int(await self._bounded(client.unlink(*chosen),
                                                           max(self.timeout, 1.0)))
                    if not cursor:
                        break
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed("SCAN", exc)
            raise CacheDbError(f"cachedb {self.where}: {type(exc).__name__}: {exc}") \
                from None
        self._worked()
        return removed

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and self._loop is asyncio.get_running_loop():
            with contextlib.suppress(RedisError, OSError):
                await client.aclose()
