"""Where a service's TLSA RRset is found: the one TLSA discovery of the package.

Both the SMTP decision (:mod:`resolver.mail.dane_smtp`) and the API's TLSA routes look
TLSA records up the same way, so the rules live here once: the owner is
``_port._proto.base`` (RFC 6698 s3); a host that is an alias with a secure CNAME chain
is tried at the CNAME-expanded name first, then at the original name (RFC 7672 s2.2.2,
RFC 7671 s7); a TLSA owner that is itself a CNAME is followed by the resolver, the base
domain staying the same; and a failed or bogus TLSA lookup ends the search (RFC 7672
s2.1.1: such a host must not be used). Callers word their own reasons from the
attempts, since the SMTP verdict and the API explain different things.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cryptography import x509

from ..dnssec.status import Security
from ..wire.name import Name, NameError_
from ..wire.types import RRType
from . import x509util as xu
from .dane_match import ALL_USAGES, DaneMatch, match_chain
from .dnsapi import DnsSource, Lookup


def tlsa_owner(base: Name, port: int, proto: str = "tcp") -> Name:
    """``_port._proto.base`` (RFC 6698 s3); raises NameError_ past 255 octets."""
    return base.prepend(f"_{proto}".encode("ascii")).prepend(f"_{port}".encode("ascii"))


def tlsa_bases(host: Name, expanded: Name | None) -> list[Name]:
    """The TLSA base domains to try, in order: the CNAME-expanded name first, then the
    original (RFC 7672 s2.2.2). *expanded* must come from a secure CNAME chain."""
    return [expanded, host] if expanded is not None and expanded != host else [host]


@dataclass(frozen=True, slots=True)
class TlsaAttempt:
    """One base domain tried. *owner* and *lookup* are None when ``_port._proto.base``
    would exceed 255 octets: no TLSA RRset can exist there, so nothing is asked."""

    base: Name
    owner: Name | None
    lookup: Lookup | None


async def tlsa_attempts(dns: DnsSource, bases: Sequence[Name], port: int,
                        proto: str = "tcp") -> list[TlsaAttempt]:
    """Look the TLSA RRset up at each base in turn, stopping after a failed lookup (the
    host must not be used) or a secure RRset with records (the one DANE uses); an
    insecure or securely absent RRset moves on to the next base."""
    out: list[TlsaAttempt] = []
    for base in bases:
        try:
            owner = tlsa_owner(base, port, proto)
        except NameError_:
            out.append(TlsaAttempt(base, None, None))
            continue
        lookup = await dns.lookup(owner, RRType.TLSA)
        out.append(TlsaAttempt(base, owner, lookup))
        if lookup.failed or (lookup.security is Security.SECURE and lookup.records):
            break
    return out


@dataclass(slots=True)
class TlsaFound:
    """The TLSA RRset of a (host, port, proto) service: the last lookup made, at *owner*
    under the TLSA base domain *base*, with every lookup and a note on each step."""

    owner: Name
    base: Name
    lookup: Lookup
    expanded: Name | None
    notes: list[str] = field(default_factory=list)
    lookups: list[Lookup] = field(default_factory=list)

    @property
    def unusable(self) -> str | None:
        """Why there is nothing to match a chain against -- ``lookup-failed``,
        ``not-secure`` or ``no-tlsa`` -- or None for a secure RRset with records: only
        those authenticate anything (RFC 6698 s4.1, RFC 7672 s2.1.1)."""
        if self.lookup.failed:
            return "lookup-failed"
        if self.lookup.security is not Security.SECURE:
            return "not-secure"
        if not self.lookup.records:
            return "no-tlsa"
        return None

    def reference_names(self, host: Name, extra: Sequence[Name] = ()) -> list[Name]:
        """The names the server certificate may carry: the TLSA base domain first, then
        the host as asked and any *extra* names, without repeats (RFC 7672 s3.2.2)."""
        refs = [self.base]
        for name in (host, *extra):
            if name not in refs:
                refs.append(name)
        return refs

    def match(self, chain: Sequence[x509.Certificate], refs: Sequence[Name], *,
              trust_store: xu.TrustStore | None = None, check_names: bool = True,
              usages: Iterable[int] = ALL_USAGES,
              now: datetime.datetime | None = None) -> DaneMatch:
        """:func:`~resolver.mail.dane_match.match_chain` over the RRset; only when
        :attr:`unusable` is None. Raises what match_chain raises for an unusable chain."""
        if self.unusable is not None:
            raise ValueError(f"TLSA RRset at {self.owner}: {self.unusable}")
        return match_chain(self.lookup.records, chain, list(refs), trust_store=trust_store,
                           now=now, check_names=check_names, usages=usages)


async def find_tlsa(dns: DnsSource, host: Name, port: int, proto: str) -> TlsaFound | None:
    """The TLSA RRset for (host, port, proto), for a caller that has not resolved the
    host's addresses already: an A lookup tells whether the host is an alias. None when
    every owner name would exceed 255 octets."""
    notes: list[str] = []
    address = await dns.lookup(host, RRType.A)
    lookups = [address]
    expanded: Name | None = None
    if address.cnames:
        if address.ok and address.security is Security.SECURE:
            expanded = address.final_name
            notes.append(f"{host} is an alias of {expanded} (secure CNAME chain): TLSA at the "
                         "expanded name first, then the original (RFC 7672 s2.2.2)")
        else:
            notes.append(f"{host} is an alias, but the CNAME chain is "
                         f"{address.security.label}: TLSA at the original name only "
                         "(RFC 7672 s2.2.2)")
    found: TlsaFound | None = None
    for attempt in await tlsa_attempts(dns, tlsa_bases(host, expanded), port, proto):
        base, owner = attempt.base, attempt.owner
        if owner is None or attempt.lookup is None:
            notes.append(f"_{port}._{proto}.{base} would exceed 255 octets")
            continue
        lookup = attempt.lookup
        lookups.append(lookup)
        found = TlsaFound(owner, base, lookup, expanded, notes, lookups)
        if lookup.cnames:
            notes.append(f"TLSA owner {owner} is an alias of {lookup.final_name}; the TLSA "
                         f"base domain stays {base} (RFC 7671 s7)")
        if lookup.failed:
            notes.append(f"TLSA lookup at {owner} failed ({lookup.security.label}): the host "
                         "must not be used, not even in cleartext (RFC 7672 s2.1.1)")
        elif lookup.security is not Security.SECURE:
            notes.append(f"TLSA RRset at {owner} is {lookup.security.label}: DANE does not "
                         "apply (RFC 6698 s4.1)")
        elif not lookup.records:
            notes.append(f"TLSA RRset at {owner} is securely absent")
    return found
