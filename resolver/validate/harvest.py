"""DS denials found on the way: the NSEC or NSEC3 records of a CNAME response that
show a delegation between the answering zone and the CNAME's target without DS (NS
bit, no SOA or DS bit). The iterator keeps each such record as that delegation's DS
denial, like the proofs of a referral, and the key finder may use it, once verified,
instead of asking for the DS (Unbound does the same; its replay val_cnametooptin
depends on it).

This is DNSSEC work (reading type bitmaps, hashing names for NSEC3), so it lives here
and not in the iterator, which knows nothing about DNSSEC: the service hands
:func:`delegation_denials` to the iterator when it composes the two
(``Iterator.ds_denials``). Nothing here is verified: the key finder checks the
record's signature before it relies on it.
"""

from __future__ import annotations

from ..config import ValidationLimits
from ..dnssec.budget import Budget
from ..dnssec.nsec3 import HashBudgetExceeded, hashed_owner, nsec3_hash
from ..wire import rdata as rd
from ..wire.name import Name
from ..wire.rrset import RRset
from ..wire.types import RRType


def delegation_denials(proofs: list[RRset], zone: Name, target: Name,
                       limits: ValidationLimits) -> list[tuple[Name, RRset]]:
    """The (delegation, NSEC or NSEC3 RRset) pairs among *proofs* (from a CNAME
    response of *zone* whose chain ends at *target*) that deny the DS of a delegation
    on the way to *target*. NSEC3 hashing takes from a budget of its own, as one
    validation would have; running out of it ends the search (with what was found)."""
    found: list[tuple[Name, RRset]] = []
    hashes: dict[tuple[bytes, int, bytes], bytes] = {}
    budget = Budget(limits)
    for proof in proofs:
        if not proof.rdatas or not proof.name.is_strict_subdomain(zone):
            continue
        if proof.rtype == RRType.NSEC:
            if not target.is_subdomain(proof.name):
                continue
            delegation: Name | None = proof.name
            types = _nsec_types(proof.rdatas[0])
        elif proof.rtype == RRType.NSEC3:
            try:
                delegation, types = _nsec3_delegation(proof, zone, target, hashes, budget,
                                                      limits)
            except HashBudgetExceeded:
                return found
        else:
            continue
        if delegation is not None and types is not None and RRType.NS in types \
                and not {RRType.SOA, RRType.DS} & types:
            found.append((delegation, proof))
    return found


def _nsec_types(data: bytes) -> frozenset[int] | None:
    try:
        value = rd.decode(RRType.NSEC, data)
    except rd.RdataError:
        return None
    assert isinstance(value, rd.NSEC)
    return frozenset(value.types)


def _nsec3_delegation(proof: RRset, zone: Name, target: Name,
                      hashes: dict[tuple[bytes, int, bytes], bytes], budget: Budget,
                      limits: ValidationLimits
                      ) -> tuple[Name | None, frozenset[int] | None]:
    """The name between *zone* and *target* whose hash the NSEC3 *proof* owns, with
    the NSEC3's types. Hashes only names on that path, and only for parameters the
    validator would accept (RFC 9276), each hash taken from *budget* (the NSEC3 hash
    budget of one query), so a response cannot buy much hashing."""
    owner_hash = hashed_owner(proof.name, zone)
    if owner_hash is None:
        return None, None
    try:
        value = rd.decode(RRType.NSEC3, proof.rdatas[0])
    except rd.RdataError:
        return None, None
    assert isinstance(value, rd.NSEC3)
    if value.algorithm != 1 or value.iterations > limits.nsec3_iterations:
        return None, None
    for depth in range(len(zone) + 1, len(target) + 1):
        name = target.ancestor(depth)
        key = (name.key, value.iterations, value.salt)
        hashed = hashes.get(key)
        if hashed is None:
            hashed = hashes[key] = nsec3_hash(name, value.salt, value.iterations, budget)
        if hashed == owner_hash:
            return name, frozenset(value.types)
    return None, None
