"""Command line: ``python -m resolver COMMAND ...``."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .clock import parse_iso8601


def _cmd_zone_check(args: argparse.Namespace) -> int:
    from .authority.check import check_zone
    from .authority.zone import Zone, ZoneError
    from .dnssec.anchors import AnchorError, TrustAnchor, read_anchor_file
    from .wire.name import Name, NameError_
    from .wire.types import RRType
    from .wire.zonefile import ZoneFileError, read_zone_file

    try:
        when = parse_iso8601(args.at) if args.at else time.time()
    except ValueError:
        print(f"zone-check: --at: not an ISO-8601 time: {args.at!r}", file=sys.stderr)
        return 2
    try:
        origin = Name.from_text(args.origin) if args.origin else None
        records = read_zone_file(args.zonefile, origin)
        if origin is None:
            soa = [rr for rr in records if rr.rtype == RRType.SOA]
            if not soa:
                print("zone-check: no SOA record; give --origin", file=sys.stderr)
                return 2
            origin = soa[0].name
        zone = Zone.from_records(origin, records)
        anchors: list[TrustAnchor] = []
        for path in args.anchor or []:
            anchors.extend(read_anchor_file(path))
    except (OSError, ZoneFileError, ZoneError, AnchorError, NameError_) as exc:
        print(f"zone-check: {exc}", file=sys.stderr)
        return 2
    if args.anchor and not any(a.zone == origin for a in anchors):
        print(f"zone-check: no anchor in {', '.join(args.anchor)} is for {origin}",
              file=sys.stderr)
        return 2
    report = check_zone(zone, when, anchors)
    for finding in report.problems:
        print(finding)
    for finding in report.notes:
        print(f"note: {finding}")
    print(report.summary())
    return 0 if report.ok else 1


def _cmd_testnet(args: argparse.Namespace) -> int:
    import asyncio
    import tempfile

    from .testnet.hierarchy import build
    from .testnet.network import TestNetwork

    try:
        if args.map:
            network = TestNetwork.from_map(args.map, args.zone_dir, args.port)
        else:
            zones_dir = args.zones_dir or Path("zones")
            network = build(zones_dir, port=args.port).network
    except (OSError, ValueError) as exc:
        print(f"testnet: {exc}", file=sys.stderr)
        return 2
    out = args.out or Path(tempfile.mkdtemp(prefix="resolver-testnet-"))

    async def run() -> None:
        await network.start()
        paths = network.write_outputs(out)
        print(f"test network: {len(network.zones)} zones on "
              f"{', '.join(sorted(network.servers))} port {network.port}", flush=True)
        print(f"root hints: {paths['hints']}  trust anchor: {paths['ds']} "
              f"(DNSKEY form: {paths['key']})", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await network.stop()

    logging.getLogger("resolver.testnet.server").setLevel(logging.INFO)
    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m resolver",
                                     description="Validating DNSSEC resolver for mail hosts.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", required=True)

    zc = sub.add_parser("zone-check", help="verify a signed zone file",
                        description="Verify every RRSIG, the NSEC/NSEC3 chain and (with "
                                    "--anchor) the DNSKEY set of a signed zone.")
    zc.add_argument("zonefile", type=Path)
    zc.add_argument("--origin", help="zone name (default: the owner of the SOA)")
    zc.add_argument("--at", help="validation time, ISO-8601 UTC (default: now)")
    zc.add_argument("--anchor", action="append", metavar="FILE",
                    help="DS or DNSKEY records the DNSKEY set must match (repeatable)")
    zc.set_defaults(func=_cmd_zone_check)

    tn = sub.add_parser("testnet", help="serve a signed test hierarchy on loopback",
                        description="Serve zones/ (signed at start) or the zone files of a "
                                    "map (as they are) on 127.0.0.x addresses.")
    tn.add_argument("zones_dir", nargs="?", type=Path, help="hierarchy folder (default zones/)")
    tn.add_argument("--map", type=Path, help="a 'zone address file' map (served as is)")
    tn.add_argument("--zone-dir", type=Path, help="where the map's files are")
    tn.add_argument("--port", type=int, default=0, help="port for every server (default: random)")
    tn.add_argument("--out", type=Path, help="where to write root.hints, root.ds, root.key")
    tn.set_defaults(func=_cmd_testnet)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * args.verbose
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    result: int = args.func(args)
    return result
