"""Issue 5, section 1 and 2: negative trust anchors, bogus caching with backoff, and the
same AD/SERVFAIL decision from the cache, for RD=0 and for cache hits.

Runs against the zones/ hierarchy (signed with the real clock). Tests that move time
give the resolver a fake clock that starts at the real time, for both TTLs and
signature validity, so the signatures stay valid while the caches age.
"""

from __future__ import annotations

import asyncio
from typing import Any

from resolver.answer import Answer
from resolver.clock import FixedClock
from resolver.config import ValidationLimits as Limits
from resolver.dnssec.status import Problem, Security
from resolver.server.listener import DnsServer
from resolver.service import Resolver
from resolver.validate.keycache import BOGUS_KEY_TTL
from resolver.wire import message as wm
from resolver.wire.message import Message
from resolver.wire.name import Name
from resolver.wire.types import AD, Rcode, RRType

from .conftest import Served, run


def ask(resolver: Resolver, name: str, rtype: int = RRType.A) -> Answer:
    return run(resolver.resolve(Name.from_text(name), rtype))


# --------------------------------------------------------------------------
# negative trust anchors (RFC 7646)

def test_negative_trust_anchor_makes_a_bogus_zone_insecure_until_it_expires(
        zones: Served) -> None:
    clock = FixedClock()
    resolver = zones.resolver(now=clock, validation_now=clock, negative_anchors=[
        ("bogus.example.", clock() + 100), ("expired.example.", clock() - 1)])
    answer = ask(resolver, "www.bogus.example.")
    assert (answer.rcode, answer.security) == (Rcode.NOERROR, Security.INSECURE)
    assert answer.reason is not None and answer.reason.problem == Problem.NEGATIVE_ANCHOR
    assert answer.answer and 0 < answer.ttl <= 100, "not cached past the anchor's end"
    assert "bogus.example." in answer.ede[0][1]
    below = ask(resolver, "nope.bogus.example.")
    assert (below.rcode, below.security) == (Rcode.NXDOMAIN, Security.INSECURE)
    # an expired anchor does nothing; other zones are not affected
    assert ask(resolver, "www.expired.example.").rcode == Rcode.SERVFAIL
    assert ask(resolver, "www.secure.example.").security == Security.SECURE
    # from the cache, still insecure while the anchor lasts
    assert ask(resolver, "www.bogus.example.").security == Security.INSECURE
    clock.advance(200)
    after = ask(resolver, "www.bogus.example.")
    assert (after.rcode, after.security) == (Rcode.SERVFAIL, Security.BOGUS)
    assert [code for code, _ in after.ede] == [6]
    assert ask(resolver, "nope.bogus.example.").security == Security.SECURE   # proofs intact


# --------------------------------------------------------------------------
# bogus answers are cached (RFC 9520), with backoff for the zone's keys

def test_bogus_answers_are_cached_and_not_fetched_again(zones: Served) -> None:
    resolver = zones.resolver()
    names = [("www.bogus.example.", RRType.A), ("www.expired.example.", RRType.A),
             ("cname-bogus.secure.example.", RRType.A), ("nope.nonsec.example.", RRType.A),
             ("www.stripped.example.", RRType.A)]
    first = [ask(resolver, n, t) for n, t in names]
    assert all(a.rcode == Rcode.SERVFAIL and a.security == Security.BOGUS for a in first)
    before = zones.upstream_queries()
    again = [ask(resolver, n, t) for n, t in names]
    assert zones.upstream_queries() == before, "a cached failure is not fetched again"
    assert [(a.rcode, a.security, a.ede) for a in again] == \
        [(a.rcode, a.security, a.ede) for a in first]
    assert all(0 < a.ttl <= resolver.settings.bogus_ttl for a in again)


def test_bogus_zone_keys_back_off(zones: Served) -> None:
    clock = FixedClock()
    resolver = zones.resolver(now=clock, validation_now=clock)
    zone = Name.from_text("expired.example.")
    lives = []
    for _ in range(3):
        assert ask(resolver, "www.expired.example.").rcode == Rcode.SERVFAIL
        entry = resolver.keys.get(zone)
        assert entry is not None and entry.security == Security.BOGUS
        life = 0
        while resolver.keys.get(zone) is not None and life < 2000:
            clock.advance(10)
            life += 10
        lives.append(life)
        clock.advance(61)        # the answer's own bogus TTL too
    assert lives[0] <= BOGUS_KEY_TTL + 10
    assert lives[1] > lives[0] and lives[2] > lives[1], lives


