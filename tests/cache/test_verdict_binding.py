"""Issue 13 section 2: verdicts bound to the data they judged.

* The validator's verdict is written only onto the cache entry that still holds the
  records it judged: data stored under the same key while validation awaited the
  network (another query, a CNAME chain, a glueless NS lookup) stays unvalidated.
  Unit tests on the two caches, then the race end to end, with the different RRset
  slipped in at seeded points of a real validating resolution.
* A change of trust anchors or of negative trust anchors drops every cached verdict,
  the key cache and the wire answers, also through a running DNS server, and work
  begun under the old anchors writes nothing when it ends.
* The failure cache is a bounded LRU with the RFC 9520 backoff.

Runs against the project's ``zones/`` hierarchy (``hierarchy`` fixture, signed now),
with the root DS it was signed with as the trust anchor.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest

import resolver.service as service
from resolver.answer import Answer, IterResult
from resolver.cache.rrsets import (
    NXDOMAIN_TYPE,
    NegativeCache,
    NegEntry,
    Rank,
    RRsetCache,
)
from resolver.clock import FixedClock
from resolver.config import Settings
from resolver.dnssec.anchors import TrustAnchors
from resolver.dnssec.budget import Budget
from resolver.dnssec.status import Problem, Security
from resolver.iterate.transport import FakeTransport, Reply, Server
from resolver.server.listener import DnsServer
from resolver.service import Resolver
from resolver.validate.chain import Fetch
from resolver.validate.trace import Trace
from resolver.validate.validator import Outcome
from resolver.wire import message as wm
from resolver.wire.message import Message
from resolver.wire.name import Name
from resolver.wire.rrset import RRset
from resolver.wire.types import AD, Rcode, RRType
from tests.loop import LoopThread
from tests.networks import Net, run

SECURE_NAME = "www.secure.example."
NX_NAME = "nope.secure.example."
ZONE = "secure.example."
NTA_EDE = 33        # RFC 8914 / RFC 7646: Extended DNS Error "negative trust anchor"


def n(text: str) -> Name:
    return Name.from_text(text)


def a_set(name: str, *last: int, sigs: tuple[bytes, ...] = (), ttl: int = 300) -> RRset:
    return RRset(n(name), RRType.A, 1, ttl, [bytes((192, 0, 2, x)) for x in last], sigs)


def fake_sig(labels: int, fill: int = 1) -> bytes:
    """RRSIG RDATA good enough for the cache (type A, algorithm 13, *labels*)."""
    return b"\x00\x01\x0d" + bytes((labels,)) + bytes((fill,)) * 40


def nsec(owner: str, fill: int = 1) -> RRset:
    return RRset(n(owner), RRType.NSEC, 1, 300, [b"\x00" + bytes((fill,)) * 6],
                 [fake_sig(2, fill)])


def soa(fill: int = 1) -> RRset:
    return RRset(n("lab."), RRType.SOA, 1, 300, [b"\x00" * 22], [fake_sig(1, fill)])


# ----------------------------------------------------------------------------- unit
def test_rrset_verdict_lands_only_on_the_data_it_judged() -> None:
    cache = RRsetCache(1 << 20, FixedClock())
    judged = a_set("www.lab.", 1, sigs=(fake_sig(2),))
    assert cache.put(judged, Rank.AUTH_ANSWER)
    # another RRset of equal rank arrives while the first one is being validated
    other = a_set("www.lab.", 6, sigs=(fake_sig(2),))
    assert cache.put(other, Rank.AUTH_ANSWER)
    assert not cache.set_security(judged, Security.SECURE, None)
    entry = cache.get(n("www.lab."), RRType.A)
    assert entry is not None and entry.security is None and entry.rrset.rdatas == other.rdatas
    # the same records with other signatures are other data too
    resigned = a_set("www.lab.", 1, sigs=(fake_sig(2, fill=9),))
    assert cache.put(resigned, Rank.AUTH_ANSWER)
    assert not cache.set_security(judged, Security.SECURE, None)
    assert cache.get(n("www.lab."), RRType.A).security is None  # type: ignore[union-attr]
    # the judged data stored again (a refresh): the verdict is its own; the order of
    # records and signatures does not matter, nor the TTL
    again = RRset(n("www.lab."), RRType.A, 1, 100, list(reversed(judged.rdatas)), judged.sigs)
    assert cache.put(again, Rank.AUTH_ANSWER)
    assert cache.set_security(judged, Security.SECURE, None, ttl=60)
    entry = cache.get(n("www.lab."), RRType.A)
    assert entry is not None and entry.security == Security.SECURE


def test_rrset_verdict_not_written_onto_higher_ranked_data() -> None:
    """The iterator's RRset was not stored (a higher-ranked one was there): the verdict
    on the iterator's copy says nothing about the cached one."""
    cache = RRsetCache(1 << 20, FixedClock())
    assert cache.put(a_set("www.lab.", 6), Rank.AUTH_ANSWER)
    judged = a_set("www.lab.", 1)
    assert not cache.put(judged, Rank.ANSWER)
    assert not cache.set_security(judged, Security.SECURE, None)
    assert cache.get(n("www.lab."), RRType.A).security is None  # type: ignore[union-attr]


