"""``make bench`` section (issue 18): the fleet, two resolvers sharing one Redis
(``cachedb``).

In-process, on the signed ``zones/`` hierarchy (its servers in a thread of their own)
and a real ``redis-server``: resolver A answers a set of fresh names (wildcard
expansions under ``*.wild.secure.example.``: a signed answer plus its NSEC proof each)
and stores them in Redis; resolver B, which shares only Redis with A, answers the same
set. Three figures per run, each CPU microseconds per answer of the resolver's own
thread (``time.thread_time``; the authoritative servers and redis-server are not
counted) and answers per second of wall time, with 50 questions in flight:

* cold: a resolver without cachedb answers fresh names (upstream for each);
* from Redis: B's first pass over A's names (no upstream query: counted);
* local warm: B's second pass (its own caches, no Redis).

Every resolver has its keys primed by one question first (not counted). The cold
figure of A (with the writes to Redis) is shown too. Runs alternate; medians with
every run listed. Knobs: FLEET_NAMES (default 2000), FLEET_RUNS (default 3).
Alone: ``python -m tests.bench.fleet``.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from resolver.config import Settings
from resolver.dnssec.status import Security
from resolver.service import Resolver
from resolver.testnet.hierarchy import build
from resolver.wire.name import Name
from resolver.wire.types import RRType
from tests.loop import LoopThread
from tests.networks import ZONES, Net, start
from tests.redisserver import redis_binary, redis_server

Row = tuple[str, str, str, str]

NAMES = int(os.environ.get("FLEET_NAMES", "2000"))
RUNS = int(os.environ.get("FLEET_RUNS", "3"))
IN_FLIGHT = 50
# the bench measures what using Redis costs, not the outage breaker: on a loaded
# 2-core machine redis-server itself can wait longer than the 50 ms default for a core
TIMEOUT_MS = float(os.environ.get("FLEET_TIMEOUT_MS", "1000"))
PRIME = "www.secure.example."


@dataclass(slots=True)
class Pass:
    us_per_answer: float        # resolver-thread CPU
    per_second: float           # answers per second of wall time
    upstream: int               # upstream queries sent
    secure: int                 # answers that were secure
    redis_errors: int = 0       # cachedb operations failed (timeouts included)


def _settings(net: Net, ds: Path, cachedb: str | None) -> Settings:
    return net.settings(validate=True, trust_anchors=[ds],
                        nodefault=["example.", "internal."], cachedb=cachedb,
                        trust_anchor_signaling=False, cache_size_mb=64.0,
                        cachedb_timeout_ms=TIMEOUT_MS)


async def _pass(resolver: Resolver, names: list[Name]) -> Pass:
    before = resolver.counters.total("upstream_queries")
    secure = 0
    sem = asyncio.Semaphore(IN_FLIGHT)

    async def one(name: Name) -> None:
        nonlocal secure
        async with sem:
            answer = await resolver.resolve(name, RRType.A)
        secure += answer.security == Security.SECURE

    cpu, wall = time.thread_time(), time.monotonic()
    await asyncio.gather(*(one(n) for n in names))
    cpu, wall = time.thread_time() - cpu, time.monotonic() - wall
    return Pass(cpu * 1e6 / len(names), len(names) / wall,
                resolver.counters.total("upstream_queries") - before, secure)


async def _measured(resolver: Resolver, names: list[Name]) -> Pass:
    start_cpu = time.thread_time()
    errors = resolver.counters.get("cachedb", ("error",))
    result = await _pass(resolver, names)
    # the writes to Redis run in the background: their CPU counts once they are done
    if resolver.shared is not None:
        await resolver.shared.drain()
    result.us_per_answer = (time.thread_time() - start_cpu) * 1e6 / len(names)
    result.redis_errors = resolver.counters.get("cachedb", ("error",)) - errors
    return result


async def _one_run(net: Net, ds: Path, url: str, tag: str) -> dict[str, Pass]:
    names = [Name.from_text(f"f{tag}-{i}.wild.secure.example.") for i in range(NAMES)]
    cold_names = [Name.from_text(f"c{tag}-{i}.wild.secure.example.") for i in range(NAMES)]
    out: dict[str, Pass] = {}
    cold = Resolver(_settings(net, ds, None))
    await cold.resolve(Name.from_text(PRIME), RRType.A)
    out["cold"] = await _measured(cold, cold_names)
    first = Resolver(_settings(net, ds, url))
    await first.resolve(Name.from_text(PRIME), RRType.A)
    out["cold, storing in Redis (A)"] = await _measured(first, names)
    await first.close()
    second = Resolver(_settings(net, ds, url))
    await second.resolve(Name.from_text(PRIME), RRType.A)
    out["from Redis (B)"] = await _measured(second, names)
    out["local warm (B again)"] = await _measured(second, names)
    await second.close()
    return out


def _spread(values: list[float]) -> str:
    med = statistics.median(values)
    return f"+-{(max(values) - min(values)) / 2 / med:.0%}" if med else "?"


def section() -> list[Row]:
    if redis_binary() is None:
        return [("skipped", "", "", "redis-server is not installed")]
    loop = LoopThread("fleet-bench")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        net_obj = build(ZONES).network
        net = start(net_obj, loop, work / "hints")
        try:
            ds = net_obj.write_outputs(work / "out")["ds"]
            with redis_server(work) as redis:
                runs: dict[str, list[Pass]] = {}
                for i in range(RUNS):
                    got = asyncio.run(_one_run(net, ds, redis.url, f"{i}x{os.getpid()}"))
                    for kind, result in got.items():
                        runs.setdefault(kind, []).append(result)
        finally:
            loop.run(net_obj.stop())
            loop.close()
    rows: list[Row] = []
    cold_median = statistics.median(p.us_per_answer for p in runs["cold"])
    for kind, passes in runs.items():
        cpu = [p.us_per_answer for p in passes]
        rate = [p.per_second for p in passes]
        med = statistics.median(cpu)
        rows.append((f"{kind}: CPU us/answer", f"{med:.0f}", f"{min(cpu):.0f}",
                     f"runs {' / '.join(f'{v:.0f}' for v in cpu)} (spread {_spread(cpu)}); "
                     f"{med / cold_median:.2f}x cold; "
                     f"{statistics.median(rate):.0f} answers/s "
                     f"(runs {' / '.join(f'{v:.0f}' for v in rate)}); "
                     f"upstream queries {max(p.upstream for p in passes)} at most, "
                     f"secure {min(p.secure for p in passes)}/{NAMES} at least; "
                     f"Redis errors {sum(p.redis_errors for p in passes)}"))
    rows.append(("method", "", "",
                 f"{NAMES} fresh wildcard names per pass, {IN_FLIGHT} in flight, in-process "
                 f"resolve(); resolver-thread CPU only (servers and redis-server not "
                 f"counted); cachedb-timeout-ms {TIMEOUT_MS:g}; {RUNS} runs, medians, "
                 f"min column = lowest run"))
    return rows


SECTIONS = [("fleet: two resolvers sharing one Redis (cachedb)", section)]


if __name__ == "__main__":
    for row in section():
        print("  ".join(row))
