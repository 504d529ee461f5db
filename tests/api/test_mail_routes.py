"""The mail routes on the zones/ test network: DNSSEC status of TLSA, SMIMEA, OPENPGPKEY,
SPF, DKIM and DMARC for secure, insecure and bogus domains; the RFC 7672 decision; DANE
and SMIMEA matching with the zones/certs PKI; SPF checks; DKIM verification; DMARC
evaluation; and ``/v1/authenticate`` end to end."""

from __future__ import annotations

from typing import Any

import pytest

from resolver.mail.smimea import openpgpkey_owner, smimea_owner

from .conftest import AUTHSERV, Api
from .helpers import OUTSIDE_IP, SECURE_IP, message, pem, signed_message

ENVELOPE_KEYS = {"query", "status", "rcode", "records", "ttl", "reason", "ede"}
STATUS = {"secure.example": "secure", "nsec3.example": "secure",
          "insecure.example": "insecure", "bogus.example": "bogus"}
DOMAINS = sorted(STATUS)


def envelope_ok(body: dict[str, Any], status: str) -> None:
    assert set(body) >= ENVELOPE_KEYS
    assert body["status"] == status, body
    if status == "bogus":
        assert body["records"] == []
        assert body["rcode"] == "SERVFAIL"
        assert body["ede"], "bogus answers carry an Extended DNS Error"
    else:
        assert body["rcode"] == "NOERROR"


