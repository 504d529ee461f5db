"""Regression tests for parser discrepancies found by the differential fuzz
(tests/wire/test_fuzz.py), and for the rules the per-message name memo must keep.

Each case states what dnspython 2.9 does with the same octets: our parser must
never accept what dnspython rightly rejects.
"""

from __future__ import annotations

import struct
import time

import dns.exception
import dns.message
import pytest

from resolver.wire import message as m
from resolver.wire import rdata as rd
from resolver.wire.name import name
from resolver.wire.types import RRType

QNAME = name("example.com").wire  # at offset 12 in every message below


def _message(*rrs: bytes) -> bytes:
    """Header + question example.com/A + the given answer RRs (raw octets)."""
    header = struct.pack("!HHHHHH", 0x1234, 0x8400, 1, len(rrs), 0, 0)
    return header + QNAME + b"\x00\x01\x00\x01" + b"".join(rrs)


def _rr(owner: bytes, rtype: int, rdata: bytes, ttl: int = 300, rclass: int = 1) -> bytes:
    return owner + struct.pack("!HHIH", rtype, rclass, ttl, len(rdata)) + rdata


PTR_Q = b"\xc0\x0c"  # a pointer to the question name


def _dnspython_accepts(wire: bytes) -> bool:
    try:
        dns.message.from_wire(wire, ignore_trailing=False)
    except dns.exception.DNSException:
        return False
    return True


def _both_reject(wire: bytes) -> None:
    with pytest.raises(m.FormError):
        m.parse(wire)
    assert not _dnspython_accepts(wire)


def _both_accept(wire: bytes) -> m.Message:
    assert _dnspython_accepts(wire)
    return m.parse(wire)


# --------------------------------------------------------------------------
# discrepancies found by the fuzz


def test_kx_exchange_may_not_be_compressed() -> None:
    """KX (RFC 2230) is not in RFC 3597 s4's list of types to decompress; we used to
    decompress it, dnspython raises DecompressionForbidden."""
    _both_reject(_message(_rr(PTR_Q, RRType.KX, b"\x00\x0a" + b"\x02kx" + PTR_Q)))
    msg = _both_accept(_message(_rr(PTR_Q, RRType.KX, b"\x00\x0a" + b"\x02kx" + QNAME)))
    assert msg.answer[0].rdata == b"\x00\x0a\x02kx" + QNAME


@pytest.mark.parametrize("rtype", [RRType.TXT, RRType.SPF])
def test_txt_needs_at_least_one_string(rtype: int) -> None:
    """RFC 1035 s3.3.14: one or more character-strings; empty RDATA was accepted."""
    _both_reject(_message(_rr(PTR_Q, rtype, b"")))
    _both_accept(_message(_rr(PTR_Q, rtype, b"\x00")))  # one empty string is fine
    with pytest.raises(rd.RdataError):
        rd.decode(rtype, b"")


@pytest.mark.parametrize(("fp_type", "good", "bad"), [(1, 20, 32), (2, 32, 20)])
def test_sshfp_fingerprint_length_matches_type(fp_type: int, good: int, bad: int) -> None:
    """RFC 4255 s3.1.3 (SHA-1, 20 octets), RFC 6594 s3.2 (SHA-256, 32 octets)."""
    _both_reject(_message(_rr(PTR_Q, RRType.SSHFP, bytes((4, fp_type)) + b"\x11" * bad)))
    _both_accept(_message(_rr(PTR_Q, RRType.SSHFP, bytes((4, fp_type)) + b"\x11" * good)))
    _both_accept(_message(_rr(PTR_Q, RRType.SSHFP, bytes((4, 9)) + b"\x11" * 7)))  # unknown


@pytest.mark.parametrize("rtype", [RRType.TLSA, RRType.SMIMEA])
@pytest.mark.parametrize(("mtype", "good", "bad"), [(1, 32, 31), (2, 64, 32)])
def test_tlsa_data_length_matches_matching_type(rtype: int, mtype: int, good: int,
                                                bad: int) -> None:
    """RFC 6698 s2.1.3: matching type 1 is SHA-256 (32 octets), 2 is SHA-512 (64)."""
    _both_reject(_message(_rr(PTR_Q, rtype, bytes((3, 1, mtype)) + b"\x22" * bad)))
    _both_accept(_message(_rr(PTR_Q, rtype, bytes((3, 1, mtype)) + b"\x22" * good)))
    _both_accept(_message(_rr(PTR_Q, rtype, bytes((3, 0, 0)) + b"\x22" * 5)))  # full cert


