"""DNS over TLS to upstream forwarders (issue 17): a second resolver of ours serves the
zones/ hierarchy over its DoT listener (the test PKI's mx1 certificate), and a
forwarding resolver with ``[[forward]] zone = "." tls = true`` asks it over TLS only,
validating what it gets. A wrong tls-name or an untrusted CA fails the query and is
never retried over plain DNS; several queries share one handshake."""

from __future__ import annotations

import asyncio
import logging
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from resolver.answer import Answer, build_response
from resolver.config import ConfigError, ForwardZone, Settings
from resolver.configfile import apply, dump
from resolver.iterate.dot import (
    PAD_BLOCK,
    DotClient,
    TlsForwardTransport,
    TlsUpstream,
    padded_wire,
)
from resolver.iterate.transport import NetTransport, Reply, Server
from resolver.server.listener import DnsServer
from resolver.service import Resolver
from resolver.wire import message as wm
from resolver.wire.message import Message
from resolver.wire.name import Name
from resolver.wire.types import AD, Rcode, type_from_text
from tests.loop import LoopThread
from tests.pki import make_ca

from .conftest import ROOT, Served, run

HOST = "127.0.0.1"
CERTS = ROOT / "zones" / "certs"
CA = CERTS / "ca.pem"
TLS_NAME = "mx1.secure.example"


class RecordingTransport(NetTransport):
    """The real plain transport, noting every server it was asked to query."""

    def __init__(self) -> None:
        super().__init__()
        self.servers: list[Server] = []

    async def query(self, server: Server, query: Message, *, tcp: bool,
                    timeout: float) -> Reply:
        self.servers.append(server)
        return await super().query(server, query, tcp=tcp, timeout=timeout)


@dataclass
class Upstream:
    server: DnsServer
    port: int             # the DoT port
    plain_port: int       # its plain UDP/TCP port (never used by the forwarder)


@pytest.fixture(scope="module")
def upstream(zones: Served, loop_thread: LoopThread) -> Iterator[Upstream]:
    settings = zones.settings(listen=[(HOST, 0)], listen_tls=[(HOST, 0)],
                              tls_cert=CERTS / "mx1-chain.pem", tls_key=CERTS / "mx1.key.pem",
                              trust_anchor_signaling=False)
    server = DnsServer(Resolver(settings), settings)
    loop_thread.run(server.start())
    try:
        yield Upstream(server, server.bound_tls[0][1], server.bound[0][1])
    finally:
        loop_thread.run(server.stop())


def forwarder(zones: Served, up: Upstream, **tls: object) -> tuple[Resolver, RecordingTransport]:
    options: dict[str, object] = {"tls": True, "tls_name": TLS_NAME, "tls_ca_file": str(CA)}
    options.update(tls)
    zone = ForwardZone(".", [(HOST, up.port)], **options)  # type: ignore[arg-type]
    plain = RecordingTransport()
    resolver = zones.resolver(forward_zones=[zone], trust_anchor_signaling=False,
                              transport=plain)
    resolver.iterator.limits.wall_clock = 3.0
    return resolver, plain


def ask_all(resolver: Resolver, questions: list[tuple[str, str]]) -> list[Answer]:
    async def body() -> list[Answer]:
        try:
            return [await resolver.resolve(Name.from_text(n), type_from_text(t))
                    for n, t in questions]
        finally:
            await resolver.dot.client.close()
    return run(body())


def plain_queries(up: Upstream) -> tuple[int, int]:
    return up.server.stats.udp, up.server.stats.tcp


def test_secure_answer_over_tls_with_one_handshake(zones: Served, upstream: Upstream) -> None:
    resolver, plain = forwarder(zones, upstream)
    before = (upstream.server.stats.tls,)
    answers = ask_all(resolver, [("www.secure.example.", "A"), ("ok.secure.example.", "A"),
                                 ("www.nsec3.example.", "AAAA"), ("nx.secure.example.", "A"),
                                 ("www.bogus.example.", "A")])
    www, ok, v6, nx, bogus = answers
    for answer in (www, ok, v6):
        assert (answer.rcode, answer.security.label) == (Rcode.NOERROR, "secure"), \
            answer.reason
        assert answer.answer
    query = wm.make_query(Name.from_text("www.secure.example."), 1, rd=True, do=True)
    assert wm.parse(build_response(query, www, max_size=None)).flags & AD
    assert (nx.rcode, nx.security.label) == (Rcode.NXDOMAIN, "secure"), nx.reason
    assert bogus.rcode == Rcode.SERVFAIL and bogus.security.label == "bogus"
    # everything went over TLS: not one query through the plain transport
    assert plain.servers == []
    assert plain_queries(upstream) == (0, 0)
    assert upstream.server.stats.tls - before[0] >= 5
    # all of it (the chain of trust included) on one connection, one handshake
    assert resolver.counters.get("dot_upstream_handshakes") == 1
    assert resolver.dot.client.handshakes == 1
    assert resolver.counters.total("dot_upstream_failures") == 0


