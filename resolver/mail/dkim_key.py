"""DKIM public key records and their retrieval (RFC 6376 s3.6, RFC 8463 s4, RFC 8301).

A key record is a tag list in a TXT record at ``<selector>._domainkey.<domain>``
(s3.6.2.1); the strings of one TXT record are joined without separator
(s3.6.2.2). Parsing never raises: a record that cannot be used comes back as a
:class:`DkimKey` with ``error`` set, and a look-up that fails comes back as a
:class:`KeyLookup` with a status, so verification can map each case to its
RFC 8601 result.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from ..dnssec.status import Security
from ..wire import rdata as rd
from ..wire.name import Name, NameError_
from ..wire.types import Rcode, RRType
from .dkim_canon import TagListError, parse_tag_list, strip_fws
from .dnsapi import DnsSource

log = logging.getLogger(__name__)

KEY_TYPES = ("rsa", "ed25519")
MIN_RSA_BITS = 1024  # RFC 8301 s3.2

PublicKey = rsa.RSAPublicKey | ed25519.Ed25519PublicKey


@dataclass(frozen=True, slots=True)
class DkimKey:
    """A parsed key record (RFC 6376 s3.6.1).

    *public_key* is the decoded ``p=`` (SubjectPublicKeyInfo or PKCS#1 DER for RSA,
    the raw 32 octets for Ed25519 per RFC 8463 s4.2); empty means revoked.
    *hash_algorithms* is ``None`` when ``h=`` is absent (all allowed).
    *error* is set when the record is unusable (s6.1.2: PERMFAIL).
    """

    key_type: str = "rsa"
    public_key: bytes = b""
    version: str | None = None
    hash_algorithms: tuple[str, ...] | None = None
    service_types: tuple[str, ...] = ("*",)
    flags: tuple[str, ...] = ()
    notes: str | None = None
    key_bits: int | None = None
    error: str | None = None
    raw: str = ""

    @property
    def valid(self) -> bool:
        return self.error is None

    @property
    def revoked(self) -> bool:
        """``p=`` present and empty: the key was revoked (s3.6.1)."""
        return self.error is None and not self.public_key

    @property
    def testing(self) -> bool:
        """``t=y``: the domain is testing DKIM (s3.6.1)."""
        return "y" in self.flags

    @property
    def strict_identity(self) -> bool:
        """``t=s``: the i= domain must equal d=, no subdomains (s3.6.1)."""
        return "s" in self.flags

    def allows_service(self, service: str = "email") -> bool:
        return "*" in self.service_types or service in self.service_types

    def allows_hash(self, hash_name: str) -> bool:
        return self.hash_algorithms is None or hash_name in self.hash_algorithms

    def load(self) -> PublicKey:
        """The key as a ``cryptography`` object; raises ValueError when unusable."""
        return _load_key(self.key_type, self.public_key)

    def to_json(self) -> dict[str, Any]:
        return {
            "key_type": self.key_type,
            "version": self.version,
            "hash_algorithms": list(self.hash_algorithms) if self.hash_algorithms else None,
            "service_types": list(self.service_types),
            "flags": list(self.flags),
            "notes": self.notes,
            "key_bits": self.key_bits,
            "revoked": self.revoked,
            "public_key": base64.b64encode(self.public_key).decode("ascii"),
            "error": self.error,
        }


def _load_key(key_type: str, data: bytes) -> PublicKey:
    if key_type == "ed25519":
        if len(data) != 32:
            raise ValueError(f"ed25519 key must be 32 octets, not {len(data)} (RFC 8463 s4.2)")
        return ed25519.Ed25519PublicKey.from_public_bytes(data)
    if key_type == "rsa":
        # SubjectPublicKeyInfo (s3.6.1); bare PKCS#1 RSAPublicKey is accepted too,
        # since it is common in the field.
        try:
            key = load_der_public_key(data)
        except (ValueError, TypeError) as exc:
            raise ValueError("p= is not a DER RSA public key") from exc
        if not isinstance(key, rsa.RSAPublicKey):
            raise ValueError("p= holds a non-RSA key for k=rsa")
        return key
    raise ValueError(f"unknown key type k={key_type}")


def _colon_list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(":") if item.strip())


def parse_key_record(txt: bytes | str) -> DkimKey:
    """Parse a DKIM key record (RFC 6376 s3.6.1); errors come back in ``error``.

    Tags: ``v`` (must be ``DKIM1`` if present), ``h`` (acceptable hashes), ``k``
    (key type, default rsa; ed25519 per RFC 8463), ``n`` (notes), ``p`` (required;
    empty = revoked), ``s`` (service types, default ``*``), ``t`` (flags ``y``, ``s``).
    Unknown tags, hash names, service types and flags are ignored.
    """
    text = txt.decode("utf-8", "replace") if isinstance(txt, bytes) else txt
    try:
        tags = parse_tag_list(text)
    except TagListError as exc:
        return DkimKey(error=f"key record syntax error: {exc}", raw=text)
    values = dict(tags)
    version = values.get("v")
    if version is not None:
        if version != "DKIM1":
            return DkimKey(version=version, error=f"key record v={version!r} is not DKIM1",
                           raw=text)
        if tags[0][0] != "v":
            # s3.6.1 says v= MUST come first; accepted elsewhere as a leniency.
            log.debug("DKIM key record has v= after other tags")
    key_type = values.get("k", "rsa").strip().lower()
    hashes = _colon_list(values["h"].lower()) if "h" in values else None
    services = _colon_list(values["s"].lower()) if "s" in values else ("*",)
    flags = _colon_list(values["t"].lower()) if "t" in values else ()
    notes = values.get("n")
    common: dict[str, Any] = {"key_type": key_type, "version": version,
                              "hash_algorithms": hashes, "service_types": services,
                              "flags": flags, "notes": notes, "raw": text}
    if "p" not in values:
        return DkimKey(error="key record has no p= tag", **common)
    p = strip_fws(values["p"])
    if not p:
        return DkimKey(public_key=b"", **common)
    try:
        data = base64.b64decode(p, validate=True)
    except (binascii.Error, ValueError):
        return DkimKey(error="p= is not valid base64", **common)
    if key_type not in KEY_TYPES:
        return DkimKey(public_key=data, error=f"unknown key type k={key_type}", **common)
    try:
        key = _load_key(key_type, data)
    except ValueError as exc:
        return DkimKey(public_key=data, error=f"key syntax error: {exc}", **common)
    bits = key.key_size if isinstance(key, rsa.RSAPublicKey) else 256
    return DkimKey(public_key=data, key_bits=bits, **common)


# --------------------------------------------------------------------------
# retrieval


KEY_FOUND = "found"
KEY_NONE = "none"
KEY_TEMPERROR = "temperror"
KEY_PERMERROR = "permerror"


@dataclass(frozen=True, slots=True)
class KeyLookup:
    """The outcome of fetching a key (RFC 6376 s6.1.2).

    *status*: ``found`` (``key`` is set; it may be revoked), ``none`` (NXDOMAIN or
    no TXT record: "no key for signature"), ``permerror`` (records exist but none is
    a usable key; ``key`` holds the first one's parse), ``temperror`` (SERVFAIL,
    timeout, or a DNSSEC-bogus answer). *security* is the DNSSEC status of the
    answer the key rests on.
    """

    name: str
    status: str
    key: DkimKey | None = None
    security: Security = Security.INDETERMINATE
    reason: str | None = None
    records: tuple[str, ...] = field(default=())
    ttl: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "key": self.key.to_json() if self.key is not None else None,
            "security": self.security.label,
            "reason": self.reason,
            "records": list(self.records),
            "ttl": self.ttl,
        }


def key_name(selector: str, domain: str | Name) -> Name:
    """``<selector>._domainkey.<domain>`` (s3.6.2.1); raises ValueError when the
    result is not a valid DNS name."""
    dom = domain.to_text() if isinstance(domain, Name) else domain.rstrip(".") + "."
    try:
        return Name.from_text(f"{selector}._domainkey.{dom}")
    except NameError_ as exc:
        raise ValueError(f"bad key name for s={selector!r} d={dom!r}: {exc}") from exc


async def get_dkim_key(dns: DnsSource, selector: str, domain: str | Name) -> KeyLookup:
    """Fetch and parse the key at ``selector._domainkey.domain`` (s3.6.2, s6.1.2).

    Each TXT record's strings are joined (s3.6.2.2). RFC 6376 leaves several
    records undefined; we take the first that parses as a usable key (or is a
    revocation), else report the first record's error.
    """
    try:
        qname = key_name(selector, domain)
    except ValueError as exc:
        return KeyLookup(name=f"{selector}._domainkey.{domain}", status=KEY_PERMERROR,
                         reason=str(exc))
    text_name = qname.to_text()
    lookup = await dns.lookup(qname, RRType.TXT)
    if lookup.security == Security.BOGUS:
        return KeyLookup(text_name, KEY_TEMPERROR, security=lookup.security,
                         reason=f"key lookup is DNSSEC-bogus: {lookup.reason or 'bogus'}")
    if lookup.error is not None or lookup.rcode not in (Rcode.NOERROR, Rcode.NXDOMAIN):
        why = lookup.error or f"rcode {lookup.rcode}"
        return KeyLookup(text_name, KEY_TEMPERROR, security=lookup.security,
                         reason=f"key lookup failed: {why}")
    texts: list[str] = []
    for record in lookup.records:
        try:
            data = rd.decode(RRType.TXT, record)
        except rd.RdataError:
            continue
        if isinstance(data, rd.TXT):
            texts.append(data.joined().decode("utf-8", "replace"))
    if not texts:
        why = "NXDOMAIN" if lookup.rcode == Rcode.NXDOMAIN else "no TXT record"
        return KeyLookup(text_name, KEY_NONE, security=lookup.security,
                         reason=f"no key for signature ({why})", ttl=lookup.ttl)
    keys = [parse_key_record(t) for t in texts]
    chosen = next((k for k in keys if k.valid), None)
    if chosen is None:
        return KeyLookup(text_name, KEY_PERMERROR, key=keys[0], security=lookup.security,
                         reason=keys[0].error, records=tuple(texts), ttl=lookup.ttl)
    if len(texts) > 1:
        log.debug("%s has %d TXT records; using the first usable key", text_name, len(texts))
    return KeyLookup(text_name, KEY_FOUND, key=chosen, security=lookup.security,
                     records=tuple(texts), ttl=lookup.ttl)
