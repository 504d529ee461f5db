"""Issue 4, the caches: RFC 2181 trust ranks (lower-ranked data never replaces
higher), TTL caps, negative entries (RFC 2308: the SOA minimum), LRU eviction within
the byte budget, and the iterator's use of them (glue never answers, DNAME cached and
synthesized on lookup, no upstream query for cached data).
"""

from __future__ import annotations

from pathlib import Path

from resolver.cache.messages import MessageCache
from resolver.cache.rrsets import (
    NXDOMAIN_TYPE,
    NegativeCache,
    NegEntry,
    ProofPool,
    Rank,
    RRsetCache,
)
from resolver.clock import FixedClock
from resolver.dnssec.status import Security
from resolver.wire import message as wm
from resolver.wire.name import Name
from resolver.wire.querykey import query_key
from resolver.wire.rrset import RRset
from resolver.wire.types import Rcode, RRType
from tests.networks import LAB_TLD, Net, in_process_lab, run


def n(text: str) -> Name:
    return Name.from_text(text)


def a_set(name: str, *last: int, ttl: int = 300) -> RRset:
    return RRset(n(name), RRType.A, 1, ttl, [bytes((192, 0, 2, x)) for x in last])


def test_lower_rank_never_replaces_higher() -> None:
    clock = FixedClock()
    cache = RRsetCache(1 << 20, clock)
    assert cache.put(a_set("www.lab.", 1), Rank.AUTH_ANSWER)
    assert not cache.put(a_set("www.lab.", 6), Rank.ADDITIONAL)
    assert not cache.put(a_set("www.lab.", 6), Rank.ANSWER)
    entry = cache.get(n("www.lab."), RRType.A)
    assert entry is not None and entry.rrset.rdatas == [bytes((192, 0, 2, 1))]
    assert cache.put(a_set("www.lab.", 2), Rank.AUTH_ANSWER)      # same rank: refreshed
    clock.advance(301)                                             # expired: anything goes
    assert cache.put(a_set("www.lab.", 3), Rank.ADDITIONAL)


def test_secure_data_kept_against_unvalidated_of_equal_rank() -> None:
    cache = RRsetCache(1 << 20, FixedClock())
    cache.put(a_set("www.lab.", 1), Rank.AUTH_ANSWER, security=Security.SECURE)
    assert not cache.put(a_set("www.lab.", 6), Rank.AUTH_ANSWER)
    assert cache.put(a_set("www.lab.", 7), Rank.AUTH_ANSWER, security=Security.SECURE)


def test_ttl_caps() -> None:
    clock = FixedClock()
    cache = RRsetCache(1 << 20, clock, max_ttl=3600, min_ttl=60)
    cache.put(a_set("long.lab.", 1, ttl=10 ** 6), Rank.AUTH_ANSWER)
    cache.put(a_set("short.lab.", 1, ttl=5), Rank.AUTH_ANSWER)
    long_entry = cache.get(n("long.lab."), RRType.A)
    short_entry = cache.get(n("short.lab."), RRType.A)
    assert long_entry is not None and long_entry.ttl(clock()) == 3600
    assert short_entry is not None and short_entry.ttl(clock()) == 60
    clock.advance(61)
    assert cache.get(n("short.lab."), RRType.A) is None


def test_lru_eviction_within_budget() -> None:
    cache = RRsetCache(20_000, FixedClock())
    for i in range(1000):
        cache.put(a_set(f"h{i}.lab.", 1), Rank.AUTH_ANSWER)
    assert cache.store.bytes <= 20_000
    assert 0 < len(cache) < 1000
    assert cache.store.evictions > 0
    assert cache.get(n("h999.lab."), RRType.A) is not None      # the newest survive
    assert cache.get(n("h0.lab."), RRType.A) is None            # the oldest went first


def _nsec3(ttl: int = 300) -> RRset:
    owner = n("0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.lab.")
    return RRset(owner, RRType.NSEC3, 1, ttl, [bytes([1, 0, 0, 0, 0, 20]) + bytes(20)],
                 [bytes(18) + n("lab.").wire + bytes(64)])


