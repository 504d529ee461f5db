"""DKIM conformance vectors as a runner (``make conformance``: ``dkim-vectors: N passed, ...``).

Sources (all under ``tests/data/mail/dkim``):

* ``rfc6376-canonicalization.json``: the RFC 6376 s3.4.5 example in the three
  ``c=`` combinations and the empty-body hashes of s3.4.3/s3.4.4;
* ``rfc8463/``: the RFC 8463 A.3 message with both signatures, keys from A.2;
* ``mail-auth-rs/``: stalwart mail-auth 001-002 with their inline keys, clock
  pinned at 1667843664 as upstream does;
* ``dkimpy-testdata/``: the signed messages, key records and private keys of dkimpy;
* negative vectors built from those: altered body and header, rsa-sha1, a 512-bit
  key, a revoked key, ``x=`` expiry, key restrictions, DNS failures.

Each vector checks one signature (or one canonicalization output) and is counted
on its own. Also imported by ``test_dkim.py`` (one pytest case per vector).
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from resolver.dnssec.status import Security
from resolver.mail.dkim import SignatureResult, parse_signature, verify_message
from resolver.mail.dkim_canon import (
    body_hash,
    canon_body,
    canon_header,
    split_message,
)
from resolver.mail.dkim_key import parse_key_record
from resolver.mail.dkim_sign import sign_message
from resolver.mail.dnsapi import Lookup, StaticDns
from resolver.wire.name import name
from resolver.wire.types import Rcode, RRType

DATA = Path(__file__).resolve().parent.parent / "data" / "mail" / "dkim"
DKIMPY = DATA / "dkimpy-testdata"
PINNED_NOW = 1667843664     # mail-auth-rs upstream clock
RFC8463_T = 1528637909

# A 512-bit RSA key for the RFC 8301 s3.2 test (cryptography refuses to generate one).
_P512 = 0xECB71D2C736D91F7592AA41B4FC5D8E7D3433B9AEC740248842C3E784015A00D
_Q512 = 0xC6AA826C77BB1A06AFFC04EFB890C82F8B2B677DDFE45988152ED65325D192E1

PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


# --------------------------------------------------------------------------
# helpers shared with the tests


def txt_rdata(text: str | bytes) -> bytes:
    """TXT RDATA for *text*, cut into 255-octet character-strings."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    chunks = [data[i:i + 255] for i in range(0, len(data), 255)] or [b""]
    return b"".join(bytes((len(c),)) + c for c in chunks)


def zone(records: Mapping[str, str | Sequence[str]],
         security: Security = Security.SECURE) -> StaticDns:
    """A StaticDns serving TXT records: ``{owner: text or [texts]}``."""
    dns = StaticDns(security=security)
    for owner, texts in records.items():
        items = [texts] if isinstance(texts, str) else list(texts)
        dns.add(name(owner), RRType.TXT, [txt_rdata(t) for t in items])
    return dns


def zf(records: Mapping[str, str | Sequence[str]],
       security: Security = Security.SECURE) -> Callable[[], StaticDns]:
    """A factory for :func:`zone` (each verification gets a fresh StaticDns)."""
    return lambda: zone(records, security)


def read(path: Path) -> bytes:
    return path.read_bytes()


