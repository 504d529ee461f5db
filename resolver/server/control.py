"""The control channel of ``resolver control``: a Unix socket, never the network.

Protocol: one request per connection. The client sends one line of JSON,
``{"command": "nta-add", "args": {"zone": "bogus.example.", "for": 3600}}``, and the
server answers with one line of JSON and closes the connection: ``{"ok": true,
"result": {...}}`` on success, ``{"ok": false, "error": "why"}`` otherwise. Requests
are at most 64 KiB and must arrive within 10 s.

Access is the file system's: the socket is created mode 0600 (0660 and the group
changed when a control group is configured), so only the resolver's user (and root,
and that group) can connect. Every request is logged with the peer's uid, read from
``SO_PEERCRED``: the commands that change something at WARNING, the read-only ones
(``status``, ``stats``, ``nta-list``) at INFO.

The server uses the service's public surface only (tests/test_layering.py); what it
cannot see from here (the counters of ``/metrics``, the configuration reload of
``serve``) it gets as callbacks from the command line that starts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import ipaddress
import json
import logging
import os
import socket
import stat
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import ConfigError, parse_duration
from ..service import Resolver
from ..wire.name import Name
from ..wire.types import type_from_text, type_to_text

log = logging.getLogger(__name__)

MAX_REQUEST = 64 * 1024          # bytes of one request line
REQUEST_TIMEOUT = 10.0           # seconds to send it
NTA_DEFAULT = 3600.0             # nta add without --for: one hour (BIND's nta-lifetime)
NTA_MAX = 7 * 86400.0            # and at most a week (RFC 7646 s2: NTAs must expire)
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
READ_ONLY = frozenset({"status", "stats", "nta-list"})
# the flushes that reach the shared cache on Redis too (bogus data is never stored
# there, a negative entry there ends with its TTL, the servers' state is not shared)
SHARED_FLUSHES = frozenset({"flush", "flush-type", "flush-zone", "flush-all"})


class ControlError(Exception):
    """A request that cannot be carried out; the message goes back to the client."""


def _name(args: dict[str, Any], key: str) -> Name:
    text = args.get(key)
    if not isinstance(text, str) or not text.strip():
        raise ControlError(f"{key}: a domain name is needed")
    text = text.strip()
    if not text.endswith("."):
        text += "."
    try:
        return Name.from_text(text)
    except ValueError as exc:
        raise ControlError(f"{key}: bad domain name {args[key]!r}: {exc}") from None


def file_arg(args: dict[str, Any]) -> Path:
    """The ``file`` argument of dump-cache and load-cache, as a path."""
    text = args.get("file")
    if not isinstance(text, str) or not text:
        raise ControlError("file: a file name is needed")
    path = Path(text)
    if not path.is_absolute():
        raise ControlError(f"file: {text!r} must be an absolute path (the server's "
                           "working directory is not the client's)")
    return path


def peer_uid(sock: socket.socket | None) -> int | None:
    """The uid of the process at the other end of a Unix socket (Linux SO_PEERCRED)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if sock is None or option is None:
        return None
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    except OSError:
        return None
    _pid, uid, _gid = struct.unpack("3i", raw)
    return int(uid)


