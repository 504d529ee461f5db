"""Fixtures for the authoritative test server: the interop hierarchy served in-process.

pytest-asyncio is not used. A :class:`LoopThread` runs an asyncio event loop in a
daemon thread; the servers live in that loop, and the tests talk to them from the
main thread with blocking dnspython calls or raw sockets. Anything that touches a
server's state (``set_faults``) is run inside the loop with :meth:`LoopThread.call`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from resolver.authority.zone import Zone
from resolver.testnet.faults import Faults
from resolver.testnet.network import TestNetwork, load_zone, read_map
from resolver.testnet.server import AuthServer
from resolver.wire.name import Name
from tests.loop import LoopThread

from . import record_nsd

T = TypeVar("T")


class RunningNetwork:
    """A started :class:`TestNetwork` and the loop thread it runs in."""

    def __init__(self, net: TestNetwork, runner: LoopThread) -> None:
        self.net = net
        self.runner = runner

    @property
    def port(self) -> int:
        return self.net.port

    def server(self, address: str) -> AuthServer:
        return self.net.servers[address]

    def set_faults(self, address: str, zone: str | None = None, **flags: Any) -> Faults:
        """Switch faults on for one server (zone None) or one of its zones."""
        server = self.server(address)
        origin = Name.from_text(zone) if zone is not None else None
        return self.runner.call(lambda: server.set_faults(origin, **flags))

    def clear_faults(self) -> None:
        for server in self.net.servers.values():
            self.runner.call(server.clear_faults)


def interop_zones(map_path: Path = record_nsd.ZONES_MAP,
                  zone_dir: Path = record_nsd.ZONE_DIR) -> list[tuple[Zone, str]]:
    return [(load_zone(entry), entry.address) for entry in read_map(map_path, zone_dir)]


@contextlib.contextmanager
def running_network(zones: list[tuple[Zone, str]] | None = None,
                    runner: LoopThread | None = None) -> Iterator[RunningNetwork]:
    """The interop hierarchy served on a random port until the block ends."""
    own = runner is None
    loop = runner if runner is not None else LoopThread()
    net = TestNetwork(zones if zones is not None else interop_zones(), port=0)
    try:
        loop.run(net.start())
        try:
            yield RunningNetwork(net, loop)
        finally:
            loop.run(net.stop())
    finally:
        if own:
            loop.close()


@pytest.fixture(scope="module")
def interop_net() -> Iterator[RunningNetwork]:
    """The interop network, one per test module, on its own random port."""
    with running_network() as running:
        yield running
