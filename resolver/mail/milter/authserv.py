"""Which Authentication-Results fields claim to come from us (RFC 8601 s5).

A field's authserv-id is its first item: a token or a quoted-string, possibly after
comments and whitespace (RFC 8601 s2.2). A receiver must remove the fields that claim
its own authserv-id before adding its own, or a sender could forge our verdicts.
Matching is case-insensitive, as for domain names.
"""

from __future__ import annotations


def _skip_cfws(text: str, i: int) -> int:
    depth = 0
    while i < len(text):
        c = text[i]
        if depth:
            if c == "\\":
                i += 1
            elif c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
        elif c == "(":
            depth = 1
        elif c not in " \t\r\n":
            break
        i += 1
    return i


def authserv_id_of(value: str) -> str | None:
    """The authserv-id of an Authentication-Results value, or None if there is none."""
    i = _skip_cfws(value, 0)
    if i >= len(value):
        return None
    if value[i] == '"':
        out = []
        i += 1
        while i < len(value) and value[i] != '"':
            if value[i] == "\\" and i + 1 < len(value):
                i += 1
            out.append(value[i])
            i += 1
        return "".join(out)
    end = i
    while end < len(value) and value[end] not in ' \t\r\n;("':
        end += 1
    return value[i:end] or None


def claims_authserv_id(value: str, ours: str) -> bool:
    found = authserv_id_of(value)
    if found is None:
        return False
    return found.rstrip(".").lower() == ours.rstrip(".").lower()
