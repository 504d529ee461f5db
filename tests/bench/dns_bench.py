"""``make bench`` sections that load a running resolver: ours next to Unbound.

Two sections, each with its own test network and resolvers (see resolvers.py):

* :func:`warm_section` (issue 4): cache hits. Names from zones/ are asked twice, then
  replayed as fast as the load generator can for a few seconds.
* :func:`cold_section` (issue 5): every query a fresh name under an NSEC3 wildcard,
  so a cache miss with one upstream query, a signature check and an NSEC3 proof.
* After the runs of each, the per-query latency (p50, p99) with one query outstanding
  (latency.py), and a third section, memory per cached answer (memory.py).

Every figure is also handed to report.py, which writes bench-report/ (run.py).

Runs alternate (ours, Unbound, ours, Unbound, ...) so slow drifts of the machine hit
both alike; each figure is the median of the runs, and the "min us" column holds the
lowest run (whatever the row's unit). CPU time per answer comes from /proc/PID/stat
of the resolver process: it is the figure that holds up best on a busy machine.

Knobs (environment): DNS_BENCH_SECONDS (default 8), DNS_BENCH_RUNS (default 3),
DNS_BENCH_UNBOUND=0 to skip the reference; latency.py and memory.py have their own.
Run alone with ``python -m tests.bench.dns_bench [warm] [cold] [memory]``.
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import latency, memory, report, workloads
from . import load as loadgen
from .resolvers import (
    CLK_TCK,
    ROOT,
    Environment,
    Server,
    core_ticks,
    environment,
    progress,
)

Row = tuple[str, str, str, str]

SECONDS = float(os.environ.get("DNS_BENCH_SECONDS", "8"))
RUNS = max(1, int(os.environ.get("DNS_BENCH_RUNS", "3")))
WITH_UNBOUND = os.environ.get("DNS_BENCH_UNBOUND", "1") != "0"
WARM_OUTSTANDING = 200
COLD_OUTSTANDING = 100
WARM_TIMEOUT = 2.0            # a cache hit not answered in 2 s is lost (dnsperf waits
COLD_TIMEOUT = 5.0            # that long for the last ones after the time limit)
COLD_NAMES = 50_000           # per run; a run that uses them all up says so
WARM_GOAL = 0.8               # issue 18: at least 0.8x Unbound's cache-hit queries/s
COLD_GOAL = 2.0               # issue 5: at most 2x Unbound's CPU per cold answer


@dataclass(slots=True)
class Run:
    load: loadgen.LoadResult
    cpu: float                # CPU seconds of the resolver during the run
    upstream_cpu: float       # CPU seconds of the test network during the run
    upstream: int             # queries the test network logged during the run
    wall: float
    other: float              # share of the resolver's core used by anything else
    steal: float              # share of the resolver's core stolen by the hypervisor
    probe: str = ""           # after a run with SERVFAILs: what a fresh query gets

    @property
    def servfail(self) -> float:
        match = re.search(r"SERVFAIL (\d+)", self.load.rcodes)
        count = int(match.group(1)) if match else 0
        return count / self.load.completed if self.load.completed else 0.0

    @property
    def us_per_answer(self) -> float:
        return self.cpu / self.load.completed * 1e6 if self.load.completed else float("nan")

    @property
    def busy(self) -> float:
        return self.cpu / self.load.seconds if self.load.seconds else 0.0


def _measure(env: Environment, server: Server, path: Path, *, outstanding: int,
             once: bool, timeout: float, seconds: float = SECONDS) -> Run:
    cpu0 = server.proc.cpu_seconds()
    up0 = env.net.proc.cpu_seconds()
    q0 = env.net.queries_logged()
    busy0, steal0 = core_ticks(env.pin.server_cpu)
    t0 = time.monotonic()
    result = loadgen.run_load(server.port, path, seconds, pin=env.pin.load,
                              outstanding=outstanding, once=once, timeout=timeout,
                              cwd=ROOT)
    wall = time.monotonic() - t0
    if result.completed == 0:
        raise RuntimeError(f"{server.label} answered no query ({result.command})")
    cpu = server.proc.cpu_seconds() - cpu0
    upstream = env.net.proc.cpu_seconds() - up0
    queries = env.net.queries_logged() - q0
    busy1, steal1 = core_ticks(env.pin.server_cpu)
    other = max(0.0, (busy1 - busy0) / CLK_TCK - cpu) / wall if wall else 0.0
    steal = (steal1 - steal0) / CLK_TCK / wall if wall else 0.0
    return Run(result, cpu, upstream, queries, wall, other, steal)


def _alternate(env: Environment, make_file: Callable[[Server, int], Path], *,
               outstanding: int, once: bool, kind: str, timeout: float,
               probe: Callable[[Server], str] | None = None) -> dict[str, list[Run]]:
    runs: dict[str, list[Run]] = {s.label: [] for s in env.servers}
    for i in range(RUNS):
        for server in env.servers:
            path = make_file(server, i)
            run = _measure(env, server, path, outstanding=outstanding, once=once,
                           timeout=timeout)
            if run.servfail > 0.01 and probe is not None:
                run.probe = probe(server)
            runs[server.label].append(run)
            progress(f"{kind} run {i + 1}/{RUNS} {server.label}: "
                     f"{run.load.qps:.0f}/s, {run.us_per_answer:.1f} CPU us/answer, "
                     f"core busy {run.busy:.0%}, lost {run.load.lost}, "
                     f"SERVFAIL {run.servfail:.1%}" + (f"; then {run.probe}" if run.probe else ""))
    return runs


# ---------------------------------------------------------------------------- rows
def _med(values: list[float]) -> float:
    return statistics.median(values)


def _per_run(values: list[float], fmt: str) -> str:
    return "runs " + " / ".join(format(v, fmt) for v in values)


def _figure_rows(what: str, unit_fmt: str, runs: dict[str, list[Run]],
                 value: Callable[[Run], float], extra: Callable[[list[Run]], str]) -> list[Row]:
    rows = []
    for label, rs in runs.items():
        vals = [value(r) for r in rs]
        note = _per_run(vals, unit_fmt)
        more = extra(rs)
        rows.append((f"{what}: {label}", format(_med(vals), unit_fmt),
                     format(min(vals), unit_fmt), f"{note}; {more}" if more else note))
    return rows


def _ratio(runs: dict[str, list[Run]], value: Callable[[Run], float]) -> float | None:
    labels = list(runs)
    if len(labels) < 2:
        return None
    ours = _med([value(r) for r in runs[labels[0]]])
    ref = _med([value(r) for r in runs[labels[1]]])
    return ours / ref if ref else None


def _busy_note(rs: list[Run]) -> str:
    return (f"resolver core busy {_med([r.busy for r in rs]):.0%}, other load there "
            f"{_med([r.other for r in rs]):.0%}"
            + (f", steal {_med([r.steal for r in rs]):.0%}"
               if max(r.steal for r in rs) > 0.01 else ""))


def _loss_note(rs: list[Run]) -> str:
    note = (f"lost {sum(r.load.lost for r in rs)}; SERVFAIL per run "
            + " / ".join(f"{r.servfail:.1%}" for r in rs))
    probes = [f"run {i}: {r.probe}" for i, r in enumerate(rs, 1) if r.probe]
    if probes:
        note += "; a fresh query after the run got " + "; ".join(probes)
    return note


def _upstream_note(rs: list[Run]) -> str:
    note = f"test network CPU {_med([r.upstream_cpu / r.wall for r in rs]):.0%} of a core"
    per = [r.upstream / r.load.completed for r in rs if r.load.completed]
    if per and any(r.upstream for r in rs):
        note += f", {_med(per):.2f} upstream queries per answer"
    return note


def _method(env: Environment, runs: dict[str, list[Run]], outstanding: int,
            extra: str) -> list[Row]:
    first = next(iter(runs.values()))[0].load
    tool = first.tool if first.tool != "dnsperf" else loadgen.dnsperf_version()
    servers = "; ".join(f"{s.label} = {s.detail}" for s in env.servers)
    rows: list[Row] = [
        ("method", "", "", f"{tool}, {outstanding} outstanding, RD+DO; {RUNS} alternating "
                           f"runs x {SECONDS:g} s per resolver; medians, min column = "
                           f"lowest run"),
        ("setup", "", "", f"{env.pin.note}; {servers}"),
        ("command", "", "", first.command),
    ]
    if extra:
        rows.append(("workload", "", "", extra))
    try:
        load = os.getloadavg()[0]
        rows.append(("machine", "", "", f"load average {load:.1f} at the end "
                                        f"({os.cpu_count()} CPUs)"))
    except OSError:  # pragma: no cover
        pass
    if env.reference is not None:
        rows += [("note", "", "", n) for n in env.notes]
    return rows


def _reference_rows(env: Environment) -> list[Row]:
    if env.reference is not None:
        return []
    why = "; ".join(env.notes) or "reference missing"
    report.record_no_reference(why)
    return [("Unbound (reference)", "-", "-", f"no comparison: {why}")]


def _guarded(name: str, body: Callable[[], list[Row]], keys: tuple[str, ...] = ()
             ) -> list[Row]:
    """A failure becomes a row (after every process is stopped), not a crash of the bench;
    the report's metrics *keys* are then marked as not measured."""
    try:
        return body()
    except Exception as exc:   # noqa: BLE001 - reported as a row; the rest of the bench goes on
        progress(f"{name} failed: {exc}")
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        report.record_error(keys, f"{name} failed: {first}")
        return [("error", "", "", f"{name}: {first} (details on stderr)")]


