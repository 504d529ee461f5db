"""zone-check: verify a signed zone as ``ldns-verify-zone`` or ``dnssec-verify`` do.

Every RRSIG is checked against the zone's DNSKEY set (one by one, so a single bad
signature among good ones is reported), every authoritative RRset must be signed
by each algorithm of the DNSKEY set (RFC 4035 s2.2), the NSEC or NSEC3 chain must
be complete and consistent (RFC 4034 s4, RFC 5155 s7.1), and, given trust
anchors for the zone, the DNSKEY set must be authenticated by them (RFC 4035 s5.2).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..dnssec.algorithms import DEFAULT, AlgorithmPolicy, mnemonic
from ..dnssec.anchors import TrustAnchor
from ..dnssec.budget import Budget
from ..dnssec.keys import key_tag, match_ds
from ..dnssec.nsec3 import nsec3_hash
from ..dnssec.status import Problem
from ..dnssec.verify import KeySet, verify_dnskey_rrset, verify_rrset
from ..wire import rdata as rd
from ..wire.name import Name
from ..wire.rrset import RRset
from ..wire.types import RRType, type_to_text
from .zone import Zone

_DENIAL = (RRType.NSEC, RRType.NSEC3)


@dataclass(frozen=True, slots=True)
class Finding:
    owner: Name
    rtype: int | None
    text: str

    def __str__(self) -> str:
        kind = type_to_text(self.rtype) if self.rtype is not None else "-"
        return f"{self.owner} {kind}: {self.text}"


@dataclass(slots=True)
class Report:
    origin: Name
    problems: list[Finding] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)
    rrsets: int = 0
    signatures: int = 0
    valid_signatures: int = 0
    denial: str = "none"

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, owner: Name, rtype: int | None, text: str) -> None:
        self.problems.append(Finding(owner, rtype, text))

    def note(self, owner: Name, rtype: int | None, text: str) -> None:
        self.notes.append(Finding(owner, rtype, text))

    def summary(self) -> str:
        verdict = "valid" if self.ok else "NOT valid"
        return (f"{self.origin}: {self.rrsets} RRsets, {self.signatures} signatures "
                f"({self.valid_signatures} valid), denial {self.denial}, "
                f"{len(self.problems)} problems: zone is {verdict}")


def check_zone(zone: Zone, now: float, anchors: Iterable[TrustAnchor] = (),
               policy: AlgorithmPolicy = DEFAULT) -> Report:
    """Check every signature, the denial chain and (with *anchors*) the key set."""
    report = Report(zone.origin)
    dnskeys = zone.get(zone.origin, RRType.DNSKEY)
    if dnskeys is None or not dnskeys.rdatas:
        report.problem(zone.origin, RRType.DNSKEY, "zone is not signed (no DNSKEY at the apex)")
        return report
    keyset = KeySet(zone.origin, dnskeys.rdatas)
    _check_signatures(zone, keyset, dnskeys, now, policy, report)
    if any(zone.get(n.name, RRType.NSEC3) is not None for n in zone.nodes.values()) \
            or zone.get(zone.origin, RRType.NSEC3PARAM) is not None:
        report.denial = "NSEC3"
        _check_nsec3(zone, report)
    elif zone.nsec_nodes():
        report.denial = "NSEC"
        _check_nsec(zone, report)
    else:
        report.problem(zone.origin, None, "no NSEC or NSEC3 records")
    anchors = [a for a in anchors if a.zone == zone.origin]
    if anchors:
        _check_anchors(zone, dnskeys, anchors, now, policy, report)
    return report


# --------------------------------------------------------------------------
# signatures

def _zone_algorithms(dnskeys: RRset) -> set[int]:
    algs = set()
    for data in dnskeys.rdatas:
        if len(data) >= 4 and data[0] & 0x01:  # zone key bit (flags 0x0100)
            algs.add(data[3])
    return algs


def _check_signatures(zone: Zone, keyset: KeySet, dnskeys: RRset, now: float,
                      policy: AlgorithmPolicy, report: Report) -> None:
    algorithms = _zone_algorithms(dnskeys)
    unsupported = sorted(a for a in algorithms if not policy.supports_algorithm(a))
    unverified = 0
    for rrset in sorted(zone.rrsets(), key=lambda r: (r.name.canonical_sort_key(), r.rtype)):
        if not rrset.rdatas:
            report.problem(rrset.name, rrset.rtype, "RRSIG covers a type that has no records")
            continue
        if not zone.is_authoritative(rrset.name, rrset.rtype):
            if rrset.sigs:
                report.problem(rrset.name, rrset.rtype, "RRSIG over non-authoritative data")
            continue
        report.rrsets += 1
        if not rrset.sigs:
            report.problem(rrset.name, rrset.rtype, "missing RRSIG")
            continue
        valid_algs: set[int] = set()
        for sig in rrset.sigs:
            report.signatures += 1
            single = RRset(rrset.name, rrset.rtype, rrset.rclass, rrset.ttl, rrset.rdatas, [sig])
            result = verify_rrset(single, keyset, zone.origin, now, Budget.unlimited(), policy)
            alg = sig[2] if len(sig) > 2 else 0
            tag = (sig[16] << 8 | sig[17]) if len(sig) >= 18 else 0
            if result.ok:
                report.valid_signatures += 1
                valid_algs.add(alg)
            elif any(att.problem is Problem.UNSUPPORTED_ALGORITHM for att in result.attempts):
                unverified += 1
            else:
                what = result.problem.text if result.problem else str(result.verdict)
                report.problem(rrset.name, rrset.rtype,
                               f"{what} (RRSIG {mnemonic(alg)} key tag {tag})")
        for alg in sorted(algorithms - valid_algs):
            if alg in unsupported:
                continue
            if any(len(s) > 2 and s[2] == alg for s in rrset.sigs):
                continue  # a signature of that algorithm exists but failed: reported above
            report.problem(rrset.name, rrset.rtype,
                           f"no RRSIG of algorithm {mnemonic(alg)} (RFC 4035 s2.2)")
    for alg in unsupported:
        report.problem(zone.origin, RRType.DNSKEY,
                       f"algorithm {alg} ({mnemonic(alg)}) is unsupported: "
                       f"{unverified} signatures could not be verified")


# --------------------------------------------------------------------------
# NSEC (RFC 4034 s4, RFC 4035 s2.3)

def _authoritative_types(zone: Zone, name: Name) -> set[int]:
    node = zone.node(name)
    if node is None:
        return set()
    types = {t for t in node.types() if t not in _DENIAL}
    if zone.cut_above(name) is not None and name != zone.origin:
        types &= {RRType.NS, RRType.DS}
    return types


def _is_signed(zone: Zone, name: Name, types: set[int]) -> bool:
    return any(zone.is_authoritative(name, t) for t in types)


def _check_nsec(zone: Zone, report: Report) -> None:
    names = [n for n in zone.authoritative_names() if _authoritative_types(zone, n)]
    expected = {n.key for n in names}
    for i, name in enumerate(names):
        nsec_rs = zone.get(name, RRType.NSEC)
        if nsec_rs is None or not nsec_rs.rdatas:
            report.problem(name, RRType.NSEC, "missing NSEC (chain broken)")
            continue
        value = rd.decode(RRType.NSEC, nsec_rs.rdatas[0])
        assert isinstance(value, rd.NSEC)
        following = names[(i + 1) % len(names)]
        if value.next != following:
            report.problem(name, RRType.NSEC,
                           f"next name is {value.next}, expected {following}")
        want = _authoritative_types(zone, name) | {RRType.NSEC, RRType.RRSIG}
        if set(value.types) != want:
            report.problem(name, RRType.NSEC, _bitmap_diff(value.types, want))
    for node in zone.nsec_nodes():
        if node.name.key not in expected:
            report.problem(node.name, RRType.NSEC, "NSEC at a name without authoritative data")


def _bitmap_diff(have: Iterable[int], want: set[int]) -> str:
    have_set = set(have)
    extra = " ".join(type_to_text(t) for t in sorted(have_set - want))
    missing = " ".join(type_to_text(t) for t in sorted(want - have_set))
    parts = []
    if missing:
        parts.append(f"bitmap lacks {missing}")
    if extra:
        parts.append(f"bitmap lists absent {extra}")
    return "; ".join(parts)


# --------------------------------------------------------------------------
# NSEC3 (RFC 5155 s7.1)

def _check_nsec3(zone: Zone, report: Report) -> None:
    params = zone.nsec3_params()
    chain = zone.nsec3_chain()
    if params is None:
        report.problem(zone.origin, RRType.NSEC3PARAM, "NSEC3 records without NSEC3PARAM")
        if not chain:
            return
        first = rd.decode(RRType.NSEC3, chain[0][1].rrsets[RRType.NSEC3].rdatas[0])
        assert isinstance(first, rd.NSEC3)
        salt, iterations, algorithm = first.salt, first.iterations, first.algorithm
    else:
        salt, iterations, algorithm = params.salt, params.iterations, params.algorithm
    if iterations or salt:
        report.note(zone.origin, RRType.NSEC3PARAM,
                    f"iterations {iterations}, salt {'-' if not salt else salt.hex()}: "
                    "RFC 9276 asks for 0 iterations and no salt")
    # names the chain must or may cover
    names = [n for n in zone.authoritative_names() if _authoritative_types(zone, n)]
    opt_out = any(_nsec3(node).opt_out for _, node in chain)
    required: dict[bytes, Name] = {}
    allowed: dict[bytes, Name] = {}
    for name in names:
        lineage = _self_and_ancestors(name, zone.origin)
        allowed.update((anc.key, anc) for anc in lineage)
        if opt_out and _insecure_cut(zone, name):
            continue  # RFC 5155 s7.1: opt-out may leave unsigned delegations out
        required.update((anc.key, anc) for anc in lineage)
    by_hash: dict[bytes, Name] = {}
    for name in allowed.values():
        by_hash[nsec3_hash(name, salt, iterations)] = name
    present = {digest for digest, _ in chain}
    for digest, name in sorted(by_hash.items()):
        if name.key in required and digest not in present:
            report.problem(name, RRType.NSEC3,
                           f"no NSEC3 for this name (hash {rd.b32hex_encode(digest)})")
    for i, (digest, node) in enumerate(chain):
        value = _nsec3(node)
        if (value.algorithm, value.iterations, value.salt) != (algorithm, iterations, salt):
            report.problem(node.name, RRType.NSEC3, "parameters differ from NSEC3PARAM")
        following = chain[(i + 1) % len(chain)][0]
        if value.next != following:
            report.problem(node.name, RRType.NSEC3,
                           f"next hash {rd.b32hex_encode(value.next)}, expected "
                           f"{rd.b32hex_encode(following)}")
        owner = by_hash.get(digest)
        if owner is None:
            report.problem(node.name, RRType.NSEC3, "hash matches no name in the zone")
            continue
        want = _authoritative_types(zone, owner)
        if want and _is_signed(zone, owner, want):
            want = want | {RRType.RRSIG}
        if set(value.types) != want:
            report.problem(node.name, RRType.NSEC3, f"for {owner}: " + _bitmap_diff(
                value.types, want))


def _insecure_cut(zone: Zone, name: Name) -> bool:
    return (name != zone.origin and zone.cut_above(name) is not None
            and zone.get(name, RRType.DS) is None)


def _nsec3(node: object) -> rd.NSEC3:
    from .zone import Node
    assert isinstance(node, Node)
    value = rd.decode(RRType.NSEC3, node.rrsets[RRType.NSEC3].rdatas[0])
    assert isinstance(value, rd.NSEC3)
    return value


def _self_and_ancestors(name: Name, origin: Name) -> list[Name]:
    out = [name]
    while len(name) > len(origin):
        name = name.parent()
        out.append(name)
    return out


# --------------------------------------------------------------------------
# trust anchors (RFC 4035 s5.2)

def _check_anchors(zone: Zone, dnskeys: RRset, anchors: list[TrustAnchor], now: float,
                   policy: AlgorithmPolicy, report: Report) -> None:
    ds = [a.rdata for a in anchors if a.rtype == RRType.DS]
    keys = [a.rdata for a in anchors if a.rtype == RRType.DNSKEY]
    budget = Budget.unlimited()
    if ds:
        matched = match_ds(zone.origin, ds, dnskeys.rdatas, policy)
        if not matched.ok:
            report.problem(zone.origin, RRType.DNSKEY, f"DS anchor: {matched.verdict.reason}")
        else:
            result = verify_dnskey_rrset(dnskeys, matched, now, budget, policy)
            tags = ", ".join(str(key_tag(k)) for k in matched.keys)
            if not result.ok:
                report.problem(zone.origin, RRType.DNSKEY,
                               f"DS anchor matches key {tags} but: {result.verdict.reason}")
    if keys:
        result = verify_dnskey_rrset(dnskeys, keys, now, budget, policy)
        if not result.ok:
            report.problem(zone.origin, RRType.DNSKEY, f"DNSKEY anchor: {result.verdict.reason}")
