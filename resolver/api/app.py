"""The aiohttp application: lookup routes, DNS-over-HTTPS style routes, health and
the OpenAPI description. Mail routes are added by :mod:`resolver.api.mail_routes`.

Every input is checked before it reaches the resolver; bad input gets a 4xx with a
JSON ``{"error": ...}`` that says what is wrong. The API never reaches into the
iterator or the caches: it uses the resolver service only.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import json
import logging
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from ..answer import build_response
from ..counters import LATENCY_BUCKETS, Histogram
from ..dnssec.status import Security
from ..metrics import CONTENT_TYPE, CountingServer, registry_for, render
from ..service import Resolver
from ..wire import message as wm
from ..wire.message import FormError
from ..wire.name import Name, NameError_
from ..wire.types import CD, QR, RRType, rcode_to_text, type_from_text, type_to_text
from .client_errors import json_client_errors
from .models import envelope, record_json

log = logging.getLogger(__name__)

MAX_BODY = 256 * 1024
# package data (pyproject.toml), read through importlib.resources like any installed file
OPENAPI: Traversable = resources.files("resolver.api").joinpath("openapi.json")
RESOLVER_KEY: web.AppKey[Resolver] = web.AppKey("resolver", Resolver)
STATS_KEY: web.AppKey[dict[str, Any]] = web.AppKey("api_stats", dict)
METRICS_KEY: web.AppKey[CollectorRegistry] = web.AppKey("metrics", CollectorRegistry)
# workers > 1: the text of /metrics comes from here (the sum over all workers)
METRICS_SOURCE_KEY: web.AppKey[Callable[[], Awaitable[bytes]]] = web.AppKey("metrics_source")
# the largest message body of the DKIM routes (``api-max-body``), set by create_app
MAX_MESSAGE_KEY: web.AppKey[int] = web.AppKey("api_max_body", int)
HEALTH_KEY: web.AppKey[dict[str, Any]] = web.AppKey("health", dict)
HEALTH_TTL = 30.0           # seconds a /healthz probe result is reused
HEALTH_TIMEOUT = 5.0        # seconds a probe may take before the zone counts as unreachable


class BadInput(web.HTTPBadRequest):
    def __init__(self, message: str, status: int = 400) -> None:
        body = json.dumps({"error": message})
        super().__init__(text=body, content_type="application/json")
        self.set_status(status)


def param(request: web.Request, key: str, default: str | None = None) -> str:
    value = request.query.get(key, default)
    if value is None or value == "":
        raise BadInput(f"missing query parameter '{key}'")
    if len(value) > 1024:
        raise BadInput(f"query parameter '{key}' is too long")
    return value


def parse_name(text: str, what: str = "name") -> Name:
    """A domain name parameter; U-labels become A-labels (IDNA 2008 / UTS 46) or a 400,
    the same way for every route (:func:`resolver.api.inputs.ascii_domain`)."""
    if not text.isascii():
        from .inputs import ascii_domain  # inputs imports this module
        text = ascii_domain(text, what)
    if len(text) > 253 + 1:
        raise BadInput(f"{what}: longer than 253 characters")
    try:
        name = Name.from_text(text if text.endswith(".") else text + ".")
    except (NameError_, UnicodeError, ValueError) as exc:
        raise BadInput(f"{what}: not a domain name ({exc})") from None
    return name


def parse_type(text: str) -> int:
    try:
        value = int(text) if text.isdigit() else type_from_text(text)
    except ValueError:
        raise BadInput(f"type: unknown record type {text!r}") from None
    if not 0 < value <= 0xFFFF or value in (RRType.OPT, RRType.AXFR, RRType.IXFR,
                                            RRType.TSIG, RRType.TKEY):
        raise BadInput(f"type: {text!r} cannot be looked up")
    return value


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, indent=1))


# --------------------------------------------------------------------------- handlers

async def _probe(resolver: Resolver, zone: str, anchored: bool) -> str | None:
    """What is wrong with *zone* (None: nothing): its DNSKEY set must be reachable
    and, for an anchor zone when validating, validate from the anchors."""
    name = Name.from_text(zone)
    what = f"trust anchor {zone}" if anchored else f"root zone {zone}"
    try:
        answer = await asyncio.wait_for(resolver.resolve(name, RRType.DNSKEY),
                                        HEALTH_TIMEOUT)
    except TimeoutError:
        return f"{what}: no answer for its DNSKEY set within {HEALTH_TIMEOUT:g} s"
    if anchored and resolver.settings.validate:
        if answer.security == Security.SECURE:
            return None
        why = answer.reason or "; ".join(text for _, text in answer.ede) or \
            rcode_to_text(answer.rcode)
        return (f"{what}: DNSKEY set not validated ({answer.security.label}, "
                f"{rcode_to_text(answer.rcode)}): {why}")
    if answer.rcode != 0 or not answer.answer:
        why = "; ".join(text for _, text in answer.ede) or "no DNSKEY records"
        return f"{what}: unreachable ({rcode_to_text(answer.rcode)}): {why}"
    return None


async def _health(resolver: Resolver) -> list[str]:
    """The problems of the resolver: the root and every trust anchor zone probed."""
    anchored = {zone for zone, _, _ in resolver.anchor_keys()}
    zones = sorted(anchored | {"."}, key=lambda z: (z.count("."), z))
    found = await asyncio.gather(*(_probe(resolver, z, z in anchored) for z in zones))
    return [problem for problem in found if problem is not None]


async def healthz(request: web.Request) -> web.Response:
    """``ok`` (200), or ``degraded`` (503) with the reasons when the root or a trust
    anchor zone cannot be reached or its keys do not validate. Probes go through the
    resolver (cached keys count) and are reused for :data:`HEALTH_TTL` seconds."""
    resolver = request.app[RESOLVER_KEY]
    memo = request.app[HEALTH_KEY]
    now = time.monotonic()
    if "problems" not in memo or now - memo["at"] >= HEALTH_TTL:
        memo["problems"] = await _health(resolver)
        memo["at"] = now
    problems: list[str] = memo["problems"]
    body: dict[str, Any] = {
        "status": "degraded" if problems else "ok", "validating": resolver.settings.validate,
        "trust_anchors": len(resolver.anchor_keys()),
        "anchors_validated": {zone: round(when) for zone, when in
                              sorted(resolver.anchors_validated().items())}}
    if problems:
        body["reason"] = "; ".join(problems)
        body["reasons"] = problems
        log.warning("health check degraded: %s", body["reason"])
    return json_response(body, 503 if problems else 200)


async def resolve(request: web.Request) -> web.Response:
    name = parse_name(param(request, "name"))
    rtype = parse_type(request.query.get("type", "A"))
    answer = await request.app[RESOLVER_KEY].resolve(name, rtype)
    return json_response(envelope(name, rtype, answer))


async def explain(request: web.Request) -> web.Response:
    name = parse_name(param(request, "name"))
    rtype = parse_type(request.query.get("type", "A"))
    answer, trace = await request.app[RESOLVER_KEY].explain(name, rtype)
    body = envelope(name, rtype, answer)
    body["trace"] = trace.to_json()
    body["trace_text"] = trace.render()
    return json_response(body)


async def dns_query(request: web.Request) -> web.Response:
    """RFC 8484 (application/dns-message, GET ?dns= or POST) and the JSON form of
    the public DNS-over-HTTPS JSON APIs (GET ?name=&type=)."""
    if request.method == "POST" or "dns" in request.query:
        if request.method == "POST":
            if request.content_type != "application/dns-message":
                raise BadInput("POST needs Content-Type: application/dns-message", 415)
            wire = await request.read()
        else:
            raw = request.query["dns"]
            try:
                wire = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
            except (binascii.Error, ValueError):
                raise BadInput("dns: not base64url") from None
        return await _dns_message(request, wire)
    return await _dns_json(request)


async def _dns_message(request: web.Request, wire: bytes) -> web.Response:
    try:
        query = wm.parse(wire)
    except FormError as exc:
        raise BadInput(f"dns: malformed DNS message ({exc})") from None
    if len(query.question) != 1 or query.flags & QR:
        raise BadInput("dns: exactly one question expected")
    q = query.question[0]
    parse_type(str(q.qtype))
    answer = await request.app[RESOLVER_KEY].resolve(q.name, q.qtype, q.qclass,
                                                     cd=bool(query.flags & CD))
    body = build_response(query, answer, max_size=None)
    return web.Response(body=body, content_type="application/dns-message",
                        headers={"Cache-Control": f"max-age={answer.ttl}"})


async def _dns_json(request: web.Request) -> web.Response:
    name = parse_name(param(request, "name"))
    rtype = parse_type(request.query.get("type", "A"))
    cd = request.query.get("cd", "0").lower() in ("1", "true")
    do = request.query.get("do", "0").lower() in ("1", "true")
    answer = await request.app[RESOLVER_KEY].resolve(name, rtype, cd=cd)
    out: dict[str, Any] = {
        "Status": answer.rcode, "TC": False, "RD": True, "RA": True,
        "AD": answer.secure, "CD": cd,
        "Question": [{"name": name.to_text(), "type": rtype}],
    }
    for key, section in (("Answer", answer.answer), ("Authority", answer.authority)):
        rows = []
        for rrset in section:
            if not do and rrset.rtype in (RRType.NSEC, RRType.NSEC3):
                continue
            for rec in rrset.records() + (rrset.sig_records() if do else []):
                rows.append({"name": rec.name.to_text(), "type": rec.rtype, "TTL": rec.ttl,
                             "data": record_json(rec.name, rec.rtype, rec.ttl,
                                                 rec.rdata)["data"]})
        if rows:
            out[key] = rows
    if answer.ede:
        out["extended_dns_errors"] = [{"info_code": c, "extra_text": t} for c, t in answer.ede]
        out["Comment"] = "; ".join(t for _, t in answer.ede)
    return json_response(out)


async def trust_anchors(request: web.Request) -> web.Response:
    return json_response(request.app[RESOLVER_KEY].anchor_report())


async def metrics(request: web.Request) -> web.Response:
    source = request.app.get(METRICS_SOURCE_KEY)
    body = render(request.app[METRICS_KEY]) if source is None else await source()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


async def openapi(request: web.Request) -> web.Response:
    return web.Response(text=OPENAPI.read_text(encoding="utf-8"),
                        content_type="application/json")


# --------------------------------------------------------------------------- app

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _client_allowed(request: web.Request, allowed: list[ipaddress.IPv4Network |
                                                      ipaddress.IPv6Network]) -> bool:
    peer = request.remote or ""
    try:
        ip = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return False
    return any(ip in net for net in allowed)


def create_app(resolver: Resolver, *, allow: list[str] | None = None,
               server: CountingServer | None = None) -> web.Application:
    nets = [ipaddress.ip_network(n, strict=False) for n in (allow or ["127.0.0.0/8",
                                                                       "::1/128"])]
    stats: dict[str, Any] = {"requests": {}, "histograms": {}}

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        route = request.match_info.route.resource.canonical if \
            request.match_info.route.resource is not None else "unmatched"
        status = 500
        try:
            if not _client_allowed(request, nets):
                raise BadInput("client not allowed", 403)
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            if exc.content_type != "application/json":
                return json_response({"error": exc.reason}, exc.status)
            raise
        except Exception:
            log.exception("API error on %s", request.path)
            status = 500
            return json_response({"error": "internal error"}, 500)
        finally:
            key = (route, status)
            stats["requests"][key] = stats["requests"].get(key, 0) + 1
            hist = stats["histograms"].get((route,))
            if hist is None:
                hist = stats["histograms"][(route,)] = Histogram(LATENCY_BUCKETS)
            hist.observe(time.perf_counter() - started)

    app = web.Application(middlewares=[guard], client_max_size=MAX_BODY)
    app[RESOLVER_KEY] = resolver
    app[STATS_KEY] = stats
    app[MAX_MESSAGE_KEY] = resolver.settings.api_max_body
    app[HEALTH_KEY] = {}
    app[METRICS_KEY] = registry_for(resolver, server, stats)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/v1/resolve", resolve)
    app.router.add_get("/v1/explain", explain)
    app.router.add_get("/dns-query", dns_query)
    app.router.add_post("/dns-query", dns_query)
    app.router.add_get("/v1/openapi.json", openapi)
    app.router.add_get("/v1/trust-anchors", trust_anchors)
    app.router.add_get("/metrics", metrics)
    from . import mail_routes
    mail_routes.register(app)
    from . import routes_mtasts  # /v1/mta-sts, /v1/tls-rpt, /v1/tls-policy
    routes_mtasts.register(app)
    if resolver.settings.api_ui:
        from ..ui import routes as ui_routes  # the report page (/ui/), on the same port
        ui_routes.register(app)
    return app


def create_metrics_app(resolver: Resolver,
                       server: CountingServer | None = None) -> web.Application:
    """Only ``/metrics``, for a separate ``--metrics`` address."""
    app = web.Application()
    app[RESOLVER_KEY] = resolver
    app[METRICS_KEY] = registry_for(resolver, server, None)
    app.router.add_get("/metrics", metrics)
    return app


async def start_api(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    json_client_errors(runner)      # HTTP/2 preface, over-long URL: JSON 4xx, one INFO line
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    return runner


__all__ = ["create_app", "start_api", "BadInput", "param", "parse_name", "parse_type",
           "json_response", "RESOLVER_KEY", "type_to_text", "rcode_to_text"]
