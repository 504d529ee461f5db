"""SMIMEA (RFC 8162) and OPENPGPKEY (RFC 7929): owner names, lookups, certificate checks.

Owner name (RFC 7929 s3, RFC 8162 s3): the local part of the address, as given, in
UTF-8 -- no case folding, no normalisation -- hashed with SHA-256 and truncated to 28
octets, as 56 lowercase hex digits; then ``_openpgpkey`` or ``_smimecert``; then the
domain. The domain is an ordinary DNS name: non-ASCII labels become A-labels
(IDNA2008-style, see :func:`resolver.mail.x509util.domain_to_ascii`), ASCII is
lowercased (DNS names compare case-insensitively anyway).

Both RFCs are Experimental and both require DNSSEC: a record that is not secure is
reported but marked ``untrusted`` (RFC 7929 s7, RFC 8162 s9).
"""

from __future__ import annotations

import base64
import datetime
import enum
import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cryptography import x509

from ..dnssec.status import Security
from ..wire.name import Name, NameError_
from ..wire.types import RRType
from . import x509util as xu
from .dane_match import (
    ALL_USAGES,
    DaneMatch,
    Json,
    TlsaInput,
    TlsaSet,
    classify_tlsa,
    evaluate,
)
from .dnsapi import DnsSource, Lookup, LookupInfo

log = logging.getLogger(__name__)

SMIMEA_LABEL = b"_smimecert"
OPENPGPKEY_LABEL = b"_openpgpkey"


class EmailAddressError(ValueError):
    """An address that has no SMIMEA/OPENPGPKEY owner name: no ``@``, an empty local part,
    a control character in it, or a domain that is not a DNS host name."""


def split_address(email: str) -> tuple[str, str]:
    """(local part as given, domain as lowercase A-labels). The split is at the last
    ``@``, so a quoted local part may contain ``@`` (RFC 5321 s4.1.2)."""
    if not isinstance(email, str):
        raise EmailAddressError("address must be text")
    local, sep, domain = email.rpartition("@")
    if not sep:
        raise EmailAddressError(f"no '@' in address {email!r}")
    if not local:
        raise EmailAddressError(f"empty local part in address {email!r}")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in local):
        raise EmailAddressError(f"control character in the local part of {email!r}")
    if domain.startswith("["):
        raise EmailAddressError(f"address literal {domain!r} has no DNS owner name")
    try:
        return local, xu.domain_to_ascii(domain)
    except xu.DomainError as exc:
        raise EmailAddressError(f"bad domain in address {email!r}: {exc}") from exc


def local_part_label(local: str) -> bytes:
    """hex(SHA-256(UTF-8 local part))[:56] (RFC 7929 s3, RFC 8162 s3)."""
    try:
        data = local.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates
        raise EmailAddressError(f"local part is not valid Unicode: {exc}") from exc
    return hashlib.sha256(data).digest()[:28].hex().encode("ascii")


def _owner(email: str, service: bytes) -> Name:
    local, domain = split_address(email)
    labels = [local_part_label(local), service] + [p.encode("ascii") for p in domain.split(".")]
    try:
        return Name.from_labels(labels)
    except NameError_ as exc:
        raise EmailAddressError(f"owner name for {email!r} is too long: {exc}") from exc


def smimea_owner(email: str) -> Name:
    """``<hash>._smimecert.<domain>`` (RFC 8162 s3)."""
    return _owner(email, SMIMEA_LABEL)


def openpgpkey_owner(email: str) -> Name:
    """``<hash>._openpgpkey.<domain>`` (RFC 7929 s3)."""
    return _owner(email, OPENPGPKEY_LABEL)


def _lowercase_variant(email: str) -> str | None:
    local, _, domain = email.rpartition("@")
    lowered = local.lower()
    return f"{lowered}@{domain}" if lowered != local else None


class KeyVerdict(enum.StrEnum):
    """How a caller may use the outcome of an SMIMEA/OPENPGPKEY lookup."""

    USE = "use"                # secure, non-empty RRset
    UNTRUSTED = "untrusted"    # records, but not DNSSEC-secure: do not rely on them
    NONE = "none"              # no records (securely or insecurely absent)
    FAILED = "failed"          # SERVFAIL, bogus or indeterminate


def _verdict(lookup: Lookup) -> KeyVerdict:
    if lookup.failed:
        return KeyVerdict.FAILED
    if not lookup.records:
        return KeyVerdict.NONE
    return KeyVerdict.USE if lookup.security is Security.SECURE else KeyVerdict.UNTRUSTED


@dataclass(frozen=True, slots=True)
class _KeyLookup:
    email: str
    owner: Name
    verdict: KeyVerdict
    security: Security
    lookups: tuple[LookupInfo, ...]
    reasons: tuple[str, ...]

    def _base_json(self) -> Json:
        return {"email": self.email, "owner": self.owner.to_text(),
                "verdict": self.verdict.value, "security": self.security.label,
                "reasons": list(self.reasons), "lookups": [lk.to_json() for lk in self.lookups]}


