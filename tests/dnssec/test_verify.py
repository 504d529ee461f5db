"""RRSIG validation (RFC 4035 s5.3): canonical form, RFC examples, the interop zones,
dnspython as an oracle both ways, the RFC 4035 s5.3.1 checks, time arithmetic, TTLs,
wildcards, DNSKEY RRset validation and the KeyTrap limits."""

from __future__ import annotations

import base64
import dataclasses
import random
import struct
from collections.abc import Callable, Iterator
from typing import Any

import dns.dnssec
import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from resolver.config import ValidationLimits as Limits
from resolver.dnssec import algorithms
from resolver.dnssec.algorithms import DEFAULT, LEGACY
from resolver.dnssec.budget import Budget
from resolver.dnssec.canonical import canonical_rdatas, signed_data, signed_owner
from resolver.dnssec.keys import key_tag, make_ds, match_ds
from resolver.dnssec.status import Problem, Security
from resolver.dnssec.verify import (
    KeySet,
    RRsetResult,
    seconds_left,
    serial_lt,
    verify_dnskey_rrset,
    verify_rrset,
    window_problem,
)
from resolver.wire import rdata as rd
from resolver.wire.name import Name, name
from resolver.wire.rrset import RRset
from resolver.wire.types import RRType

from . import INTEROP_NOW, VECTORS, dnskeys_of, load_zone, make_rrset, parse_records, rrsets

NOW = 1_800_000_000
A1 = bytes([192, 0, 2, 1])
A2 = bytes([192, 0, 2, 2])


# --------------------------------------------------------------------------
# a small signer built on our canonical form (its output is checked by dnspython)

PrivateKey = (rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
              | ed448.Ed448PrivateKey)


def _public_field(algorithm: int, key: PrivateKey) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.public_key().public_numbers()
        exp = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
        return bytes((len(exp),)) + exp + numbers.n.to_bytes(key.key_size // 8, "big")
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)[1:]
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _raw_sign(algorithm: int, key: PrivateKey, data: bytes) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey):
        digest: hashes.HashAlgorithm = {5: hashes.SHA1(), 7: hashes.SHA1(), 8: hashes.SHA256(),
                                        10: hashes.SHA512()}[algorithm]
        return key.sign(data, padding.PKCS1v15(), digest)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        size = 32 if algorithm == 13 else 48
        r, s = decode_dss_signature(key.sign(
            data, ec.ECDSA(hashes.SHA256() if algorithm == 13 else hashes.SHA384())))
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    return key.sign(data)


@dataclasses.dataclass
class Signer:
    zone: Name
    algorithm: int
    private: PrivateKey
    flags: int = 257

    @property
    def dnskey(self) -> bytes:
        return struct.pack("!HBB", self.flags, 3, self.algorithm) + \
            _public_field(self.algorithm, self.private)

    @property
    def tag(self) -> int:
        return key_tag(self.dnskey)

    def sign(self, rrset: RRset, **fields: Any) -> bytes:
        """An RRSIG RDATA over *rrset*; *fields* override RRSIG fields (the signature
        is always computed over the resulting header)."""
        values: dict[str, Any] = {
            "type_covered": rrset.rtype, "algorithm": self.algorithm,
            "labels": rrset.name.label_count, "original_ttl": rrset.ttl,
            "expiration": NOW + 86400, "inception": NOW - 3600, "key_tag": self.tag,
            "signer": self.zone, "signature": b"",
        }
        values.update(fields)
        sig = rd.RRSIG(**values)
        signature = _raw_sign(self.algorithm, self.private, signed_data(rrset, sig))
        return dataclasses.replace(sig, signature=signature).to_wire()

    def signed(self, rrset: RRset, **fields: Any) -> RRset:
        rrset.add_sig(self.sign(rrset, **fields))
        return rrset


def ed_signer(zone: str = "example.", flags: int = 257) -> Signer:
    return Signer(name(zone), 15, ed25519.Ed25519PrivateKey.generate(), flags)


def a_rrset(owner: str = "www.example.", ttl: int = 3600) -> RRset:
    return make_rrset(owner, RRType.A, [A1, A2], ttl)


def problem_of(result: RRsetResult) -> Problem | None:
    return result.problem


def check(rrset: RRset, keys: list[bytes] | KeySet, zone: str = "example.", now: float = NOW,
          budget: Budget | None = None, policy: algorithms.AlgorithmPolicy = DEFAULT
          ) -> RRsetResult:
    return verify_rrset(rrset, keys, name(zone), now, budget or Budget(), policy)


# --------------------------------------------------------------------------
# canonical form (RFC 4034 s3.1.8.1, s6)

def test_signed_data_layout() -> None:
    """RFC 6605 s6.1 example, assembled by hand."""
    recs = parse_records((VECTORS / "rfc6605-6.1-p256.zone").read_text())
    (rrset,) = [rs for rs in rrsets(recs) if rs.rtype == RRType.A]
    sig = rd.decode(RRType.RRSIG, rrset.sigs[0])
    assert isinstance(sig, rd.RRSIG)
    owner = b"\x03www\x07example\x03net\x00"
    expected = (struct.pack("!HBBIIIH", 1, 13, 3, 3600, sig.expiration, sig.inception, 55648)
                + b"\x07example\x03net\x00"
                + owner + struct.pack("!HHIH", 1, 1, 3600, 4) + bytes([192, 0, 2, 1]))
    assert signed_data(rrset, sig) == expected
    upper = RRset(Name.from_text("WWW.Example.NET."), RRType.A, 1, 60, [bytes([192, 0, 2, 1])])
    assert signed_data(upper, sig) == expected        # owner case and TTL do not matter


def test_signed_owner_wildcard() -> None:
    owner = Name.from_text("A.b.Example.")
    assert signed_owner(owner, 3) == b"\x01a\x01b\x07example\x00"
    assert signed_owner(owner, 1) == b"\x01*\x07example\x00"
    assert signed_owner(owner, 0) == b"\x01*\x00"
    assert signed_owner(Name.from_text("*.example."), 1) == b"\x01*\x07example\x00"


