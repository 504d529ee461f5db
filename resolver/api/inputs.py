"""Input checks of the mail routes: query parameters and request bodies turned into
typed values, or a :class:`~resolver.api.app.BadInput` (4xx, ``{"error": "..."}``)
saying what is wrong.

Every input is checked here before any lookup: host and domain names, ports,
protocols, e-mail addresses, IP addresses, DKIM selectors, PEM certificates, JSON
bodies (object, known members, types) and content types. Kept apart from the route
modules so that each route reads as "parse, look up, answer" and every family applies
the same limits.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm

from ..mail import smimea as sm
from ..mail.dkim_key import key_name
from ..wire.idn import IdnError, to_ascii
from ..wire.name import Name
from .app import MAX_BODY, MAX_MESSAGE_KEY, BadInput, parse_name

# the default authserv-id of /v1/authenticate, set by resolver.api.mail_routes.register
AUTHSERV_ID_KEY: web.AppKey[str] = web.AppKey("authserv_id", str)

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


def _bad_name(what: str, text: str, why: str) -> BadInput:
    return BadInput(f"{what}: {text[:80]!r} {why}")


def ascii_domain(text: str, what: str = "name") -> str:
    """*text* with its U-labels turned into A-labels (IDNA 2008 with the UTS 46
    mapping, :func:`resolver.wire.idn.to_ascii`), or a 400 saying why it cannot be.
    Every name of every route (and the ``query`` command) is converted this way."""
    try:
        return to_ascii(text)
    except IdnError as exc:
        raise _bad_name(what, text, f"is {exc}") from None


def mail_domain(text: str, what: str = "domain", *, min_labels: int = 2) -> Name:
    """A host or mail domain: LDH labels (underscores allowed), U-labels turned into
    A-labels, at most 253 characters, at least *min_labels* labels, not the root."""
    value = ascii_domain(text, what)
    value = value[:-1] if value.endswith(".") else value
    if not value:
        raise _bad_name(what, text, "is empty or the root: a host or domain name is needed")
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
    """An address with an SMIMEA/OPENPGPKEY owner name (RFC 8162 s3, RFC 7929 s3),
    its domain in A-labels."""
    if len(text) > MAX_EMAIL:
        raise BadInput(f"{what}: longer than {MAX_EMAIL} characters")
    local, at, domain = text.rpartition("@")
    if at and local and not domain.startswith("["):
        text = f"{local}@{ascii_domain(domain, f'{what} domain')}"
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
    host = domain if at else value
    name = mail_domain(host, f"{what} domain")
    if host.isascii():
        return value
    return f"{local}@{name.to_text()[:-1]}" if at else name.to_text()[:-1]


def parse_helo(text: str, what: str = "helo") -> str:
    """An EHLO/HELO name: a domain, or an address literal ``[192.0.2.1]``."""
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1]
        parse_ip(inner[5:] if inner.lower().startswith("ipv6:") else inner, what)
        return text
    name = mail_domain(text, what, min_labels=1)
    return text if text.isascii() else name.to_text()[:-1]


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


async def read_body(request: web.Request, kinds: tuple[str, ...], what: str,
                    limit: int = MAX_BODY) -> bytes:
    """The request body, at most *limit* octets (else 413), read from the stream as it
    arrives: a Content-Length over the limit is refused before anything is read, and
    the body is kept once (not also on the request, as ``request.read()`` would)."""
    if request.content_type not in kinds:
        raise BadInput(f"Content-Type must be {' or '.join(kinds)}, not "
                       f"{request.content_type[:60]!r}", 415)
    too_big = BadInput(f"request body larger than {limit} bytes", 413)
    length = request.content_length
    if length is not None and length > limit:
        raise too_big
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    if not size:
        raise BadInput(f"empty request body: {what} expected")
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def read_message(request: web.Request) -> bytes:
    """An e-mail message POSTed to the DKIM routes, at most ``api-max-body`` octets."""
    return await read_body(request, MESSAGE_TYPES, "a message", request.app[MAX_MESSAGE_KEY])


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


def pem_list(body: JsonBody, key: str, *, required: bool) -> list[x509.Certificate] | None:
    """The body member *key*: an array of PEM strings, as certificates (None if absent)."""
    texts = body.texts(key, required=required, max_items=MAX_CERTS, max_len=MAX_PEM)
    return parse_certificates(texts, key) if texts is not None else None


def result_pair(value: Any, what: str, results: tuple[str, ...],
                 address: bool) -> tuple[str, str]:
    """A ``{"result": ..., "domain": ...}`` member of a DMARC evaluation body: the result
    (one of *results*, lowercased) and the domain (an address allowed when *address*)."""
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

