"""NSEC3 denial-of-existence proofs (RFC 5155 s8, RFC 6840 s4.1, RFC 9276).

Glossary (RFC 5155 s1.3), the words the code below is written in:

hashed owner
    ``H(name)``: the iterated, salted SHA-1 of a name's lowercased wire form
    (s5). An NSEC3 record's owner is ``<base32hex H(name)>.<zone>``: exactly one label
    below the zone. Records are ordered by hash, so an NSEC3 says "no name whose hash
    lies strictly between my hashed owner and my next hashed owner exists", and a
    record *matches* a name whose hash equals its hashed owner.
closest encloser
    The longest existing ancestor of QNAME. Proven by an NSEC3 that matches it (s8.3).
next closer name
    The closest encloser with one more label of QNAME: the ancestor just below the
    closest encloser on the way to QNAME. It does not exist; an NSEC3 must *cover* its
    hash. Matching the closest encloser plus covering the next closer name is the
    "closest encloser proof".
opt-out
    Flag bit 0 of an NSEC3 (s3.1.2.1). Its span may hide unsigned delegations, so a
    cover by an opt-out NSEC3 proves only that no *signed* name lies there. Anything
    that rests on such a cover is INSECURE, never SECURE (s9.2); in particular an
    NXDOMAIN whose next closer name is covered by opt-out is "nxdomain-insecure".

Rules applied to every proof here:

- NSEC3 records with an unknown hash algorithm or flags other than 0/1 are ignored
  (s8.1, s8.2), as are records whose owner is not one hash label below the zone or
  whose RRSIG shows another signer or a wildcard expansion;
- more than ``limits.nsec3_records`` NSEC3 records: BOGUS, TOO_MANY_NSEC3;
- the usable records must share one parameter set (algorithm, iterations, salt);
- iterations above ``limits.nsec3_iterations``: INSECURE with NSEC3_ITERATIONS before
  any hashing (RFC 9276 s3.2; the caller has verified the signatures);
- every hash is taken from the caller's :class:`~resolver.dnssec.budget.Budget`, one
  unit per :func:`nsec3_hash` call; running out is BOGUS, BUDGET_EXCEEDED;
- the closest encloser must not be a delegation point (NS without SOA) or a DNAME
  owner (RFC 6840 s4.1).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeAlias

from ..config import ValidationLimits as Limits
from ..lru import Lru
from ..wire.name import Name
from ..wire.rdata import NSEC3, RdataError, b32hex_decode, b32hex_encode, decode
from ..wire.rrset import RRset
from ..wire.types import RRType, type_to_text
from .budget import Budget
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

SHA1 = 1               # the only NSEC3 hash algorithm (RFC 5155 s11)
SHA1_LENGTH = 20
MAX_ITERATIONS = 0xFFFF

_NS = RRType.NS
_SOA = RRType.SOA
_DS = RRType.DS
_DNAME = RRType.DNAME


class HashBudgetExceeded(Exception):
    """The :class:`Budget` passed to :func:`nsec3_hash` has no hash left. The proof
    functions turn it into a BOGUS verdict with Problem.BUDGET_EXCEEDED."""


def nsec3_hash(name: Name, salt: bytes, iterations: int, budget: Budget | None = None) -> bytes:
    """``IH(salt, name, iterations)`` of RFC 5155 s5: SHA-1 over the lowercased wire
    name and the salt, then *iterations* more times over the digest and the salt.
    Returns the raw 20-octet hash. Takes one unit from *budget* when one is given and
    raises :class:`HashBudgetExceeded` when none is left."""
    if not 0 <= iterations <= MAX_ITERATIONS:
        raise ValueError(f"NSEC3 iterations {iterations} out of range")
    if budget is not None and not budget.take_hashes(1):
        raise HashBudgetExceeded(f"no NSEC3 hash left for {name}")
    digest = hashlib.sha1(name.key + salt).digest()
    for _ in range(iterations):
        digest = hashlib.sha1(digest + salt).digest()
    return digest


# --------------------------------------------------------------------------
# records and the proof context

@dataclass(frozen=True, slots=True)
class _Rec:
    """One usable NSEC3 record: its owner, hashed owner and RDATA."""

    owner: Name
    hashed: bytes
    rd: NSEC3
    text: str = ""      # how traces name the record (made once, records are reused)

    @classmethod
    def of(cls, owner: Name, hashed: bytes, rd: NSEC3) -> _Rec:
        flags = " opt-out" if rd.opt_out else ""
        text = (f"NSEC3 {owner} -> {b32hex_encode(rd.next)}{flags} "
                f"[{type_list(rd.types)}]")
        return cls(owner, hashed, rd, text)

    @property
    def types(self) -> frozenset[int]:
        return self.rd.types

    @property
    def opt_out(self) -> bool:
        return self.rd.opt_out

    def covers(self, hashed: bytes) -> bool:
        """True when *hashed* lies strictly between the hashed owner and the next hashed
        owner, wrapping around at the last record of the chain (RFC 5155 s8.3)."""
        if self.hashed < self.rd.next:
            return self.hashed < hashed < self.rd.next
        return hashed > self.hashed or hashed < self.rd.next


class _Failure(Exception):
    """A proof step failed; carries the result to return."""

    def __init__(self, result: DenialResult) -> None:
        super().__init__(str(result.verdict))
        self.result = result


class _Proof:
    """The usable records of one response and the hashing, for one proof."""

    def __init__(self, kind: DenialKind, zone: Name, recs: list[_Rec], steps: Steps,
                 budget: Budget | None) -> None:
        self.kind = kind
        self.zone = zone
        self.recs = recs
        self.steps = steps
        self.budget = budget
        self.salt = recs[0].rd.salt
        self.iterations = recs[0].rd.iterations
        self._hashes: dict[bytes, bytes] = {}

    def fail(self, problem: Problem, detail: str, ce: Name | None = None) -> _Failure:
        return _Failure(denied(self.kind, self.steps, problem, detail, ce))

    def result(self, verdict: Verdict, kind: DenialKind | None = None,
               ce: Name | None = None) -> DenialResult:
        return DenialResult(verdict, kind or self.kind, ce, tuple(self.steps))

    def hash(self, name: Name) -> bytes:
        """H(name), computed once per proof and taken from the budget."""
        hashed = self._hashes.get(name.key)
        if hashed is None:
            try:
                hashed = nsec3_hash(name, self.salt, self.iterations, self.budget)
            except HashBudgetExceeded as exc:
                raise self.fail(Problem.BUDGET_EXCEEDED,
                                f"NSEC3 hash budget exhausted at {name}") from exc
            self._hashes[name.key] = hashed
        return hashed

    def match(self, name: Name) -> _Rec | None:
        hashed = self.hash(name)
        for rec in self.recs:
            if rec.hashed == hashed:
                return rec
        return None

    def cover(self, name: Name) -> _Rec | None:
        hashed = self.hash(name)
        for rec in self.recs:
            if rec.covers(hashed):
                return rec
        return None

    def hash_text(self, name: Name) -> str:
        return f"{name} (hash {b32hex_encode(self.hash(name))})"


# --------------------------------------------------------------------------
# collecting the records

def hashed_owner(owner: Name, zone: Name) -> bytes | None:
    """The hash in an owner exactly one label below *zone*, or None."""
    if owner.is_root() or owner.parent() != zone:
        return None
    try:
        hashed = b32hex_decode(owner.labels[0].decode("ascii"))
    except (UnicodeDecodeError, RdataError):
        return None
    return hashed if len(hashed) == SHA1_LENGTH else None


#: Decoded records of NSEC3 RRsets that were wholly usable, by (zone, owner, RDATA,
#: RRSIGs): the same NSEC3 records come back with many answers, and decoding them is
#: most of a proof's cost. This module keeps no state: the validator owns one (see
#: :func:`nsec3_memo`) and passes it to every proof as ``memo``.
Nsec3Memo: TypeAlias = Lru[tuple[bytes, bytes, tuple[bytes, ...], tuple[bytes, ...]],
                           list[_Rec]]
NSEC3_MEMO_SIZE = 4096


def nsec3_memo(size: int = NSEC3_MEMO_SIZE) -> Nsec3Memo:
    """An empty memo of decoded NSEC3 RRsets for the proofs' ``memo`` argument (LRU)."""
    return Lru(size)


