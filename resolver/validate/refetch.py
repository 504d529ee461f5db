"""Asking again after a bogus answer (issue 14: one bad server must not fail a domain).

A stale or tampered-with secondary, or one forged packet, gives data whose signatures
do not verify. Before such data makes an answer SERVFAIL (or a zone's keys bogus), it
is fetched again, skipping the cache, with the servers that gave it asked only when no
other server of the zone is left (a one-off forgery is answered right the second time
even by the same server). As Unbound's "blacklist" this holds for the one client query.

Bounds: the answer is fetched again at most :data:`ANSWER_RETRIES` times per client
query, each key entry (an anchor's DNSKEY set, or one DS + DNSKEY step of the walk)
at most ``chain.KEY_RETRIES`` times; all of it within the query's upstream-query,
wall-clock and validation budgets, which are never reset. Data that already has a
verdict from the cache (bogus for ``bogus-ttl``) and bogus key entries from the key
cache are not asked again: they were, by the query that cached them (RFC 9520).

Each bogus answer asked again is counted in ``resolver_upstream_bogus_total`` by what
it was (``answer``, ``denial``, or ``keys``: a DS or DNSKEY set), never by name or
server address.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from ..answer import IterResult
from ..counters import Counters
from ..dnssec.status import Problem, Reason, Security
from ..errors import ResolveError
from ..wire.name import Name
from ..wire.rrset import RRset
from ..wire.types import RRType
from .keycache import KeyCache
from .validator import Outcome

log = logging.getLogger(__name__)

# Times a client query's answer is fetched again after a bogus verdict (Unbound
# restarts a bogus query a few times, VAL_MAX_RESTART_COUNT): with two servers of a
# zone, the first retry asks the other one; the second covers a bad copy found in
# the cache (stored by a CD=1 query, say), whose server only the first retry finds.
ANSWER_RETRIES = 2


def _rrset_key(rrset: RRset) -> tuple[bytes, int, frozenset[bytes], frozenset[bytes]]:
    return rrset.name.key, rrset.rtype, frozenset(rrset.rdatas), frozenset(rrset.sigs)


def same_data(one: IterResult, other: IterResult) -> bool:
    """Whether two results hold the same records and signatures (TTLs aside): asked
    again, a server that gave the same data gives the same verdict, so it is not
    validated again (no crypto work a zone can multiply by staying bogus)."""
    def key(result: IterResult) -> tuple[object, ...]:
        return (result.rcode, tuple(_rrset_key(r) for r in result.answer),
                _rrset_key(result.soa) if result.soa is not None else None,
                frozenset(_rrset_key(p) for p in result.proofs))
    return key(one) == key(other)


def known_servers(result: IterResult) -> set[str]:
    """The addresses of the servers that gave *result* (none for data from the cache)."""
    found = {s for s in result.servers if s is not None}
    if result.neg_server is not None:
        found.add(result.neg_server)
    return found


@dataclass(slots=True)
class Plan:
    """What to ask again for an answer found bogus."""

    fresh: set[tuple[bytes, int]] = field(default_factory=set)   # (name key, type)
    avoid: set[str] = field(default_factory=set)                 # server addresses
    kinds: list[str] = field(default_factory=list)               # for the counter


def answer_retry(qname: Name, qtype: int, result: IterResult, outcome: Outcome,
                 keys: KeyCache) -> Plan | None:
    """The RRsets (or the denial) of *result* that *outcome* found bogus and that are
    worth fetching again, or None. Not those whose bogus verdict came from the cache,
    nor those bogus because their zone's keys are (the key finder already asked
    again for those, and the bogus key entry is cached)."""
    if outcome.security != Security.BOGUS:
        return None
    plan = Plan()
    for index, part in enumerate(outcome.parts):
        if part.verdict.security != Security.BOGUS or _over_limit(part.verdict.reason):
            continue
        if part.zone is not None:
            entry = keys.get(part.zone)
            if entry is not None and entry.security == Security.BOGUS:
                continue
        if index < len(result.answer):
            if index < len(result.verdicts) and result.verdicts[index] is not None:
                continue
            rrset = result.answer[index]
            plan.fresh.add((rrset.name.key, rrset.rtype))
            server = result.servers[index] if index < len(result.servers) else None
            plan.kinds.append("answer")
        else:
            if result.neg_verdict is not None:
                continue
            last = result.answer[-1] if result.answer else None
            target = Name(last.rdatas[0]) if last is not None and \
                last.rtype == RRType.CNAME else qname
            plan.fresh.add((target.key, qtype))
            server = result.neg_server
            plan.kinds.append("denial")
        if server is not None:
            plan.avoid.add(server)
    return plan if plan.fresh else None


def _over_limit(reason: Reason | None) -> bool:
    """A verdict reached by running into a work limit (KeyTrap): about the cost of the
    data, which asking again would only multiply."""
    return reason is not None and reason.problem == Problem.BUDGET_EXCEEDED


# one look-up of the validator: the iterator's resolve(name, type, state,
# validating=True) for the client query's state, bound by the service
Lookup = Callable[[Name, int], Awaitable[IterResult]]


class Attempts(Protocol):
    """What asking again marks on the client query's record of work (the iterator's
    ``QueryState``): look-ups of (name key, type) that skip the cache once, and the
    addresses of servers that gave bogus data, asked last."""

    fresh: set[tuple[bytes, int]]
    avoid: set[str]


class QueryFetch:
    """The validator's fetch for one client query: *lookup* (the iterator, asked for
    the validator) with a record of what it fetched, so that a key entry found bogus
    can be worked out again from other servers (``chain.Refetch``). *state* is the
    same query's record of work, shared with *lookup*."""

    def __init__(self, lookup: Lookup, state: Attempts, counters: Counters) -> None:
        self.lookup = lookup
        self.state = state
        self.counters = counters
        self.fetched: list[tuple[Name, int, IterResult]] = []
        # fetched anew by again_since, handed out by the next call for that pair
        self.prepared: dict[tuple[bytes, int], IterResult] = {}

    async def __call__(self, name: Name, rtype: int) -> IterResult:
        result = self.prepared.pop((name.key, rtype), None)
        if result is None:
            result = await self.lookup(name, rtype)
        self.fetched.append((name, rtype, result))
        return result

    def mark(self) -> int:
        return len(self.fetched)

    async def again_since(self, mark: int, reason: Reason | None = None) -> bool:
        """Fetch what was fetched since *mark* anew (the cache skipped, the servers
        that gave it asked last); the next calls for those pairs get the new copies.
        False when there is no point working the entry out again: nothing fetched, a
        work limit hit, or every copy the same as before."""
        again = {(name.key, rtype): (name, rtype, result)
                 for name, rtype, result in self.fetched[mark:]}
        if not again or _over_limit(reason):
            return False
        self.counters.inc("upstream_bogus", ("keys",))
        for key, (_, _, result) in again.items():
            self.state.fresh.add(key)
            self.state.avoid |= known_servers(result)
        changed = False
        for key, (name, rtype, result) in again.items():
            fresh = await self._refetch(name, rtype)
            if fresh is not None and same_data(fresh, result) and not known_servers(result) \
                    and known_servers(fresh) - self.state.avoid:
                # the bad copy came from the cache, its server unknown; the server just
                # asked gave it too: now known, it is asked last
                self.state.fresh.add(key)
                self.state.avoid |= known_servers(fresh)
                fresh = await self._refetch(name, rtype) or fresh
            if fresh is None:
                continue
            self.prepared[key] = fresh
            changed = changed or not same_data(fresh, result)
        if not changed:
            self.prepared.clear()
        return changed

    async def _refetch(self, name: Name, rtype: int) -> IterResult | None:
        try:
            return await self.lookup(name, rtype)
        except ResolveError as exc:
            log.debug("asking again for %s/%d: %s", name, rtype, exc.text)
            return None

    def answer_again(self, plan: Plan) -> None:
        """Make the next resolution of the question fetch *plan*'s RRsets anew."""
        self.state.fresh |= plan.fresh
        self.state.avoid |= plan.avoid
        for kind in plan.kinds:
            self.counters.inc("upstream_bogus", (kind,))
        log.debug("bogus answer: asking again, avoiding %s", sorted(plan.avoid) or "none")
