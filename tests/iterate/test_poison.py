"""Issue 4: out-of-bailiwick records in AUTHORITY and ADDITIONAL are never cached nor
served; a poisoning attempt against a name outside the server's zone fails
(SECURITY.md s2: scrubbing, glue only for NS targets inside the delegation, ranks).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from resolver.cache.rrsets import Rank
from resolver.service import Resolver
from resolver.wire.message import RR
from resolver.wire.name import Name
from resolver.wire.types import Rcode, RRType
from resolver.wire.zonefile import read_rr_line
from tests.networks import LAB_FAULTY, LAB_OTHER, LAB_ROOT, LAB_TLD, Net, run

EVIL = bytes((6, 6, 6, 6))


def n(text: str) -> Name:
    return Name.from_text(text)


def rr(text: str) -> RR:
    return read_rr_line(text)


def a_values(resolver: Resolver, name: str) -> list[bytes] | None:
    entry = resolver.rrsets.get(n(name), RRType.A)
    return None if entry is None else list(entry.rrset.rdatas)


def ns_values(resolver: Resolver, name: str) -> list[Name] | None:
    entry = resolver.rrsets.get(n(name), RRType.NS)
    return None if entry is None else [Name(d) for d in entry.rrset.rdatas]


def no_forgery(resolver: Resolver) -> None:
    """No cached RRset anywhere carries the forged address or the forged server."""
    evil_ns = n("ns.evil.")
    for key in resolver.rrsets.store:
        found = resolver.rrsets.store.peek(key)
        assert found is not None
        rrset = found[1].rrset
        assert EVIL not in rrset.rdatas, rrset
        if rrset.rtype == RRType.NS:
            assert evil_ns not in [Name(d) for d in rrset.rdatas], rrset


# forged records a server for poison.lab. has no authority for
POISON_AUTHORITY = [rr("other. 86400 IN NS ns.evil."), rr("lab. 86400 IN NS ns.evil."),
                    rr("www.other. 86400 IN NS ns.evil.")]
POISON_ADDITIONAL = [rr("www.other. 86400 IN A 6.6.6.6"), rr("ns.other. 86400 IN A 6.6.6.6"),
                     rr("ns1.lab. 86400 IN A 6.6.6.6"), rr("www.lab. 86400 IN A 6.6.6.6"),
                     rr("ns.evil. 86400 IN A 6.6.6.6")]


@pytest.fixture
def poisoner(lab: Net) -> Iterator[Net]:
    lab.set_faults(LAB_FAULTY, "poison.lab.", poison_authority=POISON_AUTHORITY,
                   poison_additional=POISON_ADDITIONAL)
    yield lab
    lab.clear_faults(LAB_FAULTY, "poison.lab.")


@pytest.mark.parametrize("qtype", [RRType.A, RRType.TXT, RRType.MX])
def test_out_of_zone_records_dropped(poisoner: Net, qtype: int) -> None:
    """Positive and NODATA answers from poison.lab.'s server carry forged records for
    other. and lab.: none is cached; the real data comes back afterwards."""
    resolver = poisoner.resolver()
    answer = run(resolver.resolve(n("www.poison.lab."), qtype))
    assert answer.rcode == Rcode.NOERROR
    for section in (answer.answer, answer.authority, answer.additional):
        for rrset in section:
            assert rrset.name.is_subdomain(n("poison.lab.")), rrset
    no_forgery(resolver)
    assert a_values(resolver, "www.other.") is None
    assert a_values(resolver, "www.lab.") is None
    assert ns_values(resolver, "www.other.") is None
    # the names the attack was about resolve to their real data
    real = run(resolver.resolve(n("www.other."), RRType.A))
    assert real.rcode == Rcode.NOERROR
    assert real.final_rrset() is not None
    assert list(real.final_rrset().rdatas) == [bytes((192, 0, 2, 80))]   # type: ignore[union-attr]
    real_lab = run(resolver.resolve(n("www.lab."), RRType.A))
    assert list(real_lab.final_rrset().rdatas) == [bytes((192, 0, 2, 70))]  # type: ignore[union-attr]
    assert ns_values(resolver, "other.") == [n("ns.other.")]
    assert a_values(resolver, "ns.other.") == [bytes((127, 0, 0, 64))]
    no_forgery(resolver)


def test_nxdomain_with_forged_records(poisoner: Net) -> None:
    resolver = poisoner.resolver()
    answer = run(resolver.resolve(n("nope.poison.lab."), RRType.A))
    assert answer.rcode == Rcode.NXDOMAIN
    no_forgery(resolver)
    assert a_values(resolver, "www.other.") is None


def test_poisoned_referrals(lab: Net) -> None:
    """The root and the lab. server add forged records to their referrals: only the
    glue of the delegation's own name servers is kept, and only as glue."""
    root_extra = [rr("www.other. 86400 IN A 6.6.6.6"), rr("ns.other. 86400 IN A 6.6.6.6")]
    tld_extra = [rr("www.poison.lab. 86400 IN A 6.6.6.6"), rr("ns.other. 86400 IN A 6.6.6.6"),
                 rr("www.lab. 86400 IN A 6.6.6.6")]
    lab.set_faults(LAB_ROOT, ".", poison_additional=root_extra,
                   poison_authority=[rr("other. 86400 IN NS ns.evil.")])
    lab.set_faults(LAB_TLD, "lab.", poison_additional=tld_extra,
                   poison_authority=[rr("other. 86400 IN NS ns.evil.")])
    try:
        resolver = lab.resolver()
        answer = run(resolver.resolve(n("www.poison.lab."), RRType.A))
        assert answer.rcode == Rcode.NOERROR
        assert list(answer.answer[-1].rdatas) == [bytes((192, 0, 2, 72))]
        no_forgery(resolver)
        glue = resolver.rrsets.get(n("ns1.poison.lab."), RRType.A)
        assert glue is not None and glue.rank == Rank.ADDITIONAL
    finally:
        lab.clear_faults(LAB_ROOT, ".")
        lab.clear_faults(LAB_TLD, "lab.")
    # the victims still resolve to their real data
    other = run(resolver.resolve(n("www.other."), RRType.A))
    assert list(other.answer[-1].rdatas) == [bytes((192, 0, 2, 80))]
    no_forgery(resolver)


