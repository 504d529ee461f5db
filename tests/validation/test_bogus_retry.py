"""Issue 14 s2: try another server before giving up.

``flaky.example.`` has two name servers: ns1 (127.0.0.25) serves every RRSIG with a
bit flipped (``corrupt_rrsig``), ns2 (127.0.0.26) the genuine zone; its child
``sub.flaky.example.`` (on a good server) gets its DS from them. Server choice is
RTT-ordered, so each test makes ns1 the server asked first (a low smoothed RTT in the
resolver's infrastructure cache) and checks that ns1 was really asked: the answer
must still be secure, and the bogus answers asked again are counted in
``resolver_upstream_bogus_total``. Variants damage only the DNSKEY RRSIGs, only the
DS RRSIGs at the parent, or forge one reply once (the root's DNSKEY set; the CD=1 /
CD=0 race on a cold cache).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from resolver.answer import Answer
from resolver.dnssec.status import Security
from resolver.metrics import registry_for, render
from resolver.service import Resolver
from resolver.testnet.faults import Faults
from resolver.testnet.server import AuthServer, corrupt_signature
from resolver.validate.chain import KEY_RETRIES
from resolver.wire.message import RR, Message
from resolver.wire.name import Name
from resolver.wire.types import Rcode, RRType, type_from_text

from .conftest import Served, run

BAD, GOOD = "127.0.0.25", "127.0.0.26"
FLAKY = Name.from_text("flaky.example.")
SEC = Security.SECURE


def prefer(resolver: Resolver, served: Served, first: str, then: str) -> None:
    """Make *first* the server the resolver asks first among the two (RTT order)."""
    resolver.infra.rtt_ok((first, served.port), 0.0005)
    resolver.infra.rtt_ok((then, served.port), 0.5)


def queries_to(served: Served, address: str, zone: Name) -> int:
    """Queries *address* has seen for names in *zone* so far."""
    return sum(1 for name, _, _ in served.net.servers[address].queries
               if name.is_subdomain(zone))


def addresses(answer: Answer) -> list[str]:
    return [rr.to_text().split()[-1] for rs in answer.answer if rs.rtype == RRType.A
            for rr in rs.records()]


def resolve(resolver: Resolver, name: str, rtype: str = "A", cd: bool = False) -> Answer:
    return run(resolver.resolve(Name.from_text(name), type_from_text(rtype), cd=cd))


@contextmanager
def faults_on(served: Served, address: str, zone: Name, **kwargs: object) -> Iterator[Faults]:
    """Replace the faults of *zone* on one server for the test, then put them back."""
    server: AuthServer = served.net.servers[address]
    saved = server.faults.get(zone.key)
    try:
        yield server.set_faults(zone, **kwargs)
    finally:
        if saved is None:
            server.faults.pop(zone.key, None)
        else:
            server.faults[zone.key] = saved


def corrupt_sigs_over(rtype: int) -> Callable[[Message, Message], None]:
    """A rewrite that breaks only the RRSIGs covering *rtype*, in every section."""
    def rewrite(query: Message, reply: Message) -> None:
        del query
        for section in (reply.answer, reply.authority, reply.additional):
            for index, rr in enumerate(section):
                if rr.rtype == RRType.RRSIG and int.from_bytes(rr.rdata[:2], "big") == rtype:
                    section[index] = RR(rr.name, rr.rtype, rr.rclass, rr.ttl,
                                        corrupt_signature(rr.rdata))
    return rewrite


def test_bad_secondary_does_not_fail_the_zone(zones: Served) -> None:
    """Done-when 1: one server with bad signatures, one good: secure every time, for
    resolvers that ask the bad one first and for resolvers left to their own order;
    the bad server's answers are counted."""
    for trial in range(6):
        resolver = zones.resolver()
        biased = trial % 2 == 0
        if biased:
            prefer(resolver, zones, BAD, GOOD)
        before = queries_to(zones, BAD, FLAKY)
        answer = resolve(resolver, "www.flaky.example.")
        assert (answer.rcode, answer.security) == (Rcode.NOERROR, SEC), (trial, answer.reason)
        assert addresses(answer) == ["192.0.2.58"]
        if biased:
            assert queries_to(zones, BAD, FLAKY) > before, "the bad server was asked"
            assert resolver.counters.get("upstream_bogus", ("answer",)) >= 1
            assert resolver.counters.get("upstream_bogus", ("keys",)) >= 1   # its DNSKEY
        # the secure verdict is cached: asked again, no more retries and no SERVFAIL
        counted = resolver.counters.total("upstream_bogus")
        again = resolve(resolver, "www.flaky.example.")
        assert again.security == SEC and resolver.counters.total("upstream_bogus") == counted


