"""DMARC (RFC 7489): the hand-written cases plus unit tests of each step."""

from __future__ import annotations

import asyncio
import json

import pytest

from resolver.dnssec.status import Security
from resolver.mail.dkim import SignatureResult
from resolver.mail.dmarc import (
    aligned,
    check_message,
    evaluate,
    from_domains,
    get_dmarc_policy,
    parse_dmarc_record,
)
from resolver.mail.psl import Psl
from tests.mail import dmarc_suite as suite

PSL = Psl.from_file(suite.PSL_SNAPSHOT)


@pytest.mark.parametrize("case", suite.CASES, ids=[c.name for c in suite.CASES])
def test_case(case: suite.DmarcCase) -> None:
    result = asyncio.run(suite.run_case(case, PSL))
    assert suite.check_case(case, result) is None
    json.dumps(result.to_json())


def test_runner_counts() -> None:
    passed, failed, details = suite.run_dmarc_cases(PSL)
    assert failed == 0, details
    assert passed == len(suite.CASES)


# --------------------------------------------------------------------------
# records (s6.3, s6.4)


def test_parse_full_record() -> None:
    rec = parse_dmarc_record(b"v=DMARC1; p=quarantine; sp=reject; np=none; pct=20; adkim=s; "
                             b"aspf=r; rua=mailto:a@example.com!10m, mailto:b@example.com; "
                             b"ruf=mailto:f@example.com; fo=1:d; rf=afrf; ri=3600")
    assert rec.valid and rec.warnings == ()
    assert (rec.p, rec.sp, rec.np, rec.pct, rec.adkim, rec.aspf) == \
        ("quarantine", "reject", "none", 20, "s", "r")
    assert rec.rua == ("mailto:a@example.com!10m", "mailto:b@example.com")
    assert rec.ruf == ("mailto:f@example.com",) and rec.fo == ("1", "d") and rec.ri == 3600
    doc = json.loads(json.dumps(rec.to_json()))
    assert doc["rua"][0] == "mailto:a@example.com!10m" and doc["error"] is None


def test_parse_defaults_and_leniency() -> None:
    rec = parse_dmarc_record("v=DMARC1; p=none")
    assert (rec.pct, rec.adkim, rec.aspf, rec.fo, rec.rf, rec.ri) == \
        (100, "r", "r", ("0",), ("afrf",), 86400)
    odd = parse_dmarc_record("v=DMARC1; p=reject; pct=150; adkim=x; rua=not a uri; fo=9; "
                             "ri=-1; np=maybe; foo=bar")
    assert odd.valid and odd.pct == 100 and odd.adkim == "r" and odd.rua == ()
    assert odd.np is None and odd.fo == ("0",) and odd.ri == 86400
    assert len(odd.warnings) == 7


def test_parse_errors() -> None:
    assert not parse_dmarc_record("v=spf1 -all").is_dmarc
    assert not parse_dmarc_record("v=dmarc1; p=none").is_dmarc    # s6.4: case-sensitive
    assert not parse_dmarc_record("p=none; v=DMARC1").is_dmarc
    assert parse_dmarc_record("v=DMARC1; p=none; P=reject").error == "duplicate tag p="
    broken = parse_dmarc_record("v=DMARC1; p")
    assert broken.is_dmarc and broken.error is not None
    assert parse_dmarc_record("v=DMARC1").policy_error == "no p= tag"
    assert parse_dmarc_record("v=DMARC1; p=reject; sp=x").policy_error == "invalid sp=x"


# --------------------------------------------------------------------------
# discovery details


def test_policy_lookup_shape_and_queries() -> None:
    dns = suite.build_zone()
    found = asyncio.run(get_dmarc_policy(dns, "Deep.Sub.Example.COM.", psl=PSL))
    assert found.found and found.inherited and found.policy_domain == "example.com"
    assert found.queried == ("_dmarc.deep.sub.example.com.", "_dmarc.example.com.")
    doc = json.loads(json.dumps(found.to_json()))
    assert doc["security"] == "secure" and doc["record"]["p"] == "reject"
    assert doc["org_domain"] == "example.com" and doc["nonexistent"] is None
    own = asyncio.run(get_dmarc_policy(dns, "example.com", psl=PSL))
    assert own.queried == ("_dmarc.example.com.",) and not own.inherited
    bad = asyncio.run(get_dmarc_policy(dns, "a..b", psl=PSL))
    assert bad.status == "invalid"