def test_denial_records_are_shared_between_entries() -> None:
    """Every wildcard or negative entry that keeps the same NSEC3 RRset holds one shared
    copy; the first is charged its size, the others a reference; a verdict written
    later keeps the charge."""
    clock = FixedClock()
    pool = ProofPool()
    cache = RRsetCache(1 << 20, clock, pool=pool)
    negative = NegativeCache(1 << 20, clock, pool=pool)
    first, second, third = _nsec3(), _nsec3(), _nsec3()
    assert first is not second
    cache.put(a_set("a.w.lab.", 1), Rank.ANSWER, proofs=(first,))
    one = cache.store.bytes
    cache.put(a_set("b.w.lab.", 1), Rank.ANSWER, proofs=(second,))
    two = cache.store.bytes
    assert two - one < one / 2           # the second entry pays a reference, not a copy
    a = cache.get(n("a.w.lab."), RRType.A)
    b = cache.get(n("b.w.lab."), RRType.A)
    assert a is not None and b is not None and a.proofs[0] is b.proofs[0]
    negative.put(NegEntry(n("x.lab."), NXDOMAIN_TYPE, Rcode.NXDOMAIN, n("lab."), None,
                          [third]), 300)
    neg = negative.get(n("x.lab."), RRType.A)
    assert neg is not None and neg.proofs[0] is a.proofs[0]
    assert len(pool) == 1
    assert cache.set_security(a_set("a.w.lab.", 1), Security.SECURE, None, ttl=60,
                              proofs=[first])
    assert cache.store.bytes == two
    other_ttl = _nsec3(ttl=100)          # a different TTL is a different RRset
    cache.put(a_set("c.w.lab.", 1), Rank.ANSWER, proofs=(other_ttl,))
    c = cache.get(n("c.w.lab."), RRType.A)
    assert c is not None and c.proofs[0] is other_ttl and len(pool) == 2
    del a, b, c, neg, first, second, third, other_ttl
    cache.store.clear()
    negative.store.clear()
    assert len(pool) == 0                # held weakly: gone with the last entry


def test_negative_cache_ttl_and_nxdomain_covers_all_types() -> None:
    clock = FixedClock()
    cache = NegativeCache(1 << 20, clock, max_ttl=3600)
    soa = RRset(n("lab."), RRType.SOA, 1, 3600, [b"\x00" * 22])
    cache.put(NegEntry(n("nope.lab."), NXDOMAIN_TYPE, Rcode.NXDOMAIN, n("lab."), soa), 300)
    for qtype in (RRType.A, RRType.MX, RRType.TXT):
        entry = cache.get(n("nope.lab."), qtype)
        assert entry is not None and entry.rcode == Rcode.NXDOMAIN
    cache.put(NegEntry(n("www.lab."), RRType.TXT, Rcode.NOERROR, n("lab."), soa), 10 ** 6)
    nodata = cache.get(n("www.lab."), RRType.TXT)
    assert nodata is not None and nodata.ttl(clock()) == 3600      # capped
    assert cache.get(n("www.lab."), RRType.A) is None
    clock.advance(301)
    assert cache.get(n("nope.lab."), RRType.A) is None


def test_message_cache_ages_ttls_and_patches_id() -> None:
    clock = FixedClock()
    cache = MessageCache(1 << 20, clock)
    q = wm.make_query(n("www.lab."), RRType.A, rd=True, msg_id=1)
    resp = wm.make_response(q)
    resp.answer = a_set("www.lab.", 1, ttl=300).records()
    offsets: list[int] = []
    wire = resp.to_wire(None, offsets)
    qk = query_key(q.to_wire())
    assert qk is not None
    cache.put(qk.key, wire, offsets, 300)
    clock.advance(40)
    q2 = wm.make_query(n("WWW.lab."), RRType.A, rd=True, msg_id=0xBEEF)
    data = q2.to_wire()
    qk2 = query_key(data)
    assert qk2 is not None and qk2.key == qk.key
    hit = cache.answer(data, qk2, 1232)
    assert hit is not None
    reply = wm.parse(hit)
    assert reply.id == 0xBEEF and reply.answer[0].ttl == 260
    assert reply.question[0].name.wire == n("WWW.lab.").wire
    assert cache.answer(data, qk2, 20) is None          # too big for the client: a miss
    clock.advance(300)
    assert cache.answer(data, qk2, 1232) is None        # expired


