"""The RRset cache and the negative cache (RFC 2181 s5.4.1 ranks, RFC 2308).

Each RRset is stored with its RRSIGs, the zone it came from, a trust rank (lower-
ranked data never replaces higher-ranked data that is still alive) and, once the
validator has looked at it, its security status. Negative entries hold the SOA and
the NSEC/NSEC3 records of an NXDOMAIN or NODATA answer.

A verdict is written only onto the records it was reached on: validation awaits the
network, and meanwhile another query may have stored different data of equal rank
under the same key. ``set_security`` therefore compares the live entry with the
records the validator judged and leaves a different entry unvalidated.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Generic, Protocol, TypeVar

from ..dnssec.status import Reason, Security
from ..lru import Lru
from ..wire.name import Name
from ..wire.rrset import RRset
from ..wire.types import Rcode
from .slotstore import SlotStore

# What a pooled proof RRset and a negative entry are charged (_size). Bytes of Python
# objects around one entry (entry, RRset, Name with its cached forms,
# lists, the LRU slot and key), measured with tracemalloc: a one-record A RRset with
# one RRSIG is charged 1156 bytes and takes about 1265. RRsets of several records also
# keep each RDATA in canonical form for deduplication (~40 octets of header each).
_OVERHEAD = 820
# What an RRset-cache entry costs besides its owner name and data, measured with
# tracemalloc (CPython 3.11), plus ~15 % that RSS shows above it (the allocator's
# pools, the dict's spare room): the entry (104 bytes), the kept RRset (96), its
# bare owner Name (72), the key tuple (56), the expiry float (24), the store's
# ordered-dict slot and node (about 100) and the owner's bytes header (33). Each list
# (RDATA, RRSIGs) and each bytes object not shared with another entry adds _BYTES, a
# reference _SHARED_REF.
_ENTRY = 555
_BYTES = 45
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
    until: float = 0.0                    # the store's expiry and charge (SlotStore)
    cost: int = 0

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
    until: float = 0.0                    # the store's expiry and charge (SlotStore)
    cost: int = 0

    def ttl(self, now: float) -> int:
        return max(0, int(self.expires - now))

    @classmethod
    def proven(cls, name: Name, qtype: int, nx: bool, zone: Name, soa: RRset | None,
               proofs: list[RRset], expires: float) -> NegEntry:
        """A denial worked out from cached NSEC/NSEC3 records (aggressive use, RFC 8198):
        NXDOMAIN for every type when *nx*, else NODATA for *qtype*."""
        return cls(name, NXDOMAIN_TYPE if nx else qtype, Rcode.NXDOMAIN if nx else
                   Rcode.NOERROR, zone, soa, proofs, expires)


# What holding one more reference to a shared RRset costs (a tuple or list slot).
_SHARED_REF = 8
# One int object per TTL value kept (TTLs above 256 are 28-byte objects, one per
# cached RRset otherwise); the values in use are few, the memo is bounded anyway
_TTLS: Lru[int, int] = Lru(4096)
_ProofKey = tuple[bytes, int, int, tuple[bytes, ...], tuple[bytes, ...]]


class ProofPool:
    """One copy of each NSEC/NSEC3/SOA RRset that negative and wildcard entries keep.

    The same denial records come back with every answer they cover (a zone's NSEC3
    chain behind a wildcard, the SOA and NSEC3 of a random-subdomain flood): each
    entry holding its own parsed copy cost about 1 kB per cached answer. Equal means
    the same owner, type, TTL, RDATA and RRSIGs, so sharing changes nothing a client
    sees. The pool holds its RRsets weakly: one lives as long as an entry holds it.
    The first holder is charged the RRset's size, later ones a reference."""

    def __init__(self) -> None:
        self._pool: weakref.WeakValueDictionary[_ProofKey, RRset] = \
            weakref.WeakValueDictionary()
        self._zones: Lru[bytes, Name] = Lru(4096)

    def share(self, rrset: RRset) -> tuple[RRset, int]:
        """The pooled equal of *rrset* and the bytes one more holder costs."""
        key = (rrset.name.key, rrset.rtype, rrset.ttl, tuple(rrset.rdatas), tuple(rrset.sigs))
        known = self._pool.get(key)
        if known is not None:
            return known, _SHARED_REF
        self._pool[key] = rrset
        return rrset, _size(rrset)

    def zone(self, zone: Name | None) -> Name | None:
        """One Name object per zone for the entries to share: the iterator hands each
        answer a zone Name of its own (with its label offsets, ~180 bytes)."""
        if zone is None:
            return None
        known = self._zones.get(zone.key)
        if known is None:
            known = self._zones.put(zone.key, zone.bare())
        return known

    def __len__(self) -> int:
        return len(self._pool)


_Fingerprint = tuple[bytes, int, frozenset[bytes], frozenset[bytes]]


