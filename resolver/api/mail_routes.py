"""Mail-security routes (DANE, SMIMEA, OPENPGPKEY, SPF, DKIM, DMARC): registered on
the API application by :func:`register`.

The handlers live one module per family: :mod:`resolver.api.routes_dane`,
:mod:`resolver.api.routes_smimea` and :mod:`resolver.api.routes_sender`; input checks in
:mod:`resolver.api.inputs`. The evaluators are those of :mod:`resolver.mail`, fed by the
validating resolver through :mod:`resolver.api.mail_dns`. This module holds what they
share at the HTTP level: the route table (checked against ``openapi.json`` by the
tests), the header-size limit and the default authserv-id.
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable

from aiohttp import web

from . import routes_dane as dane
from . import routes_sender as sender
from . import routes_smimea as smimea
from .app import BadInput
from .inputs import AUTHSERV_ID_KEY

MAX_HEADER_BYTES = 32 * 1024   # all request header fields together

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def header_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    """431 for requests whose header fields together exceed :data:`MAX_HEADER_BYTES`
    (aiohttp's parser already refuses a single field over 8190 bytes)."""
    size = sum(len(k) + len(v) + 4 for k, v in request.raw_headers)
    if size > MAX_HEADER_BYTES:
        raise BadInput(f"request header fields larger than {MAX_HEADER_BYTES} bytes", 431)
    return await handler(request)


ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "/v1/tlsa", dane.tlsa),
    ("GET", "/v1/dane/smtp", dane.dane_smtp),
    ("POST", "/v1/dane/verify", dane.dane_verify),
    ("GET", "/v1/smimea", smimea.smimea_get),
    ("POST", "/v1/smimea/verify", smimea.smimea_verify),
    ("GET", "/v1/openpgpkey", smimea.openpgpkey),
    ("GET", "/v1/spf", sender.spf),
    ("GET", "/v1/spf/check", sender.spf_check),
    ("GET", "/v1/dkim", sender.dkim),
    ("POST", "/v1/dkim/verify", sender.dkim_verify),
    ("GET", "/v1/dmarc", sender.dmarc),
    ("POST", "/v1/dmarc/evaluate", sender.dmarc_evaluate_route),
    ("POST", "/v1/authenticate", sender.authenticate),
)


def register(app: web.Application) -> None:
    """Add the mail routes to *app*. The authserv-id of ``/v1/authenticate`` defaults to
    the host name; set ``app[AUTHSERV_ID_KEY]`` to change it (or pass ``authserv_id``)."""
    app.middlewares.append(header_limit)
    if AUTHSERV_ID_KEY not in app:
        app[AUTHSERV_ID_KEY] = socket.gethostname() or "localhost"
    for method, path, handler in ROUTES:
        if method == "GET":
            app.router.add_get(path, handler)
        else:
            app.router.add_route(method, path, handler)


__all__ = ["register", "AUTHSERV_ID_KEY", "ROUTES"]
