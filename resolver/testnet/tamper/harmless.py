"""The harmless mutations: the reply still proves exactly the genuine data (an extra
RRSIG that cannot verify next to the valid one, a duplicated RRSIG, a TTL lowered or
raised, the records reordered, the owner name's case changed); the resolver must
answer with the genuine data, secure."""

from __future__ import annotations

import random

from ...wire.message import Message
from ...wire.name import Name
from .records import (
    UNKNOWN_ALGORITHMS,
    _pick,
    _replace,
    _resign,
    _sig,
    _sig_group,
    _with,
    signed_groups,
)
from .registry import Context, _register


def _random_case(name: Name, rng: random.Random) -> Name:
    labels = []
    for label in name.labels:
        labels.append(bytes(c ^ 0x20 if (65 <= c <= 90 or 97 <= c <= 122) and rng.random() < 0.5
                            else c for c in label))
    return Name.from_labels(labels)


@_register(harmless=True)
def unknown_alg_sig_added(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """An extra RRSIG with an unknown algorithm next to the valid ones."""
    found = _sig_group(reply, rng)
    if found is None:
        return None
    group, sigs = found
    model = rng.choice(sigs)
    alg = rng.choice(UNKNOWN_ALGORITHMS)
    extra = _resign(model, algorithm=alg, signature=rng.randbytes(len(_sig(model).signature)))
    new = [*sigs, extra] if rng.random() < 0.5 else [extra, *sigs]
    _replace(reply, group.section, sigs, new)
    return f"{group.label()}: extra RRSIG with algorithm {alg}"


@_register(harmless=True)
def bad_sig_added(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """An extra RRSIG by the same key that does not verify, next to the valid one."""
    found = _sig_group(reply, rng)
    if found is None:
        return None
    group, sigs = found
    model = rng.choice(sigs)
    s = _sig(model).signature
    pos = rng.randrange(len(s))
    broken = s[:pos] + bytes((s[pos] ^ 0xFF,)) + s[pos + 1:]
    extra = _resign(model, signature=broken)
    new = [*sigs, extra] if rng.random() < 0.5 else [extra, *sigs]
    _replace(reply, group.section, sigs, new)
    return f"{group.label()}: extra RRSIG (tag {_sig(model).key_tag}) that does not verify"


@_register(harmless=True)
def sig_duplicated(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """A valid RRSIG sent twice."""
    found = _sig_group(reply, rng)
    if found is None:
        return None
    group, sigs = found
    twin = rng.choice(sigs)
    _replace(reply, group.section, sigs, [*sigs, _with(twin)])
    return f"{group.label()}: RRSIG duplicated"


@_register(harmless=True)
def ttl_lowered(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """The TTL of a signed RRset lowered (all its records, not below 1)."""
    choices = [g for g in signed_groups(reply) if min(rr.ttl for rr in g.data(reply)) > 1]
    group = _pick(rng, choices)
    if group is None:
        return None
    data, sigs = group.data(reply), group.sigs(reply)
    ttl = rng.randrange(1, min(rr.ttl for rr in data))
    with_sigs = rng.random() < 0.5
    new = [_with(rr, ttl=ttl) for rr in data]
    new_sigs = [_with(rr, ttl=ttl) for rr in sigs] if with_sigs else sigs
    _replace(reply, group.section, data + sigs, new + new_sigs)
    return f"{group.label()}: TTL -> {ttl}{' (RRSIGs too)' if with_sigs else ''}"


@_register(harmless=True)
def ttl_raised(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """The TTL of a signed RRset raised above the RRSIG's original TTL (a validator
    caps it, RFC 4035 s5.3.3)."""
    group = _pick(rng, signed_groups(reply))
    if group is None:
        return None
    data = group.data(reply)
    ttl = max(rr.ttl for rr in data) * rng.choice((2, 10, 100)) + rng.randrange(1, 1000)
    ttl = min(ttl, 0x7FFFFFFF)
    _replace(reply, group.section, data, [_with(rr, ttl=ttl) for rr in data])
    return f"{group.label()}: TTL -> {ttl}"


@_register(harmless=True)
def rrset_reordered(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """The records and RRSIGs of a signed RRset reordered (RRSIGs first)."""
    group = _pick(rng, signed_groups(reply))
    if group is None:
        return None
    data, sigs = group.data(reply), group.sigs(reply)
    new_data, new_sigs = list(data), list(sigs)
    rng.shuffle(new_data)
    rng.shuffle(new_sigs)
    _replace(reply, group.section, data + sigs, new_sigs + new_data)
    return f"{group.label()}: reordered, RRSIGs first"


@_register(harmless=True)
def owner_case_changed(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """The letter case of a signed RRset's owner name changed (RFC 4343)."""
    choices = [g for g in signed_groups(reply) if any(chr(c).isalpha() for c in g.owner.wire)]
    group = _pick(rng, choices)
    if group is None:
        return None
    for _ in range(8):
        name = _random_case(group.owner, rng)
        if name.wire != group.owner.wire:
            break
    else:
        return None
    data, sigs = group.data(reply), group.sigs(reply)
    _replace(reply, group.section, data + sigs, [_with(rr, name=name) for rr in data + sigs])
    return f"{group.label()}: owner written {name}"