def no_records_anywhere(value: Any) -> None:
    """A bogus answer shows no record data in any nested lookup either."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("records", "usable", "keys") and isinstance(item, list):
                assert item == [], (key, item)
            else:
                no_records_anywhere(item)
    elif isinstance(value, list):
        for item in value:
            no_records_anywhere(item)


# --------------------------------------------------------------------------- DANE

@pytest.mark.parametrize("domain", DOMAINS)
def test_tlsa_status(zones_api: Api, domain: str) -> None:
    r = zones_api.get("/v1/tlsa", host=f"mx1.{domain}")
    assert r.status == 200
    body = r.body
    envelope_ok(body, STATUS[domain])
    assert body["query"] == {"name": f"_25._tcp.mx1.{domain}.", "type": "TLSA"}
    assert body["owner"] == f"_25._tcp.mx1.{domain}."
    assert body["usages"] == "smtp"
    if STATUS[domain] == "bogus":
        assert body["usable"] == []
        no_records_anywhere(body)
    else:
        assert [rec["text"] for rec in body["usable"]] == [
            "3 1 1 6c7d270c3a70fca7ec808f2637769ed3da0d5e3f51cc92bd488f990708186d03"]
        assert body["records"][0]["usage"] == 3


def test_tlsa_other_port_is_securely_absent(zones_api: Api) -> None:
    body = zones_api.get("/v1/tlsa", host="mx1.secure.example", port="443").body
    assert body["status"] == "secure"
    assert body["rcode"] == "NXDOMAIN"
    assert body["records"] == [] and body["usable"] == []
    assert body["usages"] == "all"
    assert any("securely absent" in note for note in body["notes"])


def test_tlsa_follows_a_secure_host_cname(zones_api: Api) -> None:
    # cname-secure.secure.example. -> www.nsec3.example. (secure chain): the expanded name
    # is tried first, then the original (RFC 7672 s2.2.2); neither has TLSA.
    body = zones_api.get("/v1/tlsa", host="cname-secure.secure.example").body
    assert body["expanded_host"] == "www.nsec3.example."
    names = [lk["name"] for lk in body["lookups"] if lk["type"] == "TLSA"]
    assert names == ["_25._tcp.www.nsec3.example.", "_25._tcp.cname-secure.secure.example."]
    assert body["status"] == "secure"


def test_tlsa_insecure_cname_is_not_expanded(zones_api: Api) -> None:
    body = zones_api.get("/v1/tlsa", host="cname-insecure.secure.example").body
    assert body["expanded_host"] is None
    assert any("original name only" in note for note in body["notes"])
    assert body["owner"] == "_25._tcp.cname-insecure.secure.example."


@pytest.mark.parametrize(("domain", "verdict", "host_verdicts"), [
    ("secure.example", "dane", ["dane"]),
    ("nsec3.example", "dane", ["dane"]),
    ("insecure.example", "may", ["may"]),
    ("bogus.example", "defer", []),
])
def test_dane_smtp_decision(zones_api: Api, domain: str, verdict: str,
                            host_verdicts: list[str]) -> None:
    r = zones_api.get("/v1/dane/smtp", domain=domain)
    assert r.status == 200
    body = r.body
    envelope_ok(body, STATUS[domain])
    assert body["query"] == {"name": f"{domain}.", "type": "MX"}
    assert body["verdict"] == verdict
    assert [h["verdict"] for h in body["hosts"]] == host_verdicts
    if verdict == "dane":
        host = body["hosts"][0]
        assert host["host"] == f"mx1.{domain}."
        assert host["tlsa_security"] == "secure"
        assert host["tlsa"]["usable"][0]["mnemonic"].startswith("DANE-EE SPKI SHA2-256")
        assert body["mx"] == "explicit"
    if STATUS[domain] == "bogus":
        assert body["mx"] == "failed"
        no_records_anywhere(body)


def test_dane_smtp_implicit_mx_and_skip_host(zones_api: Api) -> None:
    # www.secure.example has no MX: implicit MX, secure A, TLSA securely absent -> may.
    body = zones_api.get("/v1/dane/smtp", domain="www.secure.example").body
    assert (body["mx"], body["verdict"]) == ("implicit", "may")
    assert body["hosts"][0]["tlsa_security"] == "secure"
    # A CNAME'd host: the TLSA RRset is looked up at the expanded name first.
    body = zones_api.get("/v1/dane/smtp", domain="cname-secure.secure.example").body
    host = body["hosts"][0]
    assert host["expanded_name"] == "www.nsec3.example."
    assert body["verdict"] == "may"
    # The implicit MX host's addresses are bogus (CNAME into bogus.example): skip-host,
    # and with no other host the domain is deferred (RFC 7672 s2.1.1).
    body = zones_api.get("/v1/dane/smtp", domain="cname-bogus.secure.example").body
    assert [h["verdict"] for h in body["hosts"]] == ["skip-host"]
    assert body["verdict"] == "defer"
    assert body["hosts"][0]["addresses"] == []
    # An MX lookup with expired signatures: defer without looking at hosts.
    body = zones_api.get("/v1/dane/smtp", domain="www.expired.example").body
    assert (body["status"], body["mx"], body["verdict"]) == ("bogus", "failed", "defer")
    assert any(e["code"] == 7 for e in body["ede"])


def test_dane_verify_matches_the_zones_certificate(zones_api: Api) -> None:
    r = zones_api.post_json("/v1/dane/verify", {"host": "mx1.secure.example",
                                                "chain": [pem("mx1-chain.pem")]})
    assert r.status == 200, r.body
    body = r.body
    assert body["status"] == "secure"
    assert body["verdict"] == "matched" and body["matched"] is True
    assert body["match"]["depth"] == 0
    assert body["match"]["usage"] == "DANE-EE"
    assert body["match"]["record"]["text"].startswith("3 1 1 6c7d270c")


def test_dane_verify_chain_as_separate_pems(zones_api: Api) -> None:
    body = zones_api.post_json("/v1/dane/verify", {
        "host": "mx1.nsec3.example", "port": 25, "proto": "tcp",
        "chain": [pem("mx1.pem"), pem("ca.pem")]}).body
    assert body["verdict"] == "matched" and body["match"]["depth"] == 0


def test_dane_verify_wrong_certificate(zones_api: Api) -> None:
    body = zones_api.post_json("/v1/dane/verify", {"host": "mx1.secure.example",
                                                   "chain": [pem("alice-chain.pem")]}).body
    assert body["verdict"] == "no-match" and body["matched"] is False
    assert body["match"]["depth"] == -1


@pytest.mark.parametrize(("domain", "verdict"), [("insecure.example", "not-secure"),
                                                 ("bogus.example", "lookup-failed")])
def test_dane_verify_needs_a_secure_rrset(zones_api: Api, domain: str, verdict: str) -> None:
    body = zones_api.post_json("/v1/dane/verify", {"host": f"mx1.{domain}",
                                                   "chain": [pem("mx1-chain.pem")]}).body
    assert body["verdict"] == verdict and body["match"] is None
    if verdict == "lookup-failed":
        no_records_anywhere(body)


def test_dane_verify_no_tlsa(zones_api: Api) -> None:
    body = zones_api.post_json("/v1/dane/verify", {"host": "www.secure.example",
                                                   "chain": [pem("mx1-chain.pem")]}).body
    assert body["verdict"] == "no-tlsa" and body["status"] == "secure"


# --------------------------------------------------------------------------- SMIMEA, OPENPGPKEY

@pytest.mark.parametrize("domain", DOMAINS)
def test_smimea_status(zones_api: Api, domain: str) -> None:
    body = zones_api.get("/v1/smimea", email=f"alice@{domain}").body
    envelope_ok(body, STATUS[domain])
    assert body["owner"] == smimea_owner(f"alice@{domain}").to_text()
    assert body["query"]["type"] == "SMIMEA"
    expected = {"secure": "use", "insecure": "untrusted", "bogus": "failed"}[STATUS[domain]]
    assert body["verdict"] == expected
    if STATUS[domain] == "bogus":
        no_records_anywhere(body)
    else:
        assert body["usable"][0]["mnemonic"].startswith("DANE-EE Cert SHA2-256 8ebedc1f")


def test_smimea_absent_for_bob(zones_api: Api) -> None:
    body = zones_api.get("/v1/smimea", email="bob@secure.example").body
    assert body["status"] == "secure" and body["rcode"] == "NXDOMAIN"
    assert body["verdict"] == "none"


def test_smimea_lowercase_fallback(zones_api: Api) -> None:
    assert zones_api.get("/v1/smimea", email="Alice@secure.example").body["verdict"] == "none"
    body = zones_api.get("/v1/smimea", email="Alice@secure.example", lowercase="1").body
    assert body["verdict"] == "use" and body["email"] == "alice@secure.example"


@pytest.mark.parametrize("domain", DOMAINS)
def test_openpgpkey_status(zones_api: Api, domain: str) -> None:
    body = zones_api.get("/v1/openpgpkey", email=f"alice@{domain}").body
    envelope_ok(body, STATUS[domain])
    assert body["owner"] == openpgpkey_owner(f"alice@{domain}").to_text()
    if STATUS[domain] == "bogus":
        assert body["keys"] == []
        no_records_anywhere(body)
    else:
        assert body["keys"] and body["keys"][0].startswith("mDMEZ0y5")


def test_smimea_verify_matches(zones_api: Api) -> None:
    body = zones_api.post_json("/v1/smimea/verify", {"email": "alice@secure.example",
                                                     "certificate": pem("alice.pem")}).body
    assert body["verdict"] == "matched" and body["matched"] is True
    assert body["status"] == "secure"
    assert body["match"]["record"]["text"].startswith("3 0 1 8ebedc1f")


def test_smimea_verify_other_outcomes(zones_api: Api) -> None:
    other = zones_api.post_json("/v1/smimea/verify", {"email": "alice@secure.example",
                                                      "certificate": pem("mx1.pem")}).body
    assert other["verdict"] == "no-match"
    insecure = zones_api.post_json("/v1/smimea/verify", {
        "email": "alice@insecure.example", "certificate": pem("alice.pem")}).body
    assert insecure["verdict"] == "not-secure" and insecure["match"] is None
    bogus = zones_api.post_json("/v1/smimea/verify", {
        "email": "alice@bogus.example", "certificate": pem("alice-chain.pem")}).body
    assert bogus["verdict"] == "lookup-failed"
    none = zones_api.post_json("/v1/smimea/verify", {
        "email": "carol@secure.example", "certificate": pem("alice.pem")}).body
    assert none["verdict"] == "no-smimea"


# --------------------------------------------------------------------------- SPF

@pytest.mark.parametrize("domain", DOMAINS)
def test_spf_record_status(zones_api: Api, domain: str) -> None:
    body = zones_api.get("/v1/spf", domain=domain).body
    envelope_ok(body, STATUS[domain])
    spf = body["spf"]
    assert spf["security"] == STATUS[domain]
    if STATUS[domain] == "bogus":
        assert spf["error"] == "temperror" and spf["record"] is None
    else:
        assert spf["record"] == "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 mx -all"
        assert spf["error"] is None


@pytest.mark.parametrize(("ip", "mailfrom", "result", "status"), [
    (SECURE_IP, "bob@secure.example", "pass", "secure"),
    ("2001:db8::1", "bob@nsec3.example", "pass", "secure"),
    (OUTSIDE_IP, "bob@secure.example", "fail", "secure"),
    (SECURE_IP, "bob@insecure.example", "pass", "insecure"),
    (SECURE_IP, "bob@bogus.example", "temperror", "bogus"),
    (SECURE_IP, "bob@nothere.secure.example", "none", "secure"),
])
def test_spf_check(zones_api: Api, ip: str, mailfrom: str, result: str, status: str) -> None:
    r = zones_api.get("/v1/spf/check", ip=ip, mailfrom=mailfrom, helo="client.example.org")
    assert r.status == 200, r.body
    assert r.body["result"] == result
    assert r.body["status"] == status
    if result == "fail":
        assert "not a permitted sender" in r.body["spf"]["explanation"]


def test_spf_check_null_sender_uses_helo(zones_api: Api) -> None:
    body = zones_api.get("/v1/spf/check", ip=SECURE_IP, mailfrom="<>",
                         helo="secure.example").body
    assert body["result"] == "pass"
    assert body["spf"]["sender"] == "postmaster@secure.example"


# --------------------------------------------------------------------------- DKIM

@pytest.mark.parametrize("domain", DOMAINS)
def test_dkim_key_status(zones_api: Api, domain: str) -> None:
    body = zones_api.get("/v1/dkim", selector="sel1", domain=domain).body
    envelope_ok(body, STATUS[domain])
    assert body["query"]["name"] == f"sel1._domainkey.{domain}."
    dkim = body["dkim"]
    assert dkim["security"] == STATUS[domain]
    if STATUS[domain] == "bogus":
        assert dkim["status"] == "temperror" and dkim["key"] is None
        assert dkim["records"] == []
    else:
        assert dkim["status"] == "found"
        assert dkim["key"]["key_type"] == "rsa" and dkim["key"]["key_bits"] == 2048


def test_dkim_ed25519_key(zones_api: Api) -> None:
    body = zones_api.get("/v1/dkim", selector="ed1", domain="nsec3.example").body
    assert body["status"] == "secure"
    assert body["dkim"]["key"]["key_type"] == "ed25519"


def test_dkim_key_absent(zones_api: Api) -> None:
    body = zones_api.get("/v1/dkim", selector="nope", domain="secure.example").body
    assert body["status"] == "secure" and body["dkim"]["status"] == "none"


@pytest.mark.parametrize(("domain", "selector", "key", "result", "status"), [
    ("secure.example", "sel1", "dkim-sel1.secure.example.pem", "pass", "secure"),
    ("nsec3.example", "ed1", "dkim-ed1.nsec3.example.pem", "pass", "secure"),
    ("insecure.example", "sel1", "dkim-sel1.secure.example.pem", "pass", "insecure"),
    ("bogus.example", "sel1", "dkim-sel1.secure.example.pem", "temperror", "bogus"),
])
def test_dkim_verify(zones_api: Api, domain: str, selector: str, key: str, result: str,
                     status: str) -> None:
    msg = signed_message(domain, selector, key)
    r = zones_api.post_raw("/v1/dkim/verify", msg)
    assert r.status == 200, r.body
    assert r.body["result"] == result
    assert r.body["status"] == status
    sig = r.body["signatures"][0]
    assert sig["domain"] == domain and sig["selector"] == selector
    assert sig["key_security"] == status


def test_dkim_verify_altered_and_unsigned(zones_api: Api) -> None:
    msg = signed_message().replace(b"Hello Bob", b"Hello Eve")
    body = zones_api.post_raw("/v1/dkim/verify", msg).body
    assert body["result"] == "fail"
    assert "body hash" in body["signatures"][0]["reason"]
    body = zones_api.post_raw("/v1/dkim/verify", message("secure.example"),
                              content_type="text/plain").body
    assert body["result"] == "none" and body["signatures"] == []


# --------------------------------------------------------------------------- DMARC

@pytest.mark.parametrize("domain", DOMAINS)
def test_dmarc_policy_status(zones_api: Api, domain: str) -> None:
    body = zones_api.get("/v1/dmarc", domain=domain).body
    envelope_ok(body, STATUS[domain])
    dmarc = body["dmarc"]
    if STATUS[domain] == "bogus":
        assert dmarc["status"] == "temperror" and dmarc["record"] is None
    else:
        assert dmarc["status"] == "found"
        assert dmarc["record"]["p"] == "reject"


def test_dmarc_organizational_fallback(zones_api: Api) -> None:
    body = zones_api.get("/v1/dmarc", domain="www.secure.example").body
    assert body["status"] == "secure"
    assert body["query"]["name"] == "_dmarc.secure.example."
    assert body["dmarc"]["inherited"] is True
    assert body["dmarc"]["policy_domain"] == "secure.example"


@pytest.mark.parametrize(("payload", "result", "disposition"), [
    ({"from_domain": "secure.example", "spf": {"result": "pass", "domain": "secure.example"}},
     "pass", "none"),
    ({"from_domain": "secure.example", "dkim": [{"result": "pass",
                                                 "domain": "mail.secure.example"}]},
     "pass", "none"),
    ({"from_domain": "secure.example", "spf": {"result": "pass", "domain": "other.example"},
      "dkim": [{"result": "fail", "domain": "secure.example"}], "pct_roll": 0},
     "fail", "reject"),
    ({"from_domain": "bogus.example", "spf": {"result": "pass", "domain": "bogus.example"}},
     "temperror", "none"),
])
def test_dmarc_evaluate(zones_api: Api, payload: dict[str, Any], result: str,
                        disposition: str) -> None:
    r = zones_api.post_json("/v1/dmarc/evaluate", payload)
    assert r.status == 200, r.body
    assert r.body["result"] == result
    assert r.body["disposition"] == disposition
    assert r.body["policy"]["from_domain"] == payload["from_domain"]


# --------------------------------------------------------------------------- authenticate

def test_authenticate_secure_domain_passes(zones_api: Api) -> None:
    r = zones_api.post_raw("/v1/authenticate", signed_message(), ip=SECURE_IP,
                           helo="mail.secure.example", mailfrom="alice@secure.example")
    assert r.status == 200, r.body
    body = r.body
    assert body["results"] == {"spf": "pass", "dkim": "pass", "dmarc": "pass"}
    assert body["status"] == "secure"
    assert body["authserv_id"] == AUTHSERV
    value = body["authentication_results"]
    assert value.startswith(f"{AUTHSERV}; ")
    for part in ("dkim=pass", "header.d=secure.example", "header.s=sel1", "spf=pass",
                 "smtp.mailfrom=alice@secure.example", "dmarc=pass",
                 "header.from=secure.example"):
        assert part in value, (part, value)
    assert body["header"] == f"Authentication-Results: {value}"
    assert "DNSSEC secure" in value


def test_authenticate_authserv_id_parameter(zones_api: Api) -> None:
    body = zones_api.post_raw("/v1/authenticate", signed_message(), ip=SECURE_IP,
                              helo="mail.secure.example", mailfrom="alice@secure.example",
                              authserv_id="mx.example.org").body
    assert body["authentication_results"].startswith("mx.example.org; ")


def test_authenticate_failures(zones_api: Api) -> None:
    # forged: outside the SPF range and unsigned -> dmarc=fail, p=reject
    body = zones_api.post_raw("/v1/authenticate", message("secure.example"), ip=OUTSIDE_IP,
                              helo="evil.example.org", mailfrom="alice@secure.example").body
    assert body["results"] == {"spf": "fail", "dkim": "none", "dmarc": "fail"}
    assert body["dmarc"]["disposition"] in ("reject", "quarantine", "none")
    assert "dkim=none" in body["authentication_results"]
    # bogus domain: every DNS-based verdict is a temporary error
    body = zones_api.post_raw("/v1/authenticate", signed_message("bogus.example"),
                              ip=SECURE_IP, helo="mail.bogus.example",
                              mailfrom="alice@bogus.example").body
    assert body["results"] == {"spf": "temperror", "dkim": "temperror",
                               "dmarc": "temperror"}
    assert body["status"] == "bogus"
    # insecure domain: passes, but the status says the DNS was not secure
    body = zones_api.post_raw("/v1/authenticate", signed_message("insecure.example"),
                              ip=SECURE_IP, helo="mail.insecure.example",
                              mailfrom="alice@insecure.example").body
    assert body["results"]["dmarc"] == "pass"
    assert body["status"] == "insecure"
