"""The OpenSPF RFC 7208 test suite (``rfc7208-tests.yml``, 203 tests) as a runner.

Each YAML document (scenario) has ``tests`` and a ``zonedata`` map; the zone data
becomes a :class:`ZoneDns` (a :class:`~resolver.mail.dnsapi.DnsSource`) following the
suite's driver conventions (see ``tests/data/mail/spf/README.md``):

* each ``SPF`` record is also served as TXT unless the name has a ``TXT`` entry
  (``TXT: NONE`` = no TXT records at all); the generated TXT records come after
  every listed entry, so after a ``TIMEOUT``;
* a bare ``TIMEOUT`` entry makes a query time out unless a record of the queried
  type was listed before it;
* names absent from the data do not exist, except that ``error.*`` names time out;
* a YAML list as TXT/SPF value is one record of several strings (joined with no
  separator by SPF); ``\\x`` escapes give raw octets (latin-1 code points);
* CNAMEs are followed (a loop is a DNS error).

A test passes when the result is one of the listed ones and, where an
``explanation`` is given, the explanation is equal to it (``DEFAULT`` being the
runner's default explanation). ``python -m tests.mail.spf_suite`` prints
``spf-rfc7208: N passed, M failed``.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from resolver.dnssec.status import Security
from resolver.mail.dnsapi import Lookup
from resolver.mail.spf import SpfResult, check_host
from resolver.wire.name import Name
from resolver.wire.types import Rcode, RRType

SUITE = (Path(__file__).resolve().parent.parent / "data" / "mail" / "spf"
         / "rfc7208-tests.yml")
DEFAULT_EXPLANATION = "DEFAULT"
_TYPES = {"A": RRType.A, "AAAA": RRType.AAAA, "MX": RRType.MX, "PTR": RRType.PTR,
          "TXT": RRType.TXT, "SPF": RRType.SPF, "CNAME": RRType.CNAME}
_TIMEOUT = "TIMEOUT"


def zone_name(text: str) -> Name:
    """A zonedata name: split on dots only (the suite uses names with spaces, '%' and
    ':' that presentation format would read differently)."""
    body = text[:-1] if text.endswith(".") else text
    if not body:
        return Name(b"\x00")
    return Name.from_labels(_octets(label) for label in body.split("."))


def _octets(text: str) -> bytes:
    """YAML ``\\xNN`` escapes arrive as code points below 256: keep them as raw octets."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def _txt_rdata(value: str | list[str]) -> bytes:
    strings = [value] if isinstance(value, str) else list(value)
    out = bytearray()
    for s in strings:
        data = _octets(str(s))
        chunks = [data[i:i + 255] for i in range(0, len(data), 255)] or [b""]
        for chunk in chunks:
            out.append(len(chunk))
            out.extend(chunk)
    return bytes(out)


def _rdata(rtype: str, value: Any) -> bytes:
    if rtype == "A":
        return ipaddress.IPv4Address(value).packed
    if rtype == "AAAA":
        return ipaddress.IPv6Address(value).packed
    if rtype == "MX":
        pref, host = value
        return int(pref).to_bytes(2, "big") + zone_name(str(host)).wire
    if rtype in ("PTR", "CNAME"):
        return zone_name(str(value)).wire
    return _txt_rdata(value)


