"""DKIM verification: the conformance vectors, unit tests, and dkimpy as an oracle."""

from __future__ import annotations

import asyncio
import json

import dkim as dkimpy
import pytest

from resolver.dnssec.status import Security
from resolver.mail.dkim import (
    SignatureError,
    SignatureResult,
    get_dkim_key,
    parse_key_record,
    parse_signature,
    verify_message,
)
from resolver.mail.dkim_canon import (
    HeaderField,
    TagListError,
    blank_b_tag,
    canon_body,
    canon_header,
    parse_tag_list,
    select_headers,
    split_message,
)
from resolver.mail.dkim_key import KeyLookup, key_name
from resolver.mail.dnsapi import StaticDns
from resolver.wire.name import name
from tests.mail import dkim_suite as suite
from tests.mail.dkim_suite import SAMPLE, SEL, key_record, rsa_test_key, sign_message, zone

NOW = 1_700_000_000
VECTORS = suite.vectors()


@pytest.mark.parametrize("vector", VECTORS, ids=[v.name for v in VECTORS])
def test_vector(vector: suite.Vector) -> None:
    assert asyncio.run(vector.check()) is None


def test_runner_counts() -> None:
    passed, failed, details = suite.run_dkim_vectors()
    assert failed == 0, details
    assert passed == len(VECTORS) >= 80


def verify(dns: StaticDns, message: bytes, now: float | None = NOW) -> list[SignatureResult]:
    """Verify with the clock pinned at NOW (None: the real clock, for dkimpy signatures)."""
    return asyncio.run(verify_message(dns, message, now=now))


# --------------------------------------------------------------------------
# tag lists, parsing


def test_tag_list_basics() -> None:
    assert parse_tag_list("a = 1 ; b=x y\r\n z;") == [("a", "1"), ("b", "x y\r\n z")]
    assert parse_tag_list("") == []
    assert parse_tag_list("v=1;;a=b") == [("v", "1"), ("a", "b")]
    for bad in ("a=1; a=2", "1a=x", "novalue", "a=\x01"):
        with pytest.raises(TagListError):
            parse_tag_list(bad)


def test_key_record_tags() -> None:
    key = parse_key_record(b"v=DKIM1; k=rsa; h=sha256:foo; s=email:*; t=y:s:zz; n=hi; "
                           b"x=unknown; p=")
    assert key.valid and key.revoked
    assert key.hash_algorithms == ("sha256", "foo")
    assert key.testing and key.strict_identity
    assert key.allows_service() and key.notes == "hi"
    assert parse_key_record("k=rsa").error == "key record has no p= tag"
    assert "base64" in (parse_key_record("p=!!!").error or "")
    assert "syntax" in (parse_key_record("p=a; p=b").error or "")
    assert parse_key_record("v=DKIM2; p=").error is not None
    ed = parse_key_record("k=ed25519; p=AAAA")
    assert ed.error is not None and "32 octets" in ed.error
    json.dumps(ed.to_json())


def test_signature_parse_errors() -> None:
    base = {"v": "1", "a": "rsa-sha256", "b": "AAAA", "bh": "AAAA", "d": "example.com",
            "h": "from", "s": "sel"}

    def make(**changes: str | None) -> str:
        tags = dict(base)
        for k, v in changes.items():
            if v is None:
                tags.pop(k)
            else:
                tags[k] = v
        return "; ".join(f"{k}={v}" for k, v in tags.items())

    assert parse_signature(make()).identity == "@example.com"
    cases = {
        "missing the required s=": make(s=None),
        "incompatible version": make(v="2"),
        "unsupported algorithm": make(a="rsa-sha512"),
        "canonicalization": make(c="relaxed/odd"),
        "not a number": make(l="12a"),
        "From field not signed": make(h="to:subject"),
        "not within": make(i="@evil.example"),
        "query method": make(q="http/foo"),
        "base64": make(bh="@@@"),
        "not a domain": make(d="exa mple.com"),
    }
    for why, value in cases.items():
        with pytest.raises(SignatureError) as info:
            parse_signature(value)
        assert why in str(info.value), value
        assert info.value.result == "permerror"
    with pytest.raises(SignatureError) as info:
        parse_signature(make(a="rsa-sha1"))
    assert info.value.result == "policy"
    sig = parse_signature(make(c="relaxed", q="dns/txt", i="joe@Mail.Example.com", l="5"))
    assert (sig.header_canon, sig.body_canon, sig.body_length) == ("relaxed", "simple", 5)


