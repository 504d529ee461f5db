"""Chains of trust (RFC 4035 s5.1-5.2): from the closest trust anchor down to a zone.

:meth:`KeyFinder.keys_for` returns the key entry of a zone: its validated DNSKEY
set, or a proof that it is insecure (a delegation proven to have no DS, only
unsupported algorithms or digests, no anchor above it, a negative trust anchor), or
"bogus" with the reason. It walks one label at a time below the deepest known key
entry: DS at the parent side of each label (through the iterator), then, when a DS
exists, the child's DNSKEY set authenticated by it and self-signed. Names that turn
out not to be zone cuts (a denial without the NS bit) are stepped over.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol, runtime_checkable

from ..answer import IterResult
from ..config import ValidationLimits as Limits
from ..dnssec.algorithms import AlgorithmPolicy
from ..dnssec.anchors import TrustAnchor, TrustAnchors
from ..dnssec.budget import Budget
from ..dnssec.denial import DenialKind, prove_denial
from ..dnssec.keys import key_tag, match_ds
from ..dnssec.nsec import nsec_memo
from ..dnssec.nsec3 import HashBudgetExceeded, hashed_owner, nsec3_hash, nsec3_memo
from ..dnssec.status import Problem, Reason, Security, Verdict
from ..dnssec.verify import KeySet, RRsetResult, verify_dnskey_rrset, verify_rrset
from ..errors import ResolveError
from ..wire import rdata as rd
from ..wire.name import Name
from ..wire.rrset import RRset
from ..wire.types import Rcode, RRType, type_to_text
from .keycache import KeyCache, KeyEntry
from .trace import (
    Trace,
    check_data,
    check_text,
    ds_data,
    ds_text,
    key_text,
    keys_data,
    verdict_text,
)

log = logging.getLogger(__name__)

Fetch = Callable[[Name, int], Awaitable[IterResult]]

# A key entry that comes out bogus is worked out again at most this often, with what
# it fetched asked anew (other servers first), before the bogus entry is cached
# (issue 14: one bad secondary must not make a zone fail; Unbound too restarts a
# query a bounded number of times, with the servers that gave bogus data blacklisted).
KEY_RETRIES = 2


@runtime_checkable
class Refetch(Protocol):
    """A :data:`Fetch` that can ask again elsewhere (resolver/validate/refetch.py).
    Plain fetch functions (tests, tools) work too; their bogus entries are final."""

    async def __call__(self, name: Name, rtype: int) -> IterResult: ...

    def mark(self) -> int:
        """A position in the record of what was fetched."""
        ...

    async def again_since(self, mark: int, reason: Reason | None = None) -> bool:
        """Fetch what was fetched since *mark* anew, skipping the cache and asking
        the servers that gave it last; False when working the entry out again is
        pointless (nothing new came, or *reason* is a work limit)."""
        ...

_MAX_WALK = 40   # labels walked below an anchor for one zone


def final_rrset(result: IterResult, name: Name, rtype: int) -> RRset | None:
    for rrset in result.answer:
        if rrset.rtype == rtype and rrset.name == name:
            return rrset
    return None


def _tags(dnskeys: list[bytes]) -> tuple[tuple[int, int], ...]:
    return tuple((key_tag(k), k[3]) for k in dnskeys if len(k) >= 4)


@dataclass(slots=True)
class NegativeAnchor:
    zone: Name
    until: float


class KeyFinder:
    def __init__(self, anchors: TrustAnchors, cache: KeyCache, policy: AlgorithmPolicy,
                 limits: Limits, now: Callable[[], float],
                 negative_anchors: list[NegativeAnchor] | None = None) -> None:
        self.anchors = anchors
        self.cache = cache
        self.policy = policy
        self.limits = limits
        self.now = now                  # the validation time (RRSIG windows)
        self.negative_anchors = negative_anchors or []
        self.primed: dict[str, float] = {}   # anchor zone -> when its keys last validated
        # decoded NSEC3 RRsets for every denial proof of the DS look-ups and, through
        # the Validator, of the answers (the dnssec modules keep no state themselves)
        self.nsec3_memo = nsec3_memo()
        self.nsec_memo = nsec_memo()           # the same for NSEC records
        # called after an anchor zone's keys validated (RFC 8145 signalling)
        self.on_primed: Callable[[Name, tuple[TrustAnchor, ...]], None] | None = None

    # ------------------------------------------------------------------ entry
    async def keys_for(self, zone: Name, fetch: Fetch, budget: Budget,
                       trace: Trace) -> KeyEntry:
        nta = self._negative_anchor(zone)
        if nta is not None:
            until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(nta.until))
            trace.add(str(nta.zone), f"negative trust anchor until {until}: not validated, "
                                     f"treated as insecure")
            trace.event("nta", str(nta.zone), until=until)
            return KeyEntry.insecure(zone, Problem.NEGATIVE_ANCHOR,
                                     f"configured for {nta.zone} until {until}")
        found = self.anchors.closest(zone)
        if found is None:
            return KeyEntry.insecure(zone, Problem.NO_ANCHOR, f"no trust anchor above {zone}")
        anchor_zone, anchors = found
        epoch = self.cache.epoch    # the anchors may change while we await the network
        start, entry = ((anchor_zone, None) if trace.fresh
                        else self._cached_ancestor(zone, anchor_zone))
        if entry is None:
            primed = await self._retrying(
                partial(self._prime, anchor_zone, anchors, fetch, budget, trace),
                anchor_zone, fetch, budget, trace)
            assert primed is not None
            entry = primed
            self._store(entry, budget, epoch)
            start = anchor_zone
        elif trace.enabled:
            trace.add(str(entry.zone), _describe(entry))
            _cached_event(entry, trace)
        if not entry.secure or start == zone:
            return entry
        return await self._walk(entry, zone, fetch, budget, trace, epoch)

    async def _retrying(self, work: Callable[[], Awaitable[KeyEntry | None]], zone: Name,
                        fetch: Fetch, budget: Budget, trace: Trace) -> KeyEntry | None:
        """Run *work* (priming an anchor, or one step of the walk: DS and DNSKEY of
        *zone*); while it ends bogus, run it again, at most KEY_RETRIES times, with the
        DS and DNSKEY sets it fetched asked anew at other servers (a stale or forged
        copy from one server must not make the zone bogus for everyone). Not when the
        query's budget is spent: the verdict is then about the query, not the data."""
        if not isinstance(fetch, Refetch):
            return await work()
        mark = fetch.mark()
        entry = await work()
        for _ in range(KEY_RETRIES):
            if entry is None or entry.security != Security.BOGUS or budget.exhausted:
                break
            if not await fetch.again_since(mark, entry.reason):
                break
            trace.add(str(zone), f"bogus ({entry.reason}): asking again, other servers "
                                 f"first")
            log.debug("bogus keys for %s (%s): asking again", zone, entry.reason)
            mark = fetch.mark()
            entry = await work()
        return entry

    def _store(self, entry: KeyEntry, budget: Budget, epoch: int) -> None:
        """Cache *entry*, unless it is bogus only because this query ran out of work:
        the per-query budget says nothing about the zone, and caching it would let one
        expensive query (a long CNAME chain) make an innocent zone bogus for everyone.
        Nor when the key cache was cleared since *epoch* (new trust anchors): the
        entry was worked out from the old ones."""
        if entry.security == Security.BOGUS and budget.exhausted:
            log.debug("not caching %s: the query's validation budget is spent", entry.zone)
            return
        self.cache.put(entry, epoch)

    def negative_anchor(self, zone: Name) -> NegativeAnchor | None:
        """The negative trust anchor in force at or above *zone*, if any (RFC 7646)."""
        return self._negative_anchor(zone)

    def _negative_anchor(self, zone: Name) -> NegativeAnchor | None:
        if not self.negative_anchors:
            return None
        now = self.now()
        for nta in self.negative_anchors:
            if nta.until > now and zone.is_subdomain(nta.zone) and not nta.zone.is_root():
                return nta
        return None

    def _cached_ancestor(self, zone: Name, anchor_zone: Name) -> tuple[Name, KeyEntry | None]:
        keys = zone.ancestor_keys()           # deepest first: zone, ..., the root
        get = self.cache.get_key
        for key in keys[:len(keys) - len(anchor_zone)]:   # down to the anchor's depth
            entry = get(key)
            if entry is not None:
                return entry.zone, entry
        return anchor_zone, None

    def secure_above(self, name: Name, floor: KeyEntry) -> KeyEntry:
        """The deepest cached secure key entry strictly above *name*, no higher than
        *floor* (a secure entry above it), else *floor*: the signed zone a failed
        search for a zone cut at *name* started from, for saying where data is."""
        for depth in range(len(name) - 1, len(floor.zone), -1):
            entry = self.cache.get(name.ancestor(depth))
            if entry is not None and entry.secure:
                return entry
        return floor

    # ------------------------------------------------------------------ anchor
    async def _prime(self, zone: Name, anchors: tuple[TrustAnchor, ...], fetch: Fetch,
                     budget: Budget, trace: Trace) -> KeyEntry:
        """The anchor zone's DNSKEY set, authenticated by the anchor (RFC 4035 s5.1).

        Anchors may be DS records, DNSKEY records or both: the zone is secure when
        either form authenticates the DNSKEY set, insecure only when no anchor of
        either form has an algorithm (and digest) we support, and bogus otherwise."""
        ds = [a.rdata for a in anchors if a.rtype == RRType.DS]
        keys = [a.rdata for a in anchors if a.rtype == RRType.DNSKEY]
        trace.add(str(zone), "trust anchor: " + ", ".join(
            [f"DS {_ds_text(d)}" for d in ds] + [f"DNSKEY {_key(k)}" for k in keys]))
        if trace.enabled:
            trace.event("anchor", str(zone), ds=ds_data(ds), keys=keys_data(keys))
        dnskey = await self._fetch_rrset(zone, RRType.DNSKEY, fetch, trace)
        if dnskey is None:
            trace.add(str(zone), "no DNSKEY set for the trust anchor: bogus")
            trace.event("dnskey", str(zone), keys=[], matched=[], ok=False, security="bogus",
                        text="no DNSKEY set for the trust anchor")
            return KeyEntry.bogus(zone, Problem.DNSKEY_MISSING,
                                  f"{zone}: no DNSKEY set for the trust anchor")
        now = self.now()
        failures: list[Verdict] = []
        if ds:
            match = match_ds(zone, ds, dnskey.rdatas, self.policy, self.limits)
            if not match.ok:
                trace.add(str(zone), f"no DNSKEY matches the anchor DS: "
                                     f"{verdict_text(match.verdict, detail=True)}")
                _keys_event(zone, dnskey, [], None, match.verdict, trace)
                failures.append(match.verdict)
            else:
                result = verify_dnskey_rrset(dnskey, match, now, budget, self.policy)
                trace.add(str(zone), "DNSKEY " + ", ".join(_key(k) for k in match.keys) +
                          f" matches the anchor DS; DNSKEY set: {check_text(result)}")
                _keys_event(zone, dnskey, match.keys, result, None, trace)
                if result.ok:
                    self._primed(zone, anchors)
                    return self._secure(zone, dnskey, result.ttl)
                failures.append(result.verdict)
        if keys:
            result = verify_dnskey_rrset(dnskey, keys, now, budget, self.policy)
            trace.add(str(zone), f"DNSKEY set against the anchor keys: {check_text(result)}")
            _keys_event(zone, dnskey, keys, result, None, trace)
            if result.ok:
                self._primed(zone, anchors)
                return self._secure(zone, dnskey, result.ttl)
            failures.append(result.verdict)
        # insecure only when every form of anchor is unusable to us; one usable anchor
        # that fails makes the zone bogus
        bogus = [v for v in failures if v.security != Security.INSECURE]
        if not failures:
            return KeyEntry.bogus(zone, Problem.CHAIN_BROKEN, f"{zone}: no usable anchor")
        verdict = bogus[0] if bogus else failures[0]
        return _entry_from_verdict(zone, verdict.security, verdict.reason)

    def _primed(self, zone: Name, anchors: tuple[TrustAnchor, ...]) -> None:
        self.primed[zone.to_text()] = self.now()
        if self.on_primed is not None:
            self.on_primed(zone, anchors)

    def _secure(self, zone: Name, dnskey: RRset, ttl: int) -> KeyEntry:
        keys = list(dnskey.rdatas)
        return KeyEntry(zone, Security.SECURE, KeySet(zone, keys), tuple(keys), ttl=ttl,
                        tags=_tags(keys))

    # ------------------------------------------------------------------ walk
    async def _walk(self, entry: KeyEntry, zone: Name, fetch: Fetch, budget: Budget,
                    trace: Trace, epoch: int) -> KeyEntry:
        cur = entry
        depth = len(cur.zone) + 1
        steps = 0
        while depth <= len(zone):
            steps += 1
            if steps > _MAX_WALK:
                return KeyEntry.bogus(zone, Problem.CHAIN_BROKEN, "chain of trust too long")
            child = zone.ancestor(depth)
            cached = None if trace.fresh else self.cache.get(child)
            if cached is not None:
                if trace.enabled:
                    trace.add(str(child), _describe(cached))
                    _cached_event(cached, trace)
                cur = cached
                if not cur.secure:
                    return cur
                depth += 1
                continue
            nxt = await self._retrying(partial(self._step, cur, child, fetch, budget, trace),
                                       child, fetch, budget, trace)
            if nxt is None:        # not a zone cut: keep the current keys
                depth += 1
                continue
            self._store(nxt, budget, epoch)
            if not nxt.secure:
                return nxt
            cur = nxt
            depth += 1
        return cur

    async def _step(self, parent: KeyEntry, child: Name, fetch: Fetch, budget: Budget,
                    trace: Trace) -> KeyEntry | None:
        """DS for *child* from the parent side; the child's keys when it is a secure
        cut, an insecure/bogus entry, or None when *child* is not a zone cut."""
        zone = parent.zone
        assert parent.keys is not None
        try:
            result = await fetch(child, RRType.DS)
        except ResolveError as exc:
            trace.add(str(zone), f"DS query for {child} failed: {exc.text}: bogus")
            trace.event("ds", str(zone), child=str(child), ds=[], ok=False, security="bogus",
                        text=f"DS query failed: {exc.text}")
            return KeyEntry.bogus(child, Problem.DNSKEY_MISSING, f"DS for {child}: {exc.text}")
        ds = final_rrset(result, child, RRType.DS)
        if ds is not None:
            verdict = verify_rrset(ds, parent.keys, zone, self.now(), budget, self.policy)
            trace.add(str(zone), f"DS for {child}: " + ", ".join(
                _ds_text(d) for d in ds.rdatas) + f"; {check_text(verdict)}")
            if trace.enabled:
                trace.event("ds", str(zone), child=str(child), ds=ds_data(ds.rdatas),
                            **check_data(verdict))
            if not verdict.ok:
                reason = verdict.verdict.reason
                if reason is not None:   # say whose signature failed: the parent's
                    reason = Reason(reason.problem, f"the DS RRset signed by {zone}: "
                                                    f"{reason.detail}")
                return _entry_from_verdict(child, verdict.security, reason)
            return await self._child_keys(child, ds, fetch, budget, trace)
        if result.answer:   # a CNAME (or other data) at the name: not a zone cut
            trace.add(str(zone), f"{child} is an alias, not a zone cut")
            return None
        return self._no_ds(parent, child, result, budget, trace)

    def _no_ds(self, parent: KeyEntry, child: Name, result: IterResult, budget: Budget,
               trace: Trace) -> KeyEntry | None:
        zone = parent.zone
        assert parent.keys is not None
        if result.neg_zone is not None and result.neg_zone == child:
            trace.add(str(zone), f"the DS denial for {child} came from the child zone: bogus")
            trace.event("denial", str(zone), child=str(child), security="bogus", steps=[],
                        text=f"the DS denial for {child} came from the child zone")
            return KeyEntry.bogus(child, Problem.CHAIN_BROKEN,
                                  f"the DS denial for {child} came from the child zone")
        crowded = too_many_nsec3(result.proofs, zone, self.limits)
        if crowded is not None:
            trace.add(str(zone), f"DS denial for {child}: {crowded}")
            return KeyEntry.bogus(child, Problem.TOO_MANY_NSEC3, crowded)
        proofs = []
        failed: list[RRsetResult] = []
        for rrset in result.proofs:
            check = verify_rrset(rrset, parent.keys, zone, self.now(), budget, self.policy)
            if check.ok:
                proofs.append(rrset)
            else:
                failed.append(check)
        if failed and not proofs:
            # records were given, none is signed by the parent's keys: say why (a
            # forged proof), rather than that no proof came
            first = failed[0]
            trace.add(str(zone), f"DS denial for {child}: the NSEC/NSEC3 records do not "
                                 f"verify: {check_text(first)}")
            trace.event("denial", str(zone), child=str(child), security="bogus", steps=[],
                        text=f"the NSEC/NSEC3 records do not verify: {check_text(first)}")
            reason = first.verdict.reason
            detail = reason.detail if reason is not None else ""
            return KeyEntry.bogus(child, reason.problem if reason is not None
                                  else Problem.NSEC_BAD_PROOF,
                                  f"the DS denial for {child} from {zone}: {detail}")
        if result.rcode == Rcode.NXDOMAIN:
            denial = prove_denial(DenialKind.NXDOMAIN, child, RRType.DS, zone, proofs,
                                  self.limits, budget, explain=trace.enabled,
                                  nsec3_memo=self.nsec3_memo,
                                  nsec_memo=self.nsec_memo)
            for step in denial.steps:
                trace.add(str(zone), step)
            trace.add(str(zone), f"{child} does not exist: {verdict_text(denial.verdict)}")
            if denial.verdict.security == Security.BOGUS:
                # NXDOMAIN for an empty non-terminal: its NSEC still proves that there
                # is no DS and no zone cut there (as Unbound reads it)
                ent = prove_denial(DenialKind.NODATA, child, RRType.DS, zone, proofs,
                                   self.limits, budget, explain=False,
                                   nsec3_memo=self.nsec3_memo,
                                   nsec_memo=self.nsec_memo)
                if ent.kind == DenialKind.ENT_NODATA and ent.secure:
                    trace.add(str(zone), f"{child} is an empty non-terminal: no DS there")
                    return None
                return _entry_from_verdict(child, Security.BOGUS, denial.verdict.reason)
            return None
        denial = prove_denial(DenialKind.NODATA, child, RRType.DS, zone, proofs,
                              self.limits, budget, explain=trace.enabled,
                              nsec3_memo=self.nsec3_memo,
                              nsec_memo=self.nsec_memo)
        trace.add(str(zone), f"no DS for {child}; the proof:")
        for step in denial.steps:
            trace.add(str(zone), step)
        security = denial.verdict.security
        if trace.enabled:
            trace.event("denial", str(zone), child=str(child), security=security.label,
                        steps=list(denial.steps), cut=security != Security.SECURE or (
                            denial.kind == DenialKind.NODATA and
                            self._delegation(child, zone, proofs, budget)),
                        text=verdict_text(denial.verdict, detail=True))
        if security == Security.BOGUS:
            trace.add(str(zone), f"DS denial for {child}: "
                                 f"{verdict_text(denial.verdict, detail=True)}")
            return _entry_from_verdict(child, security, denial.verdict.reason)
        if security == Security.INSECURE:
            trace.add(str(zone), f"{child} and below: {verdict_text(denial.verdict)}")
            return _entry_from_verdict(child, security, denial.verdict.reason)
        if denial.kind == DenialKind.NODATA and self._delegation(child, zone, proofs, budget):
            trace.add(str(zone), f"{child} is delegated without DS: insecure below")
            return KeyEntry.insecure(child, Problem.NO_DS, f"{child} is delegated from "
                                                           f"{zone} without DS")
        trace.add(str(zone), f"{child} is not a zone cut: the keys of {zone} still apply")
        return None

    def _delegation(self, child: Name, zone: Name, proofs: list[RRset],
                    budget: Budget) -> bool:
        """Whether the record that matched *child* shows the NS bit (a zone cut).

        *proofs* are verified records; the NSEC3 hash of *child* is taken only with
        parameters a proof may use (SHA-1, iterations within the RFC 9276 limit) and
        from the query's budget, so this check cannot cost more than the proof did."""
        for rrset in proofs:
            if rrset.rtype == RRType.NSEC and rrset.name == child:
                value = rd.decode(RRType.NSEC, rrset.rdatas[0])
                assert isinstance(value, rd.NSEC)
                return RRType.NS in value.types
        hashes: dict[tuple[int, bytes], bytes] = {}
        for rrset in proofs:
            if rrset.rtype != RRType.NSEC3 or hashed_owner(rrset.name, zone) is None:
                continue
            try:
                value3 = rd.decode(RRType.NSEC3, rrset.rdatas[0])
            except rd.RdataError:
                continue
            assert isinstance(value3, rd.NSEC3)
            if value3.algorithm != 1 or value3.iterations > self.limits.nsec3_iterations:
                continue
            params = (value3.iterations, value3.salt)
            if params not in hashes:
                try:
                    hashes[params] = nsec3_hash(child, value3.salt, value3.iterations, budget)
                except HashBudgetExceeded:
                    return False
            if hashed_owner(rrset.name, zone) == hashes[params]:
                return RRType.NS in value3.types
        return False

    async def _child_keys(self, child: Name, ds: RRset, fetch: Fetch, budget: Budget,
                          trace: Trace) -> KeyEntry:
        dnskey = await self._fetch_rrset(child, RRType.DNSKEY, fetch, trace)
        if dnskey is None:
            trace.add(str(child), "no DNSKEY set, but the parent has a DS: bogus")
            trace.event("dnskey", str(child), keys=[], matched=[], ok=False, security="bogus",
                        text="no DNSKEY set, but the parent has a DS")
            return KeyEntry.bogus(child, Problem.DNSKEY_MISSING,
                                  f"{child}: no DNSKEY set, but a DS at the parent")
        match = match_ds(child, ds.rdatas, dnskey.rdatas, self.policy, self.limits)
        if not match.ok:
            trace.add(str(child), f"DNSKEY set ({_keys_text(dnskey.rdatas)}) against the DS: "
                                  f"{verdict_text(match.verdict, detail=True)}")
            _keys_event(child, dnskey, [], None, match.verdict, trace)
            return _entry_from_verdict(child, match.verdict.security, match.verdict.reason)
        result = verify_dnskey_rrset(dnskey, match, self.now(), budget, self.policy)
        trace.add(str(child), "DNSKEY " + ", ".join(_key(k) for k in match.keys) +
                  f" matches the DS; DNSKEY set: {check_text(result)}")
        _keys_event(child, dnskey, match.keys, result, None, trace)
        if not result.ok:
            return _entry_from_verdict(child, result.security, result.verdict.reason)
        return self._secure(child, dnskey, result.ttl)

    async def _fetch_rrset(self, name: Name, rtype: int, fetch: Fetch,
                           trace: Trace) -> RRset | None:
        try:
            result = await fetch(name, rtype)
        except ResolveError as exc:
            trace.add(str(name), f"{type_to_text(rtype)} query failed: {exc.text}")
            return None
        return final_rrset(result, name, rtype)


