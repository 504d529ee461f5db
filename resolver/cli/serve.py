"""``serve``: run the resolver on the local DNS port."""

from __future__ import annotations

import argparse
import asyncio
import gc
import ipaddress
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

from ..config import ConfigError, Settings, parse_listen
from ..server import notify
from ..server.listener import ListenError, bind_problem
from . import logs
from .privileges import PrivilegeError, drop_privileges, lookup

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
        settings.listen = [parse_listen(x, 53, "--listen") for x in args.listen]
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
        settings.api = None if args.api == "off" else parse_listen(args.api, 8053, "--api")
    if getattr(args, "metrics", None):
        settings.metrics = None if args.metrics == "off" else parse_listen(args.metrics, 9153,
                                                                           "--metrics")
    if getattr(args, "milter", None):
        settings.milter = None if args.milter == "off" else parse_listen(args.milter, 8891,
                                                                         "--milter")
    if getattr(args, "tls_policy", None):
        settings.tls_policy = None if args.tls_policy == "off" else parse_listen(
            args.tls_policy, 8461, "--tls-policy")
    if getattr(args, "mta_sts_ca_file", None):
        settings.mta_sts_ca_file = args.mta_sts_ca_file
    if getattr(args, "mta_sts_port", None) is not None:
        if not 0 < args.mta_sts_port <= 65535:
            raise ConfigError("--mta-sts-port: expected a port number (1-65535)")
        settings.mta_sts_port = args.mta_sts_port
    if getattr(args, "auto_trust_anchor_file", None):
        settings.auto_trust_anchor_file = args.auto_trust_anchor_file
    if getattr(args, "control_socket", None):
        settings.control_socket = None if args.control_socket == "off" \
            else Path(args.control_socket)
    if getattr(args, "listen_tls", None):
        settings.listen_tls = [parse_listen(x, 853, "--listen-tls") for x in args.listen_tls]
    for dest in ("tls_cert", "tls_key", "ratelimit_action"):
        if getattr(args, dest, None):
            setattr(settings, dest, getattr(args, dest))
    if getattr(args, "workers", None) is not None:
        from ..configfile import apply
        apply(settings, {"workers": args.workers}, "--workers")
    if getattr(args, "cachedb", None):
        from ..configfile import apply as apply_cachedb
        apply_cachedb(settings, {"cachedb": args.cachedb}, "--cachedb")
    for dest in ("ratelimit_per_client", "ratelimit"):
        if getattr(args, dest, None) is not None:
            if getattr(args, dest) < 0:
                raise ConfigError(f"--{dest.replace('_', '-')}: must not be negative")
            setattr(settings, dest, getattr(args, dest))
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
    p.add_argument("--no-serve-stale", action="store_true",
                   help="no expired answers (RFC 8767) when the servers of a zone fail")
    p.add_argument("--prefetch", action="store_true",
                   help="refresh answers hit in the last 10%% of their TTL in the background")
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


def log_level(args: argparse.Namespace, settings: Settings) -> int:
    """``-v``/``-q`` when given, else the ``log-level`` key, else WARNING."""
    flagged: int | None = getattr(args, "log_level_flag", None)
    if flagged is not None:
        return flagged
    return logs.LEVELS.get(settings.log_level or "warning", logging.WARNING)


def _reload(args: argparse.Namespace, resolver: Any, server: Any,
            hooks: Sequence[Any] = ()) -> None:
    """SIGHUP: read the configuration and trust anchors again and switch to them in one
    step, or not at all (a bad file is refused and the running configuration stays).
    Cached records are kept; the verdicts and wire answers that the change could
    alter are dropped (Resolver.reload). Each of *hooks* (e.g. the milter's) is called
    with the fresh settings before anything changes and returns its switch-over step."""
    notify.reloading()
    running: Settings = resolver.settings
    handler: logging.Handler | None = None
    try:
        fresh = settings_from_args(args)
        for network in fresh.allow_clients:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ConfigError(f"allow-clients: {network!r} is not a network") from None
        if (fresh.log_file, fresh.log_format) != (running.log_file, running.log_format):
            handler = logs.make_handler(fresh.log_file, fresh.log_format)
        commits = [hook(fresh) for hook in hooks]
        anchors = resolver.reload(fresh)
    except (ConfigError, ValueError, OSError) as exc:
        if handler is not None:
            handler.close()
        log.error("reload refused, keeping the running configuration: %s", exc)
        notify.ready(_status(server, resolver, "reload refused; serving"))
        return
    server.apply_settings(fresh)
    for commit in commits:
        commit()
    if handler is not None:      # another file or format: the new handler replaces the old
        logs.install(log_level(args, fresh), handler, fresh.query_log)
    else:
        logs.set_levels(log_level(args, fresh), fresh.query_log)
    running.log_file, running.log_format = fresh.log_file, fresh.log_format
    if fresh.user != running.user:
        log.warning("user: a change takes effect at the next start (still %s)",
                    running.user or "the user that started serve")
    log.warning("configuration reloaded (%d trust anchors); cached records kept", len(anchors))
    notify.ready(_status(server, resolver, "serving"))


