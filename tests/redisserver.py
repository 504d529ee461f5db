"""A real ``redis-server`` on a free loopback port, for the cachedb tests and bench
(Debian package ``redis-server``; CI installs it). No persistence, bounded in time,
stopped (and killed if need be) at the end. It listens on TCP, or only on a Unix
socket (``unix``, mode 0700), or only with TLS (``tls``: a certificate and key from
:func:`tests.pki.make_ca` / :func:`tests.pki.issue`, clients not asked for
certificates)."""

from __future__ import annotations

import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.pki import Issued, issue, make_ca
from tests.ports import free_port

__all__ = ["Issued", "RedisServer", "issue", "make_ca", "redis_binary", "redis_server",
           "tls_support"]

START_TIMEOUT = 10.0


def redis_binary() -> str | None:
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None)


class RedisServer:
    def __init__(self, binary: str, workdir: Path, *, unix: bool = False,
                 tls: tuple[Issued, Issued] | None = None) -> None:
        """*tls*: (CA, server certificate): TLS only on :attr:`port`."""
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.tls = tls
        self.socket: Path | None = None
        if unix:    # a short path (108 octets at most), in a directory of its own
            self.socket = Path(tempfile.mkdtemp(prefix="rds-")) / "redis.sock"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.socket is not None:
            return f"unix://{self.socket}?db=0"
        scheme = "rediss" if self.tls is not None else "redis"
        return f"{scheme}://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        where = ["--port", str(self.port)]
        if self.socket is not None:
            where = ["--port", "0", "--unixsocket", str(self.socket),
                     "--unixsocketperm", "700"]
        elif self.tls is not None:
            ca, server = self.tls
            where = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file",
                     str(server.cert), "--tls-key-file", str(server.key),
                     "--tls-ca-cert-file", str(ca.cert), "--tls-auth-clients", "no"]
        self.proc = subprocess.Popen(
            [self.binary, *where, "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.workdir),
             "--protected-mode", "yes", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}")
            if self.ping():
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("redis-server did not answer PING in time")

    def ping(self) -> bool:
        try:
            if self.socket is not None:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                    sock.settimeout(0.5)
                    sock.connect(str(self.socket))
                    sock.sendall(b"PING\r\n")
                    return sock.recv(16).startswith(b"+PONG")
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                if self.tls is None:
                    sock.sendall(b"PING\r\n")
                    return sock.recv(16).startswith(b"+PONG")
                context = ssl.create_default_context(cafile=str(self.tls[0].cert))
                with context.wrap_socket(sock, server_hostname="127.0.0.1") as wrapped:
                    wrapped.sendall(b"PING\r\n")
                    return wrapped.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def client_kwargs(self) -> dict[str, object]:
        """What redis-py's ``redis.Redis(...)`` needs to reach this server."""
        if self.socket is not None:
            return {"unix_socket_path": str(self.socket)}
        if self.tls is not None:
            return {"host": "127.0.0.1", "port": self.port, "ssl": True,
                    "ssl_ca_certs": str(self.tls[0].cert)}
        return {"host": "127.0.0.1", "port": self.port}

    def pause(self) -> None:
        """SIGSTOP: a Redis that accepts connections and never answers (slow)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGCONT)
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if self.socket is not None:
            shutil.rmtree(self.socket.parent, ignore_errors=True)


def tls_support(binary: str) -> str | None:
    """None when *binary* was built with TLS (linked with OpenSSL, as Debian's is),
    else why not."""
    try:
        done = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"cannot tell whether {binary} has TLS: {exc}"
    if "libssl" not in done.stdout:
        return f"{binary} was built without TLS (not linked with libssl)"
    return None


@contextmanager
def redis_server(workdir: Path, *, unix: bool = False,
                 tls: tuple[Issued, Issued] | None = None) -> Iterator[RedisServer]:
    binary = redis_binary()
    if binary is None:
        raise FileNotFoundError("redis-server")
    server = RedisServer(binary, workdir, unix=unix, tls=tls)
    server.start()
    try:
        yield server
    finally:
        server.stop()
