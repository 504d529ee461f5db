"""Test networks for the iterate, cache and server tests (``tests/iterate/``,
``tests/cache/``, ``tests/server/``; each conftest.py there imports the fixtures it
uses): networks on loopback, run in a background event loop, and a resolver run with
:func:`asyncio.run` in the test's own thread.

pytest-asyncio is not used. A :class:`LoopThread` runs an asyncio loop in a daemon
thread; the authoritative servers live there and the resolver under test talks to them
over real sockets (UDP and TCP on 127.0.0.x). Anything touching a server's state
(``set_faults``) goes through :meth:`LoopThread.call`.

Three networks:

* ``interop``: the frozen interop hierarchy of ``tests/data/interop`` (127.0.0.11-15);
* ``hierarchy``: the project's ``zones/`` hierarchy with its fault zones (127.0.0.21-26),
  signed at start-up;
* ``lab``: small unsigned zones built here for the attacks of SECURITY.md s2-s3
  (NXNS fan-out, CNAME loops and long chains, dependency cycles, lame, silent and
  spoofing servers, poisoning), on 127.0.0.61-69.

For tests with a fake clock, :func:`in_process_lab` answers the same lab zones through a
:class:`~resolver.iterate.transport.FakeTransport`, with no sockets and instant timeouts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from resolver.authority.zone import Zone
from resolver.config import IterLimits, Settings
from resolver.iterate.transport import FakeTransport
from resolver.service import Resolver
from resolver.testnet.faults import Faults
from resolver.testnet.hierarchy import build
from resolver.testnet.network import TestNetwork
from resolver.testnet.server import AuthServer
from resolver.wire import message as wm
from resolver.wire.message import Message
from resolver.wire.name import Name
from resolver.wire.zonefile import read_zone_text
from tests.loop import LoopThread

T = TypeVar("T")

ROOT_DIR = Path(__file__).resolve().parents[1]
INTEROP = ROOT_DIR / "tests" / "data" / "interop"
ZONES = ROOT_DIR / "zones"


def run(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """Run *coro* to completion in a fresh event loop, bounded in time."""
    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


class UdpFaultServer(AuthServer):
    """An :class:`AuthServer` whose faults apply over UDP only: TCP answers are
    correct, as from a real server whose UDP replies are being spoofed."""

    def answer(self, wire: bytes, transport: str) -> tuple[bytes | None, Faults | None]:
        if transport != "tcp":
            return super().answer(wire, transport)
        saved = self.faults
        self.faults = {}
        try:
            return super().answer(wire, transport)
        finally:
            self.faults = saved


@dataclass
class Net:
    """A started network, the loop it runs in and the root hints file for it."""

    net: TestNetwork
    loop: LoopThread
    hints: Path

    @property
    def port(self) -> int:
        return self.net.port

    def server(self, address: str) -> AuthServer:
        return self.net.servers[address]

    def set_faults(self, address: str, zone: str | None = None, **flags: Any) -> Faults:
        server = self.server(address)
        origin = Name.from_text(zone) if zone is not None else None
        return self.loop.call(lambda: server.set_faults(origin, **flags))

    def clear_faults(self, address: str, zone: str | None = None) -> None:
        server = self.server(address)
        key = Name.from_text(zone).key if zone is not None else None
        self.loop.call(lambda: server.faults.pop(key, None))

    def reset_queries(self) -> None:
        for server in self.net.servers.values():
            self.loop.call(server.queries.clear)

    def queries(self, address: str | None = None) -> list[tuple[Name, int, str]]:
        """Queries the servers saw (all of them, or those of one address)."""
        servers = [self.server(address)] if address else list(self.net.servers.values())
        out: list[tuple[Name, int, str]] = []
        for server in servers:
            out.extend(self.loop.call(lambda s=server: list(s.queries)))  # type: ignore[misc]
        return out

    def settings(self, **overrides: Any) -> Settings:
        """Settings of a non-validating resolver using this network."""
        values: dict[str, Any] = dict(validate=False, allow_loopback_upstream=True,
                                      upstream_port=self.port, root_hints=self.hints,
                                      nodefault=["test."], cache_size_mb=8.0)
        values.update(overrides)
        return Settings(**values)

    def resolver(self, **overrides: Any) -> Resolver:
        return Resolver(self.settings(**overrides))


def write_hints(net: TestNetwork, hints_dir: Path) -> Path:
    """The root hints of *net*, written into *hints_dir*."""
    hints_dir.mkdir(parents=True, exist_ok=True)
    hints = hints_dir / "root.hints"
    hints.write_text("".join(rr.to_text() + "\n" for rr in net.root_hints()))
    return hints


def start(net: TestNetwork, loop: LoopThread, hints_dir: Path) -> Net:
    """Start *net* in *loop* and write its root hints into *hints_dir*."""
    loop.run(net.start())
    return Net(net, loop, write_hints(net, hints_dir))


@pytest.fixture(scope="session")
def loop_thread() -> Iterator[LoopThread]:
    loop = LoopThread()
    yield loop
    loop.close()


@pytest.fixture(scope="session")
def interop(loop_thread: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    """The interop hierarchy (frozen zones signed by BIND and ldns)."""
    net = TestNetwork.from_map(INTEROP / "zones.map")
    started = start(net, loop_thread, tmp_path_factory.mktemp("interop"))
    yield started
    loop_thread.run(net.stop())


@pytest.fixture(scope="session")
def hierarchy(loop_thread: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    """The project's zones/ hierarchy, signed now, with the faults of its manifest."""
    net = build(ZONES).network
    started = start(net, loop_thread, tmp_path_factory.mktemp("hierarchy"))
    yield started
    loop_thread.run(net.stop())


