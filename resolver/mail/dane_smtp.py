"""The SMTP DANE decision (RFC 7672): what an SMTP client must do for a next-hop domain.

:func:`smtp_dane` takes the MX RRset, each host's addresses and TLSA RRset, each with
its DNSSEC status, and summarises them as ``dane`` / ``encrypt`` / ``may`` /
``skip-host`` per host and ``dane`` / ``encrypt`` / ``may`` / ``defer`` / ``no-mail``
for the domain (:class:`SmtpDaneDecision`). Certificate matching is
:mod:`resolver.mail.dane_match`; where a host's TLSA RRset is looked up is
:mod:`resolver.mail.tlsa_lookup`, shared with the API's TLSA routes.
"""

from __future__ import annotations

import asyncio
import datetime
import enum
import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509

from ..dnssec.status import Security
from ..wire import rdata as rd
from ..wire.name import Name, NameError_
from ..wire.types import RRType
from .dane_match import SMTP_USAGES, DaneMatch, Json, TlsaSet, classify_tlsa, match_chain
from .dnsapi import DnsSource, Lookup, LookupInfo
from .tlsa_lookup import tlsa_attempts, tlsa_bases

log = logging.getLogger(__name__)


class HostVerdict(enum.StrEnum):
    """What to do with one MX host (RFC 7672 s2.1, s2.2)."""

    DANE = "dane"            # authenticate with the usable TLSA records; TLS mandatory
    ENCRYPT = "encrypt"      # TLS mandatory, unauthenticated (no usable TLSA record)
    MAY = "may"              # no DANE: opportunistic TLS
    SKIP_HOST = "skip-host"  # DNS failure or no address: try the next MX, never cleartext


class DomainVerdict(enum.StrEnum):
    """The next-hop domain summarised (see :func:`smtp_dane`)."""

    DANE = "dane"
    ENCRYPT = "encrypt"
    MAY = "may"
    DEFER = "defer"
    NO_MAIL = "no-mail"


@dataclass(frozen=True, slots=True)
class HostDecision:
    """The RFC 7672 verdict for one MX host, with every lookup it rests on.

    *security* is the weakest status among the lookups that decided the verdict (the MX
    RRset, the address RRsets and the TLSA RRset used). For ``dane`` hosts,
    *reference_names* are the names the certificate must match under DANE-TA
    (RFC 7672 s3.2.2) and *sni* is the TLSA base domain (RFC 7672 s8.1).
    """

    host: Name
    preference: int
    verdict: HostVerdict
    security: Security
    reasons: tuple[str, ...]
    addresses: tuple[str, ...] = ()
    address_security: Security = Security.INDETERMINATE
    expanded_name: Name | None = None
    tlsa_name: Name | None = None
    tlsa_base_domain: Name | None = None
    tlsa_security: Security | None = None
    tlsa: TlsaSet | None = None
    reference_names: tuple[Name, ...] = ()
    lookups: tuple[LookupInfo, ...] = ()

    @property
    def sni(self) -> Name | None:
        return self.tlsa_base_domain if self.verdict is HostVerdict.DANE else None

    def match(self, chain: Sequence[x509.Certificate], *,
              now: datetime.datetime | None = None) -> DaneMatch:
        """Authenticate a server chain for a ``dane`` host (RFC 7672 s3)."""
        if self.verdict is not HostVerdict.DANE or self.tlsa is None:
            raise ValueError(f"host {self.host} has verdict {self.verdict.value}, not dane")
        return match_chain(self.tlsa.usable, chain, list(self.reference_names), now=now,
                           usages=SMTP_USAGES)

    def to_json(self) -> Json:
        out: Json = {"host": self.host.to_text(), "preference": self.preference,
                     "verdict": self.verdict.value, "security": self.security.label,
                     "reasons": list(self.reasons), "addresses": list(self.addresses),
                     "address_security": self.address_security.label}
        if self.expanded_name is not None:
            out["expanded_name"] = self.expanded_name.to_text()
        if self.tlsa_name is not None:
            out["tlsa_name"] = self.tlsa_name.to_text()
        if self.tlsa_base_domain is not None:
            out["tlsa_base_domain"] = self.tlsa_base_domain.to_text()
        if self.tlsa_security is not None:
            out["tlsa_security"] = self.tlsa_security.label
        if self.tlsa is not None:
            out["tlsa"] = self.tlsa.to_json()
        if self.reference_names:
            out["reference_names"] = [n.to_text() for n in self.reference_names]
        if self.sni is not None:
            out["sni"] = self.sni.to_text(omit_final_dot=True)
        out["lookups"] = [lk.to_json() for lk in self.lookups]
        return out


