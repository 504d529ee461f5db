"""The records of a reply as a mutation sees them: its RRsets (:class:`Group`), the
RRSIGs that cover them, and the edits every mutation makes (replace, remove, copy
with a field changed, re-sign with another RRSIG field), with made-up RDATA
(:func:`forged_rdata`)."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ...wire import rdata as rd
from ...wire.message import RR, Message
from ...wire.name import Name
from ...wire.rrset import RRset
from ...wire.types import RRType, type_to_text

RRSIG, NSEC, NSEC3 = RRType.RRSIG, RRType.NSEC, RRType.NSEC3
DENIAL = frozenset({NSEC, NSEC3})
SECTIONS = ("answer", "authority")       # where signed RRsets travel
UNKNOWN_ALGORITHMS = (253, 254, 100, 200, 250)


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
            if rr.rtype == RRSIG and key in present and key not in seen \
                    and (types is None or key[1] in types):
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


def _with_donors(reply: Message, rng: random.Random,
                 donors: Callable[[Group], list[RRset]]) -> tuple[Group, RRset] | None:
    """A signed RRset of the reply that has donors, and one of them."""
    choices = [(g, d) for g in signed_groups(reply) if (d := donors(g))]
    if not choices:
        return None
    group, pool = rng.choice(choices)
    return group, rng.choice(pool)


def _sig_group(reply: Message, rng: random.Random) -> tuple[Group, list[RR]] | None:
    group = _pick(rng, signed_groups(reply))
    if group is None:
        return None
    return group, group.sigs(reply)


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
