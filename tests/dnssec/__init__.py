"""Helpers shared by the DNSSEC primitive tests: a tiny reader for the one-RR-per-line
zone files under tests/data, and RRset builders."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from resolver.wire import rdata as rd
from resolver.wire.message import RR
from resolver.wire.name import Name
from resolver.wire.rrset import RRset, group
from resolver.wire.types import RRType, type_from_text

DATA = Path(__file__).resolve().parent.parent / "data"
INTEROP = DATA / "interop"
ZONES = INTEROP / "zones"
VECTORS = DATA / "vectors"

#: 2026-11-28T16:00:00Z, the pinned validation time of the interop zones.
INTEROP_NOW = 1795881600


def tokenize(text: str) -> list[str]:
    """Split presentation-format RDATA: whitespace separates, quotes group (and are
    removed, escapes kept), ';' outside quotes starts a comment."""
    tokens: list[str] = []
    cur: list[str] = []
    quoted = False
    in_token = False
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            cur.append(text[i:i + 2])
            in_token = True
            i += 2
            continue
        if c == '"':
            quoted = not quoted
            in_token = True
        elif quoted:
            cur.append(c)
        elif c == ";":
            break
        elif c.isspace():
            if in_token:
                tokens.append("".join(cur))
                cur, in_token = [], False
        else:
            cur.append(c)
            in_token = True
        i += 1
    if in_token:
        tokens.append("".join(cur))
    return tokens


def parse_line(line: str, origin: Name | None = None) -> RR | None:
    """``owner ttl class type rdata...`` (tab or space separated) to an RR."""
    tokens = tokenize(line)
    if len(tokens) < 4:
        return None
    owner, ttl, rclass, rtype_text, *rest = tokens
    assert rclass.upper() == "IN", line
    rtype = type_from_text(rtype_text)
    return RR(Name.from_text(owner, origin), rtype, 1, rd.ttl_from_text(ttl),
              rd.from_text(rtype, rest, origin))


def parse_records(text: str, origin: Name | None = None) -> list[RR]:
    out = []
    for line in text.splitlines():
        rr = parse_line(line, origin)
        if rr is not None:
            out.append(rr)
    return out


def load_zone(filename: str) -> list[RR]:
    """The records of a signed interop zone (one RR per line). The unsigned zones are
    written in free master-file syntax ($ORIGIN, relative names); they hold no
    DNSSEC records, so they load as empty."""
    text = (ZONES / filename).read_text()
    if text.startswith("$ORIGIN"):
        return []
    return parse_records(text)


def rrsets(records: Iterable[RR]) -> list[RRset]:
    """RRsets with their RRSIGs attached (orphan RRSIG groups dropped)."""
    return [rs for rs in group(records) if rs.rtype != RRType.RRSIG]


def dnskeys_of(records: Iterable[RR], zone: Name) -> list[bytes]:
    return [rr.rdata for rr in records if rr.rtype == RRType.DNSKEY and rr.name == zone]


def make_rrset(owner: str, rtype: int, rdatas: Iterable[bytes], ttl: int = 3600,
               sigs: Iterable[bytes] = ()) -> RRset:
    return RRset(Name.from_text(owner), rtype, 1, ttl, rdatas, sigs)
