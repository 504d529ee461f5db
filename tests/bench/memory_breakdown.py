"""Where the bytes of one cached answer go: the memory bench's workload in-process.

A validating resolver behind an in-process :class:`DnsServer` (no sockets on the
client side; the authoritative servers of ``zones/`` on loopback) is primed, then asked
N fresh names under the NSEC3 wildcard, each once, as ``memory.py`` does. tracemalloc
measures what stays, grouped by the line that allocated it, next to the caches' own
accounting (what ``resolver_cache_bytes`` reports) and the warm path's cost
(:meth:`MessageCache.answer` on the stored answers).

Run: ``.venv/bin/python -m tests.bench.memory_breakdown [N]`` (default 3000).
"""

from __future__ import annotations

import asyncio
import gc
import secrets
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from resolver.config import Settings
from resolver.server.listener import DnsServer
from resolver.service import Resolver
from resolver.testnet.hierarchy import build
from resolver.wire import message as wm
from resolver.wire.name import Name
from resolver.wire.querykey import query_key
from tests.bench import workloads
from tests.loop import LoopThread

ROOT = Path(__file__).resolve().parents[2]


def _queries(tag: str, count: int, parents: list[str]) -> list[bytes]:
    return [wm.make_query(Name.from_text(name), 1, rd=True, do=True).to_wire()
            for name, _ in workloads.cold_queries(tag, count, parents)]


def _cache_bytes(resolver: Resolver) -> dict[str, int]:
    return {name: store.bytes for name, store in (
        ("rrset", resolver.rrsets.store), ("message", resolver.messages.store),
        ("negative", resolver.negative.store), ("key", resolver.keys.store))}


def warm_path_ns(resolver: Resolver, queries: list[bytes], repeat: int = 5) -> float:
    """Median nanoseconds of one :meth:`MessageCache.answer` over *queries* (hits)."""
    messages = resolver.messages
    keys = [query_key(q) for q in queries]
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        for data, qk in zip(queries, keys, strict=True):
            assert qk is not None
            messages.answer(data, qk, 1232)
        runs.append((time.perf_counter_ns() - t0) / len(queries))
    return statistics.median(runs)


def main(count: int) -> None:
    parents = [p.name for p in workloads.cold_parents()]
    loop = LoopThread()
    hierarchy = build(ROOT / "zones")
    net = hierarchy.network
    loop.run(net.start())
    try:
        tmp = Path(tempfile.mkdtemp(prefix="mem-breakdown-"))
        paths = net.write_outputs(tmp)
        hints = paths["hints"]
        settings = Settings(validate=True, trust_anchors=[paths["ds"]],
                            allow_loopback_upstream=True, upstream_port=net.port,
                            root_hints=hints, nodefault=["example.", "internal."],
                            cache_size_mb=512.0, aggressive_nsec=False, prefetch=False)
        resolver = loop.call(lambda: Resolver(settings))
        server = loop.call(lambda: DnsServer(resolver, settings))

        async def ask_all(queries: list[bytes]) -> int:
            good = 0
            for i in range(0, len(queries), 20):
                replies = await asyncio.gather(*(server.answer(q, "127.0.0.1", "udp", query_key(q))
                                                 for q in queries[i:i + 20]))
                good += sum(1 for r in replies if r is not None and r[3] & 0x20)
            return good

        loop.run(ask_all(_queries(secrets.token_hex(3), 500, parents)), timeout=300)
        queries = _queries(secrets.token_hex(3), count, parents)
        gc.collect()
        before = _cache_bytes(resolver)
        tracemalloc.start(4)
        snap0 = tracemalloc.take_snapshot()
        good = loop.run(ask_all(queries), timeout=600)
        for auth in net.servers.values():   # the servers' query logs: not the resolver's
            loop.call(auth.queries.clear)
        gc.collect()
        snap1 = tracemalloc.take_snapshot()
        tracemalloc.stop()
        after = _cache_bytes(resolver)
        stats = snap1.compare_to(snap0, "lineno")
        total = sum(s.size_diff for s in stats)
        print(f"{count} answers ({good} AD): tracemalloc {total / count:.0f} bytes/answer")
        own = {k: (after[k] - before[k]) / count for k in after}
        print("caches' own accounting per answer: "
              + ", ".join(f"{k} {v:.0f}" for k, v in own.items())
              + f"; total {sum(own.values()):.0f}")
        print("by allocating line (bytes/answer, objects/answer):")
        for s in stats[:25]:
            if abs(s.size_diff) < count * 4:
                continue
            frame = s.traceback[0]
            print(f"  {s.size_diff / count:7.1f} {s.count_diff / count:5.2f}  "
                  f"{Path(frame.filename).name}:{frame.lineno}")
        for _ in range(3):
            ns = loop.call(lambda: warm_path_ns(resolver, queries), timeout=60)
            print(f"warm path: MessageCache.answer median {ns:.0f} ns per hit")
    finally:
        loop.run(net.stop())
        loop.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000)
