"""The DNS interface the mail evaluators use.

Evaluators (SPF, DKIM, DMARC, DANE) never talk to the network or the resolver's
internals: they ask a :class:`DnsSource` for one (name, type) and get a
:class:`Lookup` that always carries its DNSSEC status. Production plugs in the
validating resolver; tests plug in fixed data (for example the OpenSPF suite's
``zonedata``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ..dnssec.status import Security
from ..wire import rdata as rd
from ..wire.name import Name
from ..wire.types import Rcode


@dataclass(frozen=True, slots=True)
class Lookup:
    """The outcome of one validated lookup.

    *records* are the uncompressed RDATA of the RRset of *rtype* at the end of any
    CNAME chain (empty for NXDOMAIN and NODATA). *security* is the weakest status of
    everything the answer rests on (each CNAME link and the data or its denial).
    *rcode* is the DNS rcode; a timeout or unreachable server is SERVFAIL with
    ``error`` set. Bogus answers carry no records.
    """

    name: Name
    rtype: int
    rcode: int
    records: tuple[bytes, ...] = ()
    security: Security = Security.INDETERMINATE
    reason: str | None = None
    ttl: int = 0
    cnames: tuple[Name, ...] = ()          # the CNAME targets followed, in order
    ede: tuple[tuple[int, str], ...] = ()  # Extended DNS Errors (code, text)
    error: str | None = None               # transport-level failure, if any

    @property
    def ok(self) -> bool:
        """NOERROR or NXDOMAIN: a definite answer (possibly empty)."""
        return self.rcode in (Rcode.NOERROR, Rcode.NXDOMAIN) and self.error is None

    @property
    def nxdomain(self) -> bool:
        return self.rcode == Rcode.NXDOMAIN

    @property
    def final_name(self) -> Name:
        return self.cnames[-1] if self.cnames else self.name

    def data(self) -> list[rd.Rdata]:
        return [rd.decode(self.rtype, r) for r in self.records]


class DnsSource(Protocol):
    """Where evaluators get their DNS answers from."""

    async def lookup(self, name: Name, rtype: int) -> Lookup:
        ...


@dataclass(slots=True)
class StaticDns:
    """A DnsSource over fixed data, for tests: ``{(name, rtype): Lookup}``; a name with
    no entry for any type gives NXDOMAIN, a known name without the type gives NODATA.
    All answers get *security*."""

    answers: dict[tuple[Name, int], Lookup] = field(default_factory=dict)
    security: Security = Security.SECURE
    queries: list[tuple[Name, int]] = field(default_factory=list)

    def add(self, name: Name, rtype: int, records: Sequence[bytes], ttl: int = 300,
            security: Security | None = None, rcode: int = Rcode.NOERROR) -> None:
        self.answers[(name, rtype)] = Lookup(name, rtype, rcode, tuple(records),
                                             security if security is not None else self.security,
                                             ttl=ttl)

    async def lookup(self, name: Name, rtype: int) -> Lookup:
        self.queries.append((name, rtype))
        found = self.answers.get((name, rtype))
        if found is not None:
            return found
        exists = any(n == name for n, _ in self.answers)
        return Lookup(name, rtype, Rcode.NOERROR if exists else Rcode.NXDOMAIN, (),
                      self.security)
