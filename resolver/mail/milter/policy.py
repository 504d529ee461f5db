"""What the milter does with a message once SPF, DKIM and DMARC have spoken.

The defaults only add an ``Authentication-Results:`` field; rejecting and quarantining
are each switched on by configuration (``milter-policy-*`` keys). One decision is
made before any of them: when a DNS lookup behind the verdict failed (SERVFAIL, a
timeout, or an answer that is DNSSEC-bogus) and the message did not pass DMARC anyway,
the message is deferred with a 451 (``milter-tempfail-on-dns-error``, on by default):
a verdict resting on a failed lookup is never read as a pass, and the sender retries.

SPF speaks for two identities (RFC 7208 s2.3, s2.4): the MAIL FROM one, which DMARC
aligns and ``milter-policy-spf-fail`` acts on, and the HELO name, checked on its own
(``milter-spf-helo``) and reported as its own result. A HELO fail alone only rejects
when ``milter-policy-spf-helo-fail = "reject"``: few HELO names publish SPF of their
own, a legitimate server announcing a name whose record does not list it (its domain's
apex, say) is a common slip, and DMARC (RFC 7489 s4.1) ignores the HELO result
altogether; so by default it is reported, not acted on. A failed HELO lookup defers
the message only when that key asks for rejects.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..authres import comment, quote_value
from ..dkim import SignatureResult
from ..dmarc import DmarcResult
from ..spf import SpfResult

DMARC_REJECT_ACTIONS = ("none", "reject", "quarantine")
DMARC_QUARANTINE_ACTIONS = ("none", "quarantine")
SPF_FAIL_ACTIONS = ("none", "reject", "tag")
SPF_HELO_FAIL_ACTIONS = ("none", "reject")

# final actions
CONTINUE = "continue"       # deliver, with our header fields
REJECT = "reject"           # 5xx
TEMPFAIL = "tempfail"       # 4xx
QUARANTINE = "quarantine"   # the MTA holds the message (Postfix: hold queue)


def default_authserv_id() -> str:
    """The host's name, as RFC 8601 s2.5 suggests for an authserv-id. Not getfqdn():
    that asks the DNS, which may be this very resolver, not yet listening."""
    return socket.gethostname() or "localhost"


@dataclass(frozen=True, slots=True)
class MilterPolicy:
    """What to do per outcome; see the module docstring. *authserv_id* names us in
    Authentication-Results and decides which existing fields are ours to remove."""

    authserv_id: str
    dmarc_reject: str = "none"         # DMARC fail with p=reject: none/reject/quarantine
    dmarc_quarantine: str = "none"     # DMARC fail with p=quarantine: none/quarantine
    spf_fail: str = "none"             # SPF fail (-all): none/reject/tag (Received-SPF)
    tempfail_on_dns_error: bool = True
    spf_helo: bool = True              # check the HELO name as its own SPF identity
    spf_helo_fail: str = "none"        # SPF fail of the HELO identity: none/reject

    def __post_init__(self) -> None:
        for name, value, allowed in (("dmarc_reject", self.dmarc_reject, DMARC_REJECT_ACTIONS),
                                     ("dmarc_quarantine", self.dmarc_quarantine,
                                      DMARC_QUARANTINE_ACTIONS),
                                     ("spf_fail", self.spf_fail, SPF_FAIL_ACTIONS),
                                     ("spf_helo_fail", self.spf_helo_fail,
                                      SPF_HELO_FAIL_ACTIONS)):
            if value not in allowed:
                raise ValueError(f"{name}: {value!r} is not one of {', '.join(allowed)}")


@dataclass(slots=True)
class Verdict:
    """The action, the SMTP reply for reject/tempfail, and extra fields to add."""

    action: str
    reply: str | None = None
    reason: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)


def _dns_trouble(policy: MilterPolicy, spf: SpfResult | None,
                 dkim: Sequence[SignatureResult], dmarc: DmarcResult,
                 helo: SpfResult | None) -> str | None:
    if dmarc.result == "pass":
        return None             # a failed lookup cannot change a pass
    if dmarc.result == "temperror":
        return "the DMARC policy lookup failed"
    if spf is not None and spf.result.value == "temperror":
        return "an SPF lookup failed"
    if helo is not None and helo.result.value == "temperror" and \
            policy.spf_helo_fail == "reject":
        return "an SPF lookup for the HELO name failed"
    if dkim and not any(s.passed for s in dkim) and any(s.result == "temperror" for s in dkim):
        return "a DKIM key lookup failed"
    return None


def received_spf(spf: SpfResult, receiver: str) -> str:
    """A Received-SPF value (RFC 7208 s9.1) for the ``tag`` action."""
    parts = [spf.result.value, comment(spf.reason or f"{spf.ip} is not allowed by {spf.domain}"),
             f"client-ip={spf.ip};", f"envelope-from={quote_value(spf.sender)};"]
    if spf.helo:
        parts.append(f"helo={quote_value(spf.helo)};")
    parts.append(f"receiver={quote_value(receiver)};")
    return " ".join(parts)


def decide(policy: MilterPolicy, spf: SpfResult | None, dkim: Sequence[SignatureResult],
           dmarc: DmarcResult, helo: SpfResult | None = None) -> Verdict:
    """The action for a message (module docstring); pure. *spf* is the MAIL FROM
    result, *helo* the HELO identity's (None when not checked)."""
    trouble = _dns_trouble(policy, spf, dkim, dmarc, helo)
    if trouble and policy.tempfail_on_dns_error:
        code = "4.7.24" if trouble.startswith("an SPF") else "4.7.0"
        return Verdict(TEMPFAIL, f"451 {code} Temporary DNS failure: {trouble}; "
                       "try again later", trouble)
    if dmarc.result == "fail":
        domain = dmarc.from_domain or "the author domain"
        if dmarc.disposition == "reject" and policy.dmarc_reject == "reject":
            return Verdict(REJECT, f"550 5.7.1 Rejected by the DMARC policy of {domain}",
                           dmarc.reason)
        if (dmarc.disposition == "reject" and policy.dmarc_reject == "quarantine") or \
                (dmarc.disposition == "quarantine" and policy.dmarc_quarantine == "quarantine"):
            return Verdict(QUARANTINE, None, f"DMARC policy of {domain}: "
                           f"{dmarc.disposition}")
    spf_failed = spf if spf is not None and spf.result.value == "fail" else None
    if spf_failed is not None and policy.spf_fail == "reject":
        return Verdict(REJECT, f"550 5.7.23 SPF: {spf_failed.ip} is not allowed to send "
                       f"mail from {spf_failed.domain}", spf_failed.reason)
    if helo is not None and helo.result.value == "fail" and policy.spf_helo_fail == "reject":
        return Verdict(REJECT, f"550 5.7.23 SPF: {helo.ip} is not allowed to use the "
                       f"HELO name {helo.domain}", helo.reason)
    if spf_failed is not None and policy.spf_fail == "tag":
        return Verdict(CONTINUE, None, "SPF fail",
                       [("Received-SPF", received_spf(spf_failed, policy.authserv_id))])
    return Verdict(CONTINUE)
