"""The DNS sockets of several workers (``workers`` > 1), bound by the supervisor.

For each ``listen`` address one UDP and one TCP socket per worker, for each
``listen-tls`` address one TCP socket per worker, all on the same port with
SO_REUSEPORT, so that the kernel spreads the clients over the workers (by a hash of
the client's address and port). The supervisor binds them before its privilege drop
and keeps them open; each worker inherits its own (:mod:`resolver.cli.supervisor`).
"""

from __future__ import annotations

import errno
import os
import socket
from dataclasses import dataclass, field

from ..config import Settings
from .listener import ListenError, bind_problem

MAX_AUTO_WORKERS = 8            # workers = 0: one per usable core, at most this many


def worker_count(configured: int) -> int:
    """``workers``: 0 means one per core this process may run on, at most 8."""
    if configured > 0:
        return configured
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):     # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_AUTO_WORKERS))


def where(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _socket(host: str, port: int, kind: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, kind)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        if kind == socket.SOCK_STREAM:
            sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


@dataclass
class Sockets:
    """The DNS sockets of one worker, by configured address."""

    dns: dict[tuple[str, int], tuple[socket.socket, socket.socket]] = field(
        default_factory=dict)
    tls: dict[tuple[str, int], socket.socket] = field(default_factory=dict)

    def all(self) -> list[socket.socket]:
        return [s for pair in self.dns.values() for s in pair] + list(self.tls.values())


def bind_all(settings: Settings, count: int) -> list[Sockets]:
    """Every worker's sockets (see the module's description); raises ListenError
    naming the address that could not be bound (nothing stays open then)."""
    per = [Sockets() for _ in range(count)]
    try:
        for host, port in settings.listen:
            for attempt in range(1 if port else 20):   # port 0: UDP and TCP alike
                opened: list[tuple[socket.socket, socket.socket]] = []
                actual = port
                try:
                    for _ in range(count):
                        udp = _socket(host, actual, socket.SOCK_DGRAM)
                        actual = udp.getsockname()[1]
                        try:
                            opened.append((udp, _socket(host, actual, socket.SOCK_STREAM)))
                        except OSError:
                            udp.close()
                            raise
                except OSError as exc:
                    for pair in opened:
                        for s in pair:
                            s.close()
                    if port or exc.errno != errno.EADDRINUSE or attempt == 19:
                        raise ListenError(exc.errno, f"cannot listen on {where(host, port)}"
                                                     f": {bind_problem(exc)}") from exc
                    continue
                for worker, pair in zip(per, opened, strict=True):
                    worker.dns[(host, port)] = pair
                break
        for host, port in settings.listen_tls:
            actual = port
            for worker in per:
                try:
                    worker.tls[(host, port)] = _socket(host, actual, socket.SOCK_STREAM)
                except OSError as exc:
                    raise ListenError(exc.errno, f"cannot listen on {where(host, port)} "
                                                 f"(listen-tls): {bind_problem(exc)}") from exc
                actual = worker.tls[(host, port)].getsockname()[1]
    except ListenError:
        for worker in per:
            for s in worker.all():
                s.close()
        raise
    return per
