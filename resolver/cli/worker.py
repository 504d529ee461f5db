"""One serving process of several (``workers`` > 1), started by the supervisor
(:mod:`resolver.cli.supervisor`) as ``python -m resolver.cli.worker``.

The supervisor writes a :class:`WorkerSpec` (pickled) to the worker's standard input:
its number, the private directory of the supervisor, the descriptors of the DNS
sockets it bound for this worker, and the ``serve`` arguments. The worker then runs
the ordinary serve loop (:func:`resolver.cli.serve._serve`) with a :class:`Role` whose
hooks hand in those sockets and change what differs from a single process:

* no public control socket and no ``metrics`` address (the supervisor serves them,
  for all workers): a private control socket ``worker-N.sock`` and a private
  ``/metrics`` on ``metrics-N.sock`` in the supervisor's directory instead;
* the HTTP API (and the milter and TLS policy map, when configured) on worker 0
  only; the API's ``/metrics`` shows the supervisor's sum;
* the RFC 5011 state file written by worker 0 only: the others read it at start
  and again when it changes (:class:`FollowerAnchors`).
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import logging
import os
import pickle
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, ClientTimeout, UnixConnector, web

from ..config import ConfigError, Settings
from ..metrics import CONTENT_TYPE, registry_for, render
from ..validate.autotrust_manager import FetchDnskey, TrustAnchorManager
from ..validate.autotrust_store import read_state_file
from . import logs

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
# settings of listeners (besides the API) that worker 0 alone opens: the inbound mail
# filter and the TLS policy map
ONLY_IN_WORKER_0 = ("milter", "tls_policy")
FOLLOW_INTERVAL = 60.0           # seconds between looks at worker 0's RFC 5011 state file


@dataclass
class WorkerSpec:
    """What the supervisor tells a worker it starts (pickled over a pipe)."""

    index: int
    rundir: Path
    args: argparse.Namespace
    # configured listen address -> (UDP fd, TCP fd); listen-tls address -> TCP fd
    dns: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)
    tls: dict[tuple[str, int], int] = field(default_factory=dict)
    # the supervisor's settings, read before its privilege drop (a SIGHUP reads the
    # files again, as the user, like a single process does)
    settings: Settings | None = None
    parent: int = 0               # the supervisor's pid


def control_path(rundir: Path, index: int) -> Path:
    return rundir / f"worker-{index}.sock"


def metrics_path(rundir: Path, index: int) -> Path:
    return rundir / f"metrics-{index}.sock"


def total_metrics_path(rundir: Path) -> Path:
    """The supervisor's ``/metrics`` (all workers) on a Unix socket."""
    return rundir / "metrics.sock"


