from __future__ import annotations

import dns.message
import dns.rrset
import pytest

from resolver.wire import message as m
from resolver.wire.name import name
from resolver.wire.types import RRType


def _response() -> bytes:
    q = dns.message.make_query("WWW.Example.com", "A", want_dnssec=True)
    r = dns.message.make_response(q)
    r.answer.append(dns.rrset.from_text("WWW.Example.com.", 300, "IN", "A", "192.0.2.1"))
    r.authority.append(dns.rrset.from_text("example.com.", 300, "IN", "NS", "ns1.example.com."))
    r.authority.append(dns.rrset.from_text(
        "example.com.", 300, "IN", "SOA", "ns1.example.com. h.example.com. 1 2 3 4 5"))
    r.additional.append(dns.rrset.from_text("ns1.example.com.", 300, "IN", "A", "192.0.2.53"))
    return r.to_wire()


def test_parse_compressed_response() -> None:
    msg = m.parse(_response())
    assert msg.question[0].name == name("www.example.com")
    assert [rr.rtype for rr in msg.answer] == [RRType.A]
    ns = msg.authority[0]
    assert ns.data().target == name("ns1.example.com")  # type: ignore[attr-defined]
    assert msg.edns is not None and msg.edns.payload == 8192


def test_round_trip_through_builder() -> None:
    wire = _response()
    msg = m.parse(wire)
    again = m.parse(msg.to_wire())
    assert [rr.to_text() for rr in again.answer + again.authority + again.additional] == \
        [rr.to_text() for rr in msg.answer + msg.authority + msg.additional]


@pytest.mark.parametrize("cut", range(0, 60))
def test_truncations_raise_formerror(cut: int) -> None:
    wire = _response()
    with pytest.raises(m.FormError):
        m.parse(wire[:cut] if cut < len(wire) else wire + b"\x00")


def test_pointer_loop_and_forward_pointer() -> None:
    header = b"\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    with pytest.raises(m.FormError):
        m.parse(header + b"\xc0\x0c\x00\x01\x00\x01")  # points at itself
    with pytest.raises(m.FormError):
        m.parse(header + b"\xc0\x20\x00\x01\x00\x01")  # forward


def test_non_utf8_labels_accepted() -> None:
    header = b"\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    msg = m.parse(header + b"\x02\xc3\x28\x00\x00\x01\x00\x01")
    assert msg.question[0].name.labels == (b"\xc3\x28",)


def test_ede_round_trip() -> None:
    q = m.make_query(name("example."), RRType.A)
    r = m.make_response(q, 2)
    assert r.edns is not None
    r.edns.options.append(m.ede_option(6, "bogus: example."))
    back = m.parse(r.to_wire())
    assert back.rcode == 2
    assert back.ede() == [(6, "bogus: example.")]
    assert dns.message.from_wire(r.to_wire()).rcode() == 2
