"""Issue 16 section 1: the cache operations behind ``resolver control``.

* Each flush (name, type, zone, bogus, negative, infra, all) drops the entries it
  concerns from every cache, the wire answers of the server's fast path included, and
  keeps the others: asked through a real :class:`DnsServer`, a flushed name goes
  upstream again and is not answered from the wire cache, an unrelated one is a fast
  path hit with no upstream query.
* The wire answer cache's drops, unit-tested on built responses (a CNAME chain
  carries its target's records; negative and SERVFAIL answers told from the wire).
* ``dump_cache`` / ``load_cache``: entries come back unvalidated and validate to the
  same verdict without asking upstream for the data; expired, bogus, unsigned-secure
  and forged entries never come back as secure; a broken file stores nothing.

Runs against the project's ``zones/`` hierarchy (``hierarchy`` fixture, signed now),
anchored on the root DS it was signed with.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from resolver.answer import Answer
from resolver.cache import dump as cache_dump
from resolver.cache.messages import MessageCache
from resolver.cache.rrsets import NXDOMAIN_TYPE, NegativeCache, NegEntry, Rank, RRsetCache
from resolver.cache.store import LruStore
from resolver.clock import FixedClock
from resolver.config import Settings
from resolver.dnssec.status import Security
from resolver.server.listener import DnsServer
from resolver.service import Resolver
from resolver.wire import message as wm
from resolver.wire.message import RR, Message
from resolver.wire.name import Name
from resolver.wire.querykey import query_key
from resolver.wire.rrset import RRset
from resolver.wire.types import AD, QR, Rcode, RRType
from tests.loop import LoopThread
from tests.networks import Net, run

SECURE = "www.secure.example."
OTHER = "txt.nsec3.example."          # unrelated to secure.example.
CHAIN = "cname-secure.secure.example."  # CNAME to www.nsec3.example.
CHAIN_TARGET = "www.nsec3.example."
NX = "nope.secure.example."
BOGUS = "www.bogus.example."
INSECURE = "www.insecure.example."


def n(text: str) -> Name:
    return Name.from_text(text)


# ----------------------------------------------------------------------------- network
@dataclass(slots=True)
class Signed:
    net: Net
    ds: Path

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {"validate": True, "trust_anchors": [self.ds],
                                  "nodefault": ["example.", "internal."]}
        values.update(overrides)
        return self.net.settings(**values)

    def upstream(self) -> list[tuple[Name, int, str]]:
        """Every query the authoritative servers have seen so far."""
        return self.net.queries()


@pytest.fixture(scope="module")
def signed(hierarchy: Net, tmp_path_factory: pytest.TempPathFactory) -> Signed:
    paths = hierarchy.net.write_outputs(tmp_path_factory.mktemp("flush"))
    return Signed(hierarchy, paths["ds"])


@dataclass(slots=True)
class Served:
    """A resolver behind a DNS server on loopback, asked over UDP."""

    signed: Signed
    server: DnsServer
    resolver: Resolver
    loop: LoopThread

    def ask(self, name: str, rtype: int = RRType.A) -> Message:
        query = wm.make_query(n(name), rtype, rd=True, do=True)
        return self.loop.run(_exchange(self.server.bound[0][1], query.to_wire()))

    def control(self, method: str, *args: Any) -> int:
        """Call a flush on the resolver in its own event loop, as the control channel does."""
        result = self.loop.call(lambda: getattr(self.resolver, method)(*args))
        assert isinstance(result, int)
        return result

    def cost(self, name: str, rtype: int = RRType.A) -> tuple[int, bool, Message]:
        """Ask once: (upstream queries it took, whether the fast path answered, reply)."""
        before, hits = len(self.signed.upstream()), self.server.stats.fast_hits
        reply = self.ask(name, rtype)
        return (len(self.signed.upstream()) - before, self.server.stats.fast_hits > hits,
                reply)


async def _exchange(port: int, wire: bytes) -> Message:
    """One UDP query to the server under test, from the loop it runs in."""
    loop = asyncio.get_running_loop()
    answered: asyncio.Future[bytes] = loop.create_future()

    class Receiver(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: Any) -> None:
            if not answered.done():
                answered.set_result(data)

    transport, _ = await loop.create_datagram_endpoint(Receiver,
                                                       remote_addr=("127.0.0.1", port))
    try:
        transport.sendto(wire)
        return wm.parse(await asyncio.wait_for(answered, 10))
    finally:
        transport.close()


@pytest.fixture
def served(signed: Signed, loop_thread: LoopThread) -> Iterator[Served]:
    settings = signed.settings(listen=[("127.0.0.1", 0)])
    resolver = Resolver(settings)
    server = DnsServer(resolver, settings)
    loop_thread.run(server.start())
    yield Served(signed, server, resolver, loop_thread)
    loop_thread.run(server.stop())


def warm(dns: Served, *questions: tuple[str, int]) -> None:
    """Ask each question twice: resolved, then answered from the wire cache."""
    for name, rtype in questions:
        dns.ask(name, rtype)
        upstream, fast, _ = dns.cost(name, rtype)
        assert fast and upstream == 0, name


def assert_cached(dns: Served, name: str, rtype: int = RRType.A) -> None:
    upstream, fast, _ = dns.cost(name, rtype)
    assert fast and upstream == 0, f"{name} should still be cached"


def assert_flushed(dns: Served, name: str, rtype: int = RRType.A) -> Message:
    upstream, fast, reply = dns.cost(name, rtype)
    assert not fast and upstream > 0, f"{name} should have been flushed"
    return reply


# ----------------------------------------------------------------------------- flushes
def test_flush_name(served: Served) -> None:
    dns = served
    warm(dns, (SECURE, RRType.A), (SECURE, RRType.AAAA), (OTHER, RRType.TXT),
         (CHAIN, RRType.A))
    dropped = dns.control("flush_name", n(SECURE))
    assert dropped >= 4        # the A and AAAA RRsets, their two wire answers
    assert dns.resolver.rrsets.get(n(SECURE), RRType.A) is None
    assert dns.resolver.rrsets.get(n(SECURE), RRType.AAAA) is None
    assert_cached(dns, OTHER, RRType.TXT)
    assert_cached(dns, CHAIN)
    assert assert_flushed(dns, SECURE).flags & AD
    assert_flushed(dns, SECURE, RRType.AAAA)
    # the target of a CNAME chain: the chain's wire answer carries its records
    assert dns.control("flush_name", n(CHAIN_TARGET)) >= 2
    reply = assert_flushed(dns, CHAIN)
    assert reply.flags & AD and [rr.rtype for rr in reply.answer
                                 if rr.rtype != RRType.RRSIG] == [RRType.CNAME, RRType.A]
    assert_cached(dns, OTHER, RRType.TXT)
    assert dns.control("flush_name", n("nothing.here.example.")) == 0


def test_flush_type(served: Served) -> None:
    dns = served
    warm(dns, (SECURE, RRType.A), (SECURE, RRType.AAAA), (NX, RRType.A))
    assert dns.control("flush_type", n(SECURE), RRType.AAAA) == 2   # RRset + wire answer
    assert dns.resolver.rrsets.get(n(SECURE), RRType.A) is not None
    assert_cached(dns, SECURE)
    assert_flushed(dns, SECURE, RRType.AAAA)
    # the name error covers every type: flushing one type of it drops it
    assert dns.control("flush_type", n(NX), RRType.MX) == 1
    assert dns.resolver.negative.get(n(NX), RRType.A) is None
    # DNSKEY: the key entry of the zone goes with the RRset
    assert dns.resolver.keys.get(n("secure.example.")) is not None
    dns.control("flush_type", n("secure.example."), RRType.DNSKEY)
    assert dns.resolver.keys.get(n("secure.example.")) is None
    assert dns.resolver.rrsets.get(n("secure.example."), RRType.DNSKEY) is None
    assert dns.resolver.keys.get(n("example.")) is not None


def test_flush_zone(served: Served) -> None:
    dns = served
    warm(dns, (SECURE, RRType.A), (NX, RRType.A), (OTHER, RRType.TXT), (CHAIN, RRType.A))
    resolver = dns.resolver
    assert dns.control("flush_zone", n("secure.example.")) > 0
    zone = n("secure.example.")
    assert not [key for key in resolver.rrsets.store if Name(key[0]).is_subdomain(zone)]
    assert not [key for key in resolver.negative.store if Name(key[0]).is_subdomain(zone)]
    assert resolver.keys.get(zone) is None and resolver.keys.get(n("example.")) is not None
    assert resolver.rrsets.get(n("nsec3.example."), RRType.DNSKEY) is not None
    assert_cached(dns, OTHER, RRType.TXT)
    assert assert_flushed(dns, SECURE).flags & AD
    assert assert_flushed(dns, NX).rcode == Rcode.NXDOMAIN
    assert_flushed(dns, CHAIN)


def test_flush_zone_reaches_answers_through_a_cname(served: Served) -> None:
    """A chain from secure.example. into nsec3.example.: flushing nsec3.example. drops
    the chain's wire answer too (it carries www.nsec3.example.'s records)."""
    dns = served
    warm(dns, (CHAIN, RRType.A), (SECURE, RRType.A))
    dns.control("flush_zone", n("nsec3.example."))
    assert_cached(dns, SECURE)
    assert_flushed(dns, CHAIN)


def bogus(store: LruStore[Any, Any]) -> list[Any]:
    """The keys of the entries of *store* whose verdict is bogus."""
    return [key for key in store
            if (found := store.peek(key)) is not None and found[1].security == Security.BOGUS]


def test_flush_bogus(served: Served) -> None:
    dns = served
    warm(dns, (SECURE, RRType.A))
    assert dns.ask(BOGUS).rcode == Rcode.SERVFAIL
    _, fast, reply = dns.cost(BOGUS)
    assert fast and reply.rcode == Rcode.SERVFAIL           # the SERVFAIL is cached
    resolver = dns.resolver
    bogus_entries = bogus(resolver.rrsets.store) + bogus(resolver.negative.store) \
        + bogus(resolver.keys.store)
    assert bogus_entries
    assert dns.control("flush_bogus") >= len(bogus_entries) + 1
    assert not bogus(resolver.rrsets.store) + bogus(resolver.negative.store) \
        + bogus(resolver.keys.store)
    assert len(resolver._failures) == 0
    assert_cached(dns, SECURE)
    assert assert_flushed(dns, BOGUS).rcode == Rcode.SERVFAIL


def test_flush_bogus_drops_remembered_failures(served: Served) -> None:
    dns = served
    warm(dns, (SECURE, RRType.A))
    resolver = dns.resolver
    failed = Answer(n("gone.example."), RRType.A, rcode=Rcode.SERVFAIL)
    resolver._failures.put((n("gone.example.").key, RRType.A), (time.time() + 60, failed),
                           time.time() + 120, 1)
    assert dns.control("flush_bogus") == 1
    assert len(resolver._failures) == 0
    assert_cached(dns, SECURE)


def test_flush_negative(served: Served) -> None:
    dns = served
    warm(dns, (SECURE, RRType.A), (NX, RRType.A), (SECURE, RRType.MX))   # NX, NODATA
    assert len(dns.resolver.negative) >= 2
    assert dns.control("flush_negative") >= 4      # two denials, two wire answers
    assert len(dns.resolver.negative) == 0
    assert_cached(dns, SECURE)
    assert assert_flushed(dns, NX).rcode == Rcode.NXDOMAIN
    reply = assert_flushed(dns, SECURE, RRType.MX)
    assert reply.rcode == Rcode.NOERROR and not reply.answer


def test_flush_infra(served: Served) -> None:
    dns = served
    warm(dns, (SECURE, RRType.A), (OTHER, RRType.TXT))
    resolver = dns.resolver
    servers = resolver.infra_servers()
    assert servers >= 3
    assert dns.control("flush_infra", "127.0.0.23") == 1     # secure. and nsec3.example.
    assert resolver.infra_servers() == servers - 1
    assert dns.control("flush_infra", "127.0.0.254") == 0
    assert dns.control("flush_infra", None) == servers - 1
    assert resolver.infra_servers() == 0
    assert_cached(dns, SECURE)      # the data caches are untouched


def test_flush_all(served: Served) -> None:
    dns = served
    warm(dns, (SECURE, RRType.A), (NX, RRType.A), (OTHER, RRType.TXT))
    resolver = dns.resolver
    before = (len(resolver.rrsets) + len(resolver.negative) + len(resolver.keys)
              + len(resolver.messages) + resolver.infra_servers())
    assert dns.control("flush_all") == before
    assert (len(resolver.rrsets), len(resolver.negative), len(resolver.keys),
            len(resolver.messages), resolver.infra_servers()) == (0, 0, 0, 0, 0)
    assert assert_flushed(dns, SECURE).flags & AD
    assert_flushed(dns, OTHER, RRType.TXT)


# ----------------------------------------------------------------------------- wire cache
def response(qname: str, qtype: int, answer: list[RR], rcode: int = Rcode.NOERROR,
             authority: list[RR] | None = None) -> tuple[bytes, bytes]:
    """(cache key, wire) of a response to an RD=1 DO=1 query."""
    query = wm.make_query(n(qname), qtype, rd=True)
    reply = wm.make_response(query, rcode)
    reply.answer = answer
    reply.authority = authority or []
    reply.flags |= QR
    key = query_key(query.to_wire())
    assert key is not None
    return key.key, reply.to_wire()


def a_rr(owner: str) -> RR:
    return RR(n(owner), RRType.A, 1, 300, bytes((192, 0, 2, 1)))


def test_wire_cache_drops_by_name_type_and_zone() -> None:
    clock = FixedClock()
    cache = MessageCache(1 << 20, clock)
    cname = RR(n("alias.a.test."), RRType.CNAME, 1, 300, n("Host.B.test.").wire)
    entries = {
        "host-a": response("host.b.test.", RRType.A, [a_rr("host.b.test.")]),
        "host-aaaa": response("host.b.test.", RRType.AAAA, []),
        "chain": response("alias.a.test.", RRType.A, [cname, a_rr("Host.B.test.")]),
        "other": response("www.c.test.", RRType.A, [a_rr("www.c.test.")]),
        "below": response("x.host.b.test.", RRType.A, [a_rr("x.host.b.test.")]),
    }

    def fill() -> None:
        cache.clear()
        for key, wire in entries.values():
            cache.put(key, wire, [], 300)

    def left() -> set[str]:
        return {label for label, (key, _) in entries.items() if cache.store.peek(key)}

    fill()
    epoch = cache.epoch
    assert cache.drop_name(n("HOST.b.test."), RRType.AAAA) == 1
    assert left() == set(entries) - {"host-aaaa"} and cache.epoch == epoch + 1
    fill()
    assert cache.drop_name(n("host.b.test."), RRType.A) == 2       # and the chain
    assert left() == {"host-aaaa", "other", "below"}
    fill()
    assert cache.drop_name(n("host.b.test.")) == 3
    assert left() == {"other", "below"}
    fill()
    assert cache.drop_zone(n("b.test.")) == 4
    assert left() == {"other"}
    fill()
    assert cache.drop_zone(n("a.test.")) == 1
    fill()
    assert cache.drop_zone(n(".")) == 5 and len(cache) == 0
    # an entry that expired meanwhile goes uncounted
    fill()
    clock.advance(301)
    assert cache.drop_name(n("www.c.test.")) == 0 and len(cache) == 4


def test_wire_cache_drops_negative_and_bogus() -> None:
    cache = MessageCache(1 << 20, FixedClock())
    soa = RR(n("b.test."), RRType.SOA, 1, 300, n("ns.b.test.").wire + n("h.b.test.").wire
             + bytes(20))
    cname = RR(n("alias.b.test."), RRType.CNAME, 1, 300, n("gone.b.test.").wire)
    entries = {
        "nx": (response("nx.b.test.", RRType.A, [], Rcode.NXDOMAIN, [soa]), ()),
        "nodata": (response("host.b.test.", RRType.MX, [], authority=[soa]), ()),
        "chain-nodata": (response("alias.b.test.", RRType.MX, [cname], authority=[soa]), ()),
        "positive": (response("host.b.test.", RRType.A, [a_rr("host.b.test.")]),
                     ("A", "NOERROR", "secure")),
        "servfail": (response("bad.b.test.", RRType.A, [], Rcode.SERVFAIL),
                     ("A", "SERVFAIL", "bogus")),
        "cd-bogus": (response("bad.b.test.", RRType.TXT, [a_rr("bad.b.test.")]),
                     ("TXT", "NOERROR", "bogus")),
    }

    def fill() -> None:
        cache.clear()
        for (key, wire), labels in entries.values():
            cache.put(key, wire, [], 300, labels)

    def left() -> set[str]:
        return {label for label, ((key, _), _) in entries.items() if cache.store.peek(key)}

    fill()
    assert cache.drop_negative() == 3
    assert left() == {"positive", "servfail", "cd-bogus"}
    fill()
    assert cache.drop_bogus() == 2
    assert left() == {"nx", "nodata", "chain-nodata", "positive"}


def test_flush_of_a_stored_answer_is_never_served(served: Served) -> None:
    """Between the flush and the next resolution nothing answers from the old bytes:
    RD=0 (cache only) is refused rather than served from the dropped entry."""
    dns = served
    warm(dns, (SECURE, RRType.A))
    dns.control("flush_name", n(SECURE))
    query = wm.make_query(n(SECURE), RRType.A, rd=False, do=True)
    reply = dns.loop.run(_exchange(dns.server.bound[0][1], query.to_wire()))
    assert reply.rcode == Rcode.REFUSED


# ----------------------------------------------------------------------------- dump/load
QUESTIONS = [(SECURE, RRType.A), (OTHER, RRType.TXT), (NX, RRType.A), (INSECURE, RRType.A),
             (CHAIN, RRType.A), (SECURE, RRType.MX)]


def resolve_all(resolver: Resolver) -> dict[tuple[str, int], tuple[int, Security]]:
    async def body() -> dict[tuple[str, int], tuple[int, Security]]:
        out: dict[tuple[str, int], tuple[int, Security]] = {}
        for name, rtype in QUESTIONS:
            answer = await resolver.resolve(n(name), rtype)
            out[(name, rtype)] = (answer.rcode, answer.security)
        return out
    return run(body())


def test_dump_and_load_come_back_unvalidated(signed: Signed, tmp_path: Path) -> None:
    first = Resolver(signed.settings())
    verdicts = resolve_all(first)
    assert verdicts[(SECURE, RRType.A)] == (Rcode.NOERROR, Security.SECURE)
    assert verdicts[(INSECURE, RRType.A)][1] == Security.INSECURE
    assert run(first.resolve(n(BOGUS), RRType.A)).rcode == Rcode.SERVFAIL
    path = tmp_path / "cache.jsonl"
    written = first.dump_cache(path)
    assert written == len(first.rrsets) + len(first.negative)
    lines = path.read_text().splitlines()
    assert json.loads(lines[0])["format"] == "resolver-cache" and len(lines) == written + 1
    assert path.stat().st_mode & 0o077 == 0
    assert not list(tmp_path.glob(".cache.jsonl.*"))            # no temporary left
    dumped = [json.loads(line) for line in lines[1:]]
    assert any(d["security"] == "bogus" for d in dumped)

    second = Resolver(signed.settings())
    stored = second.load_cache(path)
    assert 0 < stored < written                    # the bogus entries stayed out
    assert all(e.security is None for e in second.rrsets.store.values())
    assert all(e.security is None for e in second.negative.store.values())
    assert second.rrsets.get(n(BOGUS), RRType.A) is None
    entry = second.rrsets.get(n(SECURE), RRType.A)
    original = first.rrsets.get(n(SECURE), RRType.A)
    assert entry is not None and original is not None
    assert entry.rrset.rdatas == original.rrset.rdatas
    assert abs(entry.expires - original.expires) <= 1

    data = {(n(name).key, rtype) for name, rtype in QUESTIONS} | {
        (n(CHAIN_TARGET).key, RRType.A)}
    before = len(signed.upstream())
    assert resolve_all(second) == verdicts
    asked = signed.upstream()[before:]
    assert not [q for q in asked if (q[0].key, q[1]) in data], asked
    assert second.rrsets.get(n(SECURE), RRType.A).security == Security.SECURE  # type: ignore[union-attr]


def test_load_skips_expired_and_no_longer_signed(signed: Signed, tmp_path: Path) -> None:
    first = Resolver(signed.settings())
    resolve_all(first)
    path = tmp_path / "cache.jsonl"
    first.dump_cache(path)
    dumped = [json.loads(line) for line in path.read_text().splitlines()[1:]]
    secure = {(d["rrset"]["name"], d["rrset"]["type"]) for d in dumped
              if d["kind"] == "rrset" and d["security"] == "secure"}
    unjudged = [d for d in dumped if d["kind"] == "rrset" and d["security"] is None]
    assert secure and unjudged
    # later than every RRSIG's expiration: nothing dumped as secure is loaded, the
    # entries never validated (referrals, glue) are
    fresh = RRsetCache(1 << 24, time.time), NegativeCache(1 << 24, time.time)
    late = time.time() + 10 * 365 * 86400
    assert cache_dump.load(path, *fresh, time.time(), validation_now=late) > 0
    loaded = {(e.rrset.name.to_text(), e.rrset.rtype) for e in fresh[0].store.values()}
    assert loaded and not loaded & secure
    secure_denials = {(d["name"], d["qtype"]) for d in dumped
                      if d["kind"] == "negative" and d["security"] == "secure"}
    assert secure_denials and not secure_denials & {
        (e.name.to_text(), e.qtype) for e in fresh[1].store.values()}
    # past every expiry: nothing at all
    empty = RRsetCache(1 << 24, time.time), NegativeCache(1 << 24, time.time)
    assert cache_dump.load(path, *empty, time.time() + 10 * 86400 * 365) == 0
    assert len(empty[0]) == len(empty[1]) == 0


def test_load_takes_the_time_since_the_dump_off_the_ttl(tmp_path: Path) -> None:
    clock = FixedClock()
    rrsets, negative = RRsetCache(1 << 20, clock), NegativeCache(1 << 20, clock)
    kept = RRset(n("www.lab."), RRType.A, 1, 300, [bytes((192, 0, 2, 1))])
    short = RRset(n("short.lab."), RRType.A, 1, 50, [bytes((192, 0, 2, 2))])
    rrsets.put(kept, Rank.AUTH_ANSWER, zone=n("lab."))
    rrsets.put(short, Rank.ANSWER)
    # labelled secure, without any RRSIG: it cannot be secure, so it is not loaded
    rrsets.put(RRset(n("unsigned.lab."), RRType.A, 1, 300, [bytes(4)]), Rank.AUTH_ANSWER,
               security=Security.SECURE)
    negative.put(NegEntry(n("nope.lab."), NXDOMAIN_TYPE, Rcode.NXDOMAIN, n("lab."), None),
                 200)
    path = tmp_path / "lab.jsonl"
    assert cache_dump.dump(path, rrsets, negative, clock()) == 4
    clock.advance(100)
    again = RRsetCache(1 << 20, clock), NegativeCache(1 << 20, clock)
    assert cache_dump.load(path, *again, clock()) == 2
    entry = again[0].get(n("www.lab."), RRType.A)
    assert entry is not None and entry.ttl(clock()) == 200 and entry.rank == Rank.AUTH_ANSWER
    assert entry.zone == n("lab.") and entry.security is None
    assert again[0].get(n("short.lab."), RRType.A) is None          # expired meanwhile
    assert again[0].get(n("unsigned.lab."), RRType.A) is None
    denial = again[1].get(n("nope.lab."), RRType.TXT)
    assert denial is not None and denial.ttl(clock()) == 100 and denial.rcode == Rcode.NXDOMAIN


def edit(path: Path, change: Any) -> Path:
    """A copy of the dump *path* with *change* applied to each entry (header kept)."""
    lines = path.read_text().splitlines()
    out = [lines[0]]
    for line in lines[1:]:
        entry = json.loads(line)
        kept = change(entry)
        if kept is not None:
            out.append(json.dumps(kept))
    edited = path.with_name("edited-" + path.name)
    edited.write_text("\n".join(out) + "\n")
    return edited


def test_forged_secure_entries_are_never_trusted(signed: Signed, tmp_path: Path) -> None:
    """A dump whose data was changed under intact RRSIGs and a "secure" label, or whose
    RRSIGs were stripped: the verdict in the file counts for nothing."""
    first = Resolver(signed.settings())
    resolve_all(first)
    path = tmp_path / "cache.jsonl"
    first.dump_cache(path)
    forged_ip = "wAACYw=="          # 192.0.2.99

    def forge(entry: dict[str, Any]) -> dict[str, Any]:
        if entry["kind"] == "rrset" and entry["rrset"]["name"] == SECURE \
                and entry["rrset"]["type"] == RRType.A:
            entry["rrset"]["rdata"] = [forged_ip]
        if entry["kind"] == "rrset" and entry["rrset"]["name"] == OTHER:
            entry["rrset"]["rrsig"] = []
        return entry

    second = Resolver(signed.settings())
    second.load_cache(edit(path, forge))
    assert second.rrsets.get(n(OTHER), RRType.TXT) is None       # no signature: left out
    loaded = second.rrsets.get(n(SECURE), RRType.A)
    assert loaded is not None and loaded.security is None
    answer = run(second.resolve(n(SECURE), RRType.A))
    assert answer.security == Security.SECURE                    # fetched again, genuine
    assert [rs.rdatas for rs in answer.answer if rs.rtype == RRType.A] == [[bytes(
        (192, 0, 2, 30))]]


def test_broken_dump_stores_nothing(signed: Signed, tmp_path: Path) -> None:
    first = Resolver(signed.settings())
    resolve_all(first)
    path = tmp_path / "cache.jsonl"
    first.dump_cache(path)
    lines = path.read_text().splitlines()
    resolver = Resolver(signed.settings())
    for bad in ([*lines[:2], "{not json"],
                [*lines[:2], json.dumps({**json.loads(lines[1]), "kind": "other"})],
                [json.dumps({"format": "resolver-cache", "version": 99}), *lines[1:]],
                [*lines[:1], lines[1].replace('"rdata": ["', '"rdata": ["!!')]):
        broken = tmp_path / "broken.jsonl"
        broken.write_text("\n".join(bad) + "\n")
        with pytest.raises(cache_dump.DumpError, match=r"broken\.jsonl:"):
            resolver.load_cache(broken)
        assert len(resolver.rrsets) == len(resolver.negative) == 0
    with pytest.raises(FileNotFoundError):
        resolver.load_cache(tmp_path / "missing.jsonl")
