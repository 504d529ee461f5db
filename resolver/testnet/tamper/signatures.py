"""Mutations of the RRSIGs: one field of an RRset's RRSIGs changed (algorithm, key
tag, labels, signer, type covered, validity, original TTL, signature bytes), RRSIGs
removed, swapped for another RRset's or moved to another section."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from ...wire.message import RR, Message
from ...wire.name import ROOT
from ...wire.types import RRType, type_to_text
from .records import (
    NSEC,
    NSEC3,
    RRSIG,
    UNKNOWN_ALGORITHMS,
    Group,
    _claim_everywhere,
    _remove,
    _replace,
    _resign,
    _rrs_of,
    _section,
    _sig,
    _sig_group,
    _valid,
)
from .registry import Context, _register

# algorithms an RRSIG may be made to claim: unknown, private, deprecated, other known
CLAIMED_ALGORITHMS = (0, 1, 3, 5, 6, 7, 8, 10, 12, 13, 14, 15, 16, 17, 100, 200, 252, 253,
                      254, 255)


def _change_sigs(reply: Message, group: Group, sigs: list[RR],
                 change: Callable[[RR], RR | None]) -> bool:
    """Replace every RRSIG of *group* by change(rrsig); False if none changed."""
    new = []
    changed = False
    for rr in sigs:
        out = change(rr)
        if out is not None and out.rdata != rr.rdata and _valid(RRSIG, out.rdata):
            new.append(out)
            changed = True
        else:
            new.append(rr)
    if changed:
        _replace(reply, group.section, sigs, new)
    return changed


@_register()
def sig_algorithm(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """The RRSIGs of an RRset claim another algorithm (253, 100, 8, ...)."""
    found = _sig_group(reply, rng)
    if found is None:
        return None
    group, sigs = found
    alg = rng.choice([a for a in CLAIMED_ALGORITHMS if a != _sig(sigs[0]).algorithm])
    if not _change_sigs(reply, group, sigs, lambda rr: _resign(rr, algorithm=alg)):
        return None
    return f"{group.label()}: RRSIG algorithm -> {alg}"


@_register()
def sig_key_tag(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """The RRSIGs of an RRset name another key tag."""
    found = _sig_group(reply, rng)
    if found is None:
        return None
    group, sigs = found
    old = _sig(sigs[0]).key_tag
    tags = [t for t in ctx.key_tags() if t != old]
    tag = rng.choice(tags) if tags and rng.random() < 0.5 \
        else (old + rng.randrange(1, 0x10000)) & 0xFFFF
    if not _change_sigs(reply, group, sigs, lambda rr: _resign(rr, key_tag=tag)):
        return None
    return f"{group.label()}: RRSIG key tag {old} -> {tag}"


@_register()
def sig_labels(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """The RRSIGs of an RRset claim another label count (a wildcard, too many)."""
    found = _sig_group(reply, rng)
    if found is None:
        return None
    group, sigs = found
    old = _sig(sigs[0]).labels
    owner_labels = len(group.owner.labels)
    value = rng.choice([v for v in {0, old - 1, old + 1, owner_labels + 1, 127, 255}
                        if 0 <= v <= 255 and v != old])
    if not _change_sigs(reply, group, sigs, lambda rr: _resign(rr, labels=value)):
        return None
    return f"{group.label()}: RRSIG labels {old} -> {value}"


@_register()
def sig_signer(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """The RRSIGs of an RRset name another signer (the parent, the root, another
    zone, a name below the zone)."""
    found = _sig_group(reply, rng)
    if found is None:
        return None
    group, sigs = found
    old = _sig(sigs[0]).signer
    options = [ROOT, group.owner, old.prepend(b"sub"), *ctx.zones]
    if not old.is_root():
        options.append(old.parent())
    options = [n for n in options if n.key != old.key]
    signer = rng.choice(options)
    if not _change_sigs(reply, group, sigs, lambda rr: _resign(rr, signer=signer)):
        return None
    return f"{group.label()}: RRSIG signer {old} -> {signer}"


@_register()
def sig_type_covered(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """The RRSIGs of an RRset claim to cover another type."""
    found = _sig_group(reply, rng)
    if found is None:
        return None
    group, sigs = found
    options = [t for t in (RRType.A, RRType.AAAA, RRType.TXT, RRType.NS, RRType.SOA, RRType.DS,
                           RRType.DNSKEY, NSEC, NSEC3, RRType.CNAME, RRType.TLSA, 65280)
               if t != group.rtype]
    rtype = rng.choice(options)
    if not _change_sigs(reply, group, sigs, lambda rr: _resign(rr, type_covered=rtype)):
        return None
    return f"{group.label()}: RRSIG type covered -> {type_to_text(rtype)}"


@_register()
def sig_validity(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """The RRSIGs of an RRset get another inception/expiration (expired, not yet
    valid, reversed, stretched)."""
    found = _sig_group(reply, rng)
    if found is None:
        return None
    group, sigs = found
    now = int(time.time())
    day = 86400
    kind = rng.choice(["expired", "not-yet-valid", "reversed", "stretched", "inception+1"])

    def change(rr: RR) -> RR:
        sig = _sig(rr)
        if kind == "expired":
            return _resign(rr, inception=now - 30 * day, expiration=now - day)
        if kind == "not-yet-valid":
            return _resign(rr, inception=now + day, expiration=now + 30 * day)
        if kind == "reversed":
            return _resign(rr, inception=sig.expiration, expiration=sig.inception)
        if kind == "stretched":
            return _resign(rr, inception=now - 365 * day, expiration=now + 3650 * day)
        return _resign(rr, inception=(sig.inception + 1) & 0xFFFFFFFF)

    if not _change_sigs(reply, group, sigs, change):
        return None
    return f"{group.label()}: RRSIG validity {kind}"


@_register()
def sig_original_ttl(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """The RRSIGs of an RRset claim another original TTL."""
    found = _sig_group(reply, rng)
    if found is None:
        return None
    group, sigs = found
    old = _sig(sigs[0]).original_ttl
    value = rng.choice([v for v in (0, 1, old // 2, old + 1, 2 * old, 0x7FFFFFFF) if v != old])
    if not _change_sigs(reply, group, sigs, lambda rr: _resign(rr, original_ttl=value)):
        return None
    return f"{group.label()}: RRSIG original TTL {old} -> {value}"


@_register()
def sig_bytes(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """The signature bytes of an RRset's RRSIGs changed (a bit, cut, lengthened,
    zeroed, random)."""
    found = _sig_group(reply, rng)
    if found is None:
        return None
    group, sigs = found
    kind = rng.choice(["flip", "cut", "longer", "zero", "random", "one-byte"])

    def change(rr: RR) -> RR:
        s = _sig(rr).signature
        if kind == "flip":
            pos = rng.randrange(len(s))
            s = s[:pos] + bytes((s[pos] ^ (1 << rng.randrange(8)),)) + s[pos + 1:]
        elif kind == "cut":
            s = s[:rng.randrange(1, len(s))]
        elif kind == "longer":
            s = s + rng.randbytes(rng.randrange(1, 16))
        elif kind == "zero":
            s = bytes(len(s))
        elif kind == "random":
            s = rng.randbytes(len(s))
        else:
            s = bytes((rng.randrange(256),))
        return _resign(rr, signature=s)

    if not _change_sigs(reply, group, sigs, change):
        return None
    return f"{group.label()}: RRSIG signature {kind}"


@_register()
def sigs_dropped(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """The RRSIGs of one RRset removed."""
    found = _sig_group(reply, rng)
    if found is None:
        return None
    group, sigs = found
    _replace(reply, group.section, sigs, [])
    return f"{group.label()}: {len(sigs)} RRSIG(s) removed"


@_register()
def all_sigs_dropped(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """Every RRSIG of the reply removed."""
    count = _remove(reply, lambda rr: rr.rtype == RRSIG)
    return f"all {count} RRSIGs removed" if count else None


@_register()
def all_sigs_algorithm(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """Every RRSIG of the reply claims the same other algorithm."""
    return _claim_everywhere(reply, rng.choice((*UNKNOWN_ALGORITHMS, 1, 5, 8, 14, 15, 16)), None)


@_register()
def sig_swapped(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """The RRSIGs of an RRset replaced by the RRSIGs of another RRset, renamed."""
    found = _sig_group(reply, rng)
    if found is None:
        return None
    group, sigs = found
    same = ctx.of_type(group.rtype, other_than=group.owner)
    choices = same if same else [rs for rs in ctx.rrsets if rs.name.key != group.owner.key]
    if not choices:
        return None
    donor = rng.choice(choices)
    _, new = _rrs_of(donor, group.owner)
    _replace(reply, group.section, sigs, new)
    return f"{group.label()}: RRSIGs replaced by those of {donor.name} " \
           f"{type_to_text(donor.rtype)}"


@_register()
def sigs_moved(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """The RRSIGs of an RRset moved to another section."""
    found = _sig_group(reply, rng)
    if found is None:
        return None
    group, sigs = found
    target = rng.choice([s for s in ("answer", "authority", "additional") if s != group.section])
    _replace(reply, group.section, sigs, [])
    setattr(reply, target, _section(reply, target) + sigs)
    return f"{group.label()}: RRSIGs moved to {target}"
