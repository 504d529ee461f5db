"""RFC 4035 Appendix B: the NSEC example responses, each proven, and each failing with
a proof record taken away (or with the wrong record, after Unbound's testbound
``val_nx_nodeny``, ``val_nx_nowc``, ``val_nodata_*`` and ``val_nodatawc_*`` cases)."""

from __future__ import annotations

import pytest

from resolver.dnssec.denial import DenialKind, DenialResult, prove_denial
from resolver.dnssec.nsec import prove_no_ds, prove_nodata, prove_nxdomain, prove_wildcard
from resolver.dnssec.status import Problem, Security
from resolver.wire.name import name
from resolver.wire.rrset import RRset
from resolver.wire.types import RRType

from . import load, only, without

ZONE = name("example.")


def _bogus(result: DenialResult, problem: Problem | None = None) -> bool:
    if result.security != Security.BOGUS:
        return False
    return problem is None or (result.verdict.reason is not None
                               and result.verdict.reason.problem == problem)


def _zone_nsec(owner: str) -> RRset:
    """The NSEC RRset at *owner* in the Appendix A zone."""
    return next(rs for rs in only(load("rfc4035-a-zone.txt"), RRType.NSEC)
                if rs.name == name(owner))


# --------------------------------------------------------------------------
# B.2 name error: ml.example. A

B2 = "rfc4035-b2-name-error.txt"
QB2 = name("ml.example.")


def test_b2_name_error() -> None:
    result = prove_nxdomain(QB2, ZONE, load(B2))
    assert result.secure, result.describe()
    assert result.kind == DenialKind.NXDOMAIN
    assert result.closest_encloser == ZONE
    assert any("b.example." in s and "covers ml.example." in s for s in result.steps)
    assert any("covers *.example." in s for s in result.steps)


@pytest.mark.parametrize(("variant", "owner"), [
    ("noqname", "b.example."),   # covers ml.example.
    ("nowc", "example."),        # covers *.example.
])
def test_b2_variants_fail(variant: str, owner: str) -> None:
    result = prove_nxdomain(QB2, ZONE, without(load(B2), owner, RRType.NSEC))
    assert _bogus(result, Problem.NSEC_MISSING), (variant, result.describe())


@pytest.mark.parametrize("qname", ["b.example.", "ns1.example.", "w.example.", "y.w.example."])
def test_b2_records_do_not_deny_existing_names(qname: str) -> None:
    # the whole chain of the zone: existing names and empty non-terminals exist
    chain = only(load("rfc4035-a-zone.txt"), RRType.NSEC)
    assert _bogus(prove_nxdomain(name(qname), ZONE, chain))


def test_b2_parent_side_nsec_does_not_deny_names_below_the_cut() -> None:
    # b.example. NSEC (NS, no SOA) covers everything up to ns1.example., including the
    # child zone b.example. below the cut: RFC 6840 s4.1
    result = prove_nxdomain(name("mc.b.example."), ZONE, load(B2))
    assert _bogus(result)
    assert any("parent side" in s for s in result.steps)


# --------------------------------------------------------------------------
# B.3 no data: ns1.example. MX

B3 = "rfc4035-b3-no-data.txt"


def test_b3_no_data() -> None:
    result = prove_nodata(name("ns1.example."), RRType.MX, ZONE, load(B3))
    assert result.secure, result.describe()
    assert result.kind == DenialKind.NODATA


def test_b3_fails_without_the_nsec() -> None:
    rrsets = without(load(B3), "ns1.example.", RRType.NSEC)
    assert _bogus(prove_nodata(name("ns1.example."), RRType.MX, ZONE, rrsets),
                  Problem.NSEC_MISSING)


def test_b3_fails_for_a_present_type() -> None:
    # Unbound val_nodata_hasdata
    assert _bogus(prove_nodata(name("ns1.example."), RRType.A, ZONE, load(B3)),
                  Problem.NSEC_BAD_PROOF)


def test_b3_wrong_name() -> None:
    # the NSEC of ns1.example. says nothing of ns2.example. (it is its next name)
    assert _bogus(prove_nodata(name("ns2.example."), RRType.MX, ZONE, load(B3)))


