"""Canonical RR form and the data an RRSIG signs.

RFC 4034 s3.1.8.1: signed data = RRSIG RDATA without the signature (signer name in
canonical form) | RR(1) | RR(2) | ..., each RR as
owner | type | class | original TTL | RDLENGTH | RDATA, all in canonical form
(s6.2: names lowercased, including names inside the RDATA of the types listed there
as amended by RFC 6840 s5.1), in canonical order (s6.3: by RDATA as unsigned octet
strings), duplicates removed. A wildcard-expanded owner is replaced by ``*.`` plus
the rightmost ``labels`` labels (RFC 4035 s5.3.2).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from ..wire import rdata as rd
from ..wire.name import Name
from ..wire.rdata import RRSIG
from ..wire.rrset import RRset


def canonical_rdatas(rtype: int, rdatas: Sequence[bytes]) -> list[bytes]:
    """RDATAs in canonical form and order, duplicates removed (RFC 4034 s6.2, s6.3).
    RDATA that cannot be decoded is kept as received (its signature will not verify
    unless the signer saw the same octets)."""
    if rtype not in rd.CANONICAL_LOWER or rtype not in rd.CLASSES:
        return sorted({bytes(data) for data in rdatas})   # no names inside: as received
    out = set()
    for data in rdatas:
        try:
            out.add(rd.canonical(rtype, data))
        except rd.RdataError:
            out.add(bytes(data))
    return sorted(out)


def signed_owner(owner: Name, labels: int) -> bytes:
    """The canonical owner an RRSIG with *labels* covers (RFC 4035 s5.3.2): the owner
    itself, or ``*.`` + its rightmost *labels* labels when the RRset came from a
    wildcard. *labels* above the owner's count leaves the owner unchanged (the
    validator rejects such RRSIGs before getting here)."""
    if labels < owner.label_count:
        return b"\x01*" + owner.ancestor(labels).key
    return owner.key


def rrset_wire(owner_wire: bytes, rtype: int, rclass: int, original_ttl: int,
               canonical: Sequence[bytes]) -> bytes:
    """The RRs of the signed data: canonical RDATAs framed with owner, type, class,
    original TTL and RDLENGTH."""
    head = owner_wire + struct.pack("!HHI", rtype, rclass, original_ttl)
    return b"".join(head + struct.pack("!H", len(data)) + data for data in canonical)


def signed_data(rrset: RRset, sig: RRSIG, canonical: Sequence[bytes] | None = None) -> bytes:
    """The octets *sig* signs over *rrset* (RFC 4034 s3.1.8.1). Pass *canonical* (from
    :func:`canonical_rdatas`) to reuse it across several RRSIGs of the same RRset."""
    if canonical is None:
        canonical = canonical_rdatas(rrset.rtype, rrset.rdatas)
    owner = signed_owner(rrset.name, sig.labels)
    return sig.header_wire(lower=True) + rrset_wire(owner, rrset.rtype, rrset.rclass,
                                                    sig.original_ttl, canonical)
