"""Security status and the catalogue of reasons (RFC 4035 s4.3, RFC 8914).

A DNSSEC outcome is a value, never an exception: a :class:`Security` level plus,
when it is not secure, a :class:`Reason` naming the :class:`Problem`, its RFC and the
Extended DNS Error code a server sends for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum


class Security(IntEnum):
    """Ordered so that ``min()`` of the parts of an answer is the answer's status."""

    BOGUS = 0
    INDETERMINATE = 1
    INSECURE = 2
    SECURE = 3

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS: dict[int, str] = {s: s.name.lower() for s in Security}   # hot: every answer


class Problem(Enum):
    """Why data is not secure. Value: (EDE info-code or None, RFC reference, text)."""

    # bogus
    SIG_EXPIRED = (7, "RFC 4035 s5.3.1", "signature expired")
    SIG_NOT_YET_VALID = (8, "RFC 4035 s5.3.1", "signature not yet valid")
    SIG_EXPIRED_BEFORE_VALID = (25, "RFC 4035 s5.3.1", "signature expires before it is valid")
    SIG_INVALID = (6, "RFC 4035 s5.3.3", "signature does not verify")
    SIG_MISSING = (10, "RFC 4035 s5.3", "no RRSIG covers the RRset")
    SIG_SIGNER_MISMATCH = (6, "RFC 4035 s5.3.1", "RRSIG signer is not the zone of the owner")
    SIG_LABELS_MISMATCH = (6, "RFC 4035 s5.3.1", "RRSIG labels field does not fit the owner")
    SIG_TTL_MISMATCH = (6, "RFC 4035 s5.3.1", "RRSIG fields do not match the RRset")
    SIG_NO_KEY = (9, "RFC 4035 s5.3.1", "no DNSKEY matches the RRSIG key tag and algorithm")
    SIG_ALGORITHM_UNUSABLE = (10, "RFC 6840 s5.2", "no valid RRSIG by the zone's keys")
    KEY_NOT_ZONE_KEY = (11, "RFC 4035 s5.3.1", "DNSKEY lacks the zone key bit")
    KEY_REVOKED = (6, "RFC 5011 s2.1", "DNSKEY is revoked")
    DNSKEY_MISSING = (9, "RFC 4035 s5.2", "no DNSKEY matches the DS or trust anchor")
    DNSKEY_NOT_SELF_SIGNED = (6, "RFC 4035 s5.2", "DNSKEY set is not signed by a key the DS names")
    DS_MISMATCH = (6, "RFC 4035 s5.2", "DS digest does not match any DNSKEY")
    NSEC_MISSING = (12, "RFC 4035 s5.4", "denial of existence not proven")
    NSEC_BAD_PROOF = (6, "RFC 4035 s5.4", "NSEC/NSEC3 records do not prove the denial")
    WILDCARD_UNPROVEN = (12, "RFC 4035 s5.3.4", "wildcard answer without proof of no exact match")
    BUDGET_EXCEEDED = (6, "SECURITY.md s1", "validation work limit reached")
    TOO_MANY_NSEC3 = (27, "SECURITY.md s1", "too many NSEC3 records")
    CHAIN_BROKEN = (6, "RFC 4035 s5", "chain of trust broken")
    # insecure (not bogus) - but only from a zone's DS/anchor set (the key entry); an
    # RRSIG with an unsupported algorithm in a secure zone is no signature (bogus)
    UNSUPPORTED_ALGORITHM = (1, "RFC 4035 s5.2", "unsupported DNSKEY algorithm")
    UNSUPPORTED_DIGEST = (2, "RFC 4035 s5.2", "unsupported DS digest type")
    NSEC3_ITERATIONS = (27, "RFC 9276 s3.2", "NSEC3 iterations above the limit")
    NO_DS = (None, "RFC 4035 s5.2", "delegation proven to have no DS")
    OPT_OUT = (None, "RFC 5155 s6", "covered by an opt-out NSEC3 span")
    NEGATIVE_ANCHOR = (33, "RFC 7646", "negative trust anchor")
    NO_ANCHOR = (None, "RFC 4035 s4.3", "no trust anchor above the name")
    # indeterminate
    INDETERMINATE = (5, "RFC 4035 s4.3", "security could not be determined")

    @property
    def ede(self) -> int | None:
        code: int | None = self.value[0]
        return code

    @property
    def rfc(self) -> str:
        ref: str = self.value[1]
        return ref

    @property
    def text(self) -> str:
        text: str = self.value[2]
        return text


@dataclass(frozen=True, slots=True)
class Reason:
    problem: Problem
    detail: str = ""

    @property
    def ede(self) -> int | None:
        return self.problem.ede

    def __str__(self) -> str:
        return f"{self.problem.text}: {self.detail}" if self.detail else self.problem.text


@dataclass(frozen=True, slots=True)
class Verdict:
    """A security level with the reason when it is not SECURE."""

    security: Security
    reason: Reason | None = None

    @classmethod
    def secure(cls) -> Verdict:
        return _SECURE if cls is Verdict else cls(Security.SECURE)

    @classmethod
    def bogus(cls, problem: Problem, detail: str = "") -> Verdict:
        return cls(Security.BOGUS, Reason(problem, detail))

    @classmethod
    def insecure(cls, problem: Problem, detail: str = "") -> Verdict:
        return cls(Security.INSECURE, Reason(problem, detail))

    @property
    def ok(self) -> bool:
        return self.security == Security.SECURE

    def __str__(self) -> str:
        return self.security.label + (f" ({self.reason})" if self.reason else "")


_SECURE = Verdict(Security.SECURE)   # immutable: one for every secure RRset


def weakest(verdicts: list[Verdict]) -> Verdict:
    """The verdict of an answer made of parts: the least secure part wins."""
    if not verdicts:
        return Verdict(Security.INDETERMINATE, Reason(Problem.INDETERMINATE, "nothing to judge"))
    return min(verdicts, key=lambda v: v.security)
