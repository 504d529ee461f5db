"""A zone signer for the test network (our own code on ``cryptography``).

Signs an unsigned zone with KSK+ZSK or a CSK, algorithms 5, 7, 8, 10, 13, 14, 15, 16;
NSEC or NSEC3 (salt, iterations, opt-out); a validity window chosen by the caller;
keys derived from a seed so tests can rebuild them. It can also break the result
on purpose (:class:`Fault`). It never decides what is valid: ``zone-check`` does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum

from ..authority.zone import Zone
from ..dnssec.canonical import signed_data
from ..dnssec.keys import key_tag, make_ds
from ..dnssec.nsec3 import nsec3_hash
from ..wire import rdata as rd
from ..wire.message import RR
from ..wire.name import Name
from ..wire.rrset import RRset
from ..wire.types import RRType
from .signing_keys import SigningKey, generate

UNKNOWN_ALGORITHM = 100
PRIVATE_ALGORITHM = 253   # PRIVATEDNS (RFC 4034 A.1.1): no validator can support it


class Fault(Enum):
    """Deliberate damage (each mirrors one bogus or insecure case a validator must handle)."""

    EXPIRED = "expired"              # every RRSIG expired (valid from -60 d to -30 d)
    NOT_YET_VALID = "not-yet-valid"  # every RRSIG starts in 30 days
    CORRUPT = "corrupt"              # a bit flipped in the RRSIGs over data (not keys,
                                     # SOA, NS, denial, nor names starting "ok.")
    MISSING_RRSIG = "missing-rrsig"  # the RRSIG over www.<zone> A removed
    BAD_DS = "bad-ds"                # the DS for the parent does not match the key
    DS_UNSIGNED = "ds-unsigned"      # zone served unsigned, but a DS is published
    UNKNOWN_ALGORITHM = "unknown-algorithm"  # keys and RRSIGs relabelled algorithm 100
    PRIVATE_ALGORITHM = "private-algorithm"  # keys and RRSIGs relabelled algorithm 253
    # Not damage: the parent also publishes a DS of algorithm 253 for a key the zone
    # does not have, next to the real one. A validator must validate with the real
    # key's algorithm and not take the unsupported DS as a reason for "insecure"
    # (RFC 6840 s5.11) nor accept RRSIGs that claim 253 (issue 13).
    EXTRA_PRIVATE_DS = "extra-private-ds"


@dataclass(slots=True)
class SignSpec:
    algorithm: int = 13
    denial: str = "nsec"            # "nsec" or "nsec3"
    iterations: int = 0
    salt: bytes = b""
    opt_out: bool = False
    csk: bool = False               # one combined key instead of KSK + ZSK
    inception: int = 0
    expiration: int = 0
    seed: str = "resolver-testnet"
    faults: frozenset[Fault] = field(default_factory=frozenset)


@dataclass(slots=True)
class SignedZone:
    origin: Name
    records: list[RR]
    ds: list[RR]                    # DS records the parent must publish (may be empty)
    keys: list[SigningKey]
    signatures: int = 0


_DAY = 86400


def sign_zone(origin: Name, records: Iterable[RR], spec: SignSpec) -> SignedZone:
    """Return the signed zone and the DS records for its parent."""
    records = [rr for rr in records if rr.rtype not in
               (RRType.RRSIG, RRType.NSEC, RRType.NSEC3, RRType.NSEC3PARAM, RRType.DNSKEY)]
    seed = f"{spec.seed}/{origin.to_text()}"
    if Fault.DS_UNSIGNED in spec.faults:
        never = generate(spec.algorithm, seed + "/never-published", ksk=True)
        fake = RR(origin, RRType.DS, 1, 3600, make_ds(origin, never.dnskey_rdata(), 2))
        return SignedZone(origin, records, [fake], [])
    ksk = generate(spec.algorithm, seed, ksk=True)
    keys = [ksk] if spec.csk else [ksk, generate(spec.algorithm, seed, ksk=False)]
    zsk = keys[-1]
    inception, expiration = spec.inception, spec.expiration
    if Fault.EXPIRED in spec.faults:
        inception, expiration = spec.inception - 60 * _DAY, spec.inception - 30 * _DAY
    if Fault.NOT_YET_VALID in spec.faults:
        inception, expiration = spec.inception + 30 * _DAY, spec.expiration + 30 * _DAY
    relabel = _relabel_to(spec.faults)
    soa_ttl = _soa_minimum(records, origin)
    dnskey_ttl = next((rr.ttl for rr in records if rr.rtype == RRType.SOA), 3600)
    dnskey_rdata = [_relabelled(k.dnskey_rdata(), relabel) for k in keys]
    records = records + [RR(origin, RRType.DNSKEY, 1, dnskey_ttl, d) for d in dnskey_rdata]
    zone = Zone.from_records(origin, records)
    if spec.denial == "nsec3":
        records += _nsec3_records(zone, spec, soa_ttl)
    else:
        records += _nsec_records(zone, soa_ttl)
    zone = Zone.from_records(origin, records)
    signed: list[RR] = list(records)
    count = 0
    for rrset in sorted(zone.rrsets(), key=lambda r: (r.name.canonical_sort_key(), r.rtype)):
        if not rrset.rdatas or not zone.is_authoritative(rrset.name, rrset.rtype):
            continue
        signers = [ksk] if rrset.rtype == RRType.DNSKEY and not spec.csk else [zsk]
        for key in signers:
            sig = _sign(rrset, key, origin, inception, expiration, relabel)
            if _damaged(spec.faults, rrset, origin):
                sig = sig[:-1] + bytes((sig[-1] ^ 0x01,))
            if Fault.MISSING_RRSIG in spec.faults and rrset.rtype == RRType.A \
                    and rrset.name == origin.prepend(b"www"):
                continue
            signed.append(RR(rrset.name, RRType.RRSIG, rrset.rclass, rrset.ttl, sig))
            count += 1
    ds_rdata = make_ds(origin, dnskey_rdata[0], 2)
    if Fault.BAD_DS in spec.faults:
        ds_rdata = ds_rdata[:-1] + bytes((ds_rdata[-1] ^ 0x01,))
    ds = [RR(origin, RRType.DS, 1, dnskey_ttl, ds_rdata)]
    if Fault.EXTRA_PRIVATE_DS in spec.faults:
        absent = generate(spec.algorithm, seed + "/private-ds", ksk=True).dnskey_rdata()
        ds.append(RR(origin, RRType.DS, 1, dnskey_ttl,
                     make_ds(origin, _relabelled(absent, PRIVATE_ALGORITHM), 2)))
    return SignedZone(origin, signed, ds, keys, count)


def _soa_minimum(records: list[RR], origin: Name) -> int:
    for rr in records:
        if rr.rtype == RRType.SOA and rr.name == origin:
            soa = rd.decode(RRType.SOA, rr.rdata)
            assert isinstance(soa, rd.SOA)
            return min(rr.ttl, soa.minimum)  # RFC 9077 s3
    raise ValueError(f"{origin}: no SOA")


def _relabel_to(faults: frozenset[Fault]) -> int | None:
    """The algorithm number the keys and RRSIGs must claim instead of the real one."""
    if Fault.PRIVATE_ALGORITHM in faults:
        return PRIVATE_ALGORITHM
    if Fault.UNKNOWN_ALGORITHM in faults:
        return UNKNOWN_ALGORITHM
    return None


def _relabelled(dnskey: bytes, relabel: int | None) -> bytes:
    return dnskey[:3] + bytes((relabel,)) + dnskey[4:] if relabel is not None else dnskey


def _damaged(faults: frozenset[Fault], rrset: RRset, origin: Name) -> bool:
    if Fault.CORRUPT not in faults:
        return False
    if rrset.rtype in (RRType.DNSKEY, RRType.SOA, RRType.NS, RRType.NSEC, RRType.NSEC3,
                       RRType.NSEC3PARAM):
        return False
    return not rrset.name.is_subdomain(origin.prepend(b"ok"))


def _sign(rrset: RRset, key: SigningKey, origin: Name, inception: int, expiration: int,
          relabel: int | None) -> bytes:
    algorithm = key.algorithm if relabel is None else relabel
    tag = key_tag(_relabelled(key.dnskey_rdata(), relabel))
    header = rd.RRSIG(rrset.rtype, algorithm, rrset.name.label_count, rrset.ttl,
                      expiration & 0xFFFFFFFF, inception & 0xFFFFFFFF, tag, origin, b"")
    data = signed_data(rrset, header)
    if relabel is not None:  # sign what the real algorithm would, then claim another one
        data = signed_data(rrset, rd.RRSIG(rrset.rtype, key.algorithm, header.labels,
                                           header.original_ttl, header.expiration,
                                           header.inception, key_tag(key.dnskey_rdata()),
                                           origin, b""))
    signature = key.sign(data)
    return header.to_wire() + signature


# --------------------------------------------------------------------------
# denial of existence

def _types_at(zone: Zone, name: Name) -> set[int]:
    node = zone.node(name)
    if node is None:
        return set()
    types = node.types()
    if name != zone.origin and zone.cut_above(name) is not None:
        types &= {RRType.NS, RRType.DS}
    return types


def _nsec_records(zone: Zone, ttl: int) -> list[RR]:
    names = [n for n in zone.authoritative_names() if _types_at(zone, n)]
    out = []
    for i, name in enumerate(names):
        following = names[(i + 1) % len(names)]
        types = _types_at(zone, name) | {RRType.NSEC, RRType.RRSIG}
        out.append(RR(name, RRType.NSEC, 1, ttl, rd.NSEC(following, frozenset(types)).to_wire()))
    return out


def _nsec3_records(zone: Zone, spec: SignSpec, ttl: int) -> list[RR]:
    origin = zone.origin
    names = [n for n in zone.authoritative_names() if _types_at(zone, n)]
    members: dict[bytes, Name] = {}
    for name in names:
        insecure_cut = (name != origin and zone.cut_above(name) is not None
                        and zone.get(name, RRType.DS) is None)
        if spec.opt_out and insecure_cut:
            continue
        anc = name
        while True:
            members.setdefault(anc.key, anc)
            if len(anc) <= len(origin):
                break
            anc = anc.parent()
    flags = 1 if spec.opt_out else 0
    hashed = sorted((nsec3_hash(n, spec.salt, spec.iterations), n) for n in members.values())
    out = []
    for i, (digest, name) in enumerate(hashed):
        following = hashed[(i + 1) % len(hashed)][0]
        types = _types_at(zone, name)
        if types - {RRType.NS} or (name == origin):
            types = types | {RRType.RRSIG}
        if name == origin:
            types = types | {RRType.NSEC3PARAM}
        value = rd.NSEC3(1, flags, spec.iterations, spec.salt, following, frozenset(types))
        owner = origin.prepend(rd.b32hex_encode(digest).encode("ascii"))
        out.append(RR(owner, RRType.NSEC3, 1, ttl, value.to_wire()))
    param = rd.NSEC3PARAM(1, 0, spec.iterations, spec.salt)
    out.append(RR(origin, RRType.NSEC3PARAM, 1, 0, param.to_wire()))
    return out


def ds_records(origin: Name, keys: Iterable[SigningKey], digest_type: int = 2) -> list[RR]:
    """DS records for the key-signing keys in *keys*."""
    return [RR(origin, RRType.DS, 1, 3600, make_ds(origin, k.dnskey_rdata(), digest_type))
            for k in keys if k.is_ksk]
