"""Requests that aiohttp refuses before any handler runs (an HTTP/2 connection
preface, a request line or header over the size limits, garbage on the port): a
client's mistake, answered like every other bad input, with a JSON ``{"error": ...}``
and a 4xx, and logged as one INFO line, not as an ERROR with a traceback.

aiohttp makes those replies in ``RequestHandler.handle_error``, which has no hook;
:func:`json_client_errors` gives the runner's server a request handler class that
overrides it. Errors of ours (5xx) keep aiohttp's own handling."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import http_exceptions, web
from aiohttp.web_protocol import RequestHandler

log = logging.getLogger(__name__)

MAX_REASON = 120      # characters of aiohttp's message kept in the reply and the log


def client_error_text(exc: BaseException | None) -> str:
    """What went wrong, in a few words (the client's bytes are not echoed at length)."""
    if isinstance(exc, http_exceptions.LineTooLong):
        return "request line (URL) or a header line too long"
    message = getattr(exc, "message", None) or (str(exc) if exc else "") or "bad request"
    message = " ".join(str(message).split())
    if "PRI" in message:
        return "HTTP/2 is not supported: use HTTP/1.1"
    return message if len(message) <= MAX_REASON else message[:MAX_REASON] + "..."


class JsonErrorRequestHandler(RequestHandler):
    """aiohttp's request handler, with client errors answered in JSON."""

    def handle_error(self, request: Any, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if status >= 500 or request.writer.output_size > 0:
            return super().handle_error(request, status, exc, message)
        text = client_error_text(exc)
        log.info("bad HTTP request from %s: %d %s", request.remote, status, text)
        response = web.json_response({"error": text}, status=status)
        response.force_close()
        return response


class _JsonErrorServer(web.Server):
    """A :class:`aiohttp.web.Server` whose connections use JsonErrorRequestHandler."""

    def __call__(self) -> RequestHandler:
        return JsonErrorRequestHandler(self, loop=self._loop, **self._kwargs)


def json_client_errors(runner: web.BaseRunner) -> None:
    """Make the connections of *runner* (after ``setup()``) answer client errors in
    JSON. Its server is an aiohttp ``Server``; only the class that makes request
    handlers changes."""
    server = runner.server
    if server is not None and type(server) is web.Server:
        server.__class__ = _JsonErrorServer
