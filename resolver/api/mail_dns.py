"""The DNS source of the mail routes: the validating resolver behind
:class:`~resolver.mail.source.ResolverDns`, remembering every answer of one request so
that a route can show the exact envelope (:func:`resolver.api.models.envelope`) of a
lookup an evaluator made.
"""

from __future__ import annotations

from typing import Any, cast

from aiohttp import web

from ..answer import Answer
from ..dnssec.status import Security
from ..mail.source import ResolverDns
from ..service import Resolver
from ..wire.name import Name
from ..wire.types import type_to_text
from .app import RESOLVER_KEY
from .models import envelope


class _RecordingResolver:
    """Stands in for the resolver under :class:`ResolverDns` and keeps every
    :class:`Answer`, so a route can show the exact envelope of a lookup an evaluator made."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.answers: dict[tuple[bytes, int], Answer] = {}

    async def resolve(self, qname: Name, qtype: int) -> Answer:
        answer = await self.resolver.resolve(qname, qtype)
        self.answers[(qname.key, qtype)] = answer
        return answer


class RequestDns(ResolverDns):
    """The production DnsSource, remembering the answers of one request."""

    def __init__(self, resolver: Resolver) -> None:
        self.recorder = _RecordingResolver(resolver)
        super().__init__(cast(Resolver, self.recorder))

    def answer(self, name: Name, rtype: int) -> Answer | None:
        return self.recorder.answers.get((name.key, rtype))

    def envelope(self, name: Name, rtype: int) -> dict[str, Any]:
        """The shared envelope of the lookup of (*name*, *rtype*) made for this request."""
        answer = self.answer(name, rtype)
        if answer is None:  # no lookup was needed to reach the verdict
            return {"query": {"name": name.to_text(), "type": type_to_text(rtype)},
                    "status": Security.INDETERMINATE.label, "rcode": "NOERROR", "records": [],
                    "ttl": 0, "reason": "not looked up", "ede": []}
        return envelope(name, rtype, answer)


def request_dns(request: web.Request) -> RequestDns:
    """A fresh recording DnsSource for one request (answers are never shared between
    requests, so an envelope always shows this request's lookup)."""
    return RequestDns(request.app[RESOLVER_KEY])