def test_canonical_order_case_and_duplicates() -> None:
    mx = [struct.pack("!H", 10) + Name.from_text("MAIL.Example.").wire,
          struct.pack("!H", 10) + Name.from_text("mail.example.").wire,
          struct.pack("!H", 5) + Name.from_text("b.example.").wire]
    assert canonical_rdatas(RRType.MX, mx) == [
        struct.pack("!H", 5) + b"\x01b\x07example\x00",
        struct.pack("!H", 10) + b"\x04mail\x07example\x00",
    ]
    # TXT RDATA is not lowercased; shorter strings sort first (RFC 4034 s6.3)
    txt = [b"\x02ab", b"\x01A", b"\x02ab", b"\x03abc"]
    assert canonical_rdatas(RRType.TXT, txt) == [b"\x01A", b"\x02ab", b"\x03abc"]


def _wire(rdata: dns.rdata.Rdata) -> bytes:
    data = rdata.to_wire()
    assert data is not None
    return data


def _dnspython_rrset(rrset: RRset) -> dns.rrset.RRset:
    rtype = dns.rdatatype.RdataType(rrset.rtype)
    out = dns.rrset.RRset(dns.name.from_wire(rrset.name.wire, 0)[0], dns.rdataclass.IN, rtype)
    for data in rrset.rdatas:
        out.add(dns.rdata.from_wire(dns.rdataclass.IN, rtype, data, 0, len(data)), rrset.ttl)
    return out


def _dnspython_sigs(rrset: RRset) -> dns.rrset.RRset:
    out = dns.rrset.RRset(dns.name.from_wire(rrset.name.wire, 0)[0], dns.rdataclass.IN,
                          dns.rdatatype.RRSIG, dns.rdatatype.RdataType(rrset.rtype))
    for data in rrset.sigs:
        out.add(dns.rdata.from_wire(dns.rdataclass.IN, dns.rdatatype.RRSIG, data, 0, len(data)),
                rrset.ttl)
    return out


def test_signed_data_matches_dnspython() -> None:
    make = getattr(dns.dnssec, "_make_rrsig_signature_data", None)
    if make is None:
        pytest.skip("dnspython internals changed")
    rng = random.Random(6840)
    signer = ed_signer()
    for _ in range(40):
        rrset = _random_rrset(rng)
        sig_wire = signer.sign(rrset)
        sig = rd.decode(RRType.RRSIG, sig_wire)
        assert isinstance(sig, rd.RRSIG)
        dp_sig = dns.rdata.from_wire(dns.rdataclass.IN, dns.rdatatype.RRSIG, sig_wire, 0,
                                     len(sig_wire))
        assert signed_data(rrset, sig) == make(_dnspython_rrset(rrset), dp_sig,
                                               dns.name.from_text("example."))


# --------------------------------------------------------------------------
# RFC examples

@pytest.mark.parametrize("path", ["rfc5702-6.1-rsasha256.zone", "rfc5702-6.2-rsasha512.zone",
                                  "rfc6605-6.1-p256.zone", "rfc6605-6.2-p384.zone"])
def test_rfc_rrsig_examples(path: str) -> None:
    """RFC 5702 s6.1/6.2 and RFC 6605 s6.1/6.2: the RRSIGs verify inside their window."""
    recs = parse_records((VECTORS / path).read_text())
    keys = [r.rdata for r in recs if r.rtype == RRType.DNSKEY]
    (rrset,) = [rs for rs in rrsets(recs) if rs.rtype == RRType.A]
    sig = rd.decode(RRType.RRSIG, rrset.sigs[0])
    assert isinstance(sig, rd.RRSIG)
    middle = (sig.inception + sig.expiration) // 2
    zone = "example.net."
    result = check(rrset, keys, zone, middle)
    assert result.ok, result.verdict
    assert (result.key_tag, result.algorithm, result.key) == (sig.key_tag, sig.algorithm, keys[0])
    assert result.ttl == 3600 and not result.wildcard
    assert problem_of(check(rrset, keys, zone, sig.expiration + 1)) == Problem.SIG_EXPIRED
    assert problem_of(check(rrset, keys, zone, sig.inception - 1)) == Problem.SIG_NOT_YET_VALID
    changed = make_rrset("www.example.net.", RRType.A, [A2], sigs=rrset.sigs)
    assert problem_of(check(changed, keys, zone, middle)) == Problem.SIG_INVALID


def test_rfc6605_chain_ds_to_rrsig() -> None:
    for path in ("rfc6605-6.1-p256.zone", "rfc6605-6.2-p384.zone"):
        recs = parse_records((VECTORS / path).read_text())
        keys = [r.rdata for r in recs if r.rtype == RRType.DNSKEY]
        dss = [r.rdata for r in recs if r.rtype == RRType.DS]
        matched = match_ds(name("example.net."), dss, keys)
        assert matched.ok
        (rrset,) = [rs for rs in rrsets(recs) if rs.rtype == RRType.A]
        assert check(rrset, list(matched.keys), "example.net.", 1283000000).ok


def _rfc8080_rows() -> list[list[str]]:
    lines = (VECTORS / "rfc8080-6-eddsa.tsv").read_text().splitlines()
    return [line.split("\t") for line in lines if line and not line.startswith("#")]


def _rfc8080_rrset(row: list[str], labels: int, signature: str) -> tuple[RRset, bytes, bytes]:
    number, tag = int(row[0]), int(row[1])
    key = struct.pack("!HBB", 257, 3, number) + base64.b64decode(row[3])
    mx = struct.pack("!H", 10) + Name.from_text("mail.example.com.").wire
    sig = rd.RRSIG(RRType.MX, number, labels, 3600, 1440021600, 1438207200, tag,
                   name("example.com."), base64.b64decode(signature))
    rrset = make_rrset("example.com.", RRType.MX, [mx], sigs=[sig.to_wire()])
    return rrset, key, signed_data(rrset, sig)