def test_unvalidated_replacement_never_inherits_security() -> None:
    cache = RRsetCache(1 << 20, FixedClock())
    judged = a_set("www.lab.", 1)
    cache.put(judged, Rank.ANSWER)
    assert cache.set_security(judged, Security.SECURE, None)
    # equal rank, unvalidated: refused; higher rank: stored, without the verdict
    assert not cache.put(a_set("www.lab.", 6), Rank.ANSWER)
    assert not cache.put(judged, Rank.ANSWER)
    assert cache.put(a_set("www.lab.", 6), Rank.AUTH_ANSWER)
    entry = cache.get(n("www.lab."), RRType.A)
    assert entry is not None and entry.security is None and entry.reason is None


def test_wildcard_verdict_needs_the_judged_proofs() -> None:
    """A wildcard expansion is secure with its proof of non-existence: an entry with the
    same RRset but other (or no) NSEC records gets no verdict."""
    cache = RRsetCache(1 << 20, FixedClock())
    zone = n("lab.")
    judged = a_set("x.w.lab.", 1, sigs=(fake_sig(2),))      # 2 labels < 3: a wildcard
    assert judged.from_wildcard()
    proof = nsec("w.lab.")
    cache.put(judged, Rank.AUTH_ANSWER, zone=zone, proofs=(nsec("w.lab.", fill=7),))
    assert not cache.set_security(judged, Security.SECURE, None, proofs=[proof])
    cache.put(judged, Rank.AUTH_ANSWER, zone=zone)
    assert not cache.set_security(judged, Security.SECURE, None, proofs=[proof])
    cache.put(judged, Rank.AUTH_ANSWER, zone=zone, proofs=(proof,))
    # proofs of another zone (another link of a CNAME chain) do not matter
    assert cache.set_security(judged, Security.SECURE, None,
                              proofs=[nsec("a.other."), proof])
    assert cache.get(n("x.w.lab."), RRType.A).security == Security.SECURE  # type: ignore[union-attr]


