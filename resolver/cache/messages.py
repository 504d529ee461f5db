"""The answer cache of the fast path: finished responses as wire bytes.

A cache hit costs a dictionary lookup, a copy and a few ``pack_into`` calls: the
message ID and the question's letter case come from the query, every TTL is aged by
the seconds since the response was stored. Nothing is parsed and no object is built.
The key is the lowercased question plus the query flags that change the answer
(RD, CD, DO, EDNS present, AD): :func:`resolver.wire.querykey.query_key`.

The operator's flushes (``resolver control``) drop entries by what they answer: the
question's name (read from the key, which begins with it) and the names of the answer
section (owners and CNAME targets: an answer that runs through a CNAME chain carries
the flushed name's records too). They scan the whole cache, which is rare work, and
leave the hit path untouched; each one also bumps :attr:`MessageCache.epoch`, so an
answer worked out before the flush is not stored after it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from ..lru import Lru
from ..wire import message as wm
from ..wire.edns import opt_rdlength_at
from ..wire.name import Name
from ..wire.querykey import QueryKey
from ..wire.types import Rcode, RRType
from .slotstore import SlotStore
from .store import intern_size

_pack_ttl = struct.Struct("!I").pack_into
_read_ttl = struct.Struct("!I").unpack_from
_iter_offsets = struct.Struct("!H").iter_unpack


class _Kind:
    """What the metrics count the hits of a cached response under: its labels (qtype
    label, rcode, security) and the hits so far by transport. One per label set,
    shared by the entries (a few hundred at most: qtype_label folds rare types)."""

    __slots__ = ("labels", "counts")

    def __init__(self, labels: tuple[str, ...]) -> None:
        self.labels = labels
        self.counts: dict[str, int] = {}


class _Cached:
    """A stored response: the template as built (its TTLs as they were then) without
    the question's name (every hit puts the query's own there; the key holds it
    lowercased), where its TTL fields are (2 octets each, in the template), and a copy
    aged for the last elapsed second asked about (so most hits do no TTL rewriting).
    Stored at ``until - ttl``."""

    __slots__ = ("ttl", "template", "offsets", "elapsed", "aged", "kind", "opt_at",
                 "until", "cost")

    def __init__(self, ttl: int, template: bytes, offsets: bytes, kind: _Kind) -> None:
        self.ttl = ttl
        self.template = template
        self.offsets = offsets
        self.elapsed = 0
        self.aged = template
        self.kind = kind
        # where the OPT record's RDLENGTH is (-1: not looked for yet, None: no OPT):
        # per-client EDNS options (a DNS COOKIE) are appended there
        self.opt_at: int | None = -1
        self.until = 0.0        # the store's expiry and charge (SlotStore)
        self.cost = 0

    def message(self, key: bytes) -> bytes:
        """The whole response (the question's name from *key*, lowercased)."""
        template = self.template
        return template[:12] + key[:-5] + template[12:]

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
        self.store: SlotStore[bytes, _Cached] = SlotStore(max_bytes, now)
        self.now = now
        # one _Kind per label set (qtype label, rcode, security), shared by the entries
        # and counting their hits (:attr:`served`)
        self._kinds: dict[tuple[str, ...], _Kind] = {}
        self._offsets: Lru[bytes, bytes] = Lru(4096)     # TTL positions, shared
        self.counting = True
        # how many times the cache was emptied; an answer worked out before the last
        # time (under trust anchors since replaced) is not stored
        self.epoch = 0
        # prefetch on: an answer is kept for the first 90 % of its TTL only, so that
        # the hits of its last tenth reach the service, which refreshes it
        self.prefetch = False
        # the longest an answer is kept (max-ttl): an answer fresh from upstream
        # carries the servers' TTLs, which the RRset cache caps on its side
        self.max_ttl = 86400

    def put(self, key: bytes, wire: bytes, ttl_offsets: list[int], ttl: int,
            labels: tuple[str, ...] = (), epoch: int | None = None) -> None:
        """Store *wire* (built for a query with this *key*) for *ttl* seconds;
        *ttl_offsets* are where its TTL fields are; *labels* (qtype, rcode, security)
        are what the metrics count each hit under. *epoch*: :attr:`epoch` when the
        answer's resolution began; if the cache was cleared since, it is not stored."""
        if ttl <= 0 or len(wire) > 0xFFFF or (epoch is not None and epoch != self.epoch):
            return
        ttl = min(ttl, self.max_ttl)
        if self.prefetch and ttl >= 10:
            ttl -= ttl // 10
        skip = len(key) - 5             # the question's name, kept in the key only
        if wire[12:12 + skip].lower() != key[:skip] or \
                any(off < 12 + skip + 4 for off in ttl_offsets):
            return                      # not the response to this question
        now = self.now()
        kind = self._kinds.get(labels)
        if kind is None:
            kind = self._kinds[labels] = _Kind(labels)
        packed = struct.pack(f"!{len(ttl_offsets)}H", *(off - skip for off in ttl_offsets))
        # answers of one shape (a zone's wildcard, its NXDOMAINs) share one copy
        offsets = self._offsets.get(packed) or self._offsets.put(packed, packed)
        self.store.put(key, _Cached(intern_size(ttl), wire[:12] + wire[12 + skip:], offsets,
                                    kind),
                       now + ttl, 2 * len(wire) + len(key) + len(offsets) + 250)

    def answer(self, data: bytes, qk: QueryKey, limit: int,
               transport: str = "udp", option: bytes = b"") -> bytes | None:
        """The cached response to the raw query *data*, or None (miss, or too big).
        The ID and the question's letter case are the query's; TTLs are aged. *option*:
        an encoded EDNS option appended to the response's OPT record (a miss when the
        stored response has none)."""
        now = self.now()
        key = qk.key
        item = self.store.get(key, now)
        if item is None:
            return None
        qname_end = qk.qend - 4
        if len(item.template) + qname_end - 12 + len(option) > limit:
            return None
        opt_at = None
        if option:
            opt_at = item.opt_at
            if opt_at == -1:
                whole = opt_rdlength_at(item.message(key))
                opt_at = item.opt_at = None if whole is None else whole - (qname_end - 12)
            if opt_at is None:
                return None
        elapsed = int(now - (item.until - item.ttl))
        aged = item.aged if elapsed == item.elapsed else item.aged_for(elapsed)
        if self.counting:
            counts = item.kind.counts
            counts[transport] = counts.get(transport, 0) + 1
        if opt_at is None:
            return b"".join((data[:2], aged[2:12], data[12:qname_end], aged[12:]))
        rdlength = (aged[opt_at] << 8) + aged[opt_at + 1]
        end = opt_at + 2 + rdlength
        size = rdlength + len(option)
        return b"".join((data[:2], aged[2:12], data[12:qname_end], aged[12:opt_at],
                         bytes((size >> 8, size & 0xFF)), aged[opt_at + 2:end], option,
                         aged[end:]))

    @property
    def served(self) -> dict[tuple[str, ...], int]:
        """Answers served from here, by (transport, *labels): read by the metrics."""
        return {(transport, *kind.labels): count for kind in self._kinds.values()
                for transport, count in kind.counts.items()}

    def clear(self) -> None:
        self.store.clear()
        self.epoch += 1

    # ------------------------------------------------------------------ flushes
    def drop_name(self, name: Name, rtype: int | None = None) -> int:
        """Drop the answers about *name* (of type *rtype* only, when given): those to
        a question for it, and those whose answer section holds its records or ends
        in a CNAME to it. Returns how many live answers went."""
        owner = name.key
        label = _first_label(name)

        def concerned(key: bytes, item: _Cached) -> bool:
            qname, qtype = _question(key)
            if qname == owner and (rtype is None or qtype == rtype):
                return True
            wire = item.message(key)
            if label is not None and label not in wire.lower():
                return False    # the name is nowhere in the message
            for rr, target in _answer_names(wire):
                if rr is None:
                    return True
                if rr.name.key == owner and (rtype is None or rr.rtype == rtype or (
                        rr.rtype == RRType.RRSIG and rr.rdata[:2] == rtype.to_bytes(2, "big"))):
                    return True
                if target == owner and (rtype is None or qtype == rtype):
                    return True
            return False
        return self._drop(concerned)

    def drop_zone(self, zone: Name) -> int:
        """Drop the answers about *zone* and the names below it (the question's name,
        or a name of the answer section, at or below it)."""
        if zone.is_root():
            return self._drop(lambda _, __: True)
        label = _first_label(zone)

        def concerned(key: bytes, item: _Cached) -> bool:
            if Name(_question(key)[0]).is_subdomain(zone):
                return True
            wire = item.message(key)
            if label is not None and label not in wire.lower():
                return False
            for rr, target in _answer_names(wire):
                if rr is None or rr.name.is_subdomain(zone) or \
                        (target is not None and Name(target).is_subdomain(zone)):
                    return True
            return False
        return self._drop(concerned)

    def drop_bogus(self) -> int:
        """Drop the SERVFAILs (bogus answers and remembered failures) and the bogus
        answers given to CD=1 queries."""
        def concerned(_: bytes, item: _Cached) -> bool:
            labels = item.kind.labels
            return item.template[3] & 0x0F == Rcode.SERVFAIL or \
                (len(labels) > 2 and labels[2] == "bogus")
        return self._drop(concerned)

    def drop_negative(self) -> int:
        """Drop the negative answers: NXDOMAIN, and NODATA (no answer records, or a
        CNAME chain that ends in a denial: its SOA is in the authority section)."""
        def concerned(key: bytes, item: _Cached) -> bool:
            wire = item.message(key)
            rcode = wire[3] & 0x0F
            if rcode == Rcode.NXDOMAIN:
                return True
            if rcode != Rcode.NOERROR:
                return False
            if wire[6:8] == b"\x00\x00":
                return True
            if wire[8:10] == b"\x00\x00":
                return False
            try:
                message = wm.parse(wire)
            except wm.FormError:
                return True     # cannot tell: dropping is safe
            return any(rr.rtype == RRType.SOA for rr in message.authority)
        return self._drop(concerned)

    def _drop(self, concerned: Callable[[bytes, _Cached], bool]) -> int:
        self.epoch += 1
        return self.store.drop_where(concerned)

    def __len__(self) -> int:
        return len(self.store)


def _question(key: bytes) -> tuple[bytes, int]:
    """The question's name (lowercased wire form) and type in a cache key: the key is
    the question (name, type, class) followed by one octet of query flags."""
    return key[:-5], int.from_bytes(key[-5:-3], "big")


def _first_label(name: Name) -> bytes | None:
    """The first label of *name* as it must appear, lowercased, somewhere in any
    message that carries the name or a name below it (compression points back to
    an earlier copy of it); None for the root, which every message carries."""
    if name.is_root():
        return None
    key = name.key
    return key[:key[0] + 1]


def _answer_names(wire: bytes) -> list[tuple[wm.RR | None, bytes | None]]:
    """The records of a stored response's answer section, each with the target name
    (its key) of a CNAME; ``[(None, None)]`` when the response does not parse (then
    it is taken to concern every name: dropping it is safe)."""
    try:
        message = wm.parse(wire)
    except wm.FormError:
        return [(None, None)]
    out: list[tuple[wm.RR | None, bytes | None]] = []
    for rr in message.answer:
        target = Name(rr.rdata).key if rr.rtype == RRType.CNAME else None
        out.append((rr, target))
    return out
