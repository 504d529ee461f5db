"""Key tags, DS digests and DS matching: RFC known answers, the interop hierarchy,
dnspython as an oracle, and the RFC 4509 / policy / limit rules of match_ds."""

from __future__ import annotations

import base64
import functools
import struct

import dns.dnssec
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from dns.dnssectypes import DSDigest
from dns.rdtypes.ANY.DNSKEY import DNSKEY
from hypothesis import given, settings
from hypothesis import strategies as st

from resolver.config import ValidationLimits as Limits
from resolver.dnssec.algorithms import DEFAULT, LEGACY, AlgorithmPolicy
from resolver.dnssec.keys import DsMatch, ds_digest, key_tag, make_ds, match_ds
from resolver.dnssec.status import Problem, Security
from resolver.wire import rdata as rd
from resolver.wire.name import Name, name
from resolver.wire.types import RRType

from . import INTEROP, VECTORS, ZONES, dnskeys_of, load_zone, parse_records


def _zone_file(path: str) -> tuple[Name, list[bytes], list[bytes]]:
    recs = parse_records((VECTORS / path).read_text())
    owner = next(r.name for r in recs if r.rtype == RRType.DNSKEY)
    return (owner, [r.rdata for r in recs if r.rtype == RRType.DNSKEY],
            [r.rdata for r in recs if r.rtype == RRType.DS])


def _dnskey(flags: int, algorithm: int, key: bytes, protocol: int = 3) -> bytes:
    return struct.pack("!HBB", flags, protocol, algorithm) + key


def _ds(key_tag_: int, algorithm: int, digest_type: int, digest: bytes) -> bytes:
    return struct.pack("!HBB", key_tag_, algorithm, digest_type) + digest


# --------------------------------------------------------------------------
# RFC known answers

@pytest.mark.parametrize(("path", "tag"), [
    ("rfc4034-5.4-ds.zone", 60485),
    ("rfc4509-2.3-ds.zone", 60485),
    ("rfc5702-6.1-rsasha256.zone", 9033),
    ("rfc5702-6.2-rsasha512.zone", 3740),
    ("rfc6605-6.1-p256.zone", 55648),
    ("rfc6605-6.2-p384.zone", 10771),
])
def test_rfc_key_tags(path: str, tag: int) -> None:
    _, keys, _ = _zone_file(path)
    assert [key_tag(k) for k in keys] == [tag]


@pytest.mark.parametrize("path", ["rfc4034-5.4-ds.zone", "rfc4509-2.3-ds.zone",
                                  "rfc6605-6.1-p256.zone", "rfc6605-6.2-p384.zone"])
def test_rfc_ds_digests(path: str) -> None:
    """RFC 4034 s5.4 (SHA-1), RFC 4509 s2.3 (SHA-256), RFC 6605 s6.1/6.2 (SHA-256/384)."""
    owner, keys, dss = _zone_file(path)
    (key,), (ds_wire,) = keys, dss
    ds = _decode_ds(ds_wire)
    assert ds_digest(owner, key, ds.digest_type) == ds.digest
    assert make_ds(owner, key, ds.digest_type) == ds_wire


def test_rfc4034_ds_text() -> None:
    owner, (key,), _ = _zone_file("rfc4034-5.4-ds.zone")
    assert rd.to_text(RRType.DS, make_ds(owner, key, 1)) == \
        "60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118"


def _rfc8080_rows() -> list[list[str]]:
    lines = (VECTORS / "rfc8080-6-eddsa.tsv").read_text().splitlines()
    return [line.split("\t") for line in lines if line and not line.startswith("#")]


@pytest.mark.parametrize("row", _rfc8080_rows(), ids=lambda r: f"alg{r[0]}-tag{r[1]}")
def test_rfc8080_key_tags_and_ds(row: list[str]) -> None:
    number, tag = int(row[0]), int(row[1])
    key = _dnskey(257, number, base64.b64decode(row[3]))
    assert key_tag(key) == tag
    assert ds_digest(name("example.com."), key, 2) == bytes.fromhex(row[4])


def test_owner_case_does_not_matter() -> None:
    owner, (key,), _ = _zone_file("rfc4509-2.3-ds.zone")
    assert ds_digest(Name.from_text("DSKEY.Example.COM."), key, 2) == ds_digest(owner, key, 2)


