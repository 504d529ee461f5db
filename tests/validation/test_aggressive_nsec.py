"""Aggressive use of the DNSSEC-validated cache (RFC 8198, issue 17): after one
validated NXDOMAIN or NODATA in an NSEC zone, other names the same NSEC records cover
are answered from the cache, with AD, without asking upstream; records that never
validated are never used.

The zone is ``internal.`` (NSEC, no wildcard): its chain is
``internal. -> ns1 -> secure-mail -> www -> internal.``.
"""

from __future__ import annotations

import struct
import time
from contextlib import AbstractContextManager

from resolver.answer import Answer, build_response
from resolver.service import Resolver
from resolver.wire import message as wm
from resolver.wire.message import RR
from resolver.wire.name import Name
from resolver.wire.types import AD, Rcode, RRType, type_from_text

from .conftest import Served, run
from .zone_faults import quick, sent, zone_faults

ZONE = Name.from_text("internal.")
SERVER = "127.0.0.22"
SEC = "secure"


def resolve(resolver: Resolver, name: str, rtype: str = "A", cd: bool = False) -> Answer:
    return run(resolver.resolve(Name.from_text(name), type_from_text(rtype), cd=cd))


def faults_on(served: Served, **faults: object) -> AbstractContextManager[None]:
    """Set faults for internal. on its server, then put the previous ones back."""
    return zone_faults(served, SERVER, ZONE, **faults)


def test_nxdomain_from_a_cached_nsec_with_the_server_stopped(zones: Served) -> None:
    resolver = quick(zones)
    first = resolve(resolver, "aaa.internal.")
    assert (first.rcode, first.security.label) == (Rcode.NXDOMAIN, SEC), first.reason
    with faults_on(zones, timeout=True):
        before = sent(resolver)
        answer = resolve(resolver, "bbb.internal.", "TXT")   # internal. -> ns1 covers it
        assert sent(resolver) == before, "asked upstream"
        assert (answer.rcode, answer.security.label) == (Rcode.NXDOMAIN, SEC), answer.reason
        assert resolver.counters.get("aggressive_nsec", ("nxdomain",)) == 1
        # the proof and the SOA travel with it, and the client sees AD
        query = wm.make_query(Name.from_text("bbb.internal."), RRType.TXT, rd=True, do=True)
        reply = wm.parse(build_response(query, answer, max_size=None))
        assert reply.flags & AD
        types = {rr.rtype for rr in reply.authority}
        assert {RRType.SOA, RRType.NSEC, RRType.RRSIG} <= types, reply.to_text()
        assert all(rr.ttl <= 300 for rr in reply.authority)   # SOA minimum (RFC 9077)
        # a name no cached NSEC covers (www -> internal. was never seen) goes upstream
        before = sent(resolver)
        far = resolve(resolver, "zzz.internal.")
        assert sent(resolver) > before
        assert far.rcode == Rcode.SERVFAIL


def test_nodata_from_a_cached_nsec_with_the_server_stopped(zones: Served) -> None:
    resolver = quick(zones)
    first = resolve(resolver, "www.internal.", "TXT")
    assert (first.rcode, first.security.label) == (Rcode.NOERROR, SEC), first.reason
    assert not first.answer
    with faults_on(zones, timeout=True):
        before = sent(resolver)
        answer = resolve(resolver, "www.internal.", "MX")
        assert sent(resolver) == before, "asked upstream"
        assert (answer.rcode, answer.security.label) == (Rcode.NOERROR, SEC), answer.reason
        assert not answer.answer
        assert resolver.counters.get("aggressive_nsec", ("nodata",)) == 1
        # www -> internal. (the last NSEC) covers zzz, but the wildcard *.internal. is
        # not proven absent by any cached NSEC yet: asked upstream (and fails)
        gone = resolve(resolver, "zzz.internal.")
        assert sent(resolver) > before and gone.rcode == Rcode.SERVFAIL
    # with internal. -> ns1 cached too (it covers the wildcard), the two NSECs prove it
    assert resolve(resolver, "aaa.internal.").rcode == Rcode.NXDOMAIN
    with faults_on(zones, timeout=True):
        before = sent(resolver)
        gone = resolve(resolver, "zzy.internal.")   # zzz failed: remembered (RFC 9520)
        assert sent(resolver) == before
        assert (gone.rcode, gone.security.label) == (Rcode.NXDOMAIN, SEC), gone.reason
        # a type the bitmap lists is no NODATA: asked upstream (and fails)
        before = sent(resolver)
        resolve(resolver, "www.internal.", "A")
        assert sent(resolver) > before


def test_switched_off(zones: Served) -> None:
    resolver = quick(zones, aggressive_nsec=False)
    assert resolve(resolver, "aaa.internal.").rcode == Rcode.NXDOMAIN
    with faults_on(zones, timeout=True):
        before = sent(resolver)
        answer = resolve(resolver, "bbb.internal.")
        assert sent(resolver) > before
        assert answer.rcode == Rcode.SERVFAIL
    assert resolver.counters.total("aggressive_nsec") == 0


def test_unvalidated_nsec_is_never_used(zones: Served) -> None:
    """A forged NSEC (b.internal. -> zzzz.internal., its RRSIG garbage) rides along a
    genuine NXDOMAIN: the denial validates with the genuine records, and the forged one,
    never verified, must not answer for x.internal."""
    signer = ZONE.wire
    now = int(time.time())
    rrsig = (struct.pack(">HBBIIIH", RRType.NSEC, 13, 2, 300, now + 86400, now - 3600, 4711)
             + signer + bytes(range(64)))
    bitmap = b"\x00\x06\x40\x00\x00\x00\x00\x03"    # A RRSIG NSEC
    owner = Name.from_text("b.internal.")
    forged = [RR(owner, RRType.NSEC, 1, 300, Name.from_text("zzzz.internal.").wire + bitmap),
              RR(owner, RRType.RRSIG, 1, 300, rrsig)]
    resolver = quick(zones)
    with faults_on(zones, poison_authority=forged):
        first = resolve(resolver, "aaa.internal.")
    assert (first.rcode, first.security.label) == (Rcode.NXDOMAIN, SEC), first.reason
    with faults_on(zones, timeout=True):
        before = sent(resolver)
        resolve(resolver, "x.internal.")
        assert sent(resolver) > before, "answered from a forged NSEC"
    assert resolver.counters.total("aggressive_nsec") == 0


def test_bogus_and_checking_disabled_denials_are_not_used(zones: Served) -> None:
    """An NSEC whose signature fails (every RRSIG corrupted) makes the denial bogus:
    nothing is indexed, so a covered name still goes upstream."""
    resolver = quick(zones)
    with faults_on(zones, corrupt_rrsig=True):
        bad = resolve(resolver, "aaa.internal.")
        assert bad.rcode == Rcode.SERVFAIL
        unchecked = resolve(resolver, "aab.internal.", cd=True)
        assert unchecked.rcode == Rcode.NXDOMAIN
    with faults_on(zones, timeout=True):
        before = sent(resolver)
        resolve(resolver, "bbb.internal.")
        assert sent(resolver) > before
    assert resolver.counters.total("aggressive_nsec") == 0
