"""The DNS port: asyncio UDP and TCP listeners (RFC 1035 s4.2, RFC 7766).

A UDP query that hits the answer cache is answered without parsing (the fast path);
everything else is parsed, checked and handed to the resolver service. TCP carries
pipelined queries answered out of order, with an idle timeout that shrinks as the
connection table fills, a connection cap, and reading paused while a client does
not drain its replies. Clients outside the access list get REFUSED with EDE 18.
A query with a DNS COOKIE option gets a server cookie (:mod:`resolver.server.cookies`)
in its reply, from the cache or not; a malformed one gets FORMERR; other EDNS options
are ignored and do not keep a query off the fast path.
No input ends the server: every failure is confined to one query.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import socket
import ssl
import struct
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, cast

from ..answer import Answer, build_response, error_response
from ..config import ConfigError, Settings
from ..counters import qtype_label
from ..dnssec.status import Security
from ..lru import Lru, take_token
from ..service import Resolver
from ..wire import message as wm
from ..wire.edns import with_option
from ..wire.message import FormError, Message
from ..wire.querykey import COOKIE, QueryKey, cookie_ok, query_key
from ..wire.types import CD, QR, RD, TC, Opcode, Rcode, RRType, rcode_to_text, type_to_text
from . import udpbatch
from .cookies import ServerCookies
from .udpbatch import BatchUdp, Sender

log = logging.getLogger(__name__)
# client queries (query-log): a logger of their own, so ``serve`` can switch them on
# without the other INFO lines (resolver.cli.logs.QUERY_LOGGER)
qlog = logging.getLogger("resolver.queries")

MAX_PENDING = 2000                 # queries being resolved at once (all clients)
MEMO_SIZE = 4096                   # client addresses and raw queries remembered
RATELIMIT_CLIENTS = 65536          # client addresses with a token bucket (LRU)
TCP_WRITE_HIGH = 256 * 1024        # pause reading above this many unsent bytes
_HEADER = struct.Struct("!HHHHHH")


@dataclass(slots=True)
class ServerStats:
    udp: int = 0
    tcp: int = 0
    tls: int = 0                   # DNS over TLS (listen-tls)
    fast_hits: int = 0
    formerr: int = 0
    refused: int = 0
    dropped: int = 0
    tcp_connections: int = 0
    pending: int = 0
    ratelimited_tc: int = 0        # UDP queries over ratelimit-per-client answered TC=1
    ratelimited_drop: int = 0      # ... and dropped
    udp_batches: int = 0           # udp-batch: recvmmsg calls that returned datagrams,
    udp_batched: int = 0           # the datagrams they returned,
    udp_oversize: int = 0          # datagrams over 4096 octets (dropped),
    udp_send_dropped: int = 0      # and replies the kernel did not take (dropped)


class ListenError(OSError):
    """A listener could not be opened; the message names the address and the reason."""


def bind_problem(exc: OSError) -> str:
    """Why a socket could not be bound, in the words an operator looks for."""
    cause = exc.__cause__ or exc.__context__
    if exc.errno is None and isinstance(cause, OSError):
        exc = cause             # uvloop's "could not bind" carries the errno in its cause
    if exc.errno == errno.EADDRINUSE:
        return "port in use (another server is listening there)"
    if exc.errno == errno.EACCES:
        return "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "address not available on this host"
    return exc.strerror or str(exc)


class DnsServer:
    def __init__(self, resolver: Resolver, settings: Settings) -> None:
        self.resolver = resolver
        self.settings = settings
        self.messages = resolver.messages
        self.acl = [ipaddress.ip_network(n, strict=False) for n in settings.allow_clients]
        self.stats = ServerStats()
        self.bound: list[tuple[str, int]] = []
        self.bound_tls: list[tuple[str, int]] = []      # DNS over TLS (listen-tls)
        # sockets bound by the supervisor (workers > 1), by configured address:
        # listen -> (UDP, TCP), listen-tls -> TCP; start() uses them instead of binding
        self.inherited: dict[tuple[str, int], tuple[socket.socket, socket.socket]] = {}
        self.inherited_tls: dict[tuple[str, int], socket.socket] = {}
        self._udp: list[asyncio.DatagramTransport | BatchUdp] = []
        self._tcp: list[asyncio.base_events.Server] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._edns = settings.edns_size
        # both memos are read with get() (dict speed on the fast path): a full one
        # drops its oldest entry, which costs one recomputation if it comes back
        self._acl_memo: Lru[str, bool] = Lru(MEMO_SIZE)
        # per raw query minus its ID (stub resolvers repeat the same bytes): its
        # query_key() and its UDP reply limit, 0 when the cache may not answer it (RD=0)
        self._qk_memo: Lru[bytes, tuple[QueryKey | None, int]] = Lru(MEMO_SIZE)
        self.counters = resolver.counters
        self.query_log = settings.query_log
        self.cookies = ServerCookies()
        self._tls: ssl.SSLContext | None = None
        # ratelimit-per-client: address -> [tokens, last refill]; None when off
        self._buckets: Lru[str, list[float]] | None = None
        self._rate = 0.0
        self._rl_drop = False
        self._ratelimit(settings)

    # ------------------------------------------------------------------ life cycle
    async def start(self) -> None:
        """Open every ``listen`` address (UDP and TCP) and ``listen-tls`` address (DNS
        over TLS); raises :class:`ListenError` naming the address that failed (those
        opened before stay open: stop()), ConfigError for a bad tls-cert or tls-key."""
        if self.settings.listen_tls:     # a bad certificate or key: no port opened
            self._tls = tls_context(self.settings)
        for host, port in self.settings.listen:
            try:
                await self._listen(host, port)
            except OSError as exc:
                raise ListenError(exc.errno, f"cannot listen on {_where(host, port)}: "
                                             f"{bind_problem(exc)}") from exc
        for host, port in self.settings.listen_tls:
            given = self.inherited_tls.get((host, port))
            where: dict[str, Any] = {"sock": given} if given is not None else {
                "host": host, "port": port, "reuse_address": True,
                "family": socket.AF_INET6 if ":" in host else socket.AF_INET}
            try:
                server = await asyncio.start_server(
                    self._serve_tcp, ssl=self._tls, backlog=128,
                    ssl_handshake_timeout=self.settings.tcp_idle_timeout, **where)
            except OSError as exc:
                raise ListenError(exc.errno, f"cannot listen on {_where(host, port)} "
                                             f"(listen-tls): {bind_problem(exc)}") from exc
            self._tcp.append(server)
            self.bound_tls.append((host, server.sockets[0].getsockname()[1]))

    async def _listen(self, host: str, port: int) -> None:
        given = self.inherited.get((host, port))
        if given is not None:
            self._udp.append(await self._open_udp(given[0]))
            self._tcp.append(await asyncio.start_server(self._serve_tcp, sock=given[1],
                                                        backlog=128))
            self.bound.append((host, given[0].getsockname()[1]))
            return
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # port 0: the UDP port is picked by the kernel and TCP must get the same
        # number, which may be taken (by an outgoing connection, say): try again
        for attempt in range(1 if port else 20):
            sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                if family == socket.AF_INET6:   # "::" next to "0.0.0.0", as for TCP
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind((host, port))
            except OSError:
                sock.close()
                raise
            transport = await self._open_udp(sock)
            actual = sock.getsockname()[1]
            try:
                server = await asyncio.start_server(self._serve_tcp, host, actual,
                                                    family=family, reuse_address=True,
                                                    backlog=128)
            except OSError as exc:
                transport.close()
                if port or exc.errno != errno.EADDRINUSE or attempt == 19:
                    raise
                continue
            break
        self._udp.append(transport)
        self._tcp.append(server)
        self.bound.append((host, actual))

    async def _open_udp(self, sock: socket.socket) -> asyncio.DatagramTransport | BatchUdp:
        """A bound UDP socket -> batched reads and sends (udp-batch, Linux), or the event
        loop's own datagram transport."""
        loop = asyncio.get_running_loop()
        for problem in socket_buffers(sock, self.settings.so_rcvbuf, self.settings.so_sndbuf):
            log.warning("UDP listener %s: %s", _where(*sock.getsockname()[:2]), problem)
        if self.settings.udp_batch and udpbatch.available():
            batch = BatchUdp(sock, self.datagram, self.stats)
            batch.start(loop)
            return batch
        sock.setblocking(False)
        udp, _ = await loop.create_datagram_endpoint(lambda: _Udp(self), sock=sock)
        return udp

    async def stop(self, grace: float = 2.0) -> None:
        for udp in self._udp:
            udp.close()
        for tcp in self._tcp:
            tcp.close()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=grace)
        for task in list(self._tasks):
            task.cancel()
        for tcp in self._tcp:
            await tcp.wait_closed()
        self._udp.clear()
        self._tcp.clear()

    def apply_settings(self, settings: Settings) -> None:
        """Take the settings that can change while running (SIGHUP)."""
        self.settings.allow_clients = settings.allow_clients
        self.settings.tcp_idle_timeout = settings.tcp_idle_timeout
        self.settings.tcp_max_connections = settings.tcp_max_connections
        self.settings.tcp_max_pipeline = settings.tcp_max_pipeline
        self.settings.query_log = settings.query_log
        self.acl = [ipaddress.ip_network(n, strict=False) for n in settings.allow_clients]
        self._acl_memo.clear()
        self.query_log = settings.query_log
        self._ratelimit(settings)
        # the upstream ratelimit is the iterator's: it reads the service's settings
        self.resolver.settings.ratelimit = settings.ratelimit
        if self._tls is not None:
            # new handshakes use the new certificate; a bad pair keeps the old one
            try:
                tls_context(settings)
                self._tls.load_cert_chain(str(settings.tls_cert), str(settings.tls_key))
            except (ConfigError, OSError, ssl.SSLError) as exc:
                log.error("tls-cert/tls-key not reloaded, keeping the old pair: %s", exc)
            else:
                self.settings.tls_cert, self.settings.tls_key = \
                    settings.tls_cert, settings.tls_key

    def _ratelimit(self, settings: Settings) -> None:
        """Switch ratelimit-per-client on, off or to a new rate (buckets are kept)."""
        self._rate = settings.ratelimit_per_client
        self._rl_drop = settings.ratelimit_action == "drop"
        self.settings.ratelimit_per_client = settings.ratelimit_per_client
        self.settings.ratelimit_action = settings.ratelimit_action
        if self._rate <= 0:
            self._buckets = None
        elif self._buckets is None:
            self._buckets = Lru(RATELIMIT_CLIENTS)

    def _limited(self, data: bytes) -> bytes | None:
        """A UDP query over the client's rate: dropped (None), or an empty reply with
        TC=1 (the client asks again over TCP, which is not limited)."""
        if self._rl_drop or len(data) < 12 or data[2] & 0x80:
            self.stats.ratelimited_drop += 1
            return None
        self.stats.ratelimited_tc += 1
        return _truncated(data)

    def allowed(self, address: str) -> bool:
        """Whether *address* may query (memoised: the ACL is fixed for the server's life)."""
        known = self._acl_memo.get(address)
        if known is None:
            known = self._acl_memo.put(address, self._allowed(address))
        return known

    def _allowed(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in net for net in self.acl)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ answering
    def udp_limit(self, query: Message) -> int:
        if query.edns is None:
            return 512
        return max(512, min(query.edns.payload, self._edns))

    async def answer(self, data: bytes, client: str, transport: str,
                     qk: QueryKey | None) -> bytes | None:
        """The reply to one raw query (None: drop it)."""
        allowed = self.allowed(client)
        try:
            query = wm.parse(data)
        except FormError:
            if not allowed:
                return None      # strangers get REFUSED or nothing, never our FORMERR
            self.stats.formerr += 1
            return _formerr(data)
        if query.flags & QR:
            return None
        if not allowed:
            self.stats.refused += 1
            return error_response(query, Rcode.REFUSED, (18, "query from a client outside "
                                                                "the access list"))
        cookie = b""
        if query.edns is not None:
            found = [opt for code, opt in query.edns.options if code == COOKIE]
            if found:
                if len(found) > 1 or not cookie_ok(found[0]):
                    self.stats.formerr += 1      # RFC 7873 s5.2.2
                    return error_response(query, Rcode.FORMERR)
                cookie = self.cookies.answer(found[0], client)
        reply = await self._respond(data, query, client, transport, qk, len(cookie))
        if cookie and reply is not None:
            return with_option(reply, cookie)
        return reply

    async def _respond(self, data: bytes, query: Message, client: str, transport: str,
                       qk: QueryKey | None, reserve: int) -> bytes | None:
        """The reply to a parsed query from an allowed client, leaving *reserve* octets
        of the size limit for EDNS options the caller adds (a COOKIE)."""
        if query.opcode != Opcode.QUERY:
            return error_response(query, Rcode.NOTIMP)
        if len(query.question) != 1 or query.answer or query.authority:
            return error_response(query, Rcode.FORMERR)
        if query.edns is not None and query.edns.version != 0:
            return error_response(query, Rcode.BADVERS)
        q = query.question[0]
        limit = (self.udp_limit(query) if transport == "udp" else 65535) - reserve
        if q.qtype in (RRType.AXFR, RRType.IXFR, RRType.OPT, RRType.TSIG, RRType.TKEY,
                       RRType.MAILA, RRType.MAILB):
            return error_response(query, Rcode.REFUSED if q.qtype in (RRType.AXFR, RRType.IXFR)
                                  else Rcode.FORMERR)
        if q.qtype == RRType.ANY:
            return build_response(query, _minimal_any(q.name), max_size=limit)
        if not query.flags & RD:
            return self._cache_only(data, query, qk, limit)
        self.stats.pending += 1
        epoch = self.messages.epoch     # new trust anchors meanwhile: the answer is not kept
        try:
            answer = await self.resolver.resolve(q.name, q.qtype, q.qclass,
                                                 cd=bool(query.flags & CD))
        finally:
            self.stats.pending -= 1
        if answer.drop:     # a local zone of type deny: no reply
            return None
        offsets: list[int] = []
        full = build_response(query, answer, max_size=None, ttl_offsets=offsets)
        labels = (qtype_label(type_to_text(q.qtype)), rcode_to_text(answer.rcode),
                  answer.security.label)
        self.counters.inc("client_queries", (transport, *labels))
        if self.query_log:
            qlog.info("query %s %s %s from %s (%s): %s %s", q.name, type_to_text(q.qtype),
                     "CD" if query.flags & CD else "", client, transport,
                     rcode_to_text(answer.rcode), answer.security.label)
        if qk is not None and answer.ttl > 0:
            self.messages.put(qk.key, full, offsets, answer.ttl, labels, epoch)
        if len(full) <= limit:
            return full
        return build_response(query, answer, max_size=limit)

    def _cache_only(self, data: bytes, query: Message, qk: QueryKey | None,
                    limit: int) -> bytes:
        """RD=0: answer from the cache or decline (no recursion on the client's behalf)."""
        if qk is not None:
            rd_key = QueryKey(qk.key[:-1] + bytes((qk.key[-1] | 0x01,)), qk.qend, qk.payload,
                              qk.has_edns)
            hit = self.messages.answer(data, rd_key, limit)
            if hit is not None:
                buf = bytearray(hit)
                buf[2] &= ~0x01
                return bytes(buf)
        return error_response(query, Rcode.REFUSED, (20, "not in the cache, and recursion "
                                                         "was not requested"))

    # ------------------------------------------------------------------ UDP
    def datagram(self, data: bytes, addr: tuple[str, int], send: Sender) -> bytes | None:
        """The UDP fast path: a cache hit costs two dictionary lookups and a join. The
        reply to send at once is returned (a cache hit, or TC=1 over the rate limit);
        None when there is none now: the query is being resolved (its reply goes out
        through *send* when ready), or it was dropped."""
        self.stats.udp += 1
        if self._buckets is not None and not take_token(self._buckets, addr[0], self._rate,
                                                        time.monotonic()):
            return self._limited(data)
        tail = data[2:]
        memo = self._qk_memo
        known = memo.get(tail)
        if known is None:
            known = memo.put(tail, self._udp_key(data))
        qk, limit = known
        if limit and (self._acl_memo.get(addr[0]) or self.allowed(addr[0])):
            assert qk is not None
            if qk.cookie is None:
                hit = self.messages.answer(data, qk, limit)
            else:
                hit = self.messages.answer(data, qk, limit, "udp",
                                           self.cookies.answer(qk.cookie, addr[0]))
            if hit is not None:
                self.stats.fast_hits += 1
                if self.query_log:
                    _log_query(addr[0], "udp", data, hit, cached=True)
                return hit
        if self.stats.pending >= MAX_PENDING:
            self.stats.dropped += 1
            return None
        self._spawn(self._udp_slow(data, addr, send, qk))
        return None

    def _udp_key(self, data: bytes) -> tuple[QueryKey | None, int]:
        """The cache key of a raw UDP query and the size its reply may have; the size
        is 0 when the answer cache may not answer it (not a plain query, or RD=0)."""
        qk = query_key(data)
        if qk is None or not qk.key[-1] & 0x01:
            return qk, 0
        return qk, max(512, min(qk.payload, self._edns)) if qk.has_edns else 512

    async def _udp_slow(self, data: bytes, addr: tuple[str, int],
                        send: Sender, qk: QueryKey | None) -> None:
        try:
            reply = await self.answer(data, addr[0], "udp", qk)
        except Exception:   # never let one query take the server down
            log.exception("internal error answering a query from %s", addr[0])
            reply = _servfail(data)
        if reply is not None and not send.is_closing():
            send.sendto(reply, addr)

    # ------------------------------------------------------------------ TCP
    def _idle_timeout(self) -> float:
        used = self.stats.tcp_connections / max(1, self.settings.tcp_max_connections)
        base = self.settings.tcp_idle_timeout
        if used < 0.5:
            return base
        if used < 0.8:
            return max(0.2, base / 10)
        return 0.2

    async def _serve_tcp(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        client = peer[0] if peer else ""
        if self.stats.tcp_connections >= self.settings.tcp_max_connections:
            writer.close()
            return
        self.stats.tcp_connections += 1
        transport_label = "tcp" if writer.get_extra_info("ssl_object") is None else "tls"
        inflight: set[asyncio.Task[None]] = set()
        lock = asyncio.Lock()
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readexactly(2), self._idle_timeout())
                    length = struct.unpack("!H", head)[0]
                    data = await asyncio.wait_for(reader.readexactly(length),
                                                  self._idle_timeout())
                except (asyncio.IncompleteReadError, TimeoutError, ConnectionError,
                        asyncio.CancelledError):
                    break
                if transport_label == "tcp":
                    self.stats.tcp += 1
                else:
                    self.stats.tls += 1
                while len(inflight) >= self.settings.tcp_max_pipeline:
                    await asyncio.wait(list(inflight), return_when=asyncio.FIRST_COMPLETED)
                task = asyncio.ensure_future(self._tcp_one(data, client, writer, lock,
                                                           transport_label))
                inflight.add(task)
                task.add_done_callback(inflight.discard)
                transport = writer.transport
                if transport.get_write_buffer_size() > TCP_WRITE_HIGH:
                    try:
                        await asyncio.wait_for(writer.drain(), self._idle_timeout())
                    except (TimeoutError, ConnectionError):
                        break   # a client that does not read its replies is dropped
        finally:
            if inflight:
                await asyncio.wait(list(inflight), timeout=2.0)
            self.stats.tcp_connections -= 1
            writer.close()

    async def _tcp_one(self, data: bytes, client: str, writer: asyncio.StreamWriter,
                       lock: asyncio.Lock, transport: str = "tcp") -> None:
        qk = query_key(data)
        reply: bytes | None = None
        if qk is not None and qk.key[-1] & 0x01 and self.allowed(client):
            reply = self.messages.answer(data, qk, 65535, transport, b"" if qk.cookie is None
                                         else self.cookies.answer(qk.cookie, client))
        if reply is None:
            try:
                reply = await self.answer(data, client, transport, qk)
            except Exception:
                log.exception("internal error answering a %s query from %s",
                              transport.upper(), client)
                reply = _servfail(data)
        if reply is None or writer.is_closing():
            return
        async with lock:
            writer.write(struct.pack("!H", len(reply)) + reply)


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        transport = self.transport
        if transport is not None:
            reply = self.server.datagram(data, addr, transport)  # type: ignore[arg-type]
            if reply is not None:
                transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP error: %s", exc)


