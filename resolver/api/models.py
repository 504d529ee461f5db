"""JSON shapes: the lookup envelope every endpoint shares, and typed record fields."""

from __future__ import annotations

import base64
import ipaddress
from dataclasses import fields
from typing import Any

from ..answer import Answer
from ..dnssec.status import Security
from ..wire import rdata as rd
from ..wire.name import Name
from ..wire.rrset import RRset
from ..wire.types import rcode_to_text, type_to_text

_HEX_FIELDS = {"digest", "data", "fingerprint", "salt"}
_B64_FIELDS = {"key", "signature"}
# typed fields whose names would hide the presentation text in "data"
_RENAMED = {"data": "association_data"}


def _value(rtype: int, name: str, value: Any) -> Any:
    if isinstance(value, Name):
        return value.to_text()
    if isinstance(value, frozenset):
        return [type_to_text(t) for t in sorted(value)]
    if isinstance(value, tuple):
        return [_value(rtype, name, v) for v in value]
    if isinstance(value, bytes):
        if name == "address":
            return str(ipaddress.ip_address(value))
        if name in _B64_FIELDS:
            return base64.b64encode(value).decode("ascii")
        if name == "next" and rtype == 50:
            return rd.b32hex_encode(value)
        if name in _HEX_FIELDS:
            return value.hex()
        return value.decode("utf-8", "replace")
    return value


def record_json(owner: Name, rtype: int, ttl: int, data: bytes) -> dict[str, Any]:
    """One record: owner, type, TTL, presentation text and the typed fields."""
    out: dict[str, Any] = {"name": owner.to_text(), "type": type_to_text(rtype), "ttl": ttl,
                           "data": rd.to_text(rtype, data)}
    try:
        value = rd.decode(rtype, data)
    except rd.RdataError:
        return out
    if isinstance(value, rd.Generic):
        return out
    for f in fields(value):  # type: ignore[arg-type]
        key = _RENAMED.get(f.name, f.name)
        out[key] = _value(rtype, f.name, getattr(value, f.name))
    if isinstance(value, rd.TXT):
        out["text"] = value.joined().decode("utf-8", "replace")
    return out


def rrset_json(rrset: RRset) -> list[dict[str, Any]]:
    return [record_json(rrset.name, rrset.rtype, rrset.ttl, d) for d in rrset.rdatas]


def envelope(name: Name, rtype: int, answer: Answer) -> dict[str, Any]:
    """The shared lookup envelope. Bogus answers never carry records."""
    records: list[dict[str, Any]] = []
    if answer.security != Security.BOGUS:
        for rrset in answer.answer:
            records.extend(rrset_json(rrset))
    return {
        "query": {"name": name.to_text(), "type": type_to_text(rtype)},
        "status": answer.security.label,
        "rcode": rcode_to_text(answer.rcode),
        "records": records,
        "ttl": answer.ttl,
        "reason": str(answer.reason) if answer.reason is not None else None,
        "ede": [{"code": c, "text": t} for c, t in answer.ede],
    }
