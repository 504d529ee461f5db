"""The NSEC proofs keep no state either: the memo of usable NSEC records is the
caller's (resolver.dnssec.nsec.nsec_memo, owned by the KeyFinder), bounded, keeps only
records that passed the guards, and changes no result."""

from __future__ import annotations

import pytest

from resolver.dnssec import nsec
from resolver.dnssec.denial import DenialKind, prove_denial
from resolver.dnssec.status import Security
from resolver.lru import Lru
from resolver.wire.name import name
from resolver.wire.rrset import RRset
from resolver.wire.types import RRType

from .test_nsec_guards import nsec_rr

ZONE = name("example.")


def _wildcard_proof() -> list[RRset]:
    # *.w.example. expanded for a.w.example.: the NSEC *.w -> z covers it
    return [nsec_rr("*.w.example.", "z.example.", "A RRSIG NSEC", "example. 2")]


def test_the_module_holds_no_memo() -> None:
    mutable = [key for key, value in vars(nsec).items()
               if isinstance(value, dict | list | set) and not key.startswith("__")]
    assert mutable == []


def test_memo_reuses_usable_records_and_changes_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rrsets = _wildcard_proof()
    qname = name("a.w.example.")
    plain = prove_denial(DenialKind.WILDCARD, qname, RRType.A, ZONE, rrsets,
                         wildcard_labels=2)
    assert plain.verdict.security == Security.SECURE
    calls = []
    usable = nsec._usable
    monkeypatch.setattr(nsec, "_usable", lambda *args: calls.append(args[0]) or usable(*args))
    memo = nsec.nsec_memo()
    results = []
    for other in ("a.w.example.", "b.w.example.", "c.w.example."):
        results.append(prove_denial(DenialKind.WILDCARD, name(other), RRType.A, ZONE, rrsets,
                                    wildcard_labels=2, nsec_memo=memo))
    assert len(calls) == 1 == len(memo)          # judged once, then from the memo
    assert results[0].verdict == plain.verdict and results[0].steps == plain.steps
    assert all(r.verdict == plain.verdict for r in results)
    calls.clear()
    prove_denial(DenialKind.WILDCARD, qname, RRType.A, ZONE, rrsets, wildcard_labels=2)
    assert len(calls) == 1                       # no memo given: judged again


def test_refused_records_are_not_kept() -> None:
    # an NSEC synthesised from a wildcard (RRSIG labels 2 under a 3-label owner) is
    # refused every time, with its step in the trace every time
    rrsets = [nsec_rr("a.w.example.", "z.example.", "A RRSIG NSEC", "example. 2")]
    memo = nsec.nsec_memo()
    for _ in range(2):
        result = prove_denial(DenialKind.NXDOMAIN, name("b.w.example."), RRType.A, ZONE,
                              rrsets, nsec_memo=memo)
        assert result.verdict.security == Security.BOGUS
        assert any("ignored the NSEC at a.w.example." in step for step in result.steps)
    assert len(memo) == 0


def test_memo_is_bounded() -> None:
    memo = nsec.nsec_memo(1)
    assert isinstance(memo, Lru)
    for zone_cut in ("x", "y"):
        rrsets = [nsec_rr(f"*.{zone_cut}.example.", "z.example.", "A RRSIG NSEC",
                          "example. 2")]
        nsec.prove_wildcard(name(f"a.{zone_cut}.example."), 2, ZONE, rrsets, memo=memo)
    assert len(memo) == 1 and memo.evictions >= 1