def _usable(rrset: RRset, zone: Name, steps: Steps, memo: Nsec3Memo | None) -> list[_Rec]:
    if memo is None:
        return _usable_uncached(rrset, zone, steps)
    key = (zone.key, rrset.name.key, tuple(rrset.rdatas), tuple(rrset.sigs))
    known = memo.use(key)
    if known is not None:
        return known
    out = _usable_uncached(rrset, zone, steps)
    if out and len(out) == len(rrset.rdatas):     # nothing ignored: safe to reuse as is
        memo[key] = out
    return out


def _usable_uncached(rrset: RRset, zone: Name, steps: Steps) -> list[_Rec]:
    owner = rrset.name
    hashed = hashed_owner(owner, zone)
    if hashed is None:
        if steps.explain:
            steps.append(f"ignored the NSEC3 at {owner}: not one hash label below {zone}")
        return []
    problem = signature_problem(rrset, zone)
    if problem is not None:
        if steps.explain:
            steps.append(f"ignored the NSEC3 at {owner}: {problem}")
        return []
    out = []
    for data in rrset.rdatas:
        try:
            rd = decode(RRType.NSEC3, data)
        except RdataError as exc:
            if steps.explain:
                steps.append(f"ignored an NSEC3 at {owner}: malformed ({exc})")
            continue
        assert isinstance(rd, NSEC3)
        if rd.algorithm != SHA1 or rd.flags not in (0, 1) or len(rd.next) != SHA1_LENGTH:
            if steps.explain:
                steps.append(f"ignored an NSEC3 at {owner}: hash algorithm {rd.algorithm}, "
                             f"flags {rd.flags} (RFC 5155 s8.1-8.2)")
            continue
        out.append(_Rec.of(owner, hashed, rd))
    return out


