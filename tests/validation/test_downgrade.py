"""Issue 13: an RRSIG that claims an algorithm the zone does not use downgrades nothing.

An attacker on the path rewrites genuine replies of the zones/ hierarchy (the test
servers' ``rewrite`` fault): it forges data and relabels the RRSIGs over it
"algorithm 253" (PRIVATEDNS, which no validator supports). A zone is insecure only
when a secure parent proved it has no DS, when its authenticated DS set (or trust
anchor) lists no algorithm we support, or under a negative trust anchor; inside a
secure zone, an RRset without a valid RRSIG by the zone's authenticated keys is
bogus (RFC 4035 s5.2, s5.3; RFC 6840 s5.2, s5.11). So every forgery here is SERVFAIL
with an Extended DNS Error and the forged data never reaches the client, while
the legitimate uses of unsupported algorithms keep their verdicts.

Each test installs its rewrite on the servers of one zone on top of the faults the
manifest put there, and puts those back exactly afterwards; every question goes to
a fresh resolver (empty caches).
"""

from __future__ import annotations

import dataclasses
import json
import urllib.parse
import urllib.request
from collections.abc import Container, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from resolver.answer import Answer
from resolver.api.app import create_app, start_api
from resolver.dnssec.nsec3 import nsec3_hash
from resolver.dnssec.status import Security
from resolver.service import Resolver
from resolver.testnet.faults import Faults, Rewrite
from resolver.wire import rdata as rd
from resolver.wire.message import RR, Message
from resolver.wire.name import Name
from resolver.wire.types import Rcode, RRType, type_from_text
from tests.loop import LoopThread

from .conftest import Served, run
from .minitree import covered
from .test_trace import trace_of

PRIVATE = 253                           # PRIVATEDNS: claimed by every forged RRSIG
FORGED_A = bytes((203, 0, 113, 66))     # TEST-NET-3: in no zone of zones/
FORGED_TEXT = "203.0.113.66"
FORGED_DIGEST = bytes(range(0x60, 0x80))
FORGED_TLSA = bytes((3, 1, 1)) + FORGED_DIGEST
# The EDE of every forgery here (RFC 8914): 10 "RRSIGs Missing" - there is no RRSIG by
# the zone's keys, only ones that claim another algorithm. "Unsupported DNSKEY
# Algorithm" (1, with NOERROR) would be the downgrade itself.
FORGERY_EDE = 10

SECURE, INSECURE, BOGUS = Security.SECURE, Security.INSECURE, Security.BOGUS
NOERROR, NXDOMAIN, SERVFAIL = Rcode.NOERROR, Rcode.NXDOMAIN, Rcode.SERVFAIL


# --------------------------------------------------------------------------
# the attacker's tools

def claiming(rdata: bytes, algorithm: int = PRIVATE) -> bytes:
    """A genuine RRSIG RDATA that now claims *algorithm* (octet 2, after the two octets
    of the type covered, RFC 4034 s3.1): its signature field stays the real one."""
    return rdata[:2] + bytes((algorithm,)) + rdata[3:]


def relabelled(records: list[RR], types: Container[int] | None = None,
               keep: bool = False) -> list[RR]:
    """*records* with every RRSIG (over *types*, or over anything) claiming algorithm
    253; with *keep* the genuine RRSIG stays and the relabelled one is an extra."""
    out: list[RR] = []
    for rr in records:
        if rr.rtype != RRType.RRSIG or (types is not None and covered(rr) not in types):
            out.append(rr)
            continue
        if keep:
            out.append(rr)
        out.append(RR(rr.name, rr.rtype, rr.rclass, rr.ttl, claiming(rr.rdata)))
    return out


def forged(records: list[RR], owner: Name, rtype: int, rdata: bytes) -> list[RR]:
    """*records* with the RDATA of every (owner, rtype) record replaced by *rdata*."""
    return [RR(rr.name, rr.rtype, rr.rclass, rr.ttl, rdata)
            if rr.name == owner and rr.rtype == rtype else rr for rr in records]


def unsigned(records: list[RR]) -> list[RR]:
    """*records* without RRSIGs and DNSKEYs: a zone that looks unsigned."""
    return [rr for rr in records if rr.rtype not in (RRType.RRSIG, RRType.DNSKEY)]


