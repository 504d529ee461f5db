"""Automated updates of DNSSEC trust anchors (RFC 5011), kept in a JSON state file.

A :class:`TrustAnchorManager` tracks every SEP key of each configured trust point
(normally only the root) through the states of RFC 5011 s4.2 and tells the
validator which keys to trust. The service calls :meth:`TrustAnchorManager.refresh`
from a periodic task with a function that fetches a zone's DNSKEY RRset (through
the iterator), rebuilds :class:`~resolver.dnssec.anchors.TrustAnchors` from
:meth:`TrustAnchorManager.trusted` when it returns True, and shows
:meth:`TrustAnchorManager.status` in ``/v1/trust-anchors`` and the metrics.

What happens on each refresh of a trust point:

* The DNSKEY RRset is first validated with the keys trusted now (s2.2: "validly
  signed DNSKEY RRset"): a Valid or Missing DNSKEY of the trust point that is a
  member of the RRset and signs it, or, for the configured DS anchors that no
  DNSKEY has matched yet, a key the DS names (RFC 4035 s5.2). A failed fetch or an
  RRset that does not validate changes no key state (a missing answer is not the
  "KeyRem" event) and only schedules a retry (s2.3).
* Events of s4.1 on a validated RRset, per SEP key (keys are compared with the
  REVOKE bit cleared, s2.1 - the bit changes the key tag):

  - NewKey: a key not known before (or in Start) -> AddPend, with the add
    hold-down timer set to max(30 days, original TTL of the RRset) (s2.4.1);
  - AddTime: an AddPend key still present once its timer has run out, seen in at
    least two validated RRsets -> Valid (s2.2: only when a validated RRset
    retrieved after the hold-down still holds the key);
  - KeyRem: a key absent from a validated RRset: AddPend -> Start (the acceptance
    timer is reset, s2.2), Valid -> Missing (still trusted, s4.2);
  - KeyPres: a Missing key present again -> Valid;
  - RevBit: the key published with the REVOKE bit and signing the DNSKEY RRset
    itself (s2.1) -> Revoked, immediately and for good; a revoked key that does
    not self-sign is ignored. A self-signed revocation of a key already known is
    accepted even from an RRset that does not otherwise validate (only the holder
    of the private key can make it), but nothing else in that RRset is used;
  - RemTime: a Revoked key whose remove hold-down (30 days, s2.4.2) has run out ->
    Removed; a Removed key is never trusted again.

  An AddPend key whose validating keys have all been revoked goes back to Start
  (s2.2). Missing, Start and Removed keys absent for longer than keep-missing
  (366 days, as Unbound's ``keep-missing``) are forgotten.
* The trust point never becomes empty: a revocation or a removal that would leave
  no trusted key is refused and logged. This departs on purpose from s5 (trust
  point deletion): with no root anchor every answer would turn "insecure", which
  fails open for DANE; keeping the last key fails closed (answers are bogus until
  the operator installs a new anchor).
* The next refresh is due after max(1 h, min(15 d, TTL/2, sig-expiry/2)) (s2.3,
  "queryInterval"); after a failure after max(1 h, min(1 d, TTL/10,
  sig-expiry/10)) ("retryTime").

The state file is JSON, written atomically (temporary file in the same directory,
fsync, rename, fsync of the directory) after every refresh, and read back at start.
Configured anchors seed the zones the file does not hold; for the zones it holds,
the file wins (delete it to re-seed from the configured anchors).
:func:`signal_qname` gives the RFC 8145 s5.1 key-tag signalling name.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from ..dnssec import algorithms
from ..dnssec.algorithms import DEFAULT, AlgorithmPolicy
from ..dnssec.anchors import TrustAnchor, TrustAnchors
from ..dnssec.budget import Budget, Limits
from ..dnssec.canonical import signed_data
from ..dnssec.keys import DNSSEC_PROTOCOL, ds_digest, key_tag, match_ds
from ..dnssec.verify import RRsetResult, seconds_left, verify_dnskey_rrset, window_problem
from ..wire import rdata as rd
from ..wire.name import Name, NameError_
from ..wire.rrset import RRset
from ..wire.types import RRType

log = logging.getLogger(__name__)

DAY = 86400
ADD_HOLDDOWN = 30 * DAY         # RFC 5011 s2.4.1
DEL_HOLDDOWN = 30 * DAY         # RFC 5011 s2.4.2
KEEP_MISSING = 366 * DAY        # Unbound keep-missing
MIN_REFRESH = 3600              # RFC 5011 s2.3: no more often than once an hour
MAX_REFRESH = 15 * DAY          # s2.3: at least every 15 days
MAX_RETRY = DAY                 # s2.3: retry at least daily after a failure
MAX_KEYS = 32                   # keys tracked per trust point (s2.4.3 asks for >= 5)
MAX_REVOKE_CHECKS = 8           # RRSIGs tried when checking revocation self-signatures
STATE_VERSION = 1

_ZONE_FLAG = 0x0100
_REVOKE_FLAG = 0x0080
_SEP_FLAG = 0x0001

FetchDnskey = Callable[[Name], Awaitable[RRset | None]]
"""Returns the DNSKEY RRset of a zone with its RRSIGs (None or an exception when
there is no usable answer)."""


class AutotrustError(ValueError):
    """A state file that cannot be used; names the file and the problem."""

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        self.problem = problem
        super().__init__(f"{source}: {problem}")


class KeyState(Enum):
    """The key states of RFC 5011 s4.2."""

    START = "Start"
    ADDPEND = "AddPend"
    VALID = "Valid"
    MISSING = "Missing"
    REVOKED = "Revoked"
    REMOVED = "Removed"

    @property
    def trusted(self) -> bool:
        """Valid and Missing keys are trust anchors (s4.2)."""
        return self in (KeyState.VALID, KeyState.MISSING)


@dataclass(frozen=True, slots=True)
class Timers:
    """The RFC 5011 parameters (defaults as SECURITY.md s6)."""

    add_holddown: float = ADD_HOLDDOWN
    del_holddown: float = DEL_HOLDDOWN
    keep_missing: float = KEEP_MISSING
    min_refresh: float = MIN_REFRESH
    max_refresh: float = MAX_REFRESH
    max_retry: float = MAX_RETRY


@dataclass(slots=True)
class KeyRecord:
    """One SEP key of a trust point, or a configured DS anchor that no DNSKEY has
    matched yet. *dnskey* is the DNSKEY RDATA with the REVOKE bit cleared; *ds*
    the configured DS RDATA (kept for reference once matched)."""

    state: KeyState
    since: float                            # when the key entered *state*
    dnskey: bytes | None = None
    ds: bytes | None = None
    source: str = "rfc5011"
    first_seen: float | None = None
    last_seen: float | None = None          # last validated RRset that held the key
    hold_until: float | None = None         # AddPend: add time; Revoked: removal time
    seen: int = 0                           # validated sightings while AddPend
    validated_by: list[int] = field(default_factory=list)  # tags that validated it

    def __post_init__(self) -> None:
        if self.dnskey is None and self.ds is None:
            raise ValueError("a key record needs a DNSKEY or a DS")

    @property
    def trusted(self) -> bool:
        return self.state.trusted

    @property
    def key_tag(self) -> int:
        """The tag of the key without the REVOKE bit (or the DS key tag field)."""
        if self.dnskey is not None:
            return key_tag(self.dnskey)
        assert self.ds is not None
        return int.from_bytes(self.ds[:2], "big")

    @property
    def revoked_key_tag(self) -> int | None:
        """The tag of the key as published with the REVOKE bit (RFC 5011 s3)."""
        if self.dnskey is None:
            return None
        return key_tag(_with_revoke(self.dnskey))

    @property
    def algorithm(self) -> int:
        if self.dnskey is not None:
            return self.dnskey[3]
        assert self.ds is not None
        return self.ds[2]

    @property
    def rtype(self) -> int:
        return RRType.DNSKEY if self.dnskey is not None else RRType.DS

    def names(self, zone: Name, dnskey: bytes) -> bool:
        """Whether this record is the key *dnskey* (REVOKE bit cleared)."""
        if self.dnskey is not None:
            return self.dnskey == dnskey
        assert self.ds is not None
        return _ds_names(zone, self.ds, dnskey)

    def anchor(self, zone: Name) -> TrustAnchor:
        if self.dnskey is not None:
            return TrustAnchor(zone, RRType.DNSKEY, self.dnskey, self.source)
        assert self.ds is not None
        return TrustAnchor(zone, RRType.DS, self.ds, self.source)


@dataclass(slots=True)
class TrustPoint:
    """The keys of one trust point and its refresh bookkeeping (s2.3)."""

    zone: Name
    keys: list[KeyRecord] = field(default_factory=list)
    next_refresh: float = 0.0
    last_refresh: float | None = None
    last_success: float | None = None
    last_error: str | None = None
    last_ttl: int | None = None             # original TTL of the last validated RRset
    last_expiration: float | None = None    # expiry of the RRSIG that validated it
    refreshes: int = 0                      # since start (not stored)
    failures: int = 0                       # since start (not stored)

    def trusted_keys(self) -> list[KeyRecord]:
        return [k for k in self.keys if k.trusted]


@dataclass(frozen=True, slots=True)
class Transition:
    """One state change, for logs and tests."""

    zone: Name
    key_tag: int
    old: KeyState | None          # None: a key seen for the first time
    new: KeyState | None          # None: forgotten
    event: str


@dataclass(slots=True)
class RefreshResult:
    """What one refresh of one trust point did."""

    zone: Name
    validated: bool
    error: str | None = None
    transitions: list[Transition] = field(default_factory=list)
    changed: bool = False         # the trusted set changed
    rrsig: rd.RRSIG | None = None  # the RRSIG that validated the RRset
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------
# key helpers

def _flags(dnskey: bytes) -> int:
    return int.from_bytes(dnskey[:2], "big")


def _without_revoke(dnskey: bytes) -> bytes:
    return (_flags(dnskey) & ~_REVOKE_FLAG).to_bytes(2, "big") + dnskey[2:]


def _with_revoke(dnskey: bytes) -> bytes:
    return (_flags(dnskey) | _REVOKE_FLAG).to_bytes(2, "big") + dnskey[2:]


def _zone_key(dnskey: bytes) -> bool:
    """A zone key with protocol 3 (RFC 4034 s2.1.1-2)."""
    return len(dnskey) >= 5 and dnskey[2] == DNSSEC_PROTOCOL and bool(_flags(dnskey) & _ZONE_FLAG)


def _sep(dnskey: bytes) -> bool:
    """The SEP bit: the keys RFC 5011 adds as new trust anchors."""
    return bool(_flags(dnskey) & _SEP_FLAG)


def _ds_names(zone: Name, ds: bytes, dnskey: bytes) -> bool:
    """Whether the DS RDATA *ds* names the DNSKEY RDATA *dnskey* (RFC 4034 s5.1)."""
    if len(ds) < 5 or len(dnskey) < 4:
        return False
    if int.from_bytes(ds[:2], "big") != key_tag(dnskey) or ds[2] != dnskey[3]:
        return False
    return ds_digest(zone, dnskey, ds[3]) == ds[4:]


def _self_signed(rrset: RRset, revoked: bytes, now: float, policy: AlgorithmPolicy) -> bool:
    """RFC 5011 s2.1: the revoked key *revoked* (as published, REVOKE bit set) signs
    the DNSKEY RRset. At most MAX_REVOKE_CHECKS signatures are verified."""
    tag = key_tag(revoked)
    algorithm = revoked[3]
    if not policy.supports_algorithm(algorithm):
        return False
    tries = 0
    for data in rrset.sigs:
        try:
            sig = rd.decode(RRType.RRSIG, data)
        except rd.RdataError:
            continue
        assert isinstance(sig, rd.RRSIG)
        if (sig.type_covered != RRType.DNSKEY or sig.key_tag != tag
                or sig.algorithm != algorithm or sig.signer != rrset.name
                or sig.labels != rrset.name.label_count
                or window_problem(sig, now) is not None):
            continue
        tries += 1
        if tries > MAX_REVOKE_CHECKS:
            return False
        if algorithms.verify_signature(algorithm, revoked[4:], sig.signature,
                                       signed_data(rrset, sig)):
            return True
    return False


def signal_qname(zone: Name, tags: Iterable[int]) -> Name | None:
    """The RFC 8145 s5.1 key-tag query name (type NULL): ``_ta-`` and the key tags
    as four lowercase hex digits, ascending, joined by ``-``, under *zone*; None
    when there is no tag."""
    unique = sorted(set(tags))
    if not unique:
        return None
    label = "_ta-" + "-".join(f"{t:04x}" for t in unique)
    return zone.prepend(label.encode("ascii"))


# --------------------------------------------------------------------------
# the state machine (RFC 5011 s4)

class _Update:
    """One refresh of one trust point: events of s4.1 applied to its keys."""

    def __init__(self, point: TrustPoint, now: float, timers: Timers) -> None:
        self.point = point
        self.now = now
        self.timers = timers
        self.transitions: list[Transition] = []
        self.warnings: list[str] = []

    def move(self, record: KeyRecord, new: KeyState, event: str) -> None:
        self.transitions.append(Transition(self.point.zone, record.key_tag, record.state, new,
                                           event))
        record.state = new
        record.since = self.now

    def forget(self, record: KeyRecord, event: str) -> None:
        self.transitions.append(Transition(self.point.zone, record.key_tag, record.state,
                                           None, event))
        self.point.keys.remove(record)

    def find(self, dnskey: bytes) -> KeyRecord | None:
        """The record of *dnskey* (REVOKE bit cleared): a DNSKEY record first, else a
        DS-only anchor that names it."""
        for record in self.point.keys:
            if record.dnskey == dnskey:
                return record
        for record in self.point.keys:
            if record.dnskey is None and record.names(self.point.zone, dnskey):
                return record
        return None

    def last_trusted(self, record: KeyRecord) -> bool:
        return record.trusted and not any(k.trusted for k in self.point.keys if k is not record)

    # --- a validated RRset ------------------------------------------------
    def present(self, dnskey: bytes, validator: int | None, orig_ttl: int) -> None:
        """A non-revoked SEP key in a validated RRset: NewKey, AddTime or KeyPres."""
        record = self.find(dnskey)
        if record is not None and record.dnskey is None:
            # a configured DS anchor meets its key: track the DNSKEY from now on
            other = next((k for k in self.point.keys if k.dnskey == dnskey), None)
            if other is not None:
                self.point.keys.remove(other)
            record.dnskey = dnskey
        if record is None:
            if not _sep(dnskey):
                return            # only SEP keys become new trust anchors
            if len(self.point.keys) >= MAX_KEYS:
                self.warnings.append(f"key {key_tag(dnskey)} not tracked: {MAX_KEYS} keys "
                                     "already")
                return
            record = KeyRecord(KeyState.START, self.now, dnskey)
            self.point.keys.append(record)
        if record.first_seen is None:
            record.first_seen = self.now
        state = record.state
        if state is KeyState.START:
            self.move(record, KeyState.ADDPEND, "NewKey")
            record.hold_until = self.now + max(self.timers.add_holddown, orig_ttl)
            record.seen = 1
            record.validated_by = [validator] if validator is not None else []
        elif state is KeyState.ADDPEND:
            record.seen += 1
            if validator is not None and validator not in record.validated_by:
                record.validated_by.append(validator)
            if record.hold_until is not None and self.now >= record.hold_until \
                    and record.seen >= 2:
                self.move(record, KeyState.VALID, "AddTime")
                record.hold_until = None
        elif state is KeyState.MISSING:
            self.move(record, KeyState.VALID, "KeyPres")
        elif state in (KeyState.REVOKED, KeyState.REMOVED):
            log.debug("%s: key %d is %s; its unrevoked form is ignored (RFC 5011 s2.1)",
                      self.point.zone, record.key_tag, state.value)
            return
        record.last_seen = self.now

    def absent(self, record: KeyRecord) -> None:
        """A key missing from a validated RRset: KeyRem, and forgetting old keys."""
        state = record.state
        if state is KeyState.ADDPEND:
            self.move(record, KeyState.START, "KeyRem")
            record.hold_until = None
            record.seen = 0
            record.validated_by = []
        elif state is KeyState.VALID:
            self.move(record, KeyState.MISSING, "KeyRem")
        elif state in (KeyState.MISSING, KeyState.START, KeyState.REMOVED):
            if self.now - record.since >= self.timers.keep_missing:
                if self.last_trusted(record):
                    self.warnings.append(f"key {record.key_tag} missing for "
                                         f"{int(self.now - record.since) // DAY} days but "
                                         "the last trusted key; kept")
                else:
                    self.forget(record, "keep-missing")

    def revoked(self, published: bytes, rrset: RRset, policy: AlgorithmPolicy,
                validated: bool) -> None:
        """A SEP key published with the REVOKE bit: RevBit when self-signed (s2.1)."""
        dnskey = _without_revoke(published)
        record = self.find(dnskey)
        if record is None and (not validated or not _sep(dnskey)):
            return
        if record is not None and record.state in (KeyState.REVOKED, KeyState.REMOVED):
            record.last_seen = self.now if validated else record.last_seen
            return
        if not _self_signed(rrset, published, self.now, policy):
            log.info("%s: key %d has the REVOKE bit but does not sign the DNSKEY RRset; "
                     "ignored (RFC 5011 s2.1)", self.point.zone, key_tag(published))
            return
        if record is None:
            if len(self.point.keys) >= MAX_KEYS:
                return
            # never trusted, but recorded so that its unrevoked form is never added
            record = KeyRecord(KeyState.START, self.now, dnskey, first_seen=self.now)
            self.point.keys.append(record)
        if self.last_trusted(record):
            message = (f"key {record.key_tag} revoked, but it is the last trusted key of "
                       f"{self.point.zone}; kept (install a new trust anchor)")
            log.error("%s", message)
            self.warnings.append(message)
            return
        if record.dnskey is None:
            record.dnskey = dnskey
        self.move(record, KeyState.REVOKED, "RevBit")
        record.hold_until = self.now + self.timers.del_holddown
        record.seen = 0
        record.validated_by = []
        record.last_seen = self.now

    def pending_lost_validators(self) -> None:
        """s2.2: when every key that validated a pending key is revoked, start over."""
        revoked = {k.key_tag for k in self.point.keys
                   if k.state in (KeyState.REVOKED, KeyState.REMOVED)}
        for record in self.point.keys:
            if record.state is KeyState.ADDPEND and record.validated_by \
                    and all(tag in revoked for tag in record.validated_by):
                self.move(record, KeyState.START, "validators revoked")
                record.hold_until = None
                record.seen = 0
                record.validated_by = []

    def timers_run_out(self) -> None:
        """RemTime: Revoked -> Removed after the remove hold-down (s2.4.2)."""
        for record in list(self.point.keys):
            if record.state is KeyState.REVOKED and record.hold_until is not None \
                    and self.now >= record.hold_until:
                self.move(record, KeyState.REMOVED, "RemTime")
                record.hold_until = None


def _trusted_idents(point: TrustPoint) -> set[tuple[int, bytes]]:
    return {(k.rtype, k.dnskey if k.dnskey is not None else k.ds or b"")
            for k in point.keys if k.trusted}


def validate_dnskey_rrset(point: TrustPoint, rrset: RRset, now: float,
                          policy: AlgorithmPolicy = DEFAULT,
                          limits: Limits | None = None) -> RRsetResult:
    """RFC 5011 s2.2 / RFC 4035 s5.2: the DNSKEY RRset validated with the keys of
    *point* trusted now - its Valid and Missing DNSKEYs, then the configured DS
    anchors no DNSKEY has matched yet."""
    limits = limits or Limits()
    budget = Budget(limits)
    keys = [k.dnskey for k in point.keys if k.trusted and k.dnskey is not None]
    result = verify_dnskey_rrset(rrset, keys, now, budget, policy)
    if result.ok:
        return result
    ds = [k.ds for k in point.keys if k.trusted and k.dnskey is None and k.ds is not None]
    if ds:
        match = match_ds(point.zone, ds, rrset.rdatas, policy, limits)
        if match.ok:
            return verify_dnskey_rrset(rrset, match, now, budget, policy)
    return result


def apply_rrset(point: TrustPoint, rrset: RRset, now: float, timers: Timers | None = None,
                policy: AlgorithmPolicy = DEFAULT, limits: Limits | None = None
                ) -> RefreshResult:
    """Validate a fetched DNSKEY RRset of *point* and apply the events of RFC 5011
    s4.1 to its keys (the pure core of a refresh; times are seconds since the
    epoch). Nothing but a self-signed revocation of a known key changes unless the
    RRset validates with a key trusted now (s2.2)."""
    timers = timers or Timers()
    before = _trusted_idents(point)
    update = _Update(point, now, timers)
    if rrset.name != point.zone or rrset.rtype != RRType.DNSKEY:
        return RefreshResult(point.zone, False, f"not the DNSKEY RRset of {point.zone}")
    verdict = validate_dnskey_rrset(point, rrset, now, policy, limits)
    validated = verdict.ok
    error = None if validated else f"DNSKEY RRset does not validate: {verdict.verdict}"
    published = [bytes(d) for d in rrset.rdatas if _zone_key(bytes(d))]
    revoked = [d for d in published if _flags(d) & _REVOKE_FLAG]
    if validated:
        assert verdict.rrsig is not None
        validator = key_tag(verdict.key) if verdict.key is not None else None
        orig_ttl = verdict.rrsig.original_ttl
        plain = [d for d in published if not _flags(d) & _REVOKE_FLAG]
        for dnskey in plain:
            update.present(dnskey, validator, orig_ttl)
        seen = plain + [_without_revoke(d) for d in revoked]
        for record in list(point.keys):
            if not any(record.names(point.zone, d) for d in seen):
                update.absent(record)
    for dnskey in revoked:
        update.revoked(dnskey, rrset, policy, validated)
    update.pending_lost_validators()
    if validated:
        update.timers_run_out()
    changed = _trusted_idents(point) != before
    return RefreshResult(point.zone, validated, error, update.transitions, changed,
                         verdict.rrsig if validated else None, update.warnings)


def refresh_interval(ttl: int | None, expiration: float | None, now: float,
                     timers: Timers | None = None, failed: bool = False) -> float:
    """RFC 5011 s2.3: queryInterval = max(1 h, min(15 d, TTL/2, sig-expiry/2)); after
    a failure retryTime = max(1 h, min(1 d, TTL/10, sig-expiry/10))."""
    timers = timers or Timers()
    if failed and ttl is None and expiration is None:
        return timers.min_refresh        # nothing known yet: retry hourly
    cap, share = (timers.max_retry, 10.0) if failed else (timers.max_refresh, 2.0)
    candidates = [cap]
    if ttl is not None:
        candidates.append(ttl / share)
    if expiration is not None:
        candidates.append(max(0.0, expiration - now) / share)
    return max(timers.min_refresh, min(candidates))


# --------------------------------------------------------------------------
# the state file

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
            dnskey = _without_revoke(dnskey)
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


# --------------------------------------------------------------------------
# the manager

def _seed(zone: Name, anchors: Iterable[TrustAnchor], now: float) -> TrustPoint:
    """A trust point whose configured anchors are all Valid."""
    point = TrustPoint(zone)
    for anchor in anchors:
        if anchor.rtype == RRType.DNSKEY:
            if len(anchor.rdata) >= 2 and _flags(anchor.rdata) & _REVOKE_FLAG:
                log.warning("%s: configured DNSKEY %d has the REVOKE bit; skipped",
                            zone, anchor.key_tag)
                continue
            record = KeyRecord(KeyState.VALID, now, dnskey=anchor.rdata, source=anchor.source)
        else:
            record = KeyRecord(KeyState.VALID, now, ds=anchor.rdata, source=anchor.source)
        if not any(k.rtype == record.rtype and (k.dnskey or k.ds) == (record.dnskey or record.ds)
                   for k in point.keys):
            point.keys.append(record)
    return point


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
                point = _seed(zone, anchors, start)
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
        except Exception as exc:  # network, iterator limits: retried later (s2.3)
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

