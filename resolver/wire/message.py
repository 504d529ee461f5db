"""DNS messages: a bounded parser for untrusted input and a builder.

:func:`parse` raises :class:`FormError` and nothing else, whatever the input
(RFC 1035 s4, with the hardening of ../shared/design/SECURITY.md s3):
compression pointers only backwards, each strictly before the previous one and
at most 16 in a chain; names of at most 255 octets and 127 labels; every RDLENGTH
consumed exactly; section counts honoured; trailing bytes rejected. Names inside
RDATA are decompressed where RFC 3597 s4 allows it, so stored RDATA is always the
uncompressed wire form with the sender's letter case.
"""

from __future__ import annotations

import secrets
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from . import rdata as rd
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


@dataclass(frozen=True, slots=True)
class Question:
    name: Name
    qtype: int
    qclass: int = RRClass.IN

    def to_text(self) -> str:
        return f"{self.name.to_text()}\t{class_to_text(self.qclass)}\t{type_to_text(self.qtype)}"


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
        opts = b"".join(struct.pack("!HH", c, len(d)) + d for c, d in self.options)
        ttl = (((rcode >> 4) & 0xFF) << 24) | ((self.version & 0xFF) << 16) | (self.flags & 0xFFFF)
        return b"\x00" + struct.pack("!HHIH", RRType.OPT, self.payload, ttl, len(opts)) + opts


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
    def to_wire(self, max_size: int | None = None) -> bytes:
        return build(self, max_size)

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

def _read_name(wire: bytes, pos: int, end: int) -> tuple[Name, int]:
    """Read a possibly compressed name at *pos*; return it and the position after it."""
    parts: list[bytes] = []
    octets = 1
    labels = 0
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
            labels += 1
            if octets > 255 or labels > 127:
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
    return Name(parts[0] if len(parts) == 1 else b"".join(parts)), after


def _read_plain_name(wire: bytes, pos: int, end: int) -> int:
    """Check an uncompressed name in RDATA at *pos*; return the position after it."""
    octets = 1
    labels = 0
    while True:
        if pos >= end:
            raise FormError("name runs past the end of RDATA")
        n = wire[pos]
        if n == 0:
            return pos + 1
        if n >= 64:
            raise FormError("compressed or bad label where compression is not allowed")
        octets += n + 1
        labels += 1
        if octets > 255 or labels > 127:
            raise FormError("name too long")
        pos += n + 1


# RDATA with embedded names: fixed-length prefix octets (int), 'c' a name that may
# be compressed, 'n' a name that may not, 's' a character-string, 'r' the rest.
_NAME_LAYOUTS: dict[int, tuple[int | str, ...]] = {
    RRType.NS: ("c",), RRType.CNAME: ("c",), RRType.PTR: ("c",), RRType.MD: ("c",),
    RRType.MF: ("c",), RRType.MB: ("c",), RRType.MG: ("c",), RRType.MR: ("c",),
    RRType.DNAME: ("n",),
    RRType.SOA: ("c", "c", 20),
    RRType.MX: (2, "c"), RRType.AFSDB: (2, "c"), RRType.RT: (2, "c"),
    RRType.MINFO: ("c", "c"), RRType.RP: ("c", "c"), RRType.PX: (2, "c", "c"),
    RRType.SRV: (6, "c"), RRType.NAPTR: (4, "s", "s", "s", "c"),
    RRType.RRSIG: (18, "n", "r"), RRType.SIG: (18, "c", "r"),
    RRType.NSEC: ("n", "r"), RRType.NXT: ("c", "r"), RRType.KX: (2, "c"),
}


def _expand_rdata(wire: bytes, pos: int, end: int, layout: tuple[int | str, ...]) -> bytes:
    parts: list[bytes] = []
    for item in layout:
        if item == "c":
            nm, pos = _read_name(wire, pos, end)
            if pos > end:
                raise FormError("name runs past the end of RDATA")
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


def _check_rdata(rtype: int, data: bytes) -> None:
    """Structural check of uncompressed RDATA; cheap for the common types."""
    n = len(data)
    if rtype == 1:
        if n != 4:
            raise FormError("A RDATA is not 4 octets")
    elif rtype == 28:
        if n != 16:
            raise FormError("AAAA RDATA is not 16 octets")
    elif rtype == 46 or rtype == 24:
        pass  # already walked by _expand_rdata (18 octets, signer, signature)
    elif rtype == 47:
        start = _read_plain_name(data, 0, n)
        try:
            rd.bitmap_check(data, start, n)
        except rd.RdataError as exc:
            raise FormError(str(exc)) from None
    elif rtype == 48 or rtype == 60:
        if n < 4:
            raise FormError("DNSKEY RDATA too short")
    elif rtype == 16 or rtype == 99:
        pos = 0
        while pos < n:
            pos += 1 + data[pos]
        if pos != n:
            raise FormError("TXT character-string runs past RDATA")
    elif rtype in _NAME_LAYOUTS and rtype not in rd.CLASSES:
        pass  # walked by _expand_rdata, no further structure we know
    elif rtype in rd.CLASSES:
        try:
            rd.check(rtype, data)
        except rd.RdataError as exc:
            raise FormError(f"bad {type_to_text(rtype)} RDATA: {exc}") from None
    elif rtype == RRType.TSIG or rtype == RRType.TKEY:
        raise FormError("TSIG/TKEY are not supported")


