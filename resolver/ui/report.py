"""What the report page shows about one mail domain, gathered through the resolver
service and the mail evaluators, as the API routes do (never the caches or the
iterator). Every DNS question goes through the validating resolver; nothing else is
contacted.

:func:`domain_report` returns a :class:`DomainReport`: the chain of trust of the
domain's MX lookup (the validator's own trace, worked out afresh so that every step is
in it), the RFC 7672 decision per MX host, SPF with its tree of lookups, DMARC, the
DKIM keys of the selectors asked for, and every lookup made with its status and EDE.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from ..api.mail_dns import RequestDns
from ..dnssec.status import Security
from ..mail.dane_smtp import DomainVerdict, SmtpDaneDecision, smtp_dane
from ..mail.dkim_key import KeyLookup, get_dkim_key
from ..mail.dmarc import DmarcPolicyLookup, get_dmarc_policy
from ..mail.dnsapi import Lookup
from ..mail.spf import SpfSyntaxError
from ..mail.spf_record import SpfRecord, get_spf_record, txt_strings
from ..service import Resolver
from ..wire.name import Name, NameError_
from ..wire.types import RRType, rcode_to_text, type_to_text
from . import graph

SPF_LOOKUP_LIMIT = 10          # RFC 7208 s4.6.4
SPF_MAX_RECORDS = 24           # records fetched for one tree (bounded work)
DNS_TERMS = ("include", "a", "mx", "ptr", "exists")
EXTRA_TRACES = 2               # bogus lookups besides the MX whose chain is drawn too

# What Postfix does with each RFC 7672 domain verdict at "smtp_tls_security_level = dane"
POSTFIX = {
    DomainVerdict.DANE: "dane: TLS is mandatory and the certificate must match a TLSA "
                        "record; mail waits rather than going out unauthenticated",
    DomainVerdict.ENCRYPT: "encrypt: TLS is mandatory (DNSSEC-signed MX hosts without "
                           "usable TLSA records), the certificate is not checked",
    DomainVerdict.MAY: "may: opportunistic TLS (no DNSSEC-validated TLSA records), "
                       "cleartext if the server offers no STARTTLS",
    DomainVerdict.DEFER: "defer: the DNS answers needed are bogus or failed; Postfix "
                         "keeps the mail in the queue (4.x.x) and tries again later",
    DomainVerdict.NO_MAIL: "no mail: the domain has no usable MX or address (null MX "
                           "or NXDOMAIN); Postfix bounces the message",
}


@dataclass(slots=True)
class SpfNode:
    """One SPF record in the include/redirect tree."""

    domain: str
    via: str                     # "" for the top, else "include" or "redirect"
    record: SpfRecord | None
    lookups: int = 0             # DNS-querying terms in this record itself
    terms: list[str] = field(default_factory=list)
    problem: str | None = None
    children: list[SpfNode] = field(default_factory=list)


@dataclass(slots=True)
class LookupRow:
    name: str
    rtype: str
    status: str
    rcode: str
    records: int
    reason: str
    ede: list[tuple[int, str]]


@dataclass(slots=True)
class DomainReport:
    domain: Name
    security: Security
    reason: str
    rcode: str
    ede: list[tuple[int, str]]
    chain: graph.Graph
    trace_text: str
    dane: SmtpDaneDecision | None
    postfix: str
    spf: SpfNode | None
    spf_lookups: int
    dmarc: DmarcPolicyLookup | None
    dkim: list[tuple[str, KeyLookup]]
    lookups: list[LookupRow]
    problems: list[str] = field(default_factory=list)
    # the _mta-sts and _smtp._tls TXT records as DNS has them (the policy itself is
    # fetched over HTTPS: the page never does that, it links to the API route)
    policy_txt: list[tuple[str, str, Lookup | None]] = field(default_factory=list)
    overall: Security = Security.INDETERMINATE     # the weakest status of every lookup
    extra_links: list[tuple[str, str]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.domain.to_text(omit_final_dot=True)


def trace_block(name: Name, qtype: int, answer: Any, trace: Any) -> str:
    """What ``resolver query --trace NAME TYPE`` prints for this resolution."""
    lines = [f";; validation trace for {name} {type_to_text(qtype)}", trace.render(),
             f";; verdict: {answer.security.label}" +
             (f" ({answer.reason})" if answer.reason else ""),
             f";; rcode: {rcode_to_text(answer.rcode)}" +
             "".join(f"  EDE {c}: {t}" for c, t in answer.ede)]
    for rrset in answer.answer:
        lines.extend(rr.to_text() for rr in rrset.records())
    return "\n".join(lines)


async def _spf_tree(dns: RequestDns, domain: Name) -> tuple[SpfNode, int]:
    """The SPF record of *domain* and those it includes or redirects to, with the count
    of DNS-querying terms over the whole tree (RFC 7208 s4.6.4: at most 10)."""
    fetched = 0
    total = 0

    async def visit(name: str, via: str, depth: int, seen: frozenset[str]) -> SpfNode:
        nonlocal fetched, total
        if fetched >= SPF_MAX_RECORDS or depth > SPF_LOOKUP_LIMIT:
            return SpfNode(name, via, None, problem="not followed: the tree is too large")
        if name in seen:
            return SpfNode(name, via, None, problem="loop: this domain is already above")
        fetched += 1
        record = await get_spf_record(dns, name)
        node = SpfNode(name, via, record)
        if not record.found:
            node.problem = record.reason or (record.error.value if record.error else None)
            return node
        try:
            policy = record.policy()
        except SpfSyntaxError as exc:
            node.problem = f"permerror: {exc}"
            return node
        targets: list[tuple[str, str]] = []
        for mech in policy.mechanisms:
            node.terms.append(mech.text)
            if mech.kind in DNS_TERMS:
                node.lookups += 1
                if mech.kind == "include" and mech.domain_spec and "%" not in mech.domain_spec:
                    targets.append(("include", mech.domain_spec))
        if policy.redirect is not None:
            node.terms.append(policy.redirect.text)
            node.lookups += 1
            if "%" not in policy.redirect.value:
                targets.append(("redirect", policy.redirect.value))
        total += node.lookups
        for kind, target in targets:
            node.children.append(await visit(target.rstrip(".").lower(), kind, depth + 1,
                                             seen | {name}))
        return node

    top = await visit(domain.to_text(omit_final_dot=True).lower(), "", 0, frozenset())
    return top, total


POLICY_TXT = (("MTA-STS", (b"_mta-sts",)), ("TLS-RPT", (b"_smtp", b"_tls")))


async def _policy_txt(dns: RequestDns, domain: Name, what: str,
                      labels: tuple[bytes, ...]) -> tuple[str, str, Lookup | None]:
    """(what, owner, lookup) of the TXT record at ``<labels>.domain`` (None: too long)."""
    owner = domain
    try:
        for label in reversed(labels):
            owner = owner.prepend(label)
    except NameError_:
        return what, ".".join(x.decode() for x in labels) + f".{domain}", None
    return what, owner.to_text(), await dns.lookup(owner, RRType.TXT)


def txt_texts(lookup: Lookup) -> list[str]:
    """The TXT records of *lookup*, each one's strings joined, non-ASCII escaped."""
    out = []
    for data in lookup.records:
        parts = txt_strings(data)
        text = b"".join(parts) if parts is not None else data
        out.append(text.decode("ascii", "backslashreplace"))
    return out