def test_glue_never_served_as_an_answer(lab: Net) -> None:
    """Glue is for reaching servers: an A query for a name known only from glue goes
    to the zone's servers, and their answer replaces the glue's rank."""
    lab.reset_queries()
    resolver = lab.resolver()
    run(resolver.resolve(n("www.lab."), RRType.A))
    glue = resolver.rrsets.get(n("ns.other."), RRType.A)
    assert glue is None   # not asked yet: other. was never delegated to
    run(resolver.resolve(n("www.other."), RRType.A))
    glue = resolver.rrsets.get(n("ns.other."), RRType.A)
    assert glue is not None and glue.rank == Rank.ADDITIONAL
    lab.reset_queries()
    answer = run(resolver.resolve(n("ns.other."), RRType.A))
    assert answer.rcode == Rcode.NOERROR
    assert (n("ns.other."), RRType.A, "udp") in lab.queries(LAB_OTHER)
    entry = resolver.rrsets.get(n("ns.other."), RRType.A)
    assert entry is not None and entry.rank == Rank.AUTH_ANSWER


def test_project_poison_zone(hierarchy: Net) -> None:
    """zones/poison.example.: the server forges www.secure.example. A and a delegation
    of secure.example. to ns.evil.internal.: neither is cached nor served."""
    resolver = hierarchy.resolver()
    answer = run(resolver.resolve(n("www.poison.example."), RRType.A))
    assert answer.rcode == Rcode.NOERROR
    assert a_values(resolver, "www.secure.example.") is None
    assert ns_values(resolver, "secure.example.") is None
    assert a_values(resolver, "ns.evil.internal.") is None
    real = run(resolver.resolve(n("www.secure.example."), RRType.A))
    assert real.rcode == Rcode.NOERROR
    values = list(real.answer[-1].rdatas)
    assert values and bytes((6, 6, 6, 6)) not in values
    ns = ns_values(resolver, "secure.example.")
    assert ns is not None and n("ns.evil.internal.") not in ns
