"""``make bench`` section: memory per cached answer, ours next to Unbound.

Each resolver gets caches far larger than the workload (ours ``--cache-size``, Unbound's
``rrset-cache-size`` and ``msg-cache-size``, see below), is primed (the keys of the NSEC3
zone and a few hundred wildcard names, so that code paths, the key cache and the
allocators are warm), and then receives N fresh names under the NSEC3 wildcard
(``c<random>-NNNNNN.wild.nsec3.example. A``, each once) with few queries outstanding, so
that in-flight state stays small next to the cache. The figure is

    (VmRSS after - VmRSS before) / answers received

with VmRSS from ``/proc/PID/status``, read half a second after the last answer. The N
names are sent in rounds (alternating ours, Unbound, ours, ...); each round's figure is a
raw run, the headline is the whole growth over all N answers.

What one answer leaves in memory (both resolvers validate it, AD):

* ours: an entry in the RRset cache (the expanded A RRset with its RRSIG, the zone, the
  security status), one in the message cache (the answer's wire form ready to be sent,
  with its TTL offsets), and whatever else grows per name (nothing else should: the
  NSEC3 records of the proof are few and shared, the key cache holds one zone). Equal
  parts are kept once: the RDATA and RRSIG of the expansions (the wildcard's own), the
  head of the wire answer (header and answer section, the owner being a pointer to the
  question) and its tail (authority and additional sections: the proof), per second.
  The entry counts and the caches' own byte accounting come from ``/metrics``; for
  where the bytes go, run ``python -m tests.bench.memory_breakdown`` (the same
  workload in-process, under tracemalloc).
* Unbound: an rrset-cache entry (the A RRset and its RRSIG) and a message-cache entry
  (the reply skeleton pointing at rrsets), from ``unbound-control stats_noreset``
  (``rrset.cache.count``, ``msg.cache.count``, ``mem.cache.rrset``, ``mem.cache.message``;
  ``extended-statistics: yes`` is set for them) when ``unbound-control`` is installed.

The wildcard workload flatters sharing: every answer has the same record and RRSIG and
one of a few proofs. So a second workload follows with N distinct names
(``dNNNNNN.<zone> A`` in the five zones of the cold algorithm mix, RSA, ECDSA and
Ed25519), each with an A RRset and an RRSIG of its own: nothing is shared between two
answers there but the zone's keys, in either resolver.

Knobs (environment): DNS_BENCH_MEMORY_NAMES (N, default 20000), DNS_BENCH_MEMORY_ROUNDS
(default 2), DNS_BENCH_MEMORY_DISTINCT=0 to skip the distinct names,
DNS_BENCH_UNBOUND=0 to skip the reference. Run alone with
``python -m tests.bench.dns_bench memory``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from . import load as loadgen
from . import report, workloads
from .resolvers import (
    ROOT,
    ZONES,
    BenchError,
    Environment,
    Proc,
    Server,
    TestNet,
    free_port,
    pinning,
    port53_problem,
    progress,
    start_testnet,
    unbound_config,
    unbound_version,
    wait_answering,
)

Row = tuple[str, str, str, str]
Counts = dict[str, float]

NAMES = max(100, int(os.environ.get("DNS_BENCH_MEMORY_NAMES", "20000")))
ROUNDS = max(1, int(os.environ.get("DNS_BENCH_MEMORY_ROUNDS", "2")))
WITH_UNBOUND = os.environ.get("DNS_BENCH_UNBOUND", "1") != "0"
DISTINCT = os.environ.get("DNS_BENCH_MEMORY_DISTINCT", "1") != "0"
GOAL = 2.0                    # issue 18: at most 2x Unbound's bytes per cached answer
OUTSTANDING = 20              # bounded concurrency: in-flight state stays small
PRIME_NAMES = 500
SETTLE = 0.5                  # seconds between the last answer and reading VmRSS
ROUND_LIMIT = 300.0           # seconds a round may take at most
OUR_CACHE_MB = 1024           # --cache-size: ~20x what 20,000 answers need by its accounting
UNBOUND_RRSET_CACHE = "512m"  # Unbound's defaults are 4m each: ~10,000 answers
UNBOUND_MSG_CACHE = "256m"
UNBOUND_KEYS = ("rrset.cache.count", "msg.cache.count", "key.cache.count",
                "infra.cache.count", "mem.cache.rrset", "mem.cache.message",
                "mem.mod.validator", "mem.mod.iterator")


# ---------------------------------------------------------------------------- figures
def rss_kib(pid: int) -> int:
    """VmRSS of a process in KiB (resident memory, as /proc/PID/status gives it)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise BenchError(f"no VmRSS for process {pid}")


