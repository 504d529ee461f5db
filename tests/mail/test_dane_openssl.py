"""TLSA matching: OpenSSL's danetest/dane-cross blocks, then hand-made chains for the
rules the suite does not reach (RFC 6698, RFC 7671, RFC 7672 s3.2.3)."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID

from resolver.mail import x509util as xu
from resolver.mail.dane_match import (
    SMTP_USAGES,
    MatchKind,
    classify_tlsa,
    match_chain,
    tlsa_mnemonic,
)
from resolver.wire import rdata as rd
from resolver.wire.name import Name
from tests.mail.dane_suite import (
    DAY,
    NOW,
    Issued,
    iter_cases,
    make_cert,
    run_case,
    run_openssl_suite,
    tlsa_for,
)

CASES = iter_cases()


def test_openssl_suite_all_pass() -> None:
    passed, failed, details = run_openssl_suite()
    assert failed == 0, "\n".join(d for d in details if d.startswith("FAIL"))
    assert passed == 55


def test_openssl_suite_with_ignored_lines_as_records() -> None:
    """Blocks 43-46 carry a second record the driver skips; fed to us, the precedence
    rules (EE over TA, shallow TA over deep, DANE-TA over PKIX) give the same result."""
    passed, failed, details = run_openssl_suite(include_ignored=True)
    assert passed == 55
    assert failed == 0, "\n".join(d for d in details if d.startswith("FAIL"))


@pytest.mark.parametrize(("label", "case", "anchors", "base"), CASES, ids=[c[0] for c in CASES])
def test_openssl_block(label: str, case: dict[str, Any], anchors: list[x509.Certificate],
                       base: str) -> None:
    result = run_case(case, anchors, base)
    assert (result.openssl_error, result.depth) == (case["want_verify_error"],
                                                    case["want_match_depth"]), result.reason
    if result.ok:
        assert result.record is not None
    _assert_json(result.to_json())


# --------------------------------------------------------------------------
# hand-made chains

def _assert_json(value: object) -> None:
    """Only dicts, lists, str and int (RFC 8259 types without floats, bools or null)."""
    if isinstance(value, dict):
        for k, v in value.items():
            assert isinstance(k, str)
            _assert_json(v)
    elif isinstance(value, list):
        for v in value:
            _assert_json(v)
    else:
        assert type(value) in (str, int), repr(value)
    json.dumps(value)


@pytest.fixture(scope="module")
def pki() -> dict[str, Issued]:
    root = make_cert("Test Root", ca=True)
    inter = make_cert("Test Issuer", issuer=root, ca=True)
    leaf = make_cert("mx.example.com", issuer=inter, dns=("mx.example.com",),
                     eku=(ExtendedKeyUsageOID.SERVER_AUTH,))
    return {
        "root": root, "inter": inter, "leaf": leaf,
        "wild": make_cert("wild", issuer=inter, dns=("*.example.com",)),
        "cn_only": make_cert("mx.example.com", issuer=inter),
        "expired": make_cert("mx.example.com", issuer=inter, dns=("mx.example.com",),
                             not_before=NOW - 400 * DAY, not_after=NOW - DAY),
        "future": make_cert("mx.example.com", issuer=inter, dns=("mx.example.com",),
                            not_before=NOW + DAY),
        "other_name": make_cert("mx.example.net", issuer=inter, dns=("mx.example.net",)),
        "client_only": make_cert("mx.example.com", issuer=inter, dns=("mx.example.com",),
                                 eku=(ExtendedKeyUsageOID.CLIENT_AUTH,)),
        "idn": make_cert("idn", issuer=inter, dns=("mx.xn--bcher-kva.example",)),
        "stranger": make_cert("Stranger CA", ca=True),
        "not_ca": make_cert("Not A CA", issuer=root, ca=False),
    }


def chain(pki: dict[str, Issued], *names: str) -> list[x509.Certificate]:
    return [pki[n].cert for n in names]


def test_dane_ee_ignores_names_and_dates(pki: dict[str, Issued]) -> None:
    for leaf in ("expired", "future", "other_name"):
        result = match_chain([tlsa_for(3, 1, 1, pki[leaf])], chain(pki, leaf),
                             "mx.example.com", now=NOW)
        assert result.kind is MatchKind.MATCHED and result.depth == 0
        assert result.name is None


def test_dane_ee_name_checks_opt_in(pki: dict[str, Issued]) -> None:
    result = match_chain([tlsa_for(3, 0, 2, pki["other_name"])], chain(pki, "other_name"),
                         "mx.example.com", now=NOW, dane_ee_name_checks=True)
    assert result.kind is MatchKind.NAME_MISMATCH and result.openssl_error == 62


@pytest.mark.parametrize(("selector", "mtype"), [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)])
def test_dane_ta_every_selector_and_mtype(pki: dict[str, Issued], selector: int,
                                          mtype: int) -> None:
    result = match_chain([tlsa_for(2, selector, mtype, pki["inter"])],
                         chain(pki, "leaf", "inter", "root"), "mx.example.com", now=NOW)
    assert result.ok and result.depth == 1 and result.name == "mx.example.com"


def test_dane_ta_root_digest(pki: dict[str, Issued]) -> None:
    result = match_chain([tlsa_for(2, 1, 1, pki["root"])], chain(pki, "leaf", "inter", "root"),
                         "mx.example.com", now=NOW)
    assert result.ok and result.depth == 2


def test_dane_ta_only_in_dns(pki: dict[str, Issued]) -> None:
    """RFC 7671 s5.2.3: the anchor published as 2 0 0 or 2 1 0, not sent by the server."""
    full = match_chain([tlsa_for(2, 0, 0, pki["root"])], chain(pki, "leaf", "inter"),
                       "mx.example.com", now=NOW)
    assert full.ok and full.depth == 2
    key = match_chain([tlsa_for(2, 1, 0, pki["inter"])], chain(pki, "leaf"),
                      "mx.example.com", now=NOW)
    assert key.ok and key.depth == 0
    # a digest of a certificate that is not sent cannot anchor anything
    digest = match_chain([tlsa_for(2, 0, 1, pki["root"])], chain(pki, "leaf", "inter"),
                         "mx.example.com", now=NOW)
    assert digest.kind is MatchKind.NO_MATCH and digest.depth == -1


def test_dane_ta_checks_dates_below_the_anchor(pki: dict[str, Issued]) -> None:
    for leaf in ("expired", "future"):
        result = match_chain([tlsa_for(2, 0, 1, pki["inter"])], chain(pki, leaf, "inter"),
                             "mx.example.com", now=NOW)
        assert result.kind is MatchKind.EXPIRED and result.depth == 1
        assert "depth 0" in result.reason


def test_dane_ta_anchor_dates_not_checked(pki: dict[str, Issued]) -> None:
    old_root = make_cert("Old Root", ca=True, not_before=NOW - 900 * DAY,
                         not_after=NOW - 500 * DAY)
    leaf = make_cert("mx.example.com", issuer=old_root, dns=("mx.example.com",),
                     not_before=NOW - 600 * DAY)
    result = match_chain([tlsa_for(2, 1, 1, old_root)], [leaf.cert, old_root.cert],
                         "mx.example.com", now=NOW)
    assert result.ok and result.depth == 1


def test_dane_ta_wrong_issuer_in_chain(pki: dict[str, Issued]) -> None:
    result = match_chain([tlsa_for(2, 0, 1, pki["stranger"])],
                         chain(pki, "leaf", "stranger"), "mx.example.com", now=NOW)
    assert result.kind is MatchKind.CHAIN_INVALID and result.depth == 1


def test_dane_ta_unordered_and_extra_certificates(pki: dict[str, Issued]) -> None:
    """TLS 1.3 (RFC 8446 s4.4.2): the path is built from what was sent, in any order."""
    presented = chain(pki, "leaf", "stranger", "root", "inter")
    root = match_chain([tlsa_for(2, 0, 1, pki["root"])], presented, "mx.example.com", now=NOW)
    assert root.ok and root.depth == 2
    inter = match_chain([tlsa_for(2, 1, 2, pki["inter"])], presented, "mx.example.com",
                        now=NOW)
    assert inter.ok and inter.depth == 1
    # a cross-signed copy of the root on the path, the self-signed one only in DNS
    cross_root = make_cert("Cross Root", ca=True)
    cross = Issued(x509.CertificateBuilder()
                   .subject_name(pki["root"].cert.subject)
                   .issuer_name(cross_root.cert.subject)
                   .public_key(pki["root"].key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(NOW - DAY).not_valid_after(NOW + DAY)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                   .sign(cross_root.key, hashes.SHA256()), pki["root"].key)
    result = match_chain([tlsa_for(2, 0, 0, pki["root"])],
                         [pki["leaf"].cert, pki["inter"].cert, cross.cert, cross_root.cert],
                         "mx.example.com", now=NOW)
    assert result.ok and result.depth == 2


def test_dane_ta_intermediate_must_be_ca(pki: dict[str, Issued]) -> None:
    leaf = make_cert("mx.example.com", issuer=pki["not_ca"], dns=("mx.example.com",))
    result = match_chain([tlsa_for(2, 0, 1, pki["root"])],
                         [leaf.cert, pki["not_ca"].cert, pki["root"].cert],
                         "mx.example.com", now=NOW)
    assert result.kind is MatchKind.CHAIN_INVALID and "cA" in result.reason


def test_dane_ta_path_length(pki: dict[str, Issued]) -> None:
    root = make_cert("Root pathlen 0", ca=True, path_length=0)
    inter = make_cert("Inter", issuer=root, ca=True)
    inter2 = make_cert("Inter 2", issuer=inter, ca=True)
    leaf = make_cert("mx.example.com", issuer=inter2, dns=("mx.example.com",))
    ok = match_chain([tlsa_for(2, 1, 1, inter)], [leaf.cert, inter2.cert, inter.cert],
                     "mx.example.com", now=NOW)
    assert ok.ok
    constrained = make_cert("Inter pathlen 0", issuer=root, ca=True, path_length=0)
    inter3 = make_cert("Inter 3", issuer=constrained, ca=True)
    inter4 = make_cert("Inter 4", issuer=inter3, ca=True)
    leaf2 = make_cert("mx.example.com", issuer=inter4, dns=("mx.example.com",))
    bad = match_chain([tlsa_for(2, 1, 1, root)],
                      [leaf2.cert, inter4.cert, inter3.cert, constrained.cert, root.cert],
                      "mx.example.com", now=NOW)
    assert bad.kind is MatchKind.CHAIN_INVALID and "pathLen" in bad.reason


def test_dane_ta_leaf_eku(pki: dict[str, Issued]) -> None:
    result = match_chain([tlsa_for(2, 0, 1, pki["inter"])], chain(pki, "client_only", "inter"),
                         "mx.example.com", now=NOW)
    assert result.kind is MatchKind.CHAIN_INVALID and "extendedKeyUsage" in result.reason


def test_dane_ta_names(pki: dict[str, Issued]) -> None:
    rec = [tlsa_for(2, 0, 1, pki["inter"])]
    mismatch = match_chain(rec, chain(pki, "other_name", "inter"), "mx.example.com", now=NOW)
    assert mismatch.kind is MatchKind.NAME_MISMATCH and mismatch.depth == 1
    # several reference identifiers (RFC 7672 s3.2.2): any one will do
    several = match_chain(rec, chain(pki, "other_name", "inter"),
                          [Name.from_text("mx.example.com."), "MX.Example.NET.", "example.com"],
                          now=NOW)
    assert several.ok and several.name == "mx.example.net"
    off = match_chain(rec, chain(pki, "other_name", "inter"), "mx.example.com", now=NOW,
                      check_names=False)
    assert off.ok and off.name is None


def test_wildcards(pki: dict[str, Issued]) -> None:
    rec = [tlsa_for(2, 0, 1, pki["inter"])]
    ok = match_chain(rec, chain(pki, "wild", "inter"), "mail.example.com", now=NOW)
    assert ok.ok
    for name in ("example.com", "a.b.example.com", "mail.example.org"):
        result = match_chain(rec, chain(pki, "wild", "inter"), name, now=NOW)
        assert result.kind is MatchKind.NAME_MISMATCH, name
    assert xu.dns_id_matches("*.example.com", "x.example.com")
    assert not xu.dns_id_matches("*.com", "example.com")
    assert not xu.dns_id_matches("m*.example.com", "mx.example.com")
    assert not xu.dns_id_matches("*.*.example.com", "a.b.example.com")


def test_cn_fallback_without_san(pki: dict[str, Issued]) -> None:
    result = match_chain([tlsa_for(2, 0, 1, pki["inter"])], chain(pki, "cn_only", "inter"),
                         "mx.example.com", now=NOW)
    assert result.ok


def test_idn_reference(pki: dict[str, Issued]) -> None:
    result = match_chain([tlsa_for(2, 0, 1, pki["inter"])], chain(pki, "idn", "inter"),
                         "mx.bücher.example", now=NOW)
    assert result.ok and result.name == "mx.xn--bcher-kva.example"


def test_precedence_ee_over_ta(pki: dict[str, Issued]) -> None:
    records = [tlsa_for(2, 0, 1, pki["root"]), tlsa_for(2, 0, 1, pki["inter"]),
               tlsa_for(3, 1, 1, pki["leaf"])]
    result = match_chain(records, chain(pki, "leaf", "inter", "root"), "mx.example.com",
                         now=NOW)
    assert result.depth == 0 and result.usage == 3
    result = match_chain(records[:2], chain(pki, "leaf", "inter", "root"), "mx.example.com",
                         now=NOW)
    assert result.depth == 1 and result.usage == 2


def test_digest_agility(pki: dict[str, Issued]) -> None:
    """RFC 7671 s9: with SHA2-512 present, SHA2-256 records of the same usage and selector
    are not compared."""
    good256 = tlsa_for(3, 1, 1, pki["leaf"])
    wrong512 = rd.TLSA(3, 1, 2, bytes(64))
    result = match_chain([good256, wrong512], chain(pki, "leaf"), "mx.example.com", now=NOW)
    assert result.kind is MatchKind.NO_MATCH
    assert any("agility" in i.reason for i in result.ignored)
    good512 = tlsa_for(3, 1, 2, pki["leaf"])
    wrong256 = rd.TLSA(3, 1, 1, bytes(32))
    assert match_chain([wrong256, good512], chain(pki, "leaf"), "mx.example.com",
                       now=NOW).ok
    # other selectors and Full(0) are not affected
    assert match_chain([good256, rd.TLSA(3, 0, 2, bytes(64))], chain(pki, "leaf"),
                       "mx.example.com", now=NOW).ok
    tset = classify_tlsa([good256, wrong512, tlsa_for(3, 1, 0, pki["leaf"])])
    assert [r.mtype for r in tset.usable] == [2, 0]


def test_unusable_records(pki: dict[str, Issued]) -> None:
    junk = [rd.TLSA(4, 0, 1, bytes(32)), rd.TLSA(3, 2, 1, bytes(32)),
            rd.TLSA(3, 1, 3, bytes(32)), rd.TLSA(3, 1, 1, bytes(31)),
            rd.TLSA(3, 1, 2, bytes(32)), rd.TLSA(2, 0, 0, b"\x30\x00"),
            rd.TLSA(3, 1, 0, b"")]
    result = match_chain(junk, chain(pki, "leaf"), "mx.example.com", now=NOW)
    assert result.kind is MatchKind.NO_USABLE_RECORDS
    assert len(result.ignored) == len(junk)
    good = tlsa_for(3, 1, 1, pki["leaf"])
    mixed = match_chain([*junk, good.to_wire(), b"\x03"], chain(pki, "leaf"),
                        "mx.example.com", now=NOW)
    assert mixed.ok and mixed.record == good
    assert len(mixed.ignored) == len(junk) + 1  # the truncated RDATA too


def test_smtp_usages_drop_pkix(pki: dict[str, Issued]) -> None:
    result = match_chain([tlsa_for(1, 1, 1, pki["leaf"])], chain(pki, "leaf"),
                         "mx.example.com", now=NOW, usages=SMTP_USAGES)
    assert result.kind is MatchKind.NO_USABLE_RECORDS
    assert "RFC 7672 s3.1.3" in result.ignored[0].reason


def test_pkix_usages(pki: dict[str, Issued]) -> None:
    store = [pki["root"].cert]
    ee = match_chain([tlsa_for(1, 0, 1, pki["leaf"])], chain(pki, "leaf", "inter"),
                     "mx.example.com", trust_store=store, now=NOW)
    assert ee.ok and ee.depth == 0
    ta = match_chain([tlsa_for(0, 1, 2, pki["root"])], chain(pki, "leaf", "inter"),
                     "mx.example.com", trust_store=store, now=NOW)
    assert ta.ok and ta.depth == 2
    untrusted = match_chain([tlsa_for(1, 0, 1, pki["leaf"])], chain(pki, "leaf", "inter"),
                            "mx.example.com", trust_store=[pki["stranger"].cert], now=NOW)
    assert untrusted.kind is MatchKind.UNTRUSTED and untrusted.depth == 0
    assert untrusted.openssl_error == 20
    name = match_chain([tlsa_for(1, 0, 1, pki["other_name"])],
                       chain(pki, "other_name", "inter"), "mx.example.com",
                       trust_store=store, now=NOW)
    assert name.kind is MatchKind.NAME_MISMATCH
    expired = match_chain([tlsa_for(1, 0, 1, pki["expired"])], chain(pki, "expired", "inter"),
                          "mx.example.com", trust_store=store, now=NOW)
    assert expired.kind is MatchKind.UNTRUSTED
    empty = match_chain([tlsa_for(1, 0, 1, pki["leaf"])], chain(pki, "leaf", "inter"),
                        "mx.example.com", trust_store=[], now=NOW)
    assert empty.kind is MatchKind.UNTRUSTED and "empty trust store" in empty.reason


def test_errors_and_json(pki: dict[str, Issued]) -> None:
    with pytest.raises(ValueError, match="empty certificate chain"):
        match_chain([tlsa_for(3, 1, 1, pki["leaf"])], [], "mx.example.com")
    with pytest.raises(ValueError, match="no reference identifier"):
        match_chain([tlsa_for(3, 1, 1, pki["leaf"])], chain(pki, "leaf"), [])
    result = match_chain([tlsa_for(3, 1, 1, pki["leaf"]), rd.TLSA(9, 9, 9, b"")],
                         chain(pki, "leaf"), "mx.example.com")
    out = result.to_json()
    _assert_json(out)
    assert out["verdict"] == "matched" and out["usage"] == "DANE-EE"
    assert tlsa_mnemonic(tlsa_for(3, 1, 1, pki["leaf"])).startswith("DANE-EE SPKI SHA2-256 ")


def test_naive_time_is_utc(pki: dict[str, Issued]) -> None:
    naive = NOW.replace(tzinfo=None) + datetime.timedelta(days=400)
    result = match_chain([tlsa_for(2, 0, 1, pki["inter"])], chain(pki, "leaf", "inter"),
                         "mx.example.com", now=naive)
    assert result.kind is MatchKind.EXPIRED


def test_pkix_default_system_store(pki: dict[str, Issued]) -> None:
    """trust_store=None means the platform bundle, which does not know our test root."""
    result = match_chain([tlsa_for(1, 0, 1, pki["leaf"])], chain(pki, "leaf", "inter"),
                         "mx.example.com", now=NOW)
    assert result.kind is MatchKind.UNTRUSTED
