"""Issue 4, the DNS port: :class:`DnsServer` on 127.0.0.1 (port 0) in a background
loop, resolving through the lab network, asked with plain sockets from the test.

UDP and TCP (pipelined queries, answered out of order), the wire answer cache (fast
path: the query's ID and letter case, TTLs aged by a fake clock), RD=0 from the cache
only, the access list (REFUSED with EDE 18), FORMERR, NOTIMP, BADVERS, minimal ANY
(RFC 8482), special-use names answered locally (``--nodefault``), and the ``query``
command against it.
"""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from resolver.clock import FixedClock
from resolver.config import Settings
from resolver.server.listener import DnsServer
from resolver.service import Resolver
from resolver.wire import message as wm
from resolver.wire.message import Message
from resolver.wire.name import Name
from resolver.wire.types import AA, QR, RA, RD, TC, Opcode, Rcode, RRType
from tests.loop import LoopThread
from tests.networks import LAB_TLD, ROOT_DIR, Net

HOST = "127.0.0.1"


@dataclass
class Running:
    server: DnsServer
    resolver: Resolver
    clock: FixedClock
    loop: LoopThread

    @property
    def port(self) -> int:
        return self.server.bound[0][1]


def start_server(loop: LoopThread, settings: Settings, clock: FixedClock | None = None,
                 resolver: Resolver | None = None) -> Running:
    clock = clock or FixedClock()
    settings.listen = [(HOST, 0)]
    resolver = resolver or Resolver(settings, now=clock)
    server = DnsServer(resolver, settings)
    loop.run(server.start())
    return Running(server, resolver, clock, loop)


@pytest.fixture
def dns(lab: Net, loop_thread: LoopThread) -> Iterator[Running]:
    running = start_server(loop_thread, lab.settings())
    yield running
    loop_thread.run(running.server.stop())


# ----------------------------------------------------------------------------- clients
def udp(port: int, wire: bytes, timeout: float = 5.0) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect((HOST, port))
        sock.send(wire)
        try:
            return sock.recv(65535)
        except TimeoutError:
            return None


def recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def tcp(port: int, wires: list[bytes], timeout: float = 5.0) -> list[bytes]:
    """Send all *wires* at once on one connection; the replies in arrival order."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(b"".join(struct.pack("!H", len(w)) + w for w in wires))
        out = []
        for _ in wires:
            size = struct.unpack("!H", recv_exact(sock, 2))[0]
            out.append(recv_exact(sock, size))
        return out


def query(name: str, qtype: int = RRType.A, *, rd: bool = True, msg_id: int | None = None,
          edns: bool = True, **kw: Any) -> Message:
    return wm.make_query(Name.from_text(name), qtype, rd=rd, msg_id=msg_id, edns=edns,
                         do=False, **kw)


def ask(port: int, msg: Message) -> Message:
    data = udp(port, msg.to_wire())
    assert data is not None, "no reply"
    return wm.parse(data)


def a_values(msg: Message) -> list[str]:
    return [".".join(map(str, rr.rdata)) for rr in msg.answer if rr.rtype == RRType.A]


# ----------------------------------------------------------------------------- basics
def test_udp_answer(dns: Running) -> None:
    q = query("www.lab.")
    reply = ask(dns.port, q)
    assert reply.id == q.id
    assert reply.flags & QR and reply.flags & RA and reply.flags & RD
    assert reply.rcode == Rcode.NOERROR
    assert a_values(reply) == ["192.0.2.70"]
    assert reply.edns is not None      # EDNS answered with EDNS


def test_tcp_answer(dns: Running) -> None:
    q = query("www.other.")
    [data] = tcp(dns.port, [q.to_wire()])
    reply = wm.parse(data)
    assert reply.id == q.id and a_values(reply) == ["192.0.2.80"]


def test_tcp_pipelined_answered_out_of_order(dns: Running, lab: Net) -> None:
    """Ten queries on one connection, the first to a slow zone: all are answered,
    each with its own ID, and the quick ones do not wait for the slow one."""
    lab.set_faults(LAB_TLD, "lab.", slow=0.5)
    try:
        slow = query("www.lab.", msg_id=1)
        quick = [query("localhost.", msg_id=2)] + [
            query("localhost.", RRType.AAAA, msg_id=i) for i in range(3, 11)]
        replies = [wm.parse(d) for d in tcp(dns.port, [slow.to_wire()]
                                            + [q.to_wire() for q in quick])]
    finally:
        lab.clear_faults(LAB_TLD, "lab.")
    assert sorted(r.id for r in replies) == list(range(1, 11))
    assert replies[-1].id == 1, [r.id for r in replies]     # the slow one came last
    assert a_values(replies[-1]) == ["192.0.2.70"]
    assert all(r.rcode == Rcode.NOERROR for r in replies)


def test_udp_truncates_to_the_client_buffer(interop: Net, loop_thread: LoopThread) -> None:
    """The 3 kB TXT: TC over UDP without EDNS (512) and with 1232, whole over TCP."""
    running = start_server(loop_thread, interop.settings())
    try:
        for q in (query("big.rsasha256.test.", RRType.TXT, edns=False),
                  query("big.rsasha256.test.", RRType.TXT)):
            data = udp(running.port, q.to_wire())
            assert data is not None
            assert len(data) <= (512 if q.edns is None else 1232)
            assert wm.parse(data).flags & TC
        [data] = tcp(running.port, [query("big.rsasha256.test.", RRType.TXT).to_wire()])
        assert len(data) > 2500 and not wm.parse(data).flags & TC
    finally:
        loop_thread.run(running.server.stop())


# ----------------------------------------------------------------------------- fast path
def test_cache_hit_from_the_wire_cache(dns: Running) -> None:
    first = ask(dns.port, query("www.lab.", msg_id=100))
    assert a_values(first) == ["192.0.2.70"]
    assert first.answer[0].ttl == 3600
    hits = dns.server.stats.fast_hits
    asked = dns.resolver.stats.queries
    # another ID and another letter case: both echoed from the query
    q = query("WwW.LaB.", msg_id=4242)
    wire = q.to_wire()
    data = udp(dns.port, wire)
    assert data is not None
    assert dns.server.stats.fast_hits == hits + 1
    assert dns.resolver.stats.queries == asked          # the service was not involved
    assert data[:2] == wire[:2]
    qlen = len(Name.from_text("WwW.LaB.").wire) + 4
    assert data[12:12 + qlen] == wire[12:12 + qlen]     # the question byte for byte
    reply = wm.parse(data)
    assert reply.id == 4242 and a_values(reply) == ["192.0.2.70"]
    # TTLs age with the clock
    dns.clock.advance(100)
    aged = ask(dns.port, query("www.lab.", msg_id=7))
    assert aged.answer[0].ttl == 3500
    assert dns.server.stats.fast_hits == hits + 2
    dns.clock.advance(3600)      # expired: resolved anew
    fresh = ask(dns.port, query("www.lab."))
    assert fresh.answer[0].ttl == 3600
    assert dns.server.stats.fast_hits == hits + 2


def test_cache_key_keeps_flags_apart(dns: Running) -> None:
    """An answer cached for a query without EDNS is not served to one with EDNS."""
    plain = ask(dns.port, query("www.lab.", edns=False))
    assert plain.edns is None
    with_edns = ask(dns.port, query("www.lab."))
    assert with_edns.edns is not None


def test_negative_answers_cached_with_ttl(dns: Running) -> None:
    first = ask(dns.port, query("nope.lab."))
    assert first.rcode == Rcode.NXDOMAIN
    soa = [rr for rr in first.authority if rr.rtype == RRType.SOA]
    assert soa and soa[0].ttl == 300
    hits = dns.server.stats.fast_hits
    dns.clock.advance(50)
    again = ask(dns.port, query("nope.lab."))
    assert again.rcode == Rcode.NXDOMAIN
    assert dns.server.stats.fast_hits == hits + 1
    assert [rr.ttl for rr in again.authority if rr.rtype == RRType.SOA] == [250]


# ----------------------------------------------------------------------------- RD=0
def test_rd0_answered_from_the_cache_only(dns: Running, lab: Net) -> None:
    lab.reset_queries()
    miss = ask(dns.port, query("www.other.", rd=False))
    assert miss.rcode == Rcode.REFUSED
    assert not miss.flags & RD
    assert lab.queries() == []              # no recursion on the client's behalf
    ask(dns.port, query("www.other."))       # now it is cached
    hit = ask(dns.port, query("www.other.", rd=False, msg_id=99))
    assert hit.id == 99 and hit.rcode == Rcode.NOERROR
    assert a_values(hit) == ["192.0.2.80"]
    assert not hit.flags & RD


# ----------------------------------------------------------------------------- ACL
def test_acl_refuses_others_with_ede_18(lab: Net, loop_thread: LoopThread) -> None:
    """A server that allows only 10.0.0.0/8 refuses 127.0.0.1 over UDP and TCP, also
    for names in the cache (the fast path checks the access list too)."""
    open_server = start_server(loop_thread, lab.settings())
    closed = start_server(loop_thread, lab.settings(allow_clients=["10.0.0.0/8"]),
                          resolver=open_server.resolver)
    try:
        assert a_values(ask(open_server.port, query("www.lab."))) == ["192.0.2.70"]
        for data in (udp(closed.port, query("www.lab.").to_wire()),
                     tcp(closed.port, [query("www.lab.").to_wire()])[0],
                     udp(closed.port, query("nope.other.").to_wire())):
            assert data is not None
            reply = wm.parse(data)
            assert reply.rcode == Rcode.REFUSED
            assert reply.answer == []
            assert 18 in [code for code, _ in reply.ede()]
        assert closed.server.stats.fast_hits == 0
        assert closed.server.stats.refused == 3
        # a malformed query from a stranger gets nothing at all
        assert udp(closed.port, b"\x12\x34\x01\x00\x00\x01" + b"\xff" * 20,
                   timeout=0.3) is None
        assert closed.server.stats.formerr == 0
    finally:
        loop_thread.run(open_server.server.stop())
        loop_thread.run(closed.server.stop())


def test_default_acl_is_loopback_only(lab: Net) -> None:
    server = DnsServer(Resolver(lab.settings()), lab.settings())
    assert server.allowed("127.0.0.1") and server.allowed("127.1.2.3")
    assert server.allowed("::1") and server.allowed("::ffff:127.0.0.1")
    assert not server.allowed("10.0.0.1") and not server.allowed("192.0.2.1")
    assert not server.allowed("2001:db8::1") and not server.allowed("garbage")


# ----------------------------------------------------------------------------- errors
def header(msg_id: int, flags: int, qd: int = 1, an: int = 0, ns: int = 0,
           ar: int = 0) -> bytes:
    return struct.pack("!HHHHHH", msg_id, flags, qd, an, ns, ar)


QUESTION = Name.from_text("www.lab.").wire + struct.pack("!HH", 1, 1)


@pytest.mark.parametrize("wire", [
    header(0x1234, RD) + QUESTION[:5],                          # question cut short
    header(0x1234, RD, qd=2) + QUESTION,                        # a question missing
    header(0x1234, RD) + b"\x40" + b"a" * 64 + b"\x00\x00\x01\x00\x01",  # label > 63
    header(0x1234, RD) + b"\xc0\x0c\x00\x01\x00\x01",           # pointer loop
    header(0x1234, RD, qd=2) + QUESTION + QUESTION,             # two questions
    header(0x1234, RD, qd=0),                                   # no question
    header(0x1234, RD, an=1) + QUESTION + QUESTION[:-4] + b"\x00\x01\x00\x01"
    + b"\x00\x00\x00\x3c\x00\x04\x7f\x00\x00\x01",              # a record in ANSWER
], ids=["short", "missing", "long-label", "pointer-loop", "two", "none", "answer"])
def test_formerr(dns: Running, wire: bytes) -> None:
    data = udp(dns.port, wire)
    assert data is not None
    assert data[:2] == b"\x12\x34"
    reply_flags = struct.unpack_from("!H", data, 2)[0]
    assert reply_flags & QR
    assert reply_flags & 0xF == Rcode.FORMERR


def test_runts_and_responses_dropped(dns: Running) -> None:
    assert udp(dns.port, b"\x12\x34\x01", timeout=0.3) is None
    response = query("www.lab.")
    response.set_flag(QR)
    assert udp(dns.port, response.to_wire(), timeout=0.3) is None
    # and the server still answers
    assert ask(dns.port, query("localhost.")).rcode == Rcode.NOERROR


@pytest.mark.parametrize("opcode", [Opcode.IQUERY, Opcode.STATUS, Opcode.NOTIFY,
                                    Opcode.UPDATE, 3, 15])
def test_notimp_for_other_opcodes(dns: Running, opcode: int) -> None:
    q = query("www.lab.")
    q.set_opcode(opcode)
    reply = ask(dns.port, q)
    assert reply.rcode == Rcode.NOTIMP
    assert reply.opcode == opcode and reply.id == q.id


def test_badvers_for_edns_version_1(dns: Running) -> None:
    q = query("www.lab.")
    assert q.edns is not None
    q.edns.version = 1
    reply = ask(dns.port, q)
    assert reply.rcode == Rcode.BADVERS
    assert reply.edns is not None and reply.edns.version == 0
    assert reply.answer == []


def test_zone_transfers_refused(dns: Running) -> None:
    assert ask(dns.port, query("lab.", RRType.AXFR)).rcode == Rcode.REFUSED
    assert ask(dns.port, query("lab.", RRType.IXFR)).rcode == Rcode.REFUSED


def test_minimal_any(dns: Running, lab: Net) -> None:
    """RFC 8482 s4.2: one synthesized HINFO, no upstream query."""
    lab.reset_queries()
    reply = ask(dns.port, query("www.lab.", RRType.ANY))
    assert reply.rcode == Rcode.NOERROR
    assert [rr.rtype for rr in reply.answer] == [RRType.HINFO]
    assert b"RFC8482" in reply.answer[0].rdata
    assert lab.queries() == []


def test_class_other_than_in(dns: Running) -> None:
    reply = ask(dns.port, query("www.lab.", qclass=3))
    assert reply.rcode == Rcode.REFUSED


# ----------------------------------------------------------------------------- local zones
def test_special_use_names_answered_locally(loop_thread: LoopThread, lab: Net) -> None:
    running = start_server(loop_thread, lab.settings(nodefault=[]))
    try:
        lab.reset_queries()
        local = ask(running.port, query("localhost."))
        assert local.flags & AA and a_values(local) == ["127.0.0.1"]
        six = ask(running.port, query("localhost.", RRType.AAAA))
        assert [rr.rdata for rr in six.answer] == [bytes(15) + b"\x01"]
        ptr = ask(running.port, query("1.0.0.127.in-addr.arpa.", RRType.PTR))
        assert ptr.rcode == Rcode.NOERROR
        assert [Name(rr.rdata) for rr in ptr.answer] == [Name.from_text("localhost.")]
        apex = ask(running.port, query("invalid."))   # the zone itself exists: NODATA
        assert apex.rcode == Rcode.NOERROR and apex.answer == []
        assert [rr.rtype for rr in apex.authority] == [RRType.SOA]
        for name in ("www.invalid.", "mail.example.invalid.", "foo.test.", "5.10.in-addr.arpa.",
                     "x.onion.", "4.3.168.192.in-addr.arpa."):
            reply = ask(running.port, query(name, RRType.PTR))
            assert reply.rcode == Rcode.NXDOMAIN, name
            assert [rr.rtype for rr in reply.authority] == [RRType.SOA], name
        assert ask(running.port, query("test.", RRType.SOA)).rcode == Rcode.NOERROR
        assert lab.queries() == []              # nothing went upstream
    finally:
        loop_thread.run(running.server.stop())


def test_nodefault_sends_the_zone_upstream(loop_thread: LoopThread, interop: Net) -> None:
    """With ``--nodefault test.`` the interop hierarchy's test. is resolved."""
    default = start_server(loop_thread, interop.settings(nodefault=[]))
    nodefault = start_server(loop_thread, interop.settings(nodefault=["test."]))
    try:
        assert ask(default.port, query("www.test.")).rcode == Rcode.NXDOMAIN
        reply = ask(nodefault.port, query("www.test."))
        assert reply.rcode == Rcode.NOERROR and a_values(reply) == ["192.0.2.12"]
        # the other special-use zones stay local
        assert ask(nodefault.port, query("localhost.")).flags & AA
    finally:
        loop_thread.run(default.server.stop())
        loop_thread.run(nodefault.server.stop())


