"""Issue 14 s3: DNAME and rcode edges (RFC 6672), on the zones/ network.

``secure.example.`` holds the DNAMEs (zones/README.md): ``long.`` maps onto a name of
213 octets, so a first label of 42 characters below it makes the substitution longer
than 255 octets and the server answers YXDOMAIN with the DNAME (s2.2); ``alias.`` maps
onto ``target.``, where ``back.target.`` is a CNAME back below ``alias.`` and
``sub.target.`` another DNAME; ``back.nsec3.example.`` leads back below ``dname.``
from another zone. Each question is asked from the network and again, on the same
resolver, from the cache, which must give the same answer without asking anyone; and
once more through the DNS server, whose wire answer (rcode, AD, answer section) is
what a client sees. Every answer here is signed: secure, with AD on the wire.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from resolver.answer import Answer, IterResult
from resolver.authority.lookup import lookup
from resolver.config import IterLimits
from resolver.dnssec.budget import Budget
from resolver.dnssec.status import Security
from resolver.iterate.scrub import Kind, classify
from resolver.server.listener import DnsServer
from resolver.service import Resolver
from resolver.validate.trace import OFF
from resolver.wire import message as wm
from resolver.wire.message import RR, Message
from resolver.wire.name import Name
from resolver.wire.rrset import RRset
from resolver.wire.types import AD, Rcode, RRType, type_from_text
from tests.loop import LoopThread

from .conftest import Served, run

SEC = Security.SECURE
NOERROR, YXDOMAIN = Rcode.NOERROR, Rcode.YXDOMAIN
A, CNAME, DNAME = RRType.A, RRType.CNAME, RRType.DNAME

ZONE = "secure.example."
TOO_LONG = f"{'x' * 42}.long.{ZONE}"           # 43 + 213 = 256 octets: YXDOMAIN
FITS = f"{'x' * 41}.long.{ZONE}"               # 42 + 213 = 255 octets: still a name
LONG_TARGET = ".".join(c * 63 for c in "abc") + f".wild.{ZONE}"

# (name, type) -> (rcode, [(owner, type) of the answer section, in order])
CASES: dict[tuple[str, str], tuple[int, list[tuple[str, int]]]] = {
    # s2.2: the substitution overflows: YXDOMAIN with the (validated) DNAME only
    (TOO_LONG, "A"): (YXDOMAIN, [(f"long.{ZONE}", DNAME)]),
    (TOO_LONG, "DNAME"): (YXDOMAIN, [(f"long.{ZONE}", DNAME)]),
    (FITS, "A"): (NOERROR, [(f"long.{ZONE}", DNAME), (FITS, CNAME),
                            (f"{'x' * 41}.{LONG_TARGET}", A)]),      # the wildcard of wild.
    # s2.3: type DNAME at the owner is the DNAME itself; below it the substitution
    # applies, then the DNAME at the target if there is one (else a NODATA there)
    (f"dname.{ZONE}", "DNAME"): (NOERROR, [(f"dname.{ZONE}", DNAME)]),
    (f"www.dname.{ZONE}", "DNAME"): (NOERROR, [(f"dname.{ZONE}", DNAME),
                                               (f"www.dname.{ZONE}", CNAME)]),
    (f"sub.alias.{ZONE}", "DNAME"): (NOERROR, [(f"alias.{ZONE}", DNAME),
                                               (f"sub.alias.{ZONE}", CNAME),
                                               (f"sub.target.{ZONE}", DNAME)]),
    # the same DNAME passed twice: carried once, each synthesized CNAME in its place;
    # within one zone (one response) and across zones (two responses)
    (f"back.alias.{ZONE}", "A"): (NOERROR, [(f"alias.{ZONE}", DNAME),
                                            (f"back.alias.{ZONE}", CNAME),
                                            (f"back.target.{ZONE}", CNAME),
                                            (f"www.alias.{ZONE}", CNAME),
                                            (f"www.target.{ZONE}", A)]),
    (f"back.dname.{ZONE}", "A"): (NOERROR, [(f"dname.{ZONE}", DNAME),
                                            (f"back.dname.{ZONE}", CNAME),
                                            ("back.nsec3.example.", CNAME),
                                            (f"www.dname.{ZONE}", CNAME),
                                            ("www.nsec3.example.", A)]),
}


def shape(answer: Answer) -> tuple[int, Security, list[tuple[str, int]]]:
    return answer.rcode, answer.security, [(rs.name.to_text(), rs.rtype)
                                           for rs in answer.answer]


def twice(served: Served, name: str, rtype: str,
          **settings: object) -> tuple[Answer, Answer, int]:
    """The answer from the network, the answer from the cache of the same resolver,
    and how many upstream queries the second one cost."""
    async def body() -> tuple[Answer, Answer, int]:
        # no RFC 8145 key-tag query in the background: it would count as upstream
        resolver = served.resolver(trust_anchor_signaling=False, **settings)
        qname, qtype = Name.from_text(name), type_from_text(rtype)
        first = await resolver.resolve(qname, qtype)
        before = served.upstream_queries()
        second = await resolver.resolve(qname, qtype)
        return first, second, served.upstream_queries() - before
    return run(body())


@pytest.mark.parametrize("minimise", [True, False], ids=["qmin-on", "qmin-off"])
@pytest.mark.parametrize(("name", "rtype"), list(CASES), ids=[f"{n[:24]}-{t}" for n, t in CASES])
def test_network_then_cache(zones: Served, name: str, rtype: str, minimise: bool) -> None:
    rcode, chain = CASES[(name, rtype)]
    first, second, asked = twice(zones, name, rtype, qname_minimisation=minimise)
    want = (rcode, SEC, [(Name.from_text(n).to_text(), t) for n, t in chain])
    assert shape(first) == want, (first.reason, first.ede)
    assert shape(second) == want, (second.reason, second.ede)
    assert asked == 0, "the second answer came from the cache"


def test_yxdomain_carries_the_signed_dname(zones: Served) -> None:
    first, second, _ = twice(zones, TOO_LONG, "A")
    for answer in (first, second):
        (dname,) = answer.answer
        assert Name(dname.rdatas[0]) == Name.from_text(LONG_TARGET)
        assert dname.sigs, "the DNAME travels with its RRSIG"
        assert not answer.authority and not answer.ede


def test_yxdomain_is_validated_like_any_answer(zones: Served) -> None:
    """The DNAME of a YXDOMAIN needs its signature like any RRset: without one it is
    bogus (SERVFAIL for the client), never passed on as an unchecked YXDOMAIN."""
    async def body() -> tuple[Security, Security]:
        resolver = zones.resolver(trust_anchor_signaling=False)
        qname = Name.from_text(TOO_LONG)
        (dname,) = (await resolver.resolve(qname, A)).answer
        state = resolver.iterator.new_state()

        async def fetch(name: Name, rtype: int) -> IterResult:
            return await resolver.iterator.resolve(name, rtype, state)

        async def verdict(rrset: RRset) -> Security:
            result = IterResult(rcode=YXDOMAIN, from_cache=False)
            result.add(rrset, Name.from_text(ZONE))
            outcome = await resolver.validator.validate(qname, A, result, fetch, Budget(), OFF)
            return outcome.security

        unsigned = RRset(dname.name, DNAME, dname.rclass, dname.ttl, dname.rdatas)
        return await verdict(dname), await verdict(unsigned)

    signed, unsigned = run(body())
    assert (signed, unsigned) == (SEC, Security.BOGUS)


def test_yxdomain_without_an_overflow_is_a_server_error() -> None:
    """A server may say YXDOMAIN only when the DNAME it sends cannot be applied (the
    resolver checks with its own substitution); otherwise the reply is an error, and
    the next server is asked, as for SERVFAIL."""
    zone, limits = Name.from_text(ZONE), IterLimits()
    owner, target = Name.from_text(f"long.{ZONE}"), Name.from_text(LONG_TARGET)

    def reply(qname: str) -> Kind:
        query = wm.make_query(Name.from_text(qname), A)
        msg = wm.make_response(query, YXDOMAIN)
        msg.answer.append(RR(owner, DNAME, 1, 3600, target.wire))
        return classify(msg, zone, Name.from_text(qname), A, limits).kind

    assert reply(TOO_LONG) == Kind.YXDOMAIN
    assert reply(FITS) == Kind.ERROR
    assert reply(f"www.{ZONE}") == Kind.ERROR          # no DNAME above it at all


def test_dname_question_leaves_other_types_intact(zones: Served) -> None:
    """A question of type DNAME below the owner used to take the server's copy of the
    synthesized CNAME for a CNAME of the zone and cache it: an unsigned CNAME in a
    signed zone, bogus for the next question of any type at that name."""
    async def body() -> list[Answer]:
        resolver = zones.resolver()
        qname = Name.from_text(f"www.dname.{ZONE}")
        return [await resolver.resolve(qname, rtype)
                for rtype in (DNAME, A, CNAME, DNAME)]
    dname, data, cname, again = run(body())
    assert (dname.rcode, dname.security) == (again.rcode, again.security) == (NOERROR, SEC)
    assert [rs.rtype for rs in data.answer] == [DNAME, CNAME, A]
    assert data.security == SEC and cname.security == SEC
    assert [rs.rtype for rs in cname.answer] == [DNAME, CNAME]      # the synthesis answers
    assert dname.final_rrset() is None                               # NODATA at the target


def test_authoritative_server_dname_edges(zones: Served) -> None:
    """The test server (resolver/authority/lookup.py) as RFC 6672 s3.1 says: YXDOMAIN
    with the DNAME and no CNAME when the substitution overflows; the DNAME itself for
    type DNAME at its owner; a DNAME met twice in one response sent once."""
    zone = zones.net.zones[Name.from_text(ZONE).key]

    def answer(name: str, rtype: int) -> tuple[int, list[tuple[str, int]]]:
        out = lookup(zone, Name.from_text(name), rtype, dnssec=True)
        return out.rcode, [(rr.name.to_text(), rr.rtype) for rr in out.answer]

    assert answer(TOO_LONG, A) == (YXDOMAIN, [(f"long.{ZONE}", DNAME),
                                              (f"long.{ZONE}", RRType.RRSIG)])
    assert answer(f"alias.{ZONE}", DNAME) == (NOERROR, [(f"alias.{ZONE}", DNAME),
                                                        (f"alias.{ZONE}", RRType.RRSIG)])
    rcode, records = answer(f"back.alias.{ZONE}", A)
    assert rcode == NOERROR and records.count((f"alias.{ZONE}", DNAME)) == 1
    assert records.count((f"alias.{ZONE}", RRType.RRSIG)) >= 1
    assert [t for _, t in records if t not in (RRType.RRSIG,)] == [DNAME, CNAME, CNAME, CNAME, A]


# ----------------------------------------------------------------------------- the wire
@pytest.fixture
def dns(zones: Served, loop_thread: LoopThread) -> Iterator[tuple[DnsServer, int]]:
    settings = zones.settings(listen=[("127.0.0.1", 0)], trust_anchor_signaling=False)
    server = DnsServer(Resolver(settings), settings)
    loop_thread.run(server.start())
    try:
        yield server, server.bound[0][1]
    finally:
        loop_thread.run(server.stop())


def ask_wire(port: int, name: str, rtype: int, *, do: bool) -> Message:
    query = wm.make_query(Name.from_text(name), rtype, rd=True, do=do, ad=not do)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(20.0)
        sock.connect(("127.0.0.1", port))
        sock.send(query.to_wire())
        reply = wm.parse(sock.recv(65535))
    assert reply.id == query.id
    return reply


WIRE = [(TOO_LONG, "A"), (f"dname.{ZONE}", "DNAME"), (f"sub.alias.{ZONE}", "DNAME"),
        (f"back.alias.{ZONE}", "A"), (f"back.dname.{ZONE}", "A")]


@pytest.mark.parametrize(("name", "rtype"), WIRE, ids=[f"{n[:24]}-{t}" for n, t in WIRE])
def test_wire_answers(zones: Served, dns: tuple[DnsServer, int], name: str,
                      rtype: str) -> None:
    """With DO from the network, with DO again (the wire cache), then with AD and
    without DO (another cache key: the service's caches): the rcode, AD, and the
    answer section, each RRset once, with its RRSIGs when DO was set."""
    server, port = dns
    rcode, chain = CASES[(name, rtype)]
    want = [(Name.from_text(n).to_text(), t) for n, t in chain]
    qtype = type_from_text(rtype)
    replies = [ask_wire(port, name, qtype, do=True)]
    hits, before = server.stats.fast_hits, zones.upstream_queries()
    replies.append(ask_wire(port, name, qtype, do=True))
    assert server.stats.fast_hits == hits + 1
    replies.append(ask_wire(port, name, qtype, do=False))
    assert zones.upstream_queries() == before, "answered from the caches"
    for number, reply in enumerate(replies):
        assert reply.rcode == rcode, number
        assert reply.flags & AD, number
        data = [(rr.name.to_text(), rr.rtype) for rr in reply.answer if rr.rtype != RRType.RRSIG]
        assert data == want, number                         # one record per RRset here
        records = [(rr.name.key, rr.rtype, rr.rdata) for rr in reply.answer]
        assert len(records) == len(set(records)), f"{number}: a record repeated"
        signed = {(rr.name.to_text(), int.from_bytes(rr.rdata[:2], "big"))
                  for rr in reply.answer if rr.rtype == RRType.RRSIG}
        dnames = {(n, t) for n, t in want if t == DNAME}
        assert signed >= dnames if number < 2 else not signed, number  # RRSIGs with DO
