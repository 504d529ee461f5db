"""Issue 18: the leaner cold path keeps its guarantees.

* The first asker of a question resolves in its own task; askers of the same question
  meanwhile merge into it, and a first asker that is cancelled (a client gone away, a
  time limit) cancels neither their answer nor the resolution filling the caches.
* An answered question leaves the in-flight table at once: the next asker starts
  afresh instead of merging into a finished resolution.
* The UDP transport's own receive (a reader callback and a timer instead of
  ``sock_recv`` under ``asyncio.timeout``): replies, timeouts, ICMP port unreachable,
  malformed replies and cancellation, over real loopback sockets.
"""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest

from resolver.answer import Answer
from resolver.iterate.transport import NetTransport, UpstreamError, UpstreamTimeout
from resolver.wire import message as wm
from resolver.wire.message import Message, Question
from resolver.wire.name import Name
from resolver.wire.types import QR, Rcode, RRType
from tests.networks import InProcessNet, in_process_lab, run

WWW = Name.from_text("www.lab.")


class Gate:
    """The in-process lab behind a gate: every upstream reply waits for it to open."""

    def __init__(self, net: InProcessNet) -> None:
        self.net = net
        self.open = asyncio.Event()
        self.asked = 0
        net.transport.handler = self.handler

    async def handler(self, server: tuple[str, int], query: Message,
                      tcp: bool) -> Message | None:
        self.asked += 1
        await self.open.wait()
        return await self.net.handler(server, query, tcp)


def _a_text(answer: Answer) -> list[str]:
    return [socket.inet_ntoa(data) for rs in answer.answer if rs.rtype == RRType.A
            for data in rs.rdatas]


def test_merged_asker_answered_when_the_first_is_cancelled(tmp_path: Path) -> None:
    net = in_process_lab()
    resolver = net.resolver(tmp_path)

    async def body() -> None:
        gate = Gate(net)
        first = asyncio.ensure_future(resolver.resolve(WWW, RRType.A))
        await asyncio.sleep(0)
        second = asyncio.ensure_future(resolver.resolve(WWW, RRType.A))
        await asyncio.sleep(0)
        assert resolver.stats.merged == 1
        first.cancel()
        await asyncio.sleep(0)
        gate.open.set()
        answer = await asyncio.wait_for(second, 10)
        assert first.cancelled()
        assert answer.rcode == Rcode.NOERROR and _a_text(answer) == ["192.0.2.70"]
        await asyncio.sleep(0)
        assert not resolver._inflight and not resolver._owners

    run(body(), timeout=20)


def test_cancelled_asker_still_fills_the_cache(tmp_path: Path) -> None:
    """A caller's time limit runs out: the resolution goes on in the background and
    the next asker is answered from the cache, without another upstream query."""
    net = in_process_lab()
    resolver = net.resolver(tmp_path)

    async def body() -> None:
        gate = Gate(net)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(resolver.resolve(WWW, RRType.A), 0.05)
        gate.open.set()
        for _ in range(200):
            if not resolver._inflight:
                break
            await asyncio.sleep(0.01)
        assert not resolver._inflight and not resolver._owners
        asked = gate.asked
        answer = await resolver.resolve(WWW, RRType.A)
        assert answer.rcode == Rcode.NOERROR and _a_text(answer) == ["192.0.2.70"]
        assert gate.asked == asked

    run(body(), timeout=20)


def test_answered_question_leaves_the_in_flight_table_at_once(tmp_path: Path) -> None:
    net = in_process_lab()
    resolver = net.resolver(tmp_path)

    async def body() -> None:
        first = await resolver.resolve(WWW, RRType.A)
        assert not resolver._inflight and not resolver._owners
        again = await resolver.resolve(WWW, RRType.A)
        assert resolver.stats.merged == 0
        assert _a_text(first) == _a_text(again)

    run(body(), timeout=20)


# ----------------------------------------------------------------------------- transport
def _query() -> Message:
    return wm.make_query(WWW, RRType.A, edns=True, do=False, payload=1232)


def _udp_server() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5.0)
    return sock


def _serve_one(sock: socket.socket, make: str) -> None:
    data, addr = sock.recvfrom(65535)
    query = wm.parse(data)
    if make == "reply":
        reply = Message(id=query.id, flags=QR, question=[Question(WWW, RRType.A, 1)])
        sock.sendto(reply.to_wire(), addr)
    else:
        sock.sendto(data[:2] + b"\x80\x00\x00\x05", addr)   # claims questions it lacks


@pytest.mark.parametrize("make", ["reply", "malformed"])
def test_udp_reply_and_malformed_reply(make: str) -> None:
    server = _udp_server()

    async def body() -> None:
        loop = asyncio.get_running_loop()
        serving = loop.run_in_executor(None, _serve_one, server, make)
        ask = NetTransport().query(server.getsockname(), _query(), tcp=False, timeout=3.0)
        if make == "reply":
            reply = await ask
            assert reply.message.flags & QR and not reply.tcp
        else:
            with pytest.raises(UpstreamError, match="malformed"):
                await ask
        await serving

    try:
        run(body(), timeout=10)
    finally:
        server.close()


def test_udp_timeout_and_port_unreachable() -> None:
    silent = _udp_server()
    closed = _udp_server()
    closed_address = closed.getsockname()
    closed.close()

    async def body() -> None:
        started = time.monotonic()
        with pytest.raises(UpstreamTimeout):
            await NetTransport().query(silent.getsockname(), _query(), tcp=False,
                                       timeout=0.2)
        assert 0.15 < time.monotonic() - started < 2.0
        started = time.monotonic()
        with pytest.raises(UpstreamError, match="unreachable"):
            await NetTransport().query(closed_address, _query(), tcp=False, timeout=3.0)
        assert time.monotonic() - started < 2.0        # ICMP, not the timeout

    try:
        run(body(), timeout=10)
    finally:
        silent.close()


def test_udp_query_cancelled_cleanly() -> None:
    silent = _udp_server()

    async def body() -> None:
        ask = asyncio.ensure_future(NetTransport().query(silent.getsockname(), _query(),
                                                         tcp=False, timeout=5.0))
        await asyncio.sleep(0.05)
        ask.cancel()
        with pytest.raises(asyncio.CancelledError):
            await ask
        # the loop keeps running: a later query is unaffected by the cancelled one
        with pytest.raises(UpstreamTimeout):
            await NetTransport().query(silent.getsockname(), _query(), tcp=False,
                                       timeout=0.1)

    try:
        run(body(), timeout=10)
    finally:
        silent.close()
