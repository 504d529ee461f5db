"""Typed RDATA: wire decoding, encoding, presentation format and canonical form.

Records are stored as uncompressed wire RDATA (``bytes``); the classes here are
views built on demand. Each type is described by a *layout* of fields, and one set
of generic functions walks that layout for wire, text and canonical form. Types
without a class are kept as opaque bytes and printed as ``\\# len hex`` (RFC 3597).
"""

from __future__ import annotations

import base64
import binascii
import calendar
import ipaddress
import struct
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from .name import Name, NameError_
from .types import RRType, type_from_text, type_to_text


class RdataError(ValueError):
    """RDATA that cannot be decoded from wire or read from text."""


# --------------------------------------------------------------------------
# algorithm and digest mnemonics (RFC 8624 registry names)

ALGORITHM_NAMES: dict[int, str] = {
    1: "RSAMD5", 2: "DH", 3: "DSA", 5: "RSASHA1", 6: "DSA-NSEC3-SHA1",
    7: "RSASHA1-NSEC3-SHA1", 8: "RSASHA256", 10: "RSASHA512", 12: "ECC-GOST",
    13: "ECDSAP256SHA256", 14: "ECDSAP384SHA384", 15: "ED25519", 16: "ED448",
    252: "INDIRECT", 253: "PRIVATEDNS", 254: "PRIVATEOID",
}
_ALGORITHM_BY_NAME = {v: k for k, v in ALGORITHM_NAMES.items()}


def algorithm_from_text(text: str) -> int:
    value = _ALGORITHM_BY_NAME.get(text.upper())
    if value is not None:
        return value
    return _int_from_text(text, 0xFF)


def _int_from_text(text: str, maximum: int) -> int:
    if not (text.isascii() and text.isdigit()):
        raise RdataError(f"expected a number, got {text!r}")
    value = int(text)
    if value > maximum:
        raise RdataError(f"{value} is out of range (max {maximum})")
    return value


_TTL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def ttl_from_text(text: str) -> int:
    """A TTL or SOA timer: seconds, or BIND units like ``1h30m``."""
    if not text or not text.isascii():
        raise RdataError(f"bad TTL {text!r}")
    if text.isdigit():
        value = int(text)
    else:
        value = 0
        number = ""
        for ch in text.lower():
            if ch.isdigit():
                number += ch
            elif ch in _TTL_UNITS and number:
                value += int(number) * _TTL_UNITS[ch]
                number = ""
            else:
                raise RdataError(f"bad TTL {text!r}")
        if number:
            raise RdataError(f"bad TTL {text!r}")
    if value > 0xFFFFFFFF:
        raise RdataError(f"TTL {text!r} out of range")
    return value


def time_from_text(text: str) -> int:
    """RRSIG time: YYYYMMDDHHMMSS (UTC) or seconds since the epoch."""
    if len(text) == 14 and text.isdigit():
        try:
            tm = time.strptime(text, "%Y%m%d%H%M%S")
        except ValueError as exc:
            raise RdataError(f"bad time {text!r}") from exc
        return calendar.timegm(tm) & 0xFFFFFFFF
    return _int_from_text(text, 0xFFFFFFFF)


def time_to_text(value: int) -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(value))


def decode_escapes(text: str) -> bytes:
    """Character-string escapes: ``\\X`` is X, ``\\DDD`` is a decimal octet."""
    if "\\" not in text:
        return text.encode("utf-8")
    out = bytearray()
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            if i + 1 >= n:
                raise RdataError("dangling backslash")
            if text[i + 1].isdigit():
                digits = text[i + 1:i + 4]
                if len(digits) != 3 or not digits.isdigit() or int(digits) > 255:
                    raise RdataError(f"bad \\DDD escape in {text!r}")
                out.append(int(digits))
                i += 4
            else:
                out.extend(text[i + 1].encode("utf-8"))
                i += 2
        else:
            out.extend(c.encode("utf-8"))
            i += 1
    return bytes(out)


def quote_string(data: bytes) -> str:
    out = ['"']
    for c in data:
        if c == 0x22 or c == 0x5C:
            out.append("\\" + chr(c))
        elif 0x20 <= c < 0x7F:
            out.append(chr(c))
        else:
            out.append(f"\\{c:03d}")
    out.append('"')
    return "".join(out)


def b32hex_encode(data: bytes) -> str:
    return base64.b32hexencode(data).decode("ascii").rstrip("=").lower()