def forge_and_relabel(owner: str, rtype: int, rdata: bytes) -> Rewrite:
    """Answers with the (owner, rtype) RRset forged and its RRSIGs claiming 253."""
    name = Name.from_text(owner)

    def rewrite(query: Message, reply: Message) -> None:
        if any(rr.name == name and rr.rtype == rtype for rr in reply.answer):
            reply.answer = relabelled(forged(reply.answer, name, rtype, rdata), {rtype})
    return rewrite


@contextmanager
def tampered(served: Served, zone: str, rewrite: Rewrite) -> Iterator[None]:
    """*rewrite* on every server that serves *zone* (to tamper with a DS, name the
    parent), added to the faults in force there for that zone (its own, else the
    server's), and the zone's own faults put back exactly afterwards."""
    origin = Name.from_text(zone)
    servers = [s for s in served.net.servers.values() if origin.key in s.zones]
    assert servers, f"no server serves {zone}"
    saved = [(server, server.faults.get(origin.key)) for server in servers]
    for server, before in saved:
        base = before if before is not None else server.faults.get(None)
        server.faults[origin.key] = (dataclasses.replace(base, rewrite=rewrite)
                                     if base is not None else Faults(rewrite=rewrite))
    try:
        yield
    finally:
        for server, before in saved:
            if before is None:
                server.faults.pop(origin.key, None)
            else:
                server.faults[origin.key] = before


# --------------------------------------------------------------------------
# asking

def ask(served: Served, questions: list[tuple[str, str]], **settings: object) -> list[Answer]:
    """Each question to a fresh resolver, so no answer comes from an earlier cache."""
    async def body() -> list[Answer]:
        answers = []
        for name, rtype in questions:
            resolver = served.resolver(**settings)
            answers.append(await resolver.resolve(Name.from_text(name), type_from_text(rtype)))
        return answers
    return run(body())


def algorithms(rdatas: list[bytes]) -> set[int]:
    """The algorithm octets of DS or RRSIG RDATAs (octet 2 in both, RFC 4034 s3.1, s5.1)."""
    return {data[2] for data in rdatas}


def ede_codes(answer: Answer) -> list[int]:
    return [code for code, _ in answer.ede]


def data_text(answer: Answer) -> str:
    return "\n".join(rr.to_text() for rs in answer.answer + answer.authority
                     for rr in rs.records())


def assert_bogus(answer: Answer, *, zone: str | None = None, precise: bool = True) -> None:
    """SERVFAIL, bogus, no data, and an EDE naming *zone*. *precise*: EDE 10 whose text
    names the claimed algorithm 253; otherwise any bogus EDE (never 1, the downgrade)."""
    what = f"{answer.qname} {answer.qtype}: {answer.rcode} {answer.security} " \
           f"({answer.reason}; EDE {answer.ede})"
    assert (answer.rcode, answer.security) == (SERVFAIL, BOGUS), what
    assert not answer.answer, what
    codes = ede_codes(answer)
    assert codes, what
    text = answer.ede[0][1]
    if precise:
        assert codes[0] == FORGERY_EDE and f"algorithm {PRIVATE}" in text, what
    else:
        assert codes[0] in (6, 9, 10, 12), what
    if zone is not None:
        assert zone in text, what


def assert_never_forged(answer: Answer) -> None:
    text = data_text(answer)
    assert FORGED_TEXT not in text and FORGED_DIGEST.hex() not in text.lower(), text


# --------------------------------------------------------------------------
# Done when, 1: every forgery is SERVFAIL with a fitting EDE

@pytest.mark.parametrize("minimise", [True, False], ids=["qmin-on", "qmin-off"])
def test_forged_a_with_only_a_253_rrsig_is_bogus(zones: Served, minimise: bool) -> None:
    """secure.example. is ECDSAP256 (13): an RRSIG claiming 253 signs nothing there."""
    rewrite = forge_and_relabel("www.secure.example.", RRType.A, FORGED_A)
    with tampered(zones, "secure.example.", rewrite):
        (answer,) = ask(zones, [("www.secure.example.", "A")], qname_minimisation=minimise)
    assert_bogus(answer, zone="secure.example.")
    assert_never_forged(answer)


