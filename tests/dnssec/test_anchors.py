"""Trust anchors: the bundled IANA root-anchors.xml, DS/DNSKEY anchor files, and the
TrustAnchors collection (islands of trust, closest anchor)."""

from __future__ import annotations

import base64
import hashlib
import struct
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest

from resolver.dnssec.anchors import (
    AnchorError,
    TrustAnchor,
    TrustAnchors,
    bundled_root_anchors_path,
    load_default_anchors,
    parse_root_anchors_xml,
    read_anchor_file,
    read_root_anchors_xml,
)
from resolver.wire import rdata as rd
from resolver.wire.name import ROOT, Name
from resolver.wire.types import RRType
from resolver.wire.zonefile import read_rr_line

REPO = Path(__file__).resolve().parents[2]
CANONICAL = REPO / "trust_anchors" / "root-anchors.xml"
PACKAGED = REPO / "resolver" / "data" / "root-anchors.xml"
INTEROP = REPO / "tests" / "data" / "interop"

KSK_2017 = "E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D"
KSK_2024 = "683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16"
KSK_2010 = "49AAC11D7B6F6446702E54A1607371607A1A41855200FD2CE1CDDE32F24E8FB5"


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


NOW = ts("2026-11-28T16:00:00")


def tags(anchors: list[TrustAnchor] | TrustAnchors) -> set[int]:
    return {a.key_tag for a in anchors}


# --------------------------------------------------------------------------
# the bundled file

def test_packaged_copy_is_identical_to_the_canonical_one() -> None:
    assert CANONICAL.read_bytes() == PACKAGED.read_bytes()
    assert bundled_root_anchors_path().read_bytes() == CANONICAL.read_bytes()


def test_bundled_file_content() -> None:
    anchors = parse_root_anchors_xml(CANONICAL.read_bytes(), str(CANONICAL))
    by_tag = {a.key_tag: a for a in anchors}
    assert set(by_tag) == {19036, 20326, 38696}
    for tag, digest, valid_from in ((20326, KSK_2017, "2017-02-02"),
                                    (38696, KSK_2024, "2024-07-18"),
                                    (19036, KSK_2010, "2010-07-15")):
        anchor = by_tag[tag]
        ds = rd.decode(RRType.DS, anchor.rdata)
        assert isinstance(ds, rd.DS)
        assert (ds.key_tag, ds.algorithm, ds.digest_type) == (tag, 8, 2)
        assert ds.digest.hex().upper() == digest
        assert anchor.zone == ROOT and anchor.rtype == RRType.DS
        assert anchor.valid_from == ts(f"{valid_from}T00:00:00")
    assert by_tag[19036].valid_until == ts("2019-01-11T00:00:00")
    assert by_tag[20326].valid_until is None and by_tag[38696].valid_until is None
    assert [by_tag[t].key_id for t in (19036, 20326, 38696)] == ["Kjqmt7v", "Klajeyz", "Kmyv6jo"]


def test_bundled_public_keys_hash_to_their_digests() -> None:
    """Independent of the reader: the DNSKEY built from PublicKey/Flags has the key tag
    and SHA-256 digest the file states (RFC 4034 App. B and s5.1.4)."""
    root = ET.fromstring(CANONICAL.read_bytes())
    checked = 0
    for element in root.findall("KeyDigest"):
        public_key = element.findtext("PublicKey")
        if public_key is None:
            continue
        dnskey = struct.pack("!HBB", int(element.findtext("Flags") or ""), 3,
                             int(element.findtext("Algorithm") or "")) + base64.b64decode(
            public_key)
        acc = sum(b if i & 1 else b << 8 for i, b in enumerate(dnskey))
        acc += (acc >> 16) & 0xFFFF
        assert acc & 0xFFFF == int(element.findtext("KeyTag") or "")
        digest = hashlib.sha256(b"\x00" + dnskey).hexdigest().upper()
        assert digest == (element.findtext("Digest") or "").strip()
        checked += 1
    assert checked == 2


@pytest.mark.parametrize(("when", "expected"), [
    ("2010-07-15T00:00:00", {19036}),
    ("2015-06-01T00:00:00", {19036}),
    ("2018-06-01T00:00:00", {19036, 20326}),
    ("2019-01-10T23:59:59", {19036, 20326}),
    ("2019-01-11T00:00:00", {20326}),  # validUntil is exclusive
    ("2024-07-17T23:59:59", {20326}),
    ("2024-07-18T00:00:00", {20326, 38696}),
    ("2026-11-28T16:00:00", {20326, 38696}),
])
def test_validity_windows(when: str, expected: set[int]) -> None:
    assert tags(read_root_anchors_xml(CANONICAL, ts(when))) == expected


def test_no_anchor_valid_before_2010() -> None:
    with pytest.raises(AnchorError, match="no anchor is valid") as info:
        read_root_anchors_xml(CANONICAL, ts("2009-01-01T00:00:00"))
    assert str(CANONICAL) in str(info.value)


