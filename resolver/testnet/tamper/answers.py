"""Mutations of the records themselves: a signed record's RDATA changed, a record
added to or dropped from a signed RRset, a signed RRset swapped for another name's
(renamed or replayed as it is)."""

from __future__ import annotations

import random

from ...wire import rdata as rd
from ...wire.message import Message
from .records import (
    _pick,
    _replace,
    _rrs_of,
    _valid,
    _with,
    _with_donors,
    forged_rdata,
    signed_groups,
)
from .registry import Context, _register


@_register()
def rdata_byte(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """One byte of the RDATA of a signed record changed."""
    group = _pick(rng, signed_groups(reply))
    if group is None:
        return None
    rr = rng.choice(group.data(reply))
    for _ in range(20):
        pos = rng.randrange(len(rr.rdata))
        new = rr.rdata[:pos] + bytes((rr.rdata[pos] ^ rng.randrange(1, 256),)) + rr.rdata[pos + 1:]
        if _valid(rr.rtype, new) and \
                rd.canonical(rr.rtype, new) != rd.canonical(rr.rtype, rr.rdata):
            _replace(reply, group.section, [rr], [_with(rr, rdata=new)])
            return f"{group.label()}: RDATA byte {pos} {rr.rdata[pos]:#04x} -> {new[pos]:#04x}"
    return None


@_register()
def rdata_replaced(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """The RDATA of a signed record replaced by other RDATA of its type."""
    group = _pick(rng, signed_groups(reply))
    if group is None:
        return None
    rr = rng.choice(group.data(reply))
    present = {rd.canonical(x.rtype, x.rdata) for x in group.data(reply)}
    choices = [d for rs in ctx.of_type(group.rtype) for d in rs.rdatas
               if rd.canonical(group.rtype, d) not in present]
    new = rng.choice(choices) if choices and rng.random() < 0.5 else \
        forged_rdata(rr.rtype, rr.rdata, rng)
    if new is None:
        return None
    _replace(reply, group.section, [rr], [_with(rr, rdata=new)])
    return f"{group.label()}: {rd.to_text(rr.rtype, rr.rdata)[:40]} -> " \
           f"{rd.to_text(rr.rtype, new)[:40]}"


@_register()
def record_added(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """A made-up record added to a signed RRset (its RRSIGs kept)."""
    group = _pick(rng, signed_groups(reply))
    if group is None:
        return None
    data = group.data(reply)
    new = forged_rdata(group.rtype, rng.choice(data).rdata, rng)
    if new is None:
        return None
    _replace(reply, group.section, data, [*data, _with(data[0], rdata=new)])
    return f"{group.label()}: + {rd.to_text(group.rtype, new)[:50]}"


@_register()
def record_dropped(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """One record removed from a signed RRset of several records."""
    choices = [g for g in signed_groups(reply) if len(g.data(reply)) > 1]
    group = _pick(rng, choices)
    if group is None:
        return None
    rr = rng.choice(group.data(reply))
    _replace(reply, group.section, [rr], [])
    return f"{group.label()}: - {rd.to_text(rr.rtype, rr.rdata)[:50]}"


@_register()
def rrset_swapped(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """A signed RRset replaced by the RRset (and RRSIGs) of another name, renamed."""
    found = _with_donors(reply, rng, lambda g: ctx.of_type(g.rtype, other_than=g.owner))
    if found is None:
        return None
    group, donor = found
    data, sigs = _rrs_of(donor, group.owner)
    _replace(reply, group.section, group.data(reply) + group.sigs(reply), data + sigs)
    return f"{group.label()}: replaced by the RRset of {donor.name}, renamed"


@_register()
def rrset_replayed(reply: Message, rng: random.Random, ctx: Context) -> str | None:
    """A signed RRset replaced by the genuine RRset of another name (same type)."""
    found = _with_donors(reply, rng, lambda g: ctx.of_type(g.rtype, other_than=g.owner))
    if found is None:
        return None
    group, donor = found
    data, sigs = _rrs_of(donor)
    _replace(reply, group.section, group.data(reply) + group.sigs(reply), data + sigs)
    return f"{group.label()}: replaced by the genuine RRset of {donor.name}"
