"""DANE routes: ``/v1/tlsa``, ``/v1/dane/smtp`` and ``POST /v1/dane/verify``.

Each answers with the shared envelope of the TLSA (or MX) lookup plus its own fields.
TLSA discovery is :func:`resolver.mail.tlsa_lookup.find_tlsa`, the SMTP decision
:func:`resolver.mail.dane_smtp.smtp_dane`, matching
:func:`resolver.mail.dane_match.match_chain`; input checks are :mod:`resolver.api.inputs`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from cryptography.exceptions import UnsupportedAlgorithm

from ..dnssec.status import Security
from ..mail.dane_match import (
    ALL_USAGES,
    SMTP_USAGES,
    DaneMatch,
    classify_tlsa,
    tlsa_json,
)
from ..mail.dane_smtp import smtp_dane
from ..mail.dnsapi import LookupInfo
from ..mail.tlsa_lookup import TlsaFound, find_tlsa
from ..wire.name import Name
from ..wire.types import RRType
from .app import BadInput, json_response, param
from .inputs import (
    MAX_NAMES,
    mail_domain,
    parse_flag,
    parse_port,
    parse_proto,
    pem_list,
    read_json,
)
from .mail_dns import RequestDns, request_dns


async def _find(dns: RequestDns, host: Name, port: int, proto: str) -> TlsaFound:
    found = await find_tlsa(dns, host, port, proto)
    if found is None:
        raise BadInput(f"host: _{port}._{proto}.{host} would exceed 255 octets")
    return found


def _usage_profile(smtp: bool) -> frozenset[int]:
    return SMTP_USAGES if smtp else ALL_USAGES


def _tlsa_body(dns: RequestDns, host: Name, port: int, proto: str, found: TlsaFound,
               smtp: bool) -> dict[str, Any]:
    body = dns.envelope(found.owner, RRType.TLSA)
    bogus = body["status"] == Security.BOGUS.label
    tset = classify_tlsa(() if bogus else found.lookup.records,
                         usages=_usage_profile(smtp))
    body.update({
        "host": host.to_text(), "port": port, "proto": proto,
        "owner": found.owner.to_text(), "base_domain": found.base.to_text(),
        "expanded_host": found.expanded.to_text() if found.expanded is not None else None,
        "usages": "smtp" if smtp else "all",
        "usable": [tlsa_json(r) for r in tset.usable],
        "ignored": [i.to_json() for i in tset.ignored],
        "notes": found.notes,
        "lookups": [LookupInfo(lk).to_json() for lk in found.lookups],
    })
    return body


async def tlsa(request: web.Request) -> web.Response:
    host = mail_domain(param(request, "host"), "host", min_labels=1)
    port = parse_port(request.query.get("port", "25") or "25")
    proto = parse_proto(request.query.get("proto", "tcp") or "tcp")
    smtp = parse_flag(request, "smtp", port == 25 and proto == "tcp")
    dns = request_dns(request)
    found = await _find(dns, host, port, proto)
    return json_response(_tlsa_body(dns, host, port, proto, found, smtp))


async def dane_smtp(request: web.Request) -> web.Response:
    domain = mail_domain(param(request, "domain"))
    port = parse_port(request.query.get("port", "25") or "25")
    dns = request_dns(request)
    decision = await smtp_dane(dns, domain, port)
    body = dns.envelope(domain, RRType.MX)
    body.update(decision.to_json())
    return json_response(body)


async def dane_verify(request: web.Request) -> web.Response:
    body_in = await read_json(request, ("host", "port", "proto", "chain", "names", "smtp",
                                        "check_names", "trust_store"))
    host = mail_domain(body_in.text("host", max_len=254) or "", "host", min_labels=1)
    port = body_in.integer("port", 25, 1, 65535)
    proto = parse_proto(body_in.text("proto", required=False, max_len=10) or "tcp")
    smtp = body_in.flag("smtp", port == 25 and proto == "tcp")
    check_names = body_in.flag("check_names", True)
    names = [mail_domain(n, "names", min_labels=1) for n in
             body_in.texts("names", required=False, max_items=MAX_NAMES, max_len=254) or []]
    chain = pem_list(body_in, "chain", required=True) or []
    store = pem_list(body_in, "trust_store", required=False)
    dns = request_dns(request)
    found = await _find(dns, host, port, proto)
    body = _tlsa_body(dns, host, port, proto, found, smtp)
    refs = found.reference_names(host, names)
    match: DaneMatch | None = None
    verdict = found.unusable
    if verdict is None:
        try:
            match = found.match(chain, refs, trust_store=store, check_names=check_names,
                                usages=_usage_profile(smtp))
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise BadInput(f"chain: cannot be matched ({str(exc)[:160]})", 422) from None
        verdict = match.kind.value
    body.update({"reference_names": [n.to_text() for n in refs], "verdict": verdict,
                 "matched": match is not None and match.ok,
                 "match": match.to_json() if match is not None else None})
    return json_response(body)

