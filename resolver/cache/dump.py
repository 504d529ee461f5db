"""``resolver control dump-cache FILE`` / ``load-cache FILE``: the RRset and negative
caches written to a file and read back, for a restart that keeps what was learnt.

The format is JSON Lines (UTF-8, one JSON object per line). The first line is the
header ``{"format": "resolver-cache", "version": 1, "written": T}`` (T: seconds since
the epoch when the file was written); each further line is one cache entry::

    {"kind": "rrset", "expires": T, "rank": "AUTH_ANSWER", "zone": "example.",
     "security": "secure", "reason": null, "rrset": R, "proofs": [R, ...]}
    {"kind": "negative", "expires": T, "qtype": 1, "rcode": 0, "name": "nope.example.",
     "zone": "example.", "security": "secure", "reason": null, "soa": R,
     "proofs": [R, ...]}

where an RRset ``R`` is ``{"name": "www.example.", "type": 1, "class": 1, "ttl": 300,
"rdata": [...], "rrsig": [...]}`` with each RDATA and RRSIG RDATA in base64 of its
uncompressed wire form (lossless, whatever the type). ``expires`` is absolute (seconds
since the epoch, the resolver's clock), so the time between dump and load is taken off
the remaining TTL. ``rank`` is the RFC 2181 trust rank (``Rank`` member name);
``qtype`` -1 marks a name error (NXDOMAIN), which covers every type. ``security`` is
``secure``, ``insecure``, ``bogus``, ``indeterminate`` or null (never validated);
``reason`` is null or ``{"problem": NAME, "detail": TEXT}``. Proofs are the NSEC/NSEC3
records of a wildcard expansion or of a denial.

Loading never trusts a verdict from the file:

* expired entries are skipped; the others are stored with the TTL they have left;
* every entry is stored **unvalidated** (no verdict), so the validator checks it when
  it is first used, with the keys of the time (fetched, or loaded from the file as
  DNSKEY and DS RRsets, and validated like everything else);
* an entry dumped as secure is loaded only if each of its RRsets (the data and its
  proofs, or the SOA and proofs of a denial) carries an RRSIG whose validity window
  includes the load time: one that cannot be secure any more is left out;
* entries dumped as bogus are skipped (they are in the dump to be read, not reused:
  bogus data is fetched anew);
* nothing already cached is overwritten by lower-ranked data, nor validated data by
  the loaded copy (the caches' own rules).

A file that is not a dump of this version, or a line that does not decode (bad JSON,
a name, a type, an RDATA that does not parse) makes the whole load fail with
:class:`DumpError` before anything is stored. The file is as trusted as the
configuration: data of insecure zones is served from it as it is, as it would be from
the cache it was dumped from. :func:`dump` writes atomically (a temporary file in the
same directory, fsync, rename), readable by its owner only.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..dnssec.status import Reason, Security
from ..dnssec.verify import window_problem
from ..wire import rdata as rd
from ..wire.name import Name
from ..wire.rrset import RRset
from ..wire.types import RRType
from .rrsets import NXDOMAIN_TYPE, Entry, NegativeCache, NegEntry, Rank, RRsetCache

log = logging.getLogger(__name__)

FORMAT = "resolver-cache"
VERSION = 1


class DumpError(ValueError):
    """A cache dump that cannot be read (the message names the file and line)."""


# ----------------------------------------------------------------------------- writing
def dump(path: Path, rrsets: RRsetCache, negative: NegativeCache, now: float) -> int:
    """Write every live entry of *rrsets* and *negative* into *path* (atomically);
    returns how many entries were written."""
    lines = [json.dumps({"format": FORMAT, "version": VERSION, "written": now})]
    for expires, entry in _live(rrsets.store.peek, rrsets.store, now):
        lines.append(json.dumps(_rrset_entry(entry, expires)))
    for expires, neg in _live(negative.store.peek, negative.store, now):
        lines.append(json.dumps(_negative_entry(neg, expires)))
    _write_atomically(path, "".join(line + "\n" for line in lines))
    log.info("cache dumped to %s: %d entries", path, len(lines) - 1)
    return len(lines) - 1


def _live(peek: Callable[[Any], tuple[float, Any] | None], keys: Iterable[Any],
          now: float) -> Iterator[tuple[float, Any]]:
    for key in keys:
        found = peek(key)
        if found is not None and found[0] > now:
            yield found


def _rrset_entry(entry: Entry, expires: float) -> dict[str, Any]:
    return {"kind": "rrset", "expires": expires, "rank": entry.rank.name,
            "zone": _name_text(entry.zone), **_verdict(entry.security, entry.reason),
            "rrset": _rrset(entry.rrset), "proofs": [_rrset(p) for p in entry.proofs]}


def _negative_entry(entry: NegEntry, expires: float) -> dict[str, Any]:
    return {"kind": "negative", "expires": expires, "qtype": entry.qtype,
            "rcode": entry.rcode, "name": entry.name.to_text(), "zone": entry.zone.to_text(),
            **_verdict(entry.security, entry.reason),
            "soa": _rrset(entry.soa) if entry.soa is not None else None,
            "proofs": [_rrset(p) for p in entry.proofs]}


def _verdict(security: Security | None, reason: Reason | None) -> dict[str, Any]:
    return {"security": security.label if security is not None else None,
            "reason": None if reason is None else
            {"problem": reason.problem.name, "detail": reason.detail}}


def _rrset(rrset: RRset) -> dict[str, Any]:
    return {"name": rrset.name.to_text(), "type": rrset.rtype, "class": rrset.rclass,
            "ttl": rrset.ttl, "rdata": [_b64(d) for d in rrset.rdatas],
            "rrsig": [_b64(s) for s in rrset.sigs]}


def _name_text(name: Name | None) -> str | None:
    return name.to_text() if name is not None else None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _write_atomically(path: Path, text: str) -> None:
    """*text* into *path*: a temporary file beside it (mode 0600), synced, renamed."""
    directory = path.parent if str(path.parent) else Path(".")
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def merge(parts: list[Path], path: Path) -> int:
    """The dumps *parts* (of the workers of one server) as one dump in *path*
    (atomically): one entry per RRset (owner, type, class) and per denial (name, type),
    the one that expires last; returns how many entries were written. Raises
    :class:`DumpError` for a part that is not a dump of this version."""
    written = 0.0
    chosen: dict[tuple[Any, ...], tuple[float, str]] = {}
    for part in parts:
        with part.open(encoding="utf-8") as lines:
            header = _header(part, lines.readline())
            written = max(written, float(header.get("written", 0.0)))
            for number, line in enumerate(lines, start=2):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                    key = _merge_key(value)
                    expires = float(value["expires"])
                except (ValueError, KeyError, TypeError, AttributeError) as exc:
                    raise DumpError(f"{part}:{number}: not a cache entry: {exc}") from None
                held = chosen.get(key)
                if held is None or held[0] < expires:
                    chosen[key] = (expires, line if line.endswith("\n") else line + "\n")
    head = json.dumps({"format": FORMAT, "version": VERSION, "written": written}) + "\n"
    _write_atomically(path, head + "".join(line for _, line in chosen.values()))
    log.info("cache dumps of %d workers merged into %s: %d entries", len(parts), path,
             len(chosen))
    return len(chosen)


def _header(path: Path, line: str) -> dict[str, Any]:
    try:
        header = json.loads(line)
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT \
            or header.get("version") != VERSION:
        raise DumpError(f"{path}:1: not a {FORMAT} dump of version {VERSION}")
    return header


def _merge_key(value: dict[str, Any]) -> tuple[Any, ...]:
    if value["kind"] == "rrset":
        rrset = value["rrset"]
        return ("rrset", str(rrset["name"]).lower(), int(rrset["type"]), int(rrset["class"]))
    if value["kind"] == "negative":
        return ("negative", str(value["name"]).lower(), int(value["qtype"]))
    raise ValueError(f"unknown kind {value['kind']!r}")


# ----------------------------------------------------------------------------- reading
@dataclass(slots=True)
class _Loaded:
    """One entry read back: an RRset entry or a negative one, and its verdict then."""

    expires: float
    security: Security | None
    rrset: tuple[RRset, Rank, Name | None, tuple[RRset, ...]] | None = None
    negative: NegEntry | None = None

    def rrsets(self) -> list[RRset]:
        """The RRsets a secure verdict rested on (the data and its proofs)."""
        if self.rrset is not None:
            return [self.rrset[0], *self.rrset[3]]
        assert self.negative is not None
        soa = [self.negative.soa] if self.negative.soa is not None else []
        return [*soa, *self.negative.proofs]


def load(path: Path, rrsets: RRsetCache, negative: NegativeCache, now: float,
         validation_now: float | None = None) -> int:
    """Read the dump *path* into *rrsets* and *negative*, every entry unvalidated (see
    the module's docstring for what is skipped); *validation_now* is the time the RRSIG
    windows are checked at (default *now*). Returns how many entries were stored.
    Raises :class:`DumpError` (nothing stored) when the file does not decode, and
    OSError when it cannot be read."""
    entries = _read(path)
    checked_at = now if validation_now is None else validation_now
    stored = skipped = 0
    for item in entries:
        remaining = int(item.expires - now)
        if remaining <= 0 or item.security == Security.BOGUS or (
                item.security == Security.SECURE and
                not all(_signed_now(r, checked_at) for r in item.rrsets())):
            skipped += 1
            continue
        if item.rrset is not None:
            rrset, rank, zone, proofs = item.rrset
            if rrsets.put(rrset, rank, zone, ttl=remaining, proofs=proofs):
                stored += 1
        elif item.negative is not None:
            entry = item.negative
            held = negative.store.peek((entry.name.key, entry.qtype))
            if held is not None and held[0] > now and held[1].security is not None:
                continue     # a judged denial stays
            negative.put(entry, remaining)
            stored += 1
    log.info("cache loaded from %s: %d entries stored, %d skipped (expired, bogus, or "
             "no longer signed)", path, stored, skipped)
    return stored


def _signed_now(rrset: RRset, now: float) -> bool:
    """Whether *rrset* carries an RRSIG whose validity window includes *now*."""
    for sig in rrset.sigs:
        parsed = rd.decode(RRType.RRSIG, sig)
        assert isinstance(parsed, rd.RRSIG)
        if window_problem(parsed, now) is None:
            return True
    return False


def _read(path: Path) -> list[_Loaded]:
    """Every entry of the dump *path*, decoded and checked; raises DumpError."""
    entries: list[_Loaded] = []
    with path.open(encoding="utf-8") as source:
        for number, line in enumerate(source, 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
                if not isinstance(value, dict):
                    raise ValueError("not a JSON object")
                if number == 1:
                    if value.get("format") != FORMAT or value.get("version") != VERSION:
                        raise ValueError(f"not a {FORMAT} dump of version {VERSION}")
                    continue
                entries.append(_entry(value))
            except (ValueError, KeyError, TypeError) as exc:
                raise DumpError(f"{path}:{number}: {exc}") from exc
    return entries


def _entry(value: dict[str, Any]) -> _Loaded:
    expires = float(value["expires"])
    security = _security(value["security"])
    kind = value["kind"]
    if kind == "rrset":
        zone = Name.from_text(value["zone"]) if value["zone"] is not None else None
        proofs = tuple(_read_rrset(p) for p in value["proofs"])
        return _Loaded(expires, security, rrset=(_read_rrset(value["rrset"]),
                                                 Rank[value["rank"]], zone, proofs))
    if kind == "negative":
        qtype = int(value["qtype"])
        if qtype != NXDOMAIN_TYPE and not 0 <= qtype <= 0xFFFF:
            raise ValueError(f"bad qtype {qtype}")
        soa = _read_rrset(value["soa"]) if value["soa"] is not None else None
        entry = NegEntry(Name.from_text(value["name"]), qtype, int(value["rcode"]),
                         Name.from_text(value["zone"]), soa,
                         [_read_rrset(p) for p in value["proofs"]])
        return _Loaded(expires, security, negative=entry)
    raise ValueError(f"unknown kind {kind!r}")


def _security(label: object) -> Security | None:
    if label is None:
        return None
    for level in Security:
        if level.label == label:
            return level
    raise ValueError(f"unknown security {label!r}")


def _read_rrset(value: dict[str, Any]) -> RRset:
    rtype, rclass, ttl = int(value["type"]), int(value["class"]), int(value["ttl"])
    if not (0 < rtype <= 0xFFFF and rclass == 1 and 0 <= ttl <= 0x7FFFFFFF):
        raise ValueError(f"bad type, class or TTL ({rtype}, {rclass}, {ttl})")
    rdatas = [_unb64(d) for d in value["rdata"]]
    sigs = [_unb64(s) for s in value["rrsig"]]
    if not rdatas:
        raise ValueError("an RRset without records")
    for data in rdatas:
        rd.check(rtype, data)
    for sig in sigs:
        rd.check(RRType.RRSIG, sig)
    return RRset(Name.from_text(value["name"]), rtype, rclass, ttl, rdatas, sigs)


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"bad base64 {text[:20]!r}") from exc

