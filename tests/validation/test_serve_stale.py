"""Serve-stale (RFC 8767) and prefetch (issue 17 s1), on the zones/ test network.

The cache is aged with a fake clock (validation uses it too: the test network signs
with the real time, well inside the RRSIG windows); a zone's server is made dead with
a timeout fault on that zone, and the previous faults are put back afterwards."""

from __future__ import annotations

import asyncio
from contextlib import AbstractContextManager
from typing import Any

from resolver.answer import Answer, build_response
from resolver.cache.stale import signatures_end
from resolver.clock import FixedClock
from resolver.dnssec.status import Security
from resolver.service import Resolver
from resolver.wire import message as wm
from resolver.wire.name import Name
from resolver.wire.types import AD, Rcode, RRType

from .conftest import Served, run
from .zone_faults import zone_faults

SECURE = Name.from_text("secure.example.")
BOGUS = Name.from_text("bogus.example.")
NSEC3 = Name.from_text("nsec3.example.")
SERVERS = {SECURE.key: "127.0.0.23", BOGUS.key: "127.0.0.24", NSEC3.key: "127.0.0.23"}


def dead(served: Served, zone: Name) -> AbstractContextManager[None]:
    """The server of *zone* times out for it; its previous faults come back after."""
    return zone_faults(served, SERVERS[zone.key], zone, timeout=True)


def make(served: Served, clock: FixedClock, **overrides: object) -> Resolver:
    values: dict[str, object] = {"max_ttl": 60, **overrides}
    resolver = served.resolver(now=clock, validation_now=clock, trust_anchor_signaling=False,
                               **values)
    resolver.iterator.limits.wall_clock = 3.0    # a dead server fails fast
    return resolver


def ask(resolver: Resolver, name: str, rtype: int = RRType.A) -> Answer:
    return run(resolver.resolve(Name.from_text(name), rtype))


def ad_bit(answer: Answer) -> bool:
    query = wm.make_query(answer.qname, answer.qtype, do=True)
    return bool(wm.parse(build_response(query, answer, max_size=None)).flags & AD)


def test_stale_answer_when_the_zone_is_dead(zones: Served) -> None:
    clock = FixedClock()
    resolver = make(zones, clock, stale_max=10 ** 9)
    fresh = ask(resolver, "www.secure.example.")
    assert (fresh.rcode, fresh.security) == (Rcode.NOERROR, Security.SECURE)
    clock.advance(120)                     # the data expired a minute ago
    with dead(zones, SECURE):
        stale = ask(resolver, "www.secure.example.")
        assert stale.rcode == Rcode.NOERROR
        assert [r.rdatas for r in stale.answer] == [r.rdatas for r in fresh.answer]
        assert all(r.ttl == 30 for r in stale.answer)
        assert stale.ede[0][0] == 3
        assert stale.security == Security.SECURE and ad_bit(stale), "RRSIGs still valid"
        assert stale.ttl == 0, "never kept in the wire answer cache"
        assert resolver.counters.get("stale_answers") >= 1
        # the failure is remembered (RFC 9520): still the stale answer, at once
        again = ask(resolver, "www.secure.example.")
        assert again.ede[0][0] == 3 and again.answer
        # past the RRSIGs' expiry: no AD any more
        kept = resolver._kept(Name.from_text("www.secure.example."), RRType.A)
        assert kept is not None
        sig_until = signatures_end(kept.answer, clock())
        assert sig_until is not None
        clock.when = sig_until + 1
        resolver._failures.clear()
        late = ask(resolver, "www.secure.example.")
        assert late.ede[0][0] == 3 and late.answer
        assert late.security != Security.SECURE and not ad_bit(late)
    # the server is back: fresh data again, no EDE
    resolver._failures.clear()
    clock.when = FixedClock().when + 240
    back = ask(resolver, "www.secure.example.")
    assert back.rcode == Rcode.NOERROR and 3 not in [c for c, _ in back.ede]


