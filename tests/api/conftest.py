"""Fixtures for the API tests: a test network, a validating resolver on it and the HTTP
API on a free loopback port, all in an asyncio loop running in a daemon thread.

pytest-asyncio is not used: the servers live in :class:`LoopThread`, and tests talk to
the API from the main thread with plain blocking HTTP (:func:`Api.get` / :func:`Api.post`)
or run the CLI as a subprocess.

Two networks: ``zones_api`` serves the project's ``zones/`` hierarchy (signed at start-up),
``interop_api`` the frozen BIND/ldns-signed interop hierarchy (validation clock pinned to
2026-11-28 16:00 UTC, as its README asks).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web

from resolver.api.app import create_app, start_api
from resolver.api.inputs import AUTHSERV_ID_KEY
from resolver.config import Settings
from resolver.service import Resolver
from resolver.testnet.hierarchy import build
from resolver.testnet.network import TestNetwork
from tests.loop import LoopThread

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
ZONES = ROOT / "zones"
CERTS = ZONES / "certs"
INTEROP = ROOT / "tests" / "data" / "interop"
INTEROP_NOW = 1795881600.0        # 2026-11-28 16:00:00 UTC
AUTHSERV = "mx.test.invalid"


@dataclass
class Reply:
    status: int
    body: Any
    content_type: str
    raw: bytes


@dataclass
class Api:
    """A running API: its base URL, the app and the resolver behind it."""

    url: str
    app: web.Application
    resolver: Resolver

    def request(self, method: str, path: str, params: dict[str, Any] | None = None,
                data: bytes | None = None, content_type: str | None = None,
                headers: dict[str, str] | None = None, timeout: float = 30.0) -> Reply:
        url = self.url + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        req = urllib.request.Request(url, data=data, method=method)
        if content_type is not None:
            req.add_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            req.add_header(key, value)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, raw, ctype = resp.status, resp.read(), resp.headers.get_content_type()
        except urllib.error.HTTPError as exc:
            status, raw, ctype = exc.code, exc.read(), exc.headers.get_content_type()
        body: Any = None
        if ctype == "application/json":
            body = json.loads(raw)
        return Reply(status, body, ctype, raw)

    def get(self, path: str, **params: Any) -> Reply:
        return self.request("GET", path, params)

    def post_json(self, path: str, value: Any) -> Reply:
        return self.request("POST", path, data=json.dumps(value).encode(),
                            content_type="application/json")

    def post_raw(self, path: str, data: bytes, content_type: str = "message/rfc822",
                 **params: Any) -> Reply:
        return self.request("POST", path, params, data=data, content_type=content_type)


@pytest.fixture(scope="session")
def api_loop() -> Iterator[LoopThread]:
    loop = LoopThread("api-test-loop", timeout=60.0)
    yield loop
    loop.close()


def _start(loop: LoopThread, net: TestNetwork, settings: Settings,
           validation_now: float | None) -> tuple[Api, web.AppRunner]:
    async def go() -> tuple[Api, web.AppRunner]:
        resolver = Resolver(settings, validation_now=(lambda: validation_now)
                            if validation_now is not None else None)
        app = create_app(resolver)
        app[AUTHSERV_ID_KEY] = AUTHSERV
        runner = await start_api(app, "127.0.0.1", 0)
        host, port = runner.addresses[0][:2]
        return Api(f"http://{host}:{port}", app, resolver), runner
    return loop.run(go())


@pytest.fixture(scope="session")
def zones_api(api_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The API over a resolver on the zones/ hierarchy."""
    net = build(ZONES).network
    api_loop.run(net.start())
    paths = net.write_outputs(tmp_path_factory.mktemp("zones-net"))
    settings = Settings(listen=[("127.0.0.1", 0)], root_hints=paths["hints"],
                        trust_anchors=[paths["ds"]], allow_loopback_upstream=True,
                        upstream_port=net.port, api=None, cache_size_mb=16.0)
    api, runner = _start(api_loop, net, settings, None)
    yield api
    api_loop.run(runner.cleanup())
    api_loop.run(net.stop())


@pytest.fixture(scope="session")
def interop_api(api_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The API over a resolver on the interop hierarchy (clock pinned)."""
    net = TestNetwork.from_map(INTEROP / "zones.map")
    api_loop.run(net.start())
    out = tmp_path_factory.mktemp("interop-net")
    hints = out / "root.hints"
    hints.write_text("".join(rr.to_text() + "\n" for rr in net.root_hints()))
    settings = Settings(listen=[("127.0.0.1", 0)], root_hints=hints,
                        trust_anchors=[INTEROP / "root.ds"], allow_loopback_upstream=True,
                        upstream_port=net.port, api=None, nodefault=["test."],
                        cache_size_mb=16.0)
    api, runner = _start(api_loop, net, settings, INTEROP_NOW)
    yield api
    api_loop.run(runner.cleanup())
    api_loop.run(net.stop())