class FollowerAnchors(TrustAnchorManager):
    """The RFC 5011 state as a worker other than worker 0 keeps it: read from the
    file worker 0 writes, never written here; :meth:`refresh` reads the file again
    when it has changed (looked at every minute) instead of asking the root."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stamp = self._file_stamp()

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path) if self.path is not None else None
        except OSError:
            return None
        return None if st is None else (st.st_mtime_ns, st.st_ino)

    def save(self, now: float | None = None) -> None:
        """Worker 0 writes the file; this one never does."""

    def next_refresh(self, now: float | None = None) -> float:
        return time.time() + FOLLOW_INTERVAL

    async def refresh(self, fetch_dnskey: FetchDnskey, now: float | None = None, *,
                      force: bool = False) -> bool:
        stamp = self._file_stamp()
        if stamp is None or stamp == self._stamp or self.path is None:
            return False
        try:
            stored = {p.zone: p for p in read_state_file(self.path)}
        except (OSError, ValueError) as exc:     # worker 0 mid-rename, say: next minute
            log.warning("cannot read the trust-anchor state %s: %s", self.path, exc)
            return False
        self._stamp = stamp
        before = {(a.zone, a.key_tag) for a in self.trusted()}
        for zone in list(self.points):
            point = stored.get(zone)
            if point is not None and point.trusted_keys():
                self.points[zone] = point
        changed = {(a.zone, a.key_tag) for a in self.trusted()} != before
        if changed:
            log.warning("trust anchors taken from %s (written by worker 0)", self.path)
        return changed


class Role:
    """The hooks :func:`resolver.cli.serve._serve` calls in a worker."""

    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.registry: Any = None

    def adjust(self, settings: Settings) -> None:
        """What this worker serves besides DNS (see the module's description)."""
        settings.workers = 1
        settings.control_socket = control_path(self.spec.rundir, self.spec.index)
        settings.control_group = None
        settings.metrics = None
        if self.spec.index != 0:    # the other listeners bind their ports in worker 0
            settings.api = None
            for other in ONLY_IN_WORKER_0:
                setattr(settings, other, None)

    def prepare(self, resolver: Any, server: Any) -> None:
        """The DNS server takes the supervisor's sockets instead of binding its own."""
        def sock(fd: int) -> socket.socket:
            s = socket.socket(fileno=fd)
            s.setblocking(False)
            return s

        server.inherited = {addr: (sock(u), sock(t)) for addr, (u, t) in self.spec.dns.items()}
        server.inherited_tls = {addr: sock(fd) for addr, fd in self.spec.tls.items()}

    def adapt_api(self, app: web.Application) -> None:
        """Worker 0's API: its ``/metrics`` route shows all workers (the supervisor's
        sum), and the supervisor reads this worker's counters with the API's."""
        from ..api.app import METRICS_KEY, METRICS_SOURCE_KEY

        self.registry = app[METRICS_KEY]
        app[METRICS_SOURCE_KEY] = self._total

    async def _total(self) -> bytes:
        path = total_metrics_path(self.spec.rundir)
        async with ClientSession(connector=UnixConnector(path=str(path)),
                                 timeout=ClientTimeout(total=10)) as session, \
                session.get("http://supervisor/metrics") as response:
            response.raise_for_status()
            return await response.read()

    async def start(self, resolver: Any, server: Any) -> web.AppRunner:
        """This worker's own ``/metrics``, on a Unix socket for the supervisor."""
        registry = self.registry if self.registry is not None else \
            registry_for(resolver, server)

        async def metrics(request: web.Request) -> web.Response:
            return web.Response(body=render(registry), headers={"Content-Type":
                                                                 CONTENT_TYPE})

        app = web.Application()
        app.router.add_get("/metrics", metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        path = metrics_path(self.spec.rundir, self.spec.index)
        path.unlink(missing_ok=True)        # left by the worker this one replaces
        await web.UnixSite(runner, str(path)).start()
        return runner


def _die_with(parent: int) -> None:
    """SIGTERM this worker when the supervisor dies, even by SIGKILL (Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):     # pragma: no cover - not Linux
        return
    if os.getppid() != parent:            # it died before prctl
        os.kill(os.getpid(), signal.SIGTERM)


class _Tagged(logging.Filter):
    """Starts each line with ``worker N:`` (the workers share the log)."""

    def __init__(self, index: int) -> None:
        super().__init__()
        self.tag = f"worker {index}: "

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and not record.msg.startswith(self.tag):
            record.msg = self.tag + record.msg
        return True


def main() -> int:
    from ..service import Resolver
    from .serve import _serve, log_level, settings_from_args

    spec: WorkerSpec = pickle.load(sys.stdin.buffer)    # from the supervisor, our parent
    sys.stdin.close()
    _die_with(spec.parent)
    # a SIGHUP before serve's own handler is in place must not end the worker (the
    # supervisor passes every SIGHUP on); this one has the settings of its start
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    role = Role(spec)
    try:
        settings = spec.settings if spec.settings is not None else \
            settings_from_args(spec.args)
        handler = logs.make_handler(settings.log_file, settings.log_format)
    except (ConfigError, ValueError, OSError) as exc:
        print(f"serve: worker {spec.index}: {exc}", file=sys.stderr)
        return 2
    role.adjust(settings)
    logs.install(log_level(spec.args, settings), handler, settings.query_log)
    handler.addFilter(_Tagged(spec.index))
    if spec.index != 0:
        Resolver.anchor_manager = FollowerAnchors
    try:
        import uvloop
        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - optional speed-up
        runner = asyncio.run
    try:
        result: int = runner(_serve(settings, spec.args, role))
    except (ValueError, OSError) as exc:
        print(f"serve: worker {spec.index}: {exc}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
