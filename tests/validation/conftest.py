"""Fixtures for the end-to-end validation tests (issue 5).

pytest-asyncio is not installed. The authoritative test networks run in an asyncio
loop in a daemon thread (:class:`LoopThread`), so every test can drive a
:class:`~resolver.service.Resolver` with ``asyncio.run`` in the main thread, and the
``query --trace`` command (which calls ``asyncio.run`` itself) can be run in-process.
Networks are built once per session: signing the ``zones/`` hierarchy takes seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from resolver.config import Settings
from resolver.service import Resolver
from resolver.testnet.hierarchy import Hierarchy, build
from resolver.testnet.network import TestNetwork
from tests.loop import LoopThread

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
INTEROP = ROOT / "tests" / "data" / "interop"
ZONES = ROOT / "zones"
PINNED = 1795881600.0          # 2026-11-28T16:00:00Z: the interop signatures are valid then


@dataclass(slots=True)
class Served:
    """A running test network and what a resolver needs to use it."""

    net: TestNetwork
    hints: Path
    anchors: list[Path]
    nodefault: list[str]
    validation_now: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return self.net.port

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "allow_loopback_upstream": True, "upstream_port": self.port,
            "root_hints": self.hints, "trust_anchors": list(self.anchors),
            "nodefault": list(self.nodefault)}
        values.update(overrides)
        return Settings(**values)

    def resolver(self, **overrides: Any) -> Resolver:
        kwargs: dict[str, Any] = {}
        for key in ("now", "validation_now", "transport", "anchors"):
            if key in overrides:
                kwargs[key] = overrides.pop(key)
        if "validation_now" not in kwargs and self.validation_now is not None:
            pinned = self.validation_now
            kwargs["validation_now"] = lambda: pinned
        return Resolver(self.settings(**overrides), **kwargs)

    def upstream_queries(self) -> int:
        """Queries the authoritative servers have seen so far (all of them)."""
        return sum(len(s.queries) for s in self.net.servers.values())


def run(coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    """Run one test body in a fresh event loop, bounded in time."""
    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


@pytest.fixture(scope="session")
def loop_thread() -> Iterator[LoopThread]:
    runner = LoopThread()
    yield runner
    runner.close()


@pytest.fixture(scope="session")
def interop(loop_thread: LoopThread) -> Iterator[Served]:
    """The interop hierarchy (pre-signed by BIND/ldns), validation time pinned."""
    net = TestNetwork.from_map(INTEROP / "zones.map")
    loop_thread.run(net.start())
    try:
        yield Served(net, INTEROP / "root.hints", [INTEROP / "root.ds"], ["test."], PINNED)
    finally:
        loop_thread.run(net.stop())


@pytest.fixture(scope="session")
def hierarchy() -> Hierarchy:
    """The project's zones/ hierarchy, signed now (real clock)."""
    return build(ZONES)


@pytest.fixture(scope="session")
def zones(loop_thread: LoopThread, hierarchy: Hierarchy,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    net = hierarchy.network
    loop_thread.run(net.start())
    out = tmp_path_factory.mktemp("zones-net")
    paths = net.write_outputs(out)
    try:
        yield Served(net, paths["hints"], [paths["ds"]], ["example.", "internal."],
                     extra={"dir": out, "hierarchy": hierarchy})
    finally:
        loop_thread.run(net.stop())
