"""``make bench`` section (issue 18): cold validated answers over a mix of algorithms.

The cold section of dns_bench.py asks only under an ED25519 wildcard, where the
signature check dominates. This one builds a copy of zones/ with four more signed
zones, each with a wildcard (our own signer, at test-network start-up):

=====================  =========  ===========  =======================================
zone                   algorithm  denial       where
=====================  =========  ===========  =======================================
rsa256.example.        8          NSEC         child of example.
rsa512.example.        10         NSEC3        child of example.
ecdsa256.example.      13         NSEC3        child of example.
ecdsa384.optout.ex..   14         NSEC         child of optout.example. (NSEC3 opt-out)
nsec3.example.         15         NSEC3        already in zones/
=====================  =========  ===========  =======================================

Every query is a fresh name under ``*.wild.<zone>``: a cache miss that needs an
upstream query, a signature check of the expanded wildcard and a proof that the next
closer name does not exist. Per algorithm, and for the five mixed round-robin (the
"total" row), runs alternate ours / Unbound; the figure is CPU microseconds per
answer of the resolver process (/proc/PID/stat), the median over the runs, with
every run listed. The keys of every zone are primed before the runs.

Since the validator checks a wildcard's RRSIG once per wildcard
(resolver/validate/wildcard_memo.py), those rows no longer cost a signature check per
answer, while Unbound verifies every time. The "distinct names" rows are the
like-for-like comparison: every mix zone also holds names ``dNNNNNN.<zone>``, each
with its own A RRset and its own RRSIG; every name is asked exactly once over all runs
and both resolvers (disjoint slices of the list), so each answer is a cache miss, one
upstream query and one signature check on both sides (aggressive NSEC off on both).

Knobs (environment): COLD_MIX_SECONDS (default 4) per run, DNS_BENCH_RUNS (default
3), DNS_BENCH_UNBOUND=0, COLD_MIX_DIST_NAMES (default 2500) distinct
names per run. Alone: ``python -m tests.bench.cold_mix``.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import dns_bench, report, workloads
from .dns_bench import Run
from .resolvers import ZONES, Environment, environment, progress

Row = tuple[str, str, str, str]

SECONDS = float(os.environ.get("COLD_MIX_SECONDS", "4"))
RUNS = dns_bench.RUNS
OUTSTANDING = dns_bench.COLD_OUTSTANDING
NAMES = 40_000                # per run and workload
DIST_PER_RUN = int(os.environ.get("COLD_MIX_DIST_NAMES", "2500"))
GOAL = 2.0                    # issue 18: total cold CPU per answer <= 2x Unbound's (aim 1.5x)


@dataclass(frozen=True, slots=True)
class MixZone:
    label: str                # row label, e.g. "rsasha256/NSEC"
    zone: str
    parent: str               # "" = already in zones/
    algorithm: int
    denial: str               # manifest denial column
    server: str               # test-network address serving the zone


MIX: tuple[MixZone, ...] = (
    MixZone("rsasha256/NSEC", "rsa256.example.", "example.", 8, "nsec", "127.0.0.23"),
    MixZone("rsasha512/NSEC3", "rsa512.example.", "example.", 10, "nsec3", "127.0.0.23"),
    MixZone("ecdsa256/NSEC3", "ecdsa256.example.", "example.", 13, "nsec3", "127.0.0.23"),
    MixZone("ecdsa384/NSEC, opt-out parent", "ecdsa384.optout.example.", "optout.example.",
            14, "nsec", "127.0.0.26"),
    MixZone("ed25519/NSEC3", "nsec3.example.", "", 15, "nsec3", "127.0.0.23"),
)

# Per zone: RUNS x 2 resolvers x DIST_PER_RUN for its own row, and a fifth of that
# again for the mixed total. Our signer takes ~1.5-2.5 ms per
# name for RSA-2048, ~0.6 ms for P-384, ~0.2 ms for P-256 and ED25519 (2 RRSIGs each).
# Plus one name per zone and resolver for the AD check before the runs.
DIST_PER_ZONE = RUNS * 2 * (DIST_PER_RUN + -(-DIST_PER_RUN // len(MIX))) + 2


def _zone_text(mz: MixZone) -> str:
    return (f"; cold_mix.py: {mz.label}\n$ORIGIN {mz.zone}\n$TTL 3600\n"
            "@ SOA ns1 hostmaster 2026120601 3600 900 1209600 300\n"
            "@ NS ns1\n"
            f"ns1 A {mz.server}\n"
            "www A 192.0.2.40\n"
            "*.wild A 192.0.2.41\n"
            "*.wild TXT \"wildcard\"\n")


def _dist_name(mz: MixZone, i: int) -> str:
    return f"d{i:06d}.{mz.zone}"


def _dist_records(count: int) -> str:
    return "".join(f"d{i:06d} A 192.0.2.{i % 250 + 1}\n" for i in range(count))


def make_zones(workdir: Path, dist: int = 0) -> Path:
    """A copy of zones/ with the mix zones added (delegations in their parents,
    manifest lines; the test network signs them and publishes their DS), each with
    *dist* distinct names ``dNNNNNN.<zone>``."""
    out = workdir / "zones-mix"
    shutil.copytree(ZONES, out)
    manifest = out / "manifest.tsv"
    lines = []
    for mz in MIX:
        if not mz.parent:
            if dist:
                own_file = next(line.split("\t")[2] for line in manifest.read_text().splitlines()
                                if line.split("\t")[0] == mz.zone)
                with open(out / own_file, "a") as f:
                    f.write(f"\n$ORIGIN {mz.zone}\n" + _dist_records(dist))
            continue
        fname = f"mix-{mz.zone.rstrip('.')}.zone"
        (out / fname).write_text(_zone_text(mz) + _dist_records(dist))
        parent_file = next(line.split("\t")[2] for line in manifest.read_text().splitlines()
                           if line.split("\t")[0] == mz.parent)
        label = mz.zone[: -len(mz.parent) - 1]
        with open(out / parent_file, "a") as f:
            f.write(f"\n{label} NS ns1.{label}\nns1.{label} A {mz.server}\n")
        lines.append("\t".join([mz.zone, mz.server, fname, str(mz.algorithm), mz.denial,
                                "-", "yes", "-"]))
    with open(manifest, "a") as f:
        f.write("".join(line + "\n" for line in lines))
    return out


def _queries(tag: str, count: int, zones: list[MixZone]) -> list[workloads.Query]:
    return workloads.cold_queries(tag, count, [f"wild.{mz.zone}" for mz in zones])


class DistinctNames:
    """Hands out each zone's distinct names in disjoint slices, so that no name is
    asked twice over all runs and resolvers."""

    def __init__(self, per_zone: int) -> None:
        self.per_zone = per_zone
        self.next = {mz.zone: 0 for mz in MIX}

    def take(self, count: int, zones: list[MixZone]) -> list[workloads.Query]:
        out = []
        for i in range(count):
            mz = zones[i % len(zones)]
            n = self.next[mz.zone]
            if n >= self.per_zone:
                raise RuntimeError(f"distinct names of {mz.zone} used up ({self.per_zone}); "
                                   "lower COLD_MIX_DIST_NAMES or DNS_BENCH_RUNS")
            self.next[mz.zone] = n + 1
            out.append((_dist_name(mz, n), "A"))
        return out


def _prime(env: Environment) -> dict[str, str]:
    """Keys and delegations of every mix zone into each resolver's caches; every
    priming answer must be NOERROR with AD."""
    out = {}
    for server in env.servers:
        prime = [*((mz.zone, "DNSKEY") for mz in MIX),
                 *_queries(workloads.new_tag(), 4 * len(MIX), list(MIX))]
        got = workloads.ask_all(server.port, prime)
        bad = [f"{n} {t}: {o}" for (n, t), o in got.items() if o.rcode != "NOERROR" or not o.ad]
        if bad:
            raise RuntimeError(f"{server.label} primed badly: {'; '.join(bad[:4])}")
        out[server.label] = f"{len(prime)} names NOERROR AD"
    return out


def _runs(env: Environment, zones: list[MixZone], kind: str,
          dist: DistinctNames | None = None) -> dict[str, list[Run]]:
    runs: dict[str, list[Run]] = {s.label: [] for s in env.servers}
    for i in range(RUNS):
        for server in env.servers:
            tag = workloads.new_tag()
            queries = (_queries(tag, NAMES, zones) if dist is None
                       else dist.take(DIST_PER_RUN, zones))
            path = workloads.write_queries(env.workdir / f"mix-{tag}.txt", queries)
            run = dns_bench._measure(env, server, path, outstanding=OUTSTANDING, once=True,
                                     timeout=dns_bench.COLD_TIMEOUT, seconds=SECONDS)
            path.unlink()
            runs[server.label].append(run)
            progress(f"cold mix {kind} run {i + 1}/{RUNS} {server.label}: "
                     f"{run.us_per_answer:.0f} CPU us/answer, {run.load.qps:.0f}/s, "
                     f"SERVFAIL {run.servfail:.1%}, lost {run.load.lost}")
    return runs


def _spread(values: list[float]) -> str:
    med = statistics.median(values)
    return f"+-{(max(values) - min(values)) / 2 / med:.0%}" if med else "?"


def _rows(label: str, runs: dict[str, list[Run]]) -> tuple[list[Row], float | None]:
    rows: list[Row] = []
    meds = {}
    for who, rs in runs.items():
        vals = [r.us_per_answer for r in rs]
        meds[who] = statistics.median(vals)
        per_up = [r.upstream / r.load.completed for r in rs if r.load.completed]
        note = (f"runs {' / '.join(f'{v:.0f}' for v in vals)} (spread {_spread(vals)}); "
                f"SERVFAIL {max(r.servfail for r in rs):.1%}, lost "
                f"{sum(r.load.lost for r in rs)}"
                + (f", {statistics.median(per_up):.2f} upstream queries per answer"
                   if per_up else ""))
        rows.append((f"{label}: {who}", f"{meds[who]:.0f}", f"{min(vals):.0f}", note))
    ratio = None
    if len(meds) > 1:
        ours, ref = list(meds.values())[:2]
        ratio = ours / ref if ref else None
        if ratio is not None:
            per_run = [a.us_per_answer / b.us_per_answer
                       for a, b in zip(*list(runs.values())[:2], strict=False)]
            rows.append((f"{label}: ratio ours/Unbound", f"{ratio:.2f}", f"{min(per_run):.2f}",
                         "per-run ratios " + " / ".join(f"{x:.2f}" for x in per_run)))
    return rows, ratio


# Aggressive use of the validated cache (RFC 8198) answers nearly every fresh name of
# these small zones from cached NSEC/NSEC3 spans and the cached wildcard once the zone
# was primed; Unbound 1.17 does that for NSEC only. The per-algorithm rows and the
# first total switch it off on both sides, so that every answer takes the upstream
# path (what "cold" measures); a second total runs both resolvers at their defaults.
COLD_OURS = "aggressive-nsec = false\n"
COLD_UNBOUND = ("aggressive-nsec: no",)


def _defaults_total() -> list[Row]:
    with environment(dns_bench.WITH_UNBOUND, make_zones) as env:
        _prime(env)
        rows, _ = _rows("total at defaults (aggressive NSEC on) CPU us/answer",
                        _runs(env, list(MIX), "total at defaults"))
        return rows


def _check_distinct(env: Environment, dist: DistinctNames) -> str:
    """One distinct name per zone and resolver must come back NOERROR with AD (those
    names are used up: the timed runs never ask them again)."""
    for server in env.servers:
        got = workloads.ask_all(server.port, dist.take(len(MIX), list(MIX)))
        bad = [f"{n} {t}: {o}" for (n, t), o in got.items() if o.rcode != "NOERROR" or not o.ad]
        if bad:
            raise RuntimeError(f"{server.label}: distinct names not secure: {'; '.join(bad[:4])}")
    return "one name per zone and resolver NOERROR AD before the runs"


def _distinct_rows(env: Environment) -> list[Row]:
    """Like for like: existing names, each its own RRset and RRSIG, each asked once."""
    dist = DistinctNames(DIST_PER_ZONE)
    checked = _check_distinct(env, dist)
    rows: list[Row] = []
    for mz in MIX:
        r, _ = _rows(f"distinct names, {mz.label} CPU us/answer",
                     _runs(env, [mz], f"distinct {mz.label}", dist))
        rows += r
    total = _runs(env, list(MIX), "distinct total", dist)
    r, ratio = _rows("distinct names, total (5 mixed) CPU us/answer", total)
    rows += r
    if ratio is not None:
        rows.append(("distinct names, total ratio ours/Unbound", f"{ratio:.2f}", "",
                     f"goal <= {GOAL} (issue 18): " + ("met" if ratio <= GOAL else "NOT met")))
    report.record("cold_mix_dist_cpu", {who: [x.us_per_answer for x in rs]
                                        for who, rs in total.items()})
    rows.append(("distinct names: method", "", "",
                 f"existing names d<NNNNNN>.<zone> type A, each its own A RRset and RRSIG, "
                 f"{DIST_PER_ZONE} per zone, {DIST_PER_RUN} per run (the run ends when they "
                 f"are answered or after {SECONDS:g} s), disjoint slices: each name asked "
                 f"exactly once over all runs and resolvers; aggressive NSEC off on both; "
                 f"{checked}; CPU from /proc in clock ticks (10 ms), +-1 tick is a few % "
                 f"of a short run"))
    return rows


def _section() -> list[Row]:
    with environment(dns_bench.WITH_UNBOUND, lambda w: make_zones(w, DIST_PER_ZONE),
                     COLD_OURS, COLD_UNBOUND) as env:
        primed = _prime(env)
        rows: list[Row] = []
        for mz in MIX:
            r, _ = _rows(f"{mz.label} CPU us/answer", _runs(env, [mz], mz.label))
            rows += r
        total = _runs(env, list(MIX), "total")
        r, ratio = _rows("total (5 mixed) CPU us/answer", total)
        rows += r
        if env.reference is None:
            rows += dns_bench._reference_rows(env)
        if ratio is not None:
            rows.append(("total ratio ours/Unbound", f"{ratio:.2f}", "",
                         f"goal <= {GOAL} (issue 18, aim 1.5): "
                         + ("met" if ratio <= GOAL else "NOT met")))
        report.record("cold_mix_cpu", {who: [x.us_per_answer for x in rs]
                                       for who, rs in total.items()})
        rows.append(("method", "", "",
                     f"fresh names c<random>-NNNNNN.wild.<zone> type A, each sent once, "
                     f"{OUTSTANDING} outstanding, RD+DO; per workload {RUNS} alternating "
                     f"runs x {SECONDS:g} s per resolver; medians, min column = lowest "
                     f"run; spread = (max-min)/2 / median; total = the five zones "
                     f"round-robin in one run"))
        rows.append(("setup", "", "", f"{env.pin.note}; "
                     + "; ".join(f"{s.label} = {s.detail}" for s in env.servers)))
        rows.append(("priming", "", "", ", ".join(f"{k}: {v}" for k, v in primed.items())))
        rows += _distinct_rows(env)
        rows.append(("aggressive NSEC", "", "", "off on both sides above (every answer "
                     "goes upstream); the next rows: both at their defaults"))
    return rows + _defaults_total()


def section() -> list[Row]:
    """Issue 18: cold CPU per answer per algorithm and in total, ours next to Unbound."""
    return dns_bench._guarded("cold algorithm-mix benchmark", _section,
                              ("cold_mix_cpu", "cold_mix_dist_cpu"))


SECTIONS: list[tuple[str, Callable[[], list[Row]]]] = [
    ("resolver: cold answers over an algorithm mix, ours vs Unbound (issue 18)", section),
]


def main() -> int:
    from .run import _print_table

    _print_table(SECTIONS[0][0], section())
    return 0


if __name__ == "__main__":
    sys.exit(main())
