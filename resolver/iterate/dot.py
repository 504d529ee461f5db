"""DNS over TLS to upstream servers (RFC 7858, RFC 7766) for ``[[forward]]`` and
``[[stub]]`` zones with ``tls = true``.

:class:`TlsForwardTransport` is a :class:`~resolver.iterate.transport.Transport` in
front of the plain one: a query to a server of a TLS zone goes over TLS, every other
query to the plain transport. It reads the zones from the live settings, so a reload
(SIGHUP) that changes them takes effect at the next query. A TLS server is never asked
over plain DNS: a failed handshake or certificate is a failure of that server (logged
once per server until it works again, counted in ``dot_upstream_failures``).

:class:`DotClient` keeps one connection per upstream (address, port, name, CA file):
TLS 1.2 or later, ALPN "dot", SNI and certificate name = the configured name, the
certificate checked against the CA file or the system store. Queries are pipelined on
it with 2-octet length framing; each in-flight query has an ID no other in-flight
query on the connection has (from :mod:`secrets`), and a reply is taken only for the
ID and question of a query waiting on it; queries are padded to blocks of 128
octets (RFC 8467). An idle connection is closed after ``tcp-reuse-timeout`` (Unbound's
key, in milliseconds; ``DOT_IDLE_TIMEOUT`` seconds by default); at most
``MAX_CONNECTIONS`` are open and at most ``max-reuse-tcp-queries`` (``MAX_PENDING``)
queries wait on one.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import ssl
import struct
from dataclasses import dataclass

from ..config import ForwardZone, Settings
from ..counters import Counters
from ..wire import message as wm
from ..wire.message import FormError, Message
from ..wire.types import QR
from .transport import Reply, Server, Transport, UpstreamError, UpstreamTimeout

log = logging.getLogger(__name__)

DOT_IDLE_TIMEOUT = 10.0     # seconds an idle upstream connection stays open
MAX_CONNECTIONS = 64        # open upstream TLS connections, all servers together
MAX_PENDING = 100           # queries waiting on one connection
PAD_BLOCK = 128             # RFC 8467 s4.1: queries padded to a multiple of 128 octets
_PADDING = 12               # the EDNS(0) Padding option (RFC 7830)


@dataclass(frozen=True, slots=True)
class TlsUpstream:
    """One TLS upstream: where, the certificate name, and the CA file (None: system)."""

    server: Server
    name: str
    ca_file: str | None = None


def client_context(ca_file: str | None) -> ssl.SSLContext:
    """TLS 1.2+, ALPN "dot", certificate and host name checked against *ca_file* (a PEM
    bundle) or, when None, the system trust store."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    context.set_alpn_protocols(["dot"])
    return context


def padded_wire(query: Message) -> bytes:
    """The query's wire form with an EDNS Padding option (RFC 7830) making it a
    multiple of ``PAD_BLOCK`` octets (RFC 8467), so that its size tells an observer
    of the encrypted stream little about the name; unchanged without EDNS."""
    wire = query.to_wire()
    edns = query.edns
    if edns is None or any(code == _PADDING for code, _ in edns.options):
        return wire
    pad = -(len(wire) + 4) % PAD_BLOCK          # 4: the option's code and length
    padded = Message(query.id, query.flags, query.question, query.answer, query.authority,
                     query.additional, dataclasses.replace(
                         edns, options=[*edns.options, (_PADDING, bytes(pad))]))
    return padded.to_wire()


def _same_question(query: Message, reply: Message) -> bool:
    if not reply.flags & QR:
        return False
    if len(reply.question) != len(query.question):
        # a reply with no question is acceptable only for some errors (FORMERR/NOTIMP)
        return not reply.question and reply.rcode in (1, 4)
    return all(q.name == r.name and q.qtype == r.qtype and q.qclass == r.qclass
               for q, r in zip(query.question, reply.question, strict=True))


