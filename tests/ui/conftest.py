"""Fixtures for the report page tests: the project's signed test hierarchy, a validating
resolver on it and the API (which serves /ui/) on a free loopback port, in an asyncio
loop in a daemon thread; tests fetch pages with plain blocking HTTP."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from resolver.api.app import create_app, start_api
from resolver.config import Settings
from resolver.dnssec.keys import make_ds
from resolver.service import Resolver
from resolver.testnet.hierarchy import build
from resolver.testnet.network import TestNetwork
from resolver.wire import rdata as rd
from resolver.wire.name import Name
from resolver.wire.types import RRType
from tests.loop import LoopThread

ROOT = Path(__file__).resolve().parents[2]
ZONES = ROOT / "zones"


@dataclass
class Page:
    status: int
    text: str
    headers: dict[str, str]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


@dataclass
class Ui:
    url: str
    resolver: Resolver
    loop: LoopThread
    net: TestNetwork
    app: web.Application

    def app_routes(self) -> list[web.AbstractResource]:
        return list(self.app.router.resources())

    def get(self, path: str, timeout: float = 30.0) -> Page:
        opener = urllib.request.build_opener(NoRedirect)
        try:
            with opener.open(self.url + path, timeout=timeout) as resp:
                return Page(resp.status, resp.read().decode(), dict(resp.headers))
        except urllib.error.HTTPError as exc:
            return Page(exc.code, exc.read().decode(), dict(exc.headers))


def _start(loop: LoopThread, net: TestNetwork, settings: Settings) -> tuple[Ui, web.AppRunner]:
    async def go() -> tuple[Ui, web.AppRunner]:
        resolver = Resolver(settings)
        app = create_app(resolver)
        runner = await start_api(app, "127.0.0.1", 0)
        host, port = runner.addresses[0][:2]
        return Ui(f"http://{host}:{port}", resolver, loop, net, app), runner
    return loop.run(go())


@pytest.fixture(scope="session")
def ui_net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LoopThread, TestNetwork,
                                                                        dict[str, Path]]]:
    loop = LoopThread("ui-test-loop", timeout=60.0)
    net = build(ZONES).network
    loop.run(net.start())
    out = tmp_path_factory.mktemp("ui-net")
    paths = net.write_outputs(out)
    island = Name.from_text("island.example.")
    dnskey = net.zones[island.key].get(island, RRType.DNSKEY)
    assert dnskey is not None
    ksk = next(k for k in dnskey.rdatas if k[1] & 0x01)
    paths["island"] = out / "island.ds"
    paths["island"].write_text(
        f"island.example. IN DS {rd.to_text(RRType.DS, make_ds(island, ksk, 2))}\n")
    yield loop, net, paths
    loop.run(net.stop())
    loop.close()


def _settings(net: TestNetwork, paths: dict[str, Path], anchors: list[Path]) -> Settings:
    return Settings(listen=[("127.0.0.1", 0)], root_hints=paths["hints"], trust_anchors=anchors,
                    allow_loopback_upstream=True, upstream_port=net.port, api=None,
                    cache_size_mb=16.0)


@pytest.fixture(scope="session")
def ui(ui_net: tuple[LoopThread, TestNetwork, dict[str, Path]]) -> Iterator[Ui]:
    """The API and its report page over a resolver anchored at the test root."""
    loop, net, paths = ui_net
    page, runner = _start(loop, net, _settings(net, paths, [paths["ds"]]))
    yield page
    loop.run(runner.cleanup())


@pytest.fixture(scope="session")
def ui_island(ui_net: tuple[LoopThread, TestNetwork, dict[str, Path]]) -> Iterator[Ui]:
    """The same with a second trust anchor: island.example (signed, no DS at its parent)."""
    loop, net, paths = ui_net
    page, runner = _start(loop, net, _settings(net, paths, [paths["ds"], paths["island"]]))
    yield page
    loop.run(runner.cleanup())
