"""The index of validated NSEC records (RFC 8198, resolver/cache/nsec_index.py): which
denials it synthesises, and the guards that keep it inside one zone. Signatures are
the validator's business (the service adds only verified records); here the RRSIGs
only carry the signer and labels fields the proof functions check."""

from __future__ import annotations

import struct

from resolver.cache.nsec_index import NsecIndex
from resolver.cache.rrsets import NXDOMAIN_TYPE
from resolver.wire.name import Name
from resolver.wire.rrset import RRset
from resolver.wire.types import Rcode, RRType

N = Name.from_text


def bitmap(*types: int) -> bytes:
    octets = bytearray(32)
    for t in types:
        assert t < 256
        octets[t // 8] |= 0x80 >> (t % 8)
    used = max(t // 8 for t in types) + 1
    return bytes((0, used)) + bytes(octets[:used])


def sig(owner: Name, covered: int, signer: Name) -> bytes:
    return (struct.pack(">HBBIIIH", covered, 13, owner.label_count, 300, 2**31, 0, 1)
            + signer.wire + bytes(64))


def nsec(owner: str, nxt: str, *types: int, signer: str | None = None,
         ttl: int = 300) -> RRset:
    name = N(owner)
    zone = N(signer) if signer else name
    return RRset(name, RRType.NSEC, 1, ttl, [N(nxt).wire + bitmap(*types)],
                 [sig(name, RRType.NSEC, zone)])


def soa(zone: str, minimum: int = 300) -> RRset:
    apex = N(zone)
    data = apex.prepend(b"ns1").wire + apex.prepend(b"hostmaster").wire + struct.pack(
        ">IIIII", 1, 3600, 900, 1209600, minimum)
    return RRset(apex, RRType.SOA, 1, 3600, [data], [sig(apex, RRType.SOA, apex)])


class Clock:
    t = 1000.0

    def __call__(self) -> float:
        return self.t


A, NS, SOA_, RRSIG, NSEC_, DNSKEY = 1, 2, 6, 46, 47, 48


def test_nxdomain_nodata_and_expiry() -> None:
    clock = Clock()
    index = NsecIndex(clock)
    zone = N("internal.")
    records = [nsec("internal.", "ns1.internal.", NS, SOA_, RRSIG, NSEC_, DNSKEY,
                    signer="internal."),
               nsec("www.internal.", "internal.", A, RRSIG, NSEC_, signer="internal.")]
    assert index.add(zone, soa("internal.", minimum=120), records) == 2
    nx = index.lookup(N("aaa.internal."), RRType.A)
    assert nx is not None and nx.rcode == Rcode.NXDOMAIN and nx.qtype == NXDOMAIN_TYPE
    assert nx.soa is not None and nx.zone == zone and nx.proofs == [records[0]]
    assert nx.ttl(clock()) == 120            # the SOA minimum, below the NSEC TTL
    nodata = index.lookup(N("www.internal."), RRType.MX)
    assert nodata is not None and nodata.rcode == Rcode.NOERROR and nodata.qtype == RRType.MX
    assert index.lookup(N("www.internal."), RRType.A) is None         # the type exists
    assert index.lookup(N("pop.internal."), RRType.A) is None         # not covered
    zzz = index.lookup(N("zzz.internal."), RRType.A)                  # two NSECs
    assert zzz is not None and len(zzz.proofs) == 2
    assert index.lookup(N("other."), RRType.A) is None                # zone not indexed
    clock.t += 121
    assert index.lookup(N("aaa.internal."), RRType.A) is None


def test_never_below_a_zone_cut_or_dname() -> None:
    index = NsecIndex(Clock())
    root = N(".")
    records = [nsec("example.", "internal.", NS, RRSIG, NSEC_, signer="."),   # insecure cut
               nsec("internal.", "org.", NS, RRSIG, NSEC_, signer="."),
               nsec("org.", "x.", NS, DNSKEY, RRSIG, NSEC_, signer=".")]
    records.append(nsec("alias.org.", "b.org.", 39, RRSIG, NSEC_, signer="."))   # DNAME
    index.add(root, soa("."), records)
    for name in ("www.example.", "a.internal."):      # covered, but below the cut
        assert index.lookup(N(name), RRType.A) is None, name
    assert index.lookup(N("example."), RRType.A) is None   # parent side: no NODATA
    assert index.lookup(N("x.alias.org."), RRType.A) is None
    # the parent side does deny the DS of an insecure delegation
    ds = index.lookup(N("example."), RRType.DS)
    assert ds is not None and ds.rcode == Rcode.NOERROR


def test_records_of_another_zone_or_unsigned_are_not_taken() -> None:
    index = NsecIndex(Clock())
    zone = N("internal.")
    other = nsec("a.internal.", "z.internal.", A, RRSIG, NSEC_, signer="sub.internal.")
    bare = RRset(N("b.internal."), RRType.NSEC, 1, 300,
                 [N("y.internal.").wire + bitmap(A)])
    wild = RRset(N("c.internal."), RRType.NSEC, 1, 300, [N("x.internal.").wire + bitmap(A)],
                 [sig(N("internal."), RRType.NSEC, zone)])   # labels: a wildcard expansion
    assert index.add(zone, soa("internal."), [other, bare, wild]) == 0
    assert index.lookup(N("m.internal."), RRType.A) is None
    assert index.add(N("internal."), soa("example."), [other]) == 0   # SOA of another zone