def _read_edns(wire: bytes, pos: int, end: int, rclass: int, ttl: int) -> Edns:
    options: list[tuple[int, bytes]] = []
    while pos < end:
        if pos + 4 > end:
            raise FormError("truncated EDNS option")
        code, length = struct.unpack_from("!HH", wire, pos)
        pos += 4
        if pos + length > end:
            raise FormError("EDNS option runs past the OPT RDATA")
        options.append((code, wire[pos:pos + length]))
        pos += length
    return Edns(payload=rclass, ext_rcode=ttl >> 24, version=(ttl >> 16) & 0xFF,
                flags=ttl & 0xFFFF, options=options)


def parse(wire: bytes) -> Message:
    """Parse a whole message. Raises :class:`FormError` (only) on any malformation."""
    try:
        return _parse(wire)
    except FormError:
        raise
    except Exception as exc:  # defensive: any slip in the walker is still a FormError
        raise FormError(f"malformed message ({type(exc).__name__})") from None


def _parse(wire: bytes) -> Message:
    end = len(wire)
    if end < 12:
        raise FormError("message shorter than the header")
    msg_id, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(wire, 0)
    pos = 12
    questions: list[Question] = []
    for _ in range(qdcount):
        qname, pos = _read_name(wire, pos, end)
        if pos + 4 > end:
            raise FormError("truncated question")
        qtype, qclass = struct.unpack_from("!HH", wire, pos)
        pos += 4
        questions.append(Question(qname, qtype, qclass))
    sections: list[list[RR]] = [[], [], []]
    edns: Edns | None = None
    unpack_rr = _RR_FIXED.unpack_from
    layouts = _NAME_LAYOUTS
    for index, count in enumerate((ancount, nscount, arcount)):
        out = sections[index]
        for _ in range(count):
            owner, pos = _read_name(wire, pos, end)
            if pos + 10 > end:
                raise FormError("truncated RR header")
            rtype, rclass, ttl, rdlength = unpack_rr(wire, pos)
            pos += 10
            rend = pos + rdlength
            if rend > end:
                raise FormError("RDATA runs past the end")
            if rtype == 41:
                if index != 2 or edns is not None or owner.wire != b"\x00":
                    raise FormError("misplaced or duplicate OPT")
                edns = _read_edns(wire, pos, rend, rclass, ttl)
                pos = rend
                continue
            layout = layouts.get(rtype)
            if layout is not None:
                data = _expand_rdata(wire, pos, rend, layout)
            else:
                data = wire[pos:rend]
            _check_rdata(rtype, data)
            if ttl > 0x7FFFFFFF:
                ttl = 0  # RFC 2181 s8
            out.append(RR(owner, rtype, rclass, ttl, data))
            pos = rend
    if pos != end:
        raise FormError(f"{end - pos} trailing octets after the message")
    return Message(msg_id, flags, questions, sections[0], sections[1], sections[2], edns)


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
        qname, pos = _read_name(wire, 12, end)
    except FormError:
        raise
    except Exception:
        raise FormError("malformed question") from None
    if pos + 4 > end:
        raise FormError("truncated question")
    qtype, qclass = struct.unpack_from("!HH", wire, pos)
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
            additional: Sequence[RR], flags: int) -> bytes:
    w = _Writer()
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


def build(msg: Message, max_size: int | None = None) -> bytes:
    """Render *msg* with name compression. With *max_size*, drop ADDITIONAL records
    first (RFC 2181 s9: no TC needed for those), then set TC and send the header,
    question and OPT only."""
    flags = msg.flags
    out = _render(msg, msg.answer, msg.authority, msg.additional, flags)
    if max_size is None or len(out) <= max_size:
        return out
    out = _render(msg, msg.answer, msg.authority, [], flags)
    if len(out) <= max_size:
        return out
    return _render(msg, [], [], [], flags | TC)


def new_id() -> int:
    return secrets.randbelow(0x10000)


def make_query(qname: Name, qtype: int, qclass: int = RRClass.IN, *, msg_id: int | None = None,
               rd: bool = False, cd: bool = False, ad: bool = False, edns: bool = True,
               do: bool = True, payload: int = 1232,
               options: Iterable[tuple[int, bytes]] = ()) -> Message:
    """A query message; the ID comes from :mod:`secrets` unless given."""
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
