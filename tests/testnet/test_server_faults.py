"""Fault injection in the authoritative test server, seen from the wire.

Each fault of :class:`resolver.testnet.faults.Faults` is switched on from the test, once
for a whole server (zone None) and once for one zone, and observed with dnspython and
raw sockets: with a per-zone fault, another zone on the same server must still be
answered normally. Also: two networks in one run do not collide.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable, Iterator

import dns.dnssec
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import pytest

from resolver.testnet.faults import Faults
from resolver.wire.message import RR, Message
from resolver.wire.types import RRType
from resolver.wire.zonefile import read_rr_line

from . import record_nsd as R
from .conftest import LoopThread, RunningNetwork, running_network

ADDRESS = "127.0.0.13"           # serves rsasha256.test. (NSEC) and ecdsa256.test. (NSEC3)
ZONE = "rsasha256.test."         # the zone a per-zone fault is set on
OTHER = "ecdsa256.test."         # same server, another zone
WAIT = 0.4                       # how long "no answer" is waited for
SLOW = 0.3
POISON_AUTH = read_rr_line("evil.example. 300 IN NS ns.evil.example.")
POISON_ADD = read_rr_line("ns1.rsasha256.test. 300 IN A 192.0.2.66")


@pytest.fixture(autouse=True)
def _clean(interop_net: RunningNetwork) -> Iterator[None]:
    interop_net.clear_faults()
    yield
    interop_net.clear_faults()


# --------------------------------------------------------------------------
# raw exchanges: what exactly comes back, and from where

def udp_exchange(port: int, wire: bytes, address: str = ADDRESS,
                 timeout: float = 2.0) -> tuple[bytes, tuple[str, int]] | None:
    """Send *wire* from an unconnected socket; the first datagram back and its source."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(timeout)
        sock.sendto(wire, (address, port))
        try:
            data, source = sock.recvfrom(65535)
        except TimeoutError:
            return None
        return data, source


def tcp_exchange(port: int, wire: bytes, address: str = ADDRESS,
                 timeout: float = 2.0) -> bytes | None:
    with socket.create_connection((address, port), timeout=timeout) as sock:
        sock.sendall(struct.pack("!H", len(wire)) + wire)
        try:
            head = _read(sock, 2)
            return _read(sock, struct.unpack("!H", head)[0]) if head else None
        except TimeoutError:
            return None


