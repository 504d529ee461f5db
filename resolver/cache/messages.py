"""The answer cache of the fast path: finished responses as wire bytes.

A cache hit costs a dictionary lookup, a copy and a few ``pack_into`` calls: the
message ID and the question's letter case come from the query, every TTL is aged by
the seconds since the response was stored. Nothing is parsed and no object is built.
The key is the lowercased question plus the query flags that change the answer
(RD, CD, DO, EDNS present, AD): :func:`resolver.wire.querykey.query_key`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from ..wire.querykey import QueryKey
from .store import LruStore

_pack_ttl = struct.Struct("!I").pack_into
_read_ttl = struct.Struct("!I").unpack_from
_iter_offsets = struct.Struct("!H").iter_unpack


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
        # one tuple per label set, shared by the entries: labels are (qtype label, rcode,
        # security), a few hundred sets at most (qtype_label folds rare types together)
        self._labels: dict[tuple[str, ...], tuple[str, ...]] = {}
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
        labels = self._labels.setdefault(labels, labels)
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
