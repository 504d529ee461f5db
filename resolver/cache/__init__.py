"""Caches: RRsets and negative answers with trust ranks, and wire answers for the fast path."""
