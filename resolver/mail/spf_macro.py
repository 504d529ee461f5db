"""SPF macro strings and domain-specs (RFC 7208 s7, grammar in s7.1 and s12).

A macro-string is parsed once into tokens (:func:`parse_macro_string`), which checks
its syntax: a ``%`` must be followed by ``{``, ``%``, ``_`` or ``-`` (s7.1), a macro
letter must be one the context allows (``c``, ``r`` and ``t`` only in explanation text,
s7.3), and a DIGIT transformer must be nonzero (s7.4). Expansion
(:func:`expand`) is then a pure function of the tokens and a :class:`MacroEnv`; the
``p`` macro needs DNS, so the caller looks it up first and passes the result in.

:func:`parse_domain_spec` adds the ``domain-end`` rule (a domain-spec ends in a macro
or in ``"." toplabel ["."]``), and :func:`target_name` turns an expanded domain-spec
into a DNS name: trailing dot dropped, left labels removed until it fits in 253
characters (s7.3, last paragraph), ``None`` when it is still not a valid name.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import quote

from ..wire.name import Name, NameError_

__all__ = [
    "ALL_LETTERS",
    "DOMAIN_LETTERS",
    "EXP_LETTERS",
    "Escape",
    "MacroEnv",
    "MacroExpand",
    "MacroToken",
    "SpfSyntaxError",
    "domain_name",
    "expand",
    "ip_dot_format",
    "parse_domain_spec",
    "parse_explain_string",
    "parse_macro_string",
    "target_name",
    "truncate_domain",
    "uses_letter",
]


class SpfSyntaxError(ValueError):
    """Text that breaks the RFC 7208 s12 grammar; check_host() turns it into permerror."""


#: macro letters allowed in domain-specs (RFC 7208 s7.3)
DOMAIN_LETTERS = frozenset("slodiphv")
#: ... and in explanation text, which may also use c, r and t (s7.3)
EXP_LETTERS = DOMAIN_LETTERS | frozenset("crt")
#: every letter of the s12 ``macro-letter`` rule (used for unknown modifiers)
ALL_LETTERS = EXP_LETTERS

_DELIMITERS = ".-+,/_="
_MACRO_BODY = re.compile(r"([A-Za-z])([0-9]*)([rR]?)([.\-+,/_=]*)")
_TOPLABEL = re.compile(r"[0-9A-Za-z]*[A-Za-z][0-9A-Za-z]*|[0-9A-Za-z]+-[0-9A-Za-z-]*[0-9A-Za-z]")
_MAX_DOMAIN = 253
_MAX_LABEL = 63


@dataclass(frozen=True, slots=True)
class MacroExpand:
    """``%{letter digits r delimiters}`` (RFC 7208 s7.1); *escape* for an uppercase
    letter, whose expansion is URL-escaped (s7.3)."""

    letter: str             # lowercase macro letter
    digits: int | None      # keep this many right-hand parts (None: all)
    reverse: bool
    delimiters: str         # "" means the default "."
    escape: bool
    text: str               # the source, e.g. "%{ir}"


@dataclass(frozen=True, slots=True)
class Escape:
    """``%%``, ``%_`` or ``%-`` (RFC 7208 s7.1): a macro-expand with a fixed value."""

    text: str
    value: str


MacroToken = str | MacroExpand | Escape


def parse_macro_string(text: str, letters: frozenset[str] = ALL_LETTERS, *,
                       allow_space: bool = False) -> tuple[MacroToken, ...]:
    """Tokenize a macro-string (RFC 7208 s7.1); *allow_space* for an explain-string.

    Literal characters are the visible ASCII ``%x21-7E`` (plus SP in explanations);
    anything else, a bad ``%`` sequence, an unknown letter or a zero DIGIT is a
    :class:`SpfSyntaxError`. Adjacent literals are merged into one string token."""
    tokens: list[MacroToken] = []
    literal: list[str] = []

    def flush() -> None:
        if literal:
            tokens.append("".join(literal))
            literal.clear()

    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "%":
            if i + 1 >= n:
                raise SpfSyntaxError(f"'%' at the end of {text!r} (RFC 7208 s7.1)")
            nxt = text[i + 1]
            if nxt in "%_-":
                flush()
                tokens.append(Escape("%" + nxt, {"%": "%", "_": " ", "-": "%20"}[nxt]))
                i += 2
                continue
            if nxt != "{":
                raise SpfSyntaxError(f"'%' not followed by '{{', '%', '_' or '-' in {text!r} "
                                     "(RFC 7208 s7.1)")
            end = text.find("}", i + 2)
            if end < 0:
                raise SpfSyntaxError(f"unterminated macro in {text!r}")
            body = text[i + 2:end]
            m = _MACRO_BODY.fullmatch(body)
            if m is None:
                raise SpfSyntaxError(f"bad macro %{{{body}}} (RFC 7208 s7.1)")
            letter = m.group(1).lower()
            if letter not in ALL_LETTERS:
                raise SpfSyntaxError(f"unknown macro letter {m.group(1)!r} (RFC 7208 s7.1)")
            if letter not in letters:
                raise SpfSyntaxError(f"macro letter {m.group(1)!r} is allowed only in "
                                     "explanation text (RFC 7208 s7.3)")
            digits = int(m.group(2)) if m.group(2) else None
            if digits == 0:
                raise SpfSyntaxError(f"macro DIGIT transformer must be nonzero in %{{{body}}} "
                                     "(RFC 7208 s7.4)")
            flush()
            tokens.append(MacroExpand(letter, digits, bool(m.group(3)), m.group(4),
                                      m.group(1).isupper(), text[i:end + 1]))
            i = end + 1
            continue
        if "\x21" <= c <= "\x7e" or (c == " " and allow_space):
            literal.append(c)
            i += 1
            continue
        raise SpfSyntaxError(f"character {c!r} not allowed in macro-string {text!r}")
    flush()
    return tuple(tokens)


def parse_domain_spec(text: str) -> tuple[MacroToken, ...]:
    """Parse ``domain-spec = macro-string domain-end`` (RFC 7208 s7.1): it must not be
    empty and must end in a macro-expand or in ``"." toplabel ["."]``, where a
    toplabel is not all-numeric and does not start or end with a hyphen."""
    if not text:
        raise SpfSyntaxError("empty domain-spec")
    tokens = parse_macro_string(text, DOMAIN_LETTERS)
    last = tokens[-1]
    if isinstance(last, str):
        body = last[:-1] if last.endswith(".") else last
        _, dot, top = body.rpartition(".")
        if not dot or not _TOPLABEL.fullmatch(top):
            raise SpfSyntaxError(f"domain-spec {text!r} does not end in a macro or a valid "
                                 "top label (RFC 7208 s7.1)")
    return tokens


def parse_explain_string(text: str) -> tuple[MacroToken, ...]:
    """Parse the explanation TXT text: ``explain-string = *( macro-string / SP )``,
    all macro letters allowed (RFC 7208 s6.2, s7.3)."""
    return parse_macro_string(text, EXP_LETTERS, allow_space=True)


def uses_letter(tokens: tuple[MacroToken, ...], letter: str) -> bool:
    return any(isinstance(t, MacroExpand) and t.letter == letter for t in tokens)


def ip_dot_format(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """The ``i`` macro value (RFC 7208 s7.3): dotted quad for IPv4, and for IPv6 the 32
    nibbles separated by dots (uppercase hex, as the OpenSPF suite expects; case does
    not matter to DNS)."""
    if isinstance(ip, ipaddress.IPv4Address):
        return str(ip)
    return ".".join(ip.packed.hex().upper())


@dataclass(frozen=True, slots=True)
class MacroEnv:
    """The values macros expand to (RFC 7208 s7.3)."""

    sender: str                                      # s
    local: str                                       # l
    sender_domain: str                               # o
    domain: str                                      # d (the current <domain>)
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address  # i, c, v
    helo: str                                        # h
    receiver: str = "unknown"                        # r
    now: int = 0                                     # t
    validated: str = "unknown"                       # p (looked up by the caller)

    def value(self, letter: str) -> str:
        if letter == "s":
            return self.sender
        if letter == "l":
            return self.local
        if letter == "o":
            return self.sender_domain
        if letter == "d":
            return self.domain
        if letter == "i":
            return ip_dot_format(self.ip)
        if letter == "p":
            return self.validated
        if letter == "v":
            return "in-addr" if isinstance(self.ip, ipaddress.IPv4Address) else "ip6"
        if letter == "h":
            return self.helo
        if letter == "c":
            return str(self.ip)
        if letter == "r":
            return self.receiver
        if letter == "t":
            return str(self.now)
        raise SpfSyntaxError(f"unknown macro letter {letter!r}")


def _transform(value: str, macro: MacroExpand) -> str:
    """Split on the delimiters (default "."), optionally reverse, keep the right-most
    *digits* parts, join with "." (RFC 7208 s7.4); URL-escape for uppercase letters."""
    delimiters = macro.delimiters or "."
    if delimiters == "." and macro.digits is None and not macro.reverse:
        out = value
    else:
        parts = re.split("[" + re.escape(delimiters) + "]", value)
        if macro.reverse:
            parts.reverse()
        if macro.digits is not None and macro.digits < len(parts):
            parts = parts[len(parts) - macro.digits:]
        out = ".".join(parts)
    if macro.escape:
        # everything outside the RFC 3986 unreserved set is escaped (s7.3)
        out = quote(out, safe="")
    return out


def expand(tokens: tuple[MacroToken, ...], env: MacroEnv) -> str:
    """Expand parsed macro tokens (RFC 7208 s7.4)."""
    out: list[str] = []
    for tok in tokens:
        if isinstance(tok, str):
            out.append(tok)
        elif isinstance(tok, Escape):
            out.append(tok.value)
        else:
            out.append(_transform(env.value(tok.letter), tok))
    return "".join(out)


def _labels(text: str) -> list[bytes] | None:
    labels: list[bytes] = []
    for part in text.split("."):
        try:
            label = part.encode("ascii")
        except UnicodeEncodeError:
            try:
                label = part.encode("idna")
            except UnicodeError:
                return None
        if not label or len(label) > _MAX_LABEL:
            return None
        labels.append(label)
    return labels


def truncate_domain(expanded: str) -> str:
    """An expanded domain-spec as a domain: the trailing dot dropped (s7.3: "trailing
    dot is ignored") and, when longer than 253 characters, labels removed from the
    left until it fits (s7.3, last paragraph)."""
    text = expanded[:-1] if expanded.endswith(".") else expanded
    while len(text) > _MAX_DOMAIN:
        dot = text.find(".")
        if dot < 0:
            return text
        text = text[dot + 1:]
    return text


def target_name(expanded: str) -> Name | None:
    """The DNS name for an expanded domain-spec (see :func:`truncate_domain`), or
    ``None`` when it is not a valid domain name; mechanisms then do not match (the
    OpenSPF suite's preferred reading of RFC 7208 s4.8, where the RFC leaves it open)."""
    text = truncate_domain(expanded)
    if not text or len(text) > _MAX_DOMAIN:
        return None
    return _to_name(text)


def domain_name(text: str) -> Name | None:
    """A <domain> argument as a DNS name, or ``None`` when check_host() must return
    "none" without a lookup (RFC 7208 s4.3): malformed (empty or over-long label, over
    253 characters), a domain literal, or not a multi-label name."""
    body = text[:-1] if text.endswith(".") else text
    if not body or body.startswith("[") or "." not in body or len(body) > _MAX_DOMAIN:
        return None
    return _to_name(body)


def _to_name(text: str) -> Name | None:
    labels = _labels(text)
    if labels is None:
        return None
    try:
        return Name.from_labels(labels)
    except NameError_:
        return None