def too_many_nsec3(rrsets: list[RRset], zone: Name, limits: Limits) -> str | None:
    """Why the NSEC3 records of *zone* among *rrsets* are too many to look at, or None.
    Checked before any of their signatures is verified (SECURITY.md s1: a response
    padded with NSEC3 records must not cost crypto work)."""
    count = sum(len(rs.rdatas) for rs in rrsets
                if rs.rtype == RRType.NSEC3 and rs.name.is_subdomain(zone))
    if count > limits.nsec3_records:
        return f"{count} NSEC3 records, more than the limit of {limits.nsec3_records}"
    return None


def _ds_text(data: bytes) -> str:
    try:
        value = rd.decode(RRType.DS, data)
    except rd.RdataError:
        return "(malformed DS)"
    assert isinstance(value, rd.DS)
    return ds_text(value.key_tag, value.algorithm, value.digest_type)


def _key(dnskey: bytes) -> str:
    return key_text(key_tag(dnskey), dnskey[3]) if len(dnskey) >= 4 else "(malformed)"


def _keys_text(dnskeys: list[bytes], limit: int = 4) -> str:
    shown = ", ".join(_key(k) for k in dnskeys[:limit])
    return shown + (f" and {len(dnskeys) - limit} more" if len(dnskeys) > limit else "")


