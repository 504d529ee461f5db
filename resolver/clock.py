"""One notion of "now" for TTLs and RRSIG validity windows, injectable for tests."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch (UTC)."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()


class FixedClock:
    """A clock that stands still until moved (tests, zone-check --at)."""

    def __init__(self, when: float) -> None:
        self.when = when

    def now(self) -> float:
        return self.when

    def advance(self, seconds: float) -> None:
        self.when += seconds


def parse_iso8601(text: str) -> float:
    """Read an ISO-8601 UTC time such as ``2026-11-28T16:00:00Z``; raises ValueError."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    when = datetime.fromisoformat(value)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()
