from __future__ import annotations

import pytest

from resolver.wire.name import ROOT, Name, NameError_, name


def test_text_round_trip_and_case() -> None:
    n = Name.from_text("WWW.Example.COM.")
    assert n.to_text() == "WWW.Example.COM."
    assert n == name("www.example.com")
    assert hash(n) == hash(name("www.example.com"))
    assert n.key == b"\x03www\x07example\x03com\x00"


def test_escapes() -> None:
    n = Name.from_text(r"a\.b.c\032d.\255.")
    assert n.labels == (b"a.b", b"c d", b"\xff")
    assert n.to_text() == r"a\.b.c\032d.\255."
    assert Name.from_text(n.to_text()) == n


def test_relative_and_origin() -> None:
    origin = name("example.com.")
    assert Name.from_text("www", origin) == name("www.example.com.")
    assert Name.from_text("@", origin) == origin
    assert Name.from_text(".") == ROOT


def test_limits() -> None:
    with pytest.raises(NameError_):
        Name.from_text("a" * 64 + ".")
    with pytest.raises(NameError_):
        Name.from_text(".".join(["a"] * 128) + ".")
    with pytest.raises(NameError_):
        Name.from_text(".".join(["abcdefg"] * 40) + ".")
    with pytest.raises(NameError_):
        Name.from_text("a..b.")


def test_relations() -> None:
    a = name("a.b.example.")
    assert a.is_subdomain(name("example."))
    assert a.is_subdomain(ROOT)
    assert a.is_subdomain(a)
    assert not name("xexample.").is_subdomain(name("example."))
    # a label whose bytes look like a suffix must not fool the check
    tricky = Name.from_labels([b"x\x03com"])
    assert not tricky.is_subdomain(name("com."))
    assert a.parent() == name("b.example.")
    assert a.ancestor(1) == name("example.")
    assert a.label_count == 3
    assert name("*.example.").label_count == 1
    assert name("a.b.example.").common_ancestor(name("c.b.example.")) == name("b.example.")


def test_canonical_order_rfc4034_6_1() -> None:
    ordered = [
        "example.", "a.example.", "yljkjljk.a.example.", "Z.a.example.",
        "zABC.a.EXAMPLE.", "z.example.", "\\001.z.example.", "*.z.example.", "\\200.z.example.",
    ]
    names = [Name.from_text(t) for t in ordered]
    assert sorted(reversed(names)) == names
