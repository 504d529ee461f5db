"""The Sendmail/Postfix milter protocol, version 6: framing, codes and negotiation.

Why our own implementation: the protocol is small and stable (Sendmail 8.14 fixed
version 6 in 2007; Postfix speaks it since 2.3), while the established Python binding,
pymilter, wraps Sendmail's C libmilter (a Debian libmilter-dev build on every machine)
and runs each connection in a libmilter thread that would have to call back into our
asyncio resolver. The pure-Python packages on PyPI are young or narrow (purepythonmilter
0.0.1 from 2023, kilter-protocol 0.6, the test client miltertest). An asyncio codec of
a few hundred lines, tested against a real Postfix, fits the resolver's event loop and
its limits (frame size, timeouts) better.

The protocol as implemented here
--------------------------------
Every packet in either direction is ``uint32 length`` (network order, counting the
command byte and the data), one command byte, then ``length - 1`` octets of data.
Strings are NUL-terminated. The MTA sends commands (``SMFIC_*``); the filter answers
each with one response (``SMFIR_*``) unless it is a macro, abort or quit, or the filter
negotiated "no reply" for that step.

1. ``O`` OPTNEG (``uint32 version, actions, protocol``): the MTA offers a version (6),
   the modification actions it allows and the protocol steps the filter may switch off.
   The filter answers ``O`` with version 6, the actions it wants (a subset) and the
   protocol flags it chose (a subset of the offer).
2. Per SMTP connection: ``D`` MACRO (a command letter, then name/value strings, no
   reply), ``C`` CONNECT (host name, family ``4``/``6``/``L``/``U``, ``uint16`` port,
   address), ``H`` HELO (name), then per message ``M`` MAIL (sender, ESMTP args),
   ``R`` RCPT (one per recipient), ``T`` DATA, ``L`` HEADER (name, value; once per
   field), ``N`` EOH, ``B`` BODY (raw chunks of at most 65535 octets), ``E`` BODYEOB
   (may carry a last chunk). ``A`` ABORT ends a message without a verdict, ``K``
   QUIT_NC starts a new SMTP connection on the same socket, ``Q`` QUIT closes it.
3. Responses: ``c`` CONTINUE, ``a`` ACCEPT, ``r`` REJECT, ``t`` TEMPFAIL, ``y``
   REPLYCODE (``"550 5.7.1 text"``), and, before the final answer to ``E`` only, the
   modifications ``h`` ADDHEADER (name, value), ``i`` INSHEADER (``uint32`` index,
   name, value), ``m`` CHGHEADER (``uint32`` index, name, value; an empty value
   deletes the index-th field of that name, counting from 1), ``q`` QUARANTINE (reason).

Header values arrive without the space after the colon unless the filter asks for
``SMFIP_HDR_LEADSPC``; we ask for it when offered (DKIM "simple" needs exact bytes).
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass

VERSION = 6
CHUNK_SIZE = 65535          # largest body chunk an MTA sends (MILTER_CHUNK_SIZE)
MAX_FRAME = 1024 * 1024     # default limit on one incoming packet

# commands (MTA -> filter)
ABORT, BODY, CONNECT, MACRO, BODYEOB, HELO = b"A", b"B", b"C", b"D", b"E", b"H"
QUIT_NC, HEADER, MAIL, EOH, OPTNEG, QUIT = b"K", b"L", b"M", b"N", b"O", b"Q"
RCPT, DATA, UNKNOWN = b"R", b"T", b"U"

# responses (filter -> MTA)
ACCEPT, CONTINUE, REJECT, TEMPFAIL, REPLYCODE = b"a", b"c", b"r", b"t", b"y"
ADDHEADER, INSHEADER, CHGHEADER, QUARANTINE = b"h", b"i", b"m", b"q"

# actions (SMFIF_*): what the filter may change
ACT_ADDHDRS = 0x01
ACT_CHGHDRS = 0x10
ACT_QUARANTINE = 0x20

# protocol steps (SMFIP_*)
P_NOUNKNOWN = 0x100
P_NODATA = 0x200
P_HDR_LEADSPC = 0x100000

WANTED_ACTIONS = ACT_ADDHDRS | ACT_CHGHDRS | ACT_QUARANTINE
WANTED_PROTOCOL = P_NOUNKNOWN | P_NODATA | P_HDR_LEADSPC

# commands answered with nothing
NO_REPLY = {MACRO, ABORT, QUIT, QUIT_NC}


class ProtocolError(Exception):
    """The peer broke the protocol or a limit; the connection is closed."""


@dataclass(frozen=True, slots=True)
class Negotiated:
    version: int
    actions: int
    protocol: int

    @property
    def leading_space(self) -> bool:
        return bool(self.protocol & P_HDR_LEADSPC)

    def allows(self, action: int) -> bool:
        return bool(self.actions & action)


def negotiate(data: bytes) -> tuple[Negotiated, bytes]:
    """Our choice for the MTA's OPTNEG *data*, and the OPTNEG reply packet."""
    if len(data) < 12:
        raise ProtocolError(f"OPTNEG of {len(data)} octets (need 12)")
    version, actions, protocol = struct.unpack("!III", data[:12])
    if version < 2:
        raise ProtocolError(f"milter protocol version {version} is too old")
    chosen = Negotiated(min(version, VERSION), actions & WANTED_ACTIONS,
                        protocol & WANTED_PROTOCOL)
    reply = struct.pack("!III", chosen.version, chosen.actions, chosen.protocol)
    return chosen, packet(OPTNEG, reply)