def _log_query(client: str, transport: str, data: bytes, reply: bytes, cached: bool) -> None:
    try:
        q = wm.parse_question(data)[2]
    except FormError:
        return
    if q is not None:
        qlog.info("query %s %s from %s (%s): %s%s", q.name, type_to_text(q.qtype), client,
                 transport, rcode_to_text(reply[3] & 0x0F), " (cache)" if cached else "")


def _minimal_any(name: object) -> Answer:
    """RFC 8482 s4.2: answer ANY with one synthesized HINFO."""
    from ..wire.name import Name
    from ..wire.rrset import RRset
    assert isinstance(name, Name)
    hinfo = RRset(name, RRType.HINFO, 1, 3789, [b"\x07RFC8482\x00"])
    return Answer(name, RRType.ANY, answer=[hinfo], security=Security.INSECURE, ttl=0)


def _formerr(data: bytes) -> bytes | None:
    if len(data) < 12 or data[2] & 0x80:
        return None
    flags = QR | (struct.unpack_from("!H", data, 2)[0] & 0x7900) | Rcode.FORMERR
    return _HEADER.pack(struct.unpack_from("!H", data)[0], flags, 0, 0, 0, 0)


def socket_buffers(sock: socket.socket, rcvbuf: int, sndbuf: int) -> list[str]:
    """Ask for receive and send buffers of *rcvbuf* and *sndbuf* bytes (``so-rcvbuf``,
    ``so-sndbuf``; 0 leaves the system's default), as Unbound's options of the same
    names do. Returns what the kernel did not grant: it caps the sizes at
    net.core.rmem_max / wmem_max (and reports twice the size it keeps)."""
    problems = []
    for option, size, key, sysctl in ((socket.SO_RCVBUF, rcvbuf, "so-rcvbuf", "rmem_max"),
                                      (socket.SO_SNDBUF, sndbuf, "so-sndbuf", "wmem_max")):
        if size <= 0:
            continue
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, size)
            granted = sock.getsockopt(socket.SOL_SOCKET, option) // 2
        except OSError as exc:
            problems.append(f"{key} = {size}: not set ({exc.strerror})")
            continue
        if granted < size:
            problems.append(f"{key} = {size}: the kernel granted {granted} bytes; raise "
                            f"net.core.{sysctl} (sysctl) to get more")
    return problems


