"""The cold path in one process, for profiling (not part of ``make bench``).

``make bench`` measures the resolver from outside, which is what counts, but on these
noisy VMs two runs of the same code differ by 10-15 %, too much to see a 3 % change.
This drives :meth:`DnsServer.answer` in-process with fresh names under
``*.wild.nsec3.example.`` (the cold workload of dns_bench.py), against the test
network in a subprocess on the other core, and prints CPU microseconds per answer.

With ``--spy`` it runs itself under py-spy and prints the cost per answer in units of
one ED25519 verification: every cold answer does exactly one, so that ratio does not
move when the machine speeds up or slows down, and two versions of the code can be
compared run against run (sampling noise is about 3 %)::

    .venv/bin/python -m tests.bench.cold_profile --names 1500 --rounds 5
    .venv/bin/python -m tests.bench.cold_profile --spy --names 8000
    .venv/bin/python -m tests.bench.cold_profile --cprofile tottime --names 2000
    .venv/bin/python -m tests.bench.cold_profile --mix --names 2000 --rounds 3

``--mix`` asks round-robin under the wildcards of the algorithm mix of cold_mix.py
(RSA/SHA-256, RSA/SHA-512, ECDSA P-256 and P-384, ED25519) instead.

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


async def _drive(net: TestNet, names: int, rounds: int, concurrency: int,
                 profile: cProfile.Profile | None, parents: list[str]) -> list[float]:
    settings = Settings()
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

    for i in range(30):                       # keys and delegations into the caches
        await ask(f"warm{i}.{parents[i % len(parents)]}")
    from resolver.cli.serve import tune_collector
    tune_collector()
    results = []
    for _ in range(rounds):
        queue = iter([f"c{secrets.token_hex(4)}-{i:06d}.{parents[i % len(parents)]}"
                      for i in range(names)])
        started = time.process_time()
        if profile is not None:
            profile.enable()
        await asyncio.gather(*(_worker(queue, ask) for _ in range(concurrency)))
        if profile is not None:
            profile.disable()
        results.append((time.process_time() - started) / names * 1e6)
    return results


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
            if "_eddsa_verify" in stack:
                verify += int(count)
    if not verify:
        print("no verification sampled", file=sys.stderr)
        return 1
    print(f"{total} samples; one answer costs {total / verify:.2f} ED25519 verifications "
          f"(verification share {verify / total:.1%})")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m tests.bench.cold_profile",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--names", type=int, default=1500, help="fresh names per round")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--mix", action="store_true",
                        help="the algorithm mix of cold_mix.py instead of ED25519 only")
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
        zones = cold_mix.make_zones(workdir) if args.mix else ZONES
        parents = ([f"wild.{mz.zone}" for mz in cold_mix.MIX] if args.mix
                   else [ZONE])
        net = start_testnet(stack, workdir, 0, pinning(), zones)
        with contextlib.suppress(OSError, AttributeError):
            os.sched_setaffinity(0, {0})      # the resolver's core in make bench
        try:
            import uvloop
            results = uvloop.run(_drive(net, args.names, args.rounds, args.concurrency,
                                        profile, parents))
        except ImportError:  # pragma: no cover
            results = asyncio.run(_drive(net, args.names, args.rounds, args.concurrency,
                                         profile, parents))
    gc.collect()
    print(f"{args.names} cold answers x {len(results)} rounds: CPU us per answer min "
          f"{min(results):.0f}, median {statistics.median(results):.0f} ("
          + " ".join(f"{r:.0f}" for r in results) + ")")
    if profile is not None:
        pstats.Stats(profile).sort_stats(args.cprofile).print_stats(40)
    return 0


if __name__ == "__main__":
    sys.exit(main())
