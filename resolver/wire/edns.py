"""EDNS options added to finished responses without re-encoding them.

The server answers from wire bytes (built once, or stored in the answer cache) and
some options depend on the client, not the answer: a DNS COOKIE (RFC 7873) is one.
:func:`opt_rdlength_at` finds the OPT record of a message by walking its sections
(names skipped, compression pointers included); :func:`with_option` returns the
message with one more option at the end of that record's RDATA.
"""

from __future__ import annotations

import struct

from .sections import skip_name

_U16 = struct.Struct("!H")
_OPT = 41


def opt_rdlength_at(wire: bytes) -> int | None:
    """Where the RDLENGTH field of the OPT record of the message *wire* is (None when
    it has none, or is malformed)."""
    if len(wire) < 12:
        return None
    qd, an, ns, ar = struct.unpack_from("!HHHH", wire, 4)
    try:
        pos = 12
        for _ in range(qd):
            pos = skip_name(wire, pos) + 4
        for index in range(an + ns + ar):
            pos = skip_name(wire, pos)
            if pos + 10 > len(wire):
                return None
            rtype = _U16.unpack_from(wire, pos)[0]
            rdlength = _U16.unpack_from(wire, pos + 8)[0]
            if rtype == _OPT and index >= an + ns:
                return pos + 8 if pos + 10 + rdlength <= len(wire) else None
            pos += 10 + rdlength
    except ValueError:
        return None
    return None


def option(code: int, data: bytes) -> bytes:
    """One EDNS option in wire form (code, length, data)."""
    return struct.pack("!HH", code, len(data)) + data


def with_option(wire: bytes, opt: bytes, at: int | None = None) -> bytes:
    """*wire* with the encoded option *opt* (:func:`option`) appended to its OPT
    record, whose RDLENGTH is at *at* (found when not given). Unchanged when the
    message has no OPT record or the result would not fit in 65535 octets."""
    if at is None:
        at = opt_rdlength_at(wire)
    if at is None or len(wire) + len(opt) > 0xFFFF:
        return wire
    rdlength = _U16.unpack_from(wire, at)[0]
    end = at + 2 + rdlength
    return b"".join((wire[:at], _U16.pack(rdlength + len(opt)), wire[at + 2:end], opt,
                     wire[end:]))


__all__ = ["opt_rdlength_at", "option", "with_option"]
