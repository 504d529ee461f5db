"""Time for TTLs and RRSIG validity windows, injectable for tests.

Whatever needs "now" takes a callable returning seconds since the epoch (UTC):
``time.time`` in service, a :class:`FixedClock` in tests, which moves only when told.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


class FixedClock:
    """A clock that stands still until moved: pass it where ``now=`` takes a callable.

    It starts at *when*, or at the real time when it is made."""

    def __init__(self, when: float | None = None) -> None:
        self.when = time.time() if when is None else when

    def __call__(self) -> float:
        """The current fake time, seconds since the epoch."""
        return self.when

    def advance(self, seconds: float) -> None:
        """Move the clock on by *seconds*."""
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