@pytest.mark.parametrize("row", _rfc8080_rows(), ids=lambda r: f"alg{r[0]}-tag{r[1]}")
def test_rfc8080_erratum_4935_signatures(row: list[str]) -> None:
    """RFC 8080 s6 as corrected by Erratum 4935 (labels 2): SECURE."""
    rrset, key, _ = _rfc8080_rrset(row, 2, row[6])
    result = check(rrset, [key], "example.com.", 1439000000)
    assert result.ok, result.verdict


@pytest.mark.parametrize("row", _rfc8080_rows(), ids=lambda r: f"alg{r[0]}-tag{r[1]}")
def test_rfc8080_published_signatures(row: list[str]) -> None:
    """The signatures printed in RFC 8080 s6 were made with labels 3 for a 2-label
    owner: the raw signature verifies over that data, EdDSA reproduces it from the
    private key, and a validator rejects the RRSIG (RFC 4035 s5.3.1)."""
    number = int(row[0])
    rrset, key, data = _rfc8080_rrset(row, 3, row[5])
    assert algorithms.verify_signature(number, key[4:], base64.b64decode(row[5]), data)
    private_cls = ed25519.Ed25519PrivateKey if number == 15 else ed448.Ed448PrivateKey
    private = private_cls.from_private_bytes(base64.b64decode(row[2]))
    assert base64.b64encode(private.sign(data)).decode() == row[5]
    result = check(rrset, [key], "example.com.", 1439000000)
    assert problem_of(result) == Problem.SIG_LABELS_MISMATCH
    assert result.verifications == 0


# --------------------------------------------------------------------------
# the interop zones (signed by BIND and ldns)

SIGNED_ZONES = ["rsasha256.test", "ecdsa256.test", "ed25519.test", "ed448.test",
                "rsasha512.test", "ecdsa384.test"]


def _zone_rrsets(zone: str) -> tuple[Name, list[bytes], list[RRset]]:
    recs = load_zone(f"{zone}.db")
    apex = name(zone)
    keys = dnskeys_of(recs, apex)
    own = []
    for rs in rrsets(recs):
        if not rs.sigs:
            continue          # glue and delegation NS are not signed by the zone
        own.append(rs)
    return apex, keys, own


def _dnspython_verdict(rrset: RRset, apex: Name, keys: list[bytes], now: float) -> bool:
    dp_keys = dns.rdataset.Rdataset(dns.rdataclass.IN, dns.rdatatype.DNSKEY)
    for k in keys:
        dp_keys.add(dns.rdata.from_wire(dns.rdataclass.IN, dns.rdatatype.DNSKEY, k, 0, len(k)))
    try:
        dns.dnssec.validate(_dnspython_rrset(rrset), _dnspython_sigs(rrset),
                            {dns.name.from_wire(apex.wire, 0)[0]: dp_keys}, now=now,
                            policy=dns.dnssec.allow_all_policy)
    except dns.exception.ValidationFailure:
        return False
    return True


@pytest.mark.parametrize("zone", SIGNED_ZONES)
def test_interop_every_rrsig_verifies(zone: str) -> None:
    apex, keys, sets = _zone_rrsets(zone)
    assert len(keys) >= 2 and len(sets) > 20
    keyset = KeySet(apex, keys)
    budget = Budget.unlimited()
    for rrset in sets:
        result = verify_rrset(rrset, keyset, apex, INTEROP_NOW, budget)
        assert result.ok, (rrset, result.verdict)
        assert result.ttl == min(rrset.ttl, result.rrsig.original_ttl if result.rrsig else 0)
        assert _dnspython_verdict(rrset, apex, keys, INTEROP_NOW)


def test_interop_bogus_sig_zone() -> None:
    apex, keys, sets = _zone_rrsets("bogus-sig.test")
    intact = {("ok.bogus-sig.test.", RRType.A)}
    corrupted = 0
    for rrset in sets:
        result = check(rrset, keys, "bogus-sig.test.", INTEROP_NOW)
        key = (str(rrset.name), rrset.rtype)
        expected = _dnspython_verdict(rrset, apex, keys, INTEROP_NOW)
        assert result.ok == expected, (rrset, result.verdict)
        if rrset.rtype in (RRType.SOA, RRType.NS, RRType.NSEC, RRType.DNSKEY) or key in intact:
            assert result.ok, rrset
        else:
            assert problem_of(result) == Problem.SIG_INVALID, rrset
            corrupted += 1
    assert corrupted >= 10


@pytest.mark.parametrize(("zone", "problem"), [("expired.test", Problem.SIG_EXPIRED),
                                               ("future.test", Problem.SIG_NOT_YET_VALID)])
def test_interop_time_window_zones(zone: str, problem: Problem) -> None:
    _, keys, sets = _zone_rrsets(zone)
    for rrset in sets:
        result = check(rrset, keys, zone, INTEROP_NOW)
        assert result.security == Security.BOGUS
        assert problem_of(result) == problem, rrset
        assert result.verifications == 0


def test_interop_unknown_algorithm_rrsets_are_not_signatures() -> None:
    """Given keys as if authenticated, RRSIGs of an algorithm we do not implement are no
    signature: BOGUS (the zone is insecure only through its DS set, tested below with
    test_interop_dnskey_rrsets), never INSECURE on the RRSIGs' word."""
    _, keys, sets = _zone_rrsets("unknown-alg.test")
    for policy in (DEFAULT, LEGACY):
        for rrset in sets:
            result = check(rrset, keys, "unknown-alg.test.", INTEROP_NOW, policy=policy)
            assert result.security == Security.BOGUS
            assert problem_of(result) == Problem.SIG_ALGORITHM_UNUSABLE
            assert result.verifications == 0


def test_interop_missing_sig() -> None:
    recs = load_zone("missing-sig.test.db")
    keys = dnskeys_of(recs, name("missing-sig.test."))
    (www,) = [rs for rs in rrsets(recs)
              if rs.name == name("www.missing-sig.test.") and rs.rtype == RRType.A]
    result = check(www, keys, "missing-sig.test.", INTEROP_NOW)
    assert problem_of(result) == Problem.SIG_MISSING


