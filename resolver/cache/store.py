"""A size-bounded LRU map with per-entry expiry, measured in approximate bytes.

Expiry is checked on read: an expired entry is a miss. It is dropped then, unless
the store has a *grace* period (serve-stale, RFC 8767): an entry expired less than
``grace`` seconds ago stays in place, a miss for :meth:`LruStore.get` but readable
with :meth:`LruStore.peek`, until the grace period ends or LRU pressure evicts it (a
miss does not refresh its place). When the byte budget is exceeded the least
recently used entries go first. Not thread-safe: everything runs on the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from .slotstore import SlotStore, intern_size

K = TypeVar("K")
V = TypeVar("V")
__all__ = ["LruStore", "intern_size"]


class _Held(Generic[V]):
    """A value of any type with the two slots :class:`SlotStore` keeps its entries'
    expiry and size in."""
    __slots__ = ("until", "cost", "value")

    def __init__(self, value: V) -> None:
        self.value = value
        self.until = 0.0
        self.cost = 0


class LruStore(Generic[K, V]):
    """:class:`SlotStore` (expiry on read, grace period, byte budget, LRU) for values
    that have no slots of their own (the key and failure caches): each is held in a
    small box. Same methods and counters."""
    __slots__ = ("_slots",)

    def __init__(self, max_bytes: int, now: Callable[[], float]) -> None:
        self._slots: SlotStore[K, _Held[V]] = SlotStore(max_bytes, now)

    # the store's budget and counters, read and set as SlotStore's
    @property
    def max_bytes(self) -> int:
        return self._slots.max_bytes

    @max_bytes.setter
    def max_bytes(self, value: int) -> None:
        self._slots.max_bytes = value

    @property
    def grace(self) -> float:
        return self._slots.grace

    @grace.setter
    def grace(self, value: float) -> None:
        self._slots.grace = value

    @property
    def bytes(self) -> int:
        return self._slots.bytes

    @property
    def evictions(self) -> int:
        return self._slots.evictions

    @property
    def hits(self) -> int:
        return self._slots.hits

    @property
    def misses(self) -> int:
        return self._slots.misses

    def get(self, key: K, now: float | None = None) -> V | None:
        held = self._slots.get(key, now)
        return None if held is None else held.value

    def peek(self, key: K) -> tuple[float, V] | None:
        found = self._slots.peek(key)
        return None if found is None else (found[0], found[1].value)

    def put(self, key: K, value: V, expires: float, size: int) -> None:
        self._slots.put(key, _Held(value), expires, size)

    def set_expiry(self, key: K, expires: float) -> None:
        self._slots.set_expiry(key, expires)

    def delete(self, key: K) -> None:
        self._slots.delete(key)

    def clear(self) -> None:
        self._slots.clear()

    def drop_where(self, match: Callable[[K, V], bool]) -> int:
        return self._slots.drop_where(lambda key, held: match(key, held.value))

    def sweep(self) -> int:
        return self._slots.sweep()

    def values(self) -> Iterator[V]:
        return iter([held.value for held in self._slots.values()])

    def __len__(self) -> int:
        return len(self._slots)

    def __iter__(self) -> Iterator[K]:
        return iter(self._slots)