# ----------------------------------------------------------------------------- SERVFAIL
def test_servfail_carries_ede(dns: Running) -> None:
    reply = ask(dns.port, query("a.loop.lab."))
    assert reply.rcode == Rcode.SERVFAIL
    assert reply.ede() and "loop" in reply.ede()[0][1]


# ----------------------------------------------------------------------------- the CLI
def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "resolver", "query", *args],
                          capture_output=True, text=True, timeout=30, cwd=ROOT_DIR)


def test_query_command(dns: Running) -> None:
    server = f"{HOST}:{dns.port}"
    ok = cli("www.lab.", "A", "--server", server)
    assert ok.returncode == 0, ok.stderr
    assert "192.0.2.70" in ok.stdout and "NOERROR" in ok.stdout
    over_tcp = cli("www.other.", "--server", server, "--tcp")
    assert over_tcp.returncode == 0 and "192.0.2.80" in over_tcp.stdout
    nx = cli("nope.lab.", "A", "--server", server)
    assert nx.returncode == 0 and "NXDOMAIN" in nx.stdout
    fail = cli("x.lab.", "A", "--server", server)
    assert fail.returncode == 1, fail.stdout + fail.stderr
    assert "SERVFAIL" in fail.stdout
    bad = cli("www.lab.", "NOSUCHTYPE", "--server", server)
    assert bad.returncode == 2


