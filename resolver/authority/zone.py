"""An authoritative zone held in memory (RFC 1034 s4.3.2, RFC 4035 s2).

Nodes map owner names to RRsets (RRSIGs attached to the RRset they cover). The
zone knows its cuts (delegation points), which names are occluded (glue and
anything else below a cut or a DNAME), its empty non-terminals, and the sorted
NSEC and NSEC3 chains used to prove denials.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ..wire import rdata as rd
from ..wire.message import RR
from ..wire.name import Name
from ..wire.rrset import RRset
from ..wire.types import RRType


class ZoneError(ValueError):
    """The records do not form a zone (no SOA at the origin, records outside it)."""


@dataclass(slots=True)
class Node:
    name: Name
    rrsets: dict[int, RRset] = field(default_factory=dict)

    def get(self, rtype: int) -> RRset | None:
        """The RRset of *rtype*; None also when only RRSIGs for that type exist."""
        rs = self.rrsets.get(rtype)
        return rs if rs is not None and rs.rdatas else None

    def types(self) -> set[int]:
        return {t for t, rs in self.rrsets.items() if rs.rdatas}


class Zone:
    """A zone: its origin and its nodes. Build with :meth:`from_records`."""

    def __init__(self, origin: Name) -> None:
        self.origin = origin
        self.nodes: dict[bytes, Node] = {}
        self.cuts: set[bytes] = set()
        self.dnames: set[bytes] = set()
        self.ents: set[bytes] = set()
        self._nsec_keys: list[tuple[bytes, ...]] = []
        self._nsec_nodes: list[Node] = []
        self._nsec3: list[tuple[bytes, Node]] = []

    # --- construction ------------------------------------------------------
    @classmethod
    def from_records(cls, origin: Name, records: Iterable[RR]) -> Zone:
        zone = cls(origin)
        sigs: list[RR] = []
        for rr in records:
            if not rr.name.is_subdomain(origin):
                raise ZoneError(f"{rr.name} is outside the zone {origin}")
            if rr.rtype == RRType.RRSIG:
                sigs.append(rr)
                continue
            node = zone._node(rr.name)
            rs = node.rrsets.get(rr.rtype)
            if rs is None:
                rs = node.rrsets[rr.rtype] = RRset(rr.name, rr.rtype, rr.rclass, rr.ttl)
            rs.add(rr.rdata)
            rs.ttl = min(rs.ttl, rr.ttl)
        for rr in sigs:
            covered = (rr.rdata[0] << 8) | rr.rdata[1] if len(rr.rdata) >= 2 else 0
            node = zone._node(rr.name)
            rs = node.rrsets.get(covered)
            if rs is None:
                # an RRSIG for data that is not there: keep it visible to checkers
                rs = node.rrsets[covered] = RRset(rr.name, covered, rr.rclass, rr.ttl)
            rs.add_sig(rr.rdata)
        zone._index()
        return zone

    def _node(self, name: Name) -> Node:
        node = self.nodes.get(name.key)
        if node is None:
            node = self.nodes[name.key] = Node(name)
        return node

    def _index(self) -> None:
        apex = self.nodes.get(self.origin.key)
        if apex is None or RRType.SOA not in apex.rrsets:
            raise ZoneError(f"no SOA at the origin {self.origin}")
        for key, node in self.nodes.items():
            if key != self.origin.key and node.get(RRType.NS) is not None:
                self.cuts.add(key)
            if node.get(RRType.DNAME) is not None:
                self.dnames.add(key)
        for node in self.nodes.values():
            name = node.name
            while len(name) > len(self.origin):
                name = name.parent()
                if name.key in self.nodes:
                    continue
                self.ents.add(name.key)
        nsec = sorted((n for n in self.nodes.values() if n.get(RRType.NSEC) is not None),
                      key=lambda n: n.name.canonical_sort_key())
        self._nsec_nodes = nsec
        self._nsec_keys = [n.name.canonical_sort_key() for n in nsec]
        chain = []
        for node in self.nodes.values():
            if node.get(RRType.NSEC3) is not None and len(node.name) == len(self.origin) + 1:
                try:
                    digest = rd.b32hex_decode(node.name.labels[0].decode("ascii"))
                except (rd.RdataError, UnicodeDecodeError):
                    continue
                chain.append((digest, node))
        chain.sort(key=lambda item: item[0])
        self._nsec3 = chain

    # --- queries -----------------------------------------------------------
    @property
    def soa(self) -> RRset:
        rs = self.nodes[self.origin.key].rrsets[RRType.SOA]
        return rs

    def get(self, name: Name, rtype: int) -> RRset | None:
        node = self.nodes.get(name.key)
        return node.get(rtype) if node is not None else None

    def node(self, name: Name) -> Node | None:
        return self.nodes.get(name.key)

    def exists(self, name: Name) -> bool:
        """True for names with records and for empty non-terminals."""
        return name.key in self.nodes or name.key in self.ents

    def cut_above(self, name: Name, inclusive: bool = True) -> Name | None:
        """The highest delegation point at or above *name* (strictly above unless
        *inclusive*), below the origin; None when the name is not below a cut."""
        depth = len(self.origin) + 1
        last = len(name) if inclusive else len(name) - 1
        while depth <= last:
            anc = name.ancestor(depth)
            if anc.key in self.cuts:
                return anc
            depth += 1
        return None

    def dname_above(self, name: Name) -> Name | None:
        """The highest DNAME owner strictly above *name*, if any."""
        depth = len(self.origin)
        while depth < len(name):
            anc = name.ancestor(depth)
            if anc.key in self.dnames:
                return anc
            depth += 1
        return None

    def is_authoritative(self, name: Name, rtype: int) -> bool:
        """Whether this zone is authoritative for (*name*, *rtype*): not glue, not the
        NS at a cut (RFC 4035 s2.2: those are not signed), not below a DNAME."""
        cut = self.cut_above(name, inclusive=True)
        if cut is not None:
            if cut.key != name.key:
                return False
            return rtype in (RRType.DS, RRType.NSEC)
        return self.dname_above(name) is None

    def authoritative_names(self) -> list[Name]:
        """Owners with authoritative data, including delegation points, in canonical order."""
        out = []
        for node in self.nodes.values():
            if node.get(RRType.NSEC3) is not None and node.types() <= {RRType.NSEC3}:
                continue
            if self.cut_above(node.name, inclusive=False) is not None:
                continue
            if self.dname_above(node.name) is not None:
                continue
            if not node.types():
                continue
            out.append(node.name)
        out.sort(key=lambda n: n.canonical_sort_key())
        return out

    def rrsets(self) -> Iterator[RRset]:
        for node in self.nodes.values():
            yield from node.rrsets.values()

    # --- NSEC / NSEC3 lookups ------------------------------------------------
    def nsec_covering(self, name: Name) -> Node | None:
        """The NSEC node whose owner is the greatest at or before *name* (wrapping)."""
        if not self._nsec_nodes:
            return None
        i = bisect.bisect_right(self._nsec_keys, name.canonical_sort_key()) - 1
        return self._nsec_nodes[i]  # i == -1 wraps to the last NSEC

    def nsec_nodes(self) -> list[Node]:
        return list(self._nsec_nodes)

    def nsec3_params(self) -> rd.NSEC3PARAM | None:
        rs = self.get(self.origin, RRType.NSEC3PARAM)
        if rs is None or not rs.rdatas:
            return None
        value = rd.decode(RRType.NSEC3PARAM, rs.rdatas[0])
        assert isinstance(value, rd.NSEC3PARAM)
        return value

    def nsec3_chain(self) -> list[tuple[bytes, Node]]:
        return list(self._nsec3)

    def nsec3_matching(self, digest: bytes) -> Node | None:
        i = bisect.bisect_left(self._nsec3, digest, key=lambda item: item[0])
        if i < len(self._nsec3) and self._nsec3[i][0] == digest:
            return self._nsec3[i][1]
        return None

    def nsec3_covering(self, digest: bytes) -> Node | None:
        """The NSEC3 node whose hash is the greatest strictly below *digest* (wrapping)."""
        if not self._nsec3:
            return None
        i = bisect.bisect_left(self._nsec3, digest, key=lambda item: item[0]) - 1
        return self._nsec3[i][1]