def test_negative_verdict_lands_only_on_the_denial_it_judged() -> None:
    cache = NegativeCache(1 << 20, FixedClock())
    name, zone = n("nope.lab."), n("lab.")
    proofs = [nsec("a.lab."), nsec("lab.")]

    def store(soa_rrset: RRset | None, records: list[RRset],
              rcode: int = Rcode.NXDOMAIN) -> None:
        key = NXDOMAIN_TYPE if rcode == Rcode.NXDOMAIN else RRType.A
        cache.put(NegEntry(name, key, rcode, zone, soa_rrset, list(records)), 300)

    def judge() -> bool:
        return cache.set_security(name, RRType.A, Security.SECURE, None, rcode=Rcode.NXDOMAIN,
                                  soa=soa(), proofs=proofs)

    def security() -> Security | None:
        entry = cache.get(name, RRType.A)
        assert entry is not None
        return entry.security

    for soa_rrset, records in [
            (soa(), [nsec("a.lab.", fill=5), nsec("lab.")]),   # one proof replaced
            (soa(), proofs[:1]),                                # one proof left out
            (soa(), [*proofs, nsec("b.lab.")]),                 # one proof slipped in
            (soa(fill=3), proofs),                              # another SOA signature
            (None, proofs)]:                                    # no SOA
        store(soa_rrset, records)
        assert not judge() and security() is None
    cache.delete(name, NXDOMAIN_TYPE)
    store(soa(), proofs, rcode=Rcode.NOERROR)                   # NODATA, not NXDOMAIN
    assert not judge() and security() is None
    cache.delete(name, RRType.A)
    store(soa(), list(reversed(proofs)))
    assert judge() and security() == Security.SECURE


def test_forget_verdicts_keeps_the_data() -> None:
    clock = FixedClock()
    rrsets, negative = RRsetCache(1 << 20, clock), NegativeCache(1 << 20, clock)
    judged = a_set("www.lab.", 1)
    rrsets.put(judged, Rank.AUTH_ANSWER)
    rrsets.set_security(judged, Security.SECURE, None)
    negative.put(NegEntry(n("nope.lab."), NXDOMAIN_TYPE, Rcode.NXDOMAIN, n("lab."), soa()),
                 300)
    negative.set_security(n("nope.lab."), RRType.A, Security.SECURE, None,
                          rcode=Rcode.NXDOMAIN, soa=soa(), proofs=[])
    rrsets.forget_verdicts()
    negative.forget_verdicts()
    entry, neg = rrsets.get(n("www.lab."), RRType.A), negative.get(n("nope.lab."), RRType.A)
    assert entry is not None and entry.security is None and entry.rrset.rdatas == judged.rdatas
    assert neg is not None and neg.security is None


# ----------------------------------------------------------------------------- end to end
@dataclass(slots=True)
class Signed:
    """The zones/ hierarchy with the root DS to anchor a validating resolver on."""

    net: Net
    ds: Path

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {"validate": True, "trust_anchors": [self.ds],
                                  "nodefault": ["example.", "internal."]}
        values.update(overrides)
        return self.net.settings(**values)

    def resolver(self, **overrides: Any) -> Resolver:
        return Resolver(self.settings(**overrides))


@pytest.fixture(scope="module")
def signed(hierarchy: Net, tmp_path_factory: pytest.TempPathFactory) -> Signed:
    paths = hierarchy.net.write_outputs(tmp_path_factory.mktemp("verdicts"))
    return Signed(hierarchy, paths["ds"])


def ask(resolver: Resolver, name: str, rtype: int = RRType.A) -> Answer:
    return run(resolver.resolve(n(name), rtype))


def during_validation(resolver: Resolver, action: Callable[[IterResult], None],
                      steps: int) -> None:
    """Make *action* run while the resolver's validator is at work: *steps* turns of
    the event loop after validation began (0: before its first step; many: once it is
    done, but before the verdicts are written). Only the first validation is hooked."""
    real = resolver.validator.validate
    armed = [True]

    async def racing(qname: Name, qtype: int, result: IterResult, fetch: Fetch,
                     budget: Budget, trace: Trace) -> Outcome:
        if not armed[0]:
            return await real(qname, qtype, result, fetch, budget, trace)
        armed[0] = False

        async def meddle() -> None:
            for _ in range(steps):
                await asyncio.sleep(0)
            action(result)
        meddler = asyncio.ensure_future(meddle())
        outcome = await real(qname, qtype, result, fetch, budget, trace)
        await meddler
        return outcome

    resolver.validator.validate = racing  # type: ignore[method-assign]


