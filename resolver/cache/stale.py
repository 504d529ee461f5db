"""Answers read back from the caches past their TTL: serve-stale (RFC 8767) and the
prefetch timer.

No copy is kept: expired entries stay in place in the RRset and negative caches (the
stores' grace period, :attr:`resolver.cache.store.LruStore.grace`), misses for the
iterator's look-ups, until ``stale-max`` passes or LRU pressure evicts them.
:func:`kept` reassembles the answer to one question from them: the RRset of the
type asked (with the NSEC/NSEC3 records of a wildcard expansion), or the chain of
CNAMEs and DNAMEs leading to it, or to a denial (its SOA and proofs), with the weakest verdict
of the parts and when the first of them expires. The service decides what to
serve from it (TTL 30 and EDE 3, never bogus, AD only inside the RRSIG window);
:func:`near_expiry` tells whether a hit falls into the last part of the TTL
(prefetch).

A DNAME (RFC 6672) at an ancestor of a name with nothing of its own cached is followed
as the iterator follows it: the DNAME RRset and the CNAME synthesised from it (owner
the name, TTL the DNAME's, no RRSIG: its proof is the DNAME's) join the answer, and the
rewritten name is looked up next; a rewrite longer than 255 octets ends it (None).

Pure: reads the caches with ``peek`` (no LRU, counter or expiry change), no I/O,
the time passed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..dnssec.status import Reason, Security
from ..wire.name import MAX_NAME_OCTETS, Name
from ..wire.rrset import RRset
from ..wire.types import Rcode, RRType
from .rrsets import NXDOMAIN_TYPE, Entry, NegativeCache, NegEntry, Rank, RRsetCache

_MASK = 0xFFFFFFFF
_HALF = 1 << 31
# CNAME links followed at most when reading an answer back (the iterator's own limit
# stopped longer chains before they were answered)
MAX_LINKS = 12


@dataclass(slots=True)
class Kept:
    """The answer the caches still hold for one question (built on demand)."""

    rcode: int
    answer: list[RRset]          # the stored RRsets (TTLs as stored, not aged)
    authority: list[RRset]
    security: Security | None    # the weakest verdict of the parts; None: one unjudged
    reason: Reason | None
    expires: float               # when the first part expires (stale from then on)
    life: float                  # the TTL that part was stored with (about)


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


def kept(rrsets: RRsetCache, negative: NegativeCache, qname: Name, qtype: int,
         now: float, window: float, max_cnames: int = MAX_LINKS) -> Kept | None:
    """The answer to (*qname*, *qtype*) from entries alive or expired less than
    *window* seconds ago; None when a part is missing (evicted, too old, a loop,
    more than *max_cnames* CNAME or DNAME steps, a denial without SOA)."""
    answer: list[RRset] = []
    proofs: list[RRset] = []        # of wildcard expansions along the way
    parts: list[Entry | NegEntry] = []
    lives: list[float] = []
    seen: set[bytes] = set()
    name = qname
    for _ in range(min(max_cnames, MAX_LINKS) + 1):
        if name.key in seen:
            return None
        seen.add(name.key)
        entry = _entry(rrsets, name, qtype, now, window)
        if entry is not None:
            answer.append(entry.rrset)
            parts.append(entry)
            lives.append(_life(entry.rrset.ttl, rrsets))
            proofs.extend(entry.proofs)
            return _combine(Rcode.NOERROR, answer, proofs, parts, lives)
        cname = None if qtype == RRType.CNAME else \
            _entry(rrsets, name, RRType.CNAME, now, window)
        if cname is not None:
            answer.append(cname.rrset)
            parts.append(cname)
            lives.append(_life(cname.rrset.ttl, rrsets))
            proofs.extend(cname.proofs)
            name = Name(cname.rrset.rdatas[0])
            continue
        dname = None if qtype == RRType.DNAME else _dname(rrsets, name, now, window)
        if dname is not None:
            entry, target = dname
            answer += [entry.rrset, RRset(name, RRType.CNAME, 1, entry.rrset.ttl,
                                          [target.wire])]
            parts.append(entry)
            lives.append(_life(entry.rrset.ttl, rrsets))
            name = target
            continue
        neg = _denial(negative, name, qtype, now, window)
        if neg is None or neg.soa is None:
            return None
        parts.append(neg)
        lives.append(min(float(negative.max_ttl), neg.soa.ttl))
        return _combine(neg.rcode, answer, [neg.soa, *neg.proofs, *proofs], parts, lives)
    return None


def near_expiry(found: Kept, now: float, fraction: float) -> bool:
    """Whether *found* is alive and in the last *fraction* of the TTL it was stored
    with."""
    return found.expires - found.life * fraction <= now < found.expires


def _entry(rrsets: RRsetCache, name: Name, rtype: int, now: float,
           window: float) -> Entry | None:
    found = rrsets.store.peek((name.key, rtype))
    if found is None:
        return None
    entry = found[1]
    if entry.rank < Rank.ANSWER or not entry.rrset.rdatas or entry.expires + window <= now:
        return None
    return entry


def _dname(rrsets: RRsetCache, name: Name, now: float, window: float
           ) -> tuple[Entry, Name] | None:
    """The closest DNAME above *name* still within *window*, and the name it rewrites
    *name* to; None without one, or when the rewrite is too long (YXDOMAIN)."""
    for owner in name.ancestor_keys()[1:]:
        found = rrsets.store.peek((owner, RRType.DNAME))
        if found is None:
            continue
        entry = found[1]
        if entry.rank < Rank.ANSWER or not entry.rrset.rdatas or \
                entry.expires + window <= now:
            return None
        wire = name.wire[:len(name.wire) - len(owner)] + entry.rrset.rdatas[0]
        return None if len(wire) > MAX_NAME_OCTETS else (entry, Name(wire))
    return None


def _denial(negative: NegativeCache, name: Name, qtype: int, now: float,
            window: float) -> NegEntry | None:
    for key in ((name.key, NXDOMAIN_TYPE), (name.key, qtype)):
        found = negative.store.peek(key)
        if found is not None and found[1].expires + window > now:
            return found[1]
    return None


def _life(ttl: int, rrsets: RRsetCache) -> float:
    return float(max(rrsets.min_ttl, min(rrsets.max_ttl, ttl)))


def _combine(rcode: int, answer: list[RRset], authority: list[RRset],
             parts: list[Entry | NegEntry], lives: list[float]) -> Kept:
    first = min(range(len(parts)), key=lambda i: parts[i].expires)
    security: Security | None = None
    reason: Reason | None = None
    if all(p.security is not None for p in parts):
        weakest = min(parts, key=lambda p: p.security or 0)
        security, reason = weakest.security, weakest.reason
    return Kept(rcode, answer, authority, security, reason, parts[first].expires,
                lives[first])