def _read(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return b""
        buf += chunk
    return buf


def query(qname: str, qtype: str = "A", edns: bool = True) -> dns.message.QueryMessage:
    return R.make_query(qname, qtype, edns=edns)


def both(port: int, q: dns.message.Message, timeout: float = 2.0) -> dict[str, bytes | None]:
    """The raw reply over UDP and over TCP (None: no reply)."""
    udp = udp_exchange(port, q.to_wire(), timeout=timeout)
    return {"udp": udp[0] if udp else None, "tcp": tcp_exchange(port, q.to_wire(),
                                                                timeout=timeout)}


def parsed(port: int, q: dns.message.Message) -> dict[str, dns.message.Message]:
    out = {}
    for transport, raw in both(port, q).items():
        assert raw is not None, f"no {transport} reply"
        out[transport] = dns.message.from_wire(raw)
    return out


def types_in(section: list[dns.rrset.RRset]) -> set[int]:
    return {rs.rdtype for rs in section}


# --------------------------------------------------------------------------
# one check per fault: does *zone* (on ADDRESS) show it?

def assert_normal(net: RunningNetwork, zone: str) -> None:
    q = query("www." + zone)
    got = udp_exchange(net.port, q.to_wire())
    assert got is not None
    raw, source = got
    assert source == (ADDRESS, net.port)
    reply = dns.message.from_wire(raw)
    assert reply.id == q.id and reply.question == q.question
    assert reply.rcode() == dns.rcode.NOERROR and reply.flags & dns.flags.AA
    assert not reply.flags & dns.flags.TC
    assert {dns.rdatatype.A, dns.rdatatype.RRSIG} <= types_in(reply.answer)
    nx = R.ask(ADDRESS, net.port, "nope." + zone, "A", tcp=True)
    assert nx.rcode() == dns.rcode.NXDOMAIN
    assert types_in(nx.authority) & {dns.rdatatype.NSEC, dns.rdatatype.NSEC3}


def check_timeout(net: RunningNetwork, zone: str) -> None:
    replies = both(net.port, query("www." + zone), timeout=WAIT)
    assert replies == {"udp": None, "tcp": None}


def _check_rcode(rcode: int) -> Callable[[RunningNetwork, str], None]:
    def check(net: RunningNetwork, zone: str) -> None:
        q = query("www." + zone)
        for reply in parsed(net.port, q).values():
            assert reply.rcode() == rcode and reply.id == q.id
            assert not reply.answer and not reply.authority and not reply.additional
            assert not reply.flags & dns.flags.AA
    return check


def check_wrong_id(net: RunningNetwork, zone: str) -> None:
    q = query("www." + zone)
    for transport, raw in both(net.port, q).items():
        assert raw is not None, transport
        assert struct.unpack("!H", raw[:2])[0] != q.id
        reply = dns.message.from_wire(raw)
        assert reply.question == q.question and reply.answer  # otherwise a good answer


def check_wrong_question(net: RunningNetwork, zone: str) -> None:
    q = query("www." + zone)
    for reply in parsed(net.port, q).values():
        assert reply.id == q.id
        assert reply.question[0].name == dns.name.from_text("wrong.www." + zone)
        assert not q.is_response(reply)
    with pytest.raises(dns.query.BadResponse):  # what a careful client makes of it
        dns.query.udp(q, ADDRESS, port=net.port, timeout=2)


def check_other_source(net: RunningNetwork, zone: str) -> None:
    q = query("www." + zone)
    got = udp_exchange(net.port, q.to_wire())
    assert got is not None
    raw, (source_address, _port) = got
    assert source_address != ADDRESS, "the answer must come from another address"
    assert source_address.startswith("127.")
    reply = dns.message.from_wire(raw)
    assert reply.id == q.id and reply.answer  # a well-formed answer, wrong sender
    # a careful client rejects it, or ignores it and times out
    with pytest.raises(dns.query.UnexpectedSource):
        dns.query.udp(q, ADDRESS, port=net.port, timeout=2)
    with pytest.raises(dns.exception.Timeout):
        dns.query.udp(q, ADDRESS, port=net.port, timeout=WAIT, ignore_unexpected=True)
    # TCP cannot be spoofed that way: answered normally
    raw_tcp = tcp_exchange(net.port, q.to_wire())
    assert raw_tcp is not None and dns.message.from_wire(raw_tcp).answer


def check_truncated(net: RunningNetwork, zone: str) -> None:
    q = query("www." + zone)
    for transport, raw in both(net.port, q).items():
        assert raw is not None, transport
        assert len(raw) >= 12 and struct.unpack("!H", raw[:2])[0] == q.id
        with pytest.raises(dns.exception.FormError):
            dns.message.from_wire(raw)


def check_garbage(net: RunningNetwork, zone: str) -> None:
    q = query("www." + zone)
    for transport, raw in both(net.port, q).items():
        assert raw is not None and len(raw) >= 12, transport
        try:
            reply = dns.message.from_wire(raw)
        except dns.exception.DNSException:
            continue
        assert not q.is_response(reply)


def check_slow(net: RunningNetwork, zone: str) -> None:
    q = query("www." + zone)
    for tcp in (False, True):
        start = time.monotonic()
        reply = (dns.query.tcp if tcp else dns.query.udp)(q, ADDRESS, port=net.port, timeout=5)
        elapsed = time.monotonic() - start
        assert SLOW <= elapsed < SLOW + 2.0, elapsed
        assert reply.answer


def check_always_tc(net: RunningNetwork, zone: str) -> None:
    q = query("www." + zone)
    replies = parsed(net.port, q)
    udp, tcp = replies["udp"], replies["tcp"]
    assert udp.flags & dns.flags.TC
    assert not udp.answer and not udp.authority and not udp.additional
    assert not tcp.flags & dns.flags.TC and dns.rdatatype.A in types_in(tcp.answer)


def check_strip_rrsig(net: RunningNetwork, zone: str) -> None:
    for name, rcode in (("www." + zone, dns.rcode.NOERROR), ("nope." + zone, dns.rcode.NXDOMAIN)):
        for reply in parsed(net.port, query(name)).values():
            assert reply.rcode() == rcode
            for section in (reply.answer, reply.authority, reply.additional):
                assert dns.rdatatype.RRSIG not in types_in(section)
            if rcode == dns.rcode.NXDOMAIN:
                assert types_in(reply.authority) & {dns.rdatatype.NSEC, dns.rdatatype.NSEC3}
            else:
                assert dns.rdatatype.A in types_in(reply.answer)


def check_strip_nsec(net: RunningNetwork, zone: str) -> None:
    for reply in parsed(net.port, query("nope." + zone)).values():
        assert reply.rcode() == dns.rcode.NXDOMAIN
        assert types_in(reply.authority) == {dns.rdatatype.SOA, dns.rdatatype.RRSIG}
        assert all(rs.covers == dns.rdatatype.SOA for rs in reply.authority
                   if rs.rdtype == dns.rdatatype.RRSIG)


def check_corrupt_rrsig(net: RunningNetwork, zone: str) -> None:
    """RRSIGs still there, naming the right key, but none verifies any more."""
    keys = R.ask(ADDRESS, net.port, zone, "DNSKEY", tcp=True)
    dnskey = keys.find_rrset(keys.answer, dns.name.from_text(zone), dns.rdataclass.IN,
                             dns.rdatatype.DNSKEY)
    for reply in parsed(net.port, query("www." + zone)).values():
        name = dns.name.from_text("www." + zone)
        a = reply.find_rrset(reply.answer, name, dns.rdataclass.IN, dns.rdatatype.A)
        sigs = reply.find_rrset(reply.answer, name, dns.rdataclass.IN, dns.rdatatype.RRSIG,
                                dns.rdatatype.A)
        assert {sig.key_tag for sig in sigs} <= {dns.dnssec.key_id(k) for k in dnskey}
        with pytest.raises(dns.exception.ValidationFailure):
            dns.dnssec.validate(a, sigs, {dnskey.name: dnskey}, now=sigs[0].inception + 1)


def _lines(section: list[dns.rrset.RRset]) -> set[str]:
    return R.line_set(R.rr_lines(section))


def check_poison_authority(net: RunningNetwork, zone: str) -> None:
    poison = R.without_ttl(POISON_AUTH.to_text().replace("\t", " "))
    for reply in parsed(net.port, query("www." + zone)).values():
        assert poison in _lines(reply.authority)
        assert dns.rdatatype.A in types_in(reply.answer)


def check_poison_additional(net: RunningNetwork, zone: str) -> None:
    poison = R.without_ttl(POISON_ADD.to_text().replace("\t", " "))
    for reply in parsed(net.port, query("www." + zone)).values():
        assert poison in _lines(reply.additional)


def relabel_rrsigs(query_msg: Message, reply: Message) -> None:
    """A rewrite as a forger would make it: every RRSIG claims algorithm 253."""
    del query_msg
    for section in (reply.answer, reply.authority, reply.additional):
        for rr in section:
            if rr.rtype == RRType.RRSIG:
                rr.rdata = rr.rdata[:2] + b"\xfd" + rr.rdata[3:]


def check_rewrite(net: RunningNetwork, zone: str) -> None:
    for reply in parsed(net.port, query("www." + zone)).values():
        assert dns.rdatatype.A in types_in(reply.answer)
        sigs = [sig for rs in reply.answer if rs.rdtype == dns.rdatatype.RRSIG for sig in rs]
        assert sigs and all(int(sig.algorithm) == 253 for sig in sigs)


def check_formerr_edns(net: RunningNetwork, zone: str) -> None:
    q = query("www." + zone)
    for reply in parsed(net.port, q).values():
        assert reply.rcode() == dns.rcode.FORMERR and reply.id == q.id
        assert reply.edns < 0, "an old server knows no OPT"
    plain = query("www." + zone, edns=False)
    for reply in parsed(net.port, plain).values():
        assert reply.rcode() == dns.rcode.NOERROR and dns.rdatatype.A in types_in(reply.answer)


FAULTS: dict[str, tuple[dict[str, object], Callable[[RunningNetwork, str], None]]] = {
    "timeout": ({"timeout": True}, check_timeout),
    "servfail": ({"servfail": True}, _check_rcode(dns.rcode.SERVFAIL)),
    "refused": ({"refused": True}, _check_rcode(dns.rcode.REFUSED)),
    "wrong_id": ({"wrong_id": True}, check_wrong_id),
    "wrong_question": ({"wrong_question": True}, check_wrong_question),
    "other_source": ({"other_source": True}, check_other_source),
    "truncated": ({"truncated": True}, check_truncated),
    "garbage": ({"garbage": True}, check_garbage),
    "slow": ({"slow": SLOW}, check_slow),
    "always_tc": ({"always_tc": True}, check_always_tc),
    "strip_rrsig": ({"strip_rrsig": True}, check_strip_rrsig),
    "strip_nsec": ({"strip_nsec": True}, check_strip_nsec),
    "corrupt_rrsig": ({"corrupt_rrsig": True}, check_corrupt_rrsig),
    "poison_authority": ({"poison_authority": [POISON_AUTH]}, check_poison_authority),
    "poison_additional": ({"poison_additional": [POISON_ADD]}, check_poison_additional),
    "formerr_edns": ({"formerr_edns": True}, check_formerr_edns),
    "rewrite": ({"rewrite": relabel_rrsigs}, check_rewrite),
}


def test_every_fault_has_a_test() -> None:
    assert set(FAULTS) == set(Faults.names())


@pytest.mark.parametrize("scope", ["server", "zone"])
@pytest.mark.parametrize("name", list(FAULTS))
def test_fault(interop_net: RunningNetwork, name: str, scope: str) -> None:
    flags, check = FAULTS[name]
    assert_normal(interop_net, ZONE)
    interop_net.set_faults(ADDRESS, ZONE if scope == "zone" else None, **flags)
    check(interop_net, ZONE)
    if scope == "zone":
        assert_normal(interop_net, OTHER)
    else:
        check(interop_net, OTHER)
    interop_net.clear_faults()
    assert_normal(interop_net, ZONE)


def test_zone_faults_override_server_faults(interop_net: RunningNetwork) -> None:
    interop_net.set_faults(ADDRESS, None, servfail=True)
    interop_net.set_faults(ADDRESS, ZONE)  # this zone: no faults at all
    assert_normal(interop_net, ZONE)
    _check_rcode(dns.rcode.SERVFAIL)(interop_net, OTHER)


def test_faults_stay_on_their_server(interop_net: RunningNetwork) -> None:
    interop_net.set_faults(ADDRESS, None, timeout=True)
    reply = R.ask("127.0.0.12", interop_net.port, "www.test.", "A", tcp=False)
    assert reply.rcode() == dns.rcode.NOERROR and reply.answer
    check_timeout(interop_net, ZONE)


def test_faults_combine(interop_net: RunningNetwork) -> None:
    interop_net.set_faults(ADDRESS, ZONE, slow=SLOW, strip_rrsig=True, wrong_id=True)
    q = query("www." + ZONE)
    start = time.monotonic()
    got = udp_exchange(interop_net.port, q.to_wire())
    assert time.monotonic() - start >= SLOW
    assert got is not None
    reply = dns.message.from_wire(got[0])
    assert reply.id != q.id and dns.rdatatype.RRSIG not in types_in(reply.answer)


def test_poisoned_zone_data_is_not_changed(interop_net: RunningNetwork) -> None:
    """Poison is added to answers only; the zone itself stays as loaded."""
    interop_net.set_faults(ADDRESS, ZONE, poison_additional=[POISON_ADD])
    check_poison_additional(interop_net, ZONE)
    interop_net.clear_faults()
    reply = R.ask(ADDRESS, interop_net.port, "ns1." + ZONE, "A", tcp=True)
    assert "192.0.2.66" not in {rd.address for rs in reply.answer
                                if rs.rdtype == dns.rdatatype.A for rd in rs}


def test_fault_flags_from_a_list_of_records() -> None:
    faults = Faults(poison_authority=[POISON_AUTH])
    assert faults.any() and not Faults().any()
    assert isinstance(faults.poison_authority[0], RR)


# --------------------------------------------------------------------------
# 5. parallel safety

def test_two_networks_do_not_collide(interop_net: RunningNetwork) -> None:
    runner = LoopThread()
    try:
        with running_network(runner=runner) as second, running_network(runner=runner) as third:
            ports = {interop_net.port, second.port, third.port}
            assert len(ports) == 3, ports
            second.set_faults("127.0.0.12", None, servfail=True)
            for net, rcode in ((interop_net, dns.rcode.NOERROR), (second, dns.rcode.SERVFAIL),
                               (third, dns.rcode.NOERROR)):
                for tcp in (False, True):
                    reply = R.ask("127.0.0.12", net.port, "www.test.", "A", tcp=tcp)
                    assert reply.rcode() == rcode, (net.port, tcp)
            # the servers of each network are separate objects
            assert second.server("127.0.0.12") is not interop_net.server("127.0.0.12")
    finally:
        runner.close()
