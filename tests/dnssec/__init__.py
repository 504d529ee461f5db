"""Helpers shared by the DNSSEC primitive tests: the zone files under tests/data (read
with the project's zone-file reader), and RRset builders."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from resolver.wire.message import RR
from resolver.wire.name import Name
from resolver.wire.rrset import RRset, group
from resolver.wire.types import RRType
from resolver.wire.zonefile import read_zone_file, read_zone_text

DATA = Path(__file__).resolve().parent.parent / "data"
INTEROP = DATA / "interop"
ZONES = INTEROP / "zones"
VECTORS = DATA / "vectors"

#: 2026-11-28T16:00:00Z, the pinned validation time of the interop zones.
INTEROP_NOW = 1795881600


def parse_records(text: str, origin: Name | None = None) -> list[RR]:
    """Records in zone-file syntax, read with the project's zone-file reader."""
    return read_zone_text(text, origin, default_ttl=3600)


def load_zone(filename: str) -> list[RR]:
    """The records of an interop zone file."""
    return read_zone_file(ZONES / filename)


def rrsets(records: Iterable[RR]) -> list[RRset]:
    """RRsets with their RRSIGs attached (orphan RRSIG groups dropped)."""
    return [rs for rs in group(records) if rs.rtype != RRType.RRSIG]


def dnskeys_of(records: Iterable[RR], zone: Name) -> list[bytes]:
    return [rr.rdata for rr in records if rr.rtype == RRType.DNSKEY and rr.name == zone]


def make_rrset(owner: str, rtype: int, rdatas: Iterable[bytes], ttl: int = 3600,
               sigs: Iterable[bytes] = ()) -> RRset:
    return RRset(Name.from_text(owner), rtype, 1, ttl, rdatas, sigs)
