"""Wildcard answers from the DNSSEC-validated cache (RFC 8198 s5.3, issue 17): after
one validated wildcard answer in an NSEC zone, other names the same NSEC covers below
the same wildcard are answered from the cache, expanded to the name asked, with the
wildcard's RRSIG and the NSEC (NSEC3), with AD, without asking upstream.

The zone is ``secure.example.`` (NSEC) with ``*.wild`` A and TXT; every name below
``wild`` sorts after ``*.wild`` and before ``www``, so the NSEC ``*.wild -> ...``
covers them all.
"""

from __future__ import annotations

import random
from contextlib import AbstractContextManager

from resolver.answer import Answer, build_response
from resolver.dnssec import nsec3 as n3
from resolver.service import Resolver
from resolver.testnet.server import AuthServer
from resolver.wire import message as wm
from resolver.wire import rdata as rd
from resolver.wire.name import Name
from resolver.wire.types import AD, Rcode, RRType, type_from_text

from .conftest import Served, run
from .zone_faults import quick, sent, zone_faults

SERVER = "127.0.0.23"
SEC = "secure"


def resolve(resolver: Resolver, name: str, rtype: str = "A") -> Answer:
    return run(resolver.resolve(Name.from_text(name), type_from_text(rtype)))


def stopped(served: Served, zone: str) -> AbstractContextManager[None]:
    """The servers of *zone* time out, then answer again."""
    return zone_faults(served, SERVER, zone, timeout=True)


def wildcards(resolver: Resolver) -> int:
    return sum(resolver.counters.get(name, ("wildcard",))
               for name in ("aggressive_nsec", "aggressive_nsec3"))


def test_wildcard_answer_from_the_cache_with_the_server_stopped(zones: Served) -> None:
    resolver = quick(zones)
    first = resolve(resolver, "a.wild.secure.example.")
    assert (first.rcode, first.security.label) == (Rcode.NOERROR, SEC), first.reason
    with stopped(zones, "secure.example."):
        before = sent(resolver)
        answer = resolve(resolver, "b.wild.secure.example.")
        assert sent(resolver) == before, "asked upstream"
        assert (answer.rcode, answer.security.label) == (Rcode.NOERROR, SEC), answer.reason
        assert resolver.counters.get("aggressive_nsec", ("wildcard",)) == 1
        assert [rs.name for rs in answer.answer] == [Name.from_text("b.wild.secure.example.")]
        assert answer.answer[0].rdatas == first.answer[0].rdatas
        assert answer.ttl <= first.ttl
        query = wm.make_query(Name.from_text("b.wild.secure.example."), RRType.A,
                              rd=True, do=True)
        reply = wm.parse(build_response(query, answer, max_size=None))
        assert reply.flags & AD
        assert {(rr.name, rr.rtype) for rr in reply.answer} == {
            (Name.from_text("b.wild.secure.example."), RRType.A),
            (Name.from_text("b.wild.secure.example."), RRType.RRSIG)}, reply.to_text()
        assert any(rr.rtype == RRType.NSEC for rr in reply.authority), reply.to_text()
        # deeper below the same wildcard: the same NSEC and closest encloser
        deep = resolve(resolver, "x.y.wild.secure.example.")
        assert sent(resolver) == before
        assert (deep.rcode, deep.security.label) == (Rcode.NOERROR, SEC), deep.reason
        # the TXT of the wildcard was never cached: upstream (which is down)
        txt = resolve(resolver, "c.wild.secure.example.", "TXT")
        assert sent(resolver) > before and txt.rcode == Rcode.SERVFAIL
        # a name that exists is not synthesised; nor one no cached NSEC covers
        for name in ("www.secure.example.", "aaa.secure.example."):
            before = sent(resolver)
            assert resolve(resolver, name).rcode == Rcode.SERVFAIL
            assert sent(resolver) > before, name
    assert wildcards(resolver) == 2


def test_type_not_at_the_wildcard_goes_upstream_then_nodata(zones: Served) -> None:
    resolver = quick(zones)
    assert resolve(resolver, "a.wild.secure.example.").security.label == SEC
    before = sent(resolver)
    first = resolve(resolver, "b.wild.secure.example.", "MX")   # no MX at *.wild
    assert sent(resolver) > before
    assert (first.rcode, first.security.label) == (Rcode.NOERROR, SEC) and not first.answer
    with stopped(zones, "secure.example."):
        before = sent(resolver)
        nodata = resolve(resolver, "c.wild.secure.example.", "MX")   # the NODATA path
        assert sent(resolver) == before
        assert (nodata.rcode, nodata.security.label) == (Rcode.NOERROR, SEC), nodata.reason
        assert not nodata.answer
    assert resolver.counters.get("aggressive_nsec", ("nodata",)) == 1
    assert wildcards(resolver) == 0


def test_insecure_zone_never_synthesises(zones: Served) -> None:
    resolver = quick(zones)
    first = resolve(resolver, "a.wild.insecure.example.")
    assert first.rcode == Rcode.NOERROR and first.security.label == "insecure"
    with stopped(zones, "insecure.example."):
        before = sent(resolver)
        assert resolve(resolver, "b.wild.insecure.example.").rcode == Rcode.SERVFAIL
        assert sent(resolver) > before
    assert wildcards(resolver) == 0


