"""The shared cache on Redis (``cachedb``, issue 18): a real ``redis-server`` and the
signed ``zones/`` hierarchy (``hierarchy`` fixture, signed now).

* the fleet: resolver A answers a warm set; resolver B, sharing A's Redis and
  nothing else, answers the same set with no upstream query and the same verdicts
  (AD for the secure names), also with every authoritative server silent;
* Redis is not trusted: forged records written into Redis (changed data under the
  old RRSIG, a forged or stripped RRSIG, a forged denial, a substituted DNSKEY, a
  reply to another question, garbage), a seeded, bounded loop, are never served as
  secure: the genuine data is fetched again (secure) or, with the servers silent,
  the answer is a SERVFAIL;
* Redis stopped or hung mid-run: resolution goes on as without it, counted.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from resolver.answer import Answer
from resolver.cache.cachedb import FAILURES, key_for
from resolver.config import Settings
from resolver.dnssec.status import Security
from resolver.service import Resolver
from resolver.wire.name import Name
from resolver.wire.types import Rcode, RRType
from tests.cache.cachedb_forgeries import MUTATIONS, garbage, replayed_denial, rewrite
from tests.networks import Net, run
from tests.redisserver import RedisServer, redis_server

# (name, type, rcode, security) of the warm set
WARM: list[tuple[str, int, int, Security]] = [
    ("www.secure.example.", RRType.A, Rcode.NOERROR, Security.SECURE),
    ("www.secure.example.", RRType.AAAA, Rcode.NOERROR, Security.SECURE),
    ("nope.secure.example.", RRType.A, Rcode.NXDOMAIN, Security.SECURE),
    ("www.secure.example.", RRType.TXT, Rcode.NOERROR, Security.SECURE),   # NODATA
    ("x.wild.secure.example.", RRType.A, Rcode.NOERROR, Security.SECURE),
    ("cname-secure.secure.example.", RRType.A, Rcode.NOERROR, Security.SECURE),
    ("www.nsec3.example.", RRType.A, Rcode.NOERROR, Security.SECURE),
    ("nope.nsec3.example.", RRType.A, Rcode.NXDOMAIN, Security.SECURE),
    ("www.insecure.example.", RRType.A, Rcode.NOERROR, Security.INSECURE),
    ("cname-insecure.secure.example.", RRType.A, Rcode.NOERROR, Security.INSECURE),
    ("mx1.secure.example.", RRType.A, Rcode.NOERROR, Security.SECURE),
]
SERVERS = ("127.0.0.21", "127.0.0.22", "127.0.0.23", "127.0.0.24", "127.0.0.25",
           "127.0.0.26", "127.0.0.27")


def n(text: str) -> Name:
    return Name.from_text(text)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    try:
        with redis_server(tmp_path_factory.mktemp("redis")) as server:
            yield server
    except FileNotFoundError:
        print("SKIP: redis-server is not installed (apt-get install redis-server)")
        pytest.skip("redis-server is not installed")


@pytest.fixture(scope="module")
def ds(hierarchy: Net, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hierarchy.net.write_outputs(tmp_path_factory.mktemp("cachedb"))["ds"]


def settings(net: Net, ds: Path, url: str, **more: Any) -> Settings:
    values: dict[str, Any] = {"validate": True, "trust_anchors": [ds],
                              "nodefault": ["example.", "internal."], "cachedb": url,
                              "prefetch": False, "trust_anchor_signaling": False}
    values.update(more)
    return net.settings(**values)


def flush(server: RedisServer) -> None:
    with redis.Redis(host="127.0.0.1", port=server.port) as client:
        client.flushall()


async def ask_all(resolver: Resolver, names: list[tuple[str, int, int, Security]]
                  ) -> list[Answer]:
    out = []
    for name, rtype, _, _ in names:
        out.append(await resolver.resolve(n(name), rtype))
    assert resolver.shared is not None
    await resolver.shared.drain()
    return out


def upstream(resolver: Resolver) -> int:
    return resolver.counters.total("upstream_queries")


def shape(answer: Answer) -> tuple[int, list[list[bytes]]]:
    """What a forgery would change: the rcode and the records of the answer."""
    return answer.rcode, [sorted(r.rdatas) for r in answer.answer]


def warm(net: Net, ds: Path, server: RedisServer,
         genuine: dict[tuple[str, int], tuple[int, list[list[bytes]]]] | None = None
         ) -> Resolver:
    flush(server)
    first = Resolver(settings(net, ds, server.url))

    async def go() -> list[Answer]:
        try:
            return await ask_all(first, WARM)
        finally:
            await first.close()
    answers = run(go())
    for answer, (name, rtype, rcode, security) in zip(answers, WARM, strict=True):
        assert (answer.rcode, answer.security) == (rcode, security), name
        if genuine is not None:
            genuine[(name, rtype)] = shape(answer)
    assert upstream(first) > 0
    assert first.counters.get("cachedb", ("store",)) > 0
    return first


def silence(net: Net) -> None:
    for address in SERVERS:
        if address in net.net.servers:
            net.set_faults(address, refused=True)


def unsilence(net: Net) -> None:
    for address in SERVERS:
        if address in net.net.servers:
            net.clear_faults(address)


# ----------------------------------------------------------------------------- the fleet
def test_second_resolver_answers_from_redis_alone(hierarchy: Net, ds: Path,
                                                  redis_url: RedisServer) -> None:
    first = warm(hierarchy, ds, redis_url)
    hierarchy.reset_queries()
    silence(hierarchy)            # every authoritative server refuses: Redis alone
    try:
        second = Resolver(settings(hierarchy, ds, redis_url.url))

        async def go() -> list[Answer]:
            try:
                return await ask_all(second, WARM)
            finally:
                await second.close()
        answers = run(go())
    finally:
        unsilence(hierarchy)
    assert hierarchy.queries() == []
    assert upstream(second) == 0
    for answer, (name, rtype, rcode, security) in zip(answers, WARM, strict=True):
        assert (answer.rcode, answer.security) == (rcode, security), (name, rtype)
    assert second.counters.get("cachedb", ("hit",)) > 0
    assert second.counters.get("cachedb", ("rejected",)) == 0
    # the same records as the first resolver's answers
    again = run(_one(Resolver(settings(hierarchy, ds, redis_url.url)), WARM[0]))
    assert again.answer[0].rdatas == [bytes((192, 0, 2, 30))]
    assert first.counters.get("cachedb", ("hit",)) == 0


async def _one(resolver: Resolver, item: tuple[str, int, int, Security]) -> Answer:
    try:
        return await resolver.resolve(n(item[0]), item[1])
    finally:
        await resolver.close()


# ----------------------------------------------------------------------------- forgeries
@pytest.mark.parametrize("silent", [False, True], ids=["servers up", "servers silent"])
def test_forged_redis_data_is_never_served_as_secure(hierarchy: Net, ds: Path,
                                                     redis_url: RedisServer,
                                                     silent: bool) -> None:
    seed = int(os.environ.get("CACHEDB_SEED", int(time.time()) % 100000))
    print(f"cachedb forgery seed {seed} (CACHEDB_SEED={seed} replays it)")
    rng = random.Random(seed)
    kinds = [*MUTATIONS, "garbage", "replayed NSEC denial"]
    rng.shuffle(kinds)
    expected: dict[tuple[str, int], tuple[int, list[list[bytes]]]] = {}
    for kind in kinds:
        warm(hierarchy, ds, redis_url, expected)
        with redis.Redis(host="127.0.0.1", port=redis_url.port) as client:
            if kind == "garbage":
                name, rtype = rng.choice([("www.secure.example.", RRType.A),
                                          ("secure.example.", RRType.DNSKEY),
                                          ("secure.example.", RRType.DS)])
                qname, qtype = "www.secure.example.", RRType.A
                assert garbage(client, name, rtype, rng)
            elif kind == "replayed NSEC denial":
                qname, qtype = "www.secure.example.", RRType.A
                assert replayed_denial(client)
            else:
                name, rtype, qname, qtype, change, *hint = MUTATIONS[kind]
                assert rewrite(client, name, rtype, change, *hint), kind
        if silent:
            silence(hierarchy)
        try:
            victim = Resolver(settings(hierarchy, ds, redis_url.url))
            answer = run(_one(victim, (qname, qtype, 0, Security.SECURE)))
        finally:
            unsilence(hierarchy)
        genuine = shape(answer) == expected[(qname, qtype)]
        assert answer.security != Security.SECURE or genuine, (kind, answer)
        if silent:
            assert answer.rcode == Rcode.SERVFAIL or genuine, (kind, answer)
        else:
            assert answer.security == Security.SECURE and genuine, (kind, answer)
        assert kind == "garbage" or victim.counters.get("cachedb", ("hit",)) >= 1, kind
        print(f"{kind}: {Rcode(answer.rcode).name} {answer.security.label}, rejected "
              f"{victim.counters.get('cachedb', ('rejected',))}, upstream {upstream(victim)}")
        # every forgery was read and refused (undecodable, or bogus and asked again)
        assert victim.counters.get("cachedb", ("rejected",)) >= 1, kind


# ----------------------------------------------------------------------------- outages
def test_redis_stopped_mid_run_resolution_continues(hierarchy: Net, ds: Path,
                                                    tmp_path: Path) -> None:
    try:
        ctx = redis_server(tmp_path)
        server = ctx.__enter__()
    except FileNotFoundError:
        print("SKIP: redis-server is not installed")
        pytest.skip("redis-server is not installed")
    try:
        resolver = Resolver(settings(hierarchy, ds, server.url))

        async def go() -> tuple[list[Answer], list[Answer], float]:
            before = await ask_all(resolver, WARM[:3])
            server.stop()
            started = time.monotonic()
            after = await ask_all(resolver, WARM[3:])
            took = time.monotonic() - started
            await resolver.close()
            return before, after, took
        before, after, _ = run(go())
    finally:
        ctx.__exit__(None, None, None)
    for answer, (name, _, rcode, security) in zip(before + after, WARM, strict=True):
        assert (answer.rcode, answer.security) == (rcode, security), name
    assert resolver.counters.get("cachedb", ("error",)) >= 1
    assert resolver.counters.get("cachedb", ("skipped",)) >= 1


def test_hung_redis_costs_one_timeout_then_is_skipped(hierarchy: Net, ds: Path,
                                                      tmp_path: Path) -> None:
    try:
        ctx = redis_server(tmp_path)
        server = ctx.__enter__()
    except FileNotFoundError:
        print("SKIP: redis-server is not installed")
        pytest.skip("redis-server is not installed")
    try:
        server.pause()                      # connects, never answers
        resolver = Resolver(settings(hierarchy, ds, server.url, cachedb_timeout_ms=50))

        async def go() -> list[Answer]:
            out = await ask_all(resolver, WARM[:4])
            await asyncio.wait_for(resolver.close(), 2)
            return out
        started = time.monotonic()
        answers = run(go())
        took = time.monotonic() - started
    finally:
        ctx.__exit__(None, None, None)
    for answer, (name, _, rcode, security) in zip(answers, WARM[:4], strict=True):
        assert (answer.rcode, answer.security) == (rcode, security), name
    # a few timeouts in a row make an outage: Redis is skipped from then on
    assert resolver.counters.get("cachedb", ("error",)) == FAILURES
    assert resolver.counters.get("cachedb", ("skipped",)) >= 1
    assert took < 10


# ----------------------------------------------------------------------------- never stored
@pytest.mark.parametrize(("name", "why"), [
    ("www.bogus.example.", "bogus"),
    ("www.secure.example.", "under a negative trust anchor"),
])
def test_bogus_and_nta_answers_are_not_stored(hierarchy: Net, ds: Path,
                                              redis_url: RedisServer, name: str,
                                              why: str) -> None:
    flush(redis_url)
    ntas = [("secure.example.", time.time() + 3600)] if "negative" in why else []
    resolver = Resolver(settings(hierarchy, ds, redis_url.url, negative_anchors=ntas))
    answer = run(_one(resolver, (name, RRType.A, 0, Security.SECURE)))
    assert answer.security == (Security.BOGUS if why == "bogus" else Security.INSECURE)
    with redis.Redis(host="127.0.0.1", port=redis_url.port) as client:
        assert client.get(key_for(n(name), RRType.A)) is None, why
    assert resolver.counters.get("cachedb", ("store",)) == 0, why


def test_cd_and_unvalidated_answers_are_not_stored(hierarchy: Net, ds: Path,
                                                   redis_url: RedisServer) -> None:
    flush(redis_url)
    plain = Resolver(settings(hierarchy, ds, redis_url.url, validate=False))
    run(_one(plain, ("www.secure.example.", RRType.A, 0, Security.SECURE)))
    checking_disabled = Resolver(settings(hierarchy, ds, redis_url.url))

    async def cd() -> Answer:
        try:
            return await checking_disabled.resolve(n("ok.secure.example."), RRType.A, cd=True)
        finally:
            await checking_disabled.close()
    run(cd())
    with redis.Redis(host="127.0.0.1", port=redis_url.port) as client:
        assert client.dbsize() == 0