def b32hex_decode(text: str) -> bytes:
    up = text.upper()
    up += "=" * (-len(up) % 8)
    try:
        return base64.b32hexdecode(up)
    except (binascii.Error, ValueError) as exc:
        raise RdataError(f"bad base32hex {text!r}") from exc


# --------------------------------------------------------------------------
# type bitmaps (RFC 4034 s4.1.2)

def bitmap_encode(types: Iterable[int]) -> bytes:
    windows: dict[int, bytearray] = {}
    for t in sorted(set(types)):
        window, low = t >> 8, t & 0xFF
        bits = windows.setdefault(window, bytearray(32))
        bits[low >> 3] |= 0x80 >> (low & 7)
    out = bytearray()
    for window in sorted(windows):
        bits = windows[window]
        length = 32
        while length > 0 and bits[length - 1] == 0:
            length -= 1
        out += bytes((window, length)) + bits[:length]
    return bytes(out)


def bitmap_decode(data: bytes) -> frozenset[int]:
    """Decode a type bitmap; raises RdataError when malformed."""
    types = []
    pos = 0
    end = len(data)
    last_window = -1
    while pos < end:
        if pos + 2 > end:
            raise RdataError("truncated bitmap window")
        window, length = data[pos], data[pos + 1]
        if window <= last_window:
            raise RdataError("bitmap windows out of order")
        if length == 0 or length > 32:
            raise RdataError("bad bitmap length")
        if pos + 2 + length > end:
            raise RdataError("truncated bitmap")
        if data[pos + 1 + length] == 0:
            raise RdataError("bitmap window with a trailing zero octet")
        last_window = window
        base = window << 8
        for i in range(length):
            octet = data[pos + 2 + i]
            if octet:
                for bit in range(8):
                    if octet & (0x80 >> bit):
                        types.append(base + i * 8 + bit)
        pos += 2 + length
    return frozenset(types)


def bitmap_check(data: bytes, pos: int, end: int) -> None:
    """Structural check of a bitmap in data[pos:end] without decoding it."""
    last_window = -1
    while pos < end:
        if pos + 2 > end:
            raise RdataError("truncated bitmap window")
        window, length = data[pos], data[pos + 1]
        if window <= last_window or length == 0 or length > 32:
            raise RdataError("bad bitmap")
        last_window = window
        pos += 2 + length
        # RFC 4034 s4.1.2: trailing zero octets must be omitted
        if pos > end or data[pos - 1] == 0:
            raise RdataError("truncated bitmap or trailing zero octet")
    if pos != end:
        raise RdataError("truncated bitmap")


def bitmap_has(data: bytes, rtype: int) -> bool:
    """Whether the (well-formed) bitmap *data* lists *rtype*."""
    window, low = rtype >> 8, rtype & 0xFF
    pos = 0
    end = len(data)
    while pos + 2 <= end:
        w, length = data[pos], data[pos + 1]
        if w == window:
            index = low >> 3
            return index < length and bool(data[pos + 2 + index] & (0x80 >> (low & 7)))
        if w > window:
            return False
        pos += 2 + length
    return False


# --------------------------------------------------------------------------
# field kinds

def _read_name(data: bytes, pos: int, end: int) -> tuple[Name, int]:
    """Read an uncompressed name from RDATA (decompression happened in the parser)."""
    start = pos
    labels = 0
    while True:
        if pos >= end:
            raise RdataError("truncated name")
        n = data[pos]
        if n == 0:
            pos += 1
            break
        if n > 63:
            raise RdataError("compressed or bad label in RDATA")
        pos += n + 1
        labels += 1
    if pos > end or pos - start > 255 or labels > 127:
        raise RdataError("bad name in RDATA")
    return Name(data[start:pos]), pos


class Field(ABC):
    """One piece of an RDATA layout."""

    rest = False  # consumes everything to the end of RDATA

    @abstractmethod
    def unpack(self, data: bytes, pos: int, end: int) -> tuple[Any, int]:
        """Read the field at *pos*; return its value and the position after it."""

    @abstractmethod
    def pack(self, value: Any, lower: bool) -> bytes:
        """The field's wire form (names lowercased when *lower*)."""

    def to_text(self, value: Any) -> str:
        return str(value)

    @abstractmethod
    def from_text(self, tokens: Sequence[str], i: int, origin: Name | None) -> tuple[Any, int]:
        """Read the field from tokens[i:]; return its value and the next token index."""


