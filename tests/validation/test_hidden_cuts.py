"""Issue 14 s1: zone cuts that no referral shows.

A hosting provider's server (127.0.0.27) serves the signed ``provider.example.`` and
two customer zones delegated from it: ``unsigned.provider.example.`` (no DS) and
``signed.provider.example.`` (DS in the parent). Asked about a customer's name, the
server answers from the customer's zone directly, with no referral, so the iterator
only knows it asked the servers of ``provider.example.``. The validator has to find
the cut itself by asking for DS on the way down (RFC 4035 s5.2, RFC 6840 s4.4):
unsigned data there is insecure only on the parent's signed proof that the child has
no DS, and the signed child's data validates with the child's own DS and DNSKEY.

An attacker on the path (the test server's ``rewrite`` fault) must not turn this
into a downgrade: unsigned data in the signed zones stays bogus, whatever owner it
names and whatever signed denial it replays for the DS look-ups.
"""

from __future__ import annotations

import re

import pytest

from resolver.answer import Answer
from resolver.authority.lookup import lookup
from resolver.dnssec.keys import key_tag
from resolver.dnssec.status import Security
from resolver.testnet.faults import Rewrite
from resolver.wire.message import RR, Message
from resolver.wire.name import Name
from resolver.wire.types import Rcode, RRType, type_from_text

from .conftest import Served, run
from .test_downgrade import tampered
from .test_trace import trace_of

SEC, INSEC, BOGUS = Security.SECURE, Security.INSECURE, Security.BOGUS
NOERROR, NX, SERVFAIL = Rcode.NOERROR, Rcode.NXDOMAIN, Rcode.SERVFAIL
FORGED_A = bytes((203, 0, 113, 66))
FORGED_TEXT = "203.0.113.66"

PROVIDER = Name.from_text("provider.example.")
UNSIGNED = Name.from_text("unsigned.provider.example.")
SIGNED = Name.from_text("signed.provider.example.")

# (name, type, rcode, security, text the answer must hold or None)
MATRIX = [
    # the provider's own zone: secure, the cuts below change nothing here
    ("www.provider.example.", "A", NOERROR, SEC, "192.0.2.40"),
    ("provider.example.", "MX", NOERROR, SEC, "mx1.provider.example."),
    ("www.provider.example.", "TXT", NOERROR, SEC, None),                # NODATA
    ("nope.provider.example.", "A", NX, SEC, None),
    # the unsigned customer: insecure (no AD, no EDE), never bogus
    ("www.unsigned.provider.example.", "A", NOERROR, INSEC, "192.0.2.41"),
    ("unsigned.provider.example.", "MX", NOERROR, INSEC, "mx1.unsigned.provider.example."),
    ("a.b.unsigned.provider.example.", "A", NOERROR, INSEC, "192.0.2.41"),
    ("www.unsigned.provider.example.", "TXT", NOERROR, INSEC, None),     # NODATA
    ("nope.unsigned.provider.example.", "A", NX, INSEC, None),
    ("unsigned.provider.example.", "DS", NOERROR, SEC, None),            # parent's denial
    # the signed customer: secure with its own keys
    ("www.signed.provider.example.", "A", NOERROR, SEC, "192.0.2.42"),
    ("signed.provider.example.", "MX", NOERROR, SEC, "mx1.signed.provider.example."),
    ("_25._tcp.mx1.signed.provider.example.", "TLSA", NOERROR, SEC, "3 1 1"),
    ("www.signed.provider.example.", "TXT", NOERROR, SEC, None),         # NODATA
    ("nope.signed.provider.example.", "A", NX, SEC, None),
    ("signed.provider.example.", "DS", NOERROR, SEC, None),
    # CNAMEs across the cuts, both ways: as secure as the weakest link
    ("to-unsigned.provider.example.", "A", NOERROR, INSEC, "192.0.2.41"),
    ("to-signed.provider.example.", "A", NOERROR, SEC, "192.0.2.42"),
    ("to-unsigned-nx.provider.example.", "A", NX, INSEC, None),
    ("to-signed-nx.provider.example.", "A", NX, SEC, None),
    ("back.unsigned.provider.example.", "A", NOERROR, INSEC, "192.0.2.40"),
    ("back.signed.provider.example.", "A", NOERROR, SEC, "192.0.2.40"),
    ("to-signed.unsigned.provider.example.", "A", NOERROR, INSEC, "192.0.2.42"),
]


def data_text(answer: Answer) -> str:
    return "\n".join(rr.to_text() for rs in answer.answer for rr in rs.records())


def ask_each(served: Served, questions: list[tuple[str, str]], fresh: bool,
             **settings: object) -> list[Answer]:
    """Answers to *questions*, from one resolver or (*fresh*) each from a new one with
    empty caches, so that no earlier question has already found a cut."""
    async def body() -> list[Answer]:
        shared = served.resolver(**settings)
        out = []
        for name, rtype in questions:
            resolver = served.resolver(**settings) if fresh else shared
            out.append(await resolver.resolve(Name.from_text(name), type_from_text(rtype)))
        return out
    return run(body())


