"""The pieces of ``workers`` > 1 (tests/server/test_workers.py starts the processes):
the worker count, the config key, the shared sockets, the sums of the metrics and the
RFC 5011 state that only worker 0 writes."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path

import pytest

from resolver.cli.worker import FollowerAnchors
from resolver.config import ConfigError, Settings
from resolver.configfile import apply
from resolver.dnssec.anchors import load_default_anchors
from resolver.server.aggregate import Totals
from resolver.server.listener import ListenError
from resolver.server.sockets import MAX_AUTO_WORKERS, bind_all, worker_count
from resolver.validate.autotrust_manager import TrustAnchorManager
from resolver.wire.name import Name

HOST = "127.0.0.1"


def test_worker_count() -> None:
    cores = len(os.sched_getaffinity(0))
    assert worker_count(0) == max(1, min(cores, MAX_AUTO_WORKERS))
    assert worker_count(3) == 3


def test_the_workers_key() -> None:
    assert apply(Settings(), {"workers": 4}).workers == 4
    assert Settings().workers == 0          # one per usable core (issue 18)
    for bad in (-1, 65, "2", 1.5, True):
        with pytest.raises(ConfigError, match="workers"):
            apply(Settings(), {"workers": bad})


def test_sockets_for_every_worker_on_one_port() -> None:
    settings = Settings(listen=[(HOST, 0)])
    per = bind_all(settings, 3)
    try:
        ports = {pair[i].getsockname()[1] for w in per for pair in w.dns.values()
                 for i in (0, 1)}
        assert len(ports) == 1 and 0 not in ports
    finally:
        for w in per:
            for s in w.all():
                s.close()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind((HOST, 0))             # no SO_REUSEPORT: nobody may join it
        settings.listen = [(HOST, taken.getsockname()[1])]
        with pytest.raises(ListenError, match=f"{HOST}:{taken.getsockname()[1]}.*in use"):
            bind_all(settings, 2)


def test_totals_sum_counters_and_keep_what_is_alike() -> None:
    def text(queries: int, start: float, cpu: float) -> str:
        return ("# TYPE resolver_client_queries_total counter\n"
                f'resolver_client_queries_total{{transport="udp"}} {queries}\n'
                "# TYPE resolver_start_time_seconds gauge\n"
                f"resolver_start_time_seconds {start}\n"
                "# TYPE resolver_trust_anchor gauge\n"
                'resolver_trust_anchor{zone=".",key_tag="20326",state="valid"} 1\n'
                "# TYPE resolver_inflight_queries gauge\nresolver_inflight_queries 2\n"
                "# TYPE process_cpu_seconds_total counter\n"
                f"process_cpu_seconds_total {cpu}\n")
    totals = Totals()
    totals.add(0, text(10, 100.0, 1.5))
    totals.add(1, text(5, 90.0, 2.0))
    samples = totals.samples()
    assert samples['resolver_client_queries_total{transport="udp"}'] == 15
    assert samples["resolver_start_time_seconds"] == 90
    assert samples['resolver_trust_anchor{key_tag="20326",state="valid",zone="."}'] == 1
    assert samples["resolver_inflight_queries"] == 4
    assert totals.per_worker == {0: {"queries": 10, "cpu": 1.5}, 1: {"queries": 5, "cpu": 2.0}}


def test_only_worker_0_writes_the_rfc5011_state(tmp_path: Path) -> None:
    anchors = list(load_default_anchors(time.time()))
    state = tmp_path / "root.json"
    follower = FollowerAnchors(state, anchors)
    assert not state.exists()             # seeded from the anchors, nothing written
    writer = TrustAnchorManager(state, anchors)
    assert state.exists()
    written = state.stat().st_mtime_ns
    reader = FollowerAnchors(state, anchors)
    assert state.stat().st_mtime_ns == written
    assert {a.key_tag for a in reader.trusted()} == {a.key_tag for a in writer.trusted()}
    assert reader.next_refresh() <= time.time() + 61
    writer.save()
    os.utime(state, ns=(written + 10**9, written + 10**9))

    async def no_fetch(zone: Name) -> None:
        raise AssertionError("a follower never asks the root")

    assert asyncio.run(reader.refresh(no_fetch)) is False     # same keys read again
    assert asyncio.run(follower.refresh(no_fetch)) is False
    assert state.stat().st_mtime_ns == written + 10**9
