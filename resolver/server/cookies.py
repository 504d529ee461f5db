"""DNS server cookies (RFC 7873) in the interoperable format of RFC 9018.

A client that sends a COOKIE option gets its client cookie back followed by a
16-octet server cookie: version 1, three reserved octets, a 32-bit timestamp and the
SipHash-2-4 (:mod:`resolver.server.siphash`) of client cookie | version | reserved |
timestamp | client address under a server secret. The secret is random, replaced
every :data:`ROTATE` seconds; cookies made under the previous one still verify.

Cookies are not required (no BADCOOKIE): a query without one, or with a server
cookie that does not verify, is answered normally with a fresh server cookie. A
server cookie that verifies and is younger than :data:`REFRESH` seconds is sent back
as it is (RFC 9018 s4.3), and cookies made are memoised per client and client
cookie, so a client repeating its query costs no hashing.
"""

from __future__ import annotations

import ipaddress
import secrets
import struct
import time
from collections.abc import Callable

from ..lru import Lru
from ..wire.edns import option
from .siphash import siphash24

COOKIE = 10                 # EDNS option code
VERSION = 1                 # RFC 9018 s4.2
ROTATE = 3600.0             # a new secret every hour; the previous one still verifies
REFRESH = 1800              # RFC 9018 s4.3: make a new cookie past half an hour
LIFETIME = 3600             # accept server cookies at most this old...
CLOCK_SKEW = 300            # ...or this far in the future (RFC 9018 s4.3)
MEMO_SIZE = 4096
_TS = struct.Struct("!I")


def server_cookie(secret: bytes, client_cookie: bytes, client_ip: bytes,
                  timestamp: int) -> bytes:
    """The RFC 9018 server cookie for *client_cookie* (8 octets) from the packed
    address *client_ip* at *timestamp* (seconds, modulo 2**32)."""
    head = bytes((VERSION, 0, 0, 0)) + _TS.pack(timestamp & 0xFFFFFFFF)
    return head + siphash24(secret, client_cookie + head + client_ip)


def packed_address(address: str) -> bytes:
    """A client address (text, maybe with a zone index) as the 4 or 16 octets the hash
    covers; IPv4-mapped IPv6 addresses count as IPv4."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.packed


def _age(now: int, timestamp: int) -> int:
    """Seconds from *timestamp* to *now* in serial-number arithmetic (RFC 1982)."""
    diff = (now - timestamp) & 0xFFFFFFFF
    return diff - 0x100000000 if diff & 0x80000000 else diff


class ServerCookies:
    """Makes and checks server cookies; the secret rotates by itself."""

    def __init__(self, now: Callable[[], float] = time.time,
                 secret: bytes | None = None) -> None:
        self.now = now
        self.secret = secret if secret is not None else secrets.token_bytes(16)
        self.previous: bytes | None = None
        self.rotated = now()
        # (client address, client cookie) -> (the COOKIE option we answer with, when)
        self._memo: Lru[tuple[str, bytes], tuple[bytes, int]] = Lru(MEMO_SIZE)

    def rotate(self) -> None:
        """Start a new secret; cookies of the current one keep verifying until the next."""
        self.previous = self.secret
        self.secret = secrets.token_bytes(16)
        self.rotated = self.now()
        self._memo.clear()

    def verify(self, client_cookie: bytes, server: bytes, client_ip: bytes,
               now: int | None = None) -> bool:
        """Whether *server* is a cookie we made for this client cookie and address,
        not too old and not from the future."""
        if len(server) != 16 or server[0] != VERSION:
            return False
        when = _TS.unpack_from(server, 4)[0]
        age = _age(int(self.now()) if now is None else now, when)
        if age > LIFETIME or age < -CLOCK_SKEW:
            return False
        for secret in (self.secret, self.previous):
            if secret is not None and secrets.compare_digest(
                    server_cookie(secret, client_cookie, client_ip, when), server):
                return True
        return False

    def answer(self, data: bytes, client: str) -> bytes:
        """The encoded COOKIE option of the response to a query whose COOKIE option
        carried *data* (well formed: 8 or 16-40 octets), from address *client*."""
        now_f = self.now()
        if now_f - self.rotated >= ROTATE:
            self.rotate()
        now = int(now_f)
        client_cookie = data[:8]
        key = (client, client_cookie)
        known = self._memo.get(key)
        if known is not None and now - known[1] < REFRESH:
            return known[0]
        ip = packed_address(client)
        server = data[8:]
        if not (len(server) == 16 and self.verify(client_cookie, server, ip, now)
                and 0 <= _age(now, _TS.unpack_from(server, 4)[0]) < REFRESH):
            server = server_cookie(self.secret, client_cookie, ip, now)
        made = _TS.unpack_from(server, 4)[0]
        opt = option(COOKIE, client_cookie + server)
        self._memo.put(key, (opt, now - max(0, _age(now, made))))
        return opt


__all__ = ["ServerCookies", "server_cookie", "packed_address", "COOKIE"]