def _record(key: str, runs: dict[str, list[Run]], value: Callable[[Run], float]) -> None:
    report.record(key, {label: [value(r) for r in rs] for label, rs in runs.items()})


# ---------------------------------------------------------------------------- latency
def _latency(env: Environment, kind: str, key: str, make_file: Callable[[int], Path],
             *, count: int, once: bool, timeout: float) -> list[Row]:
    """Latency rows (p50, p99 per resolver and their ratios), one query outstanding."""
    ports = {s.label: s.port for s in env.servers}
    try:
        lat = latency.alternate(ports, make_file, runs=RUNS, pin=env.pin.load, count=count,
                                once=once, timeout=timeout, kind=kind, progress=progress,
                                cwd=ROOT)
    except Exception as exc:   # noqa: BLE001 - the throughput rows above still stand
        progress(f"{kind} latency failed: {exc}")
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        report.record_error((f"{key}_p50", f"{key}_p99"), f"{kind} latency failed: {first}")
        return [("error", "", "", f"{kind} latency: {first} (details on stderr)")]
    rows: list[Row] = []
    for pct in ("p50", "p99"):
        values = {label: [getattr(x, f"{pct}_ms") for x in runs]
                  for label, runs in lat.items()}
        report.record(f"{key}_{pct}", values)
        for label, vals in values.items():
            runs = lat[label]
            note = _per_run(vals, ".3f") + (
                f"; {_med([len(x.samples) for x in runs]):.0f} answers per run, lost "
                f"{sum(x.lost for x in runs)}, SERVFAIL {sum(x.servfail for x in runs)}")
            rows.append((f"{kind} latency {pct}, ms: {label}", f"{_med(vals):.3f}",
                         f"{min(vals):.3f}", note))
        if len(values) > 1:
            first_label, second = list(values)[:2]
            ratio = _med(values[first_label]) / _med(values[second])
            rows.append((f"{kind} latency {pct} ratio ours/Unbound", f"{ratio:.2f}", "", ""))
    rows.append(("latency method", "", "",
                 f"python -m tests.bench.latency: one query outstanding (blocking UDP "
                 f"client, RD+DO), each query to every resolver in turn (alternating "
                 f"order), {count} {'fresh names' if once else 'queries'} per run and "
                 f"resolver, {RUNS} runs, p50/p99 of each run, medians; timeout "
                 f"{timeout:g} s; client on the load core"))
    return rows


