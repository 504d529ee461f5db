"""The control socket of a server with several workers (``workers`` > 1).

The supervisor owns the public socket (same path, permissions and protocol as
:class:`~resolver.server.control.ControlServer`, whose socket handling this reuses)
and passes each request on to the workers' private control sockets:

* commands that change state (the flushes, ``nta-add``/``nta-remove``,
  ``load-cache``, ``reload``, ``log-level``) go to every running worker; the reply is
  the first worker's result with the counts (``removed``, ``entries``) summed, or an
  error naming each worker that refused. A flush that reaches the shared cache on
  Redis (``cachedb``) does so once: the other workers flush their own caches first
  (told ``"cachedb": false``), then the first worker flushes its own and Redis;
* ``dump-cache`` is every worker's: each writes its part next to the file, the
  supervisor merges the parts into the file (*merge*, one entry per key: the one
  that lives longest) and removes them;
* ``status`` is worker 0's, with the supervisor's pid and a ``workers`` list (pid, up,
  restarts and the negative trust anchors of each);
* ``stats`` is the sum over the workers (:mod:`resolver.server.aggregate`);
* ``nta-list`` is answered by the first running worker (the NTAs are alike in all).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol, cast

from ..service import Resolver
from .control import MAX_REQUEST, READ_ONLY, SHARED_FLUSHES, ControlError, ControlServer, file_arg

log = logging.getLogger(__name__)

WORKER_TIMEOUT = 60.0            # seconds a worker may take for one command (load-cache)
ONE_WORKER = frozenset({"nta-list"})
SUMMED = ("removed", "entries", "cachedb_removed")
# merge(parts, file): the dumps of the workers into one file; how many entries
Merge = Callable[[list[Path], Path], int]


class Workers(Protocol):
    """What the control socket needs from the supervisor."""

    def live(self) -> list[tuple[int, Path]]:
        """(worker, private control socket) of each running worker, worker 0 first."""

    def describe(self) -> list[dict[str, Any]]:
        """worker, pid, up and restarts of every worker."""

    def listeners(self) -> list[tuple[str, int]]: ...

    def remember_nta(self, zone: str, until: float, reason: str) -> None: ...

    def forget_nta(self, zone: str) -> None: ...

    def reloaded(self) -> None:
        """The workers reloaded: the supervisor reads the configuration again too."""


async def ask(path: Path, request: dict[str, Any],
              timeout: float = WORKER_TIMEOUT) -> dict[str, Any]:
    """One request to the control socket at *path*; the decoded reply."""
    reader, writer = await asyncio.wait_for(
        asyncio.open_unix_connection(str(path), limit=MAX_REQUEST * 64), timeout)
    try:
        writer.write(json.dumps(request).encode() + b"\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()
    reply = json.loads(line) if line else {"ok": False, "error": "no reply"}
    return cast(dict[str, Any], reply)


class FanoutControl(ControlServer):
    """The public control socket of the supervisor."""

    def __init__(self, path: Path, workers: Workers,
                 samples: Callable[[], Awaitable[dict[str, float]]], *,
                 group: str | None = None, merge: Merge | None = None) -> None:
        super().__init__(cast(Resolver, None), path, group=group)
        self.workers = workers
        self.samples = samples
        self.merge = merge

    async def answer(self, request: Any, uid: int | None) -> dict[str, Any]:
        return await self.handle_all(request, uid)

    async def handle_all(self, request: Any, uid: int | None) -> dict[str, Any]:
        """Check *request* as a single server would, then pass it on."""
        who = "uid ?" if uid is None else f"uid {uid}"
        if not isinstance(request, dict) or not isinstance(request.get("command"), str) \
                or not isinstance(request.get("args") or {}, dict):
            log.warning("control: %s: malformed request refused", who)
            return {"ok": False, "error": "bad request: {\"command\": ..., \"args\": {...}} "
                                          "is expected"}
        command = request["command"]
        if command not in self._commands:
            log.warning("control: %s: unknown command %r refused", who, command[:40])
            return {"ok": False, "error": f"unknown command {command[:40]!r}; known: "
                                          + ", ".join(sorted(self._commands))}
        args = request.get("args") or {}
        forward = {"command": command, "args": args}
        what = " ".join(f"{k}={str(v)[:80]!r}" for k, v in sorted(args.items()))
        log.log(logging.INFO if command in READ_ONLY else logging.WARNING,
                "control: %s: %s %s (to the workers)", who, command, what)
        live = self.workers.live()
        if command == "stats":
            return {"ok": True, "result": {"samples": await self.samples()}}
        if not live:
            return {"ok": False, "error": "no worker is running (starting or restarting); "
                                          "try again"}
        if command in ONE_WORKER:
            return await self._one(live[0], forward)
        if command == "log-level":
            self._log_level(args)       # the supervisor's own lines too
        if command == "dump-cache":       # every worker's, or the first's without merge
            if self.merge is None:
                return await self._one(live[0], forward)
            return await self._dump_all(live, args)
        if command in SHARED_FLUSHES:
            # the local caches first, then the first worker's and Redis: no worker
            # writes the flushed data back to Redis from its own cache meanwhile
            local = {"command": command, "args": {**args, "cachedb": False}}
            rest = await asyncio.gather(*(self._one(w, local) for w in live[1:]))
            replies = [await self._one(live[0], forward), *rest]
        else:
            replies = await asyncio.gather(*(self._one(w, forward) for w in live))
        if command == "status":
            return self._status_of(list(zip((w for w, _ in live), replies, strict=True)))
        failed = [f"worker {w}: {r.get('error')}" for (w, _), r in zip(live, replies,
                                                                       strict=True)
                  if not r.get("ok")]
        if failed:
            return {"ok": False, "error": "; ".join(failed)}
        result = dict(replies[0]["result"])
        for key in SUMMED:
            if isinstance(result.get(key), int):
                result[key] = sum(int(r["result"].get(key, 0)) for r in replies)
        result["workers"] = len(replies)
        if command == "nta-add":
            self.workers.remember_nta(result["zone"], float(result["until"]),
                                      str(result.get("reason", "")))
        elif command == "nta-remove":
            self.workers.forget_nta(result["zone"])
        elif command == "reload":
            self.workers.reloaded()
        return {"ok": True, "result": result}

    async def _dump_all(self, live: list[tuple[int, Path]],
                        args: dict[str, Any]) -> dict[str, Any]:
        """``dump-cache`` of every worker into one file (the module's description)."""
        assert self.merge is not None
        try:
            path = file_arg(args)
        except ControlError as exc:
            return {"ok": False, "error": str(exc)}
        parts = [path.with_name(f"{path.name}.worker-{w}") for w, _ in live]
        try:
            replies = await asyncio.gather(*(
                self._one(w, {"command": "dump-cache", "args": {"file": str(part)}})
                for w, part in zip(live, parts, strict=True)))
            failed = [f"worker {w}: {r.get('error')}" for (w, _), r in zip(live, replies,
                                                                           strict=True)
                      if not r.get("ok")]
            if failed:
                return {"ok": False, "error": "; ".join(failed)}
            try:
                entries = await asyncio.get_running_loop().run_in_executor(
                    None, self.merge, parts, path)
            except (OSError, ValueError) as exc:
                return {"ok": False, "error": f"merging the workers' dumps: {exc}"}
        finally:
            for part in parts:
                with contextlib.suppress(OSError):
                    part.unlink()
        dumped = [int(r["result"].get("entries", 0)) for r in replies]
        return {"ok": True, "result": {"entries": entries, "file": str(path),
                                       "workers": len(replies), "per_worker": dumped}}

    async def _one(self, worker: tuple[int, Path], request: dict[str, Any]) -> dict[str, Any]:
        index, path = worker
        try:
            return await ask(path, request)
        except (OSError, ValueError, TimeoutError) as exc:
            return {"ok": False, "error": f"worker {index} did not answer: {exc}"}

    def _status_of(self, replies: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
        good = [(w, r["result"]) for w, r in replies if r.get("ok")]
        if not good:
            return {"ok": False, "error": "no worker answered: " + "; ".join(
                str(r.get("error")) for _, r in replies)}
        result = dict(good[0][1])
        result["pid"] = os.getpid()
        result["uptime"] = round(time.time() - self.started, 1)
        result["listeners"] = [[h, p] for h, p in self.workers.listeners()]
        mine = dict(good)
        workers = []
        for slot in self.workers.describe():
            status = mine.get(slot["worker"])
            if status is not None:
                slot["uptime"] = status.get("uptime")
                slot["negative_trust_anchors"] = sorted(
                    str(n.get("zone")) for n in status.get("negative_trust_anchors", []))
                slot["caches"] = {name: c.get("entries") for name, c in
                                  status.get("caches", {}).items()}
            workers.append(slot)
        result["workers"] = workers
        return {"ok": True, "result": result}