@pytest.mark.parametrize("tls", [
    {"tls_name": "wrong.secure.example"},      # the certificate does not carry the name
    {"tls_ca_file": None},                     # the system store does not know the test CA
    {"tls_ca_file": "other-ca"},               # another CA
], ids=["wrong-name", "system-store", "other-ca"])
def test_certificate_failure_is_a_failure_never_plain_dns(
        zones: Served, upstream: Upstream, tmp_path: Path, tls: dict[str, object],
        caplog: pytest.LogCaptureFixture) -> None:
    if tls.get("tls_ca_file") == "other-ca":
        tls = {"tls_ca_file": str(self_signed_ca(tmp_path))}
    resolver, plain = forwarder(zones, upstream, **tls)
    before = plain_queries(upstream)
    with caplog.at_level(logging.WARNING, logger="resolver.iterate.dot"):
        answer, again = ask_all(resolver, [("www.secure.example.", "A"),
                                           ("ok.secure.example.", "A")])
    assert answer.rcode == again.rcode == Rcode.SERVFAIL
    warnings = [r for r in caplog.records if "certificate not accepted" in r.getMessage()]
    assert len(warnings) == 1                          # logged once per server
    assert plain.servers == [], "fell back to plain DNS"
    assert plain_queries(upstream) == before
    assert resolver.counters.get("dot_upstream_failures", ("certificate",)) >= 1
    assert resolver.counters.get("dot_upstream_handshakes") == 0


def test_server_name_in_the_address(zones: Served, upstream: Upstream) -> None:
    """Unbound's ADDR@PORT#NAME form, read from the configuration file."""
    settings = apply(Settings(), {"forward": [{
        "zone": ".", "servers": [f"{HOST}@{upstream.port}#{TLS_NAME}"], "tls": True,
        "tls-ca-file": str(CA)}]})
    (zone,) = settings.forward_zones
    assert zone.tls and zone.tls_name is None
    assert zone.server_names == {(HOST, upstream.port): TLS_NAME}
    resolver, plain = forwarder(zones, upstream, tls_name=None,
                                server_names=zone.server_names)
    (answer,) = ask_all(resolver, [("www.secure.example.", "A")])
    assert (answer.rcode, answer.security.label) == (Rcode.NOERROR, "secure"), answer.reason
    assert plain.servers == []


def test_config_keys(tmp_path: Path) -> None:
    settings = apply(Settings(), {"forward": [{
        "zone": "corp.example", "servers": ["192.0.2.53", "2001:db8::53@5353"], "tls": True,
        "tls-name": "dns.corp.example", "tls-ca-file": str(CA)}]})
    (zone,) = settings.forward_zones
    assert zone.servers == [("192.0.2.53", 853), ("2001:db8::53", 5353)]   # 853 by default
    assert (zone.tls_name, zone.tls_ca_file) == ("dns.corp.example", str(CA))
    again = Settings()
    apply(again, tomllib.loads(dump(settings)))
    assert again.forward_zones == settings.forward_zones
    plain = apply(Settings(), {"forward": [{"zone": "corp.example", "servers": ["192.0.2.53"]}]})
    assert plain.forward_zones[0].servers == [("192.0.2.53", 53)]
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello\n")
    bad = [
        ({"tls": True}, "tls-name"),                               # no name anywhere
        ({"tls": True, "tls-name": "bad name"}, "tls-name"),
        ({"tls": True, "tls-name": 5}, "tls-name"),
        ({"tls": True, "tls-name": "a.example", "tls-ca-file": "/nonexistent"}, "tls-ca-file"),
        ({"tls": True, "tls-name": "a.example", "tls-ca-file": str(not_pem)}, "tls-ca-file"),
        ({"tls": "yes"}, "tls"),
        ({"tls-name": "a.example"}, "tls-name"),                   # without tls = true
        ({"servers": ["192.0.2.53#a.example"]}, "servers"),         # #NAME without tls
        ({"servers": ["192.0.2.53#"], "tls": True}, "servers"),
    ]
    for extra, key in bad:
        block = {"zone": "corp.example", "servers": ["192.0.2.53"], **extra}
        with pytest.raises(ConfigError, match=rf"forward\[0\]\.{key}\b"):
            apply(Settings(), {"forward": [block]})


def self_signed_ca(directory: Path) -> Path:
    """A CA certificate of a key unrelated to the test PKI."""
    return make_ca(directory, "other-test-ca").cert


def test_pipelined_queries_with_the_same_id(upstream: Upstream) -> None:
    """Queries in flight together on one connection get distinct IDs on the wire; each
    caller gets its own reply back, with its own ID."""
    client = DotClient()
    target = TlsUpstream((HOST, upstream.port), TLS_NAME, str(CA))
    names = ["www.secure.example.", "ok.secure.example.", "www.nsec3.example."]

    async def body() -> list[Reply]:
        try:
            queries = [wm.make_query(Name.from_text(n), type_from_text("A"), msg_id=4711,
                                     rd=True) for n in names]
            return list(await asyncio.gather(*(client.query(target, q, 5.0)
                                               for q in queries)))
        finally:
            await client.close()
    replies = run(body())
    assert [str(r.message.question[0].name) for r in replies] == names
    assert all(r.message.id == 4711 and r.tcp and r.message.answer for r in replies)
    assert client.handshakes == 1


