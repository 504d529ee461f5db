"""SMIMEA and OPENPGPKEY routes: ``/v1/smimea``, ``POST /v1/smimea/verify`` and
``/v1/openpgpkey`` (RFC 8162, RFC 7929), over :mod:`resolver.mail.smimea`.
"""

from __future__ import annotations

from aiohttp import web
from cryptography.exceptions import UnsupportedAlgorithm

from ..dnssec.status import Security
from ..mail import smimea as sm
from ..mail.dane_match import DaneMatch, tlsa_json
from ..wire.types import RRType
from .app import BadInput, json_response, param
from .inputs import (
    MAX_CERTS,
    MAX_EMAIL,
    MAX_PEM,
    parse_certificates,
    parse_email,
    parse_flag,
    pem_list,
    read_json,
)
from .mail_dns import request_dns


async def smimea_get(request: web.Request) -> web.Response:
    email = parse_email(param(request, "email"))
    lowercase = parse_flag(request, "lowercase")
    dns = request_dns(request)
    result = await sm.smimea_lookup(dns, email, try_lowercase=lowercase)
    body = dns.envelope(result.owner, RRType.SMIMEA)
    bogus = body["status"] == Security.BOGUS.label
    data = result.to_json()
    body.update({k: data[k] for k in ("email", "owner", "verdict", "reasons", "lookups")})
    body["usable"] = [] if bogus else [tlsa_json(r) for r in result.records.usable]
    body["ignored"] = [] if bogus else [i.to_json() for i in result.records.ignored]
    return json_response(body)


async def smimea_verify(request: web.Request) -> web.Response:
    body_in = await read_json(request, ("email", "certificate", "chain", "trust_store",
                                        "check_names", "lowercase"))
    email = parse_email(body_in.text("email", max_len=MAX_EMAIL) or "")
    certs = parse_certificates([body_in.text("certificate", max_len=MAX_PEM) or ""],
                               "certificate")
    chain = certs[1:] + (pem_list(body_in, "chain", required=False) or [])
    if len(chain) > MAX_CERTS:
        raise BadInput(f"chain: more than {MAX_CERTS} certificates")
    store = pem_list(body_in, "trust_store", required=False)
    check_names = body_in.flag("check_names", True)
    lowercase = body_in.flag("lowercase", False)
    dns = request_dns(request)
    result = await sm.smimea_lookup(dns, email, try_lowercase=lowercase)
    body = dns.envelope(result.owner, RRType.SMIMEA)
    match: DaneMatch | None = None
    if result.verdict is sm.KeyVerdict.FAILED:
        verdict = "lookup-failed"
    elif result.verdict is sm.KeyVerdict.UNTRUSTED:
        verdict = "not-secure"
    elif result.verdict is sm.KeyVerdict.NONE:
        verdict = "no-smimea"
    else:
        try:
            match = result.verify(certs[0], chain=chain, trust_store=store,
                                  check_names=check_names)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise BadInput(f"certificate: cannot be matched ({str(exc)[:160]})", 422) from None
        verdict = match.kind.value
    data = result.to_json()
    body.update({k: data[k] for k in ("email", "owner", "reasons", "lookups")})
    body.update({"lookup_verdict": result.verdict.value, "verdict": verdict,
                 "matched": match is not None and match.ok,
                 "match": match.to_json() if match is not None else None})
    return json_response(body)


async def openpgpkey(request: web.Request) -> web.Response:
    email = parse_email(param(request, "email"))
    lowercase = parse_flag(request, "lowercase")
    dns = request_dns(request)
    result = await sm.openpgpkey_lookup(dns, email, try_lowercase=lowercase)
    body = dns.envelope(result.owner, RRType.OPENPGPKEY)
    data = result.to_json()
    body.update({k: data[k] for k in ("email", "owner", "verdict", "reasons", "lookups")})
    body["keys"] = [] if body["status"] == Security.BOGUS.label else data["keys"]
    return json_response(body)