# ---------------------------------------------------------------------------- warm
def _warm() -> list[Row]:
    with environment(WITH_UNBOUND) as env:
        queries = workloads.warm_queries()
        outcomes = {}
        for server in env.servers:
            progress(f"warming {server.label} with {len(queries)} names")
            outcomes[server.label] = workloads.ask_all(server.port, queries)
        bad = {q for res in outcomes.values() for q, o in res.items()
               if o.rcode in ("SERVFAIL", "timeout")}
        keep = [q for q in queries if q not in bad]
        if not keep:
            raise RuntimeError("no warm name answered by every resolver")
        labels = list(outcomes)
        differ = [q for q in keep if len({str(outcomes[lb][q]) for lb in labels}) > 1]
        for server in env.servers:    # a second pass: every name is now a cache hit
            workloads.ask_all(server.port, keep)
        path = workloads.write_queries(env.workdir / "warm.txt", keep)
        runs = _alternate(env, lambda s, i: path, outstanding=WARM_OUTSTANDING, once=False,
                          kind="warm", timeout=WARM_TIMEOUT)
        rows = _figure_rows("cache hits, queries/s", ".0f", runs, lambda r: r.load.qps,
                            _busy_note) + _reference_rows(env)
        q_ratio = _ratio(runs, lambda r: r.load.qps)
        if q_ratio is not None:
            rows.append(("cache hits, queries/s ratio ours/Unbound", f"{q_ratio:.2f}", "",
                         f"goal >= {WARM_GOAL} (issue 18): "
                         + ("met" if q_ratio >= WARM_GOAL else "NOT met")))
        rows += _figure_rows("CPU us per answer", ".1f", runs, lambda r: r.us_per_answer,
                             _loss_note)
        c_ratio = _ratio(runs, lambda r: r.us_per_answer)
        if c_ratio is not None:
            rows.append(("CPU us per answer ratio ours/Unbound", f"{c_ratio:.2f}", "",
                         f"one busy core answers {1 / c_ratio:.2f}x Unbound's cache hits"))
        _record("warm_qps", runs, lambda r: r.load.qps)
        _record("warm_cpu", runs, lambda r: r.us_per_answer)
        rows += _latency(env, "cache-hit", "lat_hit", lambda i: path,
                         count=latency.HITS, once=False, timeout=latency.HIT_TIMEOUT)
        info = (f"{len(keep)} names (A, AAAA, MX, TXT, TLSA, SMIMEA, DNSKEY, wildcard, "
                f"CNAME, DNAME, NODATA, NXDOMAIN) from {len(workloads.MAIL_ZONES)} mail "
                f"zones + example./internal., asked twice before the runs")
        if bad:
            info += f"; dropped (SERVFAIL/timeout): {', '.join(f'{n} {t}' for n, t in bad)}"
        if differ and len(labels) > 1:
            shown = ", ".join(f"{n} {t} ({' vs '.join(str(outcomes[lb][(n, t)]) for lb in labels)})"
                              for n, t in differ[:4])
            info += f"; {len(differ)} answered differently: {shown}"
        return rows + _method(env, runs, WARM_OUTSTANDING, info)


