"""The zone-file reader: tokenizer rules, directives, TTL rules, errors, and every
interop zone compared record for record with dnspython."""

from __future__ import annotations

from pathlib import Path

import pytest

from resolver.wire import rdata as rd
from resolver.wire.message import RR
from resolver.wire.name import ROOT, Name
from resolver.wire.types import RRClass, RRType
from resolver.wire.zonefile import (
    MAX_INCLUDE_DEPTH,
    Token,
    ZoneFileError,
    iter_zone,
    read_rr_line,
    read_zone_file,
    read_zone_text,
    tokenize,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "interop"
ZONES = sorted((DATA / "zones").glob("*.db"))
ORIGIN = Name.from_text("example.")


def _origins() -> dict[str, str]:
    out = {}
    for line in (DATA / "zones.map").read_text().splitlines():
        if line.strip():
            zone, _addr, filename = line.split()
            out[filename] = zone
    return out


def _rows(records: list[RR]) -> set[tuple[bytes, int, int, int, bytes]]:
    return {(r.name.wire, r.rtype, r.rclass, r.ttl, r.rdata) for r in records}


def _dnspython_rows(zone: object) -> set[tuple[bytes, int, int, int, bytes]]:
    rows = set()
    for owner, node in zone.nodes.items():  # type: ignore[attr-defined]
        for rdataset in node.rdatasets:
            for item in rdataset:
                rows.add((owner.to_wire(), int(rdataset.rdtype), int(rdataset.rdclass),
                          rdataset.ttl, item.to_wire()))
    return rows


def _texts(line_tokens: tuple[Token, ...]) -> list[str]:
    return [t.text for t in line_tokens]


# --------------------------------------------------------------------------
# the interop zones against dnspython

@pytest.mark.parametrize("path", ZONES, ids=[p.name for p in ZONES])
def test_interop_zone_matches_dnspython(path: Path) -> None:
    dns_zone = pytest.importorskip("dns.zone")
    origin = _origins()[path.name]
    mine = read_zone_file(path, Name.from_text(origin))
    theirs = dns_zone.from_file(str(path), origin, relativize=False)
    assert mine, path
    assert len(_rows(mine)) == len(mine), "duplicate records"
    assert _rows(mine) == _dnspython_rows(theirs)


def test_all_interop_zones_read() -> None:
    origins = _origins()
    assert len(ZONES) == len(origins) == 24
    total = sum(len(read_zone_file(p, Name.from_text(origins[p.name]))) for p in ZONES)
    assert total == 1394


def test_zone_without_origin_argument_uses_its_origin_directive() -> None:
    path = DATA / "zones" / "insecure.test.db"
    with_arg = read_zone_file(path, Name.from_text("insecure.test."))
    assert read_zone_file(path) == with_arg
    assert list(iter_zone(path)) == with_arg


# --------------------------------------------------------------------------
# tokenizer

def test_parentheses_span_lines_with_comments_inside() -> None:
    text = (
        "@ IN SOA ns1 host ( ; serial follows\n"
        "        2026112801 ; serial\n"
        "        3600       ; refresh (1 hour)\n"
        "        900 1209600\n"
        "        300 )      ; minimum\n"
        "www A 192.0.2.1\n"
    )
    lines = list(tokenize(text))
    assert [ln.line for ln in lines] == [1, 6]
    assert _texts(lines[0].tokens) == ["@", "IN", "SOA", "ns1", "host", "2026112801", "3600",
                                      "900", "1209600", "300"]
    records = read_zone_text(text, ORIGIN, 60)
    soa = records[0].data()
    assert isinstance(soa, rd.SOA)
    assert (soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum) == (
        2026112801, 3600, 900, 1209600, 300)
    assert soa.mname == Name.from_text("ns1.example.")


def test_nested_and_adjacent_parentheses() -> None:
    (line,) = tokenize("a TXT (\"x\"(y)\n z)")
    assert [(t.text, t.quoted) for t in line.tokens] == [
        ("a", False), ("TXT", False), ("x", True), ("y", False), ("z", False)]


def test_quoted_strings_keep_semicolons_and_escaped_quotes() -> None:
    (line,) = tokenize(r'txt TXT "a; not a comment" "say \"hi\"" "" ; real comment')
    assert [(t.text, t.quoted) for t in line.tokens] == [
        ("txt", False), ("TXT", False), ("a; not a comment", True), (r"say \"hi\"", True),
        ("", True)]
    (rr,) = read_zone_text(r'txt 60 TXT "a; not a comment" "say \"hi\"" ""', ORIGIN)
    txt = rr.data()
    assert isinstance(txt, rd.TXT)
    assert txt.strings == (b"a; not a comment", b'say "hi"', b"")


def test_generic_rdata_with_split_hex() -> None:
    (rr,) = read_zone_text("x 60 TYPE4001 \\# 6 ( 0102 0304\n   0506 )", ORIGIN)
    assert rr.rtype == 4001 and rr.rdata == bytes.fromhex("010203040506")
    (a,) = read_zone_text("x 60 A \\# 4 C0 00 02 01", ORIGIN)
    assert a.rdata == bytes([192, 0, 2, 1])
    (empty,) = read_zone_text("x 60 TYPE65280 \\# 0", ORIGIN)
    assert empty.rdata == b""


def test_quoted_backslash_hash_is_text_not_the_generic_marker() -> None:
    (rr,) = read_zone_text('x 60 TXT "\\#" "2"', ORIGIN)
    assert rr.rdata == b"\x01#\x012"


def test_escaped_dot_in_owner_is_one_label() -> None:
    (rr,) = read_zone_text(r"a\.b 60 A 192.0.2.1", ORIGIN)
    assert rr.name.labels == (b"a.b", b"example")
    (rr,) = read_zone_text(r"x\032y\ z.example. 60 A 192.0.2.1", ORIGIN)
    assert rr.name.labels == (b"x y z", b"example")


def test_decimal_escapes_in_txt() -> None:
    (rr,) = read_zone_text(r'x 60 TXT "caf\195\169" a\059b plain\ space', ORIGIN)
    txt = rr.data()
    assert isinstance(txt, rd.TXT)
    assert txt.strings == ("café".encode(), b"a;b", b"plain space")


def test_crlf_line_endings() -> None:
    records = read_zone_text("$TTL 60\r\na A 192.0.2.1\r\n  AAAA ::1\r\n", ORIGIN)
    assert [r.rtype for r in records] == [RRType.A, RRType.AAAA]
    assert all(r.name == Name.from_text("a.example.") for r in records)


# --------------------------------------------------------------------------
# fields: owner, TTL, class, type

def test_class_and_ttl_in_either_order_and_optional() -> None:
    text = (
        "a 300 IN A 192.0.2.1\n"
        "b IN 301 A 192.0.2.2\n"
        "c 302 A 192.0.2.3\n"
        "d IN A 192.0.2.4\n"
        "e A 192.0.2.5\n"
    )
    records = read_zone_text(text, ORIGIN)
    assert [r.ttl for r in records] == [300, 301, 302, 302, 302]
    assert {r.rclass for r in records} == {RRClass.IN}


def test_ttl_units() -> None:
    records = read_zone_text("$TTL 1h30m\na A 192.0.2.1\nb 1W2d A 192.0.2.2\n"
                             "c 2h IN A 192.0.2.3\n", ORIGIN)
    assert [r.ttl for r in records] == [5400, 777600, 7200]
    (soa,) = read_zone_text("@ 1d SOA ns host 1 1h 15m 2w 5m", ORIGIN)
    data = soa.data()
    assert isinstance(data, rd.SOA)
    assert (soa.ttl, data.refresh, data.retry, data.expire, data.minimum) == (
        86400, 3600, 900, 1209600, 300)


def test_blank_owner_repeats_the_previous_owner() -> None:
    text = "$TTL 60\nwww A 192.0.2.1\n\tAAAA 2001:db8::1\n  ; only a comment\n   TXT x\n"
    records = read_zone_text(text, ORIGIN)
    assert [r.name for r in records] == [Name.from_text("www.example.")] * 3


def test_at_sign_relative_names_and_origin_directive() -> None:
    text = (
        "$TTL 60\n"
        "@ NS ns1\n"
        "@ MX 10 mail.other.\n"
        "$ORIGIN sub\n"  # relative to the current origin
        "@ CNAME target\n"
        "$ORIGIN elsewhere.\n"
        "x PTR @\n"
    )
    records = read_zone_text(text, ORIGIN)
    ns = records[0].data()
    mx = records[1].data()
    cname = records[2].data()
    ptr = records[3].data()
    assert isinstance(ns, rd.NS) and ns.target == Name.from_text("ns1.example.")
    assert isinstance(mx, rd.MX) and mx.exchange == Name.from_text("mail.other.")
    assert records[2].name == Name.from_text("sub.example.")
    assert isinstance(cname, rd.CNAME) and cname.target == Name.from_text("target.sub.example.")
    assert records[3].name == Name.from_text("x.elsewhere.")
    assert isinstance(ptr, rd.PTR) and ptr.target == Name.from_text("elsewhere.")


def test_type_and_class_numbers() -> None:
    (rr,) = read_zone_text("x 60 CLASS1 TYPE1 192.0.2.1", ORIGIN)
    assert (rr.rclass, rr.rtype, rr.rdata) == (1, RRType.A, bytes([192, 0, 2, 1]))
    (ch,) = read_zone_text("x 60 CH TXT hello", ORIGIN)
    assert ch.rclass == RRClass.CH
    (other,) = read_zone_text("x CLASS32 60 TYPE65280 \\# 1 ff", ORIGIN)
    assert (other.rclass, other.rtype, other.ttl) == (32, 65280, 60)


def test_dnssec_rdata_forms() -> None:
    text = (
        "$TTL 60\n"
        "@ RRSIG A RSASHA256 2 3600 20271128154632 20261127154632 29536 example. (\n"
        "    AAEC AwQF )\n"
        "@ DS 12345 ECDSAP256SHA256 2 ( 0123456789ABCDEF0123456789ABCDEF\n"
        "    0123456789ABCDEF0123456789ABCDEF )\n"
        "h NSEC3 1 1 12 - ( 2t7b4g4vsa5smi47k61mv5bv1a22bojr A RRSIG TYPE4001 )\n"
        "@ NSEC3PARAM 1 0 10 AABBCCDD\n"
    )
    rrsig, ds, nsec3, param = read_zone_text(text, ORIGIN)
    sig = rrsig.data()
    assert isinstance(sig, rd.RRSIG)
    assert sig.algorithm == 8 and sig.signature == bytes(range(6))
    d = ds.data()
    assert isinstance(d, rd.DS) and d.algorithm == 13 and len(d.digest) == 32
    n3 = nsec3.data()
    assert isinstance(n3, rd.NSEC3)
    assert n3.salt == b"" and n3.types == frozenset({1, 46, 4001})
    p = param.data()
    assert isinstance(p, rd.NSEC3PARAM) and p.salt == bytes.fromhex("aabbccdd")


# --------------------------------------------------------------------------
# TTL defaults

def test_ttl_directive_wins_over_earlier_ttls() -> None:
    records = read_zone_text("a 10 A 192.0.2.1\n$TTL 20\nb A 192.0.2.2\nc 30 A 192.0.2.3\n"
                             "d A 192.0.2.4\n", ORIGIN)
    assert [r.ttl for r in records] == [10, 20, 30, 20]


def test_soa_minimum_is_the_default_when_the_soa_has_no_ttl() -> None:
    records = read_zone_text("@ SOA ns host 1 2 3 4 500\nwww A 192.0.2.1\n", ORIGIN)
    assert [r.ttl for r in records] == [500, 500]


def test_last_explicit_ttl_beats_the_soa_minimum() -> None:
    records = read_zone_text("@ 3600 SOA ns host 1 2 3 4 500\nwww A 192.0.2.1\n", ORIGIN)
    assert [r.ttl for r in records] == [3600, 3600]


def test_default_ttl_argument_acts_as_ttl_directive() -> None:
    records = read_zone_text("a A 192.0.2.1\nb 5 A 192.0.2.2\nc A 192.0.2.3\n", ORIGIN, 77)
    assert [r.ttl for r in records] == [77, 5, 77]


def test_missing_ttl_is_an_error_with_line_number() -> None:
    with pytest.raises(ZoneFileError) as info:
        read_zone_text("\n; comment\nwww A 192.0.2.1\n", ORIGIN, filename="z.db")
    assert info.value.line == 3 and info.value.filename == "z.db"
    assert str(info.value).startswith("z.db:3: ")
    assert "TTL" in info.value.reason


def test_semantics_agree_with_dnspython_on_a_tricky_zone() -> None:
    dns_zone = pytest.importorskip("dns.zone")
    text = (
        "$ORIGIN example.\n"
        "@ IN SOA ns1 hostmaster ( 1 ; serial\n  3600 900 1209600 300 )\n"
        "@ 600 NS ns1\n"
        "ns1 IN 120 A 192.0.2.1\n"
        "\tAAAA 2001:db8::1\n"
        "txt TXT \"a;b\" \"q\\\"q\" \"\" caf\\195\\169\n"
        "a\\.b A 192.0.2.2\n"
        "gen TYPE4001 \\# 3 01 0203\n"
        "$TTL 1h\n"
        "x MX 10 mail\n"
        "y 2d CNAME x\n"
    )
    mine = read_zone_text(text)
    theirs = dns_zone.from_text(text, relativize=False)
    assert _rows(mine) == _dnspython_rows(theirs)


# --------------------------------------------------------------------------
# $INCLUDE

def test_include_relative_to_the_including_file(tmp_path: Path) -> None:
    sub = tmp_path / "parts"
    sub.mkdir()
    (sub / "hosts.inc").write_text("www A 192.0.2.1\n$ORIGIN deeper\nx A 192.0.2.3\n")
    (sub / "other.inc").write_text("@ TXT other\n")
    (tmp_path / "main.db").write_text(
        "$ORIGIN example.\n$TTL 60\n"
        "$INCLUDE parts/hosts.inc\n"
        "y A 192.0.2.2\n"  # origin restored after the include
        "$INCLUDE parts/other.inc other.example.\n"
        "\tAAAA ::1\n"  # owner restored too
    )
    records = read_zone_file(tmp_path / "main.db")
    assert [(r.name.to_text(), r.rtype) for r in records] == [
        ("www.example.", RRType.A), ("x.deeper.example.", RRType.A), ("y.example.", RRType.A),
        ("other.example.", RRType.TXT), ("y.example.", RRType.AAAA)]


def test_include_depth_limit(tmp_path: Path) -> None:
    (tmp_path / "loop.db").write_text("$TTL 60\na.example. A 192.0.2.1\n$INCLUDE loop.db\n")
    with pytest.raises(ZoneFileError) as info:
        read_zone_file(tmp_path / "loop.db")
    assert f"deeper than {MAX_INCLUDE_DEPTH}" in str(info.value)
    assert info.value.line == 3


def test_include_of_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ZoneFileError, match="cannot read \\$INCLUDE file"):
        read_zone_text("$INCLUDE nothing-here.db\n", ORIGIN, base_dir=tmp_path)


