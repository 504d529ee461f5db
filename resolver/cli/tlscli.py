"""Outbound TLS commands: ``mta-sts``, ``tls-rpt`` and ``tls-policy``.

Like the other mail commands (:mod:`resolver.cli.mailcli`, whose HTTP client and
exit statuses these share) they ask a running service's API and print a summary, or
the API's JSON with ``--json``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from .mailcli import (
    EXIT_NOT_SECURE,
    EXIT_OK,
    Command,
    Json,
    _common,
    _line,
    _runner,
    request,
)


def cmd_mta_sts(args: argparse.Namespace) -> tuple[Json, Callable[[Json], int]]:
    body = request(args, "GET", "/v1/mta-sts", {"domain": args.domain})

    def show(b: Json) -> int:
        _line(f"{b.get('domain')}: {b.get('result')} (_mta-sts TXT {b.get('status')})")
        policy = b.get("policy")
        if policy:
            _line(f"mode {policy.get('mode')}, max_age {policy.get('max_age')}, from "
                  f"{b.get('source')}", 2)
            for pattern in policy.get("mx", []):
                _line(f"mx: {pattern}", 4)
        for reason in b.get("reasons", []):
            _line(reason, 2)
        return EXIT_OK if policy and policy.get("mode") == "enforce" else EXIT_NOT_SECURE
    return body, show


def cmd_tls_rpt(args: argparse.Namespace) -> tuple[Json, Callable[[Json], int]]:
    body = request(args, "GET", "/v1/tls-rpt", {"domain": args.domain})

    def show(b: Json) -> int:
        _line(f"{b.get('domain')}: {b.get('result')} (_smtp._tls TXT {b.get('status')})")
        for uri in (b.get("record") or {}).get("rua", []):
            _line(f"rua: {uri}", 2)
        for reason in b.get("reasons", []):
            _line(reason, 2)
        return EXIT_OK if b.get("record") else EXIT_NOT_SECURE
    return body, show


def cmd_tls_policy(args: argparse.Namespace) -> tuple[Json, Callable[[Json], int]]:
    body = request(args, "GET", "/v1/tls-policy", {"domain": args.domain})

    def show(b: Json) -> int:
        _line(f"{b.get('domain')}: {b.get('postfix')}")
        for reason in b.get("reasons", []):
            _line(reason, 2)
        return EXIT_OK if b.get("action") in ("dane", "secure") else EXIT_NOT_SECURE
    return body, show


def add_parser(sub: Any) -> None:
    commands: tuple[tuple[str, str, Command, str], ...] = (
        ("mta-sts", "a domain's MTA-STS record and policy (RFC 8461)", cmd_mta_sts,
         "exit status: 0 for a policy in enforce mode, 1 otherwise, 2 bad input, 3 service "
         "unreachable or failing"),
        ("tls-rpt", "a domain's TLS reporting record (RFC 8460)", cmd_tls_rpt,
         "exit status: 0 when a valid record exists, 1 otherwise, 2 bad input, 3 service "
         "unreachable or failing"),
        ("tls-policy", "what the Postfix TLS policy map answers for a domain (DANE, then "
         "MTA-STS), and why", cmd_tls_policy,
         "exit status: 0 for 'dane' or 'secure', 1 otherwise, 2 bad input, 3 service "
         "unreachable or failing"),
    )
    for name, help_text, command, epilog in commands:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help_text,
                                                    description=help_text, epilog=epilog)
        p.set_defaults(func=_runner(command))
        p.add_argument("domain")
        _common(p)
