"""S/MIME certificates against SMIMEA records (RFC 8162), and the SMIMEA / OPENPGPKEY
lookups over StaticDns."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from resolver.dnssec.status import Security
from resolver.mail.dane_match import MatchKind
from resolver.mail.dnsapi import Lookup, StaticDns
from resolver.mail.smimea import (
    EmailAddressError,
    KeyVerdict,
    openpgpkey_lookup,
    openpgpkey_owner,
    smimea_lookup,
    smimea_owner,
    smimea_verify,
)
from resolver.wire import rdata as rd
from resolver.wire.types import Rcode, RRType
from tests.mail.dane_suite import DAY, NOW, Issued, make_cert, tlsa_for

EMAIL = "alice@example.com"
EPROT = (ExtendedKeyUsageOID.EMAIL_PROTECTION,)


@pytest.fixture(scope="module")
def pki() -> dict[str, Issued]:
    ca = make_cert("Mail CA", ca=True)
    # RFC 9598: SmtpUTF8Mailbox is an otherName holding a UTF8String
    utf8 = "jörg@example.com".encode()
    other = x509.OtherName(x509.ObjectIdentifier("1.3.6.1.5.5.7.8.9"),
                           b"\x0c" + bytes([len(utf8)]) + utf8)
    return {
        "ca": ca,
        "alice": make_cert("Alice", issuer=ca, emails=(EMAIL,), eku=EPROT),
        "expired": make_cert("Alice", issuer=ca, emails=(EMAIL,), eku=EPROT,
                             not_before=NOW - 400 * DAY, not_after=NOW - DAY),
        "bob": make_cert("Bob", issuer=ca, emails=("bob@example.com",), eku=EPROT),
        "server": make_cert("Alice", issuer=ca, emails=(EMAIL,),
                            eku=(ExtendedKeyUsageOID.SERVER_AUTH,)),
        "upper_domain": make_cert("Alice", issuer=ca, emails=("alice@EXAMPLE.com",)),
        "dn_only": make_cert("Alice", issuer=ca, subject_email=EMAIL),
        "utf8": make_cert("Jörg", issuer=ca, other_names=(other,)),
        "stranger": make_cert("Other CA", ca=True),
    }


def test_dane_ee(pki: dict[str, Issued]) -> None:
    for sel, mt in ((0, 0), (0, 1), (1, 1), (1, 2)):
        result = smimea_verify([tlsa_for(3, sel, mt, pki["alice"])], pki["alice"].cert, EMAIL,
                               now=NOW)
        assert result.kind is MatchKind.MATCHED and result.depth == 0
    miss = smimea_verify([tlsa_for(3, 1, 1, pki["bob"])], pki["alice"].cert, EMAIL, now=NOW)
    assert miss.kind is MatchKind.NO_MATCH


def test_dane_ee_ignores_dates_and_names_by_default(pki: dict[str, Issued]) -> None:
    expired = smimea_verify([tlsa_for(3, 1, 1, pki["expired"])], pki["expired"].cert, EMAIL,
                            now=NOW)
    assert expired.ok
    bob = smimea_verify([tlsa_for(3, 1, 1, pki["bob"])], pki["bob"].cert, EMAIL, now=NOW)
    assert bob.ok
    strict = smimea_verify([tlsa_for(3, 1, 1, pki["bob"])], pki["bob"].cert, EMAIL, now=NOW,
                           ee_name_checks=True)
    assert strict.kind is MatchKind.NAME_MISMATCH


def test_dane_ta(pki: dict[str, Issued]) -> None:
    rec = [tlsa_for(2, 0, 1, pki["ca"])]
    ok = smimea_verify(rec, pki["alice"].cert, EMAIL, chain=[pki["ca"].cert], now=NOW)
    assert ok.ok and ok.depth == 1 and ok.name == EMAIL
    # the CA only in DNS (2 0 0)
    dns_only = smimea_verify([tlsa_for(2, 0, 0, pki["ca"])], pki["alice"].cert, EMAIL, now=NOW)
    assert dns_only.ok and dns_only.depth == 1
    wrong = smimea_verify(rec, pki["bob"].cert, EMAIL, chain=[pki["ca"].cert], now=NOW)
    assert wrong.kind is MatchKind.NAME_MISMATCH
    unchecked = smimea_verify(rec, pki["bob"].cert, EMAIL, chain=[pki["ca"].cert], now=NOW,
                              check_names=False)
    assert unchecked.ok
    expired = smimea_verify(rec, pki["expired"].cert, EMAIL, chain=[pki["ca"].cert], now=NOW)
    assert expired.kind is MatchKind.EXPIRED
    server = smimea_verify(rec, pki["server"].cert, EMAIL, chain=[pki["ca"].cert], now=NOW)
    assert server.kind is MatchKind.CHAIN_INVALID and "extendedKeyUsage" in server.reason


def test_email_comparison(pki: dict[str, Issued]) -> None:
    rec = [tlsa_for(2, 1, 1, pki["ca"])]
    chain = [pki["ca"].cert]
    # domain case-insensitive, local part exact (RFC 5280 s7.5)
    assert smimea_verify(rec, pki["upper_domain"].cert, "alice@example.COM", chain=chain,
                         now=NOW).ok
    assert smimea_verify(rec, pki["alice"].cert, "Alice@example.com", chain=chain,
                         now=NOW).kind is MatchKind.NAME_MISMATCH
    # subject emailAddress when the SAN has no mailbox (RFC 8550 s3)
    assert smimea_verify(rec, pki["dn_only"].cert, EMAIL, chain=chain, now=NOW).ok
    # SmtpUTF8Mailbox (RFC 9598)
    assert smimea_verify(rec, pki["utf8"].cert, "jörg@example.com", chain=chain, now=NOW).ok
    with pytest.raises(EmailAddressError):
        smimea_verify(rec, pki["alice"].cert, "alice", chain=chain, now=NOW)


def test_pkix_usages(pki: dict[str, Issued]) -> None:
    store = [pki["ca"].cert]
    ee = smimea_verify([tlsa_for(1, 0, 1, pki["alice"])], pki["alice"].cert, EMAIL,
                       trust_store=store, now=NOW)
    assert ee.ok and ee.depth == 0
    ta = smimea_verify([tlsa_for(0, 0, 2, pki["ca"])], pki["alice"].cert, EMAIL,
                       trust_store=store, now=NOW)
    assert ta.ok and ta.depth == 1
    untrusted = smimea_verify([tlsa_for(1, 0, 1, pki["alice"])], pki["alice"].cert, EMAIL,
                              trust_store=[pki["stranger"].cert], now=NOW)
    assert untrusted.kind is MatchKind.UNTRUSTED
    server = smimea_verify([tlsa_for(1, 0, 1, pki["server"])], pki["server"].cert, EMAIL,
                           trust_store=store, now=NOW)
    assert server.kind is MatchKind.UNTRUSTED  # EKU without emailProtection


def test_record_forms(pki: dict[str, Issued]) -> None:
    rec = tlsa_for(3, 1, 1, pki["alice"])
    as_smimea = rd.SMIMEA(rec.usage, rec.selector, rec.mtype, rec.data)
    for form in (as_smimea, as_smimea.to_wire(), rec):
        assert smimea_verify([form], pki["alice"].cert, EMAIL, now=NOW).ok


# --------------------------------------------------------------------------
# lookups

def smimea_dns(pki: dict[str, Issued], security: Security = Security.SECURE,
               email: str = EMAIL) -> StaticDns:
    dns = StaticDns()
    rec = tlsa_for(3, 1, 1, pki["alice"])
    dns.add(smimea_owner(email), RRType.SMIMEA,
            [rd.SMIMEA(rec.usage, rec.selector, rec.mtype, rec.data).to_wire(),
             rd.SMIMEA(3, 1, 1, bytes(5)).to_wire()], security=security)
    return dns


def test_smimea_lookup_secure(pki: dict[str, Issued]) -> None:
    dns = smimea_dns(pki)
    found = asyncio.run(smimea_lookup(dns, EMAIL))
    assert found.verdict is KeyVerdict.USE and found.owner == smimea_owner(EMAIL)
    assert len(found.records.usable) == 1 and len(found.records.ignored) == 1
    assert found.verify(pki["alice"].cert, now=NOW).ok
    assert found.verify(pki["bob"].cert, now=NOW).kind is MatchKind.NO_MATCH
    out = found.to_json()
    assert out["verdict"] == "use" and out["security"] == "secure"
    assert json.loads(json.dumps(out)) == out
    assert dns.queries == [(smimea_owner(EMAIL), RRType.SMIMEA)]


def test_smimea_lookup_insecure_and_absent(pki: dict[str, Issued]) -> None:
    insecure = asyncio.run(smimea_lookup(smimea_dns(pki, Security.INSECURE), EMAIL))
    assert insecure.verdict is KeyVerdict.UNTRUSTED
    assert any("RFC 8162 s9" in r for r in insecure.reasons)
    with pytest.raises(ValueError, match="verdict is untrusted"):
        insecure.verify(pki["alice"].cert)
    absent = asyncio.run(smimea_lookup(StaticDns(), EMAIL))
    assert absent.verdict is KeyVerdict.NONE and absent.records.usable == ()


def test_smimea_lookup_failed() -> None:
    dns = StaticDns()
    owner = smimea_owner(EMAIL)
    dns.answers[(owner, RRType.SMIMEA)] = Lookup(owner, RRType.SMIMEA, Rcode.SERVFAIL, (),
                                                 Security.BOGUS, reason="bad signature")
    failed = asyncio.run(smimea_lookup(dns, EMAIL))
    assert failed.verdict is KeyVerdict.FAILED and failed.security is Security.BOGUS


def test_try_lowercase(pki: dict[str, Issued]) -> None:
    dns = smimea_dns(pki)  # published for "alice"
    plain = asyncio.run(smimea_lookup(dns, "Alice@example.com"))
    assert plain.verdict is KeyVerdict.NONE and len(dns.queries) == 1
    folded = asyncio.run(smimea_lookup(dns, "Alice@example.com", try_lowercase=True))
    assert folded.verdict is KeyVerdict.USE and folded.email == EMAIL
    assert folded.owner == smimea_owner(EMAIL) and len(folded.lookups) == 2


def test_openpgpkey_lookup() -> None:
    key = b"\x99\x01\x0d" + bytes(range(40))
    dns = StaticDns()
    dns.add(openpgpkey_owner("hugh@example.com"), RRType.OPENPGPKEY, [key])
    found = asyncio.run(openpgpkey_lookup(dns, "hugh@example.com"))
    assert found.verdict is KeyVerdict.USE and found.keys == (key,)
    out = found.to_json()
    assert out["keys"] == [base64.b64encode(key).decode()]
    assert out["owner"] == ("c93f1e400f26708f98cb19d936620da35eec8f72e57f9eec01c1afd6"
                            "._openpgpkey.example.com.")
    json.dumps(out)
    none = asyncio.run(openpgpkey_lookup(StaticDns(), "hugh@example.com"))
    assert none.verdict is KeyVerdict.NONE and none.keys == ()
    with pytest.raises(EmailAddressError):
        asyncio.run(openpgpkey_lookup(dns, "hugh"))