def _need(tokens: Sequence[str], i: int) -> str:
    if i >= len(tokens):
        raise RdataError("too few fields")
    return tokens[i]


class _Int(Field):
    def __init__(self, size: int) -> None:
        self.size = size
        self.fmt = {1: "!B", 2: "!H", 4: "!I"}[size]
        self.maximum = (1 << (8 * size)) - 1

    def unpack(self, data: bytes, pos: int, end: int) -> tuple[Any, int]:
        if pos + self.size > end:
            raise RdataError("truncated integer")
        return struct.unpack_from(self.fmt, data, pos)[0], pos + self.size

    def pack(self, value: Any, lower: bool) -> bytes:
        return struct.pack(self.fmt, value)

    def from_text(self, tokens: Sequence[str], i: int, origin: Name | None) -> tuple[Any, int]:
        return _int_from_text(_need(tokens, i), self.maximum), i + 1


class _Ttl(_Int):
    def __init__(self) -> None:
        super().__init__(4)

    def from_text(self, tokens: Sequence[str], i: int, origin: Name | None) -> tuple[Any, int]:
        return ttl_from_text(_need(tokens, i)), i + 1


class _Alg(_Int):
    def __init__(self) -> None:
        super().__init__(1)

    def from_text(self, tokens: Sequence[str], i: int, origin: Name | None) -> tuple[Any, int]:
        return algorithm_from_text(_need(tokens, i)), i + 1


class _Type(_Int):
    def __init__(self) -> None:
        super().__init__(2)

    def to_text(self, value: Any) -> str:
        return type_to_text(value)

    def from_text(self, tokens: Sequence[str], i: int, origin: Name | None) -> tuple[Any, int]:
        try:
            return type_from_text(_need(tokens, i)), i + 1
        except ValueError as exc:
            raise RdataError(str(exc)) from exc


class _Time(_Int):
    def __init__(self) -> None:
        super().__init__(4)

    def to_text(self, value: Any) -> str:
        return time_to_text(value)

    def from_text(self, tokens: Sequence[str], i: int, origin: Name | None) -> tuple[Any, int]:
        return time_from_text(_need(tokens, i)), i + 1


class _Name(Field):
    def unpack(self, data: bytes, pos: int, end: int) -> tuple[Any, int]:
        return _read_name(data, pos, end)

    def pack(self, value: Any, lower: bool) -> bytes:
        nm: Name = value
        return nm.key if lower else nm.wire

    def to_text(self, value: Any) -> str:
        nm: Name = value
        return nm.to_text()

    def from_text(self, tokens: Sequence[str], i: int, origin: Name | None) -> tuple[Any, int]:
        try:
            return Name.from_text(_need(tokens, i), origin), i + 1
        except NameError_ as exc:
            raise RdataError(str(exc)) from exc


class _Addr(Field):
    def __init__(self, size: int) -> None:
        self.size = size

    def unpack(self, data: bytes, pos: int, end: int) -> tuple[Any, int]:
        if pos + self.size > end:
            raise RdataError("truncated address")
        return data[pos:pos + self.size], pos + self.size

    def pack(self, value: Any, lower: bool) -> bytes:
        return bytes(value)

    def to_text(self, value: Any) -> str:
        if self.size == 4:
            return str(ipaddress.IPv4Address(value))
        return str(ipaddress.IPv6Address(value))

    def from_text(self, tokens: Sequence[str], i: int, origin: Name | None) -> tuple[Any, int]:
        text = _need(tokens, i)
        try:
            if self.size == 4:
                return ipaddress.IPv4Address(text).packed, i + 1
            return ipaddress.IPv6Address(text).packed, i + 1
        except ValueError as exc:
            raise RdataError(f"bad address {text!r}") from exc


class _CharString(Field):
    def unpack(self, data: bytes, pos: int, end: int) -> tuple[Any, int]:
        if pos >= end:
            raise RdataError("missing character-string")
        n = data[pos]
        if pos + 1 + n > end:
            raise RdataError("truncated character-string")
        return data[pos + 1:pos + 1 + n], pos + 1 + n

    def pack(self, value: Any, lower: bool) -> bytes:
        return bytes((len(value),)) + bytes(value)

    def to_text(self, value: Any) -> str:
        return quote_string(value)

    def from_text(self, tokens: Sequence[str], i: int, origin: Name | None) -> tuple[Any, int]:
        value = decode_escapes(_need(tokens, i))
        if len(value) > 255:
            raise RdataError("character-string longer than 255 octets")
        return value, i + 1


