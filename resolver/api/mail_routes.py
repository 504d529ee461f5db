"""Mail-security routes (DANE, SMIMEA, OPENPGPKEY, SPF, DKIM, DMARC): registered on
the API application by :func:`register`."""

from __future__ import annotations

from aiohttp import web


def register(app: web.Application) -> None:
    """Add the mail routes to *app*."""
