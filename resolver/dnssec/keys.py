"""DNSKEY key tags, DS digests and matching a DS RRset to a DNSKEY RRset.

- key tag: RFC 4034 Appendix B (and B.1 for algorithm 1);
- DS digest: RFC 4034 s5.1.4 (SHA-1), RFC 4509 s2.1 (SHA-256), RFC 6605 s3 (SHA-384);
- authenticating DNSKEYs from a DS RRset: RFC 4035 s5.2, RFC 4509 s3, RFC 6840 s5.2.
"""

from __future__ import annotations

import hashlib
import logging
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ..config import ValidationLimits as Limits
from ..wire import rdata as rd
from ..wire.name import Name
from ..wire.types import RRType
from .algorithms import DEFAULT, DIGEST_SHA1, DIGESTS, AlgorithmPolicy
from .status import Problem, Verdict

log = logging.getLogger(__name__)

DNSSEC_PROTOCOL = 3


def key_tag(dnskey_rdata: bytes) -> int:
    """RFC 4034 Appendix B: the 16-bit tag of a DNSKEY (wire RDATA).

    For algorithm 1 (RSA/MD5) the tag is the most significant 16 of the least
    significant 24 bits of the modulus (Appendix B.1)."""
    data = bytes(dnskey_rdata)
    if len(data) >= 4 and data[3] == 1:
        return int.from_bytes(data[-3:-1], "big") if len(data) >= 7 else 0
    acc = (sum(data[0::2]) << 8) + sum(data[1::2])
    acc += (acc >> 16) & 0xFFFF
    return acc & 0xFFFF


def ds_digest(owner: Name, dnskey_rdata: bytes, digest_type: int) -> bytes | None:
    """digest(canonical owner name | DNSKEY RDATA) (RFC 4034 s5.1.4), or None when
    *digest_type* is not implemented. DNSKEY RDATA holds no names, so it is already
    canonical."""
    algo = DIGESTS.get(digest_type)
    if algo is None:
        return None
    return hashlib.new(algo, owner.key + bytes(dnskey_rdata)).digest()


def make_ds(owner: Name, dnskey_rdata: bytes, digest_type: int) -> bytes:
    """DS RDATA for a DNSKEY (RFC 4034 s5.1); raises ValueError for an unimplemented
    digest type or a DNSKEY RDATA shorter than its fixed fields."""
    if len(dnskey_rdata) < 4:
        raise ValueError("DNSKEY RDATA too short")
    digest = ds_digest(owner, dnskey_rdata, digest_type)
    if digest is None:
        raise ValueError(f"unsupported DS digest type {digest_type}")
    return struct.pack("!HBB", key_tag(dnskey_rdata), dnskey_rdata[3], digest_type) + digest


@dataclass(frozen=True, slots=True)
class DsKeyMatch:
    """One DS record that authenticates one DNSKEY."""

    ds: rd.DS
    key: bytes           # the DNSKEY RDATA
    key_tag: int


@dataclass(frozen=True, slots=True)
class DsMatch:
    """The outcome of matching a DS RRset against a DNSKEY RRset.

    ``verdict`` is SECURE when at least one DNSKEY is authenticated; INSECURE with
    UNSUPPORTED_ALGORITHM / UNSUPPORTED_DIGEST when no DS is usable under the policy
    (RFC 4035 s5.2: treat the zone as unsigned); BOGUS with DS_MISMATCH,
    DNSKEY_MISSING, KEY_REVOKED or KEY_NOT_ZONE_KEY when usable DS exist but
    authenticate no usable key.
    """

    verdict: Verdict
    matches: tuple[DsKeyMatch, ...] = ()
    considered: int = 0                       # DS records looked at (<= ds_per_zone)
    usable: tuple[rd.DS, ...] = ()            # DS records used after policy and RFC 4509
    ignored: tuple[tuple[int, str], ...] = field(default=())  # (index, why)

    @property
    def keys(self) -> tuple[bytes, ...]:
        """The authenticated DNSKEY RDATAs, without duplicates, in match order."""
        seen: dict[bytes, None] = {}
        for m in self.matches:
            seen.setdefault(m.key, None)
        return tuple(seen)

    @property
    def algorithms(self) -> frozenset[int]:
        """Algorithms of the usable DS records (RFC 6840 s5.11 signalling)."""
        return frozenset(d.algorithm for d in self.usable)

    @property
    def ok(self) -> bool:
        return self.verdict.ok


@dataclass(slots=True)
class _Key:
    data: bytes
    key: rd.DNSKEY
    tag: int


def _decode_keys(dnskey_rdatas: Iterable[bytes]) -> list[_Key]:
    out = []
    for data in dnskey_rdatas:
        try:
            key = rd.decode(RRType.DNSKEY, data)
        except rd.RdataError:
            continue
        assert isinstance(key, rd.DNSKEY)
        out.append(_Key(bytes(data), key, key_tag(data)))
    return out


def _decode_ds(ds_rdatas: Sequence[bytes], limit: int,
               ignored: list[tuple[int, str]]) -> list[tuple[int, rd.DS]]:
    out = []
    for index, data in enumerate(ds_rdatas):
        if index >= limit:
            ignored.append((index, "over the DS-per-zone limit"))
            continue
        try:
            ds = rd.decode(RRType.DS, data)
        except rd.RdataError:
            ignored.append((index, "malformed"))
            continue
        assert isinstance(ds, rd.DS)
        out.append((index, ds))
    return out


