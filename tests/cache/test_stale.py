"""The store of answers kept past their TTL (serve-stale, prefetch timer)."""

from __future__ import annotations

from resolver.cache.stale import StaleStore, signatures_end
from resolver.clock import FixedClock
from resolver.wire.name import Name
from resolver.wire.rrset import RRset


def test_alive_then_stale_then_gone() -> None:
    clock = FixedClock(1000.0)
    store: StaleStore[str, str] = StaleStore(1 << 20, clock, stale_max=50)
    store.put("k", "v", 100, 10)
    assert store.has("k") and store.get("k") is not None
    assert not store.near_expiry("k", 0.1)
    clock.advance(91)
    assert store.near_expiry("k", 0.1)
    store.put("k", "again", 9, 10)            # the same answer from the cache
    kept = store.get("k")
    assert kept is not None and (kept.stored, kept.value) == (1000.0, "v")
    clock.advance(9)                          # expired: stale, no longer near expiry
    assert not store.near_expiry("k", 0.1) and store.has("k")
    clock.advance(49)
    assert store.get("k") is not None
    clock.advance(1)                          # stale-max after expiry: gone
    assert not store.has("k") and store.get("k") is None


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
