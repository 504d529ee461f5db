"""The store of every cache (expiry checked on read, a grace period for serve-stale, a
byte budget, least recently used evicted first), for values that carry their expiry and size in
two slots of their own (``until``, ``cost``).

:class:`~resolver.cache.store.LruStore` is this store for values without such
slots (it holds each in a small box). An (expiry, size, value) tuple per entry would
cost 64 bytes, plus a float and an int object of 24 and 28: with one entry in each
of two caches per cached answer, about 10 % of an answer's bytes; the value's two
slots cost 16.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Generic, Protocol, TypeVar

from ..lru import Lru

# One int object per distinct entry size (sizes above 256 are objects of 28 bytes
# each otherwise, one per entry); the memo is bounded (a size dropped from it lives
# on in its entries).
_SIZES: Lru[int, int] = Lru(4096)


def intern_size(size: int) -> int:
    """*size* as the one int object of its value that the stores share."""
    return _SIZES.get(size) or _SIZES.put(size, size)


class Stored(Protocol):
    until: float      # when the entry stops being a hit (the store's expiry)
    cost: int         # approximate bytes charged against the budget


K = TypeVar("K")
S = TypeVar("S", bound=Stored)


class SlotStore(Generic[K, S]):
    __slots__ = ("max_bytes", "bytes", "_data", "_now", "evictions", "hits", "misses",
                 "grace")

    def __init__(self, max_bytes: int, now: Callable[[], float]) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._data: OrderedDict[K, S] = OrderedDict()
        self._now = now
        self.evictions = 0
        self.hits = 0
        self.misses = 0
        # seconds an expired entry stays readable by peek (serve-stale); 0: dropped
        self.grace = 0.0

    def get(self, key: K, now: float | None = None) -> S | None:
        """The live entry under *key* (made the most recent), or None. *now*: the
        time, when the caller has just read the store's clock."""
        value = self._data.get(key)
        if value is None:
            self.misses += 1
            return None
        if now is None:
            now = self._now()
        until = value.until
        if until <= now:
            if self.grace <= 0 or until + self.grace <= now:
                del self._data[key]
                self.bytes -= value.cost
            self.misses += 1
            return None
        self._data.move_to_end(key)
        self.hits += 1
        return value

    def peek(self, key: K) -> tuple[float, S] | None:
        """Expiry and entry without touching LRU order or counters (expired included)."""
        value = self._data.get(key)
        return None if value is None else (value.until, value)

    def put(self, key: K, value: S, expires: float, size: int) -> None:
        data = self._data
        old = data.pop(key, None)
        if old is not None:
            self.bytes -= old.cost
        value.until = expires
        value.cost = cost = intern_size(size)
        data[key] = value
        self.bytes += cost
        while self.bytes > self.max_bytes and len(data) > 1:
            _, evicted = data.popitem(last=False)
            self.bytes -= evicted.cost
            self.evictions += 1

    def set_expiry(self, key: K, expires: float) -> None:
        """A new expiry for an entry, keeping its size and place."""
        value = self._data.get(key)
        if value is not None:
            value.until = expires

    def delete(self, key: K) -> None:
        old = self._data.pop(key, None)
        if old is not None:
            self.bytes -= old.cost

    def clear(self) -> None:
        self._data.clear()
        self.bytes = 0

    def drop_where(self, match: Callable[[K, S], bool]) -> int:
        """Drop every entry for which ``match(key, value)`` holds (an operator's flush:
        a scan, never on the hot path). Returns how many of them were still alive;
        expired matches go too, uncounted."""
        now = self._now()
        dead = [(key, value.until) for key, value in self._data.items() if match(key, value)]
        for key, _ in dead:
            self.delete(key)
        return sum(1 for _, until in dead if until > now)

    def sweep(self) -> int:
        """Drop expired entries (those in their grace period stay); returns how many."""
        now = self._now() - self.grace
        dead = [key for key, value in self._data.items() if value.until <= now]
        for key in dead:
            self.delete(key)
        return len(dead)

    def values(self) -> Iterator[S]:
        """Every value (expired ones included), without touching LRU order or counters."""
        return iter(list(self._data.values()))

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._data))
