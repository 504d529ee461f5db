"""Mutations of the rcode and the shape of the answer: NOERROR and NXDOMAIN swapped,
a positive answer turned into NODATA, the answer section emptied."""

from __future__ import annotations

import random

from ...wire.message import RR, Message
from ...wire.types import Rcode, RRType
from .records import DENIAL, _rrs_of
from .registry import Context, _register


def _soa(ctx: Context) -> tuple[list[RR], list[RR]]:
    for rs in ctx.of_type(RRType.SOA):
        return _rrs_of(rs)
    return [], []


def _forged_denial(reply: Message, rng: random.Random, ctx: Context) -> str:
    """Authority: the zone's SOA and the NSEC/NSEC3 an attacker would pick: those
    nearest the question's name (their bitmaps show what is there), or random ones,
    or none."""
    soa, sigs = _soa(ctx)
    reply.answer = []
    reply.authority = [*soa, *sigs]
    reply.additional = []
    kind = rng.choice(["nearest", "random", "none"])
    proof: list[RR] = []
    if kind == "nearest" and reply.question:
        proof = ctx.denial_at(reply.question[0].name)
    elif kind == "random" and ctx.denials():
        pool = ctx.denials()
        for rs in rng.sample(pool, min(len(pool), rng.randrange(1, 4))):
            data, dsigs = _rrs_of(rs)
            proof += data + dsigs
    reply.authority += proof
    names = sorted({str(rr.name) for rr in proof if rr.rtype in DENIAL})
    return f"SOA and {'NSEC/NSEC3 of ' + ', '.join(names) if names else 'no proof'}"


@_register()
def rcode_nxdomain(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """NXDOMAIN instead of NOERROR: with the sections kept, or the answer replaced by
    the zone's SOA and genuine NSEC/NSEC3 records (those nearest the name, or any)."""
    if reply.rcode != Rcode.NOERROR:
        return None
    reply.set_rcode(Rcode.NXDOMAIN)
    if rng.random() < 0.3:
        return "rcode NOERROR -> NXDOMAIN, sections kept"
    return f"rcode NOERROR -> NXDOMAIN with {_forged_denial(reply, rng, ctx)}"


@_register()
def rcode_noerror(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """NOERROR instead of NXDOMAIN, the proofs kept (a NODATA claim)."""
    if reply.rcode != Rcode.NXDOMAIN:
        return None
    reply.set_rcode(Rcode.NOERROR)
    return "rcode NXDOMAIN -> NOERROR"


@_register()
def nodata_forged(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """A positive answer turned into NODATA: the answer replaced by the zone's SOA and
    genuine NSEC/NSEC3 records (those nearest the name, or any), or no proof."""
    if not reply.answer or reply.rcode != Rcode.NOERROR:
        return None
    return f"answer removed; {_forged_denial(reply, rng, ctx)}"


@_register()
def answer_emptied(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """The answer section removed, nothing else changed."""
    if not reply.answer:
        return None
    reply.answer = []
    return "answer section removed"
