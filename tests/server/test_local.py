"""Special-use names answered locally as Unbound does by default (RFC 6761, RFC 6303,
RFC 8375, RFC 7686), each switched off with ``--nodefault``."""

from __future__ import annotations

import pytest

from resolver.local import LocalZones
from resolver.wire.name import Name
from resolver.wire.types import Rcode, RRType


def n(text: str) -> Name:
    return Name.from_text(text)


LOCAL = LocalZones()


@pytest.mark.parametrize("name", ["localhost.", "LocalHost.", "mail.localhost.",
                                  "a.b.localhost."])
def test_localhost_is_loopback(name: str) -> None:
    a = LOCAL.answer(n(name), RRType.A)
    assert a is not None and a.rcode == Rcode.NOERROR and a.aa
    assert [rs.rdatas for rs in a.answer] == [[bytes((127, 0, 0, 1))]]
    aaaa = LOCAL.answer(n(name), RRType.AAAA)
    assert aaaa is not None and [rs.rdatas for rs in aaaa.answer] == [[bytes(15) + b"\x01"]]
    mx = LOCAL.answer(n(name), RRType.MX)
    assert mx is not None and mx.rcode == Rcode.NOERROR and mx.answer == []
    assert [rs.rtype for rs in mx.authority] == [RRType.SOA]


def test_loopback_reverse() -> None:
    for name in ("1.0.0.127.in-addr.arpa.", "1." + "0." * 31 + "ip6.arpa."):
        ptr = LOCAL.answer(n(name), RRType.PTR)
        assert ptr is not None and ptr.rcode == Rcode.NOERROR
        assert [Name(d) for rs in ptr.answer for d in rs.rdatas] == [n("localhost.")]
    other = LOCAL.answer(n("2.0.0.127.in-addr.arpa."), RRType.PTR)
    assert other is not None and other.rcode == Rcode.NXDOMAIN


@pytest.mark.parametrize("name", ["www.invalid.", "x.test.", "hidden.onion.",
                                  "printer.home.arpa.", "1.1.168.192.in-addr.arpa.",
                                  "4.3.2.10.in-addr.arpa.", "1.1.16.172.in-addr.arpa.",
                                  "9.9.254.169.in-addr.arpa."])
def test_nxdomain_zones(name: str) -> None:
    answer = LOCAL.answer(n(name), RRType.A)
    assert answer is not None and answer.rcode == Rcode.NXDOMAIN
    assert [rs.rtype for rs in answer.authority] == [RRType.SOA]


def test_apex_is_nodata_soa_and_ns_exist() -> None:
    apex = LOCAL.answer(n("invalid."), RRType.A)
    assert apex is not None and apex.rcode == Rcode.NOERROR and apex.answer == []
    soa = LOCAL.answer(n("test."), RRType.SOA)
    assert soa is not None and [rs.rtype for rs in soa.answer] == [RRType.SOA]
    ns = LOCAL.answer(n("onion."), RRType.NS)
    assert ns is not None and [rs.rtype for rs in ns.answer] == [RRType.NS]


@pytest.mark.parametrize("name", ["www.example.", "1.1.1.1.in-addr.arpa.", "172.in-addr.arpa.",
                                  "1.1.15.172.in-addr.arpa.", "testing.", "notlocalhost."])
def test_other_names_not_local(name: str) -> None:
    assert LOCAL.answer(n(name), RRType.A) is None


def test_nodefault() -> None:
    local = LocalZones(["test", "168.192.in-addr.arpa.", "LOCALHOST."])
    assert local.answer(n("www.test."), RRType.A) is None
    assert local.answer(n("1.1.168.192.in-addr.arpa."), RRType.PTR) is None
    assert local.answer(n("localhost."), RRType.A) is None
    assert local.answer(n("www.invalid."), RRType.A) is not None