def _begin(kind: DenialKind, qname: Name, zone: Name, rrsets: Iterable[RRset],
           limits: Limits | None, budget: Budget | None,
           explain: bool, memo: Nsec3Memo | None) -> _Proof | DenialResult:
    """Check the records against the limits; a _Proof to continue with, or the result."""
    limits = limits or (budget.limits if budget is not None else Limits())
    steps = Steps(explain)
    if not qname.is_subdomain(zone):
        return denied(kind, steps, Problem.NSEC_BAD_PROOF, f"{qname} is not in the zone {zone}")
    sets = [rs for rs in rrsets if rs.rtype == RRType.NSEC3]
    count = sum(len(rs.rdatas) for rs in sets)
    if count > limits.nsec3_records:
        return denied(kind, steps, Problem.TOO_MANY_NSEC3,
                      f"{count} NSEC3 records, more than the limit of {limits.nsec3_records}")
    recs = [rec for rs in sets for rec in _usable(rs, zone, steps, memo)]
    if not recs:
        return denied(kind, steps, missing_problem(kind), "no usable NSEC3 records")
    params = {(r.rd.algorithm, r.rd.iterations, r.rd.salt) for r in recs}
    if len(params) > 1:
        return denied(kind, steps, Problem.NSEC_BAD_PROOF,
                      f"the NSEC3 records use {len(params)} different parameter sets")
    iterations = recs[0].rd.iterations
    salt = recs[0].rd.salt.hex() or "-"
    if iterations > limits.nsec3_iterations:
        if steps.explain:
            steps.append(f"NSEC3 parameters: {iterations} iterations, salt {salt}")
        return DenialResult(
            Verdict.insecure(Problem.NSEC3_ITERATIONS,
                             f"{iterations} iterations, above the limit of "
                             f"{limits.nsec3_iterations}"),
            kind, None, (*steps, "treated as insecure: too many NSEC3 iterations (RFC 9276)"))
    if steps.explain:
        steps.append(f"NSEC3 parameters: SHA-1, {iterations} iterations, salt {salt}")
    return _Proof(kind, zone, recs, steps, budget)


