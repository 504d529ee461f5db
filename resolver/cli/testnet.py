"""``testnet``: serve a signed test hierarchy on loopback."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from pathlib import Path
from typing import Any


def run(args: argparse.Namespace) -> int:
    import asyncio
    import tempfile

    from ..testnet.hierarchy import build, default_zones_dir
    from ..testnet.https import PolicyServer
    from ..testnet.network import TestNetwork

    policies: PolicyServer | None = None
    try:
        if args.map:
            network = TestNetwork.from_map(args.map, args.zone_dir, args.port)
        else:
            zones_dir = args.zones_dir or default_zones_dir()
            network = build(zones_dir, port=args.port).network
            if args.mta_sts_port != -1:     # the policies of sts.example's domains
                policies = PolicyServer(port=args.mta_sts_port,
                                        certs_dir=zones_dir / "certs")
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
        serving = None
        if policies is not None:
            try:
                await policies.start()
                serving = policies
                print(f"MTA-STS policies: https://{policies.address}:{policies.port}/ "
                      f"(serve --mta-sts-port {policies.port} --mta-sts-ca-file "
                      f"{policies.ca_file})", flush=True)
            except (OSError, ValueError) as exc:     # the DNS side still works without it
                print(f"testnet: no MTA-STS policy server: {exc}", file=sys.stderr)
        try:
            await asyncio.Event().wait()
        finally:
            if serving is not None:
                await serving.stop()
            await network.stop()

    logging.getLogger("resolver.testnet.server").setLevel(logging.INFO)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0


def add_parser(sub: Any) -> None:
    tn = sub.add_parser("testnet", help="serve a signed test hierarchy on loopback",
                        description="Serve the test hierarchy (signed at start) or the zone "
                                    "files of a map (as they are) on 127.0.0.x addresses.")
    tn.add_argument("zones_dir", nargs="?", type=Path,
                    help="hierarchy folder with a manifest.tsv (default: the copy the "
                         "package carries, which is the repository's zones/)")
    tn.add_argument("--map", type=Path, help="a 'zone address file' map (served as is)")
    tn.add_argument("--zone-dir", type=Path, help="where the map's files are")
    tn.add_argument("--port", type=int, default=0, help="port for every server (default: random)")
    tn.add_argument("--out", type=Path, help="where to write root.hints, root.ds, root.key")
    tn.add_argument("--mta-sts-port", type=int, default=0, metavar="PORT",
                    help="port of the MTA-STS policy server on 127.0.0.28 (default: random; "
                         "-1: none)")
    tn.set_defaults(func=run)
