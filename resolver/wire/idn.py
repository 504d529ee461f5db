"""Internationalised domain names typed by people: U-labels to A-labels.

IDNA 2008 (RFC 5891) with the UTS 46 non-transitional mapping, as browsers and mail
software apply it (``ß`` stays ``ß``; full-width letters and dots are mapped; names
are case-folded), through the ``idna`` library. Every name a person types (the API's
parameters and bodies, the ``query`` command) goes through :func:`to_ascii`, so a
U-label gets the same A-label and the same refusal everywhere.
"""

from __future__ import annotations

import idna


class IdnError(ValueError):
    """A name with non-ASCII labels that IDNA 2008 / UTS 46 does not allow."""


def to_ascii(text: str) -> str:
    """*text* with every non-ASCII label turned into its A-label (``xn--``); names that
    are all ASCII are returned as they are (DNS names may hold any octet, escapes
    included). A final dot is kept. Raises :class:`IdnError` saying what is wrong."""
    if text.isascii():
        return text
    try:
        mapped = idna.uts46_remap(text, std3_rules=False, transitional=False)
    except (idna.IDNAError, UnicodeError, ValueError) as exc:
        raise IdnError(f"not a valid internationalised domain name ({exc})") from None
    labels = mapped.split(".")
    final_dot = len(labels) > 1 and labels[-1] == ""
    if final_dot:
        labels.pop()
    out = []
    for label in labels:
        if not label:
            raise IdnError("not a valid internationalised domain name (empty label)")
        if label.isascii():
            out.append(label)
            continue
        try:
            out.append(idna.alabel(label).decode("ascii"))
        except (idna.IDNAError, UnicodeError, ValueError) as exc:
            raise IdnError(f"not a valid internationalised domain name: label "
                           f"{label[:63]!r}: {exc}") from None
    return ".".join(out) + ("." if final_dot else "")


__all__ = ["IdnError", "to_ascii"]
