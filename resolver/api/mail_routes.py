"""Mail-security routes (DANE, SMIMEA, OPENPGPKEY, SPF, DKIM, DMARC): registered on
the API application by :func:`register`.

Lookup routes answer with the shared envelope of :func:`resolver.api.models.envelope`
(``query``, ``status``, ``rcode``, ``records``, ``ttl``, ``reason``, ``ede``) for the
lookup the answer rests on, plus their own fields; check routes (``/v1/spf/check``,
``/v1/dkim/verify``, ``/v1/dmarc/evaluate``, ``/v1/authenticate``) answer with a
``status`` (the weakest DNSSEC status the verdict rests on), a ``result`` and the
evaluator's details. The evaluators are those of :mod:`resolver.mail`, fed by the
validating resolver through :class:`~resolver.mail.source.ResolverDns`.

Every input is checked here before any lookup: host and domain names, ports,
protocols, e-mail addresses, IP addresses, DKIM selectors, PEM certificates, JSON
bodies (object, known members, types) and content types; bad input gets a 4xx with
``{"error": "..."}`` saying what is wrong.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from aiohttp import web
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm

from ..answer import Answer
from ..dnssec.status import Security
from ..mail import dane as dn
from ..mail import smimea as sm
from ..mail import x509util as xu
from ..mail.authres import SpfInfo, format_authentication_results
from ..mail.dkim import SignatureResult, verify_message
from ..mail.dkim_key import get_dkim_key, key_name
from ..mail.dmarc import check_message, get_dmarc_policy
from ..mail.dmarc import evaluate as dmarc_evaluate
from ..mail.dnsapi import Lookup
from ..mail.source import ResolverDns
from ..mail.spf import check_host, get_spf_record
from ..service import Resolver
from ..wire.name import Name, NameError_
from ..wire.types import RRType, type_to_text
from .app import MAX_BODY, RESOLVER_KEY, BadInput, json_response, param, parse_name
from .models import envelope

AUTHSERV_ID_KEY: web.AppKey[str] = web.AppKey("authserv_id", str)

MAX_HEADER_BYTES = 32 * 1024   # all request header fields together
MAX_PEM = 64 * 1024            # one PEM string
MAX_CERTS = 16                 # certificates in a chain or trust store
MAX_EMAIL = 320
MAX_NAMES = 8                  # extra reference names for DANE
PROTOCOLS = ("tcp", "udp", "sctp")
JSON_TYPES = ("application/json",)
MESSAGE_TYPES = ("message/rfc822", "text/plain", "application/octet-stream")
SPF_RESULTS = ("pass", "fail", "softfail", "neutral", "none", "permerror", "temperror",
               "policy")
DKIM_RESULTS = ("pass", "fail", "neutral", "policy", "permerror", "temperror", "none")

_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\Z")
_AUTHSERV = re.compile(r"[A-Za-z0-9._-]{1,253}\Z")


# --------------------------------------------------------------------------- DNS

class _RecordingResolver:
    """Stands in for the resolver under :class:`ResolverDns` and keeps every
    :class:`Answer`, so a route can show the exact envelope of a lookup an evaluator made."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.answers: dict[tuple[bytes, int], Answer] = {}

    async def resolve(self, qname: Name, qtype: int) -> Answer:
        answer = await self.resolver.resolve(qname, qtype)
        self.answers[(qname.key, qtype)] = answer
        return answer


class _Dns(ResolverDns):
    """The production DnsSource, remembering the answers of one request."""

    def __init__(self, resolver: Resolver) -> None:
        self.recorder = _RecordingResolver(resolver)
        super().__init__(cast(Resolver, self.recorder))

    def answer(self, name: Name, rtype: int) -> Answer | None:
        return self.recorder.answers.get((name.key, rtype))

    def envelope(self, name: Name, rtype: int) -> dict[str, Any]:
        """The shared envelope of the lookup of (*name*, *rtype*) made for this request."""
        answer = self.answer(name, rtype)
        if answer is None:  # no lookup was needed to reach the verdict
            return {"query": {"name": name.to_text(), "type": type_to_text(rtype)},
                    "status": Security.INDETERMINATE.label, "rcode": "NOERROR", "records": [],
                    "ttl": 0, "reason": "not looked up", "ede": []}
        return envelope(name, rtype, answer)


