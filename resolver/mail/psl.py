"""Organizational domains from the Public Suffix List (RFC 7489 s3.2).

The Organizational Domain is the public suffix plus one label. The list comes from
the ``publicsuffixlist`` package (its bundled snapshot) unless a snapshot file is
loaded with :func:`load_psl`, so operators can update the list without a new
release. By default the whole list is used, ICANN and private sections alike (as
OpenDMARC does: ``foo.github.io`` is its own organizational domain); RFC 7489 does
not choose, so ``only_icann=True`` is available.

A name that is itself a public suffix (``com``, ``co.uk``) has no registrable
domain: :func:`registrable_domain` returns None, and :func:`org_domain` returns the
name itself, so that such a domain still aligns with itself (the reading DMARCbis,
RFC 9989, makes explicit for public suffix domains).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from os import PathLike
from pathlib import Path
from typing import Protocol

from publicsuffixlist import PublicSuffixList

from ..wire.name import Name

log = logging.getLogger(__name__)


def _label_text(label: bytes) -> str:
    try:
        return label.decode("ascii").lower()
    except UnicodeDecodeError:
        return label.decode("utf-8", "replace").lower()


def domain_text(domain: Name | str) -> str:
    """A domain as lowercase dotted text without the final dot; U-labels are turned
    into A-labels (IDNA 2003 via the ``idna`` codec) when possible."""
    if isinstance(domain, Name):
        text = ".".join(_label_text(label) for label in domain.labels)
    else:
        text = domain.strip().lower()
        if text.endswith(".") and text != ".":
            text = text[:-1]
    if not text.isascii():
        with contextlib.suppress(UnicodeError):   # not IDNA: looked up as it is
            text = text.encode("idna").decode("ascii")
    return text


class OrgDomainStrategy(Protocol):
    """Anything that maps a domain to its Organizational Domain. :class:`Psl` is the
    RFC 7489 s3.2 strategy; a DMARCbis (RFC 9989) DNS tree walk could be another."""

    def org_domain(self, domain: Name | str) -> Name: ...


class Psl:
    """One Public Suffix List snapshot (an :class:`OrgDomainStrategy`)."""

    def __init__(self, source: str | bytes | None = None, *, only_icann: bool = False,
                 origin: str = "bundled") -> None:
        self._list = PublicSuffixList(source, only_icann=only_icann)
        self.only_icann = only_icann
        self.origin = origin

    @classmethod
    def from_file(cls, path: str | PathLike[str], *, only_icann: bool = False) -> Psl:
        """Load a ``public_suffix_list.dat`` snapshot."""
        data = Path(path).read_text(encoding="utf-8")
        return cls(data, only_icann=only_icann, origin=str(path))

    def public_suffix(self, domain: str) -> str | None:
        """The longest matching public suffix of *domain* (text), or None."""
        return self._list.publicsuffix(domain.lower())

    def registrable_domain(self, domain: str) -> str | None:
        """Public suffix plus one label (RFC 7489 s3.2 steps 1-4), as text in the
        form given; None when *domain* is itself a public suffix or malformed."""
        return self._list.privatesuffix(domain.lower())

    def org_domain(self, domain: Name | str) -> Name:
        """The Organizational Domain of *domain* as a :class:`Name` (A-labels).
        Raises ValueError for names that are not domain names."""
        text = domain_text(domain)
        if not text or text == "." or text.startswith(".") or ".." in text:
            raise ValueError(f"not a domain name: {domain!r}")
        org = self._list.privatesuffix(text) or text
        return Name.from_text(org + ".")


_default: Psl | None = None
_lock = threading.Lock()


def default_psl() -> Psl:
    """The list in use: the last one loaded with :func:`load_psl`, else the
    package's bundled snapshot (read once, on first use)."""
    global _default
    if _default is None:
        with _lock:
            if _default is None:
                _default = Psl()
    return _default


def set_default_psl(psl: Psl | None) -> None:
    """Install *psl* as the list in use (None: back to the bundled snapshot)."""
    global _default
    with _lock:
        _default = psl


def load_psl(path: str | PathLike[str], *, only_icann: bool = False,
             make_default: bool = True) -> Psl:
    """Read a ``public_suffix_list.dat`` snapshot and (by default) use it from now on."""
    psl = Psl.from_file(path, only_icann=only_icann)
    if make_default:
        set_default_psl(psl)
        log.info("public suffix list loaded from %s", path)
    return psl


def org_domain(domain: Name | str, *, psl: Psl | None = None) -> Name:
    """The Organizational Domain of *domain* (RFC 7489 s3.2)."""
    return (psl or default_psl()).org_domain(domain)


def registrable_domain(domain: str, *, psl: Psl | None = None) -> str | None:
    """Public suffix plus one label, or None for a public suffix (PSL test semantics)."""
    return (psl or default_psl()).registrable_domain(domain)
