"""SPF record syntax (RFC 7208 s4.5, s4.6.1, s5, s6 and the grammar in s12).

:func:`is_spf_record` is the record-selection test of s4.5; :func:`parse_record`
parses a whole record up front, so a syntax error anywhere makes check_host() return
permerror before any term is evaluated (s4.6: "syntax errors anywhere in the record
MUST be detected"). The result is a typed :class:`SpfPolicy`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from .spf_macro import (
    ALL_LETTERS,
    MacroToken,
    SpfSyntaxError,
    parse_domain_spec,
    parse_macro_string,
)

__all__ = [
    "Mechanism",
    "Modifier",
    "SpfPolicy",
    "SpfSyntaxError",
    "is_spf_record",
    "parse_record",
]

#: the mechanisms of RFC 7208 s5 that cause DNS queries (s4.6.4)
DNS_MECHANISMS = frozenset({"include", "a", "mx", "ptr", "exists"})
MECHANISMS = DNS_MECHANISMS | {"all", "ip4", "ip6"}
QUALIFIERS = "+-?~"

_MOD_NAME = re.compile(r"([A-Za-z][A-Za-z0-9_.\-]*)=")
_MECH_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_CIDR = "(0|[1-9][0-9]*)"
_DUAL_CIDR = re.compile(rf"(.*?)(?:/{_CIDR})?(?://{_CIDR})?", re.S)
_IP4 = re.compile(rf"([0-9.]+)(?:/{_CIDR})?")
_QNUM = re.compile(r"0|[1-9][0-9]{0,2}")
_IP6 = re.compile(rf"([0-9A-Fa-f:.]+)(?:/{_CIDR})?")


def is_spf_record(text: bytes) -> bool:
    """RFC 7208 s4.5: the record starts with the version "v=spf1" (case-insensitive)
    followed by a space or the end of the record."""
    return text[:6].lower() == b"v=spf1" and (len(text) == 6 or text[6:7] == b" ")


@dataclass(frozen=True, slots=True)
class Mechanism:
    """A directive: qualifier and mechanism (RFC 7208 s4.6.2, s5)."""

    qualifier: str                        # "+", "-", "~" or "?"
    kind: str                             # all include a mx ptr ip4 ip6 exists
    text: str                             # the term as written
    domain_spec: str | None = None        # the macro-string target, if any
    cidr4: int | None = None              # a/mx: ip4-cidr-length; ip4: prefix length
    cidr6: int | None = None              # a/mx: ip6-cidr-length; ip6: prefix length
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    tokens: tuple[MacroToken, ...] = ()   # the parsed domain_spec

    @property
    def queries_dns(self) -> bool:
        return self.kind in DNS_MECHANISMS

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"qualifier": self.qualifier, "mechanism": self.kind,
                               "text": self.text}
        if self.domain_spec is not None:
            out["domain_spec"] = self.domain_spec
        if self.network is not None:
            out["network"] = str(self.network)
        else:
            if self.cidr4 is not None:
                out["cidr4"] = self.cidr4
            if self.cidr6 is not None:
                out["cidr6"] = self.cidr6
        return out


@dataclass(frozen=True, slots=True)
class Modifier:
    """A name=value modifier (RFC 7208 s6); *tokens* is the parsed value."""

    name: str
    value: str
    text: str
    tokens: tuple[MacroToken, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value}


@dataclass(frozen=True, slots=True)
class SpfPolicy:
    """A parsed "v=spf1" record (RFC 7208 s4.6)."""

    text: str
    mechanisms: tuple[Mechanism, ...]
    redirect: Modifier | None = None
    explanation: Modifier | None = None
    unknown: tuple[Modifier, ...] = ()

    @property
    def dns_terms(self) -> int:
        """How many terms of this record would count against the s4.6.4 limit."""
        return sum(m.queries_dns for m in self.mechanisms) + (self.redirect is not None)

    def to_json(self) -> dict[str, Any]:
        return {
            "record": self.text,
            "mechanisms": [m.to_json() for m in self.mechanisms],
            "redirect": self.redirect.value if self.redirect else None,
            "exp": self.explanation.value if self.explanation else None,
            "unknown_modifiers": [m.to_json() for m in self.unknown],
        }


def _cidr(value: str | None, maximum: int, term: str) -> int | None:
    if value is None:
        return None
    n = int(value)
    if n > maximum:
        raise SpfSyntaxError(f"CIDR length /{value} above {maximum} in {term!r} (RFC 7208 s5.6)")
    return n


def _ip4_network(arg: str, term: str) -> ipaddress.IPv4Network:
    m = _IP4.fullmatch(arg)
    if m is None:
        raise SpfSyntaxError(f"bad ip4-network in {term!r} (RFC 7208 s5.6)")
    quads = m.group(1).split(".")
    if len(quads) != 4 or not all(_QNUM.fullmatch(q) and int(q) <= 255 for q in quads):
        raise SpfSyntaxError(f"bad ip4-network in {term!r} (RFC 7208 s5.6)")
    cidr = _cidr(m.group(2), 32, term)
    return ipaddress.IPv4Network((m.group(1), 32 if cidr is None else cidr), strict=False)


def _ip6_network(arg: str, term: str) -> ipaddress.IPv6Network:
    m = _IP6.fullmatch(arg)
    if m is None:
        raise SpfSyntaxError(f"bad ip6-network in {term!r} (RFC 7208 s5.6)")
    try:
        address = ipaddress.IPv6Address(m.group(1))
    except ValueError as exc:
        raise SpfSyntaxError(f"bad ip6-network in {term!r} (RFC 7208 s5.6)") from exc
    cidr = _cidr(m.group(2), 128, term)
    return ipaddress.IPv6Network((address, 128 if cidr is None else cidr), strict=False)


def _mechanism(term: str) -> Mechanism:
    qualifier = "+"
    rest = term
    if rest and rest[0] in QUALIFIERS:
        qualifier, rest = rest[0], rest[1:]
    m = _MECH_NAME.match(rest)
    kind = m.group(0).lower() if m else ""
    if kind not in MECHANISMS:
        raise SpfSyntaxError(f"unknown mechanism or bad term {term!r} (RFC 7208 s4.6.1)")
    arg = rest[len(kind):]
    if kind == "all":
        if arg:
            raise SpfSyntaxError(f"'all' takes no argument: {term!r} (RFC 7208 s5.1)")
        return Mechanism(qualifier, kind, term)
    if kind in ("include", "exists"):
        if not arg.startswith(":"):
            raise SpfSyntaxError(f"{kind!r} needs ':' domain-spec: {term!r} (RFC 7208 s5)")
        spec = arg[1:]
        return Mechanism(qualifier, kind, term, spec, tokens=parse_domain_spec(spec))
    if kind in ("a", "mx", "ptr"):
        cidr4 = cidr6 = None
        if kind != "ptr":
            dual = _DUAL_CIDR.fullmatch(arg)
            assert dual is not None  # the pattern matches every string
            arg = dual.group(1)
            cidr4 = _cidr(dual.group(2), 32, term)
            cidr6 = _cidr(dual.group(3), 128, term)
        if not arg:
            return Mechanism(qualifier, kind, term, None, cidr4, cidr6)
        if not arg.startswith(":"):
            raise SpfSyntaxError(f"bad argument for {kind!r}: {term!r} (RFC 7208 s5)")
        spec = arg[1:]
        return Mechanism(qualifier, kind, term, spec, cidr4, cidr6,
                         tokens=parse_domain_spec(spec))
    # ip4 / ip6
    if not arg.startswith(":"):
        raise SpfSyntaxError(f"{kind!r} needs ':' and a network: {term!r} (RFC 7208 s5.6)")
    net: ipaddress.IPv4Network | ipaddress.IPv6Network
    net = _ip4_network(arg[1:], term) if kind == "ip4" else _ip6_network(arg[1:], term)
    return Mechanism(qualifier, kind, term, None, network=net)


def parse_record(text: str | bytes) -> SpfPolicy:
    """Parse a whole SPF record (RFC 7208 s4.6.1, s12); raises :class:`SpfSyntaxError`.

    Terms are separated by one or more SP (no other white space or control
    character), the record must be 7-bit ASCII (s3.1; the grammar admits only visible
    ASCII and SP), ``redirect=`` and ``exp=`` may appear once each (s6) and take a
    domain-spec (an empty or malformed one is an error, not an unknown modifier), and
    unknown modifiers are kept but must have a valid name and macro-string (s6)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError as exc:
            raise SpfSyntaxError("SPF record is not 7-bit ASCII (RFC 7208 s3.1)") from exc
    if not is_spf_record(text.encode("ascii", "replace")):
        raise SpfSyntaxError("record does not start with 'v=spf1' (RFC 7208 s4.5)")
    for ch in text:
        if not ("\x20" <= ch <= "\x7e"):
            kind = "non-ASCII character" if ord(ch) > 0x7F else "control character"
            raise SpfSyntaxError(f"{kind} {ch!r} in SPF record (RFC 7208 s4.6.1, s12)")
    mechanisms: list[Mechanism] = []
    unknown: list[Modifier] = []
    redirect: Modifier | None = None
    explanation: Modifier | None = None
    for term in text[6:].split(" "):
        if not term:
            continue
        mod = _MOD_NAME.match(term)
        if mod is None:
            mechanisms.append(_mechanism(term))
            continue
        name = mod.group(1)
        value = term[mod.end():]
        lname = name.lower()
        if lname in ("redirect", "exp"):
            if (redirect if lname == "redirect" else explanation) is not None:
                raise SpfSyntaxError(f"{lname}= appears more than once (RFC 7208 s6)")
            modifier = Modifier(lname, value, term, parse_domain_spec(value))
            if lname == "redirect":
                redirect = modifier
            else:
                explanation = modifier
        else:
            unknown.append(Modifier(name, value, term, parse_macro_string(value, ALL_LETTERS)))
    return SpfPolicy(text, tuple(mechanisms), redirect, explanation, tuple(unknown))
