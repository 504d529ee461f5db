"""``control``: talk to a running ``serve`` over its control socket.

``python -m resolver control [--socket PATH] [--json] COMMAND [ARGS]``: one request
per run (the protocol is in :mod:`resolver.server.control`). Output is for a person,
or the server's JSON reply with ``--json``. Exit status: 0 on success, 1 when the
server refused or failed the command, 2 for bad input or no server to talk to.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from pathlib import Path
from typing import Any

from ..config import DEFAULT_CONTROL_SOCKET, ConfigError, parse_duration

TIMEOUT = 30.0     # seconds for the reply (dump-cache of a big cache takes a while)


class ControlClientError(Exception):
    """No reply: no server, no access, or a reply that is not the protocol."""


def request(path: Path, command: str, args: dict[str, Any] | None = None,
            timeout: float = TIMEOUT) -> dict[str, Any]:
    """Send one command to the server on *path*; its decoded reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except FileNotFoundError:
            raise ControlClientError(f"no control socket at {path} (is the resolver running "
                                     "with --control-socket / control-socket?)") from None
        except PermissionError:
            raise ControlClientError(f"{path}: permission denied (run as the resolver's user, "
                                     "root, or a member of control-group)") from None
        except OSError as exc:
            raise ControlClientError(f"cannot connect to {path}: {exc.strerror or exc}") \
                from None
        try:
            sock.sendall(json.dumps({"command": command, "args": args or {}}).encode() + b"\n")
            chunks = []
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except OSError as exc:
            raise ControlClientError(f"{path}: {exc}") from None
    try:
        reply = json.loads(b"".join(chunks))
    except ValueError:
        raise ControlClientError(f"{path}: the reply is not JSON") from None
    if not isinstance(reply, dict) or "ok" not in reply:
        raise ControlClientError(f"{path}: unexpected reply {reply!r:.200}")
    return reply


# ---------------------------------------------------------------------- output
def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _span(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "",
             f"{minutes}m" if minutes else "", f"{secs}s" if secs or not seconds else ""]
    return "".join(p for p in parts if p)


def _number(value: float) -> str:
    """A sample as Prometheus writes it, whole numbers without a decimal point."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _ntas(items: list[dict[str, Any]]) -> list[str]:
    if not items:
        return ["  (none)"]
    return [f"  {item['zone']:<30} until {_when(float(item['until']))} "
            f"({_span(float(item['remaining']))} left, {item['source']})"
            + (f": {item['reason']}" if item.get("reason") else "") for item in items]


def _status_text(result: dict[str, Any]) -> list[str]:
    lines = [f"version        {result['version']} (pid {result['pid']})",
             f"uptime         {_span(float(result['uptime']))}",
             f"validating     {'yes' if result['validating'] else 'NO'}",
             f"log level      {result['log_level']}",
             "listeners      " + (", ".join(
                 f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in result["listeners"])
                 or "(none)"),
             "trust anchors" + (f" (RFC 5011 state in {result['auto_trust_anchor_file']})"
                                if result.get("auto_trust_anchor_file") else "")]
    validated = result.get("anchors_validated", {})
    for anchor in result["trust_anchors"]:
        when = validated.get(anchor["zone"])
        lines.append(f"  {anchor['zone']:<20} key tag {anchor['key_tag']:<6} "
                     f"{anchor['state']}"
                     + (f", keys validated {_when(float(when))}" if when else ""))
    if not result["trust_anchors"]:
        lines.append("  (none)")
    lines.append("negative trust anchors")
    lines.extend(_ntas(result["negative_trust_anchors"]))
    lines.append("caches         entries      bytes       hits     misses  evictions")
    for name, c in result["caches"].items():
        lines.append(f"  {name:<12} {c['entries']:>8} {c['bytes']:>10} {c['hits']:>10} "
                     f"{c['misses']:>10} {c['evictions']:>10}")
    up = result["upstream"]
    timeouts = up.get("timeouts")
    lines.append(f"upstream       {up['servers_known']} servers known, {up['queries']} "
                 f"answers from upstream, {up['failures_cached']} failures remembered"
                 + (f", {int(timeouts)} timeouts" if timeouts is not None else ""))
    if result.get("workers"):      # workers > 1: the caches and upstream above are worker 0's
        lines.append("workers        (caches and upstream above: worker 0)")
        for w in result["workers"]:
            lines.append(f"  worker {w['worker']:<3} pid {w['pid']}, "
                         f"{'up' if w['up'] else 'DOWN'}, restarted {w['restarts']} times"
                         + (f", uptime {_span(float(w['uptime']))}" if w.get("uptime")
                            is not None else ""))
    return lines


def _text(command: str, result: dict[str, Any]) -> list[str]:
    """What a person reads for each command's result."""
    if command == "status":
        return _status_text(result)
    if command == "stats":
        return [f"{key} {_number(value)}" for key, value in sorted(result["samples"].items())]
    if command.startswith("flush"):
        count = int(result["removed"])
        shared = result.get("cachedb_removed")
        return [f"{command}: {count} cache {'entry' if count == 1 else 'entries'} removed"
                + ("" if shared is None else f", {int(shared)} keys from the shared cache")]
    if command == "nta-add":
        return [f"negative trust anchor for {result['zone']} until {_when(result['until'])} "
                f"({_span(result['remaining'])})"
                + (f": {result['reason']}" if result["reason"] else "")]
    if command == "nta-list":
        return _ntas(result["negative_trust_anchors"])
    if command == "nta-remove":
        return [f"negative trust anchor for {result['zone']} removed"]
    if command == "log-level":
        return [f"log level {result['level']} (was {result['previous']})"]
    if command == "reload":
        return [str(result["message"])]
    if command == "dump-cache":
        return [f"{result['entries']} cache entries written to {result['file']}"]
    if command == "load-cache":
        return [f"{result['entries']} cache entries read from {result['file']}"]
    return [json.dumps(result, indent=2)]