def key_text(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip()


def rsa_test_key() -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(read(DKIMPY / "test.private"), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def ed25519_test_key() -> ed25519.Ed25519PrivateKey:
    seed = base64.b64decode((DATA / "rfc8463" / "ed25519.seed.b64").read_text().strip())
    return ed25519.Ed25519PrivateKey.from_private_bytes(seed)


def rsa_512_key() -> rsa.RSAPrivateKey:
    e = 65537
    d = pow(e, -1, (_P512 - 1) * (_Q512 - 1))
    numbers = rsa.RSAPrivateNumbers(_P512, _Q512, d, d % (_P512 - 1), d % (_Q512 - 1),
                                    pow(_Q512, -1, _P512), rsa.RSAPublicNumbers(e, _P512 * _Q512))
    return numbers.private_key()


def key_record(key: PrivateKey, extra: str = "") -> str:
    """A DKIM key record for the public half of *key*."""
    pub = key.public_key()
    if isinstance(pub, ed25519.Ed25519PublicKey):
        raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return f"v=DKIM1; k=ed25519; {extra}p={base64.b64encode(raw).decode()}"
    der = pub.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return f"v=DKIM1; k=rsa; {extra}p={base64.b64encode(der).decode()}"


def mail_auth_rs(number: str) -> tuple[StaticDns, bytes]:
    """A mail-auth-rs file: key lines, a blank line, the message (LF ends)."""
    data = read(DATA / "mail-auth-rs" / f"{number}.txt")
    keys, _, message = data.partition(b"\n\n")
    records: dict[str, str | Sequence[str]] = {}
    for line in keys.decode().splitlines():
        owner, value = line.split(" ", 1)
        records[owner] = value
    return zone(records), message


def _mar_zone(number: str) -> StaticDns:
    return mail_auth_rs(number)[0]


def _mar_message(number: str) -> bytes:
    return mail_auth_rs(number)[1]


def rfc8463_zone(extra: Mapping[str, str | Sequence[str]] | None = None) -> StaticDns:
    records: dict[str, str | Sequence[str]] = {}
    for line in (DATA / "rfc8463" / "dns.txt").read_text().splitlines():
        owner, _, _, value = line.split(" ", 3)
        records[owner] = value.strip().strip('"')
    records.update(extra or {})
    return zone(records)


def _rfc8463_factory(extra: Mapping[str, str | Sequence[str]]) -> Callable[[], StaticDns]:
    return lambda: rfc8463_zone(extra)


def rfc8463_message() -> bytes:
    return read(DATA / "rfc8463" / "signed.eml")


SAMPLE = (b"From: Joe SixPack <joe@example.com>\r\nTo: Suzie Q <suzie@example.net>\r\n"
          b"Subject: Is dinner ready?\r\nDate: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
          b"Message-ID: <20030712040037.46341.5F8J@example.com>\r\n\r\n"
          b"Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n")
SEL = "sel._domainkey.example.com"


# --------------------------------------------------------------------------
# vectors


@dataclass(frozen=True)
class Vector:
    name: str
    check: Callable[[], Coroutine[Any, Any, str | None]]   # None when the vector passes


def _sig_vector(name: str, dns_factory: Callable[[], StaticDns], message: Callable[[], bytes],
                index: int, expected: str, *, now: float = PINNED_NOW,
                reason: str | None = None,
                security: Security | None = None) -> Vector:
    async def check() -> str | None:
        results = await verify_message(dns_factory(), message(), now=now)
        if index >= len(results):
            return f"only {len(results)} signatures"
        r: SignatureResult = results[index]
        if r.result != expected:
            return f"expected {expected}, got {r.result} ({r.reason})"
        if reason is not None and (r.reason is None or reason not in r.reason):
            return f"reason {r.reason!r} lacks {reason!r}"
        if security is not None and r.key_security != security:
            return f"key security {r.key_security}, expected {security}"
        return None
    return Vector(name, check)


def _canon_vectors() -> list[Vector]:
    spec = json.loads((DATA / "rfc6376-canonicalization.json").read_text())
    message = base64.b64decode(spec["input_b64"])
    out: list[Vector] = []
    for case in spec["cases"]:
        def check(case: dict[str, str] = case) -> Coroutine[Any, Any, str | None]:
            async def run() -> str | None:
                fields, body = split_message(message)
                hc, bc = case["c"].split("/")
                head = b"".join(canon_header(f, hc) for f in fields)
                if head != case["header_out"].encode():
                    return f"header {head!r}"
                got = canon_body(body, bc)
                return None if got == case["body_out"].encode() else f"body {got!r}"
            return run()
        out.append(Vector(f"canon/{case['c']}", check))
    for method, expect in spec["empty_body"].items():
        for algo in ("sha256", "sha1"):
            def echeck(method: str = method, expect: dict[str, str] = expect,
                       algo: str = algo) -> Coroutine[Any, Any, str | None]:
                async def run() -> str | None:
                    if canon_body(b"", method) != expect["canonical"].encode():
                        return "canonical form"
                    digest = base64.b64encode(body_hash(b"", method, None, algo)[0]).decode()
                    return None if digest == expect[f"{algo}_b64"] else f"got {digest}"
                return run()
            out.append(Vector(f"canon/empty-body/{method}/{algo}", echeck))
    return out


def _dkimpy_zone(brisbane: str | None = None, test: str | None = None) -> StaticDns:
    return zone({
        "sed._domainkey.test.ex": key_text(DKIMPY / "eximtest.dns"),
        "test._domainkey.football.example.com": test or key_text(DKIMPY / "test.txt"),
        # dkimpy signed its ed25519 variant with the RFC 8032 s7.1 TEST 1 key (= RFC 8463 A.2)
        "brisbane._domainkey.football.example.com":
            brisbane or "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
    })


def _bh_vector(file: str) -> Vector:
    """The key of a real message is not available: check its body hash only."""
    async def check() -> str | None:
        fields, body = split_message(read(DKIMPY / file))
        for f in fields:
            if f.lname == b"dkim-signature":
                sig = parse_signature(f.text())
                digest, _ = body_hash(body, sig.body_canon, sig.body_length, sig.hash_name)
                return None if digest == sig.body_hash else "body hash mismatch"
        return "no signature"
    return Vector(f"dkimpy/{file}/body-hash", check)


def _key_record_vectors() -> list[Vector]:
    expected: list[tuple[str, str | None, str, int | None]] = [
        # file, error substring (None = valid), key type, bits
        ("1024_testkey_wo_markers.pub.rsa.txt", None, "rsa", 1024),   # PKCS#1
        ("1024_testkey_wo_markers.pub.txt", None, "rsa", 1024),       # SPKI
        ("2048_testkey_PKCS8.key.pub.txt", None, "rsa", 2048),
        ("2048_testkey_wo_markers.pub.rsa.txt", None, "rsa", 2048),
        ("2048_testkey_wo_markers.pub.txt", None, "rsa", 2048),
        ("test.txt", None, "rsa", 1024),
        ("test2.txt", None, "rsa", 1024),
        ("test_tlsrpt.txt", None, "rsa", 1024),
        ("ed25519test.dns", None, "ed25519", 256),
        ("eximtest.dns", None, "ed25519", 256),
        ("badk.txt", "unknown key type", "ed25519-sha256", None),
        ("badversion.txt", "not DKIM1", "rsa", None),
    ]
    out = []
    for file, err, ktype, bits in expected:
        def check(file: str = file, err: str | None = err, ktype: str = ktype,
                  bits: int | None = bits) -> Coroutine[Any, Any, str | None]:
            async def run() -> str | None:
                key = parse_key_record(read(DKIMPY / file))
                if err is None and key.error is not None:
                    return f"unexpected error {key.error}"
                if err is not None and (key.error is None or err not in key.error):
                    return f"expected error {err!r}, got {key.error!r}"
                if err is None and (key.key_type != ktype or key.key_bits != bits):
                    return f"got {key.key_type}/{key.key_bits}"
                return None
            return run()
        out.append(Vector(f"key-record/{file}", check))
    return out


def _signed_with(key: PrivateKey, **kw: object) -> Callable[[], bytes]:
    def make() -> bytes:
        return sign_message(SAMPLE, key, **kw)  # type: ignore[arg-type]
    return make


def _failing_zone(rcode: int, security: Security, error: str | None = None) -> StaticDns:
    dns = StaticDns()
    dns.answers[(name(SEL), RRType.TXT)] = Lookup(name(SEL), RRType.TXT, rcode, (), security,
                                                  reason="test", error=error)
    return dns


def _negative_vectors() -> list[Vector]:
    rsa_key = rsa_test_key()
    ed_key = ed25519_test_key()
    good = zf({SEL: key_record(rsa_key)})
    out: list[Vector] = []

    def altered_body() -> bytes:
        return rfc8463_message().replace(b"We lost the game.", b"We won the game.")

    def altered_header() -> bytes:
        return rfc8463_message().replace(b"Subject: Is dinner ready?", b"Subject: Is lunch ready?")

    def lf_only() -> bytes:
        return rfc8463_message().replace(b"\r\n", b"\n")

    for i in (0, 1):
        out.append(_sig_vector(f"negative/altered-body/{i}", rfc8463_zone, altered_body, i,
                               "fail", reason="body hash", now=RFC8463_T))
        out.append(_sig_vector(f"negative/altered-header/{i}", rfc8463_zone, altered_header, i,
                               "fail", reason="signature did not verify", now=RFC8463_T))
        revoked = {"brisbane._domainkey.football.example.com": "v=DKIM1; k=ed25519; p=",
                   "test._domainkey.football.example.com": "v=DKIM1; k=rsa; p="}
        out.append(_sig_vector(f"negative/revoked/{i}", _rfc8463_factory(revoked),
                               rfc8463_message, i, "permerror", reason="revoked",
                               now=RFC8463_T))
        out.append(_sig_vector(f"lf-line-ends/{i}", rfc8463_zone, lf_only, i, "pass",
                               now=RFC8463_T))
    now = 1_700_000_000
    out += [
        _sig_vector("signer/rsa-sha256", good, _signed_with(rsa_key, timestamp=now), 0, "pass",
                    now=now, security=Security.SECURE),
        _sig_vector("signer/ed25519-sha256", zf({SEL: key_record(ed_key)}),
                    _signed_with(ed_key), 0, "pass", now=now),
        _sig_vector("signer/simple-simple", good, _signed_with(rsa_key, canon="simple/simple"),
                    0, "pass", now=now),
        _sig_vector("signer/simple-default-body", good, _signed_with(rsa_key, canon="simple"),
                    0, "pass", now=now),
        _sig_vector("negative/rsa-sha1", good, _signed_with(rsa_key, algorithm="rsa-sha1"),
                    0, "policy", reason="RFC 8301", now=now),
        _sig_vector("negative/rsa-512", lambda: zone({SEL: key_record(rsa_512_key())}),
                    _signed_with(rsa_512_key()), 0, "policy", reason="512 bits", now=now),
        _sig_vector("negative/expired", good,
                    _signed_with(rsa_key, timestamp=now - 7200, expiration=now - 3600),
                    0, "fail", reason="expired", now=now),
        _sig_vector("skew/expired-within-skew", good,
                    _signed_with(rsa_key, timestamp=now - 7200, expiration=now - 60),
                    0, "pass", now=now),
        _sig_vector("negative/future-timestamp", good, _signed_with(rsa_key, timestamp=now + 86400),
                    0, "neutral", reason="future", now=now),
        _sig_vector("negative/x-before-t", good,
                    _signed_with(rsa_key, timestamp=now, expiration=now - 10),
                    0, "permerror", reason="x= is before t=", now=now),
        _sig_vector("negative/no-key", zf({"other.example.com": "x"}),
                    _signed_with(rsa_key), 0, "permerror", reason="no key", now=now),
        _sig_vector("negative/servfail",
                    lambda: _failing_zone(Rcode.SERVFAIL, Security.INDETERMINATE, "timeout"),
                    _signed_with(rsa_key), 0, "temperror", now=now),
        _sig_vector("negative/bogus", lambda: _failing_zone(Rcode.SERVFAIL, Security.BOGUS),
                    _signed_with(rsa_key), 0, "temperror", reason="bogus", now=now,
                    security=Security.BOGUS),
        _sig_vector("insecure-key", zf({SEL: key_record(rsa_key)}, Security.INSECURE),
                    _signed_with(rsa_key), 0, "pass", now=now, security=Security.INSECURE),
        _sig_vector("negative/key-h-sha1-only", zf({SEL: key_record(rsa_key, "h=sha1; ")}),
                    _signed_with(rsa_key), 0, "permerror", reason="h=", now=now),
        _sig_vector("key-h-sha256", zf({SEL: key_record(rsa_key, "h=sha1:sha256; ")}),
                    _signed_with(rsa_key), 0, "pass", now=now),
        _sig_vector("negative/key-k-mismatch", zf({SEL: key_record(ed_key)}),
                    _signed_with(rsa_key), 0, "permerror", reason="k=", now=now),
        _sig_vector("negative/key-service", zf({SEL: key_record(rsa_key, "s=tlsrpt; ")}),
                    _signed_with(rsa_key), 0, "permerror", reason="s=", now=now),
        _sig_vector("key-service-email", zf({SEL: key_record(rsa_key, "s=email; ")}),
                    _signed_with(rsa_key), 0, "pass", now=now),
        _sig_vector("negative/t=s-subdomain-i", zf({SEL: key_record(rsa_key, "t=s; ")}),
                    _signed_with(rsa_key, identity="joe@mail.example.com"), 0, "permerror",
                    reason="t=s", now=now),
        _sig_vector("t=s-same-domain", zf({SEL: key_record(rsa_key, "t=y:s; ")}),
                    _signed_with(rsa_key, identity="joe@example.com"), 0, "pass", now=now),
        _sig_vector("i=-subdomain", good, _signed_with(rsa_key, identity="@mail.example.com"),
                    0, "pass", now=now),
        _sig_vector("negative/i=-outside-d", good, _signed_with(rsa_key, identity="@example.org"),
                    0, "permerror", reason="not within", now=now),
        _sig_vector("negative/h=-without-from", good,
                    _signed_with(rsa_key, headers=("to", "subject")), 0, "permerror",
                    reason="From", now=now),
        _sig_vector("l=-body-length", good,
                    lambda: sign_message(SAMPLE, rsa_key, length=10) + b"appended\r\n",
                    0, "pass", now=now),
        _sig_vector("negative/l=-too-long", good, _signed_with(rsa_key, length=100000), 0,
                    "permerror", reason="l=", now=now),
        _sig_vector("oversigned-absent-header", good,
                    _signed_with(rsa_key, headers=("from", "subject", "reply-to")), 0, "pass",
                    now=now),
        _sig_vector("negative/oversigned-header-added", good,
                    lambda: sign_message(SAMPLE, rsa_key, headers=("from", "subject", "reply-to"))
                    .replace(b"\r\n\r\nHi.", b"\r\nReply-To: evil@example.org\r\n\r\nHi."),
                    0, "fail", reason="signature did not verify", now=now),
        _sig_vector("oversigned-twice-from", good,
                    _signed_with(rsa_key, headers=("from", "from", "subject")), 0, "pass", now=now),
        _sig_vector("negative/second-from-added", good,
                    lambda: sign_message(SAMPLE, rsa_key, headers=("from", "from", "subject"))
                    .replace(b"\r\n\r\nHi.", b"\r\nFrom: evil@example.org\r\n\r\nHi."),
                    0, "fail", now=now),
        _sig_vector("unsigned-header-added", good,
                    lambda: sign_message(SAMPLE, rsa_key, headers=("from", "subject"))
                    .replace(b"\r\n\r\nHi.", b"\r\nX-Added: yes\r\n\r\nHi."),
                    0, "pass", now=now),
        _sig_vector("8bit-header", good,
                    lambda: sign_message(SAMPLE.replace(b"Suzie Q", "Süzie Q".encode()), rsa_key),
                    0, "pass", now=now),
        _sig_vector("relaxed-refolded-header", good,
                    lambda: sign_message(SAMPLE, rsa_key).replace(
                        b"Subject: Is dinner ready?", b"Subject:  Is dinner\r\n\tready?  "),
                    0, "pass", now=now),
        _sig_vector("negative/simple-refolded-header", good,
                    lambda: sign_message(SAMPLE, rsa_key, canon="simple/simple").replace(
                        b"Subject: Is dinner ready?", b"Subject:  Is dinner\r\n\tready?"),
                    0, "fail", now=now),
    ]
    for bits in (1024, 2048):
        pem = read(DKIMPY / f"{bits}_testkey.key")
        priv = serialization.load_pem_private_key(pem, None)
        assert isinstance(priv, rsa.RSAPrivateKey)
        for suffix in ("pub.txt", "pub.rsa.txt"):
            record = key_text(DKIMPY / f"{bits}_testkey_wo_markers.{suffix}")
            out.append(_sig_vector(f"dkimpy/{bits}_testkey/{suffix}",
                                   zf({SEL: record}),
                                   _signed_with(priv), 0, "pass", now=now))
    return out


def vectors() -> list[Vector]:
    """All vectors, in a stable order."""
    out = _canon_vectors()
    out += [_sig_vector(f"rfc8463/A.3/{i}", rfc8463_zone, rfc8463_message, i, "pass",
                        now=RFC8463_T) for i in (0, 1)]
    for number, count in (("001", 2), ("002", 1)):
        out += [_sig_vector(f"mail-auth-rs/{number}/{i}",
                            partial(_mar_zone, number), partial(_mar_message, number),
                            i, "pass") for i in range(count)]
    now = 1_700_000_000
    dkimpy_cases: list[tuple[str, int, str, str | None]] = [
        ("ed25519test2.msg", 0, "pass", None),
        ("rfc6376.signed.msg", 0, "pass", None),
        ("rfc6376.signed.msg", 1, "pass", None),
        # the rsa signature of rfc6376.signed.rsa.msg with t= dropped and x= added
        ("rfc6376.signed.no_t.msg", 0, "fail", "signature did not verify"),
        ("rfc6376.signed.rsa.msg", 0, "pass", None),
        ("test.message.baddomain", 0, "permerror", "d= is not a domain"),
    ]
    for file, i, expect, why in dkimpy_cases:
        out.append(_sig_vector(f"dkimpy/{file}/{i}", _dkimpy_zone,
                               partial(read, DKIMPY / file),
                               i, expect, now=now, reason=why))
    out += [_bh_vector("test2.message"), _bh_vector("message.mbox")]
    records: list[tuple[str, str, str | None]] = [
        ("test2.txt", "pass", None),              # no k=: rsa by default
        ("test_tlsrpt.txt", "permerror", "s="),   # s=tlsrpt only
        ("badk.txt", "permerror", "unknown key type"),
        ("badversion.txt", "permerror", "DKIM1"),
        ("test_bad.txt", "permerror", "key syntax"),
    ]
    for file, expect, why in records:
        out.append(_sig_vector(
            f"dkimpy/rfc6376.signed.rsa.msg/key={file}",
            partial(_dkimpy_zone, None, key_text(DKIMPY / file)),
            lambda: read(DKIMPY / "rfc6376.signed.rsa.msg"), 0, expect, now=now, reason=why))
    out += _key_record_vectors()
    out += _negative_vectors()
    return out


async def _run_all(items: list[Vector]) -> list[str | None]:
    out: list[str | None] = []
    for v in items:
        try:
            out.append(await v.check())
        except Exception as exc:  # noqa: BLE001 - a crash is a failed vector, not a crashed runner
            out.append(f"exception {type(exc).__name__}: {exc}")
    return out


def run_dkim_vectors() -> tuple[int, int, list[str]]:
    """Run every vector; returns ``(passed, failed, details of failures)``."""
    items = vectors()
    outcomes = asyncio.run(_run_all(items))
    details = [f"{v.name}: {why}" for v, why in zip(items, outcomes, strict=True)
               if why is not None]
    return len(items) - len(details), len(details), details


if __name__ == "__main__":
    p, f, d = run_dkim_vectors()
    print(f"dkim-vectors: {p} passed, {f} failed")
    for line in d:
        print("  " + line)
