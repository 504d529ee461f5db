"""Issue 17 s4, rate limits, under a bounded load from loopback:
``ratelimit-per-client`` (a token bucket per client address on the UDP path: excess
queries answered TC=1 or dropped, counted in ``resolver_ratelimited_total{action}``;
TCP is not limited) and ``ratelimit`` (upstream queries per second per zone cut: over
it, the query fails with SERVFAIL, as Unbound's ratelimit)."""

from __future__ import annotations

import socket
import time

import pytest

from resolver.clock import FixedClock
from resolver.config import ConfigError, Settings
from resolver.configfile import apply
from resolver.lru import Lru, take_token
from resolver.metrics import registry_for
from resolver.service import Resolver
from resolver.wire import message as wm
from resolver.wire.name import Name
from resolver.wire.types import TC, Rcode, RRType
from tests.loop import LoopThread
from tests.networks import Net
from tests.server.test_server import HOST, a_values, ask, query, start_server, tcp

BURST = 200          # queries sent back to back by one client


def blast(port: int, count: int) -> tuple[int, int]:
    """Send *count* queries for a cached name at once; (answers, TC=1 replies)."""
    answers = truncated = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.connect((HOST, port))
        for i in range(count):
            sock.send(query("www.lab.", msg_id=i).to_wire())
        sock.settimeout(0.5)
        try:
            while True:
                reply = wm.parse(sock.recv(65535))
                if reply.flags & TC:
                    assert reply.answer == [] and reply.question[0].name == Name.from_text(
                        "www.lab.")
                    truncated += 1
                else:
                    answers += 1
        except TimeoutError:
            pass
    return answers, truncated


def samples(running_resolver: Resolver, server: object) -> dict[tuple[str, str], float]:
    out = {}
    for family in registry_for(running_resolver, server).collect():  # type: ignore[arg-type]
        for sample in family.samples:
            if sample.name == "resolver_ratelimited_total":
                out[(sample.name, sample.labels["action"])] = sample.value
    return out


@pytest.mark.parametrize("action", ["tc", "drop"])
def test_per_client_limit(lab: Net, loop_thread: LoopThread, action: str) -> None:
    settings = lab.settings()
    settings.ratelimit_per_client = 20.0
    settings.ratelimit_action = action
    running = start_server(loop_thread, settings)
    try:
        assert a_values(ask(running.port, query("www.lab."))) == ["192.0.2.70"]
        started = time.monotonic()
        answers, truncated = blast(running.port, BURST)
        elapsed = time.monotonic() - started
        stats = running.server.stats
        # at most the bucket (20) plus what refilled meanwhile got through
        assert 1 <= answers <= 20 + 20 * elapsed + 1, (answers, elapsed)
        limited = stats.ratelimited_tc if action == "tc" else stats.ratelimited_drop
        assert limited >= BURST - answers - 1 - 20 * elapsed
        assert truncated == (stats.ratelimited_tc if action == "tc" else 0)
        assert samples(running.resolver, running.server)[
            ("resolver_ratelimited_total", action)] == limited
        # TCP (where TC=1 sends the client) is not limited
        for reply in tcp(running.port, [query("www.lab.", msg_id=n).to_wire()
                                        for n in range(30)]):
            assert a_values(wm.parse(reply)) == ["192.0.2.70"]
    finally:
        loop_thread.run(running.server.stop())


def test_per_client_limit_off_by_default(lab: Net, loop_thread: LoopThread) -> None:
    running = start_server(loop_thread, lab.settings())
    try:
        assert running.server._buckets is None       # zero cost: one None check
        ask(running.port, query("www.lab."))
        answers, truncated = blast(running.port, 50)
        assert (answers, truncated) == (50, 0)
        assert running.server.stats.ratelimited_tc == running.server.stats.ratelimited_drop == 0
        settings = lab.settings()
        settings.ratelimit_per_client = 5.0
        running.server.apply_settings(settings)          # SIGHUP switches it on
        assert running.server._buckets is not None
    finally:
        loop_thread.run(running.server.stop())


def test_token_bucket() -> None:
    buckets: Lru[str, list[float]] = Lru(2)
    assert [take_token(buckets, "a", 3.0, 0.0) for _ in range(4)] == [True] * 3 + [False]
    assert take_token(buckets, "a", 3.0, 0.5)          # 1.5 tokens refilled
    assert not take_token(buckets, "a", 3.0, 0.5)
    assert take_token(buckets, "b", 3.0, 0.5) and take_token(buckets, "c", 3.0, 0.5)
    assert len(buckets) == 2                            # bounded


def _resolve_many(lab: Net, loop_thread: LoopThread, rate: float) -> tuple[list[int], int]:
    settings = lab.settings(validate=False)
    settings.ratelimit = rate
    resolver = Resolver(settings, now=FixedClock())    # the clock stands still: no refill
    rcodes = []
    for qtype in (RRType.A, RRType.AAAA, RRType.TXT, RRType.MX, RRType.SRV, RRType.CAA,
                  RRType.HINFO, RRType.NAPTR):
        answer = loop_thread.run(resolver.resolve(Name.from_text("www.lab."), qtype))
        rcodes.append(answer.rcode)
    return rcodes, resolver.counters.values["upstream_ratelimited"][()]


def test_per_zone_upstream_limit(lab: Net, loop_thread: LoopThread) -> None:
    rcodes, limited = _resolve_many(lab, loop_thread, 0.0)
    assert Rcode.SERVFAIL not in rcodes and limited == 0
    rcodes, limited = _resolve_many(lab, loop_thread, 3.0)
    assert rcodes[0] == Rcode.NOERROR
    assert rcodes[-1] == Rcode.SERVFAIL and limited >= 1, (rcodes, limited)


def test_config_keys() -> None:
    settings = apply(Settings(), {"ratelimit-per-client": 50, "ratelimit-action": "drop",
                                  "ratelimit": 100})
    assert (settings.ratelimit_per_client, settings.ratelimit_action, settings.ratelimit) \
        == (50.0, "drop", 100.0)
    with pytest.raises(ConfigError, match="ratelimit-action"):
        apply(Settings(), {"ratelimit-action": "slip"})
    with pytest.raises(ConfigError, match="ratelimit-per-client: must not be negative"):
        apply(Settings(), {"ratelimit-per-client": -1})
