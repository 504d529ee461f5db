"""DNSSEC signature algorithms and DS digest types: registry, policy and verification.

Verification is a pure function of (algorithm, public key field of the DNSKEY,
signature field of the RRSIG, signed data); it never raises, and a malformed key or
signature is simply a signature that does not verify. Whether an algorithm may be
*used* is a separate question, answered by an :class:`AlgorithmPolicy`; callers
report an algorithm the policy does not support as "unsupported" (insecure,
RFC 4035 s5.2, RFC 6840 s5.2), never as a failed verification.

Key formats:
- RSA (1, 5, 7, 8, 10): RFC 3110 s2, exponent length in one octet, or a zero octet
  and then two octets; key sizes per RFC 3110 s2 and RFC 5702 s2 (512/1024 to 4096
  bits), exponents of at most 35 bits (as BIND).
- DSA (3, 6): RFC 2536 s2, T | Q | P | G | Y; signatures T | R | S (RFC 2536 s3).
- ECDSA (13, 14): RFC 6605 s4, the point as x | y; signatures r | s.
- EdDSA (15, 16): RFC 8080 s3-4, the raw public key and signature.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from ..lru import Lru

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------
# numbers (IANA "DNS Security Algorithm Numbers" and "DS RR Type Digest Algorithms")

RSAMD5 = 1
DSA = 3
RSASHA1 = 5
DSA_NSEC3_SHA1 = 6
RSASHA1_NSEC3_SHA1 = 7
RSASHA256 = 8
RSASHA512 = 10
ECDSAP256SHA256 = 13
ECDSAP384SHA384 = 14
ED25519 = 15
ED448 = 16

DIGEST_SHA1 = 1
DIGEST_SHA256 = 2
DIGEST_GOST = 3
DIGEST_SHA384 = 4

#: DS digest types this module can compute (hashlib names), RFC 4034 s5.1.4,
#: RFC 4509 s2.2, RFC 6605 s3. GOST (3, RFC 5933) is not implemented.
DIGESTS: dict[int, str] = {
    DIGEST_SHA1: "sha1",
    DIGEST_SHA256: "sha256",
    DIGEST_SHA384: "sha384",
}

Verifier = Callable[[bytes, bytes], bool]
"""A loaded public key: ``verifier(signature, data) -> bool``."""


# --------------------------------------------------------------------------
# policy

@dataclass(frozen=True, slots=True)
class AlgorithmPolicy:
    """Which signature algorithms and DS digest types validation may use.

    An algorithm outside the policy (or not implemented here) is *unsupported*: a
    zone whose DS set has only such algorithms is insecure, not bogus.
    """

    algorithms: frozenset[int]
    digests: frozenset[int]
    name: str = "custom"

    def supports_algorithm(self, algorithm: int) -> bool:
        return algorithm in self.algorithms and algorithm in _REGISTRY

    def supports_digest(self, digest_type: int) -> bool:
        return digest_type in self.digests and digest_type in DIGESTS


# DEFAULT follows the IANA registry columns created by RFC 9904 (which obsoletes
# RFC 8624) as updated by RFC 9905, for *validation*:
# - 8, 10, 13, 14, 15, 16: validated (MUST/RECOMMENDED/MAY implement and use).
# - 5 RSASHA1 and 7 RSASHA1-NSEC3-SHA1: RFC 9905 s2 says implementations MUST keep
#   the code, but "Operators of validating resolvers MUST treat DNSSEC signing
#   algorithms RSASHA1 and RSASHA1-NSEC3-SHA1 as unsupported, rendering responses
#   insecure", and DS records of those algorithms too. So they are off here (zones
#   signed only with them validate as insecure, never bogus) and on in LEGACY.
#   Note: dnspython 2.9's ``rfc_9904_policy`` is still RFC 8624's table and keeps
#   validating 5 and 7; we follow the later RFC 9905 instead.
# - 1 RSAMD5, 3 DSA, 6 DSA-NSEC3-SHA1, 12 GOST: MUST NOT validate (RFC 8624 s3.1,
#   unchanged by RFC 9904). DSA is implemented for LEGACY test profiles only.
# - DS digests: SHA-1 (1) is still "RECOMMENDED" to use for validation and "MUST"
#   implement (RFC 9904 table 3; RFC 9905 deprecates SHA-1 only inside signature
#   algorithms), so it stays enabled; the RFC 4509 s3 rule in keys.match_ds ignores
#   SHA-1 DS whenever a SHA-256/SHA-384 DS is present, which blocks downgrades.
#   SHA-256 (2) and SHA-384 (4) are enabled; GOST (3) is not implemented.
DEFAULT = AlgorithmPolicy(
    algorithms=frozenset({RSASHA256, RSASHA512, ECDSAP256SHA256, ECDSAP384SHA384,
                          ED25519, ED448}),
    digests=frozenset({DIGEST_SHA1, DIGEST_SHA256, DIGEST_SHA384}),
    name="default",
)

#: Everything implemented here, SHA-1 and DSA included: for test profiles and old data.
LEGACY = AlgorithmPolicy(
    algorithms=frozenset({DSA, RSASHA1, DSA_NSEC3_SHA1, RSASHA1_NSEC3_SHA1, RSASHA256,
                          RSASHA512, ECDSAP256SHA256, ECDSAP384SHA384, ED25519, ED448}),
    digests=frozenset({DIGEST_SHA1, DIGEST_SHA256, DIGEST_SHA384}),
    name="legacy",
)


# --------------------------------------------------------------------------
# RSA (RFC 3110 s2, RFC 5702 s2)

MAX_RSA_BITS = 4096
# A huge public exponent only makes verification slow (real keys use 3 or 65537);
# BIND refuses exponents above 35 bits (RSA_MAX_PUBEXP_BITS), and so do we.
MAX_RSA_EXPONENT_BITS = 35


def parse_rsa_key(key: bytes) -> tuple[int, int] | None:
    """(exponent, modulus) of an RFC 3110 s2 public key field, or None if malformed."""
    if not key:
        return None
    if key[0]:
        elen, start = key[0], 1
    else:
        if len(key) < 3:
            return None
        elen, start = (key[1] << 8) | key[2], 3
    if elen == 0 or start + elen >= len(key):
        return None
    exponent = int.from_bytes(key[start:start + elen], "big")
    modulus = int.from_bytes(key[start + elen:], "big")
    return exponent, modulus


def _load_rsa(min_bits: int, hash_cls: type[hashes.HashAlgorithm], key: bytes) -> Verifier | None:
    parsed = parse_rsa_key(key)
    if parsed is None:
        return None
    exponent, modulus = parsed
    if not min_bits <= modulus.bit_length() <= MAX_RSA_BITS:
        return None
    if exponent.bit_length() > MAX_RSA_EXPONENT_BITS:
        return None
    public = rsa.RSAPublicNumbers(exponent, modulus).public_key()
    # padding and hash objects are immutable parameters: made once per key, not per call
    return functools.partial(_rsa_verify, public.verify, _PKCS1, hash_cls())


_PKCS1 = padding.PKCS1v15()


def _rsa_verify(check: Callable[[bytes, bytes, padding.PKCS1v15, hashes.HashAlgorithm], None],
                pad: padding.PKCS1v15, digest: hashes.HashAlgorithm,
                signature: bytes, data: bytes) -> bool:
    check(signature, data, pad, digest)
    return True


# --------------------------------------------------------------------------
# ECDSA (RFC 6605 s4)

def _load_ecdsa(curve: ec.EllipticCurve, size: int, hash_cls: type[hashes.HashAlgorithm],
                key: bytes) -> Verifier | None:
    if len(key) != 2 * size:
        return None
    public = ec.EllipticCurvePublicKey.from_encoded_point(curve, b"\x04" + key)
    return functools.partial(_ecdsa_verify, public.verify, size, ec.ECDSA(hash_cls()))


def _ecdsa_verify(check: Callable[[bytes, bytes, ec.ECDSA], None], size: int,
                  scheme: ec.ECDSA, signature: bytes, data: bytes) -> bool:
    if len(signature) != 2 * size:
        return False
    r = int.from_bytes(signature[:size], "big")
    s = int.from_bytes(signature[size:], "big")
    check(encode_dss_signature(r, s), data, scheme)
    return True


# --------------------------------------------------------------------------
# EdDSA (RFC 8080 s3, s4)

def _load_ed25519(key: bytes) -> Verifier | None:
    if len(key) != 32:
        return None
    public = ed25519.Ed25519PublicKey.from_public_bytes(key)
    return functools.partial(_eddsa_verify, public.verify, 64)


def _load_ed448(key: bytes) -> Verifier | None:
    if len(key) != 57:
        return None
    public = ed448.Ed448PublicKey.from_public_bytes(key)
    return functools.partial(_eddsa_verify, public.verify, 114)


def _eddsa_verify(check: Callable[[bytes, bytes], None], size: int,
                  signature: bytes, data: bytes) -> bool:
    if len(signature) != size:
        return False
    check(signature, data)
    return True


# --------------------------------------------------------------------------
# DSA (RFC 2536), verified with integer arithmetic: cryptography refuses the
# 512-bit keys RFC 2536 allows, and DSA is only ever enabled for test profiles.

@dataclass(frozen=True, slots=True)
class DsaPublicKey:
    p: int
    q: int
    g: int
    y: int

    def verify(self, signature: bytes, data: bytes) -> bool:
        """FIPS 186 verification with SHA-1 (RFC 2536 s3)."""
        rs = _dsa_signature(signature)
        if rs is None:
            return False
        r, s = rs
        p, q = self.p, self.q
        if not (0 < r < q and 0 < s < q):
            return False
        z = int.from_bytes(hashlib.sha1(data).digest(), "big")
        excess = 160 - q.bit_length()
        if excess > 0:
            z >>= excess
        w = pow(s, -1, q)
        u1 = z * w % q
        u2 = r * w % q
        v = pow(self.g, u1, p) * pow(self.y, u2, p) % p % q
        return v == r


def parse_dsa_key(key: bytes) -> DsaPublicKey | None:
    """RFC 2536 s2: T (0..8) | Q (20) | P | G | Y, each of P, G, Y 64 + 8T octets."""
    if not key or key[0] > 8:
        return None
    size = 64 + 8 * key[0]
    if len(key) != 1 + 20 + 3 * size:
        return None
    q = int.from_bytes(key[1:21], "big")
    pos = 21
    p = int.from_bytes(key[pos:pos + size], "big")
    g = int.from_bytes(key[pos + size:pos + 2 * size], "big")
    y = int.from_bytes(key[pos + 2 * size:], "big")
    if not (1 < q < p and 1 < g < p and 1 < y < p) or (p - 1) % q:
        return None
    return DsaPublicKey(p, q, g, y)


def _dsa_signature(signature: bytes) -> tuple[int, int] | None:
    """(r, s) from RFC 2536 s3 (T | R | S, 41 octets) or a DER Dss-Sig-Value."""
    if len(signature) == 41 and signature[0] <= 8:
        return int.from_bytes(signature[1:21], "big"), int.from_bytes(signature[21:], "big")
    if signature[:1] == b"\x30":
        try:
            return decode_dss_signature(signature)
        except ValueError:
            return None
    return None


def _load_dsa(key: bytes) -> Verifier | None:
    parsed = parse_dsa_key(key)
    return None if parsed is None else parsed.verify


# --------------------------------------------------------------------------
# registry

@dataclass(frozen=True, slots=True)
class AlgorithmSpec:
    """An implemented signature algorithm: number, mnemonic and key loader."""

    number: int
    mnemonic: str
    load: Callable[[bytes], Verifier | None]


_SPECS = (
    AlgorithmSpec(DSA, "DSA", _load_dsa),
    AlgorithmSpec(RSASHA1, "RSASHA1", functools.partial(_load_rsa, 512, hashes.SHA1)),
    AlgorithmSpec(DSA_NSEC3_SHA1, "DSA-NSEC3-SHA1", _load_dsa),
    AlgorithmSpec(RSASHA1_NSEC3_SHA1, "RSASHA1-NSEC3-SHA1",
                  functools.partial(_load_rsa, 512, hashes.SHA1)),
    AlgorithmSpec(RSASHA256, "RSASHA256", functools.partial(_load_rsa, 512, hashes.SHA256)),
    AlgorithmSpec(RSASHA512, "RSASHA512", functools.partial(_load_rsa, 1024, hashes.SHA512)),
    AlgorithmSpec(ECDSAP256SHA256, "ECDSAP256SHA256",
                  functools.partial(_load_ecdsa, ec.SECP256R1(), 32, hashes.SHA256)),
    AlgorithmSpec(ECDSAP384SHA384, "ECDSAP384SHA384",
                  functools.partial(_load_ecdsa, ec.SECP384R1(), 48, hashes.SHA384)),
    AlgorithmSpec(ED25519, "ED25519", _load_ed25519),
    AlgorithmSpec(ED448, "ED448", _load_ed448),
)
_REGISTRY: dict[int, AlgorithmSpec] = {spec.number: spec for spec in _SPECS}

#: Algorithm numbers with an implementation (whether or not a policy enables them).
IMPLEMENTED: frozenset[int] = frozenset(_REGISTRY)

_ERRORS = (InvalidSignature, ValueError, TypeError, OverflowError, UnsupportedAlgorithm)


def is_implemented(algorithm: int) -> bool:
    return algorithm in _REGISTRY


def mnemonic(algorithm: int) -> str:
    spec = _REGISTRY.get(algorithm)
    return spec.mnemonic if spec else f"ALG{algorithm}"


# --------------------------------------------------------------------------
# loaded-key cache

_ABSENT = object()


class _KeyCache:
    """A bounded LRU of loaded keys keyed by (algorithm, key bytes). Malformed keys
    are cached too (as None) so they are not parsed again.

    The one module-level memo of the dnssec package (:data:`KEY_CACHE`), kept there on
    purpose: a loaded key is a pure function of its bytes, valid under any anchors,
    policy or clock, so sharing it changes no result; its lock makes it safe from any
    thread; and an owner object would have to be passed to every signature check for
    no gain."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: Lru[tuple[int, bytes], Verifier | None] = Lru(size)
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, spec: AlgorithmSpec, key: bytes) -> Verifier | None:
        ident = (spec.number, key)
        with self._lock:
            known = self._data.use(ident, _ABSENT)
            if known is not _ABSENT:
                self.hits += 1
                return cast("Verifier | None", known)
            self.misses += 1
        loaded = _load(spec, key)
        with self._lock:
            self._data[ident] = loaded
        return loaded

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._data)


