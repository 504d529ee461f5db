"""The shared cache on Redis (``cachedb``) reached in other ways, and flushed: a real
``redis-server`` and the signed ``zones/`` hierarchy, resolvers in this process.

* over a Unix socket (``unix:///PATH?db=0``, the socket mode 0700): a second
  resolver answers a warm set from Redis with no upstream query;
* over TLS (``rediss://``, a CA and a server certificate made here): with the CA in
  ``cachedb-tls-ca-file`` the same; with an unknown CA or another host name Redis
  is not used (counted as errors, nothing read from it), resolution goes on;
* ``resolver control flush*`` (the control server's own code path): a flush of a
  name, a type, a zone or everything also removes this resolver's keys for them from
  Redis (and nothing else there), so a second resolver no longer gets the flushed
  data from Redis; a flush with Redis down says that the shared cache was not flushed.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from resolver.cache.cachedb import KEY_PREFIX, owner_of, patterns_for
from resolver.dnssec.status import Security
from resolver.server.control import ControlServer
from resolver.service import Resolver
from resolver.wire.name import Name
from resolver.wire.types import RRType
from tests.cache.test_cachedb import WARM, ask_all, n, settings, upstream
from tests.networks import Net, run
from tests.redisserver import (
    Issued,
    RedisServer,
    issue,
    make_ca,
    redis_binary,
    redis_server,
    tls_support,
)

Item = tuple[str, int, int, Security]


def _skip_without_redis() -> None:
    if redis_binary() is None:
        print("SKIP: redis-server is not installed (apt-get install redis-server)")
        pytest.skip("redis-server is not installed")


@pytest.fixture(scope="module")
def ds(hierarchy: Net, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hierarchy.net.write_outputs(tmp_path_factory.mktemp("cachedb-ops"))["ds"]


@pytest.fixture(scope="module")
def tcp_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    _skip_without_redis()
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


def _client(server: RedisServer) -> redis.Redis:
    return redis.Redis(**server.client_kwargs())     # type: ignore[arg-type]


def _resolve(net: Net, ds: Path, url: str, items: list[Item], **more: Any) -> Resolver:
    """A fresh resolver that asks *items* (checking rcode and verdict), then closes."""
    resolver = Resolver(settings(net, ds, url, **more))

    async def go() -> None:
        try:
            answers = await ask_all(resolver, items)
        finally:
            await resolver.close()
        for answer, (name, rtype, rcode, security) in zip(answers, items, strict=True):
            assert (answer.rcode, answer.security) == (rcode, security), (name, rtype)
    run(go())
    return resolver


def _shared_alone(net: Net, ds: Path, url: str, **more: Any) -> None:
    """One resolver fills Redis; a second, sharing nothing else, answers from it."""
    first = _resolve(net, ds, url, WARM, **more)
    assert upstream(first) > 0 and first.counters.get("cachedb", ("store",)) > 0
    assert first.counters.get("cachedb", ("error",)) == 0
    net.reset_queries()
    second = _resolve(net, ds, url, WARM, **more)
    assert net.queries() == [] and upstream(second) == 0
    assert second.counters.get("cachedb", ("hit",)) > 0
    assert second.counters.get("cachedb", ("error",)) == 0


# ----------------------------------------------------------------------------- Unix socket
def test_two_resolvers_share_redis_over_a_unix_socket(hierarchy: Net, ds: Path,
                                                      tmp_path: Path) -> None:
    _skip_without_redis()
    with redis_server(tmp_path, unix=True) as server:
        assert server.socket is not None
        assert stat.S_IMODE(server.socket.stat().st_mode) == 0o700
        assert server.url.startswith("unix:///") and server.url.endswith("?db=0")
        _shared_alone(hierarchy, ds, server.url)
        with _client(server) as client:
            assert client.dbsize() > 0


# ----------------------------------------------------------------------------- TLS
@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RedisServer, Issued]]:
    """A Redis with TLS only; yields it and a CA that did not sign its certificate."""
    _skip_without_redis()
    binary = redis_binary()
    assert binary is not None
    why = tls_support(binary)
    if why is not None:
        print(f"SKIP: {why}")
        pytest.skip(why)
    tmp = tmp_path_factory.mktemp("redis-tls")
    ca = make_ca(tmp, "test-redis-ca")
    other = make_ca(tmp, "unknown-ca")
    certificate = issue(tmp, ca, "redis", ["127.0.0.1"])
    with redis_server(tmp, tls=(ca, certificate)) as server:
        yield server, other


def test_redis_over_tls_with_the_right_ca(hierarchy: Net, ds: Path,
                                          tls_redis: tuple[RedisServer, Issued]) -> None:
    server, _ = tls_redis
    with _client(server) as client:
        client.flushall()
    assert server.url.startswith("rediss://127.0.0.1:")
    assert server.tls is not None
    # the first operation includes the TLS handshake: more than 50 ms on a busy machine
    _shared_alone(hierarchy, ds, server.url, cachedb_tls_ca_file=server.tls[0].cert,
                  cachedb_timeout_ms=2000)


@pytest.mark.parametrize("wrong", ["unknown CA", "another host name", "system CAs"])
def test_redis_over_tls_is_not_used_when_unverified(hierarchy: Net, ds: Path,
                                                    tls_redis: tuple[RedisServer, Issued],
                                                    wrong: str) -> None:
    server, other = tls_redis
    assert server.tls is not None
    _resolve(hierarchy, ds, server.url, WARM[:2], cachedb_tls_ca_file=server.tls[0].cert,
             cachedb_timeout_ms=2000)
    url, ca = server.url, server.tls[0].cert
    if wrong == "unknown CA":
        ca = other.cert
    elif wrong == "another host name":      # the certificate names 127.0.0.1 only
        url = f"rediss://localhost:{server.port}/0"
    used = _resolve(hierarchy, ds, url, WARM[:2], cachedb_timeout_ms=2000,
                    cachedb_tls_ca_file=None if wrong == "system CAs" else ca)
    assert used.counters.get("cachedb", ("error",)) >= 1
    assert used.counters.get("cachedb", ("hit",)) == 0
    assert used.counters.get("cachedb", ("store",)) == 0
    assert upstream(used) > 0


# ----------------------------------------------------------------------------- flushes
def _keys(server: RedisServer) -> set[str]:
    with _client(server) as client:
        return {k.decode() for k in client.scan_iter(match=KEY_PREFIX + "*", count=1000)}


def _owners(keys: set[str]) -> set[str]:
    return {str(owner_of(k)) for k in keys}


def _control(net: Net, ds: Path, url: str, command: str, **args: str) -> dict[str, Any]:
    """*command* through the control server of a resolver that shares *url*."""
    resolver = Resolver(settings(net, ds, url))
    server = ControlServer(resolver, Path("/nonexistent/control.sock"))

    async def go() -> dict[str, Any]:
        try:
            return await server.answer({"command": command, "args": args}, 0)
        finally:
            await resolver.close()
    return run(go())


def _fill(net: Net, ds: Path, server: RedisServer) -> set[str]:
    with _client(server) as client:
        client.flushall()
        client.set("someone-else:www.secure.example.", b"theirs")    # not ours: kept
        # ours, outside secure.example. though its text ends the same: kept by that flush
        client.set(f"{KEY_PREFIX}www.notsecure.example./1/1", b"x", ex=600)
    _resolve(net, ds, server.url, WARM)
    keys = _keys(server)
    assert {"www.secure.example.", "www.nsec3.example.", "secure.example."} <= _owners(keys)
    return keys


def test_flush_zone_reaches_redis(hierarchy: Net, ds: Path, tcp_redis: RedisServer) -> None:
    before = _fill(hierarchy, ds, tcp_redis)
    reply = _control(hierarchy, ds, tcp_redis.url, "flush-zone", zone="secure.example")
    assert reply["ok"], reply
    after = _keys(tcp_redis)
    gone = {k for k in before if Name.from_text(str(owner_of(k))).is_subdomain(
        n("secure.example."))}
    assert gone and after == before - gone
    assert f"{KEY_PREFIX}www.notsecure.example./1/1" in after
    assert reply["result"]["cachedb_removed"] == len(gone)
    with _client(tcp_redis) as client:
        assert client.get("someone-else:www.secure.example.") == b"theirs"
    # a second resolver gets the rest from Redis, the flushed zone from upstream
    hierarchy.reset_queries()
    rest = [item for item in WARM if not n(item[0]).is_subdomain(n("secure.example."))]
    flushed = [item for item in WARM if n(item[0]).is_subdomain(n("secure.example."))]
    assert upstream(_resolve(hierarchy, ds, tcp_redis.url, rest)) == 0
    second = _resolve(hierarchy, ds, tcp_redis.url, flushed)
    assert upstream(second) > 0
    assert any(name.key == n("www.secure.example.").key
               for name, _, _ in hierarchy.queries())


def test_flush_name_and_type_reach_redis(hierarchy: Net, ds: Path,
                                         tcp_redis: RedisServer) -> None:
    before = _fill(hierarchy, ds, tcp_redis)
    www = {k for k in before if owner_of(k) == n("www.secure.example.")}
    assert len(www) >= 3          # A, AAAA, TXT (NODATA)
    reply = _control(hierarchy, ds, tcp_redis.url, "flush-type", name="www.secure.example.",
                     type="AAAA")
    assert reply["ok"] and reply["result"]["cachedb_removed"] == 1, reply
    assert _keys(tcp_redis) == before - {f"{KEY_PREFIX}www.secure.example./28/1"}
    reply = _control(hierarchy, ds, tcp_redis.url, "flush", name="www.secure.example.")
    assert reply["ok"] and reply["result"]["cachedb_removed"] == len(www) - 1, reply
    assert _keys(tcp_redis) == before - www
    item = next(i for i in WARM if i[:2] == ("www.secure.example.", RRType.A))
    assert upstream(_resolve(hierarchy, ds, tcp_redis.url, [item])) > 0
    other = next(i for i in WARM if i[0] == "mx1.secure.example.")
    assert upstream(_resolve(hierarchy, ds, tcp_redis.url, [other])) == 0


def test_flush_all_reaches_redis_and_nothing_else(hierarchy: Net, ds: Path,
                                                  tcp_redis: RedisServer) -> None:
    before = _fill(hierarchy, ds, tcp_redis)
    reply = _control(hierarchy, ds, tcp_redis.url, "flush-all")
    assert reply["ok"] and reply["result"]["cachedb_removed"] == len(before), reply
    assert _keys(tcp_redis) == set()
    with _client(tcp_redis) as client:
        assert client.dbsize() == 1            # the key that is not ours
    assert upstream(_resolve(hierarchy, ds, tcp_redis.url, WARM[:1])) > 0
    # flush-negative and flush-bogus stay local (see the README)
    reply = _control(hierarchy, ds, tcp_redis.url, "flush-negative")
    assert reply["ok"] and "cachedb_removed" not in reply["result"]


def test_a_flush_with_redis_down_says_so(hierarchy: Net, ds: Path, tmp_path: Path) -> None:
    _skip_without_redis()
    with redis_server(tmp_path) as server:
        url = server.url
    reply = _control(hierarchy, ds, url, "flush-zone", zone="example.")
    assert not reply["ok"]
    assert "local caches were flushed" in reply["error"] and "cachedb" in reply["error"]


def test_the_scan_patterns_are_escaped_and_checked() -> None:
    # glob characters in a name match only themselves
    assert patterns_for(None, n("a*b.example.")) == [KEY_PREFIX + "a\\*b.example./*"]
    assert patterns_for(n("."), None) == [KEY_PREFIX + "*"]
    # a key whose owner has a label holding "/" is read from the right
    assert owner_of(KEY_PREFIX + "a./b.example./1/1") == n("a./b.example.")
    assert owner_of("other:x./1/1") is None and owner_of(KEY_PREFIX + "x./A/1") is None


def test_the_tls_ca_file_key_is_checked(tmp_path: Path) -> None:
    from resolver.config import ConfigError, Settings
    from resolver.configfile import apply
    settings = Settings()
    with pytest.raises(ConfigError, match="cachedb-tls-ca-file: no such file"):
        apply(settings, {"cachedb-tls-ca-file": str(tmp_path / "none.pem")}, "f.toml")
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    with pytest.raises(ConfigError, match="cachedb-tls-ca-file: not a readable file of PEM"):
        apply(settings, {"cachedb-tls-ca-file": str(tmp_path / "junk.pem")}, "f.toml")
    ca = make_ca(tmp_path, "ca")
    apply(settings, {"cachedb-tls-ca-file": str(ca.cert)}, "f.toml")
    assert settings.cachedb_tls_ca_file == ca.cert
