"""The zone signer and the zones/ hierarchy, checked by zone-check (the signer never
decides by itself what is valid)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from resolver.authority.check import check_zone
from resolver.authority.zone import Zone
from resolver.dnssec.algorithms import DEFAULT, LEGACY
from resolver.testnet.hierarchy import build, read_manifest
from resolver.testnet.signer import Fault, SignSpec, sign_zone
from resolver.testnet.signing_keys import generate
from resolver.wire.name import Name
from resolver.wire.zonefile import read_zone_text

ZONES = Path(__file__).parent.parent.parent / "zones"
NOW = int(time.time())
SOURCE = """$ORIGIN example.
$TTL 3600
@ SOA ns1 hostmaster 1 3600 900 1209600 300
@ NS ns1
ns1 A 127.0.0.1
www A 192.0.2.1
*.wild A 192.0.2.2
a.b.c.ent A 192.0.2.3
sub NS ns.sub
ns.sub A 192.0.2.4
sec NS ns.sec
sec DS 1 13 2 0000000000000000000000000000000000000000000000000000000000000000
"""
ORIGIN = Name.from_text("example.")


def _signed(**kwargs: object) -> tuple[Zone, int]:
    spec = SignSpec(inception=NOW - 3600, expiration=NOW + 86400, **kwargs)  # type: ignore[arg-type]
    result = sign_zone(ORIGIN, read_zone_text(SOURCE, ORIGIN), spec)
    return Zone.from_records(ORIGIN, result.records), result.signatures


@pytest.mark.parametrize(("algorithm", "denial", "extra"), [
    (13, "nsec", {}), (15, "nsec3", {}), (14, "nsec3", {"opt_out": True}),
    (16, "nsec3", {"iterations": 5, "salt": b"\xab\xcd"}), (13, "nsec", {"csk": True}),
    (8, "nsec", {}),
])
def test_signed_zones_pass_zone_check(algorithm: int, denial: str,
                                      extra: dict[str, object]) -> None:
    zone, count = _signed(algorithm=algorithm, denial=denial, **extra)
    report = check_zone(zone, NOW)
    assert report.ok, [str(p) for p in report.problems]
    assert report.valid_signatures == count > 0


@pytest.mark.parametrize(("fault", "words"), [
    (Fault.EXPIRED, "signature expired"),
    (Fault.NOT_YET_VALID, "signature not yet valid"),
    (Fault.CORRUPT, "signature does not verify"),
    (Fault.MISSING_RRSIG, "missing RRSIG"),
    (Fault.UNKNOWN_ALGORITHM, "algorithm 100"),
    (Fault.PRIVATE_ALGORITHM, "algorithm 253"),
])
def test_broken_zones_fail_zone_check(fault: Fault, words: str) -> None:
    zone, _ = _signed(faults=frozenset({fault}))
    report = check_zone(zone, NOW)
    assert not report.ok
    assert all(words in p.text for p in report.problems), [str(p) for p in report.problems]


def test_keys_are_deterministic() -> None:
    a = generate(13, "seed-a", ksk=True)
    assert a.dnskey_rdata() == generate(13, "seed-a", ksk=True).dnskey_rdata()
    assert a.dnskey_rdata() != generate(13, "seed-b", ksk=True).dnskey_rdata()


def test_hierarchy_signs_and_checks() -> None:
    hierarchy = build(ZONES, now=NOW)
    specs = {s.origin: s for s in read_manifest(ZONES)}
    broken = {Fault.EXPIRED, Fault.NOT_YET_VALID, Fault.CORRUPT, Fault.MISSING_RRSIG,
              Fault.UNKNOWN_ALGORITHM, Fault.PRIVATE_ALGORITHM, Fault.DS_UNSIGNED}
    for zone in hierarchy.network.zones.values():
        spec = specs[zone.origin]
        # a zone signed with an algorithm the default policy turns off (RSASHA1) is
        # well signed all the same: zone-check it under the legacy policy
        legacy = spec.algorithm is not None and not DEFAULT.supports_algorithm(spec.algorithm)
        report = check_zone(zone, NOW, policy=LEGACY if legacy else DEFAULT)
        should_pass = spec.algorithm is not None and not (spec.faults & broken)
        assert report.ok == should_pass, (str(zone.origin), [str(p) for p in report.problems])
    # every secure child has its DS in the parent, signed
    example = hierarchy.network.zones[Name.from_text("example.").key]
    assert example.get(Name.from_text("secure.example."), 43) is not None
    assert example.get(Name.from_text("insecure.example."), 43) is None
    assert example.get(Name.from_text("island.example."), 43) is None
