"""Serve-stale in place: expired entries stay in the RRset and negative caches (the
stores' grace period) and :func:`resolver.cache.stale.kept` reads answers back from
them; no second copy of any answer is kept."""

from __future__ import annotations

from typing import Any

import pytest

from resolver.cache.rrsets import NegativeCache, NegEntry, Rank, RRsetCache
from resolver.cache.slotstore import SlotStore
from resolver.cache.stale import kept, near_expiry, signatures_end
from resolver.cache.store import LruStore
from resolver.clock import FixedClock
from resolver.dnssec.status import Security
from resolver.wire.name import Name
from resolver.wire.rrset import RRset
from resolver.wire.types import Rcode, RRType

ZONE = Name.from_text("example.")


def n(text: str) -> Name:
    return Name.from_text(text)


class _Value:
    """A value for a SlotStore (its expiry and charge in two slots)."""

    __slots__ = ("name", "until", "cost")

    def __init__(self, name: str) -> None:
        self.name = name
        self.until = 0.0
        self.cost = 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Value) and other.name == self.name

    __hash__ = None  # type: ignore[assignment]


STORES = [pytest.param(LruStore, id="LruStore"), pytest.param(SlotStore, id="SlotStore")]


@pytest.mark.parametrize("kind", STORES)
def test_grace_keeps_expired_entries_for_peek_only(kind: type[Any]) -> None:
    clock = FixedClock(1000.0)
    store = kind(1 << 20, clock)
    store.grace = 50
    value = _Value("v")
    store.put("k", value, 1100, 10)
    assert store.get("k") == value and store.bytes == 10
    clock.advance(100)                        # expired: a miss, but kept in place
    assert store.get("k") is None and store.peek("k") == (1100, value)
    assert len(store) == 1 and store.sweep() == 0
    clock.advance(50)                         # past the grace period: gone
    assert store.get("k") is None and store.peek("k") is None and store.bytes == 0
    plain = kind(1 << 20, clock)
    plain.put("k", _Value("v"), clock() + 1, 10)
    clock.advance(1)
    assert plain.get("k") is None and plain.peek("k") is None, "no grace: dropped"


@pytest.mark.parametrize("kind", STORES)
def test_grace_entries_still_yield_to_lru_pressure(kind: type[Any]) -> None:
    clock = FixedClock(1000.0)
    store = kind(100, clock)
    store.grace = 10 ** 6
    store.put(1, _Value("1"), 1001, 60)
    clock.advance(5)
    assert store.get(1) is None               # stale, and not made recent by the miss
    store.put(2, _Value("2"), 2000, 60)
    assert store.peek(1) is None and store.evictions == 1 and store.bytes == 60
    store.set_expiry(2, 1000)
    assert store.get(2) is None and store.drop_where(lambda _, __: True) == 0
    assert len(store) == 0 and store.bytes == 0


def caches(clock: FixedClock) -> tuple[RRsetCache, NegativeCache]:
    rrsets = RRsetCache(1 << 20, clock, max_ttl=100)
    negative = NegativeCache(1 << 20, clock, max_ttl=100)
    rrsets.store.grace = negative.store.grace = 600
    return rrsets, negative


def test_kept_follows_a_cname_chain_to_a_denial_and_ages_out() -> None:
    clock = FixedClock(1000.0)
    rrsets, negative = caches(clock)
    cname = RRset(n("www.example."), RRType.CNAME, ttl=300, rdatas=[n("host.example.").wire])
    rrsets.put(cname, Rank.AUTH_ANSWER, ZONE, Security.SECURE)
    soa = RRset(ZONE, RRType.SOA, ttl=50, rdatas=[bytes(22)])
    negative.put(NegEntry(n("host.example."), -1, Rcode.NXDOMAIN, ZONE, soa,
                          security=Security.INSECURE), 50)
    found = kept(rrsets, negative, n("www.example."), RRType.A, clock(), 0)
    assert found is not None and found.rcode == Rcode.NXDOMAIN
    assert [r.rtype for r in found.answer] == [RRType.CNAME]
    assert found.authority[0] is negative.store.peek((n("host.example.").key, -1))[1].soa  # type: ignore[index]
    assert found.security == Security.INSECURE, "the weakest part"
    assert found.expires == 1050 and found.life == 50
    assert not near_expiry(found, clock(), 0.1)
    assert near_expiry(found, 1046, 0.1)
    clock.advance(60)                         # the denial expired
    assert negative.get(n("host.example."), RRType.A) is None, "a miss for the iterator"
    assert kept(rrsets, negative, n("www.example."), RRType.A, clock(), 0) is None
    stale = kept(rrsets, negative, n("www.example."), RRType.A, clock(), 600)
    assert stale is not None and stale.rcode == Rcode.NXDOMAIN
    clock.advance(600)                        # stale-max after expiry
    assert kept(rrsets, negative, n("www.example."), RRType.A, clock(), 600) is None


def test_kept_needs_every_part_and_answer_rank() -> None:
    clock = FixedClock(1000.0)
    rrsets, negative = caches(clock)
    glue = RRset(n("ns.example."), RRType.A, ttl=60, rdatas=[bytes(4)])
    rrsets.put(glue, Rank.ADDITIONAL, ZONE)
    assert kept(rrsets, negative, n("ns.example."), RRType.A, clock(), 600) is None
    loop = RRset(n("a.example."), RRType.CNAME, ttl=60, rdatas=[n("a.example.").wire])
    rrsets.put(loop, Rank.AUTH_ANSWER, ZONE)
    assert kept(rrsets, negative, n("a.example."), RRType.A, clock(), 600) is None
    answer = RRset(n("b.example."), RRType.A, ttl=60, rdatas=[bytes(4)])
    rrsets.put(answer, Rank.AUTH_ANSWER, ZONE)
    found = kept(rrsets, negative, n("b.example."), RRType.A, clock(), 600)
    assert found is not None and found.security is None, "not judged yet"
    rrsets.set_security(answer, Security.BOGUS, None)
    found = kept(rrsets, negative, n("b.example."), RRType.A, clock(), 600)
    assert found is not None and found.security == Security.BOGUS


def test_signatures_end_reads_serial_time() -> None:
    now = 2_000_000_000.0

    def sig(expiration: int) -> bytes:
        return bytes(8) + (expiration & 0xFFFFFFFF).to_bytes(4, "big") + bytes(8)

    rrset = RRset(Name.from_text("a.example."), 1, ttl=60, rdatas=[bytes(4)],
                  sigs=[sig(int(now) + 500), sig(int(now) + 100)])
    assert signatures_end([rrset], now) == now + 100
    old = RRset(Name.from_text("b.example."), 1, ttl=60, rdatas=[bytes(4)],
                sigs=[sig(int(now) - 10)])
    assert signatures_end([rrset, old], now) == now - 10
    assert signatures_end([RRset(Name.from_text("c.example."), 1, ttl=60,
                                 rdatas=[bytes(4)])], now) is None