# --------------------------------------------------------------------------
# message handling


def test_split_message_shapes() -> None:
    fields, body = split_message(b"A: 1\nB: 2\n continued\n\nbody\n")
    assert [f.raw for f in fields] == [b"A: 1\r\n", b"B: 2\r\n continued\r\n"]
    assert body == b"body\r\n"
    fields, body = split_message(b"A: 1")
    assert [f.raw for f in fields] == [b"A: 1\r\n"] and body == b""
    fields, body = split_message(b"\r\nonly body")
    assert fields == [] and body == b"only body"


def test_relaxed_canonicalization_details() -> None:
    assert canon_header(HeaderField(b"SUBJect \t:  a \t b\r\n  c \r\n"), "relaxed") == \
        b"subject:a b c\r\n"
    assert canon_body(b" \t \r\n\r\n", "relaxed") == b""
    assert canon_body(b"x  \t y \t", "relaxed") == b"x y\r\n"
    assert canon_body(b"x\r\n\r\n\r\n", "simple") == b"x\r\n"
    assert canon_body(b"x", "simple") == b"x\r\n"


def test_select_headers_bottom_up() -> None:
    fields, _ = split_message(b"Received: 1\r\nX: a\r\nReceived: 2\r\nX: b\r\n\r\n")
    chosen = select_headers(fields, ["received", "x", "X", "x", "missing"])
    assert [f.raw for f in chosen] == [b"Received: 2\r\n", b"X: b\r\n", b"X: a\r\n"]


def test_blank_b_keeps_bh() -> None:
    field = HeaderField(b"DKIM-Signature: a=x; bh=QUJD;\r\n b=XYZ\r\n ABC ; d=e\r\n")
    assert blank_b_tag(field) == b"DKIM-Signature: a=x; bh=QUJD;\r\n b=; d=e\r\n"


# --------------------------------------------------------------------------
# key look-up


def test_key_lookup_statuses() -> None:
    rsa_key = rsa_test_key()
    good = key_record(rsa_key)
    dns = zone({SEL: ["v=DKIM1; k=bogus; p=AAAA", good],
                "bad._domainkey.example.com": "v=DKIM1; k=rsa; p=AAAA",
                "txtless._domainkey.example.com": []})
    found = asyncio.run(get_dkim_key(dns, "sel", "example.com"))
    assert found.status == "found" and found.key is not None and found.key.key_bits == 1024
    assert found.security == Security.SECURE and len(found.records) == 2
    bad = asyncio.run(get_dkim_key(dns, "bad", "example.com"))
    assert bad.status == "permerror" and "key syntax" in (bad.reason or "")
    none = asyncio.run(get_dkim_key(dns, "absent", "example.com"))
    assert none.status == "none" and "NXDOMAIN" in (none.reason or "")
    empty = asyncio.run(get_dkim_key(dns, "txtless", "example.com"))
    assert empty.status == "none" and "no TXT" in (empty.reason or "")
    assert asyncio.run(get_dkim_key(dns, "a" * 70, "example.com")).status == "permerror"
    out = json.loads(json.dumps(found.to_json()))
    assert out["security"] == "secure" and out["key"]["key_type"] == "rsa"
    assert key_name("s1.s2", "Example.COM.") == name("s1.s2._domainkey.example.com")
    assert isinstance(found, KeyLookup)


def test_verify_shapes_and_limits() -> None:
    rsa_key = rsa_test_key()
    dns = zone({SEL: key_record(rsa_key)})
    assert verify(dns, SAMPLE) == []
    signed = sign_message(SAMPLE, rsa_key)
    twice = sign_message(signed, rsa_key, selector="other")
    results = verify(dns, twice)
    assert [r.result for r in results] == ["permerror", "pass"]
    assert [r.index for r in results] == [0, 1]
    assert results[1].key_security == Security.SECURE and results[1].key_bits == 1024
    doc = json.loads(json.dumps([r.to_json() for r in results]))
    assert doc[1]["result"] == "pass" and doc[1]["key_security"] == "secure"
    assert doc[1]["signed_headers"] == ["from", "to", "subject", "date"]
    assert doc[0]["key_security"] == "secure" and doc[0]["domain"] == "example.com"
    limited = asyncio.run(verify_message(dns, twice, now=NOW, max_signatures=1))
    assert [r.result for r in limited] == ["permerror", "policy"]