class _CharStrings(Field):
    rest = True

    def unpack(self, data: bytes, pos: int, end: int) -> tuple[Any, int]:
        if pos >= end:
            raise RdataError("no character-string (RFC 1035 s3.3.14: one or more)")
        strings = []
        while pos < end:
            n = data[pos]
            if pos + 1 + n > end:
                raise RdataError("truncated character-string")
            strings.append(data[pos + 1:pos + 1 + n])
            pos += 1 + n
        return tuple(strings), pos

    def pack(self, value: Any, lower: bool) -> bytes:
        return b"".join(bytes((len(s),)) + s for s in value)

    def to_text(self, value: Any) -> str:
        return " ".join(quote_string(s) for s in value)

    def from_text(self, tokens: Sequence[str], i: int, origin: Name | None) -> tuple[Any, int]:
        out = []
        for tok in tokens[i:]:
            value = decode_escapes(tok)
            if len(value) > 255:
                raise RdataError("character-string longer than 255 octets")
            out.append(value)
        if not out:
            raise RdataError("missing character-string")
        return tuple(out), len(tokens)


class _Base64(Field):
    rest = True

    def unpack(self, data: bytes, pos: int, end: int) -> tuple[Any, int]:
        return data[pos:end], end

    def pack(self, value: Any, lower: bool) -> bytes:
        return bytes(value)

    def to_text(self, value: Any) -> str:
        return base64.b64encode(value).decode("ascii")

    def from_text(self, tokens: Sequence[str], i: int, origin: Name | None) -> tuple[Any, int]:
        text = "".join(tokens[i:])
        try:
            return base64.b64decode(text, validate=True), len(tokens)
        except (binascii.Error, ValueError) as exc:
            raise RdataError("bad base64") from exc


class _Hex(Field):
    rest = True

    def unpack(self, data: bytes, pos: int, end: int) -> tuple[Any, int]:
        return data[pos:end], end

    def pack(self, value: Any, lower: bool) -> bytes:
        return bytes(value)

    def to_text(self, value: Any) -> str:
        return value.hex().upper() if value else "-"

    def from_text(self, tokens: Sequence[str], i: int, origin: Name | None) -> tuple[Any, int]:
        text = "".join(tokens[i:])
        if text == "-":
            return b"", len(tokens)
        try:
            return bytes.fromhex(text), len(tokens)
        except ValueError as exc:
            raise RdataError("bad hex") from exc


class _HexCounted(Field):
    """u8 length + octets, hex in text with '-' for empty (NSEC3 salt)."""

    def unpack(self, data: bytes, pos: int, end: int) -> tuple[Any, int]:
        if pos >= end:
            raise RdataError("missing salt")
        n = data[pos]
        if pos + 1 + n > end:
            raise RdataError("truncated salt")
        return data[pos + 1:pos + 1 + n], pos + 1 + n

    def pack(self, value: Any, lower: bool) -> bytes:
        return bytes((len(value),)) + bytes(value)

    def to_text(self, value: Any) -> str:
        return value.hex().upper() if value else "-"

    def from_text(self, tokens: Sequence[str], i: int, origin: Name | None) -> tuple[Any, int]:
        text = _need(tokens, i)
        if text == "-":
            return b"", i + 1
        try:
            value = bytes.fromhex(text)
        except ValueError as exc:
            raise RdataError(f"bad salt {text!r}") from exc
        if len(value) > 255:
            raise RdataError("salt too long")
        return value, i + 1


class _Base32Counted(_HexCounted):
    """u8 length + octets, base32hex in text (NSEC3 next hashed owner)."""

    def to_text(self, value: Any) -> str:
        return b32hex_encode(value)

    def from_text(self, tokens: Sequence[str], i: int, origin: Name | None) -> tuple[Any, int]:
        value = b32hex_decode(_need(tokens, i))
        if not value or len(value) > 255:
            raise RdataError("bad next hashed owner")
        return value, i + 1


