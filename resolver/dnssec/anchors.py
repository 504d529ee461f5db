"""Trust anchors: IANA's root-anchors.xml (RFC 9718) and DS/DNSKEY lines in zone-file
syntax, collected into a :class:`TrustAnchors` set that may hold islands of trust.

* :func:`read_root_anchors_xml` reads the XML that IANA publishes at
  https://data.iana.org/root-anchors/root-anchors.xml and keeps the ``KeyDigest``
  entries whose ``validFrom``/``validUntil`` window contains *now*. When an entry
  carries ``PublicKey`` and ``Flags``, the key must hash to the digest and have the
  stated key tag, or the file is rejected.
* :func:`read_anchor_file` reads DS or DNSKEY records in presentation format (the
  ``root.ds``/``root.key`` style; several lines and several zones allowed). TTL and
  class may be left out, and names without a final dot are absolute.
* :func:`load_default_anchors` reads the copy of root-anchors.xml bundled with the
  package (``resolver/data/``), falling back to the repository's ``trust_anchors/``.

This module only reads anchors; whether a DS digest type or algorithm is usable is the
validator's decision. Errors raise :class:`AnchorError`, naming the file and problem.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import struct
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from ..wire import rdata as rd
from ..wire.name import ROOT, Name, NameError_
from ..wire.types import RRClass, RRType, type_to_text
from ..wire.zonefile import ZoneFileError, read_zone_file
from .keys import ds_digest, key_tag

log = logging.getLogger(__name__)

ROOT_ANCHORS_FILENAME = "root-anchors.xml"
IANA_ROOT_ANCHORS_URL = "https://data.iana.org/root-anchors/root-anchors.xml"

_DNSSEC_PROTOCOL = 3
_MAX_XML_BYTES = 1 << 20


class AnchorError(ValueError):
    """A trust-anchor source that cannot be used: unreadable, malformed, an
    unsupported record type, or no anchor valid now."""

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        self.problem = problem
        super().__init__(f"{source}: {problem}")


@dataclass(frozen=True, slots=True)
class TrustAnchor:
    """One trusted DS or DNSKEY for *zone*. *rdata* is uncompressed wire RDATA;
    *source* says where it came from; *valid_from*/*valid_until* (seconds since the
    epoch) bound its use when the source gave dates; *key_id* is the XML ``id``."""

    zone: Name
    rtype: int
    rdata: bytes
    source: str
    valid_from: float | None = None
    valid_until: float | None = None
    key_id: str | None = None

    def __post_init__(self) -> None:
        if self.rtype not in (RRType.DS, RRType.DNSKEY):
            raise AnchorError(self.source, f"unsupported anchor type {type_to_text(self.rtype)}")

    @property
    def key_tag(self) -> int:
        """The DS key tag field, or the DNSKEY's computed tag (RFC 4034 App. B)."""
        if self.rtype == RRType.DS:
            return int.from_bytes(self.rdata[:2], "big")
        return key_tag(self.rdata)

    @property
    def algorithm(self) -> int:
        """The DNSSEC algorithm number the anchor names."""
        return self.rdata[2] if self.rtype == RRType.DS else self.rdata[3]

    def valid_at(self, now: float) -> bool:
        """Whether *now* lies in ``[valid_from, valid_until)``; open ends always match."""
        if self.valid_from is not None and now < self.valid_from:
            return False
        return self.valid_until is None or now < self.valid_until

    def to_text(self) -> str:
        """The anchor as a presentation-format record line (without TTL)."""
        return (f"{self.zone.to_text()} IN {type_to_text(self.rtype)} "
                f"{rd.to_text(self.rtype, self.rdata)}")


class TrustAnchors:
    """A set of trust anchors indexed by zone. Anchors at several unrelated zones are
    islands of trust; :meth:`closest` finds the one that covers a name."""

    def __init__(self, anchors: Iterable[TrustAnchor] = ()) -> None:
        self._by_zone: dict[Name, list[TrustAnchor]] = {}
        # zone key -> (zone, its anchors): what closest() returns, made once per add
        self._closest: dict[bytes, tuple[Name, tuple[TrustAnchor, ...]]] = {}
        self._seen: set[tuple[bytes, int, bytes]] = set()
        self.merge(anchors)

    def add(self, anchor: TrustAnchor) -> bool:
        """Add *anchor*; False when the same record is already there."""
        key = (anchor.zone.key, anchor.rtype, anchor.rdata)
        if key in self._seen:
            return False
        self._seen.add(key)
        found = self._by_zone.setdefault(anchor.zone, [])
        found.append(anchor)
        zone = self._closest[anchor.zone.key][0] if anchor.zone.key in self._closest \
            else anchor.zone
        self._closest[anchor.zone.key] = (zone, tuple(found))
        return True

    def merge(self, anchors: Iterable[TrustAnchor]) -> int:
        """Add every anchor of *anchors* (another :class:`TrustAnchors` or any
        iterable); returns how many were new."""
        return sum(1 for anchor in list(anchors) if self.add(anchor))

    def for_zone(self, zone: Name) -> tuple[TrustAnchor, ...]:
        """The anchors configured exactly at *zone* (empty if none)."""
        return tuple(self._by_zone.get(zone, ()))

    def closest(self, name: Name) -> tuple[Name, tuple[TrustAnchor, ...]] | None:
        """The deepest anchored zone at or above *name*, with its anchors; None when
        no anchor covers *name*."""
        index = self._closest
        for key in name.ancestor_keys():      # deepest first, no Name per ancestor
            found = index.get(key)
            if found is not None:
                return found
        return None

    def zones(self) -> list[Name]:
        """The anchored zones in canonical order."""
        return sorted(self._by_zone)

    def active(self, now: float) -> TrustAnchors:
        """A copy holding only the anchors valid at *now*."""
        return TrustAnchors(a for a in self if a.valid_at(now))

    def __iter__(self) -> Iterator[TrustAnchor]:
        for zone in self.zones():
            yield from self._by_zone[zone]

    def __len__(self) -> int:
        return len(self._seen)

    def __contains__(self, zone: object) -> bool:
        return isinstance(zone, Name) and zone in self._by_zone

    def __repr__(self) -> str:
        return f"TrustAnchors({len(self)} anchors at {', '.join(map(str, self.zones()))})"


# --------------------------------------------------------------------------
# root-anchors.xml (RFC 9718 s2)

def _xml_time(text: str | None, source: str, what: str) -> float | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise AnchorError(source, f"bad {what} date {text!r}") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _child_text(element: ET.Element, tag: str) -> str | None:
    child = element.find(tag)
    if child is None:
        return None
    return "".join(child.itertext()).strip()


def _child_int(element: ET.Element, tag: str, source: str, key_id: str, maximum: int) -> int:
    text = _child_text(element, tag)
    if text is None:
        raise AnchorError(source, f"KeyDigest {key_id}: missing <{tag}>")
    if not (text.isascii() and text.isdigit()) or int(text) > maximum:
        raise AnchorError(source, f"KeyDigest {key_id}: bad <{tag}> {text!r}")
    return int(text)


def _parse_key_digest(element: ET.Element, zone: Name, source: str,
                      index: int) -> TrustAnchor:
    key_id = element.get("id") or f"#{index}"
    valid_from = _xml_time(element.get("validFrom"), source, "validFrom")
    if valid_from is None:
        raise AnchorError(source, f"KeyDigest {key_id}: missing validFrom")
    valid_until = _xml_time(element.get("validUntil"), source, "validUntil")
    tag = _child_int(element, "KeyTag", source, key_id, 0xFFFF)
    algorithm = _child_int(element, "Algorithm", source, key_id, 0xFF)
    digest_type = _child_int(element, "DigestType", source, key_id, 0xFF)
    digest_text = _child_text(element, "Digest")
    if not digest_text:
        raise AnchorError(source, f"KeyDigest {key_id}: missing <Digest>")
    try:
        digest = bytes.fromhex("".join(digest_text.split()))
    except ValueError as exc:
        raise AnchorError(source, f"KeyDigest {key_id}: <Digest> is not hex") from exc
    data = struct.pack("!HBB", tag, algorithm, digest_type) + digest
    try:
        rd.check(RRType.DS, data)
    except rd.RdataError as exc:
        raise AnchorError(source, f"KeyDigest {key_id}: {exc}") from exc
    public_key = _child_text(element, "PublicKey")
    if public_key is not None:
        flags = _child_int(element, "Flags", source, key_id, 0xFFFF)
        _check_public_key(zone, flags, algorithm, public_key, tag, digest_type, digest,
                          source, key_id)
    return TrustAnchor(zone, RRType.DS, data, source, valid_from, valid_until, key_id)


def _check_public_key(zone: Name, flags: int, algorithm: int, public_key: str, tag: int,
                      digest_type: int, digest: bytes, source: str, key_id: str) -> None:
    """RFC 9718 s2.2: PublicKey and Flags describe the DNSKEY the digest is of."""
    try:
        key = base64.b64decode("".join(public_key.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AnchorError(source, f"KeyDigest {key_id}: <PublicKey> is not base64") from exc
    dnskey = struct.pack("!HBB", flags, _DNSSEC_PROTOCOL, algorithm) + key
    if key_tag(dnskey) != tag:
        raise AnchorError(source, f"KeyDigest {key_id}: <PublicKey> has key tag "
                                  f"{key_tag(dnskey)}, not {tag}")
    computed = ds_digest(zone, dnskey, digest_type)
    if computed is None:
        log.debug("%s: KeyDigest %s: digest type %d not checked against the key",
                  source, key_id, digest_type)
        return
    if computed != digest:
        raise AnchorError(source, f"KeyDigest {key_id}: <PublicKey> does not hash to <Digest>")


def parse_root_anchors_xml(text: str | bytes, source: str = "<xml>") -> list[TrustAnchor]:
    """Every ``KeyDigest`` of a root-anchors.xml document as a DS anchor carrying its
    validity window (nothing is filtered by date here)."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    if len(raw) > _MAX_XML_BYTES:
        raise AnchorError(source, "file too large for a trust-anchor file")
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        raise AnchorError(source, "DTDs and entities are not allowed")
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise AnchorError(source, f"bad XML: {exc}") from exc
    if root.tag != "TrustAnchor":
        raise AnchorError(source, f"root element is <{root.tag}>, not <TrustAnchor>")
    zone_text = _child_text(root, "Zone")
    if not zone_text:
        raise AnchorError(source, "missing <Zone>")
    try:
        zone = Name.from_text(zone_text)
    except NameError_ as exc:
        raise AnchorError(source, f"bad <Zone> {zone_text!r}: {exc}") from exc
    digests = root.findall("KeyDigest")
    if not digests:
        raise AnchorError(source, "no <KeyDigest> element")
    return [_parse_key_digest(el, zone, source, i) for i, el in enumerate(digests, 1)]


def read_root_anchors_xml(path: str | os.PathLike[str], now: float) -> list[TrustAnchor]:
    """The anchors of the root-anchors.xml at *path* that are valid at *now* (seconds
    since the epoch). Raises :class:`AnchorError` if none is."""
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise AnchorError(source, f"cannot read: {exc}") from exc
    return _valid_now(parse_root_anchors_xml(raw, source), now, source)


def _valid_now(anchors: list[TrustAnchor], now: float, source: str) -> list[TrustAnchor]:
    usable = []
    for anchor in anchors:
        if anchor.valid_at(now):
            usable.append(anchor)
        else:
            log.info("%s: skipping anchor %s (key tag %d): not valid at %s", source,
                     anchor.key_id, anchor.key_tag,
                     datetime.fromtimestamp(now, UTC).isoformat())
    if not usable:
        raise AnchorError(source, "no anchor is valid at "
                          + datetime.fromtimestamp(now, UTC).isoformat())
    return usable


# --------------------------------------------------------------------------
# DS / DNSKEY lines

def read_anchor_file(path: str | os.PathLike[str]) -> list[TrustAnchor]:
    """DS and DNSKEY anchors from a presentation-format file (``root.ds``,
    ``root.key``, Unbound's ``trust-anchor-file``). Records may be at several zones;
    TTL and class are optional and names without a final dot are absolute."""
    source = str(path)
    try:
        records = read_zone_file(path, ROOT, default_ttl=3600)
    except ZoneFileError as exc:
        if exc.filename != source:  # inside an $INCLUDE: keep the full location
            raise AnchorError(source, str(exc)) from exc
        where = f"line {exc.line}: " if exc.line is not None else ""
        raise AnchorError(source, where + exc.reason) from exc
    anchors = []
    for rr in records:
        if rr.rtype not in (RRType.DS, RRType.DNSKEY):
            raise AnchorError(source, f"unsupported record type {type_to_text(rr.rtype)} "
                                      f"for {rr.name} (only DS and DNSKEY are anchors)")
        if rr.rclass != RRClass.IN:
            raise AnchorError(source, f"anchor for {rr.name} is not in class IN")
        anchors.append(TrustAnchor(rr.name, rr.rtype, rr.rdata, source))
    if not anchors:
        raise AnchorError(source, "no trust anchor in the file")
    return anchors


# --------------------------------------------------------------------------
# the bundled copy

def bundled_root_anchors_path() -> Path:
    """The root-anchors.xml shipped with the package, or the repository's canonical
    copy in ``trust_anchors/`` when running from a checkout without package data."""
    packaged = resources.files("resolver").joinpath("data", ROOT_ANCHORS_FILENAME)
    if packaged.is_file():
        return Path(str(packaged))
    repo = Path(__file__).resolve().parents[2] / "trust_anchors" / ROOT_ANCHORS_FILENAME
    if repo.is_file():
        return repo
    raise AnchorError(ROOT_ANCHORS_FILENAME, "bundled root trust anchors not found")


def load_default_anchors(now: float) -> TrustAnchors:
    """The bundled root anchors valid at *now*."""
    path = bundled_root_anchors_path()
    anchors = TrustAnchors(read_root_anchors_xml(path, now))
    log.debug("loaded %d root trust anchor(s) from %s", len(anchors), path)
    return anchors