# --------------------------------------------------------------------------
# B.4 referral to a signed zone: a.example. has DS, nothing to deny

def test_b4_signed_referral_has_nothing_to_deny() -> None:
    rrsets = load("rfc4035-b4-signed-referral.txt")
    assert any(rs.rtype == RRType.DS for rs in rrsets)
    assert _bogus(prove_no_ds(name("a.example."), ZONE, rrsets), Problem.NSEC_MISSING)
    # and the zone's own NSEC at a.example. shows the DS
    result = prove_no_ds(name("a.example."), ZONE, [_zone_nsec("a.example.")])
    assert _bogus(result, Problem.NSEC_BAD_PROOF)


# --------------------------------------------------------------------------
# B.5 referral to an unsigned zone: no DS at b.example.

B5 = "rfc4035-b5-unsigned-referral.txt"


def test_b5_unsigned_referral() -> None:
    result = prove_no_ds(name("b.example."), ZONE, load(B5))
    assert result.secure, result.describe()
    assert result.kind == DenialKind.NO_DS
    # the same NSEC answers a DS query at b.example.
    assert prove_nodata(name("b.example."), RRType.DS, ZONE, load(B5)).secure


def test_b5_fails_without_the_nsec() -> None:
    rrsets = without(load(B5), "b.example.", RRType.NSEC)
    assert _bogus(prove_no_ds(name("b.example."), ZONE, rrsets), Problem.NSEC_MISSING)


def test_b5_parent_side_nsec_denies_only_ds() -> None:
    # Unbound val_nodata_zonecut: the delegation NSEC cannot deny A at b.example.
    assert _bogus(prove_nodata(name("b.example."), RRType.A, ZONE, load(B5)))


@pytest.mark.parametrize("owner", ["ns1.example.", "example."])
def test_b5_not_a_delegation(owner: str) -> None:
    # NS clear (ns1.example.), or SOA set (the apex): not an insecure delegation
    result = prove_no_ds(name(owner), ZONE, [_zone_nsec(owner)])
    assert _bogus(result, Problem.NSEC_BAD_PROOF)


# --------------------------------------------------------------------------
# B.6 wildcard expansion: a.z.w.example. MX from *.w.example. (RRSIG labels 2)

B6 = "rfc4035-b6-wildcard.txt"
QWILD = name("a.z.w.example.")


def test_b6_wildcard_answer() -> None:
    result = prove_wildcard(QWILD, 2, ZONE, load(B6))
    assert result.secure, result.describe()
    assert result.kind == DenialKind.WILDCARD
    assert result.closest_encloser == name("w.example.")


def test_b6_fails_without_the_nsec() -> None:
    rrsets = without(load(B6), "x.y.w.example.", RRType.NSEC)
    assert _bogus(prove_wildcard(QWILD, 2, ZONE, rrsets), Problem.WILDCARD_UNPROVEN)


@pytest.mark.parametrize("labels", [0, 1, 3, 4])
def test_b6_wrong_labels_fail(labels: int) -> None:
    # 3: expanded from *.z.w.example., but the NSEC's closest encloser is w.example.;
    # 4: not an expansion; 1 and 0: a wildcard at or above the apex
    assert _bogus(prove_wildcard(QWILD, labels, ZONE, load(B6))), labels


def test_b6_wrong_nsec() -> None:
    # an NSEC that does not cover the next closer name z.w.example.
    assert _bogus(prove_wildcard(QWILD, 2, ZONE, [_zone_nsec("x.w.example.")]))


# --------------------------------------------------------------------------
# B.7 wildcard no data: a.z.w.example. AAAA

B7 = "rfc4035-b7-wildcard-no-data.txt"


def test_b7_wildcard_no_data() -> None:
    result = prove_nodata(QWILD, RRType.AAAA, ZONE, load(B7))
    assert result.secure, result.describe()
    assert result.kind == DenialKind.WILDCARD_NODATA
    assert result.closest_encloser == name("w.example.")


