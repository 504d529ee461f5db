"""The authoritative test server against NSD, on the interop hierarchy signed by BIND and ldns.

Every query of cases.txt is asked the way a resolver asks it: referrals are walked from the
root server 127.0.0.11 with dnspython (an independent client). The answer of the server
that is authoritative must match what NSD answered to the same query (recorded in
tests/data/interop/nsd-answers.json by record_nsd.py), and every denial in it (NXDOMAIN,
NODATA, wildcard, insecure referral) must verify and prove what cases.txt expects, checked
with the project's verify_rrset and prove_denial against the keys in the zone files.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from typing import Any

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

from resolver.config import ValidationLimits as Limits
from resolver.dnssec.budget import Budget
from resolver.dnssec.denial import DenialKind, prove_denial
from resolver.dnssec.keys import match_ds
from resolver.dnssec.status import Problem, Security, Verdict
from resolver.dnssec.verify import verify_dnskey_rrset, verify_rrset
from resolver.wire.message import RR
from resolver.wire.name import Name
from resolver.wire.rrset import RRset, group
from resolver.wire.types import RRType
from resolver.wire.zonefile import read_rr_line, read_zone_file

from . import record_nsd as R
from .conftest import RunningNetwork

NOW = 1795881600  # 2026-11-28T16:00:00Z, see tests/data/interop/README.md
ANSWERS = R.load_answers()
CASES = R.read_cases()
RECORDED = {f"{e['kind']}:{e['qname']}/{e['qtype']}": e for e in ANSWERS["answers"]}
DELEGATIONS = R.delegations()
OPT_OUT_PARENTS = {"ecdsa384.test."}
_NSEC_TYPES = (RRType.NSEC, RRType.NSEC3)


# --------------------------------------------------------------------------
# zone keys, as a validator would trust them

@dataclass
class ZoneInfo:
    origin: Name
    records: list[RR]
    dnskeys: list[bytes]
    trust: Verdict   # SECURE: the DNSKEY RRset is authenticated by the DS at the parent

    def get(self, owner: Name, rtype: int) -> RRset | None:
        for rs in group(rr for rr in self.records if rr.name == owner):
            if rs.rtype == rtype:
                return rs
        return None


def _load_infos() -> dict[str, ZoneInfo]:
    infos: dict[str, ZoneInfo] = {}
    for zone, _address, filename in R.read_zone_map():
        origin = Name.from_text(zone)
        records = read_zone_file(R.ZONE_DIR / filename, origin)
        infos[zone] = ZoneInfo(origin, records, [], Verdict.secure())
    root_ds = [read_rr_line(line).rdata for line in (R.INTEROP / "root.ds").read_text()
               .splitlines() if line.strip() and not line.startswith(";")]
    for zone, info in infos.items():
        dnskey = info.get(info.origin, RRType.DNSKEY)
        info.dnskeys = list(dnskey.rdatas) if dnskey is not None else []
        if info.origin.is_root():
            ds = root_ds
        else:
            parent = infos[R.zone_of(info.origin.parent().to_text())]
            ds_rrset = parent.get(info.origin, RRType.DS)
            ds = list(ds_rrset.rdatas) if ds_rrset is not None else []
        if not ds:
            info.trust = Verdict.insecure(Problem.NO_DS, f"no DS for {zone}")
        elif dnskey is None:
            info.trust = Verdict.bogus(Problem.DNSKEY_MISSING, f"DS but no DNSKEY in {zone}")
        else:
            matched = match_ds(info.origin, ds, info.dnskeys)
            info.trust = verify_dnskey_rrset(dnskey, matched, NOW, Budget.unlimited()).verdict
    return infos


INFOS = _load_infos()


# --------------------------------------------------------------------------
# dnspython messages -> the project's records

def project_name(name: dns.name.Name) -> Name:
    return Name(name.to_wire(None) or b"")


def to_rrs(section: list[dns.rrset.RRset]) -> list[RR]:
    out = []
    for rrset in section:
        owner = project_name(rrset.name)
        for rdata in rrset:
            out.append(RR(owner, rrset.rdtype, rrset.rdclass, rrset.ttl, rdata.to_wire()))
    return out


def denial_rrsets(msg: dns.message.Message) -> list[RRset]:
    return [rs for rs in group(to_rrs(msg.authority)) if rs.rtype in _NSEC_TYPES]


def denial_security(kind: DenialKind, qname: Name, qtype: int, zone: str,
                    msg: dns.message.Message,
                    wildcard_labels: int | None = None) -> tuple[Security, list[str]]:
    """The weakest of: the zone's keys, the signatures over the NSEC/NSEC3 RRsets in
    AUTHORITY, and the proof itself; with notes saying why."""
    info = INFOS[zone]
    rrsets = denial_rrsets(msg)
    notes = [f"zone keys: {info.trust}"]
    if not info.dnskeys:  # an unsigned zone: no proofs, the referral said insecure
        assert not rrsets, f"unsigned {zone} sent NSEC/NSEC3"
        assert not any(rs.rdtype == dns.rdatatype.RRSIG for rs in msg.authority)
        return info.trust.security, notes
    assert rrsets, f"no NSEC/NSEC3 in the authority section of {qname}"
    if info.trust.security != Security.SECURE:
        # keys that are not authenticated verify nothing: the zone's status is the
        # denial's (an insecure zone's RRSIGs are not looked at, a bogus zone's fail)
        return info.trust.security, notes
    budget = Budget()
    levels = [info.trust.security]
    for rs in rrsets:
        result = verify_rrset(rs, info.dnskeys, info.origin, NOW, budget)
        notes.append(f"{rs!r}: {result.verdict}")
        levels.append(result.security)
    proof = prove_denial(kind, qname, qtype, info.origin, rrsets, Limits(), budget,
                         wildcard_labels=wildcard_labels)
    notes.append(proof.describe())
    levels.append(proof.security)
    return min(levels), notes


def expectations(expect: str) -> set[tuple[str, str]]:
    """cases.txt EXPECT -> {(form, security)}; form is positive, nxdomain, nodata or any."""
    out = set()
    for option in expect.split("|"):
        if "-" in option:
            form, security = option.split("-")
        else:
            form, security = ("any" if option == "bogus" else "positive"), option
        out.add((form, security))
    return out


def chain_end(msg: dns.message.Message, qname: dns.name.Name) -> dns.name.Name:
    """Follow the CNAMEs of the answer section from *qname*."""
    cnames = {rs.name: rs[0].target for rs in msg.answer if rs.rdtype == dns.rdatatype.CNAME}
    name = qname
    for _ in range(len(cnames)):
        if name not in cnames:
            break
        name = cnames[name]
    return name


def rrset_in(section: list[dns.rrset.RRset], name: dns.name.Name, rdtype: int,
             covers: int = 0) -> dns.rrset.RRset | None:
    for rs in section:
        if rs.name == name and rs.rdtype == rdtype and rs.covers == covers:
            return rs
    return None


# --------------------------------------------------------------------------
# fixtures

@pytest.fixture(scope="module")
def walks(interop_net: RunningNetwork) -> dict[str, list[R.Hop]]:
    """Referral walks from the root, per case key, done once."""
    return {}


def walk(net: RunningNetwork, walks: dict[str, list[R.Hop]], case: R.Case) -> list[R.Hop]:
    if case.key not in walks:
        walks[case.key] = R.walk(case.qname, case.qtype, net.port)
    return walks[case.key]


def as_json(net: RunningNetwork, server: str, qname: str, qtype: str,
            tcp: bool) -> dict[str, Any]:
    return R.to_json(R.ask(server, net.port, qname, qtype, tcp=tcp))


# --------------------------------------------------------------------------
# 1. every case: same answer as NSD, and the denials prove what cases.txt says

def test_recording_covers_every_case() -> None:
    assert len(CASES) == 109
    missing = [c.key for c in CASES if f"case:{c.key}" not in RECORDED]
    assert not missing
    assert len([e for e in ANSWERS["answers"] if e["kind"] == "ds"]) == len(DELEGATIONS)
    assert len([e for e in ANSWERS["answers"] if e["kind"] == "referral"]) == len(DELEGATIONS)


@pytest.mark.parametrize("case", CASES, ids=[c.key for c in CASES])
def test_case_matches_nsd(interop_net: RunningNetwork, walks: dict[str, list[R.Hop]],
                          case: R.Case) -> None:
    entry = RECORDED[f"case:{case.key}"]
    hops = walk(interop_net, walks, case)
    server = hops[-1].server
    assert server == entry["server"], [h.server for h in hops]
    assert server == R.server_of_zone(R.zone_of(case.qname, case.qtype))
    for transport in ("udp", "tcp"):
        ours = as_json(interop_net, server, case.qname, case.qtype, transport == "tcp")
        nsd = entry["udp"] if transport == "udp" else R.tcp_entry(entry)
        diffs = R.differences(ours, nsd, R.tcp_entry(entry))
        assert not diffs, f"{transport}: " + "\n".join(diffs)


@pytest.mark.parametrize("case", CASES, ids=[c.key for c in CASES])
def test_case_denials_prove_expected(interop_net: RunningNetwork,
                                     walks: dict[str, list[R.Hop]], case: R.Case) -> None:
    hops = walk(interop_net, walks, case)
    for hop in hops[:-1]:
        check_referral(hop.reply)
    final = hops[-1]
    msg = R.ask(final.server, interop_net.port, case.qname, case.qtype, tcp=True)
    qname = dns.name.from_text(case.qname)
    qtype = dns.rdatatype.from_text(case.qtype)
    target = chain_end(msg, qname)
    target_zone = R.zone_of(target.to_text(), case.qtype)
    allowed = expectations(case.expect)
    if R.server_of_zone(target_zone) != final.server:
        # the CNAME leaves this server: the resolver goes on elsewhere
        assert target != qname and msg.rcode() == dns.rcode.NOERROR
        return
    data = rrset_in(msg.answer, target, qtype)
    if data is not None:
        sig = rrset_in(msg.answer, target, dns.rdatatype.RRSIG, qtype)
        labels = min((rd.labels for rd in sig), default=None) if sig is not None else None
        owner_labels = len(target) - 1
        if labels is None or labels >= owner_labels:
            assert {"positive", "any"} & {form for form, _ in allowed}, case.expect
            return  # a plain positive answer: no denial in it
        form, kind, wildcard_labels = "positive", DenialKind.WILDCARD, labels
    elif msg.rcode() == dns.rcode.NXDOMAIN:
        form, kind, wildcard_labels = "nxdomain", DenialKind.NXDOMAIN, None
    else:
        assert msg.rcode() == dns.rcode.NOERROR
        form, kind, wildcard_labels = "nodata", DenialKind.NODATA, None
    security, notes = denial_security(kind, project_name(target), qtype, target_zone, msg,
                                      wildcard_labels)
    got = (form, security.label)
    assert got in allowed or ("any", security.label) in allowed, \
        f"{got} not in {sorted(allowed)}\n" + "\n".join(notes)


def check_referral(reply: dns.message.Message) -> None:
    """A referral on the way down: DS signed by the parent, or a proof of no DS."""
    ns = next(rs for rs in reply.authority if rs.rdtype == dns.rdatatype.NS)
    child = ns.name
    parent = R.zone_of(child.parent().to_text())
    ds = rrset_in(reply.authority, child, dns.rdatatype.DS)
    if ds is not None:
        info = INFOS[parent]
        ds_sets = [rs for rs in group(to_rrs(reply.authority)) if rs.rtype == RRType.DS]
        result = verify_rrset(ds_sets[0], info.dnskeys, info.origin, NOW, Budget())
        assert result.security == Security.SECURE, result.verdict
        return
    security, notes = denial_security(DenialKind.NO_DS, project_name(child), RRType.DS,
                                      parent, reply)
    expected = Security.INSECURE if parent in OPT_OUT_PARENTS else Security.SECURE
    assert security == expected, "\n".join(notes)


# --------------------------------------------------------------------------
# 2. referrals and DS at every delegation

@pytest.mark.parametrize(("child", "parent"), DELEGATIONS, ids=[c for c, _ in DELEGATIONS])
def test_referral(interop_net: RunningNetwork, child: str, parent: str) -> None:
    server = R.server_of_zone(parent)
    child_name = Name.from_text(child)
    pinfo = INFOS[parent]
    zone_ns = pinfo.get(child_name, RRType.NS)
    zone_ds = pinfo.get(child_name, RRType.DS)
    assert zone_ns is not None
    targets = {Name(data) for data in zone_ns.rdatas}
    glue = {(str(t).lower(), rs.rtype, data) for t in targets if t.is_subdomain(child_name)
            for rs in (pinfo.get(t, RRType.A), pinfo.get(t, RRType.AAAA)) if rs is not None
            for data in rs.rdatas}
    for tcp in (False, True):
        msg = R.ask(server, interop_net.port, "www." + child, "A", tcp=tcp)
        assert msg.rcode() == dns.rcode.NOERROR
        assert not msg.flags & dns.flags.AA
        assert not msg.flags & dns.flags.TC
        assert not msg.answer
        auth = group(to_rrs(msg.authority))
        ns = [rs for rs in auth if rs.rtype == RRType.NS]
        assert len(ns) == 1 and ns[0].name == child_name
        assert {Name(d) for d in ns[0].rdatas} == targets
        assert not ns[0].sigs, "the NS RRset at a cut is not signed (RFC 4035 s2.2)"
        got_glue = {(str(rr.name).lower(), rr.rtype, rr.rdata) for rr in to_rrs(msg.additional)
                    if rr.rtype in (RRType.A, RRType.AAAA)}
        assert got_glue == glue
        if child == "glueless.test.":
            assert not glue and not msg.additional
        ds = [rs for rs in auth if rs.rtype == RRType.DS]
        if zone_ds is not None:
            assert len(ds) == 1 and set(ds[0].rdatas) == set(zone_ds.rdatas)
            assert ds[0].sigs, "DS without RRSIG"
            assert not denial_rrsets(msg)
            result = verify_rrset(ds[0], pinfo.dnskeys, pinfo.origin, NOW, Budget())
            assert result.security == Security.SECURE, result.verdict
        else:
            assert not ds
            check_referral(msg)


@pytest.mark.parametrize(("child", "parent"), DELEGATIONS, ids=[c for c, _ in DELEGATIONS])
def test_referral_and_ds_match_nsd(interop_net: RunningNetwork, child: str,
                                   parent: str) -> None:
    for kind, qname, qtype in (("referral", "www." + child, "A"), ("ds", child, "DS")):
        entry = RECORDED[f"{kind}:{qname}/{qtype}"]
        assert entry["server"] == R.server_of_zone(parent)
        for tcp in (False, True):
            ours = as_json(interop_net, entry["server"], qname, qtype, tcp)
            nsd = R.tcp_entry(entry) if tcp else entry["udp"]
            diffs = R.differences(ours, nsd, R.tcp_entry(entry))
            assert not diffs, f"{kind} tcp={tcp}: " + "\n".join(diffs)


@pytest.mark.parametrize(("child", "parent"), DELEGATIONS, ids=[c for c, _ in DELEGATIONS])
def test_ds_query_at_parent(interop_net: RunningNetwork, child: str, parent: str) -> None:
    """DS is answered by the parent: the signed DS, or a NODATA proof for DS."""
    msg = R.ask(R.server_of_zone(parent), interop_net.port, child, "DS", tcp=True)
    assert msg.rcode() == dns.rcode.NOERROR and msg.flags & dns.flags.AA
    child_name = Name.from_text(child)
    if INFOS[parent].get(child_name, RRType.DS) is not None:
        sets = [rs for rs in group(to_rrs(msg.answer)) if rs.rtype == RRType.DS]
        assert len(sets) == 1
        pinfo = INFOS[parent]
        assert verify_rrset(sets[0], pinfo.dnskeys, pinfo.origin, NOW, Budget()).security \
            == Security.SECURE
    else:
        assert not msg.answer
        security, notes = denial_security(DenialKind.NODATA, child_name, RRType.DS, parent, msg)
        expected = Security.INSECURE if parent in OPT_OUT_PARENTS else Security.SECURE
        assert security == expected, "\n".join(notes)


# --------------------------------------------------------------------------
# 3. transport and protocol

def udp_raw(address: str, port: int, wire: bytes, timeout: float = 2.0) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(wire, (address, port))
        data, _ = sock.recvfrom(65535)
        return data


def test_big_answer_truncated_over_udp_full_over_tcp(interop_net: RunningNetwork) -> None:
    address = R.server_of_zone("rsasha256.test.")
    query = R.make_query("big.rsasha256.test.", "TXT", payload=1232)
    raw = udp_raw(address, interop_net.port, query.to_wire())
    assert len(raw) <= 1232
    udp = dns.message.from_wire(raw)
    assert udp.flags & dns.flags.TC and udp.id == query.id
    assert not udp.answer
    tcp = R.ask(address, interop_net.port, "big.rsasha256.test.", "TXT", tcp=True)
    assert not tcp.flags & dns.flags.TC
    txt = rrset_in(tcp.answer, dns.name.from_text("big.rsasha256.test."), dns.rdatatype.TXT)
    assert txt is not None
    assert sum(len(s) for rd in txt for s in rd.strings) >= 3000
    assert len(tcp.to_wire()) > 3000
    entry = RECORDED["case:big.rsasha256.test./TXT"]
    assert not R.differences(R.to_json(tcp), R.tcp_entry(entry))
    assert not R.differences(R.to_json(udp), entry["udp"])


@pytest.mark.parametrize("edns", [False, True], ids=["no-edns", "edns-512"])
def test_udp_limit_512(interop_net: RunningNetwork, edns: bool) -> None:
    """Without EDNS (or EDNS offering 512) an answer is at most 512 bytes (RFC 1035 s4.2.1)."""
    address = R.server_of_zone("rsasha256.test.")
    # the NXDOMAIN only needs TC with DO=1 (its RRSIGs and NSECs); without EDNS no DO
    for qname, qtype, tc in (("big.rsasha256.test.", "TXT", True),
                             ("rsasha256.test.", "DNSKEY", True),
                             ("nope.rsasha256.test.", "A", edns)):
        query = R.make_query(qname, qtype, edns=edns, payload=512)
        raw = udp_raw(address, interop_net.port, query.to_wire())
        assert len(raw) <= 512, (qname, len(raw))
        reply = dns.message.from_wire(raw)
        assert bool(reply.flags & dns.flags.TC) == tc, qname
        assert (reply.edns >= 0) == edns
        if not tc:
            assert reply.rcode() == dns.rcode.NXDOMAIN and len(reply.authority) == 1
    # a small answer without EDNS: complete, no OPT, no DNSSEC records (no DO bit)
    query = R.make_query("www.rsasha256.test.", "A", edns=False)
    reply = dns.message.from_wire(udp_raw(address, interop_net.port, query.to_wire()))
    assert not reply.flags & dns.flags.TC and reply.edns < 0
    assert [rs.rdtype for rs in reply.answer] == [dns.rdatatype.A]


def test_refused_for_zone_not_served(interop_net: RunningNetwork) -> None:
    ours = R.to_json(R.ask("127.0.0.13", interop_net.port, "www.test.", "A", tcp=False))
    assert ours["rcode"] == "REFUSED" and "aa" not in ours["flags"]
    for name in ("www.example.", "nonexistent-tld.", "."):
        msg = R.ask("127.0.0.15", interop_net.port, name, "A", tcp=True)
        assert msg.rcode() == dns.rcode.REFUSED


def test_formerr_for_malformed_query(interop_net: RunningNetwork) -> None:
    good = R.make_query("www.test.", "A").to_wire()
    msg_id = struct.unpack("!H", good[:2])[0]
    # header promises a question, which is cut in the middle of the name
    broken = good[:12 + 5]
    reply = dns.message.from_wire(udp_raw("127.0.0.12", interop_net.port, broken))
    assert reply.rcode() == dns.rcode.FORMERR and reply.id == msg_id
    assert reply.flags & dns.flags.QR
    # two questions
    two = dns.message.make_query("www.test.", "A", flags=0)
    two.question.append(dns.rrset.RRset(dns.name.from_text("test."), dns.rdataclass.IN,
                                        dns.rdatatype.SOA))
    reply = dns.message.from_wire(udp_raw("127.0.0.12", interop_net.port, two.to_wire()))
    assert reply.rcode() == dns.rcode.FORMERR and reply.id == two.id


def test_notimp_for_other_opcode(interop_net: RunningNetwork) -> None:
    for opcode in (dns.opcode.IQUERY, dns.opcode.STATUS):
        query = dns.message.make_query("www.test.", "A", flags=0)
        query.set_opcode(opcode)
        reply = dns.message.from_wire(udp_raw("127.0.0.12", interop_net.port, query.to_wire()))
        assert reply.rcode() == dns.rcode.NOTIMP and reply.id == query.id
        assert reply.opcode() == opcode and not reply.answer


def test_badvers_for_edns_version_1(interop_net: RunningNetwork) -> None:
    query = dns.message.make_query("www.test.", "A", use_edns=1, want_dnssec=True, flags=0)
    reply = dns.message.from_wire(udp_raw("127.0.0.12", interop_net.port, query.to_wire()))
    assert reply.rcode() == dns.rcode.BADVERS
    assert reply.edns == 0  # the version the server does speak (RFC 6891 s6.1.3)
    assert not reply.answer and not reply.flags & dns.flags.AA


def test_other_classes_refused(interop_net: RunningNetwork) -> None:
    """Only class IN is served (and ANY, without AA), as NSD does."""
    for rdclass in ("CH", "HS", "NONE"):
        query = dns.message.make_query("www.test.", "A", rdclass=rdclass, flags=0, use_edns=0)
        reply = dns.message.from_wire(udp_raw("127.0.0.12", interop_net.port, query.to_wire()))
        assert reply.rcode() == dns.rcode.REFUSED and not reply.answer, rdclass
        assert [int(o.code) for o in reply.options] == [21]  # EDE Not Supported
    query = dns.message.make_query("www.test.", "A", rdclass="ANY", flags=0)
    reply = dns.message.from_wire(udp_raw("127.0.0.12", interop_net.port, query.to_wire()))
    assert reply.rcode() == dns.rcode.NOERROR and not reply.flags & dns.flags.AA
    assert [rs.rdtype for rs in reply.answer] == [dns.rdatatype.A]


def test_zone_transfers_refused(interop_net: RunningNetwork) -> None:
    refused, notimp = dns.rcode.REFUSED, dns.rcode.NOTIMP
    for qtype, tcp, rcode in (("AXFR", False, notimp), ("AXFR", True, refused),
                              ("IXFR", False, refused), ("IXFR", True, refused)):
        query = dns.message.make_query("test.", qtype, flags=0)
        if tcp:
            reply = dns.query.tcp(query, "127.0.0.12", port=interop_net.port, timeout=3)
        else:
            reply = dns.query.udp(query, "127.0.0.12", port=interop_net.port, timeout=3)
        assert reply.rcode() == rcode and not reply.answer, (qtype, tcp)


@pytest.mark.parametrize("zone", ["test.", "rsasha256.test.", "ecdsa256.test."])
def test_rrsig_query_gets_every_rrsig_at_the_name(interop_net: RunningNetwork,
                                                  zone: str) -> None:
    """QTYPE RRSIG: all RRSIGs at the name (RFC 4035 s3.1.5 lets them be asked for)."""
    info = INFOS[zone]
    owner = Name.from_text("www." + zone)
    expected = {(sig[:2], sig) for rs in group(info.records) if rs.name == owner
                for sig in rs.sigs}
    reply = R.ask(R.server_of_zone(zone), interop_net.port, "www." + zone, "RRSIG", tcp=True)
    assert reply.rcode() == dns.rcode.NOERROR and reply.flags & dns.flags.AA
    got = {(rr.rdata[:2], rr.rdata) for rr in to_rrs(reply.answer)}
    assert got == expected and len(got) >= 2
    unsigned = R.ask("127.0.0.14", interop_net.port, "www.insecure.test.", "RRSIG", tcp=True)
    assert unsigned.rcode() == dns.rcode.NOERROR and not unsigned.answer


EDGE = R.load_answers()["edge"]


@pytest.mark.parametrize("name", list(EDGE))
def test_protocol_edge_case_like_recorded_nsd(interop_net: RunningNetwork, name: str) -> None:
    """The exact query NSD got (same ID), replayed: same header, EDNS, EDE and sections."""
    probe = EDGE[name]
    raw = udp_raw(probe["address"], interop_net.port, bytes.fromhex(probe["query"]))
    diffs = R.edge_differences(R.summarize(raw), probe["reply"])
    assert not diffs, "\n".join(diffs)
