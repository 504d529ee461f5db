"""Issue 17 s2: local data (``[[local-zone]]`` with Unbound's types and local-data in
zone-file syntax), on the test network: answers from it never carry AD, the RFC
6761/6303 defaults stay, transparent zones resolve the names they have no data for."""

from __future__ import annotations

import socket
import tomllib
from collections.abc import Iterator

import pytest

from resolver.answer import Answer
from resolver.config import ConfigError, Settings
from resolver.configfile import apply, dump
from resolver.dnssec.status import Security
from resolver.server.listener import DnsServer
from resolver.service import Resolver
from resolver.wire import message as wm
from resolver.wire.name import Name
from resolver.wire.types import AD, Rcode, RRType, type_from_text
from tests.loop import LoopThread

from .conftest import Served, run

CONFIG = {"local-zone": [
    {"zone": "corp.example.", "type": "static", "local-data": [
        "corp.example. 3600 SOA ns.corp.example. admin.corp.example. 1 3600 600 86400 300",
        "www 600 A 192.0.2.80", "www 600 A 192.0.2.81", "mail.corp.example. AAAA 2001:db8::25",
        "alias CNAME www.corp.example.", "a.b TXT \"deep\""]},
    {"zone": "secure.example", "type": "transparent",
     "local-data": ["override.secure.example. 60 A 198.51.100.7"]},
    {"zone": "ads.example.", "type": "redirect", "local-data": ["ads.example. A 127.0.0.2"]},
    {"zone": "bogus.example.", "type": "refuse"},
    {"zone": "insecure.example.", "type": "deny"},
]}


def settings_with_data(zones: Served) -> Settings:
    return apply(zones.settings(), CONFIG, "test.toml")


def ask(resolver: Resolver, questions: list[tuple[str, str]]) -> list[Answer]:
    async def body() -> list[Answer]:
        return [await resolver.resolve(Name.from_text(n), type_from_text(t))
                for n, t in questions]
    return run(body())


def values(answer: Answer) -> list[str]:
    return [rr.to_text().split(None, 4)[-1] for rs in answer.answer for rr in rs.records()]


def test_local_zone_types(zones: Served) -> None:
    resolver = Resolver(settings_with_data(zones))
    (www, mx, alias, nx, ent, apex_soa, over, passed, redirected, refused, denied,
     local_default) = ask(resolver, [
        ("www.corp.example.", "A"), ("www.corp.example.", "MX"), ("alias.corp.example.", "A"),
        ("nothere.corp.example.", "A"), ("b.corp.example.", "TXT"), ("corp.example.", "SOA"),
        ("override.secure.example.", "A"), ("www.secure.example.", "A"),
        ("x.y.ads.example.", "A"), ("www.bogus.example.", "A"),
        ("www.insecure.example.", "A"), ("localhost.", "A")])
    assert (www.rcode, sorted(values(www))) == (Rcode.NOERROR, ["192.0.2.80", "192.0.2.81"])
    assert www.security != Security.SECURE and www.aa
    assert (mx.rcode, mx.answer, mx.authority[0].rtype) == (Rcode.NOERROR, [], RRType.SOA)
    assert mx.authority[0].ttl == 3600
    assert [rs.rtype for rs in alias.answer] == [RRType.CNAME]
    assert nx.rcode == Rcode.NXDOMAIN
    assert (ent.rcode, ent.answer) == (Rcode.NOERROR, [])      # empty non-terminal
    assert apex_soa.answer[0].rtype == RRType.SOA
    assert values(over) == ["198.51.100.7"] and over.security != Security.SECURE
    # transparent: no data here, resolved and validated as usual
    assert (passed.rcode, passed.security) == (Rcode.NOERROR, Security.SECURE)
    assert values(redirected) == ["127.0.0.2"]
    assert redirected.answer[0].name == Name.from_text("x.y.ads.example.")
    assert refused.rcode == Rcode.REFUSED
    assert denied.drop
    assert values(local_default) == ["127.0.0.1"]      # RFC 6761 defaults stay


@pytest.fixture
def server(zones: Served, loop_thread: LoopThread) -> Iterator[int]:
    settings = settings_with_data(zones)
    settings.listen = [("127.0.0.1", 0)]
    dns = DnsServer(Resolver(settings), settings)
    loop_thread.run(dns.start())
    try:
        yield dns.bound[0][1]
    finally:
        loop_thread.run(dns.stop())


def udp(port: int, name: str, qtype: int, timeout: float = 2.0) -> wm.Message | None:
    query = wm.make_query(Name.from_text(name), qtype, rd=True, do=True, ad=True)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(query.to_wire(), ("127.0.0.1", port))
        try:
            return wm.parse(sock.recv(65535))
        except TimeoutError:
            return None


def test_local_data_over_the_wire(server: int) -> None:
    local = udp(server, "www.corp.example.", RRType.A)
    assert local is not None and local.rcode == Rcode.NOERROR and not local.flags & AD
    assert len(local.answer) == 2
    upstream = udp(server, "www.secure.example.", RRType.A)
    assert upstream is not None and upstream.flags & AD     # transparent: validated
    assert udp(server, "www.insecure.example.", RRType.A, timeout=0.5) is None   # deny
    refused = udp(server, "www.bogus.example.", RRType.A)
    assert refused is not None and refused.rcode == Rcode.REFUSED


def test_local_zone_config() -> None:
    settings = apply(Settings(), CONFIG, "r.toml")
    assert [z.type for z in settings.local_zones] == [
        "static", "transparent", "redirect", "refuse", "deny"]
    again = apply(Settings(), tomllib.loads(dump(settings)), "dump")
    assert again.local_zones == settings.local_zones
    bad = [({"zone": "x.", "type": "nxdomain"}, "type: expected one of"),
           ({"zone": "x.", "local-data": ["www A 300.1.1.1"]}, "local-data"),
           ({"zone": "x.", "local-data": ["www.y. A 192.0.2.1"]}, "outside the zone"),
           ({"zone": "x.", "data": []}, "unknown key"),
           ({"type": "static"}, "zone")]
    for block, words in bad:
        with pytest.raises(ConfigError, match=words) as err:
            apply(Settings(), {"local-zone": [block]}, "r.toml")
        assert "r.toml: local-zone[0]" in str(err.value)