def test_stale_max_and_switch(zones: Served) -> None:
    clock = FixedClock()
    resolver = make(zones, clock, stale_max=600)
    assert ask(resolver, "www.secure.example.").security == Security.SECURE
    clock.advance(60 + 601)                 # expired more than stale-max ago
    with dead(zones, SECURE):
        assert ask(resolver, "www.secure.example.").rcode == Rcode.SERVFAIL
    off = make(zones, FixedClock(), serve_stale=False)
    assert ask(off, "www.secure.example.").security == Security.SECURE
    off.now.advance(120)  # type: ignore[attr-defined]
    with dead(zones, SECURE):
        answer = ask(off, "www.secure.example.")
        assert answer.rcode == Rcode.SERVFAIL and 3 not in [c for c, _ in answer.ede]


def test_bogus_data_is_never_served_stale(zones: Served) -> None:
    clock = FixedClock()
    resolver = make(zones, clock)
    first = ask(resolver, "www.bogus.example.")
    assert (first.rcode, first.security) == (Rcode.SERVFAIL, Security.BOGUS)
    assert resolver._kept(Name.from_text("www.bogus.example."), RRType.A) is None
    clock.advance(120)
    with dead(zones, BOGUS):
        answer = ask(resolver, "www.bogus.example.")
    assert answer.rcode == Rcode.SERVFAIL and 3 not in [c for c, _ in answer.ede]
    assert resolver.counters.get("stale_answers") == 0


def test_prefetch_refreshes_once_near_expiry(zones: Served) -> None:
    clock = FixedClock()
    resolver = make(zones, clock, prefetch=True, max_ttl=100)
    name = Name.from_text("www.secure.example.")

    async def body() -> tuple[Answer, Answer, Answer]:
        await resolver.resolve(name, RRType.A)
        clock.advance(50)                   # mid-life: no refresh
        await resolver.resolve(name, RRType.A)
        assert resolver.counters.get("prefetches", ("answer",)) == 0
        clock.advance(45)                   # last tenth of the TTL
        hit = await resolver.resolve(name, RRType.A)
        second = await resolver.resolve(name, RRType.A)   # waits for the same refresh
        assert resolver.counters.get("prefetches", ("answer",)) == 1
        await asyncio.gather(*resolver._inflight.values())     # the refresh
        fresh = await resolver.resolve(name, RRType.A)
        return hit, second, fresh

    hit, second, fresh = run(body())
    assert hit.answer and hit.answer[0].ttl <= 5
    assert second.security == Security.SECURE
    assert fresh.security == Security.SECURE and fresh.answer[0].ttl >= 95, "fresh data"
    assert resolver.counters.get("prefetches", ("answer",)) == 1, "refreshed once"


def test_prefetch_off_by_default_and_keys(zones: Served) -> None:
    clock = FixedClock()
    resolver = make(zones, clock, max_ttl=100)
    ask(resolver, "www.secure.example.")
    clock.advance(95)
    ask(resolver, "www.secure.example.")
    assert resolver.counters.total("prefetches") == 0
    keyed = make(zones, clock, prefetch_key=True, max_ttl=100)

    async def body() -> None:
        await keyed.resolve(Name.from_text("www.secure.example."), RRType.A)
        found = keyed.keys.store.peek(SECURE.key)
        assert found is not None
        clock.when = found[0] - found[1].ttl * 0.05     # the key set's last tenth
        await keyed.resolve(Name.from_text("www.secure.example."), RRType.AAAA)
        assert keyed.counters.get("prefetches", ("key",)) >= 1
        await asyncio.gather(*keyed._inflight.values())
        assert not keyed._refreshing
        again = keyed.keys.store.peek(SECURE.key)
        assert again is not None and again[1].secure and again[1] is not found[1], \
            "refreshed"

    run(body())


def test_wire_answers_of_stale_data_carry_ede_3_and_are_not_kept(zones: Served) -> None:
    from resolver.server.listener import DnsServer
    from resolver.wire.querykey import query_key

    clock = FixedClock()
    resolver = make(zones, clock)
    server = DnsServer(resolver, resolver.settings)
    data = wm.make_query(Name.from_text("www.secure.example."), RRType.A, rd=True).to_wire()

    def reply() -> wm.Message:
        raw = run(server.answer(data, "127.0.0.1", "udp", query_key(data)))
        assert raw is not None
        return wm.parse(raw)

    assert reply().flags & AD
    clock.advance(120)
    with dead(zones, SECURE):
        for _ in range(2):          # the second one is not from the wire answer cache
            stale = reply()
            assert stale.rcode == Rcode.NOERROR and stale.flags & AD
            assert [code for code, _ in stale.ede()][:1] == [3]
            assert all(rr.ttl == 30 for rr in stale.answer)