def _dns(request: web.Request) -> _Dns:
    return _Dns(request.app[RESOLVER_KEY])


def _failed(lookup: Lookup) -> bool:
    return (not lookup.ok or lookup.security is Security.BOGUS
            or lookup.security is Security.INDETERMINATE)


def _lookup_json(lookup: Lookup) -> dict[str, Any]:
    return dn.LookupInfo(lookup).to_json()


# --------------------------------------------------------------------------- input

def _bad_name(what: str, text: str, why: str) -> BadInput:
    return BadInput(f"{what}: {text[:80]!r} {why}")


def mail_domain(text: str, what: str = "domain", *, min_labels: int = 2) -> Name:
    """A host or mail domain: LDH labels (underscores allowed), U-labels turned into
    A-labels, at most 253 characters, at least *min_labels* labels, not the root."""
    value = text[:-1] if text.endswith(".") else text
    if not value:
        raise _bad_name(what, text, "is empty or the root: a host or domain name is needed")
    if not value.isascii():
        try:
            value = xu.domain_to_ascii(value)
        except (xu.DomainError, ValueError) as exc:
            raise _bad_name(what, text, f"is not a domain name ({exc})") from None
    if len(value) > 253:
        raise _bad_name(what, text, "is longer than 253 characters")
    labels = value.split(".")
    for label in labels:
        if not _LABEL.match(label):
            raise _bad_name(what, text, f"is not a host name: label {label[:70]!r} must be "
                            "1-63 letters, digits, '-' or '_', not starting or ending with '-'")
    if len(labels) < min_labels:
        raise _bad_name(what, text, f"needs at least {min_labels} labels")
    return parse_name(value + ".", what)


def parse_port(text: str, what: str = "port") -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 5:
        raise BadInput(f"{what}: {text[:20]!r} is not a port number (1-65535)")
    value = int(text)
    if not 0 < value <= 65535:
        raise BadInput(f"{what}: {value} is not a port number (1-65535)")
    return value


def parse_proto(text: str, what: str = "proto") -> str:
    value = text.lower()
    if value not in PROTOCOLS:
        raise BadInput(f"{what}: {text[:20]!r} is not one of {', '.join(PROTOCOLS)}")
    return value


def parse_email(text: str, what: str = "email") -> str:
    """An address with an SMIMEA/OPENPGPKEY owner name (RFC 8162 s3, RFC 7929 s3)."""
    if len(text) > MAX_EMAIL:
        raise BadInput(f"{what}: longer than {MAX_EMAIL} characters")
    try:
        sm.smimea_owner(text)
        _, domain = sm.split_address(text)
    except sm.EmailAddressError as exc:
        raise BadInput(f"{what}: not a usable e-mail address ({exc})") from None
    mail_domain(domain, f"{what} domain", min_labels=1)
    return text


def parse_ip(text: str, what: str = "ip") -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise BadInput(f"{what}: {text[:60]!r} is not an IPv4 or IPv6 address") from None


def parse_mailfrom(text: str, what: str = "mailfrom") -> str:
    """The SMTP MAIL FROM: ``local@domain``, a bare domain, or ``<>`` / empty for the
    null sender (returned as ``""``)."""
    value = text[1:-1] if text.startswith("<") and text.endswith(">") else text
    if not value:
        return ""
    if len(value) > MAX_EMAIL:
        raise BadInput(f"{what}: longer than {MAX_EMAIL} characters")
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in value):
        raise BadInput(f"{what}: spaces or control characters in {value[:80]!r}")
    local, at, domain = value.rpartition("@")
    if at and not local:
        raise BadInput(f"{what}: empty local part in {value[:80]!r}")
    if len(local) > 64:
        raise BadInput(f"{what}: local part longer than 64 octets (RFC 5321 s4.5.3.1.1)")
    mail_domain(domain if at else value, f"{what} domain")
    return value


