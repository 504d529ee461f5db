"""The RFC 7672 SMTP decision over fixed DNS data (StaticDns).

The matrix: MX secure / insecure / bogus x addresses secure / insecure x TLSA usable /
unusable-only / securely absent (NXDOMAIN, NODATA) / bogus / SERVFAIL, then CNAME'd MX
hosts (RFC 7672 s2.2.2), TLSA CNAMEs (RFC 7671 s7), null and implicit MX, several hosts.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json

import pytest

from resolver.dnssec.status import Security
from resolver.mail.dane_match import MatchKind
from resolver.mail.dane_smtp import (
    DomainVerdict,
    HostVerdict,
    SmtpDaneDecision,
    smtp_dane,
)
from resolver.mail.dnsapi import Lookup, StaticDns
from resolver.wire import rdata as rd
from resolver.wire.name import Name
from resolver.wire.types import Rcode, RRType
from tests.mail.dane_suite import make_cert, tlsa_for

SEC, INS, BOG, IND = Security.SECURE, Security.INSECURE, Security.BOGUS, Security.INDETERMINATE
DOMAIN = Name.from_text("example.com.")
MX1 = Name.from_text("mx1.example.com.")
LEAF = make_cert("mx1.example.com", dns=("mx1.example.com",))
GOOD = tlsa_for(3, 1, 1, LEAF)


def n(text: str) -> Name:
    return Name.from_text(text)


def mx(pref: int, host: str) -> bytes:
    return rd.MX(pref, n(host)).to_wire()


def v4(text: str) -> bytes:
    return ipaddress.IPv4Address(text).packed


def v6(text: str) -> bytes:
    return ipaddress.IPv6Address(text).packed


def tlsa_name(host: str | Name, port: int = 25) -> Name:
    base = host if isinstance(host, Name) else n(host)
    return base.prepend(b"_tcp").prepend(f"_{port}".encode())


def run(dns: StaticDns, domain: Name | str = DOMAIN, port: int = 25) -> SmtpDaneDecision:
    decision = asyncio.run(smtp_dane(dns, domain, port))
    assert_json(decision.to_json())
    return decision


def assert_json(value: object) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            assert isinstance(k, str)
            assert_json(v)
    elif isinstance(value, list):
        for v in value:
            assert_json(v)
    else:
        assert type(value) in (str, int), repr(value)
    json.dumps(value)


def add_host(dns: StaticDns, host: Name, security: Security = SEC, last: int = 1) -> None:
    dns.add(host, RRType.A, [v4(f"192.0.2.{last}")], security=security)
    dns.add(host, RRType.AAAA, [v6(f"2001:db8::{last}")], security=security)


def set_tlsa(dns: StaticDns, owner: Name, kind: str) -> None:
    if kind == "usable":
        dns.add(owner, RRType.TLSA, [GOOD.to_wire(), rd.TLSA(1, 1, 1, bytes(32)).to_wire()])
    elif kind == "unusable":
        dns.add(owner, RRType.TLSA, [rd.TLSA(1, 1, 1, bytes(32)).to_wire(),
                                     rd.TLSA(3, 1, 1, bytes(31)).to_wire(),
                                     rd.TLSA(3, 1, 7, bytes(32)).to_wire()])
    elif kind == "nxdomain":
        pass  # StaticDns: an unknown name is a (secure) NXDOMAIN
    elif kind == "nodata":
        dns.add(owner, RRType.TXT, [b"\x05hello"])
    elif kind == "bogus":
        dns.answers[(owner, RRType.TLSA)] = Lookup(owner, RRType.TLSA, Rcode.SERVFAIL, (), BOG,
                                                   reason="signature expired")
    elif kind == "bogus-noerror":
        dns.answers[(owner, RRType.TLSA)] = Lookup(owner, RRType.TLSA, Rcode.NOERROR, (), BOG)
    elif kind == "servfail":
        dns.answers[(owner, RRType.TLSA)] = Lookup(owner, RRType.TLSA, Rcode.SERVFAIL, (), IND,
                                                   error="timeout")
    elif kind == "insecure":
        dns.add(owner, RRType.TLSA, [GOOD.to_wire()], security=INS)
    else:
        raise AssertionError(kind)


def build(mx_kind: str, addr: Security, tlsa: str) -> StaticDns:
    dns = StaticDns()
    if mx_kind == "bogus":
        dns.answers[(DOMAIN, RRType.MX)] = Lookup(DOMAIN, RRType.MX, Rcode.SERVFAIL, (), BOG,
                                                  reason="no RRSIG")
    else:
        dns.add(DOMAIN, RRType.MX, [mx(10, "mx1.example.com.")],
                security=SEC if mx_kind == "secure" else INS)
    add_host(dns, MX1, addr)
    set_tlsa(dns, tlsa_name(MX1), tlsa)
    return dns


TLSA_KINDS = ["usable", "unusable", "nxdomain", "nodata", "bogus", "bogus-noerror", "servfail",
              "insecure"]
HOST_EXPECT = {"usable": HostVerdict.DANE, "unusable": HostVerdict.ENCRYPT,
               "nxdomain": HostVerdict.MAY, "nodata": HostVerdict.MAY,
               "bogus": HostVerdict.SKIP_HOST, "bogus-noerror": HostVerdict.SKIP_HOST,
               "servfail": HostVerdict.SKIP_HOST, "insecure": HostVerdict.MAY}
DOMAIN_EXPECT = {HostVerdict.DANE: DomainVerdict.DANE, HostVerdict.ENCRYPT: DomainVerdict.ENCRYPT,
                 HostVerdict.MAY: DomainVerdict.MAY, HostVerdict.SKIP_HOST: DomainVerdict.DEFER}
MATRIX = [(m, a, t) for m in ("secure", "insecure", "bogus") for a in (SEC, INS)
          for t in TLSA_KINDS]


@pytest.mark.parametrize(("mx_kind", "addr", "tlsa"), MATRIX,
                         ids=[f"mx-{m}-addr-{a.label}-tlsa-{t}" for m, a, t in MATRIX])
def test_matrix(mx_kind: str, addr: Security, tlsa: str) -> None:
    dns = build(mx_kind, addr, tlsa)
    decision = run(dns)
    tlsa_queried = any(rtype == RRType.TLSA for _, rtype in dns.queries)
    if mx_kind == "bogus":
        assert decision.verdict is DomainVerdict.DEFER
        assert decision.security is BOG and decision.mx == "failed"
        assert decision.hosts == () and dns.queries == [(DOMAIN, RRType.MX)]
        return
    (host,) = decision.hosts
    assert host.host == MX1 and host.preference == 10
    assert len(host.addresses) == 2 and host.address_security is addr
    if mx_kind == "insecure" or addr is INS:
        assert host.verdict is HostVerdict.MAY
        assert decision.verdict is DomainVerdict.MAY
        assert host.security is INS
        assert not tlsa_queried, "no TLSA lookup without a secure MX and secure addresses"
        return
    assert tlsa_queried
    expect = HOST_EXPECT[tlsa]
    assert host.verdict is expect, host.reasons
    assert decision.verdict is DOMAIN_EXPECT[expect]
    assert host.tlsa_name == tlsa_name(MX1)
    if expect is HostVerdict.DANE:
        assert host.security is SEC and host.tlsa is not None
        assert host.tlsa.usable == (GOOD,)
        assert len(host.tlsa.ignored) == 1  # the PKIX-EE record (RFC 7672 s3.1.3)
        assert host.sni == MX1 and host.tlsa_base_domain == MX1
        assert list(host.reference_names) == [MX1, DOMAIN]
    elif expect is HostVerdict.ENCRYPT:
        assert host.tlsa is not None and host.tlsa.usable == ()
        assert len(host.tlsa.ignored) == 3 and host.sni is None
    elif expect is HostVerdict.SKIP_HOST:
        assert host.security in (BOG, IND)
        assert any("must not be used" in r for r in host.reasons)
    else:
        assert host.tlsa is None


def test_json_shape() -> None:
    out = run(build("secure", SEC, "usable")).to_json()
    assert out["verdict"] == "dane" and out["mx"] == "explicit" and out["port"] == 25
    assert out["security"] == "secure"
    assert out["counts"] == {"dane": 1, "encrypt": 0, "may": 0, "skip-host": 0}
    mx_lookup = out["mx_lookup"]
    assert isinstance(mx_lookup, dict)
    assert mx_lookup["records"] == ["10 mx1.example.com."]
    hosts = out["hosts"]
    assert isinstance(hosts, list)
    host = hosts[0]
    assert host["verdict"] == "dane" and host["sni"] == "mx1.example.com"
    assert host["addresses"] == ["192.0.2.1", "2001:db8::1"]
    assert host["tlsa_name"] == "_25._tcp.mx1.example.com."
    assert [lk["type"] for lk in host["lookups"]] == ["A", "AAAA", "TLSA"]
    assert host["tlsa"]["usable"][0]["mnemonic"].startswith("DANE-EE SPKI SHA2-256")


def test_dane_host_authenticates_a_chain() -> None:
    decision = run(build("secure", SEC, "usable"))
    host = decision.hosts[0]
    assert host.match([LEAF.cert]).kind is MatchKind.MATCHED
    other = make_cert("mx1.example.com", dns=("mx1.example.com",))
    assert host.match([other.cert]).kind is MatchKind.NO_MATCH
    may = run(build("secure", SEC, "nxdomain")).hosts[0]
    with pytest.raises(ValueError, match="has verdict may, not dane"):
        may.match([LEAF.cert])


def test_mx_failures_defer() -> None:
    for lookup in (Lookup(DOMAIN, RRType.MX, Rcode.SERVFAIL, (), IND, error="timeout"),
                   Lookup(DOMAIN, RRType.MX, Rcode.NOERROR, (), BOG),
                   Lookup(DOMAIN, RRType.MX, Rcode.REFUSED, (), IND),
                   Lookup(DOMAIN, RRType.MX, Rcode.NOERROR, (mx(10, "a.example."),), IND)):
        dns = StaticDns()
        dns.answers[(DOMAIN, RRType.MX)] = lookup
        decision = run(dns)
        assert decision.verdict is DomainVerdict.DEFER and decision.hosts == ()


def test_malformed_mx_defers() -> None:
    dns = StaticDns()
    dns.add(DOMAIN, RRType.MX, [b"\x00"])
    decision = run(dns)
    assert decision.verdict is DomainVerdict.DEFER
    assert any("malformed" in r for r in decision.reasons)


def test_null_mx() -> None:
    dns = StaticDns()
    dns.add(DOMAIN, RRType.MX, [mx(0, ".")])
    decision = run(dns)
    assert decision.verdict is DomainVerdict.NO_MAIL and decision.mx == "null"
    assert decision.hosts == () and dns.queries == [(DOMAIN, RRType.MX)]
    # '.' beside real hosts is dropped
    dns = StaticDns()
    dns.add(DOMAIN, RRType.MX, [mx(0, "."), mx(10, "mx1.example.com.")])
    add_host(dns, MX1)
    set_tlsa(dns, tlsa_name(MX1), "usable")
    decision = run(dns)
    assert decision.verdict is DomainVerdict.DANE and [h.host for h in decision.hosts] == [MX1]


def test_implicit_mx() -> None:
    # NODATA at the domain: the domain is its own MX host (RFC 5321 s5.1)
    dns = StaticDns()
    add_host(dns, DOMAIN)
    set_tlsa(dns, tlsa_name(DOMAIN), "usable")
    decision = run(dns)
    assert decision.mx == "implicit" and decision.verdict is DomainVerdict.DANE
    assert decision.hosts[0].host == DOMAIN and decision.hosts[0].preference == 0
    assert list(decision.hosts[0].reference_names) == [DOMAIN]
    # an insecure denial of the MX RRset: no DANE
    dns = StaticDns()
    add_host(dns, DOMAIN)
    dns.answers[(DOMAIN, RRType.MX)] = Lookup(DOMAIN, RRType.MX, Rcode.NOERROR, (), INS)
    set_tlsa(dns, tlsa_name(DOMAIN), "usable")
    decision = run(dns)
    assert decision.verdict is DomainVerdict.MAY and decision.security is INS
    # NXDOMAIN: the implicit MX has no address either: no mail
    decision = run(StaticDns())
    assert decision.mx == "implicit" and decision.verdict is DomainVerdict.NO_MAIL
    assert decision.hosts[0].verdict is HostVerdict.SKIP_HOST


def test_preference_order_is_stable() -> None:
    dns = StaticDns()
    dns.add(DOMAIN, RRType.MX, [mx(20, "b.example.com."), mx(10, "c.example.com."),
                                mx(10, "a.example.com."), mx(30, "C.example.com.")])
    for i, host in enumerate(("a", "b", "c"), start=1):
        add_host(dns, n(f"{host}.example.com."), last=i)
    decision = run(dns)
    assert [h.host.to_text() for h in decision.hosts] == ["c.example.com.", "a.example.com.",
                                                          "b.example.com."]
    assert [h.preference for h in decision.hosts] == [10, 10, 20]


def test_skip_host_falls_through_to_next_mx() -> None:
    dns = StaticDns()
    dns.add(DOMAIN, RRType.MX, [mx(10, "mx1.example.com."), mx(20, "mx2.example.com.")])
    add_host(dns, MX1)
    add_host(dns, n("mx2.example.com."), last=2)
    set_tlsa(dns, tlsa_name(MX1), "bogus")
    set_tlsa(dns, tlsa_name("mx2.example.com."), "usable")
    decision = run(dns)
    assert [h.verdict for h in decision.hosts] == [HostVerdict.SKIP_HOST, HostVerdict.DANE]
    assert decision.verdict is DomainVerdict.DANE
    assert decision.counts()["skip-host"] == 1


def test_weakest_reachable_host_decides() -> None:
    dns = StaticDns()
    dns.add(DOMAIN, RRType.MX, [mx(10, "mx1.example.com."), mx(20, "mx2.example.com."),
                                mx(30, "mx3.example.com.")])
    add_host(dns, MX1)
    add_host(dns, n("mx2.example.com."), last=2)
    add_host(dns, n("mx3.example.com."), INS, last=3)
    set_tlsa(dns, tlsa_name(MX1), "usable")
    set_tlsa(dns, tlsa_name("mx2.example.com."), "unusable")
    decision = run(dns)
    assert [h.verdict for h in decision.hosts] == [HostVerdict.DANE, HostVerdict.ENCRYPT,
                                                   HostVerdict.MAY]
    assert decision.verdict is DomainVerdict.MAY
    assert any("differ" in r for r in decision.reasons)


def test_every_host_skipped_defers() -> None:
    dns = StaticDns()
    dns.add(DOMAIN, RRType.MX, [mx(10, "mx1.example.com."), mx(20, "mx2.example.com.")])
    add_host(dns, MX1)
    set_tlsa(dns, tlsa_name(MX1), "servfail")
    dns.answers[(n("mx2.example.com."), RRType.A)] = Lookup(
        n("mx2.example.com."), RRType.A, Rcode.SERVFAIL, (), IND, error="timeout")
    decision = run(dns)
    assert decision.verdict is DomainVerdict.DEFER
    assert [h.verdict for h in decision.hosts] == [HostVerdict.SKIP_HOST] * 2


def test_hosts_without_addresses() -> None:
    dns = StaticDns()
    dns.add(DOMAIN, RRType.MX, [mx(10, "gone.example.com."), mx(20, "mx1.example.com.")])
    add_host(dns, MX1)
    set_tlsa(dns, tlsa_name(MX1), "usable")
    decision = run(dns)
    assert [h.verdict for h in decision.hosts] == [HostVerdict.SKIP_HOST, HostVerdict.DANE]
    assert decision.verdict is DomainVerdict.DANE
    only_gone = StaticDns()
    only_gone.add(DOMAIN, RRType.MX, [mx(10, "gone.example.com.")])
    assert run(only_gone).verdict is DomainVerdict.NO_MAIL


def test_one_address_family_failing() -> None:
    dns = StaticDns()
    dns.add(DOMAIN, RRType.MX, [mx(10, "mx1.example.com.")])
    dns.add(MX1, RRType.A, [v4("192.0.2.1")])
    dns.answers[(MX1, RRType.AAAA)] = Lookup(MX1, RRType.AAAA, Rcode.SERVFAIL, (), BOG)
    set_tlsa(dns, tlsa_name(MX1), "usable")
    decision = run(dns)
    host = decision.hosts[0]
    assert host.verdict is HostVerdict.DANE and host.addresses == ("192.0.2.1",)
    assert any("address lookup failed" in r for r in host.reasons)


# --------------------------------------------------------------------------
# CNAMEs (RFC 7672 s2.2.2, RFC 7671 s7)

TARGET = n("mx.provider.net.")


def cname_host(dns: StaticDns, security: Security = SEC) -> None:
    dns.add(DOMAIN, RRType.MX, [mx(10, "mx1.example.com.")])
    for rtype, data in ((RRType.A, v4("198.51.100.7")), (RRType.AAAA, v6("2001:db8::7"))):
        dns.answers[(MX1, rtype)] = Lookup(MX1, rtype, Rcode.NOERROR, (data,), security,
                                           cnames=(TARGET,))


def test_cname_mx_host_tlsa_at_expanded_name() -> None:
    dns = StaticDns()
    cname_host(dns)
    set_tlsa(dns, tlsa_name(TARGET), "usable")
    set_tlsa(dns, tlsa_name(MX1), "unusable")
    decision = run(dns)
    host = decision.hosts[0]
    assert host.verdict is HostVerdict.DANE and host.expanded_name == TARGET
    assert host.tlsa_base_domain == TARGET and host.sni == TARGET
    assert list(host.reference_names) == [TARGET, MX1, DOMAIN]
    assert (tlsa_name(MX1), RRType.TLSA) not in dns.queries


def test_cname_mx_host_falls_back_to_original_name() -> None:
    for absent in ("nxdomain", "nodata", "insecure"):
        dns = StaticDns()
        cname_host(dns)
        set_tlsa(dns, tlsa_name(TARGET), absent)
        set_tlsa(dns, tlsa_name(MX1), "usable")
        host = run(dns).hosts[0]
        assert host.verdict is HostVerdict.DANE, absent
        assert host.tlsa_base_domain == MX1 and host.tlsa_name == tlsa_name(MX1)
        assert list(host.reference_names) == [MX1, DOMAIN]
        queried = [q for q in dns.queries if q[1] == RRType.TLSA]
        assert queried == [(tlsa_name(TARGET), RRType.TLSA), (tlsa_name(MX1), RRType.TLSA)]


def test_cname_mx_host_neither_name() -> None:
    dns = StaticDns()
    cname_host(dns)
    host = run(dns).hosts[0]
    assert host.verdict is HostVerdict.MAY


def test_cname_mx_host_bogus_tlsa_at_expanded_name_skips() -> None:
    dns = StaticDns()
    cname_host(dns)
    set_tlsa(dns, tlsa_name(TARGET), "bogus")
    set_tlsa(dns, tlsa_name(MX1), "usable")
    host = run(dns).hosts[0]
    assert host.verdict is HostVerdict.SKIP_HOST
    assert (tlsa_name(MX1), RRType.TLSA) not in dns.queries


def test_cname_mx_host_insecure_chain() -> None:
    dns = StaticDns()
    cname_host(dns, INS)
    set_tlsa(dns, tlsa_name(TARGET), "usable")
    decision = run(dns)
    assert decision.hosts[0].verdict is HostVerdict.MAY
    assert not any(rtype == RRType.TLSA for _, rtype in dns.queries)


def test_tlsa_cname() -> None:
    alias = n("_dane.provider.net.")
    for security, expect in ((SEC, HostVerdict.DANE), (INS, HostVerdict.MAY)):
        dns = StaticDns()
        dns.add(DOMAIN, RRType.MX, [mx(10, "mx1.example.com.")])
        add_host(dns, MX1)
        owner = tlsa_name(MX1)
        dns.answers[(owner, RRType.TLSA)] = Lookup(owner, RRType.TLSA, Rcode.NOERROR,
                                                   (GOOD.to_wire(),), security,
                                                   cnames=(alias,))
        host = run(dns).hosts[0]
        assert host.verdict is expect
        if expect is HostVerdict.DANE:
            assert host.tlsa_base_domain == MX1  # the base domain does not follow the CNAME
            assert any("RFC 7671 s7" in r for r in host.reasons)
            lookup_json = host.lookups[-1].to_json()
            assert lookup_json["cnames"] == ["_dane.provider.net."]


def test_other_port_and_text_domain() -> None:
    dns = StaticDns()
    dns.add(DOMAIN, RRType.MX, [mx(10, "mx1.example.com.")])
    add_host(dns, MX1)
    set_tlsa(dns, tlsa_name(MX1, 587), "usable")
    decision = run(dns, "example.com", port=587)
    assert decision.verdict is DomainVerdict.DANE and decision.port == 587
    assert decision.hosts[0].tlsa_name == tlsa_name(MX1, 587)


def test_host_name_too_long_for_tlsa() -> None:
    long_host = Name.from_labels([b"a" * 63, b"b" * 63, b"c" * 63, b"d" * 47, b"example"])
    dns = StaticDns()
    dns.add(DOMAIN, RRType.MX, [rd.MX(10, long_host).to_wire()])
    add_host(dns, long_host)
    host = run(dns).hosts[0]
    assert host.verdict is HostVerdict.MAY
    assert any("255 octets" in r for r in host.reasons)
    assert not any(rtype == RRType.TLSA for _, rtype in dns.queries)
