"""Automated updates of DNSSEC trust anchors (RFC 5011): the key state machine.

This module holds the states of RFC 5011 s4.2 and the events that move a trust point's
keys between them, as plain functions on :class:`TrustPoint` data, with no file or
network access so that the tests can drive them with fake clocks. The upkeep around it
lives apart: :mod:`resolver.validate.autotrust_manager` (the service's
:class:`~resolver.validate.autotrust_manager.TrustAnchorManager`: refresh scheduling,
fetching, reports) and :mod:`resolver.validate.autotrust_store` (the JSON state file).

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

:func:`signal_qname` gives the RFC 8145 s5.1 key-tag signalling name.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum

from ..config import ValidationLimits as Limits
from ..dnssec import algorithms
from ..dnssec.algorithms import DEFAULT, AlgorithmPolicy
from ..dnssec.anchors import TrustAnchor
from ..dnssec.budget import Budget
from ..dnssec.canonical import signed_data
from ..dnssec.keys import DNSSEC_PROTOCOL, ds_digest, key_tag, match_ds
from ..dnssec.verify import RRsetResult, verify_dnskey_rrset, window_problem
from ..wire import rdata as rd
from ..wire.name import Name
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

_ZONE_FLAG = 0x0100
_REVOKE_FLAG = 0x0080
_SEP_FLAG = 0x0001

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


def without_revoke(dnskey: bytes) -> bytes:
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
        elif state in (KeyState.MISSING, KeyState.START, KeyState.REMOVED) \
                and self.now - record.since >= self.timers.keep_missing:
            if self.last_trusted(record):
                self.warnings.append(f"key {record.key_tag} missing for "
                                     f"{int(self.now - record.since) // DAY} days but "
                                     "the last trusted key; kept")
            else:
                self.forget(record, "keep-missing")

    def revoked(self, published: bytes, rrset: RRset, policy: AlgorithmPolicy,
                validated: bool) -> None:
        """A SEP key published with the REVOKE bit: RevBit when self-signed (s2.1)."""
        dnskey = without_revoke(published)
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
        seen = plain + [without_revoke(d) for d in revoked]
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
# seeding

def seed_point(zone: Name, anchors: Iterable[TrustAnchor], now: float) -> TrustPoint:
    """A trust point whose configured anchors are all Valid: the start of RFC 5011 upkeep
    (s2: the initial anchors are trusted as configured). A configured DNSKEY with the
    REVOKE bit is skipped: a revoked key is no anchor (s2.1)."""
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
