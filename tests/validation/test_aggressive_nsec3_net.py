"""Aggressive use of validated NSEC3 records (RFC 8198 with RFC 5155 proofs, issue 17)
on the zones/ test network: after one validated denial in nsec3.example (NSEC3, no
opt-out), another name the cached NSEC3 records prove absent is answered NXDOMAIN with
AD with the zone's server not answering; NODATA likewise; in optout.example (every
NSEC3 opt-out) a name in an opt-out span is never denied from the cache.

Which names the cached records cover is worked out here, from the NSEC3 records the
first answer carried and hashes computed by the test."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass

from resolver.answer import Answer, build_response
from resolver.dnssec.nsec3 import nsec3_hash
from resolver.service import Resolver
from resolver.wire import message as wm
from resolver.wire import rdata as rd
from resolver.wire.name import Name
from resolver.wire.rdata import b32hex_decode
from resolver.wire.types import AD, Rcode, RRType, type_from_text

from .conftest import Served, run
from .zone_faults import quick, sent, zone_faults

SERVER = "127.0.0.23"          # nsec3.example. and optout.example.
SEC = "secure"


@dataclass(frozen=True)
class Span:
    owner: bytes
    next: bytes
    opt_out: bool
    salt: bytes
    iterations: int

    def covers(self, hashed: bytes) -> bool:
        if self.owner < self.next:
            return self.owner < hashed < self.next
        return hashed > self.owner or hashed < self.next


def resolve(resolver: Resolver, name: str, rtype: str = "A") -> Answer:
    return run(resolver.resolve(Name.from_text(name), type_from_text(rtype)))


def reply_of(name: str, rtype: str, answer: Answer) -> wm.Message:
    query = wm.make_query(Name.from_text(name), type_from_text(rtype), rd=True, do=True)
    return wm.parse(build_response(query, answer, max_size=None))


def spans(name: str, rtype: str, answer: Answer) -> list[Span]:
    """The NSEC3 records of an answer, as hash spans."""
    out = []
    for rr in reply_of(name, rtype, answer).authority:
        if rr.rtype == RRType.NSEC3:
            value = rd.decode(RRType.NSEC3, rr.rdata)
            assert isinstance(value, rd.NSEC3)
            out.append(Span(b32hex_decode(rr.name.labels[0].decode()), value.next,
                            value.opt_out, value.salt, value.iterations))
    return out


def h(name: str, span: Span) -> bytes:
    return nsec3_hash(Name.from_text(name), span.salt, span.iterations)


def covered_name(zone: str, span: Span, avoid: set[str]) -> str:
    """A name just below *zone* whose hash *span* covers (found by trying names)."""
    for index in range(20000):
        name = f"n{index}.{zone}"
        if name not in avoid and span.covers(h(name, span)):
            return name
    raise AssertionError("no name found in the span")


def server_down(served: Served, zone: str) -> AbstractContextManager[None]:
    return zone_faults(served, SERVER, zone, timeout=True)


def test_nxdomain_from_cached_nsec3_with_the_server_down(zones: Served) -> None:
    resolver = quick(zones)
    first = resolve(resolver, "aaa.nsec3.example.")
    assert (first.rcode, first.security.label) == (Rcode.NXDOMAIN, SEC), first.reason
    records = spans("aaa.nsec3.example.", "A", first)
    assert records and not any(s.opt_out for s in records)
    next_closer = [s for s in records if s.covers(h("aaa.nsec3.example.", s))]
    assert len(next_closer) == 1
    other = covered_name("nsec3.example.", next_closer[0], {"aaa.nsec3.example."})
    with server_down(zones, "nsec3.example."):
        before = sent(resolver)
        answer = resolve(resolver, other, "TXT")
        assert sent(resolver) == before, "asked upstream"
        assert (answer.rcode, answer.security.label) == (Rcode.NXDOMAIN, SEC), answer.reason
        assert resolver.counters.get("aggressive_nsec3", ("nxdomain",)) == 1
        reply = reply_of(other, "TXT", answer)
        assert reply.flags & AD
        assert {RRType.SOA, RRType.NSEC3, RRType.RRSIG} <= {rr.rtype for rr in reply.authority}
        # a name no cached NSEC3 covers goes upstream (and fails: the server is down)
        outside = next(f"m{i}.nsec3.example." for i in range(20000)
                       if not any(s.covers(h(f"m{i}.nsec3.example.", s)) for s in records))
        before = sent(resolver)
        far = resolve(resolver, outside)
        assert sent(resolver) > before
        assert far.rcode == Rcode.SERVFAIL
    assert resolver.counters.total("aggressive_nsec") == 0      # the NSEC metric: untouched


def test_nodata_from_cached_nsec3_with_the_server_down(zones: Served) -> None:
    resolver = quick(zones)
    first = resolve(resolver, "www.nsec3.example.", "TXT")
    assert (first.rcode, first.security.label) == (Rcode.NOERROR, SEC), first.reason
    assert not first.answer
    with server_down(zones, "nsec3.example."):
        before = sent(resolver)
        answer = resolve(resolver, "www.nsec3.example.", "MX")
        assert sent(resolver) == before, "asked upstream"
        assert (answer.rcode, answer.security.label) == (Rcode.NOERROR, SEC), answer.reason
        assert not answer.answer
        assert reply_of("www.nsec3.example.", "MX", answer).flags & AD
        assert resolver.counters.get("aggressive_nsec3", ("nodata",)) == 1
        before = sent(resolver)   # the bitmap lists A: no NODATA, asked upstream
        resolve(resolver, "www.nsec3.example.", "A")
        assert sent(resolver) > before


def test_opt_out_span_never_synthesised(zones: Served) -> None:
    """optout.example. signs every NSEC3 with opt-out. Secure NODATA answers put its
    records (the apex's among them) in the index; a new name whose next closer name and
    wildcard those records cover (what would do for a denial without opt-out) still
    goes upstream, and comes back insecure."""
    resolver = quick(zones)
    records: list[Span] = []
    for name, rtype in [("optout.example.", "A"), ("www.optout.example.", "TXT"),
                        ("ok.optout.example.", "TXT"), ("txt.optout.example.", "A"),
                        ("mx1.optout.example.", "TXT")]:
        answer = resolve(resolver, name, rtype)
        assert (answer.rcode, answer.security.label) == (Rcode.NOERROR, SEC), answer.reason
        records += spans(name, rtype, answer)
    assert records and all(s.opt_out for s in records)
    assert len(resolver.nsec_index.nsec3) >= len({s.owner for s in records})   # indexed
    span = records[0]
    assert any(s.owner == h("optout.example.", span) for s in records)   # the apex
    wildcard = h("*.optout.example.", span)
    if not any(s.covers(wildcard) for s in records):
        # cache the wildcard's cover too, from the server's own (insecure) NXDOMAIN
        resolve(resolver, "aaa.optout.example.")
    candidates = [s for s in records if s.owner != h("*.optout.example.", span)]
    name = covered_name("optout.example.", candidates[0], set())
    before = sent(resolver)
    answer = resolve(resolver, name)
    assert sent(resolver) > before, "denied from an opt-out span"
    assert (answer.rcode, answer.security.label) == (Rcode.NXDOMAIN, "insecure")
    assert resolver.counters.total("aggressive_nsec3") == 0


def test_wildcard_nodata_from_cached_nsec3(zones: Served) -> None:
    """*.wild.nsec3.example. has A and TXT: an MX query below it is a wildcard NODATA
    (the wildcard's NSEC3 matches, the next closer name is covered); another name the
    same cover holds gets it from the cache, while its A is an answer, left upstream."""
    resolver = quick(zones)
    first = resolve(resolver, "x.wild.nsec3.example.", "MX")
    assert (first.rcode, first.security.label) == (Rcode.NOERROR, SEC), first.reason
    assert not first.answer
    records = spans("x.wild.nsec3.example.", "MX", first)
    cover = [s for s in records if s.covers(h("x.wild.nsec3.example.", s))]
    assert len(cover) == 1
    other = covered_name("wild.nsec3.example.", cover[0], {"x.wild.nsec3.example."})
    with server_down(zones, "nsec3.example."):
        before = sent(resolver)
        answer = resolve(resolver, other, "MX")
        assert sent(resolver) == before, "asked upstream"
        assert (answer.rcode, answer.security.label) == (Rcode.NOERROR, SEC), answer.reason
        assert not answer.answer
        assert resolver.counters.get("aggressive_nsec3", ("nodata",)) == 1
        before = sent(resolver)
        resolve(resolver, other, "A")            # the wildcard has A: not denied
        assert sent(resolver) > before
