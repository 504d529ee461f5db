"""``dump-cache`` with several workers: the workers' dumps merged into one file
(:func:`resolver.cache.dump.merge`), which loads like any dump."""

from __future__ import annotations

from pathlib import Path

import pytest

from resolver.cache import dump as cache_dump
from resolver.cache.rrsets import NXDOMAIN_TYPE, NegativeCache, NegEntry, Rank, RRsetCache
from resolver.clock import FixedClock
from resolver.wire.name import Name
from resolver.wire.rrset import RRset
from resolver.wire.types import Rcode, RRType


def n(text: str) -> Name:
    return Name.from_text(text)


def _caches(clock: FixedClock) -> tuple[RRsetCache, NegativeCache]:
    return RRsetCache(1 << 20, clock), NegativeCache(1 << 20, clock)


def test_the_parts_merge_into_one_dump(tmp_path: Path) -> None:
    clock = FixedClock()
    first, second = _caches(clock), _caches(clock)
    # both workers hold www.lab. A (the second longer), each one name of its own
    first[0].put(RRset(n("www.lab."), RRType.A, 1, 100, [bytes((192, 0, 2, 1))]),
                 Rank.AUTH_ANSWER, zone=n("lab."))
    second[0].put(RRset(n("WWW.lab."), RRType.A, 1, 300, [bytes((192, 0, 2, 1))]),
                  Rank.AUTH_ANSWER, zone=n("lab."))
    first[0].put(RRset(n("one.lab."), RRType.A, 1, 300, [bytes((192, 0, 2, 2))]),
                 Rank.AUTH_ANSWER, zone=n("lab."))
    second[1].put(NegEntry(n("nope.lab."), NXDOMAIN_TYPE, Rcode.NXDOMAIN, n("lab."), None),
                  200)
    parts = [tmp_path / "cache.worker-0", tmp_path / "cache.worker-1"]
    assert cache_dump.dump(parts[0], *first, clock()) == 2
    assert cache_dump.dump(parts[1], *second, clock()) == 2
    merged = tmp_path / "cache"
    assert cache_dump.merge(parts, merged) == 3
    clock.advance(150)                       # the copy of 100 s has expired, not the other
    again = _caches(clock)
    assert cache_dump.load(merged, *again, clock()) == 3
    entry = again[0].get(n("www.lab."), RRType.A)
    assert entry is not None and entry.ttl(clock()) == 150
    assert again[0].get(n("one.lab."), RRType.A) is not None
    assert merged.stat().st_mode & 0o077 == 0


def test_a_part_that_is_not_a_dump_fails_the_merge(tmp_path: Path) -> None:
    good, bad = tmp_path / "a", tmp_path / "b"
    cache_dump.dump(good, *_caches(FixedClock()), 0.0)
    bad.write_text('{"format": "something-else"}\n')
    with pytest.raises(cache_dump.DumpError, match="not a resolver-cache dump"):
        cache_dump.merge([good, bad], tmp_path / "out")
    bad.write_text(good.read_text() + "{not json\n")
    with pytest.raises(cache_dump.DumpError, match=":2: not a cache entry"):
        cache_dump.merge([good, bad], tmp_path / "out")
    assert not (tmp_path / "out").exists()