def test_nonexistence_needs_all_three_types() -> None:
    from resolver.wire.name import name
    from resolver.wire.types import RRType
    dns = suite.build_zone()
    dns.add(name("mx-only.example.biz"), RRType.MX, [b"\x00\x0a\x00"])
    mx = asyncio.run(get_dmarc_policy(dns, "mx-only.example.biz", psl=PSL))
    assert mx.nonexistent is False
    gone = asyncio.run(get_dmarc_policy(dns, "gone.example.biz", psl=PSL))
    assert gone.nonexistent is True
    # no np= in the record: existence is not checked at all
    plain = asyncio.run(get_dmarc_policy(dns, "gone.example.com", psl=PSL))
    assert plain.nonexistent is None


# --------------------------------------------------------------------------
# alignment and evaluation


def test_aligned() -> None:
    assert aligned("example.com", "a.b.example.com", "r", psl=PSL)
    assert not aligned("example.com", "a.b.example.com", "s", psl=PSL)
    assert aligned("Example.COM.", "user@example.com", "s", psl=PSL)
    assert not aligned("example.co.uk", "other.co.uk", "r", psl=PSL)
    assert not aligned("example.com", "", "r", psl=PSL)


def test_evaluate_accepts_signature_results() -> None:
    dns = suite.build_zone()
    policy = asyncio.run(get_dmarc_policy(dns, "example.com", psl=PSL))
    sig = SignatureResult("pass", domain="example.com", selector="s")
    result = evaluate("example.com", policy, None, [sig], psl=PSL)
    assert result.result == "pass" and result.dkim_aligned
    failed = evaluate("example.com", policy, ("softfail", "example.com"),
                      [SignatureResult("fail", domain="example.com")], pct_roll=99.9, psl=PSL)
    assert (failed.result, failed.disposition, failed.requested) == ("fail", "reject", "reject")
    doc = json.loads(json.dumps(failed.to_json()))
    assert doc["security"] == "secure" and doc["policy_tag"] == "p"


def test_pct_random_roll_is_bounded() -> None:
    dns = suite.build_zone()
    policy = asyncio.run(get_dmarc_policy(dns, "half.example", psl=PSL))
    seen = {evaluate("half.example", policy, None, [], psl=PSL).disposition for _ in range(200)}
    assert seen == {"reject", "quarantine"}


# --------------------------------------------------------------------------
# RFC5322.From (s6.6.1)


@pytest.mark.parametrize(("header", "domains"), [
    (b"From: joe@Example.COM", ["example.com"]),
    (b"From: \"Joe, Q\" <joe@example.com>", ["example.com"]),
    (b"From: \"a@evil.example\" <joe@example.com>", ["example.com"]),
    (b"From: joe(comment@evil.example)@example.com", ["example.com"]),
    (b"From: \"x\"@example.com", ["example.com"]),
    (b"From: a@one.example,\r\n b@two.example", ["one.example", "two.example"]),
    (b"From: team: a@one.example, B <b@two.example>;", ["one.example", "two.example"]),
    (b"From: <@relay.example:joe@example.com>", ["example.com"]),
    (b"From: =?utf-8?q?J=C3=B6e?= <joe@example.com>", ["example.com"]),
    (b"From: joe@[192.0.2.1]", []),
    (b"From: Undisclosed", []),
    ("From: Jörg <jörg@bücher.example>".encode(), ["xn--bcher-kva.example"]),
])
def test_from_domains(header: bytes, domains: list[str]) -> None:
    assert from_domains(header + b"\r\nTo: x@y.example\r\n\r\nbody\r\n") == domains


def test_two_from_fields() -> None:
    msg = b"From: a@example.com\nFrom: b@example.com\nSubject: x\n\nbody\n"
    assert from_domains(msg) == ["example.com", "example.com"]
    dns = suite.build_zone()
    result = asyncio.run(check_message(dns, msg, ("pass", "example.com"), [], psl=PSL))
    assert result.result == "pass" and result.from_domains == ("example.com",)
    assert "2 From fields" in (result.reason or "")


def test_no_from_field() -> None:
    dns = suite.build_zone()
    result = asyncio.run(check_message(dns, b"Subject: x\r\n\r\nbody\r\n", None, [], psl=PSL))
    assert result.result == "permerror" and "no RFC5322.From field" in (result.reason or "")
    assert result.security is None


def test_multi_author_pass_and_none_reports_none() -> None:
    dns = suite.build_zone()
    msg = b"From: a@example.com, b@nodmarc.example\r\n\r\nx\r\n"
    result = asyncio.run(check_message(dns, msg, ("pass", "example.com"), [], psl=PSL))
    assert result.result == "none" and result.from_domain == "nodmarc.example"
    assert result.security == Security.SECURE
