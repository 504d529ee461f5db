"""What the resolver service returns for one question, whatever produced it
(cache, iteration, local zones), with its DNSSEC verdict."""

from __future__ import annotations

from dataclasses import dataclass, field

from .dnssec.status import Reason, Security
from .wire.message import RR
from .wire.name import Name
from .wire.rrset import RRset
from .wire.types import Rcode


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