def forgeries(genuine: RRset) -> list[RRset]:
    """Other RRsets for the same owner and type: other data under the genuine RRSIGs,
    the genuine data under a damaged RRSIG, and unsigned other data."""
    damaged = bytearray(genuine.sigs[0])
    damaged[-1] ^= 0xFF
    return [
        RRset(genuine.name, genuine.rtype, 1, genuine.ttl, [bytes((198, 51, 100, 66))],
              genuine.sigs),
        RRset(genuine.name, genuine.rtype, 1, genuine.ttl, genuine.rdatas, [bytes(damaged)]),
        RRset(genuine.name, genuine.rtype, 1, genuine.ttl, [bytes((198, 51, 100, 67))]),
    ]


def same(a: RRset, b: RRset) -> bool:
    return sorted(a.rdatas) == sorted(b.rdatas) and sorted(a.sigs) == sorted(b.sigs)


def check_never_secure(resolver: Resolver, genuine: RRset) -> None:
    """Whatever the cache holds, only the genuine data is ever secure."""
    entry = resolver.rrsets.get(genuine.name, genuine.rtype)
    if entry is not None and entry.security == Security.SECURE:
        assert same(entry.rrset, genuine), "unvalidated data labelled secure in the cache"
    later = ask(resolver, SECURE_NAME)
    if later.security == Security.SECURE:
        assert later.answer and same(later.answer[0], genuine), "forged data answered secure"
    else:
        assert later.rcode == Rcode.SERVFAIL and later.security == Security.BOGUS


def slip_in_rrset(resolver: Resolver, forged: RRset) -> Callable[[IterResult], None]:
    """An action for :func:`during_validation`: store *forged* over the answer."""
    def action(result: IterResult) -> None:
        assert resolver.rrsets.put(forged, Rank.AUTH_ANSWER, zone=n(ZONE))
    return action


def test_rrset_slipped_in_during_validation_is_never_secure(signed: Signed) -> None:
    reference = ask(signed.resolver(), SECURE_NAME)
    assert reference.security == Security.SECURE
    genuine = reference.answer[0]
    for forged in forgeries(genuine):
        for steps in (0, 1, 3, 10, 10_000):
            resolver = signed.resolver()
            during_validation(resolver, slip_in_rrset(resolver, forged), steps)
            first = ask(resolver, SECURE_NAME)
            # the answer in flight was validated as it came: the genuine one, secure
            assert first.security == Security.SECURE and same(first.answer[0], genuine)
            entry = resolver.rrsets.get(n(SECURE_NAME), RRType.A)
            assert entry is not None and same(entry.rrset, forged)
            assert entry.security is None, (steps, "the verdict went onto other data")
            check_never_secure(resolver, genuine)


async def race(resolver: Resolver, forged: RRset, after: int, turns: int) -> Answer:
    """Resolve the secure name, storing *forged* over it *turns* turns of the event
    loop after the *after*-th upstream reply (or once all is done, if fewer came)."""
    meddlers: list[asyncio.Future[None]] = []
    replies = 0

    async def meddle() -> None:
        for _ in range(turns):
            await asyncio.sleep(0)
        resolver.rrsets.put(forged, Rank.AUTH_ANSWER, zone=n(ZONE))

    real = resolver.transport.query

    async def counting(server: Server, query: Message, *, tcp: bool,
                       timeout: float) -> Reply:
        nonlocal replies
        if replies == after and not meddlers:
            meddlers.append(asyncio.ensure_future(meddle()))
        reply = await real(server, query, tcp=tcp, timeout=timeout)
        replies += 1
        return reply

    resolver.transport.query = counting  # type: ignore[method-assign]
    answer = await resolver.resolve(n(SECURE_NAME), RRType.A)
    if not meddlers:
        meddlers.append(asyncio.ensure_future(meddle()))
    await asyncio.gather(*meddlers)
    return answer