def test_errors_inside_an_include_name_the_included_file(tmp_path: Path) -> None:
    (tmp_path / "bad.inc").write_text("ok A 192.0.2.1\nbad A 192.0.2.300\n")
    (tmp_path / "main.db").write_text("$TTL 60\n$INCLUDE bad.inc example.\n")
    with pytest.raises(ZoneFileError) as info:
        read_zone_file(tmp_path / "main.db")
    assert info.value.filename.endswith("bad.inc") and info.value.line == 2


# --------------------------------------------------------------------------
# errors

@pytest.mark.parametrize(("text", "line", "fragment"), [
    ('a 60 TXT "open\n', 1, "quoted string"),
    ("$TTL 60\na SOA ns host (\n 1 2 3 4 5\n", 2, "never closed"),
    ("$TTL 60\na A 192.0.2.1 )\n", 2, "without a matching"),
    ("$TTL 60\n\na BOGUS 1\n", 3, "unknown type"),
    ("a 60x A 192.0.2.1\n", 1, "bad TTL"),
    ("$TTL 60\na\n", 2, "no type"),
    ("$TTL 60\n  A 192.0.2.1\n", 2, "without an owner"),
    ("$TTL 60\na A 192.0.2.1 extra\n", 2, "trailing fields"),
    ("$TTL 60\na A 192.0.2.300\n", 2, "bad address"),
    ("$TTL sixty\n", 1, "bad $TTL"),
    ("$ORIGIN\n", 1, "$ORIGIN takes"),
    ("$GENERATE 1-3 h$ A 192.0.2.$\n", 1, "not supported"),
    ("$FOO bar\n", 1, "unknown directive"),
    ("$TTL 60\na IN A 192.0.2.1\nb CH A 192.0.2.1\n", 3, "class"),
    ("$TTL 60\na A 192.0.2.1\\\n", 2, "backslash at the end"),
    ("$TTL 60\na TYPE65280 deadbeef\n", 2, "generic syntax"),
    ("$TTL 60\na A \\# 5 0102030405\n", 2, "extra octets"),
])
def test_errors_name_file_and_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(ZoneFileError) as info:
        read_zone_text(text, ORIGIN, filename="t.zone")
    assert info.value.filename == "t.zone"
    assert info.value.line == line, str(info.value)
    assert fragment in info.value.reason, str(info.value)
    assert str(info.value).startswith(f"t.zone:{line}: ")


