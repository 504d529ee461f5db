"""The key cache (as Unbound's val_kcache): per zone, a validated DNSKEY set, a
"proven insecure" (null) entry, or a "bogus, with reason" entry. Null and bogus
entries live briefly (60 s); bogus ones back off when they keep failing (RFC 9520)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..cache.store import LruStore
from ..dnssec.status import Problem, Reason, Security
from ..dnssec.verify import KeySet
from ..lru import Lru
from ..wire.name import Name

NULL_KEY_TTL = 60
BOGUS_KEY_TTL = 60
BOGUS_BACKOFF_MAX = 900
FAILURE_MEMO_SIZE = 10000   # zones whose run of bogus key sets is counted


@dataclass(slots=True)
class KeyEntry:
    zone: Name
    security: Security                    # SECURE: keys usable; INSECURE; BOGUS
    keys: KeySet | None = None
    dnskeys: tuple[bytes, ...] = ()
    reason: Reason | None = None
    ttl: int = 0
    tags: tuple[tuple[int, int], ...] = ()   # (key tag, algorithm) of the keys, for traces
    failures: int = field(default=0)

    @property
    def secure(self) -> bool:
        return self.security == Security.SECURE

    @classmethod
    def insecure(cls, zone: Name, problem: Problem, detail: str = "") -> KeyEntry:
        return cls(zone, Security.INSECURE, reason=Reason(problem, detail), ttl=NULL_KEY_TTL)

    @classmethod
    def bogus(cls, zone: Name, problem: Problem, detail: str = "") -> KeyEntry:
        return cls(zone, Security.BOGUS, reason=Reason(problem, detail), ttl=BOGUS_KEY_TTL)


class KeyCache:
    def __init__(self, now: Callable[[], float], max_bytes: int = 4 << 20) -> None:
        self.now = now
        self.store: LruStore[bytes, KeyEntry] = LruStore(max_bytes, now)
        # zone -> bogus key sets in a row; each failure makes its zone the most recent,
        # so a flood of new failing zones drops the counts of the oldest, not all
        self._failures: Lru[bytes, int] = Lru(FAILURE_MEMO_SIZE)
        # how many times the cache was emptied (new trust anchors): an entry worked out
        # before the last time is not stored
        self.epoch = 0

    def get(self, zone: Name) -> KeyEntry | None:
        return self.store.get(zone.key)

    def get_key(self, key: bytes) -> KeyEntry | None:
        """:meth:`get` by the zone's :attr:`Name.key`."""
        return self.store.get(key)

    def put(self, entry: KeyEntry, epoch: int | None = None) -> None:
        """Store *entry*; *epoch* is :attr:`epoch` when the work that made it began: if
        the cache was cleared since, the entry rests on replaced anchors and is dropped."""
        if epoch is not None and epoch != self.epoch:
            return
        ttl = entry.ttl
        if entry.security == Security.BOGUS:
            count = self._failures.get(entry.zone.key, 0) + 1
            self._failures[entry.zone.key] = count
            ttl = min(BOGUS_BACKOFF_MAX, BOGUS_KEY_TTL * (2 ** min(count - 1, 4)))
        else:
            self._failures.pop(entry.zone.key, None)
        if ttl <= 0:
            return
        size = 200 + sum(len(k) for k in entry.dnskeys)
        self.store.put(entry.zone.key, entry, self.now() + ttl, size)

    def clear(self) -> None:
        """Forget every entry and failure count (the trust anchors changed)."""
        self.store.clear()
        self._failures.clear()
        self.epoch += 1

    def drop(self, match: Callable[[KeyEntry], bool]) -> int:
        """Drop the entries for which *match* holds, with the bogus run counted for
        their zones (an operator's flush: the next look-up starts afresh). Returns how
        many live entries went."""
        zones: list[bytes] = []

        def matched(key: bytes, entry: KeyEntry) -> bool:
            if match(entry):
                zones.append(key)
                return True
            return False
        dropped = self.store.drop_where(matched)
        for key in zones:
            self._failures.pop(key, None)
        return dropped

    def __len__(self) -> int:
        return len(self.store)
