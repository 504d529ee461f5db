"""Signature algorithms: verification per algorithm, key formats, malformed input,
the loaded-key cache, DSA by hand, and the validation policy."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import random

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from resolver.dnssec import algorithms as alg
from resolver.dnssec.algorithms import (
    DEFAULT,
    LEGACY,
    AlgorithmPolicy,
    load_key,
    parse_dsa_key,
    parse_rsa_key,
    verify_signature,
)

from . import VECTORS

DATA = b"some data to sign \x00\xff" * 7


# --------------------------------------------------------------------------
# key encoders (RFC 3110, RFC 2536, RFC 6605, RFC 8080)

def rsa_field(e: int, n: int, long_form: bool = False) -> bytes:
    exp = e.to_bytes((e.bit_length() + 7) // 8, "big")
    head = b"\x00" + len(exp).to_bytes(2, "big") if long_form else bytes((len(exp),))
    return head + exp + n.to_bytes((n.bit_length() + 7) // 8, "big")


def rsa_key_field(key: rsa.RSAPrivateKey, long_form: bool = False) -> bytes:
    numbers = key.public_key().public_numbers()
    return rsa_field(numbers.e, numbers.n, long_form)


def ec_key_field(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)[1:]


def ec_raw_signature(key: ec.EllipticCurvePrivateKey, size: int,
                     hash_alg: hashes.HashAlgorithm, data: bytes) -> bytes:
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hash_alg)))
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def dsa_key_field(p: int, q: int, g: int, y: int) -> bytes:
    size = (p.bit_length() + 7) // 8
    t = (size - 64) // 8
    return (bytes((t,)) + q.to_bytes(20, "big") + p.to_bytes(size, "big")
            + g.to_bytes(size, "big") + y.to_bytes(size, "big"))


def dsa_rfc2536_signature(t: int, r: int, s: int) -> bytes:
    return bytes((t,)) + r.to_bytes(20, "big") + s.to_bytes(20, "big")


@pytest.fixture(scope="module")
def rsa2048() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, 2048)


@pytest.fixture(scope="module")
def rsa1024() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, 1024)


def flip(data: bytes, index: int = -1) -> bytes:
    out = bytearray(data)
    out[index] ^= 1
    return bytes(out)


# --------------------------------------------------------------------------
# RSA

@pytest.mark.parametrize(("number", "hash_alg"), [
    (alg.RSASHA1, hashes.SHA1()), (alg.RSASHA1_NSEC3_SHA1, hashes.SHA1()),
    (alg.RSASHA256, hashes.SHA256()), (alg.RSASHA512, hashes.SHA512()),
])
def test_rsa_round_trip(rsa2048: rsa.RSAPrivateKey, number: int,
                        hash_alg: hashes.HashAlgorithm) -> None:
    sig = rsa2048.sign(DATA, padding.PKCS1v15(), hash_alg)
    field = rsa_key_field(rsa2048)
    assert verify_signature(number, field, sig, DATA)
    assert not verify_signature(number, field, sig, flip(DATA))
    assert not verify_signature(number, field, flip(sig), DATA)
    assert not verify_signature(number, field, sig[:-1], DATA)


def test_rsa_wrong_hash_fails(rsa2048: rsa.RSAPrivateKey) -> None:
    sig = rsa2048.sign(DATA, padding.PKCS1v15(), hashes.SHA256())
    assert not verify_signature(alg.RSASHA512, rsa_key_field(rsa2048), sig, DATA)
    assert not verify_signature(alg.RSASHA1, rsa_key_field(rsa2048), sig, DATA)


def test_rsa_exponent_long_form(rsa1024: rsa.RSAPrivateKey) -> None:
    """RFC 3110 s2: a zero first octet, then a two-octet exponent length."""
    sig = rsa1024.sign(DATA, padding.PKCS1v15(), hashes.SHA256())
    short = rsa_key_field(rsa1024)
    long = rsa_key_field(rsa1024, long_form=True)
    assert short[0] == 3 and long[:3] == b"\x00\x00\x03"
    assert parse_rsa_key(short) == parse_rsa_key(long)
    assert verify_signature(alg.RSASHA256, long, sig, DATA)
    assert verify_signature(alg.RSASHA256, short, sig, DATA)


def test_rsa_exponent_three() -> None:
    key = rsa.generate_private_key(3, 1024)
    sig = key.sign(DATA, padding.PKCS1v15(), hashes.SHA256())
    field = rsa_key_field(key)
    assert field[:2] == b"\x01\x03"
    assert verify_signature(alg.RSASHA256, field, sig, DATA)


@pytest.mark.parametrize("field", [
    b"", b"\x00", b"\x00\x00", b"\x00\x00\x01", b"\x03\x01\x00\x01",  # no modulus
    b"\x00\x00\x00\x01\x02\x03", b"\x05\x01\x00",                       # bad lengths
])
def test_rsa_malformed_keys(field: bytes) -> None:
    assert parse_rsa_key(field) is None or load_key(alg.RSASHA256, field) is None
    assert not verify_signature(alg.RSASHA256, field, b"\x00" * 64, DATA)


def test_rsa_key_size_bounds() -> None:
    """RFC 3110 s2 / RFC 5702 s2: 512..4096 bits (1024..4096 for RSA/SHA-512)."""
    def modulus(bits: int) -> int:
        return (1 << (bits - 1)) | random.Random(bits).getrandbits(bits - 1) | 1
    assert load_key(alg.RSASHA256, rsa_field(65537, modulus(511))) is None
    assert load_key(alg.RSASHA256, rsa_field(65537, modulus(512))) is not None
    assert load_key(alg.RSASHA256, rsa_field(65537, modulus(4096))) is not None
    assert load_key(alg.RSASHA256, rsa_field(65537, modulus(4097))) is None
    assert load_key(alg.RSASHA512, rsa_field(65537, modulus(1023))) is None
    assert load_key(alg.RSASHA512, rsa_field(65537, modulus(1024))) is not None
    assert alg.key_bits(alg.RSASHA256, rsa_field(65537, modulus(2048))) == 2048


def test_rsa_huge_exponent_is_rejected() -> None:
    """Exponents above 35 bits only serve to make verification slow (BIND's limit)."""
    n = (1 << 2047) | random.Random(7).getrandbits(2047) | 1
    assert load_key(alg.RSASHA256, rsa_field((1 << 34) + 1, n)) is not None
    assert load_key(alg.RSASHA256, rsa_field((1 << 35) + 1, n, long_form=True)) is None
    assert load_key(alg.RSASHA256, rsa_field((1 << 2000) + 1, n, long_form=True)) is None


def test_rsa_even_exponent_is_rejected() -> None:
    n = (1 << 1023) | 12345
    assert load_key(alg.RSASHA256, rsa_field(2, n)) is None


# --------------------------------------------------------------------------
# ECDSA

@pytest.mark.parametrize(("number", "curve", "size", "hash_alg"), [
    (alg.ECDSAP256SHA256, ec.SECP256R1(), 32, hashes.SHA256()),
    (alg.ECDSAP384SHA384, ec.SECP384R1(), 48, hashes.SHA384()),
])
def test_ecdsa_round_trip(number: int, curve: ec.EllipticCurve, size: int,
                          hash_alg: hashes.HashAlgorithm) -> None:
    key = ec.generate_private_key(curve)
    field = ec_key_field(key)
    assert len(field) == 2 * size
    sig = ec_raw_signature(key, size, hash_alg, DATA)
    assert verify_signature(number, field, sig, DATA)
    assert not verify_signature(number, field, sig, flip(DATA))
    assert not verify_signature(number, field, flip(sig, 3), DATA)
    # DER is not the DNSSEC format (RFC 6605 s4)
    der = encode_dss_signature(int.from_bytes(sig[:size], "big"),
                               int.from_bytes(sig[size:], "big"))
    assert not verify_signature(number, field, der, DATA)
    # wrong lengths
    assert not verify_signature(number, field, sig[:-1], DATA)
    assert not verify_signature(number, field[:-1], sig, DATA)
    assert not verify_signature(number, b"\x04" + field, sig, DATA)


def test_ecdsa_point_not_on_curve() -> None:
    assert load_key(alg.ECDSAP256SHA256, b"\x01" * 64) is None
    assert not verify_signature(alg.ECDSAP256SHA256, b"\x01" * 64, b"\x01" * 64, DATA)


def test_ecdsa_zero_signature() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    assert not verify_signature(alg.ECDSAP256SHA256, ec_key_field(key), b"\x00" * 64, DATA)


# --------------------------------------------------------------------------
# EdDSA

def test_ed25519_round_trip() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    field = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    sig = key.sign(DATA)
    assert verify_signature(alg.ED25519, field, sig, DATA)
    assert not verify_signature(alg.ED25519, field, sig, flip(DATA))
    assert not verify_signature(alg.ED25519, field, sig + b"\x00", DATA)
    assert not verify_signature(alg.ED25519, field[:-1], sig, DATA)
    assert not verify_signature(alg.ED448, field, sig, DATA)


def test_ed448_round_trip() -> None:
    key = ed448.Ed448PrivateKey.generate()
    field = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert len(field) == 57
    sig = key.sign(DATA)
    assert verify_signature(alg.ED448, field, sig, DATA)
    assert not verify_signature(alg.ED448, field, flip(sig, 0), DATA)
    assert not verify_signature(alg.ED448, field, sig[:-1], DATA)


def _rfc8080_rows() -> list[list[str]]:
    lines = (VECTORS / "rfc8080-6-eddsa.tsv").read_text().splitlines()
    return [line.split("\t") for line in lines if line and not line.startswith("#")]


@pytest.mark.parametrize("row", _rfc8080_rows(), ids=lambda r: f"alg{r[0]}-tag{r[1]}")
def test_rfc8080_public_keys_derive_from_private(row: list[str]) -> None:
    """RFC 8080 s6: the printed DNSKEY is the public half of the printed private key."""
    number, private, public = int(row[0]), base64.b64decode(row[2]), base64.b64decode(row[3])
    derived: ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
    if number == alg.ED25519:
        derived = ed25519.Ed25519PrivateKey.from_private_bytes(private).public_key()
    else:
        derived = ed448.Ed448PrivateKey.from_private_bytes(private).public_key()
    assert derived.public_bytes(Encoding.Raw, PublicFormat.Raw) == public


# --------------------------------------------------------------------------
# DSA (RFC 2536), verified with integer arithmetic

def test_dsa_1024_from_cryptography() -> None:
    key = dsa.generate_private_key(1024)
    numbers = key.public_key().public_numbers()
    params = numbers.parameter_numbers
    field = dsa_key_field(params.p, params.q, params.g, numbers.y)
    assert len(field) == 1 + 20 + 3 * 128 and field[0] == 8
    der = key.sign(DATA, hashes.SHA1())
    r, s = decode_dss_signature(der)
    sig = dsa_rfc2536_signature(8, r, s)
    for number in (alg.DSA, alg.DSA_NSEC3_SHA1):
        assert verify_signature(number, field, sig, DATA)
        assert verify_signature(number, field, der, DATA)      # DER accepted too
        assert not verify_signature(number, field, sig, flip(DATA))
        assert not verify_signature(number, field, dsa_rfc2536_signature(8, r, s ^ 1), DATA)
    assert alg.key_bits(alg.DSA, field) == 1024


def test_dsa_signature_range_checks() -> None:
    key = dsa.generate_private_key(1024)
    numbers = key.public_key().public_numbers()
    params = numbers.parameter_numbers
    field = dsa_key_field(params.p, params.q, params.g, numbers.y)
    r, s = decode_dss_signature(key.sign(DATA, hashes.SHA1()))
    q = params.q
    assert not verify_signature(alg.DSA, field, dsa_rfc2536_signature(8, 0, s), DATA)
    assert not verify_signature(alg.DSA, field, dsa_rfc2536_signature(8, r, 0), DATA)
    # r + q is congruent to r, but out of range: DER can carry it, and it must fail
    assert not verify_signature(alg.DSA, field, encode_dss_signature(r + q, s), DATA)
    assert not verify_signature(alg.DSA, field, encode_dss_signature(r, s + q), DATA)
    assert not verify_signature(alg.DSA, field, b"\x30\x03garbage", DATA)
    assert not verify_signature(alg.DSA, field, b"", DATA)


# Pure-integer DSA key generation and signing, for the 512-bit keys RFC 2536 allows
# and cryptography refuses.

def _is_probable_prime(n: int, rng: random.Random) -> bool:
    if n < 2:
        return False
    for p in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        if n % p == 0:
            return n == p
    d, r = n - 1, 0
    while d % 2 == 0:
        d //= 2
        r += 1
    for _ in range(24):
        x = pow(rng.randrange(2, n - 1), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _dsa_params(bits: int, rng: random.Random) -> tuple[int, int, int]:
    while True:
        q = rng.getrandbits(160) | (1 << 159) | 1
        if _is_probable_prime(q, rng):
            break
    while True:
        k = rng.getrandbits(bits - 160) | (1 << (bits - 161))
        p = k * q + 1
        if p.bit_length() == bits and _is_probable_prime(p, rng):
            break
    h = 2
    while (g := pow(h, (p - 1) // q, p)) == 1:
        h += 1
    return p, q, g


def _dsa_sign(p: int, q: int, g: int, x: int, data: bytes, rng: random.Random) -> tuple[int, int]:
    z = int.from_bytes(hashlib.sha1(data).digest(), "big")
    while True:
        k = rng.randrange(1, q)
        r = pow(g, k, p) % q
        s = pow(k, -1, q) * (z + x * r) % q
        if r and s:
            return r, s


def test_dsa_512_pure_integer() -> None:
    rng = random.Random(2536)
    p, q, g = _dsa_params(512, rng)
    x = rng.randrange(1, q)
    y = pow(g, x, p)
    field = dsa_key_field(p, q, g, y)
    assert field[0] == 0 and len(field) == 1 + 20 + 3 * 64
    r, s = _dsa_sign(p, q, g, x, DATA, rng)
    sig = dsa_rfc2536_signature(0, r, s)
    assert verify_signature(alg.DSA, field, sig, DATA)
    assert verify_signature(alg.DSA, field, encode_dss_signature(r, s), DATA)
    assert not verify_signature(alg.DSA, field, sig, flip(DATA))
    other = pow(g, x + 1, p)
    assert not verify_signature(alg.DSA, dsa_key_field(p, q, g, other), sig, DATA)


def test_dsa_malformed_keys() -> None:
    assert parse_dsa_key(b"") is None
    assert parse_dsa_key(b"\x09" + b"\x01" * 300) is None            # T > 8
    assert parse_dsa_key(b"\x00" + b"\x01" * 100) is None            # wrong length
    assert parse_dsa_key(b"\x00" + b"\x00" * (20 + 192)) is None     # zeros
    assert not verify_signature(alg.DSA, b"\x00" * 213, b"\x00" * 41, DATA)


# --------------------------------------------------------------------------
# never raises, unknown algorithms, cache

@pytest.mark.parametrize("number", [0, 1, 2, 4, 9, 11, 12, 17, 100, 252, 253, 254, 255])
def test_unimplemented_algorithms_never_verify(number: int) -> None:
    assert not alg.is_implemented(number)
    assert load_key(number, b"\x03\x01\x00\x01" + b"\xff" * 64) is None
    assert not verify_signature(number, b"\x03\x01\x00\x01" + b"\xff" * 64, b"x" * 64, DATA)


@settings(max_examples=300, deadline=None)
@given(number=st.sampled_from([*sorted(alg.IMPLEMENTED), 1, 12, 100]),
       key=st.binary(max_size=600), sig=st.binary(max_size=600), data=st.binary(max_size=64))
def test_garbage_never_raises(number: int, key: bytes, sig: bytes, data: bytes) -> None:
    assert verify_signature(number, key, sig, data) is False


def test_key_cache_hits_and_bound() -> None:
    cache = alg._KeyCache(3)
    spec = alg._REGISTRY[alg.ED25519]
    keys = [ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        Encoding.Raw, PublicFormat.Raw) for _ in range(5)]
    first = cache.get(spec, keys[0])
    assert first is not None
    assert cache.get(spec, keys[0]) is first
    assert (cache.hits, cache.misses) == (1, 1)
    for k in keys[1:]:
        cache.get(spec, k)
    assert len(cache) == 3
    assert cache.get(spec, b"short") is None       # malformed keys are cached as None
    assert cache.get(spec, b"short") is None
    assert cache.hits == 2
    cache.clear()
    assert len(cache) == 0


def test_global_cache_reuses_loaded_keys() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    field = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    before = alg.KEY_CACHE.hits
    assert verify_signature(alg.ED25519, field, key.sign(DATA), DATA)
    assert verify_signature(alg.ED25519, field, key.sign(DATA), DATA)
    assert alg.KEY_CACHE.hits == before + 1


# --------------------------------------------------------------------------
# policy

def test_default_policy() -> None:
    for number in (8, 10, 13, 14, 15, 16):
        assert DEFAULT.supports_algorithm(number)
    for number in (1, 3, 5, 6, 7, 12, 100):
        assert not DEFAULT.supports_algorithm(number)
    for digest in (1, 2, 4):
        assert DEFAULT.supports_digest(digest)
    for digest in (0, 3, 5, 6):
        assert not DEFAULT.supports_digest(digest)


def test_legacy_policy() -> None:
    for number in (3, 5, 6, 7, 8, 10, 13, 14, 15, 16):
        assert LEGACY.supports_algorithm(number)
    assert not LEGACY.supports_algorithm(1)
    assert LEGACY.supports_digest(1)


def test_policy_never_claims_unimplemented() -> None:
    policy = AlgorithmPolicy(frozenset({1, 12, 13}), frozenset({3, 2}), "odd")
    assert not policy.supports_algorithm(12)
    assert not policy.supports_algorithm(1)
    assert policy.supports_algorithm(13)
    assert not policy.supports_digest(3)
    assert policy.supports_digest(2)


def test_policy_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT.algorithms = frozenset()  # type: ignore[misc]
    assert hash(DEFAULT) == hash(dataclasses.replace(DEFAULT))


def test_mnemonics() -> None:
    assert alg.mnemonic(13) == "ECDSAP256SHA256"
    assert alg.mnemonic(100) == "ALG100"
