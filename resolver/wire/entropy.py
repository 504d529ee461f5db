"""Unpredictable 16-bit numbers for query IDs and source ports (RFC 5452).

The numbers come from :mod:`secrets` (the kernel's CSPRNG), read 4 KB at a time
instead of one system call per number: a cold answer needs an ID and a port for
each upstream query, and two ``getrandom`` calls per query were a measurable part
of its cost. Unbound does the same with a user-space arc4random. Handing out the
next number is one ``next()`` on a C iterator, which is atomic under the GIL, so
threads (the HTTP API's helpers) never receive the same bytes twice.
"""

from __future__ import annotations

import secrets
import struct
from collections.abc import Iterator

_CHUNK = 4096
_numbers: Iterator[tuple[int]] = iter(())


def random16() -> int:
    """A uniformly distributed number in [0, 65535]."""
    global _numbers
    try:
        return next(_numbers)[0]
    except StopIteration:
        _numbers = struct.iter_unpack("!H", secrets.token_bytes(_CHUNK))
        return next(_numbers)[0]


def random_port(avoid: frozenset[int] = frozenset()) -> int:
    """A uniformly distributed port in [1024, 65535], none of *avoid*."""
    while True:
        port = random16()
        if port >= 1024 and port not in avoid:
            return port
