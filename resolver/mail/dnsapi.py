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
from ..wire.name import Name, NameError_
from ..wire.types import Rcode, rcode_to_text, type_to_text


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
    def failed(self) -> bool:
        """No usable answer: SERVFAIL and friends, a transport error, or a bogus or
        indeterminate status (RFC 7672 s2.1.1, RFC 4035 s4.3). Such a lookup proves
        neither the data nor its absence, so no evaluator may read it as a denial."""
        return (not self.ok or self.security is Security.BOGUS
                or self.security is Security.INDETERMINATE)

    @property
    def nxdomain(self) -> bool:
        return self.rcode == Rcode.NXDOMAIN

    @property
    def final_name(self) -> Name:
        return self.cnames[-1] if self.cnames else self.name

    def data(self) -> list[rd.Rdata]:
        return [rd.decode(self.rtype, r) for r in self.records]

    def summary(self) -> str:
        """One line on the lookup: what came back and how secure it is."""
        if self.error:
            what = f"failed ({self.error})"
        elif self.rcode not in (Rcode.NOERROR, Rcode.NXDOMAIN):
            what = rcode_to_text(self.rcode)
        elif self.security is Security.BOGUS:
            what = "bogus"
        elif self.nxdomain:
            what = "NXDOMAIN"
        elif not self.records:
            what = "NODATA"
        else:
            what = f"{len(self.records)} record(s)"
        text = f"{self.name.to_text()} {type_to_text(self.rtype)}: {what}, " \
               f"{self.security.label}"
        if self.reason:
            text += f" ({self.reason})"
        return text


def _rdata_text(rtype: int, data: bytes) -> str:
    try:
        return rd.decode(rtype, data).to_text()
    except (rd.RdataError, NameError_, ValueError):
        return rd.generic_to_text(data)


@dataclass(frozen=True, slots=True)
class LookupInfo:
    """A JSON-ready record of one DNS lookup and its DNSSEC status, so that every verdict
    (DANE, SMIMEA, OPENPGPKEY) can show the lookups it rests on in one shape."""

    lookup: Lookup

    def to_json(self) -> dict[str, object]:
        lk = self.lookup
        out: dict[str, object] = {
            "name": lk.name.to_text(), "type": type_to_text(lk.rtype),
            "rcode": rcode_to_text(lk.rcode), "security": lk.security.label,
            "records": [_rdata_text(lk.rtype, r) for r in lk.records],
            "summary": lk.summary()}
        if lk.cnames:
            out["cnames"] = [c.to_text() for c in lk.cnames]
        if lk.reason:
            out["reason"] = lk.reason
        if lk.ede:
            out["ede"] = [{"code": int(code), "text": text} for code, text in lk.ede]
        if lk.error:
            out["error"] = lk.error
        return out


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
