"""SPF result types and record lookup (RFC 7208 s2.6, s4.4-4.5).

The typed, JSON-ready values of the SPF library (:class:`Result`, :class:`SpfRecord`,
:class:`SpfResult`, :class:`SpfStep`, :class:`SpfLimits`) and
:func:`get_spf_record`: the TXT RRset at the domain, the strings of each record joined
with no separator (s3.3), exactly one record starting with "v=spf1" followed by a
space or the end (s4.5). :mod:`resolver.mail.spf` re-exports all of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ..dnssec.status import Security
from ..wire.name import Name
from ..wire.types import Rcode, RRType
from .dnsapi import DnsSource, Lookup
from .spf_macro import SpfSyntaxError, domain_name
from .spf_parse import SpfPolicy, is_spf_record, parse_record

__all__ = [
    "DEFAULT_EXPLANATION",
    "DEFAULT_LIMITS",
    "QUALIFIER_RESULTS",
    "Result",
    "SpfLimits",
    "SpfRecord",
    "SpfResult",
    "SpfStep",
    "get_spf_record",
    "lookup_problem",
    "select_record",
    "txt_strings",
    "type_name",
]


class Result(StrEnum):
    """The results of check_host() (RFC 7208 s2.6)."""

    PASS = "pass"
    FAIL = "fail"
    SOFTFAIL = "softfail"
    NEUTRAL = "neutral"
    NONE = "none"
    PERMERROR = "permerror"
    TEMPERROR = "temperror"


QUALIFIER_RESULTS = {"+": Result.PASS, "-": Result.FAIL, "~": Result.SOFTFAIL,
                     "?": Result.NEUTRAL}

#: The explanation for a fail when the record has no usable ``exp=`` (RFC 7208 s6.2
#: leaves the default to the implementation). An explain-string: macros allowed.
DEFAULT_EXPLANATION = "%{c} is not a permitted sender for %{d} (SPF fail)"


@dataclass(frozen=True, slots=True)
class SpfLimits:
    """The processing limits of RFC 7208 s4.6.4 (defaults as the RFC requires or
    recommends). *time_limit* is the SHOULD on total evaluation time, in seconds
    (None: unbounded); exceeding it gives temperror."""

    dns_terms: int = 10
    void_lookups: int = 2
    mx_names: int = 10
    ptr_names: int = 10
    time_limit: float | None = 20.0


DEFAULT_LIMITS = SpfLimits()


@dataclass(frozen=True, slots=True)
class SpfStep:
    """One step of an evaluation, for the trace: *depth* 0 is the checked domain,
    1 an include or redirect target, and so on."""

    depth: int
    domain: str
    kind: str       # record, term, dns, void, include, redirect, exp, limit, error
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"depth": self.depth, "domain": self.domain, "kind": self.kind,
                "detail": self.detail}


@dataclass(frozen=True, slots=True)
class SpfRecord:
    """The outcome of record lookup and selection (RFC 7208 s4.4-4.5).

    *error* is None when exactly one SPF record was found (its text in *text*);
    otherwise NONE (no domain or no "v=spf1" record), PERMERROR (several records, or
    one that is not 7-bit ASCII: *text* then shows it with backslash escapes) or
    TEMPERROR (a DNS failure or a DNSSEC-bogus answer). *security* is the DNSSEC
    status of the TXT answer."""

    domain: str
    text: str | None
    error: Result | None
    reason: str | None
    security: Security
    ttl: int = 0

    @property
    def found(self) -> bool:
        return self.error is None

    def policy(self) -> SpfPolicy:
        """The parsed record; raises :class:`SpfSyntaxError` (permerror)."""
        if self.text is None or self.error is not None:
            raise SpfSyntaxError(self.reason or "no SPF record")
        return parse_record(self.text)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "domain": self.domain,
            "record": self.text,
            "error": self.error.value if self.error else None,
            "reason": self.reason,
            "security": self.security.label,
            "secure": self.security is Security.SECURE,
            "ttl": self.ttl,
        }
        if self.found:
            try:
                out["parsed"] = self.policy().to_json()
            except SpfSyntaxError as exc:
                out["syntax_error"] = str(exc)
        return out


@dataclass(frozen=True, slots=True)
class SpfResult:
    """The result of :func:`check_host`.

    *mechanism* is the directive that decided (as written, e.g. ``-all`` or
    ``include:_spf.example.net``) in the record of *matched_domain*, None when no
    mechanism matched or on none/errors. *explanation* is set for fail only (RFC 7208
    s6.2). *security* is the weakest DNSSEC status of the DNS answers the result rests
    on (INDETERMINATE when none was needed); *explanation_security* that of the
    answers the explanation came from (None for the default explanation)."""

    result: Result
    domain: str
    sender: str
    ip: str
    helo: str | None
    mechanism: str | None
    matched_domain: str | None
    explanation: str | None
    reason: str | None
    record: str | None
    security: Security
    explanation_security: Security | None
    dns_terms: int
    void_lookups: int
    queries: int
    trace: tuple[SpfStep, ...]

    @property
    def secure(self) -> bool:
        return self.security is Security.SECURE

    def to_json(self) -> dict[str, Any]:
        return {
            "result": self.result.value,
            "domain": self.domain,
            "sender": self.sender,
            "ip": self.ip,
            "helo": self.helo,
            "mechanism": self.mechanism,
            "matched_domain": self.matched_domain,
            "explanation": self.explanation,
            "reason": self.reason,
            "record": self.record,
            "security": self.security.label,
            "secure": self.secure,
            "explanation_security": (self.explanation_security.label
                                     if self.explanation_security is not None else None),
            "lookups": {"dns_terms": self.dns_terms, "void": self.void_lookups,
                        "queries": self.queries},
            "trace": [s.to_json() for s in self.trace],
        }


# --------------------------------------------------------------------------
# record lookup and selection (s4.4, s4.5)

def txt_strings(data: bytes) -> tuple[bytes, ...] | None:
    """The character-strings of TXT RDATA; () for empty RDATA, None if malformed."""
    out: list[bytes] = []
    pos = 0
    while pos < len(data):
        n = data[pos]
        if pos + 1 + n > len(data):
            return None
        out.append(data[pos + 1:pos + 1 + n])
        pos += 1 + n
    return tuple(out)


def type_name(rtype: int) -> str:
    try:
        return RRType(rtype).name
    except ValueError:
        return f"TYPE{rtype}"


def lookup_problem(lk: Lookup) -> str | None:
    """Why *lk* cannot be used (a DNS error, s4.4 / s5, or a bogus answer), or None."""
    what = f"{lk.name.to_text(omit_final_dot=True)} {type_name(lk.rtype)}"
    if lk.security is Security.BOGUS:
        return f"DNSSEC-bogus answer for {what}" + (f": {lk.reason}" if lk.reason else "")
    if lk.error is not None:
        return f"DNS error for {what}: {lk.error}"
    if lk.rcode not in (Rcode.NOERROR, Rcode.NXDOMAIN):
        try:
            rcode = Rcode(lk.rcode).name
        except ValueError:
            rcode = str(lk.rcode)
        return f"DNS error for {what}: rcode {rcode}"
    return None


def select_record(lk: Lookup, domain: str) -> SpfRecord:
    """Apply RFC 7208 s4.4-4.5 to the TXT answer *lk* for *domain*."""
    problem = lookup_problem(lk)
    if problem is not None:
        return SpfRecord(domain, None, Result.TEMPERROR, problem + " (RFC 7208 s4.4)",
                         lk.security, lk.ttl)
    if lk.nxdomain:
        return SpfRecord(domain, None, Result.NONE, "the domain does not exist (RFC 7208 s4.3)",
                         lk.security, lk.ttl)
    found: list[bytes] = []
    for data in lk.records:
        strings = txt_strings(data)
        if strings is None:
            continue
        joined = b"".join(strings)
        if is_spf_record(joined):
            found.append(joined)
    if not found:
        return SpfRecord(domain, None, Result.NONE, "no 'v=spf1' TXT record (RFC 7208 s4.5)",
                         lk.security, lk.ttl)
    if len(found) > 1:
        return SpfRecord(domain, None, Result.PERMERROR,
                         f"{len(found)} 'v=spf1' TXT records (RFC 7208 s4.5)",
                         lk.security, lk.ttl)
    try:
        text = found[0].decode("ascii")
    except UnicodeDecodeError:
        return SpfRecord(domain, found[0].decode("ascii", "backslashreplace"), Result.PERMERROR,
                         "SPF record is not 7-bit ASCII (RFC 7208 s3.1)", lk.security, lk.ttl)
    return SpfRecord(domain, text, None, None, lk.security, lk.ttl)


async def get_spf_record(dns: DnsSource, domain: str | Name) -> SpfRecord:
    """Look up the SPF record of *domain* (RFC 7208 s4.4-4.5): the one TXT record
    whose strings, joined without separator, start with "v=spf1" (case-insensitive)
    followed by a space or the end. None found → error NONE, several → PERMERROR,
    DNS failure or bogus answer → TEMPERROR."""
    if isinstance(domain, Name):
        text = domain.to_text(omit_final_dot=True)
        name: Name | None = domain
    else:
        text = domain[:-1] if domain.endswith(".") else domain
        name = domain_name(text)
    if name is None:
        return SpfRecord(text, None, Result.NONE,
                         "malformed or single-label domain (RFC 7208 s4.3)",
                         Security.INDETERMINATE)
    lk = await dns.lookup(name, RRType.TXT)
    return select_record(lk, text)