def _where(host: str, port: int) -> str:
    """``[::1]:53`` or ``127.0.0.1:53``: an address in an error message."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def tls_context(settings: Settings) -> ssl.SSLContext:
    """The server context of listen-tls: TLS 1.2 or later, ALPN "dot" (RFC 7858)."""
    if settings.tls_cert is None or settings.tls_key is None:
        raise ConfigError("listen-tls needs tls-cert and tls-key")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["dot"])
    for key, path in (("tls-cert", settings.tls_cert), ("tls-key", settings.tls_key)):
        try:
            path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{key}: cannot read {path}: {exc.strerror}") from None
    try:
        context.load_cert_chain(str(settings.tls_cert), str(settings.tls_key))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"tls-cert/tls-key: {settings.tls_cert}, {settings.tls_key}: "
                          f"not a matching PEM certificate and key ({exc})") from None
    return context


def _truncated(data: bytes) -> bytes | None:
    """An empty reply with TC=1 echoing the question (no EDNS), or None if malformed."""
    if data[4:6] != b"\x00\x01":
        return None
    end = 12
    while end < len(data) and 0 < data[end] < 0x40:     # the question name's labels
        end += data[end] + 1
    if end >= len(data) or data[end] != 0 or end + 5 > len(data):
        return None
    end += 5
    flags = (struct.unpack_from("!H", data, 2)[0] & 0x7910) | QR | TC
    return _HEADER.pack(struct.unpack_from("!H", data)[0], flags, 1, 0, 0, 0) + data[12:end]


def _servfail(data: bytes) -> bytes | None:
    try:
        query = wm.parse(data)
    except FormError:
        return None
    return error_response(query, Rcode.SERVFAIL)
