"""The milter listener: TCP, one :class:`~.session.MilterSession` per connection.

Limits: packets over *max_frame* octets, a connection idle for *timeout* seconds, and
more than *max_connections* at once each end the connection (the MTA then applies its
own ``milter_default_action``). Clients outside *allow* (loopback by default) are
closed before a packet is read.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable, Sequence

from ...counters import Counters
from ..dnsapi import DnsSource
from . import protocol as p
from .policy import MilterPolicy
from .session import MAX_HEADER_BYTES, MilterSession

log = logging.getLogger(__name__)

DEFAULT_PORT = 8891
DEFAULT_TIMEOUT = 300.0
MAX_CONNECTIONS = 256


class MilterServer:
    """Serves the milter protocol on one address until :meth:`stop`."""

    def __init__(self, dns: DnsSource, policy: MilterPolicy, host: str = "127.0.0.1",
                 port: int = DEFAULT_PORT, *, allow: Sequence[str] = ("127.0.0.0/8", "::1/128"),
                 timeout: float = DEFAULT_TIMEOUT, max_frame: int = p.MAX_FRAME,
                 max_header_bytes: int = MAX_HEADER_BYTES,
                 max_connections: int = MAX_CONNECTIONS,
                 now: Callable[[], float] | None = None,
                 counters: Counters | None = None) -> None:
        self.dns = dns
        self.counters = counters if counters is not None else Counters()
        self.policy = policy
        self.host = host
        self.port = port
        self.allow = [ipaddress.ip_network(a, strict=False) for a in allow]
        self.timeout = timeout
        self.max_frame = max_frame
        self.max_header_bytes = max_header_bytes
        self.max_connections = max_connections
        self.now = now
        self.bound: tuple[str, int] | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.messages = 0          # messages that reached end of message

    def reconfigure(self, policy: MilterPolicy, *, allow: Sequence[str] | None = None,
                    timeout: float | None = None) -> None:
        """Use *policy* (and *allow*, *timeout*) for connections accepted from now on
        (a reload); open connections keep the policy they started with."""
        if allow is not None:
            self.allow = [ipaddress.ip_network(a, strict=False) for a in allow]
        if timeout is not None:
            self.timeout = timeout
        self.policy = policy

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        sock = self._server.sockets[0].getsockname()
        self.bound = (sock[0], sock[1])
        log.info("milter listening on %s:%d (authserv-id %s)", sock[0], sock[1],
                 self.policy.authserv_id)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def cleanup(self) -> None:
        """:meth:`stop`, under the name ``serve`` uses for its other listeners."""
        await self.stop()

    def _allowed(self, peer: object) -> bool:
        if not isinstance(peer, tuple) or not peer:
            return False
        try:
            addr = ipaddress.ip_address(str(peer[0]).split("%")[0])
        except ValueError:
            return False
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        return any(addr in net for net in self.allow)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        peer = writer.get_extra_info("peername")
        if not self._allowed(peer) or len(self._tasks) >= self.max_connections:
            log.warning("milter: connection from %s refused (%s)", peer,
                        "not allowed" if not self._allowed(peer) else "too many connections")
            writer.close()
            return
        if task is not None:
            self._tasks.add(task)
        session = MilterSession(self.dns, self.policy, max_header_bytes=self.max_header_bytes,
                                now=self.now, counters=self.counters)
        try:
            await self._serve(session, reader, writer)
        except p.ProtocolError as exc:
            log.warning("milter: %s: %s; connection closed", peer, exc)
        except (ConnectionError, TimeoutError) as exc:
            log.info("milter: %s: %s", peer, exc or type(exc).__name__)
        except asyncio.CancelledError:
            # stop(): end quietly (asyncio's stream callback logs a cancelled handler)
            log.debug("milter: %s: connection closed at shutdown", peer)
        finally:
            session.close()
            writer.close()
            if task is not None:
                self._tasks.discard(task)

    async def _serve(self, session: MilterSession, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        while not session.closed:
            async with asyncio.timeout(self.timeout):
                got = await p.read_packet(reader, self.max_frame)
            if got is None:
                return
            cmd, data = got
            replies = await session.handle(cmd, data)
            if cmd == p.BODYEOB:
                self.messages += 1
            if replies:
                writer.write(b"".join(replies))
                await writer.drain()