def parse_prometheus(text: str, names: tuple[str, ...]) -> Counts:
    """``name{label="x"} value`` lines of the metric families *names* as
    ``{"name/x": value}`` (``name`` alone when there is no label)."""
    out: Counts = {}
    pattern = re.compile(r'^([a-z_]+)(?:\{[a-z_]+="([^"]*)"\})?\s+(\S+)$')
    for line in text.splitlines():
        match = pattern.match(line)
        if match and match.group(1) in names:
            key = match.group(1) + (f"/{match.group(2)}" if match.group(2) else "")
            with contextlib.suppress(ValueError):
                out[key] = float(match.group(3))
    return out


def parse_unbound_stats(text: str) -> Counts:
    out: Counts = {}
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key in UNBOUND_KEYS:
            with contextlib.suppress(ValueError):
                out[key] = float(value)
    return out


@dataclass(slots=True)
class Round:
    sent: int
    answers: int
    noerror_ad: int               # answers checked by a sample (see below)
    rss_before: int               # KiB
    rss_after: int
    counts_before: Counts
    counts_after: Counts
    seconds: float
    rcodes: str

    @property
    def bytes_per_answer(self) -> float:
        if not self.answers:
            return float("nan")
        return (self.rss_after - self.rss_before) * 1024 / self.answers


@dataclass(slots=True)
class Subject:
    server: Server
    counts: Callable[[], Counts]   # cache entry counts and own accounting, {} if unknown
    config: str                    # what was set to make the caches large enough
    source: str                    # where counts come from
    rounds: list[Round] = field(default_factory=list)