def test_unparseable_signature_still_reports_tags() -> None:
    msg = b"DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=sel; b=AAAA\r\n" + SAMPLE
    (r,) = verify(zone({}), msg)
    assert r.result == "permerror" and r.domain == "example.com" and r.selector == "sel"
    assert "bh=" in (r.reason or "")


# --------------------------------------------------------------------------
# dkimpy as the oracle (RSA only: its Ed25519 needs PyNaCl, which is not installed)


def _dnsfunc(records: dict[str, str]):  # type: ignore[no-untyped-def]
    def lookup(qname: bytes, timeout: int = 5) -> str | None:
        return records.get(qname.decode().rstrip(".").lower())
    return lookup


@pytest.mark.parametrize("canon", ["simple/simple", "relaxed/relaxed", "relaxed/simple",
                                   "simple/relaxed"])
def test_dkimpy_accepts_our_signatures(canon: str) -> None:
    rsa_key = rsa_test_key()
    msg = sign_message(SAMPLE, rsa_key, canon=canon,
                       headers=("from", "to", "subject", "date", "reply-to"))
    records = {SEL: key_record(rsa_key)}
    assert dkimpy.verify(msg, dnsfunc=_dnsfunc(records))
    assert verify(zone(records), msg)[0].result == "pass"
    tampered = msg.replace(b"hungry", b"angry")
    assert not dkimpy.verify(tampered, dnsfunc=_dnsfunc(records))
    assert verify(zone(records), tampered)[0].result == "fail"


@pytest.mark.parametrize("canon", [(b"simple", b"simple"), (b"relaxed", b"relaxed"),
                                   (b"relaxed", b"simple"), (b"simple", b"relaxed")])
@pytest.mark.parametrize("length", [False, True])
def test_we_accept_dkimpy_signatures(canon: tuple[bytes, bytes], length: bool) -> None:
    pem = (suite.DKIMPY / "test.private").read_bytes()
    records = {"test._domainkey.example.com": (suite.DKIMPY / "test.txt").read_text().strip()}
    body_variants = [SAMPLE, SAMPLE.replace(b"\r\n", b"\n"),
                     SAMPLE.replace(b"Joe.\r\n", "Jöe  \t.\r\n\r\n\r\n".encode())]
    for message in body_variants:
        sig = dkimpy.sign(message, b"test", b"example.com", pem, canonicalize=canon,
                          length=length)
        signed = sig + message
        assert dkimpy.verify(signed, dnsfunc=_dnsfunc(records))
        (ours,) = verify(zone(records), signed, None)
        assert ours.result == "pass", ours.reason
        if length:
            (extended,) = verify(zone(records), signed + b"tail\r\n", None)
            assert extended.result == "pass" and extended.body_length is not None
        assert verify(zone(records), signed.replace(b"dinner", b"supper"), None)[0].result == "fail"


def test_dkimpy_rsa_sha1_refused() -> None:
    pem = (suite.DKIMPY / "test.private").read_bytes()
    records = {"test._domainkey.example.com": (suite.DKIMPY / "test.txt").read_text().strip()}
    signed = dkimpy.sign(SAMPLE, b"test", b"example.com", pem,
                         signature_algorithm=b"rsa-sha1") + SAMPLE
    assert dkimpy.verify(signed, dnsfunc=_dnsfunc(records))   # dkimpy still accepts sha1
    (ours,) = verify(zone(records), signed, None)
    assert ours.result == "policy" and "RFC 8301" in (ours.reason or "")


def test_raising_dns_source_gives_temperror() -> None:
    class Broken(StaticDns):
        async def lookup(self, qname, rtype):  # type: ignore[no-untyped-def]
            raise OSError("network unreachable")

    msg = sign_message(SAMPLE, rsa_test_key())
    (r,) = verify(Broken(), msg)
    assert r.result == "temperror" and "unreachable" in (r.reason or "")