def test_load_default_anchors() -> None:
    anchors = load_default_anchors(NOW)
    assert isinstance(anchors, TrustAnchors)
    assert anchors.zones() == [ROOT]
    assert tags(anchors) == {20326, 38696}


# --------------------------------------------------------------------------
# malformed XML

XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'
KEY_2024 = (
    '<KeyDigest id="k" validFrom="2024-07-18T00:00:00Z"><KeyTag>38696</KeyTag>'
    f"<Algorithm>8</Algorithm><DigestType>2</DigestType><Digest>{KSK_2024}</Digest>"
    "</KeyDigest>"
)


def _xml(body: str, zone: str = ".") -> str:
    return f"{XML_HEAD}<TrustAnchor id='x' source='test'><Zone>{zone}</Zone>{body}</TrustAnchor>"


def test_minimal_xml_and_z_suffix() -> None:
    (anchor,) = parse_root_anchors_xml(_xml(KEY_2024))
    assert anchor.key_tag == 38696 and anchor.valid_from == ts("2024-07-18T00:00:00")


def test_naive_dates_are_utc_and_zone_may_be_any_name() -> None:
    body = KEY_2024.replace("2024-07-18T00:00:00Z", "2024-07-18T00:00:00")
    (anchor,) = parse_root_anchors_xml(_xml(body, "example."))
    assert anchor.zone == Name.from_text("example.")
    assert anchor.valid_from == ts("2024-07-18T00:00:00")


@pytest.mark.parametrize(("text", "problem"), [
    ("<TrustAnchor><Zone>.</Zone>", "bad XML"),
    (f"{XML_HEAD}<Other/>", "not <TrustAnchor>"),
    (_xml(KEY_2024).replace("<Zone>.</Zone>", ""), "missing <Zone>"),
    (_xml(""), "no <KeyDigest>"),
    (_xml(KEY_2024.replace(' validFrom="2024-07-18T00:00:00Z"', "")), "missing validFrom"),
    (_xml(KEY_2024.replace("2024-07-18T00:00:00Z", "yesterday")), "bad validFrom"),
    (_xml(KEY_2024.replace("<KeyTag>38696</KeyTag>", "")), "missing <KeyTag>"),
    (_xml(KEY_2024.replace("<Algorithm>8", "<Algorithm>800")), "bad <Algorithm>"),
    (_xml(KEY_2024.replace(KSK_2024, "XYZ")), "not hex"),
    (_xml(KEY_2024.replace(KSK_2024, KSK_2024[:40])), "digest length"),
    (_xml(KEY_2024.replace("</Digest>", "</Digest><PublicKey>AwEAAa96</PublicKey>"
                                        "<Flags>257</Flags>")), "key tag"),
    (XML_HEAD + '<!DOCTYPE x [<!ENTITY a "b">]><TrustAnchor/>', "DTD"),
])
def test_bad_xml_is_an_anchor_error(text: str, problem: str) -> None:
    with pytest.raises(AnchorError) as info:
        parse_root_anchors_xml(text, "bad.xml")
    assert info.value.source == "bad.xml"
    assert problem in info.value.problem, str(info.value)
    assert str(info.value).startswith("bad.xml: ")


def test_public_key_that_does_not_match_the_digest(tmp_path: Path) -> None:
    text = CANONICAL.read_text().replace(KSK_2024, KSK_2024[:-2] + "00")
    path = tmp_path / "root-anchors.xml"
    path.write_text(text)
    with pytest.raises(AnchorError, match="does not hash to <Digest>"):
        read_root_anchors_xml(path, NOW)


def test_unreadable_xml_file(tmp_path: Path) -> None:
    with pytest.raises(AnchorError, match="cannot read"):
        read_root_anchors_xml(tmp_path / "missing.xml", NOW)


# --------------------------------------------------------------------------
# DS / DNSKEY anchor files

def test_interop_root_ds_and_key_describe_the_same_key() -> None:
    (ds_anchor,) = read_anchor_file(INTEROP / "root.ds")
    (key_anchor,) = read_anchor_file(INTEROP / "root.key")
    assert ds_anchor.zone == key_anchor.zone == ROOT
    assert (ds_anchor.rtype, key_anchor.rtype) == (RRType.DS, RRType.DNSKEY)
    assert ds_anchor.key_tag == key_anchor.key_tag == 57304
    assert ds_anchor.algorithm == key_anchor.algorithm == 8
    assert ds_anchor.rdata[4:] == hashlib.sha256(b"\x00" + key_anchor.rdata).digest()
    assert ds_anchor.source == str(INTEROP / "root.ds")
    assert ds_anchor.valid_at(0) and ds_anchor.valid_from is None


