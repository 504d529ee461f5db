"""Aggressive NSEC3 (RFC 8198 with RFC 5155 proofs, resolver/cache/nsec3_index.py): the
proofs it builds, checked against a model of generated zones (seeded, bounded). Every
zone is made here: random names one to three labels below the apex (their empty
non-terminals too), random types, a wildcard, the NSEC3 chain computed with the
zone's salt and iterations. The RRSIGs only carry the signer and labels fields the
proof functions check: signatures are the validator's business."""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

from resolver.cache.nsec3_index import MAX_HASHES, Nsec3Index
from resolver.cache.nsec_index import NsecIndex
from resolver.cache.rrsets import NXDOMAIN_TYPE
from resolver.config import ValidationLimits
from resolver.dnssec.nsec3 import nsec3_hash
from resolver.wire import rdata as rd
from resolver.wire.name import Name
from resolver.wire.rdata import b32hex_encode
from resolver.wire.rrset import RRset
from resolver.wire.types import Rcode, RRType

from .test_nsec_index import Clock, nsec, soa

N = Name.from_text
A, MX, TXT, CNAME = RRType.A, RRType.MX, RRType.TXT, RRType.CNAME
APEX_TYPES = frozenset({RRType.SOA, RRType.NS, RRType.DNSKEY, RRType.NSEC3PARAM,
                        RRType.RRSIG})
LABELS = ["a", "b", "c", "mail", "www", "x1", "y2", "zz", "q"]


def sig(owner: Name, signer: Name) -> bytes:
    return (struct.pack(">HBBIIIH", RRType.NSEC3, 13, owner.label_count, 300, 2**31, 0, 1)
            + signer.wire + bytes(64))


@dataclass
class Zone:
    apex: Name
    salt: bytes
    iterations: int
    names: dict[bytes, tuple[Name, frozenset[int]]]   # every existing name, ENTs too
    rrsets: list[RRset]

    def hash(self, name: Name) -> bytes:
        return nsec3_hash(name, self.salt, self.iterations)

    def exists(self, name: Name) -> bool:
        return name.key in self.names

    def expected(self, name: Name, qtype: int) -> str:
        """What a complete chain proves: "nxdomain", "nodata" or "answer"."""
        if self.exists(name):
            types = self.names[name.key][1]
            return "answer" if qtype in types or CNAME in types else "nodata"
        ce = name
        while not self.exists(ce):
            ce = ce.parent()
        wildcard = ce.prepend(b"*")
        if self.exists(wildcard):
            return "answer" if qtype in self.names[wildcard.key][1] else "nodata"
        return "nxdomain"


def make_zone(rng: random.Random, apex: str = "z.test.", opt_out: bool = False,
              salt: bytes = b"\xab\xcd", iterations: int = 2) -> Zone:
    origin = N(apex)
    names: dict[bytes, tuple[Name, frozenset[int]]] = {origin.key: (origin, APEX_TYPES)}
    for _ in range(rng.randint(6, 14)):
        labels = [rng.choice(LABELS) for _ in range(rng.randint(1, 3))]
        name = origin
        for label in reversed(labels):
            name = name.prepend(label.encode())
        types = frozenset(rng.sample([A, MX, TXT], rng.randint(1, 2))) | {RRType.RRSIG}
        names[name.key] = (name, types)
    wildcard = origin.prepend(b"w").prepend(b"*")
    names[wildcard.key] = (wildcard, frozenset({A, RRType.RRSIG}))
    for name, _ in list(names.values()):          # the empty non-terminals
        parent = name
        while parent != origin:
            parent = parent.parent()
            names.setdefault(parent.key, (parent, frozenset()))
    hashed = sorted((nsec3_hash(n, salt, iterations), n, t) for n, t in names.values())
    rrsets = []
    for index, (h, _, types) in enumerate(hashed):
        nxt = hashed[(index + 1) % len(hashed)][0]
        data = rd.NSEC3(1, 1 if opt_out else 0, iterations, salt, nxt, types).to_wire()
        owner = origin.prepend(b32hex_encode(h).lower().encode())
        rrsets.append(RRset(owner, RRType.NSEC3, 1, 300, [data], [sig(owner, origin)]))
    return Zone(origin, salt, iterations, names, rrsets)


def queries(rng: random.Random, zone: Zone, count: int) -> list[tuple[Name, int]]:
    existing = [n for n, _ in zone.names.values() if not n.labels[0].startswith(b"*")]
    out = []
    for _ in range(count):
        base = rng.choice(existing)
        if rng.random() < 0.6 and len(base) - len(zone.apex) < 4:
            base = base.prepend(f"n{rng.randrange(10**6)}".encode())
        out.append((base, rng.choice([A, MX, TXT])))
    return out


def result(entry: object) -> str:
    if entry is None:
        return "none"
    assert hasattr(entry, "rcode")
    return "nxdomain" if entry.rcode == Rcode.NXDOMAIN else "nodata"


def filled(zone: Zone, rrsets: list[RRset] | None = None,
           limits: ValidationLimits | None = None) -> tuple[Nsec3Index, Clock]:
    clock = Clock()
    index = Nsec3Index(clock, limits)
    index.add(zone.apex, soa(str(zone.apex)), 300, zone.rrsets if rrsets is None else rrsets)
    return index, clock