def test_cached_answers_cost_no_query(lab: Net) -> None:
    resolver = lab.resolver()
    run(resolver.resolve(n("www.lab."), RRType.A))
    run(resolver.resolve(n("nope.lab."), RRType.A))
    run(resolver.resolve(n("www.lab."), RRType.TXT))
    lab.reset_queries()
    assert run(resolver.resolve(n("www.lab."), RRType.A)).rcode == Rcode.NOERROR
    assert run(resolver.resolve(n("nope.lab."), RRType.AAAA)).rcode == Rcode.NXDOMAIN
    assert run(resolver.resolve(n("www.lab."), RRType.TXT)).rcode == Rcode.NOERROR
    assert lab.queries() == []
    # a new name in a known zone goes straight to that zone's server
    run(resolver.resolve(n("ok1.lab."), RRType.A))
    assert {q[0] for q in lab.queries()} == {n("ok1.lab.")}
    assert len(lab.queries(LAB_TLD)) == len(lab.queries()) == 1


def test_dname_cached_and_synthesized(tmp_path: Path) -> None:
    """``d.lab. DNAME other.``: the DNAME is cached, never the CNAME synthesized from
    it, so another name below the DNAME is answered from the cache with the DNAME and
    a fresh CNAME (and a repeated question with the DNAME too, RFC 6672 s3.4)."""
    world = in_process_lab()
    resolver = world.resolver(tmp_path)
    first = run(resolver.resolve(n("www.d.lab."), RRType.A))
    assert first.rcode == Rcode.NOERROR
    assert [rs.rtype for rs in first.answer] == [RRType.DNAME, RRType.CNAME, RRType.A]
    assert resolver.rrsets.get(n("www.d.lab."), RRType.CNAME) is None
    assert resolver.rrsets.get(n("d.lab."), RRType.DNAME) is not None
    sent = len(world.transport.sent)
    second = run(resolver.resolve(n("www.d.lab."), RRType.A))
    assert [rs.rtype for rs in second.answer] == [RRType.DNAME, RRType.CNAME, RRType.A]
    assert len(world.transport.sent) == sent
    other = run(resolver.resolve(n("ns.d.lab."), RRType.A))
    assert [rs.rtype for rs in other.answer] == [RRType.DNAME, RRType.CNAME, RRType.A]
    assert [Name(d) for d in other.answer[1].rdatas] == [n("ns.other.")]
    assert all(q.question[0].name.key != n("ns.d.lab.").key
               for _, q, _ in world.transport.sent[sent:])


def _hashed_owner(name: str, zone: str, iterations: int = 1) -> Name:
    from resolver.dnssec.nsec3 import nsec3_hash
    from resolver.wire.rdata import b32hex_encode
    label = b32hex_encode(nsec3_hash(n(name), b"", iterations)).lower()
    return n(f"{label}.{zone}")


def _nsec3_at(owner: Name, types: list[int], iterations: int = 1) -> RRset:
    from resolver.wire.rdata import bitmap_encode
    rdata = bytes([1, 1]) + iterations.to_bytes(2, "big") + b"\x00" + bytes([20]) + bytes(20) \
        + bitmap_encode(types)
    return RRset(owner, RRType.NSEC3, 1, 300, [rdata])


def test_nsec3_delegation_in_a_cname_response_becomes_a_ds_denial(tmp_path: Path) -> None:
    """A CNAME response may carry the NSEC3 of an insecure delegation on the way to its
    target (Unbound's val_cnametooptin): kept as the DS denial the validator can use,
    as for NSEC. Not for a delegation with DS, nor for iterations above RFC 9276's
    limit, nor for names off the path to the target."""
    resolver = in_process_lab().resolver(tmp_path)
    iterator = resolver.iterator
    zone, target = n("example.com."), n("www.sub.example.com.")
    plain = _nsec3_at(_hashed_owner("sub.example.com.", "example.com."), [RRType.NS])
    iterator._delegation_denials([plain], zone, target)
    denial = resolver.negative.get(n("sub.example.com."), RRType.DS)
    assert denial is not None and denial.proofs == [plain] and denial.soa is None

    signed = _nsec3_at(_hashed_owner("other.example.com.", "example.com."),
                       [RRType.NS, RRType.DS])
    iterator._delegation_denials([signed], zone, n("www.other.example.com."))
    assert resolver.negative.get(n("other.example.com."), RRType.DS) is None

    costly = _nsec3_at(_hashed_owner("far.example.com.", "example.com.", 51), [RRType.NS],
                       iterations=51)
    iterator._delegation_denials([costly], zone, n("www.far.example.com."))
    assert resolver.negative.get(n("far.example.com."), RRType.DS) is None

    iterator._delegation_denials([plain], zone, n("www.elsewhere.example.com."))
    assert resolver.negative.get(n("elsewhere.example.com."), RRType.DS) is None
