"""NSEC denial-of-existence proofs (RFC 4035 s5.4, RFC 6840 s4.1, s4.3, s4.4).

Each ``prove_*`` function takes the NSEC RRsets of a response, already verified and
signed by *zone*, and returns a :class:`~resolver.dnssec.denial.DenialResult`.

An NSEC record at owner O with next name N says: no name exists strictly between O and
N in canonical order (RFC 4034 s6.1), and O holds exactly the types in its bitmap. The
last NSEC of a zone wraps around: its next name is the apex.

Guards (each one a known way to forge a denial from genuine records):

- the owner and the next name must lie inside the zone, and a wrap-around NSEC must
  point back to the apex exactly (BIND CVE-2026-13321 class);
- an NSEC with NS set and SOA clear comes from the parent side of a zone cut: it proves
  nothing about names below its owner, and at its owner it proves only the absence of
  DS (RFC 6840 s4.1, RFC 4035 s5.4);
- an NSEC with DNAME set proves nothing about names below its owner (RFC 6840 s4.1);
- an NSEC synthesised from a wildcard (RRSIG labels below the owner's label count) or
  signed by another zone is ignored (CVE-2017-15105);
- a NODATA proof needs the CNAME bit clear too (RFC 6840 s4.3), and a DS denial must
  come from the parent: an NSEC with SOA set is the child's apex (RFC 6840 s4.4).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeAlias

from ..lru import Lru
from ..wire.name import Name
from ..wire.rdata import NSEC, RdataError, decode
from ..wire.rrset import RRset
from ..wire.types import RRType, type_to_text
from .denial import (
    DenialKind,
    DenialResult,
    Steps,
    denied,
    missing_problem,
    nodata_problem,
    signature_problem,
    type_list,
)
from .status import Problem, Verdict

_NS = RRType.NS
_SOA = RRType.SOA
_DS = RRType.DS
_DNAME = RRType.DNAME


@dataclass(frozen=True, slots=True)
class _Nsec:
    """One usable NSEC record."""

    owner: Name
    next: Name
    types: frozenset[int]

    @property
    def parent_side(self) -> bool:
        """NS without SOA: the delegation NSEC of the parent zone."""
        return _NS in self.types and _SOA not in self.types

    @property
    def text(self) -> str:
        return f"NSEC {self.owner} -> {self.next} [{type_list(self.types)}]"

    def covers(self, name: Name) -> bool:
        """True when *name* sorts strictly between owner and next (RFC 4035 s5.4),
        wrapping around at the last NSEC of the zone."""
        if self.owner < self.next:
            return self.owner < name < self.next
        # the last NSEC: its next name is the apex, the first name of the zone
        return name > self.owner or name < self.next

    def blocks(self, name: Name) -> str | None:
        """Why this NSEC must not be used to deny *name*, or None (RFC 6840 s4.1)."""
        if not name.is_strict_subdomain(self.owner):
            return None
        if self.parent_side:
            return f"{self.text} is from the parent side of a zone cut; {name} is below it"
        if _DNAME in self.types:
            return f"{self.text} has DNAME set; {name} is below it"
        return None


# --------------------------------------------------------------------------
# collecting the records

def _usable(rrset: RRset, zone: Name, steps: Steps) -> _Nsec | None:
    """The NSEC of *rrset* if it may serve in a proof for *zone*, else None."""
    owner = rrset.name
    if not owner.is_subdomain(zone):
        if steps.explain:
            steps.append(f"ignored the NSEC at {owner}: the owner is outside {zone}")
        return None
    problem = signature_problem(rrset, zone)
    if problem is not None:
        if steps.explain:
            steps.append(f"ignored the NSEC at {owner}: {problem}")
        return None
    if len(rrset.rdatas) != 1:
        if steps.explain:
            steps.append(f"ignored the NSEC at {owner}: it has {len(rrset.rdatas)} records, not 1")
        return None
    try:
        rd = decode(RRType.NSEC, rrset.rdatas[0])
    except RdataError as exc:
        if steps.explain:
            steps.append(f"ignored the NSEC at {owner}: malformed ({exc})")
        return None
    assert isinstance(rd, NSEC)
    if not rd.next.is_subdomain(zone):
        if steps.explain:
            steps.append(f"ignored the NSEC at {owner}: its next name {rd.next} is outside {zone}")
        return None
    if rd.next <= owner and rd.next != zone:
        if steps.explain:
            steps.append(f"ignored the NSEC at {owner}: it wraps around to {rd.next}, "
                         f"not to the apex {zone}")
        return None
    return _Nsec(owner, rd.next, rd.types)


# The same NSEC records come back with every wildcard answer and denial of a zone:
# their decoded, usable form is kept by the caller (the dnssec modules keep no state).
NsecMemo: TypeAlias = Lru[tuple[bytes, bytes, tuple[bytes, ...], tuple[bytes, ...]], _Nsec]
NSEC_MEMO_SIZE = 4096


def nsec_memo(size: int = NSEC_MEMO_SIZE) -> NsecMemo:
    """An empty memo of usable NSEC records for the proofs' ``memo`` argument (LRU)."""
    return Lru(size)


