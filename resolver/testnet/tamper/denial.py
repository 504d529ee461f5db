"""Mutations of the NSEC and NSEC3 records (negative and wildcard answers, insecure
delegations): removed, their RRSIGs removed or claiming an unknown algorithm, a field
altered, replaced by or completed with other genuine ones of the zone."""

from __future__ import annotations

import dataclasses
import random

from ...wire import rdata as rd
from ...wire.message import Message
from ...wire.types import RRType
from .records import (
    DENIAL,
    NSEC,
    RRSIG,
    UNKNOWN_ALGORITHMS,
    _claim_everywhere,
    _remove,
    _replace,
    _rrs_of,
    _valid,
    _with,
    covered,
    groups,
)
from .registry import Context, _register


@_register()
def denial_dropped(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """One or all NSEC/NSEC3 RRsets removed (with their RRSIGs)."""
    found = groups(reply, DENIAL)
    if not found:
        return None
    drop = found if rng.random() < 0.5 else [rng.choice(found)]
    keys = {(g.owner.key, g.rtype) for g in drop}
    _remove(reply, lambda rr: (rr.name.key, rr.rtype) in keys
            or (rr.name.key, covered(rr)) in keys)
    return f"{len(drop)} of {len(found)} NSEC/NSEC3 RRsets removed"


@_register()
def denial_sigs_dropped(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """The RRSIGs of the NSEC/NSEC3 records removed."""
    count = _remove(reply, lambda rr: covered(rr) in DENIAL)
    return f"{count} NSEC/NSEC3 RRSIGs removed" if count else None


@_register()
def denial_sigs_algorithm(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """The RRSIGs of the NSEC/NSEC3 records claim an unknown algorithm."""
    return _claim_everywhere(reply, rng.choice(UNKNOWN_ALGORITHMS), DENIAL)


@_register()
def denial_altered(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """A field of an NSEC/NSEC3 record changed (next name, type bitmap, NSEC3 flags,
    iterations, salt, hash algorithm), its RRSIG kept."""
    found = groups(reply, DENIAL)
    if not found:
        return None
    group = rng.choice(found)
    rr = rng.choice(group.data(reply))
    view = rr.data()
    qtype = reply.question[0].qtype if reply.question else RRType.A
    new: rd.Rdata
    if isinstance(view, rd.NSEC):
        kind = rng.choice(["next-apex", "next-later", "add-qtype", "drop-types", "empty-types"])
        if kind == "next-apex":
            new = dataclasses.replace(view, next=ctx.zone)
        elif kind == "next-later":
            new = dataclasses.replace(view, next=view.next.prepend(b"zzzz"))
        elif kind == "add-qtype":
            new = dataclasses.replace(view, types=view.types | {qtype})
        elif kind == "drop-types":
            new = dataclasses.replace(view, types=frozenset({RRSIG, NSEC}))
        else:
            new = dataclasses.replace(view, types=frozenset())
    elif isinstance(view, rd.NSEC3):
        kind = rng.choice(["opt-out", "iterations", "salt", "hash-alg", "next-max", "next-byte",
                           "add-qtype", "empty-types"])
        if kind == "opt-out":
            new = dataclasses.replace(view, flags=view.flags ^ 1)
        elif kind == "iterations":
            new = dataclasses.replace(view, iterations=view.iterations + rng.choice((1, 10, 500)))
        elif kind == "salt":
            new = dataclasses.replace(view, salt=rng.randbytes(rng.randrange(1, 9)))
        elif kind == "hash-alg":
            new = dataclasses.replace(view, algorithm=rng.choice((0, 2, 255)))
        elif kind == "next-max":
            new = dataclasses.replace(view, next=b"\xff" * len(view.next))
        elif kind == "next-byte":
            pos = rng.randrange(len(view.next))
            nxt = view.next[:pos] + bytes((view.next[pos] ^ 0x01,)) + view.next[pos + 1:]
            new = dataclasses.replace(view, next=nxt)
        elif kind == "add-qtype":
            new = dataclasses.replace(view, types=view.types | {qtype})
        else:
            new = dataclasses.replace(view, types=frozenset())
    else:
        return None
    data = new.to_wire()
    if data == rr.rdata or not _valid(rr.rtype, data):
        return None
    _replace(reply, group.section, [rr], [_with(rr, rdata=data)])
    return f"{group.label()}: {kind}"


@_register()
def denial_replayed(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """The NSEC/NSEC3 RRsets replaced by other genuine ones of the zone."""
    found = groups(reply, DENIAL)
    pool = ctx.denials()
    if not found or not pool:
        return None
    keys = {(g.owner.key, g.rtype) for g in found}
    others = [rs for rs in pool if (rs.name.key, rs.rtype) not in keys]
    if not others:
        return None
    picked = rng.sample(others, min(len(others), rng.randrange(1, len(found) + 2)))
    _remove(reply, lambda rr: (rr.name.key, rr.rtype) in keys
            or (rr.name.key, covered(rr)) in keys)
    for rs in picked:
        data, sigs = _rrs_of(rs)
        reply.authority = [*reply.authority, *data, *sigs]
    return f"NSEC/NSEC3 replaced by those of {', '.join(str(rs.name) for rs in picked)}"


@_register()
def denial_added(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """Genuine NSEC/NSEC3 RRsets of the zone added to the authority section."""
    pool = ctx.denials()
    if not pool:
        return None
    present = {(rr.name.key, rr.rtype) for rr in reply.authority}
    others = [rs for rs in pool if (rs.name.key, rs.rtype) not in present]
    if not others:
        return None
    picked = rng.sample(others, min(len(others), rng.randrange(1, 3)))
    for rs in picked:
        data, sigs = _rrs_of(rs)
        reply.authority = [*reply.authority, *data, *sigs]
    return f"NSEC/NSEC3 of {', '.join(str(rs.name) for rs in picked)} added"
