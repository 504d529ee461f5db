"""RFC 5155 Appendix A (example zone, hashes) and Appendix B (example responses).

Each Appendix B response must prove its denial, and each one with a proof record taken
away must not: the ``_noce`` (no closest encloser match), ``_nonc`` (no next closer
cover) and ``_nowc`` (no wildcard cover or match) variants, after Unbound's testbound
files ``val_nsec3_b*.rpl``.

Every NSEC3 record of the RFC's zone has the opt-out flag set, so the name error (B.1),
the wildcard answer (B.4) and the wildcard no-data (B.5) rest on an opt-out next closer
cover and are INSECURE (RFC 5155 s9.2; Unbound answers them without AD as well). The
same responses with the flag cleared are SECURE; the variants are run on both.
"""

from __future__ import annotations

import dns.dnssec
import dns.name
import pytest

from resolver.config import ValidationLimits as Limits
from resolver.dnssec.budget import Budget
from resolver.dnssec.denial import DenialKind, DenialResult, prove_denial
from resolver.dnssec.nsec3 import (
    nsec3_hash,
    prove_no_ds,
    prove_nodata,
    prove_nxdomain,
    prove_wildcard,
)
from resolver.dnssec.status import Problem, Security
from resolver.wire.name import Name, name
from resolver.wire.rdata import NSEC3, b32hex_encode
from resolver.wire.rrset import RRset
from resolver.wire.types import RRType

from . import DATA, clear_opt_out, load, only, read_records, without

ZONE = name("example.")
SALT = bytes.fromhex("aabbccdd")
ITERATIONS = 12


def _hash_list() -> list[tuple[str, str]]:
    pairs = []
    for line in (DATA / "rfc5155-a-hashes.txt").read_text().splitlines():
        line = line.split(";", 1)[0].strip()
        if line:
            owner, hashed = line.split()
            pairs.append((owner, hashed))
    return pairs


def _h(owner: str) -> str:
    return b32hex_encode(nsec3_hash(name(owner), SALT, ITERATIONS))


def _hashed(owner: str) -> str:
    """The owner name of the NSEC3 record for *owner*."""
    return f"{_h(owner)}.example."


def _insecure_opt_out(result: DenialResult) -> bool:
    return (result.security == Security.INSECURE and result.verdict.reason is not None
            and result.verdict.reason.problem == Problem.OPT_OUT)


def _bogus(result: DenialResult) -> bool:
    return result.security == Security.BOGUS


# --------------------------------------------------------------------------
# Appendix A

@pytest.mark.parametrize(("owner", "hashed"), _hash_list())
def test_appendix_a_hash(owner: str, hashed: str) -> None:
    assert _h(owner) == hashed
    # dnspython as an independent oracle
    oracle = dns.dnssec.nsec3_hash(dns.name.from_text(owner), SALT, ITERATIONS, 1)
    assert oracle.lower() == hashed


def test_hash_ignores_case() -> None:
    assert _h("X.W.Example.") == _h("x.w.example.") == "b4um86eghhds6nea196smvmlo4ors995"


def test_hash_takes_one_budget_unit_per_call() -> None:
    budget = Budget(hashes=2)
    nsec3_hash(name("example."), SALT, ITERATIONS, budget)
    nsec3_hash(name("a.example."), SALT, ITERATIONS, budget)
    assert budget.used_hashes == 2 and budget.hashes == 0


def _zone_names() -> tuple[set[Name], set[Name]]:
    """(authoritative names and empty non-terminals, names that must have no NSEC3)."""
    records = [rr for rr in read_records(DATA / "rfc5155-a-zone.txt")
               if rr.rtype != RRType.NSEC3]
    cuts = {rr.name for rr in records if rr.rtype == RRType.NS and rr.name != ZONE}
    names: set[Name] = set()
    for rr in records:
        if any(rr.name.is_strict_subdomain(cut) for cut in cuts):
            continue  # glue
        node = rr.name
        while node != ZONE:
            names.add(node)
            node = node.parent()
    names.add(ZONE)
    unsigned = {cut for cut in cuts
                if not any(rr.name == cut and rr.rtype == RRType.DS for rr in records)}
    return names, unsigned