def test_forged_tlsa_with_only_a_253_rrsig_is_bogus(zones: Served) -> None:
    rewrite = forge_and_relabel("_25._tcp.mx1.secure.example.", RRType.TLSA, FORGED_TLSA)
    with tampered(zones, "secure.example.", rewrite):
        tlsa, mx = ask(zones, [("_25._tcp.mx1.secure.example.", "TLSA"),
                               ("secure.example.", "MX")])
    assert_bogus(tlsa, zone="secure.example.")
    assert_never_forged(tlsa)
    assert (mx.rcode, mx.security) == (NOERROR, SECURE)    # the rest of the zone is fine


def _api_get(url: str, **params: str) -> Any:
    with urllib.request.urlopen(f"{url}?{urllib.parse.urlencode(params)}", timeout=30) as resp:
        return json.loads(resp.read())


def test_forged_tlsa_makes_dane_smtp_defer_never_may(zones: Served,
                                                     loop_thread: LoopThread) -> None:
    """RFC 7672 s2.1.1: a bogus TLSA RRset means the host must not be used, not even
    with opportunistic TLS; with one MX host the domain is deferred. "may" would be
    the downgrade an insecure verdict gives the attacker."""
    async def start() -> tuple[str, Any]:
        resolver = Resolver(zones.settings())
        runner = await start_api(create_app(resolver), "127.0.0.1", 0)
        host, port = runner.addresses[0][:2]
        return f"http://{host}:{port}/v1/dane/smtp", runner

    url, runner = loop_thread.run(start())
    try:
        rewrite = forge_and_relabel("_25._tcp.mx1.secure.example.", RRType.TLSA, FORGED_TLSA)
        with tampered(zones, "secure.example.", rewrite):
            body = _api_get(url, domain="secure.example")
    finally:
        loop_thread.run(runner.cleanup())
    verdicts = [body["verdict"], *(h["verdict"] for h in body["hosts"])]
    assert "may" not in verdicts, body
    assert verdicts == ["defer", "skip-host"], body
    assert body["hosts"][0]["tlsa_security"] == "bogus", body
    assert FORGED_DIGEST.hex() not in json.dumps(body).lower()


def test_forged_ds_above_an_unsigned_looking_child_is_bogus(zones: Served) -> None:
    """The referral to secure.example. carries a forged DS (algorithm 253, so an
    authenticated DS set would make the child insecure) whose RRSIG claims 253, and
    the child answers unsigned forged data. The DS RRset has no valid signature by
    example.'s keys (13): bogus, and the child's data is never accepted."""
    child = Name.from_text("secure.example.")
    www = Name.from_text("www.secure.example.")

    def forge_ds(query: Message, reply: Message) -> None:
        for section in ("answer", "authority"):
            records: list[RR] = getattr(reply, section)
            if not any(rr.name == child and rr.rtype == RRType.DS for rr in records):
                continue
            real = next(rr for rr in records if rr.name == child and rr.rtype == RRType.DS)
            fake = real.rdata[:2] + bytes((PRIVATE, 2)) + FORGED_DIGEST
            setattr(reply, section, relabelled(forged(records, child, RRType.DS, fake),
                                               {RRType.DS}))

    def unsigned_child(query: Message, reply: Message) -> None:
        reply.answer = forged(unsigned(reply.answer), www, RRType.A, FORGED_A)
        reply.authority = unsigned(reply.authority)
        reply.additional = unsigned(reply.additional)

    with tampered(zones, "example.", forge_ds), \
            tampered(zones, "secure.example.", unsigned_child):
        www_a, ds = ask(zones, [("www.secure.example.", "A"), ("secure.example.", "DS")])
    assert_bogus(www_a)
    assert_never_forged(www_a)
    assert_bogus(ds, zone="example.")


def _claimed_sig(template: bytes, owner: Name, rtype: int, ttl: int) -> bytes:
    """An RRSIG over (owner, rtype) cut from the genuine RRSIG *template*: right labels,
    TTL, window, key tag and signer, so that only the claimed algorithm 253 (and the
    signature) is wrong with it."""
    real = rd.decode(RRType.RRSIG, template)
    assert isinstance(real, rd.RRSIG)
    return rd.RRSIG(rtype, PRIVATE, owner.label_count, ttl, real.expiration, real.inception,
                    real.key_tag, real.signer, real.signature).to_wire()


