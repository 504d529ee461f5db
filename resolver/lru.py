"""The one bounded memo of the resolver: a mapping that never holds more than *maxsize*
entries and drops the least recently used one when an insert goes past the bound.

It replaces the "clear the whole dict at N entries" memos: clearing threw away every
hot entry at once (a flood of new keys emptied the ACL and query-key memos of the
fast path every few thousand packets), whereas this drops one cold entry per insert.

Why ours and not ``cachetools``: measured on CPython 3.11 with 4096 entries (bytes
keys, best of several runs), a hit costs 30 ns with ``dict.get``, 35-38 ns with
:meth:`Lru.get`, 83 ns with :meth:`Lru.use`, 130-200 ns with ``cachetools.LRUCache``
and 1.2 us with ``TTLCache`` (their lookups run in Python); a miss with an insert at
the bound 300 ns here, 0.7-0.8 us and 3.4-3.7 us there (85-105 ns for the old dict
and clear, which paid later, in recomputing all it had thrown away). The hit path,
``memo.get(key)``, is the bound ``get`` of the :class:`~collections.OrderedDict`
inside, kept in a slot: no Python frame, and no method lookup through a subclass
(subclasses of dict or OrderedDict take 40-55 ns per ``get``: the interpreter's
shortcut is for exact dicts only). Eviction happens only on an insert past the bound,
with ``popitem(last=False)``: O(1), where ``del d[next(iter(d))]`` on a plain dict
rescans the deleted slots at its front (2-3.6 us per insert).

Recency: an insert or an update makes an entry the most recent; :meth:`use` is the
read that also refreshes it (about 50 ns more than :meth:`get`). Memos whose values
are cheap to recompute read with :meth:`get` (eviction is then in insertion order, and
a hot entry dropped costs one recomputation); memos of expensive work (signature
checks, NSEC3 decoding, server state) read with :meth:`use`.

Layer 0: imports nothing from the package (only the standard library), so every
layer, ``wire`` and ``dnssec`` included, may use it. Not thread-safe on its own: the
event loop owns each instance (the loaded-key cache of ``dnssec.algorithms``, which
any thread may call, holds a lock around its own).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import ItemsView, Iterator, KeysView
from typing import Generic, TypeVar, overload

K = TypeVar("K")
V = TypeVar("V")
D = TypeVar("D")
_NOTHING = object()


class Lru(Generic[K, V]):
    """A bounded mapping: at most *maxsize* entries, least recently used evicted first.

    ``memo[key] = value`` (or :meth:`put`) inserts, and evicts past the bound;
    ``memo.get(key[, default])``, ``memo[key]`` and ``in`` read without refreshing;
    :meth:`use` reads and refreshes. ``del``, :meth:`pop` and :meth:`clear` are
    invalidations, not the bound. :attr:`evictions` counts entries the bound dropped.
    """

    __slots__ = ("get", "maxsize", "evictions", "_data")

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"an Lru needs room for one entry at least, not {maxsize}")
        self._data: OrderedDict[K, V] = OrderedDict()
        self.get = self._data.get      # the hot path: a C method, looked up in a slot
        self.maxsize = maxsize
        self.evictions = 0

    def __setitem__(self, key: K, value: V) -> None:
        data = self._data
        if key in data:
            data[key] = value
            data.move_to_end(key)      # an update is a use (OrderedDict keeps the place)
            return
        data[key] = value
        if len(data) > self.maxsize:
            data.popitem(last=False)
            self.evictions += 1

    def put(self, key: K, value: V) -> V:
        """Store *value* under *key* (the most recent entry) and return it."""
        self[key] = value
        return value

    @overload
    def use(self, key: K) -> V | None: ...

    @overload
    def use(self, key: K, default: D) -> V | D: ...

    def use(self, key: K, default: object = None) -> object:
        """The value under *key*, made the most recently used; *default* when absent."""
        try:
            self._data.move_to_end(key)
        except KeyError:
            return default
        return self._data[key]

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __delitem__(self, key: K) -> None:
        del self._data[key]

    @overload
    def pop(self, key: K) -> V: ...

    @overload
    def pop(self, key: K, default: D) -> V | D: ...

    def pop(self, key: K, default: object = _NOTHING) -> object:
        """Remove *key* and return its value (or *default*), as ``dict.pop``."""
        if default is _NOTHING:
            return self._data.pop(key)
        return self._data.pop(key, default)

    def clear(self) -> None:
        self._data.clear()

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[K]:
        """The keys, least recently used first."""
        return iter(self._data)

    def keys(self) -> KeysView[K]:
        return self._data.keys()

    def items(self) -> ItemsView[K, V]:
        return self._data.items()

    def __reduce__(self) -> tuple[object, ...]:
        # the default would copy the bound ``get`` of the old OrderedDict
        return (_rebuild, (self.maxsize, list(self._data.items())))

    def __repr__(self) -> str:
        return f"Lru(maxsize={self.maxsize}, {len(self._data)} entries)"


def _rebuild(maxsize: int, items: list[tuple[K, V]]) -> Lru[K, V]:
    """Unpickle or copy an :class:`Lru`, in the same order."""
    memo: Lru[K, V] = Lru(maxsize)
    for key, value in items:
        memo[key] = value
    return memo


def take_token(buckets: Lru[K, list[float]], key: K, rate: float, now: float) -> bool:
    """A token bucket per *key* (``ratelimit-per-client``, ``ratelimit``): *rate*
    tokens a second, at most *rate* (one second's worth) saved up. True: a token was
    taken (under the rate); False: over it. A key new to (or evicted from) the table
    starts with a full bucket; a key in use is kept (``use`` refreshes it)."""
    bucket = buckets.use(key)
    if bucket is None:
        buckets[key] = [max(rate, 1.0) - 1.0, now]
        return True
    tokens = min(max(rate, 1.0), bucket[0] + (now - bucket[1]) * rate)
    bucket[1] = now
    if tokens < 1.0:
        bucket[0] = tokens
        return False
    bucket[0] = tokens - 1.0
    return True