def test_nsec_bitmap_trailing_zero_octet() -> None:
    """RFC 4034 s4.1.2: trailing zero octets must be omitted from a window."""
    _both_reject(_message(_rr(PTR_Q, RRType.NSEC, QNAME + b"\x00\x02\x40\x00")))
    _both_accept(_message(_rr(PTR_Q, RRType.NSEC, QNAME + b"\x00\x01\x40")))
    with pytest.raises(rd.RdataError):
        rd.bitmap_decode(b"\x00\x02\x40\x00")
    with pytest.raises(rd.RdataError):
        rd.bitmap_check(b"\x00\x02\x40\x00", 0, 4)


def _nsec3(salt: bytes, next_hash: bytes, bitmap: bytes) -> bytes:
    return (b"\x01\x00\x00\x0a" + bytes((len(salt),)) + salt + bytes((len(next_hash),))
            + next_hash + bitmap)


def test_nsec3_bitmap_trailing_zero_octet() -> None:
    _both_reject(_message(_rr(PTR_Q, RRType.NSEC3, _nsec3(b"", b"h" * 20, b"\x00\x02\x40\x00"))))
    _both_accept(_message(_rr(PTR_Q, RRType.NSEC3, _nsec3(b"ab", b"h" * 20, b"\x00\x01\x40"))))
    _both_accept(_message(_rr(PTR_Q, RRType.NSEC3, _nsec3(b"", b"h" * 20, b""))))  # ENT


def test_nsec3_next_hashed_owner_not_empty() -> None:
    """RFC 5155 s3.1.6: the hash is 1 to 255 octets."""
    _both_reject(_message(_rr(PTR_Q, RRType.NSEC3, _nsec3(b"", b"", b"\x00\x01\x40"))))
    with pytest.raises(rd.RdataError):
        rd.decode(RRType.NSEC3, _nsec3(b"", b"", b"\x00\x01\x40"))


@pytest.mark.parametrize("rdata", [
    b"\x00\x01\x0c\x03" + b"\x00" * 20,  # GOST digest (type 3) needs 32
    b"\x00\x01\x08\x02" + b"\x00" * 20,  # SHA-256 needs 32
    b"\x00\x01\x08\x00" + b"\x00",  # digest type 0 is reserved for DS
    b"\x00\x01\x08",  # too short
])
def test_ds_digest_rules(rdata: bytes) -> None:
    """DS has its own fast reader; it must keep the digest rules of rdata._extra_checks."""
    _both_reject(_message(_rr(PTR_Q, RRType.DS, rdata)))


def test_cds_delete_record_accepted() -> None:
    """RFC 8078 s4: CDS 0 0 0 00 asks for the DS to be removed."""
    _both_accept(_message(_rr(PTR_Q, RRType.CDS, b"\x00\x00\x00\x00\x00")))


# --------------------------------------------------------------------------
# the name memo: a pointer resolved from a remembered name keeps every rule


def _chain(first_target: int, start: int, hops: int) -> bytes:
    """*hops* pointers laid out from *start*: the first to *first_target*, each next
    one to the pointer before it."""
    out = b""
    for k in range(hops):
        target = first_target if k == 0 else start + 2 * (k - 1)
        out += struct.pack("!H", 0xC000 | target)
    return out


def _chain_message(chain_hops: int, *tail: bytes) -> tuple[bytes, int]:
    """Question, then an OPENPGPKEY RR (opaque) holding a pointer chain to the
    question name, then *tail* RRs. Returns the message prefix and the offset of the
    last pointer in the chain."""
    head = _message()
    rr_head = PTR_Q + struct.pack("!HHIH", RRType.OPENPGPKEY, 1, 300, 2 * chain_hops)
    start = len(head) + len(rr_head)
    chain = _chain(12, start, chain_hops)
    return head + rr_head + chain, start + 2 * (chain_hops - 1)


def _with_answers(prefix: bytes, *rrs: bytes) -> bytes:
    count = struct.unpack_from("!H", prefix, 6)[0] + 1 + len(rrs)
    return prefix[:6] + struct.pack("!H", count) + prefix[8:] + b"".join(rrs)


