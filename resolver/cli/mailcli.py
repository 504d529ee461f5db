"""Mail-security commands: ``tlsa``, ``dane-smtp``, ``dane-verify``, ``smimea``,
``openpgpkey``, ``spf``, ``spf-check``, ``dkim``, ``dkim-verify``, ``dmarc``,
``authenticate``.

Each asks a running service's HTTP API (``--api URL``, default http://127.0.0.1:8053)
and prints a readable summary, or the API's JSON with ``--json``. Exit status: 0 when
the answer is secure (lookups) or the check passed (checks); 1 when not; 2 for bad
input (the API's 4xx, or a file that cannot be read); 3 when the service cannot be
reached or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

DEFAULT_API = "http://127.0.0.1:8053"
EXIT_OK, EXIT_NOT_SECURE, EXIT_BAD_INPUT, EXIT_SERVICE = 0, 1, 2, 3
_PEM = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)

Json = dict[str, Any]


class ServiceError(Exception):
    """The API could not be reached or answered with a server error."""


class InputError(Exception):
    """Bad input: a file that cannot be read, or a 4xx from the API."""


# --------------------------------------------------------------------------- HTTP

async def _call(api: str, method: str, path: str, params: dict[str, str] | None,
                body: bytes | BinaryIO | None, content_type: str | None,
                timeout: float) -> Json:
    import aiohttp

    url = api.rstrip("/") + path
    headers = {"Content-Type": content_type} if content_type else {}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as s, \
                s.request(method, url, params=params, data=body, headers=headers) as resp:
            raw = await resp.read()
            status = resp.status
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
        raise ServiceError(f"cannot reach the API at {api}: {exc or type(exc).__name__}"
                           ) from None
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if 400 <= status < 500:
        what = data.get("error") if isinstance(data, dict) else raw[:200].decode("utf-8",
                                                                                 "replace")
        raise InputError(f"{what} (HTTP {status})")
    if status != 200 or not isinstance(data, dict):
        raise ServiceError(f"the API at {api} answered HTTP {status}")
    return data


def request(args: argparse.Namespace, method: str, path: str,
            params: dict[str, str] | None = None, body: bytes | BinaryIO | None = None,
            content_type: str | None = None) -> Json:
    """One API call; a file *body* is streamed from disk and closed afterwards."""
    try:
        return asyncio.run(_call(args.api, method, path, params, body, content_type,
                                 args.timeout))
    finally:
        if body is not None and not isinstance(body, bytes):
            body.close()


def _read(path: str) -> bytes:
    try:
        if path == "-":
            return sys.stdin.buffer.read()
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


def _message(path: str) -> bytes | BinaryIO:
    """The message to POST: a file is opened and streamed to the API (not read into
    memory first); standard input (``-``) is read."""
    if path == "-":
        return _read(path)
    try:
        return open(path, "rb")    # closed by request()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


# --------------------------------------------------------------------------- output

def _line(text: str, indent: int = 0) -> None:
    print(" " * indent + text)


def show_envelope(body: Json) -> None:
    """The shared envelope: question, status, rcode, reason, EDEs, records."""
    query = body.get("query", {})
    _line(f"{query.get('name')} {query.get('type')}: {body.get('status')} "
          f"({body.get('rcode')}, ttl {body.get('ttl')})")
    if body.get("reason"):
        _line(f"reason: {body['reason']}", 2)
    for ede in body.get("ede", []):
        _line(f"EDE {ede.get('code')}: {ede.get('text')}", 2)
    for record in body.get("records", []):
        _line(f"{record.get('name')} {record.get('ttl')} {record.get('type')} "
              f"{str(record.get('data'))[:120]}", 2)


def _tlsa_lines(body: Json) -> None:
    for rec in body.get("usable", []):
        _line(f"usable: {rec.get('text')}  ({rec.get('mnemonic', '').rsplit(' ', 1)[0]})", 2)
    for ign in body.get("ignored", []):
        _line(f"ignored: {ign.get('reason')}", 2)
    for note in body.get("notes", []):
        _line(f"note: {note}", 2)


def _secure(body: Json) -> int:
    return EXIT_OK if body.get("status") == "secure" else EXIT_NOT_SECURE


# --------------------------------------------------------------------------- commands

def cmd_tlsa(args: argparse.Namespace) -> tuple[Json, Callable[[Json], int]]:
    body = request(args, "GET", "/v1/tlsa", {"host": args.host, "port": args.port,
                                             "proto": args.proto})

    def show(b: Json) -> int:
        show_envelope(b)
        _tlsa_lines(b)
        return _secure(b)
    return body, show


def cmd_dane_smtp(args: argparse.Namespace) -> tuple[Json, Callable[[Json], int]]:
    body = request(args, "GET", "/v1/dane/smtp", {"domain": args.domain, "port": args.port})

    def show(b: Json) -> int:
        _line(f"{b.get('domain')} port {b.get('port')}: {b.get('verdict')} "
              f"(MX {b.get('mx')}, {b.get('status')})")
        for host in b.get("hosts", []):
            _line(f"{host.get('preference')} {host.get('host')}: {host.get('verdict')} "
                  f"({host.get('security')}); addresses "
                  f"{', '.join(host.get('addresses', [])) or 'none'} "
                  f"({host.get('address_security')})", 2)
            if host.get("tlsa_name"):
                _line(f"TLSA {host['tlsa_name']}: {host.get('tlsa_security')}", 4)
            for rec in (host.get("tlsa") or {}).get("usable", []):
                _line(rec.get("mnemonic", ""), 6)
            for reason in host.get("reasons", []):
                _line(reason, 4)
        for reason in b.get("reasons", []):
            _line(reason, 2)
        return EXIT_OK if b.get("verdict") in ("dane", "encrypt") else EXIT_NOT_SECURE
    return body, show


def cmd_dane_verify(args: argparse.Namespace) -> tuple[Json, Callable[[Json], int]]:
    text = _read(args.chain).decode("utf-8", "replace")
    chain = _PEM.findall(text)
    if not chain:
        raise InputError(f"{args.chain}: no PEM certificate in it")
    payload: Json = {"host": args.host, "port": int(args.port), "proto": args.proto,
                     "chain": chain}
    if args.name:
        payload["names"] = args.name
    if args.trust_store:
        payload["trust_store"] = _PEM.findall(_read(args.trust_store).decode("utf-8",
                                                                               "replace"))
    body = request(args, "POST", "/v1/dane/verify", body=json.dumps(payload).encode(),
                   content_type="application/json")

    def show(b: Json) -> int:
        show_envelope(b)
        _tlsa_lines(b)
        match = b.get("match") or {}
        depth = f" at depth {match.get('depth')}" if match.get("depth", -1) >= 0 else ""
        _line(f"verdict: {b.get('verdict')}{depth}"
              + (f": {match.get('reason')}" if match.get("reason") else ""))
        if match.get("record"):
            _line(f"record: {match['record'].get('mnemonic')}", 2)
        return EXIT_OK if b.get("matched") else EXIT_NOT_SECURE
    return body, show


def _key_lookup(path: str, what: str) -> Callable[[argparse.Namespace],
                                                  tuple[Json, Callable[[Json], int]]]:
    def run(args: argparse.Namespace) -> tuple[Json, Callable[[Json], int]]:
        params = {"email": args.email}
        if args.lowercase:
            params["lowercase"] = "1"
        body = request(args, "GET", path, params)

        def show(b: Json) -> int:
            show_envelope(b)
            _line(f"{what} for {b.get('email')}: {b.get('verdict')}", 2)
            for reason in b.get("reasons", [])[1:]:
                _line(reason, 2)
            for rec in b.get("usable", []):
                _line(f"usable: {rec.get('mnemonic')}", 2)
            for key in b.get("keys", []):
                _line(f"key: {key[:60]}{'...' if len(key) > 60 else ''}", 2)
            return _secure(b)
        return body, show
    return run


def cmd_spf(args: argparse.Namespace) -> tuple[Json, Callable[[Json], int]]:
    body = request(args, "GET", "/v1/spf", {"domain": args.domain})

    def show(b: Json) -> int:
        show_envelope(b)
        spf = b.get("spf", {})
        if spf.get("record"):
            _line(f"SPF record: {spf['record']}", 2)
        if spf.get("error"):
            _line(f"SPF: {spf['error']} ({spf.get('reason')})", 2)
        if spf.get("syntax_error"):
            _line(f"syntax error: {spf['syntax_error']}", 2)
        return _secure(b)
    return body, show


def cmd_spf_check(args: argparse.Namespace) -> tuple[Json, Callable[[Json], int]]:
    params = {"ip": args.ip, "mailfrom": args.mailfrom}
    if args.helo:
        params["helo"] = args.helo
    body = request(args, "GET", "/v1/spf/check", params)

    def show(b: Json) -> int:
        spf = b.get("spf", {})
        _line(f"spf={b.get('result')} for {spf.get('ip')} as {spf.get('sender')} "
              f"(domain {spf.get('domain')}; DNS {b.get('status')})")
        for key in ("mechanism", "reason", "explanation", "record"):
            if spf.get(key):
                _line(f"{key}: {spf[key]}", 2)
        return EXIT_OK if b.get("result") == "pass" else EXIT_NOT_SECURE
    return body, show


def cmd_dkim(args: argparse.Namespace) -> tuple[Json, Callable[[Json], int]]:
    body = request(args, "GET", "/v1/dkim", {"selector": args.selector,
                                             "domain": args.domain})

    def show(b: Json) -> int:
        show_envelope(b)
        dkim = b.get("dkim", {})
        key = dkim.get("key") or {}
        _line(f"key {dkim.get('name')}: {dkim.get('status')}"
              + (f" ({dkim['reason']})" if dkim.get("reason") else ""), 2)
        if key:
            bits = f"{key.get('key_bits')}-bit " if key.get("key_bits") else ""
            flags = f", flags {':'.join(key['flags'])}" if key.get("flags") else ""
            _line(f"{bits}{key.get('key_type')}{' REVOKED' if key.get('revoked') else ''}"
                  f"{flags}", 4)
        return _secure(b)
    return body, show


def _dkim_lines(sigs: list[Json]) -> None:
    if not sigs:
        _line("no DKIM-Signature (dkim=none)", 2)
    for sig in sigs:
        bits = f"{sig.get('key_bits')}-bit key, " if sig.get("key_bits") else ""
        _line(f"dkim={sig.get('result')} d={sig.get('domain')} s={sig.get('selector')} "
              f"a={sig.get('algorithm')} ({bits}key DNS {sig.get('key_security')})"
              + (f": {sig['reason']}" if sig.get("reason") else ""), 2)


def cmd_dkim_verify(args: argparse.Namespace) -> tuple[Json, Callable[[Json], int]]:
    body = request(args, "POST", "/v1/dkim/verify", body=_message(args.message),
                   content_type="message/rfc822")

    def show(b: Json) -> int:
        _line(f"dkim={b.get('result')} (keys {b.get('status')})")
        _dkim_lines(b.get("signatures", []))
        return EXIT_OK if b.get("result") == "pass" else EXIT_NOT_SECURE
    return body, show


def cmd_dmarc(args: argparse.Namespace) -> tuple[Json, Callable[[Json], int]]:
    body = request(args, "GET", "/v1/dmarc", {"domain": args.domain})

    def show(b: Json) -> int:
        show_envelope(b)
        dmarc = b.get("dmarc", {})
        _line(f"DMARC policy for {dmarc.get('from_domain')}: {dmarc.get('status')}"
              + (f" at {dmarc['policy_domain']}" if dmarc.get("policy_domain") else "")
              + (" (inherited from the organizational domain)" if dmarc.get("inherited")
                 else ""), 2)
        record = dmarc.get("record") or {}
        if record.get("raw"):
            _line(f"record: {record['raw']}", 4)
        if dmarc.get("reason"):
            _line(f"reason: {dmarc['reason']}", 4)
        return _secure(b)
    return body, show


def cmd_authenticate(args: argparse.Namespace) -> tuple[Json, Callable[[Json], int]]:
    params = {"ip": args.ip, "helo": args.helo, "mailfrom": args.mailfrom}
    if args.authserv_id:
        params["authserv_id"] = args.authserv_id
    body = request(args, "POST", "/v1/authenticate", params, body=_message(args.message),
                   content_type="message/rfc822")

    def show(b: Json) -> int:
        results = b.get("results", {})
        _line(f"spf={results.get('spf')} dkim={results.get('dkim')} "
              f"dmarc={results.get('dmarc')} (DNS {b.get('status')})")
        dmarc = b.get("dmarc", {})
        if dmarc.get("reason"):
            _line(f"dmarc: {dmarc['reason']}; disposition {dmarc.get('disposition')}", 2)
        _dkim_lines(b.get("dkim", []))
        _line(b.get("header", ""))
        return EXIT_OK if results.get("dmarc") == "pass" else EXIT_NOT_SECURE
    return body, show


# --------------------------------------------------------------------------- wiring

Command = Callable[[argparse.Namespace], tuple[Json, Callable[[Json], int]]]


def _runner(command: Command) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            body, show = command(args)
        except InputError as exc:
            print(f"{args.command}: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except ServiceError as exc:
            print(f"{args.command}: {exc}", file=sys.stderr)
            return EXIT_SERVICE
        if args.json:
            print(json.dumps(body, indent=1))
            code: int = show_quiet(show, body)
            return code
        return show(body)
    return run


def show_quiet(show: Callable[[Json], int], body: Json) -> int:
    """The exit status of *show* without its output (for ``--json``)."""
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        return show(body)


LOOKUP_EXIT = ("exit status: 0 secure answer, 1 not secure (insecure, bogus, "
               "indeterminate), 2 bad input, 3 service unreachable or failing")


def _check_exit(what: str) -> str:
    return (f"exit status: 0 {what}, 1 otherwise (whatever the DNSSEC status), 2 bad "
            "input, 3 service unreachable or failing")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--api", default=DEFAULT_API, metavar="URL",
                   help=f"the service's HTTP API (default {DEFAULT_API})")
    p.add_argument("--json", action="store_true", help="print the API's JSON answer")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait (default 30)")


def _port(text: str) -> str:
    if not text.isdigit() or not 0 < int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)")
    return text


def add_parser(sub: Any) -> None:
    def new(name: str, help_text: str, command: Command, epilog: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text,
                                                    epilog=epilog)
        p.set_defaults(func=_runner(command))
        return p

    p = new("tlsa", "the TLSA RRset of a TLS server (RFC 6698), validated", cmd_tlsa,
            LOOKUP_EXIT)
    p.add_argument("host")
    p.add_argument("port", nargs="?", default="25", type=_port, help="default 25")
    p.add_argument("--proto", default="tcp", choices=("tcp", "udp", "sctp"))
    _common(p)

    p = new("dane-smtp", "the RFC 7672 DANE decision for delivering mail to a domain",
            cmd_dane_smtp, "exit status: 0 when the verdict is dane or encrypt (TLS required "
            "on secure DNS), 1 for may, defer or no-mail, 2 bad input, 3 service unreachable "
            "or failing")
    p.add_argument("domain")
    p.add_argument("--port", default="25", type=_port, help="SMTP port (default 25)")
    _common(p)

    p = new("dane-verify", "match a certificate chain (PEM file, leaf first) against the "
            "host's validated TLSA RRset", cmd_dane_verify,
            _check_exit("when the chain matches a secure TLSA record"))
    p.add_argument("host")
    p.add_argument("port", type=_port, help="e.g. 25")
    p.add_argument("chain", metavar="CHAIN.pem", help="the presented chain ('-' for stdin)")
    p.add_argument("--proto", default="tcp", choices=("tcp", "udp", "sctp"))
    p.add_argument("--name", action="append", metavar="NAME",
                   help="extra reference identifier (repeatable)")
    p.add_argument("--trust-store", metavar="FILE",
                   help="PEM trust anchors for PKIX usages (default: the system store)")
    _common(p)

    for name, path, what in (("smimea", "/v1/smimea", "SMIMEA (RFC 8162)"),
                             ("openpgpkey", "/v1/openpgpkey", "OPENPGPKEY (RFC 7929)")):
        p = new(name, f"the {what} records of an e-mail address, validated",
                _key_lookup(path, name.upper()), LOOKUP_EXIT)
        p.add_argument("email")
        p.add_argument("--lowercase", action="store_true",
                       help="also try the lowercased local part when nothing is found")
        _common(p)

    p = new("spf", "a domain's SPF record (RFC 7208), validated", cmd_spf, LOOKUP_EXIT)
    p.add_argument("domain")
    _common(p)

    p = new("spf-check", "SPF check_host() for a client IP and MAIL FROM ('<>' for the null "
            "sender, then HELO is needed)", cmd_spf_check, _check_exit("for spf=pass"))
    p.add_argument("ip")
    p.add_argument("mailfrom")
    p.add_argument("helo", nargs="?")
    _common(p)

    p = new("dkim", "a DKIM key record (selector._domainkey.domain), validated", cmd_dkim,
            LOOKUP_EXIT)
    p.add_argument("selector")
    p.add_argument("domain")
    _common(p)

    p = new("dkim-verify", "verify the DKIM signatures of a message file", cmd_dkim_verify,
            _check_exit("when a signature verifies (dkim=pass)"))
    p.add_argument("message", help="the message file ('-' for stdin)")
    _common(p)

    p = new("dmarc", "a domain's DMARC policy (RFC 7489), validated", cmd_dmarc, LOOKUP_EXIT)
    p.add_argument("domain")
    _common(p)

    p = new("authenticate", "SPF, DKIM and DMARC for a message and its connection, with an "
            "Authentication-Results header", cmd_authenticate,
            _check_exit("for dmarc=pass"))
    p.add_argument("message", help="the message file ('-' for stdin)")
    p.add_argument("--ip", required=True, help="the SMTP client's address")
    p.add_argument("--helo", required=True, help="the HELO/EHLO name")
    p.add_argument("--mailfrom", required=True, help="MAIL FROM ('<>' for the null sender)")
    p.add_argument("--authserv-id", help="authserv-id (default: the service's host name)")
    _common(p)
