"""``query``: ask a resolver and print a dig-like answer (or trace a validation).

Like dig, the query sets RD and AD (RFC 6840 s5.7: tell me whether the data is
authenticated) and, with ``--dnssec``, DO. Names typed with U-labels are sent as
A-labels (IDNA 2008 / UTS 46), as the API does.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import struct
import sys
from typing import Any

from ..config import ConfigError, parse_listen
from ..wire import message as wm
from ..wire.idn import IdnError, to_ascii
from ..wire.message import FormError, Message
from ..wire.name import Name, NameError_
from ..wire.types import TC, Rcode, rcode_to_text, type_from_text

DEFAULT_SERVER = "127.0.0.1:53"


def _exchange(server: tuple[str, int], query: Message, tcp: bool, timeout: float) -> Message:
    wire = query.to_wire()
    family = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
    if tcp:
        with socket.create_connection(server, timeout=timeout) as sock:
            sock.sendall(struct.pack("!H", len(wire)) + wire)
            head = _recv_exact(sock, 2)
            data = _recv_exact(sock, struct.unpack("!H", head)[0])
    else:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            sock.connect(server)
            sock.send(wire)
            while True:
                data = sock.recv(65535)
                if data[:2] == wire[:2]:
                    break
    reply = wm.parse(data)
    if reply.flags & TC and not tcp:
        return _exchange(server, query, True, timeout)
    return reply


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return buf


async def _trace(args: argparse.Namespace, name: Name, qtype: int) -> int:
    from ..service import Resolver
    from .serve import settings_from_args

    settings = settings_from_args(args)
    resolver = Resolver(settings)
    answer, trace = await resolver.explain(name, qtype, cd=args.cd)
    print(f";; validation trace for {name} {args.type.upper()}")
    print(trace.render())
    verdict = answer.security.label
    print(f";; verdict: {verdict}" + (f" ({answer.reason})" if answer.reason else ""))
    print(f";; rcode: {rcode_to_text(answer.rcode)}" + "".join(
        f"  EDE {c}: {t}" for c, t in answer.ede))
    for rrset in answer.answer:
        for rr in rrset.records():
            print(rr.to_text())
    return 1 if answer.rcode == Rcode.SERVFAIL else 0


def run(args: argparse.Namespace) -> int:
    try:
        name = Name.from_text(to_ascii(args.name))
        qtype = type_from_text(args.type)
    except (IdnError, NameError_, ValueError) as exc:
        print(f"query: {exc}", file=sys.stderr)
        return 2
    if args.trace:
        try:
            return asyncio.run(_trace(args, name, qtype))
        except (ConfigError, ValueError, OSError) as exc:
            print(f"query: {exc}", file=sys.stderr)
            return 2
    try:
        server = parse_listen(args.server)
    except ConfigError as exc:
        print(f"query: --server: {exc}", file=sys.stderr)
        return 2
    query = make_query(name, qtype, cd=args.cd, dnssec=args.dnssec)
    try:
        reply = _exchange(server, query, args.tcp, args.timeout)
    except (OSError, FormError) as exc:
        print(f"query: no answer from {server[0]}:{server[1]}: {exc}", file=sys.stderr)
        return 3
    print(reply.to_text())
    return 1 if reply.rcode == Rcode.SERVFAIL else 0


def make_query(name: Name, qtype: int, *, cd: bool = False, dnssec: bool = False) -> Message:
    """The query ``query`` sends: RD and AD set, as dig does; DO with ``--dnssec``."""
    return wm.make_query(name, qtype, rd=True, ad=True, cd=cd, do=dnssec)


def add_parser(sub: Any) -> None:
    from .serve import add_resolver_options

    p = sub.add_parser("query", help="ask a resolver (dig-like output)",
                       description="Send one query (RD and AD set, as dig does; DO with "
                                   "--dnssec) to the resolver at --server, by default "
                                   f"{DEFAULT_SERVER}, and print the answer with header "
                                   "flags, rcode and Extended DNS Errors. Exit status 1 on "
                                   "SERVFAIL.")
    p.add_argument("name")
    p.add_argument("type", nargs="?", default="A")
    p.add_argument("--server", default=DEFAULT_SERVER,
                   help="resolver ADDR:PORT (default: %(default)s)")
    p.add_argument("--dnssec", action="store_true",
                   help="set DO (show RRSIGs and NSECs); AD is always set, as dig does")
    p.add_argument("--cd", action="store_true", help="set CD (checking disabled)")
    p.add_argument("--tcp", action="store_true", help="use TCP")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait")
    p.add_argument("--trace", action="store_true",
                   help="resolve in-process and show how the DNSSEC verdict was reached "
                        "(uses the resolver options below)")
    add_resolver_options(p)
    p.set_defaults(func=run)
