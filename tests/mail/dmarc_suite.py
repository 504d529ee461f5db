"""Hand-written DMARC cases from RFC 7489 (``make conformance``: ``dmarc: N passed, M failed``).

No DMARC conformance suite exists, so these cases follow the RFC text: policy
discovery (s6.6.3: From domain then Organizational Domain, exactly one record,
invalid ``p=``), identifier alignment (s3.1: relaxed and strict, SPF and DKIM),
disposition (s6.6.4: ``p``, ``sp``, ``np`` of RFC 9091, ``pct`` with a pinned
roll), author domains (s6.6.1: none, several), DNS failures and DNSSEC status.

Messages come from ``tests/data/mail/dmarc/authheaders`` (authheaders 0.16.3 test
suite). Their DNS data lives in that package's Python tests and is not copied:
the zone below is written from the RFC for the same names. Signed messages are
verified with our DKIM verifier against the authheaders test key, so the message
cases run DKIM and DMARC end to end. The PSL is the snapshot in
``tests/data/mail/dmarc/psl``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resolver.dnssec.status import Security
from resolver.mail.dkim import verify_message
from resolver.mail.dmarc import DmarcResult, check_message, evaluate, get_dmarc_policy
from resolver.mail.dnsapi import Lookup, StaticDns
from resolver.mail.psl import Psl
from resolver.wire.name import name
from resolver.wire.types import Rcode, RRType

HERE = Path(__file__).resolve().parent.parent / "data" / "mail" / "dmarc"
MESSAGES = HERE / "authheaders"
PSL_SNAPSHOT = HERE / "psl" / "public_suffix_list.dat"
NOW = 1_700_000_000


def _txt(text: str) -> bytes:
    data = text.encode()
    return b"".join(bytes((len(data[i:i + 255]),)) + data[i:i + 255]
                    for i in range(0, max(len(data), 1), 255))


# The zone, written from RFC 7489 for the authheaders names plus our own.
ZONE: dict[str, list[str]] = {
    "_dmarc.example.com": ["v=DMARC1; p=reject; sp=quarantine; rua=mailto:dmarc@example.com"],
    "_dmarc.example.org": ["v=DMARC1; p=none"],
    "_dmarc.example.net": ["v=DMARC1; p=none; sp=reject"],
    "_dmarc.example.biz": ["v=DMARC1; p=reject; sp=quarantine; np=reject"],
    "_dmarc.nop.example.org": ["v=DMARC1; rua=mailto:reports@example.org"],
    "_dmarc.bad.example.com": ["v=DMARC1; p=bogus"],
    "_dmarc.gov": ["v=DMARC1; p=reject; psd=y"],
    "_dmarc.own.example.com": ["v=DMARC1; p=quarantine"],
    "_dmarc.strict.example": ["v=DMARC1; p=reject; adkim=s; aspf=s"],
    "_dmarc.half.example": ["v=DMARC1; p=reject; pct=50"],
    "_dmarc.zero.example": ["v=DMARC1; p=quarantine; pct=0"],
    "_dmarc.two.example": ["v=DMARC1; p=reject", "v=DMARC1; p=none"],
    "_dmarc.mixed.example": ["v=spf1 -all", "v=DMARC1; p=reject", "other text"],
    "_dmarc.late.example": ["p=reject; v=DMARC1"],
    "_dmarc.case.example": ["v=DMARC1; P=Reject; ADKIM=S; unknown=1; pct=abc"],
    "_dmarc.badsp.example": ["v=DMARC1; p=reject; sp=never; rua=mailto:r@badsp.example"],
    "_dmarc.example.co.uk": ["v=DMARC1; p=quarantine"],
    "_dmarc.sub.example.com": [],   # exists (NODATA): falls back to example.com
    "test._domainkey.example.com": [(MESSAGES / "test.txt").read_text().strip()],
    "test._domainkey.example.biz": [(MESSAGES / "test.txt").read_text().strip()],
}
EXISTING = ["sub.example.biz", "sub.example.com", "mail.example.com"]  # have an A record


def build_zone(extra: Mapping[str, Sequence[str]] | None = None,
               servfail: Sequence[str] = (), bogus: Sequence[str] = (),
               security: Security = Security.SECURE) -> StaticDns:
    dns = StaticDns(security=security)
    records: dict[str, Sequence[str]] = dict(ZONE)
    records.update(extra or {})
    for owner, texts in records.items():
        dns.add(name(owner), RRType.TXT, [_txt(t) for t in texts])
    for owner in EXISTING:
        dns.add(name(owner), RRType.A, [bytes((192, 0, 2, 1))])
    for owner in servfail:
        dns.answers[(name(owner), RRType.TXT)] = Lookup(
            name(owner), RRType.TXT, Rcode.SERVFAIL, (), Security.INDETERMINATE, error="timeout")
    for owner in bogus:
        dns.answers[(name(owner), RRType.TXT)] = Lookup(
            name(owner), RRType.TXT, Rcode.SERVFAIL, (), Security.BOGUS, reason="sig expired")
    return dns


@dataclass(frozen=True)
class DmarcCase:
    """One case. Either *from_domain* (discovery + evaluate) or *message* (a file in
    the authheaders folder, run through DKIM verification and check_message)."""

    name: str
    expect: dict[str, Any]
    from_domain: str | None = None
    message: str | None = None
    spf: tuple[str, str] | None = None
    dkim: tuple[tuple[str, str], ...] = ()
    roll: float | None = None
    extra: dict[str, list[str]] = field(default_factory=dict)
    servfail: tuple[str, ...] = ()
    bogus: tuple[str, ...] = ()
    security: Security = Security.SECURE


SPF_PASS = ("pass", "example.com")

CASES: list[DmarcCase] = [
    # --- alignment (s3.1)
    DmarcCase("spf-aligned-exact", {"result": "pass", "spf_aligned": True},
              "example.com", spf=SPF_PASS),
    DmarcCase("spf-aligned-relaxed-subdomain", {"result": "pass", "spf_aligned": True},
              "example.com", spf=("pass", "bounce.mail.example.com")),
    DmarcCase("spf-address-form", {"result": "pass"}, "example.com",
              spf=("pass", "bounces@mail.example.com")),
    DmarcCase("spf-pass-unaligned", {"result": "fail", "disposition": "reject"},
              "example.com", spf=("pass", "example.org")),
    DmarcCase("spf-fail-aligned", {"result": "fail"}, "example.com", spf=("fail", "example.com")),
    DmarcCase("dkim-aligned-relaxed", {"result": "pass", "dkim_aligned": True,
                                       "aligned_dkim_domains": ("mail.example.com",)},
              "example.com", dkim=(("pass", "mail.example.com"),)),
    DmarcCase("dkim-unaligned-pass", {"result": "fail"}, "example.com",
              dkim=(("pass", "example.net"),)),
    DmarcCase("dkim-aligned-fail-other-pass", {"result": "pass"}, "example.com",
              spf=("fail", "example.com"),
              dkim=(("fail", "example.com"), ("pass", "example.com"))),
    DmarcCase("strict-spf-subdomain", {"result": "fail"}, "strict.example",
              spf=("pass", "mail.strict.example")),
    DmarcCase("strict-dkim-subdomain", {"result": "fail"}, "strict.example",
              dkim=(("pass", "mail.strict.example"),)),
    DmarcCase("strict-dkim-exact", {"result": "pass"}, "strict.example",
              dkim=(("pass", "STRICT.example."),)),
    DmarcCase("relaxed-psl-two-label-suffix", {"result": "pass",
                                               "policy_domain": "example.co.uk"},
              "a.b.example.co.uk", dkim=(("pass", "example.co.uk"),)),
    DmarcCase("relaxed-not-across-suffix", {"result": "fail", "disposition": "quarantine"},
              "a.example.co.uk", dkim=(("pass", "other.co.uk"),)),
    DmarcCase("dkim-temperror-aligned", {"result": "temperror", "disposition": "none"},
              "example.com", dkim=(("temperror", "example.com"),)),
    DmarcCase("spf-temperror-unaligned", {"result": "fail"}, "example.com",
              spf=("temperror", "example.org")),
    # --- discovery (s6.6.3)
    DmarcCase("no-record", {"result": "none", "disposition": "none"}, "nodmarc.example",
              spf=("fail", "nodmarc.example")),
    DmarcCase("org-fallback-sp", {"result": "fail", "disposition": "quarantine",
                                  "policy_tag": "sp", "policy_domain": "example.com"},
              "sub.example.com"),
    DmarcCase("org-fallback-p-without-sp", {"result": "fail", "disposition": "quarantine",
                                            "policy_tag": "p"}, "deep.sub.example.co.uk"),
    DmarcCase("own-record-not-sp", {"result": "fail", "disposition": "quarantine",
                                    "policy_tag": "p", "policy_domain": "own.example.com"},
              "own.example.com"),
    DmarcCase("multiple-records", {"result": "none"}, "two.example", spf=("fail", "x.example")),
    DmarcCase("multiple-records-one-dmarc", {"result": "fail", "disposition": "reject"},
              "mixed.example"),
    DmarcCase("v-not-first", {"result": "none"}, "late.example"),
    DmarcCase("case-insensitive-tags", {"result": "fail", "disposition": "reject",
                                        "p": "reject"}, "case.example",
              dkim=(("pass", "mail.case.example"),)),
    DmarcCase("invalid-p-no-rua", {"result": "permerror", "disposition": "none"},
              "bad.example.com"),
    DmarcCase("invalid-sp-with-rua", {"result": "fail", "disposition": "none", "p": "none"},
              "badsp.example"),
    DmarcCase("servfail", {"result": "temperror"}, "example.com",
              servfail=("_dmarc.example.com",)),
    DmarcCase("servfail-no-fallback", {"result": "temperror"}, "sub.example.com",
              servfail=("_dmarc.sub.example.com",)),
    DmarcCase("bogus", {"result": "temperror", "security": Security.BOGUS}, "example.com",
              bogus=("_dmarc.example.com",)),
    DmarcCase("insecure", {"result": "pass", "security": Security.INSECURE}, "example.com",
              spf=SPF_PASS, security=Security.INSECURE),
    DmarcCase("public-suffix-from-own-record", {"result": "fail", "policy_domain": "gov"}, "gov"),
    # --- disposition (s6.6.4)
    DmarcCase("p-none", {"result": "fail", "disposition": "none"}, "example.org"),
    DmarcCase("pct-selected", {"disposition": "reject", "sampled_out": False}, "half.example",
              roll=10.0),
    DmarcCase("pct-not-selected", {"disposition": "quarantine", "sampled_out": True},
              "half.example", roll=70.0),
    DmarcCase("pct-zero", {"disposition": "none", "sampled_out": True}, "zero.example",
              roll=0.0),
    DmarcCase("np-nonexistent", {"result": "fail", "disposition": "reject",
                                 "policy_tag": "np"}, "nowhere.example.biz"),
    DmarcCase("np-existing-uses-sp", {"result": "fail", "disposition": "quarantine",
                                      "policy_tag": "sp"}, "sub.example.biz"),
    # --- authheaders messages (s6.6.1), DKIM verified end to end
    DmarcCase("msg-unsigned", {"result": "fail", "disposition": "reject"},
              message="test.message"),
    DmarcCase("msg-unsigned-spf", {"result": "pass"}, message="test.message", spf=SPF_PASS),
    DmarcCase("msg-signed", {"result": "pass", "dkim_aligned": True},
              message="test.message_signed"),
    DmarcCase("msg-comma-display-name", {"result": "pass", "from_domain": "example.com"},
              message="testcomma.message"),
    DmarcCase("msg-subdomain-sp", {"result": "fail", "disposition": "reject",
                                   "policy_tag": "sp"}, message="test.message_sub"),
    DmarcCase("msg-np-existing", {"result": "fail", "disposition": "quarantine",
                                  "policy_tag": "sp"}, message="test.message_np1"),
    DmarcCase("msg-np-nonexistent", {"result": "fail", "disposition": "reject",
                                     "policy_tag": "np"}, message="test.message_np2"),
    DmarcCase("msg-no-p-with-rua", {"result": "fail", "disposition": "none", "p": "none"},
              message="test_nop.message"),
    DmarcCase("msg-invalid-record", {"result": "permerror"}, message="test.bad.message"),
    DmarcCase("msg-psd-not-walked", {"result": "none"}, message="test.gov.message"),
    DmarcCase("msg-no-from-address", {"result": "permerror"}, message="test.nofrom.message"),
    DmarcCase("msg-multi-from", {"result": "fail", "disposition": "reject",
                                 "from_domain": "example.com",
                                 "from_domains": ("example.org", "example.com")},
              message="test.message_multi"),
    DmarcCase("msg-multi-from-reversed", {"result": "fail", "disposition": "reject",
                                          "from_domain": "example.com"},
              message="test.message_multi2"),
]


async def run_case(case: DmarcCase, psl: Psl) -> DmarcResult:
    dns = build_zone(case.extra, case.servfail, case.bogus, case.security)
    if case.message is not None:
        data = (MESSAGES / case.message).read_bytes()
        sigs = await verify_message(dns, data, now=NOW)
        dkim = [(s.result, s.domain or "") for s in sigs] + list(case.dkim)
        return await check_message(dns, data, case.spf, dkim, pct_roll=case.roll, psl=psl)
    assert case.from_domain is not None
    policy = await get_dmarc_policy(dns, case.from_domain, psl=psl)
    return evaluate(case.from_domain, policy, case.spf, case.dkim, pct_roll=case.roll, psl=psl)


def check_case(case: DmarcCase, result: DmarcResult) -> str | None:
    """None when *result* has every expected field value, else what differs."""
    for key, want in case.expect.items():
        got = getattr(result, key)
        if got != want:
            return f"{key}: expected {want!r}, got {got!r} ({result.reason})"
    return None


def run_dmarc_cases(psl: Psl | None = None) -> tuple[int, int, list[str]]:
    """Run every case; returns ``(passed, failed, details of failures)``."""
    psl = psl or Psl.from_file(PSL_SNAPSHOT)

    async def run_all() -> list[str | None]:
        out: list[str | None] = []
        for case in CASES:
            try:
                out.append(check_case(case, await run_case(case, psl)))
            except Exception as exc:  # noqa: BLE001 - a failing case is a reported row
                out.append(f"exception {type(exc).__name__}: {exc}")
        return out

    outcomes = asyncio.run(run_all())
    details = [f"{c.name}: {why}" for c, why in zip(CASES, outcomes, strict=True) if why]
    return len(CASES) - len(details), len(details), details


if __name__ == "__main__":
    p, f, d = run_dmarc_cases()
    print(f"dmarc: {p} passed, {f} failed")
    for line in d:
        print("  " + line)
