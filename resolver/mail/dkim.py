"""DKIM signature verification (RFC 6376 s6, RFC 8463 Ed25519, RFC 8301 crypto update).

:func:`verify_message` checks every DKIM-Signature header field of a message and
returns one :class:`SignatureResult` per field, in header order, using RFC 8601
result names:

``pass``       the signature verified.
``fail``       the body hash or the signature did not verify, or the signature
               expired (``x=``, s6.1.1).
``neutral``    a signature we do not process: ``t=`` in the future (s3.5 "MAY
               ignore").
``policy``     acceptable syntax, refused by rule: ``a=rsa-sha1`` (RFC 8301 s3.1),
               RSA keys under 1024 bits (RFC 8301 s3.2), more signatures than the
               verifier's limit.
``permerror``  syntax and key errors (RFC 6376 PERMFAIL): bad tag list, missing
               or bad tags, ``v`` not 1, unknown algorithm or canonicalization,
               ``h=`` without From, ``i=`` outside ``d=``, no key, revoked key,
               key restrictions (``h=``, ``k=``, ``s=``, ``t=s``) violated.
``temperror``  the key look-up failed for now (SERVFAIL, timeout, DNSSEC-bogus).

Each result carries the key look-up's DNSSEC status. The DNS is reached only
through :class:`~resolver.mail.dnsapi.DnsSource`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import re
import time
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from ..dnssec.status import Security
from .dkim_canon import (
    CANON_ALGORITHMS,
    HeaderField,
    TagListError,
    blank_b_tag,
    body_hash,
    canon_header,
    parse_tag_list,
    select_headers,
    split_message,
    strip_fws,
)
from .dkim_key import (
    KEY_FOUND,
    KEY_NONE,
    KEY_TEMPERROR,
    MIN_RSA_BITS,
    DkimKey,
    KeyLookup,
    get_dkim_key,
    parse_key_record,
)
from .dnsapi import DnsSource

__all__ = [
    "DkimKey", "DkimSignature", "KeyLookup", "SignatureError", "SignatureResult",
    "get_dkim_key", "parse_key_record", "parse_signature", "verify_fields", "verify_message",
    "BodyHashSource",
    "CLOCK_SKEW", "MAX_SIGNATURES",
]

log = logging.getLogger(__name__)

PASS = "pass"
FAIL = "fail"
NEUTRAL = "neutral"
POLICY = "policy"
PERMERROR = "permerror"
TEMPERROR = "temperror"

CLOCK_SKEW = 300      # seconds of tolerance for t= and x=
MAX_SIGNATURES = 16   # signatures verified per message; the rest get "policy"

# a= values: (key type, hash) for the ones we verify (RFC 6376 s3.3, RFC 8463 s3)
ALGORITHMS: dict[str, tuple[str, str]] = {
    "rsa-sha256": ("rsa", "sha256"),
    "ed25519-sha256": ("ed25519", "sha256"),
}
REFUSED_ALGORITHMS = {"rsa-sha1": "rsa-sha1 is not accepted (RFC 8301 s3.1)"}

# sub-domain = Let-dig [Ldh-str] (RFC 5321 s4.1.2); underscores tolerated (seen in selectors)
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\Z")
_DIGITS = re.compile(r"[0-9]+\Z")


class SignatureError(ValueError):
    """A DKIM-Signature field that cannot be processed; *result* is its RFC 8601 name."""

    def __init__(self, message: str, result: str = PERMERROR) -> None:
        super().__init__(message)
        self.result = result


@dataclass(frozen=True, slots=True)
class DkimSignature:
    """The tags of one DKIM-Signature header field (RFC 6376 s3.5)."""

    algorithm: str
    signature: bytes
    body_hash: bytes
    domain: str
    selector: str
    headers: tuple[str, ...]
    header_canon: str = "simple"
    body_canon: str = "simple"
    identity: str = ""
    body_length: int | None = None
    timestamp: int | None = None
    expiration: int | None = None
    b_text: str = ""

    @property
    def key_type(self) -> str:
        return ALGORITHMS[self.algorithm][0]

    @property
    def hash_name(self) -> str:
        return ALGORITHMS[self.algorithm][1]

    @property
    def identity_domain(self) -> str:
        return self.identity.rpartition("@")[2]


def _domain_ok(text: str) -> str | None:
    """The A-label form of a domain for ``d=`` (RFC 6376 s3.5; RFC 8616 s4 lets it be
    internationalized), or None when it is not a domain name."""
    if text.endswith("."):
        text = text[:-1]
    if not text.isascii():
        try:
            text = text.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return text if _DOMAIN.match(text) and len(text) <= 253 else None


def _number(tags: dict[str, str], name: str, digits: int) -> int | None:
    value = tags.get(name)
    if value is None:
        return None
    if not _DIGITS.match(value) or len(value) > digits:
        raise SignatureError(f"{name}= is not a number")
    return int(value)


def _b64(tags: dict[str, str], name: str) -> bytes:
    try:
        return base64.b64decode(strip_fws(tags[name]), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError(f"{name}= is not valid base64") from exc


def parse_signature(value: str) -> DkimSignature:
    """Parse and check a DKIM-Signature value (RFC 6376 s3.5, s6.1.1).

    Raises :class:`SignatureError` (``permerror``, or ``policy`` for refused
    algorithms) for the first problem found.
    """
    try:
        pairs = parse_tag_list(value)
    except TagListError as exc:
        raise SignatureError(f"signature tag-list syntax error: {exc}") from exc
    tags = dict(pairs)
    for required in ("v", "a", "b", "bh", "d", "h", "s"):
        if required not in tags:
            raise SignatureError(f"signature is missing the required {required}= tag")
    if tags["v"] != "1":
        raise SignatureError(f"incompatible version v={tags['v']!r}")
    algorithm = tags["a"].strip().lower()
    if algorithm in REFUSED_ALGORITHMS:
        raise SignatureError(REFUSED_ALGORITHMS[algorithm], POLICY)
    if algorithm not in ALGORITHMS:
        raise SignatureError(f"unsupported algorithm a={algorithm}")
    canon = tags.get("c", "simple/simple").strip().lower()
    header_canon, _, body_canon = canon.partition("/")
    body_canon = body_canon or "simple"
    if header_canon not in CANON_ALGORITHMS or body_canon not in CANON_ALGORITHMS:
        raise SignatureError(f"unsupported canonicalization c={canon}")
    domain = _domain_ok(tags["d"].strip())
    if domain is None:
        raise SignatureError(f"d= is not a domain name: {tags['d'][:60]!r}")
    selector = tags["s"].strip()
    if _domain_ok(selector) is None:
        raise SignatureError(f"s= is not a valid selector: {selector[:60]!r}")
    headers = tuple(h.strip() for h in tags["h"].split(":"))
    if any(not h or any(c in h for c in " \t\r\n") for h in headers):
        raise SignatureError("h= has an empty or malformed header name")
    if "from" not in (h.lower() for h in headers):
        raise SignatureError("From field not signed (h= lacks From, s5.4)")
    identity = tags.get("i", "").strip() or "@" + domain
    local, at, idom = identity.rpartition("@")
    if not at:
        raise SignatureError("i= has no '@'")
    idom_a = _domain_ok(idom)
    if idom_a is None:
        raise SignatureError(f"i= domain is not a domain name: {idom[:60]!r}")
    if not (idom_a.lower() == domain.lower() or idom_a.lower().endswith("." + domain.lower())):
        raise SignatureError(f"i= domain {idom} is not within d={domain} (s6.1.1)")
    identity = f"{local}@{idom_a}"
    if "q" in tags:
        methods = [m.strip().lower() for m in tags["q"].split(":")]
        if not any(m == "dns/txt" or m.startswith("dns/txt/") or m == "dns" for m in methods):
            raise SignatureError(f"no supported query method in q={tags['q']}")
    body_length = _number(tags, "l", 76)
    timestamp = _number(tags, "t", 12)
    expiration = _number(tags, "x", 12)
    if timestamp is not None and expiration is not None and expiration < timestamp:
        raise SignatureError("x= is before t= (s3.5)")
    return DkimSignature(
        algorithm=algorithm, signature=_b64(tags, "b"), body_hash=_b64(tags, "bh"),
        domain=domain, selector=selector, headers=headers, header_canon=header_canon,
        body_canon=body_canon, identity=identity, body_length=body_length,
        timestamp=timestamp, expiration=expiration, b_text=strip_fws(tags["b"]))


@dataclass(frozen=True, slots=True)
class SignatureResult:
    """The verdict on one DKIM-Signature field.

    *index* is the field's position among the message's DKIM-Signature fields
    (0 = topmost). *key_security* is the DNSSEC status of the key look-up (None when
    no look-up was made). *testing* reflects the key's ``t=y`` flag: RFC 6376 s3.6.1
    asks verifiers not to treat such mail differently from unsigned mail.
    """

    result: str
    reason: str | None = None
    index: int = 0
    domain: str | None = None
    selector: str | None = None
    algorithm: str | None = None
    identity: str | None = None
    canonicalization: str | None = None
    signed_headers: tuple[str, ...] = ()
    body_length: int | None = None
    timestamp: int | None = None
    expiration: int | None = None
    key_bits: int | None = None
    key_security: Security | None = None
    testing: bool = False
    b_text: str | None = None

    @property
    def passed(self) -> bool:
        return self.result == PASS

    @property
    def header_b(self) -> str | None:
        """The first 12 characters of b=, for ``header.b`` (RFC 6008)."""
        return self.b_text[:12] if self.b_text else None

    def to_json(self) -> dict[str, Any]:
        return {
            "result": self.result,
            "reason": self.reason,
            "index": self.index,
            "domain": self.domain,
            "selector": self.selector,
            "algorithm": self.algorithm,
            "identity": self.identity,
            "canonicalization": self.canonicalization,
            "signed_headers": list(self.signed_headers),
            "body_length": self.body_length,
            "timestamp": self.timestamp,
            "expiration": self.expiration,
            "key_bits": self.key_bits,
            "key_security": self.key_security.label if self.key_security is not None else None,
            "testing": self.testing,
            "header_b": self.header_b,
        }


def _raw_tag(field: HeaderField, name: str) -> str | None:
    """A tag's value from a field we could not fully parse (best effort, for reports)."""
    for spec in field.text().split(";"):
        key, sep, value = spec.partition("=")
        if sep and key.strip() == name:
            return value.strip() or None
    return None