class _Bitmap(Field):
    rest = True

    def unpack(self, data: bytes, pos: int, end: int) -> tuple[Any, int]:
        return bitmap_decode(data[pos:end]), end

    def pack(self, value: Any, lower: bool) -> bytes:
        return bitmap_encode(value)

    def to_text(self, value: Any) -> str:
        return " ".join(type_to_text(t) for t in sorted(value))

    def from_text(self, tokens: Sequence[str], i: int, origin: Name | None) -> tuple[Any, int]:
        try:
            return frozenset(type_from_text(t) for t in tokens[i:]), len(tokens)
        except ValueError as exc:
            raise RdataError(str(exc)) from exc


U8 = _Int(1)
U16 = _Int(2)
U32 = _Int(4)
TTL = _Ttl()
ALG = _Alg()
TYPECODE = _Type()
TIME = _Time()
NAME = _Name()
A4 = _Addr(4)
A16 = _Addr(16)
CS = _CharString()
CSLIST = _CharStrings()
B64 = _Base64()
HEX = _Hex()
SALT = _HexCounted()
HASH = _Base32Counted()
BITMAP = _Bitmap()


# --------------------------------------------------------------------------
# the record classes

class Rdata:
    """Base of the typed RDATA views. Subclasses are frozen dataclasses with a LAYOUT."""

    __slots__ = ()
    LAYOUT: ClassVar[tuple[Field, ...]] = ()
    TYPE: ClassVar[int] = 0

    def to_wire(self, lower: bool = False) -> bytes:
        return b"".join(f.pack(getattr(self, d.name), lower)
                        for f, d in zip(self.LAYOUT, fields(self), strict=True))  # type: ignore[arg-type]

    def to_text(self) -> str:
        return " ".join(f.to_text(getattr(self, d.name))
                        for f, d in zip(self.LAYOUT, fields(self), strict=True))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class A(Rdata):
    TYPE: ClassVar[int] = RRType.A
    LAYOUT: ClassVar[tuple[Field, ...]] = (A4,)
    address: bytes

    def to_text(self) -> str:
        return str(ipaddress.IPv4Address(self.address))


@dataclass(frozen=True, slots=True)
class AAAA(Rdata):
    TYPE: ClassVar[int] = RRType.AAAA
    LAYOUT: ClassVar[tuple[Field, ...]] = (A16,)
    address: bytes

    def to_text(self) -> str:
        return str(ipaddress.IPv6Address(self.address))


@dataclass(frozen=True, slots=True)
class NS(Rdata):
    TYPE: ClassVar[int] = RRType.NS
    LAYOUT: ClassVar[tuple[Field, ...]] = (NAME,)
    target: Name


@dataclass(frozen=True, slots=True)
class CNAME(Rdata):
    TYPE: ClassVar[int] = RRType.CNAME
    LAYOUT: ClassVar[tuple[Field, ...]] = (NAME,)
    target: Name


@dataclass(frozen=True, slots=True)
class DNAME(Rdata):
    TYPE: ClassVar[int] = RRType.DNAME
    LAYOUT: ClassVar[tuple[Field, ...]] = (NAME,)
    target: Name


@dataclass(frozen=True, slots=True)
class PTR(Rdata):
    TYPE: ClassVar[int] = RRType.PTR
    LAYOUT: ClassVar[tuple[Field, ...]] = (NAME,)
    target: Name


@dataclass(frozen=True, slots=True)
class SOA(Rdata):
    TYPE: ClassVar[int] = RRType.SOA
    LAYOUT: ClassVar[tuple[Field, ...]] = (NAME, NAME, U32, TTL, TTL, TTL, TTL)
    mname: Name
    rname: Name
    serial: int
    refresh: int
    retry: int
    expire: int
    minimum: int


@dataclass(frozen=True, slots=True)
class MX(Rdata):
    TYPE: ClassVar[int] = RRType.MX
    LAYOUT: ClassVar[tuple[Field, ...]] = (U16, NAME)
    preference: int
    exchange: Name


@dataclass(frozen=True, slots=True)
class TXT(Rdata):
    TYPE: ClassVar[int] = RRType.TXT
    LAYOUT: ClassVar[tuple[Field, ...]] = (CSLIST,)
    strings: tuple[bytes, ...]

    def joined(self) -> bytes:
        """The strings concatenated without separator (SPF, DKIM, DMARC)."""
        return b"".join(self.strings)


@dataclass(frozen=True, slots=True)
class SPF(TXT):
    TYPE: ClassVar[int] = RRType.SPF


@dataclass(frozen=True, slots=True)
class HINFO(Rdata):
    TYPE: ClassVar[int] = RRType.HINFO
    LAYOUT: ClassVar[tuple[Field, ...]] = (CS, CS)
    cpu: bytes
    os: bytes