def test_spent_query_budget_does_not_poison_the_caches(zones: Served) -> None:
    """One query that runs out of its crypto budget is SERVFAIL, but neither the zones
    it was working on nor its RRsets become bogus for the next queries."""
    limits = Limits(verifications=4)
    resolver = zones.resolver(validation_limits=limits)
    spent = ask(resolver, "www.secure.example.")
    assert (spent.rcode, spent.security) == (Rcode.SERVFAIL, Security.BOGUS)
    assert spent.reason is not None and spent.reason.problem == Problem.BUDGET_EXCEEDED
    limits.verifications = 32
    for name in ("ok.secure.example.", "www.secure.example."):
        answer = ask(resolver, name)
        assert answer.security == Security.SECURE, (name, answer.reason)


# --------------------------------------------------------------------------
# what the DNS server answers: RD=0 and cache hits keep the decision

async def _udp(port: int, wire: bytes) -> Message:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[bytes] = loop.create_future()

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: Any) -> None:
            if not done.done():
                done.set_result(data)

    transport, _ = await loop.create_datagram_endpoint(Client,
                                                       remote_addr=("127.0.0.1", port))
    try:
        transport.sendto(wire)
        return wm.parse(await asyncio.wait_for(done, 10))
    finally:
        transport.close()


def _decision(msg: Message) -> tuple[int, bool, list[int]]:
    return msg.rcode, bool(msg.flags & AD), [code for code, _ in msg.ede()]


def test_rd0_and_cache_hits_give_the_same_decision(zones: Served) -> None:
    cases = {"www.secure.example.": (Rcode.NOERROR, True),
             "www.insecure.example.": (Rcode.NOERROR, False),
             "www.bogus.example.": (Rcode.SERVFAIL, False),
             "nope.nsec3.example.": (Rcode.NXDOMAIN, True),
             "nope.iter200.example.": (Rcode.NXDOMAIN, False),
             "cname-bogus.secure.example.": (Rcode.SERVFAIL, False)}

    async def body() -> list[str]:
        resolver = zones.resolver(listen=[("127.0.0.1", 0)])
        server = DnsServer(resolver, resolver.settings)
        await server.start()
        port = server.bound[0][1]
        problems = []
        try:
            for name, (rcode, ad) in cases.items():
                qname = Name.from_text(name)

                async def send(rd: bool, do: bool, ad_bit: bool = False,
                               qn: Name = qname) -> tuple[int, bool, list[int]]:
                    query = wm.make_query(qn, RRType.A, rd=rd, do=do, ad=ad_bit)
                    return _decision(await _udp(port, query.to_wire()))

                first = await send(True, True)
                if first[:2] != (rcode, ad):
                    problems.append(f"{name}: first answer {first}")
                if rcode == Rcode.SERVFAIL and not first[2]:
                    problems.append(f"{name}: SERVFAIL without EDE")
                for label, got in (("cache hit", await send(True, True)),
                                   ("RD=0", await send(False, True))):
                    if got != first:
                        problems.append(f"{name}: {label} {got} != first {first}")
                # another message-cache key (no DO, AD asked): answered from the RRset
                # caches with the verdict they keep
                via_ad = await send(True, False, True)
                if via_ad[:2] != first[:2]:
                    problems.append(f"{name}: AD query {via_ad} != first {first}")
                rd0_ad = await send(False, False, True)
                if rd0_ad[:2] != via_ad[:2]:
                    problems.append(f"{name}: RD=0 AD query {rd0_ad} != {via_ad}")
        finally:
            await server.stop()
        return problems

    problems = run(body())
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------
# RFC 8145 s5 key-tag signalling

def test_trust_anchor_signal_follows_priming_at_most_hourly(zones: Served) -> None:
    """Once the root keys validate, one query for _ta-<tags>. NULL goes to the root;
    priming again within the hour sends none; an hour later one more; switched off,
    none."""
    clock = FixedClock()
    resolver = zones.resolver(now=clock, validation_now=clock)
    tags = sorted({a.key_tag for a in resolver.anchors if a.zone.is_root()})
    expected = Name.from_text("_ta-" + "-".join(f"{t:04x}" for t in tags) + ".")

    def signals() -> int:
        return sum(1 for s in zones.net.servers.values() for q in list(s.queries)
                   if q[0] == expected and q[1] == RRType.NULL)

    def prime(r: Resolver) -> Answer:
        async def body() -> Answer:
            answer = await r.resolve(Name.from_text("www.secure.example."), RRType.A)
            while r._background:
                await asyncio.gather(*r._background)
            return answer
        r.keys.clear()
        r.rrsets.store.clear()
        r.negative.store.clear()
        return run(body())

    before = signals()
    assert prime(resolver).security == Security.SECURE
    assert resolver.stats.anchor_signals == 1 and signals() == before + 1
    prime(resolver)
    assert resolver.stats.anchor_signals == 1 and signals() == before + 1
    clock.advance(3601)
    prime(resolver)
    assert resolver.stats.anchor_signals == 2 and signals() == before + 2
    quiet = zones.resolver(trust_anchor_signaling=False)
    assert prime(quiet).security == Security.SECURE
    assert quiet.stats.anchor_signals == 0 and signals() == before + 2