def test_interop_wildcard_expansion() -> None:
    _, keys, sets = _zone_rrsets("rsasha256.test")
    (wild,) = [rs for rs in sets
               if rs.name == name("*.wild.rsasha256.test.") and rs.rtype == RRType.A]
    plain = check(wild, keys, "rsasha256.test.", INTEROP_NOW)
    assert plain.ok and not plain.wildcard
    for owner, next_closer in [("foo.wild.rsasha256.test.", "foo.wild.rsasha256.test."),
                               ("A.b.WILD.rsasha256.test.", "b.wild.rsasha256.test.")]:
        expanded = RRset(Name.from_text(owner), RRType.A, 1, wild.ttl, wild.rdatas, wild.sigs)
        result = check(expanded, keys, "rsasha256.test.", INTEROP_NOW)
        assert result.ok and result.wildcard
        assert result.closest_encloser == name("wild.rsasha256.test.")
        assert result.next_closer == name(next_closer)
        assert result.wildcard_name == name("*.wild.rsasha256.test.")


def _parent_ds(zone: str) -> list[bytes]:
    recs = load_zone("test.db")
    return [rr.rdata for rr in recs if rr.rtype == RRType.DS and rr.name == name(zone)]


@pytest.mark.parametrize(("zone", "security", "problem"), [
    *[(z, Security.SECURE, None) for z in SIGNED_ZONES],
    ("expired.test", Security.BOGUS, Problem.SIG_EXPIRED),
    ("future.test", Security.BOGUS, Problem.SIG_NOT_YET_VALID),
    ("bad-ds.test", Security.BOGUS, Problem.DS_MISMATCH),
    ("unknown-alg.test", Security.INSECURE, Problem.UNSUPPORTED_ALGORITHM),
])
def test_interop_dnskey_rrsets(zone: str, security: Security, problem: Problem | None) -> None:
    recs = load_zone(f"{zone}.db")
    (dnskeys,) = [rs for rs in rrsets(recs) if rs.rtype == RRType.DNSKEY]
    matched = match_ds(name(zone), _parent_ds(zone), dnskeys.rdatas)
    result = verify_dnskey_rrset(dnskeys, matched, INTEROP_NOW, Budget())
    assert (result.security, result.problem) == (security, problem), result.verdict


# --------------------------------------------------------------------------
# dnspython as an oracle

@pytest.fixture(scope="module")
def private_keys() -> dict[int, PrivateKey]:
    return {
        8: rsa.generate_private_key(65537, 2048),
        13: ec.generate_private_key(ec.SECP256R1()),
        14: ec.generate_private_key(ec.SECP384R1()),
        15: ed25519.Ed25519PrivateKey.generate(),
        16: ed448.Ed448PrivateKey.generate(),
    }


def _random_label(rng: random.Random) -> str:
    return "".join(rng.choice("abcdeXYZ019-") for _ in range(rng.randint(1, 8))).strip("-") or "x"


def _random_name(rng: random.Random, suffix: str = "example.") -> str:
    labels = [_random_label(rng) for _ in range(rng.randint(0, 3))]
    return ".".join([*labels, suffix])


def _random_rrset(rng: random.Random) -> RRset:
    owner = _random_name(rng)
    rtype = rng.choice([RRType.A, RRType.TXT, RRType.MX, RRType.NS, RRType.CNAME, RRType.SRV])
    count = 1 if rtype == RRType.CNAME else rng.randint(1, 5)
    rdatas = []
    for _ in range(count):
        if rtype == RRType.A:
            rdatas.append(bytes(rng.randrange(256) for _ in range(4)))
        elif rtype == RRType.TXT:
            rdatas.append(bytes((n := rng.randint(0, 20),)) + rng.randbytes(n))
        elif rtype == RRType.MX:
            rdatas.append(struct.pack("!H", rng.randrange(100))
                          + Name.from_text(_random_name(rng)).wire)
        elif rtype == RRType.SRV:
            rdatas.append(struct.pack("!HHH", 1, 2, 25) + Name.from_text(_random_name(rng)).wire)
        else:
            rdatas.append(Name.from_text(_random_name(rng, "example.net.")).wire)
    return RRset(Name.from_text(owner), rtype, 1, rng.choice([60, 300, 3600, 86400]), rdatas)


def _tampered(rrset: RRset) -> list[bytes]:
    """The RDATAs of *rrset* with one record dropped or replaced."""
    if len(rrset.rdatas) > 1:
        return rrset.rdatas[:-1]
    other = {RRType.A: b"\x00" * 4, RRType.TXT: b"\x01z", RRType.MX: b"\x00\x01\x01z\x00",
             RRType.SRV: b"\x00" * 6 + b"\x01z\x00"}
    return [other.get(RRType(rrset.rtype), b"\x01z\x00")]


@pytest.mark.parametrize("number", [8, 13, 14, 15, 16])
def test_dnspython_signatures_verify(number: int, private_keys: dict[int, PrivateKey]) -> None:
    """RRsets signed by dnspython validate here, also with the owner's case changed."""
    private = private_keys[number]
    dnskey = dns.dnssec.make_dnskey(private.public_key(), number, flags=257)
    zone = dns.name.from_text("example.")
    keys = [_wire(dnskey)]
    rng = random.Random(number)
    for _ in range(15):
        ours = _random_rrset(rng)
        theirs = _dnspython_rrset(ours)
        sig = dns.dnssec.sign(theirs, private, zone, dnskey, inception=NOW - 60,
                              expiration=NOW + 3600)
        shouted = Name.from_text(ours.name.to_text().upper())
        rrset = RRset(shouted, ours.rtype, 1, ours.ttl, ours.rdatas, [_wire(sig)])
        result = check(rrset, keys)
        assert result.ok, (rrset, result.verdict)
        assert result.ttl == min(ours.ttl, 3600)
        tampered = RRset(shouted, ours.rtype, 1, ours.ttl, _tampered(ours), [_wire(sig)])
        assert problem_of(check(tampered, keys)) == Problem.SIG_INVALID


