"""The outbound TLS policy of a next-hop domain, as Postfix's ``smtp_tls_policy_maps``
wants it: DANE first (RFC 7672), then MTA-STS (RFC 8461); DANE wins where both apply
(RFC 8461 s2).

* ``OK dane``: the MX hosts have usable secure TLSA records (or a secure TLSA RRset
  without usable records: TLS is then mandatory, RFC 7672 s2.2); Postfix does the
  per-host DANE work itself through this resolver.
* ``OK secure match=P1:P2 servername=hostname``: an MTA-STS policy in ``enforce``
  mode; the patterns are the policy's ``mx`` lines, ``*.example.net`` written as
  Postfix's ``.example.net``.
* ``TEMP reason``: the DNS answers needed for the decision failed or are bogus, or an
  enforced policy matches none of the MX hosts (RFC 8461 s4.1: no host may be used).
* ``NOTFOUND``: neither applies (no policy, ``testing`` or ``none`` mode, a policy that
  could not be fetched): Postfix uses its default security level.
"""

from __future__ import annotations

import enum
import logging
import re
from dataclasses import dataclass

from ..wire.name import Name
from .dane_smtp import DomainVerdict, HostVerdict, SmtpDaneDecision, smtp_dane
from .dnsapi import DnsSource
from .mtasts import Json, Mode
from .mtasts_cache import MtaSts, MtaStsResult, StsStatus

log = logging.getLogger(__name__)

MAX_REASON = 200      # characters of a TEMP reason (Postfix logs it)


class Action(enum.StrEnum):
    DANE = "dane"
    SECURE = "secure"
    NOTFOUND = "notfound"
    TEMP = "temp"


@dataclass(frozen=True, slots=True)
class TlsPolicy:
    """The decision for one domain: *reply* is the socketmap reply (``OK ...``,
    ``NOTFOUND ``, ``TEMP ...``)."""

    domain: Name
    action: Action
    reply: str
    reasons: tuple[str, ...]
    dane: SmtpDaneDecision
    mta_sts: MtaStsResult | None = None

    def to_json(self) -> Json:
        return {"domain": self.domain.to_text(), "action": self.action.value,
                "postfix": self.reply, "reasons": list(self.reasons),
                "dane": {"verdict": self.dane.verdict.value,
                         "security": self.dane.security.label,
                         "reasons": list(self.dane.reasons),
                         "hosts": {h.host.to_text(): h.verdict.value
                                   for h in self.dane.hosts}},
                "mta_sts": self.mta_sts.to_json() if self.mta_sts is not None else None}


def temp_reason(text: str) -> str:
    """A one-line printable ASCII reason of bounded length."""
    clean = re.sub(r"[^\x20-\x7e]+", " ", text).strip()
    return clean[:MAX_REASON] or "temporary failure"


async def tls_policy(dns: DnsSource, mta_sts: MtaSts, domain: Name) -> TlsPolicy:
    """The Postfix TLS policy of *domain* (see the module text)."""
    reasons: list[str] = []
    dane = await smtp_dane(dns, domain, 25)
    shown = domain.to_text(omit_final_dot=True)

    def answer(action: Action, reply: str, sts: MtaStsResult | None = None) -> TlsPolicy:
        log.debug("TLS policy of %s: %s", domain, reply)
        return TlsPolicy(domain, action, reply, tuple(reasons), dane, sts)

    if dane.verdict is DomainVerdict.DEFER:
        why = dane.reasons[0] if dane.reasons else "lookups failed"
        reasons.append("the MX or MX host lookups failed or are bogus: defer "
                       "(RFC 7672 s2.1.1)")
        return answer(Action.TEMP, "TEMP " + temp_reason(
            f"DNS lookups for {shown} failed or are bogus ({why})"))
    if dane.verdict is DomainVerdict.NO_MAIL:
        reasons.append("the domain accepts no mail (null MX or no address): no TLS policy")
        return answer(Action.NOTFOUND, "NOTFOUND ")
    if dane.verdict in (DomainVerdict.DANE, DomainVerdict.ENCRYPT):
        reasons.append(f"DANE applies to every usable MX host ({dane.verdict.value}); "
                       "DANE wins over MTA-STS (RFC 8461 s2)")
        return answer(Action.DANE, "OK dane")
    some_dane = [h for h in dane.hosts if h.verdict in (HostVerdict.DANE, HostVerdict.ENCRYPT)]
    sts = await mta_sts.discover(dns, domain)
    if sts.status is StsStatus.DNS_FAILED and not some_dane:
        reasons.append("the _mta-sts TXT lookup failed or is bogus and no policy is cached")
        return answer(Action.TEMP, "TEMP " + temp_reason(
            f"MTA-STS TXT lookup for {shown} failed or is bogus"), sts)
    policy = sts.policy
    if policy is not None and policy.mode is Mode.ENFORCE:
        usable = [h.host for h in dane.hosts if h.verdict is not HostVerdict.SKIP_HOST]
        matching = [h for h in usable if policy.matches(h.to_text())]
        if not matching:
            reasons.append("MTA-STS enforce: no MX host matches the policy's mx patterns, so "
                           "none may be used (RFC 8461 s4.1)")
            return answer(Action.TEMP, "TEMP " + temp_reason(
                f"no MX host of {shown} matches its MTA-STS policy "
                f"(mx: {', '.join(policy.mx)})"), sts)
        if len(matching) < len(usable):
            reasons.append(f"{len(usable) - len(matching)} MX host(s) do not match the "
                           "policy: their certificates will not match either")
        reasons.append(f"MTA-STS policy in enforce mode ({sts.source}): PKIX-valid TLS to "
                       "an MX host matching the policy (RFC 8461 s4, s5)")
        return answer(Action.SECURE, f"OK secure match={policy.postfix_match()} "
                                     "servername=hostname", sts)
    if some_dane:
        reasons.append("some MX hosts have secure TLSA records and no MTA-STS policy is "
                       "enforced: Postfix's dane level decides per host")
        return answer(Action.DANE, "OK dane", sts)
    if policy is not None:
        reasons.append(f"MTA-STS policy in {policy.mode.value} mode: reported, not enforced")
    else:
        reasons.append("no DANE and no MTA-STS policy: Postfix's default level applies")
    return answer(Action.NOTFOUND, "NOTFOUND ", sts)
