"""The iterative resolution algorithm (RFC 1034 s5.3.3, RFC 9156 QNAME minimisation).

:class:`Iterator.resolve` answers one question from the cache or by walking the
delegation chain from the closest cached zone cut (or the root hints), following
CNAME and DNAME chains, resolving glueless name servers as sub-queries, and caching
every scrubbed RRset with its trust rank. It knows nothing about DNSSEC validation:
it returns the RRsets with their RRSIGs, the zone each came from, and the NSEC/NSEC3
records of negative answers, for the validator to judge.

Every limit of SECURITY.md s0 is counted in a :class:`QueryState` shared by all the
work one client query causes.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from ..answer import IterResult
from ..cache.nsec_index import NsecIndex
from ..cache.rrsets import NXDOMAIN_TYPE, Entry, NegativeCache, NegEntry, Rank, RRsetCache
from ..cache.wildcard_synth import synthesise_wildcard
from ..config import IterLimits, Settings
from ..counters import Counters
from ..dnssec.status import Verdict
from ..errors import LimitExceeded, ResolveError
from ..lru import Lru, take_token
from ..wire import message as wm
from ..wire import rdata as rd
from ..wire.message import Message
from ..wire.name import ROOT, Name, NameError_
from ..wire.rrset import RRset
from ..wire.types import TC, Rcode, RRType, rcode_to_text, type_to_text
from .hints import Hints
from .infra import Infra
from .scrub import Classified, Kind, classify, synthesize_cname
from .shared import CACHE, NETWORK, SHARED, SharedCache, Steps
from .transport import Server, SpoofSuspected, Transport, UpstreamError, UpstreamTimeout

log = logging.getLogger(__name__)

# a marker in the per-step set of NS name keys tried (no wire name starts above 63)
_CHILD_SIDE = b"\xff"

# (NSEC/NSEC3 RRsets of a CNAME response, the zone that sent it, the chain's target)
# -> the (delegation, NSEC/NSEC3 RRset) pairs among them that deny a DS on the way:
# DNSSEC work, handed in by the service (resolver.validate.harvest.delegation_denials)
DsDenials = Callable[[list[RRset], Name, Name], list[tuple[Name, RRset]]]

NO_CUT_MEMO_SIZE = 50000      # names proven not to be zone cuts, remembered
ALLOWED_MEMO_SIZE = 10000     # upstream addresses checked against the settings
ZONE_RATE_SIZE = 10000        # zone cuts with an upstream token bucket (ratelimit)


@dataclass(slots=True)
class QueryState:
    """Work done for one client query (limits are per client query and never reset)."""

    limits: IterLimits
    started: float
    upstream: int = 0
    nx_ns: int = 0
    events: list[str] = field(default_factory=list)
    # asked again after a bogus answer (issue 14, resolver/retry.py): addresses of
    # servers that gave bogus data, asked last; (name key, type) whose next look-up
    # skips the cache, once
    avoid: set[str] = field(default_factory=set)
    fresh: set[tuple[bytes, int]] = field(default_factory=set)
    last_server: str | None = None     # the server that gave the last usable reply
    # zones whose delegation was asked of the parent again (Iterator._other_side)
    parent_asked: set[bytes] = field(default_factory=set)
    # cachedb (issue 18): what each top-level look-up added, stored once validated
    shared: Steps = field(default_factory=Steps)

    def take_fresh(self, name: Name, qtype: int) -> bool:
        """Whether this look-up of *name* must go to the network (its cached data,
        or the CNAME there, was found bogus); true once per pair marked."""
        if not self.fresh:
            return False
        keys = {(name.key, qtype), (name.key, RRType.CNAME)}
        found = bool(keys & self.fresh)
        self.fresh -= keys
        return found

    def spend(self, now: float) -> None:
        self.upstream += 1
        if self.upstream > self.limits.upstream_queries:
            raise LimitExceeded(f"more than {self.limits.upstream_queries} upstream queries")
        if now - self.started > self.limits.wall_clock:
            raise LimitExceeded(f"more than {self.limits.wall_clock:.0f} s of work")


@dataclass(slots=True)
class NameQuota:
    """Upstream queries sent while resolving one name of a chain, retries over TCP and
    to other servers included (SECURITY.md s0: 32 per name, reset on CNAME)."""

    name: Name
    limit: int
    sent: int = 0

    def spend(self) -> None:
        self.sent += 1
        if self.sent > self.limit:
            raise LimitExceeded(f"more than {self.limit} queries for {self.name}")


@dataclass(slots=True)
class Delegation:
    zone: Name
    ns: list[Name]
    addrs: dict[Name, list[str]]
    from_hints: bool = False
    parent_side: bool = False   # taken from a referral just now (not from the cache)
    # configured servers of a [[forward]] or [[stub]] zone (address, port): used as
    # they are, nothing else is looked up for them
    fixed: list[Server] | None = None
    forward: bool = False       # RD=1 to a recursive upstream; its answer is taken


def _add_proofs(result: IterResult, proofs: list[RRset]) -> None:
    """Add the NSEC/NSEC3 RRsets of one more response of a CNAME chain to *result*
    (each proves something about its own link), without repeating one."""
    seen = {(p.name.key, p.rtype) for p in result.proofs}
    result.proofs += [p for p in proofs if (p.name.key, p.rtype) not in seen]


def _address_text(data: bytes) -> str:
    """A or AAAA RDATA as text (inet_ntop: much cheaper than ipaddress)."""
    return socket.inet_ntop(socket.AF_INET if len(data) == 4 else socket.AF_INET6, data)


def _verdict(entry: Entry) -> Verdict | None:
    return Verdict(entry.security, entry.reason) if entry.security is not None else None


class Iterator:
    def __init__(self, transport: Transport, rrsets: RRsetCache, negative: NegativeCache,
                 infra: Infra, hints: Hints, settings: Settings,
                 now: Callable[[], float]) -> None:
        self.transport = transport
        self.rrsets = rrsets
        self.negative = negative
        self.infra = infra
        self.hints = hints
        self.settings = settings
        self.limits = settings.iter_limits
        self.now = now
        self.counters = Counters()   # replaced by the service's own
        # names known not to be zone cuts -> until when (read with use(): LRU)
        self._no_cut: Lru[bytes, float] = Lru(NO_CUT_MEMO_SIZE)
        # upstream address -> whether we may send to it (read with get(): dict speed)
        self._allowed_memo: Lru[str, bool] = Lru(ALLOWED_MEMO_SIZE)
        # ratelimit: zone cut -> token bucket of upstream queries (read with use())
        self._zone_rates: Lru[bytes, list[float]] = Lru(ZONE_RATE_SIZE)
        self.sibling_glue = False   # test profiles only: see scrub.classify
        self.ds_denials: DsDenials | None = None   # None: CNAME responses give no DS denials
        # validated NSEC records (RFC 8198), set by the service when aggressive-nsec is on
        self.nsec_index: NsecIndex | None = None
        # the shared cache on Redis (cachedb), set by the service when configured
        self.shared: SharedCache | None = None

    # ------------------------------------------------------------------ public
    def new_state(self) -> QueryState:
        return QueryState(self.limits, self.now())

    def forget_no_cuts(self, name: Name | None = None, *, below: bool = False) -> int:
        """Forget that *name* (and with *below*, every name under it; None: every
        name) is no zone cut (an operator's flush: a cut made since is found by the
        next minimised query). Returns how many names were forgotten."""
        memo = self._no_cut
        if name is None:
            count = len(memo)
            memo.clear()
            return count
        if below:
            gone = [key for key in memo
                    if key.endswith(name.key) and Name(key).is_subdomain(name)]
        else:
            gone = [name.key] if name.key in memo else []
        for key in gone:
            del memo[key]
        return len(gone)

    async def resolve(self, qname: Name, qtype: int, state: QueryState,
                      depth: int = 0, *, validating: bool = False) -> IterResult:
        """Answer (*qname*, *qtype*) class IN: from the cache where possible.
        *validating*: a lookup for the validator, which may take a DS denial from the
        NSEC/NSEC3 proofs of a referral (they have no SOA to give a client)."""
        result = IterResult()
        current = qname
        shared = self.shared
        for _ in range(self.limits.cname_chain + 1):
            start = (len(result.answer), len(result.proofs)) if shared is not None else (0, 0)
            fresh = state.take_fresh(current, qtype)   # asked again after a bogus answer
            if fresh:
                hit, target = False, None
            else:
                hit, target = self._from_cache(current, qtype, result, validating)
            source = CACHE
            if not hit and not fresh and shared is not None:   # cachedb: Redis next
                hit, target = await self._from_shared(shared, current, qtype, result,
                                                      validating)
                source = SHARED
            if not hit:
                target = await self._iterate(current, qtype, state, depth, result)
                source = NETWORK
            if shared is not None and depth == 0:
                shared.record(state.shared, current, qtype, result, start, target, source)
            # every link counts, also several from one packet or from the cache
            owners = {rs.name.key for rs in result.answer if rs.rtype == RRType.CNAME}
            if target is not None and (target.key in owners or target.key == qname.key):
                raise ResolveError(f"CNAME loop at {target}", ede=0)
            if len(owners) > self.limits.cname_chain:
                break
            if target is None:
                return result
            current = target
        raise ResolveError(f"CNAME chain longer than {self.limits.cname_chain}", ede=0)

    # ------------------------------------------------------------------ cache
    def _from_cache(self, name: Name, qtype: int, result: IterResult,
                    validating: bool = False) -> tuple[bool, Name | None]:
        """Fill *result* from the cache. Returns (hit, CNAME target to follow)."""
        now = self.now()
        entry = self.rrsets.get(name, qtype)
        if entry is not None and entry.rank >= Rank.ANSWER:
            result.add(entry.rrset.with_ttl(entry.ttl(now)), entry.zone, _verdict(entry))
            _add_proofs(result, list(entry.proofs))
            return True, None
        if qtype != RRType.CNAME:
            cname = self.rrsets.get(name, RRType.CNAME)
            if cname is not None and cname.rank >= Rank.ANSWER:
                result.add(cname.rrset.with_ttl(cname.ttl(now)), cname.zone, _verdict(cname))
                _add_proofs(result, list(cname.proofs))
                return True, Name(cname.rrset.rdatas[0])
        # a DNAME strictly above *name* redirects every type, DNAME included (RFC 6672 s2.3)
        found, target = self._dname_from_cache(name, now, result)
        if found:   # for a CNAME question the synthesis is the answer
            return True, None if qtype == RRType.CNAME else target
        neg = self.negative.get(name, qtype)
        # referral proofs lack the SOA: only the validator uses them (for DS)
        if neg is not None and (neg.soa is not None or (
                validating and qtype == RRType.DS and bool(neg.proofs))):
            self._negative_result(result, neg, now)
            return True, None
        if self.nsec_index is not None:   # RFC 8198: a denial from validated NSEC records
            synth = self.nsec_index.lookup(name, qtype)
            if synth is not None:
                self._negative_result(result, synth, now)
                nsec3 = bool(synth.proofs) and synth.proofs[0].rtype == RRType.NSEC3
                self.counters.inc("aggressive_nsec3" if nsec3 else "aggressive_nsec", (
                    "nxdomain" if synth.rcode == Rcode.NXDOMAIN else "nodata",))
                return True, None
            # RFC 8198 s5.3: a cached secure wildcard, expanded; the validator judges it
            wild = synthesise_wildcard(self.nsec_index, self.rrsets, name, qtype, now)
            if wild is not None:
                result.add(wild.rrset, wild.zone)
                _add_proofs(result, wild.proofs)
                self.counters.inc("aggressive_nsec3" if wild.proofs[0].rtype == RRType.NSEC3
                                  else "aggressive_nsec", ("wildcard",))
                return True, None
        return False, None

    async def _from_shared(self, shared: SharedCache, name: Name, qtype: int,
                           result: IterResult, validating: bool) -> tuple[bool, Name | None]:
        """Fill *result* from the shared cache (cachedb): its record is a reply,
        classified and taken like one from the servers of its zone, unvalidated.
        Returns (hit, CNAME target to follow)."""
        stored = await shared.lookup(name, qtype)
        if stored is None:
            return False, None
        cls = classify(stored.reply, stored.zone, name, qtype, self.limits)
        usable = cls.kind in (Kind.ANSWER, Kind.CNAME, Kind.NXDOMAIN, Kind.YXDOMAIN) or (
            cls.kind == Kind.NODATA and (cls.soa is not None or (
                validating and qtype == RRType.DS and bool(cls.proofs))))
        if not usable:    # a referral or an error is nothing a record of ours holds
            self.counters.inc("cachedb", ("rejected",))
            return False, None
        result.from_cache = False
        return True, self._take_answer(cls, stored.zone, name, qtype, result)

    def _dname_from_cache(self, name: Name, now: float,
                          result: IterResult) -> tuple[bool, Name | None]:
        """A cached DNAME above *name*: add it and the CNAME it implies (synthesized
        CNAMEs are never cached themselves, RFC 6672 s3.4). Returns (found, the target);
        a substitution too long for a name is the YXDOMAIN the servers would send, with
        the DNAME and no target (RFC 6672 s2.2)."""
        peek = self.rrsets.store.peek
        for key in name.ancestor_keys()[1:-1]:    # strictly above *name*, below the root
            # peek: these look-ups mostly miss and must not skew the cache statistics
            found = peek((key, RRType.DNAME))
            if found is None or found[0] <= now:
                continue
            entry = found[1]
            if entry.rank < Rank.ANSWER or not entry.rrset.rdatas:
                continue
            dname = entry.rrset.with_ttl(entry.ttl(now))
            result.add(dname, entry.zone, _verdict(entry))
            try:
                synth = synthesize_cname(dname, name)
            except NameError_:
                result.rcode = Rcode.YXDOMAIN
                return True, None
            result.add(synth, entry.zone)
            return True, Name(synth.rdatas[0])
        return False, None

    def _negative_result(self, result: IterResult, neg: NegEntry, now: float) -> None:
        ttl = neg.ttl(now)
        result.rcode = neg.rcode
        result.soa = neg.soa.with_ttl(min(ttl, neg.soa.ttl)) if neg.soa else None
        _add_proofs(result, [p.with_ttl(min(ttl, p.ttl)) for p in neg.proofs])
        result.neg_zone = neg.zone
        if neg.security is not None:
            result.neg_verdict = Verdict(neg.security, neg.reason)

    # ------------------------------------------------------------------ iteration
    async def _iterate(self, name: Name, qtype: int, state: QueryState, depth: int,
                       result: IterResult) -> Name | None:
        """Ask the network; fill *result*; return a CNAME target to follow or None."""
        result.from_cache = False
        dp = self._find_delegation(name, qtype)
        per_name = NameQuota(name, self.limits.queries_per_name)
        referrals = 0
        minimise = self.settings.qname_minimisation and qtype != RRType.DS \
            and not dp.forward
        min_steps = 0
        while True:
            ask, ask_type = name, qtype
            if minimise and len(name) > len(dp.zone) + 1 and min_steps < self.limits.minimise_steps:
                ask = name.ancestor(len(dp.zone) + 1 + min_steps)
                # names already seen answered by this zone are no zone cuts: step over
                while ask != name and self._known_no_cut(ask):
                    min_steps += 1
                    ask = name.ancestor(len(dp.zone) + 1 + min_steps)
                # RFC 9156 s2.1: A hides the client's type and is what broken servers
                # and middleboxes handle best (NS is allowed; Unbound also sends A)
                ask_type = qtype if ask == name else RRType.A
            try:
                cls = await self._ask_zone(dp, ask, ask_type, state, depth, per_name)
            except LimitExceeded:
                raise
            except ResolveError as exc:
                if ask == name:
                    raise
                # every server failed the minimised question (SERVFAIL, REFUSED,
                # FORMERR, NOTIMP, silence): some mishandle names or types they do not
                # expect, so ask them the full name before giving up (RFC 9156)
                log.debug("minimised %s %s failed (%s): asking %s in full",
                          ask, ask_type, exc.text, name)
                minimise = False
                continue
            if cls.kind == Kind.REFERRAL:
                assert cls.referral is not None
                if dp.forward:   # a forwarder answers; its referrals are not followed
                    raise ResolveError(f"the forwarder for {dp.zone} sent a referral "
                                       f"for {name}", ede=22)
                referrals += 1
                if referrals > self.limits.referrals:
                    raise ResolveError(f"more than {self.limits.referrals} referrals for {name}")
                dp = self._take_referral(cls, dp.zone)
                min_steps = 0
                continue
            if ask != name:  # a minimised step that was not a referral
                if cls.kind == Kind.NXDOMAIN:
                    minimise = False    # confirm with the full name (relaxed RFC 9156)
                elif cls.kind in (Kind.ANSWER, Kind.NODATA):
                    self._remember_no_cut(ask, cls)
                    min_steps += 1
                else:
                    minimise = False
                continue
            return self._take_answer(cls, dp.zone, name, qtype, result, state.last_server)

    def _known_no_cut(self, name: Name) -> bool:
        until = self._no_cut.use(name.key)
        if until is None:
            return False
        if until <= self.now():
            del self._no_cut[name.key]
            return False
        return True

    def _remember_no_cut(self, name: Name, cls: Classified) -> None:
        """A minimised query for *name* was answered by the zone above it (data or
        NODATA, not a referral): *name* is no zone cut, for as long as that answer lives."""
        ttls = [rs.ttl for rs in cls.answer + cls.chain] + (
            [cls.soa.ttl] if cls.soa is not None else [])
        ttl = min([*ttls, self.settings.max_negative_ttl]) if ttls else 60
        self._no_cut[name.key] = self.now() + ttl

    def _take_referral(self, cls: Classified, parent: Name) -> Delegation:
        ns = cls.referral
        assert ns is not None
        self.rrsets.put(ns, Rank.AUTHORITY, zone=parent)
        for glue in cls.glue:
            self.rrsets.put(glue, Rank.ADDITIONAL, zone=parent)
        if cls.ds is not None:
            self.rrsets.put(cls.ds, Rank.AUTH_AUTHORITY, zone=parent)
        elif cls.proofs:
            neg = NegEntry(ns.name, RRType.DS, Rcode.NOERROR, parent, None,
                           list(cls.proofs))
            self.negative.put(neg, min(p.ttl for p in cls.proofs))
        dp = self._delegation_from_cache(ns.name, ns)
        dp.parent_side = True
        return dp

    def _take_answer(self, cls: Classified, zone: Name, name: Name, qtype: int,
                     result: IterResult, server: str | None = None) -> Name | None:
        rank = Rank.AUTH_ANSWER if cls.aa else Rank.ANSWER
        taken = cls.chain + cls.answer if cls.kind == Kind.ANSWER else cls.chain
        previous: RRset | None = None
        for rrset in taken:
            # a CNAME right after a DNAME is our own synthesis: only the DNAME is cached
            if previous is None or previous.rtype != RRType.DNAME:
                # a wildcard expansion keeps the proof that its owner does not exist,
                # so that answers from the cache carry it too (RFC 4035 s3.1.3.3)
                proofs = tuple(cls.proofs) if cls.proofs and rrset.from_wildcard() else ()
                self.rrsets.put(rrset, rank, zone=zone, proofs=proofs)
            result.add(rrset, zone, server=server)
            previous = rrset
        if cls.kind == Kind.ANSWER:
            _add_proofs(result, cls.proofs)   # wildcard proofs travel with the answer
            return None
        if cls.kind == Kind.CNAME:
            assert cls.final_name is not None
            # proofs of wildcard CNAMEs (and of the target's insecurity) travel too
            _add_proofs(result, cls.proofs)
            if cls.referral is not None:
                self._take_referral(cls, zone)
            else:
                self._delegation_denials(cls.proofs, zone, cls.final_name)
            return cls.final_name
        if cls.kind in (Kind.NXDOMAIN, Kind.NODATA):
            final = cls.final_name or name
            result.rcode = cls.rcode
            result.soa = cls.soa
            _add_proofs(result, cls.proofs)
            result.neg_zone = cls.soa.name if cls.soa is not None else zone
            result.neg_server = server
            self._cache_negative(cls, final, qtype, result.neg_zone)
            return None
        if cls.kind == Kind.YXDOMAIN:
            result.rcode = Rcode.YXDOMAIN
            return None
        raise ResolveError(f"unusable answer for {name} from the servers of {zone}")

    def _delegation_denials(self, proofs: list[RRset], zone: Name, target: Name) -> None:
        """Keep the NSEC or NSEC3 records of a CNAME response that deny the DS of a
        delegation on the way to the target as those DS denials, like the proofs of a
        referral (resolver/validate/harvest.py says which and why). Which records do
        is DNSSEC work: :attr:`ds_denials`, set by the service, tells."""
        if self.ds_denials is None:
            return
        for delegation, proof in self.ds_denials(proofs, zone, target):
            self.negative.put(NegEntry(delegation, RRType.DS, Rcode.NOERROR, zone, None,
                                       [proof]), proof.ttl)

    def _cache_negative(self, cls: Classified, name: Name, qtype: int, zone: Name) -> None:
        soa = cls.soa
        if soa is None:
            return
        try:
            value = rd.decode(RRType.SOA, soa.rdatas[0])
        except rd.RdataError:
            return
        assert isinstance(value, rd.SOA)
        ttl = min(soa.ttl, value.minimum, self.settings.max_negative_ttl)  # RFC 2308 s5
        key_type = NXDOMAIN_TYPE if cls.kind == Kind.NXDOMAIN else qtype
        self.negative.put(NegEntry(name, key_type, cls.rcode, zone, soa, list(cls.proofs)), ttl)

    # ------------------------------------------------------------------ delegations
    def _find_delegation(self, name: Name, qtype: int) -> Delegation:
        """The deepest zone cut with usable name servers at or above *name* (above it
        for DS, which lives on the parent side, RFC 4035 s4.2)."""
        start = name.parent() if qtype == RRType.DS and not name.is_root() else name
        configured = self._configured(start)
        if configured is not None and configured.forward:
            return configured
        depth = len(start)
        floor = len(configured.zone) if configured is not None else 0
        while depth > floor:
            anc = start.ancestor(depth)
            entry = self.rrsets.get(anc, RRType.NS)
            if entry is not None:
                dp = self._delegation_from_cache(anc, entry.rrset)
                if any(dp.addrs.values()) or self._resolvable(dp):
                    return dp
            depth -= 1
        if configured is not None:
            return configured
        root_ns = self.rrsets.get(ROOT, RRType.NS)
        if root_ns is not None:
            dp = self._delegation_from_cache(ROOT, root_ns.rrset)
            if any(dp.addrs.values()):
                return dp
        return Delegation(ROOT, self.hints.names,
                          {n: list(a) for n, a in self.hints.servers.items()}, True)

    def _configured(self, name: Name) -> Delegation | None:
        """The [[forward]]/[[stub]] zone closest to *name* (at or above it), if any."""
        best: Delegation | None = None
        for fz in self.settings.forward_zones:
            zone = Name.from_text(fz.zone)
            if name.is_subdomain(zone) and (best is None or len(zone) > len(best.zone)):
                best = Delegation(zone, [], {}, fixed=list(fz.servers),
                                  forward=not fz.stub)
        return best

    def _resolvable(self, dp: Delegation) -> bool:
        """Whether some NS name can be looked up without this very delegation."""
        return any(not ns.is_subdomain(dp.zone) for ns in dp.ns)

    def _delegation_from_cache(self, zone: Name, ns: RRset) -> Delegation:
        names = [Name(d) for d in ns.rdatas][:self.limits.ns_per_delegation]
        addrs: dict[Name, list[str]] = {}
        for target in names:
            found = []
            for rtype in (RRType.A, RRType.AAAA):
                entry = self.rrsets.get(target, rtype)
                if entry is not None:
                    found += [_address_text(d) for d in entry.rrset.rdatas]
            addrs[target] = found
        return Delegation(zone, names, addrs)

    def _allowed(self, address: str) -> bool:
        known = self._allowed_memo.get(address)
        if known is None:
            known = self._allowed_memo.put(address, self._allowed_uncached(address))
        return known

    def _allowed_uncached(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if ip.is_loopback:
            return self.settings.allow_loopback_upstream
        if ip.is_unspecified or ip.is_multicast or ip.is_reserved or ip.is_link_local:
            return False
        if ip.version == 6 and not self.settings.ipv6_upstream:
            return False
        return not (isinstance(ip, ipaddress.IPv4Address) and ip == ipaddress.IPv4Address(
            "255.255.255.255"))

    def _servers(self, dp: Delegation) -> list[Server]:
        if dp.fixed is not None:   # configured by the operator: loopback allowed
            return dp.fixed
        port = self.settings.upstream_port
        out = []
        for ns in dp.ns:
            for addr in dp.addrs.get(ns, []):
                if self._allowed(addr):
                    out.append((addr, port))
        return list(dict.fromkeys(out))

    async def _more_addresses(self, dp: Delegation, state: QueryState, depth: int,
                              tried_names: set[bytes]) -> bool:
        """Resolve the address of one more NS name (glueless delegation); with none
        left, turn to the other side of the zone cut (:meth:`_other_side`)."""
        if dp.fixed is not None:
            return False
        if depth >= self.limits.dependency_depth:
            raise ResolveError(f"name server lookups nested deeper than "
                               f"{self.limits.dependency_depth}", ede=22)
        for ns in dp.ns:
            if ns.key in tried_names or dp.addrs.get(ns):
                continue
            tried_names.add(ns.key)
            if ns.is_subdomain(dp.zone):
                continue  # needs glue: cannot resolve through itself (see _other_side)
            found: list[str] = []
            types = [RRType.A] + ([RRType.AAAA] if self.settings.ipv6_upstream else [])
            for rtype in types:
                try:
                    sub = await self.resolve(ns, rtype, state, depth + 1)
                except LimitExceeded:
                    raise
                except ResolveError:
                    continue
                final = sub.answer[-1] if sub.answer and sub.answer[-1].rtype == rtype else None
                if final is not None:
                    found += [_address_text(d) for d in final.rdatas]
            if found:
                dp.addrs[ns] = found
                return True
            state.nx_ns += 1
            if state.nx_ns > self.limits.nxns_failures:
                raise LimitExceeded(f"more than {self.limits.nxns_failures} name server "
                                    "address lookups failed")
        return await self._other_side(dp, state, depth, tried_names)

    async def _other_side(self, dp: Delegation, state: QueryState, depth: int,
                          tried_names: set[bytes]) -> bool:
        """Add the servers of the other side of the zone cut to *dp* when every
        server of *dp* failed or has no address: the child's own NS set (cached from
        an authoritative answer) behind a referral, once per step; the parent's NS set
        and glue behind a cached NS RRset, once per zone and client query. The parent
        side also refreshes glue that expired while the NS RRset is still cached: an
        in-zone name server cannot be looked up through its own zone, so without this
        one dead server left would fail the zone until the NS RRset expires."""
        before = len(self._servers(dp))
        entry = self.rrsets.get(dp.zone, RRType.NS)
        child_side = entry is not None and entry.rank >= Rank.ANSWER
        if dp.parent_side and child_side and _CHILD_SIDE not in tried_names:
            tried_names.add(_CHILD_SIDE)
            assert entry is not None
            self._merge(dp, self._delegation_from_cache(dp.zone, entry.rrset))
            if len(self._servers(dp)) > before or self._unresolved(dp, tried_names):
                return True
        if dp.parent_side or dp.from_hints or dp.zone.is_root() \
                or dp.zone.key in state.parent_asked:
            return False
        # the parent can only tell more than the cache when the cached set is the
        # child's own or lacks the address of an in-zone name (its glue)
        stale_glue = any(ns.is_subdomain(dp.zone) and not dp.addrs.get(ns) for ns in dp.ns)
        if not (child_side or stale_glue):
            return False
        state.parent_asked.add(dp.zone.key)
        parent = await self._parent_delegation(dp.zone, state, depth)
        if parent is None:
            return False
        self._merge(dp, parent)
        return len(self._servers(dp)) > before or self._unresolved(dp, tried_names)

    def _merge(self, dp: Delegation, other: Delegation) -> None:
        """Add the names and addresses of *other* (the same zone) to *dp*."""
        for ns in other.ns:
            if ns not in dp.addrs and len(dp.ns) < 2 * self.limits.ns_per_delegation:
                dp.ns.append(ns)
                dp.addrs[ns] = []
            if ns in dp.addrs:
                dp.addrs[ns] = list(dict.fromkeys(dp.addrs[ns] + other.addrs.get(ns, [])))

    def _unresolved(self, dp: Delegation, tried_names: set[bytes]) -> bool:
        """Whether *dp* has a name server name without address still to look up."""
        return any(ns.key not in tried_names and not dp.addrs.get(ns)
                   and not ns.is_subdomain(dp.zone) for ns in dp.ns)

    async def _parent_delegation(self, zone: Name, state: QueryState,
                                 depth: int) -> Delegation | None:
        """The delegation of *zone* as its parent serves it (NS and glue), asked anew
        from the closest cached zone cut above it, following referrals down. Its glue
        is used even where the cache keeps a higher-ranked (child-side) copy."""
        dp = self._find_delegation(zone, RRType.DS)
        quota = NameQuota(zone, self.limits.queries_per_name)
        for _ in range(len(zone)):
            try:
                cls = await self._ask_zone(dp, zone, RRType.NS, state, depth + 1, quota)
            except LimitExceeded:
                raise
            except ResolveError as exc:
                log.debug("no delegation of %s from %s: %s", zone, dp.zone, exc.text)
                return None
            ref = cls.referral
            if cls.kind != Kind.REFERRAL or ref is None:
                return None
            below = self._take_referral(cls, dp.zone)
            if ref.name == zone:
                for glue in cls.glue:
                    if glue.name in below.addrs:
                        below.addrs[glue.name] = list(dict.fromkeys(
                            below.addrs[glue.name]
                            + [_address_text(d) for d in glue.rdatas]))
                return below
            dp = below
        return None

    # ------------------------------------------------------------------ talking
    async def _ask_zone(self, dp: Delegation, qname: Name, qtype: int, state: QueryState,
                        depth: int, per_name: NameQuota) -> Classified:
        """Ask the servers of *dp* until one gives a usable reply; return it classified."""
        tried: set[Server] = set()
        timed_out: set[Server] = set()
        tried_names: set[bytes] = set()
        failures = 0
        rounds = 0
        last_error = "no name server address"
        zone_key = dp.zone.key
        while failures < self.limits.upstream_retries:
            now = self.now()
            untried = [s for s in self._servers(dp) if s not in tried]
            # servers that timed out again and again are left alone until their
            # backoff ends (RFC 9520 s3: a dead zone is not hammered)
            candidates = [s for s in untried if not self.infra.is_down(s, now)]
            if not candidates:
                if untried:
                    last_error = f"every name server of {dp.zone} is backed off after timeouts"
                if await self._more_addresses(dp, state, depth, tried_names):
                    continue
                if timed_out and rounds < 1:
                    # every server was tried: ask the ones that only timed out once more,
                    # with the longer timeout the infra cache now gives them
                    rounds += 1
                    tried -= timed_out
                    timed_out.clear()
                    continue
                break
            # servers that gave this query bogus data are asked only when no other is
            # left (a one-off forgery may well be answered right the second time)
            preferred = [s for s in candidates if s[0] not in state.avoid]
            server = self.infra.order(preferred or candidates, zone_key, now)[0]
            tried.add(server)
            if self.settings.ratelimit > 0 and not take_token(
                    self._zone_rates, zone_key, self.settings.ratelimit, now):
                # as Unbound's ratelimit: the zone's servers are spared, the query fails
                self.counters.inc("upstream_ratelimited")
                raise ResolveError(f"{dp.zone} is over ratelimit "
                                   f"({self.settings.ratelimit:g} queries a second)", ede=0)
            try:
                reply = await self._exchange(server, qname, qtype, state, per_name,
                                             forward=dp.forward)
            except UpstreamTimeout as exc:
                failures += 1
                timed_out.add(server)
                last_error = str(exc)
                continue
            except UpstreamError as exc:
                failures += 1
                last_error = str(exc)
                continue
            cls = classify(reply, dp.zone, qname, qtype, self.limits,
                           sibling_glue=self.sibling_glue)
            if cls.kind in (Kind.LAME, Kind.ERROR):
                failures += 1
                last_error = f"{server[0]} answered {rcode_to_text(reply.rcode)} for {dp.zone}"
                if cls.kind == Kind.LAME:
                    self.infra.mark_lame(server, zone_key, self.now())
                continue
            state.last_server = server[0]
            return cls
        raise ResolveError(f"no usable answer from the servers of {dp.zone}: {last_error}",
                           ede=22 if "name server" in last_error else 23)

    async def _exchange(self, server: Server, qname: Name, qtype: int,
                        state: QueryState, per_name: NameQuota,
                        forward: bool = False) -> Message:
        """One query to one server: UDP, then TCP after TC or a suspected spoof;
        without EDNS for servers that answered FORMERR to it. *forward*: to a
        recursive upstream, RD=1 and (when validating) CD=1, so that its data comes
        to our validator unjudged."""
        info = self.infra.info(server)
        tcp = False
        edns = not info.no_edns
        for _ in range(3):
            state.spend(self.now())
            per_name.spend()
            query = wm.make_query(qname, qtype, edns=edns, do=self.settings.validate,
                                  payload=self.settings.edns_size, rd=forward,
                                  cd=forward and self.settings.validate)
            started = self.now()
            self.counters.inc("upstream_queries", ("tcp" if tcp else "udp",))
            if forward:
                self.counters.inc("upstream_forwarded")
            timeout = self.infra.timeout(server)
            # never wait past the wall-clock budget of the client query
            left = state.started + self.limits.wall_clock - started
            cut = left < timeout
            try:
                reply = (await self.transport.query(server, query, tcp=tcp,
                                                    timeout=max(0.05, left) if cut
                                                    else timeout)).message
            except SpoofSuspected:
                info.spoof_suspect += 1
                if tcp:
                    raise
                tcp = True
                self.counters.inc("upstream_tcp_fallbacks", ("spoof",))
                continue
            except UpstreamTimeout:
                self.counters.inc("upstream_timeouts")
                if log.isEnabledFor(logging.DEBUG):
                    log.debug("upstream %s %s %s (%s): timeout after %.0f ms", server[0],
                              qname, type_to_text(qtype), "tcp" if tcp else "udp",
                              (self.now() - started) * 1000)
                if not cut:   # our own budget ran out: not the server's fault
                    self.infra.timed_out(server, self.now())
                raise
            rtt = max(0.0, self.now() - started)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("upstream %s %s %s (%s): %s%s, %d answers, in %.1f ms", server[0],
                          qname, type_to_text(qtype), "tcp" if tcp else "udp",
                          rcode_to_text(reply.rcode), " TC" if reply.flags & TC else "",
                          len(reply.answer), rtt * 1000)
            self.infra.rtt_ok(server, rtt)
            self.counters.observe("upstream_rtt_seconds", rtt)
            if reply.flags & TC and not tcp:
                tcp = True
                self.counters.inc("upstream_tcp_fallbacks", ("truncated",))
                continue
            if reply.rcode == Rcode.FORMERR and edns:
                info.no_edns = True
                edns = False
                continue
            return reply
        raise UpstreamError(f"{server[0]}: no usable reply after retries")
