"""Issue 18: the bytes of one cached answer (an RRset-cache entry and a wire answer),
and the fast path's bookkeeping: hits counted per label set, max-ttl on the wire
answers, shapes and sizes shared between entries."""

from __future__ import annotations

import gc
import secrets
import struct
import tracemalloc

from resolver.cache.messages import MessageCache
from resolver.cache.rrsets import Rank, RRsetCache
from resolver.cache.store import LruStore
from resolver.clock import FixedClock
from resolver.dnssec.status import Security
from resolver.wire import message as wm
from resolver.wire.name import Name
from resolver.wire.querykey import query_key
from resolver.wire.rrset import RRset

ZONE = Name.from_text("wild.example.")
# bytes per answer, everything included: 1,819 before issue 18's cuts, 1,533 after
# (a 400-octet response of random bytes); a response of this shape, whose records and
# RRSIG are its own (nothing to share but the proof): about 1,470 with shared tails
LIMIT = 1600
SIGNER = ZONE.wire


# the proof of every expansion of the wildcard: two records of the authority section
# (an NSEC3-sized record and its RRSIG), the same for every answer, then an OPT record
PROOF = secrets.token_bytes(150)


def _rr(rtype: int, ttl: int, rdata: bytes, owner: bytes = b"\xc0\x0c") -> bytes:
    return owner + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata


def _answer(i: int) -> tuple[RRset, bytes, list[int], bytes]:
    """A wildcard-like answer: one A record with an ED25519-sized RRSIG, and its
    response in wire form (the A record and its RRSIG, two proof records shared by
    every answer, an OPT record; four TTL fields); and the key of its query."""
    owner = Name.from_text(f"c{secrets.token_hex(4)}-{i:06d}.wild.example.")
    sig = bytes(18) + SIGNER + secrets.token_bytes(64)
    rrset = RRset(Name(bytes(owner.wire)), 1, ttl=3600, rdatas=[secrets.token_bytes(4)],
                  sigs=[sig])
    query = wm.make_query(owner, 1, rd=True, do=True).to_wire()
    qk = query_key(query)
    assert qk is not None
    header = query[:2] + b"\x81\xa0" + struct.pack("!HHHH", 1, 2, 2, 1)
    records = [_rr(1, 3600, rrset.rdatas[0]), _rr(46, 3600, sig),
               _rr(50, 300, PROOF[:60], b"\x04hash\xc0\x0c"), _rr(46, 300, PROOF[60:],
                                                                 b"\x04hash\xc0\x0c")]
    wire = header + query[12:qk.qend]
    offsets = []
    for record in records:
        owner_end = 2 if record[0] == 0xC0 else 7
        offsets.append(len(wire) + owner_end + 4)
        wire += record
    wire += b"\x00" + struct.pack("!HHIH", 41, 1232, 0x8000, 0)
    return rrset, wire, offsets, qk.key


def test_bytes_per_cached_answer_stay_bounded() -> None:
    """A regression guard on what one answer holds in the two caches, measured with
    tracemalloc, the data itself included (RDATA, RRSIG, owner, a 400-octet wire
    answer and its key) and the copies the caches drop freed."""
    clock = FixedClock(1000.0)
    rrsets = RRsetCache(1 << 30, clock)
    messages = MessageCache(1 << 30, clock)
    count = 3000
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(count):
        rrset, wire, offsets, key = _answer(i)
        rrsets.put(rrset, Rank.AUTH_ANSWER, ZONE, Security.SECURE)
        messages.put(key, wire, offsets, 3600, ("A", "NOERROR", "secure"))
    del rrset, wire, offsets, key
    gc.collect()
    per_answer = (tracemalloc.get_traced_memory()[0] - before) / count
    tracemalloc.stop()
    assert len(rrsets) == len(messages) == count
    assert per_answer < LIMIT, per_answer


def test_hits_are_counted_per_transport_and_label_set() -> None:
    clock = FixedClock(1000.0)
    messages = MessageCache(1 << 20, clock)
    data = wm.make_query(Name.from_text("a.example."), 1, rd=True).to_wire()
    qk = query_key(data)
    assert qk is not None
    reply = bytearray(data)
    reply[2] |= 0x80
    messages.put(qk.key, bytes(reply), [], 60, ("A", "NOERROR", "insecure"))
    for transport in ("udp", "udp", "tcp"):
        assert messages.answer(data, qk, 512, transport) is not None
    assert messages.served == {("udp", "A", "NOERROR", "insecure"): 2,
                               ("tcp", "A", "NOERROR", "insecure"): 1}
    messages.clear()
    assert messages.answer(data, qk, 512) is None
    assert messages.served[("udp", "A", "NOERROR", "insecure")] == 2, "counters go on"
    messages.counting = False
    messages.put(qk.key, bytes(reply), [], 60, ("A", "NOERROR", "insecure"))
    assert messages.answer(data, qk, 512) is not None
    assert messages.served[("udp", "A", "NOERROR", "insecure")] == 2


def test_wire_answers_live_no_longer_than_max_ttl() -> None:
    clock = FixedClock(1000.0)
    messages = MessageCache(1 << 20, clock)
    messages.max_ttl = 60
    data = wm.make_query(Name.from_text("a.example."), 1, rd=True).to_wire()
    qk = query_key(data)
    assert qk is not None
    messages.put(qk.key, data, [], 3600)     # the servers' TTL, fresh from upstream
    clock.advance(59)
    assert messages.answer(data, qk, 512) is not None
    clock.advance(1)
    assert messages.answer(data, qk, 512) is None


def test_shapes_sizes_and_ttls_are_shared() -> None:
    clock = FixedClock(1000.0)
    messages = MessageCache(1 << 20, clock)
    held = []
    for name in ("a.example.", "longer-name.example."):     # the same shape
        data = wm.make_query(Name.from_text(name), 1, rd=True).to_wire()
        qk = query_key(data)
        assert qk is not None
        wire = data + bytes(300)
        end = len(data)
        messages.put(qk.key, wire, [end + 40, end + 80], 60)
        found = messages.store.peek(qk.key)
        assert found is not None
        held.append(found[1])
        assert found[1].message(qk.key)[2:] == wire[2:], "the whole response but its ID"
        assert len(found[1].template) + len(found[1].tail.template) == \
            len(wire) - (len(qk.key) - 5), "kept once"
        assert messages.answer(data, qk, 4096) == wire
    assert held[0].offsets is held[1].offsets, "one copy of the TTL positions"
    data = wm.make_query(Name.from_text("other.example."), 1, rd=True).to_wire()
    qk = query_key(data)
    assert qk is not None
    messages.put(qk.key, data[:12] + b"\x01x" + data[13:], [], 60)
    assert messages.store.peek(qk.key) is None, "a response to another question"
    rrsets = RRsetCache(1 << 20, clock)
    for name in ("x.example.", "y.example."):
        rrsets.put(RRset(Name.from_text(name), 1, ttl=3600, rdatas=[bytes(4)]),
                   Rank.AUTH_ANSWER)
    x = rrsets.get(Name.from_text("x.example."), 1)
    y = rrsets.get(Name.from_text("y.example."), 1)
    assert x is not None and y is not None and x.rrset.ttl is y.rrset.ttl
    store: LruStore[str, int] = LruStore(1 << 20, clock)
    store.put("a", 1, 2000.0, 1000 + len("a"))
    store.put("b", 2, 2000.0, 1000 + len("b"))
    assert store.bytes == 2002
