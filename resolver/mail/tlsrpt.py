"""SMTP TLS Reporting (RFC 8460): the ``_smtp._tls`` TXT record, parsed and shown.

Only discovery: where a domain wants its TLS reports sent (``rua``: ``mailto:`` and
``https:`` URIs). Sending reports is not done here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from ..wire.name import Name, NameError_
from ..wire.types import RRType
from .dnsapi import DnsSource, LookupInfo
from .mtasts import Json
from .mtasts_cache import txt_strings

VERSION = "v=TLSRPTv1"
_FIELD_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")


class TlsRptError(ValueError):
    """A malformed ``_smtp._tls`` record; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class TlsRptRecord:
    rua: tuple[str, ...]
    extensions: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> Json:
        return {"version": "TLSRPTv1", "rua": list(self.rua),
                "extensions": {k: v for k, v in self.extensions}}


def _check_uri(uri: str) -> str:
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme == "mailto":
        address = unquote(parts.path)
        local, at, domain = address.rpartition("@")
        if not at or not local or "." not in domain:
            raise TlsRptError(f"rua: {uri[:80]!r} is not a mailto: URI with an address")
    elif scheme == "https":
        if not parts.hostname:
            raise TlsRptError(f"rua: {uri[:80]!r} has no host")
    else:
        raise TlsRptError(f"rua: {uri[:80]!r}: only mailto: and https: URIs are allowed "
                          "(RFC 8460 s3)")
    return uri


def parse_record(text: str) -> TlsRptRecord:
    """One record: ``v=TLSRPTv1`` first, then ``rua=`` with comma-separated URIs;
    other fields are kept as extensions (RFC 8460 s3)."""
    fields = [f.strip(" \t") for f in text.split(";")]
    if fields and fields[-1] == "":
        fields.pop()
    if not fields or fields[0] != VERSION:
        raise TlsRptError(f"the record must start with {VERSION!r}")
    rua: tuple[str, ...] | None = None
    ext: list[tuple[str, str]] = []
    for item in fields[1:]:
        key, eq, value = item.partition("=")
        if not eq or not _FIELD_NAME.match(key):
            raise TlsRptError(f"malformed field {item[:40]!r}")
        if key == "rua":
            if rua is not None:
                raise TlsRptError("'rua' given twice")
            uris = [u.strip(" \t") for u in value.split(",")]
            if not all(uris):
                raise TlsRptError("rua: empty URI")
            rua = tuple(_check_uri(u) for u in uris)
        elif key == "v":
            raise TlsRptError("'v' given twice")
        else:
            ext.append((key, value))
    if rua is None:
        raise TlsRptError("the record has no 'rua' field")
    return TlsRptRecord(rua, tuple(ext))


def select_record(texts: Sequence[str]) -> TlsRptRecord:
    """Records not starting with ``v=TLSRPTv1;`` are ignored; exactly one must remain
    (RFC 8460 s3)."""
    candidates = [t for t in texts if t.startswith(VERSION + ";") or t == VERSION]
    if len(candidates) != 1:
        raise TlsRptError("no TXT record starts with 'v=TLSRPTv1'" if not candidates else
                          f"{len(candidates)} TXT records start with 'v=TLSRPTv1': exactly "
                          "one is allowed")
    return parse_record(candidates[0])


@dataclass(frozen=True, slots=True)
class TlsRptResult:
    domain: Name
    status: str                 # "record", "none" (absent or malformed), "dns-failed"
    reasons: tuple[str, ...]
    lookup: LookupInfo | None
    record: TlsRptRecord | None = None

    def to_json(self) -> Json:
        return {"domain": self.domain.to_text(), "result": self.status,
                "reasons": list(self.reasons),
                "lookup": self.lookup.to_json() if self.lookup is not None else None,
                "record": self.record.to_json() if self.record is not None else None}


async def tls_rpt(dns: DnsSource, domain: Name) -> TlsRptResult:
    """The TLS-RPT record of *domain*, with the lookup and its DNSSEC status."""
    try:
        owner = domain.prepend(b"_tls").prepend(b"_smtp")
    except NameError_:
        return TlsRptResult(domain, "none", ("_smtp._tls.<domain> would exceed 255 octets",),
                            None)
    lookup = await dns.lookup(owner, RRType.TXT)
    info = LookupInfo(lookup)
    if lookup.failed:
        return TlsRptResult(domain, "dns-failed", (lookup.summary(),), info)
    try:
        record = select_record(txt_strings(lookup))
    except TlsRptError as exc:
        return TlsRptResult(domain, "none", (lookup.summary(), str(exc)), info)
    return TlsRptResult(domain, "record", (lookup.summary(),), info, record)
