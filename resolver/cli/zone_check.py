"""``zone-check``: verify a signed zone file."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from ..clock import parse_iso8601


def run(args: argparse.Namespace) -> int:
    from ..authority.check import check_zone
    from ..authority.zone import Zone, ZoneError
    from ..dnssec.anchors import AnchorError, TrustAnchor, read_anchor_file
    from ..wire.name import Name, NameError_
    from ..wire.types import RRType
    from ..wire.zonefile import ZoneFileError, read_zone_file

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


def add_parser(sub: Any) -> None:
    zc = sub.add_parser("zone-check", help="verify a signed zone file",
                        description="Verify every RRSIG, the NSEC/NSEC3 chain and (with "
                                    "--anchor) the DNSKEY set of a signed zone.")
    zc.add_argument("zonefile", type=Path)
    zc.add_argument("--origin", help="zone name (default: the owner of the SOA)")
    zc.add_argument("--at", help="validation time, ISO-8601 UTC (default: now)")
    zc.add_argument("--anchor", action="append", metavar="FILE",
                    help="DS or DNSKEY records the DNSKEY set must match (repeatable)")
    zc.set_defaults(func=run)
