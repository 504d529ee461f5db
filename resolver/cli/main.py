"""Command line: ``python -m resolver COMMAND ...`` (one module per command in
:mod:`resolver.cli`)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from . import control, demo, logs, mailcli, query, serve, testnet, tlscli, zone_check


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m resolver",
                                     description="Validating DNSSEC resolver for mail hosts.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    parser.add_argument("-q", "--quiet", action="count", default=0, help="less logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in (serve, query, zone_check, testnet, demo, mailcli, tlscli, control):
        module.add_parser(sub)
    for command in sub.choices.values():    # -v/-q after the command too
        command.add_argument("-v", "--verbose", action="count", default=0,
                             dest="verbose_after", help="more logging (-vv: debug)")
        command.add_argument("-q", "--quiet", action="count", default=0,
                             dest="quiet_after", help="less logging")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.log_level_flag = logs.flag_level(args.verbose + getattr(args, "verbose_after", 0),
                                          args.quiet + getattr(args, "quiet_after", 0))
    logs.setup(args.log_level_flag)
    result: int = args.func(args)
    return result
