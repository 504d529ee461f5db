"""Fetching an MTA-STS policy over HTTPS (RFC 8461 s3.3).

``https://mta-sts.DOMAIN/.well-known/mta-sts.txt``: the host name is resolved through
a :class:`~resolver.mail.dnsapi.DnsSource` (the validating resolver in production; a
bogus answer carries no address, an insecure one is used: MTA-STS rests on WebPKI,
not on DNSSEC), the connection goes to those addresses, and the certificate must be
valid for ``mta-sts.DOMAIN`` under the system's trust store or a configured CA file.
The RFC's limits: status 200 only (a redirect is a failure), ``text/plain``, at most
64 KiB, a bounded time. Every failure comes back as :attr:`FetchResult.error`, never
as an exception.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from ..wire.name import Name, NameError_
from ..wire.types import RRType
from .dnsapi import DnsSource, LookupInfo
from .mtasts import MAX_POLICY_BYTES, WELL_KNOWN, Json, MtaStsError, Policy, parse_policy

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 20.0      # seconds for the whole fetch (connect, TLS, request, body)


@dataclass(slots=True)
class FetchSettings:
    """Where and how policies are fetched. *ca_file* None: the system trust store.
    *port* is 443 except in tests (the test network's HTTPS server)."""

    ca_file: Path | None = None
    port: int = 443
    timeout: float = DEFAULT_TIMEOUT
    _context: ssl.SSLContext | None = field(default=None, repr=False)

    def context(self) -> ssl.SSLContext:
        """The client TLS context (built once): certificate and host name checked,
        TLS 1.2 at least."""
        if self._context is None:
            ctx = ssl.create_default_context(
                cafile=str(self.ca_file) if self.ca_file is not None else None)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            self._context = ctx
        return self._context


@dataclass(frozen=True, slots=True)
class FetchResult:
    """The outcome of one fetch: *policy* and *body_size* on success, else *error*."""

    host: str
    url: str
    addresses: tuple[str, ...]
    policy: Policy | None = None
    error: str | None = None
    status: int | None = None
    body_size: int = 0
    elapsed: float = 0.0
    lookups: tuple[LookupInfo, ...] = ()

    def to_json(self) -> Json:
        out: Json = {"host": self.host, "url": self.url, "addresses": list(self.addresses),
                     "ok": self.policy is not None, "elapsed_ms": round(self.elapsed * 1000)}
        if self.status is not None:
            out["http_status"] = self.status
        if self.error is not None:
            out["error"] = self.error
        if self.policy is not None:
            out["body_size"] = self.body_size
        return out


class _FixedResolver(AbstractResolver):
    """aiohttp's host lookup, answered with the addresses our resolver found."""

    def __init__(self, host: str, addresses: tuple[str, ...]) -> None:
        self.host = host
        self.addresses = addresses

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        if host.lower().rstrip(".") != self.host:
            raise OSError(f"unexpected host {host!r}")
        out: list[ResolveResult] = []
        for addr in self.addresses:
            fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
            out.append({"hostname": host, "host": addr, "port": port, "family": fam,
                        "proto": 0, "flags": socket.AI_NUMERICHOST})
        return out

    async def close(self) -> None:
        return None


async def policy_addresses(dns: DnsSource, host: Name) -> tuple[list[str], list[LookupInfo]]:
    """The addresses of the policy host (A and AAAA, CNAMEs followed by the resolver)."""
    lookups = await asyncio.gather(dns.lookup(host, RRType.A), dns.lookup(host, RRType.AAAA))
    out: list[str] = []
    for lk in lookups:
        for data in lk.records:
            if lk.rtype == RRType.A and len(data) == 4:
                out.append(str(ipaddress.IPv4Address(data)))
            elif lk.rtype == RRType.AAAA and len(data) == 16:
                out.append(str(ipaddress.IPv6Address(data)))
    return out, [LookupInfo(lk) for lk in lookups]


async def _read_limited(resp: aiohttp.ClientResponse) -> bytes:
    declared = resp.content_length
    if declared is not None and declared > MAX_POLICY_BYTES:
        raise MtaStsError(f"policy of {declared} bytes is larger than {MAX_POLICY_BYTES}")
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await resp.content.read(16 * 1024)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_POLICY_BYTES:
            raise MtaStsError(f"policy larger than {MAX_POLICY_BYTES} bytes")
        chunks.append(chunk)


async def fetch_policy(dns: DnsSource, domain: Name, settings: FetchSettings) -> FetchResult:
    """Fetch and parse the policy of *domain* (see the module text)."""
    started = time.monotonic()
    try:
        host_name = domain.prepend(b"mta-sts")
    except NameError_:
        return FetchResult("", "", (), error="mta-sts.<domain> would exceed 255 octets")
    host = host_name.to_text(omit_final_dot=True).lower()
    port = settings.port
    url = f"https://{host}{'' if port == 443 else f':{port}'}{WELL_KNOWN}"
    addresses, lookups = await policy_addresses(dns, host_name)

    def result(**kw: object) -> FetchResult:
        return FetchResult(host, url, tuple(addresses), elapsed=time.monotonic() - started,
                           lookups=tuple(lookups), **kw)  # type: ignore[arg-type]

    if not addresses:
        why = "; ".join(info.lookup.summary() for info in lookups)
        return result(error=f"{host} has no usable address ({why})")
    connector = aiohttp.TCPConnector(resolver=_FixedResolver(host, tuple(addresses)),
                                     ssl=settings.context(), limit=1, force_close=True,
                                     use_dns_cache=False)
    timeout = aiohttp.ClientTimeout(total=settings.timeout)
    try:
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session, \
                session.get(url, allow_redirects=False,
                            headers={"Accept": "text/plain"}) as resp:
            status = resp.status
            if 300 <= status < 400:
                return result(status=status, error=f"HTTP {status}: redirects are not "
                              "followed (RFC 8461 s3.3)")
            if status != 200:
                return result(status=status, error=f"HTTP {status}")
            if resp.content_type != "text/plain":
                return result(status=status, error=f"Content-Type {resp.content_type!r}, "
                              "not text/plain (RFC 8461 s3.2)")
            body = await _read_limited(resp)
    except MtaStsError as exc:
        return result(error=str(exc))
    except aiohttp.ClientConnectorCertificateError as exc:
        return result(error=f"certificate not valid for {host}: "
                      f"{getattr(exc.certificate_error, 'verify_message', exc)}")
    except aiohttp.ClientSSLError as exc:
        return result(error=f"TLS failed: {exc}")
    except (aiohttp.ClientError, OSError) as exc:
        return result(error=f"HTTPS fetch failed: {type(exc).__name__}: {exc}")
    except TimeoutError:
        return result(error=f"HTTPS fetch timed out after {settings.timeout:g} s")
    try:
        policy = parse_policy(body)
    except MtaStsError as exc:
        return result(status=200, body_size=len(body), error=f"bad policy: {exc}")
    log.debug("MTA-STS policy of %s fetched: %s", domain, policy.mode.value)
    return result(status=200, body_size=len(body), policy=policy)
