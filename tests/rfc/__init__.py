"""Tests built from the worked examples of the RFCs, and a minimal reader for them.

The files in ``tests/data/rfc/`` are read with the project's zone-file reader (one
record a line, absolute owner names).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from resolver.wire import rdata as rd
from resolver.wire.message import RR
from resolver.wire.name import ROOT, Name
from resolver.wire.rrset import RRset, group
from resolver.wire.types import RRType
from resolver.wire.zonefile import read_rr_line, read_zone_text

DATA = Path(__file__).resolve().parent.parent / "data" / "rfc"


def parse_line(line: str) -> RR | None:
    """One record from a line, or None for a blank or comment-only line."""
    if not line.split(";", 1)[0].strip():
        return None
    return read_rr_line(line)


def read_records(path: Path) -> list[RR]:
    return read_zone_text(path.read_text(encoding="utf-8"), ROOT, default_ttl=3600)


def load(filename: str) -> list[RRset]:
    """The RRsets of a file in ``tests/data/rfc/`` (RRSIGs attached to what they cover)."""
    return group(read_records(DATA / filename))


def without(rrsets: Iterable[RRset], owner: str, rtype: int | None = None) -> list[RRset]:
    """The RRsets minus those at *owner* (and of *rtype*, when given)."""
    name = Name.from_text(owner)
    return [rs for rs in rrsets
            if not (rs.name == name and (rtype is None or rs.rtype == rtype))]


def only(rrsets: Iterable[RRset], rtype: int) -> list[RRset]:
    return [rs for rs in rrsets if rs.rtype == rtype]


def clear_opt_out(rrsets: Iterable[RRset]) -> list[RRset]:
    """Copies of the RRsets with the NSEC3 opt-out flag cleared and no RRSIGs (the
    signatures would no longer match; the proofs under test do not check them)."""
    out = []
    for rs in rrsets:
        if rs.rtype != RRType.NSEC3:
            out.append(rs)
            continue
        datas = []
        for data in rs.rdatas:
            nsec3 = rd.decode(RRType.NSEC3, data)
            assert isinstance(nsec3, rd.NSEC3)
            datas.append(rd.NSEC3(nsec3.algorithm, 0, nsec3.iterations, nsec3.salt,
                                  nsec3.next, nsec3.types).to_wire())
        out.append(RRset(rs.name, rs.rtype, rs.rclass, rs.ttl, datas))
    return out