@pytest.mark.parametrize(("chain_hops", "ok"), [(13, True), (14, True), (15, False)])
def test_hop_limit_through_remembered_names(chain_hops: int, ok: bool) -> None:
    """Owner 1 is a label + a pointer into the chain (chain_hops + 1 hops); owner 2 is
    a bare pointer to owner 1, adding one more hop, resolved through the memo."""
    prefix, last = _chain_message(chain_hops)
    owner1_at = len(prefix)
    rr1 = _rr(b"\x01a" + struct.pack("!H", 0xC000 | last), RRType.A, b"\x01\x02\x03\x04")
    rr2 = _rr(struct.pack("!H", 0xC000 | owner1_at), RRType.A, b"\x01\x02\x03\x05")
    wire = _with_answers(prefix, rr1, rr2)
    # hops for owner 2: 1 (to owner 1) + 1 (into the chain) + chain_hops
    assert (chain_hops + 2 <= m.MAX_POINTER_HOPS) == ok
    if ok:
        msg = _both_accept(wire)
        assert msg.answer[2].name == name("a.example.com")
    else:
        _both_reject(wire)


def test_hop_limit_owner_directly() -> None:
    prefix, last = _chain_message(16)
    _both_reject(_with_answers(prefix, _rr(struct.pack("!H", 0xC000 | last), 1, b"\x00" * 4)))
    prefix, last = _chain_message(15)
    _both_accept(_with_answers(prefix, _rr(struct.pack("!H", 0xC000 | last), 1, b"\x00" * 4)))


def test_name_length_limit_through_remembered_names() -> None:
    """A remembered 250-octet name plus a 6-octet label is 256 octets: too long."""
    long_name = b"".join(b"\x3f" + b"x" * 63 for _ in range(3)) + b"\x38" + b"y" * 56 + b"\x00"
    assert len(long_name) == 250
    rr1 = _rr(long_name, RRType.A, b"\x01\x02\x03\x04")
    at = len(_message())
    ok = _rr(b"\x04abcd" + struct.pack("!H", 0xC000 | at), RRType.A, b"\x01\x02\x03\x04")
    bad = _rr(b"\x05abcde" + struct.pack("!H", 0xC000 | at), RRType.A, b"\x01\x02\x03\x04")
    msg = _both_accept(_message(rr1, ok))
    assert len(msg.answer[1].name.wire) == 255
    _both_reject(_message(rr1, bad))


def test_pointer_to_remembered_suffix() -> None:
    """A pointer to the middle of a name read earlier (the 'example.com' of the
    question) resolves to that suffix, with the sender's case."""
    q = (struct.pack("!HHHHHH", 1, 0x8000, 1, 2, 0, 0)
         + b"\x03WWW\x07Example\x03COM\x00\x00\x01\x00\x01")
    wire = (q + _rr(b"\xc0\x10", RRType.NS, b"\x02ns\xc0\x18")
            + _rr(b"\xc0\x18", RRType.A, b"\0" * 4))
    msg = _both_accept(wire)
    assert msg.answer[0].name.wire == b"\x07Example\x03COM\x00"
    assert msg.answer[0].rdata == b"\x02ns\x03COM\x00"
    assert msg.answer[1].name.wire == b"\x03COM\x00"


@pytest.mark.parametrize("pointer", [
    b"\xc0\x0c",  # the question name, fine
    b"\xc0\x0d",  # into the middle of the first label: not a name start we know
])
def test_pointer_into_a_label(pointer: bytes) -> None:
    wire = _message(_rr(pointer, RRType.A, b"\x00" * 4))
    assert (pointer == b"\xc0\x0c") == _dnspython_accepts(wire)
    if pointer == b"\xc0\x0c":
        m.parse(wire)
    else:
        # 0x0d is the octet 'e' of 'example' read as a label length (101): bad type
        with pytest.raises(m.FormError):
            m.parse(wire)


def test_pointer_loops_and_forward_pointers_rejected() -> None:
    head = _message()
    at = len(head)
    for owner in (struct.pack("!H", 0xC000 | at),  # itself
                  struct.pack("!H", 0xC000 | (at + 2)),  # forward
                  b"\x01a" + struct.pack("!H", 0xC000 | at)):  # back into its own start
        wire = head[:6] + b"\x00\x01" + head[8:] + _rr(owner, 1, b"\x00" * 4)
        _both_reject(wire)


