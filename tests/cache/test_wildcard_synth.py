"""Wildcard answers from the validated cache (RFC 8198 s5.3, resolver/cache/
wildcard_synth.py): the guards, without a network. As in test_nsec_index.py, the RRSIGs
only carry the fields the proof functions read (signature checks are the validator's:
a synthesised answer goes to it like any answer without a verdict)."""

from __future__ import annotations

import struct

from resolver.cache.nsec_index import NsecIndex
from resolver.cache.rrsets import Rank, RRsetCache
from resolver.cache.wildcard_synth import remember_wildcard, synthesise_wildcard
from resolver.dnssec.status import Security
from resolver.wire.name import Name
from resolver.wire.rrset import RRset
from resolver.wire.types import RRType

from .test_nsec_index import NS, NSEC_, RRSIG, SOA_, Clock, nsec

N = Name.from_text
ZONE = N("example.")
A = RRType.A


def wild_sig(labels: int, signer: Name = ZONE, covered: int = A) -> bytes:
    return (struct.pack(">HBBIIIH", covered, 13, labels, 600, 2**31, 0, 1)
            + signer.wire + bytes(64))


def expansion(owner: str, ttl: int = 600, labels: int = 2) -> RRset:
    """An A RRset expanded from *.wild.example. (RRSIG labels 2)."""
    return RRset(N(owner), A, 1, ttl, [bytes([192, 0, 2, 7])], [wild_sig(labels)])


def setup(ttl: int = 600, nsec_ttl: int = 300) -> tuple[Clock, NsecIndex, RRsetCache]:
    """The cache after a secure answer for a.wild.example. proven by the NSEC
    *.wild.example. -> www.example. (every name below wild sorts between them)."""
    clock = Clock()
    index = NsecIndex(clock)
    cache = RRsetCache(1 << 20, clock)
    proof = nsec("*.wild.example.", "www.example.", A, RRSIG, NSEC_, signer="example.",
                 ttl=nsec_ttl)
    assert remember_wildcard(cache, index, expansion("a.wild.example.", ttl), ZONE, [proof],
                             ttl)
    return clock, index, cache


def test_expanded_to_the_name_with_the_least_ttl() -> None:
    clock, index, cache = setup(ttl=600, nsec_ttl=300)
    kept = cache.get(N("*.wild.example."), A)
    assert kept is not None and kept.security == Security.SECURE
    clock.t += 100
    got = synthesise_wildcard(index, cache, N("b.wild.example."), A, clock())
    assert got is not None and got.zone == ZONE
    assert got.rrset.name == N("b.wild.example.") and got.rrset.rdatas == kept.rrset.rdatas
    assert got.rrset.sigs == kept.rrset.sigs              # copied as they are
    assert got.rrset.ttl == 200                           # the NSEC's 300 - 100
    assert [p.rtype for p in got.proofs] == [RRType.NSEC] and got.proofs[0].ttl == 200
    deep = synthesise_wildcard(index, cache, N("x.y.wild.example."), A, clock())
    assert deep is not None and deep.rrset.name == N("x.y.wild.example.")
    clock.t += 200
    assert synthesise_wildcard(index, cache, N("b.wild.example."), A, clock()) is None


def test_guards() -> None:
    clock, index, cache = setup()
    now = clock()
    for name, qtype in [("b.wild.example.", RRType.TXT),     # no TXT wildcard cached
                        ("b.wild.example.", RRType.DS),
                        ("b.wild.example.", RRType.CNAME),
                        ("b.wild.example.", RRType.ANY),
                        ("www.example.", A),                  # the NSEC's next name exists
                        ("zzz.example.", A),                  # no NSEC covers it
                        ("b.other.", A)]:                     # no zone indexed
        assert synthesise_wildcard(index, cache, N(name), qtype, now) is None, (name, qtype)


def test_only_a_secure_wildcard() -> None:
    clock, index, cache = setup()
    entry = cache.get(N("*.wild.example."), A)
    assert entry is not None
    for security in (None, Security.INSECURE, Security.BOGUS, Security.INDETERMINATE):
        entry.security = security
        assert synthesise_wildcard(index, cache, N("b.wild.example."), A, clock()) is None
    entry.security = Security.SECURE
    assert synthesise_wildcard(index, cache, N("b.wild.example."), A, clock()) is not None
    # a wildcard RRset of another zone (signed by a child) is not this NSEC's to expand
    cache.put(RRset(N("*.wild.example."), A, 1, 600, [bytes(4)],
                    [wild_sig(2, N("wild.example."))]), Rank.ANSWER, N("wild.example."),
              Security.SECURE)
    assert synthesise_wildcard(index, cache, N("b.wild.example."), A, clock()) is None


def test_remember_refuses_what_proves_nothing() -> None:
    clock = Clock()
    index = NsecIndex(clock)
    cache = RRsetCache(1 << 20, clock)
    proof = nsec("*.wild.example.", "www.example.", A, RRSIG, NSEC_, signer="example.")
    plain = RRset(N("a.wild.example."), A, 1, 600, [bytes(4)], [wild_sig(3)])   # no expansion
    assert not remember_wildcard(cache, index, plain, ZONE, [proof], 600)
    assert not remember_wildcard(cache, index, expansion("a.wild.example."), ZONE, [], 600)
    other = nsec("a.other.", "z.other.", A, RRSIG, NSEC_, signer="other.")
    assert not remember_wildcard(cache, index, expansion("a.wild.example."), ZONE, [other],
                                 600)
    assert cache.get(N("*.wild.example."), A) is None


def test_no_synthesis_across_a_zone_cut() -> None:
    """A parent-side NSEC at a delegation (NS, no SOA) proves nothing below its owner:
    the child's wildcard is not expanded from it."""
    clock = Clock()
    index = NsecIndex(clock)
    cache = RRsetCache(1 << 20, clock)
    cut = nsec("child.example.", "www.example.", NS, RRSIG, NSEC_, signer="example.")
    index.add_proofs(ZONE, [cut], 600)
    cache.put(RRset(N("*.child.example."), A, 1, 600, [bytes(4)], [wild_sig(2)]),
              Rank.ANSWER, ZONE, Security.SECURE)
    assert synthesise_wildcard(index, cache, N("a.child.example."), A, clock()) is None
    # and an apex NSEC with SOA from add_proofs gives no denial (no SOA record came)
    apex = nsec("example.", "child.example.", NS, SOA_, RRSIG, NSEC_, signer="example.")
    index.add_proofs(ZONE, [apex], 600)
    assert index.lookup(N("aaa.example."), A) is None
