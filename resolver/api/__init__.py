"""The helper HTTP API (JSON over HTTP/1.1, loopback only by default)."""
