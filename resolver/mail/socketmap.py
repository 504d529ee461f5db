"""A Postfix socketmap server (socketmap_table(5)) for ``smtp_tls_policy_maps``.

Postfix connects, sends netstrings ``LEN:DATA,`` whose data is ``<map name> <key>``,
and reads one netstring reply per request: ``OK <data>``, ``NOTFOUND ``,
``TEMP <reason>`` or ``PERM <reason>``. Connections stay open for many requests.
Here the map name must be one of :attr:`SocketmapServer.map_names` (``postfix`` by
default) and the key is a next-hop domain; the answer is
:func:`resolver.mail.tls_policy.tls_policy`'s. Keys that are not a plain domain
(``[host]:port``, ``.parent`` forms, addresses) get ``NOTFOUND``: DANE and MTA-STS
apply to MX-resolved domains only.

Limits: a request longer than :attr:`max_request` octets, or a malformed netstring,
ends the connection (after a ``PERM`` reply where one can still be framed); a
decision that takes longer than :attr:`timeout` seconds gets ``TEMP``; a connection
idle for :attr:`idle_timeout` seconds is closed; at most :attr:`max_connections` at
once (others are closed on arrival).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
from collections import Counter
from collections.abc import Iterable

from ..config import Settings
from ..counters import Counters, NullCounters
from ..service import Resolver
from ..wire.name import Name, NameError_
from .dnsapi import DnsSource
from .mtasts_cache import MtaSts
from .mtasts_shared import mta_sts_from_settings
from .source import ResolverDns
from .tls_policy import temp_reason, tls_policy

log = logging.getLogger(__name__)

DEFAULT_PORT = 8461
MAX_REQUEST = 10_000
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")


class NetstringError(ValueError):
    pass


def netstring(data: bytes) -> bytes:
    return str(len(data)).encode("ascii") + b":" + data + b","


async def read_netstring(reader: asyncio.StreamReader, limit: int) -> bytes | None:
    """One netstring's data; None at a clean end of stream before a new netstring."""
    digits = b""
    while True:
        ch = await reader.read(1)
        if not ch:
            if digits:
                raise NetstringError("connection closed inside a length")
            return None
        if ch == b":":
            break
        if not ch.isdigit() or len(digits) >= len(str(limit)):
            raise NetstringError("bad netstring length")
        digits += ch
    if not digits:
        raise NetstringError("empty netstring length")
    size = int(digits)
    if size > limit:
        raise NetstringError(f"request of {size} octets is over the limit of {limit}")
    data = await reader.readexactly(size + 1)
    if data[-1:] != b",":
        raise NetstringError("netstring not ended by ','")
    return data[:-1]


def domain_key(key: str) -> Name | None:
    """The next-hop domain of a lookup key, or None for keys that are not a plain
    domain name of two labels or more."""
    text = key.strip().lower()
    if text.endswith("."):
        text = text[:-1]
    if not text or text.startswith(("[", ".")) or len(text) > 253:
        return None
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(text)
        return None
    labels = text.split(".")
    if len(labels) < 2 or not all(_LABEL.match(lb) for lb in labels):
        return None
    try:
        return Name.from_text(text + ".")
    except NameError_:
        return None


class SocketmapServer:
    """The TLS policy socketmap on one TCP address."""

    def __init__(self, dns: DnsSource, mta_sts: MtaSts, *,
                 map_names: Iterable[str] = ("postfix",), max_request: int = MAX_REQUEST,
                 timeout: float = 30.0, idle_timeout: float = 300.0,
                 max_connections: int = 256,
                 counters: Counters | NullCounters | None = None) -> None:
        self.dns = dns
        self.counters = counters if counters is not None else NullCounters()
        self.mta_sts = mta_sts
        self.map_names = frozenset(map_names)
        self.max_request = max_request
        self.timeout = timeout
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.answers: Counter[str] = Counter()     # by action: dane, secure, notfound, ...
        self.bound: list[tuple[str, int]] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def lookup(self, map_name: str, key: str) -> str:
        """The reply text for one request (without the netstring framing)."""
        reply = await self._lookup(map_name, key)
        answer = reply.split(" ", 1)[0].lower()
        if reply.startswith("OK "):
            answer = "dane" if reply == "OK dane" else "secure"
        self.answers[answer] += 1
        self.counters.inc("tls_policy_answers", (answer,))
        return reply

    async def _lookup(self, map_name: str, key: str) -> str:
        if map_name not in self.map_names:
            return f"PERM unknown map name {temp_reason(map_name)[:40]!r}"
        domain = domain_key(key)
        if domain is None:
            return "NOTFOUND "
        try:
            decision = await asyncio.wait_for(tls_policy(self.dns, self.mta_sts, domain),
                                              self.timeout)
        except TimeoutError:
            return f"TEMP policy lookup for {domain.to_text(omit_final_dot=True)} timed out"
        except Exception:   # a bug must not take the map down: defer the mail instead
            log.exception("TLS policy lookup for %s failed", domain)
            return "TEMP internal error"
        return decision.reply

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    data = await asyncio.wait_for(read_netstring(reader, self.max_request),
                                                  self.idle_timeout)
                except NetstringError as exc:
                    log.info("socketmap: closing a connection: %s", exc)
                    writer.write(netstring(f"PERM {exc}".encode("ascii", "replace")))
                    await writer.drain()
                    return
                if data is None:
                    return
                text = data.decode("utf-8", "replace")
                name, space, key = text.partition(" ")
                reply = await self.lookup(name, key) if space else \
                    "PERM expected '<map name> <key>'"
                writer.write(netstring(reply.encode("utf-8", "replace")))
                await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._tasks) >= self.max_connections:
            log.warning("socketmap: %d connections open, refusing another",
                        self.max_connections)
            writer.close()
            return
        task = asyncio.ensure_future(self._serve(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def start(self, host: str, port: int) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._accept, host, port)
        self.bound = [sock.getsockname()[:2] for sock in self._server.sockets]
        return self.bound[0]

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    cleanup = stop      # serve stops its listeners with cleanup()


def socketmap_from_settings(resolver: Resolver, settings: Settings,
                            mta_sts: MtaSts | None = None) -> SocketmapServer:
    """The policy map of ``serve`` (``tls-policy``): DNS through the validating resolver,
    MTA-STS policies from *mta_sts* (the process's shared cache), or from a cache of
    its own fetching with ``mta-sts-ca-file`` / ``mta-sts-port``."""
    if mta_sts is None:
        mta_sts = mta_sts_from_settings(resolver, settings)
    return SocketmapServer(ResolverDns(resolver), mta_sts, counters=resolver.counters)
