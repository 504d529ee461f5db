"""The production :class:`~resolver.mail.dnsapi.DnsSource`: the validating resolver."""

from __future__ import annotations

from ..dnssec.status import Security
from ..service import Resolver
from ..wire.name import Name
from ..wire.types import Rcode
from .dnsapi import Lookup


class ResolverDns:
    """Answers evaluators' lookups with the resolver service (validated, cached)."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver

    async def lookup(self, name: Name, rtype: int) -> Lookup:
        answer = await self.resolver.resolve(name, rtype)
        final = answer.final_rrset()
        records = tuple(final.rdatas) if final is not None else ()
        reason = str(answer.reason) if answer.reason is not None else None
        error = None
        if answer.rcode == Rcode.SERVFAIL and answer.security != Security.BOGUS:
            error = reason or "resolution failed"
        return Lookup(name, rtype, answer.rcode, records, answer.security, reason,
                      answer.ttl, tuple(answer.cname_chain()), tuple(answer.ede), error)