def warm_section() -> list[Row]:
    """Issue 4: cache-hit queries/s and CPU per answer, ours next to Unbound."""
    return _guarded("warm cache-hit benchmark", _warm,
                    ("warm_qps", "warm_cpu", "lat_hit_p50", "lat_hit_p99"))


# ---------------------------------------------------------------------------- cold
def _cold() -> list[Row]:
    parents = workloads.cold_parents()
    if not parents:
        raise RuntimeError("zones/ has no wildcard in a secure NSEC3 zone")
    names = [p.name for p in parents]
    # every fresh name must go upstream: aggressive use of the validated cache (RFC 8198,
    # NSEC3 and wildcards) would answer them from the primed spans, so it is off on both
    # sides (tests/bench/cold_mix.py measures the defaults too)
    with environment(WITH_UNBOUND, None, "aggressive-nsec = false\n",
                     ("aggressive-nsec: no",)) as env:
        primed = {}
        for server in env.servers:
            progress(f"priming {server.label}: keys of {', '.join(p.zone for p in parents)}")
            prime = [*((p.zone, "DNSKEY") for p in parents),
                     *workloads.cold_queries(workloads.new_tag(), 2 * len(names), names)]
            primed[server.label] = workloads.ask_all(server.port, prime)[prime[-1]]
        exhausted: list[str] = []

        def make_file(server: Server, i: int) -> Path:
            tag = workloads.new_tag()
            return workloads.write_queries(env.workdir / f"cold-{tag}.txt",
                                           workloads.cold_queries(tag, COLD_NAMES, names))

        def probe(server: Server) -> str:
            name, qtype = workloads.cold_queries(workloads.new_tag(), 1, names)[0]
            reply = loadgen.ask(server.port, name, qtype, timeout=5.0)
            if reply is None:
                return "no answer in 5 s"
            rcode, ad, _ = loadgen.summary(reply)
            return " ".join([rcode + (" AD" if ad else ""), *loadgen.extended_errors(reply)])

        runs = _alternate(env, make_file, outstanding=COLD_OUTSTANDING, once=True,
                          kind="cold", timeout=COLD_TIMEOUT, probe=probe)
        for label, rs in runs.items():
            if any(r.load.sent >= COLD_NAMES for r in rs):
                exhausted.append(label)
        rows = _figure_rows("cold answers/s", ".0f", runs, lambda r: r.load.qps,
                            lambda rs: f"{_busy_note(rs)}; {_upstream_note(rs)}")
        rows += _reference_rows(env)
        q_ratio = _ratio(runs, lambda r: r.load.qps)
        if q_ratio is not None:
            rows.append(("cold answers/s ratio ours/Unbound", f"{q_ratio:.2f}", "", ""))
        rows += _figure_rows("CPU us per cold answer", ".0f", runs,
                             lambda r: r.us_per_answer, _loss_note)
        c_ratio = _ratio(runs, lambda r: r.us_per_answer)
        if c_ratio is not None:
            rows.append(("CPU us per cold answer ratio ours/Unbound", f"{c_ratio:.2f}", "",
                         f"goal <= {COLD_GOAL} (issue 5): "
                         + ("met" if c_ratio <= COLD_GOAL else "NOT met")))
        _record("cold_qps", runs, lambda r: r.load.qps)
        _record("cold_cpu", runs, lambda r: r.us_per_answer)

        def latency_file(i: int) -> Path:
            tag = workloads.new_tag()
            return workloads.write_queries(env.workdir / f"lat-{tag}.txt",
                                           workloads.cold_queries(tag, latency.COLD, names))

        rows += _latency(env, "cold", "lat_cold", latency_file, count=latency.COLD,
                         once=True, timeout=latency.COLD_TIMEOUT)
        info = (f"fresh names c<random>-NNNNNN under {', '.join(map(str, parents))}, type A, "
                f"each sent once (new names every run); priming answer: "
                + ", ".join(f"{lb} {o}" for lb, o in primed.items()))
        if exhausted:
            info += f"; name list used up by {', '.join(exhausted)} (run ended early)"
        return rows + _method(env, runs, COLD_OUTSTANDING, info)