# ----------------------------------------------------------------------------- TCP limits
def test_tcp_idle_timeout_and_connection_cap(lab: Net, loop_thread: LoopThread) -> None:
    """An idle connection is closed after the idle timeout; beyond the connection cap
    new connections are closed at once; a closed slot is free again."""
    settings = lab.settings(tcp_idle_timeout=0.3, tcp_max_connections=2)
    running = start_server(loop_thread, settings)
    try:
        first = socket.create_connection((HOST, running.port), timeout=3)
        second = socket.create_connection((HOST, running.port), timeout=3)
        time.sleep(0.05)
        with socket.create_connection((HOST, running.port), timeout=3) as third:
            assert third.recv(10) == b""                  # closed by the server
        started = time.monotonic()
        assert first.recv(10) == b""                      # idle: closed by the server
        assert time.monotonic() - started < 2.0
        first.close()
        second.close()
        time.sleep(0.05)
        [data] = tcp(running.port, [query("localhost.", msg_id=3).to_wire()])
        assert wm.parse(data).id == 3
    finally:
        loop_thread.run(running.server.stop())


def test_tcp_client_that_never_reads_is_dropped(interop: Net, loop_thread: LoopThread) -> None:
    """RFC 7766 / BIND CVE-2024-0760: a client pipelines 3 kB answers and reads none;
    the server stops reading from it, then drops it, and keeps serving others."""
    running = start_server(loop_thread, interop.settings(tcp_idle_timeout=0.5))
    try:
        big = query("big.rsasha256.test.", RRType.TXT).to_wire()
        tcp(running.port, [big])                       # cached now
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect((HOST, running.port))
            sock.settimeout(5)
            frame = struct.pack("!H", len(big)) + big
            try:
                for _ in range(1500):
                    sock.sendall(frame)
            except OSError:
                pass                                   # the server stopped reading
            deadline = time.monotonic() + 5
            while running.server.stats.tcp_connections and time.monotonic() < deadline:
                time.sleep(0.05)
            assert running.server.stats.tcp_connections == 0
            assert running.server.stats.tcp < 1500
        [data] = tcp(running.port, [query("localhost.", msg_id=9).to_wire()])
        assert wm.parse(data).id == 9
    finally:
        loop_thread.run(running.server.stop())
