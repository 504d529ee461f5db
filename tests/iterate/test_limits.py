"""Issue 4: the resolution limits of SECURITY.md s0 and s3, each hit on purpose.

NXNS-style fan-out, CNAME loops and over-long chains, dependency cycles (TsuNAME),
the per-client-query and per-name upstream quotas, QNAME-minimisation steps, the
wall clock, merged in-flight questions and cached failures (RFC 9520).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from resolver.answer import Answer
from resolver.clock import FixedClock
from resolver.config import IterLimits
from resolver.wire.name import Name
from resolver.wire.types import Rcode, RRType
from tests.networks import (
    CHAIN_OK,
    LAB_GOOD,
    LAB_SILENT,
    LAB_TLD,
    LAB_VICTIM,
    NXNS_NAMES,
    Net,
    fast_limits,
    in_process_lab,
    run,
)


def n(text: str) -> Name:
    return Name.from_text(text)


def ede_text(answer: Answer) -> str:
    return " ".join(text for _, text in answer.ede)


# ----------------------------------------------------------------------------- NXNS
def test_nxns_fan_out_stopped(lab: Net) -> None:
    """nxns.lab. is delegated to 20 glueless names in victim., none of which exists:
    at most 5 failed lookups (plus the one that crosses the limit) reach the victim."""
    limits = IterLimits()
    lab.reset_queries()
    resolver = lab.resolver()
    started = time.monotonic()
    answer = run(resolver.resolve(n("www.nxns.lab."), RRType.A))
    assert answer.rcode == Rcode.SERVFAIL
    assert "name server address lookups failed" in ede_text(answer)
    assert time.monotonic() - started < 2.0
    victim = [q for q in lab.queries(LAB_VICTIM) if q[0] != n("victim.")]
    assert len(victim) <= limits.nxns_failures + 1, victim
    assert len(victim) < NXNS_NAMES
    assert len(lab.queries()) <= 2 * (limits.nxns_failures + 1) + 4


def test_nxns_queries_bounded_even_with_a_high_failure_limit(lab: Net) -> None:
    """With the NXNS counter out of the way, the 13-names-per-delegation cap holds."""
    lab.reset_queries()
    resolver = lab.resolver(iter_limits=fast_limits(nxns_failures=1000))
    answer = run(resolver.resolve(n("www.nxns.lab."), RRType.A))
    assert answer.rcode == Rcode.SERVFAIL
    names = {q[0] for q in lab.queries(LAB_VICTIM) if q[0] != n("victim.")}
    assert len(names) <= IterLimits().ns_per_delegation, sorted(map(str, names))


def test_nxns_each_client_query_pays_again_but_boundedly(lab: Net) -> None:
    """Random names below the NXNS delegation: every client query is bounded on its
    own (the victim's NXDOMAINs are cached, so later ones cost the victim nothing)."""
    lab.reset_queries()
    resolver = lab.resolver()

    async def many() -> list[Answer]:
        return [await resolver.resolve(n(f"r{i}.nxns.lab."), RRType.A) for i in range(5)]

    answers = run(many())
    assert all(a.rcode == Rcode.SERVFAIL for a in answers)
    victim = [q for q in lab.queries(LAB_VICTIM) if q[0] != n("victim.")]
    assert len(victim) <= IterLimits().nxns_failures + 1, victim


# ----------------------------------------------------------------------------- CNAME
@pytest.mark.parametrize("qname", ["a.loop.lab.", "x.lab."], ids=["in-zone", "across-zones"])
def test_cname_loop_stopped(lab: Net, qname: str) -> None:
    """``a CNAME b``, ``b CNAME a`` (one zone, one packet) and ``x.lab. CNAME
    x.other.``, ``x.other. CNAME x.lab.`` (two servers): SERVFAIL, quickly."""
    lab.reset_queries()
    resolver = lab.resolver()
    started = time.monotonic()
    answer = run(resolver.resolve(n(qname), RRType.A))
    assert answer.rcode == Rcode.SERVFAIL
    assert "loop" in ede_text(answer)
    assert time.monotonic() - started < 1.0
    assert len(lab.queries()) <= 6
    # asked again (the links are cached now): still a loop, still no network storm
    lab.reset_queries()
    again = run(lab.resolver().resolve(n(qname), RRType.A))
    assert again.rcode == Rcode.SERVFAIL
    assert len(lab.queries()) <= 6


@pytest.mark.parametrize("prefix", ["ok", "xok"], ids=["in-zone", "across-zones"])
def test_cname_chain_of_eleven_followed(lab: Net, prefix: str) -> None:
    resolver = lab.resolver()
    for _ in range(2):   # from the network, then from the cache
        answer = run(resolver.resolve(n(f"{prefix}1.lab."), RRType.A))
        assert answer.rcode == Rcode.NOERROR, answer.ede
        assert len(answer.cname_chain()) == CHAIN_OK
        final = answer.final_rrset()
        assert final is not None and list(final.rdatas) == [bytes((192, 0, 2, 99))]


@pytest.mark.parametrize("prefix", ["long", "xlong"], ids=["in-zone", "across-zones"])
def test_cname_chain_longer_than_eleven_fails(lab: Net, prefix: str) -> None:
    resolver = lab.resolver()
    for _ in range(2):   # from the network, then with the links cached
        answer = run(resolver.resolve(n(f"{prefix}1.lab."), RRType.A))
        assert answer.rcode == Rcode.SERVFAIL
        assert "longer than 11" in ede_text(answer)
        resolver._failures.clear()    # not the failure cache: the chain itself
    # the chain's tail, eleven links long, is fine
    tail = run(resolver.resolve(n(f"{prefix}2.{'other.' if prefix == 'xlong' else 'lab.'}"),
                                RRType.A))
    assert tail.rcode == Rcode.NOERROR
    assert len(tail.cname_chain()) == CHAIN_OK


def test_cname_chain_limit_is_a_setting(lab: Net) -> None:
    resolver = lab.resolver(iter_limits=fast_limits(cname_chain=3))
    answer = run(resolver.resolve(n("ok1.lab."), RRType.A))
    assert answer.rcode == Rcode.SERVFAIL
    ok = run(resolver.resolve(n("ok9.lab."), RRType.A))
    assert ok.rcode == Rcode.NOERROR and len(ok.cname_chain()) == 3


# ----------------------------------------------------------------------------- dependencies
def test_dependency_cycle_stopped(lab: Net) -> None:
    """TsuNAME: cyca.lab. is served by ns.cycb.other., cycb.other. by ns.cyca.lab.:
    SERVFAIL after a handful of queries, also when only the depth limit stops it."""
    for limits in (IterLimits(), fast_limits(nxns_failures=1000)):
        lab.reset_queries()
        resolver = lab.resolver(iter_limits=limits)
        started = time.monotonic()
        answer = run(resolver.resolve(n("www.cyca.lab."), RRType.A))
        assert answer.rcode == Rcode.SERVFAIL
        assert time.monotonic() - started < 2.0
        assert len(lab.queries()) <= 12, lab.queries()


def test_dependency_depth_limit(lab: Net) -> None:
    """A glueless delegation needs one level of sub-lookup: depth 0 forbids it."""
    resolver = lab.resolver(iter_limits=fast_limits(dependency_depth=0))
    answer = run(resolver.resolve(n("www.glueless.lab."), RRType.A))
    assert answer.rcode == Rcode.SERVFAIL
    assert "deeper" in ede_text(answer) or "name server" in ede_text(answer)
    ok = run(lab.resolver(iter_limits=fast_limits(dependency_depth=1)).resolve(
        n("www.glueless.lab."), RRType.A))
    assert ok.rcode == Rcode.NOERROR


# ----------------------------------------------------------------------------- quotas
def test_upstream_queries_per_client_query(lab: Net) -> None:
    """The cross-zone chain needs 14 queries; with a quota of 6 the resolver sends 6
    and gives up, and the quota covers sub-lookups too."""
    lab.reset_queries()
    resolver = lab.resolver(iter_limits=fast_limits(upstream_queries=6))
    answer = run(resolver.resolve(n("xok1.lab."), RRType.A))
    assert answer.rcode == Rcode.SERVFAIL
    assert "more than 6 upstream queries" in ede_text(answer)
    assert len(lab.queries()) == 6
    lab.reset_queries()
    glueless = lab.resolver(iter_limits=fast_limits(upstream_queries=4))
    answer = run(glueless.resolve(n("www.glueless.lab."), RRType.A))
    assert answer.rcode == Rcode.SERVFAIL
    assert len(lab.queries()) == 4


def test_default_upstream_quota_holds(lab: Net) -> None:
    """Whatever the attack, one client query never costs more than 200 queries."""
    limits = IterLimits()
    for qname in ("www.nxns.lab.", "www.cyca.lab.", "xlong1.lab.", "x.lab."):
        lab.reset_queries()
        run(lab.resolver().resolve(n(qname), RRType.A))
        assert len(lab.queries()) <= limits.upstream_queries


def test_queries_per_name_and_minimisation_steps(lab: Net) -> None:
    """A deep name under a wildcard: QNAME minimisation takes at most 10 steps, then
    the full name; a per-name quota below that stops it."""
    deep = n("a.b.c.d.e.f.g.h.i.j.k.l.m.n.deep.lab.")
    lab.reset_queries()
    resolver = lab.resolver()
    answer = run(resolver.resolve(deep, RRType.A))
    assert answer.rcode == Rcode.NOERROR
    to_tld = [q for q in lab.queries(LAB_TLD) if q[0].is_subdomain(n("deep.lab."))]
    assert len(to_tld) <= IterLimits().minimise_steps + 1, to_tld
    assert to_tld[-1][0] == deep
    lab.reset_queries()
    limited = lab.resolver(iter_limits=fast_limits(queries_per_name=4))
    answer = run(limited.resolve(deep, RRType.A))
    assert answer.rcode == Rcode.SERVFAIL
    assert "queries for" in ede_text(answer)
    assert len([q for q in lab.queries(LAB_TLD) if q[0].is_subdomain(n("deep.lab."))]) <= 4


def test_wall_clock_per_client_query(lab: Net) -> None:
    """A silent server would cost a 1.2 s timeout; a 0.4 s budget ends the work first."""
    resolver = lab.resolver(iter_limits=fast_limits(wall_clock=0.4))
    started = time.monotonic()
    answer = run(resolver.resolve(n("www.dead.lab."), RRType.A))
    took = time.monotonic() - started
    assert answer.rcode == Rcode.SERVFAIL
    assert took < 1.0, took
    # our own budget is not held against the server
    assert resolver.infra.info((LAB_SILENT, lab.port)).timeouts == 0


# ----------------------------------------------------------------------------- merging
def test_identical_questions_in_flight_merged(lab: Net) -> None:
    """Five clients ask the same question while the (slow) server thinks: one
    upstream query, five answers."""
    lab.reset_queries()
    resolver = lab.resolver()

    async def both() -> list[Answer]:
        return list(await asyncio.gather(*(resolver.resolve(n("www.lab."), RRType.A)
                                           for _ in range(5))))

    lab.set_faults(LAB_TLD, "lab.", slow=0.1)
    try:
        answers = run(both())
    finally:
        lab.clear_faults(LAB_TLD, "lab.")
    assert all(a.rcode == Rcode.NOERROR for a in answers)
    assert [q for q in lab.queries(LAB_TLD) if q[0] == n("www.lab.")] == [
        (n("www.lab."), RRType.A, "udp")]
    assert resolver.stats.merged == 4


def test_merged_questions_to_a_dead_zone(lab: Net) -> None:
    """Five clients ask the same question of a dead zone at once: one upstream query."""
    lab.reset_queries()
    resolver = lab.resolver()

    async def many() -> list[Answer]:
        return list(await asyncio.gather(*(resolver.resolve(n("www.dead.lab."), RRType.A)
                                           for _ in range(5))))

    answers = run(many())
    assert all(a.rcode == Rcode.SERVFAIL for a in answers)
    # one query, and one retry with a longer timeout: not one per merged client
    assert len(lab.queries(LAB_SILENT)) <= 2


def test_different_questions_not_merged(lab: Net) -> None:
    lab.reset_queries()
    resolver = lab.resolver()

    async def both() -> list[Answer]:
        return list(await asyncio.gather(resolver.resolve(n("www.lab."), RRType.A),
                                         resolver.resolve(n("www.lab."), RRType.AAAA)))

    a, aaaa = run(both())
    assert a.final_rrset() is not None and aaaa.final_rrset() is None
    assert resolver.stats.merged == 0


# ----------------------------------------------------------------------------- failures
def test_failure_cached(lab: Net) -> None:
    """RFC 9520: the same question to a dead zone right after is answered from the
    failure cache, without a query."""
    lab.reset_queries()
    resolver = lab.resolver()
    first = run(resolver.resolve(n("www.dead.lab."), RRType.A))
    assert first.rcode == Rcode.SERVFAIL
    sent = len(lab.queries(LAB_SILENT))
    assert 1 <= sent <= 2   # the query and one retry with a longer timeout
    started = time.monotonic()
    second = run(resolver.resolve(n("www.dead.lab."), RRType.A))
    assert second.rcode == Rcode.SERVFAIL
    assert time.monotonic() - started < 0.1
    assert len(lab.queries(LAB_SILENT)) == sent
    assert resolver.stats.failures_cached == 1


def test_dead_zone_not_hammered(tmp_path: Path) -> None:
    """Many names in a dead zone: after three timeouts its server is left alone
    until the backoff ends, then probed once; each probe that fails doubles the
    wait (fake clock, in-process servers)."""
    world = in_process_lab()
    clock = FixedClock()
    resolver = world.resolver(tmp_path, clock)

    def ask(i: int) -> Answer:
        return run(resolver.resolve(n(f"h{i}.dead.lab."), RRType.A))

    answers = [ask(i) for i in range(10)]
    assert all(a.rcode == Rcode.SERVFAIL for a in answers)
    assert len(world.sent_to(LAB_SILENT)) == 3
    assert answers[-1].ede[0][0] == 22        # No Reachable Authority
    clock.advance(9)                          # past the first backoff (8 s)
    ask(100)
    ask(101)
    assert len(world.sent_to(LAB_SILENT)) == 4
    clock.advance(9)                          # the next backoff is 16 s
    ask(102)
    assert len(world.sent_to(LAB_SILENT)) == 4
    clock.advance(8)
    ask(103)
    assert len(world.sent_to(LAB_SILENT)) == 5
    # the rest of the lab is not affected
    ok = run(resolver.resolve(n("www.lab."), RRType.A))
    assert ok.rcode == Rcode.NOERROR


def test_server_back_from_the_dead(tmp_path: Path) -> None:
    """Once a backed-off server answers a probe, it is used normally again."""
    world = in_process_lab()
    clock = FixedClock()
    resolver = world.resolver(tmp_path, clock)
    for i in range(4):
        run(resolver.resolve(n(f"h{i}.dead.lab."), RRType.A))
    silent = world.net.servers[LAB_SILENT]
    silent.faults.clear()
    clock.advance(10)
    answer = run(resolver.resolve(n("www.dead.lab."), RRType.A))
    assert answer.rcode == Rcode.NOERROR
    answer = run(resolver.resolve(n("h1.dead.lab."), RRType.A))
    assert answer.rcode == Rcode.NXDOMAIN


def test_queries_per_name_count_retries(tmp_path: Path) -> None:
    """The per-name quota counts every query sent for the name: retries to another
    server and over TCP too. www.silent.lab. costs root, lab., the silent server and
    the working one: four."""
    world = in_process_lab()

    def resolve(limit: int) -> Answer:
        resolver = world.resolver(tmp_path, iter_limits=fast_limits(queries_per_name=limit))
        resolver.infra.info((LAB_GOOD, 53)).srtt = 0.5     # the silent server first
        resolver.infra.info((LAB_GOOD, 53)).samples = 1
        return run(resolver.resolve(n("www.silent.lab."), RRType.A))

    failed = resolve(3)
    assert failed.rcode == Rcode.SERVFAIL
    assert "more than 3 queries for www.silent.lab." in ede_text(failed)
    assert resolve(4).rcode == Rcode.NOERROR
    # UDP, then TCP after TC: two queries
    tc = world.resolver(tmp_path, iter_limits=fast_limits(queries_per_name=3))
    assert run(tc.resolve(n("www.tc.lab."), RRType.A)).rcode == Rcode.SERVFAIL
    tc = world.resolver(tmp_path, iter_limits=fast_limits(queries_per_name=4))
    assert run(tc.resolve(n("www.tc.lab."), RRType.A)).rcode == Rcode.NOERROR


def test_first_asker_gone_does_not_cancel_the_others(lab: Net) -> None:
    """The client whose question started the work goes away (its task is cancelled,
    as the HTTP API's handler is on a disconnect): the merged clients still get the
    answer, and it is cached."""
    resolver = lab.resolver()

    async def scenario() -> Answer:
        first = asyncio.ensure_future(resolver.resolve(n("www.lab."), RRType.A))
        await asyncio.sleep(0.05)
        second = asyncio.ensure_future(resolver.resolve(n("www.lab."), RRType.A))
        await asyncio.sleep(0.05)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        return await second

    lab.set_faults(LAB_TLD, "lab.", slow=0.3)
    try:
        answer = run(scenario())
    finally:
        lab.clear_faults(LAB_TLD, "lab.")
    assert answer.rcode == Rcode.NOERROR and answer.final_rrset() is not None
    assert resolver.stats.merged == 1
    assert resolver.rrsets.get(n("www.lab."), RRType.A) is not None


def test_failure_cache_backs_off_and_resets(tmp_path: Path) -> None:
    """RFC 9520 s3.2: a question that keeps failing is remembered longer each time
    (5, 10, 20, 40 s, then a minute at most); once it is answered, the next failure
    starts again at 5 s."""
    world = in_process_lab()
    clock = FixedClock()
    resolver = world.resolver(tmp_path, clock)
    resolver.settings.serve_stale = False    # else the expired answer is served stale

    def ask() -> Answer:
        return run(resolver.resolve(n("www.dead.lab."), RRType.A))

    lives = []
    for _ in range(6):
        answer = ask()
        assert answer.rcode == Rcode.SERVFAIL
        lives.append(answer.ttl)
        assert ask() is answer                 # within its life: from the failure cache
        clock.advance(answer.ttl + 0.5)
    assert lives == [5, 10, 20, 40, 60, 60]
    silent = world.net.servers[LAB_SILENT]
    faults = dict(silent.faults)
    silent.faults.clear()
    clock.advance(300)                         # past the server's own backoff too
    assert ask().rcode == Rcode.NOERROR
    silent.faults.update(faults)
    clock.advance(3601)                        # the answer expires; the zone is dead again
    again = ask()
    assert again.rcode == Rcode.SERVFAIL and again.ttl == 5
