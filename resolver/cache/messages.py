"""The answer cache of the fast path: finished responses as wire bytes.

A cache hit costs a dictionary lookup, a copy and a few ``pack_into`` calls: the
message ID and the question's letter case come from the query, every TTL is aged by
the seconds since the response was stored. Nothing is parsed and no object is built.
The key is the lowercased question plus the query flags that change the answer
(RD, CD, DO, EDNS present, AD).
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from .store import LruStore

_pack_ttl = struct.Struct("!I").pack_into
_read_ttl = struct.Struct("!I").unpack_from
_iter_offsets = struct.Struct("!H").iter_unpack
_labels_seen: dict[tuple[str, ...], tuple[str, ...]] = {}   # one tuple per label set


class QueryKey:
    """The cache key of a raw query, or None when the query is not a plain one
    (then the slow path handles it, and it is not cached)."""

    __slots__ = ("key", "qend", "payload", "has_edns")

    def __init__(self, key: bytes, qend: int, payload: int, has_edns: bool) -> None:
        self.key = key
        self.qend = qend
        self.payload = payload
        self.has_edns = has_edns


def query_key(data: bytes) -> QueryKey | None:
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
    if arcount == 1:
        # exactly one OPT with owner root, version 0, no options, and nothing after it
        if qend + 11 != n or data[qend] != 0 or data[qend + 1:qend + 3] != b"\x00\x29":
            return None
        if data[qend + 6] != 0:            # EDNS version
            return None
        payload = max(512, (data[qend + 3] << 8) | data[qend + 4])
        if data[qend + 7] & 0x80:
            flags |= 0x04                   # DO
        flags |= 0x08
        has_edns = True
    elif arcount != 0 or qend != n:
        return None
    key = data[12:qend].lower() + bytes((flags,))
    return QueryKey(key, qend, payload, has_edns)


class _Cached:
    """A stored response: the template as built (its TTLs as they were then), where
    its TTL fields are (2 octets each), and a copy aged for the last elapsed second
    asked about (so most hits do no TTL rewriting)."""

    __slots__ = ("stored", "template", "offsets", "elapsed", "aged", "labels")

    def __init__(self, stored: float, template: bytes, offsets: bytes,
                 labels: tuple[str, ...]) -> None:
        self.stored = stored
        self.template = template
        self.offsets = offsets
        self.elapsed = 0
        self.aged = template
        self.labels = labels

    def aged_for(self, elapsed: int) -> bytes:
        if elapsed != self.elapsed:
            template = self.template
            buf = bytearray(template)
            for (off,) in _iter_offsets(self.offsets):
                ttl = _read_ttl(template, off)[0]
                _pack_ttl(buf, off, ttl - elapsed if ttl > elapsed else 0)
            self.aged = bytes(buf)
            self.elapsed = elapsed
        return self.aged


class MessageCache:
    def __init__(self, max_bytes: int, now: Callable[[], float]) -> None:
        self.store: LruStore[bytes, _Cached] = LruStore(max_bytes, now)
        self.now = now
        # answers served from here, by (transport, *labels): read by the metrics
        self.served: dict[tuple[str, ...], int] = {}
        self.counting = True
        # how many times the cache was emptied; an answer worked out before the last
        # time (under trust anchors since replaced) is not stored
        self.epoch = 0

    def put(self, key: bytes, wire: bytes, ttl_offsets: list[int], ttl: int,
            labels: tuple[str, ...] = (), epoch: int | None = None) -> None:
        """Store *wire* (built for a query with this *key*) for *ttl* seconds;
        *ttl_offsets* are where its TTL fields are; *labels* (qtype, rcode, security)
        are what the metrics count each hit under. *epoch*: :attr:`epoch` when the
        answer's resolution began; if the cache was cleared since, it is not stored."""
        if ttl <= 0 or len(wire) > 0xFFFF or (epoch is not None and epoch != self.epoch):
            return
        now = self.now()
        labels = _labels_seen.setdefault(labels, labels)
        offsets = struct.pack(f"!{len(ttl_offsets)}H", *ttl_offsets)
        self.store.put(key, _Cached(now, wire, offsets, labels),
                       now + ttl, 2 * len(wire) + len(key) + len(offsets) + 250)

    def answer(self, data: bytes, qk: QueryKey, limit: int,
               transport: str = "udp") -> bytes | None:
        """The cached response to the raw query *data*, or None (miss, or too big).
        The ID and the question's letter case are the query's; TTLs are aged."""
        item = self.store.get(qk.key)
        if item is None:
            return None
        if len(item.template) > limit:
            return None
        aged = item.aged_for(int(self.now() - item.stored))
        if self.counting:
            key = (transport, *item.labels)
            self.served[key] = self.served.get(key, 0) + 1
        qname_end = qk.qend - 4
        return b"".join((data[:2], aged[2:12], data[12:qname_end], aged[qname_end:]))

    def clear(self) -> None:
        self.store.clear()
        self.epoch += 1

    def __len__(self) -> int:
        return len(self.store)
