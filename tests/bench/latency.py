"""Per-query latency with one query outstanding: ours next to Unbound.

A closed-loop client sends one query, waits for its answer (or a timeout), then sends
the next, so each figure is the time one client sees for one answer with nothing queued
in front of it. It runs as this module's program in a subprocess pinned to the load core
(``taskset``), like the Python load generator::

    python -m tests.bench.latency --port 5300 --port 5301 --file queries.txt --count 3000

Each query goes to every ``--port`` in turn (in alternating order) before the next one,
so the resolvers are compared under the same state of a noisy machine (idle cores that
have to wake up, neighbours, frequency) rather than in runs seconds apart. It prints one
JSON object with, per port, the latency of every answered query in microseconds, the
queries lost (no answer within ``--timeout``) and the rcodes. The client is plain
blocking Python (connected UDP sockets, ``time.perf_counter_ns`` around send and
receive, garbage collector off), so every figure includes the same ~10-20 us of client
and loopback cost for both resolvers: it weighs more in the ratio of cache hits than in
that of cold answers.

:func:`alternate` makes several such runs and :class:`Latency` holds one run's figures
for one resolver. Knobs (environment): DNS_BENCH_LATENCY_HITS (cache hits per run and
resolver, default 3000), DNS_BENCH_LATENCY_COLD (fresh names per run, default 400).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import secrets
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .load import RCODES, die_with_parent, encode_query, read_query_file

HITS = max(100, int(os.environ.get("DNS_BENCH_LATENCY_HITS", "3000")))
COLD = max(50, int(os.environ.get("DNS_BENCH_LATENCY_COLD", "400")))
HIT_TIMEOUT = 1.0
COLD_TIMEOUT = 5.0
MAX_SECONDS = 60.0           # a run stops after this long whatever is left


def percentile(values: Sequence[float], q: float) -> float:
    """The *q*-th percentile (0-100) with linear interpolation between closest ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass(slots=True)
class Latency:
    """One run of the client against one resolver; latencies in microseconds."""

    samples: list[float]
    lost: int
    rcodes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def p50_ms(self) -> float:
        return percentile(self.samples, 50) / 1000.0

    @property
    def p99_ms(self) -> float:
        return percentile(self.samples, 99) / 1000.0

    @property
    def servfail(self) -> int:
        return self.rcodes.get("SERVFAIL", 0)


def measure(ports: Sequence[int], query_file: Path, *, pin: list[str], count: int,
            once: bool, timeout: float, cwd: Path | None = None) -> dict[int, Latency]:
    """Run the client (pinned with *pin*) for *count* queries of *query_file* to every
    port in turn (see :func:`run_client`); port -> its figures."""
    argv = [*pin, sys.executable, "-m", "tests.bench.latency",
            *(a for port in ports for a in ("--port", str(port))),
            "--file", str(query_file), "--count", str(count), "--timeout", f"{timeout:g}",
            "--max-seconds", f"{MAX_SECONDS:g}"]
    if once:
        argv.append("--once")
    done = subprocess.run(argv, capture_output=True, text=True, cwd=cwd,
                          preexec_fn=die_with_parent,
                          timeout=MAX_SECONDS + len(ports) * timeout + 30, check=False)
    try:
        data = json.loads(done.stdout.strip().splitlines()[-1])
        return {int(port): Latency([float(v) for v in fig["latencies_us"]], int(fig["lost"]),
                                   {str(k): int(v) for k, v in fig["rcodes"].items()},
                                   float(data["seconds"]))
                for port, fig in data["ports"].items()}
    except (IndexError, KeyError, ValueError) as exc:
        raise RuntimeError(f"latency client failed (exit {done.returncode}): "
                           f"{done.stderr[-400:]}") from exc