def test_relative_names_need_an_origin() -> None:
    with pytest.raises(ZoneFileError, match="relative name 'www'"):
        read_zone_text("$TTL 60\nwww A 192.0.2.1\n")
    with pytest.raises(ZoneFileError, match="'@'"):
        read_zone_text("$TTL 60\n@ A 192.0.2.1\n")
    with pytest.raises(ZoneFileError, match="relative name in the RDATA"):
        read_zone_text("$TTL 60\nwww.example. CNAME other\n")
    (rr,) = read_zone_text("$TTL 60\nwww.example. CNAME other.example.\n")
    assert rr.name == Name.from_text("www.example.")


def test_zone_file_error_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read the file"):
        read_zone_file(tmp_path / "missing.db")


# --------------------------------------------------------------------------
# read_rr_line

def test_rr_line_defaults() -> None:
    rr = read_rr_line("example.com DS 2854 3 1 46e4ffc6e9a4793b488954bd3f0cc6af0dfb201b")
    assert rr.name == Name.from_text("example.com.")
    assert (rr.ttl, rr.rclass, rr.rtype) == (3600, RRClass.IN, RRType.DS)
    assert read_rr_line("x. IN 5 A 192.0.2.1", default_ttl=1).ttl == 5
    assert read_rr_line("x. A 192.0.2.1", default_ttl=1).ttl == 1
    assert read_rr_line("ns NS host", origin=Name.from_text("zone.")).name == Name.from_text(
        "ns.zone.")


