"""Errors shared across layers: the iterator raises them, the validator's fetches
and the service catch them. Imports nothing from the package (layer 0)."""

from __future__ import annotations


class ResolveError(Exception):
    """Resolution failed; carries the EDE to send with the SERVFAIL."""

    def __init__(self, text: str, ede: int = 22) -> None:
        super().__init__(text)
        self.text = text
        self.ede = ede


class LimitExceeded(ResolveError):
    """A per-query work limit (SECURITY.md s0) cut the resolution off."""

    def __init__(self, text: str) -> None:
        super().__init__(text, ede=0)