def test_rrset_race_at_seeded_interleavings(signed: Signed) -> None:
    """A cold resolver resolves and validates the name; the forged RRset is stored a
    few turns of the event loop after its k-th upstream reply (seeded): before the
    genuine one is cached (which then replaces it), while the referrals, the answer
    or the keys of the validation come in, or after the verdict (when the secure
    entry is kept). In every case only the genuine data ends up secure."""
    genuine = ask(signed.resolver(), SECURE_NAME).answer[0]
    rng = random.Random(20261128)
    variants = forgeries(genuine)
    for _ in range(16):
        forged = rng.choice(variants)
        after, turns = rng.randrange(0, 10), rng.randrange(0, 4)
        resolver = signed.resolver()
        first = run(race(resolver, forged, after, turns))
        assert first.security == Security.SECURE and same(first.answer[0], genuine)
        check_never_secure(resolver, genuine)


def slip_in_denial(resolver: Resolver, strip: bool) -> Callable[[IterResult], None]:
    """An action for :func:`during_validation`: store another denial of the name,
    without its NSEC records (*strip*) or with a damaged SOA signature."""
    def action(result: IterResult) -> None:
        assert result.soa is not None
        forged_soa = result.soa
        if not strip:
            sig = bytearray(result.soa.sigs[0])
            sig[-1] ^= 0xFF
            forged_soa = RRset(result.soa.name, RRType.SOA, 1, result.soa.ttl,
                               result.soa.rdatas, [bytes(sig)])
        proofs = [] if strip else list(result.proofs)
        resolver.negative.put(NegEntry(n(NX_NAME), NXDOMAIN_TYPE, Rcode.NXDOMAIN, n(ZONE),
                                       forged_soa, proofs), 300)
    return action


def soa_of(answer: Answer) -> RRset:
    return next(rs for rs in answer.authority if rs.rtype == RRType.SOA)


def test_denial_slipped_in_during_validation_is_never_secure(signed: Signed) -> None:
    reference = ask(signed.resolver(), NX_NAME)
    assert (reference.rcode, reference.security) == (Rcode.NXDOMAIN, Security.SECURE)
    for steps in (0, 2, 10_000):
        for strip in (True, False):
            resolver = signed.resolver()
            during_validation(resolver, slip_in_denial(resolver, strip), steps)
            first = ask(resolver, NX_NAME)
            assert (first.rcode, first.security) == (Rcode.NXDOMAIN, Security.SECURE)
            entry = resolver.negative.get(n(NX_NAME), RRType.A)
            assert entry is not None and entry.security is None, (steps, strip)
            later = ask(resolver, NX_NAME)
            # judged when used, the slipped-in denial is bogus, so it is fetched anew
            # before any SERVFAIL (issue 14): the genuine denial is answered secure
            assert (later.rcode, later.security) == (Rcode.NXDOMAIN, Security.SECURE)
            assert same(soa_of(later), soa_of(reference))
            assert resolver.counters.get("upstream_bogus", ("denial",)) == 1


# ----------------------------------------------------------------------------- anchors
def test_negative_trust_anchor_change_drops_cached_verdicts(signed: Signed) -> None:
    resolver = signed.resolver()
    assert ask(resolver, SECURE_NAME).security == Security.SECURE
    assert ask(resolver, NX_NAME).security == Security.SECURE
    entry = resolver.rrsets.get(n(SECURE_NAME), RRType.A)
    assert entry is not None and entry.security == Security.SECURE
    with_nta = signed.settings(negative_anchors=[(ZONE, time.time() + 3600)])
    resolver.apply_settings(with_nta)
    assert entry.security is None and len(resolver.keys) == 0
    for name, rcode in ((SECURE_NAME, Rcode.NOERROR), (NX_NAME, Rcode.NXDOMAIN)):
        answer = ask(resolver, name)
        assert (answer.rcode, answer.security) == (rcode, Security.INSECURE), name
        assert answer.reason is not None and answer.reason.problem == Problem.NEGATIVE_ANCHOR
        assert [code for code, _ in answer.ede] == [NTA_EDE]
    resolver.apply_settings(signed.settings())          # the NTA removed
    assert ask(resolver, SECURE_NAME).security == Security.SECURE
    assert ask(resolver, NX_NAME).security == Security.SECURE
    # settings applied again unchanged: the verdicts stay
    resolver.apply_settings(signed.settings())
    again = resolver.rrsets.get(n(SECURE_NAME), RRType.A)
    assert again is not None and again.security == Security.SECURE


