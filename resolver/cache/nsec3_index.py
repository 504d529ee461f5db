"""Aggressive use of validated NSEC3 records (RFC 8198 s5 with the proofs of RFC 5155
s8): NXDOMAIN and NODATA for names no query asked about yet, from the NSEC3 records of
earlier secure denials. Pure: no I/O; the clock is injected.

What goes in: only NSEC3 RRsets of a denial the validator judged SECURE with the
zone's keys (the service passes them through :class:`~resolver.cache.nsec_index.
NsecIndex`), one hash label below the zone, SHA-1, flags 0 or 1, iterations within the
validator's limit (RFC 9276: above it nothing is secure anyway). A zone keeps one
parameter set (salt, iterations): records with another set (the zone was re-salted)
replace the zone's records.

What comes out, from the records of one zone ordered by hash:

- NODATA: an NSEC3 matching the name whose bitmap has neither the type nor CNAME
  (with the DS and parent-side rules of the validator's proof);
- NXDOMAIN: the closest encloser proof (an NSEC3 matching the closest encloser, one
  covering the next closer name) and an NSEC3 covering the wildcard at the closest
  encloser; or a wildcard NODATA (the wildcard's NSEC3 matches, without the type).

Never from an opt-out span: an opt-out NSEC3 covering a name proves only that no
*signed* name is there, an unsigned delegation may be (RFC 5155 s6, RFC 8198 s4), so a
cover with the opt-out flag is never used (matches are: they show the name exists).

Hashing costs CPU (CVE-2023-50868): hashes are memoised per (name, salt, iterations)
in an LRU, a look-up computes at most ``MAX_HASHES`` new ones and gives up on names
more than ``MAX_LABELS`` labels below the zone. The candidate records are then checked
by the validator's own NSEC3 proof functions (:mod:`resolver.dnssec.nsec3`) with a
small budget, so nothing is synthesised that the validator would not call SECURE; the
result is a negative entry without a verdict, judged by the validator like any cached
denial (only its verdict sets AD).
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..config import ValidationLimits
from ..dnssec import nsec3 as n3
from ..dnssec.budget import Budget
from ..dnssec.denial import signature_problem
from ..lru import Lru
from ..wire import rdata as rd
from ..wire.name import Name
from ..wire.rrset import RRset
from ..wire.types import RRType
from .rrsets import NegEntry

MAX_ZONES = 1024            # zones indexed; the least recently filled go first
MAX_PER_ZONE = 4096         # NSEC3 records per zone; a full zone starts over
MAX_HASHES = 12             # hashes one look-up may compute (the memo's are free)
MAX_LABELS = 8              # labels below the zone a name may have to be looked up
HASH_MEMO_SIZE = 16384      # (name, salt, iterations) -> hash


@dataclass(slots=True)
class _Rec:
    hashed: bytes
    next: bytes
    types: frozenset[int]
    opt_out: bool
    rrset: RRset
    expires: float

    def covers(self, hashed: bytes) -> bool:
        """Strictly between the owner hash and the next one, wrapping at the end."""
        if self.hashed < self.next:
            return self.hashed < hashed < self.next
        return hashed > self.hashed or hashed < self.next


@dataclass(slots=True)
class _Zone:
    apex: Name
    soa: RRset | None     # None: only wildcard proofs so far, no denial (add_proofs)
    soa_expires: float
    salt: bytes
    iterations: int
    order: list[bytes] = field(default_factory=list)        # sorted owner hashes
    records: dict[bytes, _Rec] = field(default_factory=dict)


class _OutOfHashes(Exception):
    """The look-up used up its hashes: no synthesis, the query goes upstream."""


class Nsec3Index:
    def __init__(self, now: Callable[[], float],
                 limits: ValidationLimits | None = None) -> None:
        self.now = now
        self.limits = limits or ValidationLimits()
        self._zones: OrderedDict[bytes, _Zone] = OrderedDict()
        self._hashes: Lru[tuple[bytes, bytes, int], bytes] = Lru(HASH_MEMO_SIZE)
        self._decoded = n3.nsec3_memo()   # the proofs' decoded records, reused
        self.hashes_computed = 0     # hashes the look-ups computed (the memo's excluded)

    # ------------------------------------------------------------------ filling
    def add(self, zone: Name, soa: RRset | None, life: float, rrsets: Iterable[RRset]) -> int:
        """Index the NSEC3 *rrsets* of *zone* (verified with its keys in a secure
        denial) with its verified *soa*, each for at most *life* seconds. Returns how
        many were taken. *soa* None: the records that proved a secure wildcard answer
        (RFC 8198 s5.3), which brings no SOA; the zone's SOA, if any, stays."""
        now = self.now()
        taken = 0
        for rrset in rrsets:
            parsed = self._usable(rrset, zone)
            if parsed is None:
                continue
            hashed, value = parsed
            entry = self._zone_for(zone, soa, now + life, value)
            if hashed not in entry.records:
                if len(entry.records) >= MAX_PER_ZONE:
                    entry.order.clear()
                    entry.records.clear()
                bisect.insort(entry.order, hashed)
            entry.records[hashed] = _Rec(hashed, value.next, value.types, value.opt_out,
                                         rrset, now + min(life, rrset.ttl))
            taken += 1
        return taken

    def _usable(self, rrset: RRset, zone: Name) -> tuple[bytes, rd.NSEC3] | None:
        if rrset.rtype != RRType.NSEC3 or not rrset.sigs or len(rrset.rdatas) != 1:
            return None
        hashed = n3.hashed_owner(rrset.name, zone)
        if hashed is None or signature_problem(rrset, zone) is not None:
            return None
        try:
            value = rd.decode(RRType.NSEC3, rrset.rdatas[0])
        except rd.RdataError:
            return None
        assert isinstance(value, rd.NSEC3)
        if value.algorithm != n3.SHA1 or value.flags not in (0, 1) \
                or len(value.next) != n3.SHA1_LENGTH \
                or value.iterations > self.limits.nsec3_iterations:
            return None
        return hashed, value

    def _zone_for(self, zone: Name, soa: RRset | None, soa_expires: float,
                  value: rd.NSEC3) -> _Zone:
        entry = self._zones.get(zone.key)
        if soa is None:
            soa_expires = 0.0
        if entry is None or (entry.salt, entry.iterations) != (value.salt, value.iterations):
            entry = self._zones[zone.key] = _Zone(zone, soa, soa_expires, value.salt,
                                                  value.iterations)
            while len(self._zones) > MAX_ZONES:
                self._zones.popitem(last=False)
        elif soa is not None:
            entry.soa, entry.soa_expires = soa, soa_expires
        self._zones.move_to_end(zone.key)
        return entry

    def clear(self) -> None:
        self._zones.clear()

    def drop_zone(self, zone: Name) -> None:
        for key in [k for k, z in self._zones.items() if z.apex.is_subdomain(zone)]:
            del self._zones[key]

    def drop_name(self, name: Name) -> None:
        for key in [k for k, z in self._zones.items() if name.is_subdomain(z.apex)]:
            del self._zones[key]

    def __len__(self) -> int:
        return sum(len(z.records) for z in self._zones.values())

    # ------------------------------------------------------------------ look-up
    def zone_depth(self, start: Name) -> int:
        """The label count of the closest indexed zone at or above *start*, or -1."""
        if not self._zones:
            return -1
        keys = start.ancestor_keys()      # deepest first: keys[i] has len - i labels
        top = len(keys) - 1
        for i, key in enumerate(keys):
            if key in self._zones:
                return top - i
        return -1

    def lookup(self, name: Name, qtype: int, start: Name) -> NegEntry | None:
        """A denial of (*name*, *qtype*) from the zone closest to *start* (the name,
        or its parent for DS), or None."""
        depth = self.zone_depth(start)
        if depth < 0:
            return None
        zone = self._zones[start.ancestor(depth).key]
        now = self.now()
        if zone.soa_expires <= now or len(name) - len(zone.apex) > MAX_LABELS:
            return None
        budget = [MAX_HASHES]
        try:
            return self._lookup(zone, name, qtype, now, budget)
        except _OutOfHashes:
            return None

    def _lookup(self, zone: _Zone, name: Name, qtype: int, now: float,
                budget: list[int]) -> NegEntry | None:
        own = self._at(zone, self._hash(zone, name, budget), now)
        if own is not None:   # the name exists: NODATA if its bitmap says so
            return self._prove(zone, name, qtype, [own], now, nx=False)
        if qtype == RRType.DS:   # a DS denial without a match rests on opt-out only
            return None
        for depth in range(len(name) - 1, len(zone.apex) - 1, -1):
            ce = name.ancestor(depth)
            match = self._at(zone, self._hash(zone, ce, budget), now)
            if match is not None:
                break
        else:
            return None
        next_closer = name.ancestor(depth + 1)
        cover = self._cover(zone, self._hash(zone, next_closer, budget), now)
        if cover is None:
            return None
        try:
            wildcard = ce.prepend(b"*")
        except ValueError:
            return None
        hashed = self._hash(zone, wildcard, budget)
        wild = self._at(zone, hashed, now)
        if wild is not None:   # the wildcard exists: only its NODATA can be given
            return self._prove(zone, name, qtype, [match, cover, wild], now, nx=False)
        wcover = self._cover(zone, hashed, now)
        if wcover is None:
            return None
        return self._prove(zone, name, qtype, [match, cover, wcover], now, nx=True)

    def wildcard_cover(self, name: Name, ce: Name) -> tuple[Name, RRset, float] | None:
        """For a wildcard answer synthesised from the cache (RFC 8198 s5.3): when the
        closest NSEC3 zone of *name* has a record, never opt-out, covering the next
        closer name below *ce* (so *name* does not exist and, the wildcard at *ce*
        existing, *ce* is its closest encloser), the zone, that record and when it
        expires; else None. Checked with the validator's proof function."""
        depth = self.zone_depth(name)
        if depth < 0 or depth > len(ce) or len(ce) >= len(name):
            return None
        zone = self._zones[name.ancestor(depth).key]
        if len(name) - len(zone.apex) > MAX_LABELS:
            return None
        now = self.now()
        try:
            hashed = self._hash(zone, name.ancestor(len(ce) + 1), [MAX_HASHES])
        except _OutOfHashes:
            return None
        cover = self._cover(zone, hashed, now)
        if cover is None:
            return None
        budget = Budget(self.limits, hashes=2 * (MAX_LABELS + 2))
        proven = n3.prove_wildcard(name, len(ce), zone.apex, [cover.rrset], self.limits,
                                   budget, explain=False, memo=self._decoded)
        if not proven.secure:
            return None
        return zone.apex, cover.rrset, cover.expires

    def _hash(self, zone: _Zone, name: Name, budget: list[int]) -> bytes:
        key = (name.key, zone.salt, zone.iterations)
        hashed = self._hashes.use(key)
        if hashed is None:
            if budget[0] <= 0:
                raise _OutOfHashes
            budget[0] -= 1
            self.hashes_computed += 1
            hashed = self._hashes.put(key, n3.nsec3_hash(name, zone.salt, zone.iterations))
        return hashed

    @staticmethod
    def _at(zone: _Zone, hashed: bytes, now: float) -> _Rec | None:
        record = zone.records.get(hashed)
        return record if record is not None and record.expires > now else None

    @staticmethod
    def _cover(zone: _Zone, hashed: bytes, now: float) -> _Rec | None:
        """The record whose span holds *hashed*; never an opt-out one."""
        if not zone.order:
            return None
        index = bisect.bisect_right(zone.order, hashed) - 1
        record = zone.records[zone.order[index]]   # index -1: the last, wrapping around
        if record.expires <= now or record.opt_out or not record.covers(hashed):
            return None
        return record

    def _prove(self, zone: _Zone, name: Name, qtype: int, records: list[_Rec],
               now: float, *, nx: bool) -> NegEntry | None:
        rrsets = list({id(r.rrset): r.rrset for r in records}.values())
        budget = Budget(self.limits, hashes=2 * (MAX_LABELS + 2))
        if nx:
            proven = n3.prove_nxdomain(name, zone.apex, rrsets, self.limits, budget,
                                       explain=False, memo=self._decoded)
        else:
            proven = n3.prove_nodata(name, qtype, zone.apex, rrsets, self.limits, budget,
                                     explain=False, memo=self._decoded)
        if not proven.secure:
            return None
        return NegEntry.proven(name, qtype, nx, zone.apex, zone.soa, rrsets,
                               min([zone.soa_expires, *(r.expires for r in records)]))
