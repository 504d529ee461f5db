"""MTA-STS (RFC 8461): the ``_mta-sts`` TXT record, the policy file and MX matching.

Pure parsing and matching, no I/O: fetching the policy over HTTPS is
:mod:`resolver.mail.mtasts_fetch`, discovery and the policy cache
:mod:`resolver.mail.mtasts_cache`. Parse errors raise :class:`MtaStsError` with a
message that says what is wrong; callers turn that into "no policy" (RFC 8461 s3.1,
s3.2: a malformed record or policy means the domain has no usable policy).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]

MAX_POLICY_BYTES = 64 * 1024       # RFC 8461 s3.3: senders may refuse larger policies
MAX_AGE_CAP = 31_557_600           # RFC 8461 s3.2: max_age is at most one year
WELL_KNOWN = "/.well-known/mta-sts.txt"

_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
_FIELD_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_WSP = " \t"


class MtaStsError(ValueError):
    """A malformed ``_mta-sts`` record or policy; the message says what is wrong."""


class Mode(enum.StrEnum):
    ENFORCE = "enforce"
    TESTING = "testing"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class StsRecord:
    """The ``_mta-sts`` TXT record: ``v=STSv1; id=...`` (RFC 8461 s3.1)."""

    id: str
    extensions: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> Json:
        return {"version": "STSv1", "id": self.id,
                "extensions": {k: v for k, v in self.extensions}}


def parse_record(text: str) -> StsRecord:
    """One TXT record (its strings already joined). Fields are ``key=value`` separated
    by ``;`` with optional spaces; ``v=STSv1`` must come first and ``id`` is 1-32
    letters and digits. Unknown fields are kept as extensions (RFC 8461 s3.1)."""
    fields = [f.strip(_WSP) for f in text.split(";")]
    if fields and fields[-1] == "":
        fields.pop()
    if not fields or fields[0] != "v=STSv1":
        raise MtaStsError("the record must start with 'v=STSv1'")
    ident: str | None = None
    ext: list[tuple[str, str]] = []
    for item in fields[1:]:
        key, eq, value = item.partition("=")
        if not eq or not _FIELD_NAME.match(key):
            raise MtaStsError(f"malformed field {item[:40]!r}")
        if key == "id":
            if ident is not None:
                raise MtaStsError("'id' given twice")
            if not _ID.match(value):
                raise MtaStsError(f"id {value[:40]!r} must be 1-32 letters and digits")
            ident = value
        elif key == "v":
            raise MtaStsError("'v' given twice")
        else:
            ext.append((key, value))
    if ident is None:
        raise MtaStsError("the record has no 'id' field")
    return StsRecord(ident, tuple(ext))


def select_record(texts: Sequence[str]) -> StsRecord:
    """The record among the TXT strings at ``_mta-sts``: those not starting with
    ``v=STSv1`` are ignored; anything but exactly one left is an error (RFC 8461 s3.1)."""
    candidates = [t for t in texts if t.startswith("v=STSv1;") or t == "v=STSv1"]
    if not candidates:
        raise MtaStsError("no TXT record starts with 'v=STSv1'")
    if len(candidates) > 1:
        raise MtaStsError(f"{len(candidates)} TXT records start with 'v=STSv1': exactly one "
                          "is allowed")
    return parse_record(candidates[0])


def valid_pattern(pattern: str) -> bool:
    """An ``mx`` value: a host name, optionally ``*.`` followed by one (RFC 8461 s3.2)."""
    host = pattern[2:] if pattern.startswith("*.") else pattern
    host = host[:-1] if host.endswith(".") else host
    labels = host.split(".")
    return 0 < len(host) <= 253 and all(_LABEL.match(lb) for lb in labels)


def mx_matches(pattern: str, host: str) -> bool:
    """Whether an MX host name matches an ``mx`` pattern (RFC 8461 s4.1): case-
    insensitive; ``*.example.net`` matches exactly one more label on the left."""
    pat = pattern.lower().rstrip(".")
    name = host.lower().rstrip(".")
    if pat.startswith("*."):
        first, dot, rest = name.partition(".")
        return bool(first) and bool(dot) and rest == pat[2:]
    return name == pat


@dataclass(frozen=True, slots=True)
class Policy:
    """A parsed policy file (RFC 8461 s3.2). *max_age* is already capped at
    :data:`MAX_AGE_CAP`; *notes* say what was tolerated (a cap, unknown keys)."""

    mode: Mode
    max_age: int
    mx: tuple[str, ...]
    notes: tuple[str, ...] = ()

    def matches(self, host: str) -> bool:
        return any(mx_matches(p, host) for p in self.mx)

    def postfix_match(self) -> str:
        """The ``match=`` list for Postfix's ``secure`` level: patterns without the
        final dot, ``*.example.net`` written as Postfix's parent-domain form
        ``.example.net``, joined with ``:``."""
        out: list[str] = []
        for pat in self.mx:
            text = pat.lower().rstrip(".")
            text = text[1:] if text.startswith("*.") else text
            if text not in out:
                out.append(text)
        return ":".join(out)

    def to_json(self) -> Json:
        return {"version": "STSv1", "mode": self.mode.value, "max_age": self.max_age,
                "mx": list(self.mx), "notes": list(self.notes)}


def parse_policy(body: bytes) -> Policy:
    """The policy file, strictly: UTF-8 (RFC 8461 s3.2 allows only ASCII in the known
    fields), ``key: value`` lines ended by LF or CRLF, ``version: STSv1``, ``mode``
    one of enforce / testing / none, ``max_age`` 1-10 digits, ``mx`` one or more
    patterns (required unless the mode is none). Each known key other than ``mx`` at
    most once; unknown keys are ignored."""
    if len(body) > MAX_POLICY_BYTES:
        raise MtaStsError(f"policy larger than {MAX_POLICY_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MtaStsError("policy is not UTF-8") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    single: dict[str, str] = {}
    mx: list[str] = []
    notes: list[str] = []
    for number, raw in enumerate(lines, 1):
        line = raw[:-1] if raw.endswith("\r") else raw
        key, colon, value = line.partition(":")
        if not colon or not key or not _FIELD_NAME.match(key):
            raise MtaStsError(f"line {number}: expected 'key: value', got {line[:60]!r}")
        value = value.strip(_WSP)
        if key == "mx":
            if not valid_pattern(value):
                raise MtaStsError(f"line {number}: mx {value[:60]!r} is not a host name or "
                                  "'*.' and a host name")
            if value.lower() not in (m.lower() for m in mx):
                mx.append(value)
        elif key in ("version", "mode", "max_age"):
            if key in single:
                raise MtaStsError(f"line {number}: '{key}' given twice")
            single[key] = value
        else:
            notes.append(f"unknown key {key!r} ignored")
    if single.get("version") != "STSv1":
        raise MtaStsError("version must be 'STSv1'" if "version" in single
                          else "no 'version' line")
    try:
        mode = Mode(single.get("mode", ""))
    except ValueError:
        raise MtaStsError(f"mode must be enforce, testing or none, got "
                          f"{single.get('mode', '')[:20]!r}") from None
    age_text = single.get("max_age")
    if age_text is None:
        raise MtaStsError("no 'max_age' line")
    if not (age_text.isascii() and age_text.isdigit() and 1 <= len(age_text) <= 10):
        raise MtaStsError(f"max_age {age_text[:20]!r} must be 1-10 digits")
    max_age = int(age_text)
    if max_age > MAX_AGE_CAP:
        notes.append(f"max_age {max_age} capped at {MAX_AGE_CAP}")
        max_age = MAX_AGE_CAP
    if not mx and mode is not Mode.NONE:
        raise MtaStsError(f"mode {mode.value} needs at least one 'mx' line")
    return Policy(mode, max_age, tuple(mx), tuple(notes))