def _run(kind: DenialKind, qname: Name, zone: Name, rrsets: Iterable[RRset],
         limits: Limits | None, budget: Budget | None, explain: bool,
         memo: Nsec3Memo | None, body: Callable[[_Proof], DenialResult]) -> DenialResult:
    """Prepare the records, then run *body*; a failed step becomes the result."""
    start = _begin(kind, qname, zone, rrsets, limits, budget, explain, memo)
    if isinstance(start, DenialResult):
        return start
    try:
        return body(start)
    except _Failure as failure:
        return failure.result


# --------------------------------------------------------------------------
# the closest encloser proof (RFC 5155 s8.3)

@dataclass(frozen=True, slots=True)
class _Encloser:
    name: Name
    match: _Rec | None  # None when only the cover was needed (s8.8)
    next_closer: Name
    cover: _Rec


def _closest_encloser(proof: _Proof, qname: Name) -> _Encloser:
    """Walk up from QNAME to the zone: the first ancestor with a matching NSEC3 is the
    closest encloser, and the ancestor one label longer must be covered (s8.3)."""
    for depth in range(len(qname), len(proof.zone) - 1, -1):
        name = qname.ancestor(depth)
        match = proof.match(name)
        if match is None:
            continue
        if depth == len(qname):
            raise proof.fail(Problem.NSEC_BAD_PROOF, f"{match.text} matches {qname}: it exists")
        _check_encloser(proof, name, match)
        if proof.steps.explain:
            proof.steps.append(f"{match.text} matches the closest encloser {name}")
        next_closer = qname.ancestor(depth + 1)
        cover = proof.cover(next_closer)
        if cover is None:
            raise proof.fail(Problem.NSEC_MISSING,
                             f"no NSEC3 covers the next closer name "
                             f"{proof.hash_text(next_closer)}", name)
        if proof.steps.explain:
            proof.steps.append(f"{cover.text} covers the next closer name "
                               f"{proof.hash_text(next_closer)}")
        return _Encloser(name, match, next_closer, cover)
    raise proof.fail(Problem.NSEC_MISSING, f"no NSEC3 matches any ancestor of {qname}")


def _check_encloser(proof: _Proof, name: Name, match: _Rec) -> None:
    """The closest encloser must not be a zone cut or a DNAME (RFC 6840 s4.1)."""
    if _NS in match.types and _SOA not in match.types:
        raise proof.fail(Problem.NSEC_BAD_PROOF,
                         f"{match.text}: the closest encloser {name} is a delegation point")
    if _DNAME in match.types:
        raise proof.fail(Problem.NSEC_BAD_PROOF,
                         f"{match.text}: the closest encloser {name} owns a DNAME")


def _opt_out_verdict(proof: _Proof, enc: _Encloser, what: str) -> Verdict:
    """SECURE, or INSECURE when the next closer cover is opt-out (RFC 5155 s9.2)."""
    if enc.cover.opt_out:
        if proof.steps.explain:
            proof.steps.append(f"the next closer cover is opt-out: {what} is insecure")
        return Verdict.insecure(Problem.OPT_OUT, f"{enc.next_closer} is in an opt-out span")
    return Verdict.secure()


# --------------------------------------------------------------------------
# the proofs

def _nxdomain(proof: _Proof, qname: Name) -> DenialResult:
    enc = _closest_encloser(proof, qname)
    wildcard = enc.name.prepend(b"*")
    match = proof.match(wildcard)
    if match is not None:
        raise proof.fail(Problem.NSEC_BAD_PROOF,
                         f"{match.text} shows the wildcard {wildcard} exists", enc.name)
    cover = proof.cover(wildcard)
    if cover is None:
        raise proof.fail(Problem.NSEC_MISSING,
                         f"no NSEC3 covers the wildcard {proof.hash_text(wildcard)}", enc.name)
    if proof.steps.explain:
        proof.steps.append(f"{cover.text} covers the wildcard {proof.hash_text(wildcard)}")
    return proof.result(_opt_out_verdict(proof, enc, "the name error"), ce=enc.name)