def _usable_memo(rrset: RRset, zone: Name, steps: Steps, memo: NsecMemo | None) -> _Nsec | None:
    """:func:`_usable` through *memo*: only usable records are kept (a refused one is
    judged, and traced, every time), keyed by everything the judgement reads."""
    if memo is None:
        return _usable(rrset, zone, steps)
    key = (zone.key, rrset.name.key, tuple(rrset.rdatas), tuple(rrset.sigs))
    known = memo.use(key)
    if known is not None:
        return known
    nsec = _usable(rrset, zone, steps)
    if nsec is not None:
        memo[key] = nsec
    return nsec


def _collect(rrsets: Iterable[RRset], zone: Name, steps: Steps,
             memo: NsecMemo | None = None) -> list[_Nsec]:
    out = []
    for rs in rrsets:
        if rs.rtype != RRType.NSEC:
            continue
        nsec = _usable_memo(rs, zone, steps, memo)
        if nsec is not None:
            out.append(nsec)
    return out


def _matching(nsecs: list[_Nsec], name: Name) -> _Nsec | None:
    for nsec in nsecs:
        if nsec.owner == name:
            return nsec
    return None


def _covering(nsecs: list[_Nsec], name: Name, steps: Steps) -> _Nsec | None:
    """An NSEC that covers *name* and may deny it; guard refusals are traced."""
    for nsec in nsecs:
        if not nsec.covers(name):
            continue
        reason = nsec.blocks(name)
        if reason is not None:
            if steps.explain:
                steps.append("refused: " + reason)
            continue
        return nsec
    return None


def _shows_existence(nsecs: list[_Nsec], name: Name) -> str | None:
    """A trace line when some NSEC shows that *name* exists: an NSEC at it, or an owner
    or next name below it (then *name* is at least an empty non-terminal)."""
    for nsec in nsecs:
        if nsec.owner == name:
            return f"{nsec.text} shows {name} exists"
        if nsec.owner.is_strict_subdomain(name) or nsec.next.is_strict_subdomain(name):
            return f"{nsec.text} shows {name} exists (as an empty non-terminal at least)"
    return None


def _closest_encloser(name: Name, nsec: _Nsec) -> Name:
    """The closest encloser of a *name* that *nsec* covers: the longer of its common
    ancestors with the owner and with the next name (RFC 4035 s5.4, RFC 4592 s3.3.1)."""
    a = name.common_ancestor(nsec.owner)
    b = name.common_ancestor(nsec.next)
    return a if len(a) >= len(b) else b


def _start(kind: DenialKind, qname: Name, zone: Name, rrsets: Iterable[RRset],
           explain: bool, memo: NsecMemo | None = None
           ) -> tuple[list[_Nsec], Steps, DenialResult | None]:
    steps = Steps(explain)
    if not qname.is_subdomain(zone):
        return [], steps, denied(kind, steps, Problem.NSEC_BAD_PROOF,
                                 f"{qname} is not in the zone {zone}")
    nsecs = _collect(rrsets, zone, steps, memo)
    if not nsecs:
        return [], steps, denied(kind, steps, missing_problem(kind), "no usable NSEC records")
    return nsecs, steps, None


def _secure(kind: DenialKind, steps: Steps, ce: Name | None = None) -> DenialResult:
    return DenialResult(Verdict.secure(), kind, ce, tuple(steps))


# --------------------------------------------------------------------------
# the proofs