class _Refusals(logging.Handler):
    """Collects the errors :func:`_reload` logs (a refused reload logs one)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _control_reload(args: argparse.Namespace, resolver: Any, server: Any,
                    hooks: Sequence[Any] = ()) -> tuple[bool, str]:
    """``resolver control reload``: exactly what SIGHUP does (:func:`_reload`), with
    its outcome for the client: (done, what happened)."""
    refusals = _Refusals()
    log.addHandler(refusals)
    try:
        _reload(args, resolver, server, hooks)
    finally:
        log.removeHandler(refusals)
    if refusals.messages:
        return False, refusals.messages[-1]
    return True, f"configuration reloaded ({len(resolver.anchors)} trust anchors); " \
                 "cached records kept"


def _metric_samples(resolver: Any, server: Any) -> dict[str, float]:
    """The samples of ``/metrics`` as ``{"name{labels}": value}`` (``control stats``)."""
    from ..metrics import registry_for

    samples: dict[str, float] = {}
    for family in registry_for(resolver, server).collect():
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[sample.name + (f"{{{labels}}}" if labels else "")] = float(sample.value)
    return samples


async def _start_control(settings: Settings, args: argparse.Namespace, resolver: Any,
                         server: Any, hooks: Sequence[Any] = ()) -> Any:
    """The control socket of ``resolver control``, when one is configured; owned by
    the ``user`` that serve drops to, so that user (and root) may use it."""
    if settings.control_socket is None:
        return None
    from ..server.control import ControlServer

    control = ControlServer(resolver, settings.control_socket, group=settings.control_group,
                            listeners=lambda: list(server.bound),
                            stats=lambda: _metric_samples(resolver, server),
                            reload=lambda: _control_reload(args, resolver, server, hooks))
    await control.start()
    user = getattr(settings, "user", None)
    if user is not None:
        os.chown(settings.control_socket, lookup(user).uid, -1)
    return control


def _status(server: Any, resolver: Any, what: str) -> str:
    """The ``STATUS=`` line for systemd."""
    where = ", ".join(f"{h}:{p}" if ":" not in h else f"[{h}]:{p}" for h, p in server.bound)
    mode = "validating" if resolver.settings.validate else "NOT validating"
    return f"{what} on {where} ({mode}, {len(resolver.anchors)} trust anchors)"


async def _listen_extra(start: Any, flag: str, address: tuple[str, int]) -> Any:
    """Start the API or the metrics listener; an error names its flag and address."""
    try:
        return await start()
    except OSError as exc:
        host, port = address
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        raise ListenError(exc.errno, f"cannot listen on {where} ({flag}): "
                                     f"{bind_problem(exc)}") from exc


async def _serve(settings: Settings, args: argparse.Namespace, worker: Any = None) -> int:
    """Serve until SIGTERM; *worker* is a :class:`resolver.cli.worker.Role` when this
    process is one of several (``workers``): its hooks hand in the sockets."""
    from ..server.listener import DnsServer
    from ..service import Resolver

    resolver = Resolver(settings)
    server = DnsServer(resolver, settings)
    if worker is not None:
        worker.prepare(resolver, server)    # the supervisor's sockets
    runners = []
    reload_hooks: list[Any] = []      # reloadable listeners: the milter
    control = None
    try:
        await server.start()
        mta_sts = None
        if settings.api is not None or settings.tls_policy is not None:
            from ..mail.mtasts_shared import mta_sts_from_settings
            mta_sts = mta_sts_from_settings(resolver, settings)   # one policy cache
        if settings.api is not None or settings.metrics is not None:
            from ..api.app import create_app, create_metrics_app, start_api
        if settings.api is not None:
            app = create_app(resolver, allow=settings.api_allow, server=server)
            from ..api.routes_mtasts import share_mta_sts
            share_mta_sts(app, mta_sts)
            if worker is not None:
                worker.adapt_api(app)       # /metrics: all workers
            runners.append(await _listen_extra(partial(start_api, app, *settings.api),
                                               "--api", settings.api))
        if settings.metrics is not None:
            metrics_app = create_metrics_app(resolver, server)
            runners.append(await _listen_extra(partial(start_api, metrics_app,
                                                       *settings.metrics),
                                               "--metrics", settings.metrics))
        if settings.milter is not None:
            from ..mail.milter import milter_from_settings, milter_reloader
            milter = milter_from_settings(resolver, settings)
            await _listen_extra(milter.start, "--milter", settings.milter)
            runners.append(milter)
            reload_hooks.append(milter_reloader(milter, settings))
        if settings.tls_policy is not None:
            from ..mail.socketmap import socketmap_from_settings
            policy_map = socketmap_from_settings(resolver, settings, mta_sts)
            await _listen_extra(partial(policy_map.start, *settings.tls_policy),
                                "--tls-policy", settings.tls_policy)
            runners.append(policy_map)
        control = await _start_control(settings, args, resolver, server, reload_hooks)
        if worker is not None:
            runners.append(await worker.start(resolver, server))
        if settings.user is not None:    # the ports are bound: no more need for root
            drop_privileges(settings.user)
    except (OSError, PrivilegeError) as exc:
        text = exc.strerror if isinstance(exc, ListenError) else str(exc)
        if settings.log_file is not None:   # standard error has the line below
            log.error("%s", text)
        print(f"serve: {text}", file=sys.stderr)
        notify.notify("STOPPING=1", f"STATUS=failed: {text}")
        if control is not None:
            await control.stop()
        for runner in runners:
            await runner.cleanup()
        await server.stop()
        return 2
    tune_collector()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, _reload, args, resolver, server, reload_hooks)
    refresher = asyncio.ensure_future(_refresh_anchors(resolver)) \
        if resolver.autotrust is not None else None
    where = ", ".join(f"{h}:{p}" for h, p in server.bound)
    if server.bound_tls:
        where += "; DNS over TLS " + ", ".join(f"{h}:{p}" for h, p in server.bound_tls)
    if settings.api is not None:
        where += f"; API http://{settings.api[0]}:{settings.api[1]}/"
    if settings.metrics is not None:
        where += f"; metrics http://{settings.metrics[0]}:{settings.metrics[1]}/metrics"
    if settings.milter is not None:
        where += f"; milter {settings.milter[0]}:{settings.milter[1]}"
    if settings.tls_policy is not None:
        where += f"; TLS policy map {settings.tls_policy[0]}:{policy_map.bound[0][1]}"
    if control is not None:
        where += f"; control {settings.control_socket}"
    mode = "validating" if settings.validate else "NOT validating"
    log.info("resolver ready on %s (%s, %d trust anchors)", where, mode,
             len(resolver.anchors))
    print(f"resolver ready on {where} ({mode})", flush=True)
    notify.ready(_status(server, resolver, "serving"))
    await stop.wait()
    log.info("stopping: finishing queries in flight")
    notify.stopping()
    if refresher is not None:
        refresher.cancel()
    if control is not None:
        await control.stop()
    for runner in runners:
        await runner.cleanup()
    await server.stop()
    await resolver.close()      # the writes to the shared cache (cachedb) still pending
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
        if settings.user is not None:
            lookup(settings.user)       # an unknown user is refused before anything starts
    except (ConfigError, ValueError, OSError, PrivilegeError) as exc:
        print(f"serve: {exc}", file=sys.stderr)
        return 2
    try:
        handler = logs.make_handler(settings.log_file, settings.log_format)
    except OSError as exc:
        print(f"serve: log-file: cannot open {settings.log_file}: {exc.strerror}",
              file=sys.stderr)
        return 2
    logs.install(log_level(args, settings), handler, settings.query_log)
    try:
        import uvloop
        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - optional speed-up
        runner = asyncio.run
    if settings.workers != 1:
        from ..server.sockets import worker_count
        from .supervisor import run_supervisor
        if worker_count(settings.workers) > 1:
            return run_supervisor(settings, args)
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
    p.add_argument("--milter", metavar="ADDR:PORT",
                   help="inbound mail filter for Postfix/Sendmail (SPF, DKIM, DMARC; off)")
    p.add_argument("--tls-policy", metavar="ADDR:PORT",
                   help="Postfix TLS policy socketmap (DANE, MTA-STS; port 8461; off)")
    p.add_argument("--mta-sts-ca-file", type=Path, metavar="FILE",
                   help="CA certificates for MTA-STS policy hosts (default: system store)")
    p.add_argument("--mta-sts-port", type=int, metavar="PORT",
                   help="HTTPS port of MTA-STS policy hosts (default 443; for tests)")
    p.add_argument("--query-log", action="store_true", help="log one line per client query")
    p.add_argument("--no-metrics", action="store_true",
                   help="count nothing (only to measure what counting costs)")
    p.add_argument("--control-socket", metavar="PATH",
                   help="Unix socket for `resolver control` ('off' for none; mode 0600)")
    p.add_argument("--listen-tls", action="append", metavar="ADDR:PORT",
                   help="DNS over TLS address (RFC 7858; port 853 by default; repeatable)")
    p.add_argument("--tls-cert", type=Path, metavar="FILE",
                   help="PEM certificate chain of --listen-tls (reloaded on SIGHUP)")
    p.add_argument("--tls-key", type=Path, metavar="FILE", help="PEM key of --tls-cert")
    p.add_argument("--ratelimit-per-client", type=float, metavar="QPS",
                   help="UDP queries per second per client address (default 0: off)")
    p.add_argument("--ratelimit-action", choices=("tc", "drop"),
                   help="what a query over --ratelimit-per-client gets (default tc: TC=1)")
    p.add_argument("--ratelimit", type=float, metavar="QPS",
                   help="upstream queries per second per zone (default 0: off)")
    p.add_argument("--cachedb", metavar="URL",
                   help="shared cache on Redis: redis://HOST:PORT/DB or unix:///PATH "
                        "(default: none)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="serving processes sharing the ports (default 0: one per usable "
                        "core, at most 8; 1: a single process)")
    add_resolver_options(p)
    p.set_defaults(func=run)
