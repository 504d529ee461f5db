"""DNS messages: a bounded parser for untrusted input and a builder.

:func:`parse` raises :class:`FormError` and nothing else, whatever the input
(RFC 1035 s4, with the hardening of docs/SECURITY.md s3):
compression pointers only backwards, each strictly before the previous one and
at most 16 in a chain; names of at most 255 octets and 127 labels; every RDLENGTH
consumed exactly; section counts honoured; trailing bytes rejected. Names inside
RDATA are decompressed where RFC 3597 s4 allows it, so stored RDATA is always the
uncompressed wire form with the sender's letter case. RDATA of the types in
:data:`rdata.CLASSES` is checked as strictly as its typed view (rdata.decode), by
fast per-type readers for the common types. tests/wire/test_fuzz.py checks all of
this differentially against dnspython.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from . import rdata as rd
from .entropy import random16
from .name import ROOT, Name
from .types import (
    AA,
    AD,
    CD,
    DO,
    QR,
    RA,
    RD,
    TC,
    EdnsOption,
    Opcode,
    RRClass,
    RRType,
    class_to_text,
    opcode_to_text,
    rcode_to_text,
    type_to_text,
)

MAX_POINTER_HOPS = 16
_HEADER = struct.Struct("!HHHHHH")
_RR_FIXED = struct.Struct("!HHIH")
_U16 = struct.Struct("!H")
_U16X2 = struct.Struct("!HH")
_OPTION = _U16X2


class FormError(Exception):
    """The message is malformed. The only exception :func:`parse` raises."""


# --------------------------------------------------------------------------
# value types

class RR:
    """One resource record; *rdata* is uncompressed wire RDATA."""

    __slots__ = ("name", "rtype", "rclass", "ttl", "rdata")

    def __init__(self, name: Name, rtype: int, rclass: int, ttl: int, rdata: bytes) -> None:
        self.name = name
        self.rtype = rtype
        self.rclass = rclass
        self.ttl = ttl
        self.rdata = rdata

    def data(self) -> rd.Rdata:
        """The typed view of the RDATA (raises RdataError if it does not decode)."""
        return rd.decode(self.rtype, self.rdata)

    def to_text(self) -> str:
        return (f"{self.name.to_text()}\t{self.ttl}\t{class_to_text(self.rclass)}\t"
                f"{type_to_text(self.rtype)}\t{rd.to_text(self.rtype, self.rdata)}")

    def key(self) -> tuple[bytes, int, int, bytes]:
        """Identity of the record, TTL excluded (for sets of records)."""
        return (self.name.key, self.rtype, self.rclass, rd.canonical(self.rtype, self.rdata))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RR):
            return NotImplemented
        return self.key() == other.key() and self.ttl == other.ttl

    def __hash__(self) -> int:
        return hash(self.key())

    def __repr__(self) -> str:
        return f"RR({self.to_text()!r})"


class Question(NamedTuple):
    """One entry of the question section (a tuple: cheap to build and compare)."""

    name: Name
    qtype: int
    qclass: int = RRClass.IN

    def to_text(self) -> str:
        return f"{self.name.to_text()}\t{class_to_text(self.qclass)}\t{type_to_text(self.qtype)}"


_new_question = tuple.__new__
_OPT_HEAD = struct.Struct("!BHHIH")     # root owner, TYPE, CLASS (payload), TTL, RDLENGTH
_QUESTION_TAIL = struct.Struct("!HH")


@dataclass(slots=True)
class Edns:
    """The OPT pseudo-record (RFC 6891)."""

    payload: int = 1232
    ext_rcode: int = 0
    version: int = 0
    flags: int = 0
    options: list[tuple[int, bytes]] = field(default_factory=list)

    @property
    def do(self) -> bool:
        return bool(self.flags & DO)

    def ede(self) -> list[tuple[int, str]]:
        """Extended DNS Errors (RFC 8914) carried in the options."""
        out = []
        for code, data in self.options:
            if code == EdnsOption.EDE and len(data) >= 2:
                text = data[2:].decode("utf-8", "replace")
                out.append((_U16.unpack_from(data)[0], text))
        return out

    def to_wire(self, rcode: int = 0) -> bytes:
        ttl = (((rcode >> 4) & 0xFF) << 24) | ((self.version & 0xFF) << 16) | (self.flags & 0xFFFF)
        if not self.options:
            return _OPT_HEAD.pack(0, RRType.OPT, self.payload, ttl, 0)
        opts = b"".join(struct.pack("!HH", c, len(d)) + d for c, d in self.options)
        return _OPT_HEAD.pack(0, RRType.OPT, self.payload, ttl, len(opts)) + opts


def ede_option(code: int, text: str = "") -> tuple[int, bytes]:
    """An EDE option (RFC 8914 s2): INFO-CODE and UTF-8 EXTRA-TEXT."""
    return (EdnsOption.EDE, _U16.pack(code) + text.encode("utf-8"))


class Message:
    """A parsed or to-be-built message. *flags* holds the 16-bit header word,
    including opcode and the low four bits of the rcode."""

    __slots__ = ("id", "flags", "question", "answer", "authority", "additional", "edns")

    def __init__(self, id: int = 0, flags: int = 0, question: list[Question] | None = None,
                 answer: list[RR] | None = None, authority: list[RR] | None = None,
                 additional: list[RR] | None = None, edns: Edns | None = None) -> None:
        self.id = id
        self.flags = flags
        self.question = question if question is not None else []
        self.answer = answer if answer is not None else []
        self.authority = authority if authority is not None else []
        self.additional = additional if additional is not None else []
        self.edns = edns

    # header fields
    @property
    def opcode(self) -> int:
        return (self.flags >> 11) & 0xF

    @property
    def rcode(self) -> int:
        """The full rcode, with the EDNS extended bits."""
        ext = self.edns.ext_rcode if self.edns is not None else 0
        return (ext << 4) | (self.flags & 0xF)

    def set_rcode(self, rcode: int) -> None:
        self.flags = (self.flags & ~0xF) | (rcode & 0xF)
        if self.edns is not None:
            self.edns.ext_rcode = (rcode >> 4) & 0xFF

    def set_opcode(self, opcode: int) -> None:
        self.flags = (self.flags & ~0x7800) | ((opcode & 0xF) << 11)

    def has(self, flag: int) -> bool:
        return bool(self.flags & flag)

    def set_flag(self, flag: int, on: bool = True) -> None:
        self.flags = (self.flags | flag) if on else (self.flags & ~flag)

    @property
    def do(self) -> bool:
        return self.edns is not None and self.edns.do

    def ede(self) -> list[tuple[int, str]]:
        return self.edns.ede() if self.edns is not None else []

    def sections(self) -> tuple[list[RR], list[RR], list[RR]]:
        return self.answer, self.authority, self.additional

    # output
    def to_wire(self, max_size: int | None = None,
                ttl_offsets: list[int] | None = None) -> bytes:
        return build(self, max_size, ttl_offsets)

    def to_text(self) -> str:
        flags = " ".join(n for n, bit in (("qr", QR), ("aa", AA), ("tc", TC), ("rd", RD),
                                         ("ra", RA), ("ad", AD), ("cd", CD)) if self.flags & bit)
        lines = [f";; opcode: {opcode_to_text(self.opcode)}, status: {rcode_to_text(self.rcode)}, "
                 f"id: {self.id}", f";; flags: {flags}"]
        if self.edns is not None:
            e = self.edns
            lines.append(f";; EDNS: version: {e.version}, flags:{' do' if e.do else ''}; "
                         f"udp: {e.payload}")
            for code, text in e.ede():
                lines.append(f";; EDE: {code} ({text})" if text else f";; EDE: {code}")
        lines.append(";; QUESTION SECTION:")
        lines.extend(";" + q.to_text() for q in self.question)
        for title, section in (("ANSWER", self.answer), ("AUTHORITY", self.authority),
                               ("ADDITIONAL", self.additional)):
            if section:
                lines.append(f";; {title} SECTION:")
                lines.extend(rr.to_text() for rr in section)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Message id={self.id} rcode={rcode_to_text(self.rcode)} " \
               f"q={[q.to_text() for q in self.question]}>"


# --------------------------------------------------------------------------
# parser
#
# Hot path notes. Names already read are remembered per message in *seen*: offset ->
# [uncompressed wire of the name starting there, end of its first segment, pointer
# hops, Name or None]. A pointer to such an offset is resolved with one lookup when
# the rules hold (target before the name, target's first segment wholly before the
# pointing segment, hops within the limit); anything else takes the full walk in
# _read_name_slow, which applies every rule itself. Both are linear in the input.
# Only the 255-octet limit is checked: with labels of at least 2 octets it implies
# the 127-label limit.

_Seen = dict[int, list[Any]]


def _read_name(wire: bytes, pos: int, end: int, seen: _Seen) -> tuple[Name, int]:
    """Read a possibly compressed name at *pos* (within wire[:end]); return it and
    the position after it."""
    p = pos
    while True:
        if p >= end:
            raise FormError("name runs past the end")
        n = wire[p]
        if n < 64:
            if n == 0:
                break
            p += n + 1
            continue
        if n < 0xC0 or p + 1 >= end:
            return _read_name_slow(wire, pos, end, seen)
        target = ((n & 0x3F) << 8) | wire[p + 1]
        entry = seen.get(target)
        if entry is None or target >= pos or entry[1] > pos or entry[2] >= MAX_POINTER_HOPS:
            return _read_name_slow(wire, pos, end, seen)
        if p == pos:  # a bare pointer: share the Name
            nm = entry[3]
            if nm is None:
                nm = entry[3] = Name(entry[0])
            return nm, p + 2
        full = wire[pos:p] + entry[0]
        if len(full) > 255:
            raise FormError("name too long")
        nm = Name(full)
        _remember(seen, wire, pos, p, nm, p + 2, entry[2] + 1)
        return nm, p + 2
    # uncompressed: wire[pos:p] are the labels, wire[p] the root
    p += 1
    if p - pos > 255:
        raise FormError("name too long")
    nm = Name(wire[pos:p])
    _remember(seen, wire, pos, p - 1, nm, p, 0)
    return nm, p


def _remember(seen: _Seen, wire: bytes, pos: int, stop: int, nm: Name, seg_end: int,
              hops: int) -> None:
    """Record the name *nm* read at *pos*, and each suffix of it that starts at a
    label in wire[pos:stop]."""
    full = nm.wire
    seen[pos] = [full, seg_end, hops, nm]
    q = pos + wire[pos] + 1
    while q < stop:
        seen[q] = [full[q - pos:], seg_end, hops, None]
        q += wire[q] + 1


def _read_name_slow(wire: bytes, pos: int, end: int, seen: _Seen) -> tuple[Name, int]:
    """The full walk: every rule checked at every step."""
    start = pos
    parts: list[bytes] = []
    octets = 1
    hops = 0
    after = -1
    seg_start = pos
    limit = end
    lowest = pos  # each pointer must point strictly before the previous target
    while True:
        if pos >= limit:
            raise FormError("name runs past the end")
        n = wire[pos]
        if n == 0:
            parts.append(wire[seg_start:pos + 1])
            pos += 1
            break
        if n < 64:
            nxt = pos + 1 + n
            if nxt > limit:
                raise FormError("label runs past the end")
            octets += n + 1
            if octets > 255:
                raise FormError("name too long")
            pos = nxt
            continue
        if n < 0xC0:
            raise FormError("unknown label type")
        if pos + 1 >= limit:
            raise FormError("truncated pointer")
        target = ((n & 0x3F) << 8) | wire[pos + 1]
        if target >= lowest:
            raise FormError("compression pointer does not point backwards")
        hops += 1
        if hops > MAX_POINTER_HOPS:
            raise FormError("compression pointer chain too long")
        parts.append(wire[seg_start:pos])
        if after < 0:
            after = pos + 2
        limit = seg_start  # the target must lie wholly before this segment
        lowest = target
        pos = seg_start = target
    if after < 0:
        after = pos
    full = parts[0] if len(parts) == 1 else b"".join(parts)
    nm = Name(full)
    seen[start] = [full, after, hops, nm]
    return nm, after


def _read_plain_name(wire: bytes, pos: int, end: int) -> int:
    """Check an uncompressed name in RDATA at *pos*; return the position after it."""
    start = pos
    while True:
        if pos >= end:
            raise FormError("name runs past the end of RDATA")
        n = wire[pos]
        if n == 0:
            pos += 1
            if pos - start > 255:
                raise FormError("name too long")
            return pos
        if n >= 64:
            raise FormError("compressed or bad label where compression is not allowed")
        pos += n + 1


# RDATA with embedded names: fixed-length prefix octets (int), 'c' a name that may
# be compressed (RFC 3597 s4, as dnspython), 'n' a name that may not, 's' a
# character-string, 'r' the rest.
_NAME_LAYOUTS: dict[int, tuple[int | str, ...]] = {
    RRType.NS: ("c",), RRType.CNAME: ("c",), RRType.PTR: ("c",), RRType.MD: ("c",),
    RRType.MF: ("c",), RRType.MB: ("c",), RRType.MG: ("c",), RRType.MR: ("c",),
    RRType.DNAME: ("n",),
    RRType.SOA: ("c", "c", 20),
    RRType.MX: (2, "c"), RRType.AFSDB: (2, "c"), RRType.RT: (2, "c"),
    RRType.MINFO: ("c", "c"), RRType.RP: ("c", "c"), RRType.PX: (2, "c", "c"),
    RRType.SRV: (6, "c"), RRType.NAPTR: (4, "s", "s", "s", "c"),
    RRType.RRSIG: (18, "n", "r"), RRType.SIG: (18, "c", "r"),
    RRType.NSEC: ("n", "r"), RRType.NXT: ("c", "r"),
    RRType.KX: (2, "n"),  # RFC 2230 names are never compressed; RFC 3597 s4 omits KX
}


def _expand_rdata(wire: bytes, pos: int, end: int, layout: tuple[int | str, ...],
                  seen: _Seen) -> bytes:
    parts: list[bytes] = []
    for item in layout:
        if item == "c":
            nm, pos = _read_name(wire, pos, end, seen)
            parts.append(nm.wire)
        elif item == "n":
            nxt = _read_plain_name(wire, pos, end)
            parts.append(wire[pos:nxt])
            pos = nxt
        elif item == "s":
            if pos >= end or pos + 1 + wire[pos] > end:
                raise FormError("truncated character-string in RDATA")
            nxt = pos + 1 + wire[pos]
            parts.append(wire[pos:nxt])
            pos = nxt
        elif item == "r":
            parts.append(wire[pos:end])
            pos = end
        else:
            assert isinstance(item, int)
            if pos + item > end:
                raise FormError("RDATA too short")
            parts.append(wire[pos:pos + item])
            pos += item
    if pos != end:
        raise FormError("RDATA longer than its fields")
    return b"".join(parts)


# Readers for the common types: (wire, start, end of RDATA, seen) -> stored RDATA.

_RdataReader = Callable[[bytes, int, int, _Seen], bytes]


def _rd_one_name(wire: bytes, pos: int, rend: int, seen: _Seen) -> bytes:
    nm, pos = _read_name(wire, pos, rend, seen)
    if pos != rend:
        raise FormError("RDATA longer than its name")
    return nm.wire


def _rd_mx(wire: bytes, pos: int, rend: int, seen: _Seen) -> bytes:
    if rend - pos < 3:
        raise FormError("RDATA too short")
    nm, after = _read_name(wire, pos + 2, rend, seen)
    if after != rend:
        raise FormError("RDATA longer than its fields")
    return wire[pos:pos + 2] + nm.wire


def _rd_soa(wire: bytes, pos: int, rend: int, seen: _Seen) -> bytes:
    mname, p = _read_name(wire, pos, rend, seen)
    rname, p = _read_name(wire, p, rend, seen)
    if rend - p != 20:
        raise FormError("SOA RDATA has the wrong length")
    return mname.wire + rname.wire + wire[p:rend]


def _rd_plain_name(wire: bytes, pos: int, rend: int, seen: _Seen) -> bytes:
    if _read_plain_name(wire, pos, rend) != rend:
        raise FormError("RDATA longer than its name")
    return wire[pos:rend]


def _rd_rrsig(wire: bytes, pos: int, rend: int, seen: _Seen) -> bytes:
    if rend - pos < 19:
        raise FormError("RRSIG RDATA too short")
    _read_plain_name(wire, pos + 18, rend)
    return wire[pos:rend]


def _rd_nsec(wire: bytes, pos: int, rend: int, seen: _Seen) -> bytes:
    after = _read_plain_name(wire, pos, rend)
    try:
        rd.bitmap_check(wire, after, rend)
    except rd.RdataError as exc:
        raise FormError(f"bad NSEC bitmap: {exc}") from None
    return wire[pos:rend]


def _rd_nsec3(wire: bytes, pos: int, rend: int, seen: _Seen) -> bytes:
    # algorithm, flags, iterations, salt length + salt, hash length + hash, bitmap
    h = pos + 5 + (wire[pos + 4] if pos + 4 < rend else 0)
    if h >= rend:
        raise FormError("NSEC3 RDATA too short")
    hlen = wire[h]
    bitmap = h + 1 + hlen
    if hlen == 0 or bitmap > rend:
        raise FormError("bad NSEC3 next hashed owner (RFC 5155 s3.1.6)")
    try:
        rd.bitmap_check(wire, bitmap, rend)
    except rd.RdataError as exc:
        raise FormError(f"bad NSEC3 bitmap: {exc}") from None
    return wire[pos:rend]


_DS_DIGEST_LENGTH = rd._DS_DIGEST_LENGTH


def _rd_ds(wire: bytes, pos: int, rend: int, seen: _Seen) -> bytes:
    if rend - pos < 4:
        raise FormError("DS RDATA too short")
    digest_type = wire[pos + 3]
    expected = _DS_DIGEST_LENGTH.get(digest_type)
    if (expected is not None and rend - pos - 4 != expected) or digest_type == 0:
        raise FormError("DS digest length does not match its type")
    return wire[pos:rend]


def _rd_dnskey(wire: bytes, pos: int, rend: int, seen: _Seen) -> bytes:
    if rend - pos < 4:
        raise FormError("DNSKEY RDATA too short")
    return wire[pos:rend]


def _rd_aaaa(wire: bytes, pos: int, rend: int, seen: _Seen) -> bytes:
    if rend - pos != 16:
        raise FormError("AAAA RDATA is not 16 octets")
    return wire[pos:rend]


def _rd_txt(wire: bytes, pos: int, rend: int, seen: _Seen) -> bytes:
    p = pos
    while p < rend:
        p += 1 + wire[p]
    if p != rend or p == pos:
        raise FormError("TXT RDATA is not one or more character-strings")
    return wire[pos:rend]


def _rd_forbidden(wire: bytes, pos: int, rend: int, seen: _Seen) -> bytes:
    raise FormError("TSIG/TKEY are not supported")


def _rd_generic_reader(rtype: int) -> _RdataReader:
    layout = _NAME_LAYOUTS.get(rtype)
    typed = rtype in rd.CLASSES

    def read(wire: bytes, pos: int, rend: int, seen: _Seen) -> bytes:
        data = wire[pos:rend] if layout is None else _expand_rdata(wire, pos, rend, layout, seen)
        if typed:
            try:
                rd.check(rtype, data)
            except rd.RdataError as exc:
                raise FormError(f"bad {type_to_text(rtype)} RDATA: {exc}") from None
        return data

    return read


_READERS: dict[int, _RdataReader] = {t: _rd_generic_reader(t)
                                     for t in {*rd.CLASSES, *_NAME_LAYOUTS}}
_READERS.update({
    RRType.NS: _rd_one_name, RRType.CNAME: _rd_one_name, RRType.PTR: _rd_one_name,
    RRType.MD: _rd_one_name, RRType.MF: _rd_one_name, RRType.MB: _rd_one_name,
    RRType.MG: _rd_one_name, RRType.MR: _rd_one_name,
    RRType.DNAME: _rd_plain_name, RRType.MX: _rd_mx, RRType.SOA: _rd_soa,
    RRType.AFSDB: _rd_mx, RRType.RT: _rd_mx,
    RRType.RRSIG: _rd_rrsig, RRType.NSEC: _rd_nsec, RRType.NSEC3: _rd_nsec3,
    RRType.DS: _rd_ds, RRType.DNSKEY: _rd_dnskey, RRType.CDNSKEY: _rd_dnskey,
    RRType.AAAA: _rd_aaaa, RRType.TXT: _rd_txt, RRType.SPF: _rd_txt,
    RRType.TSIG: _rd_forbidden, RRType.TKEY: _rd_forbidden,
})


def _read_edns(wire: bytes, pos: int, end: int, rclass: int, ttl: int) -> Edns:
    options: list[tuple[int, bytes]] = []
    unpack = _OPTION.unpack_from
    while pos < end:
        if pos + 4 > end:
            raise FormError("truncated EDNS option")
        code, length = unpack(wire, pos)
        pos += 4
        if pos + length > end:
            raise FormError("EDNS option runs past the OPT RDATA")
        options.append((code, wire[pos:pos + length]))
        pos += length
    return Edns(rclass, ttl >> 24, (ttl >> 16) & 0xFF, ttl & 0xFFFF, options)


def parse(wire: bytes) -> Message:
    """Parse a whole message. Raises :class:`FormError` (only) on any malformation."""
    try:
        return _parse(wire)
    except FormError:
        raise
    except Exception as exc:  # noqa: BLE001 - defensive: any slip in the walker is still a FormError
        raise FormError(f"malformed message ({type(exc).__name__})") from None


def _parse(wire: bytes) -> Message:
    end = len(wire)
    if end < 12:
        raise FormError("message shorter than the header")
    msg_id, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(wire, 0)
    pos = 12
    seen: _Seen = {}
    read_name = _read_name
    questions: list[Question] = []
    for _ in range(qdcount):
        qname, pos = read_name(wire, pos, end, seen)
        if pos + 4 > end:
            raise FormError("truncated question")
        qtype, qclass = _U16X2.unpack_from(wire, pos)
        pos += 4
        questions.append(_new_question(Question, (qname, qtype, qclass)))
    answer: list[RR] = []
    authority: list[RR] = []
    additional: list[RR] = []
    edns: Edns | None = None
    unpack_rr = _RR_FIXED.unpack_from
    readers = _READERS
    for out, count in ((answer, ancount), (authority, nscount), (additional, arcount)):
        append = out.append
        for _ in range(count):
            # fast path: an owner that is a bare pointer to a name already read
            # (the same rules as in _read_name)
            if pos + 1 < end and wire[pos] >= 0xC0:
                target = ((wire[pos] & 0x3F) << 8) | wire[pos + 1]
                entry = seen.get(target)
                if entry is not None and entry[1] <= pos and entry[2] < MAX_POINTER_HOPS:
                    owner = entry[3]
                    if owner is None:
                        owner = entry[3] = Name(entry[0])
                    pos += 2
                else:
                    owner, pos = read_name(wire, pos, end, seen)
            else:
                owner, pos = read_name(wire, pos, end, seen)
            if pos + 10 > end:
                raise FormError("truncated RR header")
            rtype, rclass, ttl, rdlength = unpack_rr(wire, pos)
            pos += 10
            rend = pos + rdlength
            if rend > end:
                raise FormError("RDATA runs past the end")
            if rtype == 1:
                if rdlength != 4:
                    raise FormError("A RDATA is not 4 octets")
                data = wire[pos:rend]
            elif rtype == 41:
                if out is not additional or edns is not None or owner.wire != b"\x00":
                    raise FormError("misplaced or duplicate OPT")
                edns = _read_edns(wire, pos, rend, rclass, ttl)
                pos = rend
                continue
            else:
                reader = readers.get(rtype)
                data = wire[pos:rend] if reader is None else reader(wire, pos, rend, seen)
            if ttl > 0x7FFFFFFF:
                ttl = 0  # RFC 2181 s8
            append(RR(owner, rtype, rclass, ttl, data))
            pos = rend
    if pos != end:
        raise FormError(f"{end - pos} trailing octets after the message")
    return Message(msg_id, flags, questions, answer, authority, additional, edns)


def parse_question(wire: bytes) -> tuple[int, int, Question | None]:
    """Read only the header and first question (for servers deciding how to answer).
    Returns (id, flags, question); raises FormError."""
    end = len(wire)
    if end < 12:
        raise FormError("message shorter than the header")
    msg_id, flags, qdcount = struct.unpack_from("!HHH", wire, 0)
    if qdcount == 0:
        return msg_id, flags, None
    try:
        qname, pos = _read_name(wire, 12, end, {})
    except FormError:
        raise
    except Exception:  # noqa: BLE001 - as in parse(): any slip is still a FormError
        raise FormError("malformed question") from None
    if pos + 4 > end:
        raise FormError("truncated question")
    qtype, qclass = _U16X2.unpack_from(wire, pos)
    return msg_id, flags, Question(qname, qtype, qclass)

# --------------------------------------------------------------------------
# builder

# Types whose RDATA names may be compressed on output (RFC 3597 s4).
_COMPRESSIBLE: dict[int, tuple[int | str, ...]] = {
    RRType.NS: ("c",), RRType.CNAME: ("c",), RRType.PTR: ("c",), RRType.MD: ("c",),
    RRType.MF: ("c",), RRType.MB: ("c",), RRType.MG: ("c",), RRType.MR: ("c",),
    RRType.SOA: ("c", "c", 20), RRType.MX: (2, "c"), RRType.MINFO: ("c", "c"),
}


class _Writer:
    def __init__(self) -> None:
        self.buf = bytearray()
        self.table: dict[bytes, int] = {}
        self.ttl_offsets: list[int] | None = None

    def name(self, nm: Name) -> None:
        wire = nm.wire
        buf = self.buf
        table = self.table
        start = len(buf)
        i = 0
        while wire[i]:
            suffix = wire[i:]
            ptr = table.get(suffix)
            if ptr is not None:
                buf += wire[:i] + struct.pack("!H", 0xC000 | ptr)
                return
            if start + i < 0x3FFF:
                table[suffix] = start + i
            i += wire[i] + 1
        buf += wire

    def rr(self, rr: RR) -> None:
        self.name(rr.name)
        if self.ttl_offsets is not None:
            self.ttl_offsets.append(len(self.buf) + 4)   # after TYPE and CLASS
        layout = _COMPRESSIBLE.get(rr.rtype)
        if layout is None:
            self.buf += _RR_FIXED.pack(rr.rtype, rr.rclass, rr.ttl, len(rr.rdata)) + rr.rdata
            return
        head = len(self.buf)
        self.buf += _RR_FIXED.pack(rr.rtype, rr.rclass, rr.ttl, 0)
        start = len(self.buf)
        data = rr.rdata
        pos = 0
        for item in layout:
            if item == "c":
                nxt = _read_plain_name(data, pos, len(data))
                self.name(Name(data[pos:nxt]))
                pos = nxt
            else:
                assert isinstance(item, int)
                self.buf += data[pos:pos + item]
                pos += item
        self.buf += data[pos:]
        struct.pack_into("!H", self.buf, head + 8, len(self.buf) - start)


def _render(msg: Message, answer: Sequence[RR], authority: Sequence[RR],
            additional: Sequence[RR], flags: int, ttl_offsets: list[int] | None = None) -> bytes:
    w = _Writer()
    w.ttl_offsets = ttl_offsets
    arcount = len(additional) + (1 if msg.edns is not None else 0)
    w.buf += _HEADER.pack(msg.id, flags, len(msg.question), len(answer), len(authority), arcount)
    for q in msg.question:
        w.name(q.name)
        w.buf += struct.pack("!HH", q.qtype, q.qclass)
    for section in (answer, authority, additional):
        for rr in section:
            w.rr(rr)
    if msg.edns is not None:
        w.buf += msg.edns.to_wire(msg.rcode)
    return bytes(w.buf)


def build(msg: Message, max_size: int | None = None,
          ttl_offsets: list[int] | None = None) -> bytes:
    """Render *msg* with name compression. With *max_size*, drop ADDITIONAL records
    first (RFC 2181 s9: no TC needed for those), then set TC and send the header,
    question and OPT only. With *ttl_offsets*, the offset of every record's TTL field
    in the result is appended to it (for the answer cache)."""
    flags = msg.flags
    if len(msg.question) == 1 and not (msg.answer or msg.authority or msg.additional):
        # a query (or a bare error response): nothing to compress, nothing to drop
        q = msg.question[0]
        out = (_HEADER.pack(msg.id, flags, 1, 0, 0, 0 if msg.edns is None else 1)
               + q.name.wire + _QUESTION_TAIL.pack(q.qtype, q.qclass))
        if msg.edns is not None:
            out += msg.edns.to_wire(msg.rcode)
        if max_size is None or len(out) <= max_size:
            return out
    attempts: list[tuple[Sequence[RR], Sequence[RR], Sequence[RR], int]] = [
        (msg.answer, msg.authority, msg.additional, flags)]
    if max_size is not None:
        attempts += [(msg.answer, msg.authority, [], flags), ([], [], [], flags | TC)]
    for answer, authority, additional, use_flags in attempts:
        offsets: list[int] | None = [] if ttl_offsets is not None else None
        out = _render(msg, answer, authority, additional, use_flags, offsets)
        if max_size is None or len(out) <= max_size or use_flags & TC:
            if ttl_offsets is not None and offsets is not None:
                ttl_offsets.extend(offsets)
            return out
    raise AssertionError("unreachable")  # pragma: no cover


def new_id() -> int:
    return random16()


def make_query(qname: Name, qtype: int, qclass: int = RRClass.IN, *, msg_id: int | None = None,
               rd: bool = False, cd: bool = False, ad: bool = False, edns: bool = True,
               do: bool = True, payload: int = 1232,
               options: Iterable[tuple[int, bytes]] = ()) -> Message:
    """A query message; the ID comes from :mod:`secrets` (entropy.random16) unless given."""
    flags = (RD if rd else 0) | (CD if cd else 0) | (AD if ad else 0)
    opt = Edns(payload=payload, flags=DO if do else 0, options=list(options)) if edns else None
    return Message(new_id() if msg_id is None else msg_id, flags,
                   [Question(qname, qtype, qclass)], edns=opt)


def make_response(query: Message, rcode: int = 0) -> Message:
    """A response skeleton echoing ID, opcode, question, RD and CD (RFC 1035 s4.1.1),
    with an OPT when the query had one (RFC 6891 s6.1.1; DO echoed, RFC 3225)."""
    flags = QR | (query.flags & (RD | CD | 0x7800))
    edns = None
    if query.edns is not None:
        edns = Edns(payload=1232, flags=query.edns.flags & DO)
    resp = Message(query.id, flags, list(query.question), edns=edns)
    resp.set_rcode(rcode)
    return resp


def is_opcode_query(msg: Message) -> bool:
    return msg.opcode == Opcode.QUERY


__all__ = [
    "FormError", "RR", "Question", "Edns", "Message", "parse", "parse_question", "build",
    "make_query", "make_response", "ede_option", "ROOT", "new_id",
]
