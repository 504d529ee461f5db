"""Sender-authentication routes: SPF (``/v1/spf``, ``/v1/spf/check``), DKIM
(``/v1/dkim``, ``POST /v1/dkim/verify``), DMARC (``/v1/dmarc``,
``POST /v1/dmarc/evaluate``) and all three at once (``POST /v1/authenticate``).

Lookup routes answer with the shared envelope of the lookup the answer rests on; check
routes with a ``status`` (the weakest DNSSEC status the verdict rests on), a ``result``
and the evaluator's details.
"""

from __future__ import annotations

from aiohttp import web

from ..dnssec.status import Security
from ..mail.authres import SpfInfo, format_authentication_results
from ..mail.dkim import summarize, verify_message
from ..mail.dkim_key import get_dkim_key, key_name
from ..mail.dmarc import check_message, get_dmarc_policy
from ..mail.dmarc import evaluate as dmarc_evaluate
from ..mail.spf import check_host, get_spf_record
from ..wire.name import Name, NameError_
from ..wire.types import RRType
from .app import BadInput, json_response, param
from .inputs import (
    DKIM_RESULTS,
    SPF_RESULTS,
    authserv_id,
    mail_domain,
    parse_helo,
    parse_ip,
    parse_mailfrom,
    parse_selector,
    read_json,
    read_message,
    result_pair,
)
from .mail_dns import request_dns


async def spf(request: web.Request) -> web.Response:
    domain = mail_domain(param(request, "domain"))
    dns = request_dns(request)
    record = await get_spf_record(dns, domain)
    body = dns.envelope(domain, RRType.TXT)
    body["domain"] = domain.to_text(omit_final_dot=True)
    body["spf"] = record.to_json()
    return json_response(body)


async def spf_check(request: web.Request) -> web.Response:
    ip = parse_ip(param(request, "ip"))
    mailfrom = parse_mailfrom(param(request, "mailfrom"))
    helo_text = request.query.get("helo", "")
    helo = parse_helo(helo_text) if helo_text else None
    if not mailfrom and helo is None:
        raise BadInput("helo: needed for the null sender (mailfrom '<>')")
    dns = request_dns(request)
    result = await check_host(dns, ip, None, mailfrom, helo, receiver=authserv_id(request))
    return json_response({"status": result.security.label, "result": result.result.value,
                          "spf": result.to_json()})


# --------------------------------------------------------------------------- DKIM

async def dkim(request: web.Request) -> web.Response:
    domain = mail_domain(param(request, "domain"), min_labels=1)
    selector = parse_selector(param(request, "selector"), domain)
    dns = request_dns(request)
    found = await get_dkim_key(dns, selector, domain)
    body = dns.envelope(key_name(selector, domain), RRType.TXT)
    body.update({"selector": selector, "domain": domain.to_text(omit_final_dot=True),
                 "dkim": found.to_json()})
    return json_response(body)



async def dkim_verify(request: web.Request) -> web.Response:
    message = await read_message(request)
    dns = request_dns(request)
    sigs = await verify_message(dns, message)
    result, security = summarize(sigs)
    return json_response({"status": security.label, "result": result,
                          "signatures": [s.to_json() for s in sigs]})


# --------------------------------------------------------------------------- DMARC

async def dmarc(request: web.Request) -> web.Response:
    domain = mail_domain(param(request, "domain"))
    try:
        domain.prepend(b"_dmarc")
    except NameError_:
        raise BadInput("domain: too long for a _dmarc name") from None
    dns = request_dns(request)
    policy = await get_dmarc_policy(dns, domain)
    last = Name.from_text(policy.queried[-1]) if policy.queried else domain.prepend(b"_dmarc")
    body = dns.envelope(last, RRType.TXT)
    weakest = min(policy.security, Security[body["status"].upper()])
    body["status"] = weakest.label
    body["domain"] = domain.to_text(omit_final_dot=True)
    body["dmarc"] = policy.to_json()
    return json_response(body)



async def dmarc_evaluate_route(request: web.Request) -> web.Response:
    body_in = await read_json(request, ("from_domain", "spf", "dkim", "pct_roll"))
    from_domain = mail_domain(body_in.text("from_domain", max_len=254) or "", "from_domain")
    spf_value = body_in.raw("spf")
    spf_pair = (result_pair(spf_value, "spf", SPF_RESULTS, True)
                if spf_value is not None else None)
    dkim_items = body_in.items("dkim", required=False, max_items=32) or []
    dkim_pairs = [result_pair(item, f"dkim[{i}]", DKIM_RESULTS, False)
                  for i, item in enumerate(dkim_items)]
    roll = body_in.number("pct_roll", 0.0, 100.0)
    dns = request_dns(request)
    author = from_domain.to_text(omit_final_dot=True)
    policy = await get_dmarc_policy(dns, from_domain)
    result = dmarc_evaluate(author, policy, spf_pair, dkim_pairs, pct_roll=roll)
    security = result.security if result.security is not None else policy.security
    return json_response({"status": security.label, "result": result.result,
                          "disposition": result.disposition, "dmarc": result.to_json(),
                          "policy": policy.to_json()})


# --------------------------------------------------------------------------- all together

async def authenticate(request: web.Request) -> web.Response:
    ip = parse_ip(param(request, "ip"))
    helo = parse_helo(param(request, "helo"))
    mailfrom = parse_mailfrom(param(request, "mailfrom"))
    serv_id = authserv_id(request)
    message = await read_message(request)
    dns = request_dns(request)
    spf_result = await check_host(dns, ip, None, mailfrom, helo, receiver=serv_id)
    sigs = await verify_message(dns, message)
    dmarc_result = await check_message(dns, message,
                                       (spf_result.result.value, spf_result.domain), sigs)
    value = format_authentication_results(
        serv_id, spf=SpfInfo(spf_result.result.value, mailfrom or None, helo), dkim=sigs,
        dmarc=dmarc_result)
    dkim_result, dkim_security = summarize(sigs)
    parts = [spf_result.security, dmarc_result.security]
    if sigs:
        parts.append(dkim_security)
    security = min((p for p in parts if p is not None), default=Security.INDETERMINATE)
    return json_response({
        "status": security.label,
        "authserv_id": serv_id,
        "results": {"spf": spf_result.result.value, "dkim": dkim_result,
                    "dmarc": dmarc_result.result},
        "spf": spf_result.to_json(),
        "dkim": [s.to_json() for s in sigs],
        "dmarc": dmarc_result.to_json(),
        "authentication_results": value,
        "header": f"Authentication-Results: {value}",
    })

