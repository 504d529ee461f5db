"""Round trips: random well-formed messages built with our builder parse back
identically (names with the sender's case, RDATA octet for octet), and dnspython
reads our output the same way (so name compression on output is sound)."""

from __future__ import annotations

import dns.edns
import dns.message
import dns.rdatatype
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resolver.wire import message as m
from resolver.wire import rdata as rd
from resolver.wire.name import Name
from resolver.wire.types import AA, AD, CD, DO, QR, RA, RD, TC, RRType

SETTINGS = settings(max_examples=100, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# labels from a small pool, so names share suffixes and compression kicks in
_LABELS = st.one_of(
    st.sampled_from([b"com", b"COM", b"Example", b"example", b"www", b"ns1", b"_25", b"_tcp",
                     b"*", b"x" * 63, b"a.b", b"\x00\xff", b"\xc0\x0c"]),
    st.binary(min_size=1, max_size=12),
)


@st.composite
def names(draw: st.DrawFn) -> Name:
    labels = draw(st.lists(_LABELS, max_size=6))
    while sum(len(label) + 1 for label in labels) + 1 > 255:
        labels.pop()
    return Name.from_labels(labels)


u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
blob = st.binary(max_size=40)


def _strings(max_count: int = 3) -> st.SearchStrategy[tuple[bytes, ...]]:
    return st.lists(st.binary(max_size=255), min_size=1, max_size=max_count).map(tuple)


_HASHES = {1: 20, 2: 32, 4: 48}


@st.composite
def ds_like(draw: st.DrawFn, cls: type[rd.DS]) -> rd.Rdata:
    digest_type = draw(st.sampled_from(sorted(_HASHES)))
    return cls(draw(u16), draw(u8), digest_type, draw(st.binary(min_size=_HASHES[digest_type],
                                                               max_size=_HASHES[digest_type])))


@st.composite
def tlsa_like(draw: st.DrawFn, cls: type[rd.TLSA]) -> rd.Rdata:
    mtype = draw(st.sampled_from([0, 1, 2]))
    size = {1: 32, 2: 64}.get(mtype)
    data = draw(st.binary(min_size=size or 1, max_size=size or 80))
    return cls(draw(u8), draw(u8), mtype, data)


_TYPES = st.sampled_from(sorted(t for t in range(1, 256) if t not in (41, 249, 250, 251, 252,
                                                                       253, 254, 255)))
BITMAP = st.frozensets(st.one_of(_TYPES, st.integers(256, 1300)), max_size=8)

TYPED: dict[int, st.SearchStrategy[rd.Rdata]] = {
    RRType.A: st.builds(rd.A, st.binary(min_size=4, max_size=4)),
    RRType.AAAA: st.builds(rd.AAAA, st.binary(min_size=16, max_size=16)),
    RRType.NS: st.builds(rd.NS, names()),
    RRType.CNAME: st.builds(rd.CNAME, names()),
    RRType.DNAME: st.builds(rd.DNAME, names()),
    RRType.PTR: st.builds(rd.PTR, names()),
    RRType.SOA: st.builds(rd.SOA, names(), names(), u32, u32, u32, u32, u32),
    RRType.MX: st.builds(rd.MX, u16, names()),
    RRType.TXT: st.builds(rd.TXT, _strings()),
    RRType.SPF: st.builds(rd.SPF, _strings()),
    RRType.HINFO: st.builds(rd.HINFO, st.binary(max_size=20), st.binary(max_size=20)),
    RRType.SRV: st.builds(rd.SRV, u16, u16, u16, names()),
    RRType.NAPTR: st.builds(rd.NAPTR, u16, u16, st.binary(max_size=5), st.binary(max_size=9),
                            st.binary(max_size=20), names()),
    RRType.PX: st.builds(rd.PX, u16, names(), names()),
    RRType.RP: st.builds(rd.RP, names(), names()),
    RRType.DS: ds_like(rd.DS),
    RRType.CDS: ds_like(rd.CDS),
    RRType.DNSKEY: st.builds(rd.DNSKEY, u16, u8, u8, blob),
    RRType.CDNSKEY: st.builds(rd.CDNSKEY, u16, u8, u8, blob),
    RRType.RRSIG: st.builds(rd.RRSIG, _TYPES, u8, u8, u32, u32, u32, u16, names(), blob),
    RRType.NSEC: st.builds(rd.NSEC, names(), BITMAP),
    RRType.NSEC3: st.builds(rd.NSEC3, u8, u8, u16, st.binary(max_size=10),
                            st.binary(min_size=1, max_size=32), BITMAP),
    RRType.NSEC3PARAM: st.builds(rd.NSEC3PARAM, u8, u8, u16, st.binary(max_size=10)),
    RRType.TLSA: tlsa_like(rd.TLSA),
    RRType.SMIMEA: tlsa_like(rd.SMIMEA),
    RRType.SSHFP: st.builds(rd.SSHFP, u8, st.just(2), st.binary(min_size=32, max_size=32)),
    RRType.OPENPGPKEY: st.builds(rd.OPENPGPKEY, blob),
}


@st.composite
def records(draw: st.DrawFn) -> m.RR:
    owner = draw(names())
    ttl = draw(st.integers(0, 0x7FFFFFFF))
    if draw(st.integers(0, 9)) == 0:  # an opaque type (RFC 3597)
        rtype = draw(st.sampled_from([10, 4000, 65280, 65534]))
        return m.RR(owner, rtype, 1, ttl, draw(blob))
    rtype = draw(st.sampled_from(sorted(TYPED)))
    data = draw(TYPED[rtype]).to_wire()
    return m.RR(owner, rtype, 1, ttl, data)


@st.composite
def messages(draw: st.DrawFn) -> m.Message:
    flag_bits = draw(st.lists(st.sampled_from([QR, AA, TC, RD, RA, AD, CD]), unique=True))
    flags = sum(flag_bits) | draw(st.integers(0, 5))  # rcode NOERROR..REFUSED
    questions = draw(st.lists(st.builds(m.Question, names(), _TYPES, st.just(1)), max_size=2))
    msg = m.Message(draw(u16), flags, questions,
                    draw(st.lists(records(), max_size=8)),
                    draw(st.lists(records(), max_size=8)),
                    draw(st.lists(records(), max_size=5)))
    if draw(st.booleans()):
        options = draw(st.lists(st.tuples(st.integers(65001, 65534), st.binary(max_size=12)),
                                max_size=3))
        msg.edns = m.Edns(payload=draw(st.integers(512, 4096)),
                          flags=draw(st.sampled_from([0, DO])), options=options)
        if draw(st.booleans()):
            msg.edns.options.append(m.ede_option(draw(st.integers(0, 30)),
                                                 draw(st.text(max_size=10))))
    return msg


def _snapshot(msg: m.Message) -> object:
    e = msg.edns
    return (msg.id, msg.flags, [(q.name.wire, q.qtype, q.qclass) for q in msg.question],
            [[(rr.name.wire, rr.rtype, rr.rclass, rr.ttl, rr.rdata) for rr in section]
             for section in msg.sections()],
            None if e is None else (e.payload, e.ext_rcode, e.version, e.flags, e.options))


@SETTINGS
@given(messages())
def test_build_then_parse_is_identity(msg: m.Message) -> None:
    wire = m.build(msg)
    back = m.parse(wire)
    assert _snapshot(back) == _snapshot(msg)
    assert m.build(back) == wire  # deterministic output


@SETTINGS
@given(messages())
def test_dnspython_reads_our_output_the_same(msg: m.Message) -> None:
    wire = m.build(msg)
    theirs = dns.message.from_wire(wire, ignore_trailing=False)
    assert theirs.id == msg.id and int(theirs.flags) == msg.flags
    for ours, their in ((msg.answer, theirs.answer), (msg.authority, theirs.authority),
                        (msg.additional, theirs.additional)):
        expect = {(rr.name.key, rr.rtype, rd.canonical(rr.rtype, rr.rdata)) for rr in ours
                  if not (dns.rdatatype.is_singleton(rr.rtype))}
        got = {(rrset.name.to_digestable(), int(rrset.rdtype),
                rd.canonical(rrset.rdtype, r.to_wire()))
               for rrset in their for r in rrset if not dns.rdatatype.is_singleton(rrset.rdtype)}
        assert got == expect
    if msg.edns is None:
        assert theirs.opt is None
    else:
        assert theirs.opt is not None
        assert [(int(o.otype), o.to_wire()) for o in theirs.opt[0].options] == [
            (c, dns.edns.option_from_wire(c, d, 0, len(d)).to_wire())
            for c, d in msg.edns.options]


@SETTINGS
@given(messages(), st.integers(12, 1500))
def test_build_with_size_limit(msg: m.Message, max_size: int) -> None:
    msg.set_flag(TC, False)
    full = m.build(msg)
    wire = m.build(msg, max_size)
    back = m.parse(wire)
    assert [q.name.wire for q in back.question] == [q.name.wire for q in msg.question]
    if len(full) <= max_size:
        assert wire == full
    elif back.has(TC):
        # only header, question and OPT are left
        assert not back.answer and not back.authority and not back.additional
    else:
        # ADDITIONAL dropped first, without TC (RFC 2181 s9)
        assert len(wire) <= max_size and not back.additional
        assert _snapshot(back)[3][:2] == _snapshot(msg)[3][:2]  # type: ignore[index]