def test_unsupported_digest_types() -> None:
    owner, (key,), _ = _zone_file("rfc4509-2.3-ds.zone")
    for digest_type in (0, 3, 5, 6, 200):
        assert ds_digest(owner, key, digest_type) is None
        with pytest.raises(ValueError, match="unsupported DS digest type"):
            make_ds(owner, key, digest_type)
    with pytest.raises(ValueError, match="DNSKEY RDATA too short"):
        make_ds(owner, b"\x01\x01", 2)


def test_key_tag_algorithm_1() -> None:
    """RFC 4034 Appendix B.1: the tag of an RSA/MD5 key is taken from its modulus."""
    key = _dnskey(256, 1, b"\x01\x03" + b"\x55" * 60 + b"\xab\xcd\xef")
    assert key_tag(key) == 0xABCD


# --------------------------------------------------------------------------
# dnspython as an oracle

def _dp_dnskey(wire: bytes) -> DNSKEY:
    key = dns.rdata.from_wire(dns.rdataclass.IN, dns.rdatatype.DNSKEY, wire, 0, len(wire))
    assert isinstance(key, DNSKEY)
    return key


@settings(max_examples=300, deadline=None)
@given(flags=st.integers(0, 0xFFFF), protocol=st.integers(0, 255),
       algorithm=st.integers(0, 255), key=st.binary(min_size=3, max_size=300))
def test_key_tag_matches_dnspython(flags: int, protocol: int, algorithm: int,
                                   key: bytes) -> None:
    wire = _dnskey(flags, algorithm, key, protocol)
    assert key_tag(wire) == dns.dnssec.key_id(_dp_dnskey(wire))


def _generated_keys() -> list[bytes]:
    rsa_key = rsa.generate_private_key(65537, 2048).public_key().public_numbers()
    n = rsa_key.n.to_bytes(256, "big")
    p256 = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key().public_numbers()
    raw = (Encoding.Raw, PublicFormat.Raw)
    return [
        _dnskey(257, 8, b"\x03\x01\x00\x01" + n),
        _dnskey(256, 13, p256.x.to_bytes(32, "big") + p256.y.to_bytes(32, "big")),
        _dnskey(257, 14, p384.x.to_bytes(48, "big") + p384.y.to_bytes(48, "big")),
        _dnskey(256, 15, ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(*raw)),
        _dnskey(257, 16, ed448.Ed448PrivateKey.generate().public_key().public_bytes(*raw)),
    ]


@pytest.mark.parametrize("digest_type", [1, 2, 4])
def test_make_ds_matches_dnspython(digest_type: int) -> None:
    owner = Name.from_text("Sub.Example.ORG.")
    dp_owner = dns.name.from_text("Sub.Example.ORG.")
    for key in _generated_keys():
        ours = make_ds(owner, key, digest_type)
        theirs = dns.dnssec.make_ds(dp_owner, _dp_dnskey(key), DSDigest(digest_type),
                                    policy=dns.dnssec.allow_all_policy)
        assert ours == theirs.to_wire()
        assert key_tag(key) == dns.dnssec.key_id(_dp_dnskey(key))


# --------------------------------------------------------------------------
# the interop hierarchy: every DS at a parent matches the child's DNSKEY

def _manifest() -> list[dict[str, str]]:
    lines = (INTEROP / "manifest.tsv").read_text().splitlines()
    head = lines[0].split("\t")
    return [dict(zip(head, line.split("\t"), strict=True)) for line in lines[1:] if line]


def _zone_files() -> dict[str, str]:
    out = {}
    for line in (INTEROP / "zones.map").read_text().splitlines():
        zone, _, filename = line.split()
        out[zone] = filename
    return out


@functools.cache
def _all_ds() -> dict[Name, list[bytes]]:
    found: dict[Name, list[bytes]] = {}
    for path in sorted(ZONES.glob("*.db")):
        for rr in load_zone(path.name):
            if rr.rtype == RRType.DS:
                found.setdefault(rr.name, []).append(rr.rdata)
    root_ds = parse_records((INTEROP / "root.ds").read_text().replace(". IN DS", ". 0 IN DS"))
    found.setdefault(name("."), []).extend(rr.rdata for rr in root_ds)
    return found


@functools.cache
def _child_keys(zone: str) -> list[bytes]:
    return dnskeys_of(load_zone(_zone_files()[zone]), name(zone))


def _decode_ds(data: bytes) -> rd.DS:
    ds = rd.decode(RRType.DS, data)
    assert isinstance(ds, rd.DS)
    return ds


