"""Issue 18: answers in the message cache share their heads (header and answer
section) and their tails (authority and additional sections) with equal answers,
and the caches' byte accounting follows what they really hold.

Every reply is checked against the unshared form worked out here from the response
as built: the query's ID and letter case, each TTL aged by the seconds since it was
stored, a client's EDNS option appended to the OPT record."""

from __future__ import annotations

import gc
import random
import secrets
import struct
import sys
import tracemalloc

import pytest

from resolver.cache.messages import MessageCache
from resolver.cache.rrsets import Rank, RRsetCache
from resolver.clock import FixedClock
from resolver.dnssec.status import Security
from resolver.wire import message as wm
from resolver.wire.edns import option as edns_option
from resolver.wire.edns import with_option
from resolver.wire.message import RR, Edns, Message, Question
from resolver.wire.name import Name
from resolver.wire.querykey import QueryKey, query_key
from resolver.wire.rrset import RRset
from resolver.wire.sections import answer_end
from resolver.wire.types import QR, RA, RD, Rcode, RRType

ZONE = Name.from_text("wild.example.")
WILDCARD_SIG = bytes(18) + ZONE.wire + bytes(range(64))   # one RRSIG for every expansion


def _nsec3() -> bytes:
    """NSEC3 RDATA: SHA-1, no flags, no iterations, no salt, a random next hashed
    owner, a bitmap of A."""
    return b"\x01\x00\x00\x00\x00\x14" + secrets.token_bytes(20) + b"\x00\x01\x40"


NSEC3 = [_nsec3() for _ in range(3)]       # a few proofs to pick from


def _random_case(name: str, rng: random.Random) -> str:
    return "".join(c.upper() if rng.random() < 0.5 else c for c in name)


def _response(owner: Name, *, shared: bool, rng: random.Random, edns: bool = True,
              nxdomain: bool = False) -> tuple[bytes, list[int], int]:
    """A response for ``owner A`` as the server builds it (compressed, with the TTL
    positions): a wildcard expansion with one of a few shared proofs, or one of its
    own (*shared* false), or a name error with an SOA; its TTL."""
    msg = Message(id=rng.randrange(1 << 16), flags=QR | RD | RA,
                  question=[Question(owner, RRType.A, 1)],
                  edns=Edns(flags=0x8000) if edns else None)
    if nxdomain:
        msg.set_rcode(Rcode.NXDOMAIN)
        msg.authority.append(RR(ZONE, RRType.SOA, 1, 300, ZONE.wire + ZONE.wire + bytes(20)))
    else:
        sig = WILDCARD_SIG if shared else bytes(18) + ZONE.wire + secrets.token_bytes(64)
        msg.answer += [RR(owner, RRType.A, 1, 3600, bytes((192, 0, 2, 31))),
                       RR(owner, RRType.RRSIG, 1, 3600, sig)]
    proof = rng.choice(NSEC3) if shared else _nsec3()
    hashed = Name.from_text("abcdefgh.wild.example.")
    msg.authority += [RR(hashed, RRType.NSEC3, 1, 300, proof),
                      RR(hashed, RRType.RRSIG, 1, 300, bytes(18) + ZONE.wire + proof)]
    offsets: list[int] = []
    wire = msg.to_wire(ttl_offsets=offsets)
    return wire, offsets, 300


def _query(owner: str, rng: random.Random, edns: bool = True) -> tuple[bytes, QueryKey]:
    data = wm.make_query(Name.from_text(_random_case(owner, rng)), RRType.A, rd=True,
                         do=edns).to_wire()
    if not edns:
        data = wm.make_query(Name.from_text(_random_case(owner, rng)), RRType.A,
                             rd=True).to_wire()
    qk = query_key(data)
    assert qk is not None
    return data, qk


