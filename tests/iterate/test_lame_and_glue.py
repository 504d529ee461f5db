"""Lame servers, stale glue and the two sides of a zone cut (issue 14 s2).

A small signed tree is answered in-process (the servers of
:mod:`resolver.testnet.server` with their faults, no sockets) under a fake clock that a
timeout moves on by the timeout the resolver chose, so "answered within seconds"
is measured in the resolver's own time and TTLs can expire on demand:

* ``stale.lg.``: the NS RRset lives a day, the address of the in-zone ns1 a minute;
  the other server (ns2) is dead. Once ns1's address expired, only the parent's glue
  can give it again.
* ``split.lg.``: the parent delegates to ns1 (alive); the child's own NS RRset names
  ns2 (dead). Once the child's set is cached, the parent's set must be the fallback.
* ``moved.lg.``: the parent delegates to ns1 only; the child's own NS RRset adds ns3
  (another server). Once the child's set is cached and ns1 stops answering, the
  child-side server must carry the zone: the parent's glue is dead, the child's NS known.
* ``up.lg.``: one server answers with an upward (or sideways) referral, or an empty
  answer with the NS of a zone above: it is lame, not a NODATA.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from resolver.answer import Answer
from resolver.clock import FixedClock
from resolver.config import IterLimits, Settings
from resolver.dnssec.status import Security
from resolver.iterate.scrub import Kind, classify
from resolver.iterate.transport import FakeTransport, Reply, Server, UpstreamTimeout
from resolver.service import Resolver
from resolver.testnet.faults import Faults
from resolver.testnet.server import AuthServer
from resolver.wire import message as wm
from resolver.wire.message import Message
from resolver.wire.name import Name
from resolver.wire.types import AA, Rcode, RRType
from resolver.wire.zonefile import read_rr_line
from tests.networks import InProcessNet, run
from tests.validation.minitree import ZoneDef, build_tree, sign_spec

ROOT_NS, TLD_NS = "127.0.0.30", "127.0.0.31"
LIVE, DEAD = "127.0.0.32", "127.0.0.33"     # in-process only: nothing listens there
LIVE2 = "127.0.0.34"                          # moved.lg.'s second, child-side only server

SOA = "@ SOA ns1 hostmaster 1 3600 900 86400 300\n"


def zone_defs() -> list[ZoneDef]:
    spec = sign_spec()
    root = (". SOA a.root. h.root. 1 3600 900 86400 300\n. NS a.root.\n"
            f"a.root. A {ROOT_NS}\nlg. NS ns.lg.\nns.lg. A {TLD_NS}\n")
    tld = ("@ SOA ns hostmaster 1 3600 900 86400 300\n@ NS ns\n"
           f"ns A {TLD_NS}\n"
           f"stale 86400 NS ns1.stale\nstale 86400 NS ns2.stale\n"
           f"ns1.stale 60 A {LIVE}\nns2.stale 86400 A {DEAD}\n"
           f"split NS ns1.split\nns1.split A {LIVE}\n"
           f"up NS ns1.up\nup NS ns2.up\nns1.up A {LIVE}\nns2.up A {DEAD}\n"
           f"moved NS ns1.moved\nns1.moved A {LIVE}\n")
    stale = (SOA + "@ 86400 NS ns1\n@ 86400 NS ns2\n"
             f"ns1 60 A {LIVE}\nns2 86400 A {DEAD}\n"
             "www A 192.0.2.1\nwww2 A 192.0.2.2\n")
    split = (SOA + "@ NS ns2\n"
             f"ns1 A {LIVE}\nns2 A {DEAD}\n"
             "www A 192.0.2.3\n")
    moved = (SOA + "@ NS ns1\n@ NS ns3\n"
             f"ns1 A {LIVE}\nns3 A {LIVE2}\n"
             "www A 192.0.2.7\n")
    up = (SOA + "@ NS ns1\n@ NS ns2\n"
          f"ns1 A {LIVE}\nns2 A {DEAD}\n"
          "www A 192.0.2.4\nwww2 A 192.0.2.5\nwww3 A 192.0.2.6\n")
    return [ZoneDef(".", ROOT_NS, root, spec), ZoneDef("lg.", TLD_NS, tld, spec),
            ZoneDef("stale.lg.", LIVE, stale, spec), ZoneDef("split.lg.", LIVE, split, spec),
            ZoneDef("up.lg.", LIVE, up, spec), ZoneDef("moved.lg.", LIVE, moved, spec)]


class TimedTransport(FakeTransport):
    """A :class:`FakeTransport` that moves *clock* on: by the whole timeout when a
    server does not answer, by a millisecond when it does."""

    def __init__(self, net: InProcessNet, clock: FixedClock) -> None:
        super().__init__(net.handler)
        self.clock = clock

    async def query(self, server: Server, query: Message, *, tcp: bool,
                    timeout: float) -> Reply:
        try:
            reply = await super().query(server, query, tcp=tcp, timeout=timeout)
        except UpstreamTimeout:
            self.clock.advance(timeout)
            raise
        self.clock.advance(0.001)
        return reply


class Lab:
    def __init__(self, tmp: Path) -> None:
        tree = build_tree(zone_defs())
        net = tree.network
        # the second server of each leaf zone: dead for stale. and split.
        net.servers[DEAD] = AuthServer(DEAD, [])
        for origin in ("stale.lg.", "split.lg.", "up.lg."):
            net.servers[DEAD].add_zone(net.zones[Name.from_text(origin).key])
        for origin in ("stale.lg.", "split.lg."):
            net.servers[DEAD].set_faults(Name.from_text(origin), timeout=True)
        net.servers[LIVE2] = AuthServer(LIVE2, [])
        net.servers[LIVE2].add_zone(net.zones[Name.from_text("moved.lg.").key])
        self.net = InProcessNet(net)
        self.paths = net.write_outputs(tmp)

    def resolver(self, clock: FixedClock) -> tuple[Resolver, TimedTransport]:
        transport = TimedTransport(self.net, clock)
        settings = Settings(allow_loopback_upstream=True, upstream_port=53,
                            root_hints=self.paths["hints"],
                            trust_anchors=[self.paths["ds"]], nodefault=["test."],
                            cache_size_mb=8.0)
        return Resolver(settings, transport=transport, now=clock), transport


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    return Lab(tmp_path_factory.mktemp("lame-glue"))


def n(text: str) -> Name:
    return Name.from_text(text)


def ask(resolver: Resolver, name: str, rtype: int = RRType.A) -> Answer:
    return run(resolver.resolve(n(name), rtype))


def addresses(answer: Answer) -> list[str]:
    return [socket.inet_ntoa(d) for rs in answer.answer if rs.rtype == RRType.A
            for d in rs.rdatas]


def assert_secure(answer: Answer, address: str) -> None:
    assert answer.rcode == Rcode.NOERROR, answer.ede
    assert answer.security == Security.SECURE, answer.reason
    assert addresses(answer) == [address]


def sent_to(transport: FakeTransport, address: str) -> int:
    return sum(1 for (addr, _), _q, _tcp in transport.sent if addr == address)


# ----------------------------------------------------------------------------- stale glue
def test_expired_in_zone_address_is_fetched_again_from_the_parent(lab: Lab) -> None:
    clock = FixedClock()
    resolver, transport = lab.resolver(clock)
    assert_secure(ask(resolver, "www.stale.lg."), "192.0.2.1")
    clock.advance(120)     # ns1's address is gone, the NS RRset and ns2's address live on
    assert resolver.rrsets.get(n("ns1.stale.lg."), RRType.A) is None
    assert resolver.rrsets.get(n("stale.lg."), RRType.NS) is not None
    started, sent = clock(), len(transport.sent)
    answer = ask(resolver, "www2.stale.lg.")
    assert_secure(answer, "192.0.2.2")
    assert clock() - started < 5.0, "answered within seconds"
    assert len(transport.sent) - sent <= 10
    assert sent_to(transport, DEAD) >= 1       # the dead one was the only choice left


def test_parent_asked_again_once_when_every_server_is_dead(lab: Lab) -> None:
    """With both servers dead the parent is asked for the delegation once per client
    query, and the SERVFAIL comes after a bounded number of queries."""
    clock = FixedClock()
    resolver, transport = lab.resolver(clock)
    assert_secure(ask(resolver, "www.stale.lg."), "192.0.2.1")
    clock.advance(120)
    server = lab.net.net.servers[LIVE]
    server.set_faults(n("stale.lg."), timeout=True)
    try:
        sent = len(transport.sent)
        answer = ask(resolver, "www2.stale.lg.")
    finally:
        server.faults.pop(n("stale.lg.").key, None)
    assert answer.rcode == Rcode.SERVFAIL
    new = transport.sent[sent:]
    assert len(new) <= 12, [(a, q.question[0].name) for (a, _), q, _t in new]
    to_parent = [q for (addr, _), q, _tcp in new if addr == TLD_NS]
    assert [(q.question[0].name, q.question[0].qtype) for q in to_parent] == [
        (n("stale.lg."), RRType.NS)]


# ----------------------------------------------------------------------------- two sides
def test_dead_child_side_ns_falls_back_to_the_parent_delegation(lab: Lab) -> None:
    clock = FixedClock()
    resolver, transport = lab.resolver(clock)
    # the child's own NS set (ns2, dead) and its address, from authoritative answers
    ns = ask(resolver, "split.lg.", RRType.NS)
    assert ns.rcode == Rcode.NOERROR and ns.security == Security.SECURE
    assert_secure(ask(resolver, "ns2.split.lg."), DEAD)
    cached = resolver.rrsets.get(n("split.lg."), RRType.NS)
    assert cached is not None and [Name(d) for d in cached.rrset.rdatas] == [
        n("ns2.split.lg.")]
    started, sent = clock(), len(transport.sent)
    answer = ask(resolver, "www.split.lg.")
    assert_secure(answer, "192.0.2.3")
    assert clock() - started < 10.0
    assert len(transport.sent) - sent <= 20
    assert sent_to(transport, DEAD) >= 1


def test_dead_parent_glue_falls_forward_to_the_child_side_server(lab: Lab) -> None:
    """The parent's only delegated server stops answering; the child's own NS set,
    learnt earlier from an authoritative answer, names another server that carries
    the zone on its own."""
    clock = FixedClock()
    resolver, transport = lab.resolver(clock)
    ns = ask(resolver, "moved.lg.", RRType.NS)
    assert ns.rcode == Rcode.NOERROR and ns.security == Security.SECURE
    assert_secure(ask(resolver, "ns3.moved.lg."), LIVE2)
    cached = resolver.rrsets.get(n("moved.lg."), RRType.NS)
    assert cached is not None and sorted(Name(d).to_text() for d in cached.rrset.rdatas) == [
        "ns1.moved.lg.", "ns3.moved.lg."]
    server = lab.net.net.servers[LIVE]
    server.set_faults(n("moved.lg."), timeout=True)
    try:
        started, sent = clock(), len(transport.sent)
        answer = ask(resolver, "www.moved.lg.")
    finally:
        server.faults.pop(n("moved.lg.").key, None)
    assert_secure(answer, "192.0.2.7")
    assert clock() - started < 10.0, "answered within seconds"
    assert len(transport.sent) - sent <= 20
    assert sent_to(transport, LIVE2) >= 1


# ----------------------------------------------------------------------------- lame
def _upward(owner: str, aa: bool, ns_target: str = "a.root.") -> Faults:
    """A reply with no answer and NS records of *owner* in AUTHORITY (no SOA)."""
    def rewrite(query: Message, reply: Message) -> None:
        reply.answer = []
        reply.additional = [rr for rr in reply.additional if rr.rtype == RRType.OPT]
        reply.authority = [read_rr_line(f"{owner} 3600 IN NS {ns_target}")]
        if aa:
            reply.flags |= AA
        else:
            reply.flags &= ~AA
    return Faults(rewrite=rewrite)


@pytest.mark.parametrize(("owner", "aa"), [
    (".", False),            # upward to the root
    ("lg.", True),           # upward to the parent, AA set all the same
    ("side.up.lg.", True),   # sideways: a zone below that does not hold the name
    ("other.", False),       # another branch
])
def test_upward_or_sideways_referral_marks_the_server_lame(lab: Lab, owner: str,
                                                           aa: bool) -> None:
    server = lab.net.net.servers[DEAD]
    server.faults[n("up.lg.").key] = _upward(owner, aa)
    try:
        clock = FixedClock()
        resolver, transport = lab.resolver(clock)
        # the lame server first
        resolver.infra.info((LIVE, 53)).srtt = 2.0
        resolver.infra.info((LIVE, 53)).samples = 1
        answer = ask(resolver, "www.up.lg.")
        assert_secure(answer, "192.0.2.4")
        assert sent_to(transport, DEAD) >= 1, "the lame server was never asked"
        assert resolver.infra.is_lame((DEAD, 53), n("up.lg.").key, clock())
        assert len(transport.sent) <= 20
    finally:
        server.faults.pop(n("up.lg.").key, None)


def test_empty_non_authoritative_answer_with_ns_above_is_not_nodata(lab: Lab) -> None:
    """NOERROR, no AA, no answer, the parent's NS in AUTHORITY: lame, not a NODATA
    (which would make www3 vanish for the negative TTL)."""
    server = lab.net.net.servers[DEAD]
    server.faults[n("up.lg.").key] = _upward("lg.", False, "ns.lg.")
    try:
        clock = FixedClock()
        resolver, _ = lab.resolver(clock)
        resolver.infra.info((LIVE, 53)).srtt = 2.0
        resolver.infra.info((LIVE, 53)).samples = 1
        assert_secure(ask(resolver, "www3.up.lg."), "192.0.2.6")
    finally:
        server.faults.pop(n("up.lg.").key, None)


# ----------------------------------------------------------------------------- classify
def _reply(authority: list[str], *, aa: bool) -> Message:
    msg = wm.make_response(wm.make_query(n("www.sub.lab."), RRType.A), Rcode.NOERROR)
    if aa:
        msg.set_flag(AA)
    msg.authority = [read_rr_line(t) for t in authority]
    return msg


def _kind(authority: list[str], *, aa: bool) -> Kind:
    return classify(_reply(authority, aa=aa), n("sub.lab."), n("www.sub.lab."), RRType.A,
                    IterLimits()).kind


SUB_SOA = "sub.lab. 300 IN SOA ns1.sub.lab. h.sub.lab. 1 3600 900 86400 300"
SUB_NSEC = "www.sub.lab. 300 IN NSEC zz.sub.lab. RRSIG NSEC"


@pytest.mark.parametrize("aa", [False, True])
@pytest.mark.parametrize("owner", [".", "lab.", "other.", "x.sub.lab."])
def test_referral_that_does_not_lead_down_is_lame(owner: str, aa: bool) -> None:
    assert _kind([f"{owner} 300 IN NS ns.x."], aa=aa) == Kind.LAME


def test_ns_above_with_denial_records_is_still_lame() -> None:
    """NSEC records do not turn a referral upward into a NODATA."""
    assert _kind(["lab. 300 IN NS ns1.lab.", SUB_NSEC], aa=False) == Kind.LAME


@pytest.mark.parametrize("extra", [[], ["sub.lab. 300 IN NS ns1.sub.lab."],
                                   ["lab. 300 IN NS ns1.lab."]])
def test_authoritative_nodata_with_soa_stays_nodata(extra: list[str]) -> None:
    """Some servers add NS records to a NODATA; with AA and the zone's SOA it is one."""
    assert _kind([SUB_SOA, *extra], aa=True) == Kind.NODATA


def test_authoritative_nodata_without_soa_stays_nodata() -> None:
    """RFC 2308 s2.2 type 3 (no SOA, no NS), and with the zone's own NS."""
    assert _kind([], aa=True) == Kind.NODATA
    assert _kind(["sub.lab. 300 IN NS ns1.sub.lab."], aa=True) == Kind.NODATA