@dataclass(frozen=True, slots=True)
class SmimeaLookup(_KeyLookup):
    """SMIMEA records for an address; *owner* is where they were found (or looked for
    last). *records* split into usable and ignored as for TLSA (RFC 8162 s2)."""

    records: TlsaSet = field(default_factory=TlsaSet)

    def verify(self, certificate: x509.Certificate, *,
               chain: Sequence[x509.Certificate] = (),
               trust_store: xu.TrustStore | None = None,
               now: datetime.datetime | None = None, check_names: bool = True) -> DaneMatch:
        """:func:`smimea_verify` over these records (only if the RRset was secure)."""
        if self.verdict is not KeyVerdict.USE:
            raise ValueError(f"SMIMEA lookup verdict is {self.verdict.value}, not use")
        return smimea_verify(self.records.usable, certificate, self.email, chain=chain,
                             trust_store=trust_store, now=now, check_names=check_names)

    def to_json(self) -> Json:
        out = self._base_json()
        out["records"] = self.records.to_json()
        return out


@dataclass(frozen=True, slots=True)
class OpenpgpkeyLookup(_KeyLookup):
    """OPENPGPKEY records for an address: each a binary OpenPGP transferable public key
    (RFC 7929 s2.1), base64 in JSON."""

    keys: tuple[bytes, ...] = ()

    def to_json(self) -> Json:
        out = self._base_json()
        out["keys"] = [base64.b64encode(k).decode("ascii") for k in self.keys]
        return out


async def _lookup(dns: DnsSource, email: str, service: bytes, rtype: int,
                  try_lowercase: bool) -> tuple[Name, Lookup, str, list[LookupInfo], list[str]]:
    owner = _owner(email, service)
    lookup = await dns.lookup(owner, rtype)
    infos = [LookupInfo(lookup)]
    reasons = [f"{owner} {'SMIMEA' if rtype == RRType.SMIMEA else 'OPENPGPKEY'}: "
               f"{_verdict(lookup).value}, {lookup.security.label}"]
    used = email
    if try_lowercase and _verdict(lookup) is KeyVerdict.NONE:
        variant = _lowercase_variant(email)
        if variant is not None:
            owner2 = _owner(variant, service)
            second = await dns.lookup(owner2, rtype)
            infos.append(LookupInfo(second))
            reasons.append(f"nothing for the local part as given; lowercased: {owner2} "
                           f"{_verdict(second).value}, {second.security.label}")
            owner, lookup, used = owner2, second, variant
    return owner, lookup, used, infos, reasons


async def smimea_lookup(dns: DnsSource, email: str, *,
                        try_lowercase: bool = False) -> SmimeaLookup:
    """Look up the SMIMEA RRset of *email* (RFC 8162 s3). With *try_lowercase*, an address
    whose local part has capitals is tried once more lowercased when the first lookup
    finds nothing (an explicit opt-in: the RFC hashes the local part as given)."""
    owner, lookup, used, infos, reasons = await _lookup(dns, email, SMIMEA_LABEL,
                                                        RRType.SMIMEA, try_lowercase)
    verdict = _verdict(lookup)
    records = classify_tlsa(lookup.records, usages=ALL_USAGES) if lookup.records else TlsaSet()
    if verdict is KeyVerdict.UNTRUSTED:
        reasons.append("SMIMEA records are only usable when DNSSEC-secure (RFC 8162 s9)")
    return SmimeaLookup(used, owner, verdict, lookup.security, tuple(infos), tuple(reasons),
                        records)


async def openpgpkey_lookup(dns: DnsSource, email: str, *,
                            try_lowercase: bool = False) -> OpenpgpkeyLookup:
    """Look up the OPENPGPKEY RRset of *email* (RFC 7929 s3); see :func:`smimea_lookup`."""
    owner, lookup, used, infos, reasons = await _lookup(dns, email, OPENPGPKEY_LABEL,
                                                        RRType.OPENPGPKEY, try_lowercase)
    verdict = _verdict(lookup)
    if verdict is KeyVerdict.UNTRUSTED:
        reasons.append("OPENPGPKEY records are only usable when DNSSEC-secure (RFC 7929 s7)")
    return OpenpgpkeyLookup(used, owner, verdict, lookup.security, tuple(infos),
                            tuple(reasons), tuple(lookup.records))


def smimea_verify(records: Iterable[TlsaInput], certificate: x509.Certificate, email: str, *,
                  chain: Sequence[x509.Certificate] = (),
                  trust_store: xu.TrustStore | None = None,
                  now: datetime.datetime | None = None, check_names: bool = True,
                  ee_name_checks: bool = False) -> DaneMatch:
    """Match an S/MIME certificate (and the chain that came with it) against SMIMEA records.

    Usages, selectors and matching types are those of TLSA (RFC 8162 s2, RFC 6698 s2.1),
    with the same precedence and digest agility as :func:`resolver.mail.dane_match.match_chain`.
    The identity check is the address in the certificate: a subjectAltName rfc822Name or
    SmtpUTF8Mailbox equal to *email* (local part exact, domain case-insensitive), or the
    subject emailAddress when the SAN has none (RFC 8162 s6, RFC 8550 s3). It applies to
    PKIX-TA(0), PKIX-EE(1) and DANE-TA(2); DANE-EE(3) binds the key through the owner
    name alone and, as for TLSA (RFC 7671 s5.1), checks neither name nor dates unless
    *ee_name_checks*. The leaf's extendedKeyUsage, if any, must allow emailProtection.
    """
    split_address(email)  # the same validation as the owner name
    name_check = None
    if check_names:
        def name_check(cert: x509.Certificate) -> str | None:
            return xu.match_email(cert, [email])
    return evaluate(records, [certificate, *chain], name_check=name_check,
                    ee_name_check=ee_name_checks, usages=ALL_USAGES, trust_store=trust_store,
                    now=now, purpose=xu.EMAIL_PROTECTION)