def _expected(wire: bytes, offsets: list[int], data: bytes, qk: QueryKey, elapsed: int,
              option: bytes = b"") -> bytes:
    """The reply in its unshared form: the stored response with the query's ID and
    name, every TTL aged by *elapsed* (not below 0), *option* in its OPT record."""
    out = bytearray(wire)
    out[:2] = data[:2]
    out[12:qk.qend - 4] = data[12:qk.qend - 4]
    for off in offsets:
        ttl = struct.unpack_from("!I", wire, off)[0]
        struct.pack_into("!I", out, off, max(0, ttl - elapsed))
    return with_option(bytes(out), option) if option else bytes(out)


@pytest.mark.parametrize("shared", [True, False])
def test_replies_are_byte_identical_to_the_unshared_form(shared: bool) -> None:
    rng = random.Random(18)
    clock = FixedClock(1000.0)
    cache = MessageCache(1 << 24, clock)
    stored = []
    for i in range(300):
        owner = f"c{'x' * rng.choice((3, 8))}-{i:06d}.wild.example."
        edns = i % 7 != 0
        wire, offsets, ttl = _response(Name.from_text(owner), shared=shared, rng=rng,
                                       edns=edns, nxdomain=i % 11 == 0)
        data, qk = _query(owner, rng, edns)
        cache.put(qk.key, wire, offsets, ttl, ("A", "NOERROR", "secure"))
        stored.append((owner, edns, wire, offsets, clock()))
        clock.advance(rng.choice([0.0, 0.0, 0.02, 0.07]))   # over some seconds
    assert len(cache) == len(stored)
    cookie = edns_option(10, secrets.token_bytes(24))
    for step in (0.0, 0.4, 1.0, 5.5, 120.0, 299.0):
        clock.advance(step)
        for owner, edns, wire, offsets, when in stored:
            data, qk = _query(owner, rng, edns)
            elapsed = int(clock() - when)
            if elapsed >= 300:
                continue
            got = cache.answer(data, qk, 4096)
            assert got == _expected(wire, offsets, data, qk, elapsed), (owner, elapsed)
            with_cookie = cache.answer(data, qk, 4096, option=cookie)
            if edns:
                assert with_cookie == _expected(wire, offsets, data, qk, elapsed, cookie)
            else:
                assert with_cookie is None, "no OPT record to carry the option"
    held = [found[1] for key in cache.store if (found := cache.store.peek(key))]
    heads = {id(item.template) for item in held}
    tails = {id(item.tail) for item in held}
    if shared:      # a few shapes (name lengths, EDNS or not, proofs) in a few seconds
        assert len(heads) < len(held) // 4 and len(tails) < len(held) // 2, \
            (len(heads), len(tails))
    else:
        assert len(heads) > len(held) * 0.8 and len(tails) > len(held) * 0.8


def test_a_reply_too_big_for_the_limit_is_a_miss() -> None:
    rng = random.Random(1)
    clock = FixedClock(1000.0)
    cache = MessageCache(1 << 20, clock)
    wire, offsets, ttl = _response(Name.from_text("a.wild.example."), shared=True, rng=rng)
    data, qk = _query("a.wild.example.", rng)
    cache.put(qk.key, wire, offsets, ttl)
    assert cache.answer(data, qk, len(wire) - 1) is None
    assert cache.answer(data, qk, len(wire)) is not None
    assert cache.answer(data, qk, len(wire), option=b"\x00\x0a\x00\x00") is None


def test_section_walk_finds_the_end_of_the_answer() -> None:
    rng = random.Random(2)
    wire, _, _ = _response(Name.from_text("a.wild.example."), shared=True, rng=rng)
    parsed = wm.parse(wire)
    end = answer_end(wire)
    assert end is not None
    rebuilt = Message(parsed.id, parsed.flags, parsed.question, parsed.answer).to_wire()
    assert end == len(rebuilt) and wire[:12][4:8] == rebuilt[4:8]
    assert answer_end(wire[:end - 1]) is None, "a record cut short"
    assert answer_end(b"\x00" * 11) is None