def _fingerprint(rrset: RRset) -> _Fingerprint:
    """What makes two RRsets the same data: owner, type, RDATA and RRSIGs, in any
    order (the TTL is not part of it: cached copies are aged)."""
    return rrset.name.key, rrset.rtype, frozenset(rrset.rdatas), frozenset(rrset.sigs)


def _same_data(kept: RRset, judged: RRset) -> bool:
    """Whether *kept* holds exactly the records and signatures of *judged*."""
    if kept.rdatas is judged.rdatas and kept.sigs is judged.sigs:
        return kept.name.key == judged.name.key and kept.rtype == judged.rtype
    return _fingerprint(kept) == _fingerprint(judged)


def _proofs_judged(kept: Iterable[RRset], judged: Sequence[RRset], zone: Name | None) -> bool:
    """Whether the NSEC/NSEC3 records an entry keeps are those a verdict was reached
    on: every record kept was judged (nothing was slipped in since), and every judged
    record of the entry's zone is kept (none that the proof may rest on is missing;
    records of other zones belong to other links of a CNAME chain)."""
    seen = {_fingerprint(p) for p in judged}
    have = {_fingerprint(p) for p in kept}
    if not have <= seen:
        return False
    return all(_fingerprint(p) in have for p in judged
               if zone is None or p.name.is_subdomain(zone))


def below(key: bytes, zone: Name) -> bool:
    """Whether the owner whose cache key (lowercased wire form) is *key* is *zone* or
    lies below it: for the operator's flushes, which scan the caches."""
    return key.endswith(zone.key) and Name(key).is_subdomain(zone)


def _size(rrset: RRset) -> int:
    return (_OVERHEAD + 3 * len(rrset.name.wire) + sum(2 * len(d) + 80 for d in rrset.rdatas)
            + sum(len(s) + 40 for s in rrset.sigs))


class _Judged(Protocol):
    security: Security | None
    reason: Reason | None
    until: float
    cost: int


J = TypeVar("J", bound=_Judged)


class _OwnerKeyed(Generic[J]):
    """What the RRset and negative caches share: a store keyed by (owner key, type)
    whose entries carry a verdict; dropping verdicts and the operator's flushes."""

    store: SlotStore[tuple[bytes, int], J]

    def forget_verdicts(self) -> None:
        """Mark every entry unvalidated (the trust anchors changed): the data stays,
        and is judged again under the new anchors when it is next used."""
        for entry in self.store.values():
            entry.security = None
            entry.reason = None

    # flushes (``resolver control``): scans, returning how many live entries went
    def drop_zone(self, zone: Name) -> int:
        """Drop every entry owned by *zone* or a name below it."""
        return self.store.drop_where(lambda key, _: below(key[0], zone))

    def drop_bogus(self) -> int:
        """Drop every entry whose verdict is bogus."""
        return self.store.drop_where(lambda _, entry: entry.security == Security.BOGUS)

    def clear(self) -> int:
        """Drop everything; returns how many live entries there were."""
        return self.store.drop_where(lambda _, __: True)

    def __len__(self) -> int:
        return len(self.store)


