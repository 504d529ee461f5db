"""RRsets: records grouped by (owner, type, class), with the RRSIGs that cover them."""

from __future__ import annotations

from collections.abc import Iterable

from . import rdata as rd
from .message import RR
from .name import Name
from .types import RRType

_RRSIG = RRType.RRSIG


class RRset:
    """Records of one owner, type and class. *rdatas* are uncompressed wire RDATA
    without duplicates (compared in canonical form); *sigs* the RRSIG RDATA covering
    this type at this owner. *ttl* is the smallest TTL seen."""

    __slots__ = ("name", "rtype", "rclass", "ttl", "rdatas", "sigs", "_seen", "__weakref__")

    def __init__(self, name: Name, rtype: int, rclass: int = 1, ttl: int = 0,
                 rdatas: Iterable[bytes] = (), sigs: Iterable[bytes] = ()) -> None:
        self.name = name
        self.rtype = rtype
        self.rclass = rclass
        self.ttl = ttl
        self.rdatas: list[bytes] = []
        self.sigs: list[bytes] = []
        # canonical forms of rdatas, made when a second record arrives: most RRsets
        # hold one record, and cached ones keep whatever is here
        self._seen: set[bytes] | None = None
        for data in rdatas:
            self.add(data)
        for sig in sigs:
            self.add_sig(sig)

    def add(self, data: bytes) -> None:
        if not self.rdatas:
            self.rdatas.append(data)
            return
        seen = self._seen
        if seen is None:
            seen = self._seen = {rd.canonical(self.rtype, d) for d in self.rdatas}
        key = rd.canonical(self.rtype, data)
        if key not in seen:
            seen.add(key)
            self.rdatas.append(data)

    def add_sig(self, data: bytes) -> None:
        if data not in self.sigs:
            self.sigs.append(data)

    def with_ttl(self, ttl: int) -> RRset:
        """A copy with another TTL (RDATA and RRSIGs shared, not re-checked)."""
        copy = RRset.__new__(RRset)
        copy.name, copy.rtype, copy.rclass, copy.ttl = self.name, self.rtype, self.rclass, ttl
        copy.rdatas, copy.sigs, copy._seen = self.rdatas, self.sigs, self._seen
        return copy

    def compact(self) -> RRset:
        """An equal RRset for keeping: a bare owner name and no deduplication set
        (rebuilt from the records if one is ever added); RDATA lists are shared."""
        copy = RRset.__new__(RRset)
        copy.name, copy.rtype, copy.rclass, copy.ttl = (self.name.bare(), self.rtype,
                                                         self.rclass, self.ttl)
        copy.rdatas, copy.sigs, copy._seen = self.rdatas, self.sigs, None
        return copy

    def records(self) -> list[RR]:
        return [RR(self.name, self.rtype, self.rclass, self.ttl, d) for d in self.rdatas]

    def sig_records(self) -> list[RR]:
        return [RR(self.name, _RRSIG, self.rclass, self.ttl, s) for s in self.sigs]

    def data(self) -> list[rd.Rdata]:
        return [rd.decode(self.rtype, d) for d in self.rdatas]

    def signatures(self) -> list[rd.RRSIG]:
        out = []
        for s in self.sigs:
            sig = rd.decode(_RRSIG, s)
            assert isinstance(sig, rd.RRSIG)
            out.append(sig)
        return out

    def from_wildcard(self) -> bool:
        """Whether an RRSIG says this RRset was expanded from a wildcard (its labels
        field is below the owner's label count, RFC 4035 s5.3.4)."""
        owner_labels = self.name.label_count
        for sig in self.sigs:  # noqa: SIM110 - no generator per call: every answer asks
            if len(sig) > 3 and sig[3] < owner_labels:
                return True
        return False

    def __len__(self) -> int:
        return len(self.rdatas)

    def __repr__(self) -> str:
        from .types import type_to_text
        return f"<RRset {self.name} {type_to_text(self.rtype)} x{len(self.rdatas)} " \
               f"sigs={len(self.sigs)}>"


def _covered(sig: bytes) -> int:
    return (sig[0] << 8) | sig[1] if len(sig) >= 2 else 0


def group(records: Iterable[RR]) -> list[RRset]:
    """Group records into RRsets in order of first appearance; each RRSIG joins the
    RRset of its owner and covered type (and caps its TTL at the RRSIG's TTL and
    Original TTL field). RRSIGs with no such RRset form an RRset of type RRSIG
    (nothing is dropped)."""
    sets: dict[tuple[bytes, int, int], RRset] = {}
    order: list[RRset] = []
    orphans: list[RR] = []
    for rr in records:
        if rr.rtype == _RRSIG:
            orphans.append(rr)
            continue
        key = (rr.name.key, rr.rtype, rr.rclass)
        rs = sets.get(key)
        if rs is None:
            rs = sets[key] = RRset(rr.name, rr.rtype, rr.rclass, rr.ttl)
            order.append(rs)
        rs.add(rr.rdata)
        rs.ttl = min(rs.ttl, rr.ttl)
    for rr in orphans:
        key = (rr.name.key, _covered(rr.rdata), rr.rclass)
        rs = sets.get(key)
        if rs is None:
            skey = (rr.name.key, -_covered(rr.rdata) - 1, rr.rclass)
            rs = sets.get(skey)
            if rs is None:
                rs = sets[skey] = RRset(rr.name, _RRSIG, rr.rclass, rr.ttl)
                order.append(rs)
            rs.add(rr.rdata)
            rs.ttl = min(rs.ttl, rr.ttl)
        else:
            rs.add_sig(rr.rdata)
            # RFC 4035 s5.3.3: never longer than the RRSIG's own TTL nor the Original
            # TTL it signed (a TTL raised on the path must not outlive the signature's)
            original = int.from_bytes(rr.rdata[4:8], "big") if len(rr.rdata) >= 8 else 0
            rs.ttl = min(rs.ttl, rr.ttl, original)
    return order