# ----------------------------------------------------------------------------- the lab
LAB_ROOT, LAB_TLD, LAB_VICTIM, LAB_OTHER = "127.0.0.61", "127.0.0.62", "127.0.0.63", "127.0.0.64"
LAB_LAME, LAB_GOOD, LAB_SILENT = "127.0.0.65", "127.0.0.66", "127.0.0.67"
LAB_GLUELESS, LAB_FAULTY = "127.0.0.68", "127.0.0.69"
NXNS_NAMES = 20          # glueless NS names of nxns.lab., none of which resolves
CHAIN_OK = 11            # CNAME links in the longest chain that must still be followed


def _soa(ns: str) -> str:
    return f"@ SOA {ns} hostmaster 1 3600 900 86400 300\n"


def _chain(prefix: str, links: int, zone_of: Callable[[int], str]) -> dict[str, list[str]]:
    """A CNAME chain of *links* links ``{prefix}1 -> {prefix}2 -> ... -> A``, the i-th
    owner in zone ``zone_of(i)``; returns zone -> lines."""
    out: dict[str, list[str]] = {}
    for i in range(1, links + 2):
        zone = zone_of(i)
        owner = f"{prefix}{i}.{zone}"
        if i <= links:
            line = f"{owner} CNAME {prefix}{i + 1}.{zone_of(i + 1)}"
        else:
            line = f"{owner} A 192.0.2.99"
        out.setdefault(zone, []).append(line)
    return out