def _entry_from_verdict(zone: Name, security: Security, reason: Reason | None) -> KeyEntry:
    problem = reason.problem if reason is not None else Problem.CHAIN_BROKEN
    detail = reason.detail if reason is not None else ""
    if security == Security.INSECURE:
        return KeyEntry.insecure(zone, problem, detail)
    return KeyEntry.bogus(zone, problem, detail)


def _keys_event(zone: Name, dnskey: RRset, matched: Sequence[bytes], result: RRsetResult | None,
                failed: Verdict | None, trace: Trace) -> None:
    """The DNSKEY set of *zone* as a trace event: its keys, those a DS (or an anchor)
    matched, and the RRSIG check of the set (or the verdict of a failed DS match)."""
    if not trace.enabled:
        return
    data: dict[str, object] = {"keys": keys_data(dnskey.rdatas),
                               "matched": [t for t, _, _ in keys_data(matched)]}
    if result is not None:
        data.update(check_data(result))
    elif failed is not None:
        data.update(ok=False, signer=None, tried=[], security=failed.security.label,
                    text=verdict_text(failed, detail=True))
    trace.event("dnskey", str(zone), **data)


def _cached_event(entry: KeyEntry, trace: Trace) -> None:
    trace.event("cached", str(entry.zone), security=entry.security.label,
                keys=[[t, a, 0] for t, a in entry.tags], text=_describe(entry))


def _describe(entry: KeyEntry) -> str:
    """A key cache entry in a trace line."""
    if entry.secure:
        shown = ", ".join(key_text(t, a) for t, a in entry.tags[:4])
        more = f" and {len(entry.tags) - 4} more" if len(entry.tags) > 4 else ""
        return f"keys from the cache: {shown}{more}: secure"
    return f"from the cache: {entry.security.label} ({entry.reason})"
