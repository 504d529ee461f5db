"""Small signed hierarchies built in the test, for attacks and broken proofs.

:func:`build_tree` signs zone texts with the project's signer (children first, so
each parent publishes its children's DS), lets a test damage a zone after signing
(``tamper``), and returns a :class:`~resolver.testnet.network.TestNetwork`. The helpers
below re-sign an RRset, make DNSKEYs that share one key tag, and edit the replies of
a running server (drop proof records, add records) to serve "one element missing"
answers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from resolver.authority.zone import Zone
from resolver.dnssec.canonical import signed_data
from resolver.dnssec.keys import key_tag
from resolver.testnet.network import TestNetwork
from resolver.testnet.server import AuthServer
from resolver.testnet.signer import SignedZone, SignSpec, sign_zone
from resolver.testnet.signing_keys import SigningKey
from resolver.wire import message as wm
from resolver.wire import rdata as rd
from resolver.wire.message import RR, Message
from resolver.wire.name import Name
from resolver.wire.rrset import RRset
from resolver.wire.types import RRType
from resolver.wire.zonefile import read_zone_text

DAY = 86400


def sign_spec(algorithm: int = 13, denial: str = "nsec", *, now: int | None = None,
              **kwargs: object) -> SignSpec:
    """A SignSpec valid from a day ago for 30 days."""
    when = int(time.time() if now is None else now)
    return SignSpec(algorithm=algorithm, denial=denial, inception=when - DAY,
                    expiration=when + 30 * DAY, **kwargs)  # type: ignore[arg-type]


@dataclass(slots=True)
class ZoneDef:
    origin: str
    address: str
    body: str                                  # zone file text, relative to the origin
    spec: SignSpec | None = None               # None: served unsigned
    ds: bool = True                            # the parent publishes a DS
    tamper: Callable[[SignedZone], list[RR]] | None = None

    @property
    def name(self) -> Name:
        return Name.from_text(self.origin)


@dataclass(slots=True)
class Tree:
    network: TestNetwork
    signed: dict[str, SignedZone] = field(default_factory=dict)


def build_tree(defs: list[ZoneDef]) -> Tree:
    """Sign and assemble *defs* (one must be the root); not started yet."""
    records: dict[str, list[RR]] = {}
    for zd in defs:
        records[zd.origin] = read_zone_text(zd.body, zd.name, default_ttl=3600)
    out: dict[str, list[RR]] = {}
    signed: dict[str, SignedZone] = {}
    for zd in sorted(defs, key=lambda d: -len(d.name)):       # children first
        if zd.spec is None:
            out[zd.origin] = records[zd.origin]
            continue
        result = sign_zone(zd.name, records[zd.origin], zd.spec)
        signed[zd.origin] = result
        out[zd.origin] = zd.tamper(result) if zd.tamper is not None else result.records
        parent = _parent(zd, defs)
        if parent is not None and zd.ds:
            records[parent.origin] = records[parent.origin] + result.ds
    zones = [(Zone.from_records(zd.name, out[zd.origin]), zd.address) for zd in defs]
    return Tree(TestNetwork(zones), signed)


def _parent(zd: ZoneDef, defs: list[ZoneDef]) -> ZoneDef | None:
    best: ZoneDef | None = None
    for other in defs:
        if other is not zd and zd.name.is_strict_subdomain(other.name) and (
                best is None or len(other.name) > len(best.name)):
            best = other
    return best


# --------------------------------------------------------------------------
# damage after signing

def rrsig(rrset: RRset, key: SigningKey, signer: Name, spec: SignSpec, *,
          tag: int | None = None, labels: int | None = None) -> RR:
    """A (valid) RRSIG over *rrset* by *key*; *tag* overrides the key tag field."""
    header = rd.RRSIG(rrset.rtype, key.algorithm,
                      rrset.name.label_count if labels is None else labels, rrset.ttl,
                      spec.expiration & 0xFFFFFFFF, spec.inception & 0xFFFFFFFF,
                      key_tag(key.dnskey_rdata()) if tag is None else tag, signer, b"")
    sig = key.sign(signed_data(rrset, header))
    return RR(rrset.name, RRType.RRSIG, 1, rrset.ttl, header.to_wire() + sig)


def rrset_of(records: list[RR], name: Name, rtype: int) -> RRset:
    found = [rr for rr in records if rr.name == name and rr.rtype == rtype]
    assert found, f"no {rtype} at {name}"
    out = RRset(name, rtype, 1, found[0].ttl)
    for rr in found:
        out.add(rr.rdata)
    return out


def covered(rr: RR) -> int:
    return int.from_bytes(rr.rdata[:2], "big") if rr.rtype == RRType.RRSIG else -1


def without_sigs(records: list[RR], name: Name, rtype: int) -> list[RR]:
    return [rr for rr in records
            if not (rr.rtype == RRType.RRSIG and rr.name == name and covered(rr) == rtype)]


def colliding_keys(dnskey: bytes, count: int) -> list[bytes]:
    """*count* distinct DNSKEY RDATAs with the key tag and algorithm of *dnskey*: one
    byte of the public key raised and another lowered, both at even offsets, keeps the
    RFC 4034 App. B checksum."""
    tag = key_tag(dnskey)
    out: list[bytes] = []
    even = list(range(4, len(dnskey), 2))
    for up in even:
        for down in even:
            if up == down or dnskey[up] == 255 or dnskey[down] == 0:
                continue
            data = bytearray(dnskey)
            data[up] += 1
            data[down] -= 1
            out.append(bytes(data))
            if len(out) == count:
                assert all(key_tag(k) == tag for k in out)
                return out
    raise ValueError("not enough room for colliding keys")


# --------------------------------------------------------------------------
# editing the replies of a running server

Editor = Callable[[Message], Message | None]


def edit_replies(server: AuthServer, editor: Editor) -> Callable[[], None]:
    """Pass every reply of *server* through *editor* (which may change the parsed
    message in place or return a new one); returns a function that undoes it."""
    original = server.answer

    def answer(wire: bytes, transport: str) -> tuple[bytes | None, object]:
        out, faults = original(wire, transport)
        if out is None:
            return out, faults
        try:
            msg = wm.parse(out)
        except wm.FormError:
            return out, faults
        if msg.flags & 0x0200:           # TC: leave truncated replies alone
            return out, faults
        edited = editor(msg)
        return (edited or msg).to_wire(), faults

    server.answer = answer  # type: ignore[method-assign, assignment]

    def undo() -> None:
        server.answer = original  # type: ignore[method-assign]
    return undo


def drop_records(msg: Message, owner: Name, rtypes: tuple[int, ...]) -> bool:
    """Remove the records of *rtypes* at *owner* (and their RRSIGs) from AUTHORITY."""
    before = len(msg.authority)
    msg.authority = [rr for rr in msg.authority if not (
        rr.name == owner and (rr.rtype in rtypes or covered(rr) in rtypes))]
    return len(msg.authority) != before