def test_anchor_file_with_several_zones(tmp_path: Path) -> None:
    path = tmp_path / "anchors"
    path.write_text(
        "; islands of trust\n"
        "example.com.  IN DS 2854 3 1 46e4ffc6e9a4793b488954bd3f0cc6af0dfb201b\n"
        "example.com   DS 30899 RSASHA1 1 f7ed618f24d5e5202927e1d27bc2e84a141cb4b3\n"
        "example.net. 3600 IN DNSKEY 256 3 5 ( AQPQ41chR9DEHt/aIzIFAqanbDlRflJoRs5y\n"
        "             z1jFsoRIT7dWf0r+PeDuewdxkszNH6wnU4QL8pfKFRh5PIYVBLK3 ) ;{id = 30899}\n"
        "sub.example.com. DS 1444 8 2 "
        "69887be92d4848c0bc10acc95682a01e7e3b57ab0750a2ee6f72cac7191a64f1\n"
    )
    anchors = TrustAnchors(read_anchor_file(path))
    com, net, sub = (Name.from_text(n) for n in ("example.com.", "example.net.",
                                                 "sub.example.com."))
    assert anchors.zones() == sorted([com, net, sub])
    assert len(anchors) == 4
    assert tags(anchors.for_zone(com)) == {2854, 30899}
    assert anchors.for_zone(net)[0].key_tag == 30899
    assert anchors.for_zone(Name.from_text("org.")) == ()
    found = anchors.closest(Name.from_text("www.sub.example.com."))
    assert found is not None and found[0] == sub
    found = anchors.closest(Name.from_text("WWW.Example.COM."))
    assert found is not None and found[0] == com and len(found[1]) == 2
    assert anchors.closest(com) is not None
    assert anchors.closest(Name.from_text("example.org.")) is None
    assert anchors.closest(ROOT) is None
    assert com in anchors and Name.from_text("org.") not in anchors


@pytest.mark.parametrize(("text", "problem"), [
    ("example. IN A 192.0.2.1\n", "unsupported record type A"),
    ("; nothing here\n", "no trust anchor"),
    ("example. CH DS 1 8 2 " + KSK_2024 + "\n", "not in class IN"),
    ("example. DS 1 8 2 " + KSK_2024 + "\nexample. DS 1 8 2 zz\n", "2: bad hex"),
])
def test_bad_anchor_files(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "anchors.ds"
    path.write_text(text)
    with pytest.raises(AnchorError) as info:
        read_anchor_file(path)
    assert info.value.source == str(path)
    assert problem in str(info.value), str(info.value)


def test_missing_anchor_file(tmp_path: Path) -> None:
    with pytest.raises(AnchorError, match="cannot read"):
        read_anchor_file(tmp_path / "none")


# --------------------------------------------------------------------------
# the collection

def _ds(zone: str, tag: int, source: str = "test") -> TrustAnchor:
    data = struct.pack("!HBB", tag, 8, 2) + bytes(32)
    return TrustAnchor(Name.from_text(zone), RRType.DS, data, source)


def test_add_and_merge_drop_duplicates() -> None:
    anchors = TrustAnchors([_ds("a.", 1), _ds("a.", 2)])
    assert not anchors.add(_ds("A.", 1, "other source"))
    assert anchors.add(_ds("b.a.", 3))
    other = TrustAnchors([_ds("a.", 2), _ds("c.", 4)])
    assert anchors.merge(other) == 1
    assert len(anchors) == 4
    assert [a.key_tag for a in anchors] == [1, 2, 3, 4]
    assert "4 anchors" in repr(anchors)


def test_root_anchor_covers_everything_and_deeper_islands_win() -> None:
    anchors = load_default_anchors(NOW)
    anchors.merge([_ds("example.com.", 7)])
    found = anchors.closest(Name.from_text("mail.example.com."))
    assert found is not None and found[0] == Name.from_text("example.com.")
    found = anchors.closest(Name.from_text("example.org."))
    assert found is not None and found[0] == ROOT and tags(list(found[1])) == {20326, 38696}


def test_active_filters_by_date() -> None:
    anchors = TrustAnchors(parse_root_anchors_xml(CANONICAL.read_bytes()))
    assert len(anchors) == 3
    assert tags(anchors.active(NOW)) == {20326, 38696}


def test_anchor_type_must_be_ds_or_dnskey() -> None:
    with pytest.raises(AnchorError, match="unsupported anchor type A"):
        TrustAnchor(ROOT, RRType.A, bytes(4), "test")


def test_anchor_from_an_rpl_trust_anchor_line() -> None:
    rr = read_rr_line("example.com.\t3600\tIN\tDS\t30899 5 1 "
                      "d4bf9d2e10f6d76840d42ef5913022abcd0bf512")
    anchor = TrustAnchor(rr.name, rr.rtype, rr.rdata, "rpl")
    assert anchor.key_tag == 30899 and anchor.algorithm == 5
    assert anchor.to_text() == ("example.com. IN DS 30899 5 1 "
                                "D4BF9D2E10F6D76840D42EF5913022ABCD0BF512")
