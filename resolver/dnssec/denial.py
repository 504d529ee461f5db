"""Authenticated denial of existence: the shared result type and the dispatcher.

The proofs themselves live in :mod:`resolver.dnssec.nsec` (RFC 4035 s5.4, RFC 6840 s4)
and :mod:`resolver.dnssec.nsec3` (RFC 5155 s8, RFC 9276). Both are pure functions over
NSEC/NSEC3 RRsets whose signatures the caller has already verified, signed by the zone
the caller names. Neither verifies signatures, does I/O or keeps state.

A proof yields a :class:`DenialResult`: a :class:`~resolver.dnssec.status.Verdict`, the
kind of denial that was (or was to be) proven, the closest encloser when one was
established, and ``steps``, plain-English lines naming which record proved what, for a
human-readable validation trace.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from ..config import ValidationLimits as Limits
from ..wire.name import Name
from ..wire.rrset import RRset
from ..wire.types import RRType, type_to_text
from .budget import Budget
from .status import Problem, Security, Verdict

if TYPE_CHECKING:      # nsec and nsec3 import this module
    from .nsec import NsecMemo
    from .nsec3 import Nsec3Memo

log = logging.getLogger(__name__)


class DenialKind(StrEnum):
    """What a denial proves. The first four are also the questions a caller can ask
    :func:`prove_denial`; a NODATA question may be answered with a more specific kind."""

    NXDOMAIN = "nxdomain"                 # the name does not exist (RFC 4035 s3.1.3.2)
    NODATA = "nodata"                     # the name exists without the type (s3.1.3.1)
    WILDCARD = "wildcard"                 # a wildcard answer: QNAME itself does not exist
    NO_DS = "no-ds"                       # a delegation without DS: an insecure child zone
    WILDCARD_NODATA = "wildcard-nodata"   # a wildcard matches, without the type (s3.1.3.4)
    ENT_NODATA = "ent-nodata"             # QNAME is an empty non-terminal


@dataclass(frozen=True, slots=True)
class DenialResult:
    """The outcome of one denial proof.

    ``verdict`` is SECURE when the denial is proven, INSECURE when it rests on an
    opt-out span or on NSEC3 parameters above the limit (RFC 5155 s9.2, RFC 9276 s3.2),
    and BOGUS when the records do not prove it. For NO_DS, SECURE means "proven: no DS
    at the delegation", after which the caller treats the child zone as insecure.
    """

    verdict: Verdict
    kind: DenialKind
    closest_encloser: Name | None = None
    steps: tuple[str, ...] = ()

    @property
    def security(self) -> Security:
        return self.verdict.security

    @property
    def secure(self) -> bool:
        return self.verdict.security == Security.SECURE

    def describe(self) -> str:
        """The verdict and the steps as one multi-line text."""
        lines = [f"{self.kind}: {self.verdict}"]
        lines.extend("  " + step for step in self.steps)
        return "\n".join(lines)


class Steps(list[str]):
    """The plain-words steps of a proof. Traces want them; an ordinary query does not,
    and building them (names rendered, hashes in base32) cost a tenth of a cold
    wildcard answer, so the proofs add a step only when *explain* is on
    (``if steps.explain: steps.append(...)``)."""

    __slots__ = ("explain",)

    def __init__(self, explain: bool = True) -> None:
        super().__init__()
        self.explain = explain


def denied(kind: DenialKind, steps: Sequence[str], problem: Problem, detail: str,
           closest_encloser: Name | None = None) -> DenialResult:
    """A BOGUS result: the records do not prove *kind*; *detail* becomes the last step."""
    log.debug("%s not proven (%s): %s", kind, problem.name, detail)
    return DenialResult(Verdict.bogus(problem, detail), kind, closest_encloser,
                        (*steps, "not proven: " + detail))


def missing_problem(kind: DenialKind) -> Problem:
    """The problem to report when the records needed for *kind* are absent."""
    return Problem.WILDCARD_UNPROVEN if kind == DenialKind.WILDCARD else Problem.NSEC_MISSING


def _types_present(rrsets: Iterable[RRset]) -> tuple[list[RRset], list[RRset]]:
    nsecs: list[RRset] = []
    nsec3s: list[RRset] = []
    for rs in rrsets:
        if rs.rtype == RRType.NSEC:
            nsecs.append(rs)
        elif rs.rtype == RRType.NSEC3:
            nsec3s.append(rs)
    return nsecs, nsec3s


def prove_denial(kind: DenialKind, qname: Name, qtype: int, zone: Name,
                 authority_rrsets: Iterable[RRset], limits: Limits | None = None,
                 budget: Budget | None = None, *,
                 wildcard_labels: int | None = None, explain: bool = True,
                 nsec3_memo: Nsec3Memo | None = None,
                 nsec_memo: NsecMemo | None = None) -> DenialResult:
    """Prove *kind* for (qname, qtype) from the NSEC or NSEC3 RRsets among
    *authority_rrsets* (other types are ignored), all signed by *zone*.

    - NXDOMAIN: QNAME does not exist and no wildcard could have matched.
    - NODATA (also WILDCARD_NODATA, ENT_NODATA): QNAME has no QTYPE; the result
      kind says whether an exact match, an empty non-terminal or a wildcard proved it.
    - WILDCARD: a wildcard answer whose RRSIG labels field is *wildcard_labels*
      (required); proves that QNAME does not exist exactly (RFC 4035 s5.3.4).
    - NO_DS: QNAME is a delegation in *zone* without DS (RFC 6840 s4.4, RFC 5155 s8.9).

    NSEC is used when the RRsets hold NSEC records, NSEC3 when they hold NSEC3 ones.
    A response with both (a zone changing its denial method) gets both tried and the
    stronger result is returned. *limits* and *budget* apply to NSEC3 only, as does
    *nsec3_memo*, the caller's memo of decoded NSEC3 RRsets (:func:`~.nsec3.nsec3_memo`;
    None: decode every time); *nsec_memo* the same for NSEC (:func:`~.nsec.nsec_memo`).
    Raises ValueError for WILDCARD without *wildcard_labels*. With *explain* off the
    result carries no steps (only the verdict, whose reason keeps the detail).
    """
    nsecs, nsec3s = _types_present(authority_rrsets)
    if not nsecs and not nsec3s:
        return denied(kind, (), missing_problem(kind), "no NSEC or NSEC3 records were given")
    results: list[DenialResult] = []
    if nsecs:
        results.append(_dispatch_nsec(kind, qname, qtype, zone, nsecs, wildcard_labels,
                                      explain, nsec_memo))
    if nsec3s and not (results and results[0].secure):
        results.append(_dispatch_nsec3(kind, qname, qtype, zone, nsec3s, limits,
                                       budget, wildcard_labels, explain, nsec3_memo))
    return max(results, key=lambda r: r.verdict.security)


def _wildcard_labels(labels: int | None) -> int:
    if labels is None:
        raise ValueError("a WILDCARD denial needs the RRSIG labels value")
    return labels


def _dispatch_nsec(kind: DenialKind, qname: Name, qtype: int, zone: Name,
                   rrsets: list[RRset], labels: int | None, explain: bool,
                   memo: NsecMemo | None = None) -> DenialResult:
    from . import nsec  # here, not at the top: nsec imports this module

    if kind == DenialKind.NXDOMAIN:
        return nsec.prove_nxdomain(qname, zone, rrsets, explain=explain, memo=memo)
    if kind == DenialKind.WILDCARD:
        return nsec.prove_wildcard(qname, _wildcard_labels(labels), zone, rrsets,
                                   explain=explain, memo=memo)
    if kind == DenialKind.NO_DS:
        return nsec.prove_no_ds(qname, zone, rrsets, explain=explain, memo=memo)
    return nsec.prove_nodata(qname, qtype, zone, rrsets, explain=explain, memo=memo)


def _dispatch_nsec3(kind: DenialKind, qname: Name, qtype: int, zone: Name,
                    rrsets: list[RRset], limits: Limits | None, budget: Budget | None,
                    labels: int | None, explain: bool,
                    memo: Nsec3Memo | None) -> DenialResult:
    from . import nsec3  # here, not at the top: nsec3 imports this module

    if kind == DenialKind.NXDOMAIN:
        return nsec3.prove_nxdomain(qname, zone, rrsets, limits, budget, explain=explain,
                                    memo=memo)
    if kind == DenialKind.WILDCARD:
        return nsec3.prove_wildcard(qname, _wildcard_labels(labels), zone, rrsets, limits,
                                    budget, explain=explain, memo=memo)
    if kind == DenialKind.NO_DS:
        return nsec3.prove_no_ds(qname, zone, rrsets, limits, budget, explain=explain,
                                 memo=memo)
    return nsec3.prove_nodata(qname, qtype, zone, rrsets, limits, budget, explain=explain,
                              memo=memo)


def signature_problem(rrset: RRset, zone: Name) -> str | None:
    """Why the RRSIGs attached to a denial RRset rule it out, or None.

    The caller verified the signatures; this only re-checks two fields that decide
    whether the record may serve as a proof at all. An RRset without attached RRSIGs is
    taken as the caller vouches for it. Otherwise every attached RRSIG must name *zone*
    as signer (RFC 4035 s5.3.1) and have a labels field equal to the owner's label
    count: fewer labels mean the record was synthesised from a wildcard, so its owner
    is not where the record really sits (CVE-2017-15105). Every one, not just one,
    because this function cannot tell which RRSIG the caller verified; genuine RRSIGs
    of one denial RRset never differ in these fields.
    """
    if not rrset.sigs:
        return None
    try:
        sigs = rrset.signatures()
    except ValueError:
        return "its RRSIG cannot be decoded"
    for sig in sigs:
        if sig.signer != zone:
            return f"it is signed by {sig.signer}, not by {zone}"
        if sig.labels != rrset.name.label_count:
            return f"its RRSIG labels field ({sig.labels}) shows a wildcard expansion"
    return None


def nodata_problem(text: str, types: frozenset[int], name: Name, qtype: int, zone: Name,
                   parent_side: bool) -> str | None:
    """Why the NSEC or NSEC3 record *text* matching *name* (bitmap *types*) does not
    prove that *qtype* is absent there, or None (RFC 4035 s5.4, RFC 5155 s8.5-8.6,
    RFC 6840 s4.1/s4.4). *parent_side*: the record sits at a zone cut (NS, no SOA)."""
    if qtype in types:
        return f"{text} shows {type_to_text(qtype)} exists at {name}"
    if RRType.CNAME in types:
        return f"{text} shows {name} is an alias (CNAME set)"
    if qtype == RRType.DS:
        if RRType.SOA in types and not name.is_root():
            return f"{text} is the child's apex; only the parent can deny DS"
        if name == zone and not name.is_root():
            return f"DS at {name} must be denied by the parent zone, not by {zone}"
        return None
    if parent_side:
        return (f"{text} is from the parent side of a zone cut; it denies only DS, "
                f"not {type_to_text(qtype)}")
    return None


def type_list(types: Iterable[int]) -> str:
    """Type mnemonics for a trace line, e.g. ``NS DS RRSIG``; ``(none)`` when empty."""
    names = [type_to_text(t) for t in sorted(types)]
    return " ".join(names) if names else "(none)"