class _Conn:
    """One open TLS connection: a reader task hands replies to the waiting queries."""

    def __init__(self, client: DotClient, key: TlsUpstream, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.client = client
        self.key = key
        self.reader = reader
        self.writer = writer
        self.loop = asyncio.get_running_loop()
        self.pending: dict[int, tuple[Message, asyncio.Future[tuple[Message, int]]]] = {}
        self.closed = False
        self._idle: asyncio.TimerHandle | None = None
        self._task = asyncio.create_task(self._read())
        self._arm_idle()

    @property
    def usable(self) -> bool:
        return not self.closed and len(self.pending) < self.client.max_pending \
            and self.loop is asyncio.get_running_loop()

    def _arm_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        self._idle = self.loop.call_later(self.client.idle_timeout, self.close)

    def _new_id(self, wanted: int) -> int:
        if wanted not in self.pending:
            return wanted
        while True:
            candidate = secrets.randbelow(0x10000)
            if candidate not in self.pending:
                return candidate

    async def send(self, query: Message, timeout: float) -> Reply:
        msg_id = self._new_id(query.id)
        wire = bytearray(padded_wire(query))
        struct.pack_into("!H", wire, 0, msg_id)
        probe = Message(msg_id, query.flags, list(query.question))
        future: asyncio.Future[tuple[Message, int]] = self.loop.create_future()
        self.pending[msg_id] = (probe, future)
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        try:
            self.writer.write(struct.pack("!H", len(wire)) + bytes(wire))
            async with asyncio.timeout(timeout):
                await self.writer.drain()
                reply, size = await future
        except TimeoutError:
            raise UpstreamTimeout(f"no DoT reply from {self.key.server[0]} in "
                                  f"{timeout:.1f}s") from None
        except OSError as exc:
            self.close()
            raise UpstreamError(f"DoT to {self.key.server[0]} failed: {exc}") from None
        finally:
            self.pending.pop(msg_id, None)
            if not self.pending and not self.closed:
                self._arm_idle()
        reply.id = query.id
        return Reply(reply, size, True)

    async def _read(self) -> None:
        try:
            while True:
                head = await self.reader.readexactly(2)
                data = await self.reader.readexactly(struct.unpack("!H", head)[0])
                try:
                    reply = wm.parse(data)
                except FormError:
                    log.debug("malformed DoT reply from %s skipped", self.key.server[0])
                    continue
                waiting = self.pending.get(reply.id)
                if waiting is None or not _same_question(waiting[0], reply):
                    log.debug("unrelated DoT reply from %s skipped", self.key.server[0])
                    continue
                if not waiting[1].done():
                    waiting[1].set_result((reply, len(data)))
        except (asyncio.IncompleteReadError, OSError) as exc:
            log.debug("DoT connection to %s ended: %s", self.key.server[0], exc)
        finally:
            self._shut(UpstreamError(f"DoT connection to {self.key.server[0]} closed"))

    def _shut(self, error: Exception) -> None:
        self.closed = True
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        for _, future in self.pending.values():
            if not future.done():
                future.set_exception(error)
        self.client.forget(self)
        with contextlib.suppress(RuntimeError):
            self.writer.close()

    def close(self) -> None:
        """Close now (idle timeout, shutdown); queries still waiting fail."""
        if not self._task.done():
            self._task.cancel()
        self._shut(UpstreamError(f"DoT connection to {self.key.server[0]} closed"))

    async def wait_closed(self) -> None:
        with contextlib.suppress(asyncio.CancelledError, OSError, ssl.SSLError):
            await self._task
        with contextlib.suppress(OSError, ssl.SSLError, RuntimeError):
            await asyncio.wait_for(self.writer.wait_closed(), 1.0)


class DotClient:
    """Connections to TLS upstreams, reused and pipelined (see the module text)."""

    def __init__(self, counters: Counters | None = None,
                 settings: Settings | None = None) -> None:
        self.counters = counters if counters is not None else Counters()
        self.settings = settings      # the live settings: tcp-reuse-timeout and
        #                               max-reuse-tcp-queries are read at each use
        self.handshakes = 0         # completed TLS handshakes (also a counter)
        self._conns: dict[TlsUpstream, _Conn] = {}
        self._locks: dict[TlsUpstream, asyncio.Lock] = {}
        self._contexts: dict[str | None, ssl.SSLContext] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._warned: set[TlsUpstream] = set()   # certificate failures logged once

    @property
    def idle_timeout(self) -> float:
        """Seconds an idle connection stays open (``tcp-reuse-timeout``)."""
        if self.settings is None:
            return DOT_IDLE_TIMEOUT
        return self.settings.tcp_reuse_timeout / 1000

    @property
    def max_pending(self) -> int:
        """Queries that may wait on one connection (``max-reuse-tcp-queries``)."""
        return MAX_PENDING if self.settings is None else self.settings.max_reuse_tcp_queries

    def forget(self, conn: _Conn) -> None:
        if self._conns.get(conn.key) is conn:
            del self._conns[conn.key]

    def _context(self, ca_file: str | None) -> ssl.SSLContext:
        context = self._contexts.get(ca_file)
        if context is None:
            context = self._contexts[ca_file] = client_context(ca_file)
        return context

    def forget_contexts(self) -> None:
        """Read the CA files again at the next connection (after a reload)."""
        self._contexts.clear()

    def _same_loop(self) -> None:
        """Connections and locks belong to one event loop; a new loop starts afresh."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop = loop
            self._conns.clear()
            self._locks.clear()

    async def query(self, upstream: TlsUpstream, query: Message, timeout: float) -> Reply:
        self._same_loop()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        conn = self._conns.get(upstream)
        if conn is None or not conn.usable:
            lock = self._locks.setdefault(upstream, asyncio.Lock())
            async with lock:    # queries arriving together share one handshake
                conn = self._conns.get(upstream)
                if conn is None or not conn.usable:
                    conn = await self._connect(upstream, max(0.05, deadline - loop.time()))
        return await conn.send(query, max(0.05, deadline - loop.time()))

    async def _connect(self, upstream: TlsUpstream, timeout: float) -> _Conn:
        host, port = upstream.server
        if len(self._conns) >= MAX_CONNECTIONS:
            idle = [c for c in self._conns.values() if not c.pending]
            if not idle:
                self._fail(upstream, "busy")
                raise UpstreamError(f"DoT to {host}: {MAX_CONNECTIONS} connections busy")
            idle[0].close()
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=self._context(upstream.ca_file),
                    server_hostname=upstream.name, ssl_handshake_timeout=timeout)
        except TimeoutError:
            self._fail(upstream, "timeout")
            raise UpstreamTimeout(f"DoT to {host} port {port}: no handshake in "
                                  f"{timeout:.1f}s") from None
        except ssl.SSLCertVerificationError as exc:
            self._fail(upstream, "certificate")
            if upstream not in self._warned:
                self._warned.add(upstream)
                log.warning("DoT upstream %s port %s: certificate not accepted for %s: "
                            "%s (the server is not asked over plain DNS)", host, port,
                            upstream.name, exc.verify_message or exc)
            else:
                log.debug("DoT upstream %s port %s: certificate not accepted for %s: %s",
                          host, port, upstream.name, exc.verify_message or exc)
            raise UpstreamError(f"DoT to {host}: certificate not accepted") from None
        except (ssl.SSLError, OSError) as exc:
            self._fail(upstream, "connect")
            raise UpstreamError(f"DoT to {host} port {port} failed: {exc}") from None
        ssl_object = writer.get_extra_info("ssl_object")
        alpn = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        if alpn not in (None, "dot"):     # a server without ALPN is allowed (RFC 7858)
            writer.close()
            self._fail(upstream, "connect")
            raise UpstreamError(f"DoT to {host}: the server chose ALPN {alpn!r}")
        self._warned.discard(upstream)
        self.handshakes += 1
        self.counters.inc("dot_upstream_handshakes")
        conn = self._conns[upstream] = _Conn(self, upstream, reader, writer)
        return conn

    def _fail(self, upstream: TlsUpstream, reason: str) -> None:
        self.counters.inc("dot_upstream_failures", (reason,))

    async def close(self) -> None:
        """Close every connection of the running loop (at shutdown, in tests)."""
        conns = list(self._conns.values())
        for conn in conns:
            conn.close()
        for conn in conns:
            await conn.wait_closed()


def tls_upstreams(zones: list[ForwardZone]) -> dict[Server, TlsUpstream]:
    """The servers of the TLS zones, each with its certificate name and CA file."""
    out: dict[Server, TlsUpstream] = {}
    for fz in zones:
        if not fz.tls:
            continue
        for server in fz.servers:
            name = fz.server_names.get(server) or fz.tls_name
            if name is not None and server not in out:
                out[server] = TlsUpstream(server, name, fz.tls_ca_file)
    return out


class TlsForwardTransport:
    """Queries to the servers of ``tls = true`` zones over TLS, the rest to *inner*."""

    def __init__(self, inner: Transport, settings: Settings,
                 counters: Counters | None = None) -> None:
        self.inner = inner
        self.settings = settings
        self.client = DotClient(counters, settings)
        self._zones: list[ForwardZone] | None = None
        self._upstreams: dict[Server, TlsUpstream] = {}

    def upstreams(self) -> dict[Server, TlsUpstream]:
        zones = self.settings.forward_zones
        if zones is not self._zones:        # a reload put new zones in place
            self._zones = zones
            self.client.forget_contexts()   # a CA file may have changed as well
            self._upstreams = tls_upstreams(zones)
        return self._upstreams

    async def query(self, server: Server, query: Message, *, tcp: bool,
                    timeout: float) -> Reply:
        upstream = self.upstreams().get(server)
        if upstream is None:
            return await self.inner.query(server, query, tcp=tcp, timeout=timeout)
        return await self.client.query(upstream, query, timeout)
