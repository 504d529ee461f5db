"""Locally served special-use zones, as Unbound serves them by default (RFC 6761,
RFC 6303, RFC 8375, RFC 7686, RFC 9462): ``localhost.`` answers with the loopback
addresses, the reverse zones of loopback, private and reserved ranges and the names
``invalid.``, ``test.``, ``onion.``, ``home.arpa.`` answer NXDOMAIN (or NODATA at the
apex) from a local SOA, without asking anyone. Each can be switched off
(``--nodefault ZONE``).

Configured zones (``[[local-zone]]``, Unbound's local-zone types with local-data in
zone-file syntax) come on top: ``static`` answers from its data only (NODATA or
NXDOMAIN otherwise), ``transparent`` answers from its data and resolves the other
names, ``redirect`` answers every name below the zone with the apex data, ``refuse``
answers REFUSED and ``deny`` drops the query. A configured zone replaces a default
zone of the same name. Local answers never carry AD."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .answer import Answer
from .config import LocalZoneConfig
from .dnssec.status import Security
from .wire.name import Name
from .wire.rrset import RRset
from .wire.types import Rcode, RRType
from .wire.zonefile import read_rr_line

DEFAULT_ZONES = [
    "localhost.", "127.in-addr.arpa.",
    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
    "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
    "onion.", "test.", "invalid.", "home.arpa.",
    "10.in-addr.arpa.", *[f"{n}.172.in-addr.arpa." for n in range(16, 32)],
    "168.192.in-addr.arpa.", "0.in-addr.arpa.", "254.169.in-addr.arpa.",
    "2.0.192.in-addr.arpa.", "100.51.198.in-addr.arpa.", "113.0.203.in-addr.arpa.",
    "255.255.255.255.in-addr.arpa.", *[f"{n}.100.in-addr.arpa." for n in range(64, 128)],
    "d.f.ip6.arpa.", "8.e.f.ip6.arpa.", "9.e.f.ip6.arpa.", "a.e.f.ip6.arpa.",
    "b.e.f.ip6.arpa.", "8.b.d.0.1.0.0.2.ip6.arpa.",
]

_TTL = 10800


def _soa(zone: Name) -> RRset:
    mname = Name.from_text("localhost.")
    rname = Name.from_text("nobody.invalid.")
    rdata = mname.wire + rname.wire + (1).to_bytes(4, "big") + (3600).to_bytes(4, "big") + \
        (1200).to_bytes(4, "big") + (604800).to_bytes(4, "big") + (_TTL).to_bytes(4, "big")
    return RRset(zone, RRType.SOA, 1, _TTL, [rdata])


@dataclass(slots=True)
class Configured:
    """A configured local zone: its type and its records by owner and type."""

    zone: Name
    type: str
    records: dict[bytes, dict[int, RRset]] = field(default_factory=dict)
    names: set[bytes] = field(default_factory=set)   # owners and the names between

    @classmethod
    def build(cls, config: LocalZoneConfig) -> Configured:
        """Raises ValueError (a ZoneFileError) for a record that does not parse or
        lies outside the zone."""
        zone = Name.from_text(config.zone if config.zone.endswith(".") else config.zone + ".")
        out = cls(zone, config.type)
        for line in config.data:
            rr = read_rr_line(line, zone, _TTL)
            if not rr.name.is_subdomain(zone):
                raise ValueError(f"{line!r} is outside the zone {zone}")
            types = out.records.setdefault(rr.name.key, {})
            found = types.get(rr.rtype)
            if found is None:
                types[rr.rtype] = RRset(rr.name, rr.rtype, rr.rclass, rr.ttl, [rr.rdata])
            elif rr.rdata not in found.rdatas:
                found.rdatas.append(rr.rdata)
                found.ttl = min(found.ttl, rr.ttl)
            name = rr.name
            while len(name) >= len(zone):
                out.names.add(name.key)
                if name == zone:
                    break
                name = name.parent()
        return out

    def answer(self, qname: Name, qtype: int) -> Answer | None:
        if self.type == "deny":
            return Answer(qname, qtype, drop=True)
        if self.type == "refuse":
            return Answer(qname, qtype, rcode=Rcode.REFUSED)
        owner = self.zone if self.type == "redirect" else qname
        types = self.records.get(owner.key, {})
        out = Answer(qname, qtype, aa=True, security=Security.INSECURE)
        data = types.get(qtype) or (types.get(RRType.CNAME) if qtype != RRType.CNAME else None)
        if data is not None:
            out.answer.append(RRset(qname, data.rtype, data.rclass, data.ttl,
                                    list(data.rdatas)))
            out.ttl = data.ttl
            return out
        if self.type == "transparent" and owner.key not in self.names:
            return None     # no data here: resolved as usual
        soa = self.records.get(self.zone.key, {}).get(RRType.SOA) or _soa(self.zone)
        if owner.key not in self.names and qname != self.zone:
            out.rcode = Rcode.NXDOMAIN
        out.authority.append(soa)
        out.ttl = soa.ttl
        return out


class LocalZones:
    def __init__(self, nodefault: Iterable[str] = (),
                 configured: Iterable[LocalZoneConfig] = ()) -> None:
        off = {Name.from_text(z if z.endswith(".") else z + ".").key for z in nodefault}
        self.configured = {c.zone.key: c for c in map(Configured.build, configured)}
        self.zones = [Name.from_text(z) for z in DEFAULT_ZONES
                      if Name.from_text(z).key not in off]
        self._by_key = {z.key: z for z in self.zones}
        self._by_key.update({c.zone.key: c.zone for c in self.configured.values()})
        self._loopback_v4 = Name.from_text("1.0.0.127.in-addr.arpa.")
        self._loopback_v6 = Name.from_text(DEFAULT_ZONES[2])

    def zone_for(self, qname: Name) -> Name | None:
        """The deepest local zone containing *qname*: one dictionary lookup per label
        (suffixes of the lowercased wire form that start on a label boundary)."""
        key = qname.key
        by_key = self._by_key
        i = 0
        while True:
            zone = by_key.get(key[i:])
            if zone is not None:
                return zone
            length = key[i]
            if length == 0:
                return None
            i += length + 1

    def answer(self, qname: Name, qtype: int) -> Answer | None:
        zone = self.zone_for(qname)
        if zone is None:
            return None
        if self.configured:
            configured = self.configured.get(zone.key)
            if configured is not None:
                return configured.answer(qname, qtype)
        out = Answer(qname, qtype, aa=True, security=Security.INSECURE, ttl=_TTL)
        data = self._data(zone, qname, qtype)
        if data is not None:
            out.answer.append(data)
            return out
        if qname == zone and qtype == RRType.SOA:
            out.answer.append(_soa(zone))
            return out
        if qname == zone and qtype == RRType.NS:
            out.answer.append(RRset(zone, RRType.NS, 1, _TTL,
                                    [Name.from_text("localhost.").wire]))
            return out
        exists = qname == zone or qname in (self._loopback_v4, self._loopback_v6) or \
            zone.key == b"\x09localhost\x00"
        out.rcode = Rcode.NOERROR if exists else Rcode.NXDOMAIN
        out.authority.append(_soa(zone))
        return out

    def _data(self, zone: Name, qname: Name, qtype: int) -> RRset | None:
        if zone.key == b"\x09localhost\x00":
            # every name under localhost. is the loopback host (RFC 6761 s6.3; Unbound's
            # default "localhost." zone is of type redirect)
            if qtype == RRType.A:
                return RRset(qname, RRType.A, 1, _TTL, [bytes((127, 0, 0, 1))])
            if qtype == RRType.AAAA:
                return RRset(qname, RRType.AAAA, 1, _TTL, [bytes(15) + b"\x01"])
        if qtype == RRType.PTR and qname in (self._loopback_v4, self._loopback_v6):
            return RRset(qname, RRType.PTR, 1, _TTL, [Name.from_text("localhost.").wire])
        return None
