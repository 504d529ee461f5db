"""Issue 4, fault tests: the resolver against servers that misbehave (SECURITY.md s2).

The ``lab`` network (conftest) has one zone per fault; the ``hierarchy`` network is
the project's own ``zones/`` with the faults its manifest names; ``interop`` serves
the frozen hierarchy with the 3 kB TXT answer.
"""

from __future__ import annotations

import time

from resolver.wire.name import Name
from resolver.wire.rrset import RRset
from resolver.wire.types import Rcode, RRType
from tests.networks import LAB_FAULTY, LAB_GOOD, LAB_LAME, LAB_SILENT, Net, run


def n(text: str) -> Name:
    return Name.from_text(text)


def addresses(answer_rrsets: list[RRset], rtype: int = RRType.A) -> list[str]:
    out = []
    for rrset in answer_rrsets:
        if rrset.rtype == rtype:
            out += [".".join(str(b) for b in d) for d in rrset.rdatas]
    return out


def transports(net: Net, address: str, qname: str) -> list[str]:
    return [t for q, _, t in net.queries(address) if q == n(qname)]


# ----------------------------------------------------------------------------- lame
def test_lame_server_then_the_working_one(lab: Net) -> None:
    """ns1 answers REFUSED for the zone; ns2 answers: the resolver gets the data and
    remembers ns1 as lame for that zone."""
    lab.reset_queries()
    resolver = lab.resolver()
    port = lab.port
    # make the lame server the first choice
    resolver.infra.info((LAB_GOOD, port)).srtt = 0.5
    resolver.infra.info((LAB_GOOD, port)).samples = 1
    answer = run(resolver.resolve(n("www.lame.lab."), RRType.A))
    assert answer.rcode == Rcode.NOERROR
    assert addresses(answer.answer) == ["192.0.2.73"]
    assert lab.queries(LAB_LAME), "the lame server was never asked"
    assert resolver.infra.is_lame((LAB_LAME, port), n("lame.lab.").key, time.time())
    # the next name goes to the working server first
    lab.reset_queries()
    again = run(resolver.resolve(n("lame.lab."), RRType.SOA))
    assert again.rcode == Rcode.NOERROR
    assert not lab.queries(LAB_LAME)


def test_lame_server_in_the_project_hierarchy(hierarchy: Net) -> None:
    resolver = hierarchy.resolver()
    for _ in range(3):   # whichever server is tried first
        answer = run(resolver.resolve(n("www.lame.example."), RRType.A))
        assert answer.rcode == Rcode.NOERROR
        assert addresses(answer.answer) == ["192.0.2.57"]
        resolver = hierarchy.resolver()


# ----------------------------------------------------------------------------- silent
def test_silent_server_then_another(lab: Net) -> None:
    """ns1 never answers; after its timeout ns2 is asked, within a bounded time."""
    lab.reset_queries()
    resolver = lab.resolver()
    resolver.infra.info((LAB_GOOD, lab.port)).srtt = 0.5   # the silent one first
    resolver.infra.info((LAB_GOOD, lab.port)).samples = 1
    started = time.monotonic()
    answer = run(resolver.resolve(n("www.silent.lab."), RRType.A))
    took = time.monotonic() - started
    assert answer.rcode == Rcode.NOERROR
    assert addresses(answer.answer) == ["192.0.2.74"]
    assert lab.queries(LAB_SILENT), "the silent server was never asked"
    assert took < 3.5, took
    assert resolver.infra.info((LAB_SILENT, lab.port)).timeouts == 1


def test_silent_zone_fails_in_bounded_time(hierarchy: Net) -> None:
    resolver = hierarchy.resolver()
    started = time.monotonic()
    answer = run(resolver.resolve(n("www.silent.example."), RRType.A))
    assert answer.rcode == Rcode.SERVFAIL
    assert answer.ede and answer.ede[0][0] in (22, 23)
    assert time.monotonic() - started < 5.0


def test_slow_server_answered(hierarchy: Net) -> None:
    answer = run(hierarchy.resolver().resolve(n("www.slow.example."), RRType.A))
    assert answer.rcode == Rcode.NOERROR and addresses(answer.answer)


# ----------------------------------------------------------------------------- TC / TCP
def test_always_tc_then_tcp(lab: Net) -> None:
    lab.reset_queries()
    answer = run(lab.resolver().resolve(n("www.tc.lab."), RRType.A))
    assert answer.rcode == Rcode.NOERROR
    assert addresses(answer.answer) == ["192.0.2.78"]
    assert transports(lab, LAB_FAULTY, "www.tc.lab.") == ["udp", "tcp"]


def test_always_tc_in_the_project_hierarchy(hierarchy: Net) -> None:
    answer = run(hierarchy.resolver().resolve(n("www.tc.example."), RRType.A))
    assert answer.rcode == Rcode.NOERROR and addresses(answer.answer)