def test_bad_secondary_metric_is_exported(zones: Served) -> None:
    resolver = zones.resolver()
    prefer(resolver, zones, BAD, GOOD)
    assert resolve(resolver, "txt.flaky.example.", "TXT").security == SEC
    text = render(registry_for(resolver)).decode()
    assert 'resolver_upstream_bogus_total{kind="answer"} 1.0' in text
    assert "flaky" not in text and BAD not in text     # no names, no addresses as labels


def test_denial_from_the_bad_server_is_fetched_again(zones: Served) -> None:
    resolver = zones.resolver()
    prefer(resolver, zones, BAD, GOOD)
    answer = resolve(resolver, "nope.flaky.example.")
    assert (answer.rcode, answer.security) == (Rcode.NXDOMAIN, SEC), answer.reason
    assert resolver.counters.get("upstream_bogus", ("denial",)) >= 1


def test_bad_dnskey_rrsig_is_fetched_again(zones: Served) -> None:
    """Only the DNSKEY set's RRSIGs are bad at ns1: the key entry is worked out again
    from ns2 before it is cached bogus; the (good) answer itself is not asked again."""
    with faults_on(zones, BAD, FLAKY, rewrite=corrupt_sigs_over(RRType.DNSKEY)):
        resolver = zones.resolver()
        prefer(resolver, zones, BAD, GOOD)
        answer = resolve(resolver, "www.flaky.example.")
        assert (answer.rcode, answer.security) == (Rcode.NOERROR, SEC), answer.reason
        assert resolver.counters.get("upstream_bogus", ("keys",)) >= 1
        assert resolver.counters.get("upstream_bogus", ("answer",)) == 0
        entry = resolver.keys.get(FLAKY)
        assert entry is not None and entry.security == SEC


def test_bad_ds_at_the_parent_is_fetched_again(zones: Served) -> None:
    """Only the DS RRSIGs are bad at ns1 of the parent (in its referrals and in its
    answers to DS queries): the DS of sub.flaky.example. is asked again elsewhere."""
    child = Name.from_text("sub.flaky.example.")
    with faults_on(zones, BAD, FLAKY, rewrite=corrupt_sigs_over(RRType.DS)):
        resolver = zones.resolver()
        prefer(resolver, zones, BAD, GOOD)
        answer = resolve(resolver, "www.sub.flaky.example.")
        assert (answer.rcode, answer.security) == (Rcode.NOERROR, SEC), answer.reason
        assert addresses(answer) == ["192.0.2.59"]
        assert resolver.counters.get("upstream_bogus", ("keys",)) >= 1
        entry = resolver.keys.get(child)
        assert entry is not None and entry.security == SEC


def test_every_server_bad_is_still_bogus_and_bounded(zones: Served) -> None:
    """Both servers bad: SERVFAIL after a bounded number of retries, and the bogus
    verdict is then cached (no retries for the next client within bogus-ttl)."""
    with faults_on(zones, GOOD, FLAKY, corrupt_rrsig=True):
        resolver = zones.resolver()
        before = zones.upstream_queries()
        answer = resolve(resolver, "www.flaky.example.")
        assert (answer.rcode, answer.security) == (Rcode.SERVFAIL, Security.BOGUS)
        assert zones.upstream_queries() - before < 40
        # the DNSKEY set is bad everywhere: asked again, the other server gave the very
        # same records, so the entry is not worked out again (no more crypto) and is
        # cached bogus; the answer, bogus for its keys, is not asked again
        assert 1 <= resolver.counters.get("upstream_bogus", ("keys",)) <= KEY_RETRIES
        assert resolver.counters.get("upstream_bogus", ("answer",)) == 0
        counted = resolver.counters.total("upstream_bogus")
        sent = zones.upstream_queries()
        again = resolve(resolver, "www.flaky.example.")
        assert again.rcode == Rcode.SERVFAIL
        assert resolver.counters.total("upstream_bogus") == counted
        assert zones.upstream_queries() == sent