def prove_nxdomain(qname: Name, zone: Name, rrsets: Iterable[RRset],
                   limits: Limits | None = None, budget: Budget | None = None, *,
                   explain: bool = True, memo: Nsec3Memo | None = None) -> DenialResult:
    """Name error (RFC 5155 s8.4): a closest encloser proof for QNAME plus a cover of
    the wildcard at the closest encloser. INSECURE (OPT_OUT) when the next closer name
    is covered by an opt-out NSEC3: an unsigned delegation may exist there (s9.2)."""
    return _run(DenialKind.NXDOMAIN, qname, zone, rrsets, limits, budget, explain, memo,
                lambda proof: _nxdomain(proof, qname))


def _nodata_at(rec: _Rec, name: Name, qtype: int, zone: Name) -> str | None:
    """Why the NSEC3 matching *name* does not prove *qtype* absent there, or None."""
    return nodata_problem(rec.text, rec.types, name, qtype, zone,
                          _NS in rec.types and _SOA not in rec.types)


def _nodata(proof: _Proof, qname: Name, qtype: int) -> DenialResult:
    match = proof.match(qname)
    if match is not None:
        return _nodata_match(proof, qname, qtype, match)
    enc = _closest_encloser(proof, qname)
    if qtype == _DS:
        return _opt_out_only(proof, enc, qname, "the DS denial")
    wildcard = enc.name.prepend(b"*")
    match = proof.match(wildcard)
    if match is None:
        if proof.steps.explain:
            proof.steps.append(f"no NSEC3 matches {qname} or the wildcard "
                               f"{proof.hash_text(wildcard)}")
        return _opt_out_only(proof, enc, qname, "the NODATA")
    reason = _nodata_at(match, wildcard, qtype, proof.zone)
    if reason is not None:
        raise proof.fail(Problem.NSEC_BAD_PROOF, reason, enc.name)
    if proof.steps.explain:
        proof.steps.append(f"{match.text} matches the wildcard {proof.hash_text(wildcard)}: "
                           f"no {type_to_text(qtype)} and no CNAME")
    verdict = _opt_out_verdict(proof, enc, "the wildcard NODATA")
    return proof.result(verdict, DenialKind.WILDCARD_NODATA, enc.name)


def _nodata_match(proof: _Proof, qname: Name, qtype: int, match: _Rec) -> DenialResult:
    reason = _nodata_at(match, qname, qtype, proof.zone)
    if reason is not None:
        raise proof.fail(Problem.NSEC_BAD_PROOF, reason)
    if not match.types:
        if proof.steps.explain:
            proof.steps.append(f"{match.text} matches {proof.hash_text(qname)} with an empty "
                               f"bitmap: an empty non-terminal")
        return proof.result(Verdict.secure(), DenialKind.ENT_NODATA, qname)
    if proof.steps.explain:
        proof.steps.append(f"{match.text} matches {proof.hash_text(qname)}: "
                           f"no {type_to_text(qtype)} and no CNAME")
    return proof.result(Verdict.secure(), DenialKind.NODATA, qname)


def _opt_out_only(proof: _Proof, enc: _Encloser, name: Name, what: str) -> DenialResult:
    """Without a match, only an opt-out next closer cover can explain the answer: an
    unsigned delegation (or an empty non-terminal above one) may lie there (s8.6)."""
    if not enc.cover.opt_out:
        raise proof.fail(Problem.NSEC_BAD_PROOF,
                         f"{name} does not exist and the span covering {enc.next_closer} "
                         f"is not opt-out", enc.name)
    return proof.result(_opt_out_verdict(proof, enc, what), ce=enc.name)