def test_big_answer_over_tcp(interop: Net) -> None:
    """The 3 kB TXT RRset does not fit 1232 bytes: truncated over UDP, whole over TCP."""
    interop.reset_queries()
    answer = run(interop.resolver().resolve(n("big.rsasha256.test."), RRType.TXT))
    assert answer.rcode == Rcode.NOERROR
    final = answer.final_rrset()
    assert final is not None
    size = sum(len(d) for d in final.rdatas)
    assert size > 2500, size
    seen = transports(interop, "127.0.0.13", "big.rsasha256.test.")
    assert seen[-2:] == ["udp", "tcp"], seen


# ----------------------------------------------------------------------------- spoofing
def test_wrong_id_ignored_then_tcp(lab: Net) -> None:
    """UDP replies with another message ID are not accepted; the query moves to TCP."""
    lab.reset_queries()
    resolver = lab.resolver()
    answer = run(resolver.resolve(n("www.spoof.lab."), RRType.A))
    assert answer.rcode == Rcode.NOERROR
    assert addresses(answer.answer) == ["192.0.2.76"]
    assert transports(lab, LAB_FAULTY, "www.spoof.lab.") == ["udp", "tcp"]
    assert resolver.infra.info((LAB_FAULTY, lab.port)).spoof_suspect == 1


def test_wrong_question_ignored_then_tcp(lab: Net) -> None:
    lab.reset_queries()
    resolver = lab.resolver()
    answer = run(resolver.resolve(n("www.wrongq.lab."), RRType.A))
    assert answer.rcode == Rcode.NOERROR
    assert addresses(answer.answer) == ["192.0.2.77"]
    assert transports(lab, LAB_FAULTY, "www.wrongq.lab.") == ["udp", "tcp"]
    # nothing was cached under the question the forged reply carried
    assert resolver.rrsets.get(n("wrong.www.wrongq.lab."), RRType.A) is None


def test_spoofing_server_never_believed(hierarchy: Net) -> None:
    """spoof.example.'s server sends wrong IDs over UDP and TCP: SERVFAIL, nothing
    cached, after one UDP and one TCP attempt."""
    hierarchy.reset_queries()
    resolver = hierarchy.resolver()
    answer = run(resolver.resolve(n("www.spoof.example."), RRType.A))
    assert answer.rcode == Rcode.SERVFAIL
    assert resolver.rrsets.get(n("www.spoof.example."), RRType.A) is None
    seen = transports(hierarchy, "127.0.0.25", "www.spoof.example.")
    assert seen[:2] == ["udp", "tcp"], seen


def test_reply_from_another_address_ignored(lab: Net) -> None:
    """The server answers from 127.0.0.254: the connected socket never delivers it,
    so the query times out (one server: SERVFAIL) and nothing is cached."""
    lab.reset_queries()
    resolver = lab.resolver()
    answer = run(resolver.resolve(n("www.source.lab."), RRType.A))
    assert answer.rcode == Rcode.SERVFAIL
    assert lab.queries(LAB_FAULTY), "the query never reached the server"
    assert resolver.rrsets.get(n("www.source.lab."), RRType.A) is None


# ----------------------------------------------------------------------------- glueless
def test_glueless_delegation_resolved(lab: Net) -> None:
    lab.reset_queries()
    answer = run(lab.resolver().resolve(n("www.glueless.lab."), RRType.A))
    assert answer.rcode == Rcode.NOERROR
    assert addresses(answer.answer) == ["192.0.2.71"]
    assert n("gns.other.") in [q for q, _, _ in lab.queries()]


def test_glueless_delegation_interop(interop: Net) -> None:
    answer = run(interop.resolver().resolve(n("www.glueless.test."), RRType.A))
    assert answer.rcode == Rcode.NOERROR
    assert addresses(answer.answer) == ["192.0.2.22"]


def test_glueless_delegation_project_hierarchy(hierarchy: Net) -> None:
    answer = run(hierarchy.resolver().resolve(n("www.glueless.example."), RRType.A))
    assert answer.rcode == Rcode.NOERROR and addresses(answer.answer)


def test_server_answering_formerr_to_edns(lab: Net) -> None:
    """A server that answers FORMERR to EDNS is asked again without it (and
    remembered as such)."""
    lab.set_faults(LAB_FAULTY, "poison.lab.", formerr_edns=True)
    try:
        resolver = lab.resolver()
        answer = run(resolver.resolve(n("www.poison.lab."), RRType.A))
        assert answer.rcode == Rcode.NOERROR
        assert addresses(answer.answer) == ["192.0.2.72"]
        assert resolver.infra.info((LAB_FAULTY, lab.port)).no_edns
    finally:
        lab.clear_faults(LAB_FAULTY, "poison.lab.")


def test_garbage_and_truncated_replies(lab: Net) -> None:
    """Malformed replies are errors of that server, never a crash."""
    for fault in ("garbage", "truncated"):
        lab.set_faults(LAB_FAULTY, "poison.lab.", **{fault: True})
        try:
            answer = run(lab.resolver().resolve(n("www.poison.lab."), RRType.A))
            assert answer.rcode in (Rcode.SERVFAIL, Rcode.NOERROR), fault
            if answer.rcode == Rcode.NOERROR:   # a truncated reply may still be whole
                assert addresses(answer.answer) == ["192.0.2.72"], fault
        finally:
            lab.clear_faults(LAB_FAULTY, "poison.lab.")