def one_shot(forge: Callable[[Message, Message], None], qname: Name,
             qtype: int) -> tuple[Callable[[Message, Message], None], list[int]]:
    """A rewrite that forges only the first reply to (qname, qtype); and its count."""
    fired: list[int] = []

    def rewrite(query: Message, reply: Message) -> None:
        q = query.question[0]
        if fired or q.name != qname or q.qtype != qtype:
            return
        fired.append(1)
        forge(query, reply)
    return rewrite, fired


def test_forged_root_dnskey_once_is_fetched_again(zones: Served) -> None:
    """Priming: the root (one server) sends a forged DNSKEY set once; asked again, the
    same server gives the genuine one."""
    root = Name.from_text(".")
    rewrite, fired = one_shot(corrupt_sigs_over(RRType.DNSKEY), root, RRType.DNSKEY)
    with faults_on(zones, "127.0.0.21", root, rewrite=rewrite):
        resolver = zones.resolver()
        answer = resolve(resolver, "www.secure.example.")
        assert fired, "the forgery was sent"
        assert (answer.rcode, answer.security) == (Rcode.NOERROR, SEC), answer.reason
        assert resolver.counters.get("upstream_bogus", ("keys",)) == 1


def forge_address(query: Message, reply: Message) -> None:
    """Replace the address of the answer, keeping its RRSIG (now a bad signature)."""
    del query
    reply.answer = [RR(rr.name, rr.rtype, rr.rclass, rr.ttl, bytes((192, 0, 2, 66)))
                    if rr.rtype == RRType.A else rr for rr in reply.answer]


def test_cd_race_with_a_forged_first_reply(zones: Served) -> None:
    """Done-when 2: a CD=1 and a CD=0 query race on a cold cache and the first upstream
    reply for the name is forged. Over seeded trials, whichever query gets the forged
    reply and in whatever order they run, the CD=0 client gets the genuine data with
    AD, and so does the next CD=0 client (from the cache). (With seed 1414 the CD=1
    query got the forged reply in 11 of the 20 trials, the CD=0 query in the others:
    both the "cached unchecked" and the "own reply forged" paths are taken.)"""
    qname = Name.from_text("www.secure.example.")
    zone = Name.from_text("secure.example.")
    rng = random.Random(1414)
    for trial in range(20):
        rewrite, fired = one_shot(forge_address, qname, RRType.A)
        with faults_on(zones, "127.0.0.23", zone, rewrite=rewrite):
            resolver = zones.resolver()
            delays = (rng.uniform(0, 0.02), rng.uniform(0, 0.02))

            async def race(resolver: Resolver = resolver,
                           delays: tuple[float, float] = delays) -> list[Answer]:
                async def one(cd: bool, delay: float) -> Answer:
                    await asyncio.sleep(delay)
                    return await resolver.resolve(qname, RRType.A, cd=cd)
                return list(await asyncio.gather(one(True, delays[0]),
                                                 one(False, delays[1])))
            _, checked = run(race())
            assert fired, f"trial {trial}: the forgery was sent"
            assert (checked.rcode, checked.security) == (Rcode.NOERROR, SEC), \
                f"trial {trial}: {checked.reason}"
            assert addresses(checked) == ["192.0.2.30"], trial
            later = run(resolver.resolve(qname, RRType.A))
            assert later.security == SEC and addresses(later) == ["192.0.2.30"], trial
