"""``serve --workers 2`` with a shared cache on a real Redis (``cachedb``): the cache
operations of ``resolver control`` over the supervisor's socket.

* ``dump-cache`` gathers every worker's entries into the one file (the names each
  worker alone was asked are all in it; the workers' parts are gone afterwards);
* a flush of a zone reaches both workers and Redis, Redis once (its count is that of
  the keys that were there, not twice that);
* ``load-cache`` gives the entries to every worker: after ``flush-all`` (both
  workers and Redis empty) and the load, the names are answered by whichever worker
  the kernel picks, with no upstream query for them.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from resolver.cache.cachedb import KEY_PREFIX, owner_of
from resolver.wire.name import Name
from tests.networks import Net, hierarchy, loop_thread
from tests.ports import free_port
from tests.redisserver import RedisServer, redis_binary, redis_server
from tests.server.test_workers import HOST, NOERROR, Served, _udp, start_workers

__all__ = ["hierarchy", "loop_thread"]

NAMES = [f"x{i}.wild.insecure.example." for i in range(32)]
ZONE = Name.from_text("insecure.example.")


@pytest.fixture(scope="module")
def redis_proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    if redis_binary() is None:
        print("SKIP: redis-server is not installed (apt-get install redis-server)")
        pytest.skip("redis-server is not installed")
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="module")
def served(hierarchy: Net, redis_proc: RedisServer,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("workers-cache")
    port = free_port(HOST)
    ds = hierarchy.net.write_outputs(tmp / "net")["ds"]
    config = tmp / "resolver.toml"
    config.write_text('allow-clients = ["127.0.0.0/8"]\n')
    control = tmp / "run" / "control.sock"
    proc, output = start_workers(
        ["--config", str(config), "--listen", f"{HOST}:{port}", "--api", "off",
         "--metrics", "off", "--root-hints", str(hierarchy.hints), "--trust-anchor", str(ds),
         "--allow-loopback-upstream", "--upstream-port", str(hierarchy.port),
         "--nodefault", "example.", "--nodefault", "internal.",
         "--no-trust-anchor-signaling", "--control-socket", str(control),
         "--cachedb", redis_proc.url])
    yield Served(proc, port, 0, 0, 0, Path(), control, config, output)
    proc.terminate()
    try:
        proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=15)


def _ask_all(served: Served) -> None:
    """Each name from a socket of its own: the kernel spreads them over the workers."""
    for name in NAMES:
        reply = _udp(served.port, name)
        assert reply.rcode == NOERROR and reply.answer, name
        assert reply.answer[-1].rdata == bytes((192, 0, 2, 32)), name


def _ours(server: RedisServer, zone: Name) -> set[str]:
    with redis.Redis(host="127.0.0.1", port=server.port) as client:
        keys = {k.decode() for k in client.scan_iter(match=KEY_PREFIX + "*", count=1000)}
    return {k for k in keys if (owner := owner_of(k)) is not None and owner.is_subdomain(zone)}


def _names_in(path: Path) -> set[str]:
    lines = path.read_text().splitlines()
    assert json.loads(lines[0])["format"] == "resolver-cache"
    names = set()
    for line in lines[1:]:
        entry = json.loads(line)
        names.add(entry["rrset"]["name"] if entry["kind"] == "rrset" else entry["name"])
    return names


def test_dump_flush_and_load_reach_every_worker(served: Served, hierarchy: Net,
                                                redis_proc: RedisServer,
                                                tmp_path: Path) -> None:
    hierarchy.reset_queries()
    _ask_all(served)
    assert set(NAMES) <= _asked(hierarchy)      # fetched upstream, by one worker each
    # dump-cache: one file with the entries of both workers
    dump = tmp_path / "cache.jsonl"
    dumped = served.control_json("dump-cache", file=str(dump))
    assert dumped["ok"], dumped
    result = dumped["result"]
    assert result["workers"] == 2 and all(count > 0 for count in result["per_worker"]), result
    assert set(NAMES) <= _names_in(dump)
    assert result["entries"] == len(dump.read_text().splitlines()) - 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache.jsonl"]    # parts gone
    # a zone flush: both workers, and Redis once
    in_redis = _ours(redis_proc, ZONE)
    assert {f"{KEY_PREFIX}{name}/1/1" for name in NAMES} <= in_redis
    flushed = served.control_json("flush-zone", zone="insecure.example.")
    assert flushed["ok"] and flushed["result"]["workers"] == 2, flushed
    assert flushed["result"]["cachedb_removed"] == len(in_redis)
    assert _ours(redis_proc, ZONE) == set()
    # flush-all empties both workers and Redis; load-cache fills both workers
    assert served.control_json("flush-all")["ok"]
    assert _ours(redis_proc, Name.from_text(".")) == set()
    loaded = served.control_json("load-cache", file=str(dump))
    assert loaded["ok"] and loaded["result"]["workers"] == 2, loaded
    assert loaded["result"]["entries"] > 2 * len(NAMES)      # summed over the workers
    caches = [w["caches"] for w in served.workers()]
    assert all(c["rrset"] >= len(NAMES) for c in caches), caches
    hierarchy.reset_queries()
    _ask_all(served)
    assert not _asked(hierarchy) & set(NAMES), sorted(_asked(hierarchy) & set(NAMES))


def _asked(net: Net) -> set[str]:
    return {str(name).lower() for name, _, _ in net.queries()}
