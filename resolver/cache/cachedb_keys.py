"""The keys of the shared cache on Redis (``cachedb``): ``rsv1:<owner, lowercase
text>/<type>/<class>``, and how a flush finds those of a name or a zone (a SCAN MATCH
pattern as a filter, then a check of each key found)."""

from __future__ import annotations

from ..wire.name import Name

KEY_PREFIX = "rsv1:"
_GLOB = str.maketrans({c: "\\" + c for c in "*?[]\\"})     # glob characters, escaped


def key_for(name: Name, qtype: int, qclass: int = 1) -> str:
    return f"{KEY_PREFIX}{name.to_text().lower()}/{qtype}/{qclass}"


def owner_of(key: str) -> Name | None:
    """The owner name in one of our keys (None for a key that is not ours). The owner
    text may hold a ``/`` (a label of it): type and class are the last two parts."""
    if not key.startswith(KEY_PREFIX):
        return None
    owner, _, rest = key[len(KEY_PREFIX):].rpartition("/")
    owner, _, qtype = owner.rpartition("/")
    if not (owner and qtype.isdigit() and rest.isdigit()):
        return None
    try:
        return Name.from_text(owner)
    except ValueError:
        return None


def patterns_for(zone: Name | None, name: Name | None) -> list[str]:
    """The SCAN MATCH patterns that find the keys of *name* (every type), or of
    everything at and below *zone*, or (both None) every key of ours. A pattern may
    match more (a label holding ``/`` or an escaped dot); :func:`owner_of` decides."""
    if name is not None:
        return [f"{KEY_PREFIX}{name.to_text().lower().translate(_GLOB)}/*"]
    if zone is None or zone.is_root():
        return [KEY_PREFIX + "*"]
    # one pass over the key space: the apex and the names below (and names that
    # merely end in the same text, which ours_to_drop leaves alone)
    return [f"{KEY_PREFIX}*{zone.to_text().lower().translate(_GLOB)}/*"]


def ours_to_drop(key: str, zone: Name | None, name: Name | None) -> bool:
    """Whether *key* holds data of *name*, or at or below *zone* (None: every key)."""
    owner = owner_of(key)
    if owner is None:
        return False
    if name is not None:
        return owner.key == name.key
    return zone is None or owner.is_subdomain(zone)