def _load(spec: AlgorithmSpec, key: bytes) -> Verifier | None:
    try:
        return spec.load(key)
    except _ERRORS as exc:
        log.debug("unusable %s key: %s", spec.mnemonic, exc)
        return None


KEY_CACHE = _KeyCache(2048)


def load_key(algorithm: int, public_key: bytes) -> Verifier | None:
    """The verifier for a DNSKEY public key field (cached), or None when the algorithm
    is not implemented or the key is malformed."""
    spec = _REGISTRY.get(algorithm)
    if spec is None:
        return None
    return KEY_CACHE.get(spec, bytes(public_key))


def verify_signature(algorithm: int, public_key: bytes, signature: bytes, data: bytes) -> bool:
    """Whether *signature* over *data* verifies with the DNSKEY public key field
    *public_key* under *algorithm*. False for unknown algorithms, malformed keys or
    signatures; never raises. Policy is not consulted here."""
    verifier = load_key(algorithm, public_key)
    if verifier is None:
        return False
    try:
        return verifier(bytes(signature), bytes(data))
    except _ERRORS:
        return False


def key_bits(algorithm: int, public_key: bytes) -> int | None:
    """The key size in bits (RSA modulus, DSA prime, curve size), for logs and limits."""
    if algorithm in (RSAMD5, RSASHA1, RSASHA1_NSEC3_SHA1, RSASHA256, RSASHA512):
        parsed = parse_rsa_key(public_key)
        return None if parsed is None else parsed[1].bit_length()
    if algorithm in (DSA, DSA_NSEC3_SHA1):
        dsa = parse_dsa_key(public_key)
        return None if dsa is None else dsa.p.bit_length()
    return {ECDSAP256SHA256: 256, ECDSAP384SHA384: 384, ED25519: 256, ED448: 456}.get(algorithm)