def test_nsec3_wildcard_from_the_cache(zones: Served) -> None:
    """NSEC3 (RFC 5155 s8.8): the record covering the next closer name proves it."""
    resolver = quick(zones)
    first = resolve(resolver, "a.wild.nsec3.example.")
    assert first.security.label == SEC, first.reason
    # hashes scatter names: pick one whose hash lies in the span of the cached NSEC3
    (cover,) = [rs for rs in first.authority if rs.rtype == RRType.NSEC3]
    value = rd.decode(RRType.NSEC3, cover.rdatas[0])
    assert isinstance(value, rd.NSEC3)
    low = n3.hashed_owner(cover.name, Name.from_text("nsec3.example."))
    assert low is not None

    def spanned(name: Name) -> bool:
        hashed = n3.nsec3_hash(name, value.salt, value.iterations)
        if low < value.next:
            return low < hashed < value.next
        return hashed > low or hashed < value.next

    names = [Name.from_text(f"n{i}.wild.nsec3.example.") for i in range(400)]
    inside = next(n for n in names if spanned(n))
    outside = next(n for n in names if not spanned(n))
    with stopped(zones, "nsec3.example."):
        before = sent(resolver)
        answer = run(resolver.resolve(inside, RRType.A))
        assert sent(resolver) == before, "asked upstream"
        assert (answer.rcode, answer.security.label) == (Rcode.NOERROR, SEC), answer.reason
        assert [rs.name for rs in answer.answer] == [inside]
        query = wm.make_query(inside, RRType.A, rd=True, do=True)
        reply = wm.parse(build_response(query, answer, max_size=None))
        assert reply.flags & AD
        assert any(rr.rtype == RRType.NSEC3 for rr in reply.authority), reply.to_text()
        # a name outside that span: no record proves it absent, upstream (down)
        assert run(resolver.resolve(outside, RRType.A)).rcode == Rcode.SERVFAIL
        assert sent(resolver) > before
    assert resolver.counters.get("aggressive_nsec3", ("wildcard",)) == 1


def test_opt_out_and_switched_off_go_upstream(zones: Served) -> None:
    resolver = quick(zones)
    resolve(resolver, "a.wild.optout.example.")   # its cover is opt-out: never used
    before = sent(resolver)
    resolve(resolver, "b.wild.optout.example.")
    assert sent(resolver) > before
    off = quick(zones, aggressive_nsec=False)
    assert resolve(off, "a.wild.secure.example.").security.label == SEC
    before = sent(off)
    assert resolve(off, "b.wild.secure.example.").security.label == SEC
    assert sent(off) > before
    assert wildcards(resolver) == wildcards(off) == 0


def test_an_unvalidated_wildcard_is_never_expanded(zones: Served) -> None:
    resolver = quick(zones)
    assert resolve(resolver, "a.wild.secure.example.").security.label == SEC
    entry = resolver.rrsets.get(Name.from_text("*.wild.secure.example."), RRType.A)
    assert entry is not None and entry.security is not None
    entry.security = None        # as after a trust anchor change: judged again when used
    before = sent(resolver)
    assert resolve(resolver, "b.wild.secure.example.").security.label == SEC
    assert sent(resolver) > before and wildcards(resolver) == 0


def test_forged_expansion_is_bogus_despite_the_signature_memo(zones: Served) -> None:
    """The wildcard's signature is checked once (resolver/validate/wildcard_memo.py):
    another expansion with other records under the same RRSIG must still fail."""
    resolver = quick(zones, aggressive_nsec=False)   # every name goes upstream
    assert resolve(resolver, "a.wild.secure.example.").security.label == SEC
    assert resolve(resolver, "b.wild.secure.example.").security.label == SEC   # memo hit

    def forge(query: wm.Message, reply: wm.Message) -> None:
        for rr in reply.answer:
            if rr.rtype == RRType.A:
                rr.rdata = bytes([192, 0, 2, 99])

    server: AuthServer = zones.net.servers[SERVER]
    zone = Name.from_text("secure.example.")
    saved = server.faults.get(zone.key)
    try:
        server.set_faults(zone, rewrite=forge)
        forged = resolve(resolver, "z.wild.secure.example.", "A")
    finally:
        server.faults.pop(zone.key, None)
        if saved is not None:
            server.faults[zone.key] = saved
    assert forged.rcode == Rcode.SERVFAIL and forged.security.label == "bogus", forged
    again = resolve(resolver, "y.wild.secure.example.", "A")   # the genuine one still passes
    assert (again.rcode, again.security.label) == (Rcode.NOERROR, SEC), again.reason


def _shape(answer: Answer) -> tuple[object, ...]:
    return (answer.rcode, answer.security.label,
            sorted((str(rs.name), rs.rtype, tuple(sorted(rs.rdatas)), tuple(sorted(rs.sigs)))
                   for rs in answer.answer))


def test_generated_names_match_upstream(zones: Served) -> None:
    """Seeded, bounded: names below the wildcard (and a few beside it), answered by a
    resolver with the aggressive cache and one without: the same answers."""
    rng = random.Random(8198)
    on, off = quick(zones), quick(zones, aggressive_nsec=False)
    for resolver in (on, off):
        for zone in ("secure.example.", "nsec3.example."):
            resolve(resolver, f"seed.wild.{zone}")
            resolve(resolver, f"seed.wild.{zone}", "TXT")
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-"
    for _ in range(16):
        labels = ["".join(rng.choice(alphabet[:-1]) + rng.choice(alphabet)
                          for _ in range(rng.randint(1, 4)))
                  for _ in range(rng.randint(1, 2))]
        name = ".".join(labels) + rng.choice([".wild.secure.example.", ".secure.example.",
                                              ".wild.nsec3.example."])
        rtype = rng.choice(["A", "TXT", "MX"])
        mine, theirs = resolve(on, name, rtype), resolve(off, name, rtype)
        assert _shape(mine) == _shape(theirs), (name, rtype)
    assert wildcards(on) > 0 and wildcards(off) == 0
