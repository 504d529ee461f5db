"""``serve`` with ``workers`` > 1: one supervisor process and N serving workers.

The supervisor binds every DNS socket itself (:mod:`resolver.server.sockets`), before
the privilege drop: for each
``listen`` address one UDP and one TCP socket per worker, and for each ``listen-tls``
address one TCP socket per worker, all with SO_REUSEPORT so that the kernel spreads
clients over them (by a hash of the client's address and port). Worker N inherits
its own sockets (``python -m resolver.cli.worker``, :mod:`resolver.cli.worker`),
so a worker never binds a privileged port and never needs root, and the sockets of a
worker that dies stay open in the supervisor: the queries the kernel routes to them
wait in the socket's buffer until the restarted worker reads them. Binding in the
workers instead would need root (or CAP_NET_BIND_SERVICE) in each restarted worker,
and a port bound by the supervisor survives any reload (SIGHUP does not re-bind).

The supervisor also serves what must show the whole server: the public control
socket (:mod:`resolver.server.fanout`) and the ``metrics`` address, summed over the
workers (:mod:`resolver.server.aggregate`). Worker 0 serves the HTTP API and writes
the RFC 5011 state file; when that file is still to be created, it starts first and
the others once it is ready, else all start at once.

A worker that dies is started again after a pause that doubles from 0.5 s up to
30 s while it keeps dying within a minute of its start (logged, and counted in
``resolver_worker_restarts_total``); negative trust anchors added over the control
socket are given again to the new worker. SIGHUP is passed on to every worker (each
reloads as a single server does); SIGTERM and SIGINT stop all workers (each finishes
its queries in flight) and then the supervisor.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import pickle
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from ..cache import dump as cache_dump
from ..config import ConfigError, Settings
from ..metrics import CONTENT_TYPE
from ..server import aggregate, notify
from ..server.fanout import FanoutControl, ask
from ..server.listener import ListenError
from ..server.sockets import Sockets, bind_all, worker_count
from ..server.sockets import where as _where
from . import logs
from .privileges import PrivilegeError, drop_privileges, lookup
from .serve import _listen_extra
from .worker import WorkerSpec, control_path, metrics_path, total_metrics_path

log = logging.getLogger(__name__)

READY_TIMEOUT = 60.0            # seconds a worker may take to start
STOP_TIMEOUT = 10.0             # seconds the workers get to stop before SIGKILL
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 30.0
STABLE_AFTER = 60.0             # a worker that ran this long restarts without delay
# settings a reload does not change (the supervisor bound or opened them at the start)
KEPT_ON_RELOAD = ("listen", "listen_tls", "api", "metrics", "control_socket",
                  "control_group", "user", "workers", "milter", "tls_policy")


@dataclass
class Slot:
    """One worker: its sockets, its current process and its history."""

    index: int
    sockets: Sockets
    process: asyncio.subprocess.Process | None = None
    up: bool = False
    started: float = 0.0
    restarts: int = 0
    failures: int = 0                 # deaths in a row within STABLE_AFTER of a start


class Supervisor:
    def __init__(self, settings: Settings, args: argparse.Namespace,
                 sockets: list[Sockets]) -> None:
        self.settings = settings
        self.args = args
        self.slots = [Slot(i, s) for i, s in enumerate(sockets)]
        self.rundir = Path()
        self.stopping = False
        self.ntas: dict[str, tuple[float, str]] = {}     # added over the control socket
        # counters of each worker at the last scrape (with its pid), and those of
        # workers that have been replaced since: still part of the sums
        self._last: dict[int, tuple[int | None, aggregate.Counts]] = {}
        self._retired: aggregate.Counts = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ Workers protocol
    def live(self) -> list[tuple[int, Path]]:
        return [(s.index, control_path(self.rundir, s.index)) for s in self.slots if s.up]

    def describe(self) -> list[dict[str, Any]]:
        return [{"worker": s.index, "pid": s.process.pid if s.process else None,
                 "up": s.up, "restarts": s.restarts} for s in self.slots]

    def listeners(self) -> list[tuple[str, int]]:
        first = self.slots[0].sockets.dns
        return [(host, pair[0].getsockname()[1]) for (host, _), pair in first.items()]

    def remember_nta(self, zone: str, until: float, reason: str) -> None:
        self.ntas[zone] = (until, reason)

    def forget_nta(self, zone: str) -> None:
        self.ntas.pop(zone, None)

    def reloaded(self) -> None:
        self.reread()

    # ------------------------------------------------------------------ metrics
    async def totals(self) -> aggregate.Totals:
        totals = aggregate.Totals()
        texts = await asyncio.gather(*(aggregate.fetch(metrics_path(self.rundir, s.index))
                                       for s in self.slots))
        for slot, text in zip(self.slots, texts, strict=True):
            pid = slot.process.pid if slot.process is not None else None
            last = self._last.get(slot.index)
            if last is not None and last[0] != pid:      # replaced since the last scrape
                for key, value in last[1].items():
                    self._retired[key] = self._retired.get(key, 0.0) + value
                del self._last[slot.index]
            if text is not None and slot.up:
                self._last[slot.index] = (pid, totals.add(slot.index, text))
        totals.add_counts(self._retired)
        return totals

    async def metrics_text(self) -> bytes:
        totals = await self.totals()
        families = list(totals.families()) + aggregate.worker_families(
            totals.per_worker, len(self.slots),
            [(s.index, s.up, s.restarts) for s in self.slots])
        return aggregate.render(families)

    async def samples(self) -> dict[str, float]:
        totals = await self.totals()
        out = totals.samples()
        for s in self.slots:
            out[f'resolver_worker_up{{worker="{s.index}"}}'] = float(
                s.up and s.index in totals.per_worker)
            out[f'resolver_worker_restarts_total{{worker="{s.index}"}}'] = float(s.restarts)
            mine = totals.per_worker.get(s.index, {})
            out[f'resolver_worker_client_queries_total{{worker="{s.index}"}}'] = \
                mine.get("queries", 0.0)
        return out

    def metrics_app(self) -> web.Application:
        async def handler(request: web.Request) -> web.Response:
            return web.Response(body=await self.metrics_text(),
                                headers={"Content-Type": CONTENT_TYPE})
        app = web.Application()
        app.router.add_get("/metrics", handler)
        return app

    # ------------------------------------------------------------------ workers
    async def start_worker(self, slot: Slot) -> bool:
        """Start *slot*'s worker and wait until it answers on its control socket."""
        spec = WorkerSpec(slot.index, self.rundir, self.args,
                          {a: (u.fileno(), t.fileno()) for a, (u, t) in slot.sockets.dns.items()},
                          {a: s.fileno() for a, s in slot.sockets.tls.items()},
                          self.settings, os.getpid())
        env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
        slot.started = time.monotonic()
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "resolver.cli.worker", stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL, pass_fds=[s.fileno() for s in
                                                             slot.sockets.all()], env=env)
        except OSError as exc:       # the interpreter not readable by `user`, say
            log.error("worker %d: cannot start %s: %s", slot.index, sys.executable, exc)
            print(f"serve: worker {slot.index}: cannot start {sys.executable}: "
                  f"{exc.strerror or exc}", file=sys.stderr)
            return False
        slot.process = process
        assert process.stdin is not None
        process.stdin.write(pickle.dumps(spec))
        with contextlib.suppress(ConnectionError):
            await process.stdin.drain()
        process.stdin.close()
        deadline = time.monotonic() + READY_TIMEOUT
        path = control_path(self.rundir, slot.index)
        while time.monotonic() < deadline and process.returncode is None:
            with contextlib.suppress(OSError, ValueError, TimeoutError):
                if path.exists() and (await ask(path, {"command": "status"}, 5.0)).get("ok"):
                    slot.up = True
                    await self._replay_ntas(slot)
                    log.info("worker %d ready (pid %d)", slot.index, process.pid)
                    return True
            await asyncio.sleep(0.05)
        if process.returncode is None:
            log.error("worker %d not ready after %g s; killed", slot.index, READY_TIMEOUT)
            process.kill()
            await process.wait()
        return False

    async def _replay_ntas(self, slot: Slot) -> None:
        now = time.time()
        for zone, (until, reason) in list(self.ntas.items()):
            if until <= now:
                del self.ntas[zone]
                continue
            reply = await ask(control_path(self.rundir, slot.index), {
                "command": "nta-add", "args": {"zone": zone, "for": f"{int(until - now)}s",
                                               "reason": reason}})
            if not reply.get("ok"):
                log.error("worker %d: negative trust anchor %s not given again: %s",
                          slot.index, zone, reply.get("error"))

    async def watch(self, slot: Slot) -> None:
        """Start *slot*'s worker again whenever it dies, until the server stops."""
        while not self.stopping:
            assert slot.process is not None
            code = await slot.process.wait()
            slot.up = False
            if self.stopping:
                return
            ran = time.monotonic() - slot.started
            slot.failures = 0 if ran >= STABLE_AFTER else slot.failures + 1
            delay = 0.0 if not slot.failures else min(
                BACKOFF_MAX, BACKOFF_FIRST * 2 ** (slot.failures - 1))
            slot.restarts += 1
            log.error("worker %d (pid %d) exited with status %s after %.1f s; starting it "
                      "again in %.1f s", slot.index, slot.process.pid, code, ran, delay)
            await asyncio.sleep(delay)
            if not self.stopping:
                await self.start_worker(slot)

    def signal_all(self, sig: int) -> None:
        for slot in self.slots:
            if slot.process is not None and slot.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    slot.process.send_signal(sig)

    def reload(self) -> None:
        """SIGHUP: every worker reloads (each refuses a bad file as a single server
        does); the supervisor takes the new log level (:meth:`reread`)."""
        notify.reloading()
        self.reread()
        self.signal_all(signal.SIGHUP)
        notify.ready(self.status("serving"))

    def reread(self) -> None:
        """Read the configuration again, for the log level and for the workers started
        from now on (a restarted worker gets what the others reloaded); what takes
        effect only at the next start (the addresses, ``user``, ``workers``) is kept."""
        try:
            from .serve import log_level, settings_from_args
            fresh = settings_from_args(self.args)
        except (ConfigError, ValueError, OSError) as exc:
            log.error("reload: %s (the workers refuse it too)", exc)
            return
        for kept in KEPT_ON_RELOAD:
            setattr(fresh, kept, getattr(self.settings, kept))
        self.settings = fresh
        logs.set_levels(log_level(self.args, fresh), fresh.query_log)

    def status(self, what: str) -> str:
        where = ", ".join(_where(h, p) for h, p in self.listeners())
        return f"{what} on {where} ({len(self.slots)} workers)"

    # ------------------------------------------------------------------ main
    async def main(self) -> int:
        runners: list[web.AppRunner] = []
        control: FanoutControl | None = None
        settings = self.settings
        try:
            if settings.metrics is not None:
                runner = web.AppRunner(self.metrics_app(), access_log=None)
                await runner.setup()
                runners.append(runner)
                await _listen_extra(web.TCPSite(runner, *settings.metrics,
                                                reuse_address=True).start,
                                    "--metrics", settings.metrics)
            if settings.control_socket is not None:
                control = FanoutControl(settings.control_socket, self, self.samples,
                                        group=settings.control_group,
                                        merge=cache_dump.merge)
                await control.start()
                if settings.user is not None:
                    os.chown(settings.control_socket, lookup(settings.user).uid, -1)
            if settings.user is not None:    # the ports are bound: no more need for root
                drop_privileges(settings.user)
            self.rundir = Path(tempfile.mkdtemp(prefix="resolver-workers-"))
            inner = web.AppRunner(self.metrics_app(), access_log=None)
            await inner.setup()
            runners.append(inner)
            await web.UnixSite(inner, str(total_metrics_path(self.rundir))).start()
        except (OSError, PrivilegeError) as exc:
            text = exc.strerror if isinstance(exc, ListenError) else str(exc)
            print(f"serve: {text}", file=sys.stderr)
            notify.notify("STOPPING=1", f"STATUS=failed: {text}")
            await self._close(control, runners)
            return 2
        stop = asyncio.Event()

        def stop_now() -> None:
            self.stopping = True        # a worker that exits now is not restarted
            stop.set()

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop_now)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        # worker 0 first when it is to create the RFC 5011 state file the others read
        state = settings.auto_trust_anchor_file
        first = self.slots[:1] if state is not None and not state.exists() else []
        started = all([await self.start_worker(s) for s in first])
        if started and not self.stopping:
            started = all(await asyncio.gather(*(self.start_worker(s)
                                                 for s in self.slots[len(first):])))
        if not started or self.stopping:
            if not self.stopping:
                print("serve: a worker did not start (its error is above)", file=sys.stderr)
                notify.notify("STOPPING=1", "STATUS=failed: a worker did not start")
            self.stopping = True
            await self._stop_workers()
            await self._close(control, runners)
            return 0 if started else 2
        for slot in self.slots:
            task = asyncio.ensure_future(self.watch(slot))
            self._tasks.add(task)
        where = ", ".join(_where(h, p) for h, p in self.listeners())
        tls = self.slots[0].sockets.tls
        if tls:
            where += "; DNS over TLS " + ", ".join(
                _where(h, s.getsockname()[1]) for (h, _), s in tls.items())
        if settings.api is not None:
            where += f"; API http://{_where(*settings.api)}/ (worker 0)"
        if settings.metrics is not None:
            where += f"; metrics http://{_where(*settings.metrics)}/metrics"
        if control is not None:
            where += f"; control {settings.control_socket}"
        mode = "validating" if settings.validate else "NOT validating"
        log.info("resolver ready on %s (%s, %d workers)", where, mode, len(self.slots))
        print(f"resolver ready on {where} ({mode}, {len(self.slots)} workers)", flush=True)
        notify.ready(self.status("serving"))
        await stop.wait()
        log.info("stopping: the workers finish their queries in flight")
        notify.stopping()
        self.stopping = True
        await self._stop_workers()
        await self._close(control, runners)
        return 0

    async def _stop_workers(self) -> None:
        for task in self._tasks:
            task.cancel()
        self.signal_all(signal.SIGTERM)
        running = [s.process for s in self.slots if s.process is not None]
        waits = [asyncio.ensure_future(p.wait()) for p in running]
        if waits:
            _, pending = await asyncio.wait(waits, timeout=STOP_TIMEOUT)
            if pending:
                log.error("%d workers did not stop within %g s; killed", len(pending),
                          STOP_TIMEOUT)
                self.signal_all(signal.SIGKILL)
                await asyncio.wait(pending, timeout=STOP_TIMEOUT)
        for slot in self.slots:
            slot.up = False

    async def _close(self, control: FanoutControl | None,
                     runners: list[web.AppRunner]) -> None:
        if control is not None:
            await control.stop()
        for runner in runners:
            await runner.cleanup()
        for slot in self.slots:
            for s in slot.sockets.all():
                s.close()
        if self.rundir != Path():
            shutil.rmtree(self.rundir, ignore_errors=True)


def run_supervisor(settings: Settings, args: argparse.Namespace) -> int:
    """Bind the sockets, start the workers and look after them until SIGTERM."""
    count = worker_count(settings.workers)
    try:
        sockets = bind_all(settings, count)
    except ListenError as exc:
        print(f"serve: {exc.strerror}", file=sys.stderr)
        notify.notify("STOPPING=1", f"STATUS=failed: {exc.strerror}")
        return 2
    try:
        import uvloop
        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - optional speed-up
        runner = asyncio.run
    result: int = runner(Supervisor(settings, args, sockets).main())
    return result
