"""Issue 17: the warm path, cost of each feature. For each feature, two copies of our
resolver (the feature on, the feature off, everything else at its default) answer the
warm workload (cache hits) in interleaved runs, on, off, on, off, ...; the rows give
queries/s and CPU microseconds per answer of each, and the ratios on/off with their
spread over the run pairs. Goal: every feature costs under 5 % (CPU ratio <= 1.05).

Features: serve-stale, prefetch (also with ``max-ttl = 5``, so that entries expire
and are refreshed during the runs: what prefetch costs when it works), aggressive
NSEC, local zones configured (50 static and transparent zones that the workload does
not touch), the per-client rate limit
(a rate no client reaches, so the bucket is taken on every query and never refused),
DNS cookies (one server; queries with and without a client COOKIE option, which needs
dnsperf's ``-E``) and metrics counting (``--no-metrics`` off).

Alone: ``.venv/bin/python -m tests.bench.feature_cost [FEATURE ...]``. Knobs:
``FEATURE_BENCH_SECONDS`` (default 4, per run), ``FEATURE_BENCH_RUNS`` (default 3
pairs per feature). On a 2-core machine with the load generator on the other core,
the resolver's core is rarely saturated, so queries/s is bounded by the client: the
CPU ratio is the figure to read.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import load as loadgen
from . import workloads
from .dns_bench import WARM_OUTSTANDING, WARM_TIMEOUT, Row, _guarded
from .resolvers import Server, TestNet, pinning, progress, start_ours, start_testnet

SECONDS = float(os.environ.get("FEATURE_BENCH_SECONDS", "4"))
RUNS = max(1, int(os.environ.get("FEATURE_BENCH_RUNS", "3")))
GOAL = 1.05
LOCAL_ZONES = 50
SHORT_TTL = 5


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    on: tuple[str, ...]            # serve options of the "on" copy
    off: tuple[str, ...]           # and of the "off" copy
    cookie: bool = False           # one server; queries with a COOKIE option vs without
    config: str = ""               # TOML for the "on" copy (written to a file)
    config_off: str = ""


def _local_zones() -> str:
    out = []
    for i in range(LOCAL_ZONES):
        kind = "static" if i % 2 else "transparent"
        out += ["[[local-zone]]", f'zone = "lz{i}.corp.invalid."', f'type = "{kind}"',
                f'local-data = ["www.lz{i}.corp.invalid. 3600 A 192.0.2.{i + 1}"]', ""]
    return "\n".join(out)


FEATURES = [
    Feature("serve-stale", (), ("--no-serve-stale",)),
    Feature("prefetch", ("--prefetch",), ()),
    Feature(f"prefetch, max-ttl {SHORT_TTL} s (entries expire during the runs)",
            ("--prefetch",), (), config=f"max-ttl = {SHORT_TTL}\n",
            config_off=f"max-ttl = {SHORT_TTL}\n"),
    Feature("aggressive NSEC", (), (), config="aggressive-nsec = true\n",
            config_off="aggressive-nsec = false\n"),
    Feature(f"local zones ({LOCAL_ZONES} configured)", (), (), config=_local_zones()),
    Feature("per-client rate limit", ("--ratelimit-per-client", "1000000"), ()),
    Feature("cookies", (), (), cookie=True),
    Feature("metrics counting", (), ("--no-metrics",)),
    Feature("UDP batches (recvmmsg/sendmmsg)", (), (), config="udp-batch = true\n",
            config_off="udp-batch = false\n"),
]


@dataclass(slots=True)
class Sample:
    qps: float
    us: float          # CPU microseconds per answer


def _dnsperf(port: int, path: Path, pin: list[str], extra: tuple[str, ...],
             seconds: float) -> loadgen.LoadResult:
    exe = loadgen.dnsperf_path()
    assert exe is not None
    argv = [*pin, exe, "-s", "127.0.0.1", "-p", str(port), "-d", str(path),
            "-l", f"{seconds:g}", "-c", "4", "-q", str(WARM_OUTSTANDING),
            "-t", f"{WARM_TIMEOUT:g}", "-D", *extra]
    done = subprocess.run(argv, capture_output=True, text=True,
                          preexec_fn=loadgen.die_with_parent,
                          timeout=seconds + WARM_TIMEOUT + 30, check=False)
    command = " ".join(argv[argv.index(exe):]).replace(exe, "dnsperf", 1)
    try:
        return loadgen.parse_dnsperf(done.stdout, command)
    except ValueError as exc:
        raise RuntimeError(f"dnsperf failed (exit {done.returncode}): "
                           f"{(done.stderr or done.stdout)[-400:]}") from exc


def _sample(server: Server, path: Path, pin: list[str], extra: tuple[str, ...],
            seconds: float = SECONDS) -> Sample:
    cpu0 = server.proc.cpu_seconds()
    if loadgen.dnsperf_path() is not None and os.environ.get("DNS_BENCH_LOADGEN") != "python":
        result = _dnsperf(server.port, path, pin, extra, seconds)
    else:
        result = loadgen.run_load(server.port, path, seconds, pin=pin,
                                  outstanding=WARM_OUTSTANDING, timeout=WARM_TIMEOUT)
    if result.completed == 0:
        raise RuntimeError(f"{server.label} answered no query ({result.command})")
    cpu = server.proc.cpu_seconds() - cpu0
    return Sample(result.qps, cpu / result.completed * 1e6)


def _pairs(measure: Callable[[bool], Sample], name: str) -> tuple[list[Sample], list[Sample]]:
    """RUNS interleaved pairs: on, off, on, off, ..."""
    on: list[Sample] = []
    off: list[Sample] = []
    for i in range(RUNS):
        for flag, into in ((True, on), (False, off)):
            sample = measure(flag)
            into.append(sample)
            progress(f"feature cost {name} {'on' if flag else 'off'} run {i + 1}/{RUNS}: "
                     f"{sample.qps:.0f}/s, {sample.us:.1f} CPU us/answer")
    return on, off


def _rows(name: str, on: list[Sample], off: list[Sample]) -> list[Row]:
    q = [a.qps / b.qps for a, b in zip(on, off, strict=True)]
    c = [a.us / b.us for a, b in zip(on, off, strict=True)]
    med = statistics.median
    cpu = med(c)
    verdict = "under 5 %" if cpu <= GOAL else "over 5 %"
    return [(f"{name}: queries/s on / off", f"{med(q):.3f}", f"{min(q):.3f}",
             f"pairs {' / '.join(f'{r:.3f}' for r in q)}; on {med([s.qps for s in on]):.0f}/s, "
             f"off {med([s.qps for s in off]):.0f}/s"),
            (f"{name}: CPU per answer on / off", f"{cpu:.3f}", f"{min(c):.3f}",
             f"pairs {' / '.join(f'{r:.3f}' for r in c)} (spread {max(c) - min(c):.3f}); "
             f"on {med([s.us for s in on]):.1f} us, off {med([s.us for s in off]):.1f} us; "
             f"{verdict}")]


def _start(stack: contextlib.ExitStack, workdir: Path, net: TestNet, options: tuple[str, ...],
           config: str, label: str) -> Server:
    extra = list(options)
    if config:
        path = workdir / f"{label.replace(' ', '_')}.toml"
        path.write_text(config)
        extra += ["--config", str(path)]
    return start_ours(stack, workdir, net, pinning(), tuple(extra), label)


def _feature_cost(selected: list[str] | None = None) -> list[Row]:
    workdir = Path(tempfile.mkdtemp(prefix="resolver-bench-features-"))
    rows: list[Row] = []
    with contextlib.ExitStack() as stack:
        stack.callback(lambda: subprocess.run(["rm", "-rf", str(workdir)], check=False))
        pin = pinning()
        progress("feature cost: starting the test network")
        net = start_testnet(stack, workdir, 0, pin)
        queries = workloads.warm_queries()
        path = workloads.write_queries(workdir / "warm.txt", queries)
        dnsperf = loadgen.dnsperf_path() is not None and \
            os.environ.get("DNS_BENCH_LOADGEN") != "python"
        for index, feature in enumerate(FEATURES):
            if selected and not any(s.lower() in feature.name.lower() for s in selected):
                continue
            if feature.cookie and not dnsperf:
                rows.append((f"{feature.name}: not measured", "-", "-",
                             "needs dnsperf (-E sends the client COOKIE option)"))
                continue
            with contextlib.ExitStack() as servers:
                slug = f"feature{index}"
                on = _start(servers, workdir, net, feature.on, feature.config, f"{slug} on")
                off = on if feature.cookie else _start(
                    servers, workdir, net, feature.off, feature.config_off, f"{slug} off")
                for server in {id(on): on, id(off): off}.values():
                    workloads.ask_all(server.port, queries)
                    workloads.ask_all(server.port, queries)
                cookie = ("-E", f"10:{secrets.token_hex(8)}")

                def measure(flag: bool, seconds: float = SECONDS, on: Server = on,
                            off: Server = off, feature: Feature = feature,
                            cookie: tuple[str, ...] = cookie) -> Sample:
                    if feature.cookie:
                        return _sample(on, path, pin.load, cookie if flag else (), seconds)
                    return _sample(on if flag else off, path, pin.load, (), seconds)

                # one short untimed run each first: allocators and aged copies settle
                measure(True, 1.0)
                measure(False, 1.0)
                rows += _rows(feature.name, *_pairs(measure, feature.name))
    rows.append(("method", "", "",
                 f"warm workload ({len(queries)} names, cache hits), {WARM_OUTSTANDING} "
                 f"outstanding, {RUNS} interleaved on/off pairs x {SECONDS:g} s per feature "
                 "(one untimed 1 s pair first); ratios per pair, median; min column = lowest "
                 f"pair; goal: CPU per answer on/off <= {GOAL}; client on the other core, so "
                 "queries/s is mostly the client's limit"))
    return rows


def section() -> list[Row]:
    return _guarded("feature cost benchmark", _feature_cost)


SECTIONS = [("warm path: cost of each feature (issue 17)", section)]


def main(argv: list[str] | None = None) -> int:
    selected = sys.argv[1:] if argv is None else argv
    started = time.monotonic()
    rows = _guarded("feature cost benchmark", lambda: _feature_cost(selected or None))
    from .run import _print_table
    _print_table(SECTIONS[0][0], rows)
    progress(f"feature cost: {time.monotonic() - started:.0f} s")
    return 1 if rows and rows[0][0] == "error" else 0


if __name__ == "__main__":
    raise SystemExit(main())
