"""Forgeries an attacker on the path could make to a DNS reply (issue 13).

This is the mutation catalogue of the forgery fuzzer
(``tests/validation/test_forgery_fuzz.py``): the test network serves the signed
``zones/`` hierarchy, and for a question in a secure zone one server rewrites its
reply with one of the mutations below before sending it. A validating resolver must
then give either exactly the genuine data, validated (secure), or SERVFAIL: never
other data, and never "insecure".

A mutation is a small function ``(reply, rng, ctx) -> description | None``. It
changes *reply* (a :class:`~resolver.wire.message.Message` filled from the zone) in
place, drawing every choice from the seeded *rng*, and says in one line what it did;
it returns None, leaving the reply as it was, when it does not apply to this reply
(an NSEC mutation on a reply without NSEC records). The :class:`Context` holds the
zone the reply comes from: its signed RRsets, for replays ("swap in the RRset of
another name"), and its data, for the proofs an attacker would pick.

Each mutation is marked:

- meaning-changing (``harmless=False``): the reply no longer proves what the genuine
  one proved; the resolver must answer with the genuine data, secure, or SERVFAIL;
- harmless (``harmless=True``): the reply still proves exactly the genuine data (an
  extra RRSIG with an unknown algorithm next to the valid one, a TTL lowered, ...);
  the resolver must answer with the genuine data, secure.

:class:`Forgery` installs one mutation on the servers of one or more zones as
:attr:`Faults.rewrite <resolver.testnet.faults.Faults.rewrite>` (keeping the faults
those zones already had, and putting them back exactly afterwards) and records which
replies it changed. Mutations never change the zone's own records: the rewrite hands
them a reply whose records are copies.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..authority.lookup import lookup
from ..authority.zone import Zone
from ..dnssec.keys import key_tag
from ..dnssec.nsec3 import nsec3_hash
from ..wire import message as wm
from ..wire import rdata as rd
from ..wire.message import RR, FormError, Message
from ..wire.name import ROOT, Name
from ..wire.rrset import RRset
from ..wire.types import AA, Rcode, RRType, type_to_text
from .faults import Faults, Rewrite
from .server import AuthServer

log = logging.getLogger(__name__)

RRSIG, NSEC, NSEC3 = RRType.RRSIG, RRType.NSEC, RRType.NSEC3
DENIAL = frozenset({NSEC, NSEC3})
SECTIONS = ("answer", "authority")       # where signed RRsets travel
UNKNOWN_ALGORITHMS = (253, 254, 100, 200, 250)
# algorithms an RRSIG may be made to claim: unknown, private, deprecated, other known
CLAIMED_ALGORITHMS = (0, 1, 3, 5, 6, 7, 8, 10, 12, 13, 14, 15, 16, 17, 100, 200, 252, 253,
                      254, 255)


@dataclass(slots=True)
class Context:
    """What a mutation knows besides the reply: the zone the reply comes from (its
    signed RRsets, to replay: their RRSIGs are genuine, for their own owner and type),
    the names of the other zones of the network (for a forged signer name), the
    address of the server, and how many replies this forgery already changed (*round*:
    an attacker may answer a resolver's second query differently from its first)."""

    zone: Name
    rrsets: list[RRset] = field(default_factory=list)
    zones: tuple[Name, ...] = ()
    source: Zone | None = None
    foreign: list[RRset] = field(default_factory=list)
    address: str = ""
    round: int = 0

    @classmethod
    def of(cls, zone: Zone, others: Sequence[Zone] = ()) -> Context:
        """The context of *zone*; *others* are the other zones of the network (their
        signed RRsets are replayed as foreign data: an insecure zone's, say)."""
        foreign = [rs for other in others if other.origin.key != zone.origin.key
                   for rs in _signed(other)]
        return cls(zone.origin, _signed(zone), tuple(z.origin for z in others), zone, foreign)

    def of_type(self, rtype: int, other_than: Name | None = None) -> list[RRset]:
        return [rs for rs in self.rrsets if rs.rtype == rtype
                and (other_than is None or rs.name.key != other_than.key)]

    def denials(self) -> list[RRset]:
        return [rs for rs in self.rrsets if rs.rtype in DENIAL]

    def key_tags(self) -> list[int]:
        tags: list[int] = []
        for rs in self.of_type(RRType.DNSKEY):
            tags.extend(key_tag(data) for data in rs.rdatas)
        return tags

    def denial_at(self, name: Name) -> list[RR]:
        """The zone's genuine NSEC/NSEC3 records (with RRSIGs) nearest to "no DS at
        *name*": the negative answer the zone gives for (name, DS), or, where a DS
        exists, the NSEC/NSEC3 matching or covering *name*."""
        zone = self.source
        if zone is None or not name.is_subdomain(zone.origin):
            return []
        answer = lookup(zone, name, RRType.DS, dnssec=True)
        proof = [rr for rr in answer.authority
                 if rr.rtype in DENIAL or covered(rr) in DENIAL]
        if proof:
            return proof
        node = None
        params = zone.nsec3_params()
        if params is not None:
            digest = nsec3_hash(name, params.salt, params.iterations)
            node = zone.nsec3_matching(digest) or zone.nsec3_covering(digest)
            rs = node.get(NSEC3) if node is not None else None
        else:
            node = zone.nsec_covering(name)
            rs = node.get(NSEC) if node is not None else None
        if rs is None:
            return []
        data, sigs = _rrs_of(rs)
        return data + sigs


def _signed(zone: Zone) -> list[RRset]:
    signed = [rs for rs in zone.rrsets() if rs.sigs and rs.rdatas]
    signed.sort(key=lambda rs: (rs.name.canonical_sort_key(), rs.rtype))
    return signed


MutationFn = Callable[[Message, random.Random, Context], "str | None"]


@dataclass(frozen=True, slots=True)
class Mutation:
    """One way to tamper with a reply (see the module docstring)."""

    name: str
    fn: MutationFn
    harmless: bool = False

    @property
    def doc(self) -> str:
        text = (self.fn.__doc__ or self.name).strip()
        return text.splitlines()[0]

    def __call__(self, reply: Message, rng: random.Random, ctx: Context) -> str | None:
        return self.fn(reply, rng, ctx)


_CATALOGUE: list[Mutation] = []


def _register(harmless: bool = False) -> Callable[[MutationFn], MutationFn]:
    def register(fn: MutationFn) -> MutationFn:
        _CATALOGUE.append(Mutation(fn.__name__, fn, harmless))
        return fn
    return register


# --------------------------------------------------------------------------
# helpers: records of a reply, grouped into RRsets

def covered(rr: RR) -> int:
    """The type an RRSIG record covers (0 for anything else)."""
    if rr.rtype != RRSIG or len(rr.rdata) < 2:
        return 0
    return (rr.rdata[0] << 8) | rr.rdata[1]


def _section(reply: Message, name: str) -> list[RR]:
    rrs: list[RR] = getattr(reply, name)
    return rrs


def _is_data(rr: RR, owner: Name, rtype: int) -> bool:
    return rr.rtype == rtype and rr.name.key == owner.key


def _is_sig(rr: RR, owner: Name, rtype: int) -> bool:
    return rr.rtype == RRSIG and rr.name.key == owner.key and covered(rr) == rtype


@dataclass(frozen=True, slots=True)
class Group:
    """An RRset of a reply: its section, owner and type."""

    section: str
    owner: Name
    rtype: int

    def data(self, reply: Message) -> list[RR]:
        return [rr for rr in _section(reply, self.section) if _is_data(rr, self.owner, self.rtype)]

    def sigs(self, reply: Message) -> list[RR]:
        return [rr for rr in _section(reply, self.section) if _is_sig(rr, self.owner, self.rtype)]

    def label(self) -> str:
        return f"{self.owner} {type_to_text(self.rtype)} ({self.section})"


def signed_groups(reply: Message, types: frozenset[int] | None = None) -> list[Group]:
    """The RRsets of the answer and authority sections that carry RRSIGs."""
    out: list[Group] = []
    for section in SECTIONS:
        rrs = _section(reply, section)
        present = {(rr.name.key, rr.rtype) for rr in rrs if rr.rtype != RRSIG}
        seen: set[tuple[bytes, int]] = set()
        for rr in rrs:
            key = (rr.name.key, covered(rr))
            if rr.rtype == RRSIG and key in present and key not in seen:
                if types is None or key[1] in types:
                    seen.add(key)
                    out.append(Group(section, rr.name, key[1]))
    return out


def groups(reply: Message, types: frozenset[int] | None = None) -> list[Group]:
    """Every RRset (signed or not) of the answer and authority sections."""
    out: list[Group] = []
    for section in SECTIONS:
        seen: set[tuple[bytes, int]] = set()
        for rr in _section(reply, section):
            key = (rr.name.key, rr.rtype)
            if rr.rtype != RRSIG and key not in seen and (types is None or rr.rtype in types):
                seen.add(key)
                out.append(Group(section, rr.name, rr.rtype))
    return out


def _replace(reply: Message, section: str, old: Sequence[RR], new: Sequence[RR]) -> None:
    """Put *new* where the first record of *old* was, removing all of *old*."""
    rrs = _section(reply, section)
    gone = {id(rr) for rr in old}
    at = next((i for i, rr in enumerate(rrs) if id(rr) in gone), len(rrs))
    kept_before = [rr for rr in rrs[:at] if id(rr) not in gone]
    kept_after = [rr for rr in rrs[at:] if id(rr) not in gone]
    setattr(reply, section, kept_before + list(new) + kept_after)


def _remove(reply: Message, drop: Callable[[RR], bool]) -> int:
    count = 0
    for section in ("answer", "authority", "additional"):
        rrs = _section(reply, section)
        kept = [rr for rr in rrs if not drop(rr)]
        count += len(rrs) - len(kept)
        setattr(reply, section, kept)
    return count


def _with(rr: RR, *, name: Name | None = None, ttl: int | None = None,
          rdata: bytes | None = None) -> RR:
    return RR(rr.name if name is None else name, rr.rtype, rr.rclass,
              rr.ttl if ttl is None else ttl, rr.rdata if rdata is None else rdata)


def _valid(rtype: int, data: bytes) -> bool:
    try:
        rd.check(rtype, data)
    except rd.RdataError:
        return False
    return True


def _sig(rr: RR) -> rd.RRSIG:
    view = rr.data()
    assert isinstance(view, rd.RRSIG)
    return view


def _resign(rr: RR, **changes: object) -> RR:
    """The RRSIG record *rr* with some of its fields changed (signature kept)."""
    return _with(rr, rdata=dataclasses.replace(_sig(rr), **changes).to_wire())  # type: ignore[arg-type]


def _pick(rng: random.Random, items: Sequence[Group]) -> Group | None:
    return rng.choice(list(items)) if items else None


def _rrs_of(rs: RRset, owner: Name | None = None) -> tuple[list[RR], list[RR]]:
    name = rs.name if owner is None else owner
    data = [RR(name, rs.rtype, rs.rclass, rs.ttl, d) for d in rs.rdatas]
    sigs = [RR(name, RRSIG, rs.rclass, rs.ttl, s) for s in rs.sigs]
    return data, sigs


def _random_case(name: Name, rng: random.Random) -> Name:
    labels = []
    for label in name.labels:
        labels.append(bytes(c ^ 0x20 if (65 <= c <= 90 or 97 <= c <= 122) and rng.random() < 0.5
                            else c for c in label))
    return Name.from_labels(labels)


def forged_rdata(rtype: int, data: bytes, rng: random.Random) -> bytes | None:
    """Other well-formed RDATA of the same type, made up (None if we cannot)."""
    try:
        view = rd.decode(rtype, data)
    except rd.RdataError:
        return None
    try:
        new = _made_up(rtype, data, view, rng)
    except ValueError:         # a name grown too long, a field out of range
        return None
    if new is None or new == data or not _valid(rtype, new):
        return None
    return new


def _made_up(rtype: int, data: bytes, view: rd.Rdata, rng: random.Random) -> bytes | None:
    new: bytes | None = None
    if isinstance(view, rd.A):
        new = bytes((203, 0, 113, rng.randrange(1, 255)))
    elif isinstance(view, rd.AAAA):
        new = bytes.fromhex("20010db8ffff") + rng.randbytes(10)
    elif isinstance(view, rd.TXT):
        text = f"forged {rng.randrange(1 << 30)}".encode()
        new = bytes((len(text),)) + text
    elif isinstance(view, rd.DS):
        new = dataclasses.replace(view, digest=rng.randbytes(len(view.digest))).to_wire()
    elif isinstance(view, rd.DNSKEY):
        new = dataclasses.replace(view, key=rng.randbytes(len(view.key))).to_wire()
    elif isinstance(view, rd.TLSA):
        new = dataclasses.replace(view, data=rng.randbytes(len(view.data))).to_wire()
    elif isinstance(view, rd.MX):
        new = dataclasses.replace(view, exchange=view.exchange.prepend(b"evil")).to_wire()
    elif isinstance(view, rd.SOA):
        new = dataclasses.replace(view, serial=(view.serial + 1) & 0xFFFFFFFF).to_wire()
    elif isinstance(view, rd.NSEC):
        new = dataclasses.replace(view, next=view.next.prepend(b"evil")).to_wire()
    elif isinstance(view, rd.NSEC3):
        new = dataclasses.replace(view, next=rng.randbytes(len(view.next))).to_wire()
    elif rtype in (RRType.NS, RRType.CNAME, RRType.DNAME, RRType.PTR):
        new = Name(data).prepend(b"evil").wire
    elif data:
        pos = rng.randrange(len(data))
        new = data[:pos] + bytes((data[pos] ^ rng.randrange(1, 256),)) + data[pos + 1:]
    return new


# --------------------------------------------------------------------------
# the records themselves

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


def _with_donors(reply: Message, rng: random.Random,
                 donors: Callable[[Group], list[RRset]]) -> tuple[Group, RRset] | None:
    """A signed RRset of the reply that has donors, and one of them."""
    choices = [(g, d) for g in signed_groups(reply) if (d := donors(g))]
    if not choices:
        return None
    group, pool = rng.choice(choices)
    return group, rng.choice(pool)


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


# --------------------------------------------------------------------------
# RRSIGs

def _sig_group(reply: Message, rng: random.Random) -> tuple[Group, list[RR]] | None:
    group = _pick(rng, signed_groups(reply))
    if group is None:
        return None
    return group, group.sigs(reply)


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


def _claim_everywhere(reply: Message, alg: int, types: frozenset[int] | None) -> str | None:
    count = 0
    for section in SECTIONS:
        rrs = _section(reply, section)
        new = []
        for rr in rrs:
            if rr.rtype == RRSIG and (types is None or covered(rr) in types) \
                    and _sig(rr).algorithm != alg:
                rr = _resign(rr, algorithm=alg)
                count += 1
            new.append(rr)
        setattr(reply, section, new)
    if not count:
        return None
    what = "all" if types is None else "/".join(type_to_text(t) for t in sorted(types))
    return f"{count} RRSIGs ({what}) claim algorithm {alg}"


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


# --------------------------------------------------------------------------
# harmless: the reply still proves exactly the genuine data

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


# --------------------------------------------------------------------------
# NSEC and NSEC3 (negative and wildcard answers, insecure delegations)

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


# --------------------------------------------------------------------------
# the rcode and the shape of the answer

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


# --------------------------------------------------------------------------
# the catalogue and its use

MUTATIONS: tuple[Mutation, ...] = tuple(_CATALOGUE)
BY_NAME: dict[str, Mutation] = {m.name: m for m in MUTATIONS}


def claim_algorithm(algorithm: int, types: frozenset[int] | None = None) -> Mutation:
    """Every RRSIG (over *types*, or all) claims *algorithm*: the headline forgery."""
    def fn(reply: Message, rng: random.Random, ctx: Context) -> str | None:
        return _claim_everywhere(reply, algorithm, types)
    fn.__doc__ = f"RRSIGs claim algorithm {algorithm}"
    what = "all" if types is None else "+".join(type_to_text(t) for t in sorted(types))
    return Mutation(f"claim_algorithm_{algorithm}_{what}", fn)


def forged_ds_claiming(algorithm: int) -> Mutation:
    """The DS records forged and their RRSIGs claiming *algorithm*."""
    def fn(reply: Message, rng: random.Random, ctx: Context) -> str | None:
        found = _ds_groups(reply)
        if not found:
            return None
        return "; ".join(forge_ds(reply, g, rng, algorithm) for g in found)
    fn.__doc__ = f"forged DS, RRSIGs claiming algorithm {algorithm}"
    return Mutation(f"forged_ds_claiming_{algorithm}", fn)


Match = Callable[[Message, Message], bool]


@dataclass(slots=True)
class Tap:
    """Where a forgery applies: the replies of *servers* for *zone* that *match*
    (query, reply)."""

    zone: Name
    servers: list[AuthServer]
    match: Match
    ctx: Context


_MISSING = object()


def _own_records(reply: Message) -> None:
    """Give the reply records of its own: the server fills it with the zone's."""
    reply.answer = [_with(rr) for rr in reply.answer]
    reply.authority = [_with(rr) for rr in reply.authority]
    reply.additional = [_with(rr) for rr in reply.additional]


def _well_formed(reply: Message) -> bool:
    try:
        wm.parse(reply.to_wire())
    except (FormError, ValueError):
        return False
    return True


def dry_run(mutation: Mutation, reply: Message, ctx: Context, seed: int | str = 0) -> str | None:
    """Apply *mutation* to *reply* (a copy the caller may lose) as a forgery would:
    its description, or None if it does not apply or leaves the reply malformed."""
    _own_records(reply)
    what = mutation(reply, random.Random(seed), ctx)
    if what is not None and not _well_formed(reply):
        return None
    return what


class Forgery:
    """One mutation, applied with a fixed seed to the replies of some taps.

    Every matching reply is mutated with a fresh ``random.Random(seed)``, so the
    same reply is always forged the same way (UDP and TCP, retries), unless the
    mutation looks at :attr:`Context.round` (the replies changed so far). *applied* lists
    what was done to each reply changed; *declined* counts replies the mutation did
    not apply to (or left malformed, then sent genuine)."""

    def __init__(self, mutation: Mutation, seed: int | str, taps: Sequence[Tap]) -> None:
        self.mutation = mutation
        self.seed = seed
        self.taps = list(taps)
        self.applied: list[str] = []
        self.declined = 0
        self.crashes: list[str] = []   # mutations that raised (a bug in the mutation)

    def _rewrite(self, taps: list[Tap], address: str, before: Rewrite | None) -> Rewrite:
        def rewrite(query: Message, reply: Message) -> None:
            if before is not None:
                before(query, reply)
            tap = next((t for t in taps if t.match(query, reply)), None)
            if tap is None:
                return
            _own_records(reply)
            saved = (reply.flags, reply.edns.ext_rcode if reply.edns is not None else 0,
                     list(reply.answer), list(reply.authority), list(reply.additional))
            ctx = dataclasses.replace(tap.ctx, address=address, round=len(self.applied))
            try:
                what = self.mutation(reply, random.Random(self.seed), ctx)
            except Exception as exc:  # the reply goes out genuine; the test reports it
                log.exception("forgery %s raised", self.mutation.name)
                self.crashes.append(f"{type(exc).__name__}: {exc}")
                what = None
            if what is not None and not _well_formed(reply):
                log.warning("forgery %s left the reply malformed; sent genuine", self.mutation.name)
                what = None
            if what is None:
                reply.flags, ext, reply.answer, reply.authority, reply.additional = saved
                if reply.edns is not None:
                    reply.edns.ext_rcode = ext
                self.declined += 1
                return
            q = query.question[0]
            self.applied.append(f"{address} {q.name} {type_to_text(q.qtype)}: {what}")
            log.debug("forged %s %s at %s: %s", q.name, type_to_text(q.qtype), address, what)
        return rewrite

    @contextmanager
    def installed(self) -> Iterator[Forgery]:
        """Install the forgery on the taps' servers; put the faults back afterwards."""
        by_place: dict[tuple[str, bytes], tuple[AuthServer, list[Tap]]] = {}
        for tap in self.taps:
            for server in tap.servers:
                place = (server.address, tap.zone.key)
                by_place.setdefault(place, (server, []))[1].append(tap)
        saved: list[tuple[AuthServer, bytes, object]] = []
        try:
            for (address, key), (server, taps) in by_place.items():
                previous = server.faults.get(key, _MISSING)
                saved.append((server, key, previous))
                base = previous if isinstance(previous, Faults) else server.faults.get(None)
                before = base.rewrite if base is not None else None
                rewrite = self._rewrite(taps, address, before)
                server.faults[key] = dataclasses.replace(base, rewrite=rewrite) \
                    if base is not None else Faults(rewrite=rewrite)
            yield self
        finally:
            for server, key, previous in reversed(saved):
                if isinstance(previous, Faults):
                    server.faults[key] = previous
                else:
                    server.faults.pop(key, None)


__all__ = [
    "BY_NAME", "MUTATIONS", "Context", "Forgery", "Group", "Match", "Mutation", "Tap",
    "claim_algorithm", "dry_run", "forged_ds_claiming", "forged_rdata", "groups",
    "signed_groups",
]
