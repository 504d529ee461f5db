"""MTA-STS (RFC 8461) and TLS-RPT (RFC 8460): record and policy parsing, MX matching,
the HTTPS fetch and its limits against the test network's policy server (real TLS,
the test CA), and the policy cache (id changes, max_age, fallbacks, bound).

DNS here is fixed data (StaticDns) pointing the ``mta-sts.*`` names at the policy
server; the end-to-end runs through the resolver are in test_tls_policy_map.py.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from resolver.dnssec.status import Security
from resolver.mail.dnsapi import StaticDns
from resolver.mail.mtasts import (
    MAX_AGE_CAP,
    MAX_POLICY_BYTES,
    Mode,
    MtaStsError,
    mx_matches,
    parse_policy,
    parse_record,
    select_record,
)
from resolver.mail.mtasts_cache import MtaSts, StsStatus
from resolver.mail.mtasts_fetch import FetchSettings, fetch_policy
from resolver.mail.tlsrpt import TlsRptError
from resolver.mail.tlsrpt import parse_record as parse_rpt
from resolver.mail.tlsrpt import select_record as select_rpt
from resolver.testnet.https import SELF_SIGNED, WRONG_NAME, PolicyServer, Site, policy
from resolver.wire import rdata as rd
from resolver.wire.name import Name
from resolver.wire.types import Rcode, RRType
from tests.loop import LoopThread
from tests.mail.stsnet import CA_FILE

# --------------------------------------------------------------------------- parsing


def test_record_parsing() -> None:
    rec = parse_record("v=STSv1; id=20160831085700Z;")
    assert rec.id == "20160831085700Z" and rec.extensions == ()
    assert parse_record("v=STSv1;id=abc").id == "abc"
    assert parse_record("v=STSv1; id=1; ext=yes").extensions == (("ext", "yes"),)
    for bad in ("id=1; v=STSv1", "v=STSv2; id=1", "v=STSv1", "v=STSv1; id=",
                "v=STSv1; id=" + "a" * 33, "v=STSv1; id=a-b", "v=STSv1; id=1; id=2",
                "v=STSv1; id=1; junk"):
        with pytest.raises(MtaStsError):
            parse_record(bad)


def test_record_selection() -> None:
    assert select_record(["v=spf1 -all", "v=STSv1; id=7;"]).id == "7"
    with pytest.raises(MtaStsError, match="exactly one"):
        select_record(["v=STSv1; id=1;", "v=STSv1; id=2;"])
    with pytest.raises(MtaStsError, match="no TXT record"):
        select_record(["v=spf1 -all"])


def test_policy_parsing() -> None:
    pol = parse_policy(b"version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n"
                       b"mx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n")
    assert pol.mode is Mode.ENFORCE and pol.max_age == 604800
    assert pol.mx == ("mail.example.com", "*.example.net", "backupmx.example.com")
    assert pol.postfix_match() == "mail.example.com:.example.net:backupmx.example.com"
    # LF endings, no final newline, spaces after the colon, unknown keys ignored
    lf = parse_policy(b"version:STSv1\nmode:   testing\nmx: a.example\nfoo: bar\nmax_age: 1")
    assert lf.mode is Mode.TESTING and lf.mx == ("a.example",) and lf.notes
    assert parse_policy(b"version: STSv1\nmode: none\nmax_age: 86400\n").mx == ()
    capped = parse_policy(b"version: STSv1\nmode: none\nmax_age: 9999999999\n")
    assert capped.max_age == MAX_AGE_CAP and "capped" in capped.notes[0]


@pytest.mark.parametrize("body", [
    b"",
    b"mode: enforce\nmx: a.example\nmax_age: 1\n",                     # no version
    b"version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n",
    b"version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n",
    b"version: STSv1\nmode: enforce\nmax_age: 1\n",                    # enforce without mx
    b"version: STSv1\nmode: enforce\nmx: a.example\n",                 # no max_age
    b"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n",
    b"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 12345678901\n",
    b"version: STSv1\nmode: enforce\nmode: none\nmx: a.example\nmax_age: 1\n",
    b"version: STSv1\nmode: enforce\nmx: a..example\nmax_age: 1\n",
    b"version: STSv1\nmode: enforce\nmx: *.*.example\nmax_age: 1\n",
    b"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\ngarbage line\n",
    b"version: STSv1\nmode: enforce\nmx: \xff.example\nmax_age: 1\n",
    b"version: STSv1\nmode: none\nmax_age: 1\n" + b"x: y\n" * (MAX_POLICY_BYTES // 5),
])
def test_policy_rejects(body: bytes) -> None:
    with pytest.raises(MtaStsError):
        parse_policy(body)


def test_mx_matching() -> None:
    assert mx_matches("mail.example.com", "MAIL.example.com.")
    assert mx_matches("*.example.net", "mx1.example.net")
    assert not mx_matches("*.example.net", "example.net")
    assert not mx_matches("*.example.net", "a.b.example.net")      # one label only
    assert not mx_matches("mail.example.com", "mail.example.com.evil")


def test_tlsrpt_parsing() -> None:
    rec = parse_rpt("v=TLSRPTv1; rua=mailto:reports@example.com,https://r.example.net/x")
    assert rec.rua == ("mailto:reports@example.com", "https://r.example.net/x")
    assert parse_rpt("v=TLSRPTv1;rua=mailto:a@example.com;ext=1").extensions == (("ext", "1"),)
    for bad in ("rua=mailto:a@b.example", "v=TLSRPTv1", "v=TLSRPTv1; rua=ftp://x.example/",
                "v=TLSRPTv1; rua=mailto:nobody", "v=TLSRPTv1; rua=", "v=TLSRPTv2; rua=x"):
        with pytest.raises(TlsRptError):
            parse_rpt(bad)
    with pytest.raises(TlsRptError, match="exactly one"):
        select_rpt(["v=TLSRPTv1; rua=mailto:a@b.example", "v=TLSRPTv1; rua=mailto:c@d.example"])


# --------------------------------------------------------------------------- fetching

ENFORCE = policy("enforce", "mx1.good.test", max_age=600)
SITES = {
    "mta-sts.good.test": Site(ENFORCE),
    "mta-sts.redirect.test": Site(b"", status=301,
                                  headers=(("Location", "https://mta-sts.good.test/"),)),
    "mta-sts.big.test": Site(b"version: STSv1\n" + b"#" * MAX_POLICY_BYTES),
    "mta-sts.html.test": Site(ENFORCE, content_type="text/html"),
    "mta-sts.missing.test": Site(ENFORCE, status=404),
    "mta-sts.wrongname.test": Site(ENFORCE, cert=WRONG_NAME),
    "mta-sts.selfsigned.test": Site(ENFORCE, cert=SELF_SIGNED),
    "mta-sts.broken.test": Site(b"version: STSv1\nmode: sometimes\n"),
    **{f"mta-sts.{x}.test": Site(ENFORCE) for x in "abc"},
}


@dataclass
class Env:
    loop: LoopThread
    server: PolicyServer
    dns: StaticDns
    settings: FetchSettings


def _txt(text: str) -> bytes:
    return rd.TXT((text.encode(),)).to_wire()


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    loop = LoopThread("mtasts-test-loop")
    server = PolicyServer(sites=dict(SITES))
    loop.run(server.start())
    dns = StaticDns(security=Security.INSECURE)
    for host in SITES:
        dns.add(Name.from_text(host + "."), RRType.A,
                [ipaddress.IPv4Address(server.address).packed])
    try:
        yield Env(loop, server, dns, FetchSettings(ca_file=CA_FILE, port=server.port,
                                                   timeout=10.0))
    finally:
        loop.run(server.stop())
        loop.close()


@pytest.mark.parametrize(("domain", "error"), [
    ("good.test", None),
    ("redirect.test", "HTTP 301: redirects are not followed"),
    ("big.test", "larger than 65536"),
    ("html.test", "not text/plain"),
    ("missing.test", "HTTP 404"),
    ("wrongname.test", "certificate not valid for mta-sts.wrongname.test"),
    ("selfsigned.test", "certificate not valid"),
    ("broken.test", "bad policy: mode must be"),
    ("nowhere.test", "has no usable address"),
])
def test_fetch(env: Env, domain: str, error: str | None) -> None:
    result = env.loop.run(fetch_policy(env.dns, Name.from_text(domain + "."), env.settings))
    if error is None:
        assert result.policy is not None and result.error is None, result.error
        assert result.policy.mode is Mode.ENFORCE and result.policy.mx == ("mx1.good.test",)
        assert result.url == f"https://mta-sts.good.test:{env.server.port}/.well-known/mta-sts.txt"
    else:
        assert result.policy is None and result.error is not None
        assert error in result.error, result.error
    assert result.to_json()["ok"] is (error is None)


def test_system_store_refuses_the_test_ca(env: Env) -> None:
    plain = FetchSettings(port=env.server.port, timeout=10.0)
    result = env.loop.run(fetch_policy(env.dns, Name.from_text("good.test."), plain))
    assert result.policy is None and "certificate not valid" in (result.error or "")


# --------------------------------------------------------------------------- the cache

class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _sts_dns(env: Env, record: str | None, rcode: int = Rcode.NOERROR,
             security: Security = Security.INSECURE) -> StaticDns:
    dns = StaticDns(answers=dict(env.dns.answers), security=Security.INSECURE)
    owner = Name.from_text("_mta-sts.good.test.")
    dns.add(owner, RRType.TXT, [_txt(record)] if record else [], rcode=rcode,
            security=security)
    return dns


def test_cache_follows_the_record_id(env: Env) -> None:
    clock = Clock()
    sts = MtaSts(env.settings, clock=clock)
    domain = Name.from_text("good.test.")
    first = env.loop.run(sts.discover(_sts_dns(env, "v=STSv1; id=one"), domain))
    assert first.status is StsStatus.POLICY and first.source == "fetched" and first.enforced
    again = env.loop.run(sts.discover(_sts_dns(env, "v=STSv1; id=one"), domain))
    assert again.source == "cache" and sts.fetches == 1
    changed = env.loop.run(sts.discover(_sts_dns(env, "v=STSv1; id=two"), domain))
    assert changed.source == "fetched" and sts.fetches == 2
    # no record any more: the cached policy holds until max_age (600 s) has passed
    gone = env.loop.run(sts.discover(_sts_dns(env, None), domain))
    assert gone.source == "cache" and gone.enforced
    failed = env.loop.run(sts.discover(_sts_dns(env, None, Rcode.SERVFAIL,
                                                Security.INDETERMINATE), domain))
    assert failed.source == "cache"
    clock.now += 601
    expired = env.loop.run(sts.discover(_sts_dns(env, None), domain))
    assert expired.status is StsStatus.NO_POLICY and expired.policy is None
    refetched = env.loop.run(sts.discover(_sts_dns(env, "v=STSv1; id=two"), domain))
    assert refetched.source == "fetched" and sts.fetches == 3


def test_failures_without_a_cached_policy(env: Env) -> None:
    sts = MtaSts(env.settings)
    bogus = env.loop.run(sts.discover(_sts_dns(env, None, Rcode.SERVFAIL, Security.BOGUS),
                                      Name.from_text("good.test.")))
    assert bogus.status is StsStatus.DNS_FAILED
    bad_cert = StaticDns(answers=dict(env.dns.answers), security=Security.INSECURE)
    bad_cert.add(Name.from_text("_mta-sts.wrongname.test."), RRType.TXT, [_txt("v=STSv1; id=1")])
    result = env.loop.run(sts.discover(bad_cert, Name.from_text("wrongname.test.")))
    assert result.status is StsStatus.NO_POLICY and result.record is not None
    assert result.fetch is not None and "certificate" in (result.fetch.error or "")
    assert "as if the domain had no MTA-STS" in result.reasons[-1]


def test_cache_is_bounded(env: Env) -> None:
    sts = MtaSts(env.settings, max_entries=2)
    for name in ("a.test.", "b.test.", "c.test."):
        domain = Name.from_text(name)
        dns = StaticDns(answers=dict(env.dns.answers), security=Security.INSECURE)
        dns.add(domain.prepend(b"_mta-sts"), RRType.TXT, [_txt("v=STSv1; id=1")])
        result = env.loop.run(sts.discover(dns, domain))
        assert result.source == "fetched", result.reasons
    assert len(sts.cache) == 2 and sts.fetches == 3
    assert sts.cached(Name.from_text("a.test.")) is None


def test_failed_fetch_is_not_retried_at_once(env: Env) -> None:
    clock = Clock()
    sts = MtaSts(env.settings, clock=clock, retry_after=300)
    dns = StaticDns(answers=dict(env.dns.answers), security=Security.INSECURE)
    dns.add(Name.from_text("_mta-sts.wrongname.test."), RRType.TXT, [_txt("v=STSv1; id=1")])
    domain = Name.from_text("wrongname.test.")
    for _ in range(3):
        result = env.loop.run(sts.discover(dns, domain))
        assert result.status is StsStatus.NO_POLICY and result.fetch is not None
    assert sts.fetches == 1
    clock.now += 301
    env.loop.run(sts.discover(dns, domain))
    assert sts.fetches == 2
