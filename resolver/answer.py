"""Answers: what the resolver service returns for one question, whatever produced it
(cache, iteration, local zones), with its DNSSEC verdict (:class:`Answer`), and the
response a client gets for it (:func:`build_response`, RFC 4035 s3.2, RFC 6840
s5.7-5.9, RFC 8914); and what the iterator hands the validator, before any verdict
(:class:`IterResult`).

The iterator and the validator are siblings that never import each other; both use
:class:`IterResult` from here, and the service composes them. The DNS server and the
API's DNS-over-HTTPS route both build responses here: part of the service's public
surface, as :class:`Answer` is."""

from __future__ import annotations

from dataclasses import dataclass, field

from .dnssec.status import Reason, Security, Verdict
from .wire import message as wm
from .wire.message import RR, Message
from .wire.name import Name
from .wire.rrset import RRset
from .wire.types import AA, AD, RA, Rcode, RRType

MAX_EDE_TEXT = 200


@dataclass(slots=True)
class Answer:
    """A resolved answer. Sections hold RRsets with their RRSIGs attached; whether
    RRSIGs and NSECs reach the client is decided when the response is built (DO bit).

    *security* is the weakest status of everything the answer rests on; *reason*
    explains a status below SECURE; *ede* are the Extended DNS Errors to send
    (RFC 8914), as (info-code, extra-text) pairs.
    """

    qname: Name
    qtype: int
    qclass: int = 1
    rcode: int = Rcode.NOERROR
    answer: list[RRset] = field(default_factory=list)
    authority: list[RRset] = field(default_factory=list)
    additional: list[RRset] = field(default_factory=list)
    security: Security = Security.INDETERMINATE
    reason: Reason | None = None
    ede: list[tuple[int, str]] = field(default_factory=list)
    ttl: int = 0                 # how long this answer may be cached
    from_cache: bool = False
    aa: bool = False             # set only for locally served zones
    drop: bool = False           # no reply at all (a local zone of type deny)

    @property
    def secure(self) -> bool:
        return self.security == Security.SECURE

    def records(self, section: list[RRset], dnssec: bool) -> list[RR]:
        """The records of *section*; RRSIGs (and NSEC/NSEC3 in negative and wildcard
        answers) only when *dnssec* (the client set DO)."""
        out: list[RR] = []
        for rrset in section:
            if not dnssec and rrset.rtype in (47, 50):  # NSEC, NSEC3
                continue
            out.extend(rrset.records())
            if dnssec:
                out.extend(rrset.sig_records())
        return out

    def final_rrset(self) -> RRset | None:
        """The RRset of the question's type at the end of the CNAME chain, if any. Only
        the last RRset can be: for a question of type DNAME the chain's own DNAMEs come
        before it, and a chain that ends in a NODATA has none (RFC 6672 s2.3)."""
        last = self.answer[-1] if self.answer else None
        return last if last is not None and last.rtype == self.qtype else None

    def cname_chain(self) -> list[Name]:
        """CNAME targets followed, in order (DNAME-synthesised CNAMEs included)."""
        out = []
        for rrset in self.answer:
            if rrset.rtype == 5 and rrset.rdatas:
                out.append(Name(rrset.rdatas[0]))
        return out


def build_response(query: Message, answer: Answer, *, max_size: int | None,
                   ttl_offsets: list[int] | None = None) -> bytes:
    """The response to *query* carrying *answer*. AD is set only when the whole answer
    is secure and the query had DO or AD. RRSIGs, and the NSEC/NSEC3 records of
    negative and wildcard answers, go out only with DO. CD answers carry the data even
    when it is bogus (the service decides that). EDE options are added when the query
    had EDNS. *max_size* truncates (TC); *ttl_offsets* receives where the TTL fields
    are (for the wire answer cache)."""
    resp = wm.make_response(query)
    dnssec = query.do
    resp.set_flag(RA)
    if answer.aa:
        resp.set_flag(AA)
    # a YXDOMAIN is an answer too: the DNAME whose substitution overflowed (RFC 6672 s2.2)
    if (answer.security == Security.SECURE and (dnssec or query.flags & AD)
            and answer.rcode in (Rcode.NOERROR, Rcode.NXDOMAIN, Rcode.YXDOMAIN)):
        resp.set_flag(AD)
    resp.set_rcode(answer.rcode)
    resp.answer = answer.records(answer.answer, dnssec)
    resp.authority = answer.records(answer.authority, dnssec)
    resp.additional = answer.records(answer.additional, dnssec)
    if resp.edns is not None:
        for code, text in answer.ede[:3]:
            resp.edns.options.append(wm.ede_option(code, text[:MAX_EDE_TEXT]))
    return resp.to_wire(max_size, ttl_offsets)


def error_response(query: Message, rcode: int, ede: tuple[int, str] | None = None) -> bytes:
    """An empty response to *query* with *rcode* (and one EDE, when it had EDNS)."""
    resp = wm.make_response(query, rcode)
    resp.set_flag(RA)
    if ede is not None and resp.edns is not None:
        resp.edns.options.append(wm.ede_option(*ede))
    return resp.to_wire()


@dataclass(slots=True)
class IterResult:
    """An unvalidated answer: the RRsets (RRSIGs attached) and where they came from."""

    rcode: int = Rcode.NOERROR
    answer: list[RRset] = field(default_factory=list)
    zones: list[Name | None] = field(default_factory=list)   # parallel to answer
    soa: RRset | None = None
    proofs: list[RRset] = field(default_factory=list)        # NSEC/NSEC3 (negative/wildcard)
    neg_zone: Name | None = None
    from_cache: bool = True
    ede: list[tuple[int, str]] = field(default_factory=list)
    verdicts: list[Verdict | None] = field(default_factory=list)  # cached, parallel to answer
    neg_verdict: Verdict | None = None                            # cached verdict of a denial
    # the server address each answer RRset came from (None: the cache), and the denial's
    servers: list[str | None] = field(default_factory=list)
    neg_server: str | None = None

    def add(self, rrset: RRset, zone: Name | None, verdict: Verdict | None = None,
            server: str | None = None) -> None:
        # a chain may pass the same DNAME twice (a CNAME leading back below it): the
        # answer carries that RRset once (each synthesized CNAME still follows); any
        # other RRset met again would be a loop, which Iterator.resolve stops
        if rrset.rtype == RRType.DNAME and any(
                rs.rtype == RRType.DNAME and rs.name == rrset.name for rs in self.answer):
            return
        self.answer.append(rrset)
        self.zones.append(zone)
        self.verdicts.append(verdict)
        self.servers.append(server)
