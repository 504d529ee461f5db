"""The test network (zones/, signed at start-up), a validating resolver on it, and
milters with chosen policies, in an asyncio loop thread; for the milter tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resolver.config import Settings
from resolver.mail.milter import MilterPolicy, MilterServer
from resolver.mail.source import ResolverDns
from resolver.service import Resolver
from resolver.testnet.hierarchy import build
from tests.loop import LoopThread

ROOT = Path(__file__).resolve().parents[2]
ZONES = ROOT / "zones"
AUTHSERV = "mx.test.invalid"


@dataclass
class MilterNet:
    loop: LoopThread
    resolver: Resolver
    servers: list[MilterServer] = field(default_factory=list)

    def milter(self, limits: dict[str, Any] | None = None, **policy: Any) -> tuple[str, int]:
        """A milter on a free loopback port with *policy* (MilterPolicy fields) and
        *limits* (MilterServer keyword arguments)."""
        kw: dict[str, Any] = {"timeout": 30.0, **(limits or {})}
        server = MilterServer(ResolverDns(self.resolver),
                              MilterPolicy(authserv_id=AUTHSERV, **policy),
                              "127.0.0.1", 0, counters=self.resolver.counters, **kw)
        self.loop.run(server.start())
        self.servers.append(server)
        assert server.bound is not None
        return server.bound


@contextmanager
def milter_net(tmp: Path) -> Iterator[MilterNet]:
    loop = LoopThread("milter-test-loop", timeout=60.0)
    net = build(ZONES).network
    try:
        loop.run(net.start())
        paths = net.write_outputs(tmp)
        settings = Settings(listen=[("127.0.0.1", 0)], root_hints=paths["hints"],
                            trust_anchors=[paths["ds"]], allow_loopback_upstream=True,
                            upstream_port=net.port, api=None, cache_size_mb=16.0)

        async def make() -> Resolver:
            return Resolver(settings)
        mn = MilterNet(loop, loop.run(make()))
        try:
            yield mn
        finally:
            for server in mn.servers:
                loop.run(server.stop())
    finally:
        loop.run(net.stop())
        loop.close()
