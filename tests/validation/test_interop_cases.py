"""Issue 5, done-when 1: all 109 cases of tests/data/interop/cases.txt, end to end.

The interop hierarchy (signed by BIND and ldns, not by us) is served by the test
network; the resolver walks it from the root hints with the root DS as its trust
anchor, validation time pinned to 2026-11-28T16:00:00Z (TTLs use the real clock).
Each case checks the rcode, the security status, the AD bit of the client response
built by :func:`resolver.answer.build_response` (AD exactly when secure), the
answer DATA regex, and for bogus answers SERVFAIL with a DNSSEC Extended DNS Error.
Run with QNAME minimisation on and off, warm (one resolver for all cases, then all
cases again from the cache) and cold (a fresh resolver per case).

The last tests check the client-facing rules of RFC 4035 s3.2 and RFC 6840 s5.7-5.9
on a few of these answers: AD only for DO or AD queries, RRSIGs and NSEC/NSEC3 only
with DO, CD=1 returns bogus data, EDE on bogus.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import pytest

from resolver.answer import Answer, build_response
from resolver.dnssec.status import Security
from resolver.service import Resolver
from resolver.wire import message as wm
from resolver.wire.message import Message
from resolver.wire.name import Name
from resolver.wire.types import AD, Rcode, RRType, type_from_text

from .conftest import INTEROP, Served, run

# EDE codes that name a DNSSEC problem (RFC 8914 s4, RFC 9276)
DNSSEC_EDE = {1, 2, 5, 6, 7, 8, 9, 10, 11, 12, 25, 27}


@dataclass(frozen=True, slots=True)
class Case:
    qname: str
    qtype: str
    expect: str
    data: str
    note: str

    def __str__(self) -> str:
        return f"{self.qname} {self.qtype} ({self.expect}; {self.note})"


def _smimea(local: str) -> str:
    return hashlib.sha256(local.encode()).hexdigest()[:56]   # RFC 8162 s3


def read_cases() -> list[Case]:
    out = []
    for line in (INTEROP / "cases.txt").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split(None, 4)
        qname = parts[0].replace("{SMIME_ALICE}", _smimea("alice"))
        qname = qname.replace("{SMIME_BOB}", _smimea("bob"))
        out.append(Case(qname, parts[1], parts[2], parts[3], parts[4] if len(parts) > 4 else ""))
    return out


CASES = read_cases()


def test_the_case_list_is_complete() -> None:
    assert len(CASES) == 109


def _has_data(answer: Answer, qtype: int) -> bool:
    return any(rs.rtype == qtype for rs in answer.answer)


def _matches(expect: str, answer: Answer, qtype: int) -> str | None:
    """None when *answer* is what one EXPECT value says, else why not."""
    form, _, level = expect.partition("-")
    if form == "bogus":
        if answer.rcode != Rcode.SERVFAIL or answer.security != Security.BOGUS:
            return f"want SERVFAIL/bogus, got rcode {answer.rcode}/{answer.security.label}"
        codes = {code for code, _ in answer.ede}
        if not codes & DNSSEC_EDE:
            return f"bogus without a DNSSEC EDE: {answer.ede}"
        return None
    if form in ("secure", "insecure"):
        level, rcode, data = form, Rcode.NOERROR, True
    elif form == "nxdomain":
        rcode, data = Rcode.NXDOMAIN, False
    else:
        rcode, data = Rcode.NOERROR, False
    want = Security.SECURE if level == "secure" else Security.INSECURE
    if answer.rcode != rcode or answer.security != want:
        return (f"want rcode {rcode}/{want.label}, got {answer.rcode}/{answer.security.label}"
                f" ({answer.reason})")
    if data != _has_data(answer, qtype):
        return f"answer data {'missing' if data else 'unexpected'}"
    return None


def _response(answer: Answer, qtype: int, *, do: bool = True, ad: bool = False,
              cd: bool = False, edns: bool = True) -> Message:
    query = wm.make_query(answer.qname, qtype, rd=True, do=do, ad=ad, cd=cd, edns=edns)
    return wm.parse(build_response(query, answer, max_size=None))


def check_case(case: Case, answer: Answer) -> list[str]:
    qtype = type_from_text(case.qtype)
    verdicts = [_matches(e, answer, qtype) for e in case.expect.split("|")]
    problems = [] if None in verdicts else [v for v in verdicts if v]
    resp = _response(answer, qtype)
    secure = answer.security == Security.SECURE
    if bool(resp.flags & AD) != secure:
        problems.append(f"AD={bool(resp.flags & AD)} but security {answer.security.label}")
    if answer.rcode != Rcode.SERVFAIL and case.data != "-":
        text = "\n".join(rr.to_text() for rr in resp.answer)
        if not re.search(case.data, text):
            problems.append(f"answer does not match {case.data!r}:\n{text}")
    if answer.rcode == Rcode.SERVFAIL and not resp.ede():
        problems.append("SERVFAIL response without an EDE option")
    return problems


async def _resolve_all(resolver: Resolver | None, served: Served,
                       **settings: object) -> list[str]:
    failures = []
    for case in CASES:
        res = resolver if resolver is not None else served.resolver(**settings)
        answer = await res.resolve(Name.from_text(case.qname), type_from_text(case.qtype))
        failures += [f"{case}: {p}" for p in check_case(case, answer)]
    return failures


@pytest.mark.parametrize("minimise", [True, False], ids=["qmin-on", "qmin-off"])
def test_all_cases_warm_then_cached(interop: Served, minimise: bool) -> None:
    """One resolver for all 109 cases, then all of them again: the second round comes
    from the caches and must give the same rcode, security, AD and EDE."""
    async def body() -> list[str]:
        resolver = interop.resolver(qname_minimisation=minimise)
        failures = await _resolve_all(resolver, interop)
        before = interop.upstream_queries()
        failures += ["(cached) " + f for f in await _resolve_all(resolver, interop)]
        assert interop.upstream_queries() - before <= 5, "the second round is from the cache"
        return failures
    failures = run(body())
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("minimise", [True, False], ids=["qmin-on", "qmin-off"])
def test_all_cases_cold(interop: Served, minimise: bool) -> None:
    """A fresh resolver (empty caches) per case: the chain of trust is built for each."""
    failures = run(_resolve_all(None, interop, qname_minimisation=minimise))
    assert not failures, "\n".join(failures)


# --------------------------------------------------------------------------
# what clients see (RFC 4035 s3.2, RFC 6840 s5.7-5.9, RFC 8914)

def _answers(served: Served, questions: list[tuple[str, str]],
             cd: bool = False) -> list[Answer]:
    async def body() -> list[Answer]:
        resolver = served.resolver()
        return [await resolver.resolve(Name.from_text(n), type_from_text(t), cd=cd)
                for n, t in questions]
    return run(body())


def _types(records: list[wm.RR]) -> set[int]:
    return {rr.rtype for rr in records}


def test_ad_only_when_the_query_asks_for_it(interop: Served) -> None:
    secure, insecure, nx = _answers(interop, [("www.rsasha256.test.", "A"),
                                              ("www.insecure.test.", "A"),
                                              ("nope.ecdsa256.test.", "A")])
    assert secure.security == Security.SECURE and nx.security == Security.SECURE
    for answer in (secure, nx):
        assert not _response(answer, 1, do=False).flags & AD         # neither DO nor AD
        assert _response(answer, 1, do=False, ad=True).flags & AD     # AD asks (RFC 6840 s5.7)
        assert _response(answer, 1, do=True).flags & AD
        assert _response(answer, 1, edns=False, ad=True).flags & AD   # no EDNS at all
    assert insecure.security == Security.INSECURE
    assert not _response(insecure, 1, do=True, ad=True).flags & AD


def test_rrsigs_and_proofs_only_with_do(interop: Served) -> None:
    positive, nx, wild, wild3, nodata3 = _answers(interop, [
        ("www.rsasha256.test.", "A"), ("nope.rsasha256.test.", "A"),
        ("foo.wild.rsasha256.test.", "A"), ("foo.wild.ecdsa256.test.", "A"),
        ("www.ecdsa256.test.", "TXT")])
    with_do = _response(positive, 1)
    assert _types(with_do.answer) == {RRType.A, RRType.RRSIG}
    assert _types(_response(positive, 1, do=False).answer) == {RRType.A}
    # a negative answer: SOA plus the NSEC records, each with its RRSIG, only with DO
    assert _types(_response(nx, 1).authority) == {RRType.SOA, RRType.NSEC, RRType.RRSIG}
    assert _types(_response(nx, 1, do=False).authority) == {RRType.SOA}
    assert _types(_response(nodata3, 16).authority) == {RRType.SOA, RRType.NSEC3, RRType.RRSIG}
    assert _types(_response(nodata3, 16, do=False).authority) == {RRType.SOA}
    # a wildcard answer carries its proof that QNAME itself does not exist (RFC 4035 s3.1.3.3)
    for answer, proof in ((wild, RRType.NSEC), (wild3, RRType.NSEC3)):
        assert answer.security == Security.SECURE
        resp = _response(answer, 1)
        assert proof in _types(resp.authority) and RRType.RRSIG in _types(resp.authority)
        assert not _types(_response(answer, 1, do=False).authority)


def test_cd_returns_bogus_data_without_ad(interop: Served) -> None:
    """RFC 6840 s5.9: with CD=1 the data comes back although it is bogus."""
    (checked,) = _answers(interop, [("www.bogus-sig.test.", "A")])
    assert checked.rcode == Rcode.SERVFAIL and not checked.answer
    (unchecked,) = _answers(interop, [("www.bogus-sig.test.", "A")], cd=True)
    assert unchecked.rcode == Rcode.NOERROR
    assert unchecked.security == Security.BOGUS
    resp = _response(unchecked, 1, cd=True)
    assert not resp.flags & AD
    assert any(rr.rtype == RRType.A for rr in resp.answer)
    assert any(rr.rtype == RRType.RRSIG for rr in resp.answer)


def test_bogus_answers_carry_an_ede_naming_zone_and_reason(interop: Served) -> None:
    expected = {"www.bogus-sig.test.": (6, "bogus-sig.test."),
                "www.expired.test.": (7, "expired.test."),
                "www.future.test.": (8, "future.test."),
                "www.missing-sig.test.": (10, "missing-sig.test."),
                "www.ds-unsigned.test.": (9, "ds-unsigned.test."),
                "www.bad-ds.test.": (9, "bad-ds.test.")}
    answers = _answers(interop, [(name, "A") for name in expected])
    for (name, (code, zone)), answer in zip(expected.items(), answers, strict=True):
        resp = _response(answer, 1)
        assert resp.rcode == Rcode.SERVFAIL, name
        ede = resp.ede()
        assert ede and ede[0][0] == code, (name, ede)
        assert zone in ede[0][1], (name, ede)
        no_edns = _response(answer, 1, edns=False)
        assert no_edns.rcode == Rcode.SERVFAIL and not no_edns.ede()


def test_query_for_rrsig_is_answered_without_ad(interop: Served) -> None:
    """RRSIGs are not signed themselves: a type RRSIG query is answered (as Unbound and
    the deckard iter_validate case expect), never with AD and never as SERVFAIL."""
    (answer,) = _answers(interop, [("www.rsasha256.test.", "RRSIG")])
    assert answer.rcode == Rcode.NOERROR
    assert answer.security not in (Security.SECURE, Security.BOGUS)
    assert answer.answer and answer.answer[0].rtype == RRType.RRSIG
    resp = _response(answer, RRType.RRSIG)
    assert not resp.flags & AD and not resp.ede()