def test_appendix_a_zone_chain() -> None:
    """The NSEC3 owners are exactly the hashes of the zone's names (empty non-terminals
    included), except the unsigned delegation c.example. in an opt-out span; the chain
    is one cycle through all of them."""
    chain = {rs.name.labels[0].decode(): rs for rs in only(load("rfc5155-a-zone.txt"),
                                                              RRType.NSEC3)}
    names, unsigned = _zone_names()
    assert unsigned == {name("c.example.")}
    expected = {_h(n.to_text()) for n in names} - {_h("c.example.")}
    assert set(chain) == expected
    hops = {}
    for owner, rs in chain.items():
        record = rs.data()[0]
        assert isinstance(record, NSEC3)
        hops[owner] = b32hex_encode(record.next)
    seen = []
    node = min(hops)
    while node not in seen:
        seen.append(node)
        node = hops[node]
    assert sorted(seen) == sorted(chain)


# --------------------------------------------------------------------------
# B.1 name error: a.c.x.w.example. A

B1 = "rfc5155-b1-name-error.txt"
QB1 = name("a.c.x.w.example.")


def test_b1_name_error_is_nxdomain_insecure() -> None:
    result = prove_nxdomain(QB1, ZONE, load(B1))
    assert _insecure_opt_out(result), result.describe()
    assert result.kind == DenialKind.NXDOMAIN
    assert result.closest_encloser == name("x.w.example.")
    assert any("covers the next closer name c.x.w.example." in s for s in result.steps)


def test_b1_name_error_secure_without_opt_out() -> None:
    result = prove_nxdomain(QB1, ZONE, clear_opt_out(load(B1)))
    assert result.secure, result.describe()
    assert result.closest_encloser == name("x.w.example.")


@pytest.mark.parametrize("opt_out", [True, False])
@pytest.mark.parametrize(("variant", "owner"), [
    ("noce", "x.w.example."),        # the closest encloser match
    ("nonc", "example."),            # 0p9m... covers the next closer c.x.w.example.
    ("nowc", "a.example."),          # 35mt... covers the wildcard *.x.w.example.
])
def test_b1_name_error_variants_fail(variant: str, owner: str, opt_out: bool) -> None:
    rrsets = without(load(B1), _hashed(owner))
    assert len(rrsets) == len(load(B1)) - 1
    if not opt_out:
        rrsets = clear_opt_out(rrsets)
    result = prove_nxdomain(QB1, ZONE, rrsets)
    assert _bogus(result), (variant, result.describe())


def test_b1_existing_name_is_not_nxdomain() -> None:
    # x.w.example. exists: its own NSEC3 is in the response
    result = prove_nxdomain(name("x.w.example."), ZONE, load(B1))
    assert _bogus(result)


# --------------------------------------------------------------------------
# B.2 no data: ns1.example. MX

B2 = "rfc5155-b2-no-data.txt"


def test_b2_no_data() -> None:
    result = prove_nodata(name("ns1.example."), RRType.MX, ZONE, load(B2))
    assert result.secure, result.describe()
    assert result.kind == DenialKind.NODATA


def test_b2_no_data_fails_without_the_match() -> None:
    rrsets = without(load(B2), _hashed("ns1.example."))
    result = prove_nodata(name("ns1.example."), RRType.MX, ZONE, rrsets)
    assert _bogus(result)
    assert result.verdict.reason is not None
    assert result.verdict.reason.problem == Problem.NSEC_MISSING


def test_b2_no_data_fails_for_a_present_type() -> None:
    assert _bogus(prove_nodata(name("ns1.example."), RRType.A, ZONE, load(B2)))


# --------------------------------------------------------------------------
# B.2.1 no data, empty non-terminal: y.w.example. A

B21 = "rfc5155-b21-no-data-ent.txt"


def test_b21_no_data_empty_non_terminal() -> None:
    result = prove_nodata(name("y.w.example."), RRType.A, ZONE, load(B21))
    assert result.secure, result.describe()
    assert result.kind == DenialKind.ENT_NODATA


def test_b21_fails_without_the_match() -> None:
    rrsets = without(load(B21), _hashed("y.w.example."))
    assert _bogus(prove_nodata(name("y.w.example."), RRType.A, ZONE, rrsets))


