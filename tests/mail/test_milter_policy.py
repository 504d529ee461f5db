"""The milter's decisions (pure): each outcome under each policy setting."""

from __future__ import annotations

import pytest

from resolver.dnssec.status import Security
from resolver.mail.dkim import SignatureResult
from resolver.mail.dmarc import DmarcResult
from resolver.mail.milter.policy import (
    CONTINUE,
    QUARANTINE,
    REJECT,
    TEMPFAIL,
    MilterPolicy,
    decide,
    received_spf,
)
from resolver.mail.spf import Result, SpfResult


def spf(result: str) -> SpfResult:
    return SpfResult(result=Result(result), domain="example.com", sender="a@example.com",
                     ip="198.51.100.7", helo="mx.example.net", mechanism=None,
                     matched_domain=None, explanation=None, reason=None, record=None,
                     security=Security.SECURE, explanation_security=None, dns_terms=0,
                     void_lookups=0, queries=0, trace=())


def dmarc(result: str, disposition: str = "none") -> DmarcResult:
    return DmarcResult(result, disposition, from_domain="example.com",
                       security=Security.SECURE)


PASS_SIG = [SignatureResult("pass", domain="example.com")]
TEMP_SIG = [SignatureResult("temperror", "key lookup failed", domain="example.com")]
POLICY = MilterPolicy("mx.test.invalid")
STRICT = MilterPolicy("mx.test.invalid", dmarc_reject="reject", dmarc_quarantine="quarantine",
                      spf_fail="reject")


@pytest.mark.parametrize(("policy", "s", "d", "m", "action", "code"), [
    (POLICY, "pass", PASS_SIG, dmarc("pass"), CONTINUE, None),
    (POLICY, "fail", [], dmarc("fail", "reject"), CONTINUE, None),       # default: tag only
    (STRICT, "fail", [], dmarc("fail", "reject"), REJECT, "550 5.7.1"),
    (MilterPolicy("x", dmarc_reject="quarantine"), "fail", [], dmarc("fail", "reject"),
     QUARANTINE, None),
    (STRICT, "softfail", [], dmarc("fail", "quarantine"), QUARANTINE, None),
    (STRICT, "softfail", [], dmarc("fail", "none"), CONTINUE, None),     # p=none / pct
    (STRICT, "fail", PASS_SIG, dmarc("pass"), REJECT, "550 5.7.23"),
    (STRICT, "softfail", PASS_SIG, dmarc("pass"), CONTINUE, None),
    # failed lookups: deferred unless DMARC passed anyway
    (POLICY, "temperror", [], dmarc("fail", "reject"), TEMPFAIL, "451 4.7.24"),
    (POLICY, "pass", TEMP_SIG, dmarc("temperror"), TEMPFAIL, "451 4.7.0"),
    (POLICY, "neutral", TEMP_SIG, dmarc("none"), TEMPFAIL, "451 4.7.0"),
    (POLICY, "temperror", PASS_SIG, dmarc("pass"), CONTINUE, None),
    (MilterPolicy("x", tempfail_on_dns_error=False), "temperror", [], dmarc("temperror"),
     CONTINUE, None),
])
def test_decide(policy: MilterPolicy, s: str, d: list[SignatureResult], m: DmarcResult,
                action: str, code: str | None) -> None:
    verdict = decide(policy, spf(s), d, m)
    assert verdict.action == action
    if code is None:
        assert verdict.reply is None
    else:
        assert verdict.reply is not None and verdict.reply.startswith(code)


def test_spf_tag_adds_received_spf() -> None:
    verdict = decide(MilterPolicy("mx.test.invalid", spf_fail="tag"), spf("fail"), [],
                     dmarc("none"))
    assert verdict.action == CONTINUE
    [(name, value)] = verdict.headers
    assert name == "Received-SPF"
    assert value == received_spf(spf("fail"), "mx.test.invalid")
    assert value.startswith("fail (198.51.100.7 is not allowed by example.com) "
                            "client-ip=198.51.100.7; envelope-from=\"a@example.com\";")
    assert value.endswith("helo=mx.example.net; receiver=mx.test.invalid;")


def test_no_client_address_means_no_spf() -> None:
    assert decide(STRICT, None, [], dmarc("none")).action == CONTINUE


@pytest.mark.parametrize("bad", [{"dmarc_reject": "drop"}, {"dmarc_quarantine": "reject"},
                                 {"spf_fail": "quarantine"}])
def test_bad_policy_values(bad: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        MilterPolicy("x", **bad)
