"""The RFC 5011 trust-anchor state file: JSON, read back at start and written
atomically after every refresh.

Kept apart from the state machine (:mod:`resolver.validate.autotrust`) so that the
machine stays pure data and logic, and the file format (versioned, validated on read)
and its crash safety (temporary file in the same directory, fsync, rename, fsync of the
directory) can change without touching it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..wire import rdata as rd
from ..wire.name import Name, NameError_
from ..wire.types import RRType
from .autotrust import KeyRecord, KeyState, TrustPoint, without_revoke

STATE_VERSION = 1


class AutotrustError(ValueError):
    """A state file that cannot be used; names the file and the problem."""

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        self.problem = problem
        super().__init__(f"{source}: {problem}")


def _b64(data: bytes | None) -> str | None:
    return base64.b64encode(data).decode("ascii") if data is not None else None


def _record_json(record: KeyRecord) -> dict[str, Any]:
    return {
        "key_tag": record.key_tag,
        "algorithm": record.algorithm,
        "state": record.state.value,
        "since": record.since,
        "dnskey": _b64(record.dnskey),
        "ds": _b64(record.ds),
        "source": record.source,
        "first_seen": record.first_seen,
        "last_seen": record.last_seen,
        "hold_until": record.hold_until,
        "seen": record.seen,
        "validated_by": list(record.validated_by),
    }


def state_to_json(points: Iterable[TrustPoint], now: float) -> dict[str, Any]:
    """The state file document."""
    return {
        "version": STATE_VERSION,
        "written": now,
        "comment": "RFC 5011 trust-anchor state; written by the resolver, do not edit "
                   "while it runs",
        "trust_points": [{
            "zone": point.zone.to_text(),
            "next_refresh": point.next_refresh,
            "last_refresh": point.last_refresh,
            "last_success": point.last_success,
            "last_error": point.last_error,
            "last_ttl": point.last_ttl,
            "last_expiration": point.last_expiration,
            "keys": [_record_json(k) for k in point.keys],
        } for point in points],
    }


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, problem: str) -> AutotrustError:
        return AutotrustError(self.source, problem)

    def number(self, obj: dict[str, Any], key: str, optional: bool = True) -> float | None:
        value = obj.get(key)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(f"{key!r} must be a number")
        return float(value)

    def blob(self, obj: dict[str, Any], key: str) -> bytes | None:
        value = obj.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(f"{key!r} must be base64 text")
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise self.fail(f"{key!r} is not base64") from exc

    def record(self, obj: object) -> KeyRecord:
        if not isinstance(obj, dict):
            raise self.fail("a key entry is not an object")
        try:
            state = KeyState(obj.get("state"))
        except ValueError as exc:
            raise self.fail(f"unknown key state {obj.get('state')!r}") from exc
        since = self.number(obj, "since", optional=False)
        assert since is not None
        dnskey = self.blob(obj, "dnskey")
        ds = self.blob(obj, "ds")
        if dnskey is None and ds is None:
            raise self.fail("a key entry has neither 'dnskey' nor 'ds'")
        if dnskey is not None:
            try:
                rd.check(RRType.DNSKEY, dnskey)
            except rd.RdataError as exc:
                raise self.fail(f"bad DNSKEY: {exc}") from exc
            dnskey = without_revoke(dnskey)
        if ds is not None:
            try:
                rd.check(RRType.DS, ds)
            except rd.RdataError as exc:
                raise self.fail(f"bad DS: {exc}") from exc
        seen = obj.get("seen", 0)
        tags = obj.get("validated_by", [])
        if not isinstance(seen, int) or isinstance(seen, bool) \
                or not isinstance(tags, list) \
                or not all(isinstance(t, int) and 0 <= t <= 0xFFFF for t in tags):
            raise self.fail("bad 'seen' or 'validated_by'")
        source = obj.get("source", "rfc5011")
        return KeyRecord(state, since, dnskey, ds, str(source),
                         self.number(obj, "first_seen"), self.number(obj, "last_seen"),
                         self.number(obj, "hold_until"), seen, list(tags))

    def point(self, obj: object) -> TrustPoint:
        if not isinstance(obj, dict) or not isinstance(obj.get("zone"), str):
            raise self.fail("a trust point is not an object with a 'zone'")
        try:
            zone = Name.from_text(obj["zone"])
        except NameError_ as exc:
            raise self.fail(f"bad zone {obj['zone']!r}: {exc}") from exc
        keys = obj.get("keys")
        if not isinstance(keys, list):
            raise self.fail(f"{zone}: 'keys' must be a list")
        error = obj.get("last_error")
        ttl = self.number(obj, "last_ttl")
        return TrustPoint(zone, [self.record(k) for k in keys],
                          self.number(obj, "next_refresh") or 0.0,
                          self.number(obj, "last_refresh"), self.number(obj, "last_success"),
                          str(error) if error is not None else None,
                          int(ttl) if ttl is not None else None,
                          self.number(obj, "last_expiration"))


def read_state_file(path: str | os.PathLike[str]) -> list[TrustPoint]:
    """The trust points stored at *path*; raises :class:`AutotrustError` when the
    file is unreadable or malformed."""
    source = str(path)
    reader = _Reader(source)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise reader.fail(f"cannot read: {exc}") from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise reader.fail(f"bad JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("version") != STATE_VERSION:
        raise reader.fail(f"not a version {STATE_VERSION} trust-anchor state file")
    points = doc.get("trust_points")
    if not isinstance(points, list):
        raise reader.fail("'trust_points' must be a list")
    return [reader.point(p) for p in points]


def write_state_file(path: str | os.PathLike[str], points: Iterable[TrustPoint],
                     now: float) -> None:
    """Write the state atomically: a temporary file in the same directory, fsync,
    rename over *path*, fsync of the directory. A crash leaves the old or the new
    file, never a torn one."""
    target = Path(path)
    directory = target.parent
    text = json.dumps(state_to_json(points, now), indent=2) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