@dataclass(slots=True)
class ZoneDns:
    """A DnsSource over one scenario's ``zonedata``; every answer gets *security*."""

    entries: dict[Name, list[tuple[int, bytes] | str]]
    security: Security = Security.SECURE
    queries: list[tuple[Name, int]] = field(default_factory=list)

    @classmethod
    def from_zonedata(cls, zonedata: dict[str, list[Any]] | None,
                      security: Security = Security.SECURE) -> ZoneDns:
        entries: dict[Name, list[tuple[int, bytes] | str]] = {}
        for owner, items in (zonedata or {}).items():
            listed: list[tuple[int, bytes] | str] = []
            generated: list[tuple[int, bytes] | str] = []
            has_txt = any(isinstance(i, dict) and "TXT" in i for i in items)
            for item in items:
                if item == _TIMEOUT:
                    listed.append(_TIMEOUT)
                    continue
                for rtype, value in item.items():
                    if value == "NONE":
                        continue
                    data = _rdata(rtype, value)
                    listed.append((_TYPES[rtype], data))
                    if rtype == "SPF" and not has_txt:
                        generated.append((RRType.TXT, data))
            entries.setdefault(zone_name(owner), []).extend(listed + generated)
        return cls(entries, security)

    def _answer(self, name: Name, rtype: int) -> tuple[str, list[bytes], Name | None]:
        """("ok" | "nxdomain" | "timeout", records, CNAME target)."""
        items = self.entries.get(name)
        if items is None:
            if name.labels and name.labels[0].lower() == b"error":
                return "timeout", [], None
            return "nxdomain", [], None
        records: list[bytes] = []
        seen = False
        for item in items:
            if isinstance(item, str):        # TIMEOUT
                if not seen:
                    return "timeout", [], None
                break
            t, data = item
            if t == RRType.CNAME and rtype != RRType.CNAME:
                return "ok", [], Name(data)
            if t == rtype:
                seen = True
                records.append(data)
        return "ok", records, None

    async def lookup(self, name: Name, rtype: int) -> Lookup:
        self.queries.append((name, rtype))
        cnames: list[Name] = []
        current = name
        while True:
            status, records, cname = self._answer(current, rtype)
            if status == "timeout":
                return Lookup(name, rtype, Rcode.SERVFAIL, (), self.security,
                              cnames=tuple(cnames), error="timeout")
            if cname is None:
                rcode = Rcode.NXDOMAIN if status == "nxdomain" else Rcode.NOERROR
                return Lookup(name, rtype, rcode, tuple(records), self.security, ttl=300,
                              cnames=tuple(cnames))
            if cname in cnames or len(cnames) >= 8:
                return Lookup(name, rtype, Rcode.SERVFAIL, (), self.security,
                              cnames=tuple(cnames), error="CNAME loop")
            cnames.append(cname)
            current = cname


@dataclass(frozen=True, slots=True)
class SuiteCase:
    scenario: str
    name: str
    spec: str
    helo: str
    host: str
    mailfrom: str
    results: tuple[str, ...]
    explanation: str | None
    zone: ZoneDns


def load_cases(path: Path = SUITE) -> list[SuiteCase]:
    cases: list[SuiteCase] = []
    with path.open(encoding="utf-8") as f:
        docs = list(yaml.safe_load_all(f))
    for doc in docs:
        if not doc:
            continue
        zone = ZoneDns.from_zonedata(doc.get("zonedata"))
        for name, test in doc["tests"].items():
            result = test["result"]
            results = tuple(result) if isinstance(result, list) else (result,)
            cases.append(SuiteCase(doc["description"], name, str(test.get("spec", "")),
                                   str(test["helo"]), str(test["host"]),
                                   str(test["mailfrom"]), results,
                                   test.get("explanation"), zone))
    return cases


async def run_case(case: SuiteCase) -> SpfResult:
    """check_host() as the suite's drivers call it: the domain is that of MAIL FROM,
    or the HELO name for the null sender."""
    domain = case.mailfrom.rpartition("@")[2] if case.mailfrom else case.helo
    return await check_host(case.zone, case.host, domain, case.mailfrom, case.helo,
                            default_explanation=DEFAULT_EXPLANATION, now=0)


def judge(case: SuiteCase, got: SpfResult) -> str | None:
    """None when *got* passes *case*, else what is wrong."""
    if got.result.value not in case.results:
        return (f"expected {'/'.join(case.results)}, got {got.result.value}"
                f" ({got.reason})")
    if case.explanation is not None and got.explanation != case.explanation:
        return f"expected explanation {case.explanation!r}, got {got.explanation!r}"
    return None


async def _run_all(cases: Iterable[SuiteCase]) -> list[tuple[SuiteCase, SpfResult]]:
    return [(case, await run_case(case)) for case in cases]


def run_spf_suite(path: Path = SUITE) -> tuple[int, int, list[str]]:
    """Run every test of *path*. Returns ``(passed, failed, details of failures)``."""
    passed = failed = 0
    details: list[str] = []
    for case, got in asyncio.run(_run_all(load_cases(path))):
        problem = judge(case, got)
        if problem is None:
            passed += 1
        else:
            failed += 1
            details.append(f"{case.scenario} / {case.name} (s{case.spec}): {problem}")
    return passed, failed, details


if __name__ == "__main__":
    p, f, d = run_spf_suite()
    print(f"spf-rfc7208: {p} passed, {f} failed")
    for line in d:
        print("  " + line)
