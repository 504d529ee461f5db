"""resolver.lru.Lru: the bound, the eviction order, and what refreshes an entry."""

from __future__ import annotations

import copy
import pickle

import pytest

from resolver.lru import Lru


def test_never_more_than_maxsize() -> None:
    memo: Lru[int, str] = Lru(3)
    for i in range(100):
        memo[i] = str(i)
        assert len(memo) <= 3
    assert list(memo) == [97, 98, 99]
    assert memo.evictions == 97


def test_least_recently_inserted_goes_first() -> None:
    memo: Lru[str, int] = Lru(3)
    for key in "abc":
        memo[key] = ord(key)
    memo["d"] = 4
    assert "a" not in memo
    assert list(memo) == ["b", "c", "d"]


def test_use_refreshes_get_does_not() -> None:
    memo: Lru[str, int] = Lru(3)
    for key in "abc":
        memo[key] = 1
    assert memo.use("a") == 1            # a is now the most recent: b goes next
    assert memo.get("b") == 1            # a plain read: b stays the oldest
    memo["d"] = 1
    assert list(memo) == ["c", "a", "d"]
    assert memo.use("gone") is None
    assert memo.use("gone", 7) == 7


def test_update_refreshes_and_does_not_evict() -> None:
    memo: Lru[str, int] = Lru(2)
    memo["a"] = 1
    memo["b"] = 2
    memo["a"] = 3                        # an update is a use, the size is unchanged
    assert memo.evictions == 0
    memo["c"] = 4
    assert dict(memo) == {"a": 3, "c": 4}


def test_put_returns_the_value() -> None:
    memo: Lru[str, bool | None] = Lru(2)
    assert memo.put("x", None) is None
    assert "x" in memo
    assert memo.get("x", "unseen") is None


def test_delete_and_clear_are_invalidation_not_eviction() -> None:
    memo: Lru[int, int] = Lru(4)
    for i in range(4):
        memo[i] = i
    del memo[0]
    memo.pop(1)
    assert memo.evictions == 0
    memo[10] = 10
    memo[11] = 11                        # room again: nothing evicted
    assert memo.evictions == 0 and len(memo) == 4
    memo.clear()
    assert len(memo) == 0 and memo.maxsize == 4


def test_bound_must_hold_one_entry() -> None:
    with pytest.raises(ValueError, match="room for one entry"):
        Lru(0)


def test_copies_keep_the_bound_and_order() -> None:
    memo: Lru[int, int] = Lru(3)
    for i in range(5):
        memo[i] = i * i
    for other in (copy.copy(memo), pickle.loads(pickle.dumps(memo))):
        assert isinstance(other, Lru)
        assert other.maxsize == 3 and list(other.items()) == [(2, 4), (3, 9), (4, 16)]
        other[9] = 0
        assert list(other) == [3, 4, 9]


def test_get_reads_the_memo_itself_after_clear_and_copy() -> None:
    # get is the bound method of the dict inside: it must follow clear() and copies
    memo: Lru[int, int] = Lru(4)
    memo[1] = 1
    twin = copy.copy(memo)
    twin[2] = 2
    assert memo.get(2) is None and twin.get(2) == 2 and twin.get(1) == 1
    memo.clear()
    memo[3] = 3
    assert memo.get(3) == 3 and memo.get(1) is None and memo[3] == 3


def test_pop_as_dict_pop() -> None:
    memo: Lru[str, int] = Lru(2)
    memo["a"] = 1
    assert memo.pop("a") == 1
    assert memo.pop("a", None) is None
    with pytest.raises(KeyError):
        memo.pop("a")
    with pytest.raises(KeyError):
        memo["a"]
