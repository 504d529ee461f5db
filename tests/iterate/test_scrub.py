"""The scrubber on hand-made replies (SECURITY.md s2): bailiwick, the answer chain,
DNAME precedence, glue rules, loops and over-long chains inside one packet."""

from __future__ import annotations

from collections.abc import Sequence

from resolver.config import IterLimits
from resolver.iterate.scrub import Kind, classify
from resolver.wire import message as wm
from resolver.wire.message import Message
from resolver.wire.name import Name
from resolver.wire.types import AA, Rcode, RRType
from resolver.wire.zonefile import read_rr_line

LIMITS = IterLimits()


def n(text: str) -> Name:
    return Name.from_text(text)


def reply(qname: str, qtype: int, answer: Sequence[str] = (), authority: Sequence[str] = (),
          additional: Sequence[str] = (), rcode: int = Rcode.NOERROR,
          aa: bool = True) -> Message:
    msg = wm.make_response(wm.make_query(n(qname), qtype), rcode)
    if aa:
        msg.set_flag(AA)
    msg.answer = [read_rr_line(t) for t in answer]
    msg.authority = [read_rr_line(t) for t in authority]
    msg.additional = [read_rr_line(t) for t in additional]
    return msg


SOA = "lab. 300 IN SOA ns1.lab. h.lab. 1 3600 900 86400 300"


def test_out_of_zone_answer_records_dropped() -> None:
    msg = reply("www.lab.", RRType.A, ["www.lab. 300 IN A 192.0.2.1",
                                       "www.other. 300 IN A 6.6.6.6"],
                authority=["other. 300 IN NS ns.evil.", "lab. 300 IN NS ns1.lab."],
                additional=["ns.evil. 300 IN A 6.6.6.6", "ns1.lab. 300 IN A 6.6.6.6"])
    cls = classify(msg, n("lab."), n("www.lab."), RRType.A, LIMITS)
    assert cls.kind == Kind.ANSWER
    assert [rs.name for rs in cls.answer] == [n("www.lab.")]
    assert cls.referral is None and cls.glue == []


def test_cname_leaving_the_zone_is_not_followed_in_the_packet() -> None:
    msg = reply("www.lab.", RRType.A, ["www.lab. 300 IN CNAME www.other.",
                                       "www.other. 300 IN A 6.6.6.6"])
    cls = classify(msg, n("lab."), n("www.lab."), RRType.A, LIMITS)
    assert cls.kind == Kind.CNAME
    assert cls.final_name == n("www.other.")
    assert cls.answer == [] and [rs.rtype for rs in cls.chain] == [RRType.CNAME]


def test_loop_in_one_packet() -> None:
    msg = reply("a.lab.", RRType.A, ["a.lab. 300 IN CNAME b.lab.",
                                     "b.lab. 300 IN CNAME a.lab."])
    cls = classify(msg, n("lab."), n("a.lab."), RRType.A, LIMITS)
    assert cls.kind == Kind.CNAME and cls.final_name == n("a.lab.")
    assert len(cls.chain) == 2


def test_chain_longer_than_a_packet_may_carry() -> None:
    links = [f"c{i}.lab. 300 IN CNAME c{i + 1}.lab." for i in range(20)]
    msg = reply("c0.lab.", RRType.A, [*links, "c20.lab. 300 IN A 192.0.2.1"])
    cls = classify(msg, n("lab."), n("c0.lab."), RRType.A, LIMITS)
    assert cls.kind == Kind.CNAME
    assert len(cls.chain) == LIMITS.cname_per_packet
    assert cls.final_name == n(f"c{LIMITS.cname_per_packet}.lab.")
    exact = reply("c0.lab.", RRType.A, [*links[:11], "c11.lab. 300 IN A 192.0.2.1"])
    cls = classify(exact, n("lab."), n("c0.lab."), RRType.A, LIMITS)
    assert cls.kind == Kind.ANSWER and len(cls.chain) == 11


def test_dname_occludes_data_below_it() -> None:
    """A record at a name below the DNAME (a forged one, or the server's copy of the
    synthesized CNAME) is never taken: the CNAME is ours."""
    msg = reply("www.d.lab.", RRType.A, ["d.lab. 300 IN DNAME other.",
                                         "www.d.lab. 300 IN CNAME evil.lab.",
                                         "www.d.lab. 300 IN A 6.6.6.6"])
    cls = classify(msg, n("lab."), n("www.d.lab."), RRType.A, LIMITS)
    assert cls.kind == Kind.CNAME
    assert cls.final_name == n("www.other.")
    assert [rs.rtype for rs in cls.chain] == [RRType.DNAME, RRType.CNAME]
    assert [Name(d) for d in cls.chain[1].rdatas] == [n("www.other.")]


