"""Tests built from the worked examples of the RFCs, and a minimal reader for them.

The reader handles the simple files in ``tests/data/rfc/``: one record a line,
``owner [ttl] [class] type rdata`` with absolute owner names, ``;`` comments and
double-quoted strings. (The project's zone-file reader is written separately.)
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from pathlib import Path

from resolver.wire import rdata as rd
from resolver.wire.message import RR
from resolver.wire.name import Name
from resolver.wire.rrset import RRset, group
from resolver.wire.types import RRType, type_from_text

DATA = Path(__file__).resolve().parent.parent / "data" / "rfc"
_CLASSES = {"IN": 1, "CH": 3, "HS": 4}


def parse_line(line: str) -> RR | None:
    """One record from a line, or None for a blank or comment-only line."""
    lexer = shlex.shlex(line, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ";"
    tokens = [t for t in lexer if t not in ("(", ")")]
    if not tokens:
        return None
    owner = Name.from_text(tokens[0])
    i = 1
    ttl = 3600
    rclass = 1
    if tokens[i].isdigit():
        ttl = int(tokens[i])
        i += 1
    if tokens[i].upper() in _CLASSES:
        rclass = _CLASSES[tokens[i].upper()]
        i += 1
    rtype = type_from_text(tokens[i])
    return RR(owner, rtype, rclass, ttl, rd.from_text(rtype, tokens[i + 1:], None))


def read_records(path: Path) -> list[RR]:
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        rr = parse_line(line)
        if rr is not None:
            records.append(rr)
    return records


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