def _lookups(dns: RequestDns) -> list[LookupRow]:
    rows = []
    for (_, rtype), answer in dns.recorder.answers.items():
        count = sum(len(rrset.rdatas) for rrset in answer.answer if rrset.rtype == rtype)
        rows.append(LookupRow(answer.qname.to_text(), type_to_text(rtype),
                              answer.security.label, rcode_to_text(answer.rcode), count,
                              str(answer.reason or ""), list(answer.ede)))
    return rows


async def domain_report(resolver: Resolver, domain: Name, selectors: list[str],
                        links: list[tuple[str, str]] | None = None) -> DomainReport:
    """Everything the page shows about *domain*. Each part is bounded by the
    resolver's own time limits; a part that fails is named in ``problems``."""
    answer, trace = await resolver.explain(domain, RRType.MX, fresh=True)
    events = list(trace.events)
    blocks = [trace_block(domain, RRType.MX, answer, trace)]
    dns = RequestDns(resolver)
    problems: list[str] = []
    dane: SmtpDaneDecision | None = None
    spf: SpfNode | None = None
    spf_count = 0
    dmarc: DmarcPolicyLookup | None = None
    dkim: list[tuple[str, KeyLookup]] = []
    results = await asyncio.gather(
        smtp_dane(dns, domain), _spf_tree(dns, domain), get_dmarc_policy(dns, domain),
        *(_policy_txt(dns, domain, w, labels) for w, labels in POLICY_TXT),
        *(get_dkim_key(dns, s, domain) for s in selectors), return_exceptions=True)
    policy_txt: list[tuple[str, str, Lookup | None]] = []
    for index, part in enumerate(results):
        if isinstance(part, BaseException):
            if not isinstance(part, Exception):
                raise part
            what = ("DANE", "SPF", "DMARC", *(w for w, _ in POLICY_TXT))[index] \
                if index < 3 + len(POLICY_TXT) else "DKIM"
            problems.append(f"{what}: could not be worked out ({type(part).__name__}: "
                            f"{str(part)[:200]})")
        elif index == 0:
            assert isinstance(part, SmtpDaneDecision)
            dane = part
        elif index == 1:
            assert isinstance(part, tuple)
            spf, spf_count = part
        elif index == 2:
            assert isinstance(part, DmarcPolicyLookup)
            dmarc = part
        elif index < 3 + len(POLICY_TXT):
            assert isinstance(part, tuple)
            policy_txt.append(part)
        else:
            assert isinstance(part, KeyLookup)
            dkim.append((selectors[index - 3 - len(POLICY_TXT)], part))
    # the broken links of the other lookups too: the first few bogus ones traced again
    bogus = [(a.qname, rtype) for (_, rtype), a in dns.recorder.answers.items()
             if a.security == Security.BOGUS and (a.qname, rtype) != (domain, RRType.MX)]
    for qname, rtype in bogus[:EXTRA_TRACES]:
        other, more = await resolver.explain(qname, rtype, fresh=True)
        events.extend(more.events)
        blocks.append(trace_block(qname, rtype, other, more))
    chain = graph.build(events)
    postfix = POSTFIX.get(dane.verdict, "") if dane is not None else ""
    return DomainReport(
        domain=domain, security=answer.security, reason=str(answer.reason or ""),
        rcode=rcode_to_text(answer.rcode), ede=list(answer.ede), chain=chain,
        trace_text="\n\n".join(blocks), dane=dane,
        postfix=postfix, spf=spf, spf_lookups=spf_count, dmarc=dmarc, dkim=dkim,
        lookups=_lookups(dns), problems=problems, extra_links=list(links or []),
        policy_txt=policy_txt,
        overall=min([answer.security, *(a.security for a in dns.recorder.answers.values())]))
