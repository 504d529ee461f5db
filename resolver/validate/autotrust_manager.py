"""RFC 5011 upkeep for the service: the :class:`TrustAnchorManager`.

A :class:`TrustAnchorManager` tracks every SEP key of each configured trust point
(normally only the root) and tells the validator which keys to trust. The service calls
:meth:`TrustAnchorManager.refresh` from a periodic task with a function that fetches a
zone's DNSKEY RRset (through the iterator), rebuilds
:class:`~resolver.dnssec.anchors.TrustAnchors` from :meth:`TrustAnchorManager.trusted`
when it returns True, and shows :meth:`TrustAnchorManager.status` in
``/v1/trust-anchors`` and the metrics. The key states and events are those of
:mod:`resolver.validate.autotrust`; the state file is :mod:`resolver.validate.autotrust_store`.

Configured anchors seed the zones the state file does not hold; for the zones it holds,
the file wins (delete it to re-seed from the configured anchors).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from ..config import ValidationLimits as Limits
from ..dnssec.algorithms import DEFAULT, AlgorithmPolicy
from ..dnssec.anchors import TrustAnchor, TrustAnchors
from ..dnssec.verify import seconds_left
from ..wire.name import Name
from ..wire.rrset import RRset
from .autotrust import (
    KeyState,
    RefreshResult,
    Timers,
    TrustPoint,
    apply_rrset,
    refresh_interval,
    seed_point,
    signal_qname,
)
from .autotrust_store import read_state_file, write_state_file

log = logging.getLogger(__name__)

FetchDnskey = Callable[[Name], Awaitable[RRset | None]]
"""Returns the DNSKEY RRset of a zone with its RRSIGs (None or an exception when
there is no usable answer)."""


def _iso(when: float | None) -> str | None:
    if when is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


class TrustAnchorManager:
    """RFC 5011 upkeep of the trust points of *initial* (the configured anchors),
    with state in *path* (None: in memory only).

    The service owns one, calls :meth:`refresh` when :meth:`next_refresh` says so,
    and on True rebuilds the validator's anchors from :meth:`trusted` (and clears
    the key cache). Raises :class:`AutotrustError` when the state file exists but
    cannot be used, and OSError when it cannot be written at start.
    """

    def __init__(self, path: str | os.PathLike[str] | None, initial: Iterable[TrustAnchor], *,
                 now: Callable[[], float] = time.time, policy: AlgorithmPolicy = DEFAULT,
                 timers: Timers | None = None, limits: Limits | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.now = now
        self.policy = policy
        self.timers = timers or Timers()
        self.limits = limits or Limits()
        self._lock = asyncio.Lock()
        self.points: dict[Name, TrustPoint] = {}
        configured: dict[Name, list[TrustAnchor]] = {}
        for anchor in initial:
            configured.setdefault(anchor.zone, []).append(anchor)
        start = now()
        stored: dict[Name, TrustPoint] = {}
        if self.path is not None and self.path.exists():
            stored = {p.zone: p for p in read_state_file(self.path)}
        for zone, anchors in sorted(configured.items()):
            point = stored.get(zone)
            if point is not None and not point.trusted_keys():
                log.warning("%s: %s holds no trusted key for %s; re-seeded from the "
                            "configured anchors", self.path, zone, zone)
                point = None
            if point is None:
                point = seed_point(zone, anchors, start)
                point.next_refresh = start
            self.points[zone] = point
        for zone in stored:
            if zone not in configured:
                log.warning("%s: trust point %s is no longer configured; dropped",
                            self.path, zone)
        if self.path is not None:
            self.save(start)

    # ------------------------------------------------------------------ state
    def save(self, now: float | None = None) -> None:
        """Write the state file (no-op without one)."""
        if self.path is not None:
            write_state_file(self.path, self.points.values(),
                             self.now() if now is None else now)

    def trusted(self) -> list[TrustAnchor]:
        """The anchors the validator should use: Valid and Missing keys (s4.2)."""
        return [k.anchor(p.zone) for p in self.points.values() for k in p.keys if k.trusted]

    def anchors(self) -> TrustAnchors:
        """:meth:`trusted` as a :class:`TrustAnchors` for the KeyFinder."""
        return TrustAnchors(self.trusted())

    def next_refresh(self, now: float | None = None) -> float:
        """When the next trust point is due (seconds since the epoch); *now* plus the
        longest interval when there is nothing to refresh."""
        if not self.points:
            return (self.now() if now is None else now) + self.timers.max_refresh
        return min(p.next_refresh for p in self.points.values())

    # ------------------------------------------------------------------ refresh
    async def refresh(self, fetch_dnskey: FetchDnskey, now: float | None = None, *,
                      force: bool = False) -> bool:
        """Fetch and process the DNSKEY RRset of every trust point that is due (all
        with *force*); True when the set of trusted anchors changed. The state file
        is written afterwards; a write failure is logged, not raised."""
        async with self._lock:
            when = self.now() if now is None else now
            changed = False
            touched = False
            for point in list(self.points.values()):
                if not force and point.next_refresh > when:
                    continue
                touched = True
                result = await self._refresh_point(point, fetch_dnskey, when)
                changed = changed or result.changed
            if touched:
                try:
                    self.save(when)
                except OSError as exc:
                    log.error("cannot write the trust-anchor state %s: %s", self.path, exc)
            return changed

    async def _refresh_point(self, point: TrustPoint, fetch_dnskey: FetchDnskey,
                             now: float) -> RefreshResult:
        point.last_refresh = now
        point.refreshes += 1
        try:
            rrset = await fetch_dnskey(point.zone)
        except Exception as exc:  # noqa: BLE001 - network, iterator limits: retried later (s2.3)
            rrset = None
            error = f"DNSKEY query failed: {exc}"
        else:
            error = f"no DNSKEY RRset for {point.zone}"
        if rrset is None:
            return self._failed(point, now, RefreshResult(point.zone, False, error))
        return self.process(point.zone, rrset, now)

    def process(self, zone: Name, rrset: RRset, now: float) -> RefreshResult:
        """Apply one fetched DNSKEY RRset to the trust point *zone* and schedule its
        next refresh (the synchronous part of :meth:`refresh`; no file write)."""
        point = self.points[zone]
        point.last_refresh = now
        result = apply_rrset(point, rrset, now, self.timers, self.policy, self.limits)
        for step in result.transitions:
            level = logging.WARNING if step.new in (KeyState.REVOKED, KeyState.MISSING) \
                else logging.INFO
            log.log(level, "trust anchor %s key %d: %s -> %s (%s)", step.zone, step.key_tag,
                    step.old.value if step.old else "-", step.new.value if step.new else "-",
                    step.event)
        for warning in result.warnings:
            log.warning("trust anchor %s: %s", zone, warning)
        if not result.validated:
            return self._failed(point, now, result)
        if result.rrsig is not None:
            point.last_ttl = result.rrsig.original_ttl
            point.last_expiration = now + seconds_left(result.rrsig, now)
        point.last_success = now
        point.last_error = "; ".join(result.warnings) or None
        point.next_refresh = now + refresh_interval(point.last_ttl, point.last_expiration,
                                                    now, self.timers)
        return result

    def _failed(self, point: TrustPoint, now: float, result: RefreshResult) -> RefreshResult:
        point.failures += 1
        point.last_error = "; ".join([result.error or "refresh failed", *result.warnings])
        log.warning("trust anchor refresh for %s: %s", point.zone, result.error)
        point.next_refresh = now + refresh_interval(point.last_ttl, point.last_expiration,
                                                    now, self.timers, failed=True)
        return result

    # ------------------------------------------------------------------ reports
    def status(self) -> list[dict[str, Any]]:
        """One entry per tracked key, for ``/v1/trust-anchors`` and the metrics.
        Times are seconds since the epoch (None when not applicable)."""
        out: list[dict[str, Any]] = []
        for point in self.points.values():
            for k in point.keys:
                revoked = k.state in (KeyState.REVOKED, KeyState.REMOVED)
                out.append({
                    "zone": point.zone.to_text(),
                    "key_tag": k.key_tag,
                    "revoked_key_tag": k.revoked_key_tag if revoked else None,
                    "algorithm": k.algorithm,
                    "type": "DNSKEY" if k.dnskey is not None else "DS",
                    "state": k.state.value,
                    "trusted": k.trusted,
                    "since": k.since,
                    "last_validated": k.last_seen,
                    "hold_until": k.hold_until,
                    "source": k.source,
                })
        return out

    def summary(self) -> list[dict[str, Any]]:
        """One entry per trust point: refresh bookkeeping and counters."""
        return [{
            "zone": p.zone.to_text(),
            "trusted_keys": len(p.trusted_keys()),
            "last_refresh": p.last_refresh,
            "last_success": p.last_success,
            "next_refresh": p.next_refresh,
            "last_error": p.last_error,
            "refreshes": p.refreshes,
            "failures": p.failures,
        } for p in self.points.values()]

    def report(self) -> dict[str, Any]:
        """The proposed ``/v1/trust-anchors`` document (times in ISO 8601 UTC)."""
        keys = []
        for entry in self.status():
            item = dict(entry)
            for name in ("since", "last_validated", "hold_until"):
                item[name] = _iso(entry[name])
            keys.append(item)
        points = []
        for entry in self.summary():
            item = dict(entry)
            for name in ("last_refresh", "last_success", "next_refresh"):
                item[name] = _iso(entry[name])
            points.append(item)
        return {"state_file": str(self.path) if self.path else None,
                "trust_points": points, "keys": keys}

    def signal_qnames(self) -> list[Name]:
        """RFC 8145 key-tag signalling names, one per trust point with trusted keys."""
        out = []
        for point in self.points.values():
            name = signal_qname(point.zone, (k.key_tag for k in point.trusted_keys()))
            if name is not None:
                out.append(name)
        return out