@pytest.mark.parametrize("number", [8, 13, 15])
def test_dnspython_accepts_our_signer(number: int, private_keys: dict[int, PrivateKey]) -> None:
    """The test signer (built on canonical.signed_data) is accepted by dnspython."""
    signer = Signer(name("example."), number, private_keys[number])
    rng = random.Random(100 + number)
    for _ in range(15):
        rrset = signer.signed(_random_rrset(rng))
        assert _dnspython_verdict(rrset, name("example."), [signer.dnskey], NOW)
        assert check(rrset, [signer.dnskey]).ok


def test_dnspython_wildcard_signature(private_keys: dict[int, PrivateKey]) -> None:
    private = private_keys[13]
    dnskey = dns.dnssec.make_dnskey(private.public_key(), 13, flags=256)
    wild = make_rrset("*.w.example.", RRType.A, [A1])
    sig = dns.dnssec.sign(_dnspython_rrset(wild), private, dns.name.from_text("example."),
                          dnskey, inception=NOW - 60, expiration=NOW + 3600)
    expanded = make_rrset("x.y.w.example.", RRType.A, [A1], sigs=[_wire(sig)])
    result = check(expanded, [_wire(dnskey)])
    assert result.ok and result.wildcard
    assert (result.closest_encloser, result.next_closer, result.wildcard_name) == \
        (name("w.example."), name("y.w.example."), name("*.w.example."))


# --------------------------------------------------------------------------
# RFC 4035 s5.3.1 checks

def test_secure_and_trace() -> None:
    signer = ed_signer()
    rrset = signer.signed(a_rrset())
    result = check(rrset, [signer.dnskey])
    assert result.ok and result.security == Security.SECURE
    assert result.key == signer.dnskey and result.key_tag == signer.tag
    assert result.algorithm == 15 and result.verifications == 1 and result.work == 1
    assert [a.problem for a in result.attempts] == [None]


def test_no_rrsig() -> None:
    signer = ed_signer()
    assert problem_of(check(a_rrset(), [signer.dnskey])) == Problem.SIG_MISSING
    other_type = a_rrset()
    other_type.add_sig(signer.sign(other_type, type_covered=RRType.TXT))
    assert problem_of(check(other_type, [signer.dnskey])) == Problem.SIG_MISSING


def test_signer_must_be_the_zone() -> None:
    signer = ed_signer("example.")
    rrset = signer.signed(a_rrset(), signer=name("other."))
    result = check(rrset, [signer.dnskey])
    assert problem_of(result) == Problem.SIG_SIGNER_MISMATCH and result.verifications == 0


def test_owner_must_be_below_signer() -> None:
    signer = ed_signer("sub.example.")
    rrset = signer.signed(a_rrset("www.example."), labels=1)
    result = check(rrset, [signer.dnskey], "sub.example.")
    assert problem_of(result) == Problem.SIG_SIGNER_MISMATCH and result.verifications == 0


def test_labels_above_owner_count() -> None:
    signer = ed_signer()
    rrset = signer.signed(a_rrset(), labels=3)
    assert problem_of(check(rrset, [signer.dnskey])) == Problem.SIG_LABELS_MISMATCH


def test_labels_below_signer_count() -> None:
    """SECURITY.md s5: a labels field below the signer's label count would claim a
    wildcard above the zone; rejected before any crypto, even with a valid signature."""
    signer = ed_signer("sub.example.")
    rrset = signer.signed(a_rrset("www.sub.example."), labels=1)
    sig = rd.decode(RRType.RRSIG, rrset.sigs[0])
    assert isinstance(sig, rd.RRSIG)
    assert algorithms.verify_signature(15, signer.dnskey[4:], sig.signature,
                                       signed_data(rrset, sig))
    result = check(rrset, [signer.dnskey], "sub.example.")
    assert problem_of(result) == Problem.SIG_LABELS_MISMATCH and result.verifications == 0
    ok = signer.signed(a_rrset("www.sub.example."), labels=2)
    assert check(ok, [signer.dnskey], "sub.example.").ok     # a wildcard at the apex is fine


def test_key_tag_and_algorithm_must_match() -> None:
    signer = ed_signer()
    rrset = signer.signed(a_rrset(), key_tag=(signer.tag + 1) & 0xFFFF)
    assert problem_of(check(rrset, [signer.dnskey])) == Problem.SIG_NO_KEY
    wrong_alg = signer.signed(a_rrset(), algorithm=13)
    assert problem_of(check(wrong_alg, [signer.dnskey])) == Problem.SIG_NO_KEY


@pytest.mark.parametrize(("flags", "protocol", "problem"), [
    (257 | 0x80, 3, Problem.KEY_REVOKED),
    (1, 3, Problem.KEY_NOT_ZONE_KEY),
    (257, 2, Problem.KEY_NOT_ZONE_KEY),
])
def test_unusable_keys(flags: int, protocol: int, problem: Problem) -> None:
    signer = ed_signer(flags=flags)
    dnskey = struct.pack("!HBB", flags, protocol, 15) + signer.dnskey[4:]
    rrset = signer.signed(a_rrset(), key_tag=key_tag(dnskey))
    result = check(rrset, [dnskey])
    assert problem_of(result) == problem and result.verifications == 0


def test_unsupported_algorithm_policy(private_keys: dict[int, PrivateKey]) -> None:
    """RSASHA1 is unsupported by default (RFC 9905). A zone whose DS set lists only
    RSASHA1 is insecure (match_ds says so); an RRset handed to verify_rrset with keys
    deemed authenticated and only RSASHA1 RRSIGs has no valid signature: bogus."""
    private = private_keys[8]
    sha1 = Signer(name("example."), 5, private)
    rrset = sha1.signed(a_rrset())
    result = check(rrset, [sha1.dnskey])
    assert (result.security, problem_of(result)) == \
        (Security.BOGUS, Problem.SIG_ALGORITHM_UNUSABLE)
    assert result.verifications == 0
    ds = make_ds(name("example."), sha1.dnskey, 2)
    assert match_ds(name("example."), [ds], [sha1.dnskey]).verdict.security == \
        Security.INSECURE
    assert check(rrset, [sha1.dnskey], policy=LEGACY).ok
    nsec3 = Signer(name("example."), 7, private)
    assert check(nsec3.signed(a_rrset()), [nsec3.dnskey], policy=LEGACY).ok