@dataclass(frozen=True, slots=True)
class SRV(Rdata):
    TYPE: ClassVar[int] = RRType.SRV
    LAYOUT: ClassVar[tuple[Field, ...]] = (U16, U16, U16, NAME)
    priority: int
    weight: int
    port: int
    target: Name


@dataclass(frozen=True, slots=True)
class NAPTR(Rdata):
    TYPE: ClassVar[int] = RRType.NAPTR
    LAYOUT: ClassVar[tuple[Field, ...]] = (U16, U16, CS, CS, CS, NAME)
    order: int
    preference: int
    flags: bytes
    services: bytes
    regexp: bytes
    replacement: Name


@dataclass(frozen=True, slots=True)
class PX(Rdata):
    TYPE: ClassVar[int] = RRType.PX
    LAYOUT: ClassVar[tuple[Field, ...]] = (U16, NAME, NAME)
    preference: int
    map822: Name
    mapx400: Name


@dataclass(frozen=True, slots=True)
class RP(Rdata):
    TYPE: ClassVar[int] = RRType.RP
    LAYOUT: ClassVar[tuple[Field, ...]] = (NAME, NAME)
    mbox: Name
    txt: Name


@dataclass(frozen=True, slots=True)
class DS(Rdata):
    TYPE: ClassVar[int] = RRType.DS
    LAYOUT: ClassVar[tuple[Field, ...]] = (U16, ALG, U8, HEX)
    key_tag: int
    algorithm: int
    digest_type: int
    digest: bytes

    def to_text(self) -> str:
        return f"{self.key_tag} {self.algorithm} {self.digest_type} {self.digest.hex().upper()}"


@dataclass(frozen=True, slots=True)
class CDS(DS):
    TYPE: ClassVar[int] = RRType.CDS


@dataclass(frozen=True, slots=True)
class DNSKEY(Rdata):
    TYPE: ClassVar[int] = RRType.DNSKEY
    LAYOUT: ClassVar[tuple[Field, ...]] = (U16, U8, ALG, B64)
    flags: int
    protocol: int
    algorithm: int
    key: bytes

    ZONE: ClassVar[int] = 0x0100
    REVOKE: ClassVar[int] = 0x0080
    SEP: ClassVar[int] = 0x0001

    @property
    def is_zone_key(self) -> bool:
        return bool(self.flags & self.ZONE)

    @property
    def is_revoked(self) -> bool:
        return bool(self.flags & self.REVOKE)

    @property
    def is_sep(self) -> bool:
        return bool(self.flags & self.SEP)


@dataclass(frozen=True, slots=True)
class CDNSKEY(DNSKEY):
    TYPE: ClassVar[int] = RRType.CDNSKEY


@dataclass(frozen=True, slots=True)
class RRSIG(Rdata):
    TYPE: ClassVar[int] = RRType.RRSIG
    LAYOUT: ClassVar[tuple[Field, ...]] = (TYPECODE, ALG, U8, U32, TIME, TIME, U16, NAME, B64)
    type_covered: int
    algorithm: int
    labels: int
    original_ttl: int
    expiration: int
    inception: int
    key_tag: int
    signer: Name
    signature: bytes

    def header_wire(self, lower: bool = True) -> bytes:
        """RDATA without the signature: the first part of the signed data (RFC 4034 s3.1.8.1)."""
        return struct.pack("!HBBIIIH", self.type_covered, self.algorithm, self.labels,
                           self.original_ttl, self.expiration, self.inception,
                           self.key_tag) + (self.signer.key if lower else self.signer.wire)


@dataclass(frozen=True, slots=True)
class NSEC(Rdata):
    TYPE: ClassVar[int] = RRType.NSEC
    LAYOUT: ClassVar[tuple[Field, ...]] = (NAME, BITMAP)
    next: Name
    types: frozenset[int]


@dataclass(frozen=True, slots=True)
class NSEC3(Rdata):
    TYPE: ClassVar[int] = RRType.NSEC3
    LAYOUT: ClassVar[tuple[Field, ...]] = (U8, U8, U16, SALT, HASH, BITMAP)
    algorithm: int
    flags: int
    iterations: int
    salt: bytes
    next: bytes
    types: frozenset[int]

    OPT_OUT: ClassVar[int] = 0x01

    @property
    def opt_out(self) -> bool:
        return bool(self.flags & self.OPT_OUT)


