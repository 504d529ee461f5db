"""Shared test helpers: signed test messages and PEM files of zones/certs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from resolver.mail.dkim_sign import sign_message

ROOT = Path(__file__).resolve().parents[2]
KEYS = ROOT / "zones" / "keys"
CERTS = ROOT / "zones" / "certs"

SECURE_IP = "192.0.2.25"       # inside the SPF ip4:192.0.2.0/24 of the mail zones
OUTSIDE_IP = "198.51.100.7"    # outside it


def load_key(name: str) -> rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey:
    key: Any = serialization.load_pem_private_key((KEYS / name).read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey)
    return key


def message(domain: str, subject: str = "test") -> bytes:
    return (f"From: Alice <alice@{domain}>\r\n"
            f"To: Bob <bob@example.org>\r\n"
            f"Subject: {subject}\r\n"
            "Date: Sat, 28 Nov 2026 16:00:00 +0000\r\n"
            f"Message-ID: <{subject}@{domain}>\r\n"
            "\r\n"
            "Hello Bob,\r\n"
            "this message was signed with a test key of zones/keys.\r\n").encode()


def signed_message(domain: str = "secure.example", selector: str = "sel1",
                   key_file: str = "dkim-sel1.secure.example.pem",
                   subject: str = "test") -> bytes:
    """A message from alice@*domain*, DKIM-signed with a zones/keys key (relaxed/relaxed)."""
    return sign_message(message(domain, subject), load_key(key_file), domain=domain,
                        selector=selector)


def pem(name: str) -> str:
    return (CERTS / name).read_text()