def test_only_unknown_algorithm_rrsigs_is_bogus() -> None:
    """Issue 13: an RRSIG that claims algorithm 253 over data of a zone whose keys are
    authenticated is no signature; the detail names the claim and the zone's keys."""
    signer = ed_signer()
    rrset = a_rrset()
    forged = bytearray(signer.sign(rrset))
    forged[2] = 253
    rrset.add_sig(bytes(forged))
    result = check(rrset, [signer.dnskey])
    assert (result.security, problem_of(result)) == \
        (Security.BOGUS, Problem.SIG_ALGORITHM_UNUSABLE)
    assert result.verdict.reason is not None
    detail = result.verdict.reason.detail
    assert detail == f"RRSIG {key_tag(signer.dnskey)} claims algorithm 253; the zone's " \
                     "keys are algorithm 15"
    assert result.zone_keys == ((15, key_tag(signer.dnskey)),)


def test_unknown_algorithm_next_to_valid_is_secure() -> None:
    signer = ed_signer()
    rrset = a_rrset()
    forged = bytearray(signer.sign(rrset))
    forged[2] = 253
    rrset.add_sig(bytes(forged))
    rrset.add_sig(signer.sign(rrset))
    assert check(rrset, [signer.dnskey]).ok


def test_mixed_unsupported_and_failed_is_bogus() -> None:
    signer = ed_signer()
    rrset = a_rrset()
    rrset.add_sig(signer.sign(rrset, algorithm=100))
    rrset.add_sig(signer.sign(rrset, expiration=NOW - 10, inception=NOW - 100))
    result = check(rrset, [signer.dnskey])
    assert (result.security, problem_of(result)) == (Security.BOGUS, Problem.SIG_EXPIRED)


def test_one_good_signature_is_enough() -> None:
    signer, other = ed_signer(), ed_signer()
    rrset = a_rrset()
    rrset.add_sig(other.sign(rrset))                                  # unknown key
    rrset.add_sig(signer.sign(rrset, expiration=NOW - 1, inception=NOW - 100))
    rrset.add_sig(signer.sign(rrset, algorithm=100))
    rrset.add_sig(signer.sign(rrset))
    result = check(rrset, [signer.dnskey])
    assert result.ok
    assert [a.problem for a in result.attempts] == [
        Problem.SIG_NO_KEY, Problem.SIG_EXPIRED, Problem.UNSUPPORTED_ALGORITHM, None]


def test_most_specific_problem_wins() -> None:
    signer, other = ed_signer(), ed_signer()
    rrset = a_rrset()
    rrset.add_sig(other.sign(rrset))
    rrset.add_sig(signer.sign(rrset, expiration=NOW - 1, inception=NOW - 100))
    assert problem_of(check(rrset, [signer.dnskey])) == Problem.SIG_EXPIRED
    bad = bytearray(signer.sign(rrset))
    bad[-1] ^= 1
    rrset.add_sig(bytes(bad))
    assert problem_of(check(rrset, [signer.dnskey])) == Problem.SIG_INVALID


def test_malformed_rrsig_counts_as_invalid() -> None:
    signer = ed_signer()
    rrset = a_rrset()
    rrset.add_sig(b"\x00\x01\x0f\x02" + b"\x00" * 10)
    result = check(rrset, [signer.dnskey])
    assert problem_of(result) == Problem.SIG_INVALID


def test_changed_fields_break_the_signature() -> None:
    signer = ed_signer()
    rrset = signer.signed(a_rrset())
    sig = rd.decode(RRType.RRSIG, rrset.sigs[0])
    assert isinstance(sig, rd.RRSIG)
    for forged_sig in (dataclasses.replace(sig, original_ttl=7200),
                       dataclasses.replace(sig, expiration=NOW + 86401)):
        copy = a_rrset()
        copy.add_sig(forged_sig.to_wire())
        assert problem_of(check(copy, [signer.dnskey])) == Problem.SIG_INVALID
    # the signer name is signed in canonical (lowercase) form: its case is not signed
    shouted = a_rrset()
    shouted.add_sig(dataclasses.replace(sig, signer=Name.from_text("EXAMPLE.")).to_wire())
    assert check(shouted, [signer.dnskey]).ok


def test_keyset_is_reusable() -> None:
    signer = ed_signer()
    keyset = KeySet(name("example."), [signer.dnskey, b"\x01", signer.dnskey])
    assert len(keyset) == 2
    for owner in ("a.example.", "b.example.", "example."):
        assert check(signer.signed(a_rrset(owner)), keyset).ok


# --------------------------------------------------------------------------
# time and TTL (RFC 4034 s3.1.5, RFC 1982, RFC 4035 s5.3.3)

def test_serial_arithmetic() -> None:
    assert serial_lt(1, 2) and not serial_lt(2, 1)
    assert serial_lt(0xFFFFFFF0, 5)                      # wraps
    assert not serial_lt(5, 0xFFFFFFF0)
    assert not serial_lt(7, 7)


def _sig(inception: int, expiration: int) -> rd.RRSIG:
    return rd.RRSIG(1, 15, 2, 3600, expiration & 0xFFFFFFFF, inception & 0xFFFFFFFF, 1,
                    name("example."), b"")


def test_window() -> None:
    sig = _sig(NOW - 10, NOW + 10)
    assert window_problem(sig, NOW) is None
    assert window_problem(sig, NOW - 10) is None and window_problem(sig, NOW + 10) is None
    assert window_problem(sig, NOW + 11) == Problem.SIG_EXPIRED
    assert window_problem(sig, NOW - 11) == Problem.SIG_NOT_YET_VALID
    assert window_problem(_sig(NOW + 10, NOW - 10), NOW) == Problem.SIG_EXPIRED_BEFORE_VALID
    assert seconds_left(sig, NOW + 0.9) == 10


