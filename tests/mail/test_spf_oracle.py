"""Differential check against pyspf (test-only oracle) on the OpenSPF zone data.

pyspf does its DNS through the module-level hook ``spf.DNSLookup(name, qtype, ...)``,
which returns ``((name, type), value)`` pairs in pydns shapes (A as text, AAAA as
packed bytes, TXT as a tuple of byte strings, MX as ``(pref, name)``, PTR and CNAME
as names; pyspf follows CNAMEs itself). The hook below answers from the same
:class:`ZoneDns` our check_host() uses. Beyond the suite's own (ip, sender) pairs,
every scenario is also checked for every address in its zone data and two unlisted
addresses, about 1100 evaluations, comparing results and (for fail) explanations.

One divergence is a documented decision: the void-lookup limit (RFC 7208 s4.6.4) is
about *terms* whose lookups come back empty; we count each a/mx/exists term once,
and not the PTR look-ups behind ``%{p}`` (which the connecting client controls),
while pyspf counts every empty query.
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import pytest

from resolver.mail.spf import check_host
from resolver.wire.name import Name
from resolver.wire.types import RRType
from tests.mail.spf_suite import DEFAULT_EXPLANATION, SuiteCase, ZoneDns, load_cases, zone_name

spf: Any = pytest.importorskip("spf")

_TYPES = {"A": RRType.A, "AAAA": RRType.AAAA, "MX": RRType.MX, "PTR": RRType.PTR,
          "TXT": RRType.TXT, "SPF": RRType.SPF, "CNAME": RRType.CNAME}


def _strings(data: bytes) -> tuple[bytes, ...]:
    out = []
    pos = 0
    while pos < len(data):
        size = data[pos]
        out.append(data[pos + 1:pos + 1 + size])
        pos += 1 + size
    return tuple(out)


def _value(rtype: int, data: bytes) -> Any:
    if rtype == RRType.A:
        return str(ipaddress.IPv4Address(data))
    if rtype == RRType.AAAA:
        return data
    if rtype in (RRType.TXT, RRType.SPF):
        return _strings(data)
    if rtype == RRType.MX:
        return int.from_bytes(data[:2], "big"), Name(data[2:]).to_text(omit_final_dot=True)
    return Name(data).to_text(omit_final_dot=True)


class PyspfHook:
    """``spf.DNSLookup`` over a ZoneDns, with the same TIMEOUT conventions."""

    def __init__(self) -> None:
        self.zone: ZoneDns | None = None

    def __call__(self, name: str, qtype: str, tcpfallback: bool = True,
                 timeout: int = 30) -> list[tuple[tuple[str, str], Any]]:
        assert self.zone is not None
        rtype = _TYPES.get(qtype)
        try:
            owner = zone_name(name)
        except ValueError:
            return []
        items = self.zone.entries.get(owner)
        if rtype is None:
            return []
        if items is None:
            if owner.labels and owner.labels[0].lower() == b"error":
                raise spf.TempError("DNS timeout")
            return []
        out: list[tuple[tuple[str, str], Any]] = []
        seen = False
        for item in items:
            if isinstance(item, str):
                if not seen:
                    raise spf.TempError("DNS timeout")
                break
            t, data = item
            if t == RRType.CNAME and rtype != RRType.CNAME:
                return [((name, "CNAME"), Name(data).to_text(omit_final_dot=True))]
            if t == rtype:
                seen = True
                out.append(((name, qtype), _value(rtype, data)))
        return out


def _addresses(zone: ZoneDns) -> list[str]:
    found = set()
    for items in zone.entries.values():
        for item in items:
            if isinstance(item, str):
                continue
            t, data = item
            if t == RRType.A:
                found.add(str(ipaddress.IPv4Address(data)))
            elif t == RRType.AAAA:
                found.add(str(ipaddress.IPv6Address(data)))
    return sorted(found)


def _inputs(cases: list[SuiteCase]) -> list[tuple[SuiteCase, str]]:
    seen: set[tuple[int, str, str, str]] = set()
    out = []
    for case in cases:
        for host in [case.host, *_addresses(case.zone), "192.0.2.200", "2001:db8::200"]:
            key = (id(case.zone), case.mailfrom, case.helo, host)
            if key not in seen:
                seen.add(key)
                out.append((case, host))
    return out


def test_agrees_with_pyspf(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = PyspfHook()
    monkeypatch.setattr(spf, "DNSLookup", hook)
    inputs = _inputs(load_cases())
    assert len(inputs) > 1000

    async def ours_all() -> list[tuple[str, str | None]]:
        out = []
        for case, host in inputs:
            domain = case.mailfrom.rpartition("@")[2] if case.mailfrom else case.helo
            r = await check_host(case.zone, host, domain, case.mailfrom, case.helo,
                                 default_explanation=DEFAULT_EXPLANATION, now=0)
            out.append((r.result.value, r.explanation))
        return out

    ours = asyncio.run(ours_all())
    unexpected: list[str] = []
    void_divergences = 0
    for (case, host), (result, explanation) in zip(inputs, ours, strict=True):
        hook.zone = case.zone
        query = spf.query(i=host, s=case.mailfrom, h=case.helo, receiver="unknown")
        query.set_default_explanation(DEFAULT_EXPLANATION)
        theirs, _code, their_exp = query.check()
        if result == theirs:
            if result == "fail" and explanation != their_exp:
                unexpected.append(f"{case.name} {host}: explanation {explanation!r} "
                                  f"vs pyspf {their_exp!r}")
            continue
        if theirs == "permerror" and "Void lookup" in str(their_exp):
            void_divergences += 1
            continue
        unexpected.append(f"{case.name} {host}: ours {result}, pyspf {theirs} ({their_exp})")
    assert unexpected == []
    assert void_divergences <= 10
