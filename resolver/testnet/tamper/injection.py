"""Mutations that put data the zone did not give for the question into the reply:
an unsigned record, a forged referral, an injected CNAME or DNAME, poisoned
addresses, another zone's signed RRsets or NSEC/NSEC3, a signed RRset of another
name; the AA bit flipped; a faked insecure delegation below the zone."""

from __future__ import annotations

import random

from ...wire import rdata as rd
from ...wire.message import RR, Message
from ...wire.name import Name
from ...wire.types import AA, Rcode, RRType, type_to_text
from .records import (
    DENIAL,
    RRSIG,
    _remove,
    _replace,
    _rrs_of,
    _with_donors,
    covered,
    forged_rdata,
    groups,
)
from .registry import Context, _register


@_register()
def unsigned_added(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """An unsigned record for the question added to the answer section."""
    if not reply.question:
        return None
    q = reply.question[0]
    present = {rr.rtype for rr in reply.answer if rr.name.key == q.name.key}
    rtype: int
    like: bytes
    if q.qtype in present or q.qtype in (RRType.ANY, RRSIG):
        rtype, like = RRType.TXT, b"\x01x"
    else:
        rtype = q.qtype
        examples = ctx.of_type(rtype)
        if examples:
            like = examples[0].rdatas[0]
        elif rtype == RRType.A:
            like = bytes(4)
        elif rtype == RRType.AAAA:
            like = bytes(16)
        else:
            rtype, like = RRType.TXT, b"\x01x"
    new = forged_rdata(rtype, like, rng)
    if new is None:
        return None
    reply.answer = [*reply.answer, RR(q.name, rtype, 1, 300, new)]
    return f"unsigned {q.name} {type_to_text(rtype)} {rd.to_text(rtype, new)[:40]} added"


@_register()
def referral_forged(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """Unsigned NS records and glue for the question's zone added (another server)."""
    if not reply.question:
        return None
    owner = reply.question[0].name
    delegated = next((rr.name for rr in reply.authority if rr.rtype == RRType.NS), None)
    if delegated is not None:
        owner = delegated
    elif owner.key != ctx.zone.key and rng.random() < 0.5:
        owner = ctx.zone
    ns = owner.prepend(b"ns-evil")
    reply.authority = [*reply.authority, RR(owner, RRType.NS, 1, 86400, ns.wire)]
    reply.additional = [*reply.additional, RR(ns, RRType.A, 1, 86400, bytes((127, 0, 0, 24)))]
    return f"NS {ns} for {owner} with glue 127.0.0.24 added"


@_register()
def cname_injected(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """The answer replaced by a CNAME: unsigned, to another name of the zone with that
    name's genuine data, or to an insecure name; or a genuine signed CNAME of another
    name, renamed (the resolver then follows it)."""
    if not reply.question or reply.question[0].qtype == RRType.CNAME:
        return None
    q = reply.question[0]
    cnames = ctx.of_type(RRType.CNAME, other_than=q.name)
    choices = ctx.of_type(q.qtype, other_than=q.name)
    kind = rng.choice(["to-insecure", *(["renamed"] if cnames else []),
                       *(["in-zone"] if choices else [])])
    if kind == "renamed":
        donor = rng.choice(cnames)
        data, sigs = _rrs_of(donor, q.name)
        reply.answer = [*data, *sigs]
        reply.authority, reply.additional = [], []
        reply.set_rcode(Rcode.NOERROR)
        return f"the signed CNAME of {donor.name} (-> {Name(donor.rdatas[0])}), renamed"
    if kind == "to-insecure":
        target = Name.from_text("www.insecure.example.")
        reply.answer = [RR(q.name, RRType.CNAME, 1, 300, target.wire)]
        reply.authority, reply.additional = [], []
        reply.set_rcode(Rcode.NOERROR)
        return f"unsigned CNAME {q.name} -> {target}"
    found = rng.choice(choices)
    data, sigs = _rrs_of(found)
    reply.answer = [RR(q.name, RRType.CNAME, 1, 300, found.name.wire), *data, *sigs]
    reply.set_rcode(Rcode.NOERROR)
    return f"unsigned CNAME {q.name} -> {found.name} with its signed data"


@_register()
def dname_injected(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """A DNAME at an ancestor of the question's name (unsigned, or the zone's genuine
    signed DNAME renamed) with the CNAME it synthesizes, to an insecure or another
    secure zone; the resolver follows it."""
    if not reply.question:
        return None
    q = reply.question[0]
    if not q.name.is_strict_subdomain(ctx.zone):
        return None
    owners = []
    name = q.name.parent()
    while name.is_subdomain(ctx.zone):
        owners.append(name)
        if name.key == ctx.zone.key:
            break
        name = name.parent()
    owner = rng.choice(owners)
    dnames = ctx.of_type(RRType.DNAME, other_than=owner)
    if dnames and rng.random() < 0.5:
        donor = rng.choice(dnames)
        target = Name(donor.rdatas[0])
        data, sigs = _rrs_of(donor, owner)
        what = f"the signed DNAME of {donor.name} renamed to {owner}"
    else:
        target = Name.from_text(rng.choice(["insecure.example.", "nsec3.example."]))
        data, sigs = [RR(owner, RRType.DNAME, 1, 300, target.wire)], []
        what = f"unsigned DNAME {owner} -> {target}"
    relative = q.name.relativize_to(owner)
    try:
        synthesized = Name.from_labels([*relative, *target.labels])
    except ValueError:
        return None
    reply.answer = [*data, *sigs, RR(q.name, RRType.CNAME, 1, 300, synthesized.wire)]
    reply.authority, reply.additional = [], []
    reply.set_rcode(Rcode.NOERROR)
    return f"{what}, CNAME -> {synthesized}"


@_register()
def additional_poisoned(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """Forged unsigned addresses for the question's name and the zone's name servers
    added to the additional section."""
    if not reply.question:
        return None
    q = reply.question[0]
    names = [q.name, *(Name(rr.rdata) for rr in reply.authority if rr.rtype == RRType.NS)]
    names += [Name(d) for rs in ctx.of_type(RRType.NS) for d in rs.rdatas]
    extra = []
    for name in dict.fromkeys(names):
        extra.append(RR(name, RRType.A, 1, 86400, bytes((203, 0, 113, rng.randrange(1, 255)))))
        if rng.random() < 0.3:
            extra.append(RR(name, RRType.AAAA, 1, 86400,
                            bytes.fromhex("20010db8ffff") + rng.randbytes(10)))
    reply.additional = [*reply.additional, *extra]
    return f"{len(extra)} forged addresses added to the additional section"


@_register()
def foreign_rrset_swapped(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """A signed RRset replaced by a genuine signed RRset of another zone (an insecure
    zone's, say), renamed or not."""
    found = _with_donors(reply, rng, lambda g: [rs for rs in ctx.foreign if rs.rtype == g.rtype])
    if found is None:
        return None
    group, donor = found
    renamed = rng.random() < 0.7
    data, sigs = _rrs_of(donor, group.owner if renamed else None)
    _replace(reply, group.section, group.data(reply) + group.sigs(reply), data + sigs)
    return f"{group.label()}: replaced by the RRset of {donor.name}" \
           f"{' renamed' if renamed else ''} (signer {rd.rrsig_signer(donor.sigs[0])})"


@_register()
def foreign_denial(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """The NSEC/NSEC3 records replaced by (or completed with) genuine ones of another
    zone (iter200.example.'s 200-iteration NSEC3, an opt-out span, an insecure zone's),
    under their own owner names or moved into this zone."""
    pool = [rs for rs in ctx.foreign if rs.rtype in DENIAL]
    if not pool:
        return None
    found = groups(reply, DENIAL)
    if not found and reply.answer and reply.rcode == Rcode.NOERROR:
        return None        # a plain positive answer: nothing to prove
    keys = {(g.owner.key, g.rtype) for g in found}
    replace = rng.random() < 0.7
    if replace:
        _remove(reply, lambda rr: (rr.name.key, rr.rtype) in keys
                or (rr.name.key, covered(rr)) in keys)
    moved = rng.random() < 0.5
    picked = rng.sample(pool, min(len(pool), rng.randrange(1, 4)))
    for rs in picked:
        owner = Name.from_labels([rs.name.labels[0], *ctx.zone.labels]) \
            if moved and rs.name.labels else None
        data, sigs = _rrs_of(rs, owner)
        reply.authority = [*reply.authority, *data, *sigs]
    zones = sorted({str(rd.rrsig_signer(rs.sigs[0])) for rs in picked})
    return f"NSEC/NSEC3 {'replaced by' if replace else 'completed with'} those of " \
           f"{', '.join(zones)}{' moved into ' + str(ctx.zone) if moved else ''}"


@_register()
def signed_rrset_added(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """A genuine signed RRset of another name, or of another type at the question's
    name, added to the answer section."""
    if not reply.question:
        return None
    q = reply.question[0]
    present = {(rr.name.key, rr.rtype) for rr in reply.answer}
    choices = [rs for rs in ctx.rrsets if (rs.name.key, rs.rtype) not in present
               and rs.rtype not in DENIAL]
    same_name = [rs for rs in choices if rs.name.key == q.name.key]
    if same_name and rng.random() < 0.5:
        choices = same_name
    if not choices:
        return None
    rs = rng.choice(choices)
    data, sigs = _rrs_of(rs)
    reply.answer = [*reply.answer, *data, *sigs]
    return f"the signed {rs.name} {type_to_text(rs.rtype)} added to the answer"


@_register()
def aa_flipped(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """The AA bit flipped (an authoritative answer sent as non-authoritative, a
    referral sent as authoritative)."""
    reply.set_flag(AA, not reply.has(AA))
    return f"AA -> {int(reply.has(AA))}"


@_register()
def insecure_delegation_faked(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """A delegation without DS faked at the question's name or an ancestor below the
    zone: first a referral back to this server that carries the zone's own NSEC/NSEC3
    for that name as the "no DS" proof, then forged unsigned data for the question."""
    if not reply.question:
        return None
    q = reply.question[0]
    if not q.name.is_strict_subdomain(ctx.zone) or not ctx.address:
        return None
    if ctx.round == 0:
        cuts = [q.name]
        while len(cuts[-1].labels) > len(ctx.zone.labels) + 1:
            cuts.append(cuts[-1].parent())
        cut = rng.choice(cuts)
        proof = ctx.denial_at(cut)
        ns = cut.prepend(b"ns-child")
        glue = bytes(int(x) for x in ctx.address.split("."))
        reply.set_rcode(Rcode.NOERROR)
        reply.set_flag(AA, False)
        reply.answer = []
        reply.authority = [RR(cut, RRType.NS, 1, 3600, ns.wire), *proof]
        reply.additional = [RR(ns, RRType.A, 1, 3600, glue)]
        names = sorted({str(rr.name) for rr in proof if rr.rtype in DENIAL})
        return f"referral to {cut} without DS, 'proved' by {', '.join(names) or 'nothing'}"
    examples = [*ctx.of_type(q.qtype), *(rs for rs in ctx.foreign if rs.rtype == q.qtype)]
    rtype, like = (q.qtype, examples[0].rdatas[0]) if examples else (RRType.A, bytes(4))
    data = forged_rdata(rtype, like, rng)
    if data is None:
        return None
    reply.set_rcode(Rcode.NOERROR)
    reply.set_flag(AA, True)
    reply.answer = [RR(q.name, rtype, 1, 300, data)]
    reply.authority, reply.additional = [], []
    return f"forged unsigned {type_to_text(rtype)} {rd.to_text(rtype, data)} from the fake child"
