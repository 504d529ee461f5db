"""Mutations of the records a delegation stands on: the DS records (referrals and
DS answers, on the parent's server) and the DNSKEY records (the zone's key set)."""

from __future__ import annotations

import dataclasses
import random

from ...dnssec.keys import key_tag
from ...wire import rdata as rd
from ...wire.message import RR, Message
from ...wire.rrset import RRset
from ...wire.types import RRType
from .rcodes import _soa
from .records import (
    DENIAL,
    UNKNOWN_ALGORITHMS,
    Group,
    _remove,
    _replace,
    _resign,
    _rrs_of,
    _valid,
    _with,
    covered,
    forged_rdata,
    groups,
)
from .registry import Context, _register

# --------------------------------------------------------------------------
# DS records (referrals and DS answers, on the parent's server)

def _ds_groups(reply: Message) -> list[Group]:
    return groups(reply, frozenset({RRType.DS}))


@_register()
def ds_stripped(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """The DS RRset and its RRSIGs removed."""
    found = _ds_groups(reply)
    if not found:
        return None
    keys = {g.owner.key for g in found}
    _remove(reply, lambda rr: rr.name.key in keys and (rr.rtype == RRType.DS
                                                       or covered(rr) == RRType.DS))
    return f"DS of {', '.join(str(g.owner) for g in found)} removed"


@_register()
def ds_forged(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """The DS records replaced by made-up ones (another digest), the RRSIGs kept or
    made to claim an unknown algorithm."""
    found = _ds_groups(reply)
    if not found:
        return None
    group = rng.choice(found)
    alg = rng.choice((None, *UNKNOWN_ALGORITHMS))
    return forge_ds(reply, group, rng, alg)


def forge_ds(reply: Message, group: Group, rng: random.Random, sig_algorithm: int | None) -> str:
    data = group.data(reply)
    new = []
    for rr in data:
        forged = forged_rdata(RRType.DS, rr.rdata, rng)
        new.append(_with(rr, rdata=forged) if forged is not None else rr)
    _replace(reply, group.section, data, new)
    if sig_algorithm is None:
        return f"{group.label()}: forged digest"
    sigs = group.sigs(reply)
    _replace(reply, group.section, sigs, [_resign(rr, algorithm=sig_algorithm) for rr in sigs])
    return f"{group.label()}: forged digest, RRSIGs claim algorithm {sig_algorithm}"


@_register()
def ds_fields(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """A DS record names another key algorithm (unknown, deprecated), digest type or
    key tag, its RRSIG kept."""
    found = _ds_groups(reply)
    if not found:
        return None
    group = rng.choice(found)
    rr = rng.choice(group.data(reply))
    view = rr.data()
    assert isinstance(view, rd.DS)
    kind = rng.choice(["algorithm", "digest-type", "key-tag"])
    if kind == "algorithm":
        new = dataclasses.replace(view, algorithm=rng.choice(
            [a for a in (1, 3, 5, 7, 8, 13, 15, 100, 253, 254) if a != view.algorithm]))
    elif kind == "digest-type":
        new = dataclasses.replace(view, digest_type=rng.choice(
            [t for t in (3, 5, 100, 200) if t != view.digest_type]))
    else:
        new = dataclasses.replace(view, key_tag=(view.key_tag + 1) & 0xFFFF)
    data = new.to_wire()
    if data == rr.rdata or not _valid(RRType.DS, data):
        return None
    _replace(reply, group.section, [rr], [_with(rr, rdata=data)])
    return f"{group.label()}: {rd.to_text(RRType.DS, data)[:30]} ({kind})"


@_register()
def ds_denied(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """The DS RRset removed and genuine NSEC/NSEC3 records of the parent (an
    insecure delegation's, or any) added as if they proved there is no DS."""
    found = _ds_groups(reply)
    pool = ctx.denials()
    if not found or not pool:
        return None
    child = rng.choice(found).owner
    ds_stripped(reply, rng, ctx)
    kind = rng.choice(["own", "unsigned", "any"])
    # the zone's own NSEC/NSEC3 at the child (its bitmap shows the DS), the real "no
    # DS" proof of an insecure delegation, or any NSEC/NSEC3 of the zone
    unsigned = [rs for rs in pool if RRType.NS in _types(rs) and RRType.DS not in _types(rs)]
    proof = ctx.denial_at(child) if kind == "own" else []
    if not proof:
        rs = rng.choice(unsigned) if unsigned and kind == "unsigned" else rng.choice(pool)
        data, sigs = _rrs_of(rs)
        proof = data + sigs
    reply.authority = [*reply.authority, *proof]
    if reply.question and reply.question[0].qtype == RRType.DS:
        soa, soa_sigs = _soa(ctx)
        reply.authority = [*soa, *soa_sigs, *reply.authority]
    names = sorted({str(rr.name) for rr in proof if rr.rtype in DENIAL})
    return f"DS of {child} removed; NSEC/NSEC3 of {', '.join(names)} added"


def _types(rs: RRset) -> frozenset[int]:
    try:
        view = rd.decode(rs.rtype, rs.rdatas[0])
    except rd.RdataError:
        return frozenset()
    types: frozenset[int] = getattr(view, "types", frozenset())
    return types


# --------------------------------------------------------------------------
# DNSKEY records (the zone's key set)

@_register()
def dnskey_fields(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """A DNSKEY names another algorithm, or its flags change (revoked, no SEP, not a
    zone key), its RRSIG kept; or every key and RRSIG claims an unknown algorithm."""
    found = groups(reply, frozenset({RRType.DNSKEY}))
    if not found:
        return None
    group = rng.choice(found)
    data = group.data(reply)
    kind = rng.choice(["algorithm", "revoke", "sep", "zone", "all-unknown"])
    if kind == "all-unknown":
        alg = rng.choice(UNKNOWN_ALGORITHMS)
        keys = [_with(rr, rdata=_rekey(rr, algorithm=alg)) for rr in data]
        _replace(reply, group.section, data, keys)
        sigs = group.sigs(reply)
        _replace(reply, group.section, sigs, [_resign(rr, algorithm=alg) for rr in sigs])
        return f"{group.label()}: every key and RRSIG claims algorithm {alg}"
    rr = rng.choice(data)
    view = rr.data()
    assert isinstance(view, rd.DNSKEY)
    if kind == "algorithm":
        new = _rekey(rr, algorithm=rng.choice(
            [a for a in (1, 5, 8, 13, 14, 15, 16, 100, 253) if a != view.algorithm]))
    elif kind == "revoke":
        new = _rekey(rr, flags=view.flags ^ rd.DNSKEY.REVOKE)
    elif kind == "sep":
        new = _rekey(rr, flags=view.flags ^ rd.DNSKEY.SEP)
    else:
        new = _rekey(rr, flags=view.flags ^ rd.DNSKEY.ZONE)
    if new == rr.rdata:
        return None
    _replace(reply, group.section, [rr], [_with(rr, rdata=new)])
    return f"{group.label()}: key {key_tag(rr.rdata)} {kind} " \
           f"-> {rd.to_text(RRType.DNSKEY, new)[:14]}"


def _rekey(rr: RR, **changes: object) -> bytes:
    view = rr.data()
    assert isinstance(view, rd.DNSKEY)
    return dataclasses.replace(view, **changes).to_wire()  # type: ignore[arg-type]
