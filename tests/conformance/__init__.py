"""Conformance replays: Unbound testbound and Deckard .rpl scenarios (issue 6)."""
