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

from ..dnssec.algorithms import AlgorithmPolicy
from ..dnssec.budget import Budget, Limits
from ..dnssec.denial import DenialKind, prove_denial
from ..dnssec.status import Problem, Reason, Security, Verdict
from ..dnssec.verify import verify_rrset
from ..iterate.engine import IterResult
from ..wire.name import Name
from ..wire.rrset import RRset
from ..wire.types import Rcode, RRType, type_to_text
from .chain import Fetch, KeyFinder
from .keycache import KeyEntry
from .trace import Trace

log = logging.getLogger(__name__)

# Insecure verdicts that still deserve an Extended DNS Error (RFC 8914, RFC 9276).
_INSECURE_EDE = {Problem.UNSUPPORTED_ALGORITHM, Problem.UNSUPPORTED_DIGEST,
                 Problem.NSEC3_ITERATIONS, Problem.NEGATIVE_ANCHOR}


@dataclass(slots=True)
class Part:
    """The verdict on one RRset (or on the denial) of an answer."""

    what: str
    verdict: Verdict
    zone: Name | None = None
    ttl: int | None = None


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

    async def validate(self, qname: Name, qtype: int, result: IterResult, fetch: Fetch,
                       budget: Budget, trace: Trace) -> Outcome:
        parts: list[Part] = []
        previous: Part | None = None
        for index, rrset in enumerate(result.answer):
            cached = result.verdicts[index] if index < len(result.verdicts) else None
            if cached is not None:
                part = Part(_what(rrset), cached, result.zones[index])
                trace.add("", f"{_what(rrset)}: {cached} (cached)")
            elif previous is not None and _synthesized(rrset, result.answer[index - 1]):
                part = Part(_what(rrset), previous.verdict, previous.zone)
                trace.add("", f"{_what(rrset)}: synthesized from the DNAME: {part.verdict}")
            else:
                zone = result.zones[index] if index < len(result.zones) else None
                part = await self._rrset(rrset, zone, result, fetch, budget, trace)
            parts.append(part)
            previous = part
            await asyncio.sleep(0)   # let other queries run between RRsets
        final_type = result.answer[-1].rtype if result.answer else None
        negative = result.rcode == Rcode.NXDOMAIN or (
            result.rcode == Rcode.NOERROR and final_type != qtype and
            not (qtype == RRType.ANY and result.answer) and
            not (qtype == RRType.CNAME and final_type == RRType.CNAME))
        if negative:
            if result.neg_verdict is not None:
                parts.append(Part("denial", result.neg_verdict, result.neg_zone))
                trace.add("", f"denial: {result.neg_verdict} (cached)")
            else:
                final = Name(result.answer[-1].rdatas[0]) if result.answer and \
                    result.answer[-1].rtype == RRType.CNAME else qname
                parts.append(await self._denial(final, qtype, result, fetch, budget, trace))
        return _combine(parts)

    # ------------------------------------------------------------------ positive
    async def _rrset(self, rrset: RRset, zone_hint: Name | None, result: IterResult,
                     fetch: Fetch, budget: Budget, trace: Trace) -> Part:
        what = _what(rrset)
        if not rrset.sigs:
            hint = zone_hint if zone_hint is not None and rrset.name.is_subdomain(zone_hint) \
                else rrset.name
            entry = await self.finder.keys_for(hint, fetch, budget, trace)
            if entry.secure:
                verdict = Verdict.bogus(Problem.SIG_MISSING, f"{what}: no RRSIG, but "
                                        f"{entry.zone} is signed")
            else:
                verdict = Verdict(entry.security, entry.reason)
            trace.add(str(entry.zone), f"{what}: unsigned: {verdict}")
            return Part(what, verdict, entry.zone)
        signer = _signer(rrset)
        if signer is None or not rrset.name.is_subdomain(signer):
            verdict = Verdict.bogus(Problem.SIG_SIGNER_MISMATCH, f"{what}: signer {signer}")
            return Part(what, verdict, signer)
        entry = await self.finder.keys_for(signer, fetch, budget, trace)
        if not entry.secure:
            verdict = Verdict(entry.security, entry.reason)
            trace.add(str(signer), f"{what}: zone keys are {entry.security.label}: {verdict}")
            return Part(what, verdict, entry.zone)
        assert entry.keys is not None
        checked = verify_rrset(rrset, entry.keys, signer, self.now(), budget, self.policy)
        sig_text = (f"RRSIG {checked.key_tag}/{checked.algorithm}"
                    if checked.rrsig is not None else "RRSIG")
        trace.add(str(signer), f"{what}: {sig_text}: {checked.verdict}")
        if not checked.ok:
            return Part(what, checked.verdict, signer, checked.ttl)
        if checked.wildcard and checked.rrsig is not None:
            proofs = self._verified(result.proofs, entry, signer, budget)
            denial = prove_denial(DenialKind.WILDCARD, rrset.name, rrset.rtype, signer, proofs,
                                  self.limits, budget, wildcard_labels=checked.rrsig.labels)
            for step in denial.steps:
                trace.add(str(signer), step)
            if denial.verdict.security != Security.SECURE:
                verdict = denial.verdict
                if verdict.security == Security.BOGUS:
                    verdict = Verdict.bogus(Problem.WILDCARD_UNPROVEN,
                                            f"{what}: {denial.verdict.reason}")
                return Part(what, verdict, signer, checked.ttl)
        return Part(what, checked.verdict, signer, checked.ttl)

    def _verified(self, rrsets: list[RRset], entry: KeyEntry, zone: Name,
                  budget: Budget) -> list[RRset]:
        assert entry.keys is not None
        out = []
        for rrset in rrsets:
            if rrset.rtype not in (RRType.NSEC, RRType.NSEC3) or not rrset.name.is_subdomain(zone):
                continue
            if verify_rrset(rrset, entry.keys, zone, self.now(), budget, self.policy).ok:
                out.append(rrset)
        return out

    # ------------------------------------------------------------------ negative
    async def _denial(self, name: Name, qtype: int, result: IterResult, fetch: Fetch,
                      budget: Budget, trace: Trace) -> Part:
        nx = result.rcode == Rcode.NXDOMAIN
        what = f"{'NXDOMAIN' if nx else 'NODATA'} {name} {type_to_text(qtype)}"
        soa = result.soa
        zone = _signer(soa) if soa is not None and soa.sigs else result.neg_zone
        if zone is None or not name.is_subdomain(zone):
            zone = result.neg_zone if result.neg_zone is not None else name
        entry = await self.finder.keys_for(zone, fetch, budget, trace)
        if not entry.secure:
            verdict = Verdict(entry.security, entry.reason)
            trace.add(str(entry.zone), f"{what}: zone is {entry.security.label}")
            return Part(what, verdict, entry.zone)
        assert entry.keys is not None
        if soa is None or not soa.sigs:
            return Part(what, Verdict.bogus(Problem.NSEC_MISSING, f"{what}: no signed SOA"),
                        zone)
        checked = verify_rrset(soa, entry.keys, zone, self.now(), budget, self.policy)
        if not checked.ok:
            trace.add(str(zone), f"SOA: {checked.verdict}")
            return Part(what, checked.verdict, zone)
        proofs = self._verified(result.proofs, entry, zone, budget)
        if not proofs and result.proofs:
            return Part(what, Verdict.bogus(Problem.NSEC_BAD_PROOF,
                                            f"{what}: NSEC/NSEC3 signatures do not verify"),
                        zone)
        kind = DenialKind.NXDOMAIN if nx else DenialKind.NODATA
        denial = prove_denial(kind, name, qtype, zone, proofs, self.limits, budget)
        for step in denial.steps:
            trace.add(str(zone), step)
        trace.add(str(zone), f"{what}: {denial.verdict}")
        return Part(what, denial.verdict, zone, checked.ttl)


def _what(rrset: RRset) -> str:
    return f"{rrset.name} {type_to_text(rrset.rtype)}"


def _signer(rrset: RRset) -> Name | None:
    for sig in rrset.sigs:
        if len(sig) > 18:
            try:
                return rrset.signatures()[0].signer
            except ValueError:
                return None
    return None


def _synthesized(rrset: RRset, before: RRset) -> bool:
    return (rrset.rtype == RRType.CNAME and not rrset.sigs and before.rtype == RRType.DNAME
            and rrset.name.is_strict_subdomain(before.name))


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
        outcome.ede.append((reason.ede, f"{reason.problem.text}{where}{detail}"))
    return outcome