# ---------------------------------------------------------------------- commands
def _arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The request's arguments for the chosen command; raises ConfigError on bad input."""
    command = args.control_command
    if command in ("flush", "flush-type"):
        out: dict[str, Any] = {"name": args.name}
        if command == "flush-type":
            out["type"] = args.type
        return out
    if command in ("flush-zone", "nta-remove"):
        return {"zone": args.zone}
    if command == "flush-infra":
        return {"address": args.address}
    if command == "nta-add":
        out = {"zone": args.zone, "reason": args.reason or ""}
        if args.duration is not None:
            out["for"] = parse_duration(args.duration)
        return out
    if command == "log-level":
        return {"level": args.level}
    if command in ("dump-cache", "load-cache"):
        return {"file": str(Path(args.file).resolve())}
    return {}


def run(args: argparse.Namespace) -> int:
    command: str = args.control_command
    try:
        payload = _arguments(args)
    except ConfigError as exc:
        print(f"control {command}: {exc}", file=sys.stderr)
        return 2
    try:
        reply = request(args.socket, command, payload, args.timeout)
    except ControlClientError as exc:
        print(f"control: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(reply, indent=2, sort_keys=True))
    elif reply["ok"]:
        print("\n".join(_text(command, reply.get("result") or {})))
    if not reply["ok"]:
        if not args.json:
            print(f"control {command}: {reply.get('error', 'failed')}", file=sys.stderr)
        return 1
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("control", help="control a running resolver (status, flush, nta, ...)",
                       description="Send one command to a running `serve` over its Unix "
                                   "control socket (serve --control-socket PATH).")
    p.add_argument("--socket", type=Path, default=DEFAULT_CONTROL_SOCKET,
                   help=f"control socket (default {DEFAULT_CONTROL_SOCKET})")
    p.add_argument("--json", action="store_true", help="print the reply as JSON")
    p.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds to wait (30)")
    cmds = p.add_subparsers(dest="control_command", required=True, metavar="COMMAND")
    cmds.add_parser("status", help="version, uptime, listeners, anchors, NTAs, caches, "
                                   "upstream")
    cmds.add_parser("stats", help="the counters of /metrics, plain")
    c = cmds.add_parser("flush", help="drop every type of one name from the caches")
    c.add_argument("name")
    c = cmds.add_parser("flush-type", help="drop one name's RRset of one type")
    c.add_argument("name")
    c.add_argument("type", help="A, AAAA, MX, TYPE65534, ...")
    c = cmds.add_parser("flush-zone", help="drop everything at and below a zone")
    c.add_argument("zone")
    cmds.add_parser("flush-bogus", help="drop everything judged bogus")
    cmds.add_parser("flush-negative", help="drop NXDOMAIN and NODATA answers")
    c = cmds.add_parser("flush-infra", help="forget what is known of a server (RTT, EDNS, "
                                            "lameness), or of all")
    c.add_argument("address", help="IP address, or 'all'")
    cmds.add_parser("flush-all", help="empty every cache")
    nta = cmds.add_parser("nta", help="negative trust anchors (RFC 7646)")
    nta_cmds = nta.add_subparsers(dest="nta_command", required=True, metavar="add|list|remove")
    c = nta_cmds.add_parser("add", help="treat a zone as insecure for a while")
    c.add_argument("zone")
    c.add_argument("--for", dest="duration", metavar="DURATION",
                   help="how long: 3600, 30m, 12h, 2d, 1w (default 1h, at most 1w)")
    c.add_argument("--reason", help="why (shown in status and nta list)")
    c.set_defaults(control_command="nta-add")
    c = nta_cmds.add_parser("list", help="the negative trust anchors in force")
    c.set_defaults(control_command="nta-list")
    c = nta_cmds.add_parser("remove", help="validate the zone again at once")
    c.add_argument("zone")
    c.set_defaults(control_command="nta-remove")
    c = cmds.add_parser("log-level", help="change the log level at run time")
    c.add_argument("level", type=str.lower,
                   choices=["debug", "info", "warning", "error", "critical"])
    cmds.add_parser("reload", help="re-read the configuration and anchors (as SIGHUP)")
    c = cmds.add_parser("dump-cache", help="write the cache to a file (on the server's "
                                           "side)")
    c.add_argument("file")
    c = cmds.add_parser("load-cache", help="read a cache file written by dump-cache")
    c.add_argument("file")
    p.set_defaults(func=run)
