"""The key of a raw query for the wire answer cache (:mod:`resolver.cache.messages`),
read without parsing: the lowercased question plus the query flags that change the
answer (RD, CD, DO, EDNS present, AD), and where the question ends. Only plain
queries get one (one question, uncompressed, at most one OPT record); the others go to
the full parser. EDNS options do not change the answer and are not part of the key
(unknown ones are ignored, RFC 6891 s6.1.2); a well-formed DNS COOKIE option (RFC 7873
s4: an 8-octet client cookie, optionally a server cookie of 8 to 32 octets) is handed
over in :attr:`QueryKey.cookie` so that the server can answer it. A malformed or
repeated COOKIE option gets no key: the full parser's path answers it with FORMERR.

A pure function of the bytes, so both the server's fast path and the cache may use
it without either knowing the other.
"""

from __future__ import annotations


class QueryKey:
    """The cache key of a raw query, or None when the query is not a plain one
    (then the slow path handles it, and it is not cached)."""

    __slots__ = ("key", "qend", "payload", "has_edns", "cookie")

    def __init__(self, key: bytes, qend: int, payload: int, has_edns: bool,
                 cookie: bytes | None = None) -> None:
        self.key = key
        self.qend = qend
        self.payload = payload
        self.has_edns = has_edns
        self.cookie = cookie           # the COOKIE option's data, when the query has one


COOKIE = 10                            # the EDNS option code of DNS COOKIEs (RFC 7873)


def cookie_ok(data: bytes) -> bool:
    """Whether *data* is a well-formed COOKIE option: a client cookie of 8 octets,
    alone or followed by a server cookie of 8 to 32 (RFC 7873 s4)."""
    return len(data) == 8 or 16 <= len(data) <= 40


def query_key(data: bytes) -> QueryKey | None:
    """The key of the raw query *data*, or None when it is not a plain query."""
    n = len(data)
    if n < 17 or data[2] & 0xF8 or data[4:6] != b"\x00\x01" or data[6:10] != b"\x00\x00\x00\x00":
        return None  # QR set, opcode not QUERY, or not exactly one question
    pos = 12
    while True:
        if pos >= n:
            return None
        length = data[pos]
        if length == 0:
            break
        if length > 63:
            return None      # compressed or odd labels: slow path
        pos += length + 1
    qend = pos + 5            # root byte + qtype + qclass
    if qend > n or qend - 12 > 260:
        return None
    flags = data[2] & 0x01                       # RD
    flags |= (data[3] & 0x10) >> 3               # CD -> bit 1
    flags |= (data[3] & 0x20) >> 1               # AD -> bit 4
    arcount = (data[10] << 8) | data[11]
    payload = 512
    has_edns = False
    cookie = None
    if arcount == 1:
        # exactly one OPT with owner root, version 0, and nothing after it
        if qend + 11 > n or data[qend] != 0 or data[qend + 1:qend + 3] != b"\x00\x29":
            return None
        if data[qend + 6] != 0:            # EDNS version
            return None
        if qend + 11 != n:
            pos = qend + 11
            if pos + ((data[qend + 9] << 8) | data[qend + 10]) != n:
                return None
            while pos < n:              # the options: only a COOKIE is looked at
                if pos + 4 > n:
                    return None
                length = (data[pos + 2] << 8) | data[pos + 3]
                end = pos + 4 + length
                if end > n:
                    return None
                if (data[pos] << 8) | data[pos + 1] == COOKIE:
                    if cookie is not None or not cookie_ok(data[pos + 4:end]):
                        return None
                    cookie = data[pos + 4:end]
                pos = end
        elif data[qend + 9] or data[qend + 10]:
            return None
        payload = max(512, (data[qend + 3] << 8) | data[qend + 4])
        if data[qend + 7] & 0x80:
            flags |= 0x04                   # DO
        flags |= 0x08
        has_edns = True
    elif arcount != 0 or qend != n:
        return None
    key = data[12:qend].lower() + bytes((flags,))
    return QueryKey(key, qend, payload, has_edns, cookie)
