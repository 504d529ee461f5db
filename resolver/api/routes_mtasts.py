"""Outbound TLS routes: ``/v1/mta-sts`` (RFC 8461), ``/v1/tls-rpt`` (RFC 8460) and
``/v1/tls-policy`` (what the Postfix policy map answers, and why).

The MTA-STS policy cache (:class:`resolver.mail.mtasts_cache.MtaSts`) lives on the
app under :data:`MTA_STS_KEY`; :func:`register` makes one from the resolver's settings
(``mta-sts-ca-file``, ``mta-sts-port``) unless the caller put one there first, and
``serve`` replaces it with the process's shared cache (:func:`share_mta_sts`, the one
the TLS policy socketmap uses) before the app starts.
"""

from __future__ import annotations

from aiohttp import web

from ..mail.mtasts_cache import MtaSts
from ..mail.mtasts_shared import mta_sts_from_settings
from ..mail.tls_policy import tls_policy
from ..mail.tlsrpt import tls_rpt
from ..wire.name import Name, NameError_
from ..wire.types import RRType
from .app import RESOLVER_KEY, BadInput, json_response, param
from .inputs import mail_domain
from .mail_dns import request_dns

MTA_STS_KEY: web.AppKey[MtaSts] = web.AppKey("mta_sts", MtaSts)


def _owner(domain: Name, *labels: bytes) -> Name:
    """``<labels>.domain``, or a 400 when that name would exceed 255 octets."""
    try:
        for label in reversed(labels):
            domain = domain.prepend(label)
    except NameError_:
        prefix = ".".join(lb.decode() for lb in labels)
        raise BadInput(f"domain: {prefix}.<domain> would exceed 255 octets") from None
    return domain


async def mta_sts(request: web.Request) -> web.Response:
    domain = mail_domain(param(request, "domain"))
    owner = _owner(domain, b"_mta-sts")
    dns = request_dns(request)
    result = await request.app[MTA_STS_KEY].discover(dns, domain)
    body = dns.envelope(owner, RRType.TXT)
    body.update(result.to_json())
    return json_response(body)


async def tlsrpt(request: web.Request) -> web.Response:
    domain = mail_domain(param(request, "domain"))
    owner = _owner(domain, b"_smtp", b"_tls")
    dns = request_dns(request)
    result = await tls_rpt(dns, domain)
    body = dns.envelope(owner, RRType.TXT)
    body.update(result.to_json())
    return json_response(body)


async def policy(request: web.Request) -> web.Response:
    domain = mail_domain(param(request, "domain"))
    dns = request_dns(request)
    decision = await tls_policy(dns, request.app[MTA_STS_KEY], domain)
    body = dns.envelope(domain, RRType.MX)
    body.update(decision.to_json())
    return json_response(body)


def share_mta_sts(app: web.Application, mta_sts: MtaSts | None) -> None:
    """Answer from *mta_sts* (the process's one policy cache); before the app starts."""
    if mta_sts is not None:
        app[MTA_STS_KEY] = mta_sts


def register(app: web.Application) -> None:
    if MTA_STS_KEY not in app:
        resolver = app[RESOLVER_KEY]
        app[MTA_STS_KEY] = mta_sts_from_settings(resolver, resolver.settings)
    app.router.add_get("/v1/mta-sts", mta_sts)
    app.router.add_get("/v1/tls-rpt", tlsrpt)
    app.router.add_get("/v1/tls-policy", policy)