def test_trust_anchor_change_drops_cached_verdicts(signed: Signed) -> None:
    resolver = signed.resolver()
    anchors = resolver.anchors
    assert ask(resolver, SECURE_NAME).security == Security.SECURE
    resolver.set_anchors(TrustAnchors())                # nothing is anchored any more
    answer = ask(resolver, SECURE_NAME)
    assert answer.security == Security.INSECURE
    assert answer.reason is not None and answer.reason.problem == Problem.NO_ANCHOR
    resolver.set_anchors(anchors)
    assert ask(resolver, SECURE_NAME).security == Security.SECURE
    # a SIGHUP reading the same anchors again keeps what was judged
    keys = len(resolver.keys)
    resolver.reload_anchors(signed.settings())
    entry = resolver.rrsets.get(n(SECURE_NAME), RRType.A)
    assert entry is not None and entry.security == Security.SECURE
    assert len(resolver.keys) == keys > 0


def drop_anchors(resolver: Resolver, _: IterResult) -> None:
    resolver.set_anchors(TrustAnchors())


def test_work_begun_under_old_anchors_writes_nothing(signed: Signed) -> None:
    """The anchors change while a query is being validated: that query's answer is
    the old anchors' (it was asked before), but no verdict and no key entry it worked
    out is cached, and the next query is judged under the new anchors."""
    for steps in (0, 5, 10_000):
        resolver = signed.resolver()
        during_validation(resolver, partial(drop_anchors, resolver), steps)
        ask(resolver, SECURE_NAME)
        entry = resolver.rrsets.get(n(SECURE_NAME), RRType.A)
        assert entry is not None and entry.security is None, steps
        assert all(resolver.keys.get(n(z)) is None for z in (".", "example.", ZONE)), steps
        answer = ask(resolver, SECURE_NAME)
        assert answer.security == Security.INSECURE, steps


@dataclass(slots=True)
class Running:
    server: DnsServer
    resolver: Resolver
    loop: LoopThread

    @property
    def port(self) -> int:
        return self.server.bound[0][1]

    def ask(self, name: str, *, rd: bool = True) -> Message:
        query = wm.make_query(n(name), RRType.A, rd=rd, do=True)
        return self.loop.run(_udp(self.port, query.to_wire()))


async def _udp(port: int, wire: bytes) -> Message:
    loop = asyncio.get_running_loop()
    reply: asyncio.Future[bytes] = loop.create_future()

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
            if not reply.done():
                reply.set_result(data)

    transport, _ = await loop.create_datagram_endpoint(
        Client, remote_addr=("127.0.0.1", port))
    try:
        transport.sendto(wire)
        return wm.parse(await asyncio.wait_for(reply, 10))
    finally:
        transport.close()


@pytest.fixture
def server(signed: Signed, loop_thread: LoopThread) -> Iterator[Running]:
    settings = signed.settings(listen=[("127.0.0.1", 0)])
    resolver = Resolver(settings)
    server = DnsServer(resolver, settings)
    loop_thread.run(server.start())
    yield Running(server, resolver, loop_thread)
    loop_thread.run(server.stop())


