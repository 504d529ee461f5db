"""Regenerate the test PKI in this directory (test-only: never use these keys elsewhere).

    .venv/bin/python zones/certs/generate.py

Writes a CA, an ``mx1`` SMTP server certificate (names mx1.<zone> for the mail zones
of zones/) and an ``alice`` S/MIME certificate, with their private keys, then prints
the TLSA (DANE-EE SPKI SHA2-256, ``3 1 1``) and SMIMEA (DANE-EE Cert SHA2-256,
``3 0 1``) records the zone files must carry. Keys are fresh on every run, so the
zone files must be updated afterwards.
"""

from __future__ import annotations

import datetime
import hashlib
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HERE = Path(__file__).resolve().parent
ZONES = ("secure.example", "nsec3.example", "insecure.example", "bogus.example")
NOT_BEFORE = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
NOT_AFTER = datetime.datetime(2045, 1, 1, tzinfo=datetime.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "resolver test PKI"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _builder(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey,
             serial: int) -> x509.CertificateBuilder:
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(key.public_key()).serial_number(serial)
            .not_valid_before(NOT_BEFORE).not_valid_after(NOT_AFTER)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False))


def _leaf_usage() -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=True, content_commitment=False,
                         key_encipherment=False, data_encipherment=False, key_agreement=True,
                         key_cert_sign=False, crl_sign=False, encipher_only=False,
                         decipher_only=False)


def _write(name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    (HERE / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (HERE / f"{name}.key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))


def main() -> None:
    ca_key = _key()
    ca_name = _name("resolver test mail CA")
    ca = (_builder(ca_name, ca_name, ca_key, 1)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, key_cert_sign=True, crl_sign=True,
                                       encipher_only=False, decipher_only=False),
                         critical=True)
          .sign(ca_key, hashes.SHA256()))
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())

    mx_key = _key()
    mx = (_builder(_name(f"mx1.{ZONES[0]}"), ca_name, mx_key, 2)
          .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
          .add_extension(_leaf_usage(), critical=True)
          .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                ExtendedKeyUsageOID.CLIENT_AUTH]),
                         critical=False)
          .add_extension(x509.SubjectAlternativeName(
              [x509.DNSName(f"mx1.{z}") for z in ZONES]), critical=False)
          .add_extension(aki, critical=False)
          .sign(ca_key, hashes.SHA256()))

    alice_key = _key()
    alice = (_builder(_name(f"alice@{ZONES[0]}"), ca_name, alice_key, 3)
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(_leaf_usage(), critical=True)
             .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                            critical=False)
             .add_extension(x509.SubjectAlternativeName(
                 [x509.RFC822Name(f"alice@{z}") for z in ZONES]), critical=False)
             .add_extension(aki, critical=False)
             .sign(ca_key, hashes.SHA256()))

    _write("ca", ca, ca_key)
    _write("mx1", mx, mx_key)
    _write("alice", alice, alice_key)
    pem = serialization.Encoding.PEM
    (HERE / "mx1-chain.pem").write_bytes(mx.public_bytes(pem) + ca.public_bytes(pem))
    (HERE / "alice-chain.pem").write_bytes(alice.public_bytes(pem) + ca.public_bytes(pem))

    spki = mx.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    print(f"_25._tcp.mx1      TLSA  3 1 1 {hashlib.sha256(spki).hexdigest()}")
    der = alice.public_bytes(serialization.Encoding.DER)
    print(f"SMIMEA  3 0 1 {hashlib.sha256(der).hexdigest()}")


if __name__ == "__main__":
    main()
