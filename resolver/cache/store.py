"""A size-bounded LRU map with per-entry expiry, measured in approximate bytes.

Expiry is checked on read: an expired entry is a miss. It is dropped then, unless
the store has a *grace* period (serve-stale, RFC 8767): an entry expired less than
``grace`` seconds ago stays in place, a miss for :meth:`LruStore.get` but readable
with :meth:`LruStore.peek`, until the grace period ends or LRU pressure evicts it (a
miss does not refresh its place). When the byte budget is exceeded the least
recently used entries go first. Not thread-safe: everything runs on the event loop.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from ..lru import Lru

K = TypeVar("K")
V = TypeVar("V")
# One int object per distinct entry size (sizes above 256 are objects of 28 bytes
# each otherwise, one per entry); the memo is bounded (a size dropped from it lives
# on in its entries).
_SIZES: Lru[int, int] = Lru(4096)


def intern_size(size: int) -> int:
    """*size* as the one int object of its value that the stores share."""
    return _SIZES.get(size) or _SIZES.put(size, size)


class LruStore(Generic[K, V]):
    __slots__ = ("max_bytes", "bytes", "_data", "_now", "evictions", "hits", "misses",
                 "grace")

    def __init__(self, max_bytes: int, now: Callable[[], float]) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._data: OrderedDict[K, tuple[float, int, V]] = OrderedDict()
        self._now = now
        self.evictions = 0
        self.hits = 0
        self.misses = 0
        # seconds an expired entry stays readable by peek (serve-stale); 0: dropped
        self.grace = 0.0

    def get(self, key: K, now: float | None = None) -> V | None:
        """The live entry under *key* (made the most recent), or None. *now*: the
        time, when the caller has just read the store's clock."""
        item = self._data.get(key)
        if item is None:
            self.misses += 1
            return None
        expires, size, value = item
        if now is None:
            now = self._now()
        if expires <= now:
            if self.grace <= 0 or expires + self.grace <= now:
                del self._data[key]
                self.bytes -= size
            self.misses += 1
            return None
        self._data.move_to_end(key)
        self.hits += 1
        return value

    def peek(self, key: K) -> tuple[float, V] | None:
        """Entry and expiry without touching LRU order or counters (expired included)."""
        item = self._data.get(key)
        return None if item is None else (item[0], item[2])

    def put(self, key: K, value: V, expires: float, size: int) -> None:
        size = intern_size(size)
        old = self._data.pop(key, None)
        if old is not None:
            self.bytes -= old[1]
        self._data[key] = (expires, size, value)
        self.bytes += size
        while self.bytes > self.max_bytes and len(self._data) > 1:
            _, (_, evicted, _) = self._data.popitem(last=False)
            self.bytes -= evicted
            self.evictions += 1

    def set_expiry(self, key: K, expires: float) -> None:
        """A new expiry for an entry, keeping its size and place."""
        item = self._data.get(key)
        if item is not None:
            self._data[key] = (expires, item[1], item[2])

    def delete(self, key: K) -> None:
        old = self._data.pop(key, None)
        if old is not None:
            self.bytes -= old[1]

    def clear(self) -> None:
        self._data.clear()
        self.bytes = 0

    def drop_where(self, match: Callable[[K, V], bool]) -> int:
        """Drop every entry for which ``match(key, value)`` holds (an operator's flush:
        a scan, never on the hot path). Returns how many of them were still alive;
        expired matches go too, uncounted."""
        now = self._now()
        dead = [(key, expires) for key, (expires, _, value) in self._data.items()
                if match(key, value)]
        for key, _ in dead:
            self.delete(key)
        return sum(1 for _, expires in dead if expires > now)

    def sweep(self) -> int:
        """Drop expired entries (those in their grace period stay); returns how many."""
        now = self._now() - self.grace
        dead = [k for k, (exp, _, _) in self._data.items() if exp <= now]
        for key in dead:
            self.delete(key)
        return len(dead)

    def values(self) -> Iterator[V]:
        """Every value (expired ones included), without touching LRU order or counters."""
        return iter([item[2] for item in self._data.values()])

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._data))
