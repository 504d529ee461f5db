"""OpenSSL's DANE certificate-matching suite (``danetest.in`` + ``dane-cross.in``) as a runner.

Each block gives TLSA records, a peer chain (leaf first), ``nonamechecks`` and the
expected X509_V_ERR code and match depth. The driver semantics (OpenSSL
``test/danetest.c``) map onto :func:`resolver.mail.dane_match.match_chain` as follows:

* base domain ``example.com`` (``server.example`` for dane-cross) is the one reference
  identifier; ``nonamechecks=1`` (DANE_FLAG_NO_DANE_EE_NAMECHECKS) is
  ``dane_ee_name_checks=False``, otherwise DANE-EE(3) matches check the name too, as
  OpenSSL does by default;
* the trust store for PKIX-TA(0)/PKIX-EE(1) is ``danetest.pem`` (``dane-cross-root.pem``);
* error codes compare with :attr:`DaneMatch.openssl_error` (0 OK, 20 untrusted,
  62 name mismatch, 65 no match) and depths with :attr:`DaneMatch.depth`;
* ``lines_ignored_by_driver`` are ignored here too (:func:`run_openssl_suite` with
  ``include_ignored=True`` feeds them as records; the expected outcomes still hold,
  which exercises the precedence rules the blocks' comments describe).
"""

from __future__ import annotations

import datetime
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from resolver.mail.dane_match import DaneMatch, match_chain
from resolver.wire import rdata as rd

DATA = Path(__file__).resolve().parent.parent / "data" / "mail" / "dane" / "openssl"

SUITES: tuple[tuple[str, str, str], ...] = (
    ("danetest.json", "danetest.pem", "example.com"),
    ("dane-cross.json", "dane-cross-root.pem", "server.example"),
)


def _record(line: dict[str, Any]) -> rd.TLSA:
    return rd.TLSA(int(line["usage"]), int(line["selector"]), int(line["mtype"]),
                   bytes.fromhex(line["data"]))


def _ignored_record(text: str) -> rd.TLSA:
    usage, selector, mtype, data = text.split()
    return rd.TLSA(int(usage), int(selector), int(mtype), bytes.fromhex(data))


def run_case(case: dict[str, Any], anchors: list[x509.Certificate],
             base: str, include_ignored: bool = False) -> DaneMatch:
    records = [_record(t) for t in case["tlsa"]]
    if include_ignored:
        records += [_ignored_record(t) for t in case.get("lines_ignored_by_driver", [])]
    chain = [x509.load_pem_x509_certificate(c["pem"].encode("ascii")) for c in case["chain"]]
    return match_chain(records, chain, base, trust_store=anchors,
                       dane_ee_name_checks=not case["nonamechecks"])


def iter_cases() -> list[tuple[str, dict[str, Any], list[x509.Certificate], str]]:
    out = []
    for data_file, store_file, base in SUITES:
        doc = json.loads((DATA / data_file).read_text(encoding="utf-8"))
        anchors = x509.load_pem_x509_certificates((DATA / store_file).read_bytes())
        for case in doc["tests"]:
            out.append((f"{data_file.removesuffix('.json')}#{case['id']}", case, anchors, base))
    return out


def run_openssl_suite(include_ignored: bool = False) -> tuple[int, int, list[str]]:
    """Every block of both files. Returns ``(passed, failed, details)``; details has one
    line per block, ``ok`` or ``FAIL``, with the expected and obtained code and depth."""
    passed = failed = 0
    details: list[str] = []
    for label, case, anchors, base in iter_cases():
        want = (case["want_verify_error"], case["want_match_depth"])
        try:
            result = run_case(case, anchors, base, include_ignored)
            got: tuple[int | None, int] = (result.openssl_error, result.depth)
            note = f"{result.kind.value}: {result.reason}"
        except Exception as exc:  # noqa: BLE001 - a crash is a failed case, not a crashed suite
            got = (None, -2)
            note = f"exception {type(exc).__name__}: {exc}"
        ok = got == want
        passed += ok
        failed += not ok
        details.append(f"{'ok  ' if ok else 'FAIL'} {label}: want {want[0]}/{want[1]}, "
                       f"got {got[0]}/{got[1]} ({note})")
    return passed, failed, details




# --------------------------------------------------------------------------
# A small certificate factory for the hand-written DANE and SMIMEA tests.

NOW = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def spki(self) -> bytes:
        return self.cert.public_key().public_bytes(serialization.Encoding.DER,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)


def make_cert(cn: str, *, issuer: Issued | None = None, ca: bool = False,
              path_length: int | None = None, dns: tuple[str, ...] = (),
              emails: tuple[str, ...] = (), other_names: tuple[x509.OtherName, ...] = (),
              subject_email: str | None = None,
              eku: tuple[x509.ObjectIdentifier, ...] | None = None,
              not_before: datetime.datetime = NOW - 30 * DAY,
              not_after: datetime.datetime = NOW + 365 * DAY,
              basic_constraints: bool = True) -> Issued:
    """An EC P-256 certificate; self-signed when *issuer* is None."""
    key = ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if subject_email is not None:
        attrs.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, subject_email))
    subject = x509.Name(attrs)
    builder = (x509.CertificateBuilder()
               .subject_name(subject)
               .issuer_name(issuer.cert.subject if issuer else subject)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(not_before)
               .not_valid_after(not_after))
    if basic_constraints:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=path_length),
                                        critical=True)
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    sans += [x509.RFC822Name(e) for e in emails]
    sans += list(other_names)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    signer = issuer.key if issuer else key
    return Issued(builder.sign(signer, hashes.SHA256()), key)


def tlsa_for(usage: int, selector: int, mtype: int, item: Issued) -> rd.TLSA:
    data = item.der if selector == 0 else item.spki
    if mtype == 1:
        data = hashlib.sha256(data).digest()
    elif mtype == 2:
        data = hashlib.sha512(data).digest()
    return rd.TLSA(usage, selector, mtype, data)


if __name__ == "__main__":
    p, f, d = run_openssl_suite()
    print(f"dane-openssl: {p} passed, {f} failed")
    for line in d:
        if line.startswith("FAIL"):
            print("  " + line)
