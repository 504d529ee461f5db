"""Guards of the NSEC and NSEC3 denial proofs (SECURITY.md s1 and s5), their limits,
and a cross-check against the NSEC/NSEC3 chains of the interop zones (signed by BIND
and ldns, tests/data/interop/)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dns.dnssec
import dns.name
import pytest

from resolver.config import ValidationLimits as Limits
from resolver.dnssec import nsec, nsec3
from resolver.dnssec.budget import Budget
from resolver.dnssec.denial import DenialKind, DenialResult, prove_denial
from resolver.dnssec.nsec3 import nsec3_hash
from resolver.dnssec.status import Problem, Security
from resolver.wire import rdata as rd
from resolver.wire.message import RR
from resolver.wire.name import Name, name
from resolver.wire.rrset import RRset, group
from resolver.wire.types import RRType, type_from_text
from tests.rfc import parse_line

ZONE = name("example.")
SALT = bytes.fromhex("aabbccdd")
INTEROP = Path(__file__).resolve().parent.parent / "data" / "interop" / "zones"


def _problem(result: DenialResult) -> Problem | None:
    return result.verdict.reason.problem if result.verdict.reason else None


def _bogus(result: DenialResult, problem: Problem | None = None) -> bool:
    return result.security == Security.BOGUS and (problem is None or _problem(result) == problem)


def _types(text: str) -> frozenset[int]:
    return frozenset(type_from_text(t) for t in text.split())


# --------------------------------------------------------------------------
# building records

def nsec_rr(owner: str, next_name: str, types: str, sig: str | None = None) -> RRset:
    """An NSEC RRset; *sig* is ``"signer labels"`` for an attached (dummy) RRSIG."""
    data = rd.NSEC(name(next_name), _types(types)).to_wire()
    rrset = RRset(name(owner), RRType.NSEC, 1, 3600, [data])
    if sig is not None:
        rrset.add_sig(_rrsig(RRType.NSEC, sig))
    return rrset


def _rrsig(covered: int, sig: str) -> bytes:
    signer, labels = sig.split()
    return rd.RRSIG(covered, 13, int(labels), 3600, 2000000000, 1000000000, 1,
                    name(signer), b"\x00" * 64).to_wire()


def _h(owner: str | Name, salt: bytes = SALT, iterations: int = 0) -> bytes:
    return nsec3_hash(owner if isinstance(owner, Name) else name(owner), salt, iterations)


def nsec3_chain(zone: str, nodes: dict[str, str], *, salt: bytes = SALT, iterations: int = 0,
                flags: int = 0, algorithm: int = 1) -> dict[str, RRset]:
    """The NSEC3 chain of a zone with *nodes* (name -> type list), keyed by name."""
    origin = name(zone)
    hashed = sorted((_h(n, salt, iterations), n) for n in nodes)
    out = {}
    for i, (h, owner) in enumerate(hashed):
        nxt = hashed[(i + 1) % len(hashed)][0]
        data = rd.NSEC3(algorithm, flags, iterations, salt, nxt, _types(nodes[owner])).to_wire()
        label = rd.b32hex_encode(h).encode()
        out[owner] = RRset(origin.prepend(label), RRType.NSEC3, 1, 3600, [data])
    return out


# A small NSEC3 zone: apex, a host, a signed and an unsigned delegation, an empty
# non-terminal (ent) above a host, a wildcard and a DNAME.
NODES = {
    "example.": "NS SOA RRSIG DNSKEY NSEC3PARAM",
    "www.example.": "A RRSIG",
    "signed.example.": "NS DS RRSIG",
    "unsigned.example.": "NS",
    "ent.example.": "",
    "a.ent.example.": "A RRSIG",
    "*.wild.example.": "A RRSIG",
    "wild.example.": "",
    "dn.example.": "DNAME RRSIG",
}


def chain(*, salt: bytes = SALT, iterations: int = 0, flags: int = 0,
          algorithm: int = 1) -> dict[str, RRset]:
    return nsec3_chain("example.", NODES, salt=salt, iterations=iterations, flags=flags,
                       algorithm=algorithm)


def pick(records: dict[str, RRset], *names: str) -> list[RRset]:
    return [records[n] for n in names]


# --------------------------------------------------------------------------
# NSEC guards

def test_nsec_parent_side_proves_only_ds() -> None:
    deleg = nsec_rr("b.example.", "c.example.", "NS RRSIG NSEC")
    assert nsec.prove_nodata(name("b.example."), RRType.DS, ZONE, [deleg]).secure
    assert nsec.prove_no_ds(name("b.example."), ZONE, [deleg]).secure
    for qtype in (RRType.A, RRType.MX, RRType.DNSKEY, RRType.SOA):
        result = nsec.prove_nodata(name("b.example."), qtype, ZONE, [deleg])
        assert _bogus(result, Problem.NSEC_BAD_PROOF), qtype


def test_nsec_parent_side_cannot_deny_names_below_the_cut() -> None:
    deleg = nsec_rr("b.example.", "c.example.", "NS RRSIG NSEC")
    apex = nsec_rr("example.", "a.example.", "NS SOA RRSIG NSEC DNSKEY")
    result = nsec.prove_nxdomain(name("www.b.example."), ZONE, [deleg, apex])
    assert _bogus(result)
    assert any("parent side" in s for s in result.steps)
    # a name after the delegation's subtree is fine
    assert nsec.prove_nxdomain(name("bb.example."), ZONE, [deleg, apex]).secure


def test_nsec_parent_side_nsec_with_ds_still_blocks_below() -> None:
    deleg = nsec_rr("b.example.", "c.example.", "NS DS RRSIG NSEC")
    apex = nsec_rr("example.", "a.example.", "NS SOA RRSIG NSEC DNSKEY")
    assert _bogus(nsec.prove_nxdomain(name("x.b.example."), ZONE, [deleg, apex]))


def test_nsec_dname_cannot_deny_names_below_it() -> None:
    dname = nsec_rr("d.example.", "e.example.", "DNAME RRSIG NSEC")
    apex = nsec_rr("example.", "a.example.", "NS SOA RRSIG NSEC DNSKEY")
    result = nsec.prove_nxdomain(name("x.d.example."), ZONE, [dname, apex])
    assert _bogus(result)
    assert any("DNAME" in s for s in result.steps)
    # NODATA at the DNAME owner itself is fine
    assert nsec.prove_nodata(name("d.example."), RRType.A, ZONE, [dname]).secure


def test_nsec_next_name_outside_the_zone_is_ignored() -> None:
    # BIND CVE-2026-13321 class: a next name in another zone would cover far too much
    wide = nsec_rr("a.example.", "zzz.other.", "A RRSIG NSEC")
    apex = nsec_rr("example.", "a.example.", "NS SOA RRSIG NSEC DNSKEY")
    result = nsec.prove_nxdomain(name("b.example."), ZONE, [wide, apex])
    assert _bogus(result, Problem.NSEC_MISSING)
    assert any("outside example." in s for s in result.steps)


def test_nsec_owner_outside_the_zone_is_ignored() -> None:
    other = nsec_rr("a.other.", "z.other.", "A RRSIG NSEC")
    assert _bogus(nsec.prove_nodata(name("a.other."), RRType.MX, ZONE, [other]))
    assert _bogus(nsec.prove_nxdomain(name("b.example."), ZONE, [other]))


def test_nsec_wrap_around() -> None:
    last = nsec_rr("m.example.", "example.", "A RRSIG NSEC")
    apex = nsec_rr("example.", "a.example.", "NS SOA RRSIG NSEC DNSKEY")
    assert nsec.prove_nxdomain(name("z.example."), ZONE, [last, apex]).secure
    assert nsec.prove_nxdomain(name("a.m.example."), ZONE, [last, apex]).secure
    # a wrap that does not point back to the apex is ignored
    bad = nsec_rr("m.example.", "b.example.", "A RRSIG NSEC")
    assert _bogus(nsec.prove_nxdomain(name("z.example."), ZONE, [bad, apex]))


def test_nsec_single_record_zone() -> None:
    only_apex = nsec_rr("example.", "example.", "NS SOA RRSIG NSEC DNSKEY")
    assert nsec.prove_nxdomain(name("any.example."), ZONE, [only_apex]).secure
    assert nsec.prove_nodata(ZONE, RRType.A, ZONE, [only_apex]).secure
    assert _bogus(nsec.prove_nxdomain(ZONE, ZONE, [only_apex]))


def test_nsec_cname_bit_blocks_nodata() -> None:
    # RFC 6840 s4.3
    alias = nsec_rr("c.example.", "d.example.", "CNAME RRSIG NSEC")
    assert _bogus(nsec.prove_nodata(name("c.example."), RRType.A, ZONE, [alias]),
                  Problem.NSEC_BAD_PROOF)


def test_nsec_empty_non_terminal_is_not_nxdomain() -> None:
    ent = nsec_rr("a.example.", "x.b.example.", "A RRSIG NSEC")
    apex = nsec_rr("example.", "a.example.", "NS SOA RRSIG NSEC DNSKEY")
    assert _bogus(nsec.prove_nxdomain(name("b.example."), ZONE, [ent, apex]))
    result = nsec.prove_nodata(name("b.example."), RRType.A, ZONE, [ent])
    assert result.secure and result.kind == DenialKind.ENT_NODATA


def test_nsec_qname_outside_the_zone() -> None:
    apex = nsec_rr("example.", "example.", "NS SOA RRSIG NSEC DNSKEY")
    assert _bogus(nsec.prove_nxdomain(name("www.other."), ZONE, [apex]))


def test_nsec_wildcard_expanded_record_is_ignored() -> None:
    """CVE-2017-15105: an NSEC synthesised from *.example. (RRSIG labels 1 at a two-label
    owner) does not sit where its owner says."""
    forged = nsec_rr("b.example.", "z.example.", "A RRSIG NSEC", sig="example. 1")
    apex = nsec_rr("example.", "a.example.", "NS SOA RRSIG NSEC DNSKEY", sig="example. 1")
    result = nsec.prove_nxdomain(name("c.example."), ZONE, [forged, apex])
    assert _bogus(result)
    assert any("wildcard expansion" in s for s in result.steps)
    genuine = nsec_rr("b.example.", "z.example.", "A RRSIG NSEC", sig="example. 2")
    assert nsec.prove_nxdomain(name("c.example."), ZONE, [genuine, apex]).secure


def test_nsec_from_another_signer_is_ignored() -> None:
    other = nsec_rr("b.example.", "z.example.", "A RRSIG NSEC", sig="sub.example. 2")
    result = nsec.prove_nodata(name("b.example."), RRType.MX, ZONE, [other])
    assert _bogus(result)
    assert any("not by example." in s for s in result.steps)


def test_nsec_rrset_with_two_records_is_ignored() -> None:
    rrset = nsec_rr("b.example.", "c.example.", "A RRSIG NSEC")
    rrset.add(rd.NSEC(name("z.example."), _types("A")).to_wire())
    assert _bogus(nsec.prove_nxdomain(name("d.example."), ZONE, [rrset]))


def test_nsec_wildcard_nodata_needs_the_cover() -> None:
    wild = nsec_rr("*.w.example.", "x.w.example.", "MX RRSIG NSEC")
    # the wildcard NSEC alone proves nothing for a name it does not cover
    assert _bogus(nsec.prove_nodata(name("z.w.example."), RRType.A, ZONE, [wild]))


def test_nsec_wildcard_answer_from_parent_side_nsec() -> None:
    deleg = nsec_rr("b.example.", "c.example.", "NS RRSIG NSEC")
    assert _bogus(nsec.prove_wildcard(name("x.b.example."), 1, ZONE, [deleg]))


def test_nsec_no_ds_at_the_apex_of_the_signer() -> None:
    apex = nsec_rr("example.", "a.example.", "NS SOA RRSIG NSEC DNSKEY")
    assert _bogus(nsec.prove_no_ds(ZONE, ZONE, [apex]))
    assert _bogus(nsec.prove_nodata(ZONE, RRType.DS, name("."), [apex]))


# --------------------------------------------------------------------------
# NSEC3 guards

def test_nsec3_nxdomain_and_nodata_on_the_small_zone() -> None:
    records = chain()
    result = nsec3.prove_nxdomain(name("nope.example."), ZONE, records.values(),
                                  Limits(nsec3_records=16))
    assert result.secure, result.describe()
    assert nsec3.prove_nodata(name("www.example."), RRType.MX, ZONE,
                              pick(records, "www.example.")).secure


def _nx_proof(records: dict[str, RRset], qname: str) -> list[RRset]:
    """The records a server would send for an NXDOMAIN of *qname* (closest encloser
    match, next closer cover, wildcard cover)."""
    by_hash = sorted(records.values(), key=lambda rs: rs.name.labels[0].lower())
    q = name(qname)
    depth = len(q)
    while q.ancestor(depth - 1).to_text() not in records:
        depth -= 1
    ce = q.ancestor(depth - 1)
    wanted = [records[ce.to_text()]]
    for target in (q.ancestor(depth), ce.prepend(b"*")):
        h = rd.b32hex_encode(_h(target)).encode()
        before = [rs for rs in by_hash if rs.name.labels[0].lower() < h]
        wanted.append(before[-1] if before else by_hash[-1])
    return wanted


def test_nsec3_unknown_algorithm_and_flags_are_ignored() -> None:
    for records in (chain(algorithm=2), chain(flags=2), chain(flags=0x81)):
        result = nsec3.prove_nodata(name("www.example."), RRType.MX, ZONE,
                                    pick(records, "www.example."))
        assert _bogus(result, Problem.NSEC_MISSING), result.describe()
        assert any("RFC 5155 s8.1-8.2" in s for s in result.steps)


def test_nsec3_mixed_parameters() -> None:
    a = chain()
    b = chain(salt=b"\x01")
    rrsets = [a["example."], b["www.example."]]
    assert _bogus(nsec3.prove_nodata(name("www.example."), RRType.MX, ZONE, rrsets),
                  Problem.NSEC_BAD_PROOF)


def test_nsec3_record_limit() -> None:
    records = list(chain().values())
    assert len(records) == 9
    limits = Limits()
    assert limits.nsec3_records == 8
    result = nsec3.prove_nxdomain(name("nope.example."), ZONE, records, limits)
    assert _bogus(result, Problem.TOO_MANY_NSEC3)
    # eight are considered
    proof = _nx_proof(chain(), "nope.example.")
    padded = proof + [rs for rs in records if rs not in proof][:8 - len(proof)]
    assert len(padded) == 8
    assert nsec3.prove_nxdomain(name("nope.example."), ZONE, padded, limits).secure


_Prove = Callable[[list[RRset], Limits, Budget], DenialResult]


@pytest.mark.parametrize("prove", [
    lambda rrsets, lim, b: nsec3.prove_nxdomain(name("nope.example."), ZONE, rrsets, lim, b),
    lambda rrsets, lim, b: nsec3.prove_nodata(name("www.example."), RRType.MX, ZONE, rrsets,
                                              lim, b),
    lambda rrsets, lim, b: nsec3.prove_nodata(name("x.wild.example."), RRType.MX, ZONE,
                                              rrsets, lim, b),
    lambda rrsets, lim, b: nsec3.prove_wildcard(name("x.wild.example."), 2, ZONE, rrsets,
                                                lim, b),
    lambda rrsets, lim, b: nsec3.prove_no_ds(name("unsigned.example."), ZONE, rrsets, lim,
                                             b),
])
def test_nsec3_iterations_above_the_limit_are_insecure_everywhere(prove: _Prove) -> None:
    """RFC 9276 s3.2 and BIND CVE-2026-1519: on every path, before any hash."""
    limits = Limits(nsec3_records=16)
    records = list(chain(iterations=51).values())
    budget = Budget(limits)
    result = prove(records, limits, budget)
    assert result.security == Security.INSECURE
    assert _problem(result) == Problem.NSEC3_ITERATIONS
    assert budget.used_hashes == 0
    # at the limit the proof runs
    at_limit = prove(list(chain(iterations=50).values()), limits, Budget(limits))
    assert at_limit.security == Security.SECURE, at_limit.describe()


def test_nsec3_iterations_dispatcher() -> None:
    records = list(chain(iterations=200).values())
    result = prove_denial(DenialKind.NO_DS, name("unsigned.example."), RRType.DS, ZONE,
                          records, Limits(nsec3_records=16))
    assert _problem(result) == Problem.NSEC3_ITERATIONS


def test_nsec3_hash_budget() -> None:
    """CVE-2023-50868: one hash per label of a long QNAME; the budget stops it."""
    records = chain()
    qname = Name.from_text(".".join(["a"] * 100) + ".nope.example.")
    proof = _nx_proof(records, qname.to_text())
    small = Budget(hashes=20)
    result = nsec3.prove_nxdomain(qname, ZONE, proof, budget=small)
    assert _bogus(result, Problem.BUDGET_EXCEEDED)
    assert small.exhausted and small.used_hashes == 20
    # the default budget (600) pays for it: 102 names on the way up plus the wildcard
    budget = Budget()
    assert nsec3.prove_nxdomain(qname, ZONE, proof, budget=budget).secure
    assert budget.used_hashes == 103


def test_nsec3_hashes_are_not_repeated() -> None:
    budget = Budget()
    proof = _nx_proof(chain(), "nope.example.")
    assert nsec3.prove_nxdomain(name("nope.example."), ZONE, proof, budget=budget).secure
    assert budget.used_hashes == 3   # nope.example., example., *.example.


def test_nsec3_owner_must_be_one_label_below_the_zone() -> None:
    records = chain()
    rs = records["www.example."]
    deeper = RRset(Name.from_labels([rs.name.labels[0], b"x", b"example"]), RRType.NSEC3, 1,
                   3600, rs.rdatas)
    moved = RRset(Name.from_labels([rs.name.labels[0], b"other"]), RRType.NSEC3, 1, 3600,
                  rs.rdatas)
    for bad in (deeper, moved):
        result = nsec3.prove_nodata(name("www.example."), RRType.MX, ZONE, [bad])
        assert _bogus(result), bad
        assert any("not one hash label below example." in s for s in result.steps)


def test_nsec3_owner_label_must_be_a_hash() -> None:
    rs = chain()["www.example."]
    bad = RRset(name("not-a-hash.example."), RRType.NSEC3, 1, 3600, rs.rdatas)
    assert _bogus(nsec3.prove_nodata(name("www.example."), RRType.MX, ZONE, [bad]))


def test_nsec3_from_another_signer_is_ignored() -> None:
    rs = chain()["www.example."]
    rs.add_sig(_rrsig(RRType.NSEC3, "other. 2"))
    result = nsec3.prove_nodata(name("www.example."), RRType.MX, ZONE, [rs])
    assert _bogus(result)


def test_nsec3_closest_encloser_must_not_be_a_delegation() -> None:
    records = chain()
    for deleg in ("unsigned.example.", "signed.example."):
        proof = _nx_proof(records, "x." + deleg)
        assert proof[0] is records[deleg]
        result = nsec3.prove_nxdomain(name("x." + deleg), ZONE, proof)
        assert _bogus(result, Problem.NSEC_BAD_PROOF), deleg
        assert any("delegation point" in s for s in result.steps)


def test_nsec3_closest_encloser_must_not_be_a_dname() -> None:
    records = chain()
    proof = _nx_proof(records, "x.dn.example.")
    result = nsec3.prove_nxdomain(name("x.dn.example."), ZONE, proof)
    assert _bogus(result, Problem.NSEC_BAD_PROOF)
    assert any("DNAME" in s for s in result.steps)


def test_nsec3_parent_side_match_proves_only_ds() -> None:
    records = chain()
    rs = pick(records, "unsigned.example.")
    assert nsec3.prove_no_ds(name("unsigned.example."), ZONE, rs).secure
    assert nsec3.prove_nodata(name("unsigned.example."), RRType.DS, ZONE, rs).secure
    assert _bogus(nsec3.prove_nodata(name("unsigned.example."), RRType.A, ZONE, rs))
    # a signed delegation has DS
    assert _bogus(nsec3.prove_no_ds(name("signed.example."), ZONE,
                                    pick(records, "signed.example.")))


def test_nsec3_child_apex_cannot_deny_ds() -> None:
    records = chain()
    assert _bogus(nsec3.prove_nodata(ZONE, RRType.DS, ZONE, pick(records, "example.")))
    assert _bogus(nsec3.prove_no_ds(ZONE, ZONE, pick(records, "example.")))


def test_nsec3_cname_bit_blocks_nodata() -> None:
    records = nsec3_chain("example.", {"example.": "NS SOA", "c.example.": "CNAME RRSIG"})
    assert _bogus(nsec3.prove_nodata(name("c.example."), RRType.A, ZONE,
                                     pick(records, "c.example.")))


def test_nsec3_opt_out_is_never_secure() -> None:
    records = chain(flags=1)
    limits = Limits(nsec3_records=16)
    all_records = list(records.values())
    nx = nsec3.prove_nxdomain(name("nope.example."), ZONE, all_records, limits)
    assert nx.security == Security.INSECURE and _problem(nx) == Problem.OPT_OUT
    wc = nsec3.prove_wildcard(name("x.wild.example."), 2, ZONE, all_records, limits)
    assert wc.security == Security.INSECURE
    # a matching record proves NODATA without any span: opt-out does not matter there
    assert nsec3.prove_nodata(name("www.example."), RRType.MX, ZONE, all_records,
                              limits).secure
    # and an insecure delegation hidden in an opt-out span
    hidden = {k: v for k, v in nsec3_chain(
        "example.", {k: v for k, v in NODES.items() if k != "unsigned.example."},
        flags=1).items()}
    result = nsec3.prove_no_ds(name("unsigned.example."), ZONE, list(hidden.values()), limits)
    assert result.security == Security.INSECURE and _problem(result) == Problem.OPT_OUT


def test_nsec3_wildcard_match_is_not_nxdomain() -> None:
    records = chain()
    q = name("x.wild.example.")
    result = nsec3.prove_nxdomain(q, ZONE, list(records.values()), Limits(nsec3_records=16))
    assert _bogus(result, Problem.NSEC_BAD_PROOF)
    assert any("the wildcard *.wild.example. exists" in s for s in result.steps)
    nodata = nsec3.prove_nodata(q, RRType.MX, ZONE, list(records.values()),
                                Limits(nsec3_records=16))
    assert nodata.secure and nodata.kind == DenialKind.WILDCARD_NODATA


def test_nsec3_empty_non_terminal() -> None:
    records = chain()
    result = nsec3.prove_nodata(name("ent.example."), RRType.A, ZONE,
                                pick(records, "ent.example."))
    assert result.secure and result.kind == DenialKind.ENT_NODATA


def test_nsec3_hash_rejects_bad_iterations() -> None:
    with pytest.raises(ValueError, match="iterations 70000 out of range"):
        nsec3_hash(ZONE, b"", 70000)


def test_dispatcher_without_records() -> None:
    result = prove_denial(DenialKind.NXDOMAIN, name("x.example."), RRType.A, ZONE, [])
    assert _bogus(result, Problem.NSEC_MISSING)


# --------------------------------------------------------------------------
# cross-check against the interop zones (BIND and ldns signers)

def _zone(filename: str) -> tuple[Name, list[RR], list[RRset]]:
    """(origin, all records except NSEC/NSEC3 and RRSIG, the NSEC/NSEC3 RRsets with
    their RRSIGs) of an interop zone file."""
    path = INTEROP / filename
    records = []
    denial = []
    origin = None
    for line in path.read_text().splitlines():
        fields = line.split()
        if not fields or fields[0].startswith(";"):
            continue
        rtype = fields[3]
        if rtype == "SOA" and origin is None:
            origin = name(fields[0])
        if rtype in ("NSEC", "NSEC3") or (rtype == "RRSIG" and fields[4] in ("NSEC", "NSEC3")):
            rr = parse_line(line)
            assert rr is not None
            denial.append(rr)
        elif rtype != "RRSIG":
            records.append(RR(name(fields[0]), type_from_text(rtype), 1, 0, b""))
    assert origin is not None
    return origin, records, group(denial)


NSEC3_ZONES = [
    ("ecdsa256.test.db", b"", 0),
    ("rsasha512.test.db", SALT, 10),
    ("example.db", b"", 0),
    ("ecdsa384.test.db", b"", 0),
]


@pytest.mark.parametrize(("filename", "salt", "iterations"), NSEC3_ZONES)
def test_interop_hashes(filename: str, salt: bytes, iterations: int) -> None:
    """Every NSEC3 owner is the hash of a name of the zone (empty non-terminals
    included), and every authoritative owner name has its NSEC3 record."""
    origin, records, denial = _zone(filename)
    labels = {rs.name.labels[0].decode().lower() for rs in denial if rs.rtype == RRType.NSEC3}
    cuts = {rr.name for rr in records if rr.rtype == RRType.NS and rr.name != origin}
    owners = {rr.name for rr in records
              if not any(rr.name.is_strict_subdomain(cut) for cut in cuts)}
    candidates = set()
    for owner in owners:
        node = owner
        while node.is_subdomain(origin):
            candidates.add(node)
            if node == origin:
                break
            node = node.parent()
    hashes = {rd.b32hex_encode(nsec3_hash(n, salt, iterations)): n for n in candidates}
    assert labels <= set(hashes), labels - set(hashes)
    for owner in owners - cuts:
        assert rd.b32hex_encode(nsec3_hash(owner, salt, iterations)) in labels, owner
    # dnspython agrees on a few
    for owner in sorted(owners, key=lambda n: n.canonical_sort_key())[:5]:
        oracle = dns.dnssec.nsec3_hash(dns.name.from_text(owner.to_text()), salt, iterations, 1)
        assert oracle.lower() == rd.b32hex_encode(nsec3_hash(owner, salt, iterations))


FULL = Limits(nsec3_records=64)


def _denial(filename: str) -> tuple[Name, list[RRset]]:
    origin, _, denial = _zone(filename)
    return origin, denial


# (zone file, kind, qname, qtype, wildcard labels, expected security) from cases.txt
INTEROP_CASES = [
    ("example.db", DenialKind.NXDOMAIN, "nope.example.", "A", None, Security.SECURE),
    ("rsasha512.test.db", DenialKind.NXDOMAIN, "nope.rsasha512.test.", "A", None,
     Security.SECURE),
    ("rsasha512.test.db", DenialKind.NODATA, "www.rsasha512.test.", "TXT", None,
     Security.SECURE),
    ("rsasha512.test.db", DenialKind.NODATA, "ent.rsasha512.test.", "A", None, Security.SECURE),
    ("rsasha512.test.db", DenialKind.WILDCARD, "foo.wild.rsasha512.test.", "A", 3,
     Security.SECURE),
    ("ecdsa256.test.db", DenialKind.NXDOMAIN, "nope.ecdsa256.test.", "A", None, Security.SECURE),
    ("ecdsa256.test.db", DenialKind.NODATA, "www.ecdsa256.test.", "TXT", None, Security.SECURE),
    ("ecdsa256.test.db", DenialKind.NODATA, "ent.ecdsa256.test.", "A", None, Security.SECURE),
    ("ecdsa256.test.db", DenialKind.WILDCARD, "foo.wild.ecdsa256.test.", "A", 3,
     Security.SECURE),
    ("ecdsa256.test.db", DenialKind.NODATA, "foo.wild.ecdsa256.test.", "AAAA", None,
     Security.SECURE),
    ("ecdsa256.test.db", DenialKind.NO_DS, "sub.ecdsa256.test.", "DS", None, Security.SECURE),
    ("ecdsa384.test.db", DenialKind.NXDOMAIN, "nope.ecdsa384.test.", "A", None,
     Security.INSECURE),
    ("ecdsa384.test.db", DenialKind.NODATA, "www.ecdsa384.test.", "TXT", None, Security.SECURE),
    ("ecdsa384.test.db", DenialKind.WILDCARD, "foo.wild.ecdsa384.test.", "A", 3,
     Security.INSECURE),
    ("ecdsa384.test.db", DenialKind.NO_DS, "sub.ecdsa384.test.", "DS", None, Security.INSECURE),
    ("ecdsa384.test.db", DenialKind.NO_DS, "signed.ecdsa384.test.", "DS", None, Security.BOGUS),
    ("nsec3-iter200.test.db", DenialKind.NXDOMAIN, "nope.nsec3-iter200.test.", "A", None,
     Security.INSECURE),
    ("nsec3-iter200.test.db", DenialKind.NODATA, "www.nsec3-iter200.test.", "TXT", None,
     Security.INSECURE),
    ("rsasha256.test.db", DenialKind.NXDOMAIN, "nope.rsasha256.test.", "A", None,
     Security.SECURE),
    ("rsasha256.test.db", DenialKind.NO_DS, "sub.rsasha256.test.", "DS", None, Security.SECURE),
    ("test.db", DenialKind.NO_DS, "insecure.test.", "DS", None, Security.SECURE),
    ("test.db", DenialKind.NO_DS, "rsasha256.test.", "DS", None, Security.BOGUS),
]


@pytest.mark.parametrize(("filename", "kind", "qname", "qtype", "labels", "security"),
                         INTEROP_CASES)
def test_interop_denials(filename: str, kind: DenialKind, qname: str, qtype: str,
                         labels: int | None, security: Security) -> None:
    """The signed chains of real signers prove what tests/data/interop/cases.txt expects
    (the whole chain is passed, so the record limit is raised)."""
    origin, denial = _denial(filename)
    result = prove_denial(kind, name(qname), type_from_text(qtype), origin, denial, FULL,
                          Budget(FULL), wildcard_labels=labels)
    assert result.security == security, result.describe()
    if security == Security.INSECURE and filename.startswith("nsec3-iter200"):
        assert _problem(result) == Problem.NSEC3_ITERATIONS


def test_nsec_any_wildcard_rrsig_rules_the_record_out() -> None:
    # the caller may have verified the expanded RRSIG; a second, well-formed one is no excuse
    rrset = nsec_rr("b.example.", "z.example.", "A RRSIG NSEC", sig="example. 2")
    rrset.add_sig(_rrsig(RRType.NSEC, "example. 1"))
    assert _bogus(nsec.prove_nxdomain(name("c.example."), ZONE, [rrset]))