def test_idle_connection_is_closed(upstream: Upstream) -> None:
    """After the idle timeout (tcp-reuse-timeout) the connection is closed; the next
    query opens another."""
    settings = Settings()
    settings.tcp_reuse_timeout = 200
    client = DotClient(settings=settings)
    target = TlsUpstream((HOST, upstream.port), TLS_NAME, str(CA))

    async def body() -> None:
        query = wm.make_query(Name.from_text("www.secure.example."), 1, rd=True)
        await client.query(target, query, 5.0)
        await client.query(target, wm.make_query(query.question[0].name, 1, rd=True), 5.0)
        assert client.handshakes == 1
        await asyncio.sleep(0.5)
        assert not client._conns                  # closed by the idle timer
        await client.query(target, wm.make_query(query.question[0].name, 1, rd=True), 5.0)
        assert client.handshakes == 2
        await client.close()
    run(body())


def test_queries_are_padded() -> None:
    """RFC 8467: a query with EDNS is padded to a multiple of 128 octets (RFC 7830)."""
    for name in ("a.example.", "a-much-longer-name.with.several.labels.example.",
                 "x" * 60 + "." + "y" * 60 + ".example."):
        query = wm.make_query(Name.from_text(name), 1, rd=True)
        wire = padded_wire(query)
        assert len(wire) % PAD_BLOCK == 0 and len(wire) > len(query.to_wire())
        parsed = wm.parse(wire)
        assert parsed.question == query.question and parsed.edns is not None
        assert [code for code, _ in parsed.edns.options] == [12]
    plain = wm.make_query(Name.from_text("a.example."), 1, edns=False)
    assert padded_wire(plain) == plain.to_wire()


def test_a_reload_takes_effect_at_the_next_query() -> None:
    """The transport reads the zones from the live settings (what SIGHUP replaces)."""
    settings = Settings()
    transport = TlsForwardTransport(NetTransport(), settings)
    assert transport.upstreams() == {}
    settings.forward_zones = [ForwardZone("corp.example.", [("192.0.2.53", 853)], tls=True,
                                          tls_name="dns.corp.example"),
                              ForwardZone("plain.example.", [("192.0.2.54", 53)])]
    assert transport.upstreams() == {
        ("192.0.2.53", 853): TlsUpstream(("192.0.2.53", 853), "dns.corp.example")}


def test_resolver_close_ends_its_tls_connections(zones: Served, upstream: Upstream) -> None:
    """At shutdown (Resolver.close) the connections to forwarders are closed, not left
    to the idle timer: the upstream sees its connection count fall back to none."""
    resolver, _ = forwarder(zones, upstream)

    async def settled(count: int) -> bool:
        """Whether the upstream's open connections come down to *count* within 3 s
        (polled: the count lives in the upstream's thread)."""
        for _ in range(150):
            if upstream.server.stats.tcp_connections <= count:
                return True
            await asyncio.sleep(0.02)
        return False

    async def body() -> tuple[int, bool]:
        assert await settled(0), "the connections of earlier tests are closed"
        answer = await resolver.resolve(Name.from_text("www.secure.example."),
                                        type_from_text("A"))
        assert answer.security.label == "secure", answer.reason
        during = upstream.server.stats.tcp_connections
        await resolver.close()
        # still inside the loop that owns the connection: nothing else closes it
        return during, await settled(0)

    assert run(body()) == (1, True)


def test_reuse_keys() -> None:
    """tcp-reuse-timeout (ms) and max-reuse-tcp-queries: read live by the client, and
    refused unless positive, naming the key."""
    settings = Settings()
    client = DotClient(settings=settings)
    assert (client.idle_timeout, client.max_pending) == (10.0, 100)
    apply(settings, {"tcp-reuse-timeout": 2500, "max-reuse-tcp-queries": 7})
    assert (client.idle_timeout, client.max_pending) == (2.5, 7)
    for key in ("tcp-reuse-timeout", "max-reuse-tcp-queries"):
        with pytest.raises(ConfigError, match=rf"{key}: must be positive"):
            apply(Settings(), {key: 0})
    # SIGHUP (Resolver.apply_settings) hands them to a running resolver's DoT client
    resolver = Resolver(Settings(trust_anchor_signaling=False))
    fresh = Settings()
    apply(fresh, {"tcp-reuse-timeout": 750, "max-reuse-tcp-queries": 3})
    resolver.apply_settings(fresh)
    assert (resolver.dot.client.idle_timeout, resolver.dot.client.max_pending) == (0.75, 3)