class ControlServer:
    """Serve the control commands for one :class:`~resolver.service.Resolver`.

    *listeners* returns the DNS server's bound addresses (for ``status``), *stats* the
    samples of ``/metrics`` as ``{"name{labels}": value}``, *reload* re-reads the
    configuration as SIGHUP does and returns (done, message)."""

    def __init__(self, resolver: Resolver, path: Path, *, group: str | None = None,
                 listeners: Callable[[], list[tuple[str, int]]] | None = None,
                 stats: Callable[[], dict[str, float]] | None = None,
                 reload: Callable[[], tuple[bool, str]] | None = None) -> None:
        self.resolver = resolver
        self.path = path
        self.group = group
        self.listeners = listeners or (lambda: [])
        self.stats = stats
        self.reload = reload
        self.started = time.time()
        self._server: asyncio.AbstractServer | None = None
        self._commands: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "status": self._status, "stats": self._stats,
            "flush": self._flush, "flush-type": self._flush_type,
            "flush-zone": self._flush_zone, "flush-bogus": self._flush_bogus,
            "flush-negative": self._flush_negative, "flush-infra": self._flush_infra,
            "flush-all": self._flush_all,
            "nta-add": self._nta_add, "nta-list": self._nta_list,
            "nta-remove": self._nta_remove,
            "log-level": self._log_level, "reload": self._reload,
            "dump-cache": self._dump_cache, "load-cache": self._load_cache,
        }

    # ------------------------------------------------------------------ socket
    async def start(self) -> None:
        """Create the socket (mode 0600, or 0660 for the control group) and listen.
        A stale socket left by a dead server is replaced; a live one is an error."""
        gid = None
        if self.group is not None:
            try:
                gid = grp.getgrnam(self.group).gr_gid
            except KeyError:
                raise OSError(f"control-group: no group {self.group!r}") from None
        self._remove_stale()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)     # never world-connectable, not even for a moment
        try:
            sock.bind(str(self.path))
        except OSError:
            sock.close()
            raise
        finally:
            os.umask(old_umask)
        try:
            if gid is not None:
                os.chown(self.path, -1, gid)
                os.chmod(self.path, 0o660)
            else:
                os.chmod(self.path, 0o600)
            sock.listen(16)
            sock.setblocking(False)
            self._server = await asyncio.start_unix_server(self._client, sock=sock,
                                                           limit=MAX_REQUEST)
        except OSError:
            sock.close()
            with contextlib.suppress(OSError):
                self.path.unlink()
            raise
        log.info("control socket on %s", self.path)

    def _remove_stale(self) -> None:
        try:
            mode = self.path.lstat().st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(mode):
            raise OSError(f"control socket {self.path}: exists and is not a socket")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(str(self.path))
            except OSError:     # nobody listens: left over from a server that died
                self.path.unlink()
                return
        raise OSError(f"control socket {self.path}: another server is listening on it")

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
            with contextlib.suppress(OSError):
                self.path.unlink()

    async def _client(self, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        uid = peer_uid(writer.get_extra_info("socket"))
        try:
            try:
                line = await asyncio.wait_for(reader.readline(), REQUEST_TIMEOUT)
                request = json.loads(line)
            except (ValueError, asyncio.LimitOverrunError):
                reply: dict[str, Any] = {"ok": False, "error": "bad request: one line of "
                                         "JSON of at most 64 KiB is expected"}
            except TimeoutError:
                reply = {"ok": False, "error": "no request within 10 s"}
            else:
                reply = await self.answer(request, uid)
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        except (ConnectionError, OSError) as exc:
            log.debug("control client went away: %s", exc)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    # ------------------------------------------------------------------ requests
    async def answer(self, request: Any, uid: int | None) -> dict[str, Any]:
        """The reply to one request; the supervisor's fan-out server passes it on.
        A flush of a name, a type, a zone or everything then removes the same from
        the shared cache on Redis (``cachedb``), unless ``"cachedb": false`` is among
        the arguments (the supervisor sends that to every worker but one)."""
        reply = self.handle(request, uid)
        command = request.get("command") if isinstance(request, dict) else None
        if not reply.get("ok") or command not in SHARED_FLUSHES:
            return reply
        args = request.get("args") or {}
        if args.get("cachedb", True) is False:
            return reply
        try:
            if command == "flush":
                removed = await self.resolver.flush_shared(name=_name(args, "name"))
            elif command == "flush-type":
                removed = await self.resolver.flush_shared(
                    name=_name(args, "name"), rtype=type_from_text(str(args.get("type"))))
            elif command == "flush-zone":
                removed = await self.resolver.flush_shared(zone=_name(args, "zone"))
            else:
                removed = await self.resolver.flush_shared()
        except OSError as exc:
            log.warning("control: %s: the flush in cachedb failed: %s", command, exc)
            return {"ok": False, "error": f"the local caches were flushed "
                    f"({reply['result'].get('removed')} entries), the shared cache was "
                    f"not: {exc}"}
        if removed is not None:
            reply["result"]["cachedb_removed"] = removed
        return reply

    def handle(self, request: Any, uid: int | None) -> dict[str, Any]:
        """Carry out one request (the decoded JSON) for the peer *uid*; the reply."""
        who = "uid ?" if uid is None else f"uid {uid}"
        if not isinstance(request, dict) or not isinstance(request.get("command"), str):
            log.warning("control: %s: malformed request refused", who)
            return {"ok": False, "error": "bad request: {\"command\": ..., \"args\": {...}} "
                                          "is expected"}
        command = request["command"]
        args = request.get("args") or {}
        handler = self._commands.get(command)
        if handler is None or not isinstance(args, dict):
            log.warning("control: %s: unknown command %r refused", who, command[:40])
            return {"ok": False, "error": f"unknown command {command[:40]!r}; known: "
                                          + ", ".join(sorted(self._commands))}
        what = " ".join(f"{k}={str(v)[:80]!r}" for k, v in sorted(args.items()))
        level = logging.INFO if command in READ_ONLY else logging.WARNING
        try:
            result = handler(args)
        except (ControlError, ConfigError, ValueError, OSError) as exc:
            log.warning("control: %s: %s %s refused: %s", who, command, what, exc)
            return {"ok": False, "error": str(exc)}
        except Exception as exc:  # report, keep serving DNS
            log.exception("control: %s: %s %s failed", who, command, what)
            return {"ok": False, "error": f"internal error: {exc}"}
        log.log(level, "control: %s: %s %s", who, command, what)
        return {"ok": True, "result": result}

    def _status(self, args: dict[str, Any]) -> dict[str, Any]:
        r = self.resolver
        report = r.anchor_report()
        return {
            "version": __version__,
            "uptime": round(time.time() - self.started, 1),
            "pid": os.getpid(),
            "validating": r.settings.validate,
            "listeners": [[host, port] for host, port in self.listeners()],
            "trust_anchors": [{"zone": zone, "key_tag": tag, "state": state}
                              for zone, tag, state in r.anchor_keys()],
            "anchors_validated": r.anchors_validated(),
            "auto_trust_anchor_file": report.get("state_file"),
            "negative_trust_anchors": r.negative_anchors(),
            "caches": {name: {"entries": c.entries, "bytes": c.size, "hits": c.hits,
                              "misses": c.misses, "evictions": c.evictions}
                       for name, c in r.cache_stats().items()},
            "upstream": {"servers_known": r.infra_servers(),
                         "queries": r.stats.upstream,
                         "failures_cached": r.stats.failures_cached,
                         "timeouts": self._sample("resolver_upstream_timeouts_total")},
            "log_level": logging.getLevelName(logging.getLogger().getEffectiveLevel()),
        }

    def _sample(self, name: str) -> float | None:
        if self.stats is None:
            return None
        return self.stats().get(name, 0.0)     # a counter never incremented has no sample

    def _stats(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.stats is None:
            raise ControlError("counting is not available in this server")
        return {"samples": self.stats()}

    # ------------------------------------------------------------------ flushing
    def _flush(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"removed": self.resolver.flush_name(_name(args, "name"))}

    def _flush_type(self, args: dict[str, Any]) -> dict[str, Any]:
        name = _name(args, "name")
        try:
            rtype = type_from_text(str(args.get("type", "")))
        except ValueError as exc:
            raise ControlError(f"type: {exc}") from None
        return {"removed": self.resolver.flush_type(name, rtype), "type": type_to_text(rtype)}

    def _flush_zone(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"removed": self.resolver.flush_zone(_name(args, "zone"))}

    def _flush_bogus(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"removed": self.resolver.flush_bogus()}

    def _flush_negative(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"removed": self.resolver.flush_negative()}

    def _flush_infra(self, args: dict[str, Any]) -> dict[str, Any]:
        text = str(args.get("address", "")).strip()
        if text == "all":
            return {"removed": self.resolver.flush_infra(None)}
        try:
            address = str(ipaddress.ip_address(text))
        except ValueError:
            raise ControlError(f"address: {text!r} is neither an IP address nor 'all'") \
                from None
        return {"removed": self.resolver.flush_infra(address)}

    def _flush_all(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"removed": self.resolver.flush_all()}

    def _dump_cache(self, args: dict[str, Any]) -> dict[str, Any]:
        path = file_arg(args)
        return {"entries": self.resolver.dump_cache(path), "file": str(path)}

    def _load_cache(self, args: dict[str, Any]) -> dict[str, Any]:
        path = file_arg(args)
        return {"entries": self.resolver.load_cache(path), "file": str(path)}

    # ------------------------------------------------------------------ NTAs
    def _nta_add(self, args: dict[str, Any]) -> dict[str, Any]:
        zone = _name(args, "zone")
        if zone.is_root():
            raise ControlError("zone: a negative trust anchor for the root would switch "
                               "validation off; use --no-validate instead")
        raw = args.get("for")
        seconds = NTA_DEFAULT if raw is None else parse_duration(raw)
        if seconds > NTA_MAX:
            raise ControlError(f"for: at most a week ({int(NTA_MAX)} s; RFC 7646 s2)")
        reason = str(args.get("reason") or "")[:200]
        until = time.time() + seconds
        self.resolver.add_negative_anchor(zone, until, reason)
        return {"zone": zone.to_text(), "until": until, "remaining": round(seconds),
                "reason": reason}

    def _nta_list(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"negative_trust_anchors": self.resolver.negative_anchors()}

    def _nta_remove(self, args: dict[str, Any]) -> dict[str, Any]:
        zone = _name(args, "zone")
        if not self.resolver.remove_negative_anchor(zone):
            raise ControlError(f"no negative trust anchor for {zone.to_text()}")
        return {"zone": zone.to_text(), "removed": True}

    # ------------------------------------------------------------------ process
    def _log_level(self, args: dict[str, Any]) -> dict[str, Any]:
        level = str(args.get("level", "")).strip().lower()
        if level not in LOG_LEVELS:
            raise ControlError(f"level: {level!r} is not one of {', '.join(LOG_LEVELS)}")
        root = logging.getLogger()
        before = logging.getLevelName(root.getEffectiveLevel())
        root.setLevel(level.upper())
        return {"level": level.upper(), "previous": before}

    def _reload(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.reload is None:
            raise ControlError("reload is not available in this server")
        done, message = self.reload()
        if not done:
            raise ControlError(message)
        return {"message": message}
