"""Helpers of the aggressive-NSEC tests: faults on one zone of a test-network server
for the length of a ``with`` block, and a resolver that gives up on a silent server
quickly."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from resolver.service import Resolver
from resolver.testnet.server import AuthServer
from resolver.wire.name import Name

from .conftest import Served


@contextmanager
def zone_faults(served: Served, address: str, zone: str | Name,
                **faults: object) -> Iterator[None]:
    """Set *faults* for *zone* on the server at *address*, then put the previous
    ones back."""
    server: AuthServer = served.net.servers[address]
    name = zone if isinstance(zone, Name) else Name.from_text(zone)
    saved = server.faults.get(name.key)
    try:
        server.set_faults(name, **faults)
        yield
    finally:
        if saved is None:
            server.faults.pop(name.key, None)
        else:
            server.faults[name.key] = saved


def sent(resolver: Resolver) -> int:
    """Queries sent upstream so far."""
    return resolver.counters.total("upstream_queries")


def quick(served: Served, **overrides: object) -> Resolver:
    resolver = served.resolver(trust_anchor_signaling=False, **overrides)
    resolver.iterator.limits.wall_clock = 2.0   # a stopped server fails fast
    return resolver
