"""DNS COOKIEs (RFC 7873, RFC 9018 format) on the DNS port, EDNS options on the fast
path, and the SipHash-2-4 behind the server cookies."""

from __future__ import annotations

import ipaddress
import struct
import time
from collections.abc import Iterator

import pytest

from resolver.server.cookies import ServerCookies, server_cookie
from resolver.server.siphash import siphash24
from resolver.wire import message as wm
from resolver.wire.edns import opt_rdlength_at, option, with_option
from resolver.wire.querykey import query_key
from resolver.wire.types import EdnsOption, Rcode, RRType
from tests.loop import LoopThread
from tests.networks import Net
from tests.server.test_server import HOST, Running, a_values, query, start_server, tcp, udp

CLIENT = bytes.fromhex("0102030405060708")


@pytest.fixture
def dns(lab: Net, loop_thread: LoopThread) -> Iterator[Running]:
    running = start_server(loop_thread, lab.settings())
    yield running
    loop_thread.run(running.server.stop())


def cookie_of(reply: wm.Message) -> bytes | None:
    assert reply.edns is not None
    found = [data for code, data in reply.edns.options if code == EdnsOption.COOKIE]
    assert len(found) <= 1
    return found[0] if found else None


def ask_with(port: int, name: str, *options: tuple[int, bytes],
             msg_id: int = 77) -> wm.Message:
    data = udp(port, query(name, msg_id=msg_id, options=list(options)).to_wire())
    assert data is not None, "no reply"
    return wm.parse(data)


# ----------------------------------------------------------------------------- SipHash
@pytest.mark.parametrize(("length", "expected"), [
    # the SipHash paper's appendix (key 00..0f, message 00..0e) and the first entry of
    # the reference implementation's table (empty message): 64-bit results
    (15, 0xA129CA6149BE45E5),
    (0, 0x726FDB47DD0E0E31),
])
def test_siphash_vectors(length: int, expected: int) -> None:
    digest = siphash24(bytes(range(16)), bytes(range(length)))
    assert int.from_bytes(digest, "little") == expected


def test_siphash_key_length() -> None:
    with pytest.raises(ValueError, match="16-octet"):
        siphash24(b"short", b"")


def test_rfc9018_example() -> None:
    """RFC 9018 appendix A.1: the server cookie for a learning client."""
    made = server_cookie(bytes.fromhex("e5e973e5a6b2a43f48e7dc849e37bfcf"),
                         bytes.fromhex("2464c4abcf10c957"),
                         ipaddress.ip_address("198.51.100.100").packed, 1559731985)
    assert made.hex() == "010000005cf79f111f8130c3eee29480"


def test_cookie_rotation_and_age() -> None:
    now = [1_700_000_000.0]
    jar = ServerCookies(now=lambda: now[0])
    ip = ipaddress.ip_address("127.0.0.1").packed
    opt = jar.answer(CLIENT, "127.0.0.1")
    server = opt[4 + 8:]
    assert jar.verify(CLIENT, server, ip)
    assert not jar.verify(CLIENT, server, ipaddress.ip_address("127.0.0.2").packed)
    assert not jar.verify(bytes(8), server, ip)
    jar.rotate()                                  # the previous secret still verifies
    assert jar.verify(CLIENT, server, ip)
    jar.rotate()
    assert not jar.verify(CLIENT, server, ip)
    now[0] += 4000                                # hourly rotation happens by itself
    first = jar.secret
    fresh = jar.answer(CLIENT, "127.0.0.1")[12:]
    assert jar.secret != first and jar.verify(CLIENT, fresh, ip)
    now[0] += 3601                                # too old
    assert not jar.verify(CLIENT, fresh, ip)


# ----------------------------------------------------------------------------- querykey
def test_query_key_ignores_options_and_keeps_the_cookie() -> None:
    plain = query_key(query("www.lab.", msg_id=1).to_wire())
    with_cookie = query_key(query("www.lab.", msg_id=1, options=[
        (EdnsOption.COOKIE, CLIENT), (65001, b"xyz")]).to_wire())
    assert plain is not None and with_cookie is not None
    assert plain.key == with_cookie.key and plain.cookie is None
    assert with_cookie.cookie == CLIENT
    for bad in (b"1234567", CLIENT + b"1234567", CLIENT + bytes(33)):
        assert query_key(query("www.lab.", options=[(EdnsOption.COOKIE, bad)]).to_wire()) is None
    twice = [(EdnsOption.COOKIE, CLIENT), (EdnsOption.COOKIE, CLIENT)]
    assert query_key(query("www.lab.", options=twice).to_wire()) is None


def test_with_option_appends_to_the_opt_record() -> None:
    resp = wm.make_response(query("www.lab.", options=[(EdnsOption.NSID, b"")]))
    assert resp.edns is not None
    resp.edns.options.append((EdnsOption.EDE, b"\x00\x01"))
    wire = resp.to_wire()
    assert opt_rdlength_at(wire) is not None
    grown = wm.parse(with_option(wire, option(EdnsOption.COOKIE, CLIENT)))
    assert grown.edns is not None
    assert grown.edns.options == [(EdnsOption.EDE, b"\x00\x01"), (EdnsOption.COOKIE, CLIENT)]
    no_opt = wm.make_response(query("www.lab.", edns=False)).to_wire()
    assert with_option(no_opt, option(EdnsOption.COOKIE, CLIENT)) == no_opt