@dataclass(frozen=True, slots=True)
class NSEC3PARAM(Rdata):
    TYPE: ClassVar[int] = RRType.NSEC3PARAM
    LAYOUT: ClassVar[tuple[Field, ...]] = (U8, U8, U16, SALT)
    algorithm: int
    flags: int
    iterations: int
    salt: bytes


@dataclass(frozen=True, slots=True)
class TLSA(Rdata):
    TYPE: ClassVar[int] = RRType.TLSA
    LAYOUT: ClassVar[tuple[Field, ...]] = (U8, U8, U8, HEX)
    usage: int
    selector: int
    mtype: int
    data: bytes

    def to_text(self) -> str:
        return f"{self.usage} {self.selector} {self.mtype} {self.data.hex()}"


@dataclass(frozen=True, slots=True)
class SMIMEA(TLSA):
    TYPE: ClassVar[int] = RRType.SMIMEA


@dataclass(frozen=True, slots=True)
class SSHFP(Rdata):
    TYPE: ClassVar[int] = RRType.SSHFP
    LAYOUT: ClassVar[tuple[Field, ...]] = (U8, U8, HEX)
    algorithm: int
    fp_type: int
    fingerprint: bytes


@dataclass(frozen=True, slots=True)
class OPENPGPKEY(Rdata):
    TYPE: ClassVar[int] = RRType.OPENPGPKEY
    LAYOUT: ClassVar[tuple[Field, ...]] = (B64,)
    key: bytes


@dataclass(frozen=True, slots=True)
class Generic(Rdata):
    """Opaque RDATA of a type without a class here (RFC 3597)."""

    data: bytes

    def to_wire(self, lower: bool = False) -> bytes:
        return self.data

    def to_text(self) -> str:
        return generic_to_text(self.data)


def generic_to_text(data: bytes) -> str:
    return f"\\# {len(data)} {data.hex().upper()}" if data else "\\# 0"


CLASSES: dict[int, type[Rdata]] = {
    cls.TYPE: cls for cls in (
        A, AAAA, NS, CNAME, DNAME, PTR, SOA, MX, TXT, SPF, HINFO, SRV, NAPTR, PX, RP,
        DS, CDS, DNSKEY, CDNSKEY, RRSIG, NSEC, NSEC3, NSEC3PARAM, TLSA, SMIMEA, SSHFP,
        OPENPGPKEY,
    )
}

# Types whose embedded names are lowercased in the canonical form
# (RFC 4034 s6.2 as amended by RFC 6840 s5.1: NSEC is no longer in the list).
CANONICAL_LOWER = frozenset({
    RRType.NS, RRType.MD, RRType.MF, RRType.CNAME, RRType.SOA, RRType.MB, RRType.MG,
    RRType.MR, RRType.PTR, RRType.MINFO, RRType.MX, RRType.RP, RRType.AFSDB, RRType.RT,
    RRType.SIG, RRType.PX, RRType.NXT, RRType.NAPTR, RRType.KX, RRType.SRV, RRType.DNAME,
    RRType.A6, RRType.RRSIG,
})

_DS_DIGEST_LENGTH = {1: 20, 2: 32, 3: 32, 4: 48}
# RFC 6698 s2.1.3 (TLSA and SMIMEA matching types), RFC 4255 s3.1.3 / RFC 6594 s3.2
_TLSA_DATA_LENGTH = {1: 32, 2: 64}
_SSHFP_LENGTH = {1: 20, 2: 32}


def _extra_checks(rtype: int, values: list[Any]) -> None:
    if rtype == RRType.DS:
        expected = _DS_DIGEST_LENGTH.get(values[2])
        if values[2] == 0:
            raise RdataError("DS digest type 0 is reserved")
        if expected is not None and len(values[3]) != expected:
            raise RdataError("DS digest length does not match its type")
    elif rtype == RRType.CDS:
        expected = _DS_DIGEST_LENGTH.get(values[2], 1 if values[2] == 0 else None)
        if expected is not None and len(values[3]) != expected:
            raise RdataError("CDS digest length does not match its type")
    elif rtype == RRType.TLSA or rtype == RRType.SMIMEA:
        expected = _TLSA_DATA_LENGTH.get(values[2])
        if expected is not None and len(values[3]) != expected:
            raise RdataError("certificate association data length does not match "
                             "its matching type")
    elif rtype == RRType.SSHFP:
        expected = _SSHFP_LENGTH.get(values[1])
        if expected is not None and len(values[2]) != expected:
            raise RdataError("SSHFP fingerprint length does not match its type")
    elif rtype == RRType.NSEC3 and not values[4]:
        raise RdataError("NSEC3 next hashed owner is empty (RFC 5155 s3.1.6)")


