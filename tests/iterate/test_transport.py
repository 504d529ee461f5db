"""Issue 4 / SECURITY.md s2: the upstream transport. Every UDP query goes out from a
fresh connected socket on a random port with a random ID (both from ``secrets``);
replies are accepted only from the queried address and port with the query's ID and
question; anything else is a suspected spoof (the iterator then moves to TCP).
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import pytest

from resolver.iterate.transport import NetTransport, SpoofSuspected, UpstreamTimeout
from resolver.wire import message as wm
from resolver.wire.message import Message, Question
from resolver.wire.name import Name
from resolver.wire.types import QR, RD, Rcode, RRType
from tests.loop import LoopThread
from tests.networks import LAB_FAULTY, Net, in_process_lab, run

RECORDER = "127.0.0.68"      # a lab address; this server takes its own port


@dataclass
class Recorder(asyncio.DatagramProtocol):
    """A UDP server that records (source address, source port, message ID) and
    answers through *reply* (which may forge)."""

    reply: Callable[[Message], Message | None]
    seen: list[tuple[str, int, int]] = field(default_factory=list)
    transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = wm.parse(data)
        self.seen.append((addr[0], addr[1], query.id))
        out = self.reply(query)
        if out is not None and self.transport is not None:
            self.transport.sendto(out.to_wire(), addr)


def honest(query: Message) -> Message:
    return wm.make_response(query)


@dataclass
class RunningRecorder:
    protocol: Recorder
    port: int


@pytest.fixture
def recorder(loop_thread: LoopThread) -> Iterator[Callable[..., RunningRecorder]]:
    started: list[Recorder] = []

    def make(reply: Callable[[Message], Message | None] = honest) -> RunningRecorder:
        async def go() -> RunningRecorder:
            loop = asyncio.get_running_loop()
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: Recorder(reply), local_addr=(RECORDER, 0))
            started.append(protocol)
            return RunningRecorder(protocol, transport.get_extra_info("sockname")[1])
        return loop_thread.run(go())

    yield make
    for protocol in started:
        if protocol.transport is not None:
            loop_thread.call(protocol.transport.close)


def a_query(name: str = "www.lab.") -> Message:
    return wm.make_query(Name.from_text(name), RRType.A)


def test_random_source_ports_and_ids(recorder: Callable[..., RunningRecorder]) -> None:
    server = recorder()
    transport = NetTransport(source_v4="127.0.0.1")

    async def fifty() -> None:
        for _ in range(50):
            reply = await transport.query((RECORDER, server.port), a_query(), tcp=False,
                                          timeout=2.0)
            assert reply.message.flags & QR

    run(fifty())
    seen = server.protocol.seen
    assert len(seen) == 50
    ports = [port for _, port, _ in seen]
    ids = [msg_id for _, _, msg_id in seen]
    assert len(set(ports)) >= 48, sorted(ports)       # a fresh random port each time
    assert len(set(ids)) >= 48
    assert all(1024 <= p <= 65535 and p not in (4791, 11211) for p in ports)
    assert max(ports) - min(ports) > 16384            # spread over the whole range
    assert max(ids) - min(ids) > 16384
    steps = {b - a for a, b in itertools.pairwise(ports)}
    assert len(steps) > 40                            # no fixed stride


def test_wrong_id_is_a_suspected_spoof(recorder: Callable[..., RunningRecorder]) -> None:
    def forge(query: Message) -> Message:
        reply = wm.make_response(query)
        reply.id = (query.id + 1) & 0xFFFF
        return reply

    server = recorder(forge)
    with pytest.raises(SpoofSuspected):
        run(NetTransport().query((RECORDER, server.port), a_query(), tcp=False, timeout=2.0))


def test_wrong_question_is_a_suspected_spoof(recorder: Callable[..., RunningRecorder]) -> None:
    def forge(query: Message) -> Message:
        reply = wm.make_response(query)
        q = query.question[0]
        reply.question = [Question(Name.from_text("www.victim."), q.qtype, q.qclass)]
        return reply

    server = recorder(forge)
    with pytest.raises(SpoofSuspected):
        run(NetTransport().query((RECORDER, server.port), a_query(), tcp=False, timeout=2.0))


def test_other_type_or_no_qr_rejected(recorder: Callable[..., RunningRecorder]) -> None:
    def other_type(query: Message) -> Message:
        reply = wm.make_response(query)
        reply.question = [Question(query.question[0].name, RRType.AAAA)]
        return reply

    def not_a_response(query: Message) -> Message:
        reply = wm.make_response(query)
        reply.flags &= ~QR
        return reply

    for forge in (other_type, not_a_response):
        server = recorder(forge)
        with pytest.raises(SpoofSuspected):
            run(NetTransport().query((RECORDER, server.port), a_query(), tcp=False,
                                     timeout=2.0))


def test_letter_case_of_the_question_may_differ(
        recorder: Callable[..., RunningRecorder]) -> None:
    """Names compare case-insensitively (no 0x20 here): a server that lowercases the
    question is still believed."""
    def lower(query: Message) -> Message:
        reply = wm.make_response(query)
        reply.question = [Question(query.question[0].name.lower(), RRType.A)]
        return reply

    server = recorder(lower)
    reply = run(NetTransport().query((RECORDER, server.port), a_query("WwW.LaB."), tcp=False,
                                     timeout=2.0))
    assert reply.message.id


def test_reply_from_another_source_not_accepted(lab: Net) -> None:
    """The ``other_source`` fault answers from 127.0.0.254. An unconnected socket
    would take that reply; the transport's connected socket never sees it."""
    query = a_query("www.source.lab.")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:   # the contrast
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(2.0)
        sock.sendto(query.to_wire(), (LAB_FAULTY, lab.port))
        data, source = sock.recvfrom(65535)
        assert source[0] == "127.0.0.254"
        assert struct.unpack_from("!H", data)[0] == query.id
    lab.reset_queries()
    with pytest.raises(UpstreamTimeout):
        run(NetTransport().query((LAB_FAULTY, lab.port), a_query("www.source.lab."),
                                 tcp=False, timeout=0.5))
    assert lab.queries(LAB_FAULTY), "the query never reached the server"


