"""The cold path in one process, for profiling (not part of ``make bench``).

``make bench`` measures the resolver from outside, which is what counts, but on these
noisy VMs two runs of the same code differ by 10-15 %, too much to see a 3 % change.
This drives :meth:`DnsServer.answer` in-process with fresh names under
``*.wild.nsec3.example.`` (the cold workload of dns_bench.py), against the test
network in a subprocess on the other core, and prints CPU microseconds per answer.

With ``--spy`` it runs itself under py-spy and prints the cost per answer in units of
one signature verification: every cold answer does exactly one (ED25519 by default;
with ``--distinct --only rsasha256`` an RSA one), so that ratio does not move when the
machine speeds up or slows down, and two versions of the code can be compared run
against run (sampling noise is about 3 %)::

    .venv/bin/python -m tests.bench.cold_profile --names 1500 --rounds 5
    .venv/bin/python -m tests.bench.cold_profile --spy --names 8000
    .venv/bin/python -m tests.bench.cold_profile --cprofile tottime --names 2000
    .venv/bin/python -m tests.bench.cold_profile --mix --names 2000 --rounds 3

``--mix`` asks round-robin under the wildcards of the algorithm mix of cold_mix.py
(RSA/SHA-256, RSA/SHA-512, ECDSA P-256 and P-384, ED25519) instead.

``--distinct`` asks the existing names ``dNNNNNN.<zone>`` of the mix zones (each its
own A RRset and RRSIG, each asked once: a signature check per answer, as the
"distinct names" rows of cold_mix.py), aggressive NSEC off; with ``--rows`` it
measures each algorithm on its own, the rows interleaved within every round::

    .venv/bin/python -m tests.bench.cold_profile --distinct --rows --names 600 --rounds 3

py-spy is not a project dependency: ``.venv/bin/pip install py-spy``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import os
import pstats
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from resolver.config import Settings
from resolver.server.listener import DnsServer
from resolver.service import Resolver

from . import cold_mix
from .load import encode_query
from .resolvers import ZONES, TestNet, pinning, start_testnet

ZONE = "wild.nsec3.example."


class _Distinct:
    """Hands out each mix zone's distinct names once (``dNNNNNN.<zone>``)."""

    def __init__(self) -> None:
        self.next = {mz.zone: 0 for mz in cold_mix.MIX}

    def names(self, zones: list[str], count: int) -> list[str]:
        out = []
        for i in range(count):
            zone = zones[i % len(zones)]
            out.append(cold_mix._dist_name(_BY_ZONE[zone], self.next[zone]))
            self.next[zone] += 1
        return out


_BY_ZONE = {mz.zone: mz for mz in cold_mix.MIX}


async def _drive(net: TestNet, names: int, rounds: int, concurrency: int,
                 profile: cProfile.Profile | None, parents: list[str],
                 distinct: _Distinct | None = None,
                 rows: list[list[str]] | None = None
                 ) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    settings = Settings()
    if distinct is not None:
        settings.aggressive_nsec = False
    settings.root_hints = str(net.hints)
    settings.trust_anchors = [str(net.ds)]
    settings.allow_loopback_upstream = True
    settings.upstream_port = net.port
    server = DnsServer(Resolver(settings), settings)

    async def ask(name: str) -> None:
        reply = await server.answer(encode_query(name, "A", secrets.randbelow(65536)),
                                    "127.0.0.1", "udp", None)
        if reply is None or reply[3] & 0x0F:
            raise SystemExit(f"no NOERROR answer for {name}")

    warm = (distinct.names(parents, 30) if distinct is not None
            else [f"warm{i}.{parents[i % len(parents)]}" for i in range(30)])
    for name in warm:                         # keys and delegations into the caches
        await ask(name)
    from resolver.cli.serve import tune_collector
    tune_collector()
    groups = rows if rows is not None else [parents]
    results: dict[str, list[float]] = {_label(g): [] for g in groups}
    scaled: dict[str, list[float]] = {_label(g): [] for g in groups}
    for _ in range(rounds):
        for group in groups:
            if distinct is not None:
                batch = distinct.names(group, names)
            else:
                batch = [f"c{secrets.token_hex(4)}-{i:06d}.{group[i % len(group)]}"
                         for i in range(names)]
            queue = iter(batch)
            before = _calibration_us()
            started = time.process_time()
            if profile is not None:
                profile.enable()
            await asyncio.gather(*(_worker(queue, ask) for _ in range(concurrency)))
            if profile is not None:
                profile.disable()
            per_answer = (time.process_time() - started) / names * 1e6
            unit = min(before, _calibration_us())
            results[_label(group)].append(per_answer)
            scaled[_label(group)].append(per_answer / unit * 1000)
    return results, scaled


def _calibration_us() -> float:
    """CPU microseconds of a fixed piece of interpreter work (dicts, slices, sorting,
    calls), taken right before and after each round: the figures divided by it (the
    lower of the two) move less when other processes slow this core down, so two
    versions of the code can be compared on a busy machine."""
    started = time.process_time()
    wire = b"\x03www\x07example\x00"
    for _ in range(2000):
        table = {j: wire[j % 5:] for j in range(16)}
        sorted(table.values())
        len(str(table))
    return (time.process_time() - started) * 1e6