@pytest.mark.parametrize("fresh", [False, True], ids=["shared-cache", "cold-cache"])
@pytest.mark.parametrize("minimise", [True, False], ids=["qmin-on", "qmin-off"])
def test_provider_hosting_its_children(zones: Served, minimise: bool, fresh: bool) -> None:
    answers = ask_each(zones, [(n, t) for n, t, *_ in MATRIX], fresh,
                       qname_minimisation=minimise)
    problems = []
    for (name, rtype, rcode, security, needle), answer in zip(MATRIX, answers, strict=True):
        got = (answer.rcode, answer.security, answer.ede)
        if got != (rcode, security, []):
            problems.append(f"{name} {rtype}: want {(rcode, security, [])}, got {got} "
                            f"({answer.reason})")
        elif needle is not None and needle not in data_text(answer):
            problems.append(f"{name} {rtype}: {needle!r} not in {data_text(answer)!r}")
    assert not problems, "\n".join(problems)


def _tags(served: Served, zone: Name) -> set[int]:
    dnskey = served.net.zones[zone.key].get(zone, RRType.DNSKEY)
    assert dnskey is not None
    return {key_tag(k) for k in dnskey.rdatas}


def test_signed_child_validates_with_its_own_keys(
        zones: Served, capsys: pytest.CaptureFixture[str]) -> None:
    status, out = trace_of(zones, capsys, "www.signed.provider.example.")
    assert status == 0, out
    headers = [line for line in out.splitlines() if line and not line.startswith((" ", ";"))]
    assert headers[:4] == [".", "example.", "provider.example.", "signed.provider.example."]
    ds = re.search(r"DS for signed\.provider\.example\.: (\d+)/ECDSAP256/SHA-256; "
                   r"RRSIG (\d+)/ECDSAP256 verified: secure", out)
    assert ds is not None, out
    child, parent = _tags(zones, SIGNED), _tags(zones, PROVIDER)
    assert int(ds.group(1)) in child and int(ds.group(2)) in parent   # signed by the parent
    keys = re.search(r"\nsigned\.provider\.example\.\n +DNSKEY (\d+)/ECDSAP256 matches the "
                     r"DS; DNSKEY set: RRSIG \d+/ECDSAP256 verified: secure", out)
    assert keys is not None and int(keys.group(1)) in child, out
    used = re.search(r"www\.signed\.provider\.example\. A: RRSIG (\d+)/ECDSAP256 verified: "
                     r"secure", out)
    assert used is not None and int(used.group(1)) in child, out
    assert "verdict: secure" in out and "192.0.2.42" in out


def test_unsigned_child_is_proven_insecure(
        zones: Served, capsys: pytest.CaptureFixture[str]) -> None:
    status, out = trace_of(zones, capsys, "www.unsigned.provider.example.")
    assert status == 0, out
    assert "no DS for unsigned.provider.example.; the proof:" in out
    assert "unsigned.provider.example. is delegated without DS: insecure below" in out
    assert ("www.unsigned.provider.example. A: answered by the servers of provider.example., "
            "but in the zone unsigned.provider.example. below it") in out
    assert "verdict: insecure at unsigned.provider.example." in out
    assert "EDE" not in out and "192.0.2.41" in out


def test_cuts_found_once_signed_answers_never_walk(zones: Served) -> None:
    """Once the cuts are known (the key cache), further answers from either child cost
    no DS look-up: signed data names its zone, unsigned data finds the cached proof
    that its zone is insecure."""
    server = zones.net.servers["127.0.0.27"]
    later = [("mx1.signed.provider.example.", "A"), ("txt.signed.provider.example.", "TXT"),
             ("_25._tcp.mx1.signed.provider.example.", "TLSA"),
             ("mx1.unsigned.provider.example.", "A"), ("txt.unsigned.provider.example.", "TXT"),
             ("a.b.unsigned.provider.example.", "A")]

    async def body() -> tuple[list[Answer], list[tuple[Name, int, str]]]:
        resolver = zones.resolver()
        for name in ("www.signed.provider.example.", "www.unsigned.provider.example."):
            await resolver.resolve(Name.from_text(name), RRType.A)
        before = len(server.queries)
        answers = [await resolver.resolve(Name.from_text(n), type_from_text(t))
                   for n, t in later]
        return answers, server.queries[before:]
    answers, seen = run(body())
    assert [a.security for a in answers] == [SEC, SEC, SEC, INSEC, INSEC, INSEC]
    assert [q for q in seen if q[1] in (RRType.DS, RRType.DNSKEY)] == []


# --------------------------------------------------------------------------
# an attacker on the path to the provider's server

def _below(zone: Name) -> Rewrite:
    """Every reply about a name strictly below *zone* loses its RRSIGs (answers, SOA,
    NSEC/NSEC3, also the replies to the validator's DS look-ups for those names)."""
    def rewrite(query: Message, reply: Message) -> None:
        if query.question and query.question[0].name.is_strict_subdomain(zone):
            reply.answer = [rr for rr in reply.answer if rr.rtype != RRType.RRSIG]
            reply.authority = [rr for rr in reply.authority if rr.rtype != RRType.RRSIG]
    return rewrite