def test_forged_cname_to_an_insecure_zone_is_bogus(zones: Served) -> None:
    """www.secure.example. A answered by a CNAME into insecure.example. "signed" 253:
    the genuine, insecure target must not make the forged redirection acceptable."""
    www = Name.from_text("www.secure.example.")
    target = Name.from_text("www.insecure.example.")

    def rewrite(query: Message, reply: Message) -> None:
        if query.question[0].name != www:
            return
        sig = next(rr for rr in reply.answer if rr.rtype == RRType.RRSIG)
        reply.answer = [RR(www, RRType.CNAME, 1, 3600, target.wire),
                        RR(www, RRType.RRSIG, 1, 3600,
                           _claimed_sig(sig.rdata, www, RRType.CNAME, 3600))]

    with tampered(zones, "secure.example.", rewrite):
        (answer,) = ask(zones, [("www.secure.example.", "A")])
    assert_bogus(answer, zone="secure.example.")
    assert "192.0.2.32" not in data_text(answer)


def test_forged_no_ds_proof_is_bogus(zones: Served) -> None:
    """The attacker drops the DS of secure.example. from example.'s answers and proves
    its absence with an NSEC3 (the real hash of secure.example., NS only) "signed" 253,
    then serves the child unsigned with forged data. "Insecure" needs a parent that
    proved there is no DS; a proof without a valid signature proves nothing."""
    parent = Name.from_text("example.")
    child = Name.from_text("secure.example.")
    www = child.prepend(b"www")
    digest = nsec3_hash(child, b"", 0)
    after = bytes(digest[:-1]) + bytes(((digest[-1] + 1) & 0xFF,))
    owner = parent.prepend(rd.b32hex_encode(digest).encode("ascii"))
    nsec3 = RR(owner, RRType.NSEC3, 1, 300,
               rd.NSEC3(1, 0, 0, b"", after, frozenset({RRType.NS})).to_wire())
    soa, soa_sig = _apex_soa(zones, parent)
    proof = [nsec3, RR(owner, RRType.RRSIG, 1, 300,
                       _claimed_sig(soa_sig, owner, RRType.NSEC3, 300))]

    def drop_ds(query: Message, reply: Message) -> None:
        def strip(records: list[RR]) -> list[RR]:
            return [rr for rr in records if not (rr.name == child and (
                rr.rtype == RRType.DS or (rr.rtype == RRType.RRSIG and covered(rr) == RRType.DS)))]
        q = query.question[0]
        if q.name == child and q.qtype == RRType.DS:          # NODATA for the DS
            reply.answer = []
            reply.authority = [soa, RR(parent, RRType.RRSIG, 1, soa.ttl, claiming(soa_sig)),
                               *proof]
        elif any(rr.name == child and rr.rtype == RRType.DS for rr in reply.authority):
            reply.authority = strip(reply.authority) + proof  # referral without DS

    def unsigned_child(query: Message, reply: Message) -> None:
        reply.answer = forged(unsigned(reply.answer), www, RRType.A, FORGED_A)
        reply.authority = unsigned(reply.authority)

    with tampered(zones, "example.", drop_ds), \
            tampered(zones, "secure.example.", unsigned_child):
        www_a, ds = ask(zones, [("www.secure.example.", "A"), ("secure.example.", "DS")])
    # Asked directly or reached through the referral, the DS denial fails on its
    # RRSIGs: EDE 10, naming the claimed algorithm.
    assert_bogus(www_a, zone="secure.example.")
    assert_never_forged(www_a)
    assert_bogus(ds, zone="example.")


@pytest.mark.parametrize("forge_data", [False, True], ids=["genuine-data", "forged-data"])
def test_dnskey_set_with_only_253_rrsigs_is_bogus(zones: Served, forge_data: bool) -> None:
    """The DNSKEY RRset of secure.example. whose RRSIGs all claim 253: the DS names a
    13 key, which signed nothing in that set, so the keys are not authenticated and
    the zone's data is bogus - whether it is the real data or forged unsigned data."""
    www = Name.from_text("www.secure.example.")

    def rewrite(query: Message, reply: Message) -> None:
        reply.answer = relabelled(reply.answer, {RRType.DNSKEY})
        if forge_data:
            reply.answer = [rr for rr in forged(reply.answer, www, RRType.A, FORGED_A)
                            if not (rr.rtype == RRType.RRSIG and covered(rr) == RRType.A)]

    with tampered(zones, "secure.example.", rewrite):
        www_a, dnskey = ask(zones, [("www.secure.example.", "A"), ("secure.example.", "DNSKEY")])
    assert_bogus(www_a, zone="secure.example.")
    assert_never_forged(www_a)
    assert_bogus(dnskey, zone="secure.example.")