def prove_nxdomain(qname: Name, zone: Name, rrsets: Iterable[RRset], *,
                   explain: bool = True, memo: NsecMemo | None = None) -> DenialResult:
    """Name error (RFC 4035 s5.4, s3.1.3.2): an NSEC covers QNAME, and an NSEC covers
    the wildcard at the closest encloser derived from the first one. Fails when QNAME
    has an NSEC of its own or is an empty non-terminal, or the wildcard exists."""
    kind = DenialKind.NXDOMAIN
    nsecs, steps, failed = _start(kind, qname, zone, rrsets, explain, memo)
    if failed is not None:
        return failed
    exists = _shows_existence(nsecs, qname)
    if exists is not None:
        return denied(kind, steps, Problem.NSEC_BAD_PROOF, exists)
    cover = _covering(nsecs, qname, steps)
    if cover is None:
        return denied(kind, steps, Problem.NSEC_MISSING, f"no NSEC covers {qname}")
    if steps.explain:
        steps.append(f"{cover.text} covers {qname}: the name does not exist")
    ce = _closest_encloser(qname, cover)
    if steps.explain:
        steps.append(f"closest encloser is {ce}")
    return _deny_wildcard(kind, nsecs, ce, steps)


def _deny_wildcard(kind: DenialKind, nsecs: list[_Nsec], ce: Name,
                   steps: Steps) -> DenialResult:
    wildcard = ce.prepend(b"*")
    own = _matching(nsecs, wildcard)
    if own is not None:
        return denied(kind, steps, Problem.NSEC_BAD_PROOF,
                      f"{own.text} shows the wildcard {wildcard} exists", ce)
    cover = _covering(nsecs, wildcard, steps)
    if cover is None:
        return denied(kind, steps, Problem.NSEC_MISSING,
                      f"no NSEC covers the wildcard {wildcard}", ce)
    if steps.explain:
        steps.append(f"{cover.text} covers {wildcard}: no wildcard could match")
    return _secure(kind, steps, ce)


def _nodata_at(nsec: _Nsec, name: Name, qtype: int, zone: Name) -> str | None:
    """Why the NSEC at *name* does not prove that *qtype* is absent there, or None."""
    return nodata_problem(nsec.text, nsec.types, name, qtype, zone, nsec.parent_side)


def prove_nodata(qname: Name, qtype: int, zone: Name, rrsets: Iterable[RRset], *,
                 explain: bool = True, memo: NsecMemo | None = None) -> DenialResult:
    """No data (RFC 4035 s5.4, s3.1.3.1, s3.1.3.4). One of:

    - an NSEC at QNAME whose bitmap lacks QTYPE and CNAME (kind NODATA), with the
      parent-side and DS rules of RFC 6840 s4.1/s4.4;
    - an NSEC covering QNAME whose next name is below QNAME: QNAME is an empty
      non-terminal (kind ENT_NODATA);
    - an NSEC covering QNAME and an NSEC at the wildcard of the closest encloser whose
      bitmap lacks QTYPE and CNAME (kind WILDCARD_NODATA).
    """
    kind = DenialKind.NODATA
    nsecs, steps, failed = _start(kind, qname, zone, rrsets, explain, memo)
    if failed is not None:
        return failed
    own = _matching(nsecs, qname)
    if own is not None:
        reason = _nodata_at(own, qname, qtype, zone)
        if reason is not None:
            return denied(kind, steps, Problem.NSEC_BAD_PROOF, reason)
        if steps.explain:
            steps.append(f"{own.text} matches {qname}: no {type_to_text(qtype)} and no CNAME")
        return _secure(kind, steps, qname)
    cover = _covering(nsecs, qname, steps)
    if cover is None:
        return denied(kind, steps, Problem.NSEC_MISSING,
                      f"no NSEC matches or covers {qname}")
    if cover.next.is_strict_subdomain(qname):
        if steps.explain:
            steps.append(f"{cover.text} covers {qname} and its next name is below it: "
                         f"{qname} is an empty non-terminal")
        return _secure(DenialKind.ENT_NODATA, steps, qname)
    return _wildcard_nodata(nsecs, qname, qtype, zone, cover, steps)


def _wildcard_nodata(nsecs: list[_Nsec], qname: Name, qtype: int, zone: Name, cover: _Nsec,
                     steps: Steps) -> DenialResult:
    kind = DenialKind.WILDCARD_NODATA
    if steps.explain:
        steps.append(f"{cover.text} covers {qname}: the name does not exist")
    ce = _closest_encloser(qname, cover)
    wildcard = ce.prepend(b"*")
    if steps.explain:
        steps.append(f"closest encloser is {ce}")
    match = _matching(nsecs, wildcard)
    if match is None:
        return denied(kind, steps, Problem.NSEC_MISSING,
                      f"no NSEC at {qname} or at the wildcard {wildcard}", ce)
    reason = _nodata_at(match, wildcard, qtype, zone)
    if reason is not None:
        return denied(kind, steps, Problem.NSEC_BAD_PROOF, reason, ce)
    if steps.explain:
        steps.append(f"{match.text} matches the wildcard {wildcard}: "
                     f"no {type_to_text(qtype)} and no CNAME")
    return _secure(kind, steps, ce)


