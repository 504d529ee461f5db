"""SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012):
the keyed hash of DNS server cookies in the interoperable format of RFC 9018.

Python's :mod:`hashlib` has no keyed SipHash, so this is a direct implementation of the
algorithm as the paper specifies it: 128-bit key, 64-bit output, two compression
rounds per 8-octet block and four finalisation rounds. Pure Python; a cookie (a 20 or
32 octet input) costs a few tens of microseconds, which the server memoises.
"""

from __future__ import annotations

import struct

_MASK = 0xFFFFFFFFFFFFFFFF
_WORDS = struct.Struct("<QQ")
_WORD = struct.Struct("<Q")


def _rounds(v0: int, v1: int, v2: int, v3: int, n: int) -> tuple[int, int, int, int]:
    """*n* SipRounds on the state."""
    for _ in range(n):
        v0 = (v0 + v1) & _MASK
        v1 = ((v1 << 13) | (v1 >> 51)) & _MASK
        v1 ^= v0
        v0 = ((v0 << 32) | (v0 >> 32)) & _MASK
        v2 = (v2 + v3) & _MASK
        v3 = ((v3 << 16) | (v3 >> 48)) & _MASK
        v3 ^= v2
        v0 = (v0 + v3) & _MASK
        v3 = ((v3 << 21) | (v3 >> 43)) & _MASK
        v3 ^= v0
        v2 = (v2 + v1) & _MASK
        v1 = ((v1 << 17) | (v1 >> 47)) & _MASK
        v1 ^= v2
        v2 = ((v2 << 32) | (v2 >> 32)) & _MASK
    return v0, v1, v2, v3


def siphash24(key: bytes, data: bytes) -> bytes:
    """The 8-octet SipHash-2-4 of *data* under the 16-octet *key* (little-endian output,
    as the reference implementation writes it)."""
    if len(key) != 16:
        raise ValueError("SipHash needs a 16-octet key")
    k0, k1 = _WORDS.unpack(key)
    v0 = k0 ^ 0x736F6D6570736575
    v1 = k1 ^ 0x646F72616E646F6D
    v2 = k0 ^ 0x6C7967656E657261
    v3 = k1 ^ 0x7465646279746573
    n = len(data)
    full = n - n % 8
    for (m,) in struct.iter_unpack("<Q", data[:full]):
        v3 ^= m
        v0, v1, v2, v3 = _rounds(v0, v1, v2, v3, 2)
        v0 ^= m
    # the last block: the remaining octets, zero padded, and the length in the top octet
    last = int.from_bytes(data[full:], "little") | ((n & 0xFF) << 56)
    v3 ^= last
    v0, v1, v2, v3 = _rounds(v0, v1, v2, v3, 2)
    v0 ^= last
    v2 ^= 0xFF
    v0, v1, v2, v3 = _rounds(v0, v1, v2, v3, 4)
    return _WORD.pack(v0 ^ v1 ^ v2 ^ v3)


__all__ = ["siphash24"]