@dataclass(frozen=True, slots=True)
class SmtpDaneDecision:
    """What an SMTP client must do for a next-hop domain (RFC 7672 s2).

    *mx* is ``explicit``, ``implicit`` (no MX RRset: the domain itself, RFC 5321 s5.1),
    ``null`` (RFC 7505) or ``failed``. *security* is the MX lookup's status.
    """

    domain: Name
    port: int
    verdict: DomainVerdict
    security: Security
    reasons: tuple[str, ...]
    mx: str
    mx_lookup: LookupInfo
    hosts: tuple[HostDecision, ...] = ()

    def counts(self) -> dict[str, int]:
        out = {v.value: 0 for v in HostVerdict}
        for host in self.hosts:
            out[host.verdict.value] += 1
        return out

    def to_json(self) -> Json:
        return {"domain": self.domain.to_text(), "port": self.port,
                "verdict": self.verdict.value, "security": self.security.label,
                "reasons": list(self.reasons), "mx": self.mx,
                "mx_lookup": self.mx_lookup.to_json(),
                "hosts": [h.to_json() for h in self.hosts], "counts": self.counts()}


def _addresses(lookup: Lookup) -> list[str]:
    out: list[str] = []
    for data in lookup.records:
        if lookup.rtype == RRType.A and len(data) == 4:
            out.append(str(ipaddress.IPv4Address(data)))
        elif lookup.rtype == RRType.AAAA and len(data) == 16:
            out.append(str(ipaddress.IPv6Address(data)))
    return out


@dataclass(slots=True)
class _HostWork:
    """Mutable scratch for one host while its lookups run."""

    host: Name
    preference: int
    reasons: list[str] = field(default_factory=list)
    lookups: list[LookupInfo] = field(default_factory=list)
    definite_no_address: bool = False


