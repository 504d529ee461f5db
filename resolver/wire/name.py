"""Domain names (RFC 1035 s3.1, RFC 4034 s6.1).

A :class:`Name` holds its uncompressed wire form with the original letter case.
Equality, hashing and ordering are case-insensitive; ordering is the DNSSEC
canonical order. Labels may hold any octets, including non-UTF-8 bytes and dots.
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_NAME_OCTETS = 255
MAX_LABEL_OCTETS = 63
MAX_LABELS = 127

_ESCAPED = frozenset(b'"().;\\@$')
_PLAIN = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_*"


class NameError_(ValueError):
    """A name that breaks the length rules or cannot be read from text."""


def _split_wire(wire: bytes) -> tuple[bytes, ...]:
    labels = []
    i = 0
    n = wire[0]
    while n:
        labels.append(wire[i + 1:i + 1 + n])
        i += n + 1
        n = wire[i]
    return tuple(labels)


def _label_offsets(wire: bytes) -> tuple[int, ...]:
    """Where each label starts, leftmost first, then where the root label is."""
    offsets = []
    i = 0
    n = wire[0]
    while n:
        offsets.append(i)
        i += n + 1
        n = wire[i]
    offsets.append(i)
    return tuple(offsets)


class Name:
    """An absolute domain name. Construct with :meth:`from_text` or :meth:`from_labels`;
    ``Name(wire)`` trusts that *wire* is a well-formed uncompressed name."""

    __slots__ = ("wire", "key", "_labels", "_text", "_offsets")

    wire: bytes
    #: Lowercased wire form: the canonical form (RFC 4034 s6.2) and the cache key. Length
    #: octets are below 64, so lowercasing the whole wire is safe. Made with the name (an
    #: attribute, not a property: it is read dozens of times per answer); most names are
    #: lowercase already and then share one bytes object for both.
    key: bytes
    _labels: tuple[bytes, ...] | None
    _text: str | None
    _offsets: tuple[int, ...] | None

    def __init__(self, wire: bytes) -> None:
        self.wire = wire
        key = wire.lower()
        self.key = wire if key == wire else key
        self._labels = None
        self._text = None
        self._offsets = None

    # --- construction -------------------------------------------------
    @classmethod
    def from_labels(cls, labels: Iterable[bytes]) -> Name:
        parts = []
        count = 0
        for label in labels:
            if not label:
                raise NameError_("empty label")
            if len(label) > MAX_LABEL_OCTETS:
                raise NameError_("label longer than 63 octets")
            parts.append(bytes((len(label),)) + label)
            count += 1
        parts.append(b"\x00")
        wire = b"".join(parts)
        if len(wire) > MAX_NAME_OCTETS:
            raise NameError_("name longer than 255 octets")
        if count > MAX_LABELS:
            raise NameError_("more than 127 labels")
        return cls(wire)

    @classmethod
    def from_text(cls, text: str, origin: Name | None = None) -> Name:
        """Read presentation format: ``\\X`` and ``\\DDD`` escapes, ``@`` for the origin,
        names without a final dot relative to *origin* (absolute if origin is None)."""
        if text == "@":
            if origin is None:
                raise NameError_("'@' without an origin")
            return origin
        if text == ".":
            return ROOT
        if not text:
            raise NameError_("empty name")
        labels: list[bytes] = []
        cur = bytearray()
        i = 0
        n = len(text)
        absolute = False
        while i < n:
            c = text[i]
            if c == "\\":
                if i + 1 >= n:
                    raise NameError_(f"dangling escape in {text!r}")
                if text[i + 1].isdigit():
                    digits = text[i + 1:i + 4]
                    if len(digits) != 3 or not digits.isdigit() or int(digits) > 255:
                        raise NameError_(f"bad \\DDD escape in {text!r}")
                    cur.append(int(digits))
                    i += 4
                else:
                    cur.extend(text[i + 1].encode("utf-8"))
                    i += 2
                continue
            if c == ".":
                if not cur:
                    raise NameError_(f"empty label in {text!r}")
                labels.append(bytes(cur))
                cur = bytearray()
                if i == n - 1:
                    absolute = True
                i += 1
                continue
            cur.extend(c.encode("utf-8"))
            i += 1
        if cur:
            labels.append(bytes(cur))
        if not absolute and origin is not None:
            return cls.from_labels(labels + list(origin.labels))
        return cls.from_labels(labels)

    # --- views ----------------------------------------------------------
    @property
    def labels(self) -> tuple[bytes, ...]:
        """Labels from leftmost to rightmost, root excluded, original case."""
        labels = self._labels
        if labels is None:
            labels = self._labels = _split_wire(self.wire)
        return labels

    def _starts(self) -> tuple[int, ...]:
        offsets = self._offsets
        if offsets is None:
            offsets = self._offsets = _label_offsets(self.wire)
        return offsets

    def __len__(self) -> int:
        """Number of labels, root excluded."""
        offsets = self._offsets           # _starts(), inline: called for every answer
        if offsets is None:
            offsets = self._offsets = _label_offsets(self.wire)
        return len(offsets) - 1

    @property
    def label_count(self) -> int:
        """The RRSIG Labels value of this owner: labels without root and a leading '*'."""
        offsets = self._offsets
        if offsets is None:
            offsets = self._offsets = _label_offsets(self.wire)
        count = len(offsets) - 1
        return count - 1 if self.wire[:2] == b"\x01*" else count

    def is_root(self) -> bool:
        return self.wire == b"\x00"

    def is_wild(self) -> bool:
        return self.wire[:2] == b"\x01*"

    def lower(self) -> Name:
        return Name(self.key)

    def bare(self) -> Name:
        """An equal Name holding only the wire form and key: what a long-lived cache
        entry needs (labels, offsets and text are made again when asked for)."""
        copy = Name.__new__(Name)
        copy.wire = self.wire
        copy.key = self.key
        copy._labels = copy._text = copy._offsets = None
        return copy

    # --- relations -------------------------------------------------------
    def is_subdomain(self, other: Name) -> bool:
        """True when self equals *other* or lies below it."""
        theirs = other.key
        mine = self.key
        if len(theirs) > len(mine) or not mine.endswith(theirs):
            return False
        if len(theirs) == len(mine):
            return True
        # the suffix must start on a label boundary of self
        cut = len(mine) - len(theirs)
        i = 0
        while i < cut:
            i += mine[i] + 1
        return i == cut

    def is_strict_subdomain(self, other: Name) -> bool:
        return self.is_subdomain(other) and len(self.wire) != len(other.wire)

    def parent(self) -> Name:
        if self.wire == b"\x00":
            raise NameError_("the root has no parent")
        return Name(self.wire[self.wire[0] + 1:])

    def ancestor(self, depth: int) -> Name:
        """The ancestor with *depth* labels (root = 0)."""
        offsets = self._starts()
        count = len(offsets) - 1
        if depth > count or depth < 0:
            raise NameError_("no such ancestor")
        return Name(self.wire[offsets[count - depth]:]) if depth < count else self

    def ancestor_keys(self) -> list[bytes]:
        """The cache keys (:attr:`key`) of self and every ancestor, deepest first, the
        root's last: cheaper than :meth:`ancestor` when only keys are looked up."""
        key = self.key
        offsets = self._offsets
        if offsets is None:
            offsets = self._offsets = _label_offsets(self.wire)
        return [key[i:] for i in offsets]

    def prepend(self, label: bytes) -> Name:
        if not label or len(label) > MAX_LABEL_OCTETS:
            raise NameError_("bad label")
        wire = bytes((len(label),)) + label + self.wire
        if len(wire) > MAX_NAME_OCTETS or len(self.labels) + 1 > MAX_LABELS:
            raise NameError_("name too long")
        return Name(wire)

    def concat(self, suffix: Name) -> Name:
        """self (treated as relative) followed by *suffix*."""
        wire = self.wire[:-1] + suffix.wire
        if len(wire) > MAX_NAME_OCTETS:
            raise NameError_("name too long")
        return Name(wire)

    def relativize_to(self, origin: Name) -> tuple[bytes, ...]:
        """Labels of self left of *origin* (which must be an ancestor)."""
        if not self.is_subdomain(origin):
            raise NameError_("not a subdomain")
        return self.labels[:len(self.labels) - len(origin.labels)]

    def common_ancestor(self, other: Name) -> Name:
        a = self.key_labels
        b = other.key_labels
        n = 0
        while n < len(a) and n < len(b) and a[-1 - n] == b[-1 - n]:
            n += 1
        return self.ancestor(n)

    @property
    def key_labels(self) -> tuple[bytes, ...]:
        return _split_wire(self.key)

    def canonical_sort_key(self) -> tuple[bytes, ...]:
        """RFC 4034 s6.1: compare lowercased labels right to left."""
        return tuple(reversed(_split_wire(self.key)))

    # --- text ------------------------------------------------------------
    def to_text(self, omit_final_dot: bool = False) -> str:
        text = self._text
        if text is None:
            text = self._text = self._render()
        if omit_final_dot and text != ".":
            return text[:-1]
        return text

    def _render(self) -> str:
        if self.wire == b"\x00":
            return "."
        parts = []
        for label in self.labels:
            if not label.translate(None, _PLAIN):      # letters, digits, '-', '_', '*'
                parts.append(label.decode("ascii"))
                continue
            out = []
            for c in label:
                if c in _ESCAPED:
                    out.append("\\" + chr(c))
                elif 0x20 < c < 0x7F:
                    out.append(chr(c))
                else:
                    out.append(f"\\{c:03d}")
            parts.append("".join(out))
        return ".".join(parts) + "."

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return f"Name({self.to_text()!r})"

    # --- comparison ------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Name):
            return NotImplemented
        return self.key == other.key

    def __ne__(self, other: object) -> bool:
        if not isinstance(other, Name):
            return NotImplemented
        return self.key != other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __lt__(self, other: Name) -> bool:
        return self.canonical_sort_key() < other.canonical_sort_key()

    def __le__(self, other: Name) -> bool:
        return self.canonical_sort_key() <= other.canonical_sort_key()

    def __gt__(self, other: Name) -> bool:
        return self.canonical_sort_key() > other.canonical_sort_key()

    def __ge__(self, other: Name) -> bool:
        return self.canonical_sort_key() >= other.canonical_sort_key()


ROOT = Name(b"\x00")


def name(text: str) -> Name:
    """Shorthand for an absolute name from text (a missing final dot is implied)."""
    return Name.from_text(text)
