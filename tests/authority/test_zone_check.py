"""zone-check against the interop zones signed by BIND and ldns (not by us)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from resolver.authority.check import Report, check_zone
from resolver.authority.zone import Zone
from resolver.cli import main
from resolver.clock import parse_iso8601
from resolver.dnssec.anchors import read_anchor_file
from resolver.wire.name import Name
from resolver.wire.types import RRType
from resolver.wire.zonefile import read_zone_file

INTEROP = Path(__file__).parent.parent / "data" / "interop"
AT = "2026-11-28T16:00:00Z"
NOW = parse_iso8601(AT)
BROKEN = {"corrupt", "expired", "future", "stripsig", "alg100"}


def _manifest() -> list[dict[str, str]]:
    with (INTEROP / "manifest.tsv").open() as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def _zone_file(origin: str) -> Path:
    return INTEROP / "zones" / ("root.db" if origin == "." else f"{origin.rstrip('.')}.db")


def _check(origin: str, anchor: Path | None = None) -> Report:
    name = Name.from_text(origin)
    zone = Zone.from_records(name, read_zone_file(_zone_file(origin), name))
    anchors = read_anchor_file(anchor) if anchor else []
    return check_zone(zone, NOW, anchors)


GOOD = [row["zone"] for row in _manifest()
        if row["signer"] != "none" and row["options"] not in BROKEN]


@pytest.mark.parametrize("origin", GOOD)
def test_good_zones_are_valid(origin: str) -> None:
    ds = INTEROP / "ds" / f"{origin.rstrip('.')}.ds"
    anchor = ds if ds.exists() and origin != "bad-ds.test." else None
    report = _check(origin, anchor)
    assert report.ok, [str(p) for p in report.problems]
    assert report.signatures > 0 and report.valid_signatures == report.signatures


def test_root_against_both_anchor_forms() -> None:
    assert _check(".", INTEROP / "root.ds").ok
    assert _check(".", INTEROP / "root.key").ok


def test_bogus_sig_reports_every_corrupted_signature() -> None:
    report = _check("bogus-sig.test.")
    name = Name.from_text("bogus-sig.test.")
    zone = Zone.from_records(name, read_zone_file(_zone_file("bogus-sig.test."), name))
    spared = {RRType.DNSKEY, RRType.SOA, RRType.NS, RRType.NSEC}
    expected = {(rs.name, rs.rtype) for rs in zone.rrsets()
                if rs.sigs and zone.is_authoritative(rs.name, rs.rtype)
                and rs.rtype not in spared and rs.name != Name.from_text("ok.bogus-sig.test.")}
    assert {(p.owner, p.rtype) for p in report.problems} == expected
    assert all("signature does not verify" in p.text for p in report.problems)
    assert len(expected) >= 10


@pytest.mark.parametrize(("origin", "words"), [
    ("expired.test.", "signature expired"),
    ("future.test.", "signature not yet valid"),
])
def test_window_damage(origin: str, words: str) -> None:
    report = _check(origin)
    assert report.problems and report.valid_signatures == 0
    assert len(report.problems) == report.signatures
    assert all(words in p.text for p in report.problems)


def test_missing_sig_is_exactly_www_a() -> None:
    report = _check("missing-sig.test.")
    assert [(str(p.owner), p.rtype, p.text) for p in report.problems] == [
        ("www.missing-sig.test.", RRType.A, "missing RRSIG")]


def test_unknown_algorithm_reported_unsupported() -> None:
    report = _check("unknown-alg.test.")
    assert len(report.problems) == 1
    assert "algorithm 100" in report.problems[0].text
    assert "unsupported" in report.problems[0].text


def test_bad_ds_anchor_mismatch() -> None:
    report = _check("bad-ds.test.", INTEROP / "ds" / "bad-ds.test.ds")
    assert len(report.problems) == 1
    assert "DS digest does not match" in report.problems[0].text


def test_unsigned_zone_is_not_valid() -> None:
    report = _check("insecure.test.")
    assert not report.ok and "not signed" in report.problems[0].text


def test_nsec_chain_damage_detected(tmp_path: Path) -> None:
    text = _zone_file("ed25519.test.").read_text().splitlines()
    broken = [line for line in text if not line.startswith("www.ed25519.test.\t300\tIN\tNSEC")]
    assert len(broken) == len(text) - 1
    path = tmp_path / "ed25519.test.db"
    path.write_text("\n".join(broken) + "\n")
    assert main(["zone-check", str(path), "--origin", "ed25519.test.", "--at", AT]) == 1


def test_nsec3_chain_damage_detected(tmp_path: Path) -> None:
    lines = _zone_file("ecdsa256.test.").read_text().splitlines()
    nsec3 = [i for i, line in enumerate(lines) if "\tNSEC3\t" in line]
    del lines[nsec3[0]]
    path = tmp_path / "ecdsa256.test.db"
    path.write_text("\n".join(lines) + "\n")
    assert main(["zone-check", str(path), "--origin", "ecdsa256.test.", "--at", AT]) == 1


def test_cli_exit_status_and_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["zone-check", str(_zone_file("rsasha256.test.")), "--at", AT, "--anchor",
                 str(INTEROP / "ds" / "rsasha256.test.ds")]) == 0
    out = capsys.readouterr().out
    assert "zone is valid" in out
    assert main(["zone-check", str(_zone_file("missing-sig.test.")), "--at", AT]) == 1
    out = capsys.readouterr().out
    assert "www.missing-sig.test. A: missing RRSIG" in out
    assert main(["zone-check", str(_zone_file("rsasha256.test.")), "--at", "yesterday"]) == 2
