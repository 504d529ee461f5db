"""DKIM message syntax: tag lists, header fields and canonicalization.

* Tag lists (RFC 6376 s3.2), shared by DKIM-Signature header fields, DKIM key
  records and DMARC records (RFC 7489 s6.4 uses the same grammar).
* Splitting a message into header fields and body (RFC 5322 s2.1, s2.2.3), with
  line ends normalized to CRLF (RFC 6376 s5.3 lets verifiers undo a local LF
  convention; the message is hashed in its canonical CRLF form).
* The "simple" and "relaxed" canonicalization algorithms for header fields and
  bodies (RFC 6376 s3.4.1-3.4.4), the ``l=`` body length limit (s3.4.5) and the
  body hash (s3.7).

Everything here works on bytes: header fields may carry 8-bit octets (RFC 6532)
and are hashed exactly as received.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

CRLF = b"\r\n"
WSP = " \t"
FWS_CHARS = " \t\r\n"

_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_WSP_RUN = re.compile(rb"[ \t]+")
_WSP_BEFORE_CRLF = re.compile(rb"[ \t]+\r\n")


class TagListError(ValueError):
    """A tag list that does not follow RFC 6376 s3.2."""


def parse_tag_list(text: str) -> list[tuple[str, str]]:
    """Split a tag list into ``(name, value)`` pairs, in order (RFC 6376 s3.2).

    ``tag-spec = [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]``, separated by
    ``;`` with an optional trailing ``;``. Values lose the whitespace around them
    but keep inner folding whitespace (callers strip it where the tag's grammar
    allows, e.g. base64 values). Tag names are returned as written: DKIM names are
    case-sensitive, DMARC callers fold them. Duplicate names are reported as an
    error (s3.2: "the entire tag-list is invalid"). Empty specs between two
    semicolons are skipped (a leniency; they carry no tag).
    """
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for spec in text.split(";"):
        if not spec.strip(FWS_CHARS):
            continue
        name, sep, value = spec.partition("=")
        if not sep:
            raise TagListError(f"tag without '=': {spec.strip(FWS_CHARS)[:40]!r}")
        name = name.strip(FWS_CHARS)
        if not _TAG_NAME.match(name):
            raise TagListError(f"bad tag name {name[:40]!r}")
        value = value.strip(FWS_CHARS)
        for ch in value:
            # tval = 1*VALCHAR (%x21-3A / %x3C-7E), separated by FWS; 8-bit text is
            # tolerated for internationalized identities (RFC 8616 s4).
            if (ch < "!" and ch not in FWS_CHARS) or ch == "\x7f":
                raise TagListError(f"control character in tag {name!r}")
        if name in seen:
            raise TagListError(f"duplicate tag {name!r}")
        seen.add(name)
        out.append((name, value))
    return out


def strip_fws(value: str) -> str:
    """Remove all folding whitespace (for base64 and similar values, s3.5)."""
    return "".join(value.split())


# --------------------------------------------------------------------------
# header fields and body


@dataclass(frozen=True, slots=True)
class HeaderField:
    """One header field as received: *raw* is the whole field, name to final CRLF,
    with folding kept byte for byte (the "simple" canonical form, s3.4.1)."""

    raw: bytes

    @property
    def name(self) -> bytes:
        """The field name as written, without whitespace before the colon."""
        colon = self.raw.find(b":")
        head = self.raw if colon < 0 else self.raw[:colon]
        return head.rstrip(b" \t\r\n")

    @property
    def lname(self) -> bytes:
        """The field name lowercased, for case-insensitive matching (s5.4)."""
        return self.name.strip(b" \t").lower()

    @property
    def value(self) -> bytes:
        """Everything after the first colon, without the terminating CRLF."""
        colon = self.raw.find(b":")
        rest = b"" if colon < 0 else self.raw[colon + 1:]
        return rest[:-2] if rest.endswith(CRLF) else rest

    def text(self) -> str:
        """The unfolded value as text (UTF-8, undecodable octets escaped)."""
        return self.value.replace(CRLF, b"").decode("utf-8", "surrogateescape")


def normalize_line_ends(message: bytes) -> bytes:
    """Turn bare LF line ends into CRLF; CRLF stays, bare CR is left alone."""
    if b"\n" not in message:
        return message
    return message.replace(CRLF, b"\n").replace(b"\n", CRLF)


def split_message(message: bytes) -> tuple[list[HeaderField], bytes]:
    """Split *message* into header fields (top to bottom) and body.

    Line ends are normalized to CRLF first. The header ends at the first empty
    line; without one the whole message is header and the body is empty. A line
    starting with WSP continues the previous field (RFC 5322 s2.2.3).
    """
    message = normalize_line_ends(message)
    if message.startswith(CRLF):
        head, body = b"", message[2:]
    else:
        end = message.find(b"\r\n\r\n")
        if end < 0:
            head, body = message, b""
            if head and not head.endswith(CRLF):
                head += CRLF
        else:
            head, body = message[:end + 2], message[end + 4:]
    fields: list[bytearray] = []
    if head:
        for line in head[:-2].split(CRLF):
            if line[:1] in (b" ", b"\t") and fields:
                fields[-1] += line + CRLF
            else:
                fields.append(bytearray(line + CRLF))
    return [HeaderField(bytes(f)) for f in fields], body


# --------------------------------------------------------------------------
# canonicalization (RFC 6376 s3.4)

CANON_ALGORITHMS = ("simple", "relaxed")


def canon_header(field: HeaderField | bytes, method: str) -> bytes:
    """One header field in canonical form, with its CRLF (s3.4.1, s3.4.2).

    relaxed: lowercase the name, unfold, turn WSP runs into one SP, drop WSP at
    the end of the value and around the colon.
    """
    raw = field.raw if isinstance(field, HeaderField) else field
    if method == "simple":
        return raw
    if method != "relaxed":
        raise ValueError(f"unknown canonicalization {method!r}")
    colon = raw.find(b":")
    if colon < 0:
        name, value = raw, b""
    else:
        name, value = raw[:colon], raw[colon + 1:]
    name = name.replace(CRLF, b"").strip(b" \t").lower()
    value = value.replace(CRLF, b"")
    value = _WSP_RUN.sub(b" ", value).strip(b" \t")
    return name + b":" + value + CRLF


def canon_body(body: bytes, method: str) -> bytes:
    """The body in canonical form (s3.4.3 simple, s3.4.4 relaxed).

    simple: drop empty lines at the end; an empty body becomes one CRLF.
    relaxed: drop WSP at line ends, turn WSP runs into one SP, drop empty lines
    at the end; an empty body stays empty (RFC 6376 errata 1384 / s3.4.4).
    """
    if method == "relaxed":
        body = _WSP_RUN.sub(b" ", body)
        body = _WSP_BEFORE_CRLF.sub(CRLF, body)
        if body.endswith(b" "):
            body = body[:-1]
        body = _strip_trailing_crlfs(body)
        return body + CRLF if body else b""
    if method != "simple":
        raise ValueError(f"unknown canonicalization {method!r}")
    return _strip_trailing_crlfs(body) + CRLF


def _strip_trailing_crlfs(body: bytes) -> bytes:
    end = len(body)
    while end >= 2 and body[end - 2:end] == CRLF:
        end -= 2
    return body[:end]


def body_hash(body: bytes, method: str, length: int | None = None,
              hash_name: str = "sha256") -> tuple[bytes, int]:
    """The digest of the canonical body (s3.7), cut to *length* octets when the
    signature has ``l=`` (s3.4.5). Returns ``(digest, canonical length)``;
    the caller checks that ``l=`` does not exceed the canonical length."""
    canonical = canon_body(body, method)
    data = canonical if length is None else canonical[:length]
    return hashlib.new(hash_name, data).digest(), len(canonical)


def select_headers(fields: list[HeaderField], names: list[str]) -> list[HeaderField]:
    """The header fields an ``h=`` list signs (s5.4.2).

    Each name takes the last not yet used instance of that field, working from
    the bottom up; a name listed more often than the field occurs signs nothing
    for the extra entries (the "over-signing" that keeps fields from being added).
    """
    stacks: dict[bytes, list[HeaderField]] = {}
    for f in fields:
        stacks.setdefault(f.lname, []).append(f)
    chosen: list[HeaderField] = []
    for name in names:
        stack = stacks.get(name.strip().lower().encode("utf-8", "surrogateescape"))
        if stack:
            chosen.append(stack.pop())
    return chosen


def blank_b_tag(field: HeaderField) -> bytes:
    """The DKIM-Signature field with the value of its ``b=`` tag (and the
    whitespace around it) removed, as hashed by s3.5 and s3.7 step 2."""
    raw = field.raw
    colon = raw.find(b":")
    if colon < 0:
        return raw
    value = raw[colon + 1:]
    has_crlf = value.endswith(CRLF)
    if has_crlf:
        value = value[:-2]
    parts = value.split(b";")
    for i, part in enumerate(parts):
        eq = part.find(b"=")
        if eq >= 0 and part[:eq].strip(b" \t\r\n") == b"b":
            parts[i] = part[:eq + 1]
    out = raw[:colon + 1] + b";".join(parts)
    return out + CRLF if has_crlf else out