def test_window_across_the_32_bit_wrap() -> None:
    wrap = 1 << 32
    sig = _sig(wrap - 1000, wrap + 5000)                 # expiration stored as 5000
    assert window_problem(sig, wrap - 500) is None
    assert window_problem(sig, wrap + 100) is None       # after 2106-02-07
    assert window_problem(sig, wrap + 6000) == Problem.SIG_EXPIRED
    assert seconds_left(sig, wrap - 500) == 5500
    signer = ed_signer()
    rrset = signer.signed(a_rrset(), inception=(wrap - 1000) & 0xFFFFFFFF,
                          expiration=(wrap + 5000) & 0xFFFFFFFF)
    result = check(rrset, [signer.dnskey], now=wrap + 100)
    assert result.ok and result.ttl == 3600
    assert check(rrset, [signer.dnskey], now=wrap + 4000).ttl == 1000


def test_expired_before_valid() -> None:
    signer = ed_signer()
    rrset = signer.signed(a_rrset(), inception=NOW + 10, expiration=NOW - 10)
    assert problem_of(check(rrset, [signer.dnskey])) == Problem.SIG_EXPIRED_BEFORE_VALID


def test_ttl_is_capped() -> None:
    signer = ed_signer()
    long_ttl = signer.signed(a_rrset(ttl=7200), original_ttl=3600)
    assert check(long_ttl, [signer.dnskey]).ttl == 3600          # original TTL
    short = signer.signed(a_rrset(ttl=300), original_ttl=3600)
    assert check(short, [signer.dnskey]).ttl == 300              # RRset TTL
    ending = signer.signed(a_rrset(), expiration=NOW + 100)
    assert check(ending, [signer.dnskey]).ttl == 100             # time to expiration


# --------------------------------------------------------------------------
# DNSKEY RRset (RFC 4035 s5.2)

def _dnskey_zone() -> tuple[Signer, Signer, RRset]:
    ksk, zsk = ed_signer(flags=257), ed_signer(flags=256)
    keys = make_rrset("example.", RRType.DNSKEY, [ksk.dnskey, zsk.dnskey])
    return ksk, zsk, keys


def test_dnskey_rrset_with_ds_and_anchor() -> None:
    ksk, zsk, keys = _dnskey_zone()
    ksk.signed(keys)
    zsk.signed(keys)
    matched = match_ds(name("example."), [make_ds(name("example."), ksk.dnskey, 2)], keys.rdatas)
    result = verify_dnskey_rrset(keys, matched, NOW, Budget())
    assert result.ok and result.key == ksk.dnskey
    assert verify_dnskey_rrset(keys, [ksk.dnskey], NOW, Budget()).ok


def test_dnskey_rrset_signed_only_by_zsk() -> None:
    ksk, zsk, keys = _dnskey_zone()
    zsk.signed(keys)
    result = verify_dnskey_rrset(keys, [ksk.dnskey], NOW, Budget())
    assert problem_of(result) == Problem.DNSKEY_NOT_SELF_SIGNED
    assert result.verifications == 0


def test_dnskey_rrset_without_the_trusted_key() -> None:
    _, zsk, keys = _dnskey_zone()
    zsk.signed(keys)
    stranger = ed_signer()
    assert problem_of(verify_dnskey_rrset(keys, [stranger.dnskey], NOW, Budget())) == \
        Problem.DNSKEY_MISSING


def test_dnskey_rrset_bogus_ds_passes_through() -> None:
    ksk, _, keys = _dnskey_zone()
    ksk.signed(keys)
    bad = struct.pack("!HBB", ksk.tag, 15, 2) + b"\x00" * 32
    matched = match_ds(name("example."), [bad], keys.rdatas)
    assert problem_of(verify_dnskey_rrset(keys, matched, NOW, Budget())) == Problem.DS_MISMATCH


def test_dnskey_rrset_unsupported_anchor(private_keys: dict[int, PrivateKey]) -> None:
    sha1 = Signer(name("example."), 5, private_keys[8])
    keys = make_rrset("example.", RRType.DNSKEY, [sha1.dnskey])
    sha1.signed(keys)
    result = verify_dnskey_rrset(keys, [sha1.dnskey], NOW, Budget())
    assert (result.security, result.problem) == (Security.INSECURE,
                                                 Problem.UNSUPPORTED_ALGORITHM)
    assert verify_dnskey_rrset(keys, [sha1.dnskey], NOW, Budget(), LEGACY).ok


def test_dnskey_rrset_anchor_key_stripped_is_bogus(private_keys: dict[int, PrivateKey]) -> None:
    """Anchors for a supported and an unsupported algorithm: an attacker who removes the
    supported key from the DNSKEY RRset does not make the zone insecure."""
    sha1 = Signer(name("example."), 5, private_keys[8])
    ed = ed_signer()
    keys = make_rrset("example.", RRType.DNSKEY, [sha1.dnskey])
    sha1.signed(keys)
    result = verify_dnskey_rrset(keys, [sha1.dnskey, ed.dnskey], NOW, Budget())
    assert (result.security, result.problem) == (Security.BOGUS, Problem.DNSKEY_MISSING)


def test_dnskey_rrset_signed_only_by_unknown_algorithm_is_bogus() -> None:
    """The DS names a supported key; RRSIGs over the DNSKEY RRset claiming algorithm
    253 count for nothing."""
    ksk, _, keys = _dnskey_zone()
    forged = bytearray(ksk.sign(keys))
    forged[2] = 253
    keys.add_sig(bytes(forged))
    ds = make_ds(name("example."), ksk.dnskey, 2)
    matched = match_ds(name("example."), [ds], keys.rdatas)
    assert matched.ok
    result = verify_dnskey_rrset(keys, matched, NOW, Budget())
    assert (result.security, result.problem) == (Security.BOGUS,
                                                 Problem.SIG_ALGORITHM_UNUSABLE)