@pytest.mark.parametrize("anchor", ["ds", "key"])
def test_root_dnskey_set_with_only_253_rrsigs_is_bogus(zones: Served, anchor: str) -> None:
    """The same at the trust anchor (RSASHA256, 8), given as a DS or as a DNSKEY: the
    anchor's key signed nothing in the set, so the root is bogus, not insecure."""
    def rewrite(query: Message, reply: Message) -> None:
        reply.answer = relabelled(reply.answer, {RRType.DNSKEY})

    anchors = [zones.extra["dir"] / f"root.{anchor}"]
    with tampered(zones, ".", rewrite):
        www_a, dnskey = ask(zones, [("www.secure.example.", "A"), (".", "DNSKEY")],
                            trust_anchors=anchors)
    assert_bogus(www_a, zone=".")
    assert_bogus(dnskey, zone=".")


def test_forged_opt_out_proof_is_bogus(zones: Served) -> None:
    """sub.optout.example. is insecure because an opt-out NSEC3 of optout.example.
    covers it; with that NSEC3's RRSIGs claiming 253 the proof is no proof (EDE 10,
    as for the forged no-DS proof)."""
    def rewrite(query: Message, reply: Message) -> None:
        reply.authority = relabelled(reply.authority, {RRType.NSEC3})

    (untouched,) = ask(zones, [("www.sub.optout.example.", "A")])
    assert (untouched.rcode, untouched.security) == (NOERROR, INSECURE)
    with tampered(zones, "optout.example.", rewrite):
        (answer,) = ask(zones, [("www.sub.optout.example.", "A")])
    assert_bogus(answer, zone="optout.example.")


def _denial_relabelled(query: Message, reply: Message) -> None:
    """A genuine NXDOMAIN or NODATA (SOA in the authority section, no answer) with
    every RRSIG over the SOA and the NSEC/NSEC3 records claiming 253. Referrals keep
    their DS RRSIGs: only the denial is tampered with."""
    if not reply.answer and any(rr.rtype == RRType.SOA for rr in reply.authority):
        reply.authority = relabelled(reply.authority,
                                     {RRType.SOA, RRType.NSEC, RRType.NSEC3})


@pytest.mark.parametrize(("zone", "name", "rtype", "rcode"), [
    ("secure.example.", "nope.secure.example.", "A", NXDOMAIN),       # NSEC, 13
    ("secure.example.", "www.secure.example.", "TXT", NOERROR),
    ("example.", "nope.example.", "A", NXDOMAIN),                     # NSEC3, 13
    ("example.", "www.example.", "TXT", NOERROR),
    ("nsec3.example.", "nope.nsec3.example.", "A", NXDOMAIN),         # NSEC3, 15
    ("nsec3.example.", "www.nsec3.example.", "TXT", NOERROR),
], ids=["nsec-nxdomain", "nsec-nodata", "nsec3-nxdomain", "nsec3-nodata",
        "ed25519-nxdomain", "ed25519-nodata"])
def test_denial_with_only_253_rrsigs_is_bogus(zones: Served, zone: str, name: str,
                                              rtype: str, rcode: int) -> None:
    (untouched,) = ask(zones, [(name, rtype)])
    assert (untouched.rcode, untouched.security) == (rcode, SECURE)
    with tampered(zones, zone, _denial_relabelled):
        (answer,) = ask(zones, [(name, rtype)])
    assert_bogus(answer, zone=zone)


