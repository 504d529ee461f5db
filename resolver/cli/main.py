"""Command line: ``python -m resolver COMMAND ...`` (one module per command in
:mod:`resolver.cli`)."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from . import demo, mailcli, query, serve, testnet, zone_check


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m resolver",
                                     description="Validating DNSSEC resolver for mail hosts.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in (serve, query, zone_check, testnet, demo, mailcli):
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * args.verbose
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    result: int = args.func(args)
    return result