def test_tcp_skips_unrelated_replies(lab: Net) -> None:
    """Over TCP the answer to the question is taken; a honest server answers it."""
    reply = run(NetTransport().query((LAB_FAULTY, lab.port), a_query("www.spoof.lab."),
                                     tcp=True, timeout=2.0))
    assert [rr.rdata for rr in reply.message.answer] == [bytes((192, 0, 2, 76))]
    assert reply.tcp


def test_edns_1232_upstream(tmp_path: Path) -> None:
    """Upstream queries carry EDNS with 1232 bytes, never RD, and DO only when the
    resolver validates."""
    world = in_process_lab()
    run(world.resolver(tmp_path).resolve(Name.from_text("www.lab."), RRType.A))
    plain = [q for _, q, _ in world.transport.sent]
    validating = world.resolver(tmp_path, validate=True)
    iterator = validating.iterator
    run(iterator.resolve(Name.from_text("www.other."), RRType.A, iterator.new_state()))
    with_do = [q for _, q, _ in world.transport.sent][len(plain):]
    assert plain and with_do
    for q in plain + with_do:
        assert q.edns is not None and q.edns.payload == 1232 and q.edns.version == 0
        assert not q.flags & RD
    assert not any(q.do for q in plain)
    assert all(q.do for q in with_do)


def test_loopback_servers_refused_by_default(lab: Net) -> None:
    """Without --allow-loopback-upstream no query goes to 127.0.0.0/8 (as Unbound)."""
    lab.reset_queries()
    resolver = lab.resolver(allow_loopback_upstream=False)
    answer = run(resolver.resolve(Name.from_text("www.lab."), RRType.A))
    assert answer.rcode == Rcode.SERVFAIL
    assert lab.queries() == []


def test_which_upstream_addresses_are_used(tmp_path: Path) -> None:
    world = in_process_lab()
    allowed = world.resolver(tmp_path).iterator._allowed
    assert allowed("192.0.2.1") and allowed("2001:db8::1") and allowed("127.0.0.53")
    for bad in ("0.0.0.0", "::", "224.0.0.1", "ff02::1", "169.254.1.1", "fe80::1",
                "255.255.255.255", "240.0.0.1", "not-an-address"):
        assert not allowed(bad), bad
    v4only = world.resolver(tmp_path, ipv6_upstream=False)
    assert not v4only.iterator._allowed("2001:db8::1")
    assert not world.resolver(tmp_path, allow_loopback_upstream=False).iterator._allowed(
        "127.0.0.53")
    # without IPv6, glueless name servers are looked up for A only
    run(v4only.resolve(Name.from_text("www.glueless.lab."), RRType.A))
    asked = [(q.question[0].name, q.question[0].qtype) for _, q, _ in world.transport.sent]
    assert (Name.from_text("gns.other."), RRType.A) in asked
    assert (Name.from_text("gns.other."), RRType.AAAA) not in asked
