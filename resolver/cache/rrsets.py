"""The RRset cache and the negative cache (RFC 2181 s5.4.1 ranks, RFC 2308).

Each RRset is stored with its RRSIGs, the zone it came from, a trust rank (lower-
ranked data never replaces higher-ranked data that is still alive) and, once the
validator has looked at it, its security status. Negative entries hold the SOA and
the NSEC/NSEC3 records of an NXDOMAIN or NODATA answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum

from ..dnssec.status import Reason, Security
from ..wire.name import Name
from ..wire.rrset import RRset
from .store import LruStore

# Bytes of Python objects around one entry (entry, RRset, Name, lists, the dedup set,
# the LRU slot and key), measured with tracemalloc; each RDATA is held twice (as
# received and in canonical form for deduplication) with ~40 octets of object header.
_OVERHEAD = 820
NXDOMAIN_TYPE = -1


class Rank(IntEnum):
    """RFC 2181 s5.4.1 trustworthiness, lowest first."""

    ADDITIONAL = 1        # glue and other additional-section data
    AUTHORITY = 2         # non-authoritative authority data (referral NS)
    ANSWER = 3            # non-authoritative answer data
    AUTH_AUTHORITY = 4    # authority section of an authoritative answer, DS in referrals
    AUTH_ANSWER = 5       # answer section of an authoritative answer


@dataclass(slots=True)
class Entry:
    rrset: RRset
    expires: float
    rank: Rank
    zone: Name | None = None
    security: Security | None = None      # None: not validated yet
    reason: Reason | None = None
    proofs: tuple[RRset, ...] = ()        # NSEC/NSEC3 proving a wildcard expansion

    def ttl(self, now: float) -> int:
        return max(0, int(self.expires - now))


@dataclass(slots=True)
class NegEntry:
    name: Name
    qtype: int            # NXDOMAIN_TYPE for a name error covering every type
    rcode: int
    zone: Name
    soa: RRset | None
    proofs: list[RRset] = field(default_factory=list)
    expires: float = 0.0
    security: Security | None = None
    reason: Reason | None = None

    def ttl(self, now: float) -> int:
        return max(0, int(self.expires - now))


def _size(rrset: RRset) -> int:
    return (_OVERHEAD + 3 * len(rrset.name.wire) + sum(2 * len(d) + 80 for d in rrset.rdatas)
            + sum(len(s) + 40 for s in rrset.sigs))


class RRsetCache:
    def __init__(self, max_bytes: int, now: Callable[[], float], max_ttl: int = 86400,
                 min_ttl: int = 0) -> None:
        self.store: LruStore[tuple[bytes, int], Entry] = LruStore(max_bytes, now)
        self.now = now
        self.max_ttl = max_ttl
        self.min_ttl = min_ttl

    def get(self, name: Name, rtype: int) -> Entry | None:
        return self.store.get((name.key, rtype))

    def put(self, rrset: RRset, rank: Rank, zone: Name | None = None,
            security: Security | None = None, reason: Reason | None = None,
            ttl: int | None = None, proofs: tuple[RRset, ...] = ()) -> bool:
        """Store *rrset* unless a live entry of higher rank (or a validated one that the
        new data cannot match) is already there. Returns whether it was stored."""
        if not rrset.rdatas:
            return False
        key = (rrset.name.key, rrset.rtype)
        now = self.now()
        old = self.store.peek(key)
        if old is not None:
            expires, entry = old
            if expires > now:
                if entry.rank > rank:
                    return False
                if entry.security == Security.SECURE and security != Security.SECURE \
                        and entry.rank >= rank:
                    return False
        life = rrset.ttl if ttl is None else ttl
        life = max(self.min_ttl, min(self.max_ttl, life))
        self.store.put(key, Entry(rrset, now + life, rank, zone, security, reason, proofs),
                       now + life, _size(rrset) + sum(_size(p) for p in proofs))
        return True

    def set_security(self, name: Name, rtype: int, security: Security,
                     reason: Reason | None, ttl: int | None = None) -> None:
        """Record the validator's verdict on a cached RRset (and shorten its life)."""
        key = (name.key, rtype)
        found = self.store.peek(key)
        if found is None:
            return
        expires, entry = found
        entry.security = security
        entry.reason = reason
        if ttl is not None:
            new_exp = min(expires, self.now() + ttl)
            entry.expires = new_exp
            self.store.put(key, entry, new_exp, _size(entry.rrset))

    def delete(self, name: Name, rtype: int) -> None:
        self.store.delete((name.key, rtype))

    def __len__(self) -> int:
        return len(self.store)


class NegativeCache:
    def __init__(self, max_bytes: int, now: Callable[[], float], max_ttl: int = 3600) -> None:
        self.store: LruStore[tuple[bytes, int], NegEntry] = LruStore(max_bytes, now)
        self.now = now
        self.max_ttl = max_ttl

    def get(self, name: Name, qtype: int) -> NegEntry | None:
        entry = self.store.get((name.key, NXDOMAIN_TYPE))
        if entry is not None:
            return entry
        return self.store.get((name.key, qtype))

    def put(self, entry: NegEntry, ttl: int) -> None:
        life = max(0, min(self.max_ttl, ttl))
        if life == 0:
            return
        entry.expires = self.now() + life
        size = _OVERHEAD + (_size(entry.soa) if entry.soa else 0) + sum(
            _size(p) for p in entry.proofs)
        self.store.put((entry.name.key, entry.qtype), entry, entry.expires, size)

    def delete(self, name: Name, qtype: int) -> None:
        self.store.delete((name.key, qtype))

    def set_security(self, name: Name, qtype: int, security: Security,
                     reason: Reason | None, ttl: int | None = None) -> None:
        """Record the validator's verdict on the negative entry for (name, qtype)."""
        for key in ((name.key, NXDOMAIN_TYPE), (name.key, qtype)):
            found = self.store.peek(key)
            if found is None:
                continue
            expires, entry = found
            entry.security = security
            entry.reason = reason
            if ttl is not None and self.now() + ttl < expires:
                entry.expires = self.now() + ttl
                self.store.put(key, entry, entry.expires, 200)
            return

    def __len__(self) -> int:
        return len(self.store)