def lab_zone_texts() -> dict[str, tuple[str, list[str]]]:
    """origin -> (zone text, server addresses)."""
    alternate = {1: "lab.", 0: "other."}
    chains: dict[str, list[str]] = {"lab.": [], "other.": []}
    for prefix, links, zone_of in [
            ("ok", CHAIN_OK, lambda i: "lab."),
            ("long", CHAIN_OK + 1, lambda i: "lab."),
            ("xok", CHAIN_OK, lambda i: alternate[i % 2]),
            ("xlong", CHAIN_OK + 1, lambda i: alternate[i % 2])]:
        for zone, lines in _chain(prefix, links, zone_of).items():
            chains[zone] += lines
    nxns = "".join(f"nxns NS ns{i:02d}.victim.\n" for i in range(1, NXNS_NAMES + 1))
    root = (_soa("a.root.") + ". NS a.root.\n"
            f"a.root. A {LAB_ROOT}\n"
            f"lab. NS ns1.lab.\nns1.lab. A {LAB_TLD}\n"
            f"victim. NS ns.victim.\nns.victim. A {LAB_VICTIM}\n"
            f"other. NS ns.other.\nns.other. A {LAB_OTHER}\n")
    lab = ("$ORIGIN lab.\n" + _soa("ns1") + "@ NS ns1\n"
           f"ns1 A {LAB_TLD}\n"
           "www A 192.0.2.70\n"
           "*.deep A 192.0.2.90\n"
           "d DNAME other.\n"
           f"lame NS ns1.lame\nlame NS ns2.lame\nns1.lame A {LAB_LAME}\n"
           f"ns2.lame A {LAB_GOOD}\n"
           f"silent NS ns1.silent\nsilent NS ns2.silent\nns1.silent A {LAB_SILENT}\n"
           f"ns2.silent A {LAB_GOOD}\n"
           f"dead NS ns1.dead\nns1.dead A {LAB_SILENT}\n"
           "glueless NS gns.other.\n"
           "cyca NS ns.cycb.other.\n"
           + nxns +
           "".join(f"{z} NS ns1.{z}\nns1.{z} A {LAB_FAULTY}\n"
                   for z in ("poison", "spoof", "wrongq", "tc", "source"))
           + "a.loop CNAME b.loop\nb.loop CNAME a.loop\n"
           "x CNAME x.other.\n"
           + "\n".join(chains["lab."]) + "\n")
    other = ("$ORIGIN other.\n" + _soa("ns") + "@ NS ns\n"
             f"ns A {LAB_OTHER}\ngns A {LAB_GLUELESS}\n"
             "www A 192.0.2.80\n"
             "x CNAME x.lab.\n"
             "cycb NS ns.cyca.lab.\n"
             + "\n".join(chains["other."]) + "\n")
    victim = "$ORIGIN victim.\n" + _soa("ns") + f"@ NS ns\nns A {LAB_VICTIM}\n"

    def leaf(origin: str, address: str, data: str) -> str:
        return f"$ORIGIN {origin}\n" + _soa("ns1") + f"@ NS ns1\nns1 A {address}\n" + data

    return {
        ".": (root, [LAB_ROOT]),
        "lab.": (lab, [LAB_TLD]),
        "other.": (other, [LAB_OTHER]),
        "victim.": (victim, [LAB_VICTIM]),
        "lame.lab.": ("$ORIGIN lame.lab.\n" + _soa("ns1") + "@ NS ns1\n@ NS ns2\n"
                      f"ns1 A {LAB_LAME}\nns2 A {LAB_GOOD}\nwww A 192.0.2.73\n",
                      [LAB_LAME, LAB_GOOD]),
        "silent.lab.": ("$ORIGIN silent.lab.\n" + _soa("ns1") + "@ NS ns1\n@ NS ns2\n"
                        f"ns1 A {LAB_SILENT}\nns2 A {LAB_GOOD}\nwww A 192.0.2.74\n",
                        [LAB_SILENT, LAB_GOOD]),
        "dead.lab.": (leaf("dead.lab.", LAB_SILENT, "www A 192.0.2.75\n"), [LAB_SILENT]),
        "glueless.lab.": ("$ORIGIN glueless.lab.\n" + _soa("gns.other.")
                          + "@ NS gns.other.\nwww A 192.0.2.71\n", [LAB_GLUELESS]),
        "poison.lab.": (leaf("poison.lab.", LAB_FAULTY, "www A 192.0.2.72\n"), [LAB_FAULTY]),
        "spoof.lab.": (leaf("spoof.lab.", LAB_FAULTY, "www A 192.0.2.76\n"), [LAB_FAULTY]),
        "wrongq.lab.": (leaf("wrongq.lab.", LAB_FAULTY, "www A 192.0.2.77\n"), [LAB_FAULTY]),
        "tc.lab.": (leaf("tc.lab.", LAB_FAULTY, "www A 192.0.2.78\n"), [LAB_FAULTY]),
        "source.lab.": (leaf("source.lab.", LAB_FAULTY, "www A 192.0.2.79\n"), [LAB_FAULTY]),
    }


