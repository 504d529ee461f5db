"""``serve``: run the resolver on the local DNS port."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Any

from ..config import ConfigError, Settings, parse_listen

log = logging.getLogger(__name__)

# Collector thresholds for a long-running resolver. The caches hold hundreds of
# thousands of long-lived objects and a cold answer allocates about a thousand
# short-lived ones, so CPython's default (a young collection every 700 allocations)
# spent 15-20 % of the CPU of cold answers in the collector (make bench, cold
# section). Reference cycles are rare here (they come from exceptions and cancelled
# tasks), so collecting the young generation every 20,000 allocations costs a few MB
# at most.
GC_THRESHOLDS = (20_000, 20, 100)


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings from the config file (if any), overridden by command-line flags."""
    from ..configfile import FLAG_KEYS, load, setting_attr

    settings = load(args.config) if getattr(args, "config", None) else Settings()
    # switches: --no-X turns the key X off, the others turn their key on
    for dest, key in FLAG_KEYS.items():
        if getattr(args, dest, None) is True:
            setattr(settings, setting_attr(key), not dest.startswith("no_"))
    if getattr(args, "listen", None):
        settings.listen = [parse_listen(x) for x in args.listen]
    if getattr(args, "root_hints", None):
        settings.root_hints = args.root_hints
    if getattr(args, "trust_anchor", None):
        settings.trust_anchors = list(args.trust_anchor)
    if getattr(args, "upstream_port", None):
        settings.upstream_port = args.upstream_port
    if getattr(args, "nodefault", None):
        settings.nodefault = settings.nodefault + list(args.nodefault)
    if getattr(args, "cache_size", None):
        settings.cache_size_mb = args.cache_size
    if getattr(args, "api", None):
        settings.api = None if args.api == "off" else parse_listen(args.api, 8053)
    if getattr(args, "metrics", None):
        settings.metrics = None if args.metrics == "off" else parse_listen(args.metrics, 9153)
    if getattr(args, "auto_trust_anchor_file", None):
        settings.auto_trust_anchor_file = args.auto_trust_anchor_file
    return settings


def add_resolver_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="TOML configuration file")
    p.add_argument("--root-hints", type=Path, help="named.root-style hints (default: IANA)")
    p.add_argument("--trust-anchor", type=Path, action="append", metavar="FILE",
                   help="DS or DNSKEY anchor file (repeatable; default: trust_anchors/)")
    p.add_argument("--no-validate", action="store_true", help="do not validate (no AD ever)")
    p.add_argument("--allow-loopback-upstream", action="store_true",
                   help="allow name servers on 127.0.0.0/8 and ::1")
    p.add_argument("--upstream-port", type=int, help="send every upstream query to this port")
    p.add_argument("--nodefault", action="append", metavar="ZONE",
                   help="do not answer this special-use zone locally (repeatable)")
    p.add_argument("--no-qname-minimisation", action="store_true",
                   help="send full query names upstream")
    p.add_argument("--no-trust-anchor-signaling", action="store_true",
                   help="send no RFC 8145 key-tag query after the anchor keys validate")
    p.add_argument("--no-ipv6-upstream", action="store_true", help="IPv4 upstream only")
    p.add_argument("--cache-size", type=float, metavar="MB", help="cache memory (default 64)")
    p.add_argument("--auto-trust-anchor-file", type=Path, metavar="FILE",
                   help="keep the root anchors up to date (RFC 5011) in this state file")


async def _refresh_anchors(resolver: Any) -> None:
    """RFC 5011: refresh the managed trust anchors when they are due (at most hourly
    sleeps, so a jump of the clock is noticed)."""
    while True:
        try:
            await resolver.refresh_trust_anchors()
        except Exception:  # a failed refresh is retried later; never stop serving
            log.exception("trust anchor refresh failed")
        manager = resolver.autotrust
        wait = 3600.0 if manager is None else min(3600.0, max(1.0, manager.next_refresh()
                                                               - time.time()))
        await asyncio.sleep(wait)


def _reload(args: argparse.Namespace, resolver: Any, server: Any) -> None:
    """SIGHUP: read the configuration and trust anchors again, keep the cached records
    (their verdicts and the wire answers go if the anchors or NTAs changed)."""
    try:
        fresh = settings_from_args(args)
        anchors = resolver.reload_anchors(fresh)
    except (ConfigError, ValueError, OSError) as exc:
        log.error("reload refused, keeping the running configuration: %s", exc)
        return
    resolver.apply_settings(fresh)
    server.apply_settings(fresh)
    log.warning("configuration reloaded (%d trust anchors); cached records kept", len(anchors))


async def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from ..server.listener import DnsServer
    from ..service import Resolver

    resolver = Resolver(settings)
    server = DnsServer(resolver, settings)
    runners = []
    try:
        await server.start()
        if settings.api is not None or settings.metrics is not None:
            from ..api.app import create_app, create_metrics_app, start_api
        if settings.api is not None:
            runners.append(await start_api(
                create_app(resolver, allow=settings.api_allow, server=server), *settings.api))
        if settings.metrics is not None:
            runners.append(await start_api(create_metrics_app(resolver, server),
                                           *settings.metrics))
    except OSError as exc:
        print(f"serve: cannot listen: {exc}", file=sys.stderr)
        for runner in runners:
            await runner.cleanup()
        await server.stop()
        return 2
    tune_collector()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, _reload, args, resolver, server)
    refresher = asyncio.ensure_future(_refresh_anchors(resolver)) \
        if resolver.autotrust is not None else None
    where = ", ".join(f"{h}:{p}" for h, p in server.bound)
    if settings.api is not None:
        where += f"; API http://{settings.api[0]}:{settings.api[1]}/"
    if settings.metrics is not None:
        where += f"; metrics http://{settings.metrics[0]}:{settings.metrics[1]}/metrics"
    mode = "validating" if settings.validate else "NOT validating"
    log.warning("resolver ready on %s (%s, %d trust anchors)", where, mode,
                len(resolver.anchors))
    print(f"resolver ready on {where} ({mode})", flush=True)
    await stop.wait()
    log.warning("stopping: finishing queries in flight")
    if refresher is not None:
        refresher.cancel()
    for runner in runners:
        await runner.cleanup()
    await server.stop()
    return 0


def tune_collector() -> None:
    """Move everything built at start-up (anchors, hints, local zones, code) out of
    the collector's sight and make young collections rarer (see GC_THRESHOLDS)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_from_args(args)
    except (ConfigError, ValueError, OSError) as exc:
        print(f"serve: {exc}", file=sys.stderr)
        return 2
    try:
        import uvloop
        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - optional speed-up
        runner = asyncio.run
    try:
        result: int = runner(_serve(settings, args))
    except (ValueError, OSError) as exc:
        print(f"serve: {exc}", file=sys.stderr)
        return 2
    return result


def add_parser(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the validating resolver",
                       description="Serve DNS on the local port (127.0.0.1 and ::1, port 53 "
                                   "by default), resolving from the root and validating.")
    p.add_argument("--listen", action="append", metavar="ADDR:PORT",
                   help="address to listen on (repeatable)")
    p.add_argument("--api", metavar="ADDR:PORT",
                   help="HTTP API address (default 127.0.0.1:8053; 'off' for none)")
    p.add_argument("--metrics", metavar="ADDR:PORT",
                   help="also serve /metrics on its own address (it is always on the API)")
    p.add_argument("--query-log", action="store_true", help="log one line per client query")
    p.add_argument("--no-metrics", action="store_true",
                   help="count nothing (only to measure what counting costs)")
    add_resolver_options(p)
    p.set_defaults(func=run)