def test_worst_case_message_is_linear() -> None:
    """A 64 KB message whose every owner takes the full 16-hop walk (its pointer
    target is in opaque RDATA, so never remembered) parses in bounded time."""
    prefix, last = _chain_message(14)
    rr = _rr(b"\x01a" + struct.pack("!H", 0xC000 | last), RRType.A, b"\x01\x02\x03\x04")
    count = (65535 - len(prefix)) // len(rr)
    wire = prefix[:6] + struct.pack("!H", 1 + count) + prefix[8:] + rr * count
    t0 = time.thread_time()
    msg = m.parse(wire)
    elapsed = time.thread_time() - t0
    assert len(msg.answer) == count + 1
    assert elapsed < 1.0, f"{count} RRs took {elapsed:.2f} s"


def test_many_edns_options_linear() -> None:
    """SECURITY.md s3: EDNS option lists are parsed in linear time."""
    options = b"\xfd\xe9\x00\x00" * 16000
    opt = b"\x00" + struct.pack("!HHIH", RRType.OPT, 1232, 0, len(options)) + options
    wire = struct.pack("!HHHHHH", 1, 0x8000, 1, 0, 0, 1) + QNAME + b"\x00\x01\x00\x01" + opt
    t0 = time.thread_time()
    msg = m.parse(wire)
    assert msg.edns is not None and len(msg.edns.options) == 16000
    assert time.thread_time() - t0 < 1.0


# --------------------------------------------------------------------------
# fast readers agree with the generic typed decode


@pytest.mark.parametrize(("rtype", "rdata"), [
    (RRType.SOA, QNAME + QNAME + b"\x00" * 19),
    (RRType.SOA, QNAME + QNAME + b"\x00" * 21),
    (RRType.MX, b"\x00"),
    (RRType.MX, b"\x00\x0a" + QNAME + b"\x00"),
    (RRType.NS, QNAME + b"\x00"),
    (RRType.DNAME, b"\x07example\xc0\x0c"),
    (RRType.RRSIG, b"\x00" * 18),
    (RRType.RRSIG, b"\x00" * 18 + b"\xc0\x0c"),
    (RRType.NSEC, b"\xc0\x0c\x00\x01\x40"),
    (RRType.NSEC3, b"\x01\x00\x00"),
    (RRType.NSEC3, b"\x01\x00\x00\x00\x05ab"),
    (RRType.DNSKEY, b"\x01\x01\x03"),
    (RRType.AAAA, b"\x00" * 15),
    (RRType.A, b"\x00" * 5),
    (RRType.TXT, b"\x05abc"),
    (RRType.TSIG, b""),
    (RRType.TKEY, b""),
])
def test_fast_readers_reject_malformed(rtype: int, rdata: bytes) -> None:
    with pytest.raises(m.FormError):
        m.parse(_message(_rr(PTR_Q, rtype, rdata)))


def test_opt_rules() -> None:
    opt = b"\x00" + struct.pack("!HHIH", RRType.OPT, 1232, 0, 0)
    header = struct.pack("!HHHHHH", 1, 0x8000, 1, 0, 0, 2) + QNAME + b"\x00\x01\x00\x01"
    _both_reject(header + opt + opt)  # twice
    header = struct.pack("!HHHHHH", 1, 0x8000, 1, 1, 0, 0) + QNAME + b"\x00\x01\x00\x01"
    _both_reject(header + opt)  # in ANSWER
    header = struct.pack("!HHHHHH", 1, 0x8000, 1, 0, 0, 1) + QNAME + b"\x00\x01\x00\x01"
    _both_reject(header + PTR_Q + opt[1:])  # owner not root
    msg = _both_accept(header + opt)
    assert msg.edns is not None and msg.edns.payload == 1232


def test_question_is_a_tuple() -> None:
    msg = m.parse(_message())
    q = msg.question[0]
    assert q == m.Question(name("example.com"), 1, 1)
    assert (q.name, q.qtype, q.qclass) == (name("example.com"), 1, 1)
    assert m.Question(name("a.example"), 1).qclass == 1
    assert m.parse_question(_message()) == (0x1234, 0x8400, q)