def packet(cmd: bytes, data: bytes = b"") -> bytes:
    return struct.pack("!I", len(data) + 1) + cmd + data


async def read_packet(reader: asyncio.StreamReader, max_frame: int = MAX_FRAME) -> \
        tuple[bytes, bytes] | None:
    """The next (command, data); None at a clean end of stream before a packet."""
    try:
        head = await reader.readexactly(4)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise ProtocolError("connection closed inside a packet header") from None
    (length,) = struct.unpack("!I", head)
    if length < 1:
        raise ProtocolError("empty packet")
    if length > max_frame:
        raise ProtocolError(f"packet of {length} octets exceeds the limit of {max_frame}")
    try:
        body = await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        raise ProtocolError("connection closed inside a packet") from None
    return body[:1], body[1:]


def strings(data: bytes) -> list[bytes]:
    """NUL-terminated strings of *data* (a missing final NUL is tolerated)."""
    if data.endswith(b"\0"):
        data = data[:-1]
    return data.split(b"\0") if data else []


def text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def cstr(value: str) -> bytes:
    return value.encode("utf-8", "surrogateescape").replace(b"\0", b"") + b"\0"


@dataclass(frozen=True, slots=True)
class Connect:
    hostname: str
    family: str          # "4", "6", "L" (Unix socket) or "U" (unknown)
    port: int
    address: str


def parse_connect(data: bytes) -> Connect:
    end = data.find(b"\0")
    if end < 0:
        raise ProtocolError("CONNECT without a host name")
    hostname = text(data[:end])
    rest = data[end + 1:]
    if not rest:
        return Connect(hostname, "U", 0, "")
    family = chr(rest[0])
    if family == "U" or len(rest) < 3:
        return Connect(hostname, family, 0, "")
    (port,) = struct.unpack("!H", rest[1:3])
    address = text(rest[3:].split(b"\0", 1)[0])
    return Connect(hostname, family, port, address)


def parse_macros(data: bytes) -> tuple[str, dict[str, str]]:
    if not data:
        return "", {}
    items = strings(data[1:])
    pairs = {text(items[i]).strip("{}"): text(items[i + 1])
             for i in range(0, len(items) - 1, 2)}
    return chr(data[0]), pairs


def reply_code(code: str) -> bytes:
    """A REPLYCODE packet for ``"550 5.7.1 text"`` (``%`` doubled, as libmilter does)."""
    clean = "".join(c if c.isprintable() else " " for c in code)
    return packet(REPLYCODE, cstr(clean.replace("%", "%%")))


def add_header(name: str, value: str) -> bytes:
    return packet(ADDHEADER, cstr(name) + cstr(value))


def insert_header(index: int, name: str, value: str) -> bytes:
    return packet(INSHEADER, struct.pack("!I", index) + cstr(name) + cstr(value))


def change_header(index: int, name: str, value: str) -> bytes:
    return packet(CHGHEADER, struct.pack("!I", index) + cstr(name) + cstr(value))


def quarantine(reason: str) -> bytes:
    return packet(QUARANTINE, cstr(reason))
