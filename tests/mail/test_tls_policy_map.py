"""The Postfix TLS policy socketmap end to end: netstring requests over TCP to the
policy map, which resolves through the validating resolver on the zones/ hierarchy
and fetches MTA-STS policies from the test network's HTTPS server (real TLS, test CA).
Also the protocol's edges and the API routes /v1/mta-sts, /v1/tls-rpt, /v1/tls-policy.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import subprocess
import sys
import urllib.parse
import urllib.request
from typing import Any

import pytest

from resolver.dnssec.status import Security
from resolver.mail.dnsapi import StaticDns
from resolver.mail.mtasts import parse_policy
from resolver.mail.mtasts_cache import MtaSts
from resolver.mail.mtasts_fetch import FetchResult, FetchSettings
from resolver.mail.socketmap import MAX_REQUEST, domain_key
from resolver.mail.tls_policy import tls_policy
from resolver.wire import rdata as rd
from resolver.wire.name import Name
from resolver.wire.types import RRType
from tests.mail.stsnet import ROOT, StsEnv, query, read_reply, sts_env

__all__ = ["sts_env"]     # the fixture, imported for pytest

ENFORCE = ("OK secure match=mx1.enforce.sts.example:.enforce.sts.example "
           "servername=hostname")

# domain -> the reply Postfix must get (a TEMP reply: its leading text)
CASES = {
    "dane.sts.example": "OK dane",              # TLSA and an enforced policy: DANE wins
    "secure.example": "OK dane",
    "enforce.sts.example": ENFORCE,
    "testing.sts.example": "NOTFOUND ",         # reported, not enforced
    "none.sts.example": "NOTFOUND ",
    "badcert.sts.example": "NOTFOUND ",         # no policy fetched: as if no MTA-STS
    "plain.sts.example": "NOTFOUND ",
    "insecure.example": "NOTFOUND ",
    "mismatch.sts.example": "TEMP no MX host of mismatch.sts.example matches its MTA-STS",
    "bogus.example": "TEMP DNS lookups for bogus.example failed or are bogus",
    "servfail.sts.example": "TEMP DNS lookups for servfail.sts.example failed or are bogus",
}


@pytest.mark.parametrize("domain", sorted(CASES))
def test_policy_answers(sts_env: StsEnv, domain: str) -> None:
    [reply] = query(sts_env.port, f"postfix {domain}")
    expected = CASES[domain]
    if expected.startswith("TEMP"):
        assert reply.startswith(expected), reply
    else:
        assert reply == expected


def test_many_requests_on_one_connection(sts_env: StsEnv) -> None:
    replies = query(sts_env.port, "postfix enforce.sts.example", "postfix dane.sts.example.",
                    "postfix ENFORCE.STS.EXAMPLE", "postfix [mx1.enforce.sts.example]:25",
                    "postfix .sts.example", "postfix 192.0.2.1", "postfix not a domain",
                    "other enforce.sts.example", "postfix-without-key")
    assert replies[:3] == [ENFORCE, "OK dane", ENFORCE]
    assert replies[3:7] == ["NOTFOUND "] * 4
    assert replies[7].startswith("PERM unknown map name")
    assert replies[8].startswith("PERM expected")


def test_policy_cache_is_used(sts_env: StsEnv) -> None:
    query(sts_env.port, "postfix enforce.sts.example")
    before = len(sts_env.policies.requests)
    assert query(sts_env.port, "postfix enforce.sts.example") == [ENFORCE]
    assert len(sts_env.policies.requests) == before       # no second HTTPS fetch


def _raw(sts_env: StsEnv, data: bytes) -> tuple[str | None, bool]:
    """Send raw bytes; the reply (if any) and whether the server then closed."""
    with socket.create_connection((sts_env.host, sts_env.port), timeout=10) as sock:
        sock.sendall(data)
        reader = sock.makefile("rb")
        first = reader.peek(1) if hasattr(reader, "peek") else b""
        reply = read_reply(reader) if first else None
        closed = reader.read(1) == b""
    return reply, closed


def test_request_over_the_limit(sts_env: StsEnv) -> None:
    reply, closed = _raw(sts_env, f"{MAX_REQUEST + 1}:".encode() + b"x" * 20)
    assert reply is not None and reply.startswith("PERM") and "limit" in reply and closed


@pytest.mark.parametrize("data", [b"abc:postfix x,", b"3:abcX", b"-1:x,", b":x,"])
def test_malformed_netstrings_close(sts_env: StsEnv, data: bytes) -> None:
    reply, closed = _raw(sts_env, data)
    assert closed and (reply is None or reply.startswith("PERM"))


def test_domain_keys() -> None:
    assert domain_key("Example.COM.") is not None
    for key in ("", ".", "[192.0.2.1]", "[mx.example]:587", ".example.com", "2001:db8::1",
                "localhost", "a..b", "x" * 64 + ".example", "exa mple.com"):
        assert domain_key(key) is None, key


# --------------------------------------------------------------------------- API

def _get(env: StsEnv, path: str, **params: str) -> tuple[int, Any]:
    url = f"{env.api_url}{path}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_api_mta_sts(sts_env: StsEnv) -> None:
    status, body = _get(sts_env, "/v1/mta-sts", domain="testing.sts.example")
    assert status == 200 and body["result"] == "policy" and body["mode"] == "testing"
    assert body["record"]["id"] == "20261206T02" and body["policy"]["mx"] == [
        "mx1.testing.sts.example"]
    assert body["query"]["name"] == "_mta-sts.testing.sts.example."
    status, body = _get(sts_env, "/v1/mta-sts", domain="badcert.sts.example")
    assert body["result"] == "no-policy" and "certificate" in body["fetch"]["error"]
    status, body = _get(sts_env, "/v1/mta-sts", domain="plain.sts.example")
    assert body["result"] == "no-policy" and body["record"] is None


def test_api_tls_rpt(sts_env: StsEnv) -> None:
    status, body = _get(sts_env, "/v1/tls-rpt", domain="enforce.sts.example")
    assert status == 200 and body["result"] == "record" and body["status"] == "secure"
    assert body["record"]["rua"] == ["mailto:tls-reports@enforce.sts.example",
                                     "https://reports.enforce.sts.example/tlsrpt"]
    assert body["lookup"]["security"] == "secure"
    _, bad = _get(sts_env, "/v1/tls-rpt", domain="plain.sts.example")
    assert bad["result"] == "none" and "only mailto: and https:" in bad["reasons"][-1]
    _, failed = _get(sts_env, "/v1/tls-rpt", domain="servfail.sts.example")
    assert failed["result"] == "dns-failed" and failed["rcode"] == "SERVFAIL"
    status, err = _get(sts_env, "/v1/tls-rpt", domain="not a domain")
    assert status == 400 and "error" in err


def test_api_tls_policy(sts_env: StsEnv) -> None:
    status, body = _get(sts_env, "/v1/tls-policy", domain="dane.sts.example")
    assert status == 200 and body["action"] == "dane" and body["postfix"] == "OK dane"
    assert body["dane"]["verdict"] == "dane" and body["mta_sts"] is None
    _, enforce = _get(sts_env, "/v1/tls-policy", domain="enforce.sts.example")
    assert enforce["postfix"] == ENFORCE and enforce["mta_sts"]["mode"] == "enforce"


def test_metrics(sts_env: StsEnv) -> None:
    query(sts_env.port, "postfix dane.sts.example", "postfix enforce.sts.example",
          "postfix bogus.example", "other x")
    with urllib.request.urlopen(f"{sts_env.api_url}/metrics", timeout=30) as resp:
        text = resp.read().decode()
    for answer in ("dane", "secure", "temp", "perm"):
        assert f'resolver_tls_policy_answers_total{{answer="{answer}"}}' in text, answer
    assert 'resolver_mta_sts_fetches_total{result="ok"}' in text
    assert "sts.example" not in text          # never a domain in a label


# --------------------------------------------------------------------------- decisions
# over fixed DNS data: the cases the zones do not have (several MX hosts of mixed kinds)

def _mixed_dns(policy_id: str | None) -> StaticDns:
    dns = StaticDns(security=Security.SECURE)
    domain = Name.from_text("mixed.test.")
    dns.add(domain, RRType.MX, [rd.MX(10, Name.from_text("a.mixed.test.")).to_wire(),
                                rd.MX(20, Name.from_text("b.mixed.test.")).to_wire()])
    for host in ("a", "b"):
        dns.add(Name.from_text(f"{host}.mixed.test."), RRType.A,
                [ipaddress.IPv4Address("192.0.2.9").packed])
    dns.add(Name.from_text("_25._tcp.a.mixed.test."), RRType.TLSA,
            [bytes((3, 1, 1)) + bytes(32)])
    if policy_id is not None:
        dns.add(Name.from_text("_mta-sts.mixed.test."), RRType.TXT,
                [rd.TXT((f"v=STSv1; id={policy_id}".encode(),)).to_wire()])
    return dns


@pytest.mark.parametrize(("policy_id", "mode", "reply"), [
    (None, None, "OK dane"),                       # no MTA-STS: Postfix's dane, per host
    ("1", "testing", "OK dane"),
    ("1", "enforce", "OK secure match=.mixed.test servername=hostname"),
])
def test_mixed_hosts(policy_id: str | None, mode: str | None, reply: str) -> None:
    async def fetcher(dns: Any, domain: Name, settings: FetchSettings) -> FetchResult:
        body = f"version: STSv1\nmode: {mode}\nmx: *.mixed.test\nmax_age: 60\n".encode()
        return FetchResult("mta-sts.mixed.test", "https://mta-sts.mixed.test/", (),
                           policy=parse_policy(body))

    decision = asyncio.run(tls_policy(_mixed_dns(policy_id), MtaSts(fetcher=fetcher),
                                      Name.from_text("mixed.test.")))
    assert decision.dane.verdict.value == "may"       # b has no TLSA: the weakest decides
    assert decision.reply == reply
    json.dumps(decision.to_json())


def _cli(env: StsEnv, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "resolver", *args, "--api", env.api_url],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_command_line(sts_env: StsEnv) -> None:
    policy = _cli(sts_env, "tls-policy", "enforce.sts.example")
    assert policy.returncode == 0 and ENFORCE in policy.stdout, policy.stderr
    sts = _cli(sts_env, "mta-sts", "testing.sts.example")
    assert sts.returncode == 1 and "mode testing" in sts.stdout, sts.stderr
    rpt = _cli(sts_env, "tls-rpt", "enforce.sts.example", "--json")
    assert rpt.returncode == 0 and json.loads(rpt.stdout)["result"] == "record"
    bad = _cli(sts_env, "tls-policy", "not a domain")
    assert bad.returncode == 2 and "domain" in bad.stderr