class RRsetCache(_OwnerKeyed["Entry"]):
    def __init__(self, max_bytes: int, now: Callable[[], float], max_ttl: int = 86400,
                 min_ttl: int = 0, pool: ProofPool | None = None) -> None:
        self.store: SlotStore[tuple[bytes, int], Entry] = SlotStore(max_bytes, now)
        self.now = now
        self.max_ttl = max_ttl
        self.min_ttl = min_ttl
        self.pool = pool if pool is not None else ProofPool()
        # the RDATA and RRSIGs of the entries stored last, to be shared by equal ones
        self._recent: Lru[bytes, bytes] = Lru(4096)

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
        size = _ENTRY + len(rrset.name.wire)
        if proofs:
            shared = []
            for proof in proofs:
                kept, cost = self.pool.share(proof)
                shared.append(kept)
                size += cost
            proofs = tuple(shared)
            size += _BYTES + _SHARED_REF * len(proofs)
        compact = rrset.compact()
        compact.ttl = _TTLS.get(compact.ttl) or _TTLS.put(compact.ttl, compact.ttl)
        # the RDATA and RRSIGs as kept by earlier entries when equal (every expansion of
        # a wildcard carries the same records and the same RRSIG), charged a reference
        rdatas, more = self._shared(compact.rdatas)
        sigs, extra = self._shared(compact.sigs)
        compact.rdatas, compact.sigs = rdatas, sigs
        size += more + extra
        expires = now + life        # one float for the entry and the store
        self.store.put(key, Entry(compact, expires, rank, self.pool.zone(zone), security,
                                  reason, proofs), expires, size)
        return True

    def _shared(self, datas: list[bytes]) -> tuple[list[bytes], int]:
        """*datas* as a list of exactly their length (one filled by appends carries
        spare slots) holding the equal bytes kept by the entries stored last, if any;
        and what the list and the bytes not shared cost."""
        known = self._recent.get
        cost = _BYTES + _SHARED_REF * len(datas)
        out = []
        for data in datas:
            kept = known(data)
            if kept is None:
                kept = self._recent.put(data, data)
                cost += len(data) + _BYTES
            out.append(kept)
        return out[:], cost

    def set_security(self, rrset: RRset, security: Security, reason: Reason | None,
                     ttl: int | None = None, proofs: Sequence[RRset] = ()) -> bool:
        """Record the validator's verdict on *rrset* (and shorten its life), if the
        entry under its owner and type still holds that data: the same records and
        RRSIGs and, for a wildcard expansion, the NSEC/NSEC3 records of *proofs* (those
        the verdict was reached with). An entry stored since with other data keeps no
        verdict and is validated when it is used. Returns whether it was written."""
        key = (rrset.name.key, rrset.rtype)
        found = self.store.peek(key)
        if found is None:
            return False
        expires, entry = found
        if not _same_data(entry.rrset, rrset):
            return False
        if (entry.proofs or rrset.from_wildcard()) and \
                not _proofs_judged(entry.proofs, proofs, entry.zone):
            return False
        entry.security = security
        entry.reason = reason
        if ttl is not None:
            entry.expires = min(expires, self.now() + ttl)
            self.store.set_expiry(key, entry.expires)
        return True

    def delete(self, name: Name, rtype: int) -> None:
        self.store.delete((name.key, rtype))

    # flushes (``resolver control``): scans, returning how many live entries went
    def drop_name(self, name: Name, rtype: int | None = None) -> int:
        """Drop the RRsets owned by *name*: every type, or only *rtype*."""
        if rtype is not None:
            alive = self.store.peek((name.key, rtype))
            self.store.delete((name.key, rtype))
            return int(alive is not None and alive[0] > self.now())
        owner = name.key
        return self.store.drop_where(lambda key, _: key[0] == owner)


class NegativeCache(_OwnerKeyed["NegEntry"]):
    def __init__(self, max_bytes: int, now: Callable[[], float], max_ttl: int = 3600,
                 pool: ProofPool | None = None) -> None:
        self.store: SlotStore[tuple[bytes, int], NegEntry] = SlotStore(max_bytes, now)
        self.now = now
        self.max_ttl = max_ttl
        self.pool = pool if pool is not None else ProofPool()

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
        entry.zone = self.pool.zone(entry.zone) or entry.zone
        size = _OVERHEAD
        if entry.soa is not None:
            entry.soa, cost = self.pool.share(entry.soa)
            size += cost
        shared = []
        for proof in entry.proofs:
            kept, cost = self.pool.share(proof)
            shared.append(kept)
            size += cost
        entry.proofs = shared
        self.store.put((entry.name.key, entry.qtype), entry, entry.expires, size)

    def delete(self, name: Name, qtype: int) -> None:
        self.store.delete((name.key, qtype))

    def set_security(self, name: Name, qtype: int, security: Security,
                     reason: Reason | None, ttl: int | None = None, *, rcode: int,
                     soa: RRset | None, proofs: Sequence[RRset]) -> bool:
        """Record the validator's verdict on the negative entry for (name, qtype), if
        that entry is still the denial judged: the same *rcode*, the same *soa* (records
        and RRSIGs) and the NSEC/NSEC3 records of *proofs* (see :func:`_proofs_judged`).
        An entry stored since with other records keeps no verdict. Returns whether it
        was written."""
        for key in ((name.key, NXDOMAIN_TYPE), (name.key, qtype)):
            found = self.store.peek(key)
            if found is None:
                continue
            expires, entry = found
            if entry.rcode != rcode or (entry.soa is None) != (soa is None) or \
                    (entry.soa is not None and soa is not None
                     and not _same_data(entry.soa, soa)) or \
                    not _proofs_judged(entry.proofs, proofs, entry.zone):
                continue
            entry.security = security
            entry.reason = reason
            if ttl is not None and self.now() + ttl < expires:
                entry.expires = self.now() + ttl
                self.store.set_expiry(key, entry.expires)
            return True
        return False

    # flushes (``resolver control``): scans, returning how many live entries went
    def drop_name(self, name: Name, qtype: int | None = None) -> int:
        """Drop the denials for *name*: all of them, or those that answer *qtype* (its
        NODATA and the name error, which covers every type)."""
        owner = name.key
        if qtype is None:
            return self.store.drop_where(lambda key, _: key[0] == owner)
        kinds = (qtype, NXDOMAIN_TYPE)
        return self.store.drop_where(lambda key, _: key[0] == owner and key[1] in kinds)

