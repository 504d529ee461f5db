"""Deterministic DNSSEC signing keys for the test network (never for production).

Keys are derived from a seed string so that tests can rebuild exactly the same
keys: ECDSA and EdDSA private keys come straight from a hash of the seed; RSA
primes are found by a seeded search with Miller-Rabin. Signatures are made with
``cryptography``.

RSASHA1 (5) and RSASHA1-NSEC3-SHA1 (7) are here only so that the test network can
serve a zone a validator must treat as insecure under RFC 9905 (SHA-1 signatures).
"""

from __future__ import annotations

import functools
import hashlib
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

SUPPORTED = (5, 7, 8, 10, 13, 14, 15, 16)

# The hash of each RSA algorithm (RFC 3110, RFC 5155 s2, RFC 5702).
_RSA_HASHES: dict[int, type[hashes.HashAlgorithm]] = {
    5: hashes.SHA1, 7: hashes.SHA1, 8: hashes.SHA256, 10: hashes.SHA512}

_SMALL_PRIMES = [p for p in range(3, 2000) if all(p % q for q in range(2, int(p ** 0.5) + 1))]


class _Stream:
    """A deterministic byte stream from a seed (SHAKE-256 in counter blocks)."""

    def __init__(self, seed: str) -> None:
        self.seed = seed.encode("utf-8")
        self.counter = 0

    def read(self, n: int) -> bytes:
        self.counter += 1
        return hashlib.shake_256(self.seed + struct.pack("!Q", self.counter)).digest(n)

    def integer(self, bits: int) -> int:
        return int.from_bytes(self.read((bits + 7) // 8), "big") >> (-bits % 8)


def _is_probable_prime(n: int, stream: _Stream, rounds: int = 24) -> bool:
    if n < 2:
        return False
    for p in _SMALL_PRIMES:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for _ in range(rounds):
        a = 2 + stream.integer(n.bit_length() - 1) % (n - 3)
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(bits: int, stream: _Stream, e: int) -> int:
    while True:
        candidate = stream.integer(bits) | (3 << (bits - 2)) | 1
        if candidate % e == 1:
            continue
        if _is_probable_prime(candidate, stream):
            return candidate


def _rsa_key(bits: int, stream: _Stream) -> rsa.RSAPrivateKey:
    e = 65537
    while True:
        p = _prime(bits // 2, stream, e)
        q = _prime(bits // 2, stream, e)
        if p == q:
            continue
        n = p * q
        if n.bit_length() != bits:
            continue
        phi = (p - 1) * (q - 1)
        d = pow(e, -1, phi)
        numbers = rsa.RSAPrivateNumbers(
            p=p, q=q, d=d, dmp1=d % (p - 1), dmq1=d % (q - 1), iqmp=pow(q, -1, p),
            public_numbers=rsa.RSAPublicNumbers(e, n))
        return numbers.private_key()


PrivateKey = (rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
              | ed448.Ed448PrivateKey)


@dataclass(frozen=True)
class SigningKey:
    """A private key with its DNSKEY flags and algorithm."""

    algorithm: int
    flags: int
    private: PrivateKey

    @property
    def is_ksk(self) -> bool:
        return bool(self.flags & 0x0001)

    def public_key_bytes(self) -> bytes:
        """The DNSKEY public key field (RFC 3110, RFC 6605, RFC 8080)."""
        priv = self.private
        if isinstance(priv, rsa.RSAPrivateKey):
            nums = priv.public_key().public_numbers()
            exp = nums.e.to_bytes((nums.e.bit_length() + 7) // 8, "big")
            mod = nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big")
            head = bytes((len(exp),)) if len(exp) < 256 else b"\x00" + struct.pack("!H", len(exp))
            return head + exp + mod
        if isinstance(priv, ec.EllipticCurvePrivateKey):
            size = 32 if self.algorithm == 13 else 48
            pub = priv.public_key().public_numbers()
            return pub.x.to_bytes(size, "big") + pub.y.to_bytes(size, "big")
        from cryptography.hazmat.primitives import serialization
        return priv.public_key().public_bytes(serialization.Encoding.Raw,
                                              serialization.PublicFormat.Raw)

    def dnskey_rdata(self) -> bytes:
        return struct.pack("!HBB", self.flags, 3, self.algorithm) + self.public_key_bytes()

    def sign(self, data: bytes) -> bytes:
        """The DNSSEC signature field over *data*."""
        priv = self.private
        if isinstance(priv, rsa.RSAPrivateKey):
            return priv.sign(data, padding.PKCS1v15(), _RSA_HASHES[self.algorithm]())
        if isinstance(priv, ec.EllipticCurvePrivateKey):
            size = 32 if self.algorithm == 13 else 48
            algo = hashes.SHA256() if self.algorithm == 13 else hashes.SHA384()
            r, s = decode_dss_signature(priv.sign(data, ec.ECDSA(algo)))
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")
        return priv.sign(data)


@functools.lru_cache(maxsize=256)
def generate(algorithm: int, seed: str, ksk: bool = False, rsa_bits: int = 2048) -> SigningKey:
    """A deterministic key for *algorithm* derived from *seed* (cached per process)."""
    flags = 0x0101 if ksk else 0x0100
    stream = _Stream(f"{seed}/{algorithm}/{flags}")
    private: PrivateKey
    if algorithm in _RSA_HASHES:
        private = _rsa_key(rsa_bits, stream)
    elif algorithm == 13:
        n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
        private = ec.derive_private_key(1 + stream.integer(320) % (n - 1), ec.SECP256R1())
    elif algorithm == 14:
        n = int("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF"
                "581A0DB248B0A77AECEC196ACCC52973", 16)
        private = ec.derive_private_key(1 + stream.integer(448) % (n - 1), ec.SECP384R1())
    elif algorithm == 15:
        private = ed25519.Ed25519PrivateKey.from_private_bytes(stream.read(32))
    elif algorithm == 16:
        private = ed448.Ed448PrivateKey.from_private_bytes(stream.read(57))
    else:
        raise ValueError(f"cannot make keys for algorithm {algorithm}")
    return SigningKey(algorithm, flags, private)
