"""Aggressive use of DNSSEC-validated cache (RFC 8198): an index of validated NSEC
records per zone, in canonical order, to answer NXDOMAIN and NODATA for names no
query asked about yet.

Only records the validator verified go in: the service adds the NSEC RRsets whose
signatures checked out with the zone's authenticated keys in a denial judged SECURE
(and the SOA of that denial), never the other records a response carried. NSEC3
records of such denials go to :class:`~resolver.cache.nsec3_index.Nsec3Index` (the
RFC 5155 proofs, never from opt-out spans); a look-up uses the closest zone either
index knows.

A look-up picks the closest enclosing zone the index knows, finds the NSEC at the
name or the one covering it (and the one covering or matching the wildcard of the
closest encloser), and checks the candidates with the same proof functions the
validator uses (:mod:`resolver.dnssec.nsec`): an NSEC signed by another zone, from
the parent side of a cut (NS without SOA) or with DNAME proves nothing below its
owner, so no synthesis crosses a zone cut. The result is a negative entry without a
verdict: the validator judges it as it judges any cached denial (its signatures
are memoised, so this is cheap), and only its verdict sets AD.

Wildcard answers (RFC 8198 s5.3): the NSEC/NSEC3 records that proved a secure
wildcard answer come in through :meth:`NsecIndex.add_proofs` (no SOA: they give no
denial until a denial of the zone brings one), and :meth:`NsecIndex.wildcard_cover`
tells :mod:`resolver.cache.wildcard_synth` the cover and closest encloser of a name.

TTL (RFC 8198 s5.4, RFC 9077): each record lives for the least of its TTL, the SOA's
TTL and the SOA minimum (and the negative TTL cap).
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..config import ValidationLimits
from ..dnssec.nsec import prove_nodata, prove_nxdomain, usable_nsec
from ..wire import rdata as rd
from ..wire.name import Name
from ..wire.rrset import RRset
from ..wire.types import RRType
from .nsec3_index import Nsec3Index
from .rrsets import NegEntry

MAX_ZONES = 1024            # zones indexed; the least recently filled go first
MAX_PER_ZONE = 4096         # NSEC records per zone; a full zone starts over


@dataclass(slots=True)
class _Record:
    owner: Name
    next: Name
    types: frozenset[int]
    rrset: RRset
    expires: float

    def covers(self, name: Name) -> bool:
        if self.owner < self.next:
            return self.owner < name < self.next
        return name > self.owner or name < self.next   # the last NSEC wraps to the apex


@dataclass(slots=True)
class _Zone:
    apex: Name
    soa: RRset | None     # None: only wildcard proofs so far, no denial (add_proofs)
    soa_expires: float
    order: list[tuple[bytes, ...]] = field(default_factory=list)   # sorted owner keys
    records: dict[tuple[bytes, ...], _Record] = field(default_factory=dict)


class NsecIndex:
    def __init__(self, now: Callable[[], float], max_ttl: int = 3600,
                 limits: ValidationLimits | None = None) -> None:
        self.now = now
        self.max_ttl = max_ttl
        self._zones: OrderedDict[bytes, _Zone] = OrderedDict()
        self.nsec3 = Nsec3Index(now, limits)

    # ------------------------------------------------------------------ filling
    def add(self, zone: Name, soa: RRset, nsecs: Iterable[RRset], ttl: int | None = None) -> int:
        """Index the *nsecs* of *zone*, verified with its keys, with the zone's
        verified *soa*; *ttl* caps their life (the validator's, from the RRSIGs).
        Returns how many NSEC and NSEC3 RRsets were taken."""
        if soa.rtype != RRType.SOA or soa.name != zone or not soa.rdatas:
            return 0
        try:
            value = rd.decode(RRType.SOA, soa.rdatas[0])
        except rd.RdataError:
            return 0
        assert isinstance(value, rd.SOA)
        life = min(soa.ttl, value.minimum, self.max_ttl)
        if ttl is not None:
            life = min(life, ttl)
        if life <= 0:
            return 0
        nsecs = list(nsecs)
        taken = self.nsec3.add(zone, soa, life, [r for r in nsecs if r.rtype == RRType.NSEC3])
        nsecs = [r for r in nsecs if r.rtype == RRType.NSEC]
        if not nsecs:
            return taken
        now = self.now()
        entry = self._zone_entry(zone, now)
        entry.soa, entry.soa_expires = soa, now + life
        return taken + self._take(entry, nsecs, life, now)

    def add_proofs(self, zone: Name, nsecs: Iterable[RRset], ttl: int) -> int:
        """Index the NSEC (or NSEC3) records that proved a secure wildcard answer of
        *zone* (no SOA comes with one, RFC 8198 s5.3): they serve wildcard answers for
        the other names they cover, and denials once a denial of the zone brings its
        SOA. *ttl* caps their life (the validator's, from the RRSIGs). Returns how
        many were taken."""
        life = min(ttl, self.max_ttl)
        if life <= 0:
            return 0
        nsecs = list(nsecs)
        taken = self.nsec3.add(zone, None, life, [r for r in nsecs if r.rtype == RRType.NSEC3])
        nsecs = [r for r in nsecs if r.rtype == RRType.NSEC]
        if not nsecs:
            return taken
        now = self.now()
        return taken + self._take(self._zone_entry(zone, now), nsecs, life, now)

    def _zone_entry(self, zone: Name, now: float) -> _Zone:
        entry = self._zones.get(zone.key)
        if entry is None:
            entry = self._zones[zone.key] = _Zone(zone, None, 0.0)   # no SOA yet
            while len(self._zones) > MAX_ZONES:
                self._zones.popitem(last=False)
        else:
            self._zones.move_to_end(zone.key)
        return entry

    def _take(self, entry: _Zone, nsecs: list[RRset], life: int, now: float) -> int:
        zone = entry.apex
        taken = 0
        for rrset in nsecs:
            if rrset.rtype != RRType.NSEC or not rrset.sigs:   # verified: it has RRSIGs
                continue
            parsed = usable_nsec(rrset, zone)
            if parsed is None:
                continue
            owner, nxt, types = parsed
            key = owner.canonical_sort_key()
            if key not in entry.records:
                if len(entry.records) >= MAX_PER_ZONE:
                    entry.order.clear()
                    entry.records.clear()
                bisect.insort(entry.order, key)
            entry.records[key] = _Record(owner, nxt, types, rrset,
                                         now + min(life, rrset.ttl))
            taken += 1
        return taken

    def clear(self) -> None:
        self._zones.clear()
        self.nsec3.clear()

    def drop_zone(self, zone: Name) -> None:
        """Forget the zones at or below *zone* (an operator's flush)."""
        for key in [k for k, z in self._zones.items() if z.apex.is_subdomain(zone)]:
            del self._zones[key]
        self.nsec3.drop_zone(zone)

    def drop_name(self, name: Name) -> None:
        """Forget the zones that hold *name* (an operator's flush of one name: its
        denial must come from upstream again)."""
        for key in [k for k, z in self._zones.items() if name.is_subdomain(z.apex)]:
            del self._zones[key]
        self.nsec3.drop_name(name)

    def __len__(self) -> int:
        return sum(len(z.records) for z in self._zones.values()) + len(self.nsec3)

    # ------------------------------------------------------------------ look-up
    def lookup(self, name: Name, qtype: int) -> NegEntry | None:
        """A denial of (*name*, *qtype*) from indexed NSEC records, or None."""
        start = name
        if qtype == RRType.DS:   # a DS is denied by the parent zone
            if name.is_root():
                return None
            start = name.parent()
        zone = None
        for key in start.ancestor_keys():      # deepest first
            zone = self._zones.get(key)
            if zone is not None:
                break
        if self.nsec3.zone_depth(start) > (len(zone.apex) if zone is not None else -1):
            return self.nsec3.lookup(name, qtype, start)   # a closer NSEC3 zone
        if zone is None:
            return None
        now = self.now()
        if zone.soa_expires <= now:
            return None
        own = self._at(zone, name, now)
        if own is not None:   # the name exists: NODATA if its bitmap says so
            return self._prove(zone, name, qtype, [own], now, nx=False)
        cover = self._cover(zone, name, now)
        if cover is None:
            return None
        if cover.next.is_strict_subdomain(name):   # an empty non-terminal
            return self._prove(zone, name, qtype, [cover], now, nx=False)
        a = name.common_ancestor(cover.owner)
        b = name.common_ancestor(cover.next)
        ce = a if len(a) >= len(b) else b
        try:
            wildcard = ce.prepend(b"*")
        except ValueError:
            return None
        wild = self._at(zone, wildcard, now)
        if wild is not None:   # the wildcard exists: only its NODATA can be given
            return self._prove(zone, name, qtype, [cover, wild], now, nx=False)
        wcover = self._cover(zone, wildcard, now)
        if wcover is None:
            return None
        return self._prove(zone, name, qtype, [cover, wcover], now, nx=True)

    def wildcard_cover(self, name: Name) -> tuple[Name, Name, RRset, float] | None:
        """For a wildcard answer synthesised from the cache (RFC 8198 s5.3): the zone,
        the closest encloser, the NSEC covering *name* and when that NSEC expires, if
        an indexed NSEC proves that *name* does not exist (not an empty non-terminal,
        no closer NSEC3 zone), else None. Whether the wildcard exists is the RRset
        cache's to say; the caller checks the proof with the validator's function."""
        zone = None
        for key in name.ancestor_keys():      # deepest first
            zone = self._zones.get(key)
            if zone is not None:
                break
        if zone is None or self.nsec3.zone_depth(name) > len(zone.apex):
            return None
        now = self.now()
        if self._at(zone, name, now) is not None:
            return None
        cover = self._cover(zone, name, now)
        if cover is None or cover.next.is_strict_subdomain(name):
            return None
        a = name.common_ancestor(cover.owner)
        b = name.common_ancestor(cover.next)
        ce = a if len(a) >= len(b) else b
        if not ce.is_subdomain(zone.apex) or len(ce) >= len(name):
            return None
        return zone.apex, ce, cover.rrset, cover.expires

    def _at(self, zone: _Zone, name: Name, now: float) -> _Record | None:
        record = zone.records.get(name.canonical_sort_key())
        return record if record is not None and record.expires > now else None

    def _cover(self, zone: _Zone, name: Name, now: float) -> _Record | None:
        if not zone.order:
            return None
        index = bisect.bisect_right(zone.order, name.canonical_sort_key()) - 1
        record = zone.records[zone.order[index]]   # index -1: the last, wrapping around
        if record.expires <= now or not record.covers(name):
            return None
        return record

    def _prove(self, zone: _Zone, name: Name, qtype: int, records: list[_Record],
               now: float, *, nx: bool) -> NegEntry | None:
        rrsets = list({id(r.rrset): r.rrset for r in records}.values())
        if nx:
            proven = prove_nxdomain(name, zone.apex, rrsets, explain=False)
        else:
            proven = prove_nodata(name, qtype, zone.apex, rrsets, explain=False)
        if not proven.secure:
            return None
        return NegEntry.proven(name, qtype, nx, zone.apex, zone.soa, rrsets,
                               min([zone.soa_expires, *(r.expires for r in records)]))
