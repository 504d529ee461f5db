"""Upstream transport: one query to one server over UDP or TCP.

The iterator reaches the network only through the :class:`Transport` protocol, so
tests and the replay harness plug in a fake network. :class:`NetTransport` is the
real one: a fresh connected UDP socket per query bound to a random source port from
:mod:`secrets` (RFC 5452; connected sockets also hide ICMP side channels), replies
accepted only from the server's address and port with the query's ID and question;
TCP with the 2-octet length prefix (RFC 1035 s4.2.2).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from ..wire import message as wm
from ..wire.entropy import random_port
from ..wire.message import FormError, Message
from ..wire.types import QR

log = logging.getLogger(__name__)

Server = tuple[str, int]          # (address, port)
_AVOID_PORTS = frozenset({4791, 11211})
_IP_MTU_DISCOVER = 10             # Linux socket option
_IP_PMTUDISC_OMIT = 5             # ignore forged "fragmentation needed" (SECURITY.md s2)
_SOCK_NONBLOCK: int = getattr(socket, "SOCK_NONBLOCK", 0)


class UpstreamError(Exception):
    """The server could not be asked or gave no usable reply."""


class UpstreamTimeout(UpstreamError):
    """No reply in time."""


class SpoofSuspected(UpstreamError):
    """A reply with the wrong ID or question arrived: retry over TCP (RFC 5452 s9)."""


@dataclass(slots=True)
class Reply:
    message: Message
    size: int
    tcp: bool


class Transport(Protocol):
    async def query(self, server: Server, query: Message, *, tcp: bool,
                    timeout: float) -> Reply:
        """Send *query* to *server*; return the matching reply or raise UpstreamError."""
        ...


def _matches(query: Message, reply: Message) -> bool:
    if reply.id != query.id or not reply.flags & QR:
        return False
    if len(reply.question) != len(query.question):
        # a reply with no question is acceptable only for some errors (FORMERR/NOTIMP)
        return not reply.question and reply.rcode in (1, 4)
    for q, r in zip(query.question, reply.question, strict=True):
        if q.name != r.name or q.qtype != r.qtype or q.qclass != r.qclass:
            return False
    return True


async def _receive(loop: asyncio.AbstractEventLoop, sock: socket.socket,
                   timeout: float) -> bytes | None:
    """The first datagram on the connected non-blocking *sock*, or None after
    *timeout* seconds. Cheaper than ``sock_recv`` under ``asyncio.timeout``: one
    future, one reader callback and one timer handle, no Timeout context."""
    waiter: asyncio.Future[bytes | None] = loop.create_future()
    fd = sock.fileno()

    def readable() -> None:
        if waiter.done():
            return
        try:
            data = sock.recv(65535)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:       # e.g. ICMP port unreachable on a connected socket
            waiter.set_exception(exc)
            return
        waiter.set_result(data)

    def expired() -> None:
        if not waiter.done():
            waiter.set_result(None)

    loop.add_reader(fd, readable)
    timer = loop.call_at(loop.time() + timeout, expired)
    try:
        return await waiter
    finally:
        timer.cancel()
        loop.remove_reader(fd)


class NetTransport:
    """Real UDP/TCP upstream queries."""

    def __init__(self, *, source_v4: str = "0.0.0.0", source_v6: str = "::") -> None:
        self.source_v4 = source_v4
        self.source_v6 = source_v6

    async def query(self, server: Server, query: Message, *, tcp: bool,
                    timeout: float) -> Reply:
        wire = query.to_wire()
        if tcp:
            return await self._tcp(server, query, wire, timeout)
        return await self._udp(server, query, wire, timeout)

    def _udp_socket(self, server: Server) -> socket.socket:
        family = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
        # non-blocking from the start where the OS allows (one system call less)
        sock = socket.socket(family, socket.SOCK_DGRAM | _SOCK_NONBLOCK)
        try:
            if not _SOCK_NONBLOCK:
                sock.setblocking(False)
            if family == socket.AF_INET:
                with contextlib.suppress(OSError):   # not every kernel knows it
                    sock.setsockopt(socket.IPPROTO_IP, _IP_MTU_DISCOVER, _IP_PMTUDISC_OMIT)
            source = self.source_v6 if family == socket.AF_INET6 else self.source_v4
            for _ in range(20):
                try:
                    sock.bind((source, random_port(_AVOID_PORTS)))
                    break
                except OSError as exc:
                    if exc.errno != errno.EADDRINUSE:
                        raise
            else:
                sock.bind((source, 0))
            sock.connect(server)
        except OSError:
            sock.close()
            raise
        return sock

    async def _udp(self, server: Server, query: Message, wire: bytes, timeout: float) -> Reply:
        loop = asyncio.get_running_loop()
        try:
            sock = self._udp_socket(server)
        except OSError as exc:
            raise UpstreamError(f"cannot send to {server[0]}: {exc.strerror}") from None
        try:
            try:
                sock.send(wire)      # a fresh UDP socket: the send buffer is empty
            except BlockingIOError:
                await loop.sock_sendall(sock, wire)
            data = await _receive(loop, sock, timeout)
        except ConnectionRefusedError:
            raise UpstreamError(f"{server[0]} port {server[1]} unreachable") from None
        except OSError as exc:
            raise UpstreamError(f"{server[0]}: {exc.strerror}") from None
        finally:
            sock.close()
        if data is None:
            raise UpstreamTimeout(f"no reply from {server[0]} in {timeout:.1f}s")
        try:
            reply = wm.parse(data)
        except FormError:
            log.debug("malformed reply from %s ignored", server[0])
            raise UpstreamError(f"malformed reply from {server[0]}") from None
        if _matches(query, reply):
            return Reply(reply, len(data), False)
        raise SpoofSuspected(f"reply from {server[0]} with wrong ID or question")

    async def _tcp(self, server: Server, query: Message, wire: bytes, timeout: float) -> Reply:
        writer = None
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(server[0], server[1])
                writer.write(struct.pack("!H", len(wire)) + wire)
                await writer.drain()
                while True:
                    head = await reader.readexactly(2)
                    data = await reader.readexactly(struct.unpack("!H", head)[0])
                    try:
                        reply = wm.parse(data)
                    except FormError:
                        raise UpstreamError(f"malformed TCP reply from {server[0]}") from None
                    if _matches(query, reply):
                        return Reply(reply, len(data), True)
                    log.debug("unrelated TCP reply from %s skipped", server[0])
        except TimeoutError:
            raise UpstreamTimeout(f"no TCP reply from {server[0]} in {timeout:.1f}s") from None
        except (asyncio.IncompleteReadError, OSError) as exc:
            raise UpstreamError(f"TCP to {server[0]} failed: {exc}") from None
        finally:
            if writer is not None:
                writer.close()


Handler = Callable[[Server, Message, bool], Awaitable[Message | None]]


class FakeTransport:
    """A transport answering from a function, for tests: the handler returns the
    reply Message (its ID and question are checked like the real transport's) or
    None for a timeout."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.sent: list[tuple[Server, Message, bool]] = []

    async def query(self, server: Server, query: Message, *, tcp: bool,
                    timeout: float) -> Reply:
        self.sent.append((server, query, tcp))
        reply = await self.handler(server, query, tcp)
        if reply is None:
            raise UpstreamTimeout(f"no reply from {server[0]}")
        wire = reply.to_wire()
        parsed = wm.parse(wire)
        if not _matches(query, parsed):
            raise SpoofSuspected(f"reply from {server[0]} with wrong ID or question")
        return Reply(parsed, len(wire), tcp)