def test_complete_chain_matches_the_model() -> None:
    """With the whole chain cached, every denial the zone has is synthesised, and
    nothing else: positive answers and wildcard expansions are never denied."""
    rng = random.Random(8198)
    checked = {"nxdomain": 0, "nodata": 0, "none": 0}
    for _ in range(12):
        zone = make_zone(rng)
        index, _ = filled(zone)
        for name, qtype in queries(rng, zone, 40):
            want = zone.expected(name, qtype)
            got = result(index.lookup(name, qtype, name))
            assert got == ("none" if want == "answer" else want), (name, qtype, want)
            checked[got] += 1
    assert min(checked.values()) > 20, checked


def test_partial_chain_is_sound() -> None:
    """With a random part of the chain, whatever is synthesised is true, and an
    NXDOMAIN carries at most three proof records (fewer when one serves twice)."""
    rng = random.Random(5155)
    synthesised = 0
    for _ in range(12):
        zone = make_zone(rng)
        part = rng.sample(zone.rrsets, len(zone.rrsets) // 2)
        index, _ = filled(zone, part)
        for name, qtype in queries(rng, zone, 40):
            entry = index.lookup(name, qtype, name)
            if entry is None:
                continue
            synthesised += 1
            want = zone.expected(name, qtype)
            assert result(entry) == want, (name, qtype)
            assert all(rs in part for rs in entry.proofs)
            if want == "nxdomain":
                assert entry.qtype == NXDOMAIN_TYPE and 1 <= len(entry.proofs) <= 3
    assert synthesised > 20


def test_opt_out_spans_prove_nothing() -> None:
    """An opt-out chain: a name that does not exist is never denied (an unsigned
    delegation may hide in the span); a NODATA at a name that exists still is."""
    rng = random.Random(4470)
    nodata = 0
    for _ in range(8):
        zone = make_zone(rng, opt_out=True)
        index, _ = filled(zone)
        for name, qtype in queries(rng, zone, 40):
            entry = index.lookup(name, qtype, name)
            if not zone.exists(name):
                assert entry is None, (name, qtype)
            elif entry is not None:
                assert result(entry) == zone.expected(name, qtype) == "nodata"
                nodata += 1
    assert nodata > 5


def test_hashes_are_bounded_and_memoised() -> None:
    rng = random.Random(50868)
    zone = make_zone(rng)
    index, _ = filled(zone)
    name = N("n1.n2.z.test.")
    index.lookup(name, A, name)
    first = index.hashes_computed
    assert 0 < first <= MAX_HASHES
    index.lookup(name, A, name)
    assert index.hashes_computed == first                 # all from the memo
    deep = N(".".join(f"l{i}" for i in range(20)) + ".z.test.")
    assert index.lookup(deep, A, deep) is None          # too deep: not even tried
    assert index.hashes_computed == first


def test_parameters_expiry_and_limits() -> None:
    rng = random.Random(9276)
    zone = make_zone(rng, iterations=60)                  # above the validator's 50
    index, _ = filled(zone)
    assert len(index) == 0
    zone = make_zone(rng, iterations=0, salt=b"")
    index, clock = filled(zone)
    assert len(index) == len(zone.rrsets)
    name = N("nope.z.test.")
    entry = index.lookup(name, A, name)
    assert result(entry) == zone.expected(name, A) == "nxdomain"
    # the zone re-salted: the new chain replaces the old
    resalted = make_zone(random.Random(1), salt=b"\x01")
    index.add(zone.apex, soa("z.test."), 300, resalted.rrsets[:1])
    assert len(index) == 1
    index.add(zone.apex, soa("z.test."), 300, zone.rrsets)
    clock.t += 301
    assert index.lookup(name, A, name) is None            # expired
    # records of another zone, or unsigned, are refused
    assert index.add(N("other.test."), soa("other.test."), 300, zone.rrsets) == 0
    unsigned = [RRset(r.name, r.rtype, 1, 300, r.rdatas) for r in zone.rrsets]
    assert index.add(zone.apex, soa("z.test."), 300, unsigned) == 0


def test_nsec_index_uses_the_closest_zone() -> None:
    """Through NsecIndex (what the service fills): NSEC3 records go to the NSEC3 index;
    a name in an NSEC zone below the NSEC3 zone is looked up in the NSEC zone."""
    rng = random.Random(17)
    zone = make_zone(rng)
    clock = Clock()
    index = NsecIndex(clock)
    assert index.add(zone.apex, soa("z.test."), zone.rrsets) == len(zone.rrsets)
    name = N("nope.z.test.")
    assert result(index.lookup(name, A)) == "nxdomain"
    child = N("sub.z.test.")
    index.add(child, soa("sub.z.test."), [
        nsec("sub.z.test.", "www.sub.z.test.", RRType.NS, RRType.SOA, signer="sub.z.test."),
        nsec("www.sub.z.test.", "sub.z.test.", A, signer="sub.z.test.")])
    entry = index.lookup(N("aaa.sub.z.test."), A)
    assert entry is not None and entry.zone == child and entry.proofs[0].rtype == RRType.NSEC
    assert len(index) == len(zone.rrsets) + 2
    index.drop_zone(zone.apex)
    assert len(index) == 0 and index.lookup(name, A) is None
