"""Zone files in presentation format (RFC 1035 s5, RFC 2308 s4, RFC 3597 s5).

Reading happens in two layers:

* a tokenizer that turns text into *logical lines*: it drops ``;`` comments (outside
  quotes), joins lines inside ``( … )``, keeps quoted strings as single tokens (an
  empty ``""`` is a token too) and leaves backslash escapes (``\\.``, ``\\DDD``,
  ``\\"``, ``\\ ``) in the token text for :meth:`Name.from_text` and
  :func:`rdata.decode_escapes`; it also notes whether a line began with whitespace,
  which means "same owner as before";
* a reader that applies the zone-file rules: ``$ORIGIN``, ``$TTL``, ``$INCLUDE``
  (relative to the including file's folder, depth-limited), ``@``, relative names,
  TTL and class in either order and both optional, TTL units (``1h30m``),
  ``TYPEnnn``/``CLASSnnn`` and ``\\# len hex`` RDATA.

TTL of a record without one: ``$TTL`` (or the *default_ttl* argument) if known, else
the last TTL stated explicitly (RFC 1035 s5.1), else the SOA MINIMUM when the SOA
itself came without a TTL (the pre-RFC 2308 rule BIND and dnspython keep); otherwise
the record is an error. Every error is a :class:`ZoneFileError` naming the file, the
line and the problem.

:func:`read_rr_line` reads one record the way trust-anchor configuration lines and the
``.rpl`` replay files write them: TTL defaults to 3600, class to IN, and names without
a final dot are absolute.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import rdata as rd
from .message import RR
from .name import ROOT, Name, NameError_
from .types import RRClass, RRType, class_from_text, class_to_text, type_from_text

log = logging.getLogger(__name__)

MAX_INCLUDE_DEPTH = 8
"""How deeply ``$INCLUDE`` may nest (the top file is depth 0)."""

DEFAULT_RR_LINE_TTL = 3600

# An origin no real zone uses: reading RDATA twice, once against the root and once
# against this name, shows whether it held a relative name while no origin was known.
_PROBE_ORIGIN = Name.from_text("origin-probe.invalid.")


class ZoneFileError(ValueError):
    """A zone file (or record line) that cannot be read. ``str()`` gives
    ``file:line: problem``; the parts are in :attr:`filename`, :attr:`line` and
    :attr:`reason`."""

    def __init__(self, reason: str, filename: str = "<text>", line: int | None = None) -> None:
        self.reason = reason
        self.filename = filename
        self.line = line
        where = f"{filename}:{line}" if line is not None else filename
        super().__init__(f"{where}: {reason}")


# --------------------------------------------------------------------------
# tokenizer

@dataclass(frozen=True, slots=True)
class Token:
    """One token. *text* keeps backslash escapes; quotes are removed (*quoted* says
    whether there were any, so ``""`` is an empty quoted token)."""

    text: str
    quoted: bool = False


@dataclass(frozen=True, slots=True)
class LogicalLine:
    """The tokens of one entry (several physical lines when parentheses span them).
    *line* is the physical line it starts on; *indented* means it began with
    whitespace, i.e. it has no owner field."""

    tokens: tuple[Token, ...]
    line: int
    indented: bool


_SPECIAL = frozenset('"();\\')
_BLANKS = " \t"  # the only separators (RFC 1035 s5.1)


def tokenize(text: str, filename: str = "<text>", first_line: int = 1) -> Iterator[LogicalLine]:
    """Split zone-file *text* into logical lines; empty and comment-only lines are
    skipped. Raises :class:`ZoneFileError` for an unterminated quote, unbalanced
    parentheses or a backslash at the end of a line."""
    tokens: list[Token] = []
    depth = 0
    start = first_line
    open_line = first_line
    indented = False
    lineno = first_line - 1
    for raw in text.split("\n"):
        lineno += 1
        if raw.endswith("\r"):
            raw = raw[:-1]
        if depth == 0:
            start = lineno
            indented = raw[:1] in (" ", "\t")
        if not _SPECIAL.intersection(raw):
            # the common case: nothing but words separated by blanks
            tokens.extend(Token(word) for word in raw.replace("\t", " ").split(" ") if word)
        else:
            depth, open_line = _scan(raw, tokens, depth, open_line, filename, lineno)
        if depth == 0 and tokens:
            yield LogicalLine(tuple(tokens), start, indented)
            tokens = []
    if depth:
        raise ZoneFileError("'(' is never closed", filename, open_line)
    if tokens:  # pragma: no cover - only possible with depth > 0, handled above
        yield LogicalLine(tuple(tokens), start, indented)


def _scan(raw: str, tokens: list[Token], depth: int, open_line: int,
          filename: str, lineno: int) -> tuple[int, int]:
    """Tokenize one physical line that holds quotes, parentheses, comments or escapes.
    Appends to *tokens*; returns the new parenthesis depth and the line of the
    outermost open parenthesis."""
    i = 0
    n = len(raw)
    word: list[str] = []
    in_word = False

    def flush() -> None:
        nonlocal in_word
        if in_word:
            tokens.append(Token("".join(word)))
            word.clear()
            in_word = False

    while i < n:
        c = raw[i]
        if c in _BLANKS:
            flush()
            i += 1
        elif c == ";":
            break
        elif c == "\\":
            if i + 1 >= n:
                raise ZoneFileError("backslash at the end of a line", filename, lineno)
            word.append(raw[i:i + 2])
            in_word = True
            i += 2
        elif c == "(":
            flush()
            if depth == 0:
                open_line = lineno
            depth += 1
            i += 1
        elif c == ")":
            flush()
            if depth == 0:
                raise ZoneFileError("')' without a matching '('", filename, lineno)
            depth -= 1
            i += 1
        elif c == '"':
            flush()
            j = i + 1
            chunk: list[str] = []
            while True:
                if j >= n:
                    raise ZoneFileError("quoted string is not closed on its line",
                                        filename, lineno)
                q = raw[j]
                if q == "\\":
                    if j + 1 >= n:
                        raise ZoneFileError("quoted string is not closed on its line",
                                            filename, lineno)
                    chunk.append(raw[j:j + 2])
                    j += 2
                elif q == '"':
                    break
                else:
                    chunk.append(q)
                    j += 1
            tokens.append(Token("".join(chunk), quoted=True))
            i = j + 1
        else:
            word.append(c)
            in_word = True
            i += 1
    flush()
    return depth, open_line


# --------------------------------------------------------------------------
# reader

@dataclass(slots=True)
class _State:
    """What a record line inherits from the lines before it."""

    origin: Name | None
    default_ttl: int | None  # $TTL, the caller's default, or the SOA MINIMUM
    default_from_soa: bool = False  # default_ttl came from an SOA MINIMUM
    last_ttl: int | None = None  # the last TTL written on a record (RFC 1035 s5.1)
    last_owner: Name | None = None
    zone_class: int | None = None

    def implicit_ttl(self) -> int | None:
        """The TTL of a record written without one. $TTL wins; an SOA-derived
        default yields to a TTL stated on an earlier record (RFC 2308 s4 ended the
        SOA MINIMUM's role as a default TTL)."""
        if self.last_ttl is not None and (self.default_ttl is None or self.default_from_soa):
            return self.last_ttl
        return self.default_ttl


class _Reader:
    """Reads the records of one zone file and the files it includes."""

    def __init__(self, origin: Name | None, default_ttl: int | None,
                 max_depth: int = MAX_INCLUDE_DEPTH) -> None:
        self.state = _State(origin, default_ttl)
        self.max_depth = max_depth

    def read(self, text: str, filename: str, base_dir: Path, depth: int = 0) -> Iterator[RR]:
        for entry in tokenize(text, filename):
            first = entry.tokens[0]
            if not entry.indented and not first.quoted and first.text.startswith("$"):
                yield from self._directive(entry, filename, base_dir, depth)
                continue
            try:
                yield self._record(entry, filename)
            except ZoneFileError:
                raise
            except (rd.RdataError, NameError_, ValueError) as exc:
                raise ZoneFileError(str(exc), filename, entry.line) from exc

    # --- directives ------------------------------------------------------
    def _directive(self, entry: LogicalLine, filename: str, base_dir: Path,
                   depth: int) -> Iterator[RR]:
        st = self.state
        words = entry.tokens
        keyword = words[0].text.upper()

        def fail(reason: str) -> ZoneFileError:
            return ZoneFileError(reason, filename, entry.line)

        if keyword == "$ORIGIN":
            if len(words) != 2:
                raise fail("$ORIGIN takes exactly one name")
            st.origin = self._name(words[1].text, st.origin, filename, entry.line)
        elif keyword == "$TTL":
            if len(words) != 2:
                raise fail("$TTL takes exactly one value")
            try:
                st.default_ttl = rd.ttl_from_text(words[1].text)
                st.default_from_soa = False
            except rd.RdataError as exc:
                raise fail(f"bad $TTL: {exc}") from exc
        elif keyword == "$INCLUDE":
            if len(words) not in (2, 3):
                raise fail("$INCLUDE takes a file name and an optional origin")
            if depth + 1 > self.max_depth:
                raise fail(f"$INCLUDE nested deeper than {self.max_depth} levels")
            target = Path(words[1].text)
            if not target.is_absolute():
                target = base_dir / target
            inc_origin = st.origin
            if len(words) == 3:
                inc_origin = self._name(words[2].text, st.origin, filename, entry.line)
            try:
                inc_text = target.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise fail(f"cannot read $INCLUDE file {str(target)!r}: {exc}") from exc
            log.debug("%s:%d: including %s", filename, entry.line, target)
            saved = (st.origin, st.default_ttl, st.default_from_soa, st.last_ttl,
                     st.last_owner)
            st.origin = inc_origin
            yield from self.read(inc_text, str(target), target.parent, depth + 1)
            (st.origin, st.default_ttl, st.default_from_soa, st.last_ttl,
             st.last_owner) = saved
        elif keyword == "$GENERATE":
            raise fail("$GENERATE is not supported")
        else:
            raise fail(f"unknown directive {words[0].text!r}")

    # --- records ---------------------------------------------------------
    def _name(self, text: str, origin: Name | None, filename: str, line: int) -> Name:
        """A name from text; relative names need an origin."""
        if origin is None and text == "@":
            raise ZoneFileError("'@' used before any origin is known", filename, line)
        if origin is None and not _is_absolute(text):
            raise ZoneFileError(f"relative name {text!r} and no origin is known",
                                filename, line)
        try:
            return Name.from_text(text, origin)
        except NameError_ as exc:
            raise ZoneFileError(f"bad name {text!r}: {exc}", filename, line) from exc

    def _record(self, entry: LogicalLine, filename: str) -> RR:
        st = self.state
        tokens = entry.tokens
        i = 0
        if entry.indented:
            if st.last_owner is None:
                raise ValueError("a line without an owner comes before any owner")
            owner = st.last_owner
        else:
            owner = self._name(tokens[0].text, st.origin, filename, entry.line)
            i = 1
        ttl, rclass, rtype, i = _read_ttl_class_type(tokens, i)
        if rclass is None:
            rclass = st.zone_class if st.zone_class is not None else RRClass.IN
        if st.zone_class is None:
            st.zone_class = rclass
        elif rclass != st.zone_class:
            raise ValueError(f"class {class_to_text(rclass)} differs from the zone's class "
                             f"{class_to_text(st.zone_class)}")
        data = _rdata(rtype, tokens[i:], st.origin)
        if ttl is not None:
            st.last_ttl = ttl
        else:
            ttl = st.implicit_ttl()
        if rtype == RRType.SOA and st.default_ttl is None:
            # pre-RFC 2308 (and BIND, dnspython): without $TTL, the SOA MINIMUM
            # becomes the default for the records after it
            st.default_ttl = int.from_bytes(data[-4:], "big")
            st.default_from_soa = True
            if ttl is None:
                ttl = st.default_ttl
        if ttl is None:
            raise ValueError("no TTL on this record and no $TTL, earlier TTL or SOA to use")
        st.last_owner = owner
        return RR(owner, rtype, rclass, ttl, data)


def _is_absolute(text: str) -> bool:
    """Whether *text* ends with an unescaped dot."""
    if not text.endswith("."):
        return False
    backslashes = len(text) - 1 - len(text[:-1].rstrip("\\"))
    return backslashes % 2 == 0


def _read_ttl_class_type(tokens: Sequence[Token],
                         i: int) -> tuple[int | None, int | None, int, int]:
    """Read ``[ttl] [class] type`` or ``[class] [ttl] type`` starting at *i*; returns
    (ttl, class, type, index of the first RDATA token)."""
    ttl: int | None = None
    rclass: int | None = None
    while i < len(tokens):
        tok = tokens[i]
        if tok.quoted:
            break
        text = tok.text
        if ttl is None and text[:1].isdigit():
            ttl = rd.ttl_from_text(text)  # raises RdataError for "3600x"
            i += 1
            continue
        if rclass is None and _looks_like_class(text):
            rclass = class_from_text(text)
            i += 1
            continue
        break
    if i >= len(tokens):
        raise ValueError("the record has no type")
    tok = tokens[i]
    if tok.quoted:
        raise ValueError(f"expected a type, got the quoted string {tok.text!r}")
    try:
        rtype = type_from_text(tok.text)
    except ValueError:
        raise ValueError(f"unknown type {tok.text!r}") from None
    return ttl, rclass, rtype, i + 1


def _looks_like_class(text: str) -> bool:
    """A class mnemonic or ``CLASSnnn`` (the number is range-checked later)."""
    up = text.upper()
    return up in RRClass.__members__ or (up.startswith("CLASS") and up[5:].isdigit())


def _rdata(rtype: int, tokens: Sequence[Token], origin: Name | None,
           strict: bool = True) -> bytes:
    """Wire RDATA from its tokens. With no origin known, a relative name inside the
    RDATA is an error (detected by reading against two different origins)."""
    texts = [t.text for t in tokens]
    if tokens and tokens[0].quoted and texts[0] == "\\#":
        texts[0] = "\\035"  # a quoted "\#" is the text "#", not the RFC 3597 marker
    if origin is not None:
        return rd.from_text(rtype, texts, origin, strict=strict)
    data = rd.from_text(rtype, texts, ROOT, strict=strict)
    if rd.from_text(rtype, texts, _PROBE_ORIGIN, strict=strict) != data:
        raise ValueError("relative name in the RDATA and no origin is known")
    return data


# --------------------------------------------------------------------------
# public API

def iter_zone(path: str | os.PathLike[str], origin: Name | None = None,
              default_ttl: int | None = None) -> Iterator[RR]:
    """Yield the records of the zone file at *path*, in file order. *origin* is the
    starting origin (``$ORIGIN`` may change it); *default_ttl* acts as an initial
    ``$TTL``. Raises :class:`ZoneFileError`."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ZoneFileError(f"cannot read the file: {exc}", str(p)) from exc
    reader = _Reader(origin, default_ttl)
    yield from reader.read(text, str(p), p.parent)


def read_zone_file(path: str | os.PathLike[str], origin: Name | None = None,
                   default_ttl: int | None = None) -> list[RR]:
    """All records of the zone file at *path* (see :func:`iter_zone`)."""
    return list(iter_zone(path, origin, default_ttl))


def read_zone_text(text: str, origin: Name | None = None, default_ttl: int | None = None,
                   *, filename: str = "<text>",
                   base_dir: str | os.PathLike[str] | None = None) -> list[RR]:
    """All records of zone-file *text*. *filename* is used in error messages;
    relative ``$INCLUDE`` paths are taken from *base_dir* (the current folder if
    None)."""
    reader = _Reader(origin, default_ttl)
    folder = Path(base_dir) if base_dir is not None else Path.cwd()
    return list(reader.read(text, filename, folder))


def read_rr_line(text: str, origin: Name | None = None,
                 default_ttl: int = DEFAULT_RR_LINE_TTL, *, strict: bool = True) -> RR:
    """One record from a single entry such as ``example.com. IN DS 1234 8 2 AB…``
    (trust-anchor lines, ``.rpl`` files). The owner is required; TTL defaults to
    *default_ttl* and class to IN; names without a final dot are relative to
    *origin*, i.e. absolute when it is None. Comments and parentheses are allowed.
    ``strict=False`` keeps RDATA that is well-formed text but semantically broken
    (``A \\# 5 …``, a DS digest of the wrong length), as replay tests need."""
    base = origin if origin is not None else ROOT
    entries = list(tokenize(text))
    if len(entries) != 1:
        what = "no record" if not entries else f"{len(entries)} entries"
        raise ZoneFileError(f"expected one record, found {what}", "<record>", 1)
    entry = entries[0]
    if entry.tokens[0].quoted or entry.tokens[0].text.startswith("$"):
        raise ZoneFileError("expected a record, not a directive or string", "<record>", 1)
    try:
        owner = Name.from_text(entry.tokens[0].text, base)
        ttl, rclass, rtype, i = _read_ttl_class_type(entry.tokens, 1)
        data = _rdata(rtype, entry.tokens[i:], base, strict)
    except (rd.RdataError, NameError_, ValueError) as exc:
        raise ZoneFileError(f"{exc} in {text.strip()!r}", "<record>", 1) from exc
    return RR(owner, rtype, rclass if rclass is not None else RRClass.IN,
              ttl if ttl is not None else default_ttl, data)
