"""Wildcard answers from the DNSSEC-validated cache (RFC 8198 s5.3, issue 17).

Two halves, both pure (no I/O; the clock comes from the caches):

- :func:`remember_wildcard`: when the validator judged a wildcard expansion SECURE,
  the wildcard RRset itself (owner ``*.<closest encloser>``, the same RDATA and
  RRSIGs) goes into the RRset cache with that verdict, and the NSEC or NSEC3 records
  whose signatures verified in that proof go into the :class:`NsecIndex`. The RRSIGs
  sign the wildcard owner (RFC 4035 s5.3.2), so they are the wildcard RRset's own.
- :func:`synthesise_wildcard`: for a name that indexed records prove does not exist
  below the closest encloser of a cached SECURE wildcard RRset of the type asked, the
  RRset expanded to the name (RRSIGs copied as they are) and the proving record, for
  the iterator to hand to the validator like any answer without a verdict: only the
  validator's judgement (signature and wildcard proof) sets AD.

NSEC: the covering NSEC gives the closest encloser (RFC 8198 s5.3, RFC 4592). NSEC3
(RFC 5155 s8.8): for each ancestor with a cached wildcard, deepest first, a record
covering the next closer name, never an opt-out one (an unsigned delegation may lie
in its span); the wildcard's existence shows the ancestor exists. Not synthesised: a
wildcard CNAME or DNAME (the chase goes upstream), DS/DNSKEY/ANY/NS/SOA/RRSIG/NSEC/
NSEC3 questions, and anything whose wildcard RRset or denial record is unvalidated, not
secure or expired. The answer lives no longer than the RRset and the denial record
(the least remaining TTL).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..dnssec.nsec import prove_wildcard
from ..dnssec.status import Security
from ..wire import rdata as rd
from ..wire.name import Name
from ..wire.rrset import RRset
from ..wire.types import RRType
from .nsec_index import NsecIndex
from .rrsets import Entry, Rank, RRsetCache

# questions never answered from a cached wildcard
# (DS and DNSKEY: the key finder's look-ups go upstream, as they always did)
_NEVER = frozenset({RRType.DS, RRType.DNSKEY, RRType.ANY, RRType.RRSIG, RRType.NSEC,
                    RRType.NSEC3, RRType.CNAME, RRType.DNAME, RRType.SOA, RRType.NS})


@dataclass(slots=True, frozen=True)
class WildcardAnswer:
    rrset: RRset              # owner: the query name
    zone: Name
    proofs: list[RRset]       # the NSEC (NSEC3) covering the query (next closer) name


def _labels(rrset: RRset) -> set[int]:
    return {sig[3] for sig in rrset.sigs if len(sig) > 3}


def remember_wildcard(rrsets: RRsetCache, index: NsecIndex, rrset: RRset, zone: Name,
                      proofs: Sequence[RRset], ttl: int) -> bool:
    """Keep the wildcard behind the SECURE expansion *rrset* of *zone*, proven with
    *proofs* (the NSEC/NSEC3 records whose signatures the validator verified), for
    *ttl* seconds at most. Returns whether it was kept."""
    denials = [p for p in proofs if p.rtype in (RRType.NSEC, RRType.NSEC3)
               and p.name.is_subdomain(zone)]
    labels = _labels(rrset)
    if not denials or len(labels) != 1 or rrset.rtype in _NEVER or ttl <= 0:
        return False
    count = labels.pop()
    if not len(zone) <= count < len(rrset.name):
        return False
    try:
        wildcard = rrset.name.ancestor(count).prepend(b"*")
    except ValueError:
        return False
    if not index.add_proofs(zone, denials, ttl):
        return False
    return rrsets.put(RRset(wildcard, rrset.rtype, rrset.rclass, rrset.ttl, rrset.rdatas,
                            rrset.sigs), Rank.ANSWER, zone, Security.SECURE, None,
                      ttl=min(ttl, rrset.ttl))


def synthesise_wildcard(index: NsecIndex, rrsets: RRsetCache, name: Name, qtype: int,
                        now: float) -> WildcardAnswer | None:
    """The wildcard answer for (*name*, *qtype*) from cached validated records, or
    None (then the question goes on as before: upstream)."""
    if qtype in _NEVER or name.is_root():
        return None
    found = index.wildcard_cover(name)
    if found is not None:   # NSEC
        zone, ce, cover, cover_expires = found
        wild = _wildcard(rrsets, ce, zone, qtype, now)
        if wild is None or not prove_wildcard(name, len(ce), zone, [cover],
                                              explain=False).secure:
            return None
        return _expand(name, wild, zone, ce, cover, cover_expires, now)
    depth = index.nsec3.zone_depth(name)
    if depth < 0:
        return None
    for count in range(len(name) - 1, depth - 1, -1):   # NSEC3: deepest wildcard first
        ce = name.ancestor(count)
        wild = _wildcard(rrsets, ce, None, qtype, now)
        if wild is None:
            continue
        got = index.nsec3.wildcard_cover(name, ce)
        if got is None or wild.zone is None or got[0].key != wild.zone.key:
            return None
        return _expand(name, wild, got[0], ce, got[1], got[2], now)
    return None


def _wildcard(rrsets: RRsetCache, ce: Name, zone: Name | None, qtype: int,
              now: float) -> Entry | None:
    """The cached SECURE RRset ``*.<ce>`` of *qtype* (of *zone*, if given), or None."""
    try:
        wildcard = ce.prepend(b"*")
    except ValueError:
        return None
    # peek: a miss here is common and is no client's look-up of the cache
    got = rrsets.store.peek((wildcard.key, qtype))
    if got is None or got[0] <= now:
        return None
    entry = got[1]
    if entry.security != Security.SECURE or entry.rank < Rank.ANSWER or entry.zone is None \
            or (zone is not None and entry.zone.key != zone.key):
        return None
    return entry


def _expand(name: Name, entry: Entry, zone: Name, ce: Name, proof: RRset,
            proof_expires: float, now: float) -> WildcardAnswer | None:
    kept = entry.rrset
    sigs = [s for s in kept.sigs if len(s) > 3 and s[3] == len(ce)]
    if not sigs or not all(_signed_by(s, zone) for s in sigs):
        return None
    ttl = int(min(entry.expires, proof_expires) - now)
    if ttl <= 0:
        return None
    expanded = RRset(name, kept.rtype, kept.rclass, min(ttl, kept.ttl), kept.rdatas, sigs)
    return WildcardAnswer(expanded, zone, [proof.with_ttl(min(ttl, proof.ttl))])


def _signed_by(sig: bytes, zone: Name) -> bool:
    try:
        value = rd.decode(RRType.RRSIG, sig)
    except rd.RdataError:
        return False
    assert isinstance(value, rd.RRSIG)
    return value.signer.key == zone.key