# ----------------------------------------------------------------------------- server
def test_cookie_answered_on_slow_and_fast_path(dns: Running) -> None:
    first = ask_with(dns.port, "www.lab.", (EdnsOption.COOKIE, CLIENT))
    assert first.rcode == Rcode.NOERROR and a_values(first) == ["192.0.2.70"]
    cookie = cookie_of(first)
    assert cookie is not None and len(cookie) == 24 and cookie[:8] == CLIENT
    server = cookie[8:]
    assert server[0] == 1 and server[1:4] == b"\x00\x00\x00"       # RFC 9018 s4.2
    assert abs(struct.unpack("!I", server[4:8])[0] - time.time()) < 60
    ip = ipaddress.ip_address(HOST).packed
    assert dns.server.cookies.verify(CLIENT, server, ip)
    # the same query again: a fast-path hit, with the cookie
    hits = dns.server.stats.fast_hits
    asked = dns.resolver.stats.queries
    again = ask_with(dns.port, "www.lab.", (EdnsOption.COOKIE, CLIENT), msg_id=78)
    assert dns.server.stats.fast_hits == hits + 1
    assert dns.resolver.stats.queries == asked
    assert again.id == 78 and a_values(again) == ["192.0.2.70"]
    assert cookie_of(again) == cookie
    # the client sends the full cookie back (as dig does): still a hit, same cookie
    full = ask_with(dns.port, "www.lab.", (EdnsOption.COOKIE, cookie))
    assert dns.server.stats.fast_hits == hits + 2 and cookie_of(full) == cookie
    # a server cookie that is not ours: answered, with a fresh one of ours
    other = ask_with(dns.port, "www.lab.", (EdnsOption.COOKIE, CLIENT + bytes(16)))
    assert other.rcode == Rcode.NOERROR and cookie_of(other) == cookie
    # no cookie asked, none given; the cached answer itself carries none
    plain = ask_with(dns.port, "www.lab.")
    assert plain.edns is not None and cookie_of(plain) is None
    # over TCP too
    wire = query("www.lab.", msg_id=9, options=[(EdnsOption.COOKIE, CLIENT)]).to_wire()
    over_tcp = wm.parse(tcp(dns.port, [wire])[0])
    assert cookie_of(over_tcp) == cookie


def test_cookie_on_a_fresh_resolution_and_an_error(dns: Running) -> None:
    nx = ask_with(dns.port, "nope.lab.", (EdnsOption.COOKIE, CLIENT))
    assert nx.rcode == Rcode.NXDOMAIN and cookie_of(nx) is not None
    fail = ask_with(dns.port, "x.lab.", (EdnsOption.COOKIE, CLIENT))
    assert fail.rcode == Rcode.SERVFAIL
    assert cookie_of(fail) is not None and fail.edns is not None and fail.edns.ede()


@pytest.mark.parametrize("bad", [b"", b"1234567", CLIENT + b"1234567", CLIENT + bytes(33)])
def test_malformed_cookie_is_formerr(dns: Running, bad: bytes) -> None:
    reply = ask_with(dns.port, "www.lab.", (EdnsOption.COOKIE, bad))
    assert reply.rcode == Rcode.FORMERR and not reply.answer


def test_two_cookies_are_formerr(dns: Running) -> None:
    reply = ask_with(dns.port, "www.lab.", (EdnsOption.COOKIE, CLIENT),
                     (EdnsOption.COOKIE, CLIENT))
    assert reply.rcode == Rcode.FORMERR


def test_unknown_options_ignored_and_fast(dns: Running) -> None:
    first = ask_with(dns.port, "www.lab.", (65001, b"whatever"), (EdnsOption.PADDING, bytes(20)))
    assert first.rcode == Rcode.NOERROR and a_values(first) == ["192.0.2.70"]
    assert cookie_of(first) is None
    hits = dns.server.stats.fast_hits
    again = ask_with(dns.port, "www.lab.", (65002, b"\x01"))
    assert a_values(again) == ["192.0.2.70"]
    assert dns.server.stats.fast_hits == hits + 1


def test_cookie_for_rd0_and_type_any(dns: Running) -> None:
    ask_with(dns.port, "www.lab.")
    rd0 = wm.parse(udp(dns.port, query("www.lab.", rd=False, options=[
        (EdnsOption.COOKIE, CLIENT)]).to_wire()) or b"")
    assert a_values(rd0) == ["192.0.2.70"] and cookie_of(rd0) is not None
    anyq = wm.parse(udp(dns.port, query("www.lab.", RRType.ANY, options=[
        (EdnsOption.COOKIE, CLIENT)]).to_wire()) or b"")
    assert anyq.rcode == Rcode.NOERROR and cookie_of(anyq) is not None


def test_cookie_read_by_dnspython(dns: Running) -> None:
    """dnspython (the oracle) sends a client cookie and reads our answer's cookie."""
    import dns.edns as dedns
    import dns.message as dmessage
    import dns.query as dquery

    client = bytes.fromhex("a1b2c3d4e5f60718")
    q = dmessage.make_query("www.lab.", "A", use_edns=0,
                               options=[dedns.CookieOption(client, b"")])
    for _ in range(2):                      # the second one from the fast path
        r = dquery.udp(q, HOST, port=dns.port, timeout=5)
        cookies = [o for o in r.options if isinstance(o, dedns.CookieOption)]
        assert len(cookies) == 1 and cookies[0].client == client
        assert len(cookies[0].server) == 16
        assert dns.server.cookies.verify(client, cookies[0].server,
                                         ipaddress.ip_address(HOST).packed)
        assert [rr.to_text() for rrset in r.answer for rr in rrset] == ["192.0.2.70"]
