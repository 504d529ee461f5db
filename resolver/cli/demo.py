"""``demo``: a short tour on the test network, with no internet.

Starts the signed test hierarchy on 127.0.0.21-27, the resolver on a free loopback
port, asks a few questions that show secure, insecure and bogus answers, prints them
readably, and stops everything. The hierarchy is the one the package carries (or the
checkout's ``zones/``); ``--zones DIR`` names another copy. It runs from any
directory."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..wire import message as wm
from ..wire import rdata as rd
from ..wire.name import Name
from ..wire.types import AD, CD, TC, RRType, rcode_to_text, type_from_text, type_to_text

TOUR = [
    ("a secure name (ECDSA, NSEC)", "www.secure.example.", "A", False),
    ("a secure MX in an NSEC3 zone", "nsec3.example.", "MX", False),
    ("an insecure name (unsigned zone, no DS)", "www.insecure.example.", "A", False),
    ("a bogus name (corrupted signature): SERVFAIL + EDE", "www.bogus.example.", "A", False),
    ("the same with CD=1: the data, no AD", "www.bogus.example.", "A", True),
    ("expired signatures", "www.expired.example.", "A", False),
    ("a wildcard, proven by NSEC", "anything.wild.secure.example.", "A", False),
    ("a CNAME chain: secure -> secure", "cname-secure.secure.example.", "A", False),
    ("a CNAME chain: secure -> insecure (weakest link)", "cname-insecure.secure.example.", "A",
     False),
    ("DNAME, synthesized CNAME", "www.dname.secure.example.", "A", False),
    ("NXDOMAIN, proven by NSEC3", "nope.nsec3.example.", "A", False),
    ("DANE TLSA for the MX host", "_25._tcp.mx1.secure.example.", "TLSA", False),
    ("NSEC3 with 200 iterations: insecure + EDE 27", "nope.iter200.example.", "A", False),
]


def _show(title: str, name: str, rtype: str, cd: bool, reply: wm.Message) -> None:
    flags = " ".join(f for f, bit in (("ad", AD), ("cd", CD)) if reply.flags & bit)
    print(f"\n-- {title}")
    print(f"   {name} {rtype}{' (CD=1)' if cd else ''}  =>  {rcode_to_text(reply.rcode)}"
          f"{'  [' + flags + ']' if flags else ''}")
    for rr in reply.answer:
        if rr.rtype == RRType.RRSIG:
            continue
        print(f"      {rr.name} {rr.ttl} {type_to_text(rr.rtype)} "
              f"{rd.to_text(rr.rtype, rr.rdata)[:90]}")
    for code, text in reply.ede():
        print(f"      EDE {code}: {text}")


DKIM_KEY = Path("keys", "dkim-sel1.secure.example.pem")   # within the hierarchy folder


async def _demo(zones: Path, wait: float = 0.0) -> int:
    from ..config import Settings
    from ..iterate.transport import NetTransport, UpstreamError
    from ..server.listener import DnsServer
    from ..service import Resolver
    from ..testnet.hierarchy import build

    print(f"signing the test hierarchy ({zones}) ...", flush=True)
    network = build(zones).network
    await network.start()
    out = Path(tempfile.mkdtemp(prefix="resolver-demo-"))
    paths = network.write_outputs(out)
    settings = Settings(listen=[("127.0.0.1", 0)], root_hints=paths["hints"],
                        trust_anchors=[paths["ds"]], allow_loopback_upstream=True,
                        upstream_port=network.port)
    resolver = Resolver(settings)
    server = DnsServer(resolver, settings)
    await server.start()
    host, port = server.bound[0]
    print(f"test network: {len(network.zones)} zones on 127.0.0.21-27 port {network.port}")
    print(f"resolver: {host}:{port}, trust anchor {paths['ds']}")
    client = NetTransport()
    failures = 0
    try:
        for title, name, rtype, cd in TOUR:
            query = wm.make_query(Name.from_text(name), type_from_text(rtype), rd=True, cd=cd,
                                  do=True)
            try:
                reply = (await client.query((host, port), query, tcp=False, timeout=10)).message
                if reply.flags & TC:
                    reply = (await client.query((host, port), query, tcp=True,
                                                timeout=10)).message
            except UpstreamError as exc:
                print(f"\n-- {title}\n   {name} {rtype}: no answer ({exc})")
                failures += 1
                continue
            _show(title, name, rtype, cd, reply)
        await _mail_tour(resolver, zones / DKIM_KEY, wait)
        for _, name, rtype, cd in TOUR:   # again: now from the answer cache
            query = wm.make_query(Name.from_text(name), type_from_text(rtype), rd=True, cd=cd,
                                  do=True)
            await client.query((host, port), query, tcp=False, timeout=10)
        print(f"\nasked everything once more: {server.stats.fast_hits} of {len(TOUR)} answers "
              "came from the wire cache without parsing")
    finally:
        await server.stop()
        await network.stop()
    return 1 if failures else 0


async def _mail_tour(resolver: Any, dkim_key: Path, wait: float = 0.0) -> None:
    """The helper API on the same resolver: DANE, SMIMEA, SPF and DKIM (messages
    signed with *dkim_key*, the private half of ``sel1._domainkey.secure.example``),
    and the URL of the report page of a bogus domain (kept up *wait* seconds)."""
    import aiohttp
    from cryptography.hazmat.primitives import serialization

    from ..api.app import create_app, start_api
    from ..mail.dkim_sign import sign_message

    runner = await start_api(create_app(resolver), "127.0.0.1", 0)
    port = runner.addresses[0][1]
    base = f"http://127.0.0.1:{port}"
    print(f"\n== the helper API on {base} ==")
    key = serialization.load_pem_private_key(
        dkim_key.read_bytes(),  # noqa: ASYNC240 - once
        None)
    message = (b"From: Alice <alice@secure.example>\r\nTo: bob@nsec3.example\r\n"
               b"Subject: demo\r\nDate: Sat, 28 Nov 2026 16:00:00 +0000\r\n\r\nHello.\r\n")
    signed = sign_message(message, key, domain="secure.example", selector="sel1")  # type: ignore[arg-type]
    try:
        async with aiohttp.ClientSession() as http:
            for domain in ("secure.example", "insecure.example", "bogus.example"):
                async with http.get(f"{base}/v1/dane/smtp", params={"domain": domain}) as r:
                    body = await r.json()
                hosts = ", ".join(f"{h['host']} {h['verdict']}" for h in body.get("hosts", []))
                print(f"\n-- RFC 7672 DANE decision for {domain}: {body.get('verdict')}"
                      f" ({body.get('security')}){'; ' + hosts if hosts else ''}")
            async with http.get(f"{base}/v1/smimea",
                                params={"email": "alice@secure.example"}) as r:
                body = await r.json()
            recs = body.get("records", [])
            print(f"\n-- SMIMEA for alice@secure.example: {body.get('status')}, "
                  f"{len(recs)} record(s) {recs[0]['data'][:40] + '...' if recs else ''}")
            params = {"ip": "192.0.2.30", "mailfrom": "alice@secure.example",
                      "helo": "mx1.secure.example"}
            async with http.get(f"{base}/v1/spf/check", params=params) as r:
                body = await r.json()
            print(f"\n-- SPF check_host(192.0.2.30, secure.example): {body.get('result')} "
                  f"(DNS data {body.get('status')})")
            async with http.post(f"{base}/v1/dkim/verify", data=signed,
                                 headers={"Content-Type": "message/rfc822"}) as r:
                body = await r.json()
            for sig in body.get("signatures", body.get("results", [])):
                print(f"\n-- DKIM signature d={sig.get('domain')} s={sig.get('selector')}: "
                      f"{sig.get('result')} (key {sig.get('key_security')})")
            async with http.get(f"{base}/ui/domain/bad-ds.example") as r:
                shown = r.status
        print(f"\n-- the report page of a bogus domain (HTTP {shown}): "
              f"{base}/ui/domain/bad-ds.example")
        if wait > 0:
            print(f"   (up for {wait:g} s: open it in a browser; Ctrl-C ends the demo)",
                  flush=True)
            await asyncio.sleep(wait)
        else:
            print("   (the demo stops now: `python -m resolver demo --wait 600` keeps it up)")
    finally:
        await runner.cleanup()


def zones_from_args(args: argparse.Namespace) -> Path:
    """The hierarchy folder to serve: ``--zones DIR`` if given, else the bundled one.
    Raises FileNotFoundError saying what is missing and what the folder must hold."""
    from ..testnet.hierarchy import MANIFEST, default_zones_dir

    zones: Path | None = args.zones
    if zones is None:
        return default_zones_dir()
    missing = [str(zones / f) for f in (MANIFEST, DKIM_KEY) if not (zones / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{zones} is not a test hierarchy folder (a copy of the "
                                f"repository's zones/): missing {', '.join(missing)}")
    return zones


def run(args: argparse.Namespace) -> int:
    try:
        zones = zones_from_args(args)
    except FileNotFoundError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_demo(zones, args.wait))


def add_parser(sub: Any) -> None:
    p = sub.add_parser("demo", help="a tour of secure, insecure and bogus answers on the "
                                    "built-in test network",
                       description="Serve the signed test hierarchy on 127.0.0.21-27, run "
                                   "the resolver and its API on loopback, and show what "
                                   "they answer. Needs no internet and no files of its own.")
    p.add_argument("--zones", type=Path, metavar="DIR",
                   help="the hierarchy folder: manifest.tsv, the zone files it names and "
                        "keys/ (default: the copy the package carries)")
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="keep the test network, resolver and API (with the report page) "
                        "up this long after the tour (default: stop at once)")
    p.set_defaults(func=run)
