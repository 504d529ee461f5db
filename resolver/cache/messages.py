"""The answer cache of the fast path: finished responses as wire bytes.

A cache hit costs a dictionary lookup, a copy and a few ``pack_into`` calls: the
message ID and the question's letter case come from the query, every TTL is aged by
the seconds since the response was stored. Nothing is parsed and no object is built.
The key is the lowercased question plus the query flags that change the answer
(RD, CD, DO, EDNS present, AD): :func:`resolver.wire.querykey.query_key`.

A response is kept in two parts, joined at each hit: its head (the header and the
answer section, without the question's name) and its tail (the authority and
additional sections). Equal parts are one object (issue 18): the expansions of a
wildcard carry the same record and RRSIG behind a pointer to the question, so the
same head (its ID zeroed), and the same NSEC3 proof, so the same tail. Tails are
shared by the responses stored in the same second only, so that one or two aged
copies serve all their holders; each entry ages a head of its own.

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
from ..wire.sections import answer_end
from ..wire.types import Rcode, RRType
from .slotstore import SlotStore
from .store import intern_size

_pack_ttl = struct.Struct("!I").pack_into
_read_ttl = struct.Struct("!I").unpack_from
_iter_offsets = struct.Struct("!H").iter_unpack

# What one stored response costs besides its key and its shared parts, measured with
# tracemalloc (CPython 3.11), plus ~15 % that RSS shows above it (the allocator's
# pools, the dict's spare room): the entry (104 bytes), its expiry float (24), the
# key's bytes header (33) and the store's ordered-dict slot and node (about 100).
_ENTRY = 300
# a segment's own object (its bytes are charged apart, shared or not); the memo that
# finds it for equal answers holds the 2048 latest (under 1 MB with keys and slots)
_SEGMENT = 130
# one more holder of a shared head or segment: a slot
_SHARED_REF = 8
# a bytes object's header (a head, or its aged copy)
_BYTES = 40


class _Kind:
    """What the metrics count the hits of a cached response under: its labels (qtype
    label, rcode, security) and the hits so far by transport. One per label set,
    shared by the entries (a few hundred at most: qtype_label folds rare types)."""

    __slots__ = ("labels", "counts")

    def __init__(self, labels: tuple[str, ...]) -> None:
        self.labels = labels
        self.counts: dict[str, int] = {}


class _Segment:
    """The authority and additional sections of stored responses (the NSEC/NSEC3 proof
    of a wildcard expansion, a denial's SOA and NSEC records, the OPT record), one
    object for the responses stored in the same second that end with the same bytes
    (the answers under one wildcard, or the NXDOMAINs of one zone, carry the same
    proof). Its TTL fields (*offsets*, from the segment's start: the bytes, read from
    a record boundary, fix where they are) are aged for the elapsed seconds its
    holders ask about; the last two copies are kept (holders of one segment were
    stored within a second of one another, so they ask about one or two values at a
    time). *opt_at*: where the OPT record's RDLENGTH is (-1: not looked for yet,
    None: no OPT)."""

    __slots__ = ("template", "offsets", "elapsed", "aged", "elapsed2", "aged2", "opt_at")

    def __init__(self, template: bytes, offsets: bytes) -> None:
        self.template = template
        self.offsets = offsets
        self.elapsed = self.elapsed2 = 0
        self.aged = self.aged2 = template
        self.opt_at: int | None = -1

    def aged_for(self, elapsed: int) -> bytes:
        """The segment aged by *elapsed* seconds (one of the two copies kept; a segment
        without TTLs keeps its template under both, so later hits compare and go)."""
        if elapsed == self.elapsed2:
            return self.aged2
        made = _aged(self.template, self.offsets, elapsed)
        self.elapsed2, self.aged2 = self.elapsed, self.aged
        self.elapsed, self.aged = elapsed, made
        return made


_EMPTY = _Segment(b"", b"")
_EMPTY.opt_at = None


def _aged(template: bytes, offsets: bytes, elapsed: int) -> bytes:
    """*template* with each TTL field at *offsets* lowered by *elapsed* (not below 0)."""
    if not offsets:
        return template
    buf = bytearray(template)
    for (off,) in _iter_offsets(offsets):
        ttl = _read_ttl(template, off)[0]
        _pack_ttl(buf, off, ttl - elapsed if ttl > elapsed else 0)
    return bytes(buf)


class _Cached:
    """A stored response: its head (the header and the answer section, without the
    question's name: every hit puts the query's own there; the key holds it
    lowercased) as built, with its TTLs as they were then, where its TTL fields are
    (2 octets each, in the head), a copy aged for the last elapsed second asked about
    (so most hits do no TTL rewriting), and the rest of the message (authority and
    additional sections), shared with the responses that end the same way. Stored
    at ``until - ttl``."""

    __slots__ = ("ttl", "template", "offsets", "elapsed", "aged", "kind", "tail",
                 "until", "cost")

    def __init__(self, ttl: int, template: bytes, offsets: bytes, kind: _Kind,
                 tail: _Segment) -> None:
        self.ttl = ttl
        self.template = template
        self.offsets = offsets
        self.elapsed = 0
        self.aged = template
        self.kind = kind
        self.tail = tail
        self.until = 0.0        # the store's expiry and charge (SlotStore)
        self.cost = 0

    def message(self, key: bytes) -> bytes:
        """The whole response (the question's name from *key*, lowercased; its ID 0:
        every hit puts the query's own there)."""
        template = self.template
        return template[:12] + key[:-5] + template[12:] + self.tail.template

    def aged_for(self, elapsed: int) -> bytes:
        if elapsed != self.elapsed:
            self.aged = _aged(self.template, self.offsets, elapsed)
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
        # recent heads and tails, to be shared by equal ones
        self._heads: Lru[bytes, bytes] = Lru(4096)
        # the authority and additional sections of recent answers, for equal ones
        self._segments: Lru[tuple[int, bytes], _Segment] = Lru(2048)
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
        split = answer_end(wire)
        if split is None:
            return                      # malformed: not kept
        now = self.now()
        kind = self._kinds.get(labels)
        if kind is None:
            kind = self._kinds[labels] = _Kind(labels)
        packed = struct.pack(f"!{sum(1 for off in ttl_offsets if off < split)}H",
                             *(off - skip for off in ttl_offsets if off < split))
        # answers of one shape (a zone's wildcard, its NXDOMAINs) share one copy
        offsets = self._offsets.get(packed) or self._offsets.put(packed, packed)
        tail, tail_cost = self._segment(wire, split, ttl_offsets, int(now))
        # the ID is the query's at every hit: zeroed, so that equal answers (the
        # expansions of a wildcard: one record and one RRSIG behind a pointer to the
        # question) keep one head between them
        head = b"\x00\x00" + wire[2:12] + wire[12 + skip:split]
        known = self._heads.get(head)
        if known is None:
            head_cost = len(head) + _BYTES
            self._heads.put(head, head)
        else:
            head, head_cost = known, _SHARED_REF
        self.store.put(key, _Cached(intern_size(ttl), head, offsets, kind, tail), now + ttl,
                       len(key) + _ENTRY + head_cost + tail_cost)

    def _segment(self, wire: bytes, split: int, ttl_offsets: list[int], second: int
                 ) -> tuple[_Segment, int]:
        """The shared segment holding ``wire[split:]`` for the responses stored in this
        *second* (their TTLs are aged by the seconds since: those of one segment ask
        for one or two values at a time), and the bytes one more holder costs: the
        first is charged the segment, the others a reference."""
        if split == len(wire):
            return _EMPTY, _SHARED_REF
        offsets = [off - split for off in ttl_offsets if off >= split]
        packed = struct.pack(f"!{len(offsets)}H", *offsets)
        packed = self._offsets.get(packed) or self._offsets.put(packed, packed)
        tail = wire[split:]
        found = self._segments.get((second, tail))
        if found is not None and found.offsets == packed:
            return found, _SHARED_REF
        # the bytes themselves are shared across seconds too, when still in the memo
        known = self._heads.get(tail)
        cost = _SEGMENT
        if known is None:
            self._heads.put(tail, tail)
            cost += len(tail) + _BYTES
        else:
            tail = known
        segment = _Segment(tail, packed)
        if found is None:
            self._segments.put((second, tail), segment)
        return segment, cost

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
        segment = item.tail
        if len(item.template) + len(segment.template) + qname_end - 12 + len(option) > limit:
            return None
        opt_at = None
        if option:
            opt_at = segment.opt_at
            if opt_at == -1:
                whole = opt_rdlength_at(item.message(key))
                start = len(item.template) + qname_end - 12
                opt_at = segment.opt_at = None if whole is None or whole < start \
                    else whole - start
            if opt_at is None:
                return None
        elapsed = int(now - (item.until - item.ttl))
        if elapsed == item.elapsed:
            head = item.aged
        else:
            if item.aged is item.template and item.offsets:
                # a second copy from now on: charged to the entry and its store
                self.store.bytes += len(item.template) + _BYTES
                item.cost = intern_size(item.cost + len(item.template) + _BYTES)
            head = item.aged_for(elapsed)
        tail = segment.aged if elapsed == segment.elapsed else segment.aged_for(elapsed)
        if self.counting:
            counts = item.kind.counts
            counts[transport] = counts.get(transport, 0) + 1
        if opt_at is None:
            return b"".join((data[:2], head[2:12], data[12:qname_end], head[12:], tail))
        rdlength = (tail[opt_at] << 8) + tail[opt_at + 1]
        end = opt_at + 2 + rdlength
        size = rdlength + len(option)
        return b"".join((data[:2], head[2:12], data[12:qname_end], head[12:], tail[:opt_at],
                         bytes((size >> 8, size & 0xFF)), tail[opt_at + 2:end], option,
                         tail[end:]))

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