def _label(group: list[str]) -> str:
    if len(group) > 1:
        return "mixed"
    mz = _BY_ZONE.get(group[0]) or _BY_ZONE.get(group[0].removeprefix("wild."))
    return mz.label if mz else group[0]


async def _worker(queue: Iterator[str], ask: Callable[[str], Awaitable[None]]) -> None:
    for name in queue:
        await ask(name)


def _spy(argv: list[str]) -> int:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        print("py-spy is not installed (.venv/bin/pip install py-spy)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "samples.txt"
        child = [sys.executable, "-m", "tests.bench.cold_profile",
                 *[a for a in argv if a != "--spy"]]
        subprocess.run([spy, "record", "-r", "1000", "-f", "raw", "-o", str(raw), "--",
                        *child], check=True, stderr=subprocess.DEVNULL)
        total = verify = 0
        for line in raw.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or "start_testnet" in stack or "importlib" in stack:
                continue
            total += int(count)
            if any(f"{v} (" in stack for v in _VERIFIERS):
                verify += int(count)
    if not verify:
        print("no verification sampled", file=sys.stderr)
        return 1
    print(f"{total} samples; one answer costs {total / verify:.2f} signature verifications "
          f"(verification share {verify / total:.1%})")
    return 0


# the functions of resolver/dnssec/algorithms.py around the library's verify call
_VERIFIERS = ("_eddsa_verify", "_rsa_verify", "_ecdsa_verify")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m tests.bench.cold_profile",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--names", type=int, default=1500, help="fresh names per round")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--mix", action="store_true",
                        help="the algorithm mix of cold_mix.py instead of ED25519 only")
    parser.add_argument("--distinct", action="store_true",
                        help="existing names of the mix zones, each its own RRset and RRSIG")
    parser.add_argument("--rows", action="store_true",
                        help="with --mix or --distinct: one figure per algorithm")
    parser.add_argument("--dump", metavar="FILE",
                        help="with --cprofile: also write the raw profile to FILE "
                        "(for pstats: callers, callees)")
    parser.add_argument("--only", metavar="PREFIX",
                        help="with --mix or --distinct: only the zones whose row label "
                        "starts with PREFIX (e.g. rsa, ecdsa256)")
    parser.add_argument("--spy", action="store_true",
                        help="run under py-spy; print the cost in ED25519 verifications")
    parser.add_argument("--cprofile", metavar="SORT",
                        help="print a cProfile table sorted by SORT (tottime, cumulative)")
    args = parser.parse_args(argv)
    if args.spy:
        return _spy(argv)
    profile = cProfile.Profile() if args.cprofile else None
    with contextlib.ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="cold-profile-"))
        stack.callback(shutil.rmtree, workdir, True)
        dist = args.names * args.rounds * (1 if args.rows else len(cold_mix.MIX)) + 40
        zones = (cold_mix.make_zones(workdir, dist if args.distinct else 0)
                 if args.mix or args.distinct else ZONES)
        mix = [mz for mz in cold_mix.MIX if mz.label.startswith(args.only or "")]
        parents = ([mz.zone for mz in mix] if args.distinct
                   else [f"wild.{mz.zone}" for mz in mix] if args.mix
                   else [ZONE])
        rows = [[p] for p in parents] if args.rows else None
        distinct = _Distinct() if args.distinct else None
        net = start_testnet(stack, workdir, 0, pinning(), zones)
        with contextlib.suppress(OSError, AttributeError):
            os.sched_setaffinity(0, {0})      # the resolver's core in make bench
        try:
            import uvloop
            results, scaled = uvloop.run(_drive(net, args.names, args.rounds, args.concurrency,
                                        profile, parents, distinct, rows))
        except ImportError:  # pragma: no cover
            results, scaled = asyncio.run(_drive(net, args.names, args.rounds, args.concurrency,
                                         profile, parents, distinct, rows))
    gc.collect()
    for label, runs in results.items():
        med = statistics.median(runs)
        spread = (max(runs) - min(runs)) / 2 / med if med else 0.0
        print(f"{label}: {args.names} cold answers x {len(runs)} rounds: CPU us per answer "
              f"min {min(runs):.0f}, median {med:.0f}, spread +-{spread:.0%} ("
              + " ".join(f"{r:.0f}" for r in runs) + ")")
        units = scaled[label]
        print(f"{label}: per answer in thousandths of the calibration loop: min "
              f"{min(units):.1f}, median {statistics.median(units):.1f} ("
              + " ".join(f"{u:.1f}" for u in units) + ")")
    if profile is not None:
        pstats.Stats(profile).sort_stats(args.cprofile).print_stats(40)
        if args.dump:
            profile.dump_stats(args.dump)
    return 0


if __name__ == "__main__":
    sys.exit(main())
