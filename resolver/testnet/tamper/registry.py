"""What a mutation is (:class:`Mutation`), what it knows besides the reply
(:class:`Context`), and the registry the mutation modules fill with ``@_register``;
:mod:`.catalogue` reads it in a fixed order."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ...authority.lookup import lookup
from ...authority.zone import Zone
from ...dnssec.keys import key_tag
from ...dnssec.nsec3 import nsec3_hash
from ...wire.message import RR, Message
from ...wire.name import Name
from ...wire.rrset import RRset
from ...wire.types import RRType
from .records import DENIAL, NSEC, NSEC3, _rrs_of, covered


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


def registered(module: str) -> list[Mutation]:
    """The mutations the module named *module* registered, in the order it defines
    them."""
    return [m for m in _CATALOGUE if m.fn.__module__ == module]