def lab_network() -> TestNetwork:
    zones: list[tuple[Zone, str]] = []
    for origin, (text, addresses) in lab_zone_texts().items():
        name = Name.from_text(origin)
        zone = Zone.from_records(name, read_zone_text(text, name, 3600))
        zones.extend((zone, address) for address in addresses)
    net = TestNetwork(zones, port=0)
    # the fault server spoofs over UDP only; TCP stays honest
    faulty = net.servers[LAB_FAULTY]
    replacement = UdpFaultServer(LAB_FAULTY, faulty.zones.values())
    net.servers[LAB_FAULTY] = replacement
    return net


# faults the lab always has (tests add more and take them away again)
LAB_FAULTS: list[tuple[str, str, dict[str, Any]]] = [
    (LAB_LAME, "lame.lab.", {"refused": True}),
    (LAB_SILENT, "silent.lab.", {"timeout": True}),
    (LAB_SILENT, "dead.lab.", {"timeout": True}),
    (LAB_FAULTY, "spoof.lab.", {"wrong_id": True}),
    (LAB_FAULTY, "wrongq.lab.", {"wrong_question": True}),
    (LAB_FAULTY, "tc.lab.", {"always_tc": True}),
    (LAB_FAULTY, "source.lab.", {"other_source": True}),
]


@pytest.fixture(scope="session")
def lab(loop_thread: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    net = lab_network()
    started = start(net, loop_thread, tmp_path_factory.mktemp("lab"))
    for address, zone, flags in LAB_FAULTS:
        started.set_faults(address, zone, **flags)
    yield started
    loop_thread.run(net.stop())


def fast_limits(**overrides: Any) -> IterLimits:
    limits = IterLimits()
    for key, value in overrides.items():
        setattr(limits, key, value)
    return limits


class InProcessNet:
    """A network of (not started) authoritative servers answered in-process through a
    :class:`~resolver.iterate.transport.FakeTransport`: no sockets, no waiting; a
    server with the ``timeout`` fault times out at once. For tests with a fake clock."""

    def __init__(self, net: TestNetwork) -> None:
        self.net = net
        self.transport = FakeTransport(self.handler)

    async def handler(self, server: tuple[str, int], query: Message,
                      tcp: bool) -> Message | None:
        auth = self.net.servers.get(server[0])
        if auth is None:
            return None
        out, faults = auth.answer(query.to_wire(), "tcp" if tcp else "udp")
        if out is None or (faults is not None and faults.timeout):
            return None
        return wm.parse(out)

    def resolver(self, hints_dir: Path, clock: Callable[[], float] | None = None,
                 **overrides: Any) -> Resolver:
        values: dict[str, Any] = dict(validate=False, allow_loopback_upstream=True,
                                      upstream_port=53, root_hints=write_hints(self.net,
                                                                               hints_dir),
                                      nodefault=["test."], cache_size_mb=8.0)
        values.update(overrides)
        if clock is None:
            return Resolver(Settings(**values), transport=self.transport)
        return Resolver(Settings(**values), transport=self.transport, now=clock)

    def sent_to(self, address: str) -> list[tuple[Name, int, bool]]:
        return [(q.question[0].name, q.question[0].qtype, tcp)
                for (addr, _), q, tcp in self.transport.sent if addr == address]


def in_process_lab() -> InProcessNet:
    net = lab_network()
    for address, zone, flags in LAB_FAULTS:
        net.servers[address].set_faults(Name.from_text(zone), **flags)
    return InProcessNet(net)
