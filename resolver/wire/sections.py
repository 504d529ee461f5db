"""Where the sections of a message in wire form begin, found without parsing it: names
are skipped (compression pointers included) and records stepped over by RDLENGTH."""

from __future__ import annotations

import struct

_U16 = struct.Struct("!H").unpack_from


def skip_name(wire: bytes, pos: int) -> int:
    """The offset just past the (possibly compressed) name at *pos*; ValueError when
    it runs past the message or has an unknown label type."""
    n = len(wire)
    while True:
        if pos >= n:
            raise ValueError("name runs past the message")
        length = wire[pos]
        if length == 0:
            return pos + 1
        if length & 0xC0 == 0xC0:
            if pos + 2 > n:
                raise ValueError("pointer runs past the message")
            return pos + 2
        if length & 0xC0:
            raise ValueError("unknown label type")
        pos += length + 1


def answer_end(wire: bytes) -> int | None:
    """Where the answer section of *wire* ends (the authority section, or the
    additional, or the end of the message, begins); None when it is malformed."""
    if len(wire) < 12:
        return None
    qd, an = struct.unpack_from("!HH", wire, 4)
    try:
        pos = 12
        for _ in range(qd):
            pos = skip_name(wire, pos) + 4
        for _ in range(an):
            pos = skip_name(wire, pos)
            if pos + 10 > len(wire):
                return None
            pos += 10 + _U16(wire, pos + 8)[0]
    except ValueError:
        return None
    return pos if pos <= len(wire) else None