def _usable_ds(decoded: list[tuple[int, rd.DS]], policy: AlgorithmPolicy,
               ignored: list[tuple[int, str]]) -> list[rd.DS]:
    """Apply the policy, then RFC 4509 s3: ignore SHA-1 DS when a stronger supported
    digest is present in the set."""
    usable: list[tuple[int, rd.DS]] = []
    for index, ds in decoded:
        if not policy.supports_algorithm(ds.algorithm):
            ignored.append((index, f"unsupported algorithm {ds.algorithm}"))
        elif not policy.supports_digest(ds.digest_type):
            ignored.append((index, f"unsupported digest type {ds.digest_type}"))
        else:
            usable.append((index, ds))
    if any(ds.digest_type != DIGEST_SHA1 for _, ds in usable):
        for index, ds in usable:
            if ds.digest_type == DIGEST_SHA1:
                ignored.append((index, "SHA-1 ignored next to a stronger digest (RFC 4509 s3)"))
        usable = [(i, ds) for i, ds in usable if ds.digest_type != DIGEST_SHA1]
    return [ds for _, ds in usable]


def _unsupported_verdict(decoded: list[tuple[int, rd.DS]], policy: AlgorithmPolicy,
                         malformed: bool) -> Verdict:
    """No DS is usable: INSECURE only when every DS was read and none has an algorithm
    and digest we implement (RFC 4035 s5.2). A DS that could not be read (malformed, or
    past the DS-per-zone limit) might have been a usable one: fail closed (a broken
    anchor or DS RRset never turns a zone insecure)."""
    if not decoded or malformed:
        return Verdict.bogus(Problem.DS_MISMATCH, "a DS record could not be decoded")
    if any(policy.supports_algorithm(ds.algorithm) for _, ds in decoded):
        types = sorted({ds.digest_type for _, ds in decoded})
        return Verdict.insecure(Problem.UNSUPPORTED_DIGEST, f"DS digest types {types}")
    algs = sorted({ds.algorithm for _, ds in decoded})
    return Verdict.insecure(Problem.UNSUPPORTED_ALGORITHM, f"DS algorithms {algs}")


def _key_unusable(key: rd.DNSKEY) -> Problem | None:
    """RFC 4034 s2.1.1/s5.2 (zone key, protocol 3) and RFC 5011 s2.1 (revoked)."""
    if key.protocol != DNSSEC_PROTOCOL or not key.is_zone_key:
        return Problem.KEY_NOT_ZONE_KEY
    if key.is_revoked:
        return Problem.KEY_REVOKED
    return None


def match_ds(owner: Name, ds_rdatas: Sequence[bytes], dnskey_rdatas: Sequence[bytes],
             policy: AlgorithmPolicy = DEFAULT, limits: Limits | None = None) -> DsMatch:
    """Which DNSKEYs of *owner* the DS RRset authenticates (RFC 4035 s5.2).

    At most ``limits.ds_per_zone`` DS records are considered. A DS matches a DNSKEY
    when key tag, algorithm and digest agree; the DNSKEY must be a zone key with
    protocol 3 and without the REVOKE bit.
    """
    limit = (limits or Limits()).ds_per_zone
    ignored: list[tuple[int, str]] = []
    decoded = _decode_ds(ds_rdatas, limit, ignored)
    usable = _usable_ds(decoded, policy, ignored)
    considered = min(len(ds_rdatas), limit)
    if not usable:
        malformed = any(why in ("malformed", "over the DS-per-zone limit") for _, why in ignored)
        verdict = _unsupported_verdict(decoded, policy, malformed)
        return DsMatch(verdict, considered=considered, ignored=tuple(ignored))

    keys = _decode_keys(dnskey_rdatas)
    matches: list[DsKeyMatch] = []
    tag_seen = False
    unusable: Problem | None = None
    digests: dict[tuple[int, int], bytes | None] = {}
    for ds in usable:
        for index, k in enumerate(keys):
            if k.tag != ds.key_tag or k.key.algorithm != ds.algorithm:
                continue
            tag_seen = True
            ident = (index, ds.digest_type)
            if ident not in digests:
                digests[ident] = ds_digest(owner, k.data, ds.digest_type)
            if digests[ident] != ds.digest:
                continue
            problem = _key_unusable(k.key)
            if problem is not None:
                unusable = unusable or problem
                continue
            matches.append(DsKeyMatch(ds, k.data, k.tag))
    if matches:
        verdict = Verdict.secure()
    elif unusable is not None:
        verdict = Verdict.bogus(unusable, "the DNSKEY the DS names is not usable")
    elif tag_seen:
        verdict = Verdict.bogus(Problem.DS_MISMATCH, _tags(usable))
    else:
        verdict = Verdict.bogus(Problem.DNSKEY_MISSING, _tags(usable))
    if not matches:
        log.debug("DS for %s match no DNSKEY: %s", owner, verdict)
    return DsMatch(verdict, tuple(matches), considered, tuple(usable), tuple(ignored))


def _tags(usable: Iterable[rd.DS]) -> str:
    return "DS " + ", ".join(f"{d.key_tag}/{d.algorithm}/{d.digest_type}" for d in usable)