async def _host_decision(dns: DnsSource, domain: Name, host: Name, preference: int,
                         mx_security: Security, port: int) -> tuple[HostDecision, bool]:
    """One MX host (RFC 7672 s2.2). Returns the decision and whether it has definitely
    no address (for the domain's ``no-mail`` verdict)."""
    work = _HostWork(host, preference)
    family_lookups = list(await asyncio.gather(dns.lookup(host, RRType.A),
                                               dns.lookup(host, RRType.AAAA)))
    addresses: list[str] = []
    answered: list[Lookup] = []
    failed_families = False
    for lk in family_lookups:
        work.lookups.append(LookupInfo(lk))
        if lk.failed:
            failed_families = True
            work.reasons.append(f"address lookup failed: {lk.summary()}")
            continue
        answered.append(lk)
        addresses.extend(_addresses(lk))
    addr_security = min((lk.security for lk in answered), default=Security.INDETERMINATE)
    expanded: Name | None = None
    for lk in answered:
        if lk.cnames:
            expanded = lk.final_name
            break

    def done(verdict: HostVerdict, security: Security, *, tlsa_name: Name | None = None,
             tlsa_base_domain: Name | None = None, tlsa_security: Security | None = None,
             tlsa: TlsaSet | None = None, refs: Sequence[Name] = ()) -> HostDecision:
        return HostDecision(host, preference, verdict, security, tuple(work.reasons),
                            tuple(addresses), addr_security, expanded, tlsa_name,
                            tlsa_base_domain, tlsa_security, tlsa, tuple(refs),
                            tuple(work.lookups))

    if not addresses:
        if failed_families:
            work.reasons.append("no usable address lookup: try the next MX host "
                                "(RFC 7672 s2.1.1)")
            security = min(lk.security for lk in family_lookups)
            return done(HostVerdict.SKIP_HOST, security), False
        work.reasons.append("host has no A or AAAA records (RFC 5321 s5.1)")
        return done(HostVerdict.SKIP_HOST, addr_security), True

    if mx_security is not Security.SECURE:
        work.reasons.append("MX RRset not secure: no DANE for this destination, "
                            "opportunistic TLS (RFC 7672 s2.2)")
        return done(HostVerdict.MAY, min(mx_security, addr_security)), False
    if addr_security is not Security.SECURE:
        work.reasons.append("address records not secure: no TLSA lookup, "
                            "opportunistic TLS (RFC 7672 s2.2)")
        return done(HostVerdict.MAY, addr_security), False

    weakest = Security.SECURE
    last_owner: Name | None = None
    for attempt in await tlsa_attempts(dns, tlsa_bases(host, expanded), port):
        base, owner = attempt.base, attempt.owner
        if owner is None or attempt.lookup is None:
            work.reasons.append(f"_{port}._tcp.{base} would exceed 255 octets: no TLSA RRset "
                                "can exist there")
            continue
        lk = attempt.lookup
        last_owner = owner
        work.lookups.append(LookupInfo(lk))
        if lk.failed:
            work.reasons.append(f"TLSA lookup failed: {lk.summary()}; the host must not be "
                                "used, not even in cleartext (RFC 7672 s2.1.1)")
            return done(HostVerdict.SKIP_HOST, lk.security, tlsa_name=owner,
                        tlsa_security=lk.security), False
        weakest = min(weakest, lk.security)
        if lk.security is not Security.SECURE:
            work.reasons.append(f"TLSA RRset at {owner} not secure (RFC 7672 s2.2)")
            continue
        if not lk.records:
            work.reasons.append(f"TLSA RRset at {owner} securely absent "
                                f"({'NXDOMAIN' if lk.nxdomain else 'NODATA'})")
            continue
        if lk.cnames:
            work.reasons.append(f"TLSA RRset reached through CNAME {lk.final_name}; "
                                f"the TLSA base domain stays {base} (RFC 7671 s7)")
        tset = classify_tlsa(lk.records, usages=SMTP_USAGES)
        refs = [base]
        if host != base:
            refs.append(host)
        if domain not in refs:
            refs.append(domain)
        if tset.usable:
            work.reasons.append(f"secure TLSA RRset at {owner} with {len(tset.usable)} usable "
                                "record(s): authenticated TLS required (RFC 7672 s2.2)")
            return done(HostVerdict.DANE, Security.SECURE, tlsa_name=owner,
                        tlsa_base_domain=base, tlsa_security=lk.security, tlsa=tset,
                        refs=refs), False
        work.reasons.append(f"secure TLSA RRset at {owner} has no usable record: TLS "
                            "required, unauthenticated (RFC 7672 s2.2, s3.1.3)")
        return done(HostVerdict.ENCRYPT, Security.SECURE, tlsa_name=owner,
                    tlsa_base_domain=base, tlsa_security=lk.security, tlsa=tset), False
    work.reasons.append("no secure TLSA RRset: opportunistic TLS (RFC 7672 s2.2)")
    return done(HostVerdict.MAY, weakest, tlsa_name=last_owner,
                tlsa_security=weakest if last_owner is not None else None), False


def _mx_hosts(lookup: Lookup, reasons: list[str]) -> list[tuple[int, Name]] | None:
    """Hosts by preference (stable among equals; RFC 5321 s5.1 allows any order there).
    None when the RDATA cannot be read."""
    entries: list[tuple[int, Name]] = []
    for data in lookup.records:
        try:
            mx = rd.decode(RRType.MX, data)
        except (rd.RdataError, NameError_, ValueError) as exc:
            reasons.append(f"malformed MX RDATA: {exc}")
            return None
        assert isinstance(mx, rd.MX)
        entries.append((mx.preference, mx.exchange))
    entries.sort(key=lambda e: e[0])
    seen: set[Name] = set()
    out: list[tuple[int, Name]] = []
    for pref, host in entries:
        if host in seen:
            continue
        seen.add(host)
        out.append((pref, host))
    return out