def prove_wildcard(qname: Name, labels: int, zone: Name, rrsets: Iterable[RRset], *,
                   explain: bool = True, memo: NsecMemo | None = None) -> DenialResult:
    """A wildcard answer (RFC 4035 s5.3.4): the answer's RRSIG has *labels* labels,
    fewer than QNAME, so it was synthesised from ``*.<closest encloser>``, where the
    closest encloser is QNAME cut to *labels* labels. An NSEC must cover QNAME and
    derive that same closest encloser, which proves that the next closer name (and so
    QNAME) does not exist."""
    kind = DenialKind.WILDCARD
    nsecs, steps, failed = _start(kind, qname, zone, rrsets, explain, memo)
    if failed is not None:
        return failed
    if not len(zone) <= labels < qname.label_count:
        return denied(kind, steps, Problem.WILDCARD_UNPROVEN,
                      f"an RRSIG labels value of {labels} is not a wildcard expansion "
                      f"of {qname} in {zone}")
    ce = qname.ancestor(labels)
    next_closer = qname.ancestor(labels + 1)
    if steps.explain:
        steps.append(f"the answer was expanded from *.{ce}; next closer name is {next_closer}")
    for nsec in nsecs:
        if nsec.covers(qname) and nsec.blocks(qname) is None \
                and _closest_encloser(qname, nsec) == ce:
            if steps.explain:
                steps.append(f"{nsec.text} covers {next_closer}: {qname} does not exist exactly")
            return _secure(kind, steps, ce)
    return denied(kind, steps, Problem.WILDCARD_UNPROVEN,
                  f"no NSEC covers {next_closer} with closest encloser {ce}", ce)


def prove_no_ds(delegation: Name, zone: Name, rrsets: Iterable[RRset], *,
                explain: bool = True, memo: NsecMemo | None = None) -> DenialResult:
    """An insecure delegation (RFC 4035 s5.2, RFC 6840 s4.4): the parent's NSEC at the
    delegation has NS set and DS and SOA clear. SECURE means the absence of DS is
    proven, so the child zone is insecure. (For a DS query that may land on an empty
    non-terminal rather than a delegation, use :func:`prove_nodata` with DS.)"""
    kind = DenialKind.NO_DS
    nsecs, steps, failed = _start(kind, delegation, zone, rrsets, explain, memo)
    if failed is not None:
        return failed
    if not delegation.is_strict_subdomain(zone):
        return denied(kind, steps, Problem.NSEC_BAD_PROOF,
                      f"a DS at {delegation} must be denied by its parent zone, not {zone}")
    own = _matching(nsecs, delegation)
    if own is None:
        return denied(kind, steps, Problem.NSEC_MISSING, f"no NSEC at {delegation}")
    if _DS in own.types:
        return denied(kind, steps, Problem.NSEC_BAD_PROOF,
                      f"{own.text} shows {delegation} has DS: the delegation is signed")
    if _SOA in own.types:
        return denied(kind, steps, Problem.NSEC_BAD_PROOF,
                      f"{own.text} is a zone apex, not the parent's delegation NSEC")
    if _NS not in own.types:
        return denied(kind, steps, Problem.NSEC_BAD_PROOF,
                      f"{own.text} shows {delegation} is not a delegation (NS clear)")
    if steps.explain:
        steps.append(f"{own.text} matches {delegation}: NS set, DS and SOA clear, "
                     f"an insecure delegation")
    return _secure(kind, steps, delegation)


def usable_nsec(rrset: RRset, zone: Name) -> tuple[Name, Name, frozenset[int]] | None:
    """(owner, next name, types) of the NSEC of *rrset* when it may serve in a proof
    for *zone* (the guards of :func:`_usable`: signed by *zone*, not from a wildcard,
    owner and next name inside the zone), else None. For the aggressive use of cached
    NSEC records (RFC 8198), which finds candidates by owner and next name."""
    nsec = _usable(rrset, zone, Steps(False))
    return None if nsec is None else (nsec.owner, nsec.next, nsec.types)
