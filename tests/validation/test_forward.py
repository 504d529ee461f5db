"""Issue 17 s2: forward and stub zones on the test network.

The forwarder must be recursive: a second :class:`Resolver` behind a
:class:`DnsServer` on another loopback port resolves the ``zones/`` hierarchy and is
the upstream of the resolver under test. Forwarded data is validated by the resolver
under test (it sends CD=1, so the upstream passes bogus data on unjudged): secure stays
secure (AD), bogus is SERVFAIL with our own EDE, and an ``insecure`` block is an NTA.
Stub zones send the iterator straight to the zone's authoritative servers.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from typing import Any

import pytest

from resolver.answer import Answer
from resolver.config import ConfigError, ForwardZone, Settings
from resolver.configfile import apply, dump
from resolver.dnssec.status import Security
from resolver.server.listener import DnsServer
from resolver.service import Resolver
from resolver.wire.name import Name
from resolver.wire.types import Rcode, RRType, type_from_text
from tests.loop import LoopThread

from .conftest import Served, run

SEC, INSEC, BOGUS = Security.SECURE, Security.INSECURE, Security.BOGUS


@pytest.fixture(scope="module")
def upstream(zones: Served, loop_thread: LoopThread) -> Iterator[tuple[str, int]]:
    """A second resolver of ours on 127.0.0.1, resolving the test network."""
    settings = zones.settings()
    settings.listen = [("127.0.0.1", 0)]
    server = DnsServer(Resolver(settings), settings)
    loop_thread.run(server.start())
    try:
        yield ("127.0.0.1", server.bound[0][1])
    finally:
        loop_thread.run(server.stop())


def ask(resolver: Resolver, questions: list[tuple[str, str]]) -> list[Answer]:
    async def body() -> list[Answer]:
        return [await resolver.resolve(Name.from_text(n), type_from_text(t))
                for n, t in questions]
    return run(body())


def forwarding(zones: Served, zone: str, server: tuple[str, int], *, stub: bool = False,
               **overrides: Any) -> Resolver:
    return zones.resolver(forward_zones=[ForwardZone(zone, [server], stub)], **overrides)


def test_forward_root_validates(zones: Served, upstream: tuple[str, int]) -> None:
    """Everything to the upstream: secure answers keep AD, bogus ones fail here."""
    resolver = forwarding(zones, ".", upstream)
    secure, bogus, insecure, nx = ask(resolver, [
        ("www.secure.example.", "A"), ("www.bogus.example.", "A"),
        ("www.insecure.example.", "A"), ("nothere.secure.example.", "A")])
    assert (secure.rcode, secure.security) == (Rcode.NOERROR, SEC)
    assert secure.answer and secure.answer[-1].rtype == RRType.A
    assert (bogus.rcode, bogus.security) == (Rcode.SERVFAIL, BOGUS)
    assert [code for code, _ in bogus.ede][:1] == [6]
    assert (insecure.rcode, insecure.security) == (Rcode.NOERROR, INSEC)
    assert (nx.rcode, nx.security) == (Rcode.NXDOMAIN, SEC)
    # nothing went to the authoritative servers from this resolver: only forwarded,
    # with RD=1 (counted)
    assert resolver.infra_servers() == 1
    assert resolver.counters.total("upstream_forwarded") \
        == resolver.counters.total("upstream_queries") > 0


def test_forward_zone_below_signed_parent(zones: Served, upstream: tuple[str, int]) -> None:
    """Only secure.example. and bogus.example. forwarded: still secure, still bogus."""
    resolver = zones.resolver(forward_zones=[ForwardZone("secure.example.", [upstream]),
                                             ForwardZone("bogus.example.", [upstream])])
    secure, bogus, other, out = ask(resolver, [
        ("www.secure.example.", "A"), ("www.bogus.example.", "A"),
        ("www.insecure.example.", "A"), ("cname-insecure.secure.example.", "A")])
    assert (secure.rcode, secure.security) == (Rcode.NOERROR, SEC)
    assert (bogus.rcode, bogus.security) == (Rcode.SERVFAIL, BOGUS)
    assert (other.rcode, other.security) == (Rcode.NOERROR, INSEC)
    # a CNAME leaving the forwarded zone is followed by iteration, as any other
    assert (out.rcode, out.security) == (Rcode.NOERROR, INSEC)
    assert [rs.rtype for rs in out.answer] == [RRType.CNAME, RRType.A]


def test_forward_zone_marked_insecure_is_an_nta(zones: Served,
                                                upstream: tuple[str, int]) -> None:
    settings = apply(Settings(), {"forward": [{
        "zone": "bogus.example.", "servers": [f"{upstream[0]}@{upstream[1]}"],
        "insecure": True}]}, "test.toml")
    resolver = zones.resolver(forward_zones=settings.forward_zones,
                              negative_anchors=settings.negative_anchors)
    (bogus,) = ask(resolver, [("www.bogus.example.", "A")])
    assert (bogus.rcode, bogus.security) == (Rcode.NOERROR, INSEC)
    assert 33 in [code for code, _ in bogus.ede]


def test_stub_zone_starts_at_the_given_servers(zones: Served) -> None:
    """A stub for example. pointing at its authoritative server (found through the
    root's referral here): the root is never asked, answers validate as before."""
    probe = zones.resolver()
    (ns,) = ask(probe, [("example.", "NS")])
    target = Name(ns.answer[-1].rdatas[0])
    (addr,) = ask(probe, [(str(target), "A")])
    address = ".".join(str(b) for b in addr.answer[-1].rdatas[0])
    resolver = forwarding(zones, "example.", (address, zones.port), stub=True)
    secure, bogus = ask(resolver, [("www.secure.example.", "A"), ("www.bogus.example.", "A")])
    assert (secure.rcode, secure.security) == (Rcode.NOERROR, SEC)
    assert (bogus.rcode, bogus.security) == (Rcode.SERVFAIL, BOGUS)
    assert resolver.counters.total("upstream_forwarded") == 0
    # the stub's servers are the only ones asked for the zone: a dead one fails it
    dead = forwarding(zones, "secure.example.", ("127.0.0.1", 9), stub=True)
    (failed,) = ask(dead, [("www.secure.example.", "A")])
    assert failed.rcode == Rcode.SERVFAIL


def test_forwarder_referral_not_followed(zones: Served) -> None:
    """An authoritative server is no forwarder: its referral fails the query."""
    probe = zones.resolver()
    (ns,) = ask(probe, [(".", "NS")])
    target = Name(ns.answer[-1].rdatas[0])
    (addr,) = ask(probe, [(str(target), "A")])
    address = ".".join(str(b) for b in addr.answer[-1].rdatas[0])
    resolver = forwarding(zones, ".", (address, zones.port))
    (answer,) = ask(resolver, [("www.secure.example.", "A")])
    assert answer.rcode == Rcode.SERVFAIL
    assert "referral" in str(answer.reason) + str(answer.ede)


def test_config_keys() -> None:
    settings = apply(Settings(), {
        "forward": [{"zone": "corp.example", "servers": ["192.0.2.53", "2001:db8::53@5353"]}],
        "stub": [{"zone": "lab.example.", "servers": ["192.0.2.1"]}]}, "r.toml")
    assert settings.forward_zones == [
        ForwardZone("corp.example.", [("192.0.2.53", 53), ("2001:db8::53", 5353)]),
        ForwardZone("lab.example.", [("192.0.2.1", 53)], stub=True)]
    again = apply(Settings(), tomllib.loads(dump(settings)), "dump")
    assert again.forward_zones == settings.forward_zones
    bad = [({"zone": "x.", "servers": ["192.0.2.1"], "tls": True}, "tls-name: needed"),
           ({"zone": "x.", "servers": ["ns.example"]}, "not an IP address"),
           ({"zone": "x.", "servers": []}, "servers"),
           ({"zone": "x.", "servers": ["192.0.2.1@99999"]}, "port"),
           ({"servers": ["192.0.2.1"]}, "zone"),
           ({"zone": "a..b", "servers": ["192.0.2.1"]}, "bad name"),
           ({"zone": "x.", "servers": ["192.0.2.1"], "color": 1}, "unknown key")]
    for block, words in bad:
        with pytest.raises(ConfigError, match=words) as err:
            apply(Settings(), {"forward": [block]}, "r.toml")
        assert "r.toml: forward[0]" in str(err.value)
