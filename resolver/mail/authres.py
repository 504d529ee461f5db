"""Authentication-Results header field values (RFC 8601).

:func:`format_authentication_results` turns SPF, DKIM and DMARC outcomes into the
value of an ``Authentication-Results:`` field that an MTA or milter can add as is:

    mx.example.org; dkim=pass (1024-bit rsa key, DNSSEC secure)
     header.d=example.com header.i=@example.com header.s=sel header.a=rsa-sha256
     header.b="Xh4Ujb2wv5x5"; spf=pass smtp.mailfrom=joe@example.com;
     dmarc=pass (p=reject dis=none) header.from=example.com

Only registered methods, results and properties are produced (RFC 8601 s2.7 and
the IANA Email Authentication registries): ``spf`` (``smtp.mailfrom``,
``smtp.helo``; RFC 7208 s9.1), ``dkim`` (``header.d``, ``header.i``, ``header.s``,
``header.a``; ``header.b`` from RFC 6008), ``dmarc`` (``header.from``, RFC 7489
s11.2). Policy details go in comments. SPF results are taken in a generic shape
(:class:`SpfInfo`) so any SPF evaluator can feed this module.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..dnssec.status import Security
from .dkim import SignatureResult
from .dmarc import DmarcResult

FIELD_NAME = "Authentication-Results"

RESULTS: dict[str, tuple[str, ...]] = {
    # RFC 8601 s2.7.1 (dkim), s2.7.2 (spf); RFC 7489 s11.2 (dmarc)
    "dkim": ("none", "pass", "fail", "policy", "neutral", "temperror", "permerror"),
    "spf": ("none", "neutral", "pass", "policy", "fail", "softfail", "temperror",
            "permerror"),
    "dmarc": ("none", "pass", "fail", "temperror", "permerror"),
}
_SYNONYMS = {"hardfail": "fail"}  # RFC 8601 s2.7.2: accepted from old SPF code, never emitted

# RFC 2045 token: printable ASCII except SPACE and tspecials
_TOKEN = re.compile(r'[!#$%&\'*+\-.0-9A-Z^_`a-z{|}~]+\Z')
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*\Z")
_DOMAIN = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?"
                     r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?)*\Z")


@dataclass(frozen=True, slots=True)
class SpfInfo:
    """An SPF outcome in the shape Authentication-Results needs (RFC 7208 s9.1).

    *result* is an RFC 7208 s2.6 result name; *mailfrom* the MAIL FROM address (or
    its domain; empty or None for the null sender); *helo* the HELO/EHLO name;
    *reason* an optional human-readable explanation; *security* the weakest DNSSEC
    status of the answers the result rests on (shown only when asked for).
    *identity* says which identity the result is for: ``"mailfrom"`` (only
    ``smtp.mailfrom`` is reported), ``"helo"`` (only ``smtp.helo``), or None for a
    caller that checked MAIL FROM only and shows the HELO name beside it.
    """

    result: str
    mailfrom: str | None = None
    helo: str | None = None
    reason: str | None = None
    security: Security | None = None
    identity: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"result": self.result, "mailfrom": self.mailfrom, "helo": self.helo,
                "reason": self.reason}


def quote_value(text: str) -> str:
    """A ``value`` (RFC 2045 token or RFC 5322 quoted-string, as RFC 8601 s2.2 uses)."""
    if _TOKEN.match(text):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(" " if c in "\r\n" else c for c in escaped)
    return f'"{escaped}"'


def pvalue(text: str) -> str:
    """A property value (RFC 8601 s2.2 ``pvalue``): a domain name or
    ``[local-part] "@" domain-name`` as is, anything else as a ``value``."""
    local, at, domain = text.rpartition("@")
    if at and _DOMAIN.match(domain) and (not local or _DOT_ATOM.match(local)):
        return text
    if not at and _DOMAIN.match(text):
        return text
    return quote_value(text)


def comment(text: str) -> str:
    """An RFC 5322 comment with ``(``, ``)`` and ``\\`` escaped."""
    escaped = re.sub(r"([()\\])", r"\\\1", text)
    escaped = "".join(" " if c in "\r\n" else c for c in escaped)
    return f"({escaped})"


def _result(method: str, result: str) -> str:
    value = _SYNONYMS.get(result.lower(), result.lower())
    if value not in RESULTS[method]:
        raise ValueError(f"{value!r} is not a registered {method} result (RFC 8601)")
    return value


def _resinfo(method: str, result: str, comments: Sequence[str] = (),
             reason: str | None = None, props: Sequence[tuple[str, str | None]] = ()) -> str:
    parts = [f"{method}={_result(method, result)}"]
    parts.extend(comment(c) for c in comments if c)
    if reason:
        parts.append(f"reason={quote_value(reason)}")
    parts.extend(f"{name}={pvalue(value)}" for name, value in props if value)
    return " ".join(parts)


def _dkim_resinfo(sig: SignatureResult) -> str:
    notes = []
    if sig.key_bits:
        kind = (sig.algorithm or "").partition("-")[0] or "unknown"
        notes.append(f"{sig.key_bits}-bit {kind} key")
    if sig.key_security is not None:
        notes.append(f"DNSSEC {sig.key_security.label}")
    if sig.testing:
        notes.append("key in testing mode")
    props: list[tuple[str, str | None]] = [
        ("header.d", sig.domain), ("header.i", sig.identity), ("header.s", sig.selector),
        ("header.a", sig.algorithm), ("header.b", sig.header_b)]
    return _resinfo("dkim", sig.result, [", ".join(notes)] if notes else [],
                    None if sig.result == "pass" else sig.reason, props)


def _spf_resinfo(spf: SpfInfo, dnssec: bool = False) -> str:
    props: list[tuple[str, str | None]] = []
    if spf.identity != "helo":
        if spf.mailfrom:
            props.append(("smtp.mailfrom", spf.mailfrom))
        elif spf.helo:
            # null sender: SPF checked postmaster@<helo> (RFC 7208 s2.4)
            props.append(("smtp.mailfrom", f"postmaster@{spf.helo}"))
    if spf.helo and spf.identity != "mailfrom":
        props.append(("smtp.helo", spf.helo))
    notes = [f"DNSSEC {spf.security.label}"] if dnssec and spf.security is not None else []
    return _resinfo("spf", spf.result, notes, spf.reason, props)


def _dmarc_resinfo(dmarc: DmarcResult, dnssec: bool = False) -> str:
    notes = []
    if dmarc.p is not None:
        notes.append(f"p={dmarc.p}")
    if dmarc.sp is not None:
        notes.append(f"sp={dmarc.sp}")
    if dmarc.p is not None:
        notes.append(f"dis={dmarc.disposition}")
    reason = dmarc.reason if dmarc.result in ("temperror", "permerror") else None
    text = " ".join(notes)
    if dnssec and dmarc.security is not None:
        text = ", ".join(t for t in (text, f"DNSSEC {dmarc.security.label}") if t)
    return _resinfo("dmarc", dmarc.result, [text] if text else [], reason,
                    [("header.from", dmarc.from_domain)])


def format_authentication_results(
        authserv_id: str, *, spf: SpfInfo | None = None, spf_helo: SpfInfo | None = None,
        dkim: Sequence[SignatureResult] | None = None, dmarc: DmarcResult | None = None,
        version: int | None = None, fold: str | None = None, dnssec: bool = False) -> str:
    """The value of an Authentication-Results field (RFC 8601 s2.2).

    *authserv-id* names this ADMD's authentication service (usually the host name).
    *spf* is the MAIL FROM result, *spf_helo* the HELO identity's (RFC 7208 s2.3),
    reported as a second ``spf`` result. Pass ``None`` for a method that was not run;
    an empty *dkim* list means the message was unsigned (``dkim=none``). Nothing run
    gives ``<id>; none``.
    *fold* is inserted before each result (e.g. ``"\\r\\n\\t"``); default one space.
    *dnssec* adds the DNSSEC status of the SPF and DMARC answers as comments
    (DKIM results always carry their key's).
    Raises ValueError for a result name a method does not register.
    """
    head = quote_value(authserv_id)
    if version is not None:
        head += f" {int(version)}"
    infos: list[str] = []
    if dkim is not None:
        infos.extend(_dkim_resinfo(sig) for sig in dkim)
        if not dkim:
            infos.append(_resinfo("dkim", "none"))
    if spf is not None:
        infos.append(_spf_resinfo(spf, dnssec))
    if spf_helo is not None:
        infos.append(_spf_resinfo(spf_helo, dnssec))
    if dmarc is not None:
        infos.append(_dmarc_resinfo(dmarc, dnssec))
    sep = fold if fold is not None else " "
    if not infos:
        return f"{head}; none"
    return head + "".join(f";{sep}{info}" for info in infos)
