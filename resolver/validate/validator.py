"""Verdicts on resolved answers (RFC 4035 s5, RFC 5155 s8, RFC 6840).

Every RRset of the answer is judged on its own: a CNAME chain is only as secure as
its weakest link. Signed RRsets are verified with the keys of their signer's zone
(found through :class:`KeyFinder`); wildcard expansions need a proof that the name
itself does not exist; unsigned RRsets are insecure only when their zone is proven
insecure, and bogus otherwise. Negative answers need a signed SOA and an NSEC or
NSEC3 proof from a secure zone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from ..answer import IterResult
from ..config import ValidationLimits as Limits
from ..dnssec.algorithms import AlgorithmPolicy
from ..dnssec.budget import Budget
from ..dnssec.denial import DenialKind, prove_denial
from ..dnssec.status import Problem, Reason, Security, Verdict
from ..dnssec.verify import KeySet, RRsetResult, verify_rrset
from ..lru import Lru
from ..wire.name import Name, NameError_
from ..wire.rdata import RdataError, rrsig_signer
from ..wire.rrset import RRset
from ..wire.types import Rcode, RRType, type_to_text
from .chain import Fetch, KeyFinder, too_many_nsec3
from .keycache import KeyEntry
from .trace import Trace, check_data, check_text, verdict_text
from .wildcard_memo import check_expansion

log = logging.getLogger(__name__)

# Insecure verdicts that still deserve an Extended DNS Error (RFC 8914, RFC 9276).
_INSECURE_EDE = {Problem.UNSUPPORTED_ALGORITHM, Problem.UNSUPPORTED_DIGEST,
                 Problem.NSEC3_ITERATIONS, Problem.NEGATIVE_ANCHOR}

# EDE codes that differ from the problem's default. A DS whose digest matches no
# DNSKEY is RFC 8914 s4.10 "DNSKEY Missing" ("a DS record existed at a parent, but no
# supported matching DNSKEY record could be found for the child"), as Unbound says.
_EDE_FOR = {Problem.DS_MISMATCH: 9}

CHECKED_MEMO_SIZE = 20000     # signature checks remembered by the validator

_UNSIGNED_TYPE = Verdict(Security.INDETERMINATE, Reason(
    Problem.INDETERMINATE, "RRSIG records are not signed themselves"))


@dataclass(slots=True)
class Part:
    """The verdict on one RRset (or on the denial) of an answer."""

    verdict: Verdict
    zone: Name | None = None
    ttl: int | None = None
    # a denial (or a wildcard answer) judged SECURE: the NSEC/NSEC3 RRsets whose
    # signatures verified with the zone's keys (RFC 8198 aggressive use takes only these)
    proofs: tuple[RRset, ...] = ()


@dataclass(slots=True)
class Outcome:
    security: Security
    reason: Reason | None
    parts: list[Part] = field(default_factory=list)
    ede: list[tuple[int, str]] = field(default_factory=list)
    zone: Name | None = None      # the zone the weakest verdict is about


class Validator:
    def __init__(self, finder: KeyFinder, policy: AlgorithmPolicy, limits: Limits,
                 now: Callable[[], float]) -> None:
        self.finder = finder
        self.policy = policy
        self.limits = limits
        self.now = now
        # verified signatures -> (until when, result); read with use(): the SOA and
        # NSEC3 signatures asked for most stay, a flood of one-off ones goes first
        self._checked: Lru[tuple[object, ...], tuple[float, RRsetResult]] = \
            Lru(CHECKED_MEMO_SIZE)

    async def validate(self, qname: Name, qtype: int, result: IterResult, fetch: Fetch,
                       budget: Budget, trace: Trace) -> Outcome:
        parts: list[Part] = []
        for index, rrset in enumerate(result.answer):
            cached = result.verdicts[index] if index < len(result.verdicts) else None
            if cached is not None and not trace.fresh:
                zone = result.zones[index] if index < len(result.zones) else None
                part = Part(cached, zone)
                if trace.enabled:
                    trace.add(str(zone or ""), f"{_what(rrset)}: {verdict_text(cached)} "
                                               f"(verdict from the cache)")
            elif rrset.rtype == RRType.RRSIG:
                # a query for type RRSIG: RRSIGs are not signed themselves (RFC 4035
                # s2.2), so they are answered, without a verdict and without AD
                zone = result.zones[index] if index < len(result.zones) else None
                part = Part(_UNSIGNED_TYPE, zone)
                if trace.enabled:
                    trace.add(str(zone or ""), f"{_what(rrset)}: RRSIG records are not "
                                               f"signed themselves; not validated")
            elif (source := _synthesized_from(rrset, result.answer[:index])) is not None:
                part = Part(parts[source].verdict, parts[source].zone)
                if trace.enabled:
                    trace.add(str(part.zone or ""), f"{_what(rrset)}: synthesized from "
                                                    f"the DNAME: {verdict_text(part.verdict)}")
            else:
                zone = result.zones[index] if index < len(result.zones) else None
                part = await self._rrset(rrset, zone, result, fetch, budget, trace)
            parts.append(part)
            if index + 1 < len(result.answer):
                await asyncio.sleep(0)   # let other queries run between RRsets
        final_type = result.answer[-1].rtype if result.answer else None
        negative = result.rcode == Rcode.NXDOMAIN or (
            result.rcode == Rcode.NOERROR and final_type != qtype and
            not (qtype == RRType.ANY and result.answer) and
            not (qtype == RRType.CNAME and final_type == RRType.CNAME))
        if negative:
            if result.neg_verdict is not None:
                parts.append(Part(result.neg_verdict, result.neg_zone))
                if trace.enabled:
                    trace.add(str(result.neg_zone or ""),
                              f"denial: {verdict_text(result.neg_verdict)} (verdict from the "
                              f"cache)")
            else:
                final = Name(result.answer[-1].rdatas[0]) if result.answer and \
                    result.answer[-1].rtype == RRType.CNAME else qname
                parts.append(await self._denial(final, qtype, result, fetch, budget, trace))
        outcome = _combine(parts)
        _conclude(outcome, trace)
        return outcome

    def forget(self) -> None:
        """Drop the memo of verified signatures (the trust anchors changed). Its
        results are keyed by the KeySet objects of the key cache, which has just been
        emptied: they would never be asked for again, only keep old keys alive."""
        self._checked.clear()

    # ------------------------------------------------------------------ positive
    async def _rrset(self, rrset: RRset, zone_hint: Name | None, result: IterResult,
                     fetch: Fetch, budget: Budget, trace: Trace) -> Part:
        if not rrset.sigs:
            return await self._unsigned(rrset, zone_hint, fetch, budget, trace)
        signer = _signer(rrset)
        if signer is None or not rrset.name.is_subdomain(signer):
            what = _what(rrset)
            verdict = Verdict.bogus(Problem.SIG_SIGNER_MISMATCH, f"{what}: signer {signer}")
            trace.add(str(signer or ""), f"{what}: RRSIG signer {signer} is not above the "
                                         f"owner: bogus")
            return Part(verdict, signer)
        entry = await self.finder.keys_for(signer, fetch, budget, trace)
        if not entry.secure:
            verdict = Verdict(entry.security, entry.reason)
            if trace.enabled:
                trace.add(str(entry.zone), f"{_what(rrset)}: not checked, the keys of "
                                           f"{entry.zone} are {entry.security.label}")
            return Part(verdict, entry.zone)
        assert entry.keys is not None
        # the answer's own RRset is cached with its verdict: no need to remember it here
        if rrset.from_wildcard():   # one check per wildcard, not per name (RFC 8198 s5.3)
            checked = check_expansion(self._checked, rrset, entry.keys, signer, self.now(),
                                      budget, self.policy)
        else:
            checked = verify_rrset(rrset, entry.keys, signer, self.now(), budget, self.policy)
        if trace.enabled:
            trace.add(str(signer), f"{_what(rrset)}: {check_text(checked)}")
            trace.event("rrset", str(signer), owner=str(rrset.name),
                        type=type_to_text(rrset.rtype), **check_data(checked))
        if not checked.ok:
            return Part(checked.verdict, signer, checked.ttl)
        if checked.wildcard and checked.rrsig is not None:
            crowded = too_many_nsec3(result.proofs, signer, self.limits)
            if crowded is not None:
                trace.add(str(signer), f"{_what(rrset)}: wildcard proof: {crowded}")
                return Part(Verdict.bogus(Problem.TOO_MANY_NSEC3, crowded), signer)
            proofs = self._verified(result.proofs, entry, signer, budget)
            denial = prove_denial(DenialKind.WILDCARD, rrset.name, rrset.rtype, signer, proofs,
                                  self.limits, budget, wildcard_labels=checked.rrsig.labels,
                                  explain=trace.enabled,
                                  nsec3_memo=self.finder.nsec3_memo,
                                  nsec_memo=self.finder.nsec_memo)
            if trace.enabled:
                for step in denial.steps:
                    trace.add(str(signer), step)
                trace.add(str(signer), f"wildcard proof: {verdict_text(denial.verdict)}")
            if denial.verdict.security != Security.SECURE:
                verdict = denial.verdict
                if verdict.security == Security.BOGUS:
                    verdict = Verdict.bogus(Problem.WILDCARD_UNPROVEN,
                                            f"{_what(rrset)}: {denial.verdict.reason}")
                return Part(verdict, signer, checked.ttl)
            # the verified proof, for the wildcard answers of RFC 8198 s5.3
            return Part(checked.verdict, signer, checked.ttl, tuple(proofs))
        return Part(checked.verdict, signer, checked.ttl)

    async def _unsigned(self, rrset: RRset, zone_hint: Name | None, fetch: Fetch,
                        budget: Budget, trace: Trace) -> Part:
        """The verdict on an RRset without RRSIGs: insecure only if a zone cut proven to
        have no DS lies between a trust anchor and its owner, bogus otherwise.

        The zone of the server that answered (*zone_hint*) is not where to stop looking:
        a server that hosts a signed parent and its unsigned child answers for the child
        directly, without a referral, so the cut is below that zone (RFC 4035 s5.2, RFC
        6840 s4.4; Unbound looks for keys down to the query name when the answer has no
        signer). So below a signed zone the key finder walks every label down to the
        owner and asks for its DS; a name is stepped over only on a denial signed by the
        keys above it, and it is a cut without DS only on such a denial showing the
        delegation. A forged unsigned answer, whatever owner it names, thus stays bogus
        under a signed zone. Only unsigned data pays for this walk (signed data names
        its zone), and the key cache keeps the cuts found. DS lives on the parent side
        of its owner: an unsigned DS set is judged from there."""
        what = _what(rrset)
        owner = rrset.name
        if rrset.rtype == RRType.DS and not owner.is_root():
            owner = owner.parent()
        start = zone_hint if zone_hint is not None and owner.is_subdomain(zone_hint) else owner
        entry = await self.finder.keys_for(start, fetch, budget, trace)
        signed = entry
        if entry.secure and start != owner and owner.is_strict_subdomain(entry.zone):
            entry = await self.finder.keys_for(owner, fetch, budget, trace)
            if trace.enabled and entry.zone.is_strict_subdomain(signed.zone):
                trace.add(str(entry.zone), f"{what}: answered by the servers of {start}, "
                                           f"but in the zone {entry.zone} below it")
        if entry.security == Security.BOGUS and entry is not signed:
            # the search for a cut below a signed zone failed (a DS denial that does not
            # verify, a DS look-up that failed): the data is still unsigned in there
            signed = self.finder.secure_above(entry.zone, signed)
            verdict = Verdict.bogus(Problem.SIG_MISSING, f"{what}: no RRSIG, but "
                                    f"{signed.zone} is signed and no zone cut without DS "
                                    f"is proven below it ({entry.reason})")
            trace.add(str(signed.zone), f"{what}: no RRSIG, and no insecure zone cut "
                                        f"proven below {signed.zone}: bogus")
            return Part(verdict, signed.zone)
        if entry.secure:
            verdict = Verdict.bogus(Problem.SIG_MISSING, f"{what}: no RRSIG, but "
                                    f"{entry.zone} is signed")
            trace.add(str(entry.zone), f"{what}: no RRSIG, but the zone is signed: bogus")
            if trace.enabled:
                trace.event("rrset", str(entry.zone), owner=str(rrset.name),
                            type=type_to_text(rrset.rtype), ok=False, signer=None, tried=[],
                            security="bogus", text="no RRSIG, but the zone is signed")
        else:
            verdict = Verdict(entry.security, entry.reason)
            trace.add(str(entry.zone), f"{what}: unsigned, in a zone that is "
                                       f"{verdict_text(verdict)}")
            if trace.enabled:
                trace.event("rrset", str(entry.zone), owner=str(rrset.name),
                            type=type_to_text(rrset.rtype), ok=False, signer=None, tried=[],
                            security=verdict.security.label,
                            text=f"unsigned, in a zone that is {verdict_text(verdict)}")
        return Part(verdict, entry.zone)

    def _check(self, rrset: RRset, keys: KeySet, zone: Name, budget: Budget) -> RRsetResult:
        """verify_rrset, remembering secure results: the same SOA and NSEC/NSEC3
        records come back with many negative and wildcard answers, and their
        signatures need checking once, not every time (RFC 4035 s5.3.3 TTL rules)."""
        key = (keys, zone.key, rrset.name.key, rrset.rtype, tuple(rrset.rdatas),
               tuple(rrset.sigs))
        now = self.now()
        known = self._checked.use(key)
        if known is not None:
            if known[0] > now:
                return known[1]
            del self._checked[key]
        result = verify_rrset(rrset, keys, zone, now, budget, self.policy)
        if result.ok and result.ttl > 0:
            self._checked[key] = (now + result.ttl, result)
        return result

    def _verified(self, rrsets: list[RRset], entry: KeyEntry, zone: Name,
                  budget: Budget) -> list[RRset]:
        assert entry.keys is not None
        out = []
        for rrset in rrsets:
            if rrset.rtype not in (RRType.NSEC, RRType.NSEC3) or not rrset.name.is_subdomain(zone):
                continue
            if self._check(rrset, entry.keys, zone, budget).ok:
                out.append(rrset)
        return out

    # ------------------------------------------------------------------ negative
    async def _denial(self, name: Name, qtype: int, result: IterResult, fetch: Fetch,
                      budget: Budget, trace: Trace) -> Part:
        nx = result.rcode == Rcode.NXDOMAIN
        soa = result.soa
        signed = soa if soa is not None else next(iter(result.proofs), None)
        zone = _signer(signed) if signed is not None and signed.sigs else result.neg_zone
        if zone is None or not name.is_subdomain(zone):
            zone = result.neg_zone if result.neg_zone is not None else name
        entry = await self.finder.keys_for(zone, fetch, budget, trace)
        if not entry.secure:
            verdict = Verdict(entry.security, entry.reason)
            if trace.enabled:
                trace.add(str(entry.zone), f"{_denial_what(nx, name, qtype)}: not checked, "
                                           f"the zone is {verdict_text(verdict)}")
            return Part(verdict, entry.zone)
        assert entry.keys is not None
        if soa is None and not result.proofs:
            what = _denial_what(nx, name, qtype)
            trace.add(str(zone), f"{what}: neither SOA nor NSEC/NSEC3: bogus")
            trace.event("proof", str(zone), what=what, security="bogus", steps=[],
                        text="neither SOA nor NSEC/NSEC3")
            return Part(Verdict.bogus(Problem.NSEC_MISSING,
                                      f"{what}: neither SOA nor NSEC/NSEC3"), zone)
        if soa is not None and not soa.sigs:
            # the cut was looked for at the SOA owner: say which signed zone it is in
            what = _denial_what(nx, name, qtype)
            trace.add(str(entry.zone), f"{what}: no signed SOA: bogus")
            trace.event("proof", str(entry.zone), what=what, security="bogus", steps=[],
                        text="no signed SOA")
            return Part(Verdict.bogus(Problem.NSEC_MISSING, f"{what}: no signed SOA"),
                        entry.zone)
        ttl: int | None = None
        if soa is not None:   # the proof is the NSEC/NSEC3; a SOA sent must verify
            checked = self._check(soa, entry.keys, zone, budget)
            if trace.enabled:
                trace.add(str(zone), f"SOA of the {_denial_what(nx, name, qtype)}: "
                                     f"{check_text(checked)}")
            if not checked.ok:
                return Part(checked.verdict, zone)
            ttl = checked.ttl
        crowded = too_many_nsec3(result.proofs, zone, self.limits)
        if crowded is not None:
            trace.add(str(zone), f"{_denial_what(nx, name, qtype)}: {crowded}")
            return Part(Verdict.bogus(Problem.TOO_MANY_NSEC3, crowded), zone)
        proofs = self._verified(result.proofs, entry, zone, budget)
        if not proofs and result.proofs:
            what = _denial_what(nx, name, qtype)
            trace.add(str(zone), f"{what}: the NSEC/NSEC3 signatures do not verify: bogus")
            trace.event("proof", str(zone), what=what, security="bogus", steps=[],
                        text="the NSEC/NSEC3 signatures do not verify")
            return Part(Verdict.bogus(Problem.NSEC_BAD_PROOF,
                                      f"{what}: NSEC/NSEC3 signatures do not verify"), zone)
        kind = DenialKind.NXDOMAIN if nx else DenialKind.NODATA
        denial = prove_denial(kind, name, qtype, zone, proofs, self.limits, budget,
                              explain=trace.enabled, nsec3_memo=self.finder.nsec3_memo,
                              nsec_memo=self.finder.nsec_memo)
        verified = tuple(proofs) if denial.secure else ()
        if not trace.enabled:
            return Part(denial.verdict, zone, ttl, verified)
        if len(proofs) < len(result.proofs):
            trace.add(str(zone), f"{len(result.proofs) - len(proofs)} NSEC/NSEC3 records "
                                 f"ignored: their signatures do not verify")
        for step in denial.steps:
            trace.add(str(zone), step)
        trace.add(str(zone), f"{_denial_what(nx, name, qtype)}: {verdict_text(denial.verdict)}")
        trace.event("proof", str(zone), what=_denial_what(nx, name, qtype),
                    security=denial.verdict.security.label, steps=list(denial.steps),
                    text=verdict_text(denial.verdict, detail=True))
        return Part(denial.verdict, zone, ttl, verified)


def _denial_what(nx: bool, name: Name, qtype: int) -> str:
    return f"{'NXDOMAIN' if nx else 'NODATA'} {name} {type_to_text(qtype)}"


def _what(rrset: RRset) -> str:
    return f"{rrset.name} {type_to_text(rrset.rtype)}"


def _signer(rrset: RRset) -> Name | None:
    """The signer named by the first readable RRSIG (verify_rrset then checks that
    every RRSIG it uses names the same zone)."""
    for sig in rrset.sigs:
        try:
            return rrsig_signer(sig)
        except RdataError:
            continue
    return None


def _synthesized_from(rrset: RRset, before: list[RRset]) -> int | None:
    """The index in *before* of the DNAME that implies *rrset*, when *rrset* is an
    unsigned CNAME synthesized from it (RFC 6672 s2.2): it then shares the DNAME's
    verdict. Usually the DNAME is right before it; a chain that passes the same DNAME
    again carries the DNAME once (IterResult.add), further back. Its target must be
    exactly the substitution, or an unsigned CNAME could ride on a signed DNAME to any
    name."""
    if not (rrset.rtype == RRType.CNAME and not rrset.sigs and len(rrset.rdatas) == 1):
        return None
    for index in range(len(before) - 1, -1, -1):
        dname = before[index]
        if not (dname.rtype == RRType.DNAME and dname.rdatas
                and rrset.name.is_strict_subdomain(dname.name)):
            continue
        try:
            prefix = rrset.name.relativize_to(dname.name)
            target = Name.from_labels(list(prefix) + list(Name(dname.rdatas[0]).labels))
            if Name(rrset.rdatas[0]) == target:
                return index
        except (NameError_, ValueError):
            continue
    return None


def _conclude(outcome: Outcome, trace: Trace) -> None:
    """The last trace line: the verdict, and for anything but secure where and why."""
    if not trace.enabled:
        return
    if outcome.security == Security.SECURE:
        trace.add("", "verdict: secure (every RRset and proof of the answer verified)")
        return
    where = f" at {outcome.zone}" if outcome.zone is not None else ""
    reason = outcome.reason
    why = f": {reason.problem.text}" if reason is not None else ""
    detail = f" ({reason.detail})" if reason is not None and reason.detail else ""
    trace.add("", f"verdict: {outcome.security.label}{where}{why}{detail}")


def _combine(parts: list[Part]) -> Outcome:
    if not parts:
        return Outcome(Security.INDETERMINATE, Reason(Problem.INDETERMINATE, "empty answer"))
    weakest = min(parts, key=lambda p: p.verdict.security)
    outcome = Outcome(weakest.verdict.security, weakest.verdict.reason, parts,
                      zone=weakest.zone)
    reason = weakest.verdict.reason
    if reason is not None and reason.ede is not None and (
            weakest.verdict.security == Security.BOGUS or reason.problem in _INSECURE_EDE):
        where = f" in {weakest.zone}" if weakest.zone is not None else ""
        detail = f": {reason.detail}" if reason.detail else ""
        code = _EDE_FOR.get(reason.problem, reason.ede)
        outcome.ede.append((code, f"{reason.problem.text}{where}{detail}"))
    return outcome
