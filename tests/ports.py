"""A loopback port that is free for UDP and TCP at once, for tests that start servers.

Binding port 0 for UDP alone may return a port whose TCP side is taken (a server of an
earlier test, another process); a DNS server binds both, so both are checked here."""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1", tries: int = 50) -> int:
    """A port on *host* that could be bound for UDP and for TCP just now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(tries):
        with socket.socket(family, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port: int = udp.getsockname()[1]
            with socket.socket(family, socket.SOCK_STREAM) as tcp:
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
                return port
    raise OSError(f"no port free for both UDP and TCP on {host} after {tries} tries")
