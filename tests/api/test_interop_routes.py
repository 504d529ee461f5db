"""The mail routes on the interop hierarchy (zones signed by BIND and ldns, clock pinned):
secure (rsasha256.test, NSEC; ecdsa256.test, NSEC3), insecure (insecure.test) and bogus
(bogus-sig.test) mail domains."""

from __future__ import annotations

import pytest

from .conftest import Api
from .test_mail_routes import envelope_ok, no_records_anywhere

STATUS = {"rsasha256.test": "secure", "ecdsa256.test": "secure",
          "insecure.test": "insecure", "bogus-sig.test": "bogus"}
DOMAINS = sorted(STATUS)


@pytest.mark.parametrize("domain", DOMAINS)
def test_tlsa(interop_api: Api, domain: str) -> None:
    body = interop_api.get("/v1/tlsa", host=f"mx1.{domain}").body
    envelope_ok(body, STATUS[domain])
    if STATUS[domain] == "bogus":
        no_records_anywhere(body)
    else:
        assert body["records"][0]["association_data"].startswith("6a2ea45b")
        assert body["usable"][0]["mnemonic"].startswith("DANE-EE SPKI SHA2-256")


@pytest.mark.parametrize("domain", DOMAINS)
def test_smimea(interop_api: Api, domain: str) -> None:
    body = interop_api.get("/v1/smimea", email=f"alice@{domain}").body
    envelope_ok(body, STATUS[domain])
    expected = {"secure": "use", "insecure": "untrusted", "bogus": "failed"}[STATUS[domain]]
    assert body["verdict"] == expected
    if STATUS[domain] == "bogus":
        no_records_anywhere(body)


DENIAL_STATUS = {"rsasha256.test": "secure", "ecdsa256.test": "secure",
                 "insecure.test": "insecure", "bad-ds.test": "bogus",
                 # only data RRSIGs are corrupted there: its denials are secure
                 "bogus-sig.test": "secure"}


@pytest.mark.parametrize("domain", sorted(DENIAL_STATUS))
def test_openpgpkey_denial_status(interop_api: Api, domain: str) -> None:
    # The interop zones have no OPENPGPKEY: the denial carries the zone's status.
    body = interop_api.get("/v1/openpgpkey", email=f"alice@{domain}").body
    status = DENIAL_STATUS[domain]
    assert body["status"] == status
    assert body["keys"] == []
    if status != "bogus":
        assert body["rcode"] == "NXDOMAIN" and body["verdict"] == "none"
    else:
        assert body["verdict"] == "failed"
        no_records_anywhere(body)


def test_smimea_absent_for_bob(interop_api: Api) -> None:
    body = interop_api.get("/v1/smimea", email="bob@rsasha256.test").body
    assert body["status"] == "secure" and body["rcode"] == "NXDOMAIN"


@pytest.mark.parametrize(("domain", "verdict"), [
    ("rsasha256.test", "dane"), ("ecdsa256.test", "dane"), ("insecure.test", "may"),
    ("bogus-sig.test", "defer"), ("bad-ds.test", "defer"),
])
def test_dane_smtp(interop_api: Api, domain: str, verdict: str) -> None:
    body = interop_api.get("/v1/dane/smtp", domain=domain).body
    assert body["verdict"] == verdict
    if verdict == "defer":
        assert body["status"] == "bogus"
        no_records_anywhere(body)


@pytest.mark.parametrize("domain", DOMAINS)
def test_spf_dkim_dmarc_status(interop_api: Api, domain: str) -> None:
    status = STATUS[domain]
    spf = interop_api.get("/v1/spf", domain=domain).body
    envelope_ok(spf, status)
    assert (spf["spf"]["record"] == "v=spf1 mx -all") == (status != "bogus")
    dkim = interop_api.get("/v1/dkim", selector="sel1", domain=domain).body
    envelope_ok(dkim, status)
    assert dkim["dkim"]["status"] == ("temperror" if status == "bogus" else "found")
    dmarc = interop_api.get("/v1/dmarc", domain=domain).body
    envelope_ok(dmarc, status)
    assert dmarc["dmarc"]["status"] == ("temperror" if status == "bogus" else "found")


@pytest.mark.parametrize(("domain", "result", "status"), [
    ("rsasha256.test", "pass", "secure"),     # mx -> mx1 A 192.0.2.14
    ("insecure.test", "pass", "insecure"),    # mx1 A 192.0.2.23
    ("bogus-sig.test", "temperror", "bogus"),
])
def test_spf_check_mx(interop_api: Api, domain: str, result: str, status: str) -> None:
    ip = {"rsasha256.test": "192.0.2.14", "insecure.test": "192.0.2.23",
          "bogus-sig.test": "192.0.2.24"}[domain]
    body = interop_api.get("/v1/spf/check", ip=ip, mailfrom=f"bob@{domain}").body
    assert body["result"] == result and body["status"] == status
