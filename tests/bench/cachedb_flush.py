"""What a flush costs in the shared cache on Redis (``cachedb``), and what the other
design would cost each look-up: ``python -m tests.bench.cachedb_flush [N ...]``.

For each N, a real ``redis-server`` (tests/redisserver.py) is filled with N keys of
ours (``rsv1:hostI.zoneJ.example./1/1``, 1 % of them in the zone flushed, 200-octet
values) and the flushes are timed as ``resolver control`` runs them
(:meth:`resolver.cache.cachedb.CacheDb.drop_matching` / ``unlink``): ``flush-zone``
(SCAN with MATCH, COUNT 1000 or $SCAN_COUNT, then UNLINK), ``flush NAME`` (the same, one name) and
``flush-type`` (one UNLINK). Meanwhile a second client sends GETs in a loop: their
worst latency shows whether Redis stayed responsive for the other resolvers (the
``no flush`` row: the same probe for 0.2 s without a flush, the machine's noise).

The other design, a generation number per zone stored in Redis and part of every key,
makes each look-up read the generations of the name's ancestors first; the cost of
that extra read (a HMGET of 4 fields in the same pipeline as the GET, one round trip)
is timed against the GET alone. Runs alternate; medians and ranges are printed.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import redis
import redis.asyncio as aioredis

from resolver.cache import cachedb
from resolver.cache.cachedb import CacheDb, key_for, ours_to_drop, patterns_for
from resolver.counters import Counters
from resolver.wire.name import Name
from tests.redisserver import RedisServer, redis_server

ZONES = 100          # zone0 .. zone99: the flushed one holds 1 % of the keys
RUNS = 5
VALUE = b"v" * 200


def fill(server: RedisServer, count: int) -> None:
    with redis.Redis(host="127.0.0.1", port=server.port) as client:
        client.flushall()
        pipe = client.pipeline(transaction=False)
        for i in range(count):
            pipe.set(f"rsv1:host{i}.zone{i % ZONES}.example./1/1", VALUE, ex=3600)
            if i % 10000 == 9999:
                pipe.execute()
        pipe.execute()


async def probe(url: str, stop: asyncio.Event, worst: list[float]) -> None:
    client = aioredis.Redis.from_url(url)
    try:
        while not stop.is_set():
            start = time.perf_counter()
            await client.get("rsv1:host1.zone1.example./1/1")
            worst[0] = max(worst[0], time.perf_counter() - start)
            await asyncio.sleep(0.001)
    finally:
        await client.aclose()


async def timed_flush(server: RedisServer, zone: Name | None, name: Name | None,
                      rtype: int | None) -> tuple[float, int, float]:
    db = CacheDb(server.url, 1.0, time.time, Counters())
    stop, worst = asyncio.Event(), [0.0]
    prober = asyncio.ensure_future(probe(server.url, stop, worst))
    await asyncio.sleep(0.05)
    start = time.perf_counter()
    if zone is None and name is None:     # the baseline: the probe alone, 0.2 s
        await asyncio.sleep(0.2)
        removed = 0
    elif name is not None and rtype is not None:
        removed = await db.unlink([key_for(name, rtype)])
    else:
        removed = await db.drop_matching(patterns_for(zone, name),
                                         lambda k: ours_to_drop(k, zone, name))
    took = time.perf_counter() - start
    stop.set()
    await prober
    await db.close()
    return took, removed, worst[0]


async def lookup_costs(server: RedisServer, rounds: int = 2000) -> tuple[float, float]:
    """Seconds per GET alone, and per GET + HMGET of 4 generations (one round trip)."""
    client = aioredis.Redis.from_url(server.url)
    await client.hset("rsv1:gen", mapping={".": 1, "example.": 1, "zone1.example.": 1})
    key = "rsv1:host1.zone1.example./1/1"
    fields = [".", "example.", "zone1.example.", "host1.zone1.example."]
    try:
        start = time.perf_counter()
        for _ in range(rounds):
            await client.mget([key])
        alone = (time.perf_counter() - start) / rounds
        start = time.perf_counter()
        for _ in range(rounds):
            pipe = client.pipeline(transaction=False)
            pipe.hmget("rsv1:gen", fields)
            pipe.mget([key])
            await pipe.execute()
        with_gen = (time.perf_counter() - start) / rounds
    finally:
        await client.aclose()
    return alone, with_gen


def spread(values: list[float], scale: float = 1000.0) -> str:
    return (f"{statistics.median(values) * scale:.1f} "
            f"({min(values) * scale:.1f}-{max(values) * scale:.1f})")


def main(sizes: list[int]) -> None:
    cachedb.SCAN_COUNT = int(os.environ.get("SCAN_COUNT", cachedb.SCAN_COUNT))
    print(f"SCAN COUNT {cachedb.SCAN_COUNT}")
    with tempfile.TemporaryDirectory() as tmp, redis_server(Path(tmp)) as server:
        zone = Name.from_text("zone7.example.")
        host = Name.from_text("host7.zone7.example.")
        for count in sizes:
            rows: dict[str, list[tuple[float, int, float]]] = {
                "no flush": [], "flush-zone": [], "flush NAME": [], "flush-type": []}
            for _ in range(RUNS):
                for what in rows:
                    fill(server, count)
                    args = {"no flush": (None, None, None), "flush-zone": (zone, None, None),
                            "flush NAME": (None, host, None),
                            "flush-type": (None, host, 1)}[what]
                    rows[what].append(asyncio.run(timed_flush(server, *args)))
            for what, runs in rows.items():
                print(f"N={count:>8} {what:<11} ms {spread([r[0] for r in runs])}  "
                      f"removed {runs[0][1]}  worst concurrent GET ms "
                      f"{spread([r[2] for r in runs])}")
        alone, with_gen = [], []
        for _ in range(RUNS):
            a, g = asyncio.run(lookup_costs(server))
            alone.append(a)
            with_gen.append(g)
        ratios = [g / a for a, g in zip(alone, with_gen, strict=True)]
        print(f"look-up us: GET alone {spread(alone, 1e6)}, GET + HMGET of generations "
              f"{spread(with_gen, 1e6)}, ratio {spread(ratios, 1.0)}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [10000, 100000])