def test_b21_wrong_record() -> None:
    """Unbound val_nsec3_b21_nodataent_wr: the ENT's NSEC3 does not prove another name."""
    result = prove_nodata(name("x.y.w.example."), RRType.A, ZONE, load(B21))
    assert _bogus(result)


# --------------------------------------------------------------------------
# B.3 referral to an opt-out unsigned zone: mc.c.example. MX, delegation c.example.

B3 = "rfc5155-b3-optout-referral.txt"
DELEG = name("c.example.")


def test_b3_opt_out_referral_is_insecure() -> None:
    result = prove_no_ds(DELEG, ZONE, load(B3))
    assert _insecure_opt_out(result), result.describe()
    assert result.closest_encloser == ZONE
    # the same records answer a DS query for c.example. (s8.6)
    assert _insecure_opt_out(prove_nodata(DELEG, RRType.DS, ZONE, load(B3)))


@pytest.mark.parametrize(("variant", "owner"), [
    ("noce", "example."),      # 0p9m... matches the closest provable encloser
    ("nonc", "a.example."),    # 35mt... covers c.example.
])
def test_b3_variants_fail(variant: str, owner: str) -> None:
    rrsets = without(load(B3), _hashed(owner))
    assert _bogus(prove_no_ds(DELEG, ZONE, rrsets)), variant


def test_b3_without_opt_out_the_delegation_does_not_exist() -> None:
    # the next closer c.example. is covered by a span that is not opt-out: it is absent
    result = prove_no_ds(DELEG, ZONE, clear_opt_out(load(B3)))
    assert _bogus(result)


# --------------------------------------------------------------------------
# B.4 wildcard expansion: a.z.w.example. MX from *.w.example.

B4 = "rfc5155-b4-wildcard.txt"
QWILD = name("a.z.w.example.")


def _labels(rrsets: list[RRset]) -> int:
    answer = next(rs for rs in rrsets if rs.name == QWILD and rs.rtype == RRType.MX)
    return answer.signatures()[0].labels


def test_b4_wildcard_answer() -> None:
    rrsets = load(B4)
    labels = _labels(rrsets)
    assert labels == 2
    result = prove_wildcard(QWILD, labels, ZONE, rrsets)
    assert _insecure_opt_out(result), result.describe()
    assert result.closest_encloser == name("w.example.")
    secure = prove_wildcard(QWILD, labels, ZONE, clear_opt_out(rrsets))
    assert secure.secure and secure.kind == DenialKind.WILDCARD


@pytest.mark.parametrize("opt_out", [True, False])
def test_b4_nonc_fails(opt_out: bool) -> None:
    rrsets = without(load(B4), _hashed("ns2.example."))   # q04j... covers z.w.example.
    if not opt_out:
        rrsets = clear_opt_out(rrsets)
    result = prove_wildcard(QWILD, 2, ZONE, rrsets)
    assert _bogus(result)
    assert result.verdict.reason is not None
    assert result.verdict.reason.problem == Problem.WILDCARD_UNPROVEN


@pytest.mark.parametrize("labels", [1, 3, 4])
def test_b4_wrong_labels_fail(labels: int) -> None:
    """Unbound val_nsec3_b4_wild_wr: the cover must be for the next closer name that the
    RRSIG labels field implies; labels equal to QNAME's are no wildcard at all."""
    result = prove_wildcard(QWILD, labels, ZONE, clear_opt_out(load(B4)))
    assert _bogus(result), labels


# --------------------------------------------------------------------------
# B.5 wildcard no data: a.z.w.example. AAAA

B5 = "rfc5155-b5-wildcard-no-data.txt"


def test_b5_wildcard_no_data() -> None:
    result = prove_nodata(QWILD, RRType.AAAA, ZONE, load(B5))
    assert _insecure_opt_out(result), result.describe()
    assert result.kind == DenialKind.WILDCARD_NODATA
    assert result.closest_encloser == name("w.example.")
    secure = prove_nodata(QWILD, RRType.AAAA, ZONE, clear_opt_out(load(B5)))
    assert secure.secure and secure.kind == DenialKind.WILDCARD_NODATA


