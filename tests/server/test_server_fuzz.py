"""Issue 4: the server survives a bounded fuzz run of malformed queries (random bytes
and mutations of good queries, over UDP and TCP) and keeps answering. The fast-path
key parser, which runs before anything else on every datagram, is fuzzed in-process
too: an exception there would close the UDP listener.
"""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import struct
import time
from collections.abc import Iterator

import pytest

from resolver.wire import message as wm
from resolver.wire.name import Name
from resolver.wire.querykey import query_key
from resolver.wire.types import Rcode, RRType
from tests.loop import LoopThread
from tests.networks import Net

from .test_server import HOST, Running, a_values, ask, query, start_server

SEED = 4_2026          # fixed: a failure can be replayed
UDP_PACKETS = 3000
TCP_FRAMES = 300


def good_queries() -> list[bytes]:
    names = ["www.lab.", "localhost.", "nope.lab.", "www.other.", "1.0.0.127.in-addr.arpa."]
    out = []
    for name in names:
        for qtype in (RRType.A, RRType.AAAA, RRType.PTR, RRType.TXT):
            out.append(query(name, qtype).to_wire())
            out.append(query(name, qtype, edns=False).to_wire())
    return out


def mutate(rng: random.Random, wire: bytes) -> bytes:
    data = bytearray(wire)
    for _ in range(rng.randint(1, 4)):
        choice = rng.randrange(7)
        if choice == 0 and data:                       # flip a bit
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
        elif choice == 1 and data:                     # replace a byte
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif choice == 2:                              # cut short
            del data[rng.randrange(len(data) + 1):]
        elif choice == 3:                              # insert bytes
            i = rng.randrange(len(data) + 1)
            data[i:i] = rng.randbytes(rng.randint(1, 8))
        elif choice == 4 and len(data) >= 12:          # section counts
            struct.pack_into("!H", data, 4 + 2 * rng.randrange(4), rng.choice(
                [0, 1, 2, 255, 0xFFFF]))
        elif choice == 5 and len(data) >= 12:          # flags, opcode, rcode
            struct.pack_into("!H", data, 2, rng.randrange(0x10000) & ~0x8000)
        elif choice == 6:                              # compression pointer
            i = rng.randrange(12, max(13, len(data)))
            data[i:i] = bytes((0xC0, rng.randrange(256)))
    return bytes(data)


def fuzz_inputs(rng: random.Random, count: int) -> Iterator[bytes]:
    seeds = good_queries()
    for i in range(count):
        if i % 3 == 0:
            yield rng.randbytes(rng.randint(0, 600))
        else:
            yield mutate(rng, rng.choice(seeds))


def test_query_key_never_raises() -> None:
    rng = random.Random(SEED)
    for data in fuzz_inputs(rng, 20000):
        qk = query_key(data)
        if qk is not None:
            assert qk.qend <= len(data)
            assert 512 <= qk.payload <= 0xFFFF


@pytest.fixture
def fuzzed_server(lab: Net, loop_thread: LoopThread) -> Iterator[Running]:
    running = start_server(loop_thread, lab.settings())
    yield running
    loop_thread.run(running.server.stop())


def drain(sock: socket.socket) -> int:
    got = 0
    while True:
        try:
            sock.recv(65535)
            got += 1
        except (BlockingIOError, ConnectionRefusedError):
            return got


def test_udp_fuzz_then_still_answering(fuzzed_server: Running,
                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    rng = random.Random(SEED)
    port = fuzzed_server.port
    started = time.monotonic()
    replies = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect((HOST, port))
        sock.setblocking(False)
        for i, data in enumerate(fuzz_inputs(rng, UDP_PACKETS)):
            with contextlib.suppress(BlockingIOError, ConnectionRefusedError):
                sock.send(data)
            if i % 50 == 49:            # let the server keep up: no kernel drops
                deadline = time.monotonic() + 1.0
                while fuzzed_server.server.stats.udp < i - 10 and \
                        time.monotonic() < deadline:
                    time.sleep(0.002)
                replies += drain(sock)
        time.sleep(0.3)
        replies += drain(sock)
    assert time.monotonic() - started < 40
    assert replies > UDP_PACKETS // 4, replies       # most got an answer (FORMERR, ...)
    # wait for the slow-path work to settle, then a good query is answered
    deadline = time.monotonic() + 20
    while fuzzed_server.server.stats.pending and time.monotonic() < deadline:
        time.sleep(0.05)
    reply = ask(port, query("www.lab.", msg_id=77))
    assert reply.id == 77 and reply.rcode == Rcode.NOERROR
    assert a_values(reply) == ["192.0.2.70"]
    stats = fuzzed_server.server.stats
    assert stats.formerr > 0 and stats.udp >= UDP_PACKETS * 9 // 10
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def test_tcp_fuzz_then_still_answering(fuzzed_server: Running,
                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    """Malformed frames on a few connections (also a length prefix promising more
    than is sent, then a close): the server answers or drops, never dies."""
    rng = random.Random(SEED + 1)
    port = fuzzed_server.port
    inputs = list(fuzz_inputs(rng, TCP_FRAMES))
    for start in range(0, TCP_FRAMES, 50):
        with socket.create_connection((HOST, port), timeout=5) as sock:
            stream = b"".join(struct.pack("!H", len(d)) + d for d in inputs[start:start + 50])
            sock.sendall(stream + struct.pack("!H", 500) + b"\x00" * 10)
            sock.shutdown(socket.SHUT_WR)
            sock.settimeout(5)
            try:
                while sock.recv(65535):
                    pass
            except (TimeoutError, ConnectionResetError):
                pass
    with socket.create_connection((HOST, port), timeout=5) as sock:
        wire = query("localhost.", msg_id=5).to_wire()
        sock.sendall(struct.pack("!H", len(wire)) + wire)
        size = struct.unpack("!H", sock.recv(2))[0]
        data = b""
        while len(data) < size:
            data += sock.recv(size - len(data))
    reply = wm.parse(data)
    assert reply.id == 5 and reply.rcode == Rcode.NOERROR
    assert [Name(rr.name.wire) for rr in reply.answer] == [Name.from_text("localhost.")]
    deadline = time.monotonic() + 5       # the server sees the last close
    while fuzzed_server.server.stats.tcp_connections and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fuzzed_server.server.stats.tcp_connections == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