def prove_nodata(qname: Name, qtype: int, zone: Name, rrsets: Iterable[RRset],
                 limits: Limits | None = None, budget: Budget | None = None, *,
                 explain: bool = True, memo: Nsec3Memo | None = None) -> DenialResult:
    """No data (RFC 5155 s8.5-s8.7). One of:

    - an NSEC3 matching QNAME whose bitmap lacks QTYPE and CNAME (kind NODATA; kind
      ENT_NODATA when the bitmap is empty), with the parent-side and DS rules;
    - a closest encloser proof plus an NSEC3 matching the wildcard at the closest
      encloser whose bitmap lacks QTYPE and CNAME (kind WILDCARD_NODATA, s8.7);
    - QTYPE DS, or no wildcard match, with a closest encloser proof whose next closer
      cover is opt-out: INSECURE, OPT_OUT (s8.6; an empty non-terminal above unsigned
      delegations has no NSEC3 under opt-out).
    Every proof through an opt-out next closer cover is INSECURE (s9.2).
    """
    return _run(DenialKind.NODATA, qname, zone, rrsets, limits, budget, explain, memo,
                lambda proof: _nodata(proof, qname, qtype))


def _wildcard(proof: _Proof, qname: Name, labels: int) -> DenialResult:
    if not len(proof.zone) <= labels < qname.label_count:
        raise proof.fail(Problem.WILDCARD_UNPROVEN,
                         f"an RRSIG labels value of {labels} is not a wildcard expansion "
                         f"of {qname} in {proof.zone}")
    ce = qname.ancestor(labels)
    next_closer = qname.ancestor(labels + 1)
    if proof.steps.explain:
        proof.steps.append(f"the answer was expanded from *.{ce}; next closer name is "
                           f"{next_closer}")
    cover = proof.cover(next_closer)
    if cover is None:
        raise proof.fail(Problem.WILDCARD_UNPROVEN,
                         f"no NSEC3 covers the next closer name {proof.hash_text(next_closer)}",
                         ce)
    if proof.steps.explain:
        proof.steps.append(f"{cover.text} covers the next closer name "
                           f"{proof.hash_text(next_closer)}: {qname} does not exist")
    enc = _Encloser(ce, None, next_closer, cover)
    return proof.result(_opt_out_verdict(proof, enc, "the wildcard answer"), ce=ce)


def prove_wildcard(qname: Name, labels: int, zone: Name, rrsets: Iterable[RRset],
                   limits: Limits | None = None, budget: Budget | None = None, *,
                   explain: bool = True, memo: Nsec3Memo | None = None) -> DenialResult:
    """A wildcard answer (RFC 5155 s8.8): the answer's RRSIG has *labels* labels, so
    the closest encloser is QNAME cut to *labels* labels; an NSEC3 must cover the next
    closer name. INSECURE when that cover is opt-out (s9.2)."""
    return _run(DenialKind.WILDCARD, qname, zone, rrsets, limits, budget, explain, memo,
                lambda proof: _wildcard(proof, qname, labels))


def _no_ds(proof: _Proof, name: Name) -> DenialResult:
    if not name.is_strict_subdomain(proof.zone):
        raise proof.fail(Problem.NSEC_BAD_PROOF,
                         f"a DS at {name} must be denied by its parent zone, not {proof.zone}")
    match = proof.match(name)
    if match is None:
        enc = _closest_encloser(proof, name)
        return _opt_out_only(proof, enc, name, "the delegation")
    if _DS in match.types or _SOA in match.types or _NS not in match.types:
        raise proof.fail(Problem.NSEC_BAD_PROOF,
                         f"{match.text} at {name} is not an unsigned delegation "
                         f"(needs NS set, DS and SOA clear)")
    if proof.steps.explain:
        proof.steps.append(f"{match.text} matches {proof.hash_text(name)}: NS set, DS and SOA "
                           f"clear, an insecure delegation")
    return proof.result(Verdict.secure(), ce=name)


def prove_no_ds(delegation: Name, zone: Name, rrsets: Iterable[RRset],
                limits: Limits | None = None, budget: Budget | None = None, *,
                explain: bool = True, memo: Nsec3Memo | None = None) -> DenialResult:
    """An insecure referral (RFC 5155 s8.9, RFC 6840 s4.4): an NSEC3 matching the
    delegation with NS set and DS and SOA clear (SECURE: no DS), or a closest encloser
    proof whose next closer cover is opt-out (INSECURE, OPT_OUT). Either way the child
    zone is insecure; BOGUS when neither holds."""
    return _run(DenialKind.NO_DS, delegation, zone, rrsets, limits, budget, explain, memo,
                lambda proof: _no_ds(proof, delegation))