def test_flushes_see_the_whole_stored_response() -> None:
    rng = random.Random(3)
    clock = FixedClock(1000.0)
    cache = MessageCache(1 << 20, clock)
    for i, nx in enumerate((False, False, True)):
        owner = f"n{i}.wild.example."
        wire, offsets, ttl = _response(Name.from_text(owner), shared=True, rng=rng,
                                       nxdomain=nx)
        cache.put(_query(owner, rng)[1].key, wire, offsets, ttl)
    assert cache.drop_negative() == 1
    assert cache.drop_name(Name.from_text("n0.wild.example.")) == 1
    assert cache.drop_zone(ZONE) == 1 and len(cache) == 0


def _traced(fill: object) -> float:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    assert callable(fill)
    held = fill()
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del held
    return grown


@pytest.mark.parametrize("shared", [True, False])
def test_accounting_follows_what_the_caches_hold(shared: bool) -> None:
    """The caches' own byte count (``resolver_cache_bytes``) is the real memory: within
    15 % of tracemalloc's figure, for answers that share their data (the expansions
    of a wildcard; charged a little over, for what the allocator keeps around the
    objects) and for answers that share nothing (a little under: the memos that find
    equal parts, a fixed few megabytes, still weigh per entry at this count)."""
    rng = random.Random(4)
    clock = FixedClock(1000.0)
    count = 6000        # past the memos that find equal parts (4096 entries at most)
    made = []
    for i in range(count):
        owner = Name.from_text(f"c{secrets.token_hex(4)}-{i:06d}.wild.example.")
        wire, offsets, ttl = _response(owner, shared=shared, rng=rng)
        parsed = wm.parse(wire)
        rrset = RRset(parsed.answer[0].name, RRType.A, 1, 3600,
                      rdatas=[parsed.answer[0].rdata], sigs=[parsed.answer[1].rdata])
        made.append((rrset, wire, offsets, ttl, query_key(wm.make_query(
            owner, RRType.A, rd=True, do=True).to_wire())))
    rrsets = RRsetCache(1 << 30, clock)
    messages = MessageCache(1 << 30, clock)

    def fill() -> tuple[RRsetCache, MessageCache]:
        for rrset, wire, offsets, ttl, qk in made:
            assert qk is not None
            rrsets.put(rrset, Rank.AUTH_ANSWER, ZONE, Security.SECURE)
            messages.put(qk.key, wire, offsets, ttl, ("A", "NOERROR", "secure"))
        return rrsets, messages

    # the data handed over (parsed RRsets, built responses) exists before the caches
    # take it; what is measured is what they add, and the data they keep copies of
    grown = _traced(fill)
    inputs = {id(obj): sys.getsizeof(obj) for rrset, _, _, _, qk in made if qk is not None
              for obj in (rrset.name.wire, *rrset.rdatas, *rrset.sigs, qk.key)}
    kept = {id(obj) for entry in rrsets.store.values()
            for obj in (entry.rrset.name.wire, *entry.rrset.rdatas, *entry.rrset.sigs)}
    kept |= {id(key) for key in messages.store}
    real = (grown + sum(size for key, size in inputs.items() if key in kept)) / count
    charged = (rrsets.store.bytes + messages.store.bytes) / count
    assert real * 0.9 <= charged <= real * 1.15 + 40, (real, charged)


def test_an_aged_copy_is_charged_when_made() -> None:
    rng = random.Random(5)
    clock = FixedClock(1000.0)
    cache = MessageCache(1 << 20, clock)
    wire, offsets, ttl = _response(Name.from_text("a.wild.example."), shared=True, rng=rng)
    data, qk = _query("a.wild.example.", rng)
    cache.put(qk.key, wire, offsets, ttl)
    charged = cache.store.bytes
    assert cache.answer(data, qk, 4096) is not None and cache.store.bytes == charged
    clock.advance(3)
    assert cache.answer(data, qk, 4096) is not None and cache.store.bytes > charged
    grown = cache.store.bytes
    clock.advance(3)
    assert cache.answer(data, qk, 4096) is not None and cache.store.bytes == grown
    cache.store.delete(qk.key)
    assert cache.store.bytes == 0