@pytest.mark.parametrize("rcode", [NXDOMAIN, NOERROR], ids=["nxdomain", "nodata"])
def test_forged_denial_of_existing_data_is_bogus(zones: Served, rcode: int) -> None:
    """www.secure.example. A exists; the attacker answers NXDOMAIN (an apex NSEC whose
    span covers www and the wildcard) or NODATA (an NSEC at www without A), the SOA
    and NSEC RRSIGs claiming 253. Accepting it as insecure would let an attacker
    delete any record, a TLSA RRset first of all."""
    origin = Name.from_text("secure.example.")
    www = origin.prepend(b"www")
    if rcode == NXDOMAIN:
        nsec = RR(origin, RRType.NSEC, 1, 300, rd.NSEC(
            origin.prepend(b"zzz"), frozenset({RRType.SOA, RRType.NS, RRType.NSEC,
                                               RRType.RRSIG, RRType.DNSKEY})).to_wire())
    else:
        nsec = RR(www, RRType.NSEC, 1, 300, rd.NSEC(
            origin.prepend(b"zzz"), frozenset({RRType.AAAA, RRType.NSEC,
                                               RRType.RRSIG})).to_wire())

    soa, soa_sig = _apex_soa(zones, origin)
    nsec_sig = _claimed_sig(soa_sig, nsec.name, RRType.NSEC, nsec.ttl)

    def rewrite(query: Message, reply: Message) -> None:
        q = query.question[0]
        if q.name != www or q.qtype != RRType.A:
            return
        reply.set_rcode(rcode)
        reply.answer = []
        reply.authority = [soa, RR(origin, RRType.RRSIG, 1, soa.ttl, claiming(soa_sig)),
                           nsec, RR(nsec.name, RRType.RRSIG, 1, nsec.ttl, nsec_sig)]

    with tampered(zones, "secure.example.", rewrite):
        (answer,) = ask(zones, [("www.secure.example.", "A")])
    assert_bogus(answer, zone="secure.example.")


def _apex_soa(served: Served, origin: Name) -> tuple[RR, bytes]:
    """The zone's SOA record and the RDATA of its genuine RRSIG, as served."""
    zone = served.net.zones[origin.key]
    soa = zone.get(origin, RRType.SOA)
    assert soa is not None and soa.sigs
    return RR(origin, RRType.SOA, 1, soa.ttl, soa.rdatas[0]), soa.sigs[0]


# --------------------------------------------------------------------------
# Done when, 2: what must not change

def test_extra_253_rrsig_beside_a_valid_one_is_secure(zones: Served) -> None:
    """Every RRSIG the zone serves gets a twin claiming 253: one valid RRSIG by the
    zone's keys still makes each RRset secure (RFC 4035 s5.3.3), the proofs too."""
    def rewrite(query: Message, reply: Message) -> None:
        reply.answer = relabelled(reply.answer, keep=True)
        reply.authority = relabelled(reply.authority, keep=True)

    with tampered(zones, "secure.example.", rewrite):
        answers = ask(zones, [("www.secure.example.", "A"), ("secure.example.", "DNSKEY"),
                              ("_25._tcp.mx1.secure.example.", "TLSA"),
                              ("nope.secure.example.", "A"), ("www.secure.example.", "TXT")])
    got = [(a.rcode, a.security, ede_codes(a)) for a in answers]
    assert got == [(NOERROR, SECURE, [])] * 3 + [(NXDOMAIN, SECURE, []), (NOERROR, SECURE, [])], \
        [(a.qname.to_text(), a.reason) for a in answers]
    assert "192.0.2.30" in data_text(answers[0])


@pytest.mark.parametrize(("zone", "algorithm"), [("private-alg.example.", 253),
                                            ("unknown-alg.example.", 100)])
def test_ds_set_of_only_unsupported_algorithms_is_insecure(zones: Served, zone: str,
                                                           algorithm: int) -> None:
    """The authenticated DS set lists no supported algorithm: insecure with EDE 1
    (RFC 4035 s5.2), its data served without AD, its denials too."""
    www, nx = ask(zones, [(f"www.{zone}", "A"), (f"nope.{zone}", "A")])
    assert (www.rcode, www.security, ede_codes(www)[:1]) == (NOERROR, INSECURE, [1]), www.reason
    assert www.answer
    assert (nx.rcode, nx.security, ede_codes(nx)[:1]) == (NXDOMAIN, INSECURE, [1]), nx.reason
    (ds,) = ask(zones, [(zone, "DS")])
    assert ds.security == SECURE and ds.answer
    assert algorithms(ds.answer[0].rdatas) == {algorithm}