def _forge_a(owner: Name, served: Served, replay_ds_denial: bool = False) -> Rewrite:
    """An unsigned forged A for *owner*; with *replay_ds_denial* the DS look-ups for
    *owner* and the names between it and the provider get the genuine signed proof
    that ``unsigned.provider.example.`` has no DS (a real NSEC3 with the NS bit,
    signed by the provider, about another name)."""
    zone = served.net.zones[PROVIDER.key]
    replay = lookup(zone, UNSIGNED, RRType.DS, dnssec=True)

    def rewrite(query: Message, reply: Message) -> None:
        if not query.question:
            return
        qname, qtype = query.question[0].name, query.question[0].qtype
        if qname == owner and qtype == RRType.A:
            reply.set_rcode(Rcode.NOERROR)
            reply.answer = [RR(owner, RRType.A, 1, 3600, FORGED_A)]
            reply.authority = []
        elif qtype == RRType.DS and replay_ds_denial and owner.is_subdomain(qname) and \
                qname.is_strict_subdomain(PROVIDER):
            reply.set_rcode(Rcode.NOERROR)
            reply.answer = []
            reply.authority = list(replay.authority)
    return rewrite


def _forge_nx(owner: Name, served: Served) -> Rewrite:
    """An NXDOMAIN for *owner* (type A) with an unsigned SOA, the provider's own, that
    claims *owner* is a zone apex."""
    soa = served.net.zones[PROVIDER.key].get(PROVIDER, RRType.SOA)
    assert soa is not None

    def rewrite(query: Message, reply: Message) -> None:
        if not query.question or query.question[0].name != owner or \
                query.question[0].qtype != RRType.A:
            return
        reply.set_rcode(Rcode.NXDOMAIN)
        reply.answer = []
        reply.authority = [RR(owner, RRType.SOA, 1, 300, soa.rdatas[0])]
    return rewrite


def ask_fresh(served: Served, name: str, rtype: str = "A") -> Answer:
    return ask_each(served, [(name, rtype)], fresh=True)[0]


def assert_bogus(answer: Answer, forged: bool = False) -> None:
    assert (answer.rcode, answer.security) == (SERVFAIL, BOGUS), (answer.reason, answer.ede)
    assert answer.ede, answer.reason
    if forged:
        assert FORGED_TEXT not in data_text(answer)


def test_signed_child_without_rrsigs_is_bogus(zones: Served) -> None:
    with tampered(zones, "signed.provider.example.", _below(SIGNED)):
        for name, rtype in [("www.signed.provider.example.", "A"),
                            ("_25._tcp.mx1.signed.provider.example.", "TLSA"),
                            ("nope.signed.provider.example.", "A"),
                            ("www.signed.provider.example.", "TXT"),
                            ("back.signed.provider.example.", "A")]:
            answer = ask_fresh(zones, name, rtype)
            assert_bogus(answer)
            assert "signed.provider.example." in answer.ede[0][1], (name, answer.ede)
    assert ask_fresh(zones, "www.signed.provider.example.").security == SEC  # put back


@pytest.mark.parametrize("owner", ["www.provider.example.", "a.b.provider.example.",
                                   "x.www.provider.example."])
def test_forged_unsigned_answer_in_the_provider_is_bogus(zones: Served, owner: str) -> None:
    """Unsigned data in the signed provider zone, at an existing name or at a deeper,
    made-up owner: every DS look-up on the way down gets the provider's signed denial,
    none shows a cut, so the data stays bogus (EDE 10)."""
    name = Name.from_text(owner)
    with tampered(zones, "provider.example.", _forge_a(name, zones)):
        answer = ask_fresh(zones, owner)
    assert_bogus(answer, forged=True)
    assert answer.ede[0][0] == 10 and "provider.example." in answer.ede[0][1]


@pytest.mark.parametrize("owner", ["www.provider.example.", "x.www.provider.example.",
                                   "a.b.provider.example."])
def test_replayed_ds_denial_makes_nothing_insecure(zones: Served, owner: str) -> None:
    """The attacker also answers the DS look-ups on the way to the forged owner with
    the genuine, signed proof that unsigned.provider.example. has no DS: it is about
    another name, so it proves nothing here."""
    name = Name.from_text(owner)
    with tampered(zones, "provider.example.", _forge_a(name, zones, replay_ds_denial=True)):
        answer = ask_fresh(zones, owner)
    assert_bogus(answer, forged=True)


def test_forged_unsigned_nxdomain_in_the_provider_is_bogus(zones: Served) -> None:
    """An NXDOMAIN whose unsigned SOA claims the name is an apex of its own: the cut is
    looked for at the SOA owner, and the provider's signed denial shows none."""
    name = Name.from_text("www.provider.example.")
    with tampered(zones, "provider.example.", _forge_nx(name, zones)):
        answer = ask_fresh(zones, "www.provider.example.")
    assert_bogus(answer)
    assert ask_fresh(zones, "www.provider.example.").security == SEC  # put back
