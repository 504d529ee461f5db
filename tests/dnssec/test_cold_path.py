"""The shortcuts of the cold validation path (issue 18) change no verdict.

Loaded keys share their padding and hash parameter objects; verdicts, labels and type
mnemonics come from tables made once; the trust-anchor look-up walks an index of zone
keys; the validity window is checked inline; RDATA without embedded names skips the
per-record canonical form. Each test below holds one of those to the result of the
plain computation, and shows a tampered input still failing after a success (nothing
is remembered across calls that could let it pass)."""

from __future__ import annotations

import dataclasses
import random

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from resolver.dnssec import algorithms
from resolver.dnssec.anchors import TrustAnchor, TrustAnchors
from resolver.dnssec.budget import Budget
from resolver.dnssec.canonical import canonical_rdatas
from resolver.dnssec.status import Problem, Security, Verdict
from resolver.dnssec.verify import KeySet, serial_lt, verify_rrset, window_problem
from resolver.wire import rdata as rd
from resolver.wire.name import Name, name
from resolver.wire.rrset import RRset
from resolver.wire.types import Rcode, RRType, rcode_to_text, type_to_text

from .test_verify import NOW, Signer, a_rrset

_KEYS: dict[int, list[Signer]] = {}


def _signers(algorithm: int) -> list[Signer]:
    """Two keys of *algorithm* for the zone example. (made once per test run)."""
    if algorithm not in _KEYS:
        def make() -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
            if algorithm in (8, 10):
                return rsa.generate_private_key(65537, 2048 if algorithm == 8 else 1024)
            return ec.generate_private_key(ec.SECP256R1() if algorithm == 13
                                           else ec.SECP384R1())
        _KEYS[algorithm] = [Signer(name("example."), algorithm, make(), 256)
                            for _ in range(2)]
    return _KEYS[algorithm]


def _flip(data: bytes, index: int = -1) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


@pytest.mark.parametrize("algorithm", [8, 10, 13, 14])
def test_shared_parameters_leave_each_check_independent(algorithm: int) -> None:
    """Signatures by two keys of one algorithm, checked in turn with the loaded keys
    (which share their padding and hash objects): each verifies with its own key only,
    and a flipped bit in the data or the signature fails right after a success."""
    first, second = _signers(algorithm)
    data = b"signed data \x00\xff" * 9
    for _ in range(3):
        for mine, other in ((first, second), (second, first)):
            signature = algorithms.verify_signature
            raw = _raw(mine, data)
            assert signature(algorithm, mine.dnskey[4:], raw, data)
            assert not signature(algorithm, mine.dnskey[4:], raw, _flip(data))
            assert not signature(algorithm, mine.dnskey[4:], _flip(raw, 5), data)
            assert not signature(algorithm, other.dnskey[4:], raw, data)
            assert signature(algorithm, mine.dnskey[4:], raw, data)


def _raw(signer: Signer, data: bytes) -> bytes:
    from .test_verify import _raw_sign
    return _raw_sign(signer.algorithm, signer.private, data)


@pytest.mark.parametrize("algorithm", [8, 13])
def test_rrset_checks_after_a_success_still_find_tampering(algorithm: int) -> None:
    """The same KeySet (as the key cache holds it) validates an RRset, then the RRset
    with one record changed, a signature with a flipped bit, an RRSIG that claims a
    wildcard expansion it was not signed for, an expired one: all bogus."""
    signer = _signers(algorithm)[0]
    zone = name("example.")
    keys = KeySet(zone, [signer.dnskey])

    def check(rrset: RRset, now: float = NOW) -> Problem | None:
        result = verify_rrset(rrset, keys, zone, now, Budget())
        assert result.ok == (result.problem is None)
        return result.problem

    good = signer.signed(a_rrset())
    assert check(good) is None
    changed = RRset(good.name, good.rtype, good.rclass, good.ttl,
                    [good.rdatas[0], bytes([192, 0, 2, 99])], good.sigs)
    assert check(changed) is Problem.SIG_INVALID
    flipped = RRset(good.name, good.rtype, good.rclass, good.ttl, good.rdatas,
                    [_flip(good.sigs[0])])
    assert check(flipped) is Problem.SIG_INVALID
    assert check(good, now=NOW + 2 * 86400) is Problem.SIG_EXPIRED
    wild = signer.signed(a_rrset("a.b.example."), labels=1)   # "*.example." signed
    assert check(wild) is None
    assert verify_rrset(wild, keys, zone, NOW, Budget()).wildcard
    moved = RRset(name("a.c.example."), wild.rtype, wild.rclass, wild.ttl, wild.rdatas,
                  wild.sigs)                                   # same wildcard, other name
    assert check(moved) is None
    other = signer.signed(a_rrset("a.b.example."), labels=2)  # "*.b.example." signed
    tampered = RRset(other.name, other.rtype, other.rclass, other.ttl, other.rdatas,
                     [_with_labels(other.sigs[0], 1)])        # claims "*.example."
    assert check(tampered) is Problem.SIG_INVALID
    assert check(good) is None