class BodyHashSource(Protocol):
    """Where a verifier gets canonical body digests: ``(digest, canonical length)``."""

    def get(self, method: str, length: int | None, hash_name: str) -> tuple[bytes, int]:
        ...


class _BodyHashes:
    """Canonical body digests shared by the signatures of one message."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self._cache: dict[tuple[str, str, int | None], tuple[bytes, int]] = {}

    def get(self, method: str, length: int | None, hash_name: str) -> tuple[bytes, int]:
        key = (method, hash_name, length)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = body_hash(self.body, method, length, hash_name)
        return found


def _verify_crypto(sig: DkimSignature, key: DkimKey, data: bytes) -> bool:
    public = key.load()
    try:
        if isinstance(public, rsa.RSAPublicKey):
            public.verify(sig.signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(public, ed25519.Ed25519PublicKey):
            # RFC 8463 s3: Ed25519 (pure) over the SHA-256 hash of the data
            public.verify(sig.signature, hashlib.sha256(data).digest())
        else:  # pragma: no cover - _load_key returns only these
            return False
    except InvalidSignature:
        return False
    return True


def _check_key(sig: DkimSignature, key: DkimKey) -> SignatureError | None:
    """Key record restrictions against the signature (s3.6.1, s6.1.2, RFC 8301)."""
    if key.revoked:
        return SignatureError("key revoked (empty p=)")
    if not key.allows_hash(sig.hash_name):
        return SignatureError(f"key h= does not allow {sig.hash_name}")
    if key.key_type != sig.key_type:
        return SignatureError(f"key type k={key.key_type} does not match a={sig.algorithm}")
    if not key.allows_service("email"):
        return SignatureError("key s= does not include email")
    if key.strict_identity and sig.identity_domain.lower() != sig.domain.lower():
        return SignatureError("key t=s requires the i= domain to equal d=")
    if key.key_type == "rsa" and (key.key_bits or 0) < MIN_RSA_BITS:
        return SignatureError(f"RSA key of {key.key_bits} bits is under {MIN_RSA_BITS} "
                              "(RFC 8301 s3.2)", POLICY)
    return None


async def _verify_one(dns: DnsSource, fields: list[HeaderField], field: HeaderField,
                      index: int, bodies: BodyHashSource, now: float,
                      skew: float) -> SignatureResult:
    try:
        sig = parse_signature(field.text())
    except SignatureError as exc:
        return SignatureResult(exc.result, str(exc), index, domain=_raw_tag(field, "d"),
                               selector=_raw_tag(field, "s"), algorithm=_raw_tag(field, "a"),
                               b_text=strip_fws(_raw_tag(field, "b") or "") or None)
    base: dict[str, Any] = {
        "index": index, "domain": sig.domain, "selector": sig.selector,
        "algorithm": sig.algorithm, "identity": sig.identity,
        "canonicalization": f"{sig.header_canon}/{sig.body_canon}",
        "signed_headers": sig.headers, "body_length": sig.body_length,
        "timestamp": sig.timestamp, "expiration": sig.expiration, "b_text": sig.b_text,
    }
    if sig.expiration is not None and sig.expiration + skew < now:
        return SignatureResult(FAIL, f"signature expired (x={sig.expiration})", **base)
    if sig.timestamp is not None and sig.timestamp > now + skew:
        return SignatureResult(NEUTRAL, f"signature timestamp in the future (t={sig.timestamp})",
                               **base)
    try:
        lookup: KeyLookup = await get_dkim_key(dns, sig.selector, sig.domain)
    except (OSError, TimeoutError) as exc:
        # a DnsSource should return failures as values; a transport error that
        # escapes is still only a temporary failure of this one signature
        log.warning("DKIM key look-up for s=%s d=%s raised %r", sig.selector, sig.domain, exc)
        return SignatureResult(TEMPERROR, f"key lookup failed: {exc}", **base)
    base["key_security"] = lookup.security
    if lookup.status == KEY_TEMPERROR:
        return SignatureResult(TEMPERROR, lookup.reason, **base)
    if lookup.status == KEY_NONE:
        return SignatureResult(PERMERROR, lookup.reason, **base)
    key = lookup.key
    if lookup.status != KEY_FOUND or key is None:
        return SignatureResult(PERMERROR, lookup.reason or "unusable key record", **base)
    base["key_bits"] = key.key_bits
    base["testing"] = key.testing
    problem = _check_key(sig, key)
    if problem is not None:
        return SignatureResult(problem.result, str(problem), **base)
    digest, canonical_length = bodies.get(sig.body_canon, sig.body_length, sig.hash_name)
    if sig.body_length is not None and sig.body_length > canonical_length:
        return SignatureResult(PERMERROR, f"l={sig.body_length} exceeds the body length "
                               f"{canonical_length} (s6.1.3)", **base)
    if not hmac.compare_digest(digest, sig.body_hash):
        return SignatureResult(FAIL, "body hash did not verify", **base)
    signed = select_headers(fields, list(sig.headers))
    data = b"".join(canon_header(f, sig.header_canon) for f in signed)
    own = canon_header(blank_b_tag(field), sig.header_canon)
    data += own[:-2] if own.endswith(b"\r\n") else own
    try:
        ok = _verify_crypto(sig, key, data)
    except ValueError as exc:
        return SignatureResult(PERMERROR, f"key syntax error: {exc}", **base)
    if not ok:
        return SignatureResult(FAIL, "signature did not verify", **base)
    return SignatureResult(PASS, None, **base)


async def verify_message(dns: DnsSource, message: bytes, *, now: float | None = None,
                         skew: float = CLOCK_SKEW,
                         max_signatures: int = MAX_SIGNATURES) -> list[SignatureResult]:
    """Verify every DKIM-Signature field of *message* (RFC 6376 s6.1).

    *message* is the raw message, CRLF or LF line ends. *now* pins the clock for
    ``t=``/``x=`` (default: the current time); *skew* is the tolerance in seconds.
    Returns one result per signature field, top to bottom; an unsigned message gives
    an empty list (RFC 8601 ``dkim=none``). Key look-ups run concurrently.
    """
    fields, body = split_message(message)
    return await verify_fields(dns, fields, _BodyHashes(body), now=now, skew=skew,
                               max_signatures=max_signatures)


async def verify_fields(dns: DnsSource, fields: list[HeaderField], bodies: BodyHashSource, *,
                        now: float | None = None, skew: float = CLOCK_SKEW,
                        max_signatures: int = MAX_SIGNATURES) -> list[SignatureResult]:
    """:func:`verify_message` for a header already split into fields and a body given
    by its digests (the milter hashes the body while it streams in)."""
    clock = time.time() if now is None else now
    sig_fields = [f for f in fields if f.lname == b"dkim-signature"]
    jobs = [_verify_one(dns, fields, f, i, bodies, clock, skew)
            for i, f in enumerate(sig_fields[:max_signatures])]
    results = list(await asyncio.gather(*jobs))
    for i in range(max_signatures, len(sig_fields)):
        f = sig_fields[i]
        results.append(SignatureResult(POLICY, f"more than {max_signatures} signatures; "
                                       "not verified", i, domain=_raw_tag(f, "d"),
                                       selector=_raw_tag(f, "s"), algorithm=_raw_tag(f, "a")))
    for r in results:
        log.debug("DKIM d=%s s=%s: %s (%s)", r.domain, r.selector, r.result, r.reason)
    return results


def summarize(sigs: list[SignatureResult]) -> tuple[str, Security]:
    """One DKIM result for a whole message (the API's ``result``):
    ``pass`` if a signature passed, ``none`` for an unsigned message, ``temperror`` if
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
