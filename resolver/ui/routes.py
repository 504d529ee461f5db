"""The report page's routes on the API application: ``/ui/`` (search box and the
resolver's status) and ``/ui/domain/NAME`` (one report per mail domain; ``?dkim=``
names DKIM selectors). ``/ui/domain?q=...`` is where the search form goes: it
redirects to the report of the domain (an e-mail address gives its domain).

Names are checked as the API checks them (:mod:`resolver.api.inputs`); errors are an
HTML page with the same message and status. A report is bounded in time
(:data:`REPORT_TIMEOUT`) and in size (the graph is cut at ``graph.MAX_NODES``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from urllib.parse import quote

from aiohttp import web

from ..api.app import RESOLVER_KEY, BadInput
from ..api.inputs import mail_domain, parse_selector
from ..wire.name import Name
from . import pages
from .report import domain_report

log = logging.getLogger(__name__)

REPORT_TIMEOUT = 25.0        # seconds for all the lookups of one report
MAX_SELECTORS = 8
HEADERS = {
    # nothing from elsewhere: no script at all, styles and images inline only
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "img-src data:; form-action 'self'; base-uri 'none'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
# (label, path) of further per-domain API routes to link from the report, when present
# (JSON; the MTA-STS route fetches the policy over HTTPS, so it is a link the operator
# follows, never something the page does itself)
OPTIONAL_LINKS = (("MTA-STS policy", "/v1/mta-sts"), ("TLS-RPT record", "/v1/tls-rpt"),
                  ("outbound TLS policy", "/v1/tls-policy"))


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html",
                        charset="utf-8", headers=HEADERS)


def _message(exc: BadInput) -> str:
    try:
        return str(json.loads(exc.text or "{}").get("error", exc.reason))
    except ValueError:
        return exc.reason


def _domain_of(text: str) -> Name:
    """A domain, or the domain of an e-mail address (``user@example.org``)."""
    text = text.strip()
    if len(text) > 320:
        raise BadInput("q: longer than 320 characters")
    if "@" in text:
        text = text.rpartition("@")[2]
    return mail_domain(text, "domain", min_labels=1)


def _selectors(text: str, domain: Name) -> list[str]:
    items = [s.strip() for s in text.split(",") if s.strip()]
    if len(items) > MAX_SELECTORS:
        raise BadInput(f"dkim: more than {MAX_SELECTORS} selectors")
    return [parse_selector(s, domain, "dkim") for s in dict.fromkeys(items)]


async def index(request: web.Request) -> web.Response:
    resolver = request.app[RESOLVER_KEY]
    data = {"validating": resolver.settings.validate, "anchors": resolver.anchor_keys(),
            "anchors_validated": resolver.anchors_validated(),
            "ntas": resolver.negative_anchors(), "caches": resolver.cache_stats(),
            "servers": resolver.infra_servers(), "stats": resolver.stats}
    return _html(pages.status_page(data))


async def search(request: web.Request) -> web.Response:
    query = request.query.get("q", "")
    try:
        domain = _domain_of(query)
        selectors = _selectors(request.query.get("dkim", ""), domain)
    except BadInput as exc:
        return _html(pages.error_page(400, _message(exc), query[:320]), 400)
    target = f"/ui/domain/{quote(domain.to_text(omit_final_dot=True))}"
    if selectors:
        target += "?dkim=" + quote(",".join(selectors))
    return _redirect(target, 303)


def _links(app: web.Application, domain: Name) -> list[tuple[str, str]]:
    """Links to the MTA-STS / TLS-RPT API routes, for those registered on *app*."""
    paths = {r.resource.canonical for r in app.router.routes() if r.resource is not None}
    text = quote(domain.to_text(omit_final_dot=True))
    return [(label, f"{path}?domain={text}") for label, path in OPTIONAL_LINKS
            if path in paths]


async def domain(request: web.Request) -> web.Response:
    raw = request.match_info["name"]
    try:
        name = _domain_of(raw)
        selectors = _selectors(request.query.get("dkim", ""), name)
    except BadInput as exc:
        return _html(pages.error_page(400, _message(exc), raw[:320]), 400)
    resolver = request.app[RESOLVER_KEY]
    try:
        report = await asyncio.wait_for(
            domain_report(resolver, name, selectors, _links(request.app, name)),
            REPORT_TIMEOUT)
    except TimeoutError:
        log.info("report for %s took longer than %g s", name, REPORT_TIMEOUT)
        return _html(pages.error_page(504, f"the lookups for {name} took longer than "
                                           f"{REPORT_TIMEOUT:g} s", raw), 504)
    return _html(pages.domain_page(report, selectors))


def register(app: web.Application) -> None:
    """Add the report page's routes to the API application *app*."""
    app.router.add_get("/ui", to_index)
    app.router.add_get("/ui/", index)
    app.router.add_get("/ui/domain", search)
    app.router.add_get("/ui/domain/{name}", domain)


def _redirect(target: str, status: int) -> web.Response:
    """A redirect as a plain response (the API's guard turns raised HTTP exceptions
    into JSON errors)."""
    return web.Response(status=status, headers={**HEADERS, "Location": target})


async def to_index(request: web.Request) -> web.Response:
    return _redirect("/ui/", 301)


__all__ = ["register", "REPORT_TIMEOUT"]