def test_rr_line_names_without_dot_are_absolute_in_rdata_too() -> None:
    rr = read_rr_line("www.example.com IN CNAME target.example.net ; comment")
    data = rr.data()
    assert isinstance(data, rd.CNAME) and data.target == Name.from_text("target.example.net.")


def test_rr_line_with_parentheses_and_comment() -> None:
    rr = read_rr_line("example. DNSKEY 257 3 7 AwEAAcUl ( FV1vhmqx ) ;{id = 30899 (ksk)}")
    data = rr.data()
    assert isinstance(data, rd.DNSKEY) and data.flags == 257 and data.algorithm == 7


def test_rr_line_rejects_zero_or_several_records() -> None:
    with pytest.raises(ZoneFileError, match="no record"):
        read_rr_line("; nothing")
    with pytest.raises(ZoneFileError, match="2 entries"):
        read_rr_line("a. A 192.0.2.1\nb. A 192.0.2.2")
    with pytest.raises(ZoneFileError, match="directive"):
        read_rr_line("$TTL 5")


def test_rr_line_strict_and_lenient() -> None:
    line = "www.example.com. IN A \\# 5 0102030405"
    with pytest.raises(ZoneFileError, match="extra octets"):
        read_rr_line(line)
    assert read_rr_line(line, strict=False).rdata == bytes.fromhex("0102030405")
    ds = ". IN DS 49060 8 1 E7B1EB56D7D5791B3D45630FEAA9C823DB84B385ACEEAC5F44DD08885C36700F"
    with pytest.raises(ZoneFileError, match="digest length"):
        read_rr_line(ds)
    assert len(read_rr_line(ds, strict=False).rdata) == 4 + 32


def test_rr_line_origin_default_is_root() -> None:
    assert read_rr_line(". NS a.root-servers.net").name == ROOT
