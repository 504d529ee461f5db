"""Authoritative answers from a :class:`Zone` (RFC 1034 s4.3.2, RFC 4035 s3.1,
RFC 5155 s7.2, RFC 6672 s3.3).

The answer is what an authoritative server such as NSD sends: AA data, referrals
with glue, CNAME chains followed inside the zone, DNAME with a synthesized CNAME,
wildcards, NXDOMAIN and NODATA with the SOA; with DO=1 also the RRSIGs and the
NSEC or NSEC3 records that prove denials, wildcard expansions and missing DS.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..dnssec.nsec3 import nsec3_hash
from ..wire import rdata as rd
from ..wire.message import RR
from ..wire.name import Name, NameError_
from ..wire.rrset import RRset
from ..wire.types import Rcode, RRType
from .zone import Node, Zone

MAX_CHAIN = 16


@dataclass(slots=True)
class AuthAnswer:
    rcode: int = Rcode.NOERROR
    aa: bool = True
    answer: list[RR] = field(default_factory=list)
    authority: list[RR] = field(default_factory=list)
    additional: list[RR] = field(default_factory=list)


class _Builder:
    def __init__(self, zone: Zone, dnssec: bool) -> None:
        self.zone = zone
        self.dnssec = dnssec
        self.out = AuthAnswer()
        self._seen: set[tuple[int, bytes, int]] = set()

    def add(self, section: list[RR], rrset: RRset | None, owner: Name | None = None,
            ttl: int | None = None) -> None:
        if rrset is None:
            return
        name = owner if owner is not None else rrset.name
        key = (id(section), name.key, rrset.rtype)
        if key in self._seen:
            return
        self._seen.add(key)
        use_ttl = rrset.ttl if ttl is None else ttl
        for data in rrset.rdatas:
            section.append(RR(name, rrset.rtype, rrset.rclass, use_ttl, data))
        if self.dnssec:
            for sig in rrset.sigs:
                section.append(RR(name, RRType.RRSIG, rrset.rclass, use_ttl, sig))

    def add_node_type(self, section: list[RR], node: Node | None, rtype: int) -> None:
        if node is not None:
            self.add(section, node.get(rtype))

    def soa(self) -> None:
        soa = self.zone.soa
        minimum = rd.decode(RRType.SOA, soa.rdatas[0])
        assert isinstance(minimum, rd.SOA)
        self.add(self.out.authority, soa, ttl=min(soa.ttl, minimum.minimum))


def lookup(zone: Zone, qname: Name, qtype: int, dnssec: bool = False) -> AuthAnswer:
    """Answer (*qname*, *qtype*) from *zone*, which must contain *qname*."""
    b = _Builder(zone, dnssec)
    name = qname
    for _ in range(MAX_CHAIN):
        target = _step(b, name, qtype)
        if target is None:
            break
        if not target.is_subdomain(zone.origin) or zone.cut_above(target) is not None:
            break  # the chain leaves the zone; the resolver follows it
        name = target
    return b.out


def _step(b: _Builder, name: Name, qtype: int) -> Name | None:
    """Answer one name; return the CNAME target to follow, if any."""
    zone = b.zone
    cut = zone.cut_above(name, inclusive=True)
    if cut is not None and not (cut.key == name.key and qtype == RRType.DS):
        if not b.out.answer:
            _referral(b, cut)
        return None
    dname_owner = zone.dname_above(name)
    if dname_owner is not None:
        return _dname(b, name, dname_owner)
    node = zone.node(name)
    if node is not None and node.types() - {RRType.NSEC3}:
        return _exact(b, node, qtype)
    if zone.exists(name):
        _nodata(b, name, ent=True)
        return None
    return _missing(b, name, qtype)


def _exact(b: _Builder, node: Node, qtype: int) -> Name | None:
    out = b.out
    if qtype == RRType.ANY:
        for rtype in sorted(node.rrsets):
            if rtype != RRType.NSEC3:
                b.add(out.answer, node.rrsets[rtype])
        return None
    if qtype == RRType.RRSIG:  # RRSIGs hang on the RRsets they cover: collect them
        sigs = [RR(node.name, RRType.RRSIG, rs.rclass, rs.ttl, sig)
                for _, rs in sorted(node.rrsets.items()) for sig in rs.sigs]
        if sigs:
            out.answer.extend(sigs)
            return None
    rrset = node.get(qtype)
    if rrset is not None and rrset.rdatas:
        b.add(out.answer, rrset)
        _additional(b, rrset)
        return None
    cname = node.get(RRType.CNAME)
    if cname is not None and cname.rdatas:
        b.add(out.answer, cname)
        target = rd.decode(RRType.CNAME, cname.rdatas[0])
        assert isinstance(target, rd.CNAME)
        return target.target
    _nodata(b, node.name, ent=False)
    return None


def _nodata(b: _Builder, name: Name, ent: bool) -> None:
    b.soa()
    if not b.dnssec:
        return
    zone = b.zone
    auth = b.out.authority
    if zone.nsec3_params() is not None:
        digest = _hash(zone, name)
        match = zone.nsec3_matching(digest)
        if match is not None:
            b.add_node_type(auth, match, RRType.NSEC3)
        else:  # not in the chain (opt-out span): closest encloser proof
            _closest_encloser_proof(b, name)
        return
    if ent:
        b.add_node_type(auth, zone.nsec_covering(name), RRType.NSEC)
    else:
        b.add_node_type(auth, zone.node(name), RRType.NSEC)


def _missing(b: _Builder, name: Name, qtype: int) -> Name | None:
    zone = b.zone
    ce = name.parent()
    while not zone.exists(ce):
        ce = ce.parent()
    wild = zone.node(ce.prepend(b"*"))
    if wild is not None and wild.types():
        return _wildcard(b, name, ce, wild, qtype)
    b.out.rcode = Rcode.NXDOMAIN
    b.soa()
    if b.dnssec:
        auth = b.out.authority
        if zone.nsec3_params() is not None:
            _closest_encloser_proof(b, name, ce)
            b.add_node_type(auth, zone.nsec3_covering(_hash(zone, ce.prepend(b"*"))),
                            RRType.NSEC3)
        else:
            b.add_node_type(auth, zone.nsec_covering(name), RRType.NSEC)
            b.add_node_type(auth, zone.nsec_covering(ce.prepend(b"*")), RRType.NSEC)
    return None


def _wildcard(b: _Builder, name: Name, ce: Name, wild: Node, qtype: int) -> Name | None:
    zone = b.zone
    out = b.out
    rrset = wild.get(qtype) if qtype != RRType.ANY else None
    cname = wild.get(RRType.CNAME)
    target: Name | None = None
    if qtype == RRType.ANY:
        for rtype in sorted(wild.rrsets):
            b.add(out.answer, wild.rrsets[rtype], owner=name)
    elif rrset is not None and rrset.rdatas:
        b.add(out.answer, rrset, owner=name)
    elif cname is not None and cname.rdatas:
        b.add(out.answer, cname, owner=name)
        value = rd.decode(RRType.CNAME, cname.rdatas[0])
        assert isinstance(value, rd.CNAME)
        target = value.target
    else:
        b.soa()
        if b.dnssec:
            if zone.nsec3_params() is not None:
                _closest_encloser_proof(b, name, ce)
                b.add_node_type(out.authority, zone.nsec3_matching(_hash(zone, wild.name)),
                                RRType.NSEC3)
            else:
                b.add_node_type(out.authority, zone.nsec_covering(name), RRType.NSEC)
                b.add_node_type(out.authority, wild, RRType.NSEC)
        return None
    if b.dnssec:  # prove that the exact name does not exist
        if zone.nsec3_params() is not None:
            next_closer = name.ancestor(len(ce) + 1)
            b.add_node_type(out.authority, zone.nsec3_covering(_hash(zone, next_closer)),
                            RRType.NSEC3)
        else:
            b.add_node_type(out.authority, zone.nsec_covering(name), RRType.NSEC)
    return target


def _dname(b: _Builder, name: Name, owner: Name) -> Name | None:
    out = b.out
    dname = b.zone.get(owner, RRType.DNAME)
    assert dname is not None
    b.add(out.answer, dname)
    value = rd.decode(RRType.DNAME, dname.rdatas[0])
    assert isinstance(value, rd.DNAME)
    prefix = name.relativize_to(owner)
    try:
        target = Name.from_labels(list(prefix) + list(value.target.labels))
    except NameError_:
        out.rcode = Rcode.YXDOMAIN
        return None
    out.answer.append(RR(name, RRType.CNAME, dname.rclass, dname.ttl, target.wire))
    return target


def _referral(b: _Builder, cut: Name) -> None:
    zone = b.zone
    out = b.out
    out.aa = False
    ns = zone.get(cut, RRType.NS)
    assert ns is not None
    b.add(out.authority, ns)
    if b.dnssec:
        ds = zone.get(cut, RRType.DS)
        if ds is not None and ds.rdatas:
            b.add(out.authority, ds)
        elif zone.nsec3_params() is not None:
            match = zone.nsec3_matching(_hash(zone, cut))
            if match is not None:
                b.add_node_type(out.authority, match, RRType.NSEC3)
            else:
                _closest_encloser_proof(b, cut)
        else:
            b.add_node_type(out.authority, zone.node(cut), RRType.NSEC)
    _additional(b, ns)


def _additional(b: _Builder, rrset: RRset) -> None:
    """A/AAAA for the targets of NS, MX and SRV records that lie in this zone."""
    if rrset.rtype not in (RRType.NS, RRType.MX, RRType.SRV):
        return
    zone = b.zone
    for data in rrset.rdatas:
        value = rd.decode(rrset.rtype, data)
        target = getattr(value, "target", None) or getattr(value, "exchange", None)
        if not isinstance(target, Name) or not target.is_subdomain(zone.origin):
            continue
        node = zone.node(target)
        if node is None:
            continue
        for rtype in (RRType.A, RRType.AAAA):
            b.add(b.out.additional, node.get(rtype))


def _hash(zone: Zone, name: Name) -> bytes:
    params = zone.nsec3_params()
    assert params is not None
    return nsec3_hash(name, params.salt, params.iterations)


def _closest_encloser_proof(b: _Builder, name: Name, ce: Name | None = None) -> None:
    """RFC 5155 s7.2.1: the NSEC3 matching the closest provable encloser and the
    NSEC3 covering the next closer name."""
    zone = b.zone
    auth = b.out.authority
    candidate = ce if ce is not None else name.parent()
    while True:
        match = zone.nsec3_matching(_hash(zone, candidate))
        if match is not None or candidate.key == zone.origin.key:
            break
        candidate = candidate.parent()
    b.add_node_type(auth, zone.nsec3_matching(_hash(zone, candidate)), RRType.NSEC3)
    if len(name) > len(candidate):
        next_closer = name.ancestor(len(candidate) + 1)
        b.add_node_type(auth, zone.nsec3_covering(_hash(zone, next_closer)), RRType.NSEC3)
