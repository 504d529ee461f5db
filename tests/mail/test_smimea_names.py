"""SMIMEA (RFC 8162 s3) and OPENPGPKEY (RFC 7929 s3) owner names."""

from __future__ import annotations

import hashlib

import pytest

from resolver.mail.smimea import (
    EmailAddressError,
    openpgpkey_owner,
    smimea_owner,
    split_address,
)
from resolver.wire.name import Name
from tests.mail.smimea_suite import load_vectors, run_smimea_names_suite

VECTORS = load_vectors()


def test_suite_all_pass() -> None:
    passed, failed, details = run_smimea_names_suite()
    assert failed == 0, details
    assert passed == len(VECTORS) == 12


@pytest.mark.parametrize(("address", "kind", "expected"), VECTORS,
                         ids=[f"{k}-{a}" for a, k, _ in VECTORS])
def test_vector(address: str, kind: str, expected: str) -> None:
    func = smimea_owner if kind == "smimea" else openpgpkey_owner
    got = func(address)
    assert got == Name.from_text(expected)
    assert got.to_text() == expected + "."  # lowercase hex, domain as given


def test_rfc7929_example() -> None:
    assert openpgpkey_owner("hugh@example.com").to_text() == (
        "c93f1e400f26708f98cb19d936620da35eec8f72e57f9eec01c1afd6._openpgpkey.example.com.")


def test_local_part_not_folded_domain_is() -> None:
    assert smimea_owner("Hugh@example.com") != smimea_owner("hugh@example.com")
    assert smimea_owner("hugh@EXAMPLE.Com").to_text() == smimea_owner("hugh@example.com").to_text()
    assert smimea_owner("hugh@example.com.") == smimea_owner("hugh@example.com")


def test_label_is_28_octets_of_sha256() -> None:
    owner = smimea_owner("first.last@example.com")
    label = owner.labels[0]
    assert len(label) == 56 and label == hashlib.sha256(b"first.last").hexdigest()[:56].encode()
    assert owner.labels[1] == b"_smimecert"


def test_idna_domain() -> None:
    owner = openpgpkey_owner("jörg@bücher.example")
    assert owner.labels[2:] == (b"xn--bcher-kva", b"example")
    assert owner.labels[0] == hashlib.sha256("jörg".encode()).hexdigest()[:56].encode()
    # IDNA2008-style: no IDNA2003 sharp-s mapping; ideographic full stop separates labels
    assert smimea_owner("a@straße.de").labels[2] == b"xn--strae-oqa"
    assert smimea_owner("a@bücher。example") == smimea_owner("a@bücher.example")
    assert smimea_owner("a@BÜCHER.example") == smimea_owner("a@bücher.example")
    assert smimea_owner("a@xn--bcher-kva.example") == smimea_owner("a@bücher.example")


def test_quoted_local_part_hashed_as_given() -> None:
    assert split_address('"a@b"@example.com') == ('"a@b"', "example.com")
    owner = smimea_owner('"a@b"@example.com')
    assert owner.labels[0] == hashlib.sha256(b'"a@b"').hexdigest()[:56].encode()


@pytest.mark.parametrize("address", [
    "no-at-sign", "@example.com", "joe@", "joe@.", "joe@exa mple.com", "joe@-bad.com",
    "joe@bad-.com", "joe@a..b", "joe@[192.0.2.1]", "joe@under_score.example",
    "jo\x00e@example.com", "joe\n@example.com", "joe@" + "a" * 64 + ".com",
    "joe@" + ".".join(["abcdefghi"] * 26), "joe@xn--zz-.example", "joe@exa\u200bmple.com",
])
def test_bad_addresses(address: str) -> None:
    with pytest.raises(EmailAddressError) as info:
        smimea_owner(address)
    assert isinstance(info.value, ValueError) and str(info.value)
    with pytest.raises(EmailAddressError):
        openpgpkey_owner(address)


def test_not_text() -> None:
    with pytest.raises(EmailAddressError):
        smimea_owner(b"joe@example.com")  # type: ignore[arg-type]
