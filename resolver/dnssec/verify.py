"""RRSIG validation of one RRset (RFC 4035 s5.3) under KeyTrap limits.

:func:`verify_rrset` checks each RRSIG that covers the RRset (RFC 4035 s5.3.1):
signer is the zone whose keys are given, owner at or below the signer, labels
between the signer's and the owner's label counts, supported algorithm, validity
window (RFC 1982 serial arithmetic), a matching zone key (tag, algorithm,
protocol 3, zone bit, not revoked) - and then the signature (s5.3.3). One valid
RRSIG makes the RRset secure. The class check is structural: records and RRSIGs
are grouped into an :class:`RRset` by (owner, type, class), so the RRSIGs of an
RRset have its class.

The keys given are authenticated, so the zone is secure: whether a zone is secure or
insecure is decided once, from its DS set or trust anchor (see :mod:`.keys` and
:func:`verify_dnskey_rrset`), never here. An RRSIG that claims an algorithm we do not
implement, a key tag the zone does not have, or that fails any check is simply not a
signature by the zone's keys: when no valid one remains the RRset is BOGUS (RFC 4035
s5.3.1, RFC 6840 s5.2), never INSECURE - otherwise an attacker on the path downgrades
any signed zone by relabelling its RRSIGs "algorithm 253".

Work limits (SECURITY.md s0, s1): at most ``limits.sigs_per_rrset`` attempts per
RRset, where an attempt is a verification or an RRSIG outside its validity window
(as BIND counts them); at most ``limits.keys_per_tag`` keys tried for one RRSIG;
each verification taken from the per-query :class:`Budget`. Hitting a limit ends
the work at once with BOGUS / BUDGET_EXCEEDED.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..wire import rdata as rd
from ..wire.name import Name
from ..wire.rrset import RRset
from ..wire.types import RRType
from . import algorithms
from .algorithms import DEFAULT, AlgorithmPolicy
from .budget import Budget
from .canonical import canonical_rdatas, signed_data
from .keys import DNSSEC_PROTOCOL, DsMatch, key_tag
from .status import Problem, Security, Verdict

log = logging.getLogger(__name__)

_MASK = 0xFFFFFFFF
_HALF = 1 << 31

# When no RRSIG verifies, the problem reported is the one that got furthest
# through RFC 4035 s5.3.1 (the most specific); unsupported algorithms rank lowest
# (reported as SIG_ALGORITHM_UNUSABLE when nothing else was found).
_RANK = {
    Problem.UNSUPPORTED_ALGORITHM: 0,
    Problem.SIG_SIGNER_MISMATCH: 1,
    Problem.SIG_LABELS_MISMATCH: 2,
    Problem.SIG_NO_KEY: 3,
    Problem.KEY_NOT_ZONE_KEY: 4,
    Problem.KEY_REVOKED: 5,
    Problem.SIG_EXPIRED_BEFORE_VALID: 6,
    Problem.SIG_NOT_YET_VALID: 7,
    Problem.SIG_EXPIRED: 8,
    Problem.SIG_INVALID: 9,
}
# Failures whose detail names the zone's keys: the RRSIGs claim keys it does not have.
_NAMES_KEYS = frozenset({Problem.SIG_ALGORITHM_UNUSABLE, Problem.SIG_NO_KEY})


# --------------------------------------------------------------------------
# time (RFC 4034 s3.1.5, RFC 1982 s3.2)

def serial_lt(a: int, b: int) -> bool:
    """RFC 1982 s3.2 "a < b" for 32-bit serial numbers."""
    a &= _MASK
    b &= _MASK
    return (a < b and b - a < _HALF) or (a > b and a - b > _HALF)


def window_problem(sig: rd.RRSIG, now: float) -> Problem | None:
    """Why *sig* is not valid at *now* (RFC 4035 s5.3.1), or None when it is."""
    now32 = int(now) & _MASK
    expiration = sig.expiration & _MASK
    inception = sig.inception & _MASK
    # serial_lt(a, b) three times, inline (every signature check comes here)
    if (expiration < inception and inception - expiration < _HALF) or \
            (expiration > inception and expiration - inception > _HALF):
        return Problem.SIG_EXPIRED_BEFORE_VALID
    if (now32 < inception and inception - now32 < _HALF) or \
            (now32 > inception and now32 - inception > _HALF):
        return Problem.SIG_NOT_YET_VALID
    if (expiration < now32 and now32 - expiration < _HALF) or \
            (expiration > now32 and expiration - now32 > _HALF):
        return Problem.SIG_EXPIRED
    return None


def seconds_left(sig: rd.RRSIG, now: float) -> int:
    """Seconds until *sig* expires, for an RRSIG inside its window."""
    return (sig.expiration - int(now)) & _MASK


# --------------------------------------------------------------------------
# keys

@dataclass(frozen=True, slots=True)
class ZoneKey:
    """A usable DNSKEY: RDATA, decoded view and key tag."""

    data: bytes
    key: rd.DNSKEY
    tag: int


class KeySet:
    """The DNSKEYs of one zone, decoded once and indexed by (algorithm, key tag).

    Keys without the zone bit or with another protocol than 3 (RFC 4034 s2.1.1,
    RFC 4035 s5.3.1) and revoked keys (RFC 5011 s2.1) are kept apart: they never
    verify anything, but they explain why an RRSIG found no key.
    """

    __slots__ = ("zone", "_usable", "_unusable", "_count")

    def __init__(self, zone: Name, rdatas: Iterable[bytes]) -> None:
        self.zone = zone
        self._usable: dict[tuple[int, int], list[ZoneKey]] = {}
        self._unusable: dict[tuple[int, int], Problem] = {}
        self._count = 0
        for data in rdatas:
            self._add(bytes(data))

    def _add(self, data: bytes) -> None:
        try:
            key = rd.decode(RRType.DNSKEY, data)
        except rd.RdataError:
            return
        assert isinstance(key, rd.DNSKEY)
        ident = (key.algorithm, key_tag(data))
        if key.protocol != DNSSEC_PROTOCOL or not key.is_zone_key:
            self._unusable.setdefault(ident, Problem.KEY_NOT_ZONE_KEY)
        elif key.is_revoked:
            self._unusable.setdefault(ident, Problem.KEY_REVOKED)
        else:
            self._usable.setdefault(ident, []).append(ZoneKey(data, key, ident[1]))
            self._count += 1

    def candidates(self, algorithm: int, tag: int) -> Sequence[ZoneKey]:
        return self._usable.get((algorithm, tag), ())

    def unusable(self, algorithm: int, tag: int) -> Problem | None:
        return self._unusable.get((algorithm, tag))

    @property
    def idents(self) -> tuple[tuple[int, int], ...]:
        """(algorithm, key tag) of every usable key, sorted."""
        return tuple(sorted(self._usable))

    def describe(self) -> str:
        """``algorithm 13`` / ``algorithms 8, 13``: what the usable keys use, for the
        detail of a failure (traces name the keys themselves from :attr:`idents`)."""
        algs = sorted({alg for alg, _ in self._usable})
        if not algs:
            return "no usable key"
        return f"algorithm{'s' if len(algs) > 1 else ''} {', '.join(str(a) for a in algs)}"

    def __len__(self) -> int:
        return self._count


# --------------------------------------------------------------------------
# results

@dataclass(frozen=True, slots=True)
class SigAttempt:
    """What happened to one RRSIG: ``problem`` None means it verified with ``key``."""

    key_tag: int
    algorithm: int
    problem: Problem | None
    key: bytes | None = None


@dataclass(frozen=True, slots=True)
class RRsetResult:
    """The verdict on an RRset plus what a caller needs next.

    ``ttl`` is the TTL the validated RRset may be cached with: the smallest of the
    RRset TTL, the RRSIG original TTL and the seconds until the RRSIG expires
    (RFC 4035 s5.3.3). ``wildcard`` is set when the RRSIG labels field is below the
    owner's label count (RFC 4035 s5.3.4): the answer was synthesised from
    ``wildcard_name``; ``closest_encloser`` and ``next_closer`` are the names the
    NSEC/NSEC3 proof that the owner itself does not exist must cover
    (RFC 5155 s8.8).
    """

    verdict: Verdict
    ttl: int
    rrsig: rd.RRSIG | None = None
    key: bytes | None = None
    attempts: tuple[SigAttempt, ...] = ()
    work: int = 0
    verifications: int = 0
    wildcard: bool = False
    closest_encloser: Name | None = None
    next_closer: Name | None = None
    zone_keys: tuple[tuple[int, int], ...] = ()   # (algorithm, tag) usable, on failure

    @property
    def ok(self) -> bool:
        return self.verdict.ok

    @property
    def security(self) -> Security:
        return self.verdict.security

    @property
    def problem(self) -> Problem | None:
        return self.verdict.reason.problem if self.verdict.reason else None

    @property
    def key_tag(self) -> int | None:
        return self.rrsig.key_tag if self.rrsig else None

    @property
    def algorithm(self) -> int | None:
        return self.rrsig.algorithm if self.rrsig else None

    @property
    def wildcard_name(self) -> Name | None:
        if not self.wildcard or self.closest_encloser is None:
            return None
        return self.closest_encloser.prepend(b"*")


# --------------------------------------------------------------------------
# validation

class _BudgetHit(Exception):
    """Internal: a work limit was reached; carries the detail for the verdict."""


class _Run:
    """The state of one verify_rrset call."""

    def __init__(self, rrset: RRset, keys: KeySet, zone: Name, now: float,
                 budget: Budget, policy: AlgorithmPolicy) -> None:
        self.rrset = rrset
        self.keys = keys
        self.zone = zone
        self.now = now
        self.budget = budget
        self.policy = policy
        self.limits = budget.limits
        self.attempts: list[SigAttempt] = []
        self.work = 0
        self.verifications = 0
        self._canonical: list[bytes] | None = None

    # --- driver -----------------------------------------------------------
    def execute(self) -> RRsetResult:
        sigs = self._signatures()
        try:
            for sig in sigs:
                found = self._try(sig)
                if found is not None:
                    return self._secure(sig, found)
        except _BudgetHit as hit:
            log.info("validation limit for %s: %s", self.rrset.name, hit)
            return self._result(Verdict.bogus(Problem.BUDGET_EXCEEDED, str(hit)))
        return self._result(self._failure())

    def _signatures(self) -> list[rd.RRSIG]:
        out = []
        for data in self.rrset.sigs:
            try:
                sig = rd.decode(RRType.RRSIG, data)
            except rd.RdataError:
                self._note_raw(data)
                continue
            assert isinstance(sig, rd.RRSIG)
            if sig.type_covered == self.rrset.rtype:
                out.append(sig)
        return out

    # --- one RRSIG --------------------------------------------------------
    def _try(self, sig: rd.RRSIG) -> ZoneKey | None:
        # RFC 4035 s5.3.1: first what needs no key and no time (signer, labels), then
        # the algorithm, then the validity window (which counts as work)
        owner = self.rrset.name
        signer = sig.signer
        if signer != self.zone or not owner.is_subdomain(signer):
            problem: Problem | None = Problem.SIG_SIGNER_MISMATCH
        elif sig.labels > owner.label_count or sig.labels < len(signer):
            problem = Problem.SIG_LABELS_MISMATCH
        elif not self.policy.supports_algorithm(sig.algorithm):
            problem = Problem.UNSUPPORTED_ALGORITHM
        else:
            problem = self._window(sig)
        if problem is not None:
            self._note(sig, problem)
            return None
        candidates = self.keys.candidates(sig.algorithm, sig.key_tag)
        if not candidates:
            self._note(sig, self.keys.unusable(sig.algorithm, sig.key_tag) or Problem.SIG_NO_KEY)
            return None
        return self._verify(sig, candidates)

    def _window(self, sig: rd.RRSIG) -> Problem | None:
        problem = window_problem(sig, self.now)
        if problem is not None:
            self._charge("RRSIG outside its validity window")
        return problem

    def _verify(self, sig: rd.RRSIG, candidates: Sequence[ZoneKey]) -> ZoneKey | None:
        data = self._signed_data(sig)
        for index, key in enumerate(candidates):
            if index >= self.limits.keys_per_tag:
                raise _BudgetHit(f"more than {self.limits.keys_per_tag} DNSKEYs with "
                                 f"tag {sig.key_tag} algorithm {sig.algorithm}")
            self._charge("verification")
            if not self.budget.take_verification():
                raise _BudgetHit("verification budget of the query spent")
            self.verifications += 1
            if algorithms.verify_signature(sig.algorithm, key.key.key, sig.signature, data):
                self.attempts.append(SigAttempt(sig.key_tag, sig.algorithm, None, key.data))
                return key
        self._note(sig, Problem.SIG_INVALID)
        return None

    def _charge(self, what: str) -> None:
        if self.work >= self.limits.sigs_per_rrset:
            raise _BudgetHit(f"more than {self.limits.sigs_per_rrset} RRSIG attempts "
                             f"for one RRset ({what})")
        self.work += 1

    def _signed_data(self, sig: rd.RRSIG) -> bytes:
        if self._canonical is None:
            self._canonical = canonical_rdatas(self.rrset.rtype, self.rrset.rdatas)
        return signed_data(self.rrset, sig, self._canonical)

    # --- bookkeeping --------------------------------------------------------
    def _note(self, sig: rd.RRSIG, problem: Problem) -> None:
        log.debug("RRSIG %d/%d over %s: %s", sig.key_tag, sig.algorithm,
                  self.rrset.name, problem.text)
        self.attempts.append(SigAttempt(sig.key_tag, sig.algorithm, problem))

    def _note_raw(self, data: bytes) -> None:
        """A malformed RRSIG that claims to cover this type counts as invalid."""
        covered, algorithm = struct.unpack("!HB", data[:3]) if len(data) >= 3 else (-1, 0)
        if covered == self.rrset.rtype:
            tag = int.from_bytes(data[16:18], "big") if len(data) >= 18 else 0
            self.attempts.append(SigAttempt(tag, algorithm, Problem.SIG_INVALID))

    def _failure(self) -> Verdict:
        """No RRSIG verified: always BOGUS (the zone's keys are authenticated, so its
        data must be signed by them), with the most specific problem found."""
        problems = [a.problem for a in self.attempts if a.problem is not None]
        if not problems:
            return Verdict.bogus(Problem.SIG_MISSING, str(self.rrset.name))
        worst = max(problems, key=lambda p: _RANK.get(p, 0))
        if worst is Problem.UNSUPPORTED_ALGORITHM:
            worst = Problem.SIG_ALGORITHM_UNUSABLE
        failed = [(a, a.problem) for a in self.attempts if a.problem is not None]
        if worst in _NAMES_KEYS:
            # the RRSIGs point at keys the zone does not have: say what they claim and
            # what the zone has ("RRSIG 4711 claims algorithm 253; the zone's keys are
            # algorithm 13"); the owner is where the verdict is reported
            claims = ", ".join(
                f"RRSIG {a.key_tag} claims algorithm {a.algorithm}"
                if problem is Problem.UNSUPPORTED_ALGORITHM
                else f"RRSIG {a.key_tag}/{a.algorithm} {problem.text}"
                for a, problem in failed[:2])
            more = f" (+{len(failed) - 2} more)" if len(failed) > 2 else ""
            detail = f"{claims}{more}; the zone's keys are {self.keys.describe()}"
        else:
            detail = f"{self.rrset.name}: " + ", ".join(
                f"{a.key_tag}/{a.algorithm} {problem.text}" for a, problem in failed)
        return Verdict.bogus(worst, detail)

    def _result(self, verdict: Verdict) -> RRsetResult:
        return RRsetResult(verdict, self.rrset.ttl, attempts=tuple(self.attempts),
                           work=self.work, verifications=self.verifications,
                           zone_keys=() if verdict.ok else self.keys.idents)

    def _secure(self, sig: rd.RRSIG, key: ZoneKey) -> RRsetResult:
        owner = self.rrset.name
        ttl = min(self.rrset.ttl, sig.original_ttl, seconds_left(sig, self.now))
        wildcard = sig.labels < owner.label_count
        return RRsetResult(
            Verdict.secure(), ttl, sig, key.data, tuple(self.attempts), self.work,
            self.verifications, wildcard,
            owner.ancestor(sig.labels) if wildcard else None,
            owner.ancestor(sig.labels + 1) if wildcard else None,
        )


def verify_rrset(rrset: RRset, dnskeys: Sequence[bytes] | KeySet, zone: Name, now: float,
                 budget: Budget, policy: AlgorithmPolicy = DEFAULT) -> RRsetResult:
    """Validate *rrset* with the DNSKEYs of *zone* (RFC 4035 s5.3).

    *dnskeys* are DNSKEY RDATAs (or a :class:`KeySet` built once for several
    RRsets); they must already be authenticated. *now* is seconds since the epoch.
    SECURE when one RRSIG verifies; otherwise BOGUS with the most specific problem
    (no RRSIG: SIG_MISSING; only RRSIGs with algorithms we do not implement:
    SIG_ALGORITHM_UNUSABLE; a limit hit: BUDGET_EXCEEDED). Never INSECURE: that is
    decided from the zone's DS set or anchor before any of its keys are used.
    """
    keys = dnskeys if isinstance(dnskeys, KeySet) else KeySet(zone, dnskeys)
    return _Run(rrset, keys, zone, now, budget, policy).execute()


def verify_dnskey_rrset(dnskey_rrset: RRset, trusted: Sequence[bytes] | DsMatch, now: float,
                        budget: Budget, policy: AlgorithmPolicy = DEFAULT) -> RRsetResult:
    """Validate a zone's DNSKEY RRset with the keys a DS set or trust anchor
    authenticates (RFC 4035 s5.2): the RRset must be signed by one of *trusted*
    (DNSKEY RDATAs, or the result of :func:`keys.match_ds`) whose algorithm we
    implement, and that key must be a member of the RRset.

    The zone is INSECURE here only when the trusted set itself holds no key with a
    supported algorithm (an anchor we cannot use, RFC 4035 s5.2); what the DNSKEY
    RRset or its RRSIGs claim never makes it insecure: a trusted key with a supported
    algorithm missing from the RRset is BOGUS (DNSKEY_MISSING), and so is an RRSIG
    "by algorithm 253" in place of the trusted key's."""
    zone = dnskey_rrset.name
    if isinstance(trusted, DsMatch):
        if not trusted.ok:
            return RRsetResult(trusted.verdict, dnskey_rrset.ttl)
        trusted_keys: Sequence[bytes] = trusted.keys
    else:
        trusted_keys = trusted
    usable = [bytes(k) for k in trusted_keys if len(k) > 3 and policy.supports_algorithm(k[3])]
    if not usable:
        algs = sorted({k[3] for k in trusted_keys if len(k) > 3})
        return RRsetResult(Verdict.insecure(Problem.UNSUPPORTED_ALGORITHM,
                                            f"{zone}: the trusted keys use only algorithms "
                                            f"we do not implement ({algs})"),
                           dnskey_rrset.ttl)
    present = {bytes(k) for k in dnskey_rrset.rdatas}
    keys = [k for k in usable if k in present]
    if not keys:
        return RRsetResult(Verdict.bogus(Problem.DNSKEY_MISSING, f"{zone}: no trusted key with "
                                         "a supported algorithm is in the DNSKEY RRset"),
                           dnskey_rrset.ttl)
    result = verify_rrset(dnskey_rrset, KeySet(zone, keys), zone, now, budget, policy)
    if result.problem is Problem.SIG_NO_KEY:
        detail = result.verdict.reason.detail if result.verdict.reason else ""
        return RRsetResult(Verdict.bogus(Problem.DNSKEY_NOT_SELF_SIGNED, detail), result.ttl,
                           attempts=result.attempts, work=result.work,
                           verifications=result.verifications)
    return result