@pytest.mark.parametrize(("variant", "owner"), [
    ("noqname", "x.y.w.example."),   # covers a.z.w.example.
    ("nowc", "*.w.example."),        # matches the wildcard (Unbound val_nodatawc_nodeny)
])
def test_b7_variants_fail(variant: str, owner: str) -> None:
    rrsets = without(load(B7), owner, RRType.NSEC)
    assert _bogus(prove_nodata(QWILD, RRType.AAAA, ZONE, rrsets)), variant


def test_b7_type_at_the_wildcard() -> None:
    assert _bogus(prove_nodata(QWILD, RRType.MX, ZONE, load(B7)), Problem.NSEC_BAD_PROOF)


def test_b7_bad_closest_encloser() -> None:
    # Unbound val_nodatawc_badce: a wildcard NSEC that is not at the closest encloser
    rrsets = [_zone_nsec("x.y.w.example."), _zone_nsec("example.")]
    assert _bogus(prove_nodata(QWILD, RRType.AAAA, ZONE, rrsets))


def test_wildcard_nodata_with_one_nsec() -> None:
    # Unbound val_nodatawc_one: *.w.example. NSEC both covers a.w.example. and matches
    result = prove_nodata(name("a.w.example."), RRType.AAAA, ZONE, [_zone_nsec("*.w.example.")])
    assert result.secure and result.kind == DenialKind.WILDCARD_NODATA


def test_ent_no_data() -> None:
    # y.w.example. is an empty non-terminal: x.w.example. NSEC's next name is below it
    result = prove_nodata(name("y.w.example."), RRType.A, ZONE, [_zone_nsec("x.w.example.")])
    assert result.secure, result.describe()
    assert result.kind == DenialKind.ENT_NODATA


# --------------------------------------------------------------------------
# B.8 DS child zone no data: example. DS answered by the child

B8 = "rfc4035-b8-ds-child-no-data.txt"


def test_b8_child_cannot_deny_its_ds() -> None:
    result = prove_nodata(ZONE, RRType.DS, ZONE, load(B8))
    assert _bogus(result, Problem.NSEC_BAD_PROOF)
    assert _bogus(prove_no_ds(ZONE, ZONE, load(B8)))
    # even when the caller mistakes the signer for the parent, SOA gives it away
    assert _bogus(prove_nodata(ZONE, RRType.DS, name("."), load(B8)))


def test_b8_the_apex_nsec_does_deny_other_types() -> None:
    result = prove_nodata(ZONE, RRType.AAAA, ZONE, load(B8))
    assert result.secure


# --------------------------------------------------------------------------
# the dispatcher on the same responses

@pytest.mark.parametrize(("kind", "qname", "qtype", "filename", "security"), [
    (DenialKind.NXDOMAIN, "ml.example.", RRType.A, "rfc4035-b2-name-error.txt", Security.SECURE),
    (DenialKind.NODATA, "ns1.example.", RRType.MX, "rfc4035-b3-no-data.txt", Security.SECURE),
    (DenialKind.NO_DS, "a.example.", RRType.DS, "rfc4035-b4-signed-referral.txt",
     Security.BOGUS),
    (DenialKind.NO_DS, "b.example.", RRType.DS, "rfc4035-b5-unsigned-referral.txt",
     Security.SECURE),
    (DenialKind.NODATA, "a.z.w.example.", RRType.AAAA, "rfc4035-b7-wildcard-no-data.txt",
     Security.SECURE),
    (DenialKind.NODATA, "example.", RRType.DS, "rfc4035-b8-ds-child-no-data.txt",
     Security.BOGUS),
])
def test_dispatcher(kind: DenialKind, qname: str, qtype: int, filename: str,
                    security: Security) -> None:
    result = prove_denial(kind, name(qname), qtype, ZONE, load(filename))
    assert result.security == security, result.describe()


def test_dispatcher_wildcard() -> None:
    result = prove_denial(DenialKind.WILDCARD, QWILD, RRType.MX, ZONE, load(B6),
                          wildcard_labels=2)
    assert result.secure