_BROKEN = {"bad-ds.test.": Problem.DS_MISMATCH, "ds-unsigned.test.": Problem.DNSKEY_MISSING}


@pytest.mark.parametrize("row", [r for r in _manifest() if r["ds_at_parent"] != "none"],
                         ids=lambda r: r["zone"])
def test_interop_ds_matches_child(row: dict[str, str]) -> None:
    zone = name(row["zone"])
    all_ds = _all_ds()
    assert zone in all_ds, f"no DS for {zone} in the parent zone files"
    keys = _child_keys(row["zone"])
    dss = [_decode_ds(d) for d in all_ds[zone]]
    if row["ds_at_parent"] != "trust-anchor":
        tag, algorithm, digest_type = (int(x) for x in row["ds_at_parent"].split("/"))
        assert [(d.key_tag, d.algorithm, d.digest_type) for d in dss] == \
            [(tag, algorithm, digest_type)]
    result = match_ds(zone, all_ds[zone], keys)
    if row["zone"] in _BROKEN:
        assert result.verdict.security == Security.BOGUS
        assert result.verdict.reason is not None
        assert result.verdict.reason.problem == _BROKEN[row["zone"]]
        return
    for ds in dss:
        digests = [ds_digest(zone, k, ds.digest_type) for k in keys]
        assert ds.digest in digests
    if "/100/" in row["ds_at_parent"]:
        assert result.verdict.security == Security.INSECURE
        assert result.verdict.reason is not None
        assert result.verdict.reason.problem == Problem.UNSUPPORTED_ALGORITHM
    else:
        assert result.ok, result.verdict
        assert [key_tag(k) for k in result.keys] == [dss[0].key_tag]


def test_interop_root_key_file_matches_root_ds() -> None:
    text = (INTEROP / "root.key").read_text().replace(". IN DNSKEY", ". 0 IN DNSKEY")
    (anchor,) = [rr.rdata for rr in parse_records(text)]
    assert anchor in _child_keys(".")
    assert match_ds(name("."), _all_ds()[name(".")], [anchor]).ok


# --------------------------------------------------------------------------
# match_ds rules

@pytest.fixture(scope="module")
def zone_keys() -> tuple[Name, bytes, bytes]:
    """example.org. with an Ed25519 KSK and ZSK."""
    raw = (Encoding.Raw, PublicFormat.Raw)
    ksk = _dnskey(257, 15, ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(*raw))
    zsk = _dnskey(256, 15, ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(*raw))
    return name("example.org."), ksk, zsk


def _problem(result: DsMatch) -> Problem | None:
    reason = result.verdict.reason
    return reason.problem if reason else None


def test_match_secure_keys(zone_keys: tuple[Name, bytes, bytes]) -> None:
    owner, ksk, zsk = zone_keys
    result = match_ds(owner, [make_ds(owner, ksk, 2), make_ds(owner, ksk, 4)], [zsk, ksk])
    assert result.ok
    assert result.keys == (ksk,)                 # two DS, one key
    assert len(result.matches) == 2
    assert result.algorithms == frozenset({15})
    assert result.considered == 2


def test_rfc4509_sha1_ignored_next_to_sha256(zone_keys: tuple[Name, bytes, bytes]) -> None:
    """RFC 4509 s3: a matching SHA-1 DS does not help when a SHA-256 DS is present."""
    owner, ksk, zsk = zone_keys
    good_sha1 = make_ds(owner, ksk, 1)
    bad_sha256 = _ds(key_tag(ksk), 15, 2, b"\x00" * 32)
    result = match_ds(owner, [good_sha1, bad_sha256], [ksk, zsk])
    assert result.verdict.security == Security.BOGUS
    assert _problem(result) == Problem.DS_MISMATCH
    assert any("RFC 4509" in why for _, why in result.ignored)
    # alone, the SHA-1 DS authenticates the key
    assert match_ds(owner, [good_sha1], [ksk, zsk]).ok
    # an unsupported stronger digest does not suppress SHA-1
    gost = _ds(key_tag(ksk), 15, 3, b"\x00" * 32)
    assert match_ds(owner, [good_sha1, gost], [ksk, zsk]).ok


def test_unsupported_algorithm_is_insecure(zone_keys: tuple[Name, bytes, bytes]) -> None:
    owner, ksk, _ = zone_keys
    result = match_ds(owner, [_ds(1234, 100, 2, b"\x01" * 32)], [ksk])
    assert result.verdict.security == Security.INSECURE
    assert _problem(result) == Problem.UNSUPPORTED_ALGORITHM