def _with_labels(rrsig: bytes, labels: int) -> bytes:
    return rrsig[:3] + bytes((labels,)) + rrsig[4:]


def test_window_matches_serial_arithmetic() -> None:
    """The inline window check gives what three serial_lt comparisons give (RFC 1982),
    at the wrap-around edges and on random values."""
    def reference(expiration: int, inception: int, now: int) -> Problem | None:
        now32 = now & 0xFFFFFFFF
        if serial_lt(expiration, inception):
            return Problem.SIG_EXPIRED_BEFORE_VALID
        if serial_lt(now32, inception):
            return Problem.SIG_NOT_YET_VALID
        if serial_lt(expiration, now32):
            return Problem.SIG_EXPIRED
        return None

    base = rd.RRSIG(1, 13, 2, 300, 0, 0, 1, name("example."), b"")
    edges = [0, 1, 2, 0x7FFFFFFE, 0x7FFFFFFF, 0x80000000, 0x80000001, 0xFFFFFFFE,
             0xFFFFFFFF, NOW, NOW + 86400, NOW - 86400]
    rng = random.Random(18)
    cases = [(e, i, n) for e in edges for i in edges for n in edges]
    cases += [(rng.getrandbits(32), rng.getrandbits(32), rng.getrandbits(32))
              for _ in range(20000)]
    for expiration, inception, now in cases:
        sig = dataclasses.replace(base, expiration=expiration, inception=inception)
        assert window_problem(sig, now) is reference(expiration, inception, now), \
            (expiration, inception, now)


def test_closest_anchor_follows_every_addition() -> None:
    """The anchor index is updated by each add: a deeper anchor added later wins below
    it, a second anchor at a zone joins the first, case does not matter."""
    ds_root = TrustAnchor(name("."), RRType.DS, b"\x00\x01\x08\x02" + b"\x11" * 32, "test")
    anchors = TrustAnchors([ds_root])
    found = anchors.closest(name("Mail.Example.COM."))
    assert found is not None and found[0] == name(".") and found[1] == (ds_root,)
    deep = TrustAnchor(name("example.com."), RRType.DS, b"\x00\x02\x0d\x02" + b"\x22" * 32,
                       "test")
    assert anchors.add(deep)
    found = anchors.closest(name("Mail.Example.COM."))
    assert found is not None and found[0] == name("example.com.") and found[1] == (deep,)
    found = anchors.closest(name("example.org."))
    assert found is not None and found[0] == name(".")
    again = TrustAnchor(name("EXAMPLE.com."), RRType.DS, b"\x00\x03\x0d\x02" + b"\x33" * 32,
                        "test")
    assert anchors.add(again)
    assert not anchors.add(again)
    found = anchors.closest(name("example.com."))
    assert found is not None and found[1] == (deep, again)
    assert TrustAnchors([deep]).closest(name("example.org.")) is None


def test_tables_match_the_enums() -> None:
    for security in Security:
        assert security.label == security.name.lower()
    for value in range(0, 70000):
        try:
            expected = RRType(value).name.replace("_", "-")
        except ValueError:
            expected = f"TYPE{value}"
        assert type_to_text(value) == expected
    for value in range(0, 4096):
        try:
            expected = Rcode(value).name
        except ValueError:
            expected = f"RCODE{value}"
        assert rcode_to_text(value) == expected


def test_the_shared_secure_verdict_cannot_change() -> None:
    verdict = Verdict.secure()
    assert verdict is Verdict.secure() and verdict.ok and verdict.reason is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict.security = Security.BOGUS  # type: ignore[misc]
    assert not Verdict.bogus(Problem.SIG_INVALID).ok


def test_name_key_is_made_with_the_name() -> None:
    mixed = Name.from_text("WwW.ExAmple.")
    assert mixed.key == b"\x03www\x07example\x00" and mixed.wire == b"\x03WwW\x07ExAmple\x00"
    lower = Name.from_text("www.example.")
    assert lower.key is lower.wire
    assert mixed == lower and hash(mixed) == hash(lower)
    bare = mixed.bare()
    assert bare.key == mixed.key and bare.wire == mixed.wire and bare == mixed
    assert bare.labels == (b"WwW", b"ExAmple") and len(bare) == 2
    assert Name.from_text("*.Example.").label_count == 1
    assert Name.from_text("a.*.example.").label_count == 3
    assert mixed.is_subdomain(Name.from_text("EXAMPLE."))
    assert [Name(k) for k in mixed.ancestor_keys()] == [lower, name("example."), name(".")]


def test_canonical_rdatas_without_names_sorts_and_dedups() -> None:
    a = [bytes([192, 0, 2, 9]), bytes([192, 0, 2, 1]), bytes([192, 0, 2, 9])]
    assert canonical_rdatas(RRType.A, a) == [bytes([192, 0, 2, 1]), bytes([192, 0, 2, 9])]
    ns = [Name.from_text("NS1.Example.").wire, Name.from_text("ns1.example.").wire]
    assert canonical_rdatas(RRType.NS, ns) == [Name.from_text("ns1.example.").wire]