def cold_section() -> list[Row]:
    """Issue 5: CPU per cold (validated wildcard + NSEC3) answer, ours next to Unbound."""
    return _guarded("cold-cache benchmark", _cold,
                    ("cold_qps", "cold_cpu", "lat_cold_p50", "lat_cold_p99"))


# for run.py: (title, function returning rows)
SECTIONS: list[tuple[str, Callable[[], list[Row]]]] = [
    ("resolver: warm cache hits, ours vs Unbound (issue 4)", warm_section),
    ("resolver: cold NSEC3 wildcard answers, ours vs Unbound (issue 5)", cold_section),
    ("resolver: memory per cached answer, ours vs Unbound", memory.section),
]
KEYS = ("warm", "cold", "memory")


def method_notes() -> list[str]:
    """How the DNS figures were taken, for the report."""
    tool = (loadgen.dnsperf_version() if loadgen.dnsperf_path() is not None
            and os.environ.get("DNS_BENCH_LOADGEN") != "python"
            else "the Python load generator (dnsperf not installed or not chosen)")
    return [
        f"Load: {tool}, RD+DO queries over UDP on loopback; resolvers pinned to one core, "
        "load generator, latency client and test network to the other (taskset), when "
        "there are two cores.",
        f"Warm (cache hits): 87 mail-host names asked twice first, then replayed with "
        f"{WARM_OUTSTANDING} outstanding; {RUNS} alternating runs x {SECONDS:g} s per "
        "resolver (DNS_BENCH_RUNS, DNS_BENCH_SECONDS); medians.",
        f"Cold: fresh names under the NSEC3 wildcard (ED25519), each sent once, "
        f"{COLD_OUTSTANDING} outstanding; {RUNS} alternating runs x {SECONDS:g} s; "
        "medians. Every answer needs an upstream query, a signature check and an NSEC3 "
        "proof.",
        "CPU per answer: utime+stime of the resolver process (/proc/PID/stat) during the "
        "run / answers received; it does not count time spent waiting for a CPU.",
        f"Latency: after the runs of each of those two, a blocking Python client sends one "
        f"query at a time, each to both resolvers in turn (alternating order), so both see "
        f"the same state of the machine ({latency.HITS} cache hits, or {latency.COLD} fresh "
        f"cold names, per run and resolver; DNS_BENCH_LATENCY_HITS, DNS_BENCH_LATENCY_COLD); "
        f"{RUNS} runs; p50 and p99 of each run, medians over the runs. The client's own "
        "~10-20 µs are in both resolvers' figures.",
        f"Memory: separate resolvers with caches far larger than the workload (ours "
        f"--cache-size {memory.OUR_CACHE_MB}, Unbound rrset-cache-size "
        f"{memory.UNBOUND_RRSET_CACHE}, msg-cache-size {memory.UNBOUND_MSG_CACHE}), primed; "
        f"then {memory.NAMES} fresh wildcard names (DNS_BENCH_MEMORY_NAMES), each once, "
        f"{memory.OUTSTANDING} outstanding, in {memory.ROUNDS} alternating rounds; figure = "
        "VmRSS growth (/proc/PID/status) / answers. What it counts: ours, an RRset-cache "
        "entry (A + RRSIG, zone, security status) and a message-cache entry (the answer's "
        "wire form with TTL offsets) per name, plus any other per-name growth (NSEC3 proof "
        "records are shared, so the negative/proof data hardly grows); Unbound, an "
        "rrset-cache entry and a message-cache entry per name. Entry counts are in the "
        "memory section's table.",
    ]


def main(argv: list[str] | None = None) -> int:
    from .run import _print_table

    which = (argv if argv is not None else sys.argv[1:]) or list(KEYS)
    sections = dict(zip(KEYS, SECTIONS, strict=True))
    for key in which:
        if key not in sections:
            print(f"unknown section {key!r}; choose from {', '.join(sections)}",
                  file=sys.stderr)
            return 2
        title, fn = sections[key]
        _print_table(title, fn())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
