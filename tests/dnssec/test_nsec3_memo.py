"""The NSEC3 proofs keep no state: the memo of decoded records is the caller's
(resolver.dnssec.nsec3.nsec3_memo, owned by the KeyFinder), bounded, and changes no
result."""

from __future__ import annotations

import pytest

from resolver.dnssec import nsec3
from resolver.dnssec.denial import DenialKind, prove_denial
from resolver.lru import Lru
from resolver.wire.name import name
from resolver.wire.types import RRType

from ..rfc import load

ZONE = name("example.")
QNAME = name("a.c.x.w.example.")
RECORDS = "rfc5155-b1-name-error.txt"


def test_the_module_holds_no_memo() -> None:
    mutable = [key for key, value in vars(nsec3).items()
               if isinstance(value, dict | list | set) and not key.startswith("__")]
    assert mutable == []


def test_memo_reuses_decoded_records_and_changes_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rrsets = load(RECORDS)
    plain = prove_denial(DenialKind.NXDOMAIN, QNAME, RRType.A, ZONE, rrsets)
    calls = []
    decode = nsec3._usable_uncached
    monkeypatch.setattr(nsec3, "_usable_uncached",
                        lambda *args: calls.append(args[0]) or decode(*args))
    memo = nsec3.nsec3_memo()
    first = prove_denial(DenialKind.NXDOMAIN, QNAME, RRType.A, ZONE, rrsets, nsec3_memo=memo)
    decoded = len(calls)
    nsec3_sets = [rs for rs in rrsets if rs.rtype == RRType.NSEC3]
    assert decoded == len(nsec3_sets) == len(memo)
    second = prove_denial(DenialKind.NXDOMAIN, QNAME, RRType.A, ZONE, rrsets, nsec3_memo=memo)
    assert len(calls) == decoded                      # every RRset from the memo
    for result in (first, second):
        assert result.verdict == plain.verdict and result.steps == plain.steps
    prove_denial(DenialKind.NXDOMAIN, QNAME, RRType.A, ZONE, rrsets)
    assert len(calls) == 2 * decoded                  # no memo given: nothing kept


def test_memo_is_bounded() -> None:
    memo = nsec3.nsec3_memo(1)
    assert isinstance(memo, Lru)
    nsec3.prove_nxdomain(QNAME, ZONE, load(RECORDS), memo=memo)
    assert len(memo) == 1 and memo.evictions >= 1