def test_client_response_timer_answers_stale_while_resolution_goes_on(
        zones: Served) -> None:
    """RFC 8767 s5: a resolution still running after 1.8 s is answered stale; it goes
    on in the background and its fresh answer is the next one."""
    import time

    clock = FixedClock()
    resolver = make(zones, clock)
    name = Name.from_text("www.secure.example.")
    assert ask(resolver, "www.secure.example.").security == Security.SECURE
    clock.advance(120)
    iterate = resolver.iterator.resolve

    async def slow(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(2.5)              # the servers take their time
        return await iterate(*args, **kwargs)

    resolver.iterator.resolve = slow  # type: ignore[method-assign]

    async def body() -> tuple[Answer, float, Answer]:
        started = time.monotonic()
        answer = await resolver.resolve(name, RRType.A)
        elapsed = time.monotonic() - started
        await asyncio.gather(*resolver._inflight.values())     # still going on
        resolver.iterator.resolve = iterate  # type: ignore[method-assign]
        return answer, elapsed, await resolver.resolve(name, RRType.A)

    answer, elapsed, after = run(body())
    assert answer.ede[0][0] == 3 and answer.answer
    assert 1.7 < elapsed < 2.4, elapsed
    assert after.security == Security.SECURE and 3 not in [c for c, _ in after.ede]
    assert after.answer[0].ttl > 30, "refreshed in the background"


def test_denials_are_served_stale_from_the_negative_cache_in_place(zones: Served) -> None:
    """Issue 17: no copy of the answer is kept; the expired denial stays in the
    negative cache (a miss for the iterator) and the stale answer is built from it."""
    clock = FixedClock()
    resolver = make(zones, clock, stale_max=10 ** 9)
    fresh = ask(resolver, "no-such-name.secure.example.")
    assert (fresh.rcode, fresh.security) == (Rcode.NXDOMAIN, Security.SECURE)
    entries = len(resolver.negative)
    clock.advance(4000)                     # past max-negative-ttl and the SOA minimum
    assert resolver.negative.get(Name.from_text("no-such-name.secure.example."),
                                 RRType.A) is None, "expired: a miss for normal lookups"
    assert len(resolver.negative) == entries, "but still in place"
    with dead(zones, SECURE):
        stale = ask(resolver, "no-such-name.secure.example.")
    assert stale.rcode == Rcode.NXDOMAIN and stale.ede[0][0] == 3
    assert any(r.rtype == RRType.SOA for r in stale.authority)
    assert all(r.ttl == 30 for r in stale.authority)


def test_stale_answers_follow_a_cached_dname(zones: Served) -> None:
    """A name never asked, below a cached DNAME (dname.secure.example. -> nsec3.example.)
    whose target's data is cached: served stale as the iterator answers it fresh, the
    DNAME, the CNAME synthesised from it and the target's records, secure and AD."""
    reference = ask(make(zones, FixedClock()), "www.dname.secure.example.")
    assert reference.rcode == Rcode.NOERROR and reference.security == Security.SECURE
    clock = FixedClock()
    resolver = make(zones, clock, stale_max=10 ** 9)
    assert ask(resolver, "www.nsec3.example.").answer           # the target's data
    other = ask(resolver, "nx.dname.secure.example.")           # the DNAME, cached
    assert RRType.DNAME in [r.rtype for r in other.answer]
    clock.advance(120)
    with dead(zones, SECURE), dead(zones, NSEC3):
        stale = ask(resolver, "www.dname.secure.example.")
        assert stale.rcode == Rcode.NOERROR, stale.reason
        assert [(r.name, r.rtype, r.rdatas) for r in stale.answer] == \
            [(r.name, r.rtype, r.rdatas) for r in reference.answer]
        assert [r.rtype for r in stale.answer] == [RRType.DNAME, RRType.CNAME, RRType.A]
        assert stale.ede[0][0] == 3 and all(r.ttl == 30 for r in stale.answer)
        assert stale.security == Security.SECURE and ad_bit(stale)
        # the DNAME itself, asked for by type: not rewritten
        own = ask(resolver, "dname.secure.example.", RRType.DNAME)
        assert [r.rtype for r in own.answer] == [RRType.DNAME] and own.ede[0][0] == 3
