"""QNAME minimisation (RFC 9156) against a scripted two-server world, in process.

What the minimised questions are (type A for the names between the zone cut and the
full name, the client's type only with the full name, RFC 9156 s2.1) and the fallback
to the full name when a server mishandles them: an error rcode, silence, or an
NXDOMAIN for an empty non-terminal (which RFC 8020 rules out; RFC 9156 lets a
resolver go on with the full name rather than believe it).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from resolver.config import Settings
from resolver.iterate.transport import FakeTransport, Server
from resolver.service import Resolver
from resolver.wire import message as wm
from resolver.wire.message import Message
from resolver.wire.name import Name
from resolver.wire.types import AA, Rcode, RRType
from resolver.wire.zonefile import read_rr_line

ROOT_SERVER = "192.0.2.1"
ZONE_SERVER = "192.0.2.2"
FULL = Name.from_text("www.a.b.example.")
SOA = "example. 300 IN SOA ns.example. admin.example. 1 3600 600 86400 300"


class World:
    """The root refers ``example.`` to ZONE_SERVER, which holds ``www.a.b.example.``
    (A and TXT; ``b.example.`` and ``a.b.example.`` are empty non-terminals) and
    answers other names in the zone with *fault* instead of their right answer:
    an rcode, ``"timeout"``, or ``"nxdomain-ent"`` (NXDOMAIN for the non-terminals)."""

    def __init__(self, fault: str | None = None, full_fault: str | None = None) -> None:
        self.fault = fault
        self.full_fault = full_fault   # the same for the full name
        self.transport = FakeTransport(self.handle)

    async def handle(self, server: Server, query: Message, tcp: bool) -> Message | None:
        q = query.question[0]
        if server[0] == ROOT_SERVER:
            reply = wm.make_response(query)
            reply.authority.append(read_rr_line("example. 3600 IN NS ns.example."))
            reply.additional.append(read_rr_line(f"ns.example. 3600 IN A {ZONE_SERVER}"))
            return reply
        fault = self.full_fault if q.name == FULL else self.fault
        if fault == "timeout":
            return None
        if fault in ("SERVFAIL", "REFUSED", "FORMERR", "NOTIMP"):
            return wm.make_response(query, Rcode[fault])
        reply = wm.make_response(query)
        reply.flags |= AA
        if q.name == FULL and q.qtype in (RRType.A, RRType.TXT):
            data = "192.0.2.80" if q.qtype == RRType.A else '"found"'
            reply.answer.append(read_rr_line(
                f"{FULL} 300 IN {'A' if q.qtype == RRType.A else 'TXT'} {data}"))
            return reply
        if fault == "nxdomain-ent" or not FULL.is_subdomain(q.name):
            reply.set_rcode(Rcode.NXDOMAIN)
        reply.authority.append(read_rr_line(SOA))   # NODATA (or the NXDOMAIN's SOA)
        return reply

    def asked(self, address: str) -> list[tuple[str, str]]:
        return [(str(m.question[0].name), RRType(m.question[0].qtype).name)
                for (addr, _), m, _ in self.transport.sent if addr == address]


def resolver(world: World, tmp_path: Path, qmin: bool = True) -> Resolver:
    hints = tmp_path / "root.hints"
    hints.write_text(f". 3600000 IN NS a.root.\na.root. 3600000 IN A {ROOT_SERVER}\n",
                     encoding="utf-8")
    settings = Settings(root_hints=hints, validate=False, qname_minimisation=qmin,
                        cache_size_mb=4.0)
    return Resolver(settings, transport=world.transport)


def ask(res: Resolver, qtype: int = RRType.TXT, name: Name = FULL) -> tuple[int, list[str]]:
    answer = asyncio.run(res.resolve(name, qtype))
    return answer.rcode, [rr.to_text() for rs in answer.answer for rr in rs.records()]


def test_minimised_questions_ask_for_a_then_the_client_type(tmp_path: Path) -> None:
    """RFC 9156 s2.1: type A hides the client's type on the way down; only the
    server of the final zone sees the full name, with the type asked."""
    world = World()
    rcode, records = ask(resolver(world, tmp_path))
    assert rcode == Rcode.NOERROR and any('"found"' in r for r in records)
    assert world.asked(ROOT_SERVER) == [("example.", "A")]
    assert world.asked(ZONE_SERVER) == [("b.example.", "A"), ("a.b.example.", "A"),
                                        ("www.a.b.example.", "TXT")]


def test_without_minimisation_every_server_sees_the_full_question(tmp_path: Path) -> None:
    world = World()
    rcode, _ = ask(resolver(world, tmp_path, qmin=False))
    assert rcode == Rcode.NOERROR
    assert world.asked(ROOT_SERVER) == [("www.a.b.example.", "TXT")]
    assert world.asked(ZONE_SERVER) == [("www.a.b.example.", "TXT")]


@pytest.mark.parametrize("fault", ["SERVFAIL", "REFUSED", "FORMERR", "NOTIMP", "timeout",
                                   "nxdomain-ent"])
def test_a_server_that_mishandles_minimised_questions_gets_the_full_name(
        tmp_path: Path, fault: str) -> None:
    """The minimised question fails; the full one is asked next and answered."""
    world = World(fault)
    rcode, records = ask(resolver(world, tmp_path))
    assert rcode == Rcode.NOERROR and any('"found"' in r for r in records), (fault, rcode)
    asked = world.asked(ZONE_SERVER)
    assert asked[-1] == ("www.a.b.example.", "TXT"), asked
    minimised = [q for q in asked if q[0] != "www.a.b.example."]
    # only the first minimised name is tried: once it fails, minimisation stops
    assert minimised and set(minimised) == {("b.example.", "A")}, asked


def test_a_failing_full_name_still_fails(tmp_path: Path) -> None:
    """The fallback is one more try, not a loop: SERVFAIL when the full name fails too."""
    world = World("SERVFAIL", full_fault="SERVFAIL")
    rcode, _ = ask(resolver(world, tmp_path))
    assert rcode == Rcode.SERVFAIL
    asked = world.asked(ZONE_SERVER)
    assert ("www.a.b.example.", "TXT") in asked
    assert len(asked) <= 16, asked


def test_ds_questions_are_not_minimised(tmp_path: Path) -> None:
    """A DS lives on the parent side: its question goes out in full at once."""
    world = World()
    ask(resolver(world, tmp_path), RRType.DS)
    assert world.asked(ZONE_SERVER) == [("www.a.b.example.", "DS")]
