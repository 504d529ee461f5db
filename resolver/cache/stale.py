"""Answers kept past their TTL: serve-stale (RFC 8767) and the prefetch timer.

Each answer the service gives (never a bogus one) is kept here with when it was
stored, when its data expires and, for a secure answer, when its first RRSIG does.
The entry stays readable until ``stale_max`` seconds after its data expired: when
every server of the zone fails, :meth:`StaleStore.get` hands the service the old
answer to send with TTL 30 and EDE 3. The same entry tells whether a cache hit falls
into the last part of the original TTL (:meth:`StaleStore.near_expiry`, prefetch).

Bounded in approximate bytes, least recently used first (an :class:`LruStore`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from ..wire.rrset import RRset
from .store import LruStore

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
_MASK = 0xFFFFFFFF
_HALF = 1 << 31


@dataclass(slots=True)
class Kept(Generic[V]):
    stored: float              # when the answer was first kept with this expiry
    expires: float             # when its data expires (stale from then on)
    sig_until: float | None    # when its first RRSIG expires (None: no RRSIG)
    value: V


def signatures_end(rrsets: Iterable[RRset], now: float) -> float | None:
    """When the first RRSIG of *rrsets* expires (RFC 1982 serial time read near
    *now*); None when they carry none."""
    ends = []
    now32 = int(now) & _MASK
    for rrset in rrsets:
        for sig in rrset.sigs:
            if len(sig) < 12:
                continue
            expiration = int.from_bytes(sig[8:12], "big")
            left = (expiration - now32) & _MASK
            ends.append(now + left if left < _HALF else now - ((now32 - expiration) & _MASK))
    return min(ends) if ends else None


def answer_size(rrsets: Iterable[RRset]) -> int:
    """Approximate bytes an answer of *rrsets* holds alive."""
    return 300 + sum(200 + sum(len(d) + 60 for d in r.rdatas) + sum(len(s) + 40 for s in r.sigs)
                     for r in rrsets)


class StaleStore(Generic[K, V]):
    def __init__(self, max_bytes: int, now: Callable[[], float], stale_max: float) -> None:
        self.store: LruStore[K, Kept[V]] = LruStore(max_bytes, now)
        self.now = now
        self.stale_max = stale_max

    def put(self, key: K, value: V, ttl: float, size: int,
            sig_until: float | None = None) -> None:
        """Keep *value* for *ttl* seconds, and readable as stale ``stale_max`` more. The
        same answer read from the cache again (same expiry) keeps its first entry, so
        the original TTL stays known."""
        now = self.now()
        expires = now + ttl
        old = self.store.peek(key)
        if old is not None and abs(old[1].expires - expires) < 2 and old[1].expires > now:
            return
        self.store.put(key, Kept(now, expires, sig_until, value), expires + self.stale_max,
                       size)

    def get(self, key: K) -> Kept[V] | None:
        """The entry under *key*, alive or stale (expired up to ``stale_max`` ago)."""
        return self.store.get(key)

    def has(self, key: K) -> bool:
        """Whether :meth:`get` would find an entry (no LRU or counter change)."""
        found = self.store.peek(key)
        return found is not None and self.now() < found[0]

    def near_expiry(self, key: K, fraction: float) -> bool:
        """Whether the entry under *key* is alive and in the last *fraction* of the TTL
        it was stored with."""
        found = self.store.peek(key)
        if found is None:
            return False
        kept = found[1]
        now = self.now()
        return kept.expires - (kept.expires - kept.stored) * fraction <= now < kept.expires

    def delete(self, key: K) -> None:
        self.store.delete(key)

    def clear(self) -> None:
        self.store.clear()

    def __len__(self) -> int:
        return len(self.store)