@pytest.mark.parametrize("opt_out", [True, False])
@pytest.mark.parametrize(("variant", "owner"), [
    ("noce", "w.example."),      # k8ud... matches the closest encloser
    ("nonc", "ns2.example."),    # q04j... covers z.w.example.
])
def test_b5_variants_fail(variant: str, owner: str, opt_out: bool) -> None:
    rrsets = without(load(B5), _hashed(owner))
    if not opt_out:
        rrsets = clear_opt_out(rrsets)
    assert _bogus(prove_nodata(QWILD, RRType.AAAA, ZONE, rrsets)), variant


def test_b5_nowc_fails() -> None:
    """Without the wildcard match the wildcard no-data is not proven. With opt-out the
    response still fits an unsigned delegation at z.w.example. (Unbound
    val_nsec3_b5_wcnodata_nowc answers it insecure, without AD): never SECURE and never a
    wildcard proof. Without opt-out it is BOGUS."""
    rrsets = without(load(B5), _hashed("*.w.example."))
    result = prove_nodata(QWILD, RRType.AAAA, ZONE, rrsets)
    assert _insecure_opt_out(result)
    assert result.kind != DenialKind.WILDCARD_NODATA
    assert _bogus(prove_nodata(QWILD, RRType.AAAA, ZONE, clear_opt_out(rrsets)))


def test_b5_type_at_the_wildcard_fails() -> None:
    # *.w.example. owns MX
    assert _bogus(prove_nodata(QWILD, RRType.MX, ZONE, clear_opt_out(load(B5))))


# --------------------------------------------------------------------------
# the dispatcher on the same responses

@pytest.mark.parametrize(("kind", "qname", "qtype", "filename", "security"), [
    (DenialKind.NXDOMAIN, "a.c.x.w.example.", RRType.A, B1, Security.INSECURE),
    (DenialKind.NODATA, "ns1.example.", RRType.MX, B2, Security.SECURE),
    (DenialKind.NODATA, "y.w.example.", RRType.A, B21, Security.SECURE),
    (DenialKind.NO_DS, "c.example.", RRType.DS, B3, Security.INSECURE),
    (DenialKind.NODATA, "a.z.w.example.", RRType.AAAA, B5, Security.INSECURE),
])
def test_dispatcher(kind: DenialKind, qname: str, qtype: int, filename: str,
                    security: Security) -> None:
    result = prove_denial(kind, name(qname), qtype, ZONE, load(filename), Limits(), Budget())
    assert result.security == security, result.describe()


def test_dispatcher_wildcard_needs_labels() -> None:
    with pytest.raises(ValueError, match="needs the RRSIG labels value"):
        prove_denial(DenialKind.WILDCARD, QWILD, RRType.MX, ZONE, load(B4))
    result = prove_denial(DenialKind.WILDCARD, QWILD, RRType.MX, ZONE, load(B4),
                          wildcard_labels=2)
    assert _insecure_opt_out(result)


# --------------------------------------------------------------------------
# proofs drawn from the whole chain of Appendix A

FULL = Limits(nsec3_records=64)


def _full_chain() -> list[RRset]:
    return clear_opt_out(only(load("rfc5155-a-zone.txt"), RRType.NSEC3))


@pytest.mark.parametrize("qname", ["nope.example.", "a.b.c.d.ns1.example.", "q.y.w.example.",
                                   "zzz.example.", "a.x.y.w.example."])
def test_full_chain_nxdomain(qname: str) -> None:
    result = prove_nxdomain(name(qname), ZONE, _full_chain(), FULL)
    assert result.secure, result.describe()


@pytest.mark.parametrize("qname", ["example.", "ns1.example.", "w.example.", "y.w.example.",
                                   "x.y.w.example.", "*.w.example."])
def test_full_chain_existing_names_are_not_nxdomain(qname: str) -> None:
    assert _bogus(prove_nxdomain(name(qname), ZONE, _full_chain(), FULL))


def test_full_chain_wildcard_blocks_nxdomain_below_w() -> None:
    # a.z.w.example. would match *.w.example.
    assert _bogus(prove_nxdomain(QWILD, ZONE, _full_chain(), FULL))


def test_full_chain_signed_delegation_has_ds() -> None:
    result = prove_no_ds(name("a.example."), ZONE, _full_chain(), FULL)
    assert _bogus(result)