# ---------------------------------------------------------------------------- processes
def _help_text() -> str:
    done = subprocess.run([sys.executable, "-m", "resolver", "serve", "--help"],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    return done.stdout


def _metrics(port: int) -> Counts:
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as reply:   # loopback only
        text = reply.read().decode("utf-8", "replace")
    return parse_prometheus(text, ("resolver_cache_entries", "resolver_cache_bytes",
                                   "resolver_cache_evictions",
                                   "resolver_cache_entries_infra"))


def start_ours(stack: contextlib.ExitStack, workdir: Path, net: TestNet,
               pin: list[str]) -> Subject:
    """Our resolver with a cache of OUR_CACHE_MB and /metrics on a loopback port."""
    port = free_port()
    help_text = _help_text()
    argv = [*pin, sys.executable, "-m", "resolver", "serve",
            "--listen", f"127.0.0.1:{port}", "--root-hints", str(net.hints),
            "--trust-anchor", str(net.ds), "--allow-loopback-upstream"]
    if "--api" in help_text:
        argv += ["--api", "off"]
    config = "default cache size (no --cache-size option)"
    if "--cache-size" in help_text:
        argv += ["--cache-size", str(OUR_CACHE_MB)]
        config = f"--cache-size {OUR_CACHE_MB} (MB)"
    metrics_port = free_port() if "--metrics" in help_text else None
    if metrics_port is not None:
        argv += ["--metrics", f"127.0.0.1:{metrics_port}"]
    if net.port != 53:
        argv += ["--upstream-port", str(net.port)]
    if "--config" in help_text:
        # every fresh wildcard name must be fetched and cached as its own answer, as in
        # Unbound 1.17 (no aggressive NSEC3): aggressive use of the cache is off here
        conf = workdir / "ours-memory.toml"
        conf.write_text("aggressive-nsec = false\n")
        argv += ["--config", str(conf)]
        config += "; aggressive-nsec = false"
    proc = Proc("our resolver", argv, workdir / "ours-memory.log")
    stack.callback(proc.stop)
    wait_answering("our resolver", proc, port, timeout=60.0)
    server = Server("ours", "python -m resolver serve", proc, port)

    def counts() -> Counts:
        if metrics_port is None:
            return {}
        try:
            return _metrics(metrics_port)
        except OSError as exc:
            progress(f"our /metrics: {exc}")
            return {}

    return Subject(server, counts, config,
                   "/metrics (resolver_cache_entries, resolver_cache_bytes)"
                   if metrics_port is not None else "none (no --metrics option)")


def start_unbound(stack: contextlib.ExitStack, workdir: Path, net: TestNet,
                  pin: list[str]) -> Subject:
    """Unbound as in resolvers.py, with large caches and remote control on a Unix socket."""
    exe = shutil.which("unbound")
    if exe is None:
        raise BenchError("unbound is not installed")
    udir = workdir / "unbound-memory"
    udir.mkdir()
    port = free_port()
    control = shutil.which("unbound-control")
    sock = udir / "control.sock"
    base = unbound_config(udir, port, net)
    marker = "remote-control:\n    control-enable: no\n"
    if marker not in base:
        raise BenchError("unexpected unbound.conf layout (no remote-control block)")
    sizes = (f"    rrset-cache-size: {UNBOUND_RRSET_CACHE}\n"
             f"    msg-cache-size: {UNBOUND_MSG_CACHE}\n"
             + ("    extended-statistics: yes\n" if control is not None else ""))
    remote = (f"remote-control:\n    control-enable: yes\n    control-interface: {sock}\n"
              "    control-use-cert: no\n" if control is not None else marker)
    conf = udir / "unbound.conf"
    conf.write_text(base.replace(marker, sizes + remote))
    checkconf = shutil.which("unbound-checkconf")
    if checkconf is not None:
        done = subprocess.run([checkconf, str(conf)], capture_output=True, text=True,
                              timeout=30)
        if done.returncode != 0:
            raise BenchError(f"unbound-checkconf: {done.stdout}{done.stderr}")
    proc = Proc("Unbound", [*pin, exe, "-d", "-c", str(conf)], udir / "stdout.log")
    stack.callback(proc.stop)
    wait_answering("Unbound", proc, port)
    server = Server(f"Unbound {unbound_version() or '?'}", "1 thread", proc, port)

    def counts() -> Counts:
        if control is None:
            return {}
        done = subprocess.run([control, "-c", str(conf), "stats_noreset"],
                              capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            progress(f"unbound-control: {(done.stderr or done.stdout).strip()[:200]}")
            return {}
        return parse_unbound_stats(done.stdout)

    return Subject(server, counts,
                   f"rrset-cache-size {UNBOUND_RRSET_CACHE}, msg-cache-size "
                   f"{UNBOUND_MSG_CACHE}",
                   "unbound-control stats_noreset" if control is not None
                   else "none (unbound-control not installed)")


@contextlib.contextmanager
def memory_environment(with_unbound: bool = True,
                       make_zones: Callable[[Path], Path] | None = None
                       ) -> Iterator[tuple[Environment, list[Subject]]]:
    """Like resolvers.environment(), with large caches and cache counters; every
    process is stopped and the temp dir removed on exit, errors included. *make_zones*
    (given the temp dir) returns another hierarchy than zones/ to serve."""
    workdir = Path(tempfile.mkdtemp(prefix="resolver-bench-mem-"))
    notes: list[str] = []
    try:
        with contextlib.ExitStack() as stack:
            pin = pinning()
            run_unbound = with_unbound
            if not with_unbound:
                notes.append("reference not run (DNS_BENCH_UNBOUND=0)")
            elif shutil.which("unbound") is None:
                notes.append("reference missing: unbound is not installed "
                             "(apt-get install unbound)")
                run_unbound = False
            problem = port53_problem() if run_unbound else None
            if problem is not None:
                notes.append(f"Unbound skipped: {problem}; Unbound follows referrals to "
                             "port 53 only")
                run_unbound = False
            progress("memory: starting the test network (signing zones/)")
            zones = make_zones(workdir) if make_zones is not None else ZONES
            net = start_testnet(stack, workdir, 53 if run_unbound else 0, pin, zones)
            subjects = [start_ours(stack, workdir, net, pin.server)]
            if run_unbound:
                subjects.append(start_unbound(stack, workdir, net, pin.server))
            env = Environment(workdir, pin, net, [s.server for s in subjects], notes)
            yield env, subjects
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# ---------------------------------------------------------------------------- measure
def _round(env: Environment, subject: Subject, queries: list[workloads.Query]) -> Round:
    server = subject.server
    path = workloads.write_queries(env.workdir / f"mem-{workloads.new_tag()}.txt", queries)
    before = rss_kib(server.proc.pid)
    counts_before = subject.counts()
    t0 = time.monotonic()
    result = loadgen.run_load(server.port, path, ROUND_LIMIT, pin=env.pin.load,
                              outstanding=OUTSTANDING, once=True, timeout=5.0, cwd=ROOT)
    seconds = time.monotonic() - t0
    time.sleep(SETTLE)
    after = rss_kib(server.proc.pid)
    counts_after = subject.counts()
    if result.completed == 0:
        raise BenchError(f"{server.label} answered no query ({result.command})")
    return Round(result.sent, result.completed, _ad_sample(server.port, path), before,
                 after, counts_before, counts_after, seconds, result.rcodes)


def _ad_sample(port: int, path: Path, count: int = 20) -> int:
    """How many of *count* names from the round, asked again, come back NOERROR with
    AD: checks that what was cached is the validated answer."""
    queries = loadgen.read_query_file(path)
    step = max(1, len(queries) // count)
    good = 0
    for name, qtype in queries[::step][:count]:
        reply = loadgen.ask(port, name, qtype, timeout=5.0)
        if reply is not None and loadgen.summary(reply)[:2] == ("NOERROR", True):
            good += 1
    return good


def _delta(subject: Subject, key: str) -> float | None:
    first, last = subject.rounds[0].counts_before, subject.rounds[-1].counts_after
    if key not in first or key not in last:
        return None
    return last[key] - first[key]


def _counts_note(subject: Subject, answers: int) -> str:
    if not subject.rounds[-1].counts_after:
        return f"cache counters: {subject.source}"
    if subject.server.label == "ours":
        parts = []
        for cache in ("rrset", "message", "negative", "key"):
            d = _delta(subject, f"resolver_cache_entries/{cache}")
            if d is not None:
                parts.append(f"{cache} {d:+.0f}")
        note = "cache entries " + ", ".join(parts)
        own = sum(_delta(subject, f"resolver_cache_bytes/{c}") or 0.0
                  for c in ("rrset", "message", "negative", "key"))
        note += f"; the caches' own accounting {own / answers:.0f} bytes/answer"
        evicted = sum(_delta(subject, f"resolver_cache_evictions/{c}") or 0.0
                      for c in ("rrset", "message", "negative", "key"))
        note += f"; evictions {evicted:.0f}"
        return note
    parts = []
    for key, name in (("rrset.cache.count", "rrset"), ("msg.cache.count", "message"),
                      ("key.cache.count", "key")):
        d = _delta(subject, key)
        if d is not None:
            parts.append(f"{name} {d:+.0f}")
    note = "cache entries " + ", ".join(parts)
    own = sum(_delta(subject, k) or 0.0 for k in ("mem.cache.rrset", "mem.cache.message"))
    return note + f"; Unbound's own mem.cache.rrset+message {own / answers:.0f} bytes/answer"


def _measure(env: Environment, subjects: list[Subject], prime: list[workloads.Query],
             warm: list[workloads.Query], rounds: list[list[workloads.Query]]) -> None:
    """Prime each resolver (*prime* one by one, then *warm* under load), then the
    *rounds*, alternating resolvers: every resolver asks every name once."""
    for subject in subjects:
        label = subject.server.label
        progress(f"memory: priming {label} ({len(warm)} names)")
        outcome = workloads.ask_all(subject.server.port, prime)[prime[-1]]
        if outcome.rcode != "NOERROR":
            raise BenchError(f"{label}: priming answer {outcome}")
        path = workloads.write_queries(env.workdir / f"prime-{label[:5]}.txt", warm)
        loadgen.run_load(subject.server.port, path, 60.0, pin=env.pin.load,
                         outstanding=OUTSTANDING, once=True, timeout=5.0, cwd=ROOT)
        subject.counts()           # the first scrape's own allocations, out of the way
    for i, queries in enumerate(rounds):
        for subject in subjects:
            r = _round(env, subject, queries)
            subject.rounds.append(r)
            progress(f"memory round {i + 1}/{len(rounds)} {subject.server.label}: "
                     f"{r.answers} answers in {r.seconds:.1f} s, RSS "
                     f"{r.rss_before / 1024:.1f} -> {r.rss_after / 1024:.1f} MiB, "
                     f"{r.bytes_per_answer:.0f} bytes/answer")


def _memory() -> list[Row]:
    parents = workloads.cold_parents()
    if not parents:
        raise BenchError("zones/ has no wildcard in a secure NSEC3 zone")
    names = [p.name for p in parents]
    size = NAMES // ROUNDS
    with memory_environment(WITH_UNBOUND) as (env, subjects):
        prime = [*((p.zone, "DNSKEY") for p in parents),
                 *workloads.cold_queries(workloads.new_tag(), 3, names)]
        warm = workloads.cold_queries(workloads.new_tag(), PRIME_NAMES, names)
        rounds = [workloads.cold_queries(workloads.new_tag(), size, names)
                  for _ in range(ROUNDS)]
        _measure(env, subjects, prime, warm, rounds)
        return _rows(env, subjects, "mem_answer", "wildcard")


def _memory_distinct() -> list[Row]:
    """The same figure over names that each have an RRset and RRSIG of their own (no
    wildcard: nothing in one answer is shared with another but the zone's keys), in the
    five zones of the cold algorithm mix (RSA, ECDSA and Ed25519 signatures)."""
    from . import cold_mix
    zones = [mz.zone for mz in cold_mix.MIX]
    size = NAMES // ROUNDS
    per_zone = -(-(NAMES + PRIME_NAMES + len(zones)) // len(zones))
    queries = [(f"d{i // len(zones):06d}.{zones[i % len(zones)]}", "A")
               for i in range(per_zone * len(zones))]
    with memory_environment(WITH_UNBOUND, lambda w: cold_mix.make_zones(w, per_zone)) \
            as (env, subjects):
        prime = [*((z, "DNSKEY") for z in zones), *queries[:len(zones)]]
        warm = queries[len(zones):len(zones) + PRIME_NAMES]
        start = len(zones) + PRIME_NAMES
        rounds = [queries[start + i * size:start + (i + 1) * size] for i in range(ROUNDS)]
        _measure(env, subjects, prime, warm, rounds)
        return _rows(env, subjects, "mem_answer_dist", "distinct")


def _rows(env: Environment, subjects: list[Subject], key: str, kind: str) -> list[Row]:
    rows: list[Row] = []
    whole: dict[str, float] = {}
    for s in subjects:
        answers = sum(r.answers for r in s.rounds)
        growth = s.rounds[-1].rss_after - s.rounds[0].rss_before
        whole[s.server.label] = growth * 1024 / answers
        per_round = [r.bytes_per_answer for r in s.rounds]
        checked = sum(r.noerror_ad for r in s.rounds)
        note = (f"RSS {s.rounds[0].rss_before / 1024:.1f} -> "
                f"{s.rounds[-1].rss_after / 1024:.1f} MiB over {answers} answers; rounds "
                + " / ".join(f"{v:.0f}" for v in per_round)
                + f"; {_counts_note(s, answers)}; re-asked {checked} of "
                  f"{20 * len(s.rounds)} sampled names: NOERROR AD; rcodes "
                + "; ".join(r.rcodes for r in s.rounds))
        rows.append((f"{kind}: memory per cached answer, bytes: {s.server.label}",
                     f"{whole[s.server.label]:.0f}", f"{min(per_round):.0f}", note))
    report.record(key, {s.server.label: [r.bytes_per_answer for r in s.rounds]
                        for s in subjects}, headline=whole,
                  detail=f"{NAMES} fresh {kind} names, {OUTSTANDING} outstanding")
    if len(subjects) > 1:
        ratio = whole[subjects[0].server.label] / whole[subjects[1].server.label]
        rows.append((f"{kind}: memory per cached answer ratio ours/Unbound", f"{ratio:.2f}",
                     "", f"goal <= {GOAL} (issue 18): " + ("met" if ratio <= GOAL
                                                             else "NOT met")))
    else:
        why = "; ".join(env.notes) or "reference missing"
        report.record_no_reference(why)
        rows.append(("Unbound (reference)", "-", "-", f"no comparison: {why}"))
    use_dnsperf = (loadgen.dnsperf_path() is not None
                   and os.environ.get("DNS_BENCH_LOADGEN") != "python")
    tool = loadgen.dnsperf_version() if use_dnsperf else "python load generator"
    rows += [
        ("method", "", "", (f"{NAMES} fresh names c<random>-NNNNNN under the NSEC3 wildcard, "
                            if kind == "wildcard" else
                            f"{NAMES} names dNNNNNN.<zone> of the five cold-mix zones "
                            "(RSA, ECDSA, Ed25519), each with its own A RRset and RRSIG, ")
                           + f"type A, each once, {OUTSTANDING} outstanding ({tool}), in "
                           f"{ROUNDS} alternating rounds; figure = VmRSS growth / answers "
                           f"over all rounds (min column: lowest round); after priming with "
                           f"{PRIME_NAMES} names; VmRSS read {SETTLE:g} s after the last "
                           "answer"),
        ("caches", "", "", "; ".join(f"{s.server.label}: {s.config}, counters from "
                                     f"{s.source}" for s in subjects)),
        ("setup", "", "", env.pin.note),
    ]
    rows += [("note", "", "", n) for n in env.notes]
    if statistics.median(r.answers for r in subjects[0].rounds) < NAMES // ROUNDS * 0.99:
        rows.append(("note", "", "", "some names got no answer: see the rcodes"))
    return rows


def section() -> list[Row]:
    """Memory per cached answer (RSS growth / answers), ours next to Unbound: names
    under a wildcard, then distinct names (DNS_BENCH_MEMORY_DISTINCT=0 skips those)."""
    rows: list[Row] = []
    parts = [("mem_answer", _memory)]
    if DISTINCT:
        parts.append(("mem_answer_dist", _memory_distinct))
    for key, fn in parts:
        try:
            rows += fn()
        except Exception as exc:   # noqa: BLE001 - a row, not a crash of the bench (processes are stopped)
            progress(f"memory benchmark failed: {exc}")
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            report.record_error(key, first)
            rows.append(("error", "", "", f"memory benchmark ({key}): {first} "
                                          "(details on stderr)"))
    return rows