# --------------------------------------------------------------------------
# KeyTrap (CVE-2023-50387) limits, SECURITY.md s0/s1

@pytest.fixture
def count_verifications(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    calls: list[int] = []
    real: Callable[[int, bytes, bytes, bytes], bool] = algorithms.verify_signature

    def counting(algorithm: int, key: bytes, signature: bytes, data: bytes) -> bool:
        calls.append(algorithm)
        return real(algorithm, key, signature, data)

    monkeypatch.setattr(algorithms, "verify_signature", counting)
    return calls


def _colliding_keys(count: int) -> list[bytes]:
    """*count* distinct Ed25519-shaped DNSKEYs with one key tag: permuting the octets
    at even RDATA offsets keeps both sums of RFC 4034 Appendix B."""
    rng = random.Random(50387)
    base = bytes(rng.sample(range(256), 32))
    keys: set[bytes] = set()
    while len(keys) < count:
        evens = list(base[0::2])
        rng.shuffle(evens)
        key = bytearray(base)
        key[0::2] = bytes(evens)
        keys.add(struct.pack("!HBB", 256, 3, 15) + bytes(key))
    out = sorted(keys)
    assert len({key_tag(k) for k in out}) == 1
    return out


def _bogus_sigs(rrset: RRset, tag: int, count: int, **fields: Any) -> None:
    rng = random.Random(count)
    for _ in range(count):
        values: dict[str, Any] = {
            "type_covered": rrset.rtype, "algorithm": 15, "labels": rrset.name.label_count,
            "original_ttl": rrset.ttl, "expiration": NOW + 3600, "inception": NOW - 3600,
            "key_tag": tag, "signer": name("example."), "signature": rng.randbytes(64)}
        values.update(fields)
        rrset.add_sig(rd.RRSIG(**values).to_wire())


def test_keytrap_colliding_tags(count_verifications: list[int]) -> None:
    keys = _colliding_keys(50)
    rrset = a_rrset()
    _bogus_sigs(rrset, key_tag(keys[0]), 40)
    result = check(rrset, keys)
    assert problem_of(result) == Problem.BUDGET_EXCEEDED
    assert len(count_verifications) == Limits().keys_per_tag == result.verifications
    # with a generous keys-per-tag limit, the per-RRset limit still stops it at 8
    count_verifications.clear()
    wide = Budget(Limits(keys_per_tag=1000))
    result = check(rrset, keys, budget=wide)
    assert problem_of(result) == Problem.BUDGET_EXCEEDED
    assert len(count_verifications) == 8 == wide.used_verifications


def test_keytrap_many_signatures(count_verifications: list[int]) -> None:
    signers = [ed_signer() for _ in range(20)]
    rrset = a_rrset()
    for signer in signers:
        bad = bytearray(signer.sign(rrset))
        bad[-1] ^= 1
        rrset.add_sig(bytes(bad))
    keys = [s.dnskey for s in signers]
    result = check(rrset, keys)
    assert problem_of(result) == Problem.BUDGET_EXCEEDED
    assert len(count_verifications) == 8 and result.work == 8


def test_keytrap_query_budget(count_verifications: list[int]) -> None:
    signers = [ed_signer() for _ in range(6)]
    rrset = a_rrset()
    for signer in signers:
        bad = bytearray(signer.sign(rrset))
        bad[-1] ^= 1
        rrset.add_sig(bytes(bad))
    budget = Budget(verifications=3)
    result = check(rrset, [s.dnskey for s in signers], budget=budget)
    assert problem_of(result) == Problem.BUDGET_EXCEEDED
    assert len(count_verifications) == 3 and budget.exhausted
    # the same budget is spent for the next RRset of the query
    good = ed_signer()
    assert problem_of(check(good.signed(a_rrset()), [good.dnskey], budget=budget)) == \
        Problem.BUDGET_EXCEEDED


def test_keytrap_never_keeps_going(count_verifications: list[int]) -> None:
    good = ed_signer()
    signers = [ed_signer() for _ in range(8)]
    rrset = a_rrset()
    for signer in signers:
        bad = bytearray(signer.sign(rrset))
        bad[-1] ^= 1
        rrset.add_sig(bytes(bad))
    late = RRset(rrset.name, rrset.rtype, 1, rrset.ttl, rrset.rdatas,
                 [*rrset.sigs, good.sign(rrset)])
    keys = [s.dnskey for s in signers] + [good.dnskey]
    assert problem_of(check(late, keys)) == Problem.BUDGET_EXCEEDED
    assert len(count_verifications) == 8
    in_time = RRset(rrset.name, rrset.rtype, 1, rrset.ttl, rrset.rdatas,
                    [*rrset.sigs[:7], good.sign(rrset)])
    assert check(in_time, keys).ok


def test_out_of_window_signatures_count(count_verifications: list[int]) -> None:
    signer = ed_signer()
    eight = a_rrset()
    _bogus_sigs(eight, signer.tag, 8, expiration=NOW - 10, inception=NOW - 100)
    assert problem_of(check(eight, [signer.dnskey])) == Problem.SIG_EXPIRED
    nine = a_rrset()
    _bogus_sigs(nine, signer.tag, 9, expiration=NOW - 10, inception=NOW - 100)
    result = check(nine, [signer.dnskey])
    assert problem_of(result) == Problem.BUDGET_EXCEEDED
    assert count_verifications == [] and result.work == 8


def test_cheap_rejections_do_not_count(count_verifications: list[int]) -> None:
    """RRSIGs rejected without crypto or time checks (no key, wrong signer) do not
    use the per-RRset allowance."""
    signer = ed_signer()
    rrset = a_rrset()
    _bogus_sigs(rrset, (signer.tag + 1) & 0xFFFF, 30)
    _bogus_sigs(rrset, signer.tag, 30, signer=name("other."))
    signer.signed(rrset)
    result = check(rrset, [signer.dnskey])
    assert result.ok and len(count_verifications) == 1
