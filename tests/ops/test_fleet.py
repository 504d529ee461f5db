"""The fleet (issue 18): two ``resolver serve`` processes share one real Redis
(``cachedb``) and nothing else. After the first answers a warm set, the second
answers the same set with AD (DO queries over UDP) and no upstream query: the test
network's query log stays empty and its ``resolver_upstream_queries_total`` is 0.
Then Redis is stopped: the second keeps answering (from upstream), and counts the
failure in ``resolver_cachedb_total{event="error"}``."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from resolver.wire.message import Message
from resolver.wire.name import Name
from resolver.wire.types import AD, Rcode, RRType
from tests.networks import Net, hierarchy, loop_thread
from tests.ops.test_serve_process import _start, _stop
from tests.ports import free_port
from tests.redisserver import RedisServer, redis_server

__all__ = ["hierarchy", "loop_thread"]

WARM = [("www.secure.example.", RRType.A, True), ("nope.secure.example.", RRType.A, True),
        ("www.nsec3.example.", RRType.AAAA, True), ("mx1.secure.example.", RRType.A, True),
        ("www.insecure.example.", RRType.A, False),
        ("cname-secure.secure.example.", RRType.A, True)]


@pytest.fixture
def redis_proc(tmp_path: Path) -> Iterator[RedisServer]:
    try:
        with redis_server(tmp_path) as server:
            yield server
    except FileNotFoundError:
        print("SKIP: redis-server is not installed (apt-get install redis-server)")
        pytest.skip("redis-server is not installed")


def _ask(port: int, name: str, rtype: int) -> Message:
    import socket

    from resolver.wire import message as wm
    query = wm.make_query(Name.from_text(name), rtype, rd=True, do=True)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(10)
        s.connect(("127.0.0.1", port))
        s.send(query.to_wire())
        return wm.parse(s.recv(65535))


def _metric(port: int, name: str, labels: str = "") -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"{name}(\{{[^}}]*\}})? (\S+)$", line)
        if match and labels in (match.group(1) or ""):
            total += float(match.group(2))
    return total


def _serve(net: Net, ds: Path, url: str, tmp: Path) -> tuple[object, int, int]:
    port, metrics = free_port(), free_port()
    proc = _start(["--listen", f"127.0.0.1:{port}", "--api", "off",
                   "--metrics", f"127.0.0.1:{metrics}", "--control-socket", "off",
                   "--root-hints", str(net.hints), "--trust-anchor", str(ds),
                   "--allow-loopback-upstream", "--upstream-port", str(net.port),
                   "--nodefault", "example.", "--nodefault", "internal.",
                   "--no-trust-anchor-signaling", "--cachedb", url], tmp)
    return proc, port, metrics


def test_two_resolvers_share_one_redis(hierarchy: Net, redis_proc: RedisServer,
                                       tmp_path: Path) -> None:
    ds = hierarchy.net.write_outputs(tmp_path / "net")["ds"]
    first, port_a, metrics_a = _serve(hierarchy, ds, redis_proc.url, tmp_path)
    try:
        for name, rtype, secure in WARM:
            reply = _ask(port_a, name, rtype)
            assert reply.rcode in (Rcode.NOERROR, Rcode.NXDOMAIN), name
            assert bool(reply.flags & AD) == secure, name
        assert _metric(metrics_a, "resolver_upstream_queries_total") > 0
    finally:
        _stop(first)             # its pending writes to Redis are finished on SIGTERM
    hierarchy.reset_queries()
    second, port_b, metrics_b = _serve(hierarchy, ds, redis_proc.url, tmp_path)
    try:
        for name, rtype, secure in WARM:
            reply = _ask(port_b, name, rtype)
            assert reply.rcode in (Rcode.NOERROR, Rcode.NXDOMAIN), name
            assert bool(reply.flags & AD) == secure, name
        assert hierarchy.queries() == []
        assert _metric(metrics_b, "resolver_upstream_queries_total") == 0
        assert _metric(metrics_b, "resolver_cachedb_total", 'event="hit"') > 0
        # Redis stopped: the second resolver goes on without it
        redis_proc.stop()
        reply = _ask(port_b, "ok.secure.example.", RRType.A)
        assert reply.rcode == Rcode.NOERROR and reply.flags & AD
        assert _metric(metrics_b, "resolver_cachedb_total", 'event="error"') >= 1
        assert _metric(metrics_b, "resolver_upstream_queries_total") > 0
    finally:
        out = _stop(second)
    assert "cachedb" in out and "failed" in out     # the outage, logged once


