"""The outbound TLS policy environment for the tests: the zones/ hierarchy (with
``sts.example``), the test network's MTA-STS HTTPS server, a validating resolver on
them and the TLS policy socketmap on a free loopback port, all in a :class:`LoopThread`.

Test files import the fixture they use (``from tests.mail.stsnet import sts_env``).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from resolver.api.app import create_app, start_api
from resolver.config import Settings
from resolver.mail.mtasts_cache import MtaSts
from resolver.mail.socketmap import SocketmapServer, netstring, socketmap_from_settings
from resolver.service import Resolver
from resolver.testnet.hierarchy import build
from resolver.testnet.https import PolicyServer
from resolver.testnet.network import TestNetwork
from tests.loop import LoopThread

ROOT = Path(__file__).resolve().parents[2]
ZONES = ROOT / "zones"
CA_FILE = ZONES / "certs" / "ca.pem"


@dataclass
class StsEnv:
    loop: LoopThread
    net: TestNetwork
    policies: PolicyServer
    resolver: Resolver
    mta_sts: MtaSts
    socketmap: SocketmapServer
    host: str
    port: int
    paths: dict[str, Path]
    api_url: str
    api: web.AppRunner

    def settings(self) -> Settings:
        return self.resolver.settings


def query(port: int, *requests: str, host: str = "127.0.0.1",
          timeout: float = 30.0) -> list[str]:
    """Send netstring requests on one connection; the decoded replies, in order."""
    out: list[str] = []
    with socket.create_connection((host, port), timeout=timeout) as sock:
        reader = sock.makefile("rb")
        for text in requests:
            sock.sendall(netstring(text.encode()))
            out.append(read_reply(reader))
    return out


def read_reply(reader: object) -> str:
    digits = b""
    while True:
        ch = reader.read(1)  # type: ignore[attr-defined]
        assert ch, "connection closed before a reply"
        if ch == b":":
            break
        digits += ch
    data = reader.read(int(digits) + 1)  # type: ignore[attr-defined]
    assert data.endswith(b","), data
    return str(data[:-1].decode())


_SHARED: list[StsEnv] = []     # one environment per run, whichever module asks first


def _start(tmp: Path) -> StsEnv:
    loop = LoopThread("sts-test-loop", timeout=60.0)
    net = build(ZONES).network
    policies = PolicyServer()

    async def start() -> StsEnv:
        await net.start()
        await policies.start()
        paths = net.write_outputs(tmp)
        settings = Settings(listen=[("127.0.0.1", 0)], root_hints=paths["hints"],
                            trust_anchors=[paths["ds"]], allow_loopback_upstream=True,
                            upstream_port=net.port, api=None, cache_size_mb=16.0,
                            mta_sts_ca_file=CA_FILE, mta_sts_port=policies.port)
        resolver = Resolver(settings)
        server = socketmap_from_settings(resolver, settings)
        host, port = await server.start("127.0.0.1", 0)
        runner = await start_api(create_app(resolver), "127.0.0.1", 0)
        api_host, api_port = runner.addresses[0][:2]
        return StsEnv(loop, net, policies, resolver, server.mta_sts, server, host, port,
                      paths, f"http://{api_host}:{api_port}", runner)

    try:
        return loop.run(start())
    except BaseException:
        loop.run(policies.stop())
        loop.run(net.stop())
        loop.close()
        raise


def _stop(env: StsEnv) -> None:
    env.loop.run(env.socketmap.stop())
    env.loop.run(env.api.cleanup())
    env.loop.run(env.policies.stop())
    env.loop.run(env.net.stop())
    env.loop.close()


@pytest.fixture(scope="session")
def sts_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StsEnv]:
    """Built once per run and shared by the modules that import this fixture (each
    import is its own fixture to pytest, hence the module-level cache)."""
    if not _SHARED:
        _SHARED.append(_start(tmp_path_factory.mktemp("sts-net")))
    yield _SHARED[0]
    if _SHARED:
        _stop(_SHARED.pop())