def parse_helo(text: str, what: str = "helo") -> str:
    """An EHLO/HELO name: a domain, or an address literal ``[192.0.2.1]``."""
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1]
        parse_ip(inner[5:] if inner.lower().startswith("ipv6:") else inner, what)
        return text
    mail_domain(text, what, min_labels=1)
    return text


def parse_selector(text: str, domain: Name, what: str = "selector") -> str:
    if len(text) > 253:
        raise BadInput(f"{what}: longer than 253 characters")
    for label in text.split("."):
        if not _LABEL.match(label):
            raise BadInput(f"{what}: {text[:80]!r} is not a DKIM selector (dot-separated "
                           "labels of letters, digits, '-' and '_')")
    try:
        key_name(text, domain)
    except ValueError:
        raise BadInput(f"{what}: {text[:80]}._domainkey.{domain} is too long") from None
    return text


def parse_flag(request: web.Request, key: str, default: bool = False) -> bool:
    value = request.query.get(key)
    if value is None or value == "":
        return default
    lowered = value.lower()
    if lowered in ("1", "true", "yes"):
        return True
    if lowered in ("0", "false", "no"):
        return False
    raise BadInput(f"{key}: {value[:20]!r} is not a boolean (1/0, true/false)")


def authserv_id(request: web.Request) -> str:
    value = request.query.get("authserv_id")
    if value is None or value == "":
        return request.app[AUTHSERV_ID_KEY]
    if not _AUTHSERV.match(value):
        raise BadInput("authserv_id: 1-253 letters, digits, '.', '-' or '_' expected")
    return value


async def read_body(request: web.Request, kinds: tuple[str, ...], what: str) -> bytes:
    if request.content_type not in kinds:
        raise BadInput(f"Content-Type must be {' or '.join(kinds)}, not "
                       f"{request.content_type[:60]!r}", 415)
    try:
        data = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise BadInput(f"request body larger than {MAX_BODY} bytes", 413) from None
    if not data:
        raise BadInput(f"empty request body: {what} expected")
    return data


@dataclass(slots=True)
class JsonBody:
    """A JSON request object with typed accessors that raise :class:`BadInput`."""

    data: dict[str, Any]
    allowed: frozenset[str] = field(default_factory=frozenset)

    def raw(self, key: str, required: bool = False) -> Any:
        """The member as decoded (None when absent or null)."""
        return self._get(key, required)

    def _get(self, key: str, required: bool) -> Any:
        if key not in self.data or self.data[key] is None:
            if required:
                raise BadInput(f"body: member '{key}' is required")
            return None
        return self.data[key]

    def text(self, key: str, *, required: bool = True, max_len: int = 1024) -> str | None:
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, str):
            raise BadInput(f"body: '{key}' must be a string")
        if len(value) > max_len:
            raise BadInput(f"body: '{key}' is longer than {max_len} characters")
        return value

    def integer(self, key: str, default: int, lo: int, hi: int) -> int:
        value = self._get(key, False)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise BadInput(f"body: '{key}' must be an integer from {lo} to {hi}")
        return value

    def number(self, key: str, lo: float, hi: float) -> float | None:
        value = self._get(key, False)
        if value is None:
            return None
        if (isinstance(value, bool) or not isinstance(value, int | float)
                or not math.isfinite(value) or not lo <= value < hi):
            raise BadInput(f"body: '{key}' must be a number from {lo} up to {hi}")
        return float(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self._get(key, False)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise BadInput(f"body: '{key}' must be true or false")
        return value

    def items(self, key: str, *, required: bool, max_items: int) -> list[Any] | None:
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, list):
            raise BadInput(f"body: '{key}' must be an array")
        if required and not value:
            raise BadInput(f"body: '{key}' must not be empty")
        if len(value) > max_items:
            raise BadInput(f"body: '{key}' has more than {max_items} items")
        return value

    def texts(self, key: str, *, required: bool, max_items: int,
              max_len: int) -> list[str] | None:
        value = self.items(key, required=required, max_items=max_items)
        if value is None:
            return None
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise BadInput(f"body: '{key}'[{i}] must be a string")
            if len(item) > max_len:
                raise BadInput(f"body: '{key}'[{i}] is longer than {max_len} characters")
        return value