def test_ds_set_of_13_and_253_is_validated_with_13(zones: Served) -> None:
    """mixed-ds.example.: the parent lists a 13 DS and a 253 DS. The zone is secure
    through its 13 key (RFC 6840 s5.11), and the unsupported 253 DS does not turn an
    RRSIG claiming 253 into an excuse: a forged A signed "253" there is bogus."""
    ds, www, nx = ask(zones, [("mixed-ds.example.", "DS"), ("www.mixed-ds.example.", "A"),
                              ("nope.mixed-ds.example.", "A")])
    assert algorithms(ds.answer[0].rdatas) == {13, PRIVATE}
    assert (www.rcode, www.security, ede_codes(www)) == (NOERROR, SECURE, []), www.reason
    assert "192.0.2.60" in data_text(www)
    assert (nx.rcode, nx.security) == (NXDOMAIN, SECURE), nx.reason
    assert algorithms(www.answer[0].sigs) == {13}

    rewrite = forge_and_relabel("www.mixed-ds.example.", RRType.A, FORGED_A)
    with tampered(zones, "mixed-ds.example.", rewrite):
        (forgery,) = ask(zones, [("www.mixed-ds.example.", "A")])
    assert_bogus(forgery, zone="mixed-ds.example.")
    assert_never_forged(forgery)

    def dnskey_claims_253(query: Message, reply: Message) -> None:
        reply.answer = relabelled(reply.answer, {RRType.DNSKEY})

    def zone_claims_253(query: Message, reply: Message) -> None:
        """Keys and RRSIGs relabelled 253: the child poses as the zone the 253 DS names."""
        reply.answer = [RR(rr.name, rr.rtype, rr.rclass, rr.ttl,
                           rr.rdata[:3] + bytes((PRIVATE,)) + rr.rdata[4:])
                        if rr.rtype == RRType.DNSKEY else rr for rr in relabelled(reply.answer)]

    with tampered(zones, "mixed-ds.example.", dnskey_claims_253):
        (keys_253,) = ask(zones, [("www.mixed-ds.example.", "A")])
    assert_bogus(keys_253, zone="mixed-ds.example.")   # the 253 DS excuses nothing
    with tampered(zones, "mixed-ds.example.", zone_claims_253):
        (posing,) = ask(zones, [("www.mixed-ds.example.", "A")])
    # the 13 DS matches no key any more: DNSKEY missing (EDE 9), never insecure
    assert (posing.rcode, posing.security, ede_codes(posing)[:1]) == (SERVFAIL, BOGUS, [9]), \
        posing.ede


def test_rsasha1_zone_is_insecure_by_default_and_secure_with_legacy(zones: Served) -> None:
    """RFC 9905 s2: RSASHA1 is treated as unsupported (insecure, EDE 1), as before
    issue 13; under the legacy policy the same zone validates, so the verdict comes
    from the policy and not from a badly signed zone."""
    www, nx = ask(zones, [("www.rsasha1.example.", "A"), ("nope.rsasha1.example.", "A")])
    assert (www.rcode, www.security, ede_codes(www)[:1]) == (NOERROR, INSECURE, [1]), www.reason
    assert "192.0.2.62" in data_text(www)
    assert (nx.rcode, nx.security, ede_codes(nx)[:1]) == (NXDOMAIN, INSECURE, [1]), nx.reason
    legacy_www, legacy_nx = ask(zones, [("www.rsasha1.example.", "A"),
                                        ("nope.rsasha1.example.", "A")],
                                legacy_algorithms=True)
    assert (legacy_www.rcode, legacy_www.security) == (NOERROR, SECURE), legacy_www.reason
    assert (legacy_nx.rcode, legacy_nx.security) == (NXDOMAIN, SECURE), legacy_nx.reason


# --------------------------------------------------------------------------
# Done when, 3: query --trace says why in plain words

def test_trace_explains_the_253_forgery(zones: Served,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    rewrite = forge_and_relabel("www.secure.example.", RRType.A, FORGED_A)
    with tampered(zones, "secure.example.", rewrite):
        status, out = trace_of(zones, capsys, "www.secure.example.")
    assert status == 1, out
    line = next((text for text in out.splitlines()
                 if "www.secure.example. A:" in text), "")
    assert "algorithm 253" in line, out
    assert "ECDSAP256" in line, out                   # the algorithm of the zone's keys
    assert "no valid signature" in line and line.rstrip().endswith("bogus"), out
    assert "verdict: bogus at secure.example." in out, out
    assert "insecure" not in out, out
    assert FORGED_TEXT not in out, out