def test_anchor_change_reaches_the_wire_answer_cache(server: Running, signed: Signed) -> None:
    """Through the DNS port: the answer cached with AD is not served once an NTA
    covers the zone (SIGHUP path: reload_anchors, then apply_settings), nor the
    insecure one once it is gone; RD=0 (cache only) sees the same."""
    dns = server
    first = dns.ask(SECURE_NAME)
    assert first.flags & AD and first.rcode == Rcode.NOERROR
    hits = dns.server.stats.fast_hits
    assert dns.ask(SECURE_NAME).flags & AD
    assert dns.server.stats.fast_hits == hits + 1        # from the wire cache

    def reload(settings: Settings) -> None:
        dns.resolver.reload_anchors(settings)
        dns.resolver.apply_settings(settings)
        dns.server.apply_settings(settings)

    dns.loop.call(lambda: reload(signed.settings(
        negative_anchors=[(ZONE, time.time() + 3600)])))
    assert len(dns.resolver.messages) == 0
    under_nta = dns.ask(SECURE_NAME)
    assert under_nta.rcode == Rcode.NOERROR and not under_nta.flags & AD
    assert [code for code, _ in under_nta.ede()] == [NTA_EDE]
    assert not dns.ask(SECURE_NAME, rd=False).flags & AD
    dns.loop.call(lambda: reload(signed.settings()))
    after = dns.ask(SECURE_NAME)
    assert after.flags & AD and not after.ede()
    cached_only = dns.ask(SECURE_NAME, rd=False)
    assert cached_only.rcode == Rcode.NOERROR and cached_only.flags & AD


def test_answer_resolved_across_an_anchor_change_is_not_kept(server: Running,
                                                             signed: Signed) -> None:
    """An NTA arrives while the server's query is being validated: that reply is the
    old anchors' (secure), but it is not stored in the wire answer cache, so the next
    query gets the NTA's answer."""
    dns = server
    until = time.time() + 3600
    during_validation(dns.resolver, lambda _: dns.resolver.apply_settings(
        signed.settings(negative_anchors=[(ZONE, until)])), 3)
    assert dns.ask(SECURE_NAME).flags & AD
    assert len(dns.resolver.messages) == 0
    later = dns.ask(SECURE_NAME)
    assert not later.flags & AD and [code for code, _ in later.ede()] == [NTA_EDE]


# ----------------------------------------------------------------------------- failures
def test_failure_cache_is_a_bounded_lru_with_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """A flood of failing names pushes out old failures, not one asked all along; the
    cache stays within its size; the RFC 9520 backoff is unchanged."""
    monkeypatch.setattr(service, "FAILURE_CACHE_SIZE", 40)

    async def silent(server: Server, query: Message, tcp: bool) -> Message | None:
        return None

    transport = FakeTransport(silent)
    clock = FixedClock()
    resolver = Resolver(Settings(validate=False, cache_size_mb=8.0), transport=transport,
                        now=clock)
    hot = n("hot.fail.example.")

    async def body() -> None:
        first = await resolver.resolve(hot, RRType.A)
        assert first.rcode == Rcode.SERVFAIL and first.ttl == service.FAILURE_TTL
        cached = resolver.stats.failures_cached
        for i in range(400):
            answer = await resolver.resolve(n(f"flood{i}.fail.example."), RRType.A)
            assert answer.rcode == Rcode.SERVFAIL
            if i % 10 == 9:     # the very answer cached first, not a new failure
                assert await resolver.resolve(hot, RRType.A) is first
            assert len(resolver._failures) <= 40
        assert resolver.stats.failures_cached == cached + 40
        # the oldest flood names are gone, the newest still answered from the cache
        cached = resolver.stats.failures_cached
        await resolver.resolve(n("flood399.fail.example."), RRType.A)
        assert resolver.stats.failures_cached == cached + 1
        await resolver.resolve(n("flood0.fail.example."), RRType.A)
        assert resolver.stats.failures_cached == cached + 1
        # backoff: failing again right after the answer ends doubles its TTL ...
        clock.advance(service.FAILURE_TTL + 1)
        second = await resolver.resolve(hot, RRType.A)
        assert second.ttl == 2 * service.FAILURE_TTL
        # ... and a quiet minute ends the streak
        clock.advance(second.ttl + service.FAILURE_TTL_MAX + 1)
        third = await resolver.resolve(hot, RRType.A)
        assert third.ttl == service.FAILURE_TTL

    run(body(), timeout=120)