async def read_json(request: web.Request, allowed: tuple[str, ...]) -> JsonBody:
    raw = await read_body(request, JSON_TYPES, "a JSON object")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise BadInput(f"body is not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(data, dict):
        raise BadInput("body must be a JSON object")
    unknown = sorted(k for k in data if k not in allowed)
    if unknown:
        raise BadInput(f"body: unknown member(s) {', '.join(repr(k[:40]) for k in unknown[:5])};"
                       f" expected {', '.join(allowed)}")
    return JsonBody(data, frozenset(allowed))


def parse_certificates(texts: list[str], what: str) -> list[x509.Certificate]:
    """PEM strings (each one or more certificates) as certificates, each checked to be
    usable for matching (a public key we understand)."""
    out: list[x509.Certificate] = []
    for i, text in enumerate(texts):
        where = f"{what}[{i}]" if len(texts) > 1 else what
        if "-----BEGIN CERTIFICATE-----" not in text:
            raise BadInput(f"{where}: not a PEM certificate (no BEGIN CERTIFICATE line)")
        try:
            certs = x509.load_pem_x509_certificates(text.encode("utf-8"))
        except ValueError as exc:
            raise BadInput(f"{where}: not a readable PEM certificate ({str(exc)[:120]})"
                           ) from None
        for cert in certs:
            try:
                cert.public_key()
                _ = (cert.subject, cert.issuer, cert.not_valid_before_utc,
                     cert.not_valid_after_utc)
            except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
                raise BadInput(f"{where}: certificate cannot be used ({str(exc)[:120]})"
                               ) from None
        out.extend(certs)
        if len(out) > MAX_CERTS:
            raise BadInput(f"{what}: more than {MAX_CERTS} certificates")
    return out


def _pem_list(body: JsonBody, key: str, *, required: bool) -> list[x509.Certificate] | None:
    texts = body.texts(key, required=required, max_items=MAX_CERTS, max_len=MAX_PEM)
    return parse_certificates(texts, key) if texts is not None else None


# --------------------------------------------------------------------------- DANE

def _tlsa_owner(base: Name, port: int, proto: str) -> Name:
    return base.prepend(f"_{proto}".encode("ascii")).prepend(f"_{port}".encode("ascii"))


@dataclass(slots=True)
class _TlsaFound:
    owner: Name
    base: Name
    lookup: Lookup
    expanded: Name | None
    notes: list[str]
    lookups: list[Lookup]


async def find_tlsa(dns: _Dns, host: Name, port: int, proto: str) -> _TlsaFound:
    """The TLSA RRset for (host, port, proto).

    A host that is an alias with a secure CNAME chain gets its TLSA RRset at the
    CNAME-expanded name first, then at the original name (RFC 7672 s2.2.2; RFC 7671
    s7); a TLSA owner that is itself a CNAME is followed by the resolver, the base
    domain staying the same. A failed or bogus TLSA lookup ends the search (RFC 7672
    s2.1.1: such a host must not be used).
    """
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
    bases = [expanded, host] if expanded is not None and expanded != host else [host]
    found: _TlsaFound | None = None
    for base in bases:
        try:
            owner = _tlsa_owner(base, port, proto)
        except NameError_:
            notes.append(f"_{port}._{proto}.{base} would exceed 255 octets")
            continue
        lookup = await dns.lookup(owner, RRType.TLSA)
        lookups.append(lookup)
        found = _TlsaFound(owner, base, lookup, expanded, notes, lookups)
        if lookup.cnames:
            notes.append(f"TLSA owner {owner} is an alias of {lookup.final_name}; the TLSA "
                         f"base domain stays {base} (RFC 7671 s7)")
        if _failed(lookup):
            notes.append(f"TLSA lookup at {owner} failed ({lookup.security.label}): the host "
                         "must not be used, not even in cleartext (RFC 7672 s2.1.1)")
            break
        if lookup.security is not Security.SECURE:
            notes.append(f"TLSA RRset at {owner} is {lookup.security.label}: DANE does not "
                         "apply (RFC 6698 s4.1)")
            continue
        if lookup.records:
            break
        notes.append(f"TLSA RRset at {owner} is securely absent")
    if found is None:
        raise BadInput(f"host: _{port}._{proto}.{host} would exceed 255 octets")
    return found


def _usage_profile(smtp: bool) -> frozenset[int]:
    return dn.SMTP_USAGES if smtp else dn.ALL_USAGES


def _tlsa_body(dns: _Dns, host: Name, port: int, proto: str, found: _TlsaFound,
               smtp: bool) -> dict[str, Any]:
    body = dns.envelope(found.owner, RRType.TLSA)
    bogus = body["status"] == Security.BOGUS.label
    tset = dn.classify_tlsa(() if bogus else found.lookup.records,
                            usages=_usage_profile(smtp))
    body.update({
        "host": host.to_text(), "port": port, "proto": proto,
        "owner": found.owner.to_text(), "base_domain": found.base.to_text(),
        "expanded_host": found.expanded.to_text() if found.expanded is not None else None,
        "usages": "smtp" if smtp else "all",
        "usable": [dn.tlsa_json(r) for r in tset.usable],
        "ignored": [i.to_json() for i in tset.ignored],
        "notes": found.notes,
        "lookups": [_lookup_json(lk) for lk in found.lookups],
    })
    return body


async def tlsa(request: web.Request) -> web.Response:
    host = mail_domain(param(request, "host"), "host", min_labels=1)
    port = parse_port(request.query.get("port", "25") or "25")
    proto = parse_proto(request.query.get("proto", "tcp") or "tcp")
    smtp = parse_flag(request, "smtp", port == 25 and proto == "tcp")
    dns = _dns(request)
    found = await find_tlsa(dns, host, port, proto)
    return json_response(_tlsa_body(dns, host, port, proto, found, smtp))


async def dane_smtp(request: web.Request) -> web.Response:
    domain = mail_domain(param(request, "domain"))
    port = parse_port(request.query.get("port", "25") or "25")
    dns = _dns(request)
    decision = await dn.smtp_dane(dns, domain, port)
    body = dns.envelope(domain, RRType.MX)
    body.update(decision.to_json())
    return json_response(body)


async def dane_verify(request: web.Request) -> web.Response:
    body_in = await read_json(request, ("host", "port", "proto", "chain", "names", "smtp",
                                        "check_names", "trust_store"))
    host = mail_domain(body_in.text("host", max_len=254) or "", "host", min_labels=1)
    port = body_in.integer("port", 25, 1, 65535)
    proto = parse_proto(body_in.text("proto", required=False, max_len=10) or "tcp")
    smtp = body_in.flag("smtp", port == 25 and proto == "tcp")
    check_names = body_in.flag("check_names", True)
    names = [mail_domain(n, "names", min_labels=1) for n in
             body_in.texts("names", required=False, max_items=MAX_NAMES, max_len=254) or []]
    chain = _pem_list(body_in, "chain", required=True) or []
    store = _pem_list(body_in, "trust_store", required=False)
    dns = _dns(request)
    found = await find_tlsa(dns, host, port, proto)
    body = _tlsa_body(dns, host, port, proto, found, smtp)
    refs: list[Name] = [found.base]
    for extra in [host, *names]:
        if extra not in refs:
            refs.append(extra)
    match: dn.DaneMatch | None = None
    lookup = found.lookup
    if _failed(lookup):
        verdict = "lookup-failed"
    elif lookup.security is not Security.SECURE:
        verdict = "not-secure"
    elif not lookup.records:
        verdict = "no-tlsa"
    else:
        try:
            match = dn.match_chain(lookup.records, chain, refs, trust_store=store,
                                   check_names=check_names, usages=_usage_profile(smtp))
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise BadInput(f"chain: cannot be matched ({str(exc)[:160]})", 422) from None
        verdict = match.kind.value
    body.update({"reference_names": [n.to_text() for n in refs], "verdict": verdict,
                 "matched": match is not None and match.ok,
                 "match": match.to_json() if match is not None else None})
    return json_response(body)


# --------------------------------------------------------------------------- SMIMEA, OPENPGPKEY

async def smimea_get(request: web.Request) -> web.Response:
    email = parse_email(param(request, "email"))
    lowercase = parse_flag(request, "lowercase")
    dns = _dns(request)
    result = await sm.smimea_lookup(dns, email, try_lowercase=lowercase)
    body = dns.envelope(result.owner, RRType.SMIMEA)
    bogus = body["status"] == Security.BOGUS.label
    data = result.to_json()
    body.update({k: data[k] for k in ("email", "owner", "verdict", "reasons", "lookups")})
    body["usable"] = [] if bogus else [dn.tlsa_json(r) for r in result.records.usable]
    body["ignored"] = [] if bogus else [i.to_json() for i in result.records.ignored]
    return json_response(body)


async def smimea_verify(request: web.Request) -> web.Response:
    body_in = await read_json(request, ("email", "certificate", "chain", "trust_store",
                                        "check_names", "lowercase"))
    email = parse_email(body_in.text("email", max_len=MAX_EMAIL) or "")
    certs = parse_certificates([body_in.text("certificate", max_len=MAX_PEM) or ""],
                               "certificate")
    chain = certs[1:] + (_pem_list(body_in, "chain", required=False) or [])
    if len(chain) > MAX_CERTS:
        raise BadInput(f"chain: more than {MAX_CERTS} certificates")
    store = _pem_list(body_in, "trust_store", required=False)
    check_names = body_in.flag("check_names", True)
    lowercase = body_in.flag("lowercase", False)
    dns = _dns(request)
    result = await sm.smimea_lookup(dns, email, try_lowercase=lowercase)
    body = dns.envelope(result.owner, RRType.SMIMEA)
    match: dn.DaneMatch | None = None
    if result.verdict is sm.KeyVerdict.FAILED:
        verdict = "lookup-failed"
    elif result.verdict is sm.KeyVerdict.UNTRUSTED:
        verdict = "not-secure"
    elif result.verdict is sm.KeyVerdict.NONE:
        verdict = "no-smimea"
    else:
        try:
            match = sm.smimea_verify(result.records.usable, certs[0], result.email,
                                     chain=chain, trust_store=store, check_names=check_names)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise BadInput(f"certificate: cannot be matched ({str(exc)[:160]})", 422) from None
        verdict = match.kind.value
    data = result.to_json()
    body.update({k: data[k] for k in ("email", "owner", "reasons", "lookups")})
    body.update({"lookup_verdict": result.verdict.value, "verdict": verdict,
                 "matched": match is not None and match.ok,
                 "match": match.to_json() if match is not None else None})
    return json_response(body)


async def openpgpkey(request: web.Request) -> web.Response:
    email = parse_email(param(request, "email"))
    lowercase = parse_flag(request, "lowercase")
    dns = _dns(request)
    result = await sm.openpgpkey_lookup(dns, email, try_lowercase=lowercase)
    body = dns.envelope(result.owner, RRType.OPENPGPKEY)
    data = result.to_json()
    body.update({k: data[k] for k in ("email", "owner", "verdict", "reasons", "lookups")})
    body["keys"] = [] if body["status"] == Security.BOGUS.label else data["keys"]
    return json_response(body)


# --------------------------------------------------------------------------- SPF

async def spf(request: web.Request) -> web.Response:
    domain = mail_domain(param(request, "domain"))
    dns = _dns(request)
    record = await get_spf_record(dns, domain)
    body = dns.envelope(domain, RRType.TXT)
    body["domain"] = domain.to_text(omit_final_dot=True)
    body["spf"] = record.to_json()
    return json_response(body)


async def spf_check(request: web.Request) -> web.Response:
    ip = parse_ip(param(request, "ip"))
    mailfrom = parse_mailfrom(param(request, "mailfrom"))
    helo_text = request.query.get("helo", "")
    helo = parse_helo(helo_text) if helo_text else None
    if not mailfrom and helo is None:
        raise BadInput("helo: needed for the null sender (mailfrom '<>')")
    dns = _dns(request)
    result = await check_host(dns, ip, None, mailfrom, helo, receiver=authserv_id(request))
    return json_response({"status": result.security.label, "result": result.result.value,
                          "spf": result.to_json()})


# --------------------------------------------------------------------------- DKIM

async def dkim(request: web.Request) -> web.Response:
    domain = mail_domain(param(request, "domain"), min_labels=1)
    selector = parse_selector(param(request, "selector"), domain)
    dns = _dns(request)
    found = await get_dkim_key(dns, selector, domain)
    body = dns.envelope(key_name(selector, domain), RRType.TXT)
    body.update({"selector": selector, "domain": domain.to_text(omit_final_dot=True),
                 "dkim": found.to_json()})
    return json_response(body)


def _dkim_summary(sigs: list[SignatureResult]) -> tuple[str, Security]:
    """``pass`` if a signature passed, ``none`` for an unsigned message, ``temperror`` if
    a key lookup failed, else the first signature's result; and the weakest key status."""
    security = min((s.key_security for s in sigs if s.key_security is not None),
                   default=Security.INDETERMINATE)
    if any(s.passed for s in sigs):
        return "pass", security
    if not sigs:
        return "none", security
    if any(s.result == "temperror" for s in sigs):
        return "temperror", security
    return sigs[0].result, security


async def dkim_verify(request: web.Request) -> web.Response:
    message = await read_body(request, MESSAGE_TYPES, "a message")
    dns = _dns(request)
    sigs = await verify_message(dns, message)
    result, security = _dkim_summary(sigs)
    return json_response({"status": security.label, "result": result,
                          "signatures": [s.to_json() for s in sigs]})


# --------------------------------------------------------------------------- DMARC

async def dmarc(request: web.Request) -> web.Response:
    domain = mail_domain(param(request, "domain"))
    try:
        domain.prepend(b"_dmarc")
    except NameError_:
        raise BadInput("domain: too long for a _dmarc name") from None
    dns = _dns(request)
    policy = await get_dmarc_policy(dns, domain)
    last = Name.from_text(policy.queried[-1]) if policy.queried else domain.prepend(b"_dmarc")
    body = dns.envelope(last, RRType.TXT)
    weakest = min(policy.security, Security[body["status"].upper()])
    body["status"] = weakest.label
    body["domain"] = domain.to_text(omit_final_dot=True)
    body["dmarc"] = policy.to_json()
    return json_response(body)


def _result_pair(value: Any, what: str, results: tuple[str, ...],
                 address: bool) -> tuple[str, str]:
    if not isinstance(value, dict):
        raise BadInput(f"body: '{what}' must be an object with 'result' and 'domain'")
    unknown = [k for k in value if k not in ("result", "domain")]
    if unknown:
        raise BadInput(f"body: '{what}' has unknown member(s) "
                       f"{', '.join(repr(str(k)[:40]) for k in unknown[:5])}")
    result, domain = value.get("result"), value.get("domain")
    if not isinstance(result, str) or result.lower() not in results:
        raise BadInput(f"body: '{what}.result' must be one of {', '.join(results)}")
    if not isinstance(domain, str) or len(domain) > MAX_EMAIL:
        raise BadInput(f"body: '{what}.domain' must be a domain name")
    if address and "@" in domain:
        parse_mailfrom(domain, f"{what}.domain")
    else:
        mail_domain(domain, f"{what}.domain", min_labels=1)
    return result.lower(), domain


async def dmarc_evaluate_route(request: web.Request) -> web.Response:
    body_in = await read_json(request, ("from_domain", "spf", "dkim", "pct_roll"))
    from_domain = mail_domain(body_in.text("from_domain", max_len=254) or "", "from_domain")
    spf_value = body_in.raw("spf")
    spf_pair = (_result_pair(spf_value, "spf", SPF_RESULTS, True)
                if spf_value is not None else None)
    dkim_items = body_in.items("dkim", required=False, max_items=32) or []
    dkim_pairs = [_result_pair(item, f"dkim[{i}]", DKIM_RESULTS, False)
                  for i, item in enumerate(dkim_items)]
    roll = body_in.number("pct_roll", 0.0, 100.0)
    dns = _dns(request)
    author = from_domain.to_text(omit_final_dot=True)
    policy = await get_dmarc_policy(dns, from_domain)
    result = dmarc_evaluate(author, policy, spf_pair, dkim_pairs, pct_roll=roll)
    security = result.security if result.security is not None else policy.security
    return json_response({"status": security.label, "result": result.result,
                          "disposition": result.disposition, "dmarc": result.to_json(),
                          "policy": policy.to_json()})


# --------------------------------------------------------------------------- all together

async def authenticate(request: web.Request) -> web.Response:
    ip = parse_ip(param(request, "ip"))
    helo = parse_helo(param(request, "helo"))
    mailfrom = parse_mailfrom(param(request, "mailfrom"))
    serv_id = authserv_id(request)
    message = await read_body(request, MESSAGE_TYPES, "a message")
    dns = _dns(request)
    spf_result = await check_host(dns, ip, None, mailfrom, helo, receiver=serv_id)
    sigs = await verify_message(dns, message)
    dmarc_result = await check_message(dns, message,
                                       (spf_result.result.value, spf_result.domain), sigs)
    value = format_authentication_results(
        serv_id, spf=SpfInfo(spf_result.result.value, mailfrom or None, helo), dkim=sigs,
        dmarc=dmarc_result)
    dkim_result, dkim_security = _dkim_summary(sigs)
    parts = [spf_result.security, dmarc_result.security]
    if sigs:
        parts.append(dkim_security)
    security = min((p for p in parts if p is not None), default=Security.INDETERMINATE)
    return json_response({
        "status": security.label,
        "authserv_id": serv_id,
        "results": {"spf": spf_result.result.value, "dkim": dkim_result,
                    "dmarc": dmarc_result.result},
        "spf": spf_result.to_json(),
        "dkim": [s.to_json() for s in sigs],
        "dmarc": dmarc_result.to_json(),
        "authentication_results": value,
        "header": f"Authentication-Results: {value}",
    })


# --------------------------------------------------------------------------- registration

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def header_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    """431 for requests whose header fields together exceed :data:`MAX_HEADER_BYTES`
    (aiohttp's parser already refuses a single field over 8190 bytes)."""
    size = sum(len(k) + len(v) + 4 for k, v in request.raw_headers)
    if size > MAX_HEADER_BYTES:
        raise BadInput(f"request header fields larger than {MAX_HEADER_BYTES} bytes", 431)
    return await handler(request)


ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "/v1/tlsa", tlsa),
    ("GET", "/v1/dane/smtp", dane_smtp),
    ("POST", "/v1/dane/verify", dane_verify),
    ("GET", "/v1/smimea", smimea_get),
    ("POST", "/v1/smimea/verify", smimea_verify),
    ("GET", "/v1/openpgpkey", openpgpkey),
    ("GET", "/v1/spf", spf),
    ("GET", "/v1/spf/check", spf_check),
    ("GET", "/v1/dkim", dkim),
    ("POST", "/v1/dkim/verify", dkim_verify),
    ("GET", "/v1/dmarc", dmarc),
    ("POST", "/v1/dmarc/evaluate", dmarc_evaluate_route),
    ("POST", "/v1/authenticate", authenticate),
)


def register(app: web.Application) -> None:
    """Add the mail routes to *app*. The authserv-id of ``/v1/authenticate`` defaults to
    the host name; set ``app[AUTHSERV_ID_KEY]`` to change it (or pass ``authserv_id``)."""
    app.middlewares.append(header_limit)
    if AUTHSERV_ID_KEY not in app:
        app[AUTHSERV_ID_KEY] = socket.gethostname() or "localhost"
    for method, path, handler in ROUTES:
        if method == "GET":
            app.router.add_get(path, handler)
        else:
            app.router.add_route(method, path, handler)


__all__ = ["register", "AUTHSERV_ID_KEY", "ROUTES"]
