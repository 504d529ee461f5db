"""DNS numeric registries: RR types, classes, opcodes, rcodes, EDNS option codes.

Only numbers and mnemonics live here; behaviour lives with the code that uses it.
"""

from __future__ import annotations

from enum import IntEnum


class RRType(IntEnum):
    A = 1
    NS = 2
    MD = 3
    MF = 4
    CNAME = 5
    SOA = 6
    MB = 7
    MG = 8
    MR = 9
    NULL = 10
    WKS = 11
    PTR = 12
    HINFO = 13
    MINFO = 14
    MX = 15
    TXT = 16
    RP = 17
    AFSDB = 18
    X25 = 19
    ISDN = 20
    RT = 21
    NSAP = 22
    NSAP_PTR = 23
    SIG = 24
    KEY = 25
    PX = 26
    GPOS = 27
    AAAA = 28
    LOC = 29
    NXT = 30
    SRV = 33
    NAPTR = 35
    KX = 36
    CERT = 37
    A6 = 38
    DNAME = 39
    OPT = 41
    APL = 42
    DS = 43
    SSHFP = 44
    IPSECKEY = 45
    RRSIG = 46
    NSEC = 47
    DNSKEY = 48
    DHCID = 49
    NSEC3 = 50
    NSEC3PARAM = 51
    TLSA = 52
    SMIMEA = 53
    HIP = 55
    NINFO = 56
    CDS = 59
    CDNSKEY = 60
    OPENPGPKEY = 61
    CSYNC = 62
    ZONEMD = 63
    SVCB = 64
    HTTPS = 65
    SPF = 99
    NID = 104
    L32 = 105
    L64 = 106
    LP = 107
    EUI48 = 108
    EUI64 = 109
    TKEY = 249
    TSIG = 250
    IXFR = 251
    AXFR = 252
    MAILB = 253
    MAILA = 254
    ANY = 255
    URI = 256
    CAA = 257
    AVC = 258
    AMTRELAY = 260
    TA = 32768
    DLV = 32769


class RRClass(IntEnum):
    IN = 1
    CH = 3
    HS = 4
    NONE = 254
    ANY = 255


class Opcode(IntEnum):
    QUERY = 0
    IQUERY = 1
    STATUS = 2
    NOTIFY = 4
    UPDATE = 5
    DSO = 6


class Rcode(IntEnum):
    NOERROR = 0
    FORMERR = 1
    SERVFAIL = 2
    NXDOMAIN = 3
    NOTIMP = 4
    REFUSED = 5
    YXDOMAIN = 6
    YXRRSET = 7
    NXRRSET = 8
    NOTAUTH = 9
    NOTZONE = 10
    BADVERS = 16


class EdnsOption(IntEnum):
    NSID = 3
    CLIENT_SUBNET = 8
    EXPIRE = 9
    COOKIE = 10
    TCP_KEEPALIVE = 11
    PADDING = 12
    EDE = 15


# Header flag bits (in the 16-bit flags word, opcode and rcode excluded).
QR = 0x8000
AA = 0x0400
TC = 0x0200
RD = 0x0100
RA = 0x0080
AD = 0x0020
CD = 0x0010
# EDNS flag bits (in the 16-bit flags half of the OPT TTL).
DO = 0x8000

FLAG_NAMES: tuple[tuple[str, int], ...] = (
    ("qr", QR), ("aa", AA), ("tc", TC), ("rd", RD), ("ra", RA), ("ad", AD), ("cd", CD),
)

# Types whose rdata is meta/query-only (never stored as data).
META_TYPES = frozenset({RRType.OPT, RRType.TKEY, RRType.TSIG, RRType.IXFR, RRType.AXFR,
                        RRType.MAILB, RRType.MAILA, RRType.ANY})

_TYPE_BY_NAME = {t.name.replace("_", "-"): int(t) for t in RRType}


_TYPE_TEXT: dict[int, str] = {int(t): t.name.replace("_", "-") for t in RRType}
_RCODE_TEXT: dict[int, str] = {int(r): r.name for r in Rcode}


def type_to_text(rtype: int) -> str:
    """Mnemonic for a type, or the RFC 3597 ``TYPEnnn`` form."""
    text = _TYPE_TEXT.get(rtype)
    return text if text is not None else f"TYPE{rtype}"


def type_from_text(text: str) -> int:
    """Parse a type mnemonic or ``TYPEnnn``; raises ValueError."""
    up = text.upper()
    value = _TYPE_BY_NAME.get(up)
    if value is not None:
        return value
    if up.startswith("TYPE") and up[4:].isdigit():
        number = int(up[4:])
        if 0 <= number <= 0xFFFF:
            return number
    raise ValueError(f"unknown RR type {text!r}")


def class_to_text(rclass: int) -> str:
    try:
        return RRClass(rclass).name
    except ValueError:
        return f"CLASS{rclass}"


def class_from_text(text: str) -> int:
    up = text.upper()
    if up in RRClass.__members__:
        return int(RRClass[up])
    if up.startswith("CLASS") and up[5:].isdigit():
        number = int(up[5:])
        if 0 <= number <= 0xFFFF:
            return number
    raise ValueError(f"unknown RR class {text!r}")


def is_class_text(text: str) -> bool:
    try:
        class_from_text(text)
    except ValueError:
        return False
    return True


def rcode_to_text(rcode: int) -> str:
    text = _RCODE_TEXT.get(rcode)
    return text if text is not None else f"RCODE{rcode}"


def rcode_from_text(text: str) -> int:
    up = text.upper()
    if up == "NOTIMPL":
        return int(Rcode.NOTIMP)
    if up in Rcode.__members__:
        return int(Rcode[up])
    if up.startswith("RCODE") and up[5:].isdigit():
        return int(up[5:])
    raise ValueError(f"unknown rcode {text!r}")


def opcode_to_text(opcode: int) -> str:
    try:
        return Opcode(opcode).name
    except ValueError:
        return f"OPCODE{opcode}"
