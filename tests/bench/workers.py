"""Issue 18: ``serve --workers 1`` next to ``serve --workers 2``, cache hits under dnsperf.

Both run on the resolver core (the same pinning as the other sections; the load
generator and the test network have the other core of a 2-core machine), so what is
compared is the cost of an answer, not the use of more cores: CPU per answer (the
supervisor and all its workers, from /proc) must stay within 10 % between the two,
and both workers of ``--workers 2`` must answer (``resolver_worker_client_queries_total``
on its metrics address). dnsperf sends from CLIENTS sockets, so that SO_REUSEPORT
has several source ports to spread. Runs alternate; medians, with every run shown.

Run alone with ``python -m tests.bench.workers``.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import urllib.request
from pathlib import Path

from . import load as loadgen
from . import workloads
from .dns_bench import RUNS, SECONDS, WARM_OUTSTANDING, WARM_TIMEOUT, Row, _guarded, _med
from .resolvers import (
    CLK_TCK,
    Pinning,
    Server,
    free_port,
    pinning,
    progress,
    start_ours,
    start_testnet,
)

CLIENTS = 16                 # dnsperf sockets (source ports)
GOAL = 0.10                  # CPU per answer within 10 % (issue 18)
_WORKER = re.compile(r'^resolver_worker_client_queries_total\{worker="(\d+)"\} (\S+)$', re.M)


def _cpu(pid: int) -> float:
    """CPU seconds of *pid* and of its children (the workers) so far."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def _answers(port: int | None) -> dict[str, float]:
    """Answers per worker so far (empty for a single process)."""
    if port is None:
        return {}
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    return {w: float(v) for w, v in _WORKER.findall(text)}


def _load(server: Server, path: Path, pin: Pinning, seconds: float) -> loadgen.LoadResult:
    if loadgen.dnsperf_path() is not None and os.environ.get("DNS_BENCH_LOADGEN") != "python":
        return loadgen.run_dnsperf(server.port, path, seconds, pin=pin.load,
                                   outstanding=WARM_OUTSTANDING, clients=CLIENTS,
                                   timeout=WARM_TIMEOUT)
    return loadgen.run_load(server.port, path, seconds, pin=pin.load,
                            outstanding=WARM_OUTSTANDING, timeout=WARM_TIMEOUT)


def _workers() -> list[Row]:
    workdir = Path(tempfile.mkdtemp(prefix="resolver-bench-workers-"))
    with contextlib.ExitStack() as stack:
        pin = pinning()
        progress("workers: starting the test network")
        net = start_testnet(stack, workdir, 0, pin)
        metrics = free_port()
        one = start_ours(stack, workdir, net, pin, ("--upstream-port", str(net.port),
                                                    "--workers", "1"), "workers=1")
        two = start_ours(stack, workdir, net, pin, ("--upstream-port", str(net.port),
                                                    "--workers", "2", "--metrics",
                                                    f"127.0.0.1:{metrics}"), "workers=2")
        scrape = {one.label: None, two.label: metrics}
        queries = workloads.warm_queries()
        path = workloads.write_queries(workdir / "warm.txt", queries)
        for server in (one, two):
            workloads.ask_all(server.port, queries)
            _load(server, path, pin, 2.0)     # every worker's cache, from every socket
        qps: dict[str, list[float]] = {one.label: [], two.label: []}
        cpu: dict[str, list[float]] = {one.label: [], two.label: []}
        shares: list[dict[str, float]] = []
        lost = 0
        command = ""
        for i in range(RUNS):
            for server in (one, two):
                before, cpu0 = _answers(scrape[server.label]), _cpu(server.proc.pid)
                result = _load(server, path, pin, SECONDS)
                used = _cpu(server.proc.pid) - cpu0
                after = _answers(scrape[server.label])
                if result.completed == 0:
                    raise RuntimeError(f"{server.label} answered no query")
                qps[server.label].append(result.qps)
                cpu[server.label].append(used / result.completed * 1e6)
                lost += result.lost
                command = result.command
                if after:
                    shares.append({w: after[w] - before.get(w, 0.0) for w in after})
                progress(f"workers run {i + 1}/{RUNS} {server.label}: {result.qps:.0f}/s, "
                         f"{cpu[server.label][-1]:.1f} CPU us/answer, lost {result.lost}"
                         + (f", per worker {shares[-1]}" if after else ""))
        rows: list[Row] = []
        for label in qps:
            rows.append((f"cache hits, queries/s: {label}", f"{_med(qps[label]):.0f}",
                         f"{min(qps[label]):.0f}",
                         "runs " + " / ".join(f"{v:.0f}" for v in qps[label])))
        for label in cpu:
            rows.append((f"CPU us per answer: {label}", f"{_med(cpu[label]):.1f}",
                         f"{min(cpu[label]):.1f}",
                         "runs " + " / ".join(f"{v:.1f}" for v in cpu[label])
                         + ("; supervisor and workers" if label == two.label else "")))
        ratio = _med(cpu[two.label]) / _med(cpu[one.label])
        # each run of workers=2 next to the run of workers=1 just before it: drifts of a
        # shared machine hit both of a pair alike
        pairs = [b / a for a, b in zip(cpu[one.label], cpu[two.label], strict=True)]
        rows.append(("CPU per answer ratio workers=2 / workers=1", f"{ratio:.2f}",
                     f"{min(pairs):.2f}",
                     "ratio of medians; per pair of runs " + " / ".join(
                         f"{r:.2f}" for r in pairs) + f" (median {_med(pairs):.2f}); goal "
                     f"within {GOAL:.0%} (issue 18): "
                     + ("met" if abs(ratio - 1) <= GOAL else "NOT met")))
        q_ratio = _med(qps[two.label]) / _med(qps[one.label])
        rows.append(("queries/s ratio workers=2 / workers=1", f"{q_ratio:.2f}", "",
                     "same core for both: no gain expected here (README: Operations)"))
        both = all(len(s) == 2 and min(s.values()) > 0 for s in shares) and bool(shares)
        split = " / ".join(
            ", ".join(f"worker {w} {v / max(1.0, sum(s.values())):.0%}"
                      for w, v in sorted(s.items())) for s in shares)
        rows.append(("answers per worker (workers=2)", "", "",
                     f"{split}; both workers answering: " + ("yes" if both else "NO")))
        rows.append(("method", "", "", f"{command}; {CLIENTS} client sockets; {RUNS} "
                                       f"alternating runs x {SECONDS:g} s; {pin.note}; "
                                       f"lost {lost}"))
        return rows


def section() -> list[Row]:
    return _guarded("workers benchmark", _workers)


SECTIONS = [("workers: one process and two on the same core (issue 18)", section)]


if __name__ == "__main__":
    from .run import _print_table
    for title, fn in SECTIONS:
        _print_table(title, fn())