def alternate(ports: dict[str, int], make_file: Callable[[int], Path], *, runs: int,
              pin: list[str], count: int, once: bool, timeout: float, kind: str,
              progress: Callable[[str], None], cwd: Path | None = None,
              ) -> dict[str, list[Latency]]:
    """*runs* runs of the client, each sending every query to every resolver in turn
    (label -> port), so that both see the same state of the machine; label -> runs."""
    out: dict[str, list[Latency]] = {label: [] for label in ports}
    for i in range(runs):
        figures = measure(list(ports.values()), make_file(i), pin=pin, count=count,
                          once=once, timeout=timeout, cwd=cwd)
        for label, port in ports.items():
            lat = figures[port]
            if not lat.samples:
                raise RuntimeError(f"{label} answered no {kind} latency query")
            out[label].append(lat)
            progress(f"{kind} latency run {i + 1}/{runs} {label}: p50 {lat.p50_ms:.3f} ms, "
                     f"p99 {lat.p99_ms:.3f} ms, {len(lat.samples)} answers, lost {lat.lost}"
                     + (f", SERVFAIL {lat.servfail}" if lat.servfail else ""))
    return out


# ---------------------------------------------------------------------------- client
def _one(sock: socket.socket, wire: bytes, qid: int, timeout: float) -> tuple[float, int]:
    """Send *wire*, wait for the reply with *qid*: (microseconds, rcode), or (-1, -1)."""
    clock = time.perf_counter_ns
    t0 = clock()
    sock.send(wire)
    limit = t0 + int(timeout * 1e9)
    while True:
        left = (limit - clock()) / 1e9
        if left <= 0:
            return -1.0, -1
        sock.settimeout(left)
        try:
            reply = sock.recv(65535)
        except (TimeoutError, ConnectionRefusedError):
            return -1.0, -1
        t1 = clock()
        if len(reply) >= 12 and (reply[0] << 8 | reply[1]) == qid:
            return (t1 - t0) / 1000.0, reply[3] & 0x0F


def run_client(host: str, ports: Sequence[int], queries: list[bytes], count: int,
               once: bool, timeout: float, max_seconds: float) -> dict[str, object]:
    """One query outstanding at a time. Query *i* goes to every port in turn, in
    alternating order (ours, Unbound; Unbound, ours; ...), before query *i* + 1; with
    ``once`` every port gets the same fresh names (each resolver has its own cache).
    Returns the figures printed as JSON."""
    latencies: dict[int, list[float]] = {p: [] for p in ports}
    rcodes: dict[int, dict[str, int]] = {p: {} for p in ports}
    lost = dict.fromkeys(ports, 0)
    total = min(count, len(queries)) if once else count
    first = secrets.randbelow(65536)     # stale replies of an earlier run do not match
    start = time.monotonic()
    deadline = start + max_seconds
    socks = {}
    gc.disable()
    try:
        for port in ports:
            socks[port] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks[port].connect((host, port))
        for i in range(total):
            if time.monotonic() >= deadline:
                break
            qid = (first + i) & 0xFFFF
            wire = struct.pack("!H", qid) + queries[i % len(queries)]
            for port in (ports if i % 2 == 0 else list(reversed(ports))):
                micros, rcode = _one(socks[port], wire, qid, timeout)
                if micros < 0:
                    lost[port] += 1
                    continue
                latencies[port].append(round(micros, 2))
                name = RCODES.get(rcode, str(rcode))
                rcodes[port][name] = rcodes[port].get(name, 0) + 1
    finally:
        gc.enable()
        for sock in socks.values():
            sock.close()
    return {"seconds": round(time.monotonic() - start, 6),
            "ports": {str(p): {"lost": lost[p], "rcodes": rcodes[p],
                               "latencies_us": latencies[p]} for p in ports}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="one-query-at-a-time DNS latency client")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, action="append", required=True,
                   help="a server to time (repeatable: each query goes to each in turn)")
    p.add_argument("--file", type=Path, required=True, help="NAME TYPE per line")
    p.add_argument("--count", type=int, default=HITS, help="queries to send")
    p.add_argument("--once", action="store_true", help="send each line at most once")
    p.add_argument("--timeout", type=float, default=COLD_TIMEOUT,
                   help="seconds before a query is lost")
    p.add_argument("--max-seconds", type=float, default=MAX_SECONDS,
                   help="stop after this long (at most 120)")
    args = p.parse_args(argv)
    if not args.host.startswith("127."):
        p.error("only loopback (127.0.0.0/8) targets are allowed")
    queries = [encode_query(n, t)[2:] for n, t in read_query_file(args.file)]
    if not queries:
        p.error(f"{args.file}: no queries")
    result = run_client(args.host, args.port, queries, max(1, args.count), args.once,
                        args.timeout, min(args.max_seconds, 120.0))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