def test_cname_question_below_a_dname() -> None:
    msg = reply("www.d.lab.", RRType.CNAME, ["d.lab. 300 IN DNAME other.",
                                             "www.d.lab. 300 IN CNAME evil.lab."])
    cls = classify(msg, n("lab."), n("www.d.lab."), RRType.CNAME, LIMITS)
    assert cls.kind == Kind.ANSWER
    assert [rs.rtype for rs in cls.chain] == [RRType.DNAME]
    assert [Name(d) for d in cls.answer[0].rdatas] == [n("www.other.")]


def test_dname_from_a_parent_zone_ignored() -> None:
    """A server for sub.lab. cannot rewrite names with a DNAME owned in lab."""
    msg = reply("www.x.sub.lab.", RRType.A, ["lab. 300 IN DNAME other.",
                                             "www.x.sub.lab. 300 IN A 192.0.2.1"])
    cls = classify(msg, n("sub.lab."), n("www.x.sub.lab."), RRType.A, LIMITS)
    assert cls.kind == Kind.ANSWER and cls.chain == []


def test_referral_glue_only_for_its_name_servers() -> None:
    msg = reply("www.sub.lab.", RRType.A, [],
                authority=["sub.lab. 300 IN NS ns1.sub.lab.",
                           "sub.lab. 300 IN NS ns.other."],
                additional=["ns1.sub.lab. 300 IN A 192.0.2.1",   # kept
                            "ns.other. 300 IN A 6.6.6.6",        # outside the delegation
                            "www.sub.lab. 300 IN A 6.6.6.6",     # not a name server
                            "ns2.lab. 300 IN A 6.6.6.6"],        # sibling
                aa=False)
    cls = classify(msg, n("lab."), n("www.sub.lab."), RRType.A, LIMITS)
    assert cls.kind == Kind.REFERRAL
    assert cls.referral is not None and cls.referral.name == n("sub.lab.")
    assert [rs.name for rs in cls.glue] == [n("ns1.sub.lab.")]


def test_upward_and_sideways_referrals_are_lame() -> None:
    for owner in ("lab.", ".", "other."):
        msg = reply("www.sub.lab.", RRType.A, [], authority=[f"{owner} 300 IN NS ns.x."],
                    aa=False)
        cls = classify(msg, n("sub.lab."), n("www.sub.lab."), RRType.A, LIMITS)
        assert cls.kind == Kind.LAME, owner


def test_referral_for_another_branch_is_lame() -> None:
    msg = reply("www.a.lab.", RRType.A, [], authority=["b.lab. 300 IN NS ns.b.lab."],
                additional=["ns.b.lab. 300 IN A 6.6.6.6"], aa=False)
    cls = classify(msg, n("lab."), n("www.a.lab."), RRType.A, LIMITS)
    assert cls.kind == Kind.LAME and cls.glue == []


def test_negative_answers_need_the_zone_soa() -> None:
    nx = reply("nope.lab.", RRType.A, [], authority=[SOA], rcode=Rcode.NXDOMAIN)
    cls = classify(nx, n("lab."), n("nope.lab."), RRType.A, LIMITS)
    assert cls.kind == Kind.NXDOMAIN and cls.soa is not None
    forged = reply("nope.lab.", RRType.A, [],
                   authority=["other. 300 IN SOA ns.other. h.other. 1 1 1 1 1"],
                   rcode=Rcode.NXDOMAIN)
    cls = classify(forged, n("lab."), n("nope.lab."), RRType.A, LIMITS)
    assert cls.kind == Kind.NXDOMAIN and cls.soa is None     # nothing to cache it with


def test_rrset_caps() -> None:
    many_ns = [f"sub.lab. 300 IN NS ns{i}.other." for i in range(40)]
    msg = reply("www.sub.lab.", RRType.A, [], authority=many_ns, aa=False)
    cls = classify(msg, n("lab."), n("www.sub.lab."), RRType.A, LIMITS)
    assert cls.referral is not None and len(cls.referral.rdatas) == LIMITS.ns_per_rrset
    many_a = [f"www.lab. 300 IN A 10.0.{i // 256}.{i % 256}" for i in range(300)]
    cls = classify(reply("www.lab.", RRType.A, many_a), n("lab."), n("www.lab."), RRType.A,
                   LIMITS)
    assert len(cls.answer[0].rdatas) == LIMITS.rrset_records


def test_errors_and_refusals() -> None:
    for rcode, kind in ((Rcode.REFUSED, Kind.LAME), (Rcode.SERVFAIL, Kind.ERROR),
                        (Rcode.NOTIMP, Kind.ERROR), (Rcode.FORMERR, Kind.ERROR)):
        msg = reply("www.lab.", RRType.A, ["www.lab. 300 IN A 192.0.2.1"], rcode=rcode)
        assert classify(msg, n("lab."), n("www.lab."), RRType.A, LIMITS).kind == kind
