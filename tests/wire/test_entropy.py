"""Query IDs and source ports: buffered from secrets, uniform, never repeated in lockstep."""

from __future__ import annotations

import threading
from collections import Counter

from resolver.wire import entropy


def test_random16_covers_the_range_evenly() -> None:
    values = [entropy.random16() for _ in range(65536)]
    assert all(0 <= v <= 0xFFFF for v in values)
    # 65536 draws over 16 buckets of 4096 values: each bucket near 4096
    buckets = Counter(v >> 12 for v in values)
    assert len(buckets) == 16
    assert all(3500 < n < 4700 for n in buckets.values())
    assert len(set(values)) > 40000      # about 41,400 distinct values expected


def test_random_port_avoids_privileged_and_listed_ports() -> None:
    avoid = frozenset({4791, 11211})
    ports = [entropy.random_port(avoid) for _ in range(20000)]
    assert all(1024 <= p <= 65535 and p not in avoid for p in ports)
    assert min(ports) < 2000 and max(ports) > 64000


def test_threads_never_share_a_buffer_position() -> None:
    """next() on the C iterator is atomic: threads drawing at once get disjoint
    slices of the stream, so two threads never hand out the same run of numbers."""
    out: list[list[int]] = [[] for _ in range(4)]

    def draw(mine: list[int]) -> None:
        for _ in range(5000):
            mine.append(entropy.random16())

    threads = [threading.Thread(target=draw, args=(o,)) for o in out]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    runs = [tuple(o[i:i + 8]) for o in out for i in range(0, 5000, 8)]
    assert len(runs) == len(set(runs))