def test_unsupported_digest_is_insecure(zone_keys: tuple[Name, bytes, bytes]) -> None:
    owner, ksk, _ = zone_keys
    result = match_ds(owner, [_ds(key_tag(ksk), 15, 3, b"\x01" * 32),
                              _ds(key_tag(ksk), 15, 200, b"\x01" * 7)], [ksk])
    assert result.verdict.security == Security.INSECURE
    assert _problem(result) == Problem.UNSUPPORTED_DIGEST


def test_policy_decides_sha1_algorithms() -> None:
    """RFC 9905: RSASHA1 DS records are treated as insecure by default."""
    owner, (key,), (ds,) = _zone_file("rfc4509-2.3-ds.zone")
    default = match_ds(owner, [ds], [key], DEFAULT)
    assert default.verdict.security == Security.INSECURE
    assert _problem(default) == Problem.UNSUPPORTED_ALGORITHM
    assert match_ds(owner, [ds], [key], LEGACY).ok
    no_sha1 = AlgorithmPolicy(LEGACY.algorithms, frozenset({2, 4}), "no-sha1-ds")
    _, _, (sha1_ds,) = _zone_file("rfc4034-5.4-ds.zone")
    result = match_ds(owner, [sha1_ds], [key], no_sha1)
    assert _problem(result) == Problem.UNSUPPORTED_DIGEST


def test_missing_key_and_mismatch(zone_keys: tuple[Name, bytes, bytes]) -> None:
    owner, ksk, zsk = zone_keys
    other = _ds((key_tag(ksk) + 1) & 0xFFFF, 15, 2, b"\x02" * 32)
    assert _problem(match_ds(owner, [other], [ksk, zsk])) == Problem.DNSKEY_MISSING
    wrong = _ds(key_tag(ksk), 15, 2, b"\x02" * 32)
    assert _problem(match_ds(owner, [wrong], [ksk, zsk])) == Problem.DS_MISMATCH
    assert _problem(match_ds(owner, [make_ds(owner, ksk, 2)], [])) == Problem.DNSKEY_MISSING
    # a DS made for another owner name
    assert _problem(match_ds(owner, [make_ds(name("example.net."), ksk, 2)], [ksk])) \
        == Problem.DS_MISMATCH


def test_unusable_keys(zone_keys: tuple[Name, bytes, bytes]) -> None:
    owner, ksk, _ = zone_keys
    revoked = _dnskey(257 | 0x80, 15, ksk[4:])
    assert _problem(match_ds(owner, [make_ds(owner, revoked, 2)], [revoked])) \
        == Problem.KEY_REVOKED
    not_zone = _dnskey(1, 15, ksk[4:])
    assert _problem(match_ds(owner, [make_ds(owner, not_zone, 2)], [not_zone])) \
        == Problem.KEY_NOT_ZONE_KEY
    proto = _dnskey(257, 15, ksk[4:], protocol=2)
    assert _problem(match_ds(owner, [make_ds(owner, proto, 2)], [proto])) \
        == Problem.KEY_NOT_ZONE_KEY


def test_ds_per_zone_limit(zone_keys: tuple[Name, bytes, bytes]) -> None:
    owner, ksk, _ = zone_keys
    decoys = [_ds(i, 15, 2, bytes([i]) * 32) for i in range(8)]
    good = make_ds(owner, ksk, 2)
    result = match_ds(owner, [*decoys, good], [ksk], limits=Limits(ds_per_zone=8))
    assert result.considered == 8
    assert not result.ok
    assert (8, "over the DS-per-zone limit") in result.ignored
    assert match_ds(owner, [*decoys, good], [ksk], limits=Limits(ds_per_zone=9)).ok
    assert match_ds(owner, [good, *decoys], [ksk]).ok


def test_malformed_records_are_skipped(zone_keys: tuple[Name, bytes, bytes]) -> None:
    owner, ksk, _ = zone_keys
    good = make_ds(owner, ksk, 2)
    result = match_ds(owner, [b"\x00\x01", good[:-1], good], [b"\x01", ksk])
    assert result.ok
    assert [i for i, why in result.ignored if why == "malformed"] == [0, 1]
    only_bad = match_ds(owner, [b"\x00\x01"], [ksk])
    # nothing decodable: fail closed, never "insecure"
    assert only_bad.verdict.security == Security.BOGUS
