"""UDP in batches (resolver/server/udpbatch.py): recvmmsg/sendmmsg on real loopback
sockets, driven by the test's event loop.

A listener started after its clients have sent gets every datagram in the socket at
once: the tests check that replies reach the right client (the address of each
datagram of a batch), that replies sent after the batch go out as well, that an
oversized datagram or a handler error costs that datagram only, and that the whole
server answers the same with ``udp-batch`` on and off, including a seeded burst of
garbage mixed with real queries.
"""

from __future__ import annotations

import random
import socket
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from resolver.metrics import registry_for, render
from resolver.server.listener import socket_buffers
from resolver.server.udpbatch import BATCH, SLOT, BatchUdp, Sender, available, sockaddr_tuple
from resolver.wire import message as wm
from tests.loop import LoopThread
from tests.networks import Net

from .test_server import Running, query, start_server

pytestmark = pytest.mark.skipif(not available(), reason="recvmmsg/sendmmsg: Linux only")


def _bound(family: int = socket.AF_INET, host: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((host, 0))
    return sock


def _clients(count: int, family: int = socket.AF_INET,
             host: str = "127.0.0.1") -> list[socket.socket]:
    out = []
    for _ in range(count):
        sock = _bound(family, host)
        sock.settimeout(5.0)
        out.append(sock)
    return out


def _receive(sock: socket.socket, count: int) -> list[bytes]:
    got: list[bytes] = []
    try:
        while len(got) < count:
            got.append(sock.recv(65535))
    except TimeoutError:
        pass
    return got


def _listener(loop: LoopThread, sock: socket.socket,
              handler: Callable[[bytes, Any, Sender], bytes | None]) -> BatchUdp:
    batch = BatchUdp(sock, handler)
    loop.call(lambda: batch.start(loop.loop))
    return batch


@pytest.fixture
def loop() -> Iterator[LoopThread]:
    thread = LoopThread("udpbatch")
    yield thread
    thread.close()


def test_sockaddr_tuple_v4_and_v6() -> None:
    v4 = struct.pack("=H", socket.AF_INET) + (5353).to_bytes(2, "big") \
        + socket.inet_aton("127.0.0.9") + bytes(8)
    assert sockaddr_tuple(v4) == ("127.0.0.9", 5353)
    v6 = (struct.pack("=H", socket.AF_INET6) + (53).to_bytes(2, "big")
          + (7).to_bytes(4, "big") + socket.inet_pton(socket.AF_INET6, "::1")
          + struct.pack("=I", 3))
    assert sockaddr_tuple(v6) == ("::1", 53, 7, 3)
    with pytest.raises(ValueError, match="family"):
        sockaddr_tuple(struct.pack("=H", socket.AF_UNIX) + bytes(14))


def test_a_batch_answers_every_client_at_its_own_address(loop: LoopThread) -> None:
    server = _bound()
    port = server.getsockname()[1]
    clients = _clients(3)
    per_client = 40                    # 120 datagrams: several full batches
    for n, client in enumerate(clients):
        for i in range(per_client):
            client.sendto(f"c{n}-{i}".encode(), ("127.0.0.1", port))
    seen: list[tuple[Any, ...]] = []

    def echo(data: bytes, addr: Any, send: Sender) -> bytes:
        seen.append(addr)
        return b"re:" + data

    batch = _listener(loop, server, echo)    # started after the datagrams are queued
    try:
        for n, client in enumerate(clients):
            got = _receive(client, per_client)
            assert sorted(got) == sorted(f"re:c{n}-{i}".encode() for i in range(per_client))
        assert batch.stats.udp_batched == 3 * per_client
        assert batch.stats.udp_batches <= 3 * per_client // BATCH + 2     # read in batches
        assert {a[1] for a in seen} == {c.getsockname()[1] for c in clients}
        assert batch.stats.udp_send_dropped == 0
    finally:
        loop.call(batch.close)
        for c in clients:
            c.close()


def test_replies_sent_after_the_batch_go_out_too(loop: LoopThread) -> None:
    server = _bound()
    port = server.getsockname()[1]
    (client,) = _clients(1)
    for i in range(50):
        client.sendto(b"%d" % i, ("127.0.0.1", port))

    def half_later(data: bytes, addr: Any, send: Sender) -> bytes | None:
        if int(data) % 2:
            loop.loop.call_soon(send.sendto, b"later:" + data, addr)
            return None
        return b"now:" + data

    batch = _listener(loop, server, half_later)
    try:
        got = set(_receive(client, 50))
        assert got == {(b"later:" if i % 2 else b"now:") + b"%d" % i for i in range(50)}
    finally:
        loop.call(batch.close)
        client.close()


def test_oversized_datagram_and_handler_error_cost_only_themselves(loop: LoopThread) -> None:
    server = _bound()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    port = server.getsockname()[1]
    (client,) = _clients(1)
    client.sendto(b"a", ("127.0.0.1", port))
    client.sendto(b"x" * (SLOT + 100), ("127.0.0.1", port))
    client.sendto(b"boom", ("127.0.0.1", port))
    client.sendto(b"b", ("127.0.0.1", port))

    def handler(data: bytes, addr: Any, send: Sender) -> bytes:
        if data == b"boom":
            raise RuntimeError("a handler bug")
        return b"re:" + data[:10]

    batch = _listener(loop, server, handler)
    try:
        client.settimeout(1.0)
        got = _receive(client, 3)
        assert sorted(got) == [b"re:a", b"re:b"]
        assert batch.stats.udp_oversize == 1
        assert batch.stats.udp_batched == 4
    finally:
        loop.call(batch.close)
        client.close()


def test_large_replies_bypass_the_batch_slots(loop: LoopThread) -> None:
    server = _bound()
    port = server.getsockname()[1]
    (client,) = _clients(1)
    client.sendto(b"big", ("127.0.0.1", port))
    client.sendto(b"small", ("127.0.0.1", port))

    def handler(data: bytes, addr: Any, send: Sender) -> bytes:
        return data * (2000 if data == b"big" else 1)

    batch = _listener(loop, server, handler)
    try:
        got = sorted(_receive(client, 2), key=len)
        assert got == [b"small", b"big" * 2000]
    finally:
        loop.call(batch.close)
        client.close()


def test_ipv6_loopback(loop: LoopThread) -> None:
    try:
        server = _bound(socket.AF_INET6, "::1")
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    port = server.getsockname()[1]
    (client,) = _clients(1, socket.AF_INET6, "::1")
    for i in range(5):
        client.sendto(b"v6-%d" % i, ("::1", port))
    hosts: list[str] = []

    def echo(data: bytes, addr: Any, send: Sender) -> bytes:
        hosts.append(addr[0])
        return data

    batch = _listener(loop, server, echo)
    try:
        assert sorted(_receive(client, 5)) == [b"v6-%d" % i for i in range(5)]
        assert set(hosts) == {"::1"}
    finally:
        loop.call(batch.close)
        client.close()


def test_closed_listener_sends_nothing(loop: LoopThread) -> None:
    server = _bound()
    batch = _listener(loop, server, lambda d, a, s: None)
    loop.call(batch.close)
    assert batch.is_closing()
    batch.sendto(b"x", ("127.0.0.1", 9))          # no error, nothing sent
    loop.call(batch.close)                         # twice is harmless


# ------------------------------------------------------------- the whole server
@pytest.fixture(params=[True, False], ids=["batch", "event-loop-transport"])
def served(request: pytest.FixtureRequest, lab: Net,
           loop_thread: LoopThread) -> Iterator[Running]:
    settings = lab.settings()
    settings.udp_batch = request.param
    running = start_server(loop_thread, settings)
    yield running
    loop_thread.run(running.server.stop())


def _burst(port: int, wires: list[bytes], clients: int = 4) -> dict[int, bytes]:
    """Send every wire from a few sockets, then collect replies by message ID."""
    socks = _clients(clients)
    for n, wire in enumerate(wires):
        socks[n % clients].sendto(wire, ("127.0.0.1", port))
        if n % 40 == 39:        # within a default receive buffer (about 200 kB) even
            time.sleep(0.02)    # when the server's thread is slow to read
    replies: dict[int, bytes] = {}
    for sock in socks:
        sock.settimeout(3.0)
        try:
            while True:
                data = sock.recv(65535)
                replies[struct.unpack_from("!H", data)[0]] = data
        except TimeoutError:
            pass
        sock.close()
    return replies


def test_server_answers_alike_with_and_without_batches(served: Running) -> None:
    name = "www.lab."
    first = wm.parse(_burst(served.port, [query(name, msg_id=1).to_wire()], 1)[1])
    assert first.rcode == 0 and first.answer
    wires = [query(name, msg_id=100 + i).to_wire() for i in range(60)]
    replies = _burst(served.port, wires)
    assert set(replies) == {100 + i for i in range(60)}
    for reply in replies.values():
        msg = wm.parse(reply)
        assert msg.rcode == 0 and msg.answer == first.answer
    # /metrics: the batches and their datagrams (none with the event loop's transport)
    text = render(registry_for(served.resolver, served.server)).decode()
    batched = _sample(text, "resolver_udp_batched_datagrams_total")
    batches = _sample(text, "resolver_udp_batches_total")
    if served.resolver.settings.udp_batch:
        assert batched == 61 and 1 <= batches <= 61
    else:
        assert batched == batches == 0
    assert _sample(text, "resolver_udp_replies_dropped_total") == 0
    assert _sample(text, 'resolver_client_rejected_total{reason="oversize"}') == 0


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")


def test_seeded_garbage_burst_never_stops_the_server(served: Running) -> None:
    rng = random.Random(20261206)
    name = "www.lab."
    wires: list[bytes] = []
    real: set[int] = set()
    for i in range(200):
        if i % 4 == 0:
            msg_id = 5000 + i
            wires.append(query(name, msg_id=msg_id).to_wire())
            real.add(msg_id)
        else:
            size = rng.choice([0, 1, 11, 12, 13, 40, 300, 1500])
            junk = bytearray(rng.randbytes(size))
            if size >= 3:
                junk[2] &= 0x7F               # a query, not a response
                junk[0:2] = b"\xff\xff"        # IDs apart from the real queries
            wires.append(bytes(junk))
    replies = _burst(served.port, wires)
    assert real <= set(replies), "every real query of the burst is answered"
    for msg_id in real:
        assert wm.parse(replies[msg_id]).rcode == 0
    after = _burst(served.port, [query(name, msg_id=1).to_wire()], 1)
    assert 1 in after



# ------------------------------------------------------------- so-rcvbuf / so-sndbuf
def test_socket_buffers_granted_and_capped() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        assert socket_buffers(sock, 0, 0) == []              # 0: the system's default
        assert socket_buffers(sock, 262144, 131072) == []
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= 262144
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) >= 131072
    cap = int(Path("/proc/sys/net/core/rmem_max").read_text())
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        problems = socket_buffers(sock, cap * 4, 0)
    assert len(problems) == 1 and "so-rcvbuf" in problems[0] and "rmem_max" in problems[0]


def test_listener_sockets_get_the_configured_buffers(lab: Net,
                                                     loop_thread: LoopThread) -> None:
    for batch in (True, False):
        settings = lab.settings()
        settings.udp_batch = batch
        settings.so_rcvbuf = 524288
        settings.so_sndbuf = 262144
        running = start_server(loop_thread, settings)
        try:
            sock = running.server._udp[0].get_extra_info("socket")
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= 524288
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) >= 262144
            reply = _burst(running.port, [query("www.lab.", msg_id=9).to_wire()], 1)
            assert 9 in reply
        finally:
            loop_thread.run(running.server.stop())


def test_buffer_keys_in_the_config_file(tmp_path: Path) -> None:
    from resolver.config import ConfigError
    from resolver.configfile import load
    good = tmp_path / "good.toml"
    good.write_text("so-rcvbuf = 4194304\nso-sndbuf = 0\n")
    settings = load(good)
    assert (settings.so_rcvbuf, settings.so_sndbuf) == (4194304, 0)
    bad = tmp_path / "bad.toml"
    bad.write_text("so-rcvbuf = -1\n")
    with pytest.raises(ConfigError, match="so-rcvbuf: must not be negative"):
        load(bad)