# --------------------------------------------------------------------------
# generic operations on (type, wire rdata)

# How each class is read: runs of fixed-size integers become one struct (an RRSIG's
# first seven fields are one unpack_from), other fields read themselves.
_Step = tuple[struct.Struct | None, Field | None]
_PLANS: dict[type[Rdata], tuple[_Step, ...]] = {}


def _plan(cls: type[Rdata]) -> tuple[_Step, ...]:
    steps: list[_Step] = []
    fmt = ""
    for f in cls.LAYOUT:
        if isinstance(f, _Int) and type(f).unpack is _Int.unpack:
            fmt += f.fmt[1:]
            continue
        if fmt:
            steps.append((struct.Struct("!" + fmt), None))
            fmt = ""
        steps.append((None, f))
    if fmt:
        steps.append((struct.Struct("!" + fmt), None))
    plan = _PLANS[cls] = tuple(steps)
    return plan


def decode(rtype: int, data: bytes) -> Rdata:
    """Decode uncompressed wire RDATA into its typed view; raises RdataError."""
    cls = CLASSES.get(rtype)
    if cls is None:
        return Generic(data)
    pos = 0
    end = len(data)
    values: list[Any] = []
    for fixed, f in _PLANS.get(cls) or _plan(cls):
        if fixed is not None:
            if pos + fixed.size > end:
                raise RdataError("truncated integer")
            values.extend(fixed.unpack_from(data, pos))
            pos += fixed.size
        else:
            assert f is not None
            value, pos = f.unpack(data, pos, end)
            values.append(value)
    if pos != end:
        raise RdataError(f"{type_to_text(rtype)} RDATA has {end - pos} extra octets")
    _extra_checks(rtype, values)
    return cls(*values)


def rrsig_signer(data: bytes) -> Name:
    """The Signer's Name of RRSIG RDATA, read without decoding the rest."""
    return _read_name(data, 18, len(data))[0]


def check(rtype: int, data: bytes) -> None:
    """Raise RdataError unless *data* is well-formed RDATA for *rtype*."""
    decode(rtype, data)


def canonical(rtype: int, data: bytes) -> bytes:
    """Canonical RDATA (RFC 4034 s6.2): embedded names lowercased for the listed types."""
    if rtype not in CANONICAL_LOWER or rtype not in CLASSES:
        return data
    return decode(rtype, data).to_wire(lower=True)


def to_text(rtype: int, data: bytes) -> str:
    try:
        return decode(rtype, data).to_text()
    except RdataError:
        return generic_to_text(data)


def from_text(rtype: int, tokens: Sequence[str], origin: Name | None = None,
              *, strict: bool = True) -> bytes:
    """Read presentation-format RDATA (already split into tokens, quotes removed,
    escapes kept) and return uncompressed wire RDATA. ``\\# len hex`` works for all types.
    With ``strict=False`` the semantic checks are skipped (``\\#`` data that does not
    decode as its type, DS digests of the wrong length), for test data that is broken
    on purpose."""
    if tokens and tokens[0] == "\\#":
        if len(tokens) < 2 or not (tokens[1].isascii() and tokens[1].isdigit()):
            raise RdataError("bad \\# generic RDATA")
        length = int(tokens[1])
        try:
            data = bytes.fromhex("".join(tokens[2:]))
        except ValueError as exc:
            raise RdataError("bad hex in \\# RDATA") from exc
        if len(data) != length:
            raise RdataError("\\# length does not match the data")
        if strict and rtype in CLASSES:
            check(rtype, data)
        return data
    cls = CLASSES.get(rtype)
    if cls is None:
        raise RdataError(f"type {type_to_text(rtype)} needs the \\# generic syntax")
    i = 0
    values: list[Any] = []
    for f in cls.LAYOUT:
        value, i = f.from_text(tokens, i, origin)
        values.append(value)
    if i != len(tokens):
        raise RdataError(f"trailing fields in {type_to_text(rtype)} RDATA: {' '.join(tokens[i:])}")
    if strict:
        _extra_checks(rtype, values)
    return cls(*values).to_wire()
