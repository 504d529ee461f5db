"""Authentication-Results formatting (RFC 8601)."""

from __future__ import annotations

import asyncio
import re

import pytest

from resolver.dnssec.status import Security
from resolver.mail.authres import (
    FIELD_NAME,
    SpfInfo,
    comment,
    format_authentication_results,
    pvalue,
    quote_value,
)
from resolver.mail.dkim import SignatureResult, verify_message
from resolver.mail.dmarc import DmarcResult
from tests.mail.dkim_suite import RFC8463_T, rfc8463_message, rfc8463_zone

PASS_SIG = SignatureResult("pass", domain="example.com", selector="sel2024",
                           algorithm="rsa-sha256", identity="@example.com", key_bits=2048,
                           key_security=Security.SECURE, b_text="Xh4Ujb2wv5x54gXtulCiy4C0")


def test_nothing_checked() -> None:
    assert format_authentication_results("mx.example.org") == "mx.example.org; none"


def test_full_header() -> None:
    value = format_authentication_results(
        "mx.example.org",
        spf=SpfInfo("pass", mailfrom="bounce@example.com", helo="out.example.com"),
        dkim=[PASS_SIG],
        dmarc=DmarcResult("pass", from_domain="example.com", p="reject", sp="none"))
    assert value == (
        "mx.example.org; "
        "dkim=pass (2048-bit rsa key, DNSSEC secure) header.d=example.com "
        "header.i=@example.com header.s=sel2024 header.a=rsa-sha256 header.b=Xh4Ujb2wv5x5; "
        "spf=pass smtp.mailfrom=bounce@example.com smtp.helo=out.example.com; "
        "dmarc=pass (p=reject sp=none dis=none) header.from=example.com")


def test_failures_carry_reasons_and_fold() -> None:
    sig = SignatureResult("permerror", reason='no key for "sel" (NXDOMAIN)', domain="example.com",
                          selector="sel", algorithm="ed25519-sha256")
    value = format_authentication_results(
        "mx.example.org", version=1, dkim=[sig],
        spf=SpfInfo("hardfail", mailfrom="", helo="helo.example.net", reason="not permitted"),
        dmarc=DmarcResult("temperror", reason="look-up failed"), fold="\r\n\t")
    assert value.split(";\r\n\t") == [
        "mx.example.org 1",
        'dkim=permerror reason="no key for \\"sel\\" (NXDOMAIN)" header.d=example.com '
        "header.s=sel header.a=ed25519-sha256",
        'spf=fail reason="not permitted" smtp.mailfrom=postmaster@helo.example.net '
        "smtp.helo=helo.example.net",
        'dmarc=temperror reason="look-up failed"',
    ]


def test_unsigned_and_unknown_results() -> None:
    assert format_authentication_results("mx", dkim=[]) == "mx; dkim=none"
    with pytest.raises(ValueError, match="not a registered spf result"):
        format_authentication_results("mx", spf=SpfInfo("maybe"))
    with pytest.raises(ValueError, match="not a registered dmarc result"):
        format_authentication_results("mx", dmarc=DmarcResult("policy"))


def test_value_quoting() -> None:
    assert quote_value("mx.example.org") == "mx.example.org"
    assert quote_value("a b") == '"a b"'
    assert quote_value('x"y\\') == '"x\\"y\\\\"'
    assert quote_value("line\r\nbreak") == '"line  break"'
    assert pvalue("@example.com") == "@example.com"
    assert pvalue("joe.q@example.com") == "joe.q@example.com"
    assert pvalue("joe q@example.com") == '"joe q@example.com"'
    assert pvalue("abc/def=") == '"abc/def="'
    assert comment("a (b) \\ c") == "(a \\(b\\) \\\\ c)"
    assert format_authentication_results("my server", dkim=[]) == '"my server"; dkim=none'


def test_end_to_end_rfc8463() -> None:
    results = asyncio.run(verify_message(rfc8463_zone(), rfc8463_message(), now=RFC8463_T))
    value = format_authentication_results("mx.example.org", dkim=results)
    assert value.count("dkim=pass") == 2
    assert "(256-bit ed25519 key, DNSSEC secure)" in value
    assert "(1024-bit rsa key, DNSSEC secure)" in value
    header = f"{FIELD_NAME}: {value}\r\n"
    assert re.fullmatch(r"[\x20-\x7e]+\r\n", header)