async def smtp_dane(dns: DnsSource, domain: Name | str, port: int = 25) -> SmtpDaneDecision:
    """The RFC 7672 decision for delivering to *domain* on *port*.

    1. MX lookup (RFC 7672 s2.2.1). Failed, bogus or indeterminate: ``defer`` (never
       downgrade). NXDOMAIN/NODATA: the implicit MX is the domain itself with the
       denial's status (RFC 5321 s5.1). A lone ``0 .`` is a null MX: ``no-mail``
       (RFC 7505); ``.`` beside other hosts is dropped. Hosts are taken in preference
       order, equal preferences in RRset order.
    2. Per host: A and AAAA. DANE needs a secure MX RRset and secure addresses; a
       CNAME'd host (secure chain) gets its TLSA at the expanded name first, then the
       original name (RFC 7672 s2.2.2); a TLSA CNAME is followed as validated, the base
       domain unchanged (RFC 7671 s7). Host verdicts: see :class:`HostVerdict`.
    3. The domain verdict: hosts marked ``skip-host`` are left out; if none remains it is
       ``no-mail`` when every host definitely has no address, else ``defer``. Otherwise
       it is the weakest verdict among the remaining hosts (``dane`` > ``encrypt`` >
       ``may``): the client falls through to any reachable MX host when others fail, so
       an attacker who blocks the strong ones gets the weakest (RFC 7672 s2.2.1, s2.3).
    """
    if isinstance(domain, str):
        domain = Name.from_text(domain)
    mx_lookup = await dns.lookup(domain, RRType.MX)
    info = LookupInfo(mx_lookup)
    reasons: list[str] = [mx_lookup.summary()]
    if mx_lookup.failed:
        reasons.append("MX lookup failed or bogus: defer, do not downgrade (RFC 7672 s2.1.1)")
        return SmtpDaneDecision(domain, port, DomainVerdict.DEFER, mx_lookup.security,
                                tuple(reasons), "failed", info)
    mx_security = mx_lookup.security
    kind = "explicit"
    hosts: list[tuple[int, Name]]
    if not mx_lookup.records:
        kind = "implicit"
        hosts = [(0, domain)]
        reasons.append("no MX RRset: the domain itself is the implicit MX (RFC 5321 s5.1)")
    else:
        parsed = _mx_hosts(mx_lookup, reasons)
        if parsed is None:
            return SmtpDaneDecision(domain, port, DomainVerdict.DEFER, mx_security,
                                    tuple(reasons), "failed", info)
        real = [(p, h) for p, h in parsed if not h.is_root()]
        if not real:
            reasons.append("null MX: the domain accepts no mail (RFC 7505 s3)")
            return SmtpDaneDecision(domain, port, DomainVerdict.NO_MAIL, mx_security,
                                    tuple(reasons), "null", info)
        if len(real) != len(parsed):
            reasons.append("'.' MX beside other MX hosts ignored (RFC 7505 s3)")
        hosts = real
    results = await asyncio.gather(*(_host_decision(dns, domain, host, pref, mx_security, port)
                                     for pref, host in hosts))
    decisions = [decision for decision, _ in results]
    all_no_address = all(no_address for _, no_address in results)
    reachable = [d for d in decisions if d.verdict is not HostVerdict.SKIP_HOST]
    if not reachable:
        if all_no_address:
            verdict = DomainVerdict.NO_MAIL
            reasons.append("no MX host has an address (RFC 5321 s5.1)")
        else:
            verdict = DomainVerdict.DEFER
            reasons.append("every MX host must be skipped: defer (RFC 7672 s2.1.1)")
    else:
        order = [HostVerdict.MAY, HostVerdict.ENCRYPT, HostVerdict.DANE]
        weakest = min((d.verdict for d in reachable), key=order.index)
        verdict = DomainVerdict(weakest.value)
        if len({d.verdict for d in reachable}) > 1:
            reasons.append(f"MX hosts differ; the weakest usable host decides: {weakest.value}")
        else:
            reasons.append(f"every usable MX host: {weakest.value}")
    log.debug("SMTP DANE for %s port %d: %s (%s)", domain, port, verdict.value,
              ", ".join(f"{d.host}={d.verdict.value}" for d in decisions))
    return SmtpDaneDecision(domain, port, verdict, mx_security, tuple(reasons), kind, info,
                            tuple(decisions))
